// The patient portal's app (DESIGN.md §11). Verification, decryption and folding are
// ehr-client's, compiled to WebAssembly; this file wires the login, the relay and the views.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { openChartWithSigner } from "/assets/ehr_portal_wasm.js";
import { connectRelay } from "/relay.js";
import { keySigner } from "/signers.js";
import { clearChart, renderChart } from "/chart.js";
import { rememberPractice, showPractices, verifiedConnection } from "/practices.js";

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

// The signer of the open chart: tabs sign with it (documents' BUD-11 tokens) until logout.
let session = null;

function logout() {
  session?.close();
  session = null;
  clearChart();
  $("status").textContent = "Logged out; the decrypted chart was removed from this page.";
  $("login").hidden = false;
  $("secret").focus();
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
  $("logout").addEventListener("click", logout);
  $("login").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const secret = $("secret").value;
    // The secret now lives only inside the WebAssembly PatientKey, which is wiped after use.
    $("secret").value = "";
    $("error").textContent = "";
    const button = $("login").querySelector("button");
    button.disabled = true;
    let signer;
    try {
      // Only a string signed by the practice it names (phishing is refused here).
      const connection = verifiedConnection($("connection").value);
      signer = keySigner(secret);
      const context = await openChart(connection, signer);
      const { chart } = context;
      $("login").hidden = true;
      const refused = chart.refused.length;
      $("status").textContent = refused === 0
        ? "Every record was verified and decrypted in this browser."
        : `${refused} events could not be verified or opened and are not shown.`;
      session = signer;
      signer = null;
      rememberPractice(connection);
      renderChart(context);
    } catch (error) {
      $("status").textContent = "";
      $("error").textContent = error?.phishing
        ? `Warning: ${error.message}`
        : `Could not open your chart: ${error?.message ?? error}`;
      $("error").classList.toggle("phishing", Boolean(error?.phishing));
    } finally {
      // A failed login wipes the key at once; an open chart keeps it until logout.
      signer?.close();
      button.disabled = false;
    }
  });
}

main();
