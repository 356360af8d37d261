// The clinic app's printouts (DESIGN.md §12): print-ready pages built in this browser from the
// folded chart, never sent anywhere: an immunization record, a visit summary for the patient,
// a school or work excuse, a growth chart and a sports physical. Each names the practice, the
// patient and the clinician who signs it. "Print" is the browser's own (print CSS in
// clinic.css shows the page alone); its PDF is the browser's "Save as PDF".
// DOM text through textContent only (trusted types).
import { immunizationForecast } from "/assets/ehr_web_wasm.js";
import {
  attachmentText, conceptText, day, el, empty, isVital, newestFirst, observationDate,
  observationValue, pointsAt, refOf, resources, table,
} from "/chart-view.js";
import { field } from "/writing.js";
import { growthCharts } from "/vitals-entry.js";
import { chartJson, choice, today } from "/orders-common.js";

const PRINTOUTS = [
  ["immunizations", "Immunization record"],
  ["visit", "Visit summary for the patient"],
  ["excuse", "School or work excuse"],
  ["growth", "Growth chart"],
  ["sports", "Sports physical (pre-participation evaluation)"],
];

const CLEARANCE = [
  ["all", "Cleared for all sports without restriction"],
  ["recommendations", "Cleared for all sports without restriction, with recommendations for further evaluation or treatment"],
  ["some", "Cleared for certain sports only (see recommendations)"],
  ["pending", "Not cleared pending further evaluation"],
  ["none", "Not cleared for any sports"],
];

function nameOf(patient) {
  const name = patient?.name?.[0];
  return name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(" ");
}

function describe(resource) {
  for (const key of ["vaccineCode", "medicationCodeableConcept", "code", "type"]) {
    const text = conceptText(resource[key]);
    if (text) return text;
  }
  return "";
}

// `choice`'s options from [value, label] pairs.
const options = (pairs) => pairs.map(([value, label]) => ({ value, label }));

const active = (c) => (c.clinicalStatus?.coding?.[0]?.code ?? "active") === "active";
const current = (m) => ["active", "on-hold"].includes(m.status ?? "active") && m.intent !== "proposal";

// The page: the practice, the title, the patient; `body` parts; then who signs it, and when
// (summary.js prints the patient summary with it too).
export function page(context, title, body) {
  const patient = resources(context.chart, "Patient")[0];
  const clinician = context.member.name ?? "";
  return el("article", { className: "printout", attrs: { id: "printout", "aria-label": title } },
    el("header", { className: "printout-head" },
      el("p", { className: "practice", text: context.connection.name ?? "" }),
      el("h3", { text: title }),
      el("p", { text: [nameOf(patient) || context.patient.name, patient?.birthDate && `born ${patient.birthDate}`]
        .filter(Boolean).join(", ") })),
    ...body,
    el("footer", { className: "printout-signature" },
      el("p", { text: `Signed: ${clinician}${clinician ? ", " : ""}${context.member.role}` }),
      el("p", { text: `Date: ${today()}` }),
      el("p", { className: "signature-line", text: "Signature: ______________________________" })));
}

export function part(title, ...children) {
  return el("section", { className: "printout-part" }, el("h4", { text: title }), ...children);
}

function list(items, none) {
  return items.length === 0 ? empty(none) : el("ul", {}, ...items.map((text) => el("li", { text })));
}

function immunizationRecord(context) {
  const shots = newestFirst(resources(context.chart, "Immunization"), (i) => day(i.occurrenceDateTime));
  return page(context, "Immunization record", [shots.length === 0 ? empty("No immunizations recorded.") : table(
    "Immunizations given, newest first", ["Vaccine", "Date", "Lot", "Site", "Status"],
    shots.map((i) => ({ cells: [describe(i), day(i.occurrenceDateTime), i.lotNumber ?? "", conceptText(i.site) ?? "", i.status ?? ""] })),
  )]);
}

// A note's section ("Assessment", "Plan") from its text, as the note form writes it.
function noteSection(text, name) {
  const match = new RegExp(`(?:^|\\n)${name}:\\n([\\s\\S]*?)(?=\\n\\n[A-Z][a-z]+:\\n|$)`).exec(text ?? "");
  return match?.[1]?.trim() ?? "";
}

