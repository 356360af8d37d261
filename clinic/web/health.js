// The practice's health, for admins (issue 21), read-only but for finishing a pending rotation:
// the verified roster and its epochs (from the member session, WebAssembly), key maintenance
// still to publish (a dry-run plan: planning publishes nothing), the relay's NIP-11 document,
// the FHIR gateway's catch-up status, its emergency (break-glass) accesses, and the offline
// outbox. Each part says in words what it
// could not read; none hides the others. DOM text via textContent only.
import { gatewayPatientId } from "/assets/ehr_web_wasm.js";
import { el } from "/dom.js";
import { filter } from "/protocol.js";
import { carryOut } from "/admin.js";
import { gatewayBase, gatewayCall } from "/facilities.js";
import { outboxSummary } from "/outbox-view.js";

// Each role's name, for one member and for several.
const ROLE_NAMES = {
  admin: ["admin", "admins"], doctor: ["doctor", "doctors"], nurse: ["nurse", "nurses"],
  ma: ["medical assistant", "medical assistants"], frontdesk: ["front desk", "front desk"],
  "fhir-gateway": ["FHIR gateway", "FHIR gateways"], "billing-bot": ["billing bot", "billing bots"],
};

const when = (seconds) => new Date(seconds * 1000).toLocaleString();

// A list of [term, description] pairs; a description may be a node.
function facts(pairs) {
  return el("dl", { className: "facts" }, ...pairs.flatMap(([term, value]) =>
    [el("dt", { text: term }), el("dd", {}, value)]));
}

// A part of the health view: its heading, then what `fill(part)` appends, or why it could not.
async function part(title, className, fill) {
  const box = el("div", { className: `health-part ${className}` }, el("h4", { text: title }));
  try {
    await fill(box);
  } catch (error) {
    box.append(el("p", { role: "alert", className: "form-error", text: `Could not be read: ${error?.message ?? error}` }));
  }
  return box;
}

function rosterPart(practice) {
  return part("Roster and epochs", "health-roster", (box) => {
    const state = JSON.parse(practice.session.rosterState(practice.connection.practice));
    const members = JSON.parse(practice.session.roster()).filter((m) => m.active);
    const counts = new Map();
    for (const m of members) counts.set(m.role, (counts.get(m.role) ?? 0) + 1);
    const byRole = [...counts].map(([role, n]) => `${n} ${ROLE_NAMES[role]?.[n === 1 ? 0 : 1] ?? role}`).join(", ");
    box.append(facts([
      ["Sequence", String(state.sequence)],
      ["In force since", when(state.since)],
      ["Signed by", state.signed_by_root ? "the practice root" : "an admin"],
      ["Active members", `${members.length}${byRole ? ` (${byRole})` : ""}`],
      ["Clinical epoch", String(state.epochs?.clinical ?? "none")],
      ["Office epoch", state.split ? String(state.epochs?.office ?? "none")
        : "none yet: one key domain, every staff role holds the clinical epoch"],
      ["Rejected roster events", String(state.rejected_rosters)],
    ]));
    if (state.rejected_rosters > 0) {
      box.append(el("p", { className: "warning", text: `${state.rejected_rosters} roster event(s) on the relay were rejected (not signed by the root or an admin, or not following the chain): someone may be trying to change the staff. Check with the root key's holder.` }));
    }
  });
}

