// The problem list and allergies (DESIGN.md §12): a problem from the ICD-10-CM picker or in
// free text; resolve, reactivate or entered-in-error as the problem's next version; an
// allergy with its reaction, severity and criticality, and entered-in-error. The core builds
// every resource (clinicProblem, clinicProblemChange, clinicAllergy, ...).
import {
  clinicAllergy, clinicAllergyEnteredInError, clinicProblem, clinicProblemChange,
} from "/assets/ehr_web_wasm.js";
import { conceptText, el } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import {
  chartJson, choice, currentOf, formOptions, loadList, nameOf, picker, recordChoice, section,
  today, writes,
} from "/orders-common.js";
import { kind } from "/protocol.js";


function statusOf(condition) {
  return condition.clinicalStatus?.coding?.[0]?.code ?? conceptText(condition.clinicalStatus) ?? "";
}

export async function mountProblems(panel, context) {
  if (!writes(context, kind("condition"))) return;
  const conditions = await loadList("conditions");
  const problem = picker({
    label: "Problem",
    items: conditions,
    code: (c) => c.icd10,
    text: (c) => c.display,
    option: (c) => `${c.display} — ${c.icd10}`,
    help: "Type words or an ICD-10-CM code; ↓ and Enter choose. Anything else is kept as free text.",
  });
  const [onsetField, onset] = field("Onset date (optional)", { type: "date", max: today() });
  const add = recordForm(context, {
    label: "Add problem",
    fields: [problem.node, onsetField],
    build: () => {
      const chosen = problem.chosen();
      const form = chosen ? { icd10: chosen.icd10, display: chosen.display } : { text: problem.input.value };
      return clinicProblem(chartJson(context), JSON.stringify({ ...form, onset: onset.value, recorded: today() }));
    },
    done: "Problem added.",
  });
  add.classList.add("problem-add");
  panel.append(section("Add a problem", add));

  const list = currentOf(context, "Condition");
  if (list.length === 0) return;
  const [whichField, , chosen] = recordChoice("Problem", list, (c) => `${nameOf(c)} (${statusOf(c) || "no status"})`);
  const [actionField, action] = choice("Change", [
    { value: "resolve", label: "Resolve" },
    { value: "reactivate", label: "Reactivate" },
    { value: "entered-in-error", label: "Entered in error (remove from the chart)" },
  ]);
  const [dateField, date] = field("Resolved on", { type: "date", value: today(), max: today() });
  const sync = () => { dateField.hidden = action.value !== "resolve"; };
  action.addEventListener("change", sync);
  sync();
  const change = recordForm(context, {
    label: "Save change",
    fields: [el("div", { className: "entry-row" }, whichField, actionField, dateField)],
    build: () => clinicProblemChange(JSON.stringify(chosen()), action.value, date.value),
    confirm: () => (action.value === "entered-in-error"
      ? `Remove “${nameOf(chosen())}” from the chart as entered in error? The earlier versions stay in the record.` : null),
    done: "Problem updated.",
  });
  panel.append(section("Resolve, reactivate or correct a problem", change));
}

// Substances offered for an allergy: every ingredient of the medication list.
async function substances() {
  const medications = await loadList("medications");
  return [...new Set(medications.flatMap((m) => m.ingredients ?? []))].sort();
}

export async function mountAllergies(panel, context) {
  if (!writes(context, kind("allergy"))) return;
  const options = formOptions();
  const listId = "allergy-substances";
  const known = el("datalist", { id: listId }, ...(await substances()).map((s) => el("option", { value: s })));
  const [substanceField, substance] = field("Substance", { type: "text", autocomplete: "off", required: true, attrs: { list: listId } });
  substanceField.append(known, el("p", { className: "help", text: "A medication ingredient from the list, a drug class (penicillins, sulfa), a food or anything else in words." }));
  const [categoryField, category] = choice("Category", options.categories, { value: "medication" });
  const [reactionField, reaction] = field("Reaction (optional)", { type: "text", placeholder: "e.g. hives" });
  const [severityField, severity] = choice("Severity", options.severities, { blank: "—" });
  const [criticalityField, criticality] = choice("Criticality", options.criticalities, { blank: "—" });
  const add = recordForm(context, {
    label: "Record allergy",
    fields: [substanceField, el("div", { className: "entry-row" }, categoryField, severityField, criticalityField), reactionField],
    build: () => clinicAllergy(chartJson(context), JSON.stringify({
      substance: substance.value, category: category.value, reaction: reaction.value,
      severity: severity.value, criticality: criticality.value, recorded: today(),
    })),
    done: "Allergy recorded.",
  });
  panel.append(section("Record an allergy", add));

  const list = currentOf(context, "AllergyIntolerance");
  if (list.length === 0) return;
  const [whichField, , chosen] = recordChoice("Allergy", list, nameOf);
  const remove = recordForm(context, {
    label: "Mark entered in error",
    fields: [whichField],
    build: () => clinicAllergyEnteredInError(JSON.stringify(chosen())),
    confirm: () => `Remove the allergy to “${nameOf(chosen())}” as entered in error? It will no longer raise alerts.`,
    done: "Allergy removed as entered in error.",
  });
  panel.append(section("Allergy entered in error", remove));
}
