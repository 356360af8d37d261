// Appointments in the portal (issue 22): hers, upcoming and past, each in words; a request for a
// free time; cancelling one. The free times come from the practice's schedules and the times
// held (neither names any patient); her request and her cancellation are FHIR Appointments the
// core builds, signed as hers (practice copy to the office epoch, her copy to herself). The
// practice answers; she sees the answer when the chart reloads. DOM text via textContent only.
import { appointmentCancellation, appointmentRequest, appointmentReschedule, freeSlots } from "/assets/ehr_web_wasm.js";
import { empty, resources } from "/chart-view.js";
import { el } from "/dom.js";
import { fetchSchedule, filter } from "/protocol.js";
import { publishResource } from "/records.js";

const STATUS = {
  proposed: "Requested: waiting for the practice",
  pending: "Waiting for the practice",
  booked: "Booked",
  arrived: "Checked in",
  "checked-in": "In a room",
  fulfilled: "Done",
  cancelled: "Cancelled",
  noshow: "Missed",
  "entered-in-error": "Removed",
  waitlist: "On the waiting list",
};

const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "full", timeStyle: "short" });
const clinician = (a) => a.participant?.find((p) => !p.actor?.reference)?.actor?.display ?? "";
const visitType = (a) => a.appointmentType?.text ?? "";

// What her appointment says, in words.
function describe(appointment) {
  const asked = appointment.requestedPeriod?.[0]?.start;
  if (appointment.status === "proposed" && asked && appointment.start) {
    return `Booked; you asked to move it to ${when(asked)}: waiting for the practice`;
  }
  const status = STATUS[appointment.status] ?? appointment.status;
  const reason = appointment.cancelationReason?.text;
  if (appointment.status === "cancelled" && reason && reason !== "Cancelled by the patient") {
    return `Not booked: ${reason}`;
  }
  return status;
}

// One of her appointments, with Cancel while it still holds or asks for a time.
function appointmentItem(context, appointment) {
  const item = el("li", { className: `appointment appointment-${appointment.status}` },
    el("strong", { text: appointment.start ? when(appointment.start) : "(no time)" }), " ",
    el("span", { text: [visitType(appointment), clinician(appointment)].filter(Boolean).join(" with ") }), " ",
    el("span", { className: "appointment-status", text: describe(appointment) }));
  if (appointment.patientInstruction) item.append(el("p", { className: "appointment-note", text: appointment.patientInstruction }));
  const open = ["proposed", "booked"].includes(appointment.status) && new Date(appointment.start) > new Date();
  if (open) {
    const cancel = el("button", { type: "button", text: "Cancel", attrs: { "aria-label": `Cancel the appointment on ${when(appointment.start)}` } });
    const alert = el("p", { role: "alert", className: "form-error" });
    cancel.addEventListener("click", async () => {
      if (!window.confirm(`Cancel the appointment on ${when(appointment.start)}?`)) return;
      cancel.disabled = true;
      try {
        await publishResource(context, appointmentCancellation(JSON.stringify(appointment)));
        await context.reload();
      } catch (error) {
        alert.textContent = `Not cancelled: ${error?.message ?? error}`;
        cancel.disabled = false;
      }
    });
    item.append(" ", cancel, alert);
    if (appointment.status === "booked") item.append(" ", rescheduleButton(context, appointment));
  }
  return item;
}

