// The patient portal's app (DESIGN.md §11). Verification, decryption and folding are
// ehr-client's, compiled to WebAssembly; this file only talks to the relay and draws the page.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { PatientKey, parseConnection } from "/assets/ehr_portal_wasm.js";

const ROSTER_KIND = 2102;
// 2105 Consent and 2110-2121 (DESIGN.md §3).
const CLINICAL_KINDS = [2105, ...Array.from({ length: 12 }, (_, i) => 2110 + i)];
// Below any relay's usual max_limit (ours is 5,000), so a short page means the end.
const PAGE = 500;
// A relay that stops answering gets a clear error rather than a page that spins forever.
const ANSWER_TIMEOUT_MS = 20000;

const LABELS = {
  Patient: "Patient details",
  Encounter: "Visit",
  Observation: "Observation",
  Condition: "Problem",
  MedicationRequest: "Medication",
  AllergyIntolerance: "Allergy",
  Immunization: "Immunization",
  ServiceRequest: "Order",
  DiagnosticReport: "Result",
  DocumentReference: "Document",
  Communication: "Message",
  Consent: "Consent",
};
const DATE_FIELDS = ["effectiveDateTime", "occurrenceDateTime", "authoredOn", "onsetDateTime",
  "recordedDate", "issued", "date", "sent", "dateTime", "birthDate"];
const CONCEPT_FIELDS = ["code", "vaccineCode", "medicationCodeableConcept", "type", "topic", "category"];

const $ = (id) => document.getElementById(id);

class Relay {
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener("open", () => resolve(new Relay(ws)), { once: true });
      ws.addEventListener("error", () => reject(new Error("the relay could not be reached")), { once: true });
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.wake = null;
    this.closed = null;
    this.subscriptions = 0;
    ws.addEventListener("message", (message) => {
      try {
        this.inbox.push(JSON.parse(message.data));
      } catch {
        return;
      }
      this.wake?.();
    });
    ws.addEventListener("close", () => {
      this.closed = new Error("the relay closed the connection");
      this.wake?.();
    });
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  // The next message `wanted` accepts; messages nobody waits for are left in the inbox.
  async next(wanted) {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (;;) {
      const index = this.inbox.findIndex(wanted);
      if (index >= 0) return this.inbox.splice(index, 1)[0];
      if (this.closed) throw this.closed;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("the relay did not answer in time");
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = null;
    }
  }

  // NIP-42: answer the relay's challenge with an AUTH event signed by `sign`.
  async authenticate(sign) {
    const [, challenge] = await this.next((m) => m[0] === "AUTH" && typeof m[1] === "string");
    const event = JSON.parse(sign(challenge));
    this.send(["AUTH", event]);
    const [, , accepted, reason] = await this.next((m) => m[0] === "OK" && m[1] === event.id);
    if (!accepted) throw new Error(`the relay refused the login (${reason})`);
  }

  // Every event matching `filter`, newest first, paged with `until`. Events of the second a
  // page ends on come again on the next page and are kept once.
  async fetchAll(filter) {
    const events = new Map();
    let until;
    for (;;) {
      const id = `q${++this.subscriptions}`;
      this.send(["REQ", id, { ...filter, limit: PAGE, ...(until === undefined ? {} : { until }) }]);
      let count = 0;
      let fresh = 0;
      let oldest = Infinity;
      for (;;) {
        const message = await this.next((m) => ["EVENT", "EOSE", "CLOSED"].includes(m[0]) && m[1] === id);
        if (message[0] === "EOSE") break;
        if (message[0] === "CLOSED") throw new Error(`the relay refused the request (${message[2]})`);
        const event = message[2];
        count += 1;
        oldest = Math.min(oldest, event.created_at);
        if (!events.has(event.id)) {
          events.set(event.id, event);
          fresh += 1;
        }
      }
      this.send(["CLOSE", id]);
      if (count < PAGE) return [...events.values()];
      if (fresh === 0) throw new Error("the relay holds more events in one second than a page");
      until = oldest;
    }
  }

  close() {
    this.ws.close();
  }
}

function text(concept) {
  const value = Array.isArray(concept) ? concept[0] : concept;
  return value?.text ?? value?.display ?? value?.coding?.[0]?.display ?? "";
}

function describe(resource) {
  if (resource.resourceType === "Patient") return resource.name?.[0]?.text ?? text(resource.name?.[0]?.given);
  if (resource.resourceType === "DocumentReference") {
    const title = resource.content?.[0]?.attachment?.title;
    if (title) return title;
  }
  if (resource.resourceType === "Encounter" && resource.reasonCode) return text(resource.reasonCode);
  for (const field of CONCEPT_FIELDS) {
    const found = text(resource[field]);
    if (found) return found;
  }
  return resource.class?.display ?? "";
}

function dateOf(resource) {
  const value = resource.period?.start ?? DATE_FIELDS.map((f) => resource[f]).find((v) => typeof v === "string");
  return value ? value.slice(0, 10) : "";
}

function statusOf(resource) {
  return resource.status ?? text(resource.clinicalStatus) ?? "";
}

function render(chart) {
  const rows = chart.bundle.entry.map(({ resource }) => ({
    record: LABELS[resource.resourceType] ?? resource.resourceType,
    date: dateOf(resource),
    description: describe(resource),
    status: statusOf(resource),
  }));
  rows.sort((a, b) => a.record.localeCompare(b.record) || b.date.localeCompare(a.date));
  const body = $("chart-rows");
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    for (const key of ["record", "date", "description", "status"]) {
      const cell = document.createElement(key === "record" ? "th" : "td");
      if (key === "record") cell.scope = "row";
      cell.textContent = row[key];
      tr.append(cell);
    }
    return tr;
  }));
  $("chart-caption").textContent = `${rows.length} records, newest first within each kind`;
  $("chart").hidden = false;
  $("chart-heading").focus();
}

async function openChart(connectionText, secret) {
  const connection = JSON.parse(parseConnection(connectionText));
  const key = new PatientKey(secret);
  try {
    $("status").textContent = "Connecting to your practice…";
    const relay = await Relay.open(connection.relay);
    let events;
    try {
      await relay.authenticate((challenge) =>
        key.signAuth(connection.relay, challenge, Math.floor(Date.now() / 1000)));
      $("status").textContent = "Fetching your records…";
      const rosters = await relay.fetchAll({ kinds: [ROSTER_KIND] });
      const records = await relay.fetchAll({ kinds: CLINICAL_KINDS, "#p": [key.publicKey()] });
      events = [...rosters, ...records];
    } finally {
      relay.close();
    }
    $("status").textContent = "Verifying and decrypting in this browser…";
    return JSON.parse(key.openChart(connection.practice, JSON.stringify(events)));
  } finally {
    key.free();
  }
}

function logout() {
  $("chart-rows").replaceChildren();
  $("chart-caption").textContent = "";
  $("chart").hidden = true;
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
    try {
      const chart = await openChart($("connection").value, secret);
      $("login").hidden = true;
      const refused = chart.refused.length;
      $("status").textContent = refused === 0
        ? "Every record was verified and decrypted in this browser."
        : `${refused} events could not be verified or opened and are not shown.`;
      render(chart);
    } catch (error) {
      $("status").textContent = "";
      $("error").textContent = `Could not open your chart: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
  });
}

main();
