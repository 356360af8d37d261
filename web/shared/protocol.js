// What the app asks relays for, by name (DESIGN.md §11). The kind numbers and the tag names
// come from ehr-client's core (WebAssembly `filter()`), so none is written down in JavaScript.
import { clinicalKinds, filter as coreFilter, scheduleFilters } from "/assets/ehr_web_wasm.js";

let kinds = null;

// The number of the clinical kind `name` ("document", "message", ...; ClinicalKind::name).
export function kind(name) {
  kinds ??= JSON.parse(clinicalKinds());
  if (!(name in kinds)) throw new Error(`no clinical kind named ${name}`);
  return kinds[name];
}

// The filter `name` (rosters, chart, audit, guardianship, patient, signer, keys,
// patient-list), about `patients`
// (their keys) when given.
export function filter(name, patients) {
  return JSON.parse(coreFilter(name, patients ? JSON.stringify(patients) : undefined));
}

// The rosters among `events`.
export function rostersOf(events) {
  const [kind] = filter("rosters").kinds;
  return (events ?? []).filter((e) => e.kind === kind);
}

// What booking reads for the days `from`..`to` (seconds) from `relay`: the rosters, the
// schedules and those days' slot holds (by their day tags; not a year of holds).
export async function fetchSchedule(relay, from, to) {
  const parts = await Promise.all(JSON.parse(scheduleFilters(from, to)).map((f) => relay.fetchAll(f)));
  return parts.flat();
}
