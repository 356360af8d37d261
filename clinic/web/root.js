// Adding or removing an administrator (issue 21): only the practice's root key may, and it stays
// offline. This opens the root's NIP-49 key file (ncryptsec) in WebAssembly for one change,
// checks that it is this practice's root, has ehr_client::practice plan the change as the root,
// publishes the plan, and frees (zeroes) the key at once, whatever happened. The key never
// enters the page's storage, and the file and password fields are cleared.
import { el } from "/dom.js";
import { field } from "/writing.js";
import { choice } from "/orders-common.js";
import { HeldKey } from "/assets/ehr_web_wasm.js";

const EXPLANATION = "The root key is the practice's master key: it alone names the administrators. "
  + "Keep it offline (its encrypted file on a USB stick in a safe), and open it here only for this, "
  + "on a computer you trust. It is opened in this page's memory for this one change and dropped "
  + "at once; it is never saved. A strongly protected file can take a minute to open.";

// The root key from the file or pasted text and its password, checked to be `root` (hex).
async function openRootKey(file, pasted, password, root) {
  const secret = (file ? await file.text() : pasted).trim();
  if (!secret.startsWith("ncryptsec1")) throw new Error("choose the root key's encrypted file (an ncryptsec)");
  const key = HeldKey.unlock(secret, password);
  if (key.publicKey() !== root) {
    key.free();
    throw new Error("this is not this practice's root key");
  }
  return key;
}

// The root's part of the staff screen: add an administrator, or remove one of `roster`'s.
// `run(operation, done, key)` is admin.js's: it plans with `key`, publishes, and reloads.
export function rootOperations(practice, roster, run) {
  const admins = roster.filter((m) => m.role === "admin" && m.active && m.pubkey !== practice.member.pubkey);
  const [fileField, file] = field("Root key file (ncryptsec)", { name: "root-file", type: "file" });
  const [pasteField, pasted] = field("Or paste the root key (ncryptsec)", { name: "root-ncryptsec", autocomplete: "off", spellcheck: false });
  const [passwordField, password] = field("Root key password", { name: "root-password", type: "password", autocomplete: "off", required: true });
  const [whatField, what] = choice("Change", [
    { value: "add", label: "Add an administrator" },
    ...(admins.length ? [{ value: "remove", label: "Remove an administrator" }] : []),
  ], { name: "root-change" });
  const [npubField, npub] = field("The new administrator's public key (npub)", { name: "root-npub", autocomplete: "off", spellcheck: false });
  const [nameField, name] = field("The new administrator's name", { name: "root-name", autocomplete: "off" });
  const [whoField, who] = choice("Administrator to remove", admins.map((m) => ({ value: m.pubkey, label: m.name ?? `${m.npub.slice(0, 16)}…` })), { name: "root-remove" });
  whoField.hidden = true;
  what.addEventListener("change", () => {
    const adding = what.value === "add";
    npubField.hidden = !adding;
    nameField.hidden = !adding;
    whoField.hidden = adding;
  });
  const alert = el("p", { role: "alert", className: "form-error" });
  const button = el("button", { type: "submit", text: "Sign with the root key" });
  const form = el("form", { className: "record-form" }, fileField, pasteField, passwordField, whatField, npubField, nameField, whoField, button, alert);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    button.disabled = true;
    let key = null;
    try {
      key = await openRootKey(file.files?.[0], pasted.value, password.value, practice.connection.practice);
      const adding = what.value === "add";
      const removed = admins.find((m) => m.pubkey === who.value);
      const operation = adding
        ? { op: "add-member", pubkey: npub.value.trim(), role: "admin", name: name.value.trim() || null }
        : { op: "revoke-member", pubkey: who.value };
      const done = adding ? `${operation.name ?? "The new administrator"} was added as an administrator.`
        : `${removed?.name ?? "The administrator"} is no longer an administrator; every chart key was rotated.`;
      await run(operation, done, key);
    } catch (error) {
      alert.textContent = `Not done: ${error?.message ?? error}`;
    } finally {
      key?.free();
      form.reset();
      button.disabled = false;
    }
  });
  return el("details", { className: "root-operations" },
    el("summary", { text: "Add or remove an administrator (needs the practice's root key)" }),
    el("p", { className: "help", text: EXPLANATION }),
    form,
    el("p", { className: "help", text: "Without a browser, `ehr staff add|revoke` on the root's offline machine does the same." }));
}
