// The clinic app's own chart tabs (DESIGN.md §12): the patient's details and her messages
// (read and answered by any staff role), and which tabs a role sees. The relay and the key
// domains (shared DESIGN §2) enforce what a role may read; this only follows the role the
// verified roster gave. DOM text through textContent only (trusted types).
import { messageThreads, patientDetails, patientMessage } from "/assets/ehr_web_wasm.js";
import { conceptText, el, empty, resources } from "/chart-view.js";
import { field, publishRecord, recordForm } from "/writing.js";
import { kind } from "/protocol.js";


// The tabs of the office key domain: all a front-desk member sees.
const OFFICE_TABS = new Set(["details", "messages", "all"]);
// Built-in tabs the clinic app does not show: the patient's own access log reads her copies.
const PATIENT_ONLY_TABS = new Set(["access"]);

// The CDC growth references end at 20 years: an adult's chart has no growth tab.
const GROWTH_CHARTED_UNTIL_YEARS = 20;

// Whether `birthDate` (YYYY-MM-DD, or absent) is of someone still charted for growth; without
// one the tab stays, and says it needs a date of birth.
function chartsGrowth(birthDate, today = new Date()) {
  if (!birthDate) return true;
  const limit = new Date(`${birthDate.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(limit.getTime())) return true;
  limit.setUTCFullYear(limit.getUTCFullYear() + GROWTH_CHARTED_UNTIL_YEARS);
  return today < limit;
}

// Whether `member` (the core's member()) sees `tab` in `patient`'s chart (a patient-list row).
export function tabShown(tab, member, patient) {
  if (PATIENT_ONLY_TABS.has(tab.id)) return false;
  if (tab.id === "growth" && !chartsGrowth(patient?.birthDate)) return false;
  return member.reads.includes("clinical") || OFFICE_TABS.has(tab.id);
}

function facts(pairs) {
  const list = el("dl", { className: "facts" });
  for (const [term, value] of pairs) {
    if (!value) continue;
    list.append(el("dt", { text: term }), el("dd", { text: value }));
  }
  return list;
}

// The details form: the current record's values, saved as its next version.
function detailsForm(context, patient) {
  const name = patient?.name?.[0] ?? {};
  const telecom = (system) => (patient?.telecom ?? []).find((t) => t.system === system)?.value ?? "";
  const input = (label, name, value, props = {}) => {
    const [wrapper, control] = field(label, { name, value, autocomplete: "off", ...props });
    return [wrapper, control];
  };
  const fields = {
    given: input("Given names", "given", (name.given ?? []).join(" "), { required: true }),
    family: input("Family name", "family", name.family ?? "", { required: true }),
    birthDate: input("Date of birth", "birth-date", patient?.birthDate ?? "", { type: "date" }),
    phone: input("Phone", "phone", telecom("phone"), { type: "tel" }),
    email: input("Email", "email", telecom("email"), { type: "email" }),
    address: input("Address", "address", (patient?.address ?? [])[0]?.text ?? ""),
    identifier: input("Identifier (MRN)", "identifier", (patient?.identifier ?? [])[0]?.value ?? ""),
  };
  const [sexField, sex] = field("Sex (administrative)", { name: "gender" }, "select");
  sex.append(...[["", "(not recorded)"], ["female", "female"], ["male", "male"], ["other", "other"], ["unknown", "unknown"]]
    .map(([value, text]) => el("option", { value, text })));
  sex.value = patient?.gender ?? "";
  const form = recordForm(context, {
    label: patient ? "Save details" : "Register details",
    fields: [...Object.values(fields).map(([wrapper]) => wrapper), sexField],
    build: () => patientDetails(JSON.stringify(context.chart), JSON.stringify({
      ...Object.fromEntries(Object.entries(fields).map(([key, [, control]]) => [key, control.value])),
      gender: sex.value,
    })),
    done: "Details saved.",
  });
  return el("details", { className: "details-entry", open: !patient },
    el("summary", { text: patient ? "Edit details" : "Register details" }), form);
}

function mountDetails(panel, context) {
  const [patient] = resources(context.chart, "Patient");
  panel.append(el("h3", { text: "Patient details" }));
  const writes = context.member.writes.includes(kind("patient"));
  if (!patient) {
    panel.append(empty("No demographics recorded yet."));
    if (writes) panel.append(detailsForm(context, null));
    return;
  }
  const name = patient.name?.[0];
  panel.append(facts([
    ["Name", name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(" ")],
    ["Date of birth", patient.birthDate],
    ["Sex (administrative)", patient.gender],
    ["Identifiers", (patient.identifier ?? []).map((i) => i.value).filter(Boolean).join(", ")],
    ["Phone and email", (patient.telecom ?? []).map((t) => t.value).filter(Boolean).join(", ")],
    ["Address", (patient.address ?? []).map((a) => a.text ?? [...(a.line ?? []), a.city, a.postalCode].filter(Boolean).join(", ")).join("; ")],
    ["Marital status", conceptText(patient.maritalStatus)],
  ]));
  if (writes) panel.append(detailsForm(context, patient));
}

function replyForm(context, last) {
  const id = `reply-${last.id}`;
  const text = el("textarea", { id, name: "reply", required: true, rows: 3 });
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const button = el("button", { type: "submit", text: "Send reply" });
  const form = el("form", {}, el("label", { htmlFor: id, text: "Reply" }), text, button, status, alert);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    status.textContent = "Signing and sending…";
    button.disabled = true;
    try {
      const resource = patientMessage(JSON.stringify(context.chart), "", text.value, last.id, new Date().toISOString());
      await publishRecord(context, resource);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not sent: ${error?.message ?? error}`;
      button.disabled = false;
      return;
    }
    status.textContent = "Reply sent.";
    await context.reload?.();
  });
  return form;
}

function mountMessages(panel, context) {
  const label = context.patient.name ?? "Patient";
  const { threads } = JSON.parse(messageThreads(context.connection.practice,
    JSON.stringify(context.events), JSON.stringify(context.chart), label));
  panel.append(el("h3", { text: "Messages" }));
  if (threads.length === 0) panel.append(empty("No messages yet."));
  // Newest thread first: what a patient wrote last is what staff answer first.
  for (const thread of [...threads].reverse()) {
    const messages = el("ol", { className: "thread" }, ...thread.messages.map((m) =>
      el("li", { className: m.mine ? "message mine" : "message" },
        el("p", { className: "message-meta" },
          el("strong", { className: "message-from", text: m.from }),
          el("span", { text: ` · ${(m.sent ?? "").replace("T", " ").slice(0, 16)}` })),
        el("p", { className: "message-text", text: m.text ?? "" }))));
    const last = thread.messages[thread.messages.length - 1];
    const card = el("article", { className: "thread-card" },
      el("h4", { text: thread.topic ?? "(no subject)" }), messages);
    if (context.member.writes.includes(kind("message"))) card.append(replyForm(context, last));
    card.dataset.thread = thread.id;
    panel.append(card);
  }
}

export const CLINIC_TABS = [
  { id: "details", label: "Details", mount: mountDetails },
  { id: "messages", label: "Messages", mount: mountMessages },
];
