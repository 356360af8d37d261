// "Share with a new practice" (DESIGN.md §11): the patient re-encrypts her folded chart for
// another practice and publishes it on that practice's relay as shared-records parts (kind
// 2108), which its staff import with `ehr import shared`. Splitting, the new practice's roster
// check, the event layout and the check of what the signer returns are ehr-client's
// (WebAssembly); the signer encrypts and signs.
import { sealSharedPart, sharePlan } from "/assets/ehr_web_wasm.js";
import { el } from "/dom.js";
import { filter } from "/protocol.js";
import { connectRelay } from "/relay.js";
import { verifiedConnection } from "/practices.js";
import { patientOnly } from "/records.js";

// Two NIP-44 copies of a part fit a relay's usual 128 KiB event limit.
const PART_BYTES = 40000;

// Share `context.chart.bundle` with the practice named by `connectionText`; `report(text)`
// tells the patient how it goes. Resolves to the number of parts published.
async function shareWithPractice(context, connectionText, report) {
  // Only a string the new practice signed: her records never go to a relay a phisher named.
  const target = verifiedConnection(connectionText);
  const { signer } = context;
  report("Connecting to the new practice…");
  let relay;
  try {
    relay = await connectRelay(target.relay, signer, { nip11: false });
    const rosters = await relay.fetchAll(filter("rosters"));
    const plan = JSON.parse(sharePlan(context.connection.practice, target.practice,
      JSON.stringify(rosters), JSON.stringify(context.chart.bundle), crypto.randomUUID(), PART_BYTES));
    let published = 0;
    for (const part of plan.parts) {
      report(`Encrypting and sending part ${published + 1} of ${plan.parts.length}…`);
      const event = JSON.parse(await sealSharedPart(signer, plan.epoch, plan.epoch_pubkey, part,
        Math.floor(Date.now() / 1000)));
      await relay.publish(event);
      published += 1;
    }
    return { parts: published, practice: target.npub };
  } catch (error) {
    // The relay lets in only the keys its practice enrolled.
    if (String(error?.message).includes("restricted:")) {
      throw new Error("the new practice has not enrolled you yet: ask them to add your public key, then share again");
    }
    throw error;
  } finally {
    relay?.close();
  }
}

// The tab (chart.js's registerTab): a connection string field and a button.
export const SHARE_TAB = { id: "share", label: "New practice", mount: patientOnly(mountShare) };

function mountShare(panel, context) {
  const field = el("input", { id: "share-connection", type: "text", autocomplete: "off", spellcheck: false });
  field.setAttribute("aria-describedby", "share-help");
  const status = el("p", { id: "share-status" });
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  const error = el("p", { id: "share-error", className: "error" });
  error.setAttribute("role", "alert");
  const button = el("button", { type: "submit", textContent: "Share my records" });
  const form = el("form", { id: "share-form" },
    el("p", { textContent: "Send a copy of your records to another practice. They are encrypted in this browser so that only that practice's staff and you can read them; messages and consents stay here." }),
    el("div", { className: "field" },
      el("label", { htmlFor: "share-connection", textContent: "The new practice's connection string" }),
      field,
      el("p", { id: "share-help", className: "help", textContent: "Ask the new practice for it, and to enrol your public key first." })),
    button);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      const done = await shareWithPractice(context, field.value, (text) => { status.textContent = text; });
      status.textContent = `Shared your records with the practice ${done.practice} in ${done.parts} encrypted parts. Its staff can now import them.`;
    } catch (failure) {
      status.textContent = "";
      error.textContent = failure?.phishing
        ? `Warning: ${failure.message}`
        : `Could not share your records: ${failure?.message ?? failure}`;
    } finally {
      button.disabled = false;
    }
  });
  panel.replaceChildren(el("h3", { textContent: "Share with a new practice" }), form, status, error);
}
