// The clinic app (DESIGN.md §12). Staff log in with their own key (login.js, shared with the
// portal); ehr-client's core, compiled to WebAssembly, verifies the roster, says what the
// member's role may do, lists the patients its keys reach and opens their charts. The relay
// and the key domains decide what can be read; the app shows a role only its tabs.
// DOM text goes through textContent only: the CSP requires trusted types for HTML sinks.
import init, { memberSessionWithSigner } from "/assets/ehr_web_wasm.js";
import { $ } from "/dom.js";
import { filter, kind } from "/protocol.js";
import { sessionRelay } from "/relay.js";
import { sessionLive, sessionToken } from "/session.js";
import { initLogin } from "/login.js";
import { LoginError } from "/signers.js";
import { clearChart, extendTab, registerTab, renderChart, selectedTab } from "/chart.js";
import { setReportedLabel } from "/chart-view.js";
import { verifiedConnection } from "/practices.js";
import { clearPatients, initPatients, showPatients } from "/patients.js";
import { CLINIC_TABS, tabShown } from "/clinic-tabs.js";
import * as notes from "/notes.js";
import * as vitalsEntry from "/vitals-entry.js";
import * as ordersEntry from "/orders-entry.js";
import * as documentsEntry from "/documents-entry.js";
import * as printouts from "/printouts.js";
import * as summary from "/summary.js";
import * as sharing from "/sharing.js";
import * as guardianships from "/guardianships.js";
import { showAdministration } from "/admin.js";
import { showSchedule, stopSchedule } from "/schedule.js";
import { DeviceCache, Outbox, RETRY_MS, unreachable } from "/offline.js";
import { clearOutboxView, drawOutbox, initOutboxView } from "/outbox-view.js";

for (const tab of CLINIC_TABS) registerTab(tab);
for (const feature of [notes, vitalsEntry, ordersEntry, documentsEntry, printouts, summary, sharing, guardianships]) {
  feature.register({ registerTab, extendTab });
}
setReportedLabel("Reported by the patient");

// The open practice: { connection, signer, relay, session (the member's view in WebAssembly),
// member, keys (the key events), patients }.
let practice = null;

const TEXTS = {
  notRegistered: "This key is not on the practice's staff roster (or it was revoked). "
    + "Ask an administrator to add it, or log in with the key the practice registered for you.",
  failed: "Could not log in",
  locked: "Your session was locked after a time without activity; every chart was removed from this page. Log in again to continue.",
  loggedOut: "Logged out; every chart was removed from this page.",
};

// The member's view, kept in WebAssembly for the session: a key held there opens its grants at
// once; an extension or a remote signer is asked to decrypt only the grants sealed to it (one
// per epoch), and signs each new record.
async function memberSession(connection, signer, keys) {
  if (signer.key) return signer.key.memberSession(connection.practice, JSON.stringify(keys));
  try {
    return await memberSessionWithSigner(connection.practice, JSON.stringify(keys), signer);
  } catch (error) {
    // The core's message says what went wrong (a refusal, a signer that did not answer).
    throw new LoginError(String(error?.message ?? error));
  }
}

// The key events and the patient list's events: from the relay (kept on this device, sealed),
// or, when the relay cannot be reached, from what this device kept at the last login. A
// refusal (a revoked key, an unknown one) is never answered from the device.
async function practiceEvents(connection, signer, relay) {
  try {
    $("status").textContent = "Connecting to the practice…";
    const open = await relay();
    $("status").textContent = "Fetching the patient list…";
    performance.mark("clinic:login");
    const [keys, list] = await Promise.all([
      open.fetchAll(filter("keys")),
      open.fetchAll(filter("patient-list")),
    ]);
    performance.mark("clinic:fetched");
    return { keys, list, offline: false };
  } catch (error) {
    if (!unreachable(error)) throw error;
    const device = await DeviceCache.open(connection.practice, signer).catch(() => null);
    const keys = await device?.read("keys");
    if (!keys) {
      device?.close();
      throw error;
    }
    const list = (await device.read("patient-list")) ?? [];
    return { keys, list, offline: true, device };
  }
}

