// The chart view (DESIGN.md §11), shared by the portal and the clinic app: the folded FHIR
// Bundle that ehr-client's core (WebAssembly) produced, drawn as ARIA tabs (WAI-ARIA Authoring
// Practices "tabs with automatic activation"). The app adds tabs with registerTab; every tab's
// mount gets its panel and the view context {connection, signer, relay, events, chart, ...}.
// DOM text goes through textContent only (trusted types).
import { BUILT_IN_TABS, allRecordsRows } from "/chart-tabs.js";
import { $ } from "/dom.js";

// Tabs other modules registered: {id, label, mount(panel, context)}, in registration order.
const registered = [];
// Extensions of tabs by id: mount(panel, context) functions run after the tab's own, in order
// (the clinic app adds its forms under the portal's read views).
const extensions = new Map();

// Run `mount(panel, context)` after tab `id`'s own mount, whenever that tab is drawn.
export function extendTab(id, mount) {
  if (typeof mount !== "function") throw new Error("a tab extension is a mount(panel, context) function");
  extensions.set(id, [...(extensions.get(id) ?? []), mount]);
}

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

// The built-in tabs, then the registered ones, those `shown(tab)` keeps; "All records" stays
// last: the one table of everything, for search and comparison.
function tabsOf(shown) {
  const all = BUILT_IN_TABS.filter((tab) => tab.id === "all");
  const tabs = [...BUILT_IN_TABS.filter((tab) => tab.id !== "all"), ...registered, ...all];
  return tabs.filter(shown);
}

async function mountPanel(state, index) {
  if (state.mounted.has(index)) return;
  state.mounted.add(index);
  const tab = state.tabs[index];
  const panel = state.panels[index];
  try {
    await tab.mount(panel, state.context);
    for (const extend of extensions.get(tab.id) ?? []) await extend(panel, state.context);
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
function selectTab(index, { focus = false } = {}) {
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

// The id of the tab shown now, if a chart is drawn (to draw it again on the same tab).
export function selectedTab() {
  return current ? current.tabs[current.selected]?.id : undefined;
}

// Draw the chart of `context` (the app's view context): the tab list, one panel per tab, tab
// `tab` shown (the first when absent or not there). `heading` titles it; `shown(tab)` picks the
// tabs (the clinic app shows a role only what it may read).
export function renderChart(context, { heading = "Chart", shown = () => true, tab } = {}) {
  const tabs = tabsOf(shown);
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
  current = { context, tabs, buttons, panels: panelNodes, mounted: new Set(), selected: 0 };
  allRecordsRows(context.chart);
  $("chart-heading").textContent = heading;
  $("chart").hidden = false;
  const first = selectTab(Math.max(0, tabs.findIndex((t) => t.id === tab)));
  $("chart-heading").focus();
  return first;
}

export function clearChart() {
  // Panels hold decrypted records: drop them all, not just hide them.
  current = null;
  // The heading names the patient.
  $("chart-heading").textContent = "";
  $("chart-tabs").replaceChildren();
  $("chart-rows").replaceChildren();
  $("chart-caption").textContent = "";
  const all = $("panel-all");
  $("chart-panels").replaceChildren(all);
  all.hidden = true;
  $("chart").hidden = true;
}
