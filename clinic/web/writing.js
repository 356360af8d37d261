// How the clinic app writes (DESIGN.md §12): a FHIR resource (built and validated by the core
// in WebAssembly) is signed by the member's own key under the key its kind takes (the member
// session's signRecord), published to the practice relay, and the chart is drawn again from
// what the relay holds. Forms report in words, never silently. DOM text through textContent only.
import { el } from "/dom.js";

// What the outbox calls a record: its kind in words, and what it is about.
const KINDS = {
  Observation: "Observation", DocumentReference: "Note or document", Encounter: "Visit",
  Condition: "Problem", MedicationRequest: "Medication", AllergyIntolerance: "Allergy",
  Immunization: "Immunization", ServiceRequest: "Order", DiagnosticReport: "Result",
  Patient: "Details", Communication: "Message", Consent: "Consent",
};
function recordLabel(resource) {
  const record = JSON.parse(resource);
  const kind = KINDS[record.resourceType] ?? record.resourceType;
  const what = record.code?.text ?? record.code?.coding?.[0]?.display ?? record.type?.coding?.[0]?.display;
  return what ? `${kind}: ${what}` : kind;
}

// Sign `resource` (FHIR JSON text) about the open patient as the member and send it through
// the outbox; throws with a readable message when the core or the relay refuses. Returns
// `{event, queued}`: queued when the relay could not be reached (the outbox sends it later).
export async function publishRecord(context, resource) {
  const { session, patient, signer, outbox } = context;
  // A key held in WebAssembly signs at once; an extension or a remote signer is asked to.
  const signed = await session.signRecord(patient.patient, resource, Math.floor(Date.now() / 1000), signer);
  const event = JSON.parse(signed);
  const status = await outbox.submit(event, patient.patient, recordLabel(resource));
  // For scripts/bench-clinic: the relay said OK.
  if (status === "accepted") performance.mark("clinic:saved");
  return { event, queued: status === "pending" };
}

// A labelled field: [wrapper, control]. `tag` is input, textarea or select.
export function field(label, props = {}, tag = "input") {
  const id = props.id ?? `f-${Math.random().toString(36).slice(2)}`;
  const control = el(tag, { ...props, id });
  return [el("div", { className: "field" }, el("label", { htmlFor: id, text: label }), control), control];
}

// A form whose submit builds resources (`build()` returns one FHIR JSON text or a list, or
// throws a readable Error), publishes each in order and reloads the chart on the same tab.
// `confirm(resources)` may return a question to ask first (an implausible value, an allergy
// alert); the member must press the button again to go ahead. `saved()` runs once everything
// was published, before the chart is drawn again.
export function recordForm(context, { label, fields, build, done, confirm, saved }) {
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const button = el("button", { type: "submit", text: label });
  // The question or the refusal sits above the button: read before pressing it again.
  const form = el("form", { className: "record-form" }, ...fields, alert, button, status);
  let confirmed = null;
  form.addEventListener("input", () => { confirmed = null; button.textContent = label; });
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    let resources;
    try {
      const built = build();
      resources = Array.isArray(built) ? built : [built];
      const question = confirm?.(resources);
      if (question && confirmed !== question) {
        confirmed = question;
        alert.textContent = question;
        button.textContent = `${label} anyway`;
        return;
      }
    } catch (error) {
      alert.textContent = String(error?.message ?? error);
      return;
    }
    status.textContent = "Signing and sending…";
    button.disabled = true;
    let queued = false;
    try {
      for (const resource of resources) queued = (await publishRecord(context, resource)).queued || queued;
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not saved: ${error?.message ?? error}`;
      button.disabled = false;
      return;
    }
    status.textContent = queued ? `${done} Kept on this device: it is sent when the relay is back.` : done;
    await saved?.();
    await context.reload?.();
  });
  return form;
}
