//! Scheduling for the browser apps (issue 22; `ehr_client::schedule`): the free slots a
//! patient may request, her request and her cancellation, and the desk's appointment list and
//! operations. JSON in, JSON out; every rule is the core's.

use ehr_client::fhir::{AppointmentStatus, Resource};
use ehr_client::kinds::ClinicalKind;
use ehr_client::roster::verify_roster_chain;
use ehr_client::schedule::booking::{self, Desk};
use ehr_client::schedule::{
    FreeSlot, Holds, ScheduleDefinition, ScheduleError, may_schedule, schedule_event, schedules,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::member::MemberSession;
use super::records::{patient_id, resource_of};
use super::{ApiError, parse_events, public_key, seconds};

/// The free slots of the practice whose root is `practice` from `from` to `to` (seconds), from
/// `events` (rosters, schedules, holds): `{"schedules": [{"id", "name", "visitTypes"}],
/// "slots": [...]}`, only visit types patients may request unless `staff`.
pub fn free_slots(
    practice: &str,
    events: &str,
    from: f64,
    to: f64,
    staff: bool,
) -> Result<String, ApiError> {
    let practice = public_key(practice, "practice")?;
    let (events, _) = parse_events(events)?;
    let roster = verify_roster_chain(&practice, &events);
    let holds = Holds::from_events(&roster, &events);
    let (from, to) = (seconds(from)?.as_secs(), seconds(to)?.as_secs());
    let mut listed = Vec::new();
    let mut slots = Vec::new();
    for schedule in schedules(&roster, &events).into_iter().filter(|s| s.active) {
        let types: Vec<_> = schedule
            .visit_types
            .iter()
            .filter(|v| staff || v.bookable_online)
            .collect();
        for visit in &types {
            slots.extend(
                schedule
                    .free_slots(&holds, &visit.code, from, to)
                    .map_err(|e| ApiError::Record(e.to_string()))?,
            );
        }
        listed.push(json!({
            "id": schedule.id,
            "name": schedule.name,
            "clinician": schedule.clinician,
            "utcOffsetMinutes": schedule.utc_offset_minutes,
            "visitTypes": types,
        }));
    }
    slots.sort_by_key(|s| (s.start, s.schedule.clone()));
    Ok(json!({ "schedules": listed, "slots": slots }).to_string())
}

/// Her request for `slot` (a slot of [`free_slots`], JSON) of visit type `visit` (`{"code",
/// "label", "minutes"}`), with `comment`, in the chart she opened (`chart`): FHIR JSON to sign
/// as hers (`signPatientEvent`).
pub fn request(
    chart: &str,
    slot: &str,
    visit: &str,
    comment: &str,
    now: f64,
) -> Result<String, ApiError> {
    let slot: FreeSlotInput =
        serde_json::from_str(slot).map_err(|_| ApiError::Field("slot", "is not a slot"))?;
    let visit: ehr_client::schedule::VisitType = serde_json::from_str(visit)
        .map_err(|_| ApiError::Field("visit type", "is not a visit type"))?;
    let slot = slot.into_slot();
    let resource = booking::request(
        &patient_id(chart)?,
        &slot,
        &visit,
        Some(comment),
        seconds(now)?.as_secs(),
    );
    Ok(resource.to_json())
}

/// Her request to move `appointment` (its current FHIR JSON, booked) to `slot` (a free slot of
/// the same schedule), with `comment`: the next version, to sign.
pub fn reschedule(appointment: &str, slot: &str, comment: &str) -> Result<String, ApiError> {
    let slot: FreeSlotInput =
        serde_json::from_str(slot).map_err(|_| ApiError::Field("slot", "is not a slot"))?;
    booking::patient_reschedule(&resource_of(appointment)?, &slot.into_slot(), Some(comment))
        .map(|r| r.to_json())
        .map_err(|e| ApiError::Record(e.to_string()))
}

/// The filters of the desk's views (DESIGN.md §13, "Scale"): the appointment versions of the
/// UTC days `from`..`to` (seconds) touch, with those that moved away from them, and the
/// requests written since `since`: `{"days": [filter, filter], "requests": filter}`.
pub fn appointment_filters(from: f64, to: f64, since: f64) -> Result<String, ApiError> {
    let (from, to) = (seconds(from)?.as_secs(), seconds(to)?.as_secs());
    if to < from || to - from > 62 * 86_400 {
        return Err(ApiError::Field("days", "run forward, at most 62 of them"));
    }
    let days: Vec<String> = (from / 86_400..=to / 86_400)
        .map(|d| d.to_string())
        .collect();
    let kind = ClinicalKind::Appointment.as_u16();
    Ok(json!({
        "days": [
            { "kinds": [kind], "#D": days },
            { "kinds": [kind], "#M": days },
        ],
        "requests": {
            "kinds": [kind],
            "#t": [ehr_client::tags::TOPIC_REQUEST],
            "since": seconds(since)?.as_secs(),
        },
    })
    .to_string())
}

/// What booking reads for the days `from`..`to` (seconds): the rosters and schedules, and the
/// holds of those days (JSON, a list of filters).
pub fn schedule_filters(from: f64, to: f64) -> Result<String, ApiError> {
    let (from, to) = (seconds(from)?.as_secs(), seconds(to)?.as_secs());
    if to < from || to - from > 62 * 86_400 {
        return Err(ApiError::Field("days", "run forward, at most 62 of them"));
    }
    serde_json::to_string(&ehr_client::schedule::schedule_filters(from, to))
        .map_err(|_| ApiError::Chart)
}

/// Her cancellation of `appointment` (its current FHIR JSON): the next version, to sign.
pub fn cancellation(appointment: &str) -> Result<String, ApiError> {
    booking::patient_cancellation(&resource_of(appointment)?)
        .map(|r| r.to_json())
        .map_err(|e| ApiError::Record(e.to_string()))
}

/// A slot as the page hands it back.
#[derive(Debug, Deserialize)]
struct FreeSlotInput {
    slot: String,
    schedule: String,
    clinician: String,
    start: u64,
    end: u64,
    visit_type: String,
}

impl FreeSlotInput {
    fn into_slot(self) -> FreeSlot {
        FreeSlot {
            slot: self.slot,
            schedule: self.schedule,
            clinician: self.clinician,
            start: self.start,
            end: self.end,
            visit_type: self.visit_type,
        }
    }
}

/// The appointments `session` reads in `events` (kind 2124, and the slot holds among them):
/// the current version of each, with its patient, its schedule, whether its time is still
/// held, and the time a reschedule asks for, by start: `[{"patient", "schedule", "held",
/// "requested", "appointment"}]`.
pub fn appointments(session: &MemberSession, events: &str) -> Result<String, ApiError> {
    let (events, _) = parse_events(events)?;
    let holds = Holds::from_events(session.view().roster(), &events);
    let opened = session.view().open(
        events
            .iter()
            .filter(|e| e.kind.as_u16() == ClinicalKind::Appointment.as_u16()),
        None,
    );
    let mut current: std::collections::BTreeMap<String, (u32, u64, String, Resource)> =
        std::collections::BTreeMap::new();
    type Rank = (u32, u64);
    let mut desk_held: std::collections::BTreeMap<String, (Rank, Option<String>)> =
        std::collections::BTreeMap::new();
    for record in opened.records {
        let Some(id) = record.resource.id().map(str::to_owned) else {
            continue;
        };
        // Her versions count only where a patient may act (as the chart folds them).
        let hers_out_of_bounds = record.is_patient_authored()
            && record
                .resource
                .as_appointment()
                .is_some_and(|a| !booking::patient_may_set(a.status));
        if hers_out_of_bounds {
            continue;
        }
        let rank = (record.resource.version(), record.created_at.as_secs());
        if !record.is_patient_authored() {
            // The slot the practice's newest version held, if it held one.
            let holding = record
                .resource
                .as_appointment()
                .filter(|a| booking::holds_time(a) && a.status != AppointmentStatus::Cancelled)
                .and_then(booking::held_slot)
                .map(|s| s.slot);
            if desk_held.get(&id).is_none_or(|(r, _)| *r < rank) {
                desk_held.insert(id.clone(), (rank, holding));
            }
        }
        if current.get(&id).is_none_or(|(v, t, _, _)| (*v, *t) < rank) {
            current.insert(
                id,
                (rank.0, rank.1, record.patient.to_hex(), record.resource),
            );
        }
    }
    let mut list: Vec<Value> = current
        .into_values()
        .map(|(_, _, patient, resource)| {
            // The schedule it holds a time of (the desk's views group and move by it).
            let appointment = resource.as_appointment();
            let slot = appointment.and_then(booking::held_slot);
            let requested = appointment.and_then(booking::requested_slot);
            // Its time is still held for it: held now, and the practice's newest version held
            // that very slot (a declined request's time may be someone else's booking).
            let held_for_it = slot.as_ref().is_some_and(|s| {
                holds.is_held(&s.slot)
                    && appointment
                        .and_then(|a| a.id.as_deref())
                        .and_then(|id| desk_held.get(id))
                        .is_some_and(|(_, held)| held.as_deref() == Some(s.slot.as_str()))
            });
            json!({
                "patient": patient,
                "schedule": slot.as_ref().map(|s| s.schedule.clone()),
                "held": held_for_it,
                "requested": requested,
                "appointment": serde_json::to_value(&resource).unwrap_or(Value::Null),
            })
        })
        .collect();
    list.sort_by(|a, b| {
        let start = |v: &Value| {
            v.pointer("/appointment/start")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        start(a).cmp(&start(b))
    });
    serde_json::to_string(&list).map_err(|_| ApiError::Chart)
}

/// One operation of the desk.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum DeskOperation {
    /// Book into `slot`, or (none) the time she requested.
    Book {
        #[serde(default)]
        slot: Option<Value>,
    },
    Move {
        slot: Value,
    },
    Decline {
        reason: String,
    },
    Cancel {
        reason: String,
    },
    Status {
        status: String,
    },
    Release,
}

/// Where and when the desk acts: the practice's name and wall clock (minutes ahead of UTC),
/// now (seconds), and the patient's email address (empty: none) for her reminder record.
#[derive(Debug, Clone, Copy)]
pub struct DeskSetting<'a> {
    /// The practice's name, as reminders say it.
    pub practice: &'a str,
    /// Its wall clock's offset from UTC.
    pub utc_offset_minutes: i32,
    /// Now, from the browser's clock.
    pub now: f64,
    /// Her email address, or empty.
    pub email: &'a str,
}

