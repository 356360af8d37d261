// Orders and results (DESIGN.md §12): a lab or imaging order from the LOINC panel list; its
// results entered against the open order, each analyte with the reference range that applies
// to the patient and the abnormal flag, both from the core (clinicResultForm, clinicResultFlag);
// saving publishes the analyte Observations, the DiagnosticReport based on the order and the
// order's next version, completed (clinicResults). Cancelling is the order's next version.
import {
  clinicOrder, clinicOrderCancel, clinicResultFlag, clinicResultForm, clinicResults,
} from "/assets/ehr_web_wasm.js";
import { el, observationValue, refOf, resources } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import { chartJson, currentOf, loadList, nameOf, picker, recordChoice, section, today, writes } from "/orders-common.js";
import { kind } from "/protocol.js";

const INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

// A flag in words and a symbol (not colour alone): ▲ High, ▼ Low, Normal.
const FLAGS = { H: "▲ High", HH: "▲▲ Critical high", L: "▼ Low", LL: "▼▼ Critical low", N: "Normal", A: "Abnormal" };

function flagNode(code, display) {
  if (!code) return el("span", { className: "flag none", text: "—" });
  const abnormal = code !== "N";
  return el("span", { className: abnormal ? "flag abnormal" : "flag normal", text: FLAGS[code] ?? display ?? code });
}

function interpretationOf(o) {
  const coding = (o.interpretation ?? []).flatMap((c) => c.coding ?? []).find((c) => c.system === INTERPRETATION) ?? o.interpretation?.[0]?.coding?.[0];
  return coding ? [coding.code, coding.display] : [];
}

// Each result report of the read view gets its analytes as a table with the reference range
// and the flag, in place of the plain list.
function flagReports(panel, chart) {
  const byRef = new Map(resources(chart, "Observation").map((o) => [refOf(o), o]));
  for (const report of resources(chart, "DiagnosticReport")) {
    const box = [...panel.querySelectorAll("section.report")].find((s) => s.dataset.id === report.id);
    const values = (report.result ?? []).map((r) => byRef.get(r.reference)).filter(Boolean);
    if (!box || values.length === 0) continue;
    const rows = values.map((o) => el("tr", {},
      el("th", { text: nameOf(o), attrs: { scope: "row" } }),
      el("td", { text: observationValue(o) }),
      el("td", { text: o.referenceRange?.[0]?.text ?? "" }),
      el("td", {}, flagNode(...interpretationOf(o)))));
    const head = el("tr", {}, ...["Analyte", "Value", "Reference range", "Flag"].map((h) => el("th", { text: h, attrs: { scope: "col" } })));
    const tableNode = el("table", { className: "records result-flags" },
      el("caption", { className: "visually-hidden", text: "Results with reference ranges and flags" }),
      el("thead", {}, head), el("tbody", {}, ...rows));
    box.querySelector("ul")?.setAttribute("hidden", "");
    box.append(el("div", { className: "scroll", attrs: { role: "region", "aria-label": `${nameOf(report)} results`, tabindex: "0" } }, tableNode));
  }
}

function orderForm(context, panels) {
  const test = picker({
    label: "Test or study",
    items: panels,
    code: (p) => p.loinc,
    text: (p) => p.display,
    option: (p) => `${p.display} — LOINC ${p.loinc} (${p.kind === "imaging" ? "imaging" : "lab"})`,
    freeText: false,
    help: "Type a name (lipid, A1c, chest X-ray) or a LOINC code; ↓ and Enter choose.",
  });
  const [noteField, note] = field("Note to the lab (optional)", { type: "text" });
  return recordForm(context, {
    label: "Place order",
    fields: [test.node, noteField],
    build: () => {
      const chosen = test.chosen();
      if (!chosen) throw new Error("Choose the test from the list (LOINC).");
      return clinicOrder(chartJson(context), JSON.stringify({
        loinc: chosen.loinc, display: chosen.display, kind: chosen.kind, note: note.value, authoredOn: today(),
      }));
    },
    done: "Order placed.",
  });
}

