// The practice's schedules (DESIGN.md §13, "Editing"), for staff who may schedule (the front
// desk and the clinical roles): each clinician's name as patients read it, the wall clock's
// offset from UTC, the step of the grid, the visit types and their minutes, the weekly hours
// and the time off. WebAssembly checks and signs the definition (MemberSession.signSchedule:
// ehr_client::schedule's rules, a kind 2123 event that replaces the schedule of its id); a
// refusal names the rule and nothing is published. Opened from the Schedule view, in the same
// section. DOM text via textContent.
import { practiceSchedules, scheduleFilters } from "/assets/ehr_web_wasm.js";
import { $, el } from "/dom.js";

// ISO weekdays 1 (Monday) to 7 (Sunday), as the schedule names them.
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
// The roles patients are booked with (the front desk schedules, but sees no one).
const BOOKED_ROLES = ["doctor", "nurse", "ma"];
const SAVED = "Saved: patients see the new free times now.";

let ids = 0;
const uid = (prefix) => `${prefix}-${++ids}`;

// A labelled control: [wrapper, control].
function labelled(label, props = {}, tag = "input", className = "field") {
  const control = el(tag, { ...props, id: props.id ?? uid("se") });
  return [el("div", { className }, el("label", { htmlFor: control.id, text: label }), control), control];
}

// A checkbox with its label after it: [wrapper, checkbox].
function checkbox(label, checked, attrs = {}) {
  const box = el("input", { type: "checkbox", id: uid("se"), checked, attrs });
  return [el("div", { className: "field checkbox" }, box, el("label", { htmlFor: box.id, text: label })), box];
}

// Letters, digits and hyphens from `text` (an id or a code), at most `max` of them.
const slug = (text, max) => text.toLowerCase().normalize("NFD").replace(/[^a-z0-9]+/g, "-")
  .replace(/^-+|-+$/g, "").slice(0, max).replace(/-+$/, "");

