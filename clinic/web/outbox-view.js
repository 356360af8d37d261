// The outbox on screen (offline.js keeps it): in the header bar, whether the relay is reachable
// and what waits; below it, every event written while offline, each pending, accepted or
// refused with the relay's reason. DOM text via textContent.
import { $, el } from "/dom.js";

const STATUS = { pending: "waiting to send", accepted: "sent: the relay accepted it", refused: "refused" };

// The header's one-line summary of `outbox`.
export function outboxSummary(outbox) {
  const pending = outbox.pending().length;
  const refused = outbox.entries.filter((e) => e.status === "refused").length;
  const sent = outbox.entries.filter((e) => e.status === "accepted").length;
  const parts = [outbox.online ? "Online" : "Offline: working from this device"];
  if (outbox.problem) parts.push(`not sending: ${outbox.problem}`);
  if (pending) parts.push(`${pending} waiting to send`);
  if (refused) parts.push(`${refused} refused`);
  if (sent) parts.push(`${sent} sent`);
  return parts.join(" · ");
}

// Draw `outbox` in the header and its panel; `name(patient)` names a patient.
export function drawOutbox(outbox, name) {
  const summary = $("outbox-summary");
  summary.hidden = false;
  summary.textContent = outboxSummary(outbox);
  summary.classList.toggle("offline", !outbox.online);
  summary.classList.toggle("refused", Boolean(outbox.problem) || outbox.entries.some((e) => e.status === "refused"));
  const panel = $("outbox");
  const rows = outbox.entries.map((entry) => {
    const status = el("td", { className: `outbox-${entry.status}`, text: STATUS[entry.status] });
    if (entry.status === "refused") {
      status.append(`: ${entry.reason}`);
      const dismiss = el("button", { type: "button", text: "Dismiss", attrs: { "aria-label": `Dismiss the refused ${entry.label}` } });
      dismiss.addEventListener("click", () => outbox.dismiss(entry.event.id));
      status.append(" ", dismiss);
    }
    return el("tr", { attrs: { "data-event": entry.event.id } },
      el("th", { scope: "row", text: entry.label }),
      el("td", { text: name(entry.patient) }),
      el("td", { text: new Date(entry.at).toLocaleString() }),
      status);
  });
  const send = el("button", { type: "button", text: "Send now", disabled: !outbox.pending().length });
  send.addEventListener("click", () => outbox.flush());
  const clear = el("button", { type: "button", text: "Clear the sent ones",
    disabled: !outbox.entries.some((e) => e.status === "accepted") });
  clear.addEventListener("click", () => outbox.dismiss());
  panel.replaceChildren(
    el("h2", { text: "Outbox" }),
    el("p", { className: "help", text: "What you wrote while the practice's relay could not be reached. It is kept on this device, encrypted, and sent in order when the relay is back." }),
    rows.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ...["Record", "Patient", "Written", "Status"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows))
      : el("p", { className: "empty", text: "Nothing waiting." }),
    el("p", {}, send, " ", clear));
}

// The summary button opens and closes the panel.
export function initOutboxView() {
  $("outbox-summary").addEventListener("click", () => {
    const panel = $("outbox");
    panel.hidden = !panel.hidden;
    $("outbox-summary").setAttribute("aria-expanded", String(!panel.hidden));
  });
}

// No outbox (logged out): nothing shown.
export function clearOutboxView() {
  $("outbox-summary").hidden = true;
  $("outbox-summary").textContent = "";
  $("outbox").hidden = true;
  $("outbox").replaceChildren();
}
