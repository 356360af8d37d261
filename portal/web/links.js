// Her SMART Health Links (DESIGN.md §11 "Summary, SMART Health Links and emergency access"):
// the practice's link API on its FHIR gateway, each call signed NIP-98 by her own signer (any
// login), and the link drawn as a QR code and a wallet card. The link itself (its payload, the
// key, the encrypted file, the sealed key) is made by ehr-client's core in WebAssembly; the key
// never leaves this browser except inside the link she hands out.
import { shlLink, shlOpenLink, signerHttpAuthorization } from "/assets/ehr_web_wasm.js";
import { el, qrImage } from "/dom.js";

const now = () => Math.floor(Date.now() / 1000);

// The gateway's FHIR base URL the server wrote into the page ("" when none).
export function gatewayBase() {
  const value = document.querySelector('meta[name="ehr-gateway"]')?.content?.trim() ?? "";
  return value.startsWith("{{") ? "" : value.replace(/\/+$/, "");
}

// The link API's root: the gateway's FHIR base without `/fhir`.
export function linkApi() {
  const base = gatewayBase();
  return base ? base.replace(/\/fhir$/, "") : "";
}

// Where her links open: this portal's viewer.
export function viewerUrl() {
  return `${location.origin}/viewer`;
}

// A call to the link API as her: the JSON answered, or an Error with the gateway's reason.
export async function linkCall(signer, path, method = "GET", body = "") {
  const url = `${linkApi()}${path}`;
  const authorization = await signerHttpAuthorization(signer, url, method, body, now());
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization, accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
      body: body || undefined,
    });
  } catch (error) {
    throw new Error(`your practice's link service could not be reached (${error?.message ?? error})`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(response.headers.get("x-reason") ?? answer?.issue?.[0]?.diagnostics
      ?? `your practice's link service answered ${response.status}`);
  }
  return answer;
}

export const day = (seconds) => (seconds ? new Date(seconds * 1000).toISOString().slice(0, 10) : "");
const when = (seconds) => (seconds ? new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") : "");

// What a link is now: active, expired, revoked or disabled (too many wrong passcodes).
export function linkState(listing, at = now()) {
  if (listing.endedAt) return listing.passcode && listing.remainingAttempts === 0 ? "disabled" : "revoked";
  if (listing.expiresAt && listing.expiresAt <= at) return "expired";
  return "active";
}

const STATE_TEXT = {
  active: "Active",
  expired: "Expired",
  revoked: "Revoked",
  disabled: "Disabled (too many wrong passcodes)",
};

// The link shown: the wallet card (what prints), the link to copy, and the buttons.
// `shown` is {link, url, qr} from the core; `listing` the server's; `name` hers.
export function linkCard(shown, listing, name) {
  const card = el("div", { className: "wallet-card", attrs: { role: "group", "aria-label": "Wallet card" } });
  const expiry = listing.expiresAt ? `Valid until ${day(listing.expiresAt)}` : "No expiry date";
  card.append(
    qrImage(shown.qr, `QR code of the SMART Health Link "${listing.label}"`),
    el("div", { className: "wallet-text" },
      el("p", { className: "wallet-name", text: name || "Patient" }),
      el("p", { className: "wallet-label", text: listing.label }),
      el("p", { className: "wallet-expiry", text: expiry }),
      el("p", { className: "wallet-help", text: "Clinician: scan with any SMART Health Links viewer for my health summary." }),
      listing.passcode ? el("p", { className: "wallet-passcode", text: "Passcode required: ask me or my contact." }) : null,
    ),
  );
  const linkId = `shl-link-${listing.id}`;
  const input = el("input", { id: linkId, type: "text", readOnly: true, value: shown.url, className: "shl-url", spellcheck: false });
  const copy = el("button", { type: "button", text: "Copy link" });
  const copied = el("span", { attrs: { role: "status" }, className: "copied" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(shown.url);
      copied.textContent = "Copied.";
    } catch {
      input.select();
      copied.textContent = "Select the link and copy it.";
    }
  });
  const print = el("button", { type: "button", text: "Print wallet card" });
  print.addEventListener("click", () => printCard(card));
  return el("div", { className: "shl-shown" },
    card,
    el("div", { className: "field no-print" }, el("label", { htmlFor: linkId, text: "The link (anyone who has it can open your summary" + (listing.passcode ? " with the passcode)" : ")") }), input),
    el("p", { className: "no-print shl-actions" }, copy, " ", print, " ", copied));
}

