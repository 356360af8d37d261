// Sharing through the FHIR gateway (DESIGN.md §12; issue 21's consent): under a patient's
// Details, a clinician records her consent to share her chart with an outside facility (its
// FHIR client id), until a date or with no end, or withdraws it. Each is planned by
// ehr_client::practice in WebAssembly (the Consent, then the chart key wrapped to the gateway
// or rotated away from it) and published in order (admin.js's carryOut). What she shares now is
// the core's rule (sharingState: her newest consent, hers or the practice's record of one).
// DOM text through textContent only.
import { sharingState } from "/assets/ehr_web_wasm.js";
import { el } from "/chart-view.js";
import { kind } from "/protocol.js";
import { field } from "/writing.js";
import { chartJson, today } from "/orders-common.js";
import { carryOut } from "/admin.js";
import { mountEmergencyAccess } from "/emergency-access.js";

function mountSharing(panel, context) {
  if (!context.member.writes.includes(kind("consent"))) return;
  const state = JSON.parse(sharingState(chartJson(context)));
  const section = el("section", { className: "entry sharing", attrs: { "aria-labelledby": "sharing-heading" } },
    el("h4", { id: "sharing-heading", text: "Sharing with outside facilities (FHIR gateway)" }),
    el("p", { className: "sharing-state", text: state.sharing
      ? `Shares her chart with: ${state.facilities.join(", ")}.`
      : "Does not share her chart with outside facilities." }));
  panel.append(section);
  if (!context.signer.key) {
    section.append(el("p", { className: "help", text: "Recording a consent signs several events: log in with your key file or a passkey to do it here." }));
    return;
  }
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const run = async (operation, done) => {
    alert.textContent = "";
    try {
      await carryOut(context, operation, status);
      status.textContent = done;
      await context.reload?.();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not recorded: ${error?.message ?? error}`;
    }
  };
  const patient = context.patient.patient;
  if (state.sharing) {
    const withdraw = el("button", { type: "button", text: "Record her withdrawal" });
    withdraw.addEventListener("click", () => run({ op: "withdraw-consent", patient }, "Withdrawal recorded; the gateway stops serving her chart."));
    section.append(withdraw, status, alert);
    return;
  }
  const [facilityField, facility] = field("Facility's FHIR client id", { name: "facility", autocomplete: "off", required: true });
  const [untilField, until] = field("Until (optional)", { name: "until", type: "date" });
  const form = el("form", { className: "record-form" }, facilityField, untilField, alert,
    el("button", { type: "submit", text: "Record her consent" }), status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run({ op: "grant-consent", patient, facilities: [facility.value.trim()], date: today(), until: until.value || null },
      "Consent recorded; the gateway serves her chart to that facility.");
  });
  section.append(form);
}

// `register({ extendTab })`: under the Details tab, sharing then emergency access (a separate
// decision: emergency-access.js).
export function register({ extendTab }) {
  extendTab("details", mountSharing);
  extendTab("details", mountEmergencyAccess);
}