function visitSummary(context, values) {
  const chart = context.chart;
  const visit = resources(chart, "Encounter").find((e) => e.id === values.visit);
  if (!visit) return page(context, "Visit summary", [empty("No visit chosen.")]);
  const ref = refOf(visit);
  const when = day(visit.period?.start);
  const note = resources(chart, "DocumentReference")
    .filter((d) => pointsAt(d.context?.encounter?.[0], ref) && !(d.relatesTo ?? []).length)
    .map((d) => attachmentText(d.content?.[0]?.attachment))[0] ?? "";
  const vitals = resources(chart, "Observation").filter(isVital)
    .filter((o) => pointsAt(o.encounter, ref) || observationDate(o) === when);
  return page(context, "Visit summary", [
    part("Your visit", el("p", { text: [when, conceptText(visit.type), conceptText(visit.reasonCode)].filter(Boolean).join(" — ") })),
    part("Measurements", list(vitals.map((o) => `${describe(o)}: ${observationValue(o)}`), "None taken at this visit.")),
    part("What we found", el("p", { className: "prewrap", text: noteSection(note, "Assessment") || "See your clinician's note." })),
    part("What to do next", el("p", { className: "prewrap", text: noteSection(note, "Plan") || "As discussed at the visit." })),
    part("Your medicines now", list(resources(chart, "MedicationRequest").filter(current)
      .map((m) => [describe(m), m.dosageInstruction?.[0]?.text].filter(Boolean).join(" — ")), "No current medicines.")),
    part("Allergies", list(resources(chart, "AllergyIntolerance").map(describe), "No known allergies recorded.")),
  ]);
}

function excuse(context, values) {
  const patient = resources(context.chart, "Patient")[0];
  const who = nameOf(patient) || context.patient.name || "The patient";
  const place = values.for === "work" ? "work" : "school";
  const lines = [
    `${who} was seen at ${context.connection.name ?? "this practice"} on ${values.seen}.`,
    `Please excuse ${who} from ${place} from ${values.from} through ${values.through}.`,
  ];
  if (values.back) lines.push(`${who} may return to ${place} on ${values.back}.`);
  if (values.limits.trim()) lines.push(`Restrictions: ${values.limits.trim()}`);
  return page(context, place === "work" ? "Work excuse" : "School excuse", [
    ...lines.map((text) => el("p", { text })),
    el("p", { className: "meta", text: "No diagnosis is given here: the patient's health information stays private." }),
  ]);
}

async function growth(context) {
  return page(context, "Growth chart", await growthCharts(context));
}

function sportsPhysical(context, values) {
  const chart = context.chart;
  const newest = (code) => newestFirst(resources(chart, "Observation")
    .filter((o) => o.code?.coding?.some((c) => c.code === code)), observationDate)[0];
  const measure = (label, code) => {
    const o = newest(code);
    return o ? `${label}: ${observationValue(o)} (${observationDate(o)})` : `${label}: not recorded`;
  };
  // BMI from the newest height and weight of one day when none was recorded.
  const bmi = () => {
    if (newest("39156-5")) return measure("BMI", "39156-5");
    const [height, weight] = [newest("8302-2"), newest("29463-7")];
    // Only from metric values (how the vitals form stores them).
    const cm = height?.valueQuantity?.code === "cm" ? height.valueQuantity.value : null;
    const kg = weight?.valueQuantity?.code === "kg" ? weight.valueQuantity.value : null;
    if (!cm || !kg || observationDate(height) !== observationDate(weight)) return "BMI: not recorded";
    return `BMI: ${(kg / (cm / 100) ** 2).toFixed(1)} kg/m2 (computed, ${observationDate(weight)})`;
  };
  const forecast = JSON.parse(immunizationForecast(chartJson(context), today()));
  const overdue = forecast.groups.filter((g) => g.status === "overdue").map((g) => g.name);
  const clearance = CLEARANCE.find(([value]) => value === values.clearance)?.[1] ?? "";
  return page(context, "Sports physical — pre-participation evaluation", [
    values.sports.trim() ? el("p", { text: `Sports: ${values.sports.trim()}` }) : null,
    part("Measurements", list([
      measure("Height", "8302-2"), measure("Weight", "29463-7"), bmi(),
      measure("Blood pressure", "85354-9"), measure("Pulse", "8867-4"),
    ], "")),
    part("Medical history", list([
      `Active problems: ${resources(chart, "Condition").filter(active).map(describe).join(", ") || "none"}`,
      `Medicines: ${resources(chart, "MedicationRequest").filter(current).map(describe).join(", ") || "none"}`,
      `Allergies: ${resources(chart, "AllergyIntolerance").map(describe).join(", ") || "none known"}`,
      forecast.groups.length === 0 ? "Immunizations: see the immunization record"
        : `Immunizations overdue: ${overdue.join(", ") || "none"}`,
    ], "")),
    part("Clearance", el("p", { className: "clearance", text: clearance }),
      values.recommendations.trim() ? el("p", { text: `Recommendations: ${values.recommendations.trim()}` }) : null),
  ]);
}

