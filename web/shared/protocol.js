// What the app asks relays for, by name (DESIGN.md §11). The kind numbers and the tag names
// come from ehr-client's core (WebAssembly `filter()`), so none is written down in JavaScript.
import { filter as coreFilter } from "/assets/ehr_web_wasm.js";

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