function rotationPart(practice) {
  return part("Pending key rotation", "health-rotation", async (box) => {
    if (!practice.signer.key) {
      box.append(el("p", { className: "empty", text: "Checking needs your key in this browser: log in with your key file or a passkey." }));
      return;
    }
    const status = el("p", { role: "status", className: "form-status" });
    const alert = el("p", { role: "alert", className: "form-error" });
    const said = el("p", { className: "rotation-state" });
    const finish = el("button", { type: "button", text: "Finish it now", hidden: true });
    const check = async () => {
      const events = await (await practice.relay()).fetchAll(filter("administration"));
      const plan = JSON.parse(practice.signer.key.planPractice(practice.connection.practice,
        JSON.stringify(events), JSON.stringify({ op: "maintain" }), Math.floor(Date.now() / 1000)));
      said.textContent = plan.length === 0 ? "Nothing pending: every key rotation is complete."
        : `${plan.length} event(s) pending: a revocation or rotation was interrupted.`;
      said.classList.toggle("warning", plan.length > 0);
      finish.hidden = plan.length === 0;
    };
    finish.addEventListener("click", async () => {
      alert.textContent = "";
      finish.disabled = true;
      try {
        const count = await carryOut(practice, { op: "maintain" }, status);
        status.textContent = `Finished: ${count} event(s) published.`;
        await check();
      } catch (error) {
        status.textContent = "";
        alert.textContent = `Not finished: ${error?.message ?? error}`;
      } finally {
        finish.disabled = false;
      }
    });
    box.append(said, finish, status, alert);
    await check();
  });
}

// The relay's HTTP URL (its NIP-11 document) for its WebSocket URL.
const relayInfoUrl = (relay) => relay.replace(/^wss:/, "https:").replace(/^ws:/, "http:");

function relayPart(practice) {
  return part("The relay (NIP-11)", "health-relay", async (box) => {
    const url = relayInfoUrl(practice.connection.relay);
    const response = await fetch(url, { headers: { accept: "application/nostr+json" } });
    if (!response.ok) throw new Error(response.headers.get("x-reason") ?? `the relay answered ${response.status}`);
    const info = await response.json();
    const limits = Object.entries(info.limitation ?? {}).map(([name, value]) => `${name.replaceAll("_", " ")}: ${value}`);
    box.append(facts([
      ["Address", practice.connection.relay],
      ["Name", info.name ?? "(none)"],
      ["Software", info.software ?? "(not said)"],
      ["Version", info.version ?? "(not said)"],
      ["Supported NIPs", (info.supported_nips ?? []).join(", ") || "(none listed)"],
      ["Limits", limits.length ? el("ul", { className: "limits" }, ...limits.map((l) => el("li", { text: l }))) : "(none stated)"],
    ]));
  });
}

function gatewayPart(practice) {
  return part("The FHIR gateway", "health-gateway", async (box) => {
    if (!gatewayBase()) {
      box.append(el("p", { className: "empty", text: "This practice has no FHIR gateway configured." }));
      return;
    }
    if (!practice.signer.key) {
      box.append(el("p", { className: "empty", text: "Asking needs your key in this browser: log in with your key file or a passkey." }));
      return;
    }
    const status = await gatewayCall(practice, "/admin/status");
    const link = { following: "following the relay", lost: "has lost the relay", refused: "refused by the relay, or no longer on the roster" };
    const state = el("p", {
      className: status.caught_up ? "gateway-state" : "gateway-state warning",
      text: status.caught_up ? "Caught up with the relay and following it." : `Not caught up: ${link[status.link] ?? status.link}; ${status.serving ? "still serving for a short while" : "serving no data until it catches up"}.`,
    });
    box.append(state, facts([
      ["Patients served", String(status.patients)],
      ["Records it can open", String(status.events)],
      ["Newest record seen", status.last_event_at == null ? "none yet" : when(status.last_event_at)],
      ["Relay it follows", status.relay],
    ]));
  });
}

// The gateway's break-glass accesses (issue 23): `GET /admin/access-log?purpose=emergency`, a
// Bundle of AuditEvents (purposeOfEvent ETREAT), newest first; each patient named from the
// patient list by the gateway's id of her key (the core's gatewayPatientId).
const OUTCOMES = { 0: "Answered: her summary was given", 4: "Refused: nothing was given" };

