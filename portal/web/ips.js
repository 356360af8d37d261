// An International Patient Summary drawn as text (DESIGN.md §11, §14): the portal's summary
// tab and the SMART Health Link viewer both draw a summary with this one renderer. The Bundle
// was built by ehr-client's core (the portal) or decrypted by it (the viewer); this file only
// reads it. The document's own narrative (XHTML) is never inserted: every word goes through
// textContent (trusted types).
import { conceptText, day, el, observationValue } from "/chart-view.js";

// The sections in the order a clinician reads them (LOINC codes of the IPS sections).
const SECTIONS = [
  { code: "48765-2", title: "Allergies and intolerances", empty: "No allergies recorded." },
  { code: "10160-0", title: "Medications", empty: "No current medications recorded." },
  { code: "11450-4", title: "Problems", empty: "No current problems recorded." },
  { code: "11369-6", title: "Immunizations" },
  { code: "30954-2", title: "Results" },
  { code: "8716-3", title: "Vital signs" },
  { code: "47519-4", title: "Procedures" },
];

function patientName(patient) {
  const name = patient?.name?.[0];
  return name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(" ");
}

// The Bundle's resources by fullUrl, to follow the Composition's references.
function byUrl(bundle) {
  const map = new Map();
  for (const entry of bundle?.entry ?? []) if (entry.fullUrl) map.set(entry.fullUrl, entry.resource);
  return map;
}

// One line of a section: [what, details] as a clinician reads it.
function describe(resource) {
  switch (resource?.resourceType) {
    case "AllergyIntolerance": {
      const reactions = (resource.reaction ?? [])
        .flatMap((r) => (r.manifestation ?? []).map(conceptText)).filter(Boolean);
      return [conceptText(resource.code) || "Allergy (not named)", [
        resource.criticality === "high" ? "HIGH criticality" : resource.criticality && `${resource.criticality} criticality`,
        reactions.length && `reaction: ${reactions.join(", ")}`,
        (resource.category ?? []).length && `${resource.category.join(", ")} allergy`,
      ]];
    }
    case "MedicationRequest":
    case "MedicationStatement":
      return [conceptText(resource.medicationCodeableConcept) || resource.medicationReference?.display || "Medication (not named)", [
        resource.dosageInstruction?.[0]?.text ?? resource.dosage?.[0]?.text,
        resource.authoredOn && `since ${day(resource.authoredOn)}`,
      ]];
    case "Condition":
      return [conceptText(resource.code) || "Problem (not named)", [
        resource.onsetDateTime && `since ${day(resource.onsetDateTime)}`,
        conceptText(resource.severity),
      ]];
    case "Immunization":
      return [conceptText(resource.vaccineCode) || "Vaccine (not named)", [
        day(resource.occurrenceDateTime),
        resource.status === "not-done" && "not given",
      ]];
    case "Observation":
      return [conceptText(resource.code) || "Observation", [
        observationValue(resource),
        day(resource.effectiveDateTime ?? resource.effectivePeriod?.start ?? resource.issued),
      ]];
    case "Procedure":
      return [conceptText(resource.code) || "Procedure", [day(resource.performedDateTime ?? resource.performedPeriod?.start)]];
    default:
      return [conceptText(resource?.code) || resource?.resourceType || "Entry", []];
  }
}

// `bundle` (an IPS document) as text: the patient, who wrote it and when, then each section.
// `level` is the heading level of the sections (the summary's own title is one above).
export function renderSummary(bundle, { level = 3 } = {}) {
  const urls = byUrl(bundle);
  const composition = bundle?.entry?.[0]?.resource;
  if (bundle?.resourceType !== "Bundle" || composition?.resourceType !== "Composition") {
    throw new Error("this is not a patient summary (an IPS document)");
  }
  const patient = urls.get(composition.subject?.reference);
  const author = (composition.author ?? []).map((a) => urls.get(a.reference)?.name ?? a.display).find(Boolean);
  const root = el("article", { className: "ips" });
  const facts = el("dl", { className: "facts ips-patient" });
  const fact = (label, value) => value && facts.append(el("dt", { text: label }), el("dd", { text: value }));
  fact("Patient", patientName(patient));
  fact("Born", day(patient?.birthDate));
  fact("Sex", patient?.gender);
  fact("Summary of", day(composition.date ?? bundle.timestamp));
  fact("Written by", author);
  root.append(facts);
  const heading = `h${Math.min(6, Math.max(2, level))}`;
  const shown = new Set();
  for (const section of SECTIONS) {
    const found = (composition.section ?? []).find((s) => (s.code?.coding ?? []).some((c) => c.code === section.code));
    if (!found) {
      if (section.empty) root.append(sectionNode(heading, section, [], section.empty));
      continue;
    }
    shown.add(found);
    const items = (found.entry ?? []).map((ref) => urls.get(ref.reference)).filter(Boolean);
    root.append(sectionNode(heading, section, items, section.empty ?? "Nothing recorded."));
  }
  // Sections this page does not know (a newer IPS) are still shown, by their own title.
  for (const other of composition.section ?? []) {
    if (shown.has(other) || SECTIONS.some((s) => (other.code?.coding ?? []).some((c) => c.code === s.code))) continue;
    const items = (other.entry ?? []).map((ref) => urls.get(ref.reference)).filter(Boolean);
    root.append(sectionNode(heading, { title: other.title ?? "Other", code: "other" }, items, "Nothing recorded."));
  }
  return root;
}

// When a dated entry happened (an immunization, an observation, a procedure), else "".
function dateOf(resource) {
  const value = resource?.occurrenceDateTime ?? resource?.effectiveDateTime ?? resource?.effectivePeriod?.start
    ?? resource?.performedDateTime ?? resource?.performedPeriod?.start;
  return typeof value === "string" ? value : "";
}

function sectionNode(heading, section, items, emptyText) {
  const node = el("section", { className: `ips-section ips-${section.code}` });
  node.append(el(heading, { text: section.title }));
  if (items.length === 0) {
    node.append(el("p", { className: "empty", text: emptyText }));
    return node;
  }
  const list = el("ul", { className: "ips-list" });
  // Dated entries newest first (immunizations, results, vital signs); the rest as listed.
  const sorted = items.map((resource, index) => ({ resource, index, date: dateOf(resource) }))
    .sort((a, b) => (b.date || "").localeCompare(a.date || "") || a.index - b.index)
    .map(({ resource }) => resource);
  for (const resource of sorted) {
    const [what, details] = describe(resource);
    const detail = details.filter((d) => typeof d === "string" && d !== "").join(" · ");
    list.append(el("li", {}, el("span", { className: "ips-what", text: what }),
      detail ? el("span", { className: "ips-detail", text: ` — ${detail}` }) : null));
  }
  node.append(list);
  return node;
}

// The lines of each section as text (for tests and assistive scripts): {title: [lines]}.
export function summaryLines(root) {
  const out = {};
  for (const section of root.querySelectorAll(".ips-section")) {
    const title = section.firstElementChild?.textContent ?? "";
    out[title] = [...section.querySelectorAll(".ips-what")].map((n) => n.textContent);
  }
  return out;
}
