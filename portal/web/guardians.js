// Guardians (DESIGN.md §11): a guardian switches between her own chart and her wards'. The
// wards and their charts come from ehr-client's core (WebAssembly): the guardian grants (kind
// 2104) wrapped to her key and the guardianships (kind 2106) in force, read as the `ehr` CLI
// reads a chart for anyone but the patient. Needs the key in WebAssembly (nsec, ncryptsec,
// passkey logins); a NIP-07/NIP-46 signer cannot unwrap grants in this browser.
import { selectedTab } from "/chart.js";
import { $ } from "/dom.js";
import { filter, rostersOf } from "/protocol.js";
import { sessionLive, sessionToken } from "/session.js";

// The guardian's own chart context, her wards, and the events that authorise them.
let home = null;
let wards = [];
let guardianEvents = [];

export function resetWards() {
  home = null;
  wards = [];
  guardianEvents = [];
  delete $("chart-switch").dataset.checked;
  $("chart-owner").replaceChildren();
  $("chart-switch").hidden = true;
}

// After her own chart is drawn: look for wards, and offer the switch when there are any.
// `render(context)` draws a chart (app.js drawChart).
export async function offerWards(context, render) {
  if (context === home) {
    $("chart-owner").value = "";
    return;
  }
  resetWards();
  home = context;
  try {
    await findWards(context, render);
  } finally {
    // Whether or not she is a guardian, the page says the look-up is over (tests wait on it).
    if (home === context) $("chart-switch").dataset.checked = "true";
  }
}

async function findWards(context, render) {
  if (!context.signer?.key || !context.connection) return;
  try {
    const relay = await context.relay();
    const found = await relay.fetchAll(filter("guardianship"));
    guardianEvents = [...rostersOf(context.events), ...found];
    if (home !== context) return;
    const practice = context.connection.practice;
    const grants = JSON.parse(context.signer.key.wards(practice, JSON.stringify(guardianEvents)));
    if (grants.length > 0) {
      // Their names are in their Patient records: fetched to label the choice, and the wards
      // read once with them.
      const patients = await relay.fetchAll(filter("patient", grants.map((w) => w.ward)));
      wards = JSON.parse(context.signer.key.wards(practice, JSON.stringify([...guardianEvents, ...patients])));
    }
  } catch {
    // No guardian grants readable: she is no guardian here; her own chart is unaffected.
    return;
  }
  if (wards.length === 0 || home !== context) return;
  const me = document.createElement("option");
  me.value = "";
  me.textContent = "My own chart";
  const options = wards.map((w) => {
    const option = document.createElement("option");
    option.value = w.ward;
    option.textContent = w.name ?? `Ward ${w.ward.slice(0, 8)}…`;
    return option;
  });
  const select = $("chart-owner");
  select.replaceChildren(me, ...options);
  select.value = "";
  select.onchange = () => switchTo(select.value, render);
  $("chart-switch").hidden = false;
}

async function switchTo(ward, render) {
  const context = home;
  if (!context) return;
  if (!ward) return render(context);
  const status = $("status");
  const chosen = wards.find((w) => w.ward === ward);
  status.textContent = `Opening ${chosen?.name ?? "your ward"}'s chart…`;
  const token = sessionToken();
  try {
    const relay = await context.relay();
    // Her chart, and the key events about her: signing for her (a request) needs to know her
    // newest keys are the practice's current ones.
    const [records, wardKeys] = await Promise.all([
      relay.fetchAll(filter("chart", [ward])), relay.fetchAll(filter("keys", [ward]))]);
    // A lock while this was fetched: nothing of the ward's chart is drawn.
    if (!sessionLive(token)) return;
    const chart = JSON.parse(context.signer.key.openWardChart(context.connection.practice, ward,
      JSON.stringify([...guardianEvents, ...records])));
    status.textContent = `You are reading ${chosen?.name ?? "your ward"}'s chart as their guardian.`;
    const wardContext = { ...context, events: [...rostersOf(guardianEvents), ...records], keyEvents: [...guardianEvents, ...wardKeys], chart, ward: chosen };
    // After she writes for the ward (a request), the ward's chart reloads, on the same tab.
    wardContext.reload = async () => {
      const tab = selectedTab();
      await switchTo(ward, (reloaded) => render(reloaded, tab));
    };
    await render(wardContext);
  } catch (error) {
    status.textContent = "";
    $("error").textContent = `Could not open the chart: ${error?.message ?? error}`;
  }
}