/// What the desk does to `appointment` (its current FHIR JSON) of `patient`: `operation` (JSON:
/// `{"op": "book" | "move", "slot"}`, `{"op": "decline" | "cancel", "reason"}`, `{"op":
/// "status", "status": "arrived" | "checked-in" | "fulfilled" | "noshow"}`, `{"op": "release"}`
/// for a time the patient's cancellation left held), as the member,
/// in `setting`: the signed events to publish in order (a hold first).
pub fn desk(
    session: &MemberSession,
    patient: &str,
    appointment: &str,
    operation: &str,
    setting: &DeskSetting<'_>,
) -> Result<String, ApiError> {
    let DeskSetting {
        practice,
        utc_offset_minutes,
        now,
        email,
    } = *setting;
    let actor = session.held_key().ok_or(ApiError::Record(
        "the desk signs with a key held here".to_owned(),
    ))?;
    let patient = public_key(patient, "patient")?;
    let current = resource_of(appointment)?;
    let operation: DeskOperation = serde_json::from_str(operation)
        .map_err(|_| ApiError::Operation("book, move, decline, cancel or status"))?;
    let desk = Desk {
        view: session.view(),
        actor,
        now: seconds(now)?,
        practice,
        utc_offset_minutes,
    };
    // Her email address (from her demographics, which the desk reads) rides on the reminder
    // record of a booking or a move, for the agent's email reminder.
    let email = Some(email.trim()).filter(|e| !e.is_empty());
    let contact = desk.with_contact(email);
    let slot = |value: Value| -> Result<FreeSlot, ApiError> {
        serde_json::from_value::<FreeSlotInput>(value)
            .map(FreeSlotInput::into_slot)
            .map_err(|_| ApiError::Field("slot", "is not a slot"))
    };
    let refused = |e: ehr_client::schedule::ScheduleError| ApiError::Record(e.to_string());
    let events = match operation {
        DeskOperation::Book { slot: s } => {
            let slot = match s {
                Some(s) => slot(s)?,
                // A reschedule request books the time asked for; a request, its own time.
                None => current
                    .as_appointment()
                    .and_then(|a| booking::requested_slot(a).or_else(|| booking::held_slot(a)))
                    .ok_or(ApiError::Field("appointment", "names no time to book"))?,
            };
            contact.book(&patient, &current, &slot).map_err(refused)?
        }
        DeskOperation::Move { slot: s } => contact
            .move_to(&patient, &current, &slot(s)?)
            .map_err(refused)?,
        DeskOperation::Decline { reason } => {
            vec![desk.decline(&patient, &current, &reason).map_err(refused)?]
        }
        DeskOperation::Cancel { reason } => {
            desk.cancel(&patient, &current, &reason).map_err(refused)?
        }
        DeskOperation::Release => desk.release(&patient, &current).map_err(refused)?,
        DeskOperation::Status { status } => {
            let status = AppointmentStatus::from_code(&status)
                .ok_or(ApiError::Field("status", "is not an appointment status"))?;
            vec![
                desk.set_status(&patient, &current, status)
                    .map_err(refused)?,
            ]
        }
    };
    serde_json::to_string(&events).map_err(|_| ApiError::Signing)
}

