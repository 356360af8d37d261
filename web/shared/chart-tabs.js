// The chart's built-in tabs (DESIGN.md §11): each `mount(panel, context)` draws one part of
// the folded Bundle. Reading only; DOM text through textContent (trusted types).
import {
  attachmentText, conceptText, day, el, empty, isVital, newestFirst, observationDate,
  observationValue, pointsAt, refOf, reportedMarker, resources, table,
} from "/chart-view.js";
import { mountVitals } from "/vitals.js";
import { mountDocuments } from "/documents.js";
import { mountAccessLog } from "/access-log.js";

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
// MedicationRequest statuses that mean she takes it now (FHIR R4 medicationrequest-status).
const CURRENT_MEDICATION = new Set(["active", "on-hold", "draft", "unknown"]);

function describe(resource) {
  if (resource.resourceType === "Patient") return patientName(resource);
  if (resource.resourceType === "DocumentReference") {
    const title = resource.content?.[0]?.attachment?.title ?? resource.description;
    if (title) return title;
  }
  if (resource.resourceType === "Encounter" && resource.reasonCode) return conceptText(resource.reasonCode);
  for (const field of CONCEPT_FIELDS) {
    const found = conceptText(resource[field]);
    if (found) return found;
  }
  return resource.class?.display ?? "";
}

function dateOf(resource) {
  const value = resource.period?.start ?? DATE_FIELDS.map((f) => resource[f]).find((v) => typeof v === "string");
  return day(value);
}

function statusOf(resource) {
  return resource.status ?? conceptText(resource.clinicalStatus) ?? "";
}

function patientName(patient) {
  const name = patient?.name?.[0];
  return name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(" ");
}

// How many days the timeline shows before "Show earlier" (a long chart stays quick to draw).
const TIMELINE_DAYS = 60;
// Within a day, the visit first, then what it decided, then what was measured; the rest after.
const TIMELINE_ORDER = ["Encounter", "DocumentReference", "Condition", "AllergyIntolerance", "MedicationRequest",
  "Immunization", "ServiceRequest", "DiagnosticReport", "Observation", "Communication", "Consent"];

// The timeline: every record, newest day first, each day's records by kind. Patient details
// (dated by the birth date) are left out: they are not an event of the chart.
function mountTimeline(panel, { chart }) {
  panel.append(heading("Timeline"));
  const byDay = new Map();
  for (const { resource } of chart.bundle.entry) {
    if (resource.resourceType === "Patient") continue;
    const date = dateOf(resource) || "Undated";
    if (!byDay.has(date)) byDay.set(date, []);
    byDay.get(date).push(resource);
  }
  const days = [...byDay.keys()].sort((a, b) => (a === "Undated") - (b === "Undated") || b.localeCompare(a));
  if (days.length === 0) return panel.append(empty("No records yet."));
  const list = el("ol", { className: "timeline" });
  const more = el("button", { type: "button", text: "Show earlier", className: "no-print" });
  let shown = 0;
  const showMore = () => {
    for (const date of days.slice(shown, shown + TIMELINE_DAYS)) {
      const rank = (type) => (TIMELINE_ORDER.indexOf(type) + TIMELINE_ORDER.length + 1) % (TIMELINE_ORDER.length + 1);
      const items = byDay.get(date)
        .map((resource) => ({ resource, label: LABELS[resource.resourceType] ?? resource.resourceType }))
        .sort((a, b) => rank(a.resource.resourceType) - rank(b.resource.resourceType) || a.label.localeCompare(b.label));
      list.append(el("li", { className: "timeline-day" }, el("h4", { text: date }),
        el("ul", {}, ...items.map(({ resource, label }) => {
          const item = el("li", { text: `${label}: ${describe(resource)}` });
          const status = statusOf(resource);
          if (status) item.append(` (${status})`);
          const marker = reportedMarker(resource);
          if (marker) item.append(" ", marker);
          return item;
        }))));
    }
    shown += TIMELINE_DAYS;
    more.hidden = shown >= days.length;
  };
  more.addEventListener("click", showMore);
  showMore();
  panel.append(list, more);
}

// The "All records" table (in the page from the start, so it is there before any tab opens).
export function allRecordsRows(chart) {
  const rows = chart.bundle.entry.map(({ resource }) => ({
    resource,
    record: LABELS[resource.resourceType] ?? resource.resourceType,
    date: dateOf(resource),
    description: describe(resource),
    status: statusOf(resource),
  }));
  rows.sort((a, b) => a.record.localeCompare(b.record) || b.date.localeCompare(a.date));
  document.getElementById("chart-rows").replaceChildren(...rows.map((row) => {
    const tr = el("tr");
    for (const key of ["record", "date", "description", "status"]) {
      const cell = el(key === "record" ? "th" : "td", { text: row[key] });
      if (key === "record") cell.scope = "row";
      if (key === "description") {
        const marker = reportedMarker(row.resource);
        if (marker) cell.append(" ", marker);
      }
      tr.append(cell);
    }
    return tr;
  }));
  document.getElementById("chart-caption").textContent = `${rows.length} records, newest first within each kind`;
}

