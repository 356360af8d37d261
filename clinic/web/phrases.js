// The practice's own dot-phrases (DESIGN.md §12; ehr_client::phrases, kind 2122): fetched
// with the `phrases` filter and opened by the member session (they are sealed to the clinical
// epoch, so only clinical roles read them), defined or retired by a member who writes notes.
// A definition is a new event; the newest of a name counts. DOM text through textContent only.
import { el, empty } from "/chart-view.js";
import { field } from "/writing.js";
import { filter } from "/protocol.js";

// The practice's phrases as the member reads them: [{name, text, author, updated_at}].
export async function loadPracticePhrases(context) {
  const events = await (await context.relay()).fetchAll(filter("phrases"));
  return JSON.parse(context.session.practicePhrases(JSON.stringify(events)));
}

// Sign (through the login's signer when the key is not held here) and publish a definition.
async function publishPhrase(context, definition) {
  const signed = await context.session.signPhrase(JSON.stringify(definition),
    Math.floor(Date.now() / 1000), context.signer);
  await (await context.relay()).publish(JSON.parse(signed));
}

// The practice's phrase book: each phrase with a Retire button, and a form to define one (a
// name already defined gets the new text). `changed()` runs after a write (it redraws).
export function phraseBook(context, phrases, changed) {
  const box = el("details", { className: "phrase-book" },
    el("summary", { text: `Practice dot-phrases (${phrases.length})` }));
  const alert = el("p", { role: "alert", className: "form-error" });
  const status = el("p", { role: "status", className: "form-status" });
  const run = async (definition, done) => {
    alert.textContent = "";
    status.textContent = "Signing and sending…";
    try {
      await publishPhrase(context, definition);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not saved: ${error?.message ?? error}`;
      return;
    }
    status.textContent = done;
    await changed();
  };
  if (phrases.length === 0) {
    box.append(empty("The practice has no phrases of its own yet."));
  } else {
    const list = el("ul", { className: "phrases" });
    for (const phrase of phrases) {
      const retire = el("button", { type: "button", text: "Retire", attrs: { "aria-label": `Retire .${phrase.name}` } });
      retire.addEventListener("click", () => run({ name: phrase.name, retired: true }, `.${phrase.name} retired.`));
      list.append(el("li", {}, el("code", { text: `.${phrase.name}` }), ` ${phrase.text} `, retire));
    }
    box.append(list);
  }
  const [nameField, name] = field("Phrase name (letters after the dot)",
    { name: "phrase-name", autocomplete: "off", required: true });
  const [textField, text] = field("Text it becomes", { name: "phrase-text", rows: 3, required: true }, "textarea");
  const button = el("button", { type: "submit", text: "Save phrase for the practice" });
  const form = el("form", { className: "phrase-form" }, nameField, textField, alert, button, status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = name.value.trim().replace(/^\./, "");
    run({ name: chosen, text: text.value }, `.${chosen} saved for the practice.`);
  });
  box.append(form);
  return box;
}
