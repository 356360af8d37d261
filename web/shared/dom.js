// The portal's DOM helpers (DESIGN.md §11), one copy for every module. Text goes through
// textContent only: the CSP requires trusted types for HTML sinks.

export const $ = (id) => document.getElementById(id);

// An element: `text` sets its text, `className` (or `class`) its classes, `attrs` attributes;
// any other key is set as a property (`id`, `type`, `htmlFor`, ...). Children are appended,
// null, undefined and false skipped.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className" || key === "class") node.className = value;
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, v);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// Object URLs of decrypted files offered for download, revoked when the session ends.
const offered = new Set();
document.addEventListener("ehr-session-end", () => {
  for (const url of offered) URL.revokeObjectURL(url);
  offered.clear();
});

// Save `blob` as `name` (a same-origin object URL: nothing leaves the page). The URL lives
// long enough for the browser to start the download, and never past the session.
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  offered.add(url);
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => {
    if (offered.delete(url)) URL.revokeObjectURL(url);
  }, 60000);
}

const SVG = "http://www.w3.org/2000/svg";

// A QR code (`{size, path}` from the core's encoder) as an SVG image named `label`.
export function qrImage(qr, label) {
  const svg = document.createElementNS(SVG, "svg");
  for (const [name, value] of [["viewBox", `0 0 ${qr.size} ${qr.size}`], ["role", "img"],
    ["aria-label", label], ["shape-rendering", "crispEdges"], ["class", "qr"]]) {
    svg.setAttribute(name, value);
  }
  const light = document.createElementNS(SVG, "rect");
  for (const [name, value] of [["width", qr.size], ["height", qr.size], ["fill", "#fff"]]) light.setAttribute(name, value);
  const dark = document.createElementNS(SVG, "path");
  dark.setAttribute("d", qr.path);
  dark.setAttribute("fill", "#000");
  svg.append(light, dark);
  return svg;
}
