// A patient's guardians (DESIGN.md §12; issue 21's guardians): under her Details, a clinical
// role lists the guardians in force, grants a guardianship to a guardian's own key, or ends one.
// A grant is planned by ehr_client::practice (the guardianship record, then her chart keys
// wrapped to the guardian) and the relay is told the key is a guardian (NIP-86 assignrole), so
// it serves the guardian the ward's records; ending rotates her keys away from the guardian.
// DOM text through textContent only.
import { el } from "/chart-view.js";
import { filter } from "/protocol.js";
import { field } from "/writing.js";
import { carryOut, relayCall } from "/admin.js";

async function mountGuardians(panel, context) {
  // The core says whether the role wraps chart keys, and so grants guardianships.
  if (!context.member.wrapsKeys) return;
  const ward = context.patient.patient;
  const section = el("section", { className: "entry guardians", attrs: { "aria-labelledby": "guardians-heading" } },
    el("h4", { id: "guardians-heading", text: "Guardians" }));
  panel.append(section);
  const records = await (await context.relay()).fetchAll(filter("guardianship"));
  const guardians = JSON.parse(context.session.guardians(ward, JSON.stringify(records)));
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const writes = Boolean(context.signer.key);
  const run = async (steps, done) => {
    alert.textContent = "";
    try {
      await steps();
      status.textContent = done;
      await context.reload?.();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not recorded: ${error?.message ?? error}`;
    }
  };
  const list = el("ul", { className: "guardian-list" }, ...guardians.map((guardian) => {
    const item = el("li", {}, el("code", { text: `${guardian.slice(0, 16)}…` }));
    if (writes) {
      const end = el("button", { type: "button", text: "End", attrs: { "aria-label": `End the guardianship of ${guardian.slice(0, 16)}` } });
      end.addEventListener("click", () => run(
        () => carryOut(context, { op: "guardianship", ward, guardian, active: false }, status),
        "Guardianship ended; her chart keys rotate away from that guardian."));
      item.append(" ", end);
    }
    return item;
  }));
  section.append(guardians.length ? list : el("p", { className: "empty", text: "No guardian." }));
  if (!writes) {
    section.append(el("p", { className: "help", text: "Granting a guardianship signs several events: log in with your key file or a passkey to do it here." }));
    return;
  }
  const [keyField, key] = field("Guardian's public key (npub)", { name: "guardian-npub", autocomplete: "off", required: true });
  const form = el("form", { className: "record-form" }, keyField, alert,
    el("button", { type: "submit", text: "Grant guardianship" }), status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const guardian = key.value.trim();
    run(async () => {
      await carryOut(context, { op: "guardianship", ward, guardian, active: true }, status);
      await relayCall(context, "assignrole", [guardian, "guardian"]);
    }, "Guardianship granted: the guardian reads her chart in the portal with their own key.");
  });
  section.append(form);
}

// `register({ extendTab })`: under the Details tab.
export function register({ extendTab }) {
  extendTab("details", mountGuardians);
}
