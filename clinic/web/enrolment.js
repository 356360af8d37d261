// Enrolling a patient (issue 21), for staff who may wrap chart keys: her details, and a new key
// or her own npub. WebAssembly plans it all (HeldKey.enrolPatient: ehr_client::practice, her
// first chart keys and her details record); a new key leaves WebAssembly only as an ncryptsec
// under a password made for her, so the plaintext key is never stored or shown. The page then
// publishes the plan, allows her key on the relay (NIP-86), and shows the handover sheet to
// print: the practice's signed connection string and her ncryptsec, each as a QR code and as
// text. The password is told to her and is not printed. DOM text via textContent; the QR codes
// are SVG elements drawn from the core's module paths (no markup strings).
import { el, qrImage } from "/dom.js";
import { filter } from "/protocol.js";
import { field } from "/writing.js";
import { choice } from "/orders-common.js";
import { publishPlan, relayCall } from "/admin.js";


// One step of the sheet: its heading, what to do, the QR code and the same text to type.
function sheetStep(className, heading, help, qr, text) {
  return el("section", { className: `handover-step ${className}` },
    el("h4", { text: heading }),
    el("p", { text: help }),
    qrImage(qr, heading),
    el("p", { className: "handover-text" }, el("code", { text })));
}

// The handover sheet for `name`, enrolled at `practiceName`.
function handoverSheet(handover, name, practiceName) {
  const today = new Date().toISOString().slice(0, 10);
  return el("article", { className: "handover-sheet", attrs: { id: "handover-sheet", "aria-label": "Handover sheet" } },
    el("header", {},
      el("h3", { text: practiceName }),
      el("p", { className: "handover-title", text: `Your patient portal key: ${name}` }),
      el("p", { text: `Given to you on ${today}.` })),
    el("ol", { className: "handover-instructions" },
      el("li", { text: "Open your practice's patient portal in your phone's or computer's browser (the address is on the practice's website, or ask the front desk)." }),
      el("li", { text: "Scan or paste the practice connection below into \"Practice connection string\"." }),
      el("li", { text: "Scan or paste your key below into \"Your secret key\", then type the password the practice told you." })),
    el("div", { className: "handover-steps" },
      sheetStep("handover-connection", "1. The practice connection", "This says which practice and server to use; it is signed by the practice.",
        handover.connection_qr, handover.connection),
      sheetStep("handover-key", "2. Your key (encrypted)", "Your key, locked with your password. The password is not on this sheet.",
        handover.ncryptsec_qr, handover.ncryptsec)),
    el("p", { className: "handover-warning", text: "Keep this sheet somewhere safe and keep the password apart from it: whoever has both can read your records. If you lose either, ask the practice for a new key. The practice does not keep a copy of your key." }));
}

// The form's details, as the core's details form reads them.
function detailFields() {
  const input = (label, name, props = {}) => field(label, { name, autocomplete: "off", ...props });
  const fields = {
    given: input("Given names", "enrol-given", { required: true }),
    family: input("Family name", "enrol-family", { required: true }),
    birthDate: input("Date of birth", "enrol-birth-date", { type: "date" }),
    phone: input("Phone", "enrol-phone", { type: "tel" }),
    email: input("Email", "enrol-email", { type: "email" }),
  };
  const [sexField, sex] = choice("Sex (administrative)", [["female", "female"], ["male", "male"], ["other", "other"], ["unknown", "unknown"]]
    .map(([value, label]) => ({ value, label })), { blank: "(not recorded)", name: "enrol-gender" });
  const wrappers = [...Object.values(fields).map(([wrapper]) => wrapper), sexField];
  const read = () => ({
    ...Object.fromEntries(Object.entries(fields).map(([key, [, control]]) => [key, control.value])),
    gender: sex.value,
  });
  return { wrappers, read, given: fields.given[1], family: fields.family[1] };
}

// The enrolment section for `practice` (the open practice of app.js); `reopen(message)` loads
// the practice again (her name joins the patient list) once the sheet is done with.
export async function enrolmentSection(practice, reopen) {
  const section = el("section", { className: "enrolment", attrs: { "aria-labelledby": "enrolment-heading" } },
    el("h3", { id: "enrolment-heading", text: "Enrol a patient" }));
  const key = practice.signer.key;
  if (!key || !practice.member.wrapsKeys) {
    section.append(el("p", { className: "empty", text: key
      ? "Your role does not enrol patients: an admin, doctor, nurse or medical assistant does."
      : "Enrolment signs several events at once: log in with your key file or a passkey to use it." }));
    return section;
  }
  const details = detailFields();
  const [ownField, ownKey] = choice("Her key", [
    { value: "new", label: "A new key, with a handover sheet to print" },
    { value: "own", label: "Her own key (she brings an npub)" },
  ], { name: "enrol-key" });
  const [npubField, npub] = field("Her public key (npub)", { name: "enrol-npub", autocomplete: "off", spellcheck: false });
  npubField.hidden = true;
  ownKey.addEventListener("change", () => { npubField.hidden = ownKey.value !== "own"; npub.required = !npubField.hidden; });
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const button = el("button", { type: "submit", text: "Enrol" });
  const form = el("form", { className: "record-form" }, ...details.wrappers, ownField, npubField, button, status, alert);
  const result = el("div", { className: "enrolment-result" });
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    button.disabled = true;
    const name = `${details.given.value.trim()} ${details.family.value.trim()}`;
    try {
      status.textContent = ownKey.value === "own" ? "Planning…" : "Making her key and planning…";
      const events = await (await practice.relay()).fetchAll(filter("administration"));
      const planned = JSON.parse(key.enrolPatient(practice.connection.practice, practice.connection.connection,
        JSON.stringify(events), JSON.stringify({ details: details.read(), npub: ownKey.value === "own" ? npub.value.trim() : "" }),
        Math.floor(Date.now() / 1000)));
      await publishPlan(practice.relay, planned.events, status);
      status.textContent = "Allowing her key on the relay…";
      await relayCall(practice, "allowpubkey", [planned.patient]);
      status.textContent = `${name} was enrolled.`;
      form.reset();
      npubField.hidden = true;
      showResult(planned, name);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not enrolled: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
  });
  // What the enrolment gave: the sheet and the password (a new key), or her npub (her own).
  const showResult = (planned, name) => {
    const done = el("button", { type: "button", text: "Done: update the patient list" });
    done.addEventListener("click", () => { result.replaceChildren(); reopen(`${name} was enrolled.`); });
    if (!planned.handover) {
      result.replaceChildren(el("p", { text: `${name} is enrolled with her own key ${planned.npub.slice(0, 20)}…` }), done);
      done.focus();
      return;
    }
    const print = el("button", { type: "button", text: "Print the handover sheet" });
    print.addEventListener("click", () => window.print());
    result.replaceChildren(
      el("div", { className: "handover-password no-print", attrs: { role: "note" } },
        el("p", { text: "Tell her this password now, by voice or on a separate slip. It is shown only here and is not on the sheet:" }),
        el("p", { className: "password" }, el("code", { text: planned.handover.password }))),
      el("p", { className: "no-print" }, print, " ", done),
      handoverSheet(planned.handover, name, practice.connection.name ?? "Your practice"));
    print.focus();
  };
  section.append(
    el("p", { className: "help", text: "Registers her details and gives her a chart the practice can write in. With a new key, print the handover sheet for her and tell her its password; the practice keeps no copy of her key." }),
    form, result);
  return section;
}
