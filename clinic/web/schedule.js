// The clinic's schedule (issue 22), for every staff role: the requests patients sent, waiting
// for an answer, and a day's appointments by clinician with their status. Confirming books the
// time she asked for; the core plans it (ehr_client::schedule::booking: the hold first, then
// the appointment, then the reminder record for the reminder agent), and the relay keeps one
// booking per time: when another desk took it a moment earlier, the hold is refused and the
// request is declined with that reason, which she reads in the portal. Arrived, in room, done,
// no-show and cancel are the appointment's next versions. DOM text via textContent.
import { appointmentFilters, freeSlots } from "/assets/ehr_web_wasm.js";
import { $, el } from "/dom.js";
import { fetchSchedule, filter } from "/protocol.js";
import { showScheduleEditor } from "/schedule-editor.js";

const STATUS = {
  proposed: "requested", booked: "booked", arrived: "arrived", "checked-in": "in room",
  fulfilled: "done", cancelled: "cancelled", noshow: "no-show", pending: "pending",
};
// What the desk may do next, by status: [label, operation].
const NEXT = {
  booked: [["Arrived", { op: "status", status: "arrived" }], ["No-show", { op: "status", status: "noshow" }],
    ["Cancel", { op: "cancel", reason: "Cancelled by the practice" }]],
  arrived: [["In room", { op: "status", status: "checked-in" }], ["Cancel", { op: "cancel", reason: "Cancelled by the practice" }]],
  "checked-in": [["Done", { op: "status", status: "fulfilled" }]],
};

// Requests are fetched by their topic tag, written within this many days (patients request
// up to the booking horizon ahead, so an older request names a time gone by).
const REQUEST_DAYS = 90;

// An appointment's status in words; a booking she asked to move is still booked meanwhile.
const statusOf = (item) => item.requested ? "booked, asks to move" : STATUS[item.appointment.status] ?? item.appointment.status;
const time = (iso) => new Date(iso).toLocaleTimeString([], { timeStyle: "short" });
const dayOf = (iso) => new Date(iso).toLocaleDateString("en-CA");
const clinicianOf = (a) => a.participant?.find((p) => !p.actor?.reference)?.actor?.display ?? "";

// Publish `events` in order; the first refusal stops and is thrown with the relay's reason.
async function publishAll(practice, events) {
  const relay = await practice.relay();
  for (const event of events) await relay.publish(event);
}

// The desk's `operation` on `item` ({patient, appointment}), published; `said(text)` reports.
async function act(practice, context, item, operation) {
  const offset = context.offsets.get(item.schedule) ?? 0;
  const plan = (op) => JSON.parse(practice.session.deskOperation(item.patient, JSON.stringify(item.appointment),
    JSON.stringify(op), practice.connection.name ?? "Your practice", offset, Math.floor(Date.now() / 1000),
    context.emailOf?.(item.patient) ?? ""));
  try {
    await publishAll(practice, plan(operation));
    return null;
  } catch (error) {
    const message = String(error?.message ?? error);
    if (operation.op === "book" && /blocked:/.test(message)) {
      // The first confirmation won: hers is declined, and she reads why.
      await publishAll(practice, plan({ op: "decline", reason: "This time was just taken: please choose another" }));
      return "That time was just taken by another booking: the request was declined, and the patient sees why.";
    }
    throw error;
  }
}

// Whose schedule is shown: a schedule's id, or "" for the whole practice (kept while the app
// is open).
let shownSchedule = "";

// The live subscription of the drawn schedule: what colleagues do appears at once.
let stopLive = null;

// Leave the schedule: its live subscription ends.
export function stopSchedule() {
  stopLive?.();
  stopLive = null;
}

// Follow appointments and holds as they are stored; `changed()` after a burst of them.
async function follow(practice, changed) {
  stopSchedule();
  let timer = null;
  const open = await practice.relay();
  stopLive = open.live(filter("appointments"), () => {
    clearTimeout(timer);
    timer = setTimeout(changed, 300);
  });
}

