// Emergency access (break-glass) on the Sharing tab (DESIGN.md §11, §15): she opts in by
// signing a Consent whose purpose is emergency treatment (ETREAT), and withdraws by signing
// its next version. The consent is built by ehr-client's core (Consent::emergency_access) and
// her current decision is the core's (Chart::newest_emergency_consent); this file draws it.
import { consentWithdrawal, emergencyOptIn, emergencyState } from "/assets/ehr_web_wasm.js";
import { el } from "/dom.js";
import { publishResource } from "/records.js";

const now = () => Math.floor(Date.now() / 1000);

export function mountEmergency(panel, context) {
  if (context.ward) return;
  const state = JSON.parse(emergencyState(JSON.stringify(context.chart), now()));
  const section = el("section", { className: "emergency-consent", attrs: { "aria-labelledby": "emergency-heading" } });
  const stateText = el("p", { className: "emergency-state", id: "emergency-state", text: state.optedIn
    ? "You allow emergency access to your summary."
    : "You do not allow emergency access: an emergency team can see your summary only through a link you gave them." });
  section.append(
    el("h2", { id: "emergency-heading", text: "Emergency access" }),
    stateText,
    el("p", { text: "If you allow it, once your practice records your decision, a hospital or emergency service that your practice has registered for emergencies may get your health summary (allergies, medicines, problems, immunizations, recent results) without asking you first, for example when you cannot answer. It must state why it needs it. You are told at once: the access appears in your Access log and you get a Nostr message. It gets your summary only, not the rest of your chart." }),
    el("p", { text: "You can withdraw at any time; from then on the answer is no." }),
  );
  const button = el("button", { type: "button", text: state.optedIn ? "Withdraw emergency access" : "Allow emergency access to my summary" });
  const status = el("p", { attrs: { role: "status" }, className: "form-status", id: "emergency-status" });
  const alert = el("p", { attrs: { role: "alert" }, className: "form-error", id: "emergency-error" });
  button.addEventListener("click", async () => {
    alert.textContent = "";
    status.textContent = "Signing and sending…";
    button.disabled = true;
    try {
      // The newest decision wins by event time, then version: a new opt-in signed in the same
      // second as the withdrawal it follows would lose to it, so it waits for the next second.
      while (state.recorded && now() <= state.recorded) await new Promise((r) => setTimeout(r, 250));
      const resource = state.optedIn
        ? consentWithdrawal(JSON.stringify(state.consent))
        : emergencyOptIn(JSON.stringify(context.chart), new Date().toISOString().slice(0, 10));
      await publishResource(context, resource);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not sent: ${error?.message ?? error}`;
      button.disabled = false;
      return;
    }
    status.textContent = state.optedIn ? "Emergency access withdrawn." : "Emergency access allowed; it counts once your practice records it.";
    try {
      await context.reload?.();
    } catch (error) {
      alert.textContent = `Sent, but your chart could not be reloaded: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
    const root = document.documentElement;
    root.dataset.recordsWritten = String(Number(root.dataset.recordsWritten ?? 0) + 1);
  });
  section.append(el("p", {}, button), status, alert);
  panel.append(section);
}
