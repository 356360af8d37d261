// Immunizations (DESIGN.md §12): above the form, the child's forecast from the core
// (immunizationForecast: ehr_client::immunization, the CDC routine schedule, on her birth date
// and the chart's doses); then a CVX-coded immunization with date, lot, site and route.
import { clinicImmunization, immunizationForecast } from "/assets/ehr_web_wasm.js";
import { el, empty, table } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import { chartJson, choice, formOptions, loadList, picker, section, today, writes } from "/orders-common.js";
import { kind } from "/protocol.js";


// How each forecast status reads; overdue is marked in words and a symbol, not colour alone.
const STATUS = {
  overdue: { text: "⚠ Overdue", order: 0 },
  due: { text: "Due now", order: 1 },
  "not-yet": { text: "Upcoming", order: 2 },
  "up-to-date": { text: "Upcoming", order: 2 },
};

function forecastView(context) {
  const forecast = JSON.parse(immunizationForecast(chartJson(context), today()));
  const box = el("section", { className: "entry forecast", attrs: { "aria-labelledby": "forecast-heading" } },
    el("h4", { id: "forecast-heading", text: "Immunization forecast" }));
  if (forecast.groups.length === 0) {
    box.append(empty(forecast.birthDate
      ? "No childhood forecast: the CDC routine schedule covers birth to 18 years."
      : "No forecast: the chart has no date of birth."));
    return box;
  }
  const open = forecast.groups.filter((g) => STATUS[g.status])
    .sort((a, b) => STATUS[a.status].order - STATUS[b.status].order || a.recommended.localeCompare(b.recommended));
  const done = forecast.groups.filter((g) => g.status === "complete").map((g) => g.name);
  const aged = forecast.groups.filter((g) => g.status === "aged-out").map((g) => g.name);
  const overdue = open.filter((g) => g.status === "overdue").length;
  const due = open.filter((g) => g.status === "due").length;
  box.append(el("p", { className: overdue ? "forecast-summary overdue" : "forecast-summary",
    text: `${overdue} overdue, ${due} due now, ${open.length - overdue - due} upcoming (as of ${today()}).` }));
  if (open.length > 0) {
    box.append(table("Doses due, overdue and upcoming (CDC child and adolescent schedule, 2025)",
      ["Vaccine", "Dose", "Status", "Recommended from", "Overdue from"],
      open.map((g) => {
        const status = el("span", { className: `forecast-status ${g.status}`, text: STATUS[g.status].text });
        return { cells: [g.name, String(g.dose ?? ""), status, g.recommended ?? "", g.overdue ?? "—"] };
      }), { className: "forecast-table" }));
    // Narrow screens show each dose as a card whose cells name their column (clinic.css).
    const headers = ["Vaccine", "Dose", "Status", "Recommended from", "Overdue from"];
    for (const row of box.querySelectorAll("tbody tr")) {
      if (row.querySelector(".forecast-status.overdue")) row.classList.add("overdue");
      [...row.cells].forEach((cell, i) => cell.setAttribute("data-label", headers[i]));
    }
  }
  if (done.length > 0) box.append(el("p", { className: "meta", text: `Complete: ${done.join(", ")}.` }));
  if (aged.length > 0) box.append(el("p", { className: "meta", text: `No longer recommended at this age: ${aged.join(", ")}.` }));
  return box;
}

// Under the Summary: the doses overdue or due now (a child's chart only), each named.
export function mountDueImmunizations(panel, context) {
  const forecast = JSON.parse(immunizationForecast(chartJson(context), today()));
  if (forecast.groups.length === 0) return;
  const pending = forecast.groups.filter((g) => g.status === "overdue" || g.status === "due")
    .sort((a, b) => STATUS[a.status].order - STATUS[b.status].order || a.recommended.localeCompare(b.recommended));
  const section = el("section", { className: "summary-part" }, el("h3", { text: "Immunizations due" }));
  if (pending.length === 0) {
    section.append(empty("Up to date with the CDC routine schedule."));
  } else {
    section.append(el("ul", { className: "due-immunizations" }, ...pending.map((g) => el("li", {
      className: g.status,
      text: `${STATUS[g.status].text}: ${g.name}, dose ${g.dose ?? ""} (from ${g.recommended ?? "—"})`,
    }))));
  }
  panel.append(section);
}

export async function mountImmunizations(panel, context) {
  panel.append(forecastView(context));
  if (!writes(context, kind("immunization"))) return;
  const options = formOptions();
  const vaccine = picker({
    label: "Vaccine (CVX)",
    items: await loadList("vaccines"),
    code: (v) => v.cvx,
    text: (v) => v.display,
    option: (v) => `${v.display} — CVX ${v.cvx}${v.full_name && v.full_name !== v.display ? ` (${v.full_name})` : ""}`,
    freeText: false,
    help: "Type a vaccine name or a CVX code; ↓ and Enter choose.",
  });
  const [dateField, date] = field("Date given", { type: "date", value: today(), max: today(), required: true });
  const [lotField, lot] = field("Lot number", { type: "text", autocomplete: "off" });
  const [siteField, site] = choice("Site", options.vaccine.sites, { blank: "—" });
  const [routeField, route] = choice("Route", options.vaccine.routes, { blank: "—" });
  const form = recordForm(context, {
    label: "Record immunization",
    fields: [vaccine.node, el("div", { className: "entry-row" }, dateField, lotField), el("div", { className: "entry-row" }, siteField, routeField)],
    build: () => {
      const chosen = vaccine.chosen();
      if (!chosen) throw new Error("Choose the vaccine from the list (CVX).");
      return clinicImmunization(chartJson(context), JSON.stringify({
        cvx: chosen.cvx, display: chosen.display, date: date.value, lot: lot.value,
        site: site.value, route: route.value, recorded: today(),
      }));
    },
    done: "Immunization recorded.",
  });
  panel.append(section("Record an immunization", form));
}