// The appointment versions of `from`..`to` (seconds; by their day tags, DESIGN.md §13
// "Scale"), the requests waiting, and the schedules and holds (`scheduleEvents`), as one list
// for the core to fold.
async function fetchAppointments(open, from, to, scheduleEvents) {
  const now = Math.floor(Date.now() / 1000);
  const filters = JSON.parse(appointmentFilters(from, to - 1, Math.max(0, now - REQUEST_DAYS * 86_400)));
  const parts = await Promise.all([...filters.days, filters.requests].map((f) => open.fetchAll(f)));
  return [...scheduleEvents, ...parts.flat()];
}

// The Monday of `day`'s week (YYYY-MM-DD), and its seven days.
function weekOf(day) {
  const date = new Date(`${day}T12:00:00`);
  const monday = new Date(date.getTime() - ((date.getDay() + 6) % 7) * 86_400_000);
  return Array.from({ length: 7 }, (_, i) => new Date(monday.getTime() + i * 86_400_000).toLocaleDateString("en-CA"));
}

// Draw the schedule of `practice` for the day (or its week) chosen; `openPatient(patient)`
// opens a chart.
export async function showSchedule(practice, openPatient, day = new Date().toLocaleDateString("en-CA"), message = "", view = "day") {
  const section = $("schedule");
  const status = el("p", { role: "status", className: "form-status", text: message });
  const alert = el("p", { role: "alert", className: "form-error" });
  const dayInput = el("input", { id: "schedule-day", type: "date", value: day });
  const refresh = el("button", { type: "button", text: "Refresh" });
  const hours = el("button", { type: "button", text: "Hours and visit types" });
  const who = el("select", { id: "schedule-who" }, el("option", { value: "", text: "Whole practice" }));
  const views = [["day", "Day"], ["week", "Week"]].map(([name, label]) => {
    const b = el("button", { type: "button", text: label, attrs: { "aria-pressed": String(name === view) } });
    b.addEventListener("click", () => showSchedule(practice, openPatient, dayInput.value, "", name));
    return b;
  });
  section.replaceChildren(el("h2", { text: "Schedule" }),
    el("div", { className: "schedule-controls" },
      el("div", { className: "field" }, el("label", { htmlFor: "schedule-day", text: "Day" }), dayInput),
      el("div", { className: "field" }, el("label", { htmlFor: "schedule-who", text: "Clinician" }), who), refresh,
      el("span", { className: "schedule-views", attrs: { role: "group", "aria-label": "View" } }, ...views), hours),
    status, alert);
  const redraw = (said = "") => showSchedule(practice, openPatient, dayInput.value, said, view);
  dayInput.addEventListener("change", () => redraw());
  who.addEventListener("change", () => {
    shownSchedule = who.value;
    redraw();
  });
  refresh.addEventListener("click", () => redraw());
  hours.addEventListener("click", () => { stopSchedule(); showScheduleEditor(practice, () => redraw()); });
  // A newer drawing (another day chosen meanwhile) wins: this one then stops.
  const drawing = Symbol("schedule");
  section.drawing = drawing;
  section.message = message;
  let list;
  const context = { offsets: new Map() };
  try {
    const open = await practice.relay();
    const from = Math.floor(new Date(`${view === "week" ? weekOf(day)[0] : day}T00:00:00`).getTime() / 1000);
    const to = from + (view === "week" ? 7 : 1) * 86_400;
    const scheduleEvents = await fetchSchedule(open, from, to);
    const events = await fetchAppointments(open, from, to, scheduleEvents);
    list = JSON.parse(practice.session.appointments(JSON.stringify(events)));
    // The free times of `date`, with that day's holds (fetched again: another day's are not here).
    context.freeOn = async (date) => {
      const start = Math.floor(new Date(`${date}T00:00:00`).getTime() / 1000);
      const dayEvents = date === day ? scheduleEvents : await fetchSchedule(open, start, start + 86_400);
      return JSON.parse(freeSlots(practice.connection.practice, JSON.stringify(dayEvents), start, start + 86_400, true));
    };
    const free = await context.freeOn(day);
    for (const schedule of free.schedules) context.offsets.set(schedule.id, schedule.utcOffsetMinutes);
    who.append(...free.schedules.map((schedule) => el("option", { value: schedule.id, text: schedule.name })));
    who.value = free.schedules.some((schedule) => schedule.id === shownSchedule) ? shownSchedule : "";
  } catch (error) {
    alert.textContent = `The schedule could not be read: ${error?.message ?? error}`;
    return;
  }
  if (section.drawing !== drawing) return;
  // What colleagues (and patients) do from now on redraws this view, keeping the last message
  // it was drawn with (not a "Signing and sending…" that a redraw of this member's own act
  // would then leave on screen).
  follow(practice, () => redraw(section.message)).catch(() => {});
  const names = new Map((practice.patients ?? []).map((p) => [p.patient, p]));
  const nameOf = (patient) => names.get(patient)?.name ?? "Unnamed patient";
  // Her email address, if her demographics give one: her reminders may go there too.
  context.emailOf = (patient) => names.get(patient)?.email ?? "";
  const button = (label, item, operation, done) => {
    const b = el("button", { type: "button", text: label, attrs: { "aria-label": `${label}: ${nameOf(item.patient)} at ${time(item.appointment.start)}` } });
    b.addEventListener("click", async () => {
      // A button made without its operation asks for it when pressed (the move's chosen time).
      const op = operation ?? b.operation();
      if (op.op === "cancel" && !window.confirm(`Cancel ${nameOf(item.patient)}'s appointment at ${time(item.appointment.start)}?`)) return;
      b.disabled = true;
      alert.textContent = "";
      status.textContent = "Signing and sending…";
      try {
        const said = await act(practice, context, item, op);
        await redraw(said ?? done);
      } catch (error) {
        status.textContent = "";
        alert.textContent = `Not done: ${error?.message ?? error}`;
        b.disabled = false;
      }
    });
    return b;
  };
  // Move a booked appointment: a day (its own at first), then that day's free times for its
  // visit type and clinician.
  const move = (item) => {
    const a = item.appointment;
    const code = a.appointmentType?.coding?.[0]?.code;
    const timesOn = async (date) => (await context.freeOn(date)).slots
      .filter((slot) => slot.visit_type === code && slot.schedule === item.schedule);
    const b = el("button", { type: "button", text: "Move",
      attrs: { "aria-label": `Move: ${nameOf(item.patient)} at ${time(a.start)}` } });
    b.addEventListener("click", async () => {
      const id = `move-${a.id}`;
      const date = el("input", { id: `${id}-day`, type: "date", value: dayOf(a.start) });
      const choice = el("select", { id });
      const go = button("Move here", item, null, `${nameOf(item.patient)} was moved.`);
      let times = [];
      const fill = async () => {
        go.disabled = true;
        try {
          times = await timesOn(date.value);
        } catch {
          times = [];
        }
        choice.replaceChildren(...(times.length
          ? times.map((slot, i) => el("option", { value: String(i), text: time(new Date(slot.start * 1000).toISOString()) }))
          : [el("option", { value: "", text: "No free time that day" })]));
        go.disabled = !times.length;
      };
      await fill();
      date.addEventListener("change", fill);
      go.operation = () => ({ op: "move", slot: times[Number(choice.value)] });
      b.replaceWith(el("span", { className: "move-to" },
        el("label", { htmlFor: `${id}-day`, text: "Day" }), " ", date, " ",
        el("label", { htmlFor: id, text: "New time" }), " ", choice, " ", go));
      choice.focus();
    });
    return b;
  };
  // The chart; once she has arrived (or is in the room), a clinician's button starts the
  // visit's note there, linked to this appointment.
  const open = (item) => {
    const patient = names.get(item.patient);
    const a = item.appointment;
    const visit = ["arrived", "checked-in"].includes(a.status) && practice.member?.reads?.includes("clinical");
    const label = visit ? "Start visit note" : "Open chart";
    const b = el("button", { type: "button", text: label, disabled: !patient,
      attrs: { "aria-label": `${label}: ${nameOf(item.patient)}${a.start ? ` at ${time(a.start)}` : ""}` } });
    b.addEventListener("click", () => openPatient(patient, visit
      ? { appointment: { id: a.id, start: a.start, typeText: a.appointmentType?.text ?? "" } }
      : {}));
    return b;
  };
  const row = (item, actions) => {
    const a = item.appointment;
    return el("tr", { attrs: { "data-appointment": a.id } },
      el("th", { scope: "row", text: a.start ? `${dayOf(a.start) === day ? "" : `${dayOf(a.start)} `}${time(a.start)}` : "" }),
      el("td", { text: clinicianOf(a) }),
      el("td", { text: nameOf(item.patient) }),
      el("td", { text: a.appointmentType?.text ?? "" }),
      el("td", { className: `appointment-status status-${a.status}`, text: statusOf(item) }),
      el("td", { className: "actions" }, ...actions));
  };
  const table = (caption, rows) => el("table", { className: "schedule-table" },
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, ...["Time", "Clinician", "Patient", "Visit", "Status", ""].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows));
  const upcoming = (a) => !a.start || new Date(a.start) > new Date();
  releaseCancelled(practice, context, list);
  // One clinician's, or the whole practice's (a cancellation above is freed whoever's it is).
  if (who.value) list = list.filter((item) => item.schedule === who.value);
  const requests = list.filter((item) => item.appointment.status === "proposed" && upcoming(item.appointment));
  section.append(el("h3", { text: `Requests waiting (${requests.length})` }),
    requests.length
      ? table("Requests from patients, to confirm or decline", requests.map((item) => row(item, [
        ...(item.requested ? [el("span", { className: "reschedule", text: `Asks to move to ${dayOf(new Date(item.requested.start * 1000).toISOString())} ${time(new Date(item.requested.start * 1000).toISOString())}` }), " "] : []),
        button("Confirm", item, { op: "book" }, `${nameOf(item.patient)} is booked.`), " ",
        button("Decline", item, { op: "decline", reason: "The practice could not offer this time" }, "Declined."), " ",
        open(item)])))
      : el("p", { className: "empty", text: "No request is waiting." }));
  if (view === "week") {
    section.append(weekTable(list, day, nameOf));
    return;
  }
  const today = list.filter((item) => item.appointment.start && dayOf(item.appointment.start) === day
    && (item.appointment.status !== "proposed" || item.requested));
  section.append(el("h3", { text: `Appointments on ${new Date(`${day}T12:00:00`).toLocaleDateString([], { dateStyle: "full" })} (${today.length})` }),
    today.length
      ? table("The day's appointments, by time", today.map((item) => row(item, [
        ...(NEXT[item.appointment.status] ?? []).flatMap(([label, operation]) => [button(label, item, operation, `${label}: done.`), " "]),
        ...(item.appointment.status === "booked" ? [move(item), " "] : []),
        open(item)])))
      : el("p", { className: "empty", text: "No appointment that day." }));
}

