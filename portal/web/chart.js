// The chart view (DESIGN.md §11): the folded FHIR Bundle that ehr-client's core (WebAssembly)
// produced, drawn as ARIA tabs (WAI-ARIA Authoring Practices "tabs with automatic
// activation"). Other parts of the app add tabs with registerTab; every tab's mount gets its
// panel and the view context {connection, signer, events, chart}. DOM text goes through
// textContent only (trusted types).
import { BUILT_IN_TABS, allRecordsRows } from "/chart-tabs.js";
import { offerWards, resetWards } from "/guardians.js";

const $ = (id) => document.getElementById(id);

// Tabs other modules registered: {id, label, mount(panel, context)}, in registration order.
const registered = [];

// Add a tab to every chart drawn from now on. `id` names the panel (`panel-<id>`) and the tab
// (`tab-<id>`); `mount(panel, context)` fills the panel the first time the tab is shown (it
// may return a promise). Registering an id again replaces the earlier tab.
export function registerTab({ id, label, mount }) {
  if (!/^[a-z][a-z0-9-]*$/.test(id ?? "")) throw new Error("a tab id is lower-case letters, digits and dashes");
  if (typeof label !== "string" || label === "") throw new Error("a tab needs a label");
  if (typeof mount !== "function") throw new Error("a tab needs a mount(panel, context) function");
  const index = registered.findIndex((tab) => tab.id === id);
  if (index >= 0) registered.splice(index, 1);
  registered.push({ id, label, mount });
}

// The context the chart was drawn from, and the state of its tabs.
let current = null;

function tabsOf() {
  // Built-in tabs keep their place; a registered tab with a built-in id replaces it there.
  const byId = new Map(registered.map((tab) => [tab.id, tab]));
  const tabs = BUILT_IN_TABS.filter((tab) => tab.id !== "all").map((tab) => byId.get(tab.id) ?? tab);
  for (const tab of registered) if (!BUILT_IN_TABS.some((b) => b.id === tab.id)) tabs.push(tab);
  // "All records" stays last: the one table of everything, for search and comparison.
  tabs.push(byId.get("all") ?? BUILT_IN_TABS.find((tab) => tab.id === "all"));
  return tabs;
}

async function mountPanel(state, index) {
  if (state.mounted.has(index)) return;
  state.mounted.add(index);
  const tab = state.tabs[index];
  const panel = state.panels[index];
  try {
    await tab.mount(panel, state.context);
  } catch (error) {
    // One failing tab must not take the chart with it; the message names the problem only.
    const p = document.createElement("p");
    p.className = "tab-error";
    p.setAttribute("role", "alert");
    p.textContent = `This section could not be shown: ${error?.message ?? error}`;
    panel.append(p);
  }
}

// Show tab `index`; `focus` moves the keyboard to it (arrow keys, Home, End).
export function selectTab(index, { focus = false } = {}) {
  const state = current;
  if (!state) return;
  const count = state.tabs.length;
  const target = ((index % count) + count) % count;
  state.buttons.forEach((button, i) => {
    const selected = i === target;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    state.panels[i].hidden = !selected;
  });
  state.selected = target;
  if (focus) state.buttons[target].focus();
  return mountPanel(state, target);
}

// Select the tab with `id` (e.g. from a link in the summary).
export function showTab(id, options) {
  const index = current?.tabs.findIndex((tab) => tab.id === id) ?? -1;
  if (index >= 0) return selectTab(index, options);
}

function onKey(event) {
  const state = current;
  const index = state.buttons.indexOf(event.target);
  if (index < 0) return;
  const moves = {
    ArrowRight: index + 1,
    ArrowDown: index + 1,
    ArrowLeft: index - 1,
    ArrowUp: index - 1,
    Home: 0,
    End: state.tabs.length - 1,
  };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(moves[event.key], { focus: true });
}

// Draw the chart of `context` (app.js openChart's view context; a bare {patient, bundle,
// refused} chart is accepted too): the tab list, one panel per tab, the first tab shown.
export function renderChart(context) {
  const ctx = context?.bundle ? { chart: context } : context;
  const tabs = tabsOf();
  const list = $("chart-tabs");
  const panels = $("chart-panels");
  const buttons = [];
  const panelNodes = [];
  for (const [i, tab] of tabs.entries()) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = `tab-${tab.id}`;
    button.setAttribute("role", "tab");
    button.setAttribute("aria-controls", `panel-${tab.id}`);
    button.textContent = tab.label;
    button.addEventListener("click", () => selectTab(i));
    buttons.push(button);
    // The "All records" panel is in the page already (the one table of everything).
    const panel = tab.id === "all" ? $("panel-all") : document.createElement("section");
    panel.id = `panel-${tab.id}`;
    panel.setAttribute("role", "tabpanel");
    panel.setAttribute("aria-labelledby", button.id);
    panel.tabIndex = 0;
    panel.className = "tab-panel";
    panelNodes.push(panel);
  }
  list.replaceChildren(...buttons);
  list.onkeydown = onKey;
  panels.replaceChildren(...panelNodes);
  current = { context: ctx, tabs, buttons, panels: panelNodes, mounted: new Set(), selected: 0 };
  allRecordsRows(ctx.chart);
  // A guardian reading a ward's chart sees whose it is.
  $("chart-heading").textContent = ctx.ward ? `${ctx.ward.name ?? "Your ward"}: chart` : "Your chart";
  $("chart").hidden = false;
  const first = selectTab(0);
  $("chart-heading").focus();
  if (!ctx.ward) offerWards(ctx, renderChart);
  return first;
}

export function clearChart() {
  // Panels hold decrypted records: drop them all, not just hide them.
  current = null;
  resetWards();
  $("chart-tabs").replaceChildren();
  $("chart-rows").replaceChildren();
  $("chart-caption").textContent = "";
  const all = $("panel-all");
  $("chart-panels").replaceChildren(all);
  all.hidden = true;
  $("chart").hidden = true;
}
