// The Documents tab (DESIGN.md §11): the chart's DocumentReferences. A file held encrypted on
// the practice's Blossom server is fetched with a BUD-11 token the patient's signer signs and
// decrypted in this browser by ehr-client's core (WebAssembly); the server sees ciphertext only.
import { blossomAuthorization, documentRequest, openDocument } from "/assets/ehr_web_wasm.js";
import { conceptText, day, empty, newestFirst, resources, table } from "/chart-view.js";
import { download, el } from "/dom.js";

function title(d) {
  return d.content?.[0]?.attachment?.title ?? d.description ?? conceptText(d.type) ?? "Document";
}

function size(bytes) {
  if (typeof bytes !== "number") return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${Math.round(bytes / 1024)} KB` : `${Math.round(bytes / 104857.6) / 10} MB`;
}

// Fetch, check and decrypt the file of `document`: a Blob of its plaintext.
async function downloadDocument(document, signer) {
  const json = JSON.stringify(document);
  const request = JSON.parse(documentRequest(json, signer.publicKey, Math.floor(Date.now() / 1000)));
  const token = await signer.signEvent(request.template);
  let response;
  try {
    response = await fetch(request.url, {
      headers: { Authorization: blossomAuthorization(JSON.stringify(token)) },
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new Error("the practice's document server could not be reached");
  }
  if (!response.ok) {
    throw new Error(`the practice's document server refused (${response.status} ${response.headers.get("x-reason") ?? ""})`.trim());
  }
  const plain = openDocument(json, new Uint8Array(await response.arrayBuffer()));
  return { blob: new Blob([plain], { type: request.contentType ?? "application/octet-stream" }), title: request.title };
}

function fileName(name, contentType) {
  const base = (name ?? "document").replace(/[^\w .-]+/g, "_").slice(0, 80) || "document";
  const ext = { "application/pdf": ".pdf", "text/plain": ".txt", "image/png": ".png", "image/jpeg": ".jpg" }[contentType];
  return ext && !base.toLowerCase().endsWith(ext) ? `${base}${ext}` : base;
}

function downloadButton(document, signer, status) {
  const button = el("button", { text: "Download", attrs: { type: "button", "aria-label": `Download ${title(document)}` } });
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = `Downloading and decrypting ${title(document)}…`;
    try {
      const { blob } = await downloadDocument(document, signer);
      // The decrypted file stays in this browser only as long as the download needs it.
      download(blob, fileName(title(document), blob.type));
      status.textContent = `${title(document)} was decrypted in this browser (${size(blob.size)}).`;
    } catch (error) {
      status.textContent = `Could not download ${title(document)}: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function mountDocuments(panel, { chart, signer }) {
  const documents = newestFirst(resources(chart, "DocumentReference"), (d) => day(d.date));
  panel.append(el("h3", { text: "Documents" }));
  if (documents.length === 0) return panel.append(empty("No documents."));
  const status = el("p", { className: "document-status", attrs: { role: "status", "aria-live": "polite" } });
  panel.append(table("Documents, newest first", ["Document", "Date", "Type", "Size", "File"],
    documents.map((d) => {
      const attachment = d.content?.[0]?.attachment ?? {};
      const file = attachment.url && signer ? downloadButton(d, signer, status) : "";
      return { resource: d, cells: [title(d), day(d.date ?? attachment.creation), attachment.contentType ?? "", size(attachment.size), file] };
    })), status);
}