function emergencyPart(practice) {
  return part("Emergency (break-glass) accesses", "health-emergency", async (box) => {
    if (!gatewayBase()) {
      box.append(el("p", { className: "empty", text: "This practice has no FHIR gateway configured, so no facility can have emergency access." }));
      return;
    }
    if (!practice.signer.key) {
      box.append(el("p", { className: "empty", text: "Asking needs your key in this browser: log in with your key file or a passkey." }));
      return;
    }
    box.append(el("p", { className: "help", text: "Each time a registered emergency facility asked for a patient's summary without her consent naming it. Only patients who opted in are served; the facility must give a reason, and the patient is told at once." }));
    let bundle;
    try {
      bundle = await gatewayCall(practice, "/admin/access-log?purpose=emergency");
    } catch (error) {
      if (!error?.unreachable) throw error;
      box.append(el("p", { role: "alert", className: "warning", text: `The FHIR gateway could not be reached from this browser (${error.detail}), so its emergency accesses cannot be listed now. Nothing is lost: the gateway keeps every access in its own log; try again later. If it is down, it serves no facility, in an emergency or not.` }));
      return;
    }
    const events = (bundle.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === "AuditEvent")
      .sort((a, b) => String(b.recorded ?? "").localeCompare(String(a.recorded ?? "")));
    if (events.length === 0) {
      box.append(el("p", { className: "emergency-none", text: "None: no facility has used emergency access for any patient of the practice." }));
      return;
    }
    // The gateway's patient id of each patient on the list, computed only when needed.
    const names = new Map();
    for (const p of practice.patients ?? []) {
      try {
        names.set(gatewayPatientId(p.patient), p.name || "(no name recorded)");
      } catch {
        // A key the core does not read names no one.
      }
    }
    const patientOf = (event) => {
      const ids = (event.entity ?? []).map((e) => e.what?.reference ?? "")
        .filter((r) => r.startsWith("Patient/")).map((r) => r.slice("Patient/".length));
      if (ids.length === 0) return "(not named)";
      return ids.map((id) => names.get(id) ?? `a patient not on your list (gateway id ${id.slice(0, 12)}…)`).join(", ");
    };
    box.append(el("p", { text: `${events.length} emergency access${events.length === 1 ? "" : "es"}, newest first${events.length >= 100 ? " (the newest 100)" : ""}.` }),
      el("ol", { className: "emergency-log" }, ...events.map((event) => {
        const outcome = String(event.outcome ?? "");
        return el("li", {},
          el("p", {}, el("strong", { text: event.recorded ? when(Date.parse(event.recorded) / 1000) : "(time not recorded)" }),
            " · facility ", el("span", { className: "facility-id", text: event.agent?.[0]?.who?.identifier?.value ?? "(not named)" })),
          el("p", { text: `Patient: ${patientOf(event)}` }),
          el("p", { text: `Reason given: ${event.purposeOfEvent?.[0]?.text || "(none)"}` }),
          el("p", { className: outcome === "0" ? "emergency-result" : "emergency-result refused", text: OUTCOMES[outcome] ?? `Outcome ${outcome || "not recorded"}` }));
      })));
  });
}

// This device's outbox in words (offline.js): what waits, what was refused.
function outboxHealth(outbox) {
  if (!outbox?.entries.length) return "The outbox is empty: everything written on this device was sent.";
  return `This device's outbox: ${outboxSummary(outbox)}. Open it from the header to see each record.`;
}

// The practice health section for `practice` (the open practice of app.js).
export async function practiceHealthSection(practice) {
  const section = el("section", { className: "practice-health", attrs: { "aria-labelledby": "practice-health-heading" } },
    el("h3", { id: "practice-health-heading", text: "Practice health" }));
  const parts = await Promise.all([rosterPart(practice), rotationPart(practice), relayPart(practice), gatewayPart(practice),
    emergencyPart(practice)]);
  section.append(...parts,
    el("div", { className: "health-part health-outbox" }, el("h4", { text: "Outbox" }),
      el("p", { className: "outbox-health", text: outboxHealth(practice.outbox) })));
  return section;
}
