// The clinic app's staff administration (DESIGN.md §12; issue 21's "staff and agents"): an
// admin lists the roster, adds a member with a role, or revokes one. Each change is planned by
// ehr_client::practice in WebAssembly (planPractice: the roster, the epoch grants, every chart
// key rotated, the consents recorded), so the browser composes no step; the plan is published
// in order with its progress shown, and an interrupted one is resumed by planning again from
// what the relay holds (planning is idempotent). Adding or revoking an admin needs the root key,
// which stays offline: root.js opens its key file for that one change. DOM text via textContent.
import { $, el } from "/dom.js";
import { filter } from "/protocol.js";
import { field } from "/writing.js";
import { choice } from "/orders-common.js";
import { facilitiesSection } from "/facilities.js";
import { practiceHealthSection } from "/health.js";
import { enrolmentSection } from "/enrolment.js";
import { rootOperations } from "/root.js";

const ROLES = [["doctor", "Doctor"], ["nurse", "Nurse"], ["ma", "Medical assistant"], ["frontdesk", "Front desk"]];

// Publish `events` in order, telling `status` how far it got; throws with how far it got.
export async function publishPlan(relay, events, status) {
  const open = await relay();
  for (const [index, event] of events.entries()) {
    status.textContent = `Publishing ${index + 1} of ${events.length}…`;
    try {
      await open.publish(event);
    } catch (error) {
      throw new Error(`stopped after ${index} of ${events.length}: ${error?.message ?? error}`);
    }
  }
}

// Plan `operation` as the member of `practice` (`{connection, signer, relay}`: the open
// practice, or a chart's context) from what the relay holds now, and publish the plan: how many
// events it published. sharing.js records consents through it too.
// `key` signs the plan: the member's own, or the root key opened for one change (root.js).
export async function carryOut(practice, operation, status, key = practice.signer.key) {
  const events = await (await practice.relay()).fetchAll(filter("administration"));
  const plan = JSON.parse(key.planPractice(practice.connection.practice, JSON.stringify(events),
    JSON.stringify(operation), Math.floor(Date.now() / 1000)));
  await publishPlan(practice.relay, plan, status);
  return plan.length;
}

