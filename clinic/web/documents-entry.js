// The clinic app's document upload (DESIGN.md §12, §4): under the Documents tab, any file is
// encrypted here in WebAssembly under a new key, uploaded as ciphertext to the practice's
// Blossom server with a BUD-11 token the member signs, and recorded as a DocumentReference
// whose key travels only inside the record's encryption. DOM text through textContent only.
import { SealedUpload, blossomAuthorization } from "/assets/ehr_web_wasm.js";
import { el } from "/chart-view.js";
import { field, recordForm } from "/writing.js";
import { kind } from "/protocol.js";


// Put the sealed file on the Blossom server at `server`; the URL the server answers with.
async function upload(context, sealed, server) {
  const template = JSON.parse(sealed.uploadTemplate(context.signer.publicKey, server, Date.now() / 1000));
  const token = await context.signer.signEvent(template);
  const response = await fetch(`${server.replace(/\/$/, "")}/upload`, {
    method: "PUT",
    headers: {
      authorization: blossomAuthorization(JSON.stringify(token)),
      "x-sha-256": sealed.sha256(),
      "content-type": "application/octet-stream",
    },
    body: sealed.blob(),
  });
  if (!response.ok) {
    const reason = response.headers.get("x-reason") ?? `HTTP ${response.status}`;
    throw new Error(`the document server refused the file (${reason})`);
  }
  const descriptor = await response.json();
  return descriptor.url;
}

function mountUpload(panel, context) {
  if (!context.member.writes.includes(kind("document"))) return;
  const server = context.connection.blossom;
  panel.append(el("h3", { text: "Add a document" }));
  if (!server) {
    panel.append(el("p", { className: "empty", text: "The practice's connection string names no document server." }));
    return;
  }
  const [fileField, file] = field("File", { type: "file", name: "document", required: true });
  const [titleField, title] = field("Title", { name: "title", autocomplete: "off" });
  file.addEventListener("change", () => {
    if (!title.value && file.files[0]) title.value = file.files[0].name;
  });
  // The upload happens before the record is built: the record names the stored blob.
  let prepared = null;
  const form = recordForm(context, {
    label: "Encrypt, upload and record",
    fields: [fileField, titleField,
      el("p", { className: "help", text: "The file is encrypted in this browser; the server stores only ciphertext." })],
    build: () => {
      if (!prepared) throw new Error("Choose a file first.");
      return prepared;
    },
    done: "Document recorded.",
  });
  // Seal and upload on submit, then let recordForm sign and publish the record.
  form.addEventListener("submit", async (submit) => {
    if (prepared || !file.files[0]) return;
    submit.preventDefault();
    submit.stopImmediatePropagation();
    const status = form.querySelector(".form-status");
    const alert = form.querySelector(".form-error");
    alert.textContent = "";
    status.textContent = "Encrypting and uploading…";
    const chosen = file.files[0];
    let sealed;
    try {
      sealed = new SealedUpload(new Uint8Array(await chosen.arrayBuffer()));
      const url = await upload(context, sealed, server);
      prepared = sealed.document(JSON.stringify(context.chart), url,
        chosen.type || "application/octet-stream", title.value || chosen.name, new Date().toISOString());
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not uploaded: ${error?.message ?? error}`;
      return;
    } finally {
      sealed?.free();
    }
    form.requestSubmit();
  }, { capture: true });
  panel.append(form);
}

export function register({ extendTab }) {
  extendTab("documents", mountUpload);
}
