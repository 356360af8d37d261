// What the app asks relays for, by name (DESIGN.md §11). The kind numbers come from
// ehr-client's core (WebAssembly `filters()`), so none is written down in JavaScript.
import { filters } from "/assets/ehr_portal_wasm.js";

let named = null;

// The filter `name` (rosters, chart, audit, guardianship, patient, signer), about `patients`
// (their hex keys, `#p`) when given.
export function filter(name, patients) {
  named ??= JSON.parse(filters());
  const base = { ...named[name] };
  return patients ? { ...base, "#p": patients } : base;
}

// The rosters among `events`.
export function rostersOf(events) {
  const [kind] = filter("rosters").kinds;
  return (events ?? []).filter((e) => e.kind === kind);
}
