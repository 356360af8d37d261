// The clinic app's patient list (DESIGN.md §12): every patient the member's keys reach, as
// ehr-client's core listed them (name, date of birth, identifiers, last visit), searchable by
// name, date of birth and identifier. DOM text through textContent only (trusted types).
import { $, el } from "/dom.js";

let patients = [];
let onOpen = null;
// Rows drawn at once (more than a screenful), then the rest in batches between frames, so
// 2,000 patients are on screen without waiting for the last row. A new draw cancels the rest.
const FIRST_ROWS = 150;
const BATCH_ROWS = 400;
let drawing = 0;

// Age on `today` from a FHIR date: years, or months under two.
export function ageOf(birthDate, today = new Date()) {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(birthDate ?? "");
  if (!match) return "";
  const [year, month, day] = match.slice(1).map(Number);
  let months = (today.getFullYear() - year) * 12 + (today.getMonth() + 1 - month);
  if (today.getDate() < day) months -= 1;
  if (months < 0) return "";
  return months < 24 ? `${months} mo` : `${Math.floor(months / 12)} y`;
}

// Whether `patient` matches every word of `query` (name words, a date of birth, an identifier).
function matches(patient, query) {
  const haystack = [patient.name, patient.birthDate, ...(patient.identifiers ?? [])]
    .filter(Boolean).join(" ").toLowerCase();
  return query.toLowerCase().split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
}

function row(patient) {
  const name = patient.name ?? "(no demographics yet)";
  const open = el("button", { type: "button", className: "patient-link", text: name });
  open.addEventListener("click", () => onOpen?.(patient));
  // Each cell names its column for the narrow layout (clinic.css), where rows become cards.
  const cell = (label, text, className) => el("td", { className, text, attrs: { "data-label": label } });
  const cells = [
    el("th", { scope: "row" }, open),
    cell("Born", patient.birthDate ?? "", "date"),
    cell("Age", ageOf(patient.birthDate)),
    cell("Identifier", (patient.identifiers ?? []).join(", ")),
    cell("Last visit", (patient.lastVisit ?? "").slice(0, 10), "date"),
  ];
  return el("tr", {}, ...cells);
}

// Draw the rows that match the search box (all of them for an empty search).
function draw() {
  const query = $("patient-search").value.trim();
  const shown = query ? patients.filter((p) => matches(p, query)) : patients;
  const generation = ++drawing;
  const body = $("patient-rows");
  body.replaceChildren(...shown.slice(0, FIRST_ROWS).map(row));
  body.dataset.complete = String(shown.length <= FIRST_ROWS);
  const more = (from) => {
    if (generation !== drawing || from >= shown.length) return;
    body.append(...shown.slice(from, from + BATCH_ROWS).map(row));
    body.dataset.complete = String(from + BATCH_ROWS >= shown.length);
    requestAnimationFrame(() => more(from + BATCH_ROWS));
  };
  requestAnimationFrame(() => more(FIRST_ROWS));
  $("patient-count").textContent = query
    ? `${shown.length} of ${patients.length} patients match`
    : `${patients.length} patients`;
  return shown;
}

// Show `list` (the core's patientList); `open(patient)` opens one chart.
export function showPatients(list, open) {
  patients = list;
  onOpen = open;
  $("patient-search").value = "";
  draw();
  $("patients").hidden = false;
}

export function clearPatients() {
  // The list holds decrypted names: drop it, not just hide it (and stop drawing it).
  drawing += 1;
  patients = [];
  onOpen = null;
  $("patient-rows").replaceChildren();
  $("patient-count").textContent = "";
  $("patient-search").value = "";
}

export function initPatients() {
  $("patient-search").addEventListener("input", draw);
  $("patient-search").addEventListener("keydown", (key) => {
    if (key.key !== "Enter") return;
    key.preventDefault();
    const [first] = draw();
    if (first) onOpen?.(first);
  });
}
