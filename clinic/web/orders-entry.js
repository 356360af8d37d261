// The clinic app's problems, medications (with the allergy alert), allergies, immunizations
// (with the forecast), and orders with their results (DESIGN.md §12): forms under the chart's
// built-in read views, shown only to roles that write the kind. Each form's resource is built
// and validated by the core (WebAssembly), signed by the member's own key and published
// (writing.js); a change to a record is its next version, never an edit.
import { mountProblems, mountAllergies } from "/orders-problems.js";
import { mountMedications } from "/orders-medications.js";
import { mountDueImmunizations, mountImmunizations } from "/orders-immunizations.js";
import { mountOrders } from "/orders-labs.js";

// `register({ registerTab, extendTab })`: the forms go under the built-in tabs.
export function register({ extendTab }) {
  extendTab("summary", mountDueImmunizations);
  extendTab("problems", mountProblems);
  extendTab("medications", mountMedications);
  extendTab("allergies", mountAllergies);
  extendTab("immunizations", mountImmunizations);
  extendTab("orders", mountOrders);
}
