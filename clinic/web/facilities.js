// The FHIR gateway's facilities, for admins (issue 21): list the facilities registered with the
// practice's gateway and their API keys, register one (a SMART client with its public keys, or a
// client that reads with a static API key, shown once), issue another key, revoke either. Every
// call goes to the gateway's admin API with a NIP-98 header signed in WebAssembly for exactly
// that URL, method and body, usable once: the browser holds no password or token. A consent
// names a facility by its client id (the chart's Details tab records it). DOM text via
// textContent only.
import { el } from "/dom.js";
import { field } from "/writing.js";
import { choice } from "/orders-common.js";

// The gateway's FHIR base URL (`…/fhir`) the server wrote into the page, or "" when the
// practice has none.
export function gatewayBase() {
  const value = document.querySelector('meta[name="ehr-gateway"]')?.content?.trim() ?? "";
  return value.startsWith("{{") ? "" : value.replace(/\/+$/, "");
}

// A call to the gateway's admin API (`path` under its service root, the FHIR base without
// `/fhir`) as the logged-in admin: the JSON answered, or an Error with the gateway's reason
// (`unreachable` set when no answer came at all, `detail` the browser's reason).
export async function gatewayCall(practice, path, method = "GET", payload = undefined) {
  const url = `${gatewayBase().replace(/\/fhir$/, "")}${path}`;
  const body = payload === undefined ? "" : JSON.stringify(payload);
  const authorization = practice.signer.key.httpAuthorization(url, method, body, Math.floor(Date.now() / 1000));
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization, "content-type": "application/json", accept: "application/json" },
      body: body || undefined,
    });
  } catch (error) {
    const unreachable = new Error(`the gateway could not be reached (${error?.message ?? error})`);
    unreachable.unreachable = true;
    unreachable.detail = error?.message ?? String(error);
    throw unreachable;
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(response.headers.get("x-reason") ?? answer?.issue?.[0]?.diagnostics
      ?? `the gateway answered ${response.status}`);
  }
  return answer;
}

const day = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);

// Whether a registered client has public keys (it gets SMART tokens) or reads with API keys only.
const kindOf = (client) => (client.jwks?.keys?.length ? "SMART client (JWKS)" : "API keys only");

const KINDS = [
  { value: "api-key", label: "API key" },
  { value: "smart", label: "SMART client with its public keys (JWKS)" },
];

