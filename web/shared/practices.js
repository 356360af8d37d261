// Practices (DESIGN.md §11): the portal accepts only connection strings signed by the practice
// root key they name (verified by ehr-client's core in WebAssembly), and remembers the ones a
// patient used — public data only (practice key, relay, Blossom, name, the signed string) —
// in localStorage, so she can switch between her practices.
import { verifyConnection } from "/assets/ehr_web_wasm.js";
import { $ } from "/dom.js";

const KEY = "ehr-portal-practices";

// A verified connection {practice, npub, relay, blossom, name, connection}, or an Error whose
// `phishing` is true when the string was not signed by the practice it names.
export function verifiedConnection(text) {
  try {
    return JSON.parse(verifyConnection(text));
  } catch (error) {
    const message = error?.message ?? String(error);
    const refused = new Error(message);
    refused.phishing = /not signed|phishing/.test(message);
    throw refused;
  }
}

// The remembered practices, each re-verified (storage is not trusted to hold only what we wrote).
function rememberedPractices() {
  let stored;
  try {
    stored = JSON.parse(localStorage.getItem(KEY) ?? "[]");
  } catch {
    return [];
  }
  const practices = [];
  for (const entry of Array.isArray(stored) ? stored : []) {
    try {
      practices.push(verifiedConnection(entry?.connection ?? ""));
    } catch {
      // A string that no longer verifies is dropped, never offered.
    }
  }
  return practices;
}

function label(practice) {
  const host = practice.relay.replace(/^wss?:\/\//, "").split("/")[0];
  return `${practice.name ?? "Practice"} (${host}, ${practice.npub.slice(0, 12)}…)`;
}

// Remember `practice` (a verified connection), newest first, once per practice key.
export function rememberPractice(practice) {
  const others = rememberedPractices().filter((p) => p.practice !== practice.practice);
  const list = [practice, ...others].map((p) => ({ connection: p.connection }));
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // Storage may be off (private mode): the portal works, it just does not remember.
  }
  showPractices();
}

// Fill the "Your practices" list; choosing one puts its connection string in the form.
export function showPractices() {
  const practices = rememberedPractices();
  const select = $("practice-list");
  const options = practices.map((p) => {
    const option = document.createElement("option");
    option.value = p.connection;
    option.textContent = label(p);
    return option;
  });
  const none = document.createElement("option");
  none.value = "";
  none.textContent = practices.length === 0 ? "None yet" : "Another practice (paste its string)";
  select.replaceChildren(...options, none);
  const current = $("connection").value.trim();
  select.value = practices.some((p) => p.connection === current) ? current : "";
  $("practices-field").hidden = practices.length === 0;
  select.onchange = () => {
    if (select.value) $("connection").value = select.value;
    else $("connection").value = "";
  };
}
