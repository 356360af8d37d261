// Small DOM and FHIR reading helpers for the chart's tabs (DESIGN.md §11). Reading only: the
// Bundle was verified, decrypted and folded by ehr-client's core; nothing here decides what
// the chart is. DOM text goes through textContent only (trusted types).

import { el } from "/dom.js";

export { el };

const REPORTED = { system: "urn:nostr-ehr:origin", code: "patient-reported" };

// The text of a CodeableConcept (or the first of a list).
export function conceptText(concept) {
  const value = Array.isArray(concept) ? concept[0] : concept;
  return value?.text ?? value?.coding?.[0]?.display ?? value?.display ?? value?.coding?.[0]?.code ?? "";
}

export function day(value) {
  return typeof value === "string" ? value.slice(0, 10) : "";
}

// Whether the patient wrote this entry herself (the agreed meta.tag, DESIGN.md §11).
export function isReported(resource) {
  return (resource.meta?.tag ?? []).some((t) => t.system === REPORTED.system && t.code === REPORTED.code);
}

// How the marker reads: the portal speaks to the patient, the clinic app about her.
let reportedLabel = "Reported by you";
export function setReportedLabel(text) {
  reportedLabel = text;
}

// The visible marker of a patient-reported entry, or null.
export function reportedMarker(resource) {
  return isReported(resource) ? el("span", { className: "reported", text: reportedLabel }) : null;
}

// The resources of `type` in the chart's Bundle.
export function resources(chart, type) {
  return (chart?.bundle?.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type);
}

// "Type/id" of a resource, as references name it.
export function refOf(resource) {
  return `${resource.resourceType}/${resource.id}`;
}

// Whether `reference` (a FHIR Reference) points at `target` ("Type/id"); full URLs ending
// in it count too.
export function pointsAt(reference, target) {
  const value = reference?.reference;
  return typeof value === "string" && (value === target || value.endsWith(`/${target}`));
}

function quantityText(q) {
  if (!q || q.value === undefined) return "";
  const value = Number.isInteger(q.value) ? String(q.value) : String(Math.round(q.value * 10) / 10);
  return q.unit ? `${value} ${q.unit}` : value;
}

// An Observation's value as a patient reads it ("128/82 mmHg" for a blood pressure panel).
export function observationValue(o) {
  if (o.valueQuantity) return quantityText(o.valueQuantity);
  if (o.valueString) return o.valueString;
  if (o.valueCodeableConcept) return conceptText(o.valueCodeableConcept);
  if (o.valueBoolean !== undefined) return o.valueBoolean ? "yes" : "no";
  const parts = (o.component ?? []).map((c) => c.valueQuantity).filter(Boolean);
  if (parts.length > 0) {
    const unit = parts.every((p) => p.unit === parts[0].unit) ? parts[0].unit : "";
    return `${parts.map((p) => quantityText({ value: p.value })).join("/")}${unit ? ` ${unit}` : ""}`;
  }
  return o.dataAbsentReason ? conceptText(o.dataAbsentReason) : "";
}

export function observationDate(o) {
  return day(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued);
}

export function isVital(o) {
  return (o.category ?? []).some((c) => (c.coding ?? []).some((k) => k.code === "vital-signs"));
}

// A scrollable, labelled table: `headers` the column names, `rows` arrays of cells (text or
// nodes; the first is the row header), each row may carry `resource` for its marker and id.
export function table(caption, headers, rows, { className = "" } = {}) {
  const tbody = el("tbody");
  for (const row of rows) {
    const tr = el("tr", { attrs: row.resource?.id ? { "data-id": row.resource.id } : {} });
    row.cells.forEach((cell, i) => {
      const td = el(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      // A date reads as one word: "2026-03-07" never breaks at its hyphens.
      if (typeof cell === "string" && /^\d{4}-\d{2}(-\d{2})?/.test(cell)) td.className = "date";
      td.append(cell ?? "");
      if (i === 0 && row.resource) {
        const marker = reportedMarker(row.resource);
        if (marker) td.append(" ", marker);
      }
      tr.append(td);
    });
    tbody.append(tr);
  }
  const head = el("tr", {}, ...headers.map((h) => el("th", { text: h, attrs: { scope: "col" } })));
  const tableNode = el("table", { className: `records ${className}`.trim() }, el("caption", { text: caption }), el("thead", {}, head), tbody);
  return el("div", { className: "scroll", attrs: { role: "region", "aria-label": caption, tabindex: "0" } }, tableNode);
}

// A short line saying a section is empty.
export function empty(text) {
  return el("p", { className: "empty", text });
}

// Newest first by `date(resource)`.
export function newestFirst(list, date) {
  return [...list].sort((a, b) => date(b).localeCompare(date(a)));
}

// Decode an inline attachment (`data`, base64) as UTF-8 text, for notes; "" when absent.
export function attachmentText(attachment) {
  if (!attachment?.data) return "";
  try {
    const bytes = Uint8Array.from(atob(attachment.data), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return "";
  }
}