function heading(text) {
  return el("h3", { text });
}

function item(text, resource) {
  return el("li", { text }, ...(reportedMarker(resource) ? [" ", reportedMarker(resource)] : []));
}

function isCurrentMedication(m) {
  return CURRENT_MEDICATION.has(m.status);
}

function isActiveProblem(c) {
  const status = c.clinicalStatus?.coding?.[0]?.code ?? conceptText(c.clinicalStatus);
  return ["active", "recurrence", "relapse"].includes(status);
}

function mountSummary(panel, { chart }) {
  const patient = resources(chart, "Patient")[0];
  const facts = el("dl", { className: "facts" });
  const fact = (term, value) => value && facts.append(el("dt", { text: term }), el("dd", { text: value }));
  fact("Name", patientName(patient));
  fact("Born", patient?.birthDate);
  fact("Gender", patient?.gender);
  const visits = newestFirst(resources(chart, "Encounter"), (e) => day(e.period?.start));
  fact("Last visit", visits[0] ? `${day(visits[0].period?.start)} — ${describe(visits[0])}` : "none");
  const list = (title, entries, text, none) => {
    const section = el("section", { className: "summary-part" }, heading(title));
    section.append(entries.length === 0 ? empty(none) : el("ul", {}, ...entries.map((r) => item(text(r), r))));
    return section;
  };
  const vitals = latestVitals(chart);
  panel.append(
    heading("Summary"),
    facts,
    list("Active problems", resources(chart, "Condition").filter(isActiveProblem), describe, "No active problems."),
    list("Current medications", resources(chart, "MedicationRequest").filter(isCurrentMedication),
      (m) => [describe(m), m.dosageInstruction?.[0]?.text].filter(Boolean).join(" — "), "No current medications."),
    list("Allergies", resources(chart, "AllergyIntolerance").filter(isCurrentAllergy), allergySummary, "No known allergies recorded."),
    list("Latest vitals", vitals, (o) => `${describe(o)}: ${observationValue(o)} (${observationDate(o)})`, "No vitals recorded."),
  );
}

// An allergy as the summary lists it: the substance, then what it does and how bad it is
// ("penicillin G — hives, severe; high criticality").
function allergySummary(a) {
  const reaction = a.reaction?.[0];
  const what = [conceptText(reaction?.manifestation), reaction?.severity].filter(Boolean).join(", ");
  const criticality = a.criticality && a.criticality !== "unable-to-assess" ? `${a.criticality} criticality` : "";
  const detail = [what, criticality].filter(Boolean).join("; ");
  return detail ? `${describe(a)} — ${detail}` : describe(a);
}

// Entered in error or refuted is not an allergy; resolved ones are no longer current.
function isCurrentAllergy(a) {
  const code = (concept) => concept?.coding?.[0]?.code;
  return code(a.verificationStatus) !== "entered-in-error" && code(a.verificationStatus) !== "refuted"
    && code(a.clinicalStatus) !== "resolved" && code(a.clinicalStatus) !== "inactive";
}

// The newest vital of each kind. A kind is its code (one reading replaces another of the same
// LOINC code whatever its display text says), the description when it has none.
function latestVitals(chart) {
  const newest = new Map();
  const when = (o) => o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued ?? "";
  for (const o of resources(chart, "Observation").filter(isVital)) {
    const coding = o.code?.coding?.find((c) => c.code);
    const key = coding ? `${coding.system ?? ""}|${coding.code}` : describe(o);
    const seen = newest.get(key);
    if (!seen || when(o) > when(seen)) newest.set(key, o);
  }
  // In the order a clinician reads them: pressure, pulse, breathing, temperature, oxygen, then
  // the measurements; anything else after.
  const rank = (o) => {
    const code = o.code?.coding?.find((c) => c.code)?.code;
    const at = VITALS_ORDER.indexOf(code);
    return at === -1 ? VITALS_ORDER.length : at;
  };
  return [...newest.values()].sort((a, b) => rank(a) - rank(b));
}

// LOINC codes of the vital signs panel (blood pressure, heart rate, respiratory rate, body
// temperature, SpO2 (two codes), weight, height, BMI, head circumference).
const VITALS_ORDER = ["85354-9", "8867-4", "9279-1", "8310-5", "59408-5", "2708-6", "29463-7", "8302-2", "39156-5", "9843-4"];

