// The chart view (DESIGN.md §11): draws the folded FHIR Bundle that ehr-client's core
// (WebAssembly) produced. DOM text goes through textContent only (trusted types).

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

export function renderChart(chart) {
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

export function clearChart() {
  $("chart-rows").replaceChildren();
  $("chart-caption").textContent = "";
  $("chart").hidden = true;
}
