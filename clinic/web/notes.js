// The clinic app's encounter notes (DESIGN.md §12): SOAP sections from a template, dot-phrases
// filled in from the chart, a draft kept encrypted in this browser under the member's own key
// while she writes, then signed and published (a new visit's Encounter, then the note); an
// addendum to a signed note; a nurse or MA writes a nursing note. Started from an appointment
// on the schedule (context.appointment), the note opens that appointment's visit, whose
// Encounter names it (`Encounter.appointment`, DESIGN.md §13); the Visits tab says so. The
// FHIR is built by the core (WebAssembly). DOM text through textContent only (trusted types).
import {
  dotPhrases, encounterNote, expandDotPhrases, noteAddendum, noteTemplates,
} from "/assets/ehr_web_wasm.js";
import { el, resources } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import { kind } from "/protocol.js";
import { loadPracticePhrases, phraseBook } from "/phrases.js";

const SECTIONS = [
  ["subjective", "Subjective"],
  ["objective", "Objective"],
  ["assessment", "Assessment"],
  ["plan", "Plan"],
];

const today = () => new Date().toISOString().slice(0, 10);
const clock = (iso) => new Date(iso).toLocaleTimeString([], { timeStyle: "short" });
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });

// "For the appointment at 09:30 (Well-child visit)".
function appointmentLine({ start, typeText }) {
  return `For the appointment${start ? ` at ${clock(start)}` : ""}${typeText ? ` (${typeText})` : ""}`;
}

