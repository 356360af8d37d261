// The clinic app's vitals (DESIGN.md §12): an entry form under the Vitals tab, in the units the
// clinic uses (kg/lb, cm/in, °C/°F), and a Growth tab for children. The core (WebAssembly)
// converts, codes (LOINC, UCUM), computes BMI, questions implausible values and places growth
// measurements on the WHO/CDC references; this module only draws. DOM text through textContent
// only; SVG built with createElementNS (no inline style: CSP).
import { growthChart, vitalSigns } from "/assets/ehr_web_wasm.js";
import { conceptText, day, el, empty, resources, table } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import { kind } from "/protocol.js";

// The member's unit choices (no PHI), remembered on this device.
const UNITS_KEY = "clinic.vitals.units";
const SVG = "http://www.w3.org/2000/svg";

export function register({ registerTab, extendTab }) {
  extendTab("vitals", mountEntry);
  registerTab({ id: "growth", label: "Growth", mount: mountGrowth });
}

function savedUnits() {
  try {
    return JSON.parse(localStorage.getItem(UNITS_KEY) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function saveUnit(name, value) {
  try {
    localStorage.setItem(UNITS_KEY, JSON.stringify({ ...savedUnits(), [name]: value }));
  } catch {
    // Storage may be off: the choice just is not remembered.
  }
}

// The open patient's FHIR facts: her Patient record's id (her key without one), birth date, sex.
function patientFacts(context) {
  const [record] = resources(context.chart, "Patient");
  return {
    id: record?.id ?? context.patient.patient,
    birthDate: record?.birthDate ?? context.patient.birthDate ?? "",
    gender: record?.gender ?? context.patient.gender ?? "",
  };
}

function ageYears(birthDate) {
  const born = Date.parse(birthDate);
  return Number.isNaN(born) ? null : (Date.now() - born) / (365.25 * 86400000);
}

// A number field with its unit: [wrapper, input, select?]. `units` [[value, label]...].
function measure(label, name, units, unitName) {
  const [wrapper, input] = field(label, { name, inputMode: "decimal", autocomplete: "off", attrs: { "data-vital": name } });
  wrapper.classList.add("vital-field");
  if (!units) return [wrapper, input, null];
  const saved = savedUnits()[unitName];
  const select = el("select", { name: `${name}Unit`, attrs: { "aria-label": `${label} unit` } },
    ...units.map(([value, text]) => el("option", { value, text, selected: value === saved })));
  select.addEventListener("change", () => saveUnit(unitName, select.value));
  const row = el("div", { className: "with-unit" }, input, select);
  wrapper.append(row);
  return [wrapper, input, select];
}

// The visits of the chart, newest first, to link the vitals to (an encounter of today chosen).
function visitSelect(context) {
  const visits = resources(context.chart, "Encounter")
    .map((e) => ({ id: e.id, date: day(e.period?.start), what: conceptText(e.type) || conceptText(e.reasonCode) }))
    .filter((v) => v.id)
    .sort((a, b) => b.date.localeCompare(a.date))
    .slice(0, 12);
  const today = new Date().toISOString().slice(0, 10);
  const [wrapper, select] = field("Visit", { name: "encounter" }, "select");
  select.append(el("option", { value: "", text: "Not linked to a visit" }),
    ...visits.map((v) => el("option", { value: v.id, text: [v.date, v.what].filter(Boolean).join(" · "), selected: v.date === today })));
  return [wrapper, select];
}

function mountEntry(panel, context) {
  if (!context.member.writes.includes(kind("observation"))) return;
  const facts = patientFacts(context);
  const age = ageYears(facts.birthDate);
  const infant = age !== null && age < 2;
  const controls = [];
  const add = ([wrapper, ...rest]) => { controls.push(...rest.filter(Boolean)); return wrapper; };
  const mass = [["kg", "kg"], ["lb", "lb"]];
  const length = [["cm", "cm"], ["in", "in"]];
  const body = el("fieldset", { className: "vital-group" }, el("legend", { text: "Body" }),
    add(measure("Weight", "weight", mass, "weight")),
    add(measure(infant ? "Length" : "Height", "height", length, "length")),
    // Head circumference is charted under 3 years (WHO, CDC infant charts).
    age !== null && age < 3 ? add(measure("Head circumference", "head", length, "length")) : null);
  const signs = el("fieldset", { className: "vital-group" }, el("legend", { text: "Signs" }),
    add(measure("Temperature", "temperature", [["C", "°C"], ["F", "°F"]], "temperature")),
    add(measure("Heart rate (/min)", "heartRate")),
    add(measure("Respiratory rate (/min)", "respiratoryRate")),
    add(measure("SpO2 (%)", "spo2")));
  const pressure = el("fieldset", { className: "vital-group" }, el("legend", { text: "Blood pressure (mmHg)" }),
    add(measure("Systolic", "systolic")),
    add(measure("Diastolic", "diastolic")));
  const visit = add(visitSelect(context));
  let questions = [];
  const form = recordForm(context, {
    label: "Save vitals",
    fields: [el("div", { className: "vital-groups" }, body, signs, pressure), visit],
    build() {
      const values = { birthDate: facts.birthDate };
      for (const control of controls) values[control.name] = control.value;
      const built = JSON.parse(vitalSigns(JSON.stringify(values), facts.id, new Date().toISOString()));
      questions = built.questions;
      return built.resources.map((resource) => JSON.stringify(resource));
    },
    confirm: () => (questions.length === 0 ? null
      : `${questions.join(" ")} Correct it, or press “Save vitals anyway” to save it as entered.`),
    done: "Vitals saved.",
  });
  form.classList.add("vitals-entry");
  panel.append(el("h3", { text: "Enter vitals" }),
    el("p", { className: "help", text: "Leave empty what was not measured. Stored in kg, cm and °C; BMI is computed from weight and height." }),
    form);
}

// Growth charts.

let tablesText = null;
// growth.json, fetched once (same origin, public reference data).
async function growthTables() {
  if (!tablesText) {
    tablesText = fetch("/data/growth.json").then((response) => {
      if (!response.ok) throw new Error("the growth reference tables could not be loaded");
      return response.text();
    });
    tablesText.catch(() => { tablesText = null; });
  }
  return tablesText;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function ageText(months) {
  if (months < 24) return `${Math.floor(months)} mo`;
  const years = Math.floor(months / 12);
  const rest = Math.floor(months - years * 12);
  return rest ? `${years} y ${rest} mo` : `${years} y`;
}

function percentileText(p) {
  if (typeof p !== "number") return "";
  if (p < 0.1) return "<0.1";
  if (p > 99.9) return ">99.9";
  return p.toFixed(1);
}

// Tick values from lo to hi at a step of 1, 2 or 5 × 10^k, about `count` of them.
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

const PAD = { left: 44, right: 46, top: 14, bottom: 40 };

// One chart: curves of the reference (WHO then CDC), the patient's points joined, axes in
// months under 3 years and in years after. A phone gets a narrower drawing, so its text stays
// readable once scaled to the screen.
function growthSvg(chart, titleId, summary) {
  const narrow = window.matchMedia("(max-width: 40rem)").matches;
  const [W, H] = narrow ? [400, 340] : [640, 380];
  const values = [...chart.curves.flatMap((c) => c.segments.flat().map((p) => p[1])), ...chart.points.map((p) => p.value)];
  let [v0, v1] = [Math.min(...values), Math.max(...values)];
  const margin = (v1 - v0) * 0.05 || 1;
  [v0, v1] = [v0 - margin, v1 + margin];
  const x = (months) => PAD.left + ((months - chart.from) / (chart.to - chart.from)) * (W - PAD.left - PAD.right);
  const y = (value) => H - PAD.bottom - ((value - v0) / (v1 - v0)) * (H - PAD.top - PAD.bottom);
  const r = (n) => Math.round(n * 10) / 10;
  const node = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId, class: "growth-svg" });
  node.append(svg("title", { id: titleId }, summary));
  const grid = svg("g", { class: "grid", "aria-hidden": "true" });
  for (const v of ticks(v0, v1, 6)) {
    grid.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: r(y(v)), y2: r(y(v)) }),
      svg("text", { x: PAD.left - 6, y: r(y(v)) + 4, "text-anchor": "end" }, String(v)));
  }
  const inMonths = chart.to - chart.from <= 36;
  const xStep = inMonths ? (narrow ? 6 : 3) : Math.max(1, Math.round((chart.to - chart.from) / 12 / (narrow ? 6 : 10))) * 12;
  for (let m = chart.from; m <= chart.to + 1e-9; m += xStep) {
    grid.append(svg("line", { x1: r(x(m)), x2: r(x(m)), y1: PAD.top, y2: H - PAD.bottom, class: "vertical" }),
      svg("text", { x: r(x(m)), y: H - PAD.bottom + 16, "text-anchor": "middle" }, String(inMonths ? m : m / 12)));
  }
  grid.append(svg("text", { x: (PAD.left + W - PAD.right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-title" },
    inMonths ? "Age (months)" : "Age (years)"));
  node.append(grid);
  if (chart.from < 24 && chart.to > 24) {
    node.append(svg("g", { class: "reference-change", "aria-hidden": "true" },
      svg("line", { x1: r(x(24)), x2: r(x(24)), y1: PAD.top, y2: H - PAD.bottom }),
      svg("text", { x: r(x(24)) - 4, y: PAD.top + 12, "text-anchor": "end" }, "WHO"),
      svg("text", { x: r(x(24)) + 4, y: PAD.top + 12, "text-anchor": "start" }, "CDC")));
  }
  const curves = svg("g", { class: "curves", "aria-hidden": "true" });
  for (const curve of chart.curves) {
    const cls = `curve p${curve.percentile}`;
    for (const segment of curve.segments) {
      curves.append(svg("polyline", { class: cls, points: segment.map(([m, v]) => `${r(x(m))},${r(y(v))}`).join(" ") }));
    }
    const last = curve.segments.at(-1)?.at(-1);
    if (last) curves.append(svg("text", { class: "curve-label", x: r(x(last[0])) + 4, y: r(y(last[1])) + 4 }, `${curve.percentile}th`.replace(/^3th/, "3rd")));
  }
  node.append(curves);
  const mine = svg("g", { class: "patient-points", "aria-hidden": "true" });
  const placed = chart.points.filter((p) => p.ageMonths >= chart.from && p.ageMonths <= chart.to);
  if (placed.length > 1) mine.append(svg("polyline", { points: placed.map((p) => `${r(x(p.ageMonths))},${r(y(p.value))}`).join(" ") }));
  for (const p of placed) {
    const dot = svg("circle", { cx: r(x(p.ageMonths)), cy: r(y(p.value)), r: 4.5 });
    dot.append(svg("title", {}, `${day(p.date)}: ${p.value} ${chart.unit}, percentile ${percentileText(p.percentile)}`));
    mine.append(dot);
  }
  node.append(mine);
  return node;
}

function growthFigure(chart) {
  const latest = chart.points.at(-1);
  const titleId = `growth-${chart.id}-title`;
  const summary = `${chart.title}, ${chart.points.length} measurements; latest ${latest.value} ${chart.unit} `
    + `at ${ageText(latest.ageMonths)}, percentile ${percentileText(latest.percentile)}.`;
  const rows = [...chart.points].reverse().map((p) => ({
    cells: [day(p.date), ageText(p.ageMonths), `${p.value} ${chart.unit}${p.derived ? " (computed)" : ""}`,
      p.note ?? percentileText(p.percentile), typeof p.z === "number" ? p.z.toFixed(2) : "",
      (p.source ?? "").toUpperCase()],
  }));
  return el("figure", { className: "growth-chart", attrs: { "data-measure": chart.id } },
    el("figcaption", { text: `${chart.title} (${chart.unit})` }),
    growthSvg(chart, titleId, summary),
    table(`${chart.title}: every measurement, newest first`, ["Date", "Age", "Value", "Percentile", "z-score", "Reference"], rows,
      { className: "growth-table" }));
}

// The open patient's growth charts as elements: the legend, one figure per charted measure,
// and a note of what is missing; or a single sentence saying why there is no chart. The
// Growth tab and the growth-chart printout (printouts.js) both show this.
export async function growthCharts(context) {
  const facts = patientFacts(context);
  const age = ageYears(facts.birthDate);
  if (age === null) return [empty("No date of birth recorded: growth charts need one.")];
  if (age >= 20) return [empty("Growth charts are for patients under 20 years old.")];
  if (!["male", "female"].includes(facts.gender)) {
    return [empty("The WHO and CDC references are by sex: record the patient's sex (male or female) to chart her growth.")];
  }
  const out = JSON.parse(growthChart(await growthTables(), facts.gender, facts.birthDate, JSON.stringify(context.chart.bundle)));
  const parts = [el("p", { className: "help", text: "Curves: 3rd, 15th, 50th, 85th and 97th percentiles; WHO Child Growth "
    + "Standards under 24 months, CDC 2000 growth charts from 24 months. Dots: this patient." })];
  const drawn = out.charts.filter((c) => c.points.length > 0);
  const missing = out.charts.filter((c) => c.points.length === 0).map((c) => c.title);
  parts.push(...drawn.map(growthFigure));
  if (drawn.length === 0) parts.push(empty("No growth measurements recorded yet: enter them under Vitals."));
  else if (missing.length > 0) parts.push(empty(`Not measured at a charted age: ${missing.join(", ")}.`));
  return parts;
}

async function mountGrowth(panel, context) {
  panel.append(el("h3", { text: "Growth charts" }), ...await growthCharts(context));
}