// Fetch what the member's keys come from and the patient list, and ask the core who the key
// is. A key the roster does not name is refused by the relay (not a member) or by the core.
async function openPractice(signer) {
  const connection = verifiedConnection($("connection").value);
  const relay = sessionRelay(connection, signer);
  let device = null;
  try {
    const fetched = await practiceEvents(connection, signer, relay);
    const { keys, list, offline } = fetched;
    device = fetched.device ?? null;
    $("status").textContent = "Verifying and decrypting in this browser…";
    // The member's view (keys opened once) stays in WebAssembly for the session.
    const session = await memberSession(connection, signer, keys);
    performance.mark("clinic:session");
    try {
      const member = JSON.parse(session.member());
      const patients = JSON.parse(session.patientList(JSON.stringify(list)));
      performance.mark("clinic:listed");
      return { connection, signer, relay, session, member, keys, patients, device, offline, list };
    } catch (error) {
      session.free();
      throw error;
    }
  } catch (error) {
    relay.close();
    device?.close();
    throw error;
  }
}

// After the list is on screen: the device cache of a verified member (the outbox's store)
// opened, the key events and the list kept in it (sealing megabytes takes a moment: never
// before the list shows), the outbox and its retries started. Charts wait for it
// (`opened.ready`).
function prepareDevice(opened) {
  opened.ready = (async () => {
    opened.device ??= await DeviceCache.open(opened.connection.practice, opened.signer).catch(() => null);
    await startOutbox(opened);
    if (!opened.offline) {
      whenIdle(() => {
        Promise.all([opened.device?.write("keys", opened.keys), opened.device?.write("patient-list", opened.list)])
          .catch(() => {});
      });
    }
  })();
  return opened.ready;
}

// The open practice's outbox, drawn as it changes, and the retries while the relay is
// unreachable or events wait.
async function startOutbox(opened) {
  const names = new Map(opened.patients.map((p) => [p.patient, p.name ?? "Unnamed patient"]));
  const name = (patient) => names.get(patient) ?? "a patient";
  opened.outbox = opened.device
    ? await Outbox.open(opened.device, opened.relay, (outbox) => drawOutbox(outbox, name))
    : new Outbox({ write: async () => {}, read: async () => null }, opened.relay, [], (outbox) => drawOutbox(outbox, name));
  opened.outbox.online = !opened.offline;
  drawOutbox(opened.outbox, name);
  opened.retry = setInterval(() => retry(opened), RETRY_MS);
}

// While offline or with events waiting: try the relay; once it answers, send what waits in
// order, and bring the open chart up to date with what others wrote meanwhile.
async function retry(opened) {
  const { outbox, relay } = opened;
  // A refusal (outbox.problem) is not retried on a timer: "Send now" tries again.
  if (opened !== practice || opened.retrying || outbox.problem || (outbox.online && !outbox.pending().length)) return;
  opened.retrying = true;
  const wasOffline = !outbox.online;
  try {
    await relay();
    outbox.reached(null);
    await outbox.flush();
    if (wasOffline && outbox.online) {
      if (opened.open) await openPatient(opened.open, selectedTab());
      $("status").textContent = "Back online: what you wrote was sent, and the chart has what others wrote meanwhile.";
    }
  } catch (error) {
    // Unreachable: try again later. Refused (a revoked key): say so; nothing is dropped.
    outbox.reached(error);
  } finally {
    opened.retrying = false;
  }
}

function showMember(member) {
  const who = member.name ? `${member.name} · ${member.role}` : member.role;
  $("member").textContent = who;
  $("member").hidden = false;
}

// Run `work` when the page is idle (sealing megabytes for the device cache must not delay
// what the member is waiting for).
function whenIdle(work) {
  if (window.requestIdleCallback) window.requestIdleCallback(work, { timeout: 5000 });
  else setTimeout(work, 1000);
}

// Events by id, `extra` after `events`, each once.
function mergeEvents(events, extra) {
  const byId = new Map(events.map((e) => [e.id, e]));
  for (const event of extra) byId.set(event.id, event);
  return [...byId.values()];
}

