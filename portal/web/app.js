// The patient portal's app (DESIGN.md §11). Verification, decryption and folding are
// ehr-client's, compiled to WebAssembly; this file wires the login, the relay and the views.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { openChartWithSigner } from "/assets/ehr_portal_wasm.js";
import { connectRelay } from "/relay.js";
import { initLogin } from "/login.js";
import { clearChart, registerTab, renderChart } from "/chart.js";
import { registerRecordTabs } from "/records.js";
import { SHARE_TAB } from "/share.js";
import { rememberPractice, showPractices, verifiedConnection } from "/practices.js";

registerRecordTabs(registerTab);
registerTab(SHARE_TAB);

const ROSTER_KIND = 2102;
// 2105 Consent and 2110-2121 (DESIGN.md §3).
const CLINICAL_KINDS = [2105, ...Array.from({ length: 12 }, (_, i) => 2110 + i)];

const $ = (id) => document.getElementById(id);

// Fetch and open the chart of `signer`'s patient at the practice of `connection`.
// The result is the view context every tab receives (chart.js, records.js):
//   { connection, signer, events (as the relay served them), chart: {patient, bundle, refused} }
async function openChart(connection, signer) {
  $("status").textContent = "Connecting to your practice…";
  const relay = await connectRelay(connection.relay, signer);
  let events;
  try {
    $("status").textContent = "Fetching your records…";
    const rosters = await relay.fetchAll({ kinds: [ROSTER_KIND] });
    const records = await relay.fetchAll({ kinds: CLINICAL_KINDS, "#p": [signer.publicKey] });
    events = [...rosters, ...records];
  } finally {
    relay.close();
  }
  $("status").textContent = "Verifying and decrypting in this browser…";
  performance.mark("ehr:fetched");
  const json = JSON.stringify(events);
  // A key held in WebAssembly opens the chart in one call; a signer answers one decrypt at a time.
  const opened = signer.key
    ? signer.key.openChart(connection.practice, json)
    : await openChartWithSigner(connection.practice, signer.publicKey, json, signer.nip44.decrypt);
  performance.mark("ehr:opened");
  return { connection, signer, events, chart: JSON.parse(opened) };
}

// Draw a chart context with every tab; after she writes, a tab reloads it.
function show(context) {
  context.reload = async () => show(await openChart(context.connection, context.signer));
  renderChart(context);
}

// Open and show the chart of `signer` (any login method, signers.js; login.js calls this):
// the view context. Throws when the chart cannot be opened (a connection string the practice
// did not sign is refused before any relay is contacted); the signer stays open for the
// session, which login.js ends (lock, logout) by closing it and calling endSession.
async function showChart(signer) {
  const connection = verifiedConnection($("connection").value);
  const context = await openChart(connection, signer);
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