function mountVisits(panel, { chart }) {
  panel.append(heading("Visits"));
  const visits = newestFirst(resources(chart, "Encounter"), (e) => day(e.period?.start));
  if (visits.length === 0) return panel.append(empty("No visits recorded."));
  const documents = resources(chart, "DocumentReference");
  const observations = resources(chart, "Observation");
  for (const visit of visits) {
    const ref = refOf(visit);
    const article = el("article", { className: "visit", attrs: { "data-id": visit.id } });
    const title = el("h4", { text: `${day(visit.period?.start)} — ${describe(visit)}` });
    const marker = reportedMarker(visit);
    if (marker) title.append(" ", marker);
    article.append(title);
    const details = [conceptText(visit.type), visit.class?.display, visit.status].filter(Boolean).join(" · ");
    if (details) article.append(el("p", { className: "meta", text: details }));
    const measured = observations.filter((o) => pointsAt(o.encounter, ref));
    if (measured.length > 0) {
      article.append(el("ul", { className: "inline" },
        ...measured.map((o) => item(`${describe(o)}: ${observationValue(o)}`, o))));
    }
    const notes = documents.filter((d) => (d.context?.encounter ?? []).some((r) => pointsAt(r, ref)));
    for (const note of notes) article.append(noteView(note, notes));
    panel.append(article);
  }
}

// A clinical note or an addendum (a DocumentReference whose relatesTo `appends` a note).
function noteView(note, all) {
  const appends = (note.relatesTo ?? []).find((r) => r.code === "appends");
  const target = appends && all.find((d) => pointsAt(appends.target, refOf(d)));
  const kind = appends ? "Addendum" : "Note";
  const title = note.content?.[0]?.attachment?.title ?? note.description ?? conceptText(note.type);
  const box = el("section", { className: appends ? "note addendum" : "note", attrs: { "data-id": note.id } },
    el("h5", { text: [kind, title, day(note.date)].filter(Boolean).join(" — ") }));
  if (target) box.append(el("p", { className: "meta", text: `Adds to: ${describe(target)}` }));
  const body = attachmentText(note.content?.[0]?.attachment);
  if (body) box.append(el("p", { className: "note-text", text: body }));
  const marker = reportedMarker(note);
  if (marker) box.append(marker);
  return box;
}

function mountProblems(panel, { chart }) {
  const problems = newestFirst(resources(chart, "Condition"), (c) => day(c.onsetDateTime ?? c.recordedDate));
  panel.append(heading("Problems"), problems.length === 0 ? empty("No problems recorded.") : table(
    "Problems, newest first", ["Problem", "Since", "Status"],
    problems.map((c) => ({ resource: c, cells: [describe(c), day(c.onsetDateTime ?? c.recordedDate), statusOf(c)] })),
  ));
}

function medicationRows(list) {
  return newestFirst(list, (m) => day(m.authoredOn)).map((m) => ({
    resource: m,
    cells: [describe(m), m.dosageInstruction?.[0]?.text ?? "", day(m.authoredOn), m.status ?? ""],
  }));
}

function mountMedications(panel, { chart }) {
  const all = resources(chart, "MedicationRequest");
  const current = all.filter(isCurrentMedication);
  const stopped = all.filter((m) => !isCurrentMedication(m));
  const headers = ["Medication", "How to take it", "Prescribed", "Status"];
  panel.append(
    heading("Medications"),
    el("h4", { text: "Current" }),
    current.length === 0 ? empty("No current medications.") : table("Current medications", headers, medicationRows(current), { className: "current" }),
    el("h4", { text: "Stopped or completed" }),
    stopped.length === 0 ? empty("None.") : table("Stopped or completed medications", headers, medicationRows(stopped), { className: "stopped" }),
  );
}

function mountAllergies(panel, { chart }) {
  const allergies = resources(chart, "AllergyIntolerance");
  panel.append(heading("Allergies"), allergies.length === 0 ? empty("No allergies recorded.") : table(
    "Allergies and intolerances", ["Substance", "Category", "Reaction", "Criticality"],
    allergies.map((a) => {
      const reaction = a.reaction?.[0];
      const what = [conceptText(reaction?.manifestation), reaction?.severity].filter(Boolean).join(", ");
      return { resource: a, cells: [describe(a), (a.category ?? []).join(", "), what, a.criticality ?? ""] };
    }),
  ));
}

