// Emergency (break-glass) access, under a patient's Details beside her sharing consent
// (DESIGN.md §12; issue 23): her decision as the core reads it (MemberSession.emergencyAccess:
// Chart::newest_emergency_consent), the practice's record of her opt-in or withdrawal
// (HeldKey.planPractice "emergency-opt-in" | "emergency-withdraw": ehr_client::practice, the ETREAT Consent, then her chart keys
// wrapped to the FHIR gateway or rotated away), and her own decision from the portal, which the
// practice records by maintaining (planPractice "maintain": rotation::record_patient_consents).
// Plans are published in order as sharing consents are (admin.js). DOM text via textContent.
import { day, el } from "/chart-view.js";
import { filter, kind } from "/protocol.js";
import { carryOut, publishPlan } from "/admin.js";

const nowSeconds = () => Math.floor(Date.now() / 1000);

// When a decision was made: the consent's own date, else when it was written.
const dateOf = (decision) => day(decision?.date) || new Date(decision.at * 1000).toLocaleDateString("en-CA");

// Plan `operation` ({op: "emergency-opt-in" | "emergency-withdraw", patient, date?}) from what
// the relay holds now and publish it, as admin.js's carryOut does for the practice's other
// operations.
async function carryOutEmergency(context, operation, status) {
  const events = await (await context.relay()).fetchAll(filter("administration"));
  const plan = JSON.parse(context.signer.key.planPractice(context.connection.practice,
    JSON.stringify(events), JSON.stringify(operation), nowSeconds()));
  await publishPlan(context.relay, plan, status);
}

// The state line and, when her own decision waits to be recorded, what it was.
function describe(state) {
  const current = state.current;
  if (current?.reportedByPatient) {
    const recorded = state.recorded?.optIn ? `Recorded by the practice: opted in since ${dateOf(state.recorded)}.`
      : "Recorded by the practice: not opted in.";
    return {
      line: recorded,
      pending: current.optIn
        ? `She opted in herself in the patient portal on ${dateOf(current)}. The practice has not recorded it yet: until it does, no emergency facility can get her summary.`
        : `She withdrew her opt-in herself in the patient portal on ${dateOf(current)}. The practice has not recorded it yet: record it so that the gateway stops reading her chart.`,
    };
  }
  if (state.optedIn) return { line: `Opted in since ${dateOf(current)}.` };
  if (current) return { line: `Not opted in (withdrawn on ${new Date(current.at * 1000).toLocaleDateString("en-CA")}).` };
  return { line: "Not opted in." };
}

function button(text, label) {
  return el("button", { type: "button", text, attrs: { "aria-label": label } });
}

export function mountEmergencyAccess(panel, context) {
  if (!context.member.writes.includes(kind("consent"))) return;
  const section = el("section", { className: "entry emergency-access", attrs: { "aria-labelledby": "emergency-heading" } },
    el("h4", { id: "emergency-heading", text: "Emergency access (break-glass)" }));
  panel.append(section);
  let state;
  try {
    state = JSON.parse(context.session.emergencyAccess(context.patient.patient, JSON.stringify(context.events), nowSeconds()));
  } catch (error) {
    section.append(el("p", { role: "alert", className: "form-error", text: `Her decision could not be read: ${error?.message ?? error}` }));
    return;
  }
  const { line, pending } = describe(state);
  section.append(...[
    el("p", { className: "emergency-state", text: line }),
    pending ? el("p", { className: "emergency-pending", text: pending }) : null,
  ].filter(Boolean), el("p", { className: "help", text: "Opted in, she lets a facility the practice registered for emergencies get her patient summary (allergies, medicines, problems) without naming it in advance: the facility must give a reason, and she is told each time." }));
  if (!context.signer.key) {
    section.append(el("p", { className: "help", text: "Recording her decision signs several events: log in with your key file or a passkey to do it here." }));
    return;
  }
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const actions = el("div", { className: "emergency-actions" });
  const run = async (target, work, done) => {
    alert.textContent = "";
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await work();
      status.textContent = done;
      await context.reload?.();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not recorded: ${error?.message ?? error}`;
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
      target.focus();
    }
  };
  const patient = context.patient.patient;
  if (pending) {
    const record = state.current.optIn
      ? button("Record her opt-in", "Record her own opt-in to emergency access")
      : button("Record her withdrawal", "Record her own withdrawal from emergency access");
    record.addEventListener("click", () => run(record, () => carryOut(context, { op: "maintain" }, status),
      "Her decision is recorded."));
    actions.append(record);
  } else if (state.optedIn) {
    const withdraw = button("Withdraw opt-in", "Withdraw opt-in to emergency access");
    withdraw.addEventListener("click", () => run(withdraw,
      () => carryOutEmergency(context, { op: "emergency-withdraw", patient }, status),
      "Withdrawal recorded: no emergency facility can get her summary now."));
    actions.append(withdraw);
  } else {
    const optIn = button("Record opt-in", "Record opt-in to emergency access");
    optIn.addEventListener("click", () => run(optIn,
      () => carryOutEmergency(context, { op: "emergency-opt-in", patient, date: new Date().toLocaleDateString("en-CA") }, status),
      "Opt-in recorded: a registered emergency facility may now get her summary."));
    actions.append(optIn);
  }
  section.append(actions, status, alert);
}
