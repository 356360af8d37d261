//! The appointment operations (kind 2124): a patient's request, and what the desk does with it.
//! Each operation returns its signed events in publication order; the hold comes first, so a
//! slot another desk took a moment earlier is refused by the relay before anything else is
//! published (then the request is declined: "this time was just taken").

use nostr::prelude::{Event, PublicKey, Timestamp};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::reminder::{ReminderRecord, reminder_agent, reminder_event};
use super::{FreeSlot, ScheduleError, VisitType, hold_event};
use crate::access::PracticeView;
use crate::event::ClinicalEventBuilder;
use crate::fhir::{
    Appointment, AppointmentParticipant, AppointmentStatus, CodeableConcept, Coding, Identifier,
    RecordAction, Reference, Resource,
};
use crate::keys::Identity;
use crate::kinds::ClinicalKind;

/// The code system of the practice's visit types.
pub const VISIT_TYPE_SYSTEM: &str = "urn:nostr-ehr:visit-type";
/// The identifier system of a clinician's key in a participant.
pub const MEMBER_SYSTEM: &str = "urn:nostr-ehr:member";

fn instant(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn instant_seconds(text: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// A patient's request for `slot` (visit type `visit`), with her `comment`: the Appointment's
/// first version, proposed, for her to sign (the portal) or the desk on her behalf.
pub fn request(
    patient_id: &str,
    slot: &FreeSlot,
    visit: &VisitType,
    comment: Option<&str>,
    now: u64,
) -> Resource {
    Resource::Appointment(Appointment {
        id: Some(crate::demo::new_id()),
        meta: Some(crate::fhir::Meta {
            version_id: Some("1".to_owned()),
            ..crate::fhir::Meta::default()
        }),
        status: AppointmentStatus::Proposed,
        appointment_type: Some(CodeableConcept {
            coding: vec![Coding {
                system: Some(VISIT_TYPE_SYSTEM.to_owned()),
                code: Some(visit.code.clone()),
                display: Some(visit.label.clone()),
                ..Coding::default()
            }],
            text: Some(visit.label.clone()),
        }),
        start: Some(instant(slot.start)),
        end: Some(instant(slot.end)),
        minutes_duration: Some(visit.minutes),
        slot: vec![Reference::to("Slot", &slot.slot)],
        created: Some(instant(now)),
        comment: comment.filter(|c| !c.trim().is_empty()).map(str::to_owned),
        participant: vec![
            AppointmentParticipant {
                actor: Some(Reference::to("Patient", patient_id)),
                status: "accepted".to_owned(),
                ..AppointmentParticipant::default()
            },
            AppointmentParticipant {
                actor: Some(Reference {
                    display: Some(slot.clinician.clone()),
                    identifier: Some(Identifier {
                        system: Some(MEMBER_SYSTEM.to_owned()),
                        value: Some(slot.schedule.clone()),
                        ..Identifier::default()
                    }),
                    ..Reference::default()
                }),
                status: "needs-action".to_owned(),
                ..AppointmentParticipant::default()
            },
        ],
        ..Appointment::default()
    })
}

/// The Appointment in `resource`, or why not.
fn appointment_of(resource: &Resource) -> Result<&Appointment, ScheduleError> {
    resource
        .as_appointment()
        .ok_or(ScheduleError::Invalid("not an Appointment"))
}

/// Whether a patient (or her guardian) may put an appointment in `status`: asking for a time
/// (proposed) or cancelling; booking, check-in and the rest are the desk's.
pub fn patient_may_set(status: AppointmentStatus) -> bool {
    matches!(
        status,
        AppointmentStatus::Proposed | AppointmentStatus::Cancelled
    )
}

/// The patient's cancellation of her appointment (`current`): its next version, cancelled by
/// her, for her to sign. The desk releases the time when it sees it.
pub fn patient_cancellation(current: &Resource) -> Result<Resource, ScheduleError> {
    let mut appointment = appointment_of(current)?.clone();
    appointment.status = AppointmentStatus::Cancelled;
    appointment.requested_period.clear();
    appointment.cancelation_reason = Some(CodeableConcept {
        text: Some("Cancelled by the patient".to_owned()),
        ..CodeableConcept::default()
    });
    let mut resource = Resource::Appointment(appointment);
    resource.set_version(current.version() + 1, RecordAction::StatusUpdate);
    Ok(resource)
}

/// Her request to move her booked appointment (`current`) to `slot`, a free time of the same
/// clinician's schedule, with her `comment`: the next version, proposed again, naming the new
/// time as its requested period. The booking keeps its time until the desk answers: moved
/// there, or left where it was.
pub fn patient_reschedule(
    current: &Resource,
    slot: &FreeSlot,
    comment: Option<&str>,
) -> Result<Resource, ScheduleError> {
    let mut appointment = appointment_of(current)?.clone();
    let held = held_slot(&appointment).ok_or(ScheduleError::NotFree)?;
    if appointment.status != AppointmentStatus::Booked || held.schedule != slot.schedule {
        return Err(ScheduleError::Invalid(
            "only a booked appointment moves, within its clinician's schedule",
        ));
    }
    appointment.status = AppointmentStatus::Proposed;
    appointment.requested_period = vec![crate::fhir::Period {
        start: Some(instant(slot.start)),
        end: Some(instant(slot.end)),
    }];
    appointment.patient_instruction = None;
    if let Some(comment) = comment.filter(|c| !c.trim().is_empty()) {
        appointment.comment = Some(comment.to_owned());
    }
    let mut resource = Resource::Appointment(appointment);
    resource.set_version(current.version() + 1, RecordAction::StatusUpdate);
    Ok(resource)
}

/// The time a reschedule request asks for (the booked time's schedule, the requested period),
/// if `appointment` is one.
pub fn requested_slot(appointment: &Appointment) -> Option<FreeSlot> {
    if appointment.status != AppointmentStatus::Proposed {
        return None;
    }
    let period = appointment.requested_period.first()?;
    let held = held_slot(appointment)?;
    let start = instant_seconds(period.start.as_deref()?)?;
    let end = instant_seconds(period.end.as_deref()?)?;
    Some(FreeSlot {
        slot: super::slot_id(&held.schedule, start),
        schedule: held.schedule,
        clinician: String::new(),
        start,
        end,
        visit_type: String::new(),
    })
}

/// Whether `appointment` holds its time: booked or later, or asking to move from it.
pub fn holds_time(appointment: &Appointment) -> bool {
    appointment.status != AppointmentStatus::Proposed || !appointment.requested_period.is_empty()
}

/// The slot an appointment holds (from its `slot` reference and its times).
pub fn held_slot(appointment: &Appointment) -> Option<FreeSlot> {
    let slot = appointment.slot.first()?.target()?.1.to_owned();
    let (schedule, start) = slot.rsplit_once('.')?;
    let start: u64 = start.parse().ok()?;
    let end = instant_seconds(appointment.end.as_deref()?)?;
    Some(FreeSlot {
        slot: slot.clone(),
        schedule: schedule.to_owned(),
        clinician: String::new(),
        start,
        end,
        visit_type: String::new(),
    })
}

/// The desk acting on appointments: the member's view, her key, the time, and what reminders
/// name (the practice and its wall clock).
#[derive(Debug, Clone, Copy)]
pub struct Desk<'a> {
    /// The member's view (her office keys).
    pub view: &'a PracticeView,
    /// Her key.
    pub actor: &'a Identity,
    /// Now.
    pub now: Timestamp,
    /// The practice's name.
    pub practice: &'a str,
    /// Its wall clock's offset, minutes.
    pub utc_offset_minutes: i32,
}

impl<'a> Desk<'a> {
    fn check(&self) -> Result<(), ScheduleError> {
        if super::may_schedule(self.view.roster(), &self.actor.public_key(), self.now) {
            Ok(())
        } else {
            Err(ScheduleError::NotStaff)
        }
    }

    /// `current`'s next version with `change` applied, signed under her office key.
    fn next(
        &self,
        patient: &PublicKey,
        current: &Resource,
        change: impl FnOnce(&mut Appointment),
    ) -> Result<Event, ScheduleError> {
        let mut appointment = appointment_of(current)?.clone();
        change(&mut appointment);
        let mut resource = Resource::Appointment(appointment);
        resource.set_version(current.version() + 1, RecordAction::StatusUpdate);
        let builder = ClinicalEventBuilder::new(ClinicalKind::Appointment, resource, *patient)
            .map_err(|_| ScheduleError::Invalid("the appointment is not valid FHIR"))?
            .after(current)
            .created_at(self.now);
        self.view
            .sign_record(self.actor, builder)
            .map(|e| e.event().clone())
            .map_err(|_| ScheduleError::Signing)
    }

    /// The same desk writing reminder records that carry the patient's email address, `email`
    /// (from her demographics: [`patient_email`](super::reminder::patient_email)), so that the
    /// agent may remind her by email as well; `None` as without it. The address goes into the
    /// records of booking and moving (those she is reminded of), never into a cancelled one.
    pub fn with_contact(self, email: Option<&'a str>) -> ContactDesk<'a> {
        ContactDesk { desk: self, email }
    }
}

impl Desk<'_> {
    /// The reminder record of `appointment` for the agent, when the practice has one; with the
    /// patient's `email` when given and the appointment stands.
    fn reminder(
        &self,
        patient: &PublicKey,
        appointment: &Resource,
        start: u64,
        cancelled: bool,
        email: Option<&str>,
    ) -> Result<Option<Event>, ScheduleError> {
        let Some(agent) = reminder_agent(self.view.roster(), self.now) else {
            return Ok(None);
        };
        let record = ReminderRecord {
            appointment: appointment.id().unwrap_or_default().to_owned(),
            patient: patient.to_hex(),
            start,
            practice: self.practice.to_owned(),
            utc_offset_minutes: self.utc_offset_minutes,
            cancelled,
            email: email
                .map(str::trim)
                .filter(|e| !cancelled && !e.is_empty())
                .map(str::to_owned),
        };
        reminder_event(self.actor, &agent, &record, self.now).map(Some)
    }

    /// Book `current` (a request) into `slot`: the hold, the appointment booked, the reminder.
    pub fn book(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.book_for(patient, current, slot, None)
    }

    /// [`Desk::book`], the reminder record carrying `email` when given.
    fn book_for(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
        email: Option<&str>,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.check()?;
        let mut events = vec![hold_event(self.actor, slot, true, self.now)?];
        let appointment = appointment_of(current)?;
        // A reschedule request holds its old time until now: released once the new is held.
        if let Some(old) = held_slot(appointment).filter(|_| holds_time(appointment)) {
            events.push(hold_event(self.actor, &old, false, self.now)?);
        }
        let booked = self.next(patient, current, |a| {
            a.status = AppointmentStatus::Booked;
            a.requested_period.clear();
            a.patient_instruction = None;
            a.start = Some(instant(slot.start));
            a.end = Some(instant(slot.end));
            a.minutes_duration = u32::try_from((slot.end - slot.start) / 60).ok();
            a.slot = vec![Reference::to("Slot", &slot.slot)];
            for p in &mut a.participant {
                p.status = "accepted".to_owned();
            }
        })?;
        events.push(booked);
        events.extend(self.reminder(patient, current, slot.start, false, email)?);
        Ok(events)
    }

    /// Decline `current` (a request): cancelled, with `reason` (no slot was held).
    pub fn decline(
        &self,
        patient: &PublicKey,
        current: &Resource,
        reason: &str,
    ) -> Result<Event, ScheduleError> {
        self.check()?;
        if requested_slot(appointment_of(current)?).is_some() {
            // A reschedule declined: the booking stays where it was, and she reads why.
            return self.next(patient, current, |a| {
                a.status = AppointmentStatus::Booked;
                a.requested_period.clear();
                a.patient_instruction = Some(format!("Your appointment was not moved: {reason}"));
            });
        }
        self.next(patient, current, |a| {
            a.status = AppointmentStatus::Cancelled;
            a.cancelation_reason = Some(CodeableConcept {
                text: Some(reason.to_owned()),
                ..CodeableConcept::default()
            });
        })
    }

    /// Arrived, in a room (checked in), fulfilled, or a no-show.
    pub fn set_status(
        &self,
        patient: &PublicKey,
        current: &Resource,
        status: AppointmentStatus,
    ) -> Result<Event, ScheduleError> {
        self.check()?;
        if !matches!(
            status,
            AppointmentStatus::Arrived
                | AppointmentStatus::CheckedIn
                | AppointmentStatus::Fulfilled
                | AppointmentStatus::Noshow
        ) {
            return Err(ScheduleError::Invalid(
                "use book, move or cancel for this status",
            ));
        }
        self.next(patient, current, |a| a.status = status)
    }

    /// Cancel `current`: its slot released, the appointment cancelled, its reminder cancelled.
    pub fn cancel(
        &self,
        patient: &PublicKey,
        current: &Resource,
        reason: &str,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.check()?;
        let appointment = appointment_of(current)?;
        let mut events = Vec::new();
        let was_booked = holds_time(appointment);
        if let Some(slot) = held_slot(appointment).filter(|_| was_booked) {
            events.push(hold_event(self.actor, &slot, false, self.now)?);
        }
        events.push(self.next(patient, current, |a| {
            a.status = AppointmentStatus::Cancelled;
            a.requested_period.clear();
            a.cancelation_reason = Some(CodeableConcept {
                text: Some(reason.to_owned()),
                ..CodeableConcept::default()
            });
        })?);
        if was_booked {
            let start = held_slot(appointment).map_or(0, |s| s.start);
            events.extend(self.reminder(patient, current, start, true, None)?);
        }
        Ok(events)
    }

    /// Free the time of `current`, an appointment the patient cancelled: its hold released
    /// and its reminder cancelled (her cancellation cannot release the desk's hold itself; the
    /// first staff screen that sees it does).
    pub fn release(
        &self,
        patient: &PublicKey,
        current: &Resource,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.check()?;
        let appointment = appointment_of(current)?;
        if appointment.status != AppointmentStatus::Cancelled {
            return Err(ScheduleError::Invalid(
                "only a cancelled appointment is released",
            ));
        }
        let slot = held_slot(appointment).ok_or(ScheduleError::Invalid("it holds no time"))?;
        let mut events = vec![hold_event(self.actor, &slot, false, self.now)?];
        events.extend(self.reminder(patient, current, slot.start, true, None)?);
        Ok(events)
    }

    /// Move `current` (booked) to `slot`: the new time held, the old released, the appointment
    /// at its new time, the reminder moved.
    pub fn move_to(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.move_for(patient, current, slot, None)
    }

    /// [`Desk::move_to`], the reminder record carrying `email` when given.
    fn move_for(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
        email: Option<&str>,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.check()?;
        if !holds_time(appointment_of(current)?) {
            return Err(ScheduleError::Invalid("only a booked appointment moves"));
        }
        self.book_for(patient, current, slot, email)
    }
}

/// The desk booking for a patient whose demographics name an email address
/// ([`Desk::with_contact`]): booking and moving write reminder records that carry it, so the
/// reminder agent may send her the reminder by email as well as by message. Its other
/// operations (decline, status, cancel, release) are the desk's own, through [`ContactDesk::desk`].
#[derive(Debug, Clone, Copy)]
pub struct ContactDesk<'a> {
    desk: Desk<'a>,
    email: Option<&'a str>,
}