// The appointments an Encounter names: [{id, start, typeText}], from the chart's Appointment
// records when it holds them, else from the reference's words.
function linkedAppointments(chart, encounter) {
  const held = resources(chart, "Appointment");
  return (encounter.appointment ?? []).map((ref) => {
    const id = ref.reference?.replace(/^Appointment\//, "") ?? "";
    const a = held.find((x) => x.id === id);
    return a
      ? { id, start: a.start ?? "", typeText: a.appointmentType?.text ?? a.appointmentType?.coding?.[0]?.display ?? "" }
      : { id, start: "", typeText: "", display: ref.display ?? "" };
  });
}

// Where this member's draft for this patient lives: a hash, so the storage names no one.
async function draftName(context) {
  const text = `${context.signer.publicKey}:${context.patient.patient}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `clinic-draft:${hex}`;
}

// The draft, sealed to the member's own key (NIP-44, by whatever holds it): nothing readable
// is stored.
async function saveDraft(context, form) {
  const { signer } = context;
  const sealed = await signer.nip44.encrypt(signer.publicKey, JSON.stringify({ ...form, savedAt: Date.now() }));
  localStorage.setItem(await draftName(context), sealed);
}

async function loadDraft(context) {
  const sealed = localStorage.getItem(await draftName(context));
  if (!sealed) return null;
  try {
    const { signer } = context;
    return JSON.parse(await signer.nip44.decrypt(signer.publicKey, sealed));
  } catch {
    return null;
  }
}

async function dropDraft(context) {
  localStorage.removeItem(await draftName(context));
}

// The patient's visits, newest first: [{id, label}].
function visits(chart) {
  return resources(chart, "Encounter")
    .map((e) => ({ id: e.id, start: e.period?.start ?? "", type: e.type?.[0]?.text ?? e.type?.[0]?.coding?.[0]?.display ?? "Visit",
      booked: (e.appointment ?? []).length > 0 }))
    .sort((a, b) => b.start.localeCompare(a.start))
    .slice(0, 8)
    .map((v) => ({ id: v.id, label: `${v.start.slice(0, 10)} — ${v.type}${v.booked ? " (appointment)" : ""}` }));
}

function select(label, options, props = {}) {
  const [wrapper, control] = field(label, props, "select");
  control.append(...options.map(([value, text]) => el("option", { value, text })));
  return [wrapper, control];
}

async function mountNote(panel, context) {
  panel.append(el("h3", { text: "New note" }));
  if (!context.member.writes.includes(kind("document"))) {
    panel.append(el("p", { className: "empty", text: "Your role does not write notes." }));
    return;
  }
  // The practice's own phrases; without the relay, the built-in ones still work.
  let practice = [];
  try {
    practice = await loadPracticePhrases(context);
  } catch {
    practice = [];
  }
  const own = JSON.stringify(practice.map(({ name, text }) => ({ name, text })));
  const templates = JSON.parse(noteTemplates());
  const nurse = ["nurse", "ma"].includes(context.member.role);
  const [templateField, template] = select("Template", [["", "(none)"], ...templates.map((t) => [t.id, t.label])]);
  const [kindField, noteKind] = select("Kind of note", [["progress", "Progress note"], ["nursing", "Nursing note"]]);
  noteKind.value = nurse ? "nursing" : "progress";
  const [visitField, visit] = select("Visit", [["", "A new visit, today"], ...visits(context.chart).map((v) => [v.id, v.label])]);
  const [typeField, visitType] = field("Visit type", { name: "visit-type", autocomplete: "off" });
  const [reasonField, reason] = field("Reason for the visit", { name: "reason", autocomplete: "off" });
  const sections = SECTIONS.map(([name, label]) => {
    const [wrapper, area] = field(label, { name, rows: 5, className: "soap" }, "textarea");
    // A dot-phrase becomes its text when the member leaves the section.
    area.addEventListener("blur", () => {
      const expanded = expandDotPhrases(area.value, JSON.stringify(context.chart), today(), own);
      if (expanded !== area.value) area.value = expanded;
    });
    return [name, wrapper, area];
  });
  const help = el("p", { className: "help dot-help",
    text: `Dot-phrases: ${[...JSON.parse(dotPhrases()).map((p) => `${p.phrase} (${p.becomes})`),
      ...practice.map((p) => `.${p.name} (the practice's)`)].join(", ")}.` });
  const draftStatus = el("p", { className: "help", attrs: { "aria-live": "polite" } });
  // The appointment this note's new visit is for: the one it was started from, else the one
  // of the draft restored.
  let appointment = context.appointment ?? null;
  const forAppointment = el("p", { className: "appointment-link", attrs: { "aria-live": "polite" } });
  const showAppointment = () => {
    forAppointment.hidden = !appointment || visit.value !== "";
    forAppointment.textContent = appointment ? `${appointmentLine(appointment)}.` : "";
  };
  if (appointment && !visitType.value) visitType.value = appointment.typeText ?? "";

  const values = () => ({
    kind: noteKind.value,
    encounter: visit.value || null,
    visitType: visitType.value,
    reason: reason.value,
    // Only a new visit is an appointment's.
    ...(appointment && !visit.value ? {
      appointment: appointment.id, appointmentStart: appointment.start ?? "", appointmentType: appointment.typeText ?? "",
    } : {}),
    ...Object.fromEntries(sections.map(([name, , area]) => [name, area.value])),
  });
  const restore = (draft) => {
    // A draft of another appointment's note (or of none) keeps the appointment chosen now.
    if (!context.appointment && draft.appointment) {
      appointment = { id: draft.appointment, start: draft.appointmentStart, typeText: draft.appointmentType };
    }
    noteKind.value = draft.kind ?? noteKind.value;
    if ([...visit.options].some((o) => o.value === (draft.encounter ?? ""))) visit.value = draft.encounter ?? "";
    visitType.value = draft.visitType || (appointment?.typeText ?? "");
    reason.value = draft.reason ?? "";
    for (const [name, , area] of sections) area.value = draft[name] ?? "";
  };
  const showNewVisit = () => {
    typeField.hidden = visit.value !== "";
    reasonField.hidden = visit.value !== "";
    showAppointment();
  };
  visit.addEventListener("change", showNewVisit);
  template.addEventListener("change", () => {
    const chosen = templates.find((t) => t.id === template.value);
    if (!chosen) return;
    noteKind.value = chosen.kind;
    if (!visitType.value) visitType.value = chosen.visitType;
    const chart = JSON.stringify(context.chart);
    for (const [name, , area] of sections) {
      if (!area.value.trim()) area.value = expandDotPhrases(chosen[name] ?? "", chart, today(), own);
    }
  });

  const form = recordForm(context, {
    label: "Sign note",
    fields: [forAppointment, templateField, kindField, visitField, typeField, reasonField, help,
      ...sections.map(([, wrapper]) => wrapper), draftStatus],
    build: () => {
      const form = values();
      const chart = JSON.stringify(context.chart);
      for (const [name] of SECTIONS) form[name] = expandDotPhrases(form[name], chart, today(), own);
      return JSON.parse(encounterNote(chart, JSON.stringify(form), new Date().toISOString()));
    },
    done: "Note signed.",
    saved: () => dropDraft(context),
  });
  // The draft is kept as she types (sealed), and dropped once the note is signed.
  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await saveDraft(context, values());
      draftStatus.textContent = `Draft saved (encrypted in this browser) at ${new Date().toTimeString().slice(0, 5)}.`;
    }, 800);
  });
  form.addEventListener("submit", () => clearTimeout(timer));
  panel.append(form, phraseBook(context, practice, () => context.reload?.()));
  showNewVisit();
  loadDraft(context).then((draft) => {
    if (!draft) return;
    restore(draft);
    showNewVisit();
    draftStatus.textContent = `Draft restored (saved ${new Date(draft.savedAt).toLocaleString()}).`;
  });
}

// On the Visits tab: a visit that was an appointment says so.
function markAppointments(panel, { chart }) {
  for (const article of panel.querySelectorAll("article.visit[data-id]")) {
    const encounter = resources(chart, "Encounter").find((e) => e.id === article.dataset.id);
    for (const a of encounter ? linkedAppointments(chart, encounter) : []) {
      const words = a.start
        ? `Visit for the appointment on ${when(a.start)}${a.typeText ? ` (${a.typeText})` : ""}`
        : `Visit for an appointment${a.display ? ` (${a.display.replace(/^Appointment: /, "")})` : ""}`;
      const line = el("p", { className: "meta appointment-link", text: words });
      line.dataset.appointment = a.id;
      article.querySelector("h4")?.after(line);
    }
  }
}

// Under each signed note of the Visits tab: add an addendum.
function addAddenda(panel, context) {
  if (!context.member.writes.includes(kind("document"))) return;
  for (const note of panel.querySelectorAll("section.note:not(.addendum)")) {
    const id = note.dataset.id;
    const [textField, text] = field("Addendum", { name: "addendum", rows: 3, required: true }, "textarea");
    const form = recordForm(context, {
      label: "Sign addendum",
      fields: [textField],
      build: () => noteAddendum(JSON.stringify(context.chart), id, text.value, new Date().toISOString()),
      done: "Addendum signed.",
    });
    note.append(el("details", { className: "addendum-entry" }, el("summary", { text: "Add an addendum" }), form));
  }
}

export function register({ registerTab, extendTab }) {
  registerTab({ id: "note", label: "New note", mount: mountNote });
  extendTab("visits", markAppointments);
  extendTab("visits", addAddenda);
}
