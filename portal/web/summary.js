// Her health summary and its SMART Health Links (DESIGN.md §11 "Summary, SMART Health Links
// and emergency access"): the International Patient Summary the core builds from the chart
// this portal folded, drawn as text, downloadable as FHIR JSON and printable; and the links
// that carry it to an emergency team (create, list, show again, revoke; a "latest" link is
// re-encrypted with the current summary when this tab opens and the chart changed since).
import { patientSummary, shlNewLink, shlRefresh } from "/assets/ehr_web_wasm.js";
import { download, el } from "/dom.js";
import { renderSummary } from "/ips.js";
import {
  createdLink, linkApi, linkCall, linkCard, linkList, linkState, reopenLink,
} from "/links.js";

const now = () => Math.floor(Date.now() / 1000);
const DAY = 24 * 60 * 60;
const EXPIRIES = [
  { value: String(DAY), text: "1 day" },
  { value: String(7 * DAY), text: "1 week" },
  { value: String(30 * DAY), text: "1 month" },
  { value: String(365 * DAY), text: "1 year" },
  { value: "", text: "No expiry (until I revoke it)" },
];

let ids = 0;
const uid = (name) => `${name}-${++ids}`;

function labelled(label, input, help) {
  const helpNode = help ? el("p", { className: "help", id: uid("help"), text: help }) : null;
  if (helpNode) input.setAttribute("aria-describedby", helpNode.id);
  return el("div", { className: "field" }, el("label", { htmlFor: input.id, text: label }), input, helpNode);
}

// Her name as the Patient record of her chart says it.
function patientName(chart) {
  const patient = chart.bundle.entry.map((e) => e.resource).find((r) => r.resourceType === "Patient");
  const name = patient?.name?.[0];
  return name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(" ");
}

// The newest practice-written record of her chart (Unix seconds): a "latest" link whose file
// is older is re-encrypted. Her own entries are not in the summary, so they do not count.
function newestRecord(chart) {
  return Math.max(0, ...(chart.entries ?? []).filter((e) => !e.patient_reported).map((e) => e.updated_at ?? 0));
}

export const SUMMARY_TAB = {
  id: "ips",
  label: "Emergency summary",
  mount: (panel, context) => (context.ward
    ? panel.append(el("p", { className: "empty", text: "This part is for the patient herself: it is not shown for a ward's chart." }))
    : mountSummary(panel, context)),
};

async function mountSummary(panel, context) {
  const { connection, chart } = context;
  const summaryJson = patientSummary(JSON.stringify(chart), connection.practice, connection.name ?? "", now());
  const summary = JSON.parse(summaryJson);
  const downloadButton = el("button", { type: "button", text: "Download (FHIR JSON)" });
  downloadButton.addEventListener("click", () => download(
    new Blob([JSON.stringify(summary, null, 2)], { type: "application/fhir+json" }),
    `health-summary-${new Date().toISOString().slice(0, 10)}.fhir.json`));
  const printButton = el("button", { type: "button", text: "Print summary" });
  printButton.addEventListener("click", () => window.print());
  const drawn = renderSummary(summary, { level: 4 });
  drawn.id = "ips-summary";
  panel.append(
    el("h3", { text: "Your health summary" }),
    el("p", { className: "help no-print", text: "What your practice has recorded about you, as an emergency team would see it: allergies, medicines, problems, immunizations and recent results. Things you added yourself are not included. It is an International Patient Summary, a format any hospital system can read." }),
    el("p", { className: "no-print shl-actions" }, downloadButton, " ", printButton),
    drawn,
  );
  const links = el("section", { className: "shl", attrs: { "aria-labelledby": "shl-heading" } });
  panel.append(links);
  mountLinks(links, context, summaryJson);
}