// `patient`'s events: brought up to date from the relay (NIP-77 against what this device
// holds, else fetched whole) and kept, sealed; or what the device holds when the relay cannot
// be reached. Her events in the outbox are added either way.
async function chartEvents(patient) {
  await practice.ready;
  const { relay, device, outbox } = practice;
  const name = `chart:${patient.patient}`;
  // What this session already holds of her chart (after a save, the chart opens again), else
  // what the device kept: unsealed once per session, not on every reload.
  practice.charts ??= new Map();
  const held = practice.charts.get(name) ?? await device?.read(name).catch(() => null);
  let records;
  try {
    const open = await relay();
    const chartFilter = filter("chart", [patient.patient]);
    const missing = held?.length ? await open.missing(chartFilter, held) : null;
    records = missing === null ? await open.fetchAll(chartFilter) : mergeEvents(held, missing);
    practice.charts.set(name, records);
    // Kept for offline use once the chart is drawn (sealing it takes a moment), unless
    // nothing changed since the device's copy.
    if (missing === null || missing.length) whenIdle(() => device?.write(name, records).catch(() => {}));
  } catch (error) {
    if (!held || !unreachable(error)) throw error;
    records = held;
    outbox.reached(error);
  }
  return mergeEvents(records, outbox.eventsFor(patient.patient));
}

// Open `patient`'s chart: her events, with the key events, opened by the core as the member;
// on tab `tab` (after a write, the tab it was made on). From the schedule, `options.appointment`
// ({id, start, typeText}) opens it on a new note for that appointment's visit (notes.js), which
// its Encounter names; a role that writes no notes sees the chart with a word why.
async function openPatient(patient, tab, options = {}) {
  const token = sessionToken();
  const { connection, signer, relay, session, member, keys, outbox } = practice;
  $("status").textContent = "Opening the chart…";
  $("error").textContent = "";
  try {
    const records = await chartEvents(patient);
    if (!sessionLive(token)) return;
    const events = [...keys, ...records];
    const chart = JSON.parse(session.openChart(patient.patient, JSON.stringify(records)));
    if (!sessionLive(token)) return;
    const context = { connection, signer, relay, session, member, events, chart, patient, outbox };
    // Once the note is signed (or the chart drawn again), the appointment is done with.
    context.reload = () => openPatient(patient, selectedTab());
    const { appointment } = options;
    const notes = appointment && tabShown({ id: "note" }, member, patient) && member.writes.includes(kind("document"));
    if (notes) context.appointment = appointment;
    practice.open = patient;
    $("patients").hidden = true;
    $("chart-patient").textContent = [patient.birthDate && `Born ${patient.birthDate}`,
      ...(patient.identifiers ?? [])].filter(Boolean).join(" · ");
    const refused = chart.refused.length;
    $("status").textContent = [
      appointment && !notes ? "Your role does not write visit notes: the chart is open." : "",
      outbox.online ? "" : "Offline: this chart is as this device last saw it, with what you wrote since. Kept on this device: anything you write now, sent when the relay is back.",
      refused === 0 ? "" : `${refused} events could not be verified or opened and are not shown.`,
    ].filter(Boolean).join(" ");
    renderChart(context, {
      heading: patient.name ?? "Unnamed patient",
      shown: (candidate) => tabShown(candidate, member, patient),
      tab: notes ? "note" : tab,
    });
    performance.mark("clinic:chart");
  } catch (error) {
    $("status").textContent = "";
    $("error").textContent = `Could not open the chart: ${error?.message ?? error}`;
  }
}

function backToList() {
  if (practice) practice.open = null;
  clearChart();
  $("patients").hidden = false;
  $("patient-search").focus();
}

// Patients, the schedule, or administration (admins): one shows, the others hide.
function showView(view) {
  for (const name of ["patients", "schedule", "administration"]) {
    $(name).hidden = name !== view;
    $(`show-${name}`).setAttribute("aria-pressed", String(name === view));
  }
  if (view !== "patients") clearChart();
  if (view !== "schedule") stopSchedule();
  if (view === "administration") showAdministration(practice, reopenPractice);
  if (view === "schedule") {
    showSchedule(practice, (patient, options) => {
      showView("patients");
      openPatient(patient, undefined, options);
    });
  }
}