/// The schedules in force of the practice whose root is `practice`, from `events` (rosters and
/// schedules): the newest version of each, active or not, as the member who may schedule
/// signed it (`ehr_client::schedule::schedules`): a JSON list of full definitions, by id.
pub fn practice_schedules(practice: &str, events: &str) -> Result<String, ApiError> {
    let practice = public_key(practice, "practice")?;
    let (events, _) = parse_events(events)?;
    let roster = verify_roster_chain(&practice, &events);
    serde_json::to_string(&schedules(&roster, &events)).map_err(|_| ApiError::Chart)
}

/// `definition` (a schedule's JSON, its clinician an npub or hex) signed by the member at `now`:
/// the kind 2123 event (JSON) that replaces the schedule of that id. Refused, with the rule,
/// when the definition breaks one (`ScheduleDefinition::check`), when the member may not
/// schedule, or when the key is not held here.
pub fn sign_schedule(
    session: &MemberSession,
    definition: &str,
    now: f64,
) -> Result<String, ApiError> {
    let author = session.held_key().ok_or(ApiError::Record(
        "a schedule is signed with a key held here: log in with your key file or a passkey"
            .to_owned(),
    ))?;
    let mut definition: ScheduleDefinition = serde_json::from_str(definition)
        .map_err(|_| ApiError::Field("schedule", "is not a schedule definition"))?;
    definition.clinician = public_key(&definition.clinician, "clinician")?.to_hex();
    let at = seconds(now)?;
    if !may_schedule(session.view().roster(), &author.public_key(), at) {
        return Err(ApiError::Record(ScheduleError::NotStaff.to_string()));
    }
    let event =
        schedule_event(author, &definition, at).map_err(|e| ApiError::Record(e.to_string()))?;
    serde_json::to_string(&event).map_err(|_| ApiError::Signing)
}

#[cfg(test)]
mod tests;