// The facilities section for `practice` (the open practice of app.js).
export async function facilitiesSection(practice) {
  const section = el("section", { className: "facilities", attrs: { "aria-labelledby": "facilities-heading" } },
    el("h3", { id: "facilities-heading", text: "Facilities (FHIR gateway)" }));
  const base = gatewayBase();
  if (!base) {
    section.append(el("p", { className: "empty", text: "This practice has no FHIR gateway configured." }));
    return section;
  }
  if (!practice.signer.key) {
    section.append(el("p", { className: "empty", text: "Each call to the gateway is signed with your key: log in with your key file or a passkey to manage facilities." }));
    return section;
  }
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const issued = el("div", { className: "issued-key", hidden: true });
  const body = el("div", { className: "facility-lists" });

  // A newly issued API key, shown once: the gateway keeps only its hash.
  const showKey = (answer) => {
    const secret = el("output", { className: "key", text: answer.api_key });
    const copy = el("button", { type: "button", text: "Copy the key" });
    copy.addEventListener("click", () => {
      navigator.clipboard?.writeText(answer.api_key).then(
        () => { copy.textContent = "Copied"; },
        () => { copy.textContent = "Copy failed: select the key and copy it"; });
    });
    const dismiss = el("button", { type: "button", text: "I have handed it over: hide the key" });
    dismiss.addEventListener("click", () => { issued.replaceChildren(); issued.hidden = true; });
    issued.replaceChildren(
      el("h4", { text: `New API key for ${answer.client_id}` }),
      el("p", { className: "warning", text: "Shown only now: the gateway keeps no copy. Hand it to the facility securely (in person, or by a channel only they can read), never by plain e-mail. If it is lost, revoke it and issue another." }),
      secret, " ", copy,
      el("p", { className: "help", text: `Scopes ${answer.scopes.join(" ")}; valid until ${day(answer.expires_at)}.` }),
      dismiss);
    issued.hidden = false;
  };

  const act = async (work, done) => {
    alert.textContent = "";
    status.textContent = "Asking the gateway…";
    try {
      await work();
      status.textContent = done;
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not done: ${error?.message ?? error}`;
    }
    try {
      await draw();
    } catch (error) {
      alert.textContent = `The facilities could not be listed: ${error?.message ?? error}`;
    }
  };
  const issueKey = (clientId, scopes) => act(async () => {
    showKey(await gatewayCall(practice, "/admin/api-keys", "POST", { client_id: clientId, scopes }));
  }, `An API key was issued for ${clientId}.`);
  const revokeFacility = (clientId) => {
    if (!window.confirm(`Revoke ${clientId}? It stops reading through the gateway at once: its API keys and tokens end.`)) return;
    act(() => gatewayCall(practice, `/admin/clients/${encodeURIComponent(clientId)}`, "DELETE"), `${clientId} was revoked.`);
  };
  const revokeKey = (key) => {
    if (!window.confirm(`Revoke API key ${key.key_id} of ${key.client_id}? Requests with it are refused from now on.`)) return;
    act(() => gatewayCall(practice, `/admin/api-keys/${encodeURIComponent(key.key_id)}`, "DELETE"), `API key ${key.key_id} was revoked.`);
  };

  const button = (text, label, onClick) => {
    const b = el("button", { type: "button", text, attrs: { "aria-label": label } });
    b.addEventListener("click", onClick);
    return b;
  };
  // A cell that names its column where narrow screens stack the rows (clinic.css).
  const cell = (label, text) => el("td", { text, attrs: { "data-label": label } });
  const table = (caption, heads, rows) => el("div", { className: "scroll", role: "region", tabIndex: 0, attrs: { "aria-label": caption } },
    el("table", { className: "facility-table" }, el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows)));
  const draw = async () => {
    const listed = await gatewayCall(practice, "/admin/clients");
    const clients = listed.smart_clients ?? [];
    const keys = listed.api_keys ?? [];
    const now = Date.now() / 1000;
    const clientRows = clients.map((c) => {
      const live = c.revoked_at == null;
      const actions = el("td", { className: "actions" });
      if (live) {
        actions.append(
          button("New API key", `New API key for ${c.client_id}`, () => issueKey(c.client_id, c.scopes)), " ",
          button("Revoke", `Revoke ${c.client_id}`, () => revokeFacility(c.client_id)));
      }
      return el("tr", { attrs: { "data-client": c.client_id } },
        el("th", { scope: "row", text: c.client_id }),
        cell("Kind", kindOf(c)),
        cell("Scopes", c.scopes.join(" ")),
        cell("Status", live ? `active since ${day(c.created_at)}` : `revoked ${day(c.revoked_at)}`),
        actions);
    });
    const keyRows = keys.map((k) => {
      const state = k.revoked_at != null ? `revoked ${day(k.revoked_at)}`
        : k.expires_at <= now ? `expired ${day(k.expires_at)}` : `valid until ${day(k.expires_at)}`;
      const actions = el("td", { className: "actions" });
      if (k.revoked_at == null && k.expires_at > now) {
        actions.append(button("Revoke", `Revoke API key ${k.key_id}`, () => revokeKey(k)));
      }
      return el("tr", { attrs: { "data-key": k.key_id } },
        el("th", { scope: "row", className: "key", text: k.key_id }),
        cell("Facility", k.client_id),
        cell("Scopes", k.scopes.join(" ")),
        cell("Status", state),
        actions);
    });
    body.replaceChildren(
      clients.length
        ? table("Registered facilities", ["Client id", "Kind", "Scopes", "Status", ""], clientRows)
        : el("p", { className: "empty", text: "No facility is registered yet." }),
      keys.length
        ? table("API keys issued", ["Key id", "Facility", "Scopes", "Status", ""], keyRows)
        : el("p", { className: "empty", text: "No API key has been issued." }));
  };

  const [idField, clientId] = field("Facility's client id", {
    name: "facility-client-id", autocomplete: "off", required: true, spellcheck: false,
    pattern: "[A-Za-z0-9._:\\-]{1,128}", attrs: { "aria-describedby": "facility-id-help" },
  });
  idField.append(el("p", { id: "facility-id-help", className: "help", text: "Letters, digits and - . _ : (e.g. regional-lab). Consents name the facility by this id." }));
  const [kindField, kind] = choice("How it connects", KINDS, { name: "facility-kind" });
  const [jwksField, jwks] = field("Its public keys (JWKS, JSON)", { name: "facility-jwks", rows: 4, spellcheck: false }, "textarea");
  jwksField.append(el("p", { className: "help", text: "The JSON Web Key Set the facility gives you ({\"keys\": [...]}, public keys with a kid): it signs its token requests with the matching private key." }));
  jwksField.hidden = true;
  kind.addEventListener("change", () => { jwksField.hidden = kind.value !== "smart"; });
  const [scopesField, scopes] = field("Scopes", { name: "facility-scopes", autocomplete: "off", spellcheck: false, defaultValue: "system/*.read" });
  scopesField.append(el("p", { className: "help", text: "Space-separated, e.g. system/*.read, or system/Patient.read system/Immunization.read." }));
  const register = el("form", { className: "record-form" }, idField, kindField, jwksField, scopesField,
    el("button", { type: "submit", text: "Register the facility" }));
  register.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = clientId.value.trim();
    const wanted = scopes.value.trim().split(/\s+/).filter(Boolean);
    act(async () => {
      const registration = { client_id: id, scopes: wanted };
      if (kind.value === "smart") {
        try {
          registration.jwks = JSON.parse(jwks.value);
        } catch {
          throw new Error("the public keys are not JSON: paste the facility's JWKS as given");
        }
      }
      await gatewayCall(practice, "/admin/clients", "POST", registration);
      if (kind.value === "api-key") {
        showKey(await gatewayCall(practice, "/admin/api-keys", "POST", { client_id: id, scopes: wanted }));
      }
      register.reset();
      jwksField.hidden = true;
    }, kind.value === "api-key" ? `${id} was registered and its API key issued.` : `${id} was registered.`);
  });

  section.append(
    el("p", { className: "help", text: `Outside facilities read, through the practice's FHIR gateway (${base}), only the charts of patients who consented to them.` }),
    body, issued, el("h4", { text: "Register a facility" }), register, status, alert);
  try {
    await draw();
  } catch (error) {
    alert.textContent = `The facilities could not be listed: ${error?.message ?? error}`;
  }
  return section;
}