// A patient's cancellation leaves its time held (only staff hold and release): the first staff
// screen that sees it frees the time and cancels the reminder, once per screen.
const releasing = new Set();
function releaseCancelled(practice, context, list) {
  for (const item of list) {
    const a = item.appointment;
    if (a.status !== "cancelled" || !item.held || releasing.has(a.id)) continue;
    releasing.add(a.id);
    act(practice, context, item, { op: "release" }).catch(() => releasing.delete(a.id));
  }
}

// The week of `day`: one column a day, its appointments by time (requests are above).
function weekTable(list, day, nameOf) {
  const days = weekOf(day);
  const cell = (date) => el("td", {}, el("ul", { className: "week-day" },
    ...list.filter((item) => item.appointment.start && dayOf(item.appointment.start) === date
      && (item.appointment.status !== "proposed" || item.requested))
      .map((item) => el("li", { className: `status-${item.appointment.status}` },
        el("strong", { text: time(item.appointment.start) }), ` ${nameOf(item.patient)} · ${item.appointment.appointmentType?.text ?? ""} · ${statusOf(item)}`))));
  return el("table", { className: "schedule-week" },
    el("caption", { text: `The week of ${new Date(`${days[0]}T12:00:00`).toLocaleDateString([], { dateStyle: "long" })}` }),
    el("thead", {}, el("tr", {}, ...days.map((d) => el("th", { scope: "col", text: new Date(`${d}T12:00:00`).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" }) })))),
    el("tbody", {}, el("tr", {}, ...days.map(cell))));
}