// Print `card` alone, card-sized (style.css: body.printing-card).
function printCard(card) {
  document.body.classList.add("printing-card");
  card.classList.add("printing");
  const done = () => {
    document.body.classList.remove("printing-card");
    card.classList.remove("printing");
    window.removeEventListener("afterprint", done);
  };
  window.addEventListener("afterprint", done);
  window.print();
  // Browsers that print synchronously have printed by now.
  setTimeout(done, 1000);
}

// The link of a listing just created (its key from the core's new link).
export function createdLink(listing, key) {
  return JSON.parse(shlLink(JSON.stringify(listing), key, viewerUrl()));
}

// The list of her links, each with its facts and actions. `actions.show(listing)` and
// `actions.revoke(listing)` are the buttons' work; both return promises.
export function linkList(listings, actions) {
  if (listings.length === 0) return el("p", { className: "empty", text: "You have no links yet." });
  const list = el("ul", { className: "shl-list", attrs: { "aria-label": "Your SMART Health Links" } });
  for (const listing of listings) {
    const state = linkState(listing);
    const facts = el("dl", { className: "facts" });
    const fact = (label, value) => facts.append(el("dt", { text: label }), el("dd", { text: value }));
    fact("State", STATE_TEXT[state]);
    fact("Created", day(listing.createdAt));
    fact("Expires", listing.expiresAt ? day(listing.expiresAt) : "Never (until you revoke it)");
    fact("Contents", listing.latest ? "Always your latest summary" : `A snapshot of ${day(listing.fileUpdatedAt)}`);
    fact("Passcode", listing.passcode
      ? `Yes${typeof listing.remainingAttempts === "number" ? ` (${listing.remainingAttempts} wrong tries left)` : ""}`
      : "No");
    fact("Opened", listing.accesses
      ? `${listing.accesses} time${listing.accesses === 1 ? "" : "s"}, last ${when(listing.lastAccessAt)} UTC`
      : "Never");
    const item = el("li", { className: `shl-item shl-${state}` });
    item.dataset.link = listing.id;
    const heading = el("h4", { text: listing.label });
    const out = el("div", { className: "shl-out" });
    const alert = el("p", { className: "form-error", attrs: { role: "alert" } });
    const buttons = el("p", { className: "no-print shl-actions" });
    if (state === "active") {
      const show = el("button", { type: "button", text: "Show QR / card" });
      show.setAttribute("aria-expanded", "false");
      show.addEventListener("click", async () => {
        alert.textContent = "";
        if (out.childElementCount) {
          out.replaceChildren();
          show.setAttribute("aria-expanded", "false");
          return;
        }
        show.disabled = true;
        try {
          out.replaceChildren(await actions.show(listing));
          show.setAttribute("aria-expanded", "true");
        } catch (error) {
          alert.textContent = `Not shown: ${error?.message ?? error}`;
        } finally {
          show.disabled = false;
        }
      });
      const revoke = el("button", { type: "button", text: "Revoke", className: "danger" });
      revoke.addEventListener("click", async () => {
        alert.textContent = "";
        if (!window.confirm(`Revoke "${listing.label}"? Nobody will be able to open it again, including from a printed card.`)) return;
        revoke.disabled = true;
        try {
          await actions.revoke(listing);
        } catch (error) {
          alert.textContent = `Not revoked: ${error?.message ?? error}`;
          revoke.disabled = false;
        }
      });
      buttons.append(show, " ", revoke);
    }
    item.append(heading, facts, buttons, alert, out);
    list.append(item);
  }
  return list;
}

// Show a listing's link again: the key opened from its sealed copy by her signer.
export async function reopenLink(signer, listing) {
  return JSON.parse(await shlOpenLink(signer, JSON.stringify(listing), viewerUrl()));
}