// After the roster changed: the practice again with the same login (the member's own view
// changes with it), still on the administration view.
async function reopenPractice(message) {
  const opened = await openPractice(practice.signer);
  clearInterval(practice.retry);
  practice.session.free();
  practice.device?.close();
  practice = opened;
  await prepareDevice(opened);
  $("status").textContent = "";
  showPatients(opened.patients, openPatient);
  // Still on the administration (she may have gone to the patients meanwhile): draw it again.
  if (!$("administration").hidden) showAdministration(practice, reopenPractice, message);
}

// login.js's showChart: open the practice and show the patient list.
async function showPractice(signer) {
  const opened = await openPractice(signer);
  practice = opened;
  $("workspace-nav").hidden = false;
  $("show-administration").hidden = opened.member.role !== "admin";
  $("administration").hidden = true;
  $("schedule").hidden = true;
  $("login").hidden = true;
  showMember(opened.member);
  showPatients(opened.patients, openPatient);
  $("workspace").hidden = false;
  $("status").textContent = [
    opened.offline ? "Offline: the practice's relay cannot be reached. You see what this device saved; what you write is kept in the outbox and sent when the relay is back." : "",
    opened.member.reads.includes("clinical") ? "" : "Front desk: demographics, messages and the schedule. Clinical records are not shown to this role.",
  ].filter(Boolean).join(" ");
  performance.mark("clinic:list");
  // The frame after the list was drawn has been painted: what scripts/bench-clinic times.
  requestAnimationFrame(() => setTimeout(() => performance.mark("clinic:list-painted"), 0));
  $("patient-search").focus();
  prepareDevice(opened).catch(() => {});
  return opened;
}

// The session ended (login.js): everything decrypted leaves the page, the login comes back.
function endSession(message) {
  stopSchedule();
  clearInterval(practice?.retry);
  practice?.relay.close();
  practice?.session.free();
  // The device cache goes; an outbox with unsent events stays, sealed, for her next login.
  practice?.device?.wipe().catch(() => {});
  practice = null;
  clearOutboxView();
  clearChart();
  clearPatients();
  $("administration").replaceChildren();
  $("administration").hidden = true;
  $("schedule").replaceChildren();
  $("schedule").hidden = true;
  $("workspace-nav").hidden = true;
  // Her date of birth and identifiers, under the heading.
  $("chart-patient").textContent = "";
  $("workspace").hidden = true;
  $("member").hidden = true;
  $("member").textContent = "";
  $("status").textContent = message;
  $("login").hidden = false;
}

// The service worker that keeps the app's files for opening with no network (sw.js). Under
// trusted types a script URL needs a policy: this one passes the app's own worker only.
function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  const policy = window.trustedTypes?.createPolicy("service-worker", {
    createScriptURL: (url) => {
      if (url !== "/sw.js") throw new TypeError("only the app's own service worker");
      return url;
    },
  });
  navigator.serviceWorker.register(policy ? policy.createScriptURL("/sw.js") : "/sw.js")
    .catch(() => { /* Without it the app still works online. */ });
}

async function main() {
  try {
    await init();
  } catch {
    $("loading").textContent = "The clinic app could not start its decryption module in this browser.";
    return;
  }
  const offered = document.querySelector('meta[name="ehr-connection"]')?.content;
  if (offered) $("connection").value = offered;
  $("back-to-list").addEventListener("click", backToList);
  $("show-patients").addEventListener("click", () => showView("patients"));
  $("show-administration").addEventListener("click", () => showView("administration"));
  $("show-schedule").addEventListener("click", () => showView("schedule"));
  $("passkey-later").addEventListener("click", () => { $("passkey-offer").hidden = true; });
  initPatients();
  initOutboxView();
  registerServiceWorker();
  $("loading").hidden = true;
  $("login").hidden = false;
  initLogin({ showChart: showPractice, endSession, texts: TEXTS });
}

main();
