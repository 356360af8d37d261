// The Documents tab (DESIGN.md §11): the chart's DocumentReferences. Files held encrypted on
// the practice's Blossom server are downloaded and decrypted in this browser.
import { conceptText, day, el, empty, newestFirst, resources, table } from "/chart-view.js";

function title(d) {
  return d.content?.[0]?.attachment?.title ?? d.description ?? conceptText(d.type) ?? "Document";
}

function size(bytes) {
  if (typeof bytes !== "number") return "";
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${Math.round(bytes / 1024)} KB` : `${Math.round(bytes / 104857.6) / 10} MB`;
}

export function mountDocuments(panel, { chart }) {
  const documents = newestFirst(resources(chart, "DocumentReference"), (d) => day(d.date));
  panel.append(el("h3", { text: "Documents" }));
  if (documents.length === 0) return panel.append(empty("No documents."));
  panel.append(table("Documents, newest first", ["Document", "Date", "Type", "Size"],
    documents.map((d) => {
      const attachment = d.content?.[0]?.attachment ?? {};
      return { resource: d, cells: [title(d), day(d.date ?? attachment.creation), attachment.contentType ?? "", size(attachment.size)] };
    })));
}