// A new schedule's id: from its name, with a random tail (two clinicians may share a name).
function newId(name) {
  const tail = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${slug(name, 28) || "schedule"}-${tail}`;
}

// A group of rows (visit types, hours, time off): a fieldset with its rows, each with Remove,
// and an Add button. `make(value, number)` returns {node, first, read}; `read()` gives the rows'
// values in order.
function rowGroup(legend, className, addLabel, values, make) {
  const rows = el("div", { className: "editor-rows" });
  const add = el("button", { type: "button", text: addLabel, className: "add-row" });
  const group = el("fieldset", { className: `editor-group ${className}` }, el("legend", { text: legend }), rows, add);
  const made = [];
  const renumber = () => made.forEach((row, i) => row.renumber?.(i + 1));
  const append = (value) => {
    const row = make(value, made.length + 1);
    const remove = el("button", { type: "button", text: "Remove", className: "remove-row" });
    row.renumber = (n) => remove.setAttribute("aria-label", `Remove ${legend.toLowerCase()} row ${n}`);
    row.node.append(remove);
    remove.addEventListener("click", () => {
      made.splice(made.indexOf(row), 1);
      row.node.remove();
      renumber();
      add.focus();
    });
    made.push(row);
    rows.append(row.node);
    renumber();
    return row;
  };
  for (const value of values) append(value);
  add.addEventListener("click", () => append(null).first.focus());
  return { group, read: () => made.map((row) => row.read()) };
}

// One visit type's row.
function visitRow(visit, n) {
  const [codeField, code] = labelled("Code", { value: visit?.code ?? "", autocomplete: "off", attrs: { "aria-describedby": "se-code-help" } });
  const [labelField, label] = labelled("Label", { value: visit?.label ?? "", autocomplete: "off", required: true });
  const [minutesField, minutes] = labelled("Minutes", { type: "number", min: "5", max: "480", step: "5", value: String(visit?.minutes ?? 15), required: true });
  const [onlineField, online] = checkbox("Bookable online", visit?.bookable_online ?? true);
  const node = el("div", { className: "editor-row visit-row", attrs: { role: "group", "aria-label": `Visit type ${n}` } },
    labelField, codeField, minutesField, onlineField);
  return {
    node, first: label,
    read: () => ({ code: code.value.trim() || slug(label.value, 36), label: label.value.trim(), minutes: Number(minutes.value), bookable_online: online.checked }),
  };
}

// One row of weekly hours: its days and its times.
function hoursRow(hours, n) {
  const boxes = DAYS.map((day, i) => {
    const box = el("input", { type: "checkbox", id: uid("se-day"), checked: hours ? hours.days.includes(i + 1) : i < 5,
      attrs: { "aria-label": DAY_NAMES[i] } });
    return [el("span", { className: "day" }, box, el("label", { htmlFor: box.id, text: day })), box];
  });
  const days = el("fieldset", { className: "days" }, el("legend", { text: "Days" }), ...boxes.map(([wrap]) => wrap));
  const [startField, start] = labelled("From", { type: "time", value: hours?.start ?? "09:00", required: true });
  const [endField, end] = labelled("To", { type: "time", value: hours?.end ?? "17:00", required: true });
  const node = el("div", { className: "editor-row hours-row", attrs: { role: "group", "aria-label": `Hours ${n}` } },
    days, startField, endField);
  return {
    node, first: boxes[0][1],
    read: () => ({ days: boxes.flatMap(([, box], i) => (box.checked ? [i + 1] : [])), start: start.value, end: end.value }),
  };
}

// One row of time off: whole days, or the same hours of each day.
function timeOffRow(off, n) {
  const today = new Date().toLocaleDateString("en-CA");
  const [fromField, from] = labelled("From day", { type: "date", value: off?.from ?? today, required: true });
  const [toField, to] = labelled("To day", { type: "date", value: off?.to ?? today, required: true });
  const [startField, start] = labelled("From time (blank: all day)", { type: "time", value: off?.start ?? "" });
  const [endField, end] = labelled("To time", { type: "time", value: off?.end ?? "" });
  const [reasonField, reason] = labelled("Reason (staff only)", { value: off?.reason ?? "", autocomplete: "off" });
  // A new row's last day follows its first.
  from.addEventListener("change", () => { if (!to.value || to.value < from.value) to.value = from.value; });
  const node = el("div", { className: "editor-row off-row", attrs: { role: "group", "aria-label": `Time off ${n}` } },
    fromField, toField, startField, endField, reasonField);
  return {
    node, first: from,
    read: () => ({ from: from.value, to: to.value, start: start.value || null, end: end.value || null, reason: reason.value.trim() }),
  };
}

// The core's rule, in the form's words.
const said = (error) => String(error?.message ?? error)
  .replace(/^the record was not written: /, "")
  .replace("step_minutes", "the step").replace("utc_offset_minutes", "the offset from UTC");

// The form for `schedule` (a definition, or null for a new one); `saved()` after publishing,
// `cancel()` to go back to the list.
function scheduleForm(practice, schedule, staff, saved, cancel) {
  const heading = el("h3", { id: "se-form-heading", text: schedule ? `Edit: ${schedule.name}` : "New schedule", attrs: { tabindex: "-1" } });
  const [nameField, name] = labelled("Name, as patients read it", { value: schedule?.name ?? "", autocomplete: "off", required: true });
  // The clinician: the roster's staff who see patients (and, if it is no longer one of them,
  // the schedule's own).
  const choices = staff.map((m) => ({ value: m.pubkey, label: `${m.name ?? "(no name)"} (${m.role})` }));
  if (schedule && !choices.some((c) => c.value === schedule.clinician)) {
    choices.unshift({ value: schedule.clinician, label: `Key ${schedule.clinician.slice(0, 16)}… (not on the staff list now)` });
  }
  const [clinicianField, clinician] = choices.length
    ? labelled("Clinician", {}, "select")
    : labelled("Clinician's public key (npub)", { autocomplete: "off", required: true });
  for (const c of choices) clinician.append(el("option", { value: c.value, text: c.label }));
  if (schedule) clinician.value = schedule.clinician;
  const offsetHelp = el("p", { id: uid("se-help"), className: "hint", text: "Minutes ahead of UTC (60 for UTC+1, −300 for UTC−5). Change it when the clocks change." });
  const [offsetField, offset] = labelled("Clock's offset from UTC (minutes)", { type: "number", min: "-840", max: "840", step: "15", required: true,
    value: String(schedule?.utc_offset_minutes ?? -new Date().getTimezoneOffset()), attrs: { "aria-describedby": offsetHelp.id } });
  offsetField.append(offsetHelp);
  const [stepField, step] = labelled("Step (minutes between start times)", { type: "number", min: "5", max: "60", step: "5", required: true,
    value: String(schedule?.step_minutes ?? 15) });
  const codeHelp = el("p", { id: "se-code-help", className: "hint", text: "Patients read the label. The code stays the same when the label changes; left blank, it is made from the label." });
  const visits = rowGroup("Visit types", "visit-types", "Add a visit type", schedule?.visit_types ?? [null], visitRow);
  visits.group.insertBefore(codeHelp, visits.group.querySelector(".editor-rows"));
  const hours = rowGroup("Weekly hours", "weekly-hours", "Add hours", schedule?.weekly ?? [null], hoursRow);
  const off = rowGroup("Time off", "time-off", "Add time off", schedule?.time_off ?? [], timeOffRow);
  const [activeField, active] = checkbox("In use: patients may book it", schedule?.active ?? true);
  const alert = el("p", { role: "alert", className: "form-error" });
  const status = el("p", { role: "status", className: "form-status" });
  const save = el("button", { type: "submit", text: "Save" });
  const back = el("button", { type: "button", text: "Cancel" });
  back.addEventListener("click", cancel);
  const form = el("form", { className: "record-form schedule-form", attrs: { "aria-labelledby": "se-form-heading" } },
    el("div", { className: "editor-row top" }, nameField, clinicianField),
    el("div", { className: "editor-row top" }, offsetField, stepField),
    visits.group, hours.group, off.group, activeField, alert,
    el("div", { className: "form-actions" }, save, back), status);
  // A refusal stands until the form is changed.
  form.addEventListener("input", () => { alert.textContent = ""; });
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    const definition = {
      id: schedule?.id ?? newId(name.value),
      clinician: clinician.value.trim(),
      name: name.value.trim(),
      utc_offset_minutes: Number(offset.value),
      step_minutes: Number(step.value),
      visit_types: visits.read(),
      weekly: hours.read(),
      time_off: off.read(),
      active: active.checked,
    };
    let event;
    try {
      event = JSON.parse(practice.session.signSchedule(JSON.stringify(definition), Math.floor(Date.now() / 1000)));
    } catch (error) {
      alert.textContent = `Not saved: ${said(error)}.`;
      alert.scrollIntoView?.({ block: "nearest" });
      return;
    }
    save.disabled = true;
    status.textContent = "Signing and sending…";
    try {
      await (await practice.relay()).publish(event);
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not saved: ${error?.message ?? error}`;
      save.disabled = false;
      return;
    }
    saved(SAVED);
  });
  return [heading, form];
}

