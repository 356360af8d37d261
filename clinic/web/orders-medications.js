// Prescribing (DESIGN.md §12): a medication from the RxNorm picker or in free text, with dose,
// route, frequency, duration and quantity; before saving, the core's allergy check
// (allergyAlerts: ehr_client::allergy over the chart's allergies) is a question the member
// must confirm. Discontinuing is the prescription's next version, stopped, with a reason.
import { allergyAlerts, clinicDiscontinue, clinicPrescription } from "/assets/ehr_web_wasm.js";
import { el } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import {
  chartJson, choice, currentOf, formOptions, loadList, nameOf, picker, recordChoice, section,
  today, writes,
} from "/orders-common.js";
import { kind } from "/protocol.js";

const CURRENT = new Set(["active", "on-hold"]);

// The form's first guess of the dose unit and route from the RxNorm dose form and route of a
// listed medication; the member changes them freely.
function unitFor(medication) {
  const form = medication.form ?? "";
  for (const [word, unit] of [["capsule", "capsule"], ["tablet", "tablet"], ["inhaler", "puff"],
    ["spray", "spray"], ["transdermal", "patch"], ["cream", "application"], ["gel", "application"],
    ["ophthalmic", "drop"], ["solution", "mL"], ["suspension", "mL"]]) {
    if (form.includes(word)) return unit;
  }
  return "mg";
}

function routeFor(medication) {
  return { oral: "oral", injection: "intramuscular", inhalation: "inhalation", ophthalmic: "ophthalmic",
    transdermal: "transdermal", topical: "topical", sublingual: "sublingual", subdermal: "subcutaneous",
    oromucosal: "oral" }[medication.route] ?? "oral";
}

function prescribeForm(context, medications) {
  const options = formOptions();
  const [doseField, dose] = field("Dose", { type: "number", min: "0", step: "any", required: true, inputMode: "decimal" });
  const [unitField, unit] = choice("Unit", options.doseUnits, { value: "tablet" });
  const [routeField, route] = choice("Route", options.routes, { value: "oral" });
  const [frequencyField, frequency] = choice("Frequency", options.frequencies, { value: "QD" });
  const [prnField, prn] = field("As needed", { type: "checkbox" });
  prnField.classList.add("checkbox");
  const [daysField, days] = field("Duration (days)", { type: "number", min: "1", max: "366", step: "1", required: true });
  const [quantityField, quantity] = field("Quantity", { type: "number", min: "0", step: "any", required: true });
  const [notesField, notes] = field("Further instructions (optional)", { type: "text", placeholder: "e.g. with food" });
  const medication = picker({
    label: "Medication",
    items: medications,
    code: (m) => m.rxcui,
    text: (m) => m.display,
    option: (m) => `${m.display} — RxNorm ${m.rxcui}`,
    help: "Type a name or an RxNorm code; ↓ and Enter choose. Anything else is kept as free text.",
    onChoose: (m) => { unit.value = unitFor(m); route.value = routeFor(m); },
  });
  const ingredients = () => medication.chosen()?.ingredients ?? [medication.input.value];
  const form = recordForm(context, {
    label: "Prescribe",
    fields: [
      medication.node,
      el("div", { className: "entry-row" }, doseField, unitField, routeField),
      el("div", { className: "entry-row" }, frequencyField, prnField),
      el("div", { className: "entry-row" }, daysField, quantityField),
      notesField,
    ],
    build: () => {
      const chosen = medication.chosen();
      const named = chosen ? { rxcui: chosen.rxcui, display: chosen.display } : { text: medication.input.value };
      return clinicPrescription(chartJson(context), JSON.stringify({
        ...named, dose: dose.value, doseUnit: unit.value, route: route.value, frequency: frequency.value,
        asNeeded: prn.checked, days: days.value, quantity: quantity.value, quantityUnit: unit.value,
        instructions: notes.value, authoredOn: today(),
      }));
    },
    // The core's allergy check: each alert names the allergy, the reason and the severity.
    confirm: () => {
      const alerts = JSON.parse(allergyAlerts(chartJson(context), JSON.stringify(ingredients())));
      if (alerts.length === 0) return null;
      return `⚠ ${alerts.map((a) => a.text).join(" ")} Press “Prescribe anyway” to confirm.`;
    },
    done: "Prescription saved.",
  });
  form.classList.add("prescribe");
  return form;
}

export async function mountMedications(panel, context) {
  if (!writes(context, kind("prescription"))) return;
  panel.append(section("Prescribe", prescribeForm(context, await loadList("medications"))));
  const list = currentOf(context, "MedicationRequest", (m) => CURRENT.has(m.status));
  if (list.length === 0) return;
  const [whichField, , chosen] = recordChoice("Medication", list,
    (m) => [nameOf(m), m.dosageInstruction?.[0]?.text].filter(Boolean).join(" — "));
  const [reasonField, reason] = field("Reason", { type: "text", required: true, placeholder: "e.g. rash, course changed" });
  const stop = recordForm(context, {
    label: "Discontinue",
    fields: [whichField, reasonField],
    build: () => clinicDiscontinue(JSON.stringify(chosen()), reason.value),
    done: "Medication discontinued.",
  });
  panel.append(section("Discontinue a medication", stop));
}