// The fields each printout asks for: [wrapper elements, read() -> values].
function fieldsFor(kind, context) {
  if (kind === "visit") {
    const visits = newestFirst(resources(context.chart, "Encounter"), (e) => day(e.period?.start));
    const [wrapper, control] = choice("Visit", options(visits.map((e) => [e.id, `${day(e.period?.start)} — ${conceptText(e.type) ?? "Visit"}`])));
    return [[wrapper], () => ({ visit: control.value })];
  }
  if (kind === "excuse") {
    const [forField, forControl] = choice("Excuse from", options([["school", "School"], ["work", "Work"]]));
    const date = (label, name, value = today()) => field(label, { name, type: "date", value, required: true });
    const [seenField, seen] = date("Seen on", "seen");
    const [fromField, from] = date("Excused from", "from");
    const [throughField, through] = date("Through", "through");
    const [backField, back] = field("May return on (optional)", { name: "back", type: "date" });
    const [limitsField, limits] = field("Restrictions (optional; no diagnosis)", { name: "limits", autocomplete: "off" });
    return [[forField, seenField, fromField, throughField, backField, limitsField], () => ({
      for: forControl.value, seen: seen.value, from: from.value, through: through.value, back: back.value, limits: limits.value,
    })];
  }
  if (kind === "sports") {
    const [sportsField, sports] = field("Sports (optional)", { name: "sports", autocomplete: "off" });
    const [clearanceField, clearance] = choice("Clearance", options(CLEARANCE));
    const [recommendationsField, recommendations] = field("Recommendations (optional)", { name: "recommendations", rows: 2 }, "textarea");
    return [[sportsField, clearanceField, recommendationsField], () => ({
      sports: sports.value, clearance: clearance.value, recommendations: recommendations.value,
    })];
  }
  return [[], () => ({})];
}

const BUILD = { immunizations: immunizationRecord, visit: visitSummary, excuse, growth, sports: sportsPhysical };

function mountPrintouts(panel, context) {
  panel.append(el("h3", { className: "no-print", text: "Printouts" }),
    el("p", { className: "help no-print", text: "Built in this browser from the chart; nothing is sent. Show the page, check it, then print it (or save it as PDF from the print dialog)." }));
  const [kindField, kindControl] = choice("Printout", options(PRINTOUTS));
  const fields = el("div", { className: "printout-fields" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const show = el("button", { type: "submit", text: "Show printout" });
  const print = el("button", { type: "button", text: "Print", disabled: true });
  const form = el("form", { className: "record-form no-print" }, kindField, fields, alert, show, print);
  let read = () => ({});
  const choose = () => {
    const [parts, reader] = fieldsFor(kindControl.value, context);
    fields.replaceChildren(...parts);
    read = reader;
    panel.querySelector("#printout")?.remove();
    print.disabled = true;
  };
  kindControl.addEventListener("change", choose);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    try {
      const built = await BUILD[kindControl.value](context, read());
      panel.querySelector("#printout")?.remove();
      panel.append(built);
      print.disabled = false;
      built.focus?.();
    } catch (error) {
      alert.textContent = `Could not make the printout: ${error?.message ?? error}`;
    }
  });
  print.addEventListener("click", () => window.print());
  panel.append(form);
  choose();
}

// `register({ registerTab })`: the Printouts tab (clinical roles: tabShown).
export function register({ registerTab }) {
  registerTab({ id: "print", label: "Printouts", mount: mountPrintouts });
}