// The schedules of `practice` and their editor, in the Schedule view's section; `back()` draws
// the schedule again. `message` says what the last save did.
export async function showScheduleEditor(practice, back, message = "") {
  const section = $("schedule");
  // A schedule still being drawn stops here (schedule.js draws only if it is the newest).
  const drawing = Symbol("schedule-editor");
  section.drawing = drawing;
  const status = el("p", { role: "status", className: "form-status", text: message, attrs: { tabindex: "-1" } });
  const alert = el("p", { role: "alert", className: "form-error" });
  const backButton = el("button", { type: "button", text: "Back to the schedule" });
  backButton.addEventListener("click", () => back());
  const body = el("div", { className: "schedule-editor" });
  section.replaceChildren(el("h2", { text: "Hours and visit types" }),
    el("div", { className: "schedule-controls" }, backButton), status, alert, body);
  let schedules;
  try {
    const now = Math.floor(Date.now() / 1000);
    // The rosters and the schedules (the first of booking's filters; no slot holds).
    const [filter] = JSON.parse(scheduleFilters(now, now));
    const events = await (await practice.relay()).fetchAll(filter);
    schedules = JSON.parse(practiceSchedules(practice.connection.practice, JSON.stringify(events)));
  } catch (error) {
    alert.textContent = `The schedules could not be read: ${error?.message ?? error}`;
    return;
  }
  if (section.drawing !== drawing) return;
  const roster = JSON.parse(practice.session.roster());
  const names = new Map(roster.map((m) => [m.pubkey, m.name ?? m.role]));
  const staff = roster.filter((m) => m.active && BOOKED_ROLES.includes(m.role));
  const again = (said = "") => showScheduleEditor(practice, back, said);
  const edit = (schedule) => {
    const [heading, form] = scheduleForm(practice, schedule, staff, again, () => again());
    status.textContent = "";
    body.replaceChildren(heading, form);
    heading.focus();
  };
  const rows = schedules.map((s) => {
    const button = el("button", { type: "button", text: "Edit", attrs: { "aria-label": `Edit ${s.name}` } });
    button.addEventListener("click", () => edit(s));
    return el("tr", { attrs: { "data-schedule": s.id } },
      el("th", { scope: "row", text: s.name }),
      el("td", { text: names.get(s.clinician) ?? `${s.clinician.slice(0, 16)}…` }),
      el("td", { text: s.active ? "in use" : "not in use" }),
      el("td", { text: `${s.visit_types.length} visit types, ${s.time_off.length} time off` }),
      el("td", { className: "actions" }, button));
  });
  const create = el("button", { type: "button", text: "New schedule" });
  create.addEventListener("click", () => edit(null));
  body.append(
    rows.length
      ? el("table", { className: "schedule-table schedule-list" },
        el("caption", { text: "The practice's schedules" }),
        el("thead", {}, el("tr", {}, ...["Name", "Clinician", "Status", "Contents", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows))
      : el("p", { className: "empty", text: "No schedule yet: patients cannot book until there is one." }),
    create);
  // After a save, the keyboard is where its message is.
  if (message) status.focus();
  if (!practice.signer?.key) {
    body.append(el("p", { className: "empty", text: "Saving signs with a key held here: log in with your key file or a passkey to change a schedule." }));
  }
}