function mountLinks(section, context, summaryJson) {
  const { signer, chart } = context;
  section.append(
    el("h3", { id: "shl-heading", text: "SMART Health Links" }),
    el("p", { className: "help", text: "A link (and its QR code) lets a clinician anywhere open this summary without an account, for example in an emergency. Only someone who has the link can open it: the summary is encrypted, and the key is in the link itself, never on a server. You are told every time a link is opened, and you can revoke a link at any time." }),
  );
  if (!linkApi()) {
    section.append(el("p", { className: "empty", text: "Your practice has not set up SMART Health Links on this portal." }));
    return;
  }
  const name = patientName(chart);
  const status = el("p", { attrs: { role: "status" }, className: "form-status", id: "shl-status" });
  const alert = el("p", { attrs: { role: "alert" }, className: "form-error", id: "shl-error" });
  const shown = el("div", { id: "shl-created" });
  const listNode = el("div", { id: "shl-links" });
  let listings = [];

  const redraw = () => listNode.replaceChildren(linkList(listings, {
    show: async (listing) => linkCard(await reopenLink(signer, listing), listing, name),
    revoke: async (listing) => {
      const ended = await linkCall(signer, `/shl/${encodeURIComponent(listing.id)}`, "DELETE");
      listings = listings.map((l) => (l.id === ended.id ? ended : l));
      if (shown.dataset.link === listing.id) shown.replaceChildren();
      redraw();
      status.textContent = `"${listing.label}" is revoked: it opens nothing any more.`;
    },
  }));

  const load = async () => {
    const answer = await linkCall(signer, "/shl");
    listings = answer.links ?? [];
    redraw();
  };

  // A "latest" link gets the current summary when the chart changed after its file.
  const refresh = async () => {
    const newest = newestRecord(chart);
    const stale = listings.filter((l) => l.latest && linkState(l) === "active" && l.fileUpdatedAt < newest);
    let updated = 0;
    for (const listing of stale) {
      const body = await shlRefresh(signer, JSON.stringify(listing), summaryJson);
      const fresh = await linkCall(signer, `/shl/${encodeURIComponent(listing.id)}/file`, "PUT", body);
      listings = listings.map((l) => (l.id === fresh.id ? fresh : l));
      updated += 1;
    }
    if (updated) {
      redraw();
      status.textContent = `${updated} link${updated === 1 ? "" : "s"} kept current now show${updated === 1 ? "s" : ""} your latest summary.`;
    }
  };

  section.append(createForm(context, summaryJson, name, {
    created: async (listing, card) => {
      shown.replaceChildren(el("h4", { text: `Your new link: ${listing.label}` }), card);
      shown.dataset.link = listing.id;
      listings = [listing, ...listings.filter((l) => l.id !== listing.id)];
      redraw();
    },
  }), shown, el("h4", { text: "Your links" }), status, alert, listNode);

  (async () => {
    status.textContent = "Fetching your links…";
    try {
      await load();
      status.textContent = "";
      await refresh();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Your links could not be shown: ${error?.message ?? error}`;
    }
    section.dataset.loaded = "true";
  })();
}

function createForm(context, summaryJson, name, { created }) {
  const { signer } = context;
  const label = el("input", { id: uid("shl-label"), name: "shl-label", type: "text", required: true, maxLength: 80, value: "Emergency health summary", autocomplete: "off" });
  const expiry = el("select", { id: uid("shl-expiry"), name: "shl-expiry" },
    ...EXPIRIES.map((e) => el("option", { value: e.value, text: e.text })));
  expiry.value = String(365 * DAY);
  const passcode = el("input", { id: uid("shl-passcode"), name: "shl-passcode", type: "text", minLength: 4, maxLength: 64, autocomplete: "off", spellcheck: false });
  const attempts = el("input", { id: uid("shl-attempts"), name: "shl-attempts", type: "number", min: 1, max: 10, value: 5, inputMode: "numeric" });
  const attemptsField = labelled("Wrong passcodes allowed before the link stops working", attempts);
  attemptsField.hidden = true;
  passcode.addEventListener("input", () => { attemptsField.hidden = passcode.value.trim() === ""; });
  const kind = uid("shl-kind");
  const latest = el("input", { id: `${kind}-latest`, type: "radio", name: kind, value: "latest", checked: true });
  const snapshot = el("input", { id: `${kind}-snapshot`, type: "radio", name: kind, value: "snapshot" });
  const contents = el("fieldset", { className: "choice" },
    el("legend", { text: "What the link shows" }),
    el("div", {}, latest, el("label", { htmlFor: latest.id, text: "Always my latest summary (updated when I open this page after a change)" })),
    el("div", {}, snapshot, el("label", { htmlFor: snapshot.id, text: "This summary as it is today (a snapshot)" })));
  const button = el("button", { type: "submit", text: "Create the link" });
  const status = el("p", { attrs: { role: "status" }, className: "form-status", id: "shl-create-status" });
  const alert = el("p", { attrs: { role: "alert" }, className: "form-error", id: "shl-create-error" });
  const form = el("form", { className: "shl-form", attrs: { "aria-labelledby": "shl-create-heading" } },
    el("h4", { id: "shl-create-heading", text: "Create a SMART Health Link" }),
    labelled("Label (shown to whoever opens it)", label),
    labelled("Expires after", expiry),
    labelled("Passcode (optional)", passcode, "4 to 64 characters. Whoever opens the link must type it; it is never printed on the card. Keep it where someone helping you would find it."),
    attemptsField,
    contents,
    button, status, alert);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    status.textContent = "Encrypting your summary and creating the link…";
    button.disabled = true;
    try {
      const code = passcode.value.trim();
      const request = {
        label: label.value.trim(),
        expiresAt: expiry.value ? now() + Number(expiry.value) : null,
        passcode: code || null,
        passcodeAttempts: code ? Number(attempts.value || 5) : null,
        latest: latest.checked,
      };
      const made = JSON.parse(await shlNewLink(signer, summaryJson, JSON.stringify(request), now()));
      const listing = await linkCall(signer, "/shl", "POST", made.body);
      const card = linkCard(createdLink(listing, made.key), listing, name);
      passcode.value = "";
      attemptsField.hidden = true;
      status.textContent = "Link created. Print the card or save the link; the passcode is not shown again.";
      await created(listing, card);
      card.querySelector("input")?.focus();
      const root = document.documentElement;
      root.dataset.linksCreated = String(Number(root.dataset.linksCreated ?? 0) + 1);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not created: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
