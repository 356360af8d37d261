// The open patient's International Patient Summary (DESIGN.md §12, §14; issue 23): the
// document the practice's FHIR gateway gives another clinic or, with her opt-in, an emergency
// facility. Built in WebAssembly (MemberSession.patientSummary: ehr_client::ips from the chart
// the session folds), shown section by section in the core's own words, printed with the
// printouts' layout, and downloadable as its FHIR JSON. Nothing is sent anywhere.
// DOM text through textContent only (trusted types).
import { download, el } from "/dom.js";
import { empty } from "/chart-view.js";
import { page, part } from "/printouts.js";
import { today } from "/orders-common.js";

let serial = 0;

// A checkbox with its label after it: [wrapper, checkbox].
function checkbox(label, checked = false) {
  serial += 1;
  const box = el("input", { type: "checkbox", id: `ips-option-${serial}`, checked });
  return [el("div", { className: "field checkbox" }, box, el("label", { htmlFor: box.id, text: label })), box];
}

// An instant as the member's local date and time, "2026-12-07 18:22".
function stamp(instant) {
  const at = new Date(instant);
  if (Number.isNaN(at.getTime())) return "now";
  return `${at.toLocaleDateString("en-CA")} ${at.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })}`;
}

// The summary (the core's JSON) as a printout page.
function summaryPage(context, summary, reported) {
  const sections = summary.sections.map((section) => part(section.title,
    section.items.length === 0 ? empty(section.empty ?? "None recorded.")
      : el("ul", { className: "ips-items" }, ...section.items.map((text) => el("li", { text })))));
  for (const [index, node] of sections.entries()) node.dataset.section = summary.sections[index].code;
  const scope = reported
    ? "From the practice's records and what she reported herself (marked “reported by the patient”)."
    : "From the practice's records only: what she reported herself is left out.";
  return page(context, "International Patient Summary", [
    el("p", { className: "ips-scope", text: `As of ${stamp(summary.date)}. ${scope}` }),
    ...sections,
    summary.warning ? el("p", { className: "ips-warning", text: `Note for the reader: this summary does not meet every IPS rule (${summary.warning}). The usual reason is an entry recorded as text only, without a code.` }) : null,
  ]);
}

// A file name for her summary: letters and digits of her name, and today.
function fileName(context) {
  const name = (context.patient.name ?? "").toLowerCase().normalize("NFD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return `patient-summary-${name || "patient"}-${today()}.json`;
}

function mountSummary(panel, context) {
  panel.append(el("h3", { className: "no-print", text: "Patient summary (IPS)" }),
    el("p", { className: "help no-print", text: "The International Patient Summary: what the practice's FHIR gateway gives a facility she shares her chart with, or an emergency facility if she opted in to emergency access (see Details). Built in this browser from her chart; nothing is sent." }));
  const [reportedField, reported] = checkbox("Include what she reported herself in the portal (marked)");
  const print = el("button", { type: "button", text: "Print" });
  const save = el("button", { type: "button", text: "Download FHIR JSON" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const status = el("p", { role: "status", className: "form-status" });
  panel.append(el("div", { className: "record-form no-print ips-controls" }, reportedField,
    el("div", { className: "ips-actions" }, print, save), alert, status));
  let summary = null;
  const draw = () => {
    alert.textContent = "";
    try {
      summary = JSON.parse(context.session.patientSummary(context.patient.patient, JSON.stringify(context.events),
        JSON.stringify({
          now: Math.floor(Date.now() / 1000),
          practiceName: context.connection.name ?? "",
          includePatientReported: reported.checked,
        })));
      panel.querySelector("#printout")?.remove();
      panel.append(summaryPage(context, summary, reported.checked));
    } catch (error) {
      summary = null;
      panel.querySelector("#printout")?.remove();
      alert.textContent = `The summary could not be made: ${error?.message ?? error}`;
    }
    print.disabled = save.disabled = summary === null;
  };
  reported.addEventListener("change", () => {
    draw();
    status.textContent = reported.checked ? "Summary redrawn with what she reported herself." : "Summary redrawn from the practice's records only.";
  });
  print.addEventListener("click", () => window.print());
  save.addEventListener("click", () => {
    if (!summary) return;
    download(new Blob([JSON.stringify(summary.bundle, null, 2)], { type: "application/fhir+json" }), fileName(context));
    status.textContent = "FHIR JSON saved to this device's downloads.";
  });
  draw();
}

// `register({ registerTab })`: the Summary (IPS) tab (clinical roles: tabShown).
export function register({ registerTab }) {
  registerTab({ id: "patient-summary", label: "Summary (IPS)", mount: mountSummary });
}