// Ask to move a booked appointment: a day, then that day's free times of the same kind of
// visit with the same clinician. The booking keeps its time until the practice answers.
function rescheduleButton(context, appointment) {
  const ask = el("button", { type: "button", text: "Ask to move", attrs: { "aria-label": `Ask to move the appointment on ${when(appointment.start)}` } });
  ask.addEventListener("click", async () => {
    const id = `move-${appointment.id}`;
    const day = el("input", { id, type: "date", value: appointment.start.slice(0, 10) });
    const times = el("div", { className: "request-times", attrs: { role: "group", "aria-label": "Free times to move to" } });
    const alert = el("p", { role: "alert", className: "form-error" });
    const code = appointment.appointmentType?.coding?.[0]?.code;
    const draw = async () => {
      const from = Math.floor(new Date(`${day.value}T00:00:00`).getTime() / 1000);
      if (!Number.isFinite(from)) return;
      let events;
      try {
        events = await fetchSchedule(await context.relay(), from, from + 86_400);
      } catch (error) {
        alert.textContent = `The practice's schedule could not be read: ${error?.message ?? error}`;
        return;
      }
      const free = JSON.parse(freeSlots(context.connection.practice, JSON.stringify(events), from, from + 86_400, false));
      const slots = free.slots.filter((s) => s.visit_type === code && s.clinician === clinician(appointment));
      times.replaceChildren(...(slots.length ? [el("div", { className: "times" }, ...slots.map((slot) => {
        const label = new Date(slot.start * 1000).toLocaleTimeString([], { timeStyle: "short" });
        const choose = el("button", { type: "button", text: label, attrs: { "aria-label": `Move to ${label}` } });
        choose.addEventListener("click", async () => {
          choose.disabled = true;
          try {
            await publishResource(context, appointmentReschedule(JSON.stringify(appointment), JSON.stringify(slot), ""));
            await context.reload();
          } catch (error) {
            alert.textContent = `Not asked: ${error?.message ?? error}`;
            choose.disabled = false;
          }
        });
        return choose;
      }))] : [el("p", { className: "empty", text: "No free time that day. Try another day." })]));
    };
    day.addEventListener("change", draw);
    ask.replaceWith(el("div", { className: "appointment-move" },
      el("div", { className: "field" }, el("label", { htmlFor: id, text: "Move to which day?" }), day), times, alert));
    draw();
    day.focus();
  });
  return ask;
}