function mountImmunizations(panel, { chart }) {
  const patient = resources(chart, "Patient")[0];
  const shots = newestFirst(resources(chart, "Immunization"), (i) => day(i.occurrenceDateTime));
  const print = el("button", { text: "Print immunization record", attrs: { type: "button" }, className: "no-print" });
  print.addEventListener("click", () => window.print());
  const record = el("section", { className: "print-record", attrs: { id: "immunization-record", "aria-labelledby": "immunization-heading" } },
    el("h3", { text: "Immunization record", attrs: { id: "immunization-heading" } }),
    el("p", { className: "meta", text: [patientName(patient), patient?.birthDate && `born ${patient.birthDate}`].filter(Boolean).join(", ") }),
    shots.length === 0 ? empty("No immunizations recorded.") : table(
      "Immunizations, newest first", ["Vaccine", "Date", "Status"],
      shots.map((i) => ({ resource: i, cells: [describe(i), day(i.occurrenceDateTime), i.status ?? ""] })),
    ),
  );
  panel.append(record, print);
}

function mountOrders(panel, { chart }) {
  const orders = newestFirst(resources(chart, "ServiceRequest"), (s) => day(s.authoredOn));
  const reports = resources(chart, "DiagnosticReport");
  const observations = resources(chart, "Observation").filter((o) => !isVital(o));
  const byRef = new Map(observations.map((o) => [refOf(o), o]));
  const inReports = new Set(reports.flatMap((r) => (r.result ?? []).map((x) => x.reference)));
  panel.append(heading("Orders and results"));
  if (orders.length === 0) panel.append(empty("No orders recorded."));
  const resultsOf = (ref) => {
    const list = el("div", { className: "results" });
    for (const report of reports.filter((r) => (r.basedOn ?? []).some((b) => pointsAt(b, ref)))) list.append(reportView(report, byRef));
    for (const o of observations.filter((o) => (o.basedOn ?? []).some((b) => pointsAt(b, ref)) && !inReports.has(refOf(o)))) {
      list.append(resultView(o));
    }
    return list;
  };
  for (const order of orders) {
    const ref = refOf(order);
    const article = el("article", { className: "order", attrs: { "data-id": order.id } },
      el("h4", { text: `${describe(order)}` }, ...(reportedMarker(order) ? [" ", reportedMarker(order)] : [])),
      el("p", { className: "meta", text: [`Ordered ${day(order.authoredOn)}`, order.status].filter(Boolean).join(" · ") }));
    const results = resultsOf(ref);
    article.append(results.childElementCount === 0 ? empty("No result yet.") : results);
    panel.append(article);
  }
  // Results not tied to an order still belong to her chart.
  const ordered = new Set(orders.map(refOf));
  const loose = reports.filter((r) => !(r.basedOn ?? []).some((b) => [...ordered].some((o) => pointsAt(b, o))));
  const looseObs = observations.filter((o) => !inReports.has(refOf(o))
    && !(o.basedOn ?? []).some((b) => [...ordered].some((x) => pointsAt(b, x))));
  if (loose.length + looseObs.length > 0) {
    const other = el("article", { className: "order other" }, el("h4", { text: "Other results" }));
    for (const r of loose) other.append(reportView(r, byRef));
    for (const o of looseObs) other.append(resultView(o));
    panel.append(other);
  }
}

function reportView(report, byRef) {
  const box = el("section", { className: "result report", attrs: { "data-id": report.id } },
    el("h5", { text: `${describe(report)} — ${day(report.effectiveDateTime ?? report.issued)} (${report.status ?? ""})` }));
  const marker = reportedMarker(report);
  if (marker) box.append(marker);
  const values = (report.result ?? []).map((r) => byRef.get(r.reference)).filter(Boolean);
  if (values.length > 0) box.append(el("ul", {}, ...values.map((o) => item(`${describe(o)}: ${observationValue(o)}`, o))));
  if (report.conclusion) box.append(el("p", { text: report.conclusion }));
  return box;
}

function resultView(o) {
  return el("section", { className: "result observation", attrs: { "data-id": o.id } },
    el("p", { text: `${describe(o)}: ${observationValue(o)} (${observationDate(o)})` }), reportedMarker(o));
}

export const BUILT_IN_TABS = [
  { id: "summary", label: "Summary", mount: mountSummary },
  { id: "timeline", label: "Timeline", mount: mountTimeline },
  { id: "visits", label: "Visits", mount: mountVisits },
  { id: "vitals", label: "Vitals", mount: mountVitals },
  { id: "problems", label: "Problems", mount: mountProblems },
  { id: "medications", label: "Medications", mount: mountMedications },
  { id: "allergies", label: "Allergies", mount: mountAllergies },
  { id: "immunizations", label: "Immunizations", mount: mountImmunizations },
  { id: "orders", label: "Orders & results", mount: mountOrders },
  { id: "documents", label: "Documents", mount: mountDocuments },
  { id: "access", label: "Access log", mount: mountAccessLog },
  { id: "all", label: "All records", mount: () => {} },
];

