// The Vitals tab (DESIGN.md §11): every vital sign in a table (the accessible form), and line
// charts over time drawn as SVG (createElementNS; no library, no inline style) for weight,
// blood pressure and heart rate.
import {
  conceptText, el, empty, isVital, newestFirst, observationDate, observationValue, resources, table,
} from "/chart-view.js";

const SVG = "http://www.w3.org/2000/svg";
const LOINC = "http://loinc.org";
// What is drawn: a LOINC code per line (a component code when the value is in a panel).
const SERIES = [
  { id: "weight", title: "Weight", unit: "kg", lines: [{ code: "29463-7", label: "Weight" }] },
  {
    id: "blood-pressure", title: "Blood pressure", unit: "mmHg", lines: [
      { code: "8480-6", label: "Systolic" },
      { code: "8462-4", label: "Diastolic" },
    ],
  },
  { id: "heart-rate", title: "Heart rate", unit: "/min", lines: [{ code: "8867-4", label: "Heart rate" }] },
];
const W = 320;
const H = 170;
const PAD = { left: 36, right: 10, top: 12, bottom: 28 };

function hasCode(concept, code) {
  return (concept?.coding ?? []).some((c) => c.code === code && (!c.system || c.system === LOINC));
}

// [{date, value}] of one line, oldest first.
function points(observations, code) {
  const found = [];
  for (const o of observations) {
    const date = observationDate(o);
    if (!date) continue;
    if (hasCode(o.code, code) && typeof o.valueQuantity?.value === "number") {
      found.push({ date, value: o.valueQuantity.value });
    }
    for (const c of o.component ?? []) {
      if (hasCode(c.code, code) && typeof c.valueQuantity?.value === "number") found.push({ date, value: c.valueQuantity.value });
    }
  }
  return found.sort((a, b) => a.date.localeCompare(b.date));
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function round(value) {
  return Math.round(value * 10) / 10;
}

// One chart: a figure with an SVG line chart whose title says what it shows in words.
function lineChart(series, lines) {
  const all = lines.flatMap((l) => l.points);
  const times = all.map((p) => Date.parse(p.date));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  let [v0, v1] = [Math.min(...all.map((p) => p.value)), Math.max(...all.map((p) => p.value))];
  if (v0 === v1) [v0, v1] = [v0 - 1, v1 + 1];
  const margin = (v1 - v0) * 0.1;
  [v0, v1] = [v0 - margin, v1 + margin];
  const x = (date) => PAD.left + (t1 === t0 ? 0.5 : (Date.parse(date) - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (value) => H - PAD.bottom - ((value - v0) / (v1 - v0)) * (H - PAD.top - PAD.bottom);
  const titleId = `vital-chart-${series.id}-title`;
  const summary = lines.map((l) => {
    const first = l.points[0];
    const last = l.points[l.points.length - 1];
    return `${l.label} from ${round(first.value)} on ${first.date} to ${round(last.value)} ${series.unit} on ${last.date}`;
  }).join("; ");
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId, class: "vital-svg" });
  chart.append(svg("title", { id: titleId }, `${series.title} over time: ${summary}.`));
  const axis = svg("g", { class: "axis", "aria-hidden": "true" });
  axis.append(
    svg("line", { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }),
    svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom }),
    svg("text", { x: PAD.left - 4, y: y(v1 - margin) + 4, "text-anchor": "end" }, String(round(v1 - margin))),
    svg("text", { x: PAD.left - 4, y: y(v0 + margin) + 4, "text-anchor": "end" }, String(round(v0 + margin))),
    svg("text", { x: PAD.left, y: H - 8, "text-anchor": "start" }, new Date(t0).toISOString().slice(0, 7)),
    svg("text", { x: W - PAD.right, y: H - 8, "text-anchor": "end" }, new Date(t1).toISOString().slice(0, 7)),
  );
  chart.append(axis);
  lines.forEach((line, i) => {
    const group = svg("g", { class: `line line-${i}`, "aria-hidden": "true" });
    group.append(svg("polyline", { points: line.points.map((p) => `${round(x(p.date))},${round(y(p.value))}`).join(" ") }));
    for (const p of line.points) group.append(svg("circle", { cx: round(x(p.date)), cy: round(y(p.value)), r: 3 }));
    chart.append(group);
  });
  const legend = lines.length > 1
    ? el("ul", { className: "legend" }, ...lines.map((l, i) => el("li", { className: `line-${i}`, text: l.label })))
    : null;
  return el("figure", { className: "vital-chart", attrs: { "data-series": series.id } },
    el("figcaption", { text: `${series.title} (${series.unit})` }), chart, legend);
}

export function mountVitals(panel, { chart }) {
  const vitals = newestFirst(resources(chart, "Observation").filter(isVital), observationDate);
  panel.append(el("h3", { text: "Vitals" }));
  if (vitals.length === 0) return panel.append(empty("No vitals recorded."));
  const charts = el("div", { className: "vital-charts" });
  for (const series of SERIES) {
    const lines = series.lines.map((l) => ({ ...l, points: points(vitals, l.code) })).filter((l) => l.points.length > 0);
    if (lines.length > 0) charts.append(lineChart(series, lines));
  }
  panel.append(
    charts,
    el("p", { className: "help", text: "The table below lists every measurement shown in the charts." }),
    table("Every vital sign, newest first", ["Measurement", "Date", "Value"],
      vitals.map((o) => ({ resource: o, cells: [conceptText(o.code), observationDate(o), observationValue(o)] }))),
  );
}