// The request form: a visit type, a day, then the free times of that day to choose from.
async function requestForm(context) {
  const box = el("section", { className: "appointment-request", attrs: { "aria-labelledby": "request-heading" } },
    el("h4", { id: "request-heading", text: "Request an appointment" }));
  const status = el("p", { role: "status", className: "form-status" });
  const alert = el("p", { role: "alert", className: "form-error" });
  const dayStart = (value) => Math.floor(new Date(`${value}T00:00:00`).getTime() / 1000);
  const firstDay = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  let events;
  try {
    events = await fetchSchedule(await context.relay(), dayStart(firstDay), dayStart(firstDay) + 86_400);
  } catch (error) {
    box.append(el("p", { className: "form-error", text: `The practice's schedule could not be read: ${error?.message ?? error}` }));
    return box;
  }
  const day = el("input", { id: "request-day", type: "date", value: firstDay });
  const type = el("select", { id: "request-type" });
  const comment = el("input", { id: "request-comment", type: "text", autocomplete: "off", maxLength: 500 });
  const times = el("div", { className: "request-times", attrs: { role: "group", "aria-label": "Free times" } });
  const types = new Map();
  let shown = firstDay;
  const draw = async () => {
    alert.textContent = "";
    const from = dayStart(day.value);
    if (!Number.isFinite(from)) return;
    if (day.value !== shown) {
      // Another day: its holds (the schedules come again with them).
      try {
        events = await fetchSchedule(await context.relay(), from, from + 86_400);
        shown = day.value;
      } catch (error) {
        alert.textContent = `The practice's schedule could not be read: ${error?.message ?? error}`;
        return;
      }
    }
    const free = JSON.parse(freeSlots(context.connection.practice, JSON.stringify(events), from, from + 86_400, false));
    if (!types.size) {
      for (const schedule of free.schedules) {
        for (const visit of schedule.visitTypes) types.set(visit.code, visit);
      }
      type.replaceChildren(...[...types.values()].map((v) => el("option", { value: v.code, text: `${v.label} (${v.minutes} min)` })));
    }
    const slots = free.slots.filter((s) => s.visit_type === type.value);
    // By clinician: her name, then her free times as a grid of buttons.
    const byClinician = new Map();
    for (const slot of slots) byClinician.set(slot.clinician, [...(byClinician.get(slot.clinician) ?? []), slot]);
    times.replaceChildren(...(slots.length ? [...byClinician].map(([name, theirs]) => el("div", {},
      el("h5", { text: name }),
      el("div", { className: "times" }, ...theirs.map((slot) => {
        const at = new Date(slot.start * 1000).toLocaleTimeString([], { timeStyle: "short" });
        const label = `${at} with ${slot.clinician}`;
        const choose = el("button", { type: "button", text: at, attrs: { "aria-label": label } });
        choose.addEventListener("click", () => send(slot, label));
        return choose;
      })))) : [el("p", { className: "empty", text: "No free time that day for this kind of visit. Try another day." })]));
  };
  const send = async (slot, label) => {
    alert.textContent = "";
    status.textContent = "Signing and sending your request…";
    try {
      const visit = types.get(slot.visit_type);
      const resource = appointmentRequest(JSON.stringify(context.chart), JSON.stringify(slot),
        JSON.stringify(visit), comment.value, Math.floor(Date.now() / 1000));
      await publishResource(context, resource);
      status.textContent = `Requested: ${label}. The practice will confirm it.`;
      await context.reload();
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not requested: ${error?.message ?? error}`;
    }
  };
  day.addEventListener("change", draw);
  type.addEventListener("change", draw);
  box.append(
    el("div", { className: "field" }, el("label", { htmlFor: "request-type", text: "Kind of visit" }), type),
    el("div", { className: "field" }, el("label", { htmlFor: "request-day", text: "Day" }), day),
    el("div", { className: "field" }, el("label", { htmlFor: "request-comment", text: "Anything the practice should know (optional)" }), comment),
    el("p", { className: "help", text: "Choose a free time; the practice confirms it, and you see it here." }),
    times, status, alert);
  draw();
  return box;
}

// While the tab is drawn, what the practice does to her appointments (a booking, a decline, a
// move, a check-in) shows at once: a subscription to her appointment events reloads her chart,
// unless she is typing in the tab (then a notice offers the change).
let stopLive = null;
async function followAppointments(panel, context) {
  stopLive?.();
  stopLive = null;
  const patient = context.chart?.patient;
  if (!patient) return;
  const open = await context.relay();
  let timer = null;
  const stop = open.live({ ...filter("appointments"), "#p": [patient] }, (event) => {
    // Her own writes reload the chart already.
    if (event.pubkey === context.signer.publicKey) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!panel.isConnected || panel.hidden) return;
      const typing = panel.contains(document.activeElement) && document.activeElement.matches("input, select, textarea");
      if (!typing) {
        context.reload();
        return;
      }
      if (panel.querySelector(".appointments-changed")) return;
      const show = el("button", { type: "button", text: "Show it" });
      show.addEventListener("click", () => context.reload());
      panel.prepend(el("p", { role: "status", className: "appointments-changed" }, "The practice changed your appointments. ", show));
    }, 300);
  });
  stopLive = stop;
}

async function mountAppointments(panel, context) {
  followAppointments(panel, context).catch(() => {});
  const mine = resources(context.chart, "Appointment")
    .sort((a, b) => String(a.start).localeCompare(String(b.start)));
  const now = new Date();
  const upcoming = mine.filter((a) => new Date(a.start) >= now);
  const past = mine.filter((a) => new Date(a.start) < now).reverse();
  panel.append(el("h3", { text: "Appointments" }),
    el("h4", { text: "Upcoming" }),
    upcoming.length ? el("ul", { className: "appointments" }, ...upcoming.map((a) => appointmentItem(context, a))) : empty("No upcoming appointments."));
  panel.append(await requestForm(context));
  panel.append(el("h4", { text: "Past" }),
    past.length ? el("ul", { className: "appointments" }, ...past.map((a) => appointmentItem(context, a))) : empty("No past appointments."));
}

// A guardian books, moves and cancels for her ward too (signed by her, for the ward).
export const APPOINTMENTS_TAB = { id: "appointments", label: "Appointments", mount: mountAppointments };