impl<'a> ContactDesk<'a> {
    /// The desk itself.
    pub fn desk(&self) -> Desk<'a> {
        self.desk
    }

    /// [`Desk::book`], her reminder record carrying her email address.
    pub fn book(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.desk.book_for(patient, current, slot, self.email)
    }

    /// [`Desk::move_to`], her reminder record carrying her email address.
    pub fn move_to(
        &self,
        patient: &PublicKey,
        current: &Resource,
        slot: &FreeSlot,
    ) -> Result<Vec<Event>, ScheduleError> {
        self.desk.move_for(patient, current, slot, self.email)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use nostr::prelude::Event;

    use super::*;
    use crate::fhir::{ContactPoint, Patient};
    use crate::roster::{Role, verify_roster_chain};
    use crate::rotation::{self, RosterChange};
    use crate::schedule::reminder::{patient_email, reminder_email, reminders};

    /// A practice with a doctor, a front desk and a billing bot, one patient enrolled; its
    /// events, the front desk, the bot and the patient.
    fn practice() -> (Identity, Vec<Event>, Identity, Identity, Identity) {
        let root = Identity::generate();
        let admin = Identity::generate();
        let doctor = Identity::generate();
        let frontdesk = Identity::generate();
        let billing = Identity::generate();
        let patient = Identity::generate();
        let mut clock = 1_700_000_000;
        let mut tick = || {
            clock += 60;
            Timestamp::from_secs(clock)
        };
        let (mut store, _) =
            rotation::genesis(&root, Some((admin.public_key(), None)), tick()).unwrap();
        let view =
            |store: &[Event], who: &Identity| PracticeView::load(&root.public_key(), store, who);
        for (who, role) in [
            (doctor.public_key(), Role::Doctor),
            (frontdesk.public_key(), Role::Frontdesk),
            (billing.public_key(), Role::BillingBot),
        ] {
            let now = tick();
            let change = RosterChange::Add {
                pubkey: who,
                role,
                name: None,
            };
            let events = rotation::change_roster(&view(&store, &admin), &admin, &change, now);
            store.extend(events.unwrap());
            let grants = rotation::missing_epoch_grants(&view(&store, &admin), &admin, now);
            store.extend(grants.unwrap());
        }
        let enrolled = rotation::enrol_patient(
            &view(&store, &doctor),
            &doctor,
            &patient.public_key(),
            tick(),
        );
        store.extend(enrolled.unwrap());
        (root, store, frontdesk, billing, patient)
    }

    fn demographics(telecom: Vec<ContactPoint>) -> Resource {
        Resource::Patient(Patient {
            telecom,
            ..Patient::default()
        })
    }

    fn contact(system: &str, value: &str) -> ContactPoint {
        ContactPoint {
            system: Some(system.to_owned()),
            value: Some(value.to_owned()),
            ..ContactPoint::default()
        }
    }

    #[test]
    fn the_reminder_record_carries_her_email_when_her_demographics_have_one() {
        let (root, mut store, frontdesk, billing, patient) = practice();
        let slot = FreeSlot {
            slot: super::super::slot_id("dr-rivera", 1_800_000_000),
            schedule: "dr-rivera".to_owned(),
            clinician: "Dr. Rivera".to_owned(),
            start: 1_800_000_000,
            end: 1_800_000_900,
            visit_type: "sick".to_owned(),
        };
        let visit = VisitType {
            code: "sick".to_owned(),
            label: "Sick visit".to_owned(),
            minutes: 15,
            bookable_online: true,
        };
        let with = demographics(vec![
            contact("phone", "+1 555 0100"),
            contact("email", "ana@example.org"),
        ]);
        let without = demographics(vec![contact("phone", "+1 555 0100")]);
        let mut emails = Vec::new();
        for (n, who) in [&with, &without].into_iter().enumerate() {
            let view = PracticeView::load(&root.public_key(), &store, &frontdesk);
            let now = Timestamp::from_secs(1_700_100_000 + 60 * n as u64);
            let desk = Desk {
                view: &view,
                actor: &frontdesk,
                now,
                practice: "Maple Street Pediatrics",
                utc_offset_minutes: -300,
            };
            let slot = FreeSlot {
                slot: super::super::slot_id("dr-rivera", slot.start + 3600 * n as u64),
                start: slot.start + 3600 * n as u64,
                end: slot.end + 3600 * n as u64,
                ..slot.clone()
            };
            let asked = request(
                &patient.public_key().to_hex(),
                &slot,
                &visit,
                Some("Fever since Tuesday"),
                now.as_secs(),
            );
            let email = patient_email(who);
            let events = desk
                .with_contact(email.as_deref())
                .book(&patient.public_key(), &asked, &slot)
                .unwrap();
            assert_eq!(events.len(), 3, "hold, appointment, reminder");
            store.extend(events);
            let roster = verify_roster_chain(&root.public_key(), &store);
            let records = reminders(&roster, &billing, &store);
            let record = records
                .iter()
                .find(|r| r.appointment == asked.id().unwrap())
                .unwrap();
            emails.push(record.email.clone());
            // The record and the email name nothing of the visit.
            let json = serde_json::to_string(record).unwrap();
            let mail = reminder_email(record);
            for text in [json.as_str(), mail.subject.as_str(), mail.body.as_str()] {
                for clinical in ["Fever", "sick", "Sick visit", "Dr. Rivera"] {
                    assert!(!text.contains(clinical), "{clinical}: {text}");
                }
            }
        }
        assert_eq!(
            emails,
            [Some("ana@example.org".to_owned()), None],
            "her address when she has one, none otherwise"
        );

        // Cancelled, the record carries no address: nothing is sent, nothing needed.
        let view = PracticeView::load(&root.public_key(), &store, &frontdesk);
        let desk = Desk {
            view: &view,
            actor: &frontdesk,
            now: Timestamp::from_secs(1_700_200_000),
            practice: "Maple Street Pediatrics",
            utc_offset_minutes: -300,
        };
        let roster = verify_roster_chain(&root.public_key(), &store);
        let booked = crate::access::PracticeView::chart(
            &view,
            &patient.public_key(),
            &store,
            crate::chart::FoldOptions::default(),
        )
        .0
        .of_type(crate::fhir::ResourceType::Appointment)
        .map(|e| e.resource.clone())
        .find(|r| {
            r.as_appointment()
                .is_some_and(|a| a.status == crate::fhir::AppointmentStatus::Booked)
        })
        .unwrap();
        store.extend(
            desk.cancel(&patient.public_key(), &booked, "no longer needed")
                .unwrap(),
        );
        let records = reminders(&roster, &billing, &store);
        assert!(
            records
                .iter()
                .filter(|r| r.cancelled)
                .all(|r| r.email.is_none())
        );
        assert_eq!(records.iter().filter(|r| r.cancelled).count(), 1);
    }
}
