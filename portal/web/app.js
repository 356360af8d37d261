// The patient portal's app (DESIGN.md §11). Verification, decryption and folding are
// ehr-client's, compiled to WebAssembly; this file wires the login, the relay and the views.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { openChartWithSigner } from "/assets/ehr_web_wasm.js";
import { $ } from "/dom.js";
import { filter } from "/protocol.js";
import { sessionRelay } from "/relay.js";
import { sessionLive, sessionToken } from "/session.js";
import { initLogin } from "/login.js";
import { clearChart, extendTab, registerTab, renderChart, selectedTab } from "/chart.js";
import { registerRecordTabs } from "/records.js";
import { APPOINTMENTS_TAB } from "/appointments.js";
import { SHARE_TAB } from "/share.js";
import { rememberPractice, showPractices, verifiedConnection } from "/practices.js";
import { offerWards, resetWards } from "/guardians.js";
import { SUMMARY_TAB } from "/summary.js";
import { mountEmergency } from "/emergency.js";

registerTab(SUMMARY_TAB);
registerTab(APPOINTMENTS_TAB);
registerRecordTabs(registerTab);
registerTab(SHARE_TAB);
// Emergency access is decided on the Sharing tab, under her sharing consent.
extendTab("consent", mountEmergency);

// The relay of the open session, closed when it ends.
let currentRelay = null;

// Fetch and open the chart of `signer`'s patient at the practice of `connection` over `relay`
// (sessionRelay). The result is the view context every tab receives (chart.js, records.js):
//   { connection, signer, relay, events (as the relay served them), chart: {patient, bundle, refused} }
async function openChart(connection, signer, relay) {
  $("status").textContent = "Connecting to your practice…";
  const open = await relay();
  $("status").textContent = "Fetching your records…";
  const [rosters, records] = await Promise.all([
    open.fetchAll(filter("rosters")),
    open.fetchAll(filter("chart", [signer.publicKey])),
  ]);
  const events = [...rosters, ...records];
  $("status").textContent = "Verifying and decrypting in this browser…";
  performance.mark("ehr:fetched");
  const json = JSON.stringify(events);
  // A key held in WebAssembly opens the chart in one call; a signer answers one decrypt at a time.
  const opened = signer.key
    ? signer.key.openChart(connection.practice, json)
    : await openChartWithSigner(connection.practice, signer, json);
  performance.mark("ehr:opened");
  return { connection, signer, relay, events, chart: JSON.parse(opened) };
}

// Say whether every record was verified (after a login, and after each reload).
function showVerified(chart) {
  const refused = chart.refused.length;
  $("status").textContent = refused === 0
    ? "Every record was verified and decrypted in this browser."
    : `${refused} events could not be verified or opened and are not shown.`;
}

// Draw a chart context with every tab; after she writes, a tab reloads it. A reload that
// finishes after the session ended draws nothing.
function show(context, tab = undefined) {
  context.reload = async () => {
    const token = sessionToken();
    // She stays on the tab she wrote from.
    const tab = selectedTab();
    const reloaded = await openChart(context.connection, context.signer, context.relay);
    if (!sessionLive(token)) return;
    showVerified(reloaded.chart);
    show(reloaded, tab);
  };
  drawChart(context, tab);
}

// Draw a chart: hers, or (for a guardian) a ward's, saying whose; on her own, the wards she
// may switch to are offered.
function drawChart(context, tab = undefined) {
  const heading = context.ward ? `${context.ward.name ?? "Your ward"}: chart` : "Your chart";
  const drawn = renderChart(context, { heading, tab });
  if (!context.ward) offerWards(context, drawChart);
  return drawn;
}

// Open and show the chart of `signer` (any login method, signers.js; login.js calls this):
// the view context. Throws when the chart cannot be opened (a connection string the practice
// did not sign is refused before any relay is contacted); the signer stays open for the
// session, which login.js ends (lock, logout) by closing it and calling endSession.
async function showChart(signer) {
  const connection = verifiedConnection($("connection").value);
  const relay = sessionRelay(connection, signer);
  let context;
  try {
    context = await openChart(connection, signer, relay);
  } catch (error) {
    relay.close();
    throw error;
  }
  currentRelay = relay;
  $("login").hidden = true;
  showVerified(context.chart);
  rememberPractice(connection);
  show(context);
  return context;
}

// The session ended (login.js): everything decrypted leaves the page, the login comes back.
function endSession(message) {
  currentRelay?.close();
  currentRelay = null;
  clearChart();
  resetWards();
  $("status").textContent = message;
  $("login").hidden = false;
}

async function main() {
  try {
    await init();
  } catch {
    $("loading").textContent = "The portal could not start its decryption module in this browser.";
    return;
  }
  const offered = document.querySelector('meta[name="ehr-connection"]')?.content;
  if (offered) $("connection").value = offered;
  showPractices();
  $("loading").hidden = true;
  $("login").hidden = false;
  initLogin({ showChart, endSession });
}

main();