// The panel of the list an order is for (or one made from its own code, without analytes).
function panelOf(order, panels) {
  const codes = (order.code?.coding ?? []).map((c) => c.code);
  return panels.find((p) => codes.includes(p.loinc))
    ?? { loinc: codes[0] ?? "", display: nameOf(order), kind: "lab", analytes: [] };
}

function resultsForm(context, open, panels) {
  const [whichField, which, chosen] = recordChoice("Order", open, (o) => `${nameOf(o)} — ordered ${o.authoredOn ?? ""}`);
  const [dateField, date] = field("Sample taken on", { type: "date", value: today(), max: today(), required: true });
  const analytes = el("div", { className: "analytes" });
  const [conclusionField, conclusion] = field("Conclusion or comment (optional)", {}, "textarea");
  const inputs = new Map();
  const draw = () => {
    inputs.clear();
    const panel = panelOf(chosen(), panels);
    const rows = JSON.parse(clinicResultForm(chartJson(context), JSON.stringify(panel), date.value || today()));
    analytes.replaceChildren(...rows.map((row) => {
      const [wrap, input] = field(`${row.display}${row.unit ? ` (${row.unit})` : ""}`, { type: "text", inputMode: "decimal", autocomplete: "off" });
      const flag = el("span", { className: "flag-live", attrs: { "aria-live": "polite" } });
      const range = el("p", { className: "help", text: row.range ? `Reference: ${row.range}` : "No reference range" });
      input.addEventListener("input", () => {
        const found = JSON.parse(clinicResultFlag(JSON.stringify(row), input.value));
        flag.replaceChildren(found ? flagNode(found.code, found.display) : "");
      });
      wrap.classList.add("analyte");
      wrap.append(range, flag);
      inputs.set(row.loinc, input);
      return wrap;
    }));
    if (rows.length === 0) analytes.append(el("p", { className: "help", text: "No analytes for this study: write the report as the conclusion." }));
  };
  which.addEventListener("change", draw);
  draw();
  return recordForm(context, {
    label: "Save results",
    fields: [el("div", { className: "entry-row" }, whichField, dateField), analytes, conclusionField],
    build: () => {
      const values = Object.fromEntries([...inputs].map(([loinc, input]) => [loinc, input.value]));
      const records = JSON.parse(clinicResults(chartJson(context), JSON.stringify(chosen()),
        JSON.stringify(panelOf(chosen(), panels)), JSON.stringify(values), date.value, conclusion.value));
      return records.map((r) => JSON.stringify(r));
    },
    done: "Results saved; the order is completed.",
  });
}

function cancelForm(context, open) {
  const [whichField, , chosen] = recordChoice("Order", open, (o) => `${nameOf(o)} — ordered ${o.authoredOn ?? ""}`);
  const [reasonField, reason] = field("Reason (optional)", { type: "text" });
  return recordForm(context, {
    label: "Cancel order",
    fields: [whichField, reasonField],
    build: () => clinicOrderCancel(JSON.stringify(chosen()), reason.value),
    confirm: () => `Cancel the order for “${nameOf(chosen())}”?`,
    done: "Order cancelled.",
  });
}

export async function mountOrders(panel, context) {
  flagReports(panel, context.chart);
  if (!writes(context, kind("order")) && !writes(context, kind("report"))) return;
  const panels = await loadList("lab-panels");
  if (writes(context, kind("order"))) panel.append(section("Order a test", orderForm(context, panels)));
  const open = currentOf(context, "ServiceRequest", (s) => s.status === "active");
  if (open.length === 0) return;
  if (writes(context, kind("report")) && writes(context, kind("observation"))) panel.append(section("Enter results", resultsForm(context, open, panels)));
  if (writes(context, kind("order"))) panel.append(section("Cancel an order", cancelForm(context, open)));
}
