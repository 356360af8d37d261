// The patient portal's app (DESIGN.md §11). Verification, decryption and folding are
// ehr-client's, compiled to WebAssembly; this file wires the login, the relay and the views.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { openChartWithSigner } from "/assets/ehr_portal_wasm.js";
import { $ } from "/dom.js";
import { filter } from "/protocol.js";
import { connectRelay } from "/relay.js";
import { sessionLive, sessionToken } from "/session.js";
import { initLogin } from "/login.js";
import { clearChart, registerTab, renderChart } from "/chart.js";
import { registerRecordTabs } from "/records.js";
import { SHARE_TAB } from "/share.js";
import { rememberPractice, showPractices, verifiedConnection } from "/practices.js";

registerRecordTabs(registerTab);
registerTab(SHARE_TAB);

// One authenticated connection to the practice relay for the whole session, shared by the chart
// and every tab; opened again (with a new NIP-42 login) only if it dropped. `relay.close()` ends it.
function sessionRelay(connection, signer) {
  let opening = null;
  const relay = async () => {
    const open = opening && await opening.catch(() => null);
    if (open && !open.closed) return open;
    opening = connectRelay(connection.relay, signer);
    return opening;
  };
  relay.close = () => {
    const closing = opening;
    opening = null;
    closing?.then((open) => open.close(), () => {});
  };
  return relay;
}

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

// Draw a chart context with every tab; after she writes, a tab reloads it. A reload that
// finishes after the session ended draws nothing.
function show(context) {
  context.reload = async () => {
    const token = sessionToken();
    const reloaded = await openChart(context.connection, context.signer, context.relay);
    if (sessionLive(token)) show(reloaded);
  };
  renderChart(context);
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
  const { chart } = context;
  $("login").hidden = true;
  const refused = chart.refused.length;
  $("status").textContent = refused === 0
    ? "Every record was verified and decrypted in this browser."
    : `${refused} events could not be verified or opened and are not shown.`;
  rememberPractice(connection);
  show(context);
  return context;
}

// The session ended (login.js): everything decrypted leaves the page, the login comes back.
function endSession(message) {
  currentRelay?.close();
  currentRelay = null;
  clearChart();
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
