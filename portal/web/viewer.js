// The SMART Health Link viewer (DESIGN.md §11): a clinician opens `…/viewer#shlink:/…` (or
// pastes a link), says who she is, gives the passcode when the link asks for one, and reads
// the patient's summary. Parsing the link, the manifest request and the decryption are
// ehr-client's (WebAssembly); the key stays in the page: it is in the fragment, which browsers
// never send, and only the recipient and the passcode are POSTed to the manifest URL.
import init, { shlManifestRequest, shlOpenFile, shlParse } from "/assets/ehr_web_wasm.js";
import { $ } from "/dom.js";
import { renderSummary } from "/ips.js";

const day = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);

let link = null;
let payload = null;

function fail(message) {
  $("status").textContent = "";
  $("error").textContent = message;
}

// Show what the link says about itself, and the form to ask for it.
function offer(text) {
  try {
    payload = JSON.parse(shlParse(text));
  } catch (error) {
    $("paste").hidden = false;
    return fail(`This is not a SMART Health Link: ${error?.message ?? error}`);
  }
  link = text;
  $("paste").hidden = true;
  $("link-info").hidden = false;
  $("link-label").textContent = payload.label || "Shared health summary";
  const expired = payload.exp && payload.exp * 1000 <= Date.now();
  const facts = [
    payload.exp ? `This link ${expired ? "expired on" : "expires on"} ${day(payload.exp)}.` : "This link does not expire.",
    payload.keptCurrent ? "The patient keeps it current." : "It is a snapshot.",
    payload.needsPasscode ? "It needs a passcode." : "",
  ].filter(Boolean);
  $("link-facts").textContent = facts.join(" ");
  $("passcode-field").hidden = !payload.needsPasscode;
  $("passcode").required = payload.needsPasscode;
  $("request").hidden = false;
  $("error").textContent = "";
  $("recipient").focus();
}

async function fetchFile(file) {
  if (file.embedded) return file.embedded;
  if (!file.location) throw new Error("the manifest lists a file without content");
  const response = await fetch(file.location);
  if (!response.ok) throw new Error(`the file could not be fetched (${response.status})`);
  return (await response.text()).trim();
}

async function request(event) {
  event.preventDefault();
  $("error").textContent = "";
  let body;
  try {
    body = shlManifestRequest($("recipient").value, payload.needsPasscode ? $("passcode").value : "");
  } catch (error) {
    return fail(error?.message ?? String(error));
  }
  $("passcode").value = "";
  $("status").textContent = "Asking for the summary…";
  let response;
  try {
    response = await fetch(payload.url, { method: "POST", headers: { "content-type": "application/json" }, body });
  } catch (error) {
    return fail(`The link's server could not be reached (${error?.message ?? error}).`);
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    const left = answer.remainingAttempts;
    $("passcode").focus();
    if (left === 0) $("request").hidden = true;
    return fail(typeof left !== "number" ? "Wrong passcode."
      : left === 0 ? "Wrong passcode. The link no longer works: ask the patient for a new one."
        : `Wrong passcode. ${left} ${left === 1 ? "try" : "tries"} left before the link stops working.`);
  }
  if (response.status === 404) {
    $("request").hidden = true;
    return fail("This link is no longer available: it expired, was revoked by the patient, was stopped after too many wrong passcodes, or never existed.");
  }
  if (!response.ok) {
    return fail(`The link's server refused: ${response.headers.get("x-reason") ?? answer?.issue?.[0]?.diagnostics ?? response.status}`);
  }
  $("status").textContent = "Decrypting in this browser…";
  try {
    const files = (answer.files ?? []).filter((f) => f.contentType === "application/fhir+json");
    if (files.length === 0) throw new Error("the link holds no FHIR file");
    const parts = [];
    for (const file of files) {
      const bundle = JSON.parse(shlOpenFile(link, await fetchFile(file)));
      parts.push(renderSummary(bundle, { level: 3 }));
    }
    $("summary-body").replaceChildren(...parts);
    const updated = files.map((f) => f.lastUpdated).filter(Boolean).sort().pop();
    $("summary-note").textContent = [
      answer.status === "can-change" ? "The patient keeps this summary current." : "A snapshot the patient shared.",
      updated ? `Last updated ${updated.slice(0, 10)}.` : "",
      payload.exp ? `The link expires on ${day(payload.exp)}.` : "",
    ].filter(Boolean).join(" ");
    $("request").hidden = true;
    $("summary").hidden = false;
    $("status").textContent = "";
    $("summary-heading").focus();
  } catch (error) {
    fail(`The summary could not be opened: ${error?.message ?? error}`);
  }
}

async function main() {
  try {
    await init();
  } catch {
    $("loading").textContent = "The viewer could not start its decryption module in this browser.";
    return;
  }
  $("loading").hidden = true;
  $("request").addEventListener("submit", request);
  $("paste").addEventListener("submit", (event) => {
    event.preventDefault();
    offer($("paste-link").value.trim());
  });
  const fragment = decodeURIComponent(location.hash.slice(1));
  if (fragment.includes("shlink:/")) offer(fragment);
  else {
    $("paste").hidden = false;
    $("paste-link").focus();
  }
}

main();