// A NIP-86 call to the practice relay as the admin (NIP-98 signed in WebAssembly): its result,
// or an Error with the relay's reason.
export async function relayCall(practice, method, params = []) {
  const call = JSON.parse(practice.signer.key.relayCall(practice.connection.relay, method,
    JSON.stringify(params), Math.floor(Date.now() / 1000)));
  const response = await fetch(call.url, {
    method: "POST",
    headers: { "content-type": "application/nostr+json+rpc", authorization: call.authorization },
    body: call.body,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || answer.error) {
    throw new Error(answer.error ?? response.headers.get("x-reason") ?? `the relay answered ${response.status}`);
  }
  return answer.result;
}

// The relay's members (NIP-86): patients and guardians allowed to connect, and banned keys;
// allow, remove, ban and unban. Staff come from the roster above, not from here.
async function relayMembers(practice) {
  const section = el("section", { className: "relay-members", attrs: { "aria-labelledby": "relay-members-heading" } },
    el("h3", { id: "relay-members-heading", text: "The relay's members" }));
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const body = el("div");
  const act = async (method, params, done) => {
    alert.textContent = "";
    status.textContent = "Asking the relay…";
    try {
      await relayCall(practice, method, params);
      status.textContent = done;
      await draw();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not done: ${error?.message ?? error}`;
    }
  };
  // A key named as the patient list names it (her demographics), else by its start.
  const names = new Map((practice.patients ?? []).map((p) => [p.patient, p.name]));
  const keyRow = (pubkey, reason, button) => el("li", { attrs: { "data-pubkey": pubkey } },
    names.get(pubkey) ? el("strong", { text: names.get(pubkey) }) : "", " ",
    el("code", { text: `${pubkey.slice(0, 16)}…` }), ` ${reason} `, button);
  const draw = async () => {
    const [allowed, banned] = await Promise.all([
      relayCall(practice, "listallowedpubkeys"), relayCall(practice, "listbannedpubkeys")]);
    const members = allowed.filter((m) => /patient|guardian/.test(m.reason ?? ""));
    const memberList = el("ul", { className: "relay-allowed" }, ...members.map((m) => {
      const remove = el("button", { type: "button", text: "Remove", attrs: { "aria-label": `Remove ${m.pubkey.slice(0, 16)}` } });
      remove.addEventListener("click", () => act("unallowpubkey", [m.pubkey], "Removed from the relay."));
      const ban = el("button", { type: "button", text: "Ban", attrs: { "aria-label": `Ban ${m.pubkey.slice(0, 16)}` } });
      ban.addEventListener("click", () => act("banpubkey", [m.pubkey, "banned by an administrator"], "Banned."));
      return keyRow(m.pubkey, m.reason, el("span", {}, remove, " ", ban));
    }));
    const bannedList = el("ul", { className: "relay-banned" }, ...banned.map((b) => {
      const unban = el("button", { type: "button", text: "Unban", attrs: { "aria-label": `Unban ${b.pubkey.slice(0, 16)}` } });
      unban.addEventListener("click", () => act("unbanpubkey", [b.pubkey], "Unbanned."));
      return keyRow(b.pubkey, "banned", unban);
    }));
    body.replaceChildren(
      el("h4", { text: `Patients and guardians allowed (${members.length})` }),
      members.length ? memberList : el("p", { className: "empty", text: "None." }),
      el("h4", { text: `Banned (${banned.length})` }),
      banned.length ? bannedList : el("p", { className: "empty", text: "None." }));
  };
  const [allowField, allowKey] = field("Allow a patient's key (npub)", { name: "allow-npub", autocomplete: "off", required: true });
  const allow = el("form", { className: "record-form" }, allowField, el("button", { type: "submit", text: "Allow on the relay" }));
  allow.addEventListener("submit", (event) => {
    event.preventDefault();
    act("allowpubkey", [allowKey.value.trim()], "Allowed: that key may now connect to the relay.")
      .then(() => { if (!alert.textContent) allowKey.value = ""; });
  });
  section.append(body, allow, status, alert);
  try {
    await draw();
  } catch (error) {
    alert.textContent = `The relay's members could not be listed: ${error?.message ?? error}`;
  }
  return section;
}

function rosterTable(practice, roster, act) {
  const rows = roster.map((member) => {
    const cells = [
      el("th", { scope: "row", text: member.name ?? "(no name)" }),
      el("td", { text: member.role }),
      el("td", { className: "key", text: `${member.npub.slice(0, 16)}…` }),
      el("td", { text: member.active ? "active" : "ended" }),
    ];
    const action = el("td");
    const mine = member.pubkey === practice.member.pubkey;
    if (member.active && !mine && member.role !== "admin") {
      const revoke = el("button", { type: "button", text: "Revoke", attrs: { "aria-label": `Revoke ${member.name ?? member.role}` } });
      revoke.addEventListener("click", () => act(member));
      action.append(revoke);
    }
    return el("tr", { attrs: { "data-pubkey": member.pubkey } }, ...cells, action);
  });
  return el("table", {},
    el("caption", { text: "Staff and agents on the practice's roster" }),
    el("thead", {}, el("tr", {}, ...["Name", "Role", "Key", "Status", ""].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows));
}

// The administration's parts, one shown at a time (an all-day screen, not one long page); the
// choice outlives a redraw after a change.
const PARTS = [
  ["staff", "Staff and agents"],
  ["enrol", "Enrol a patient", enrolmentSection],
  ["relay", "The relay's members", relayMembers],
  ["facilities", "Facilities", facilitiesSection],
  ["health", "Practice health", practiceHealthSection],
];
let shownPart = "staff";

// Show part `name` of `section` and press its button.
function showPart(section, name) {
  shownPart = name;
  for (const part of section.querySelectorAll(":scope > [data-part]")) part.hidden = part.dataset.part !== name;
  for (const button of section.querySelectorAll(":scope > nav button")) {
    button.setAttribute("aria-pressed", String(button.dataset.show === name));
  }
}

// The staff part: the roster, adding and revoking members, and the root's operations.
function staffPart(practice, reopen) {
  const part = el("section", { className: "staff", attrs: { "data-part": "staff", "aria-labelledby": "staff-heading" } },
    el("h3", { id: "staff-heading", text: "Staff and agents" }));
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const resume = el("button", { type: "button", text: "Resume", hidden: true });
  const run = async (operation, done, key = undefined) => {
    alert.textContent = "";
    resume.hidden = true;
    try {
      const count = await carryOut(practice, operation, status, key);
      status.textContent = "Loading the practice again…";
      await reopen(`${done} (${count} events published.)`);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not finished: ${error?.message ?? error}. Press Resume to finish it.`;
      resume.hidden = false;
    }
  };
  resume.addEventListener("click", () => run({ op: "maintain" }, "Resumed and finished."));
  const roster = JSON.parse(practice.session.roster());
  const revoke = (member) => {
    const who = member.name ?? member.role;
    if (!window.confirm(`Revoke ${who}? Their keys stop opening anything written from now on, and every chart key is rotated.`)) return;
    run({ op: "revoke-member", pubkey: member.pubkey }, `${who} was revoked; every chart key was rotated.`);
  };
  const [keyField, key] = field("Their public key (npub)", { name: "member-npub", autocomplete: "off", required: true });
  const [nameField, name] = field("Name", { name: "member-name", autocomplete: "off" });
  const [roleField, role] = choice("Role", ROLES.map(([value, label]) => ({ value, label })));
  const add = el("form", { className: "record-form" }, keyField, nameField, roleField,
    el("button", { type: "submit", text: "Add to the roster" }));
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    const member = { op: "add-member", pubkey: key.value.trim(), role: role.value, name: name.value.trim() || null };
    run(member, `${member.name ?? "The new member"} was added.`);
  });
  part.append(
    rosterTable(practice, roster, revoke),
    el("h4", { text: "Add a member" }), add, status, alert, resume,
    rootOperations(practice, roster, run));
  return part;
}

// Draw the administration section for `practice` (the open practice of app.js), saying
// `message` (what the last change did); `reopen(message)` loads the practice again after a
// change (the member's own view changes with the roster) and draws this again.
export function showAdministration(practice, reopen, message = "") {
  const section = $("administration");
  section.replaceChildren(el("h2", { text: "Administration" }));
  if (!practice.signer.key) {
    section.append(el("p", { className: "empty", text: "Administration signs many events at once: log in with your key file or a passkey to use it." }));
    return;
  }
  const nav = el("nav", { className: "admin-nav", attrs: { "aria-label": "Administration" } },
    ...PARTS.map(([name, label]) => {
      const button = el("button", { type: "button", text: label, attrs: { "data-show": name, "aria-pressed": "false" } });
      button.addEventListener("click", () => showPart(section, name));
      return button;
    }));
  // What the last change did, whichever part is shown.
  section.append(nav, el("p", { role: "status", className: "form-status admin-message", text: message }),
    staffPart(practice, reopen));
  // The other parts, each in its place, drawn when its server answers, unless the section was
  // drawn again meanwhile.
  const drawing = String(Math.random());
  section.dataset.drawing = drawing;
  for (const [name, label, draw] of PARTS.slice(1)) {
    const slot = el("p", { className: "admin-part", text: `Loading ${label.toLowerCase()}…`, attrs: { "data-part": name } });
    section.append(slot);
    draw(practice, reopen).then((drawn) => {
      if (section.dataset.drawing !== drawing) return;
      drawn.dataset.part = name;
      slot.replaceWith(drawn);
      showPart(section, shownPart);
    });
  }
  showPart(section, shownPart);
}
