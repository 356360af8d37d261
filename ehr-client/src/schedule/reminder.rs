//! The reminder agent's records (kind 2126). A booking writes one for the agent: the patient's
//! key, the time, the practice's name and wall clock, and nothing clinical (not the visit
//! type, not the reason), sealed with NIP-44 from the author to the agent's key alone. Moving
//! an appointment writes a new one; cancelling writes one marked cancelled. The agent reads the
//! newest per appointment, from a member who may schedule (shared DESIGN §6, invariant 4: an
//! agent that sends reminders learns only what a reminder needs).
//!
//! The agent is the practice's billing bot (its roster role, `billing-bot`): it already sends
//! NIP-17 messages to patients with a key that opens no office or clinical record.
//!
//! Where the practice sends reminders by email too, the record also carries the patient's email
//! address, copied by the desk from her demographics (the Patient's `telecom` of system
//! `email`, [`patient_email`]) when she has one: what the agent needs to send, and nothing more
//! of the Patient. [`reminder_email`] is the email's text, as free of anything clinical as the
//! message's.

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, PublicKey, Tag, Timestamp};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use super::{ScheduleError, may_schedule};
use crate::crypto;
use crate::fhir::Resource;
use crate::keys::Identity;
use crate::kinds;
use crate::roster::{Role, RosterChain};

/// What the reminder agent knows of one appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRecord {
    /// The appointment's id (opaque to the agent).
    pub appointment: String,
    /// The patient's key (hex): whom to remind.
    pub patient: String,
    /// When, Unix seconds.
    pub start: u64,
    /// The practice's name, as the reminder names it.
    pub practice: String,
    /// The practice's wall clock offset (minutes), to write the time as the patient reads it.
    pub utc_offset_minutes: i32,
    /// Cancelled: no reminder is sent.
    #[serde(default)]
    pub cancelled: bool,
    /// The patient's email address, when her demographics name one: the reminder goes by email
    /// as well where the agent is configured to send email. Never on a cancelled record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The email address in `patient`'s demographics (a Patient's `telecom` of system `email`),
/// if any: the one ranked first, an address marked `old` only when there is no other.
pub fn patient_email(patient: &Resource) -> Option<String> {
    match patient {
        Resource::Patient(patient) => email_of(patient),
        _ => None,
    }
}

/// [`patient_email`] of a Patient already in hand (the patient list reads it for every row).
pub fn email_of(patient: &crate::fhir::Patient) -> Option<String> {
    patient
        .telecom
        .iter()
        .filter(|c| c.system.as_deref() == Some("email"))
        .filter_map(|c| {
            let value = c.value.as_deref()?.trim();
            (!value.is_empty() && value.contains('@')).then_some((
                c.use_.as_deref() == Some("old"),
                c.rank.unwrap_or(u32::MAX),
                value,
            ))
        })
        .min_by_key(|(old, rank, _)| (*old, *rank))
        .map(|(_, _, value)| value.to_owned())
}

/// The reminder agent of `roster` at `at`: its billing bot.
pub fn reminder_agent(roster: &RosterChain, at: Timestamp) -> Option<PublicKey> {
    roster.current().and_then(|r| {
        r.content
            .members
            .iter()
            .find(|m| m.role == Role::BillingBot && m.is_valid_at(at))
            .map(|m| m.pubkey)
    })
}

/// `record` sealed to `agent` by `author` (kind 2126, tagged for the agent only).
pub fn reminder_event(
    author: &Identity,
    agent: &PublicKey,
    record: &ReminderRecord,
    created_at: Timestamp,
) -> Result<Event, ScheduleError> {
    let plaintext = serde_json::to_string(record).map_err(|_| ScheduleError::Signing)?;
    let content = crypto::nip44_encrypt(author.secret_key(), agent, &plaintext)
        .map_err(|_| ScheduleError::Signing)?;
    EventBuilder::new(Kind::from(kinds::REMINDER), content)
        .tags([Tag::public_key(*agent)])
        .custom_created_at(created_at)
        .finalize(author.keys())
        .map_err(|_| ScheduleError::Signing)
}

/// The reminders `agent` reads in `events`: per appointment the newest record that a member
/// who may schedule sealed to it.
pub fn reminders<'a>(
    roster: &RosterChain,
    agent: &Identity,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<ReminderRecord> {
    let mut newest: BTreeMap<String, (Timestamp, ReminderRecord)> = BTreeMap::new();
    for event in events {
        if event.kind.as_u16() != kinds::REMINDER
            || event.verify().is_err()
            || !may_schedule(roster, &event.pubkey, event.created_at)
        {
            continue;
        }
        let Ok(plain) = crypto::nip44_decrypt(agent.secret_key(), &event.pubkey, &event.content)
        else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<ReminderRecord>(&plain) else {
            continue;
        };
        if newest
            .get(&record.appointment)
            .is_none_or(|(at, _)| *at <= event.created_at)
        {
            newest.insert(record.appointment.clone(), (event.created_at, record));
        }
    }
    newest.into_values().map(|(_, r)| r).collect()
}

/// The reminders due at `now` for `records`, `before` seconds ahead of each appointment (24 h
/// and 2 h, say): those whose time to send has come and whose appointment has not begun, not
/// cancelled, and not already sent (`sent(appointment, before)`).
pub fn due<'a>(
    records: &'a [ReminderRecord],
    before: &[u64],
    now: u64,
    sent: impl Fn(&str, u64) -> bool,
) -> Vec<(&'a ReminderRecord, u64)> {
    let mut due = Vec::new();
    for record in records.iter().filter(|r| !r.cancelled && r.start > now) {
        // Only the nearest offset due: a booking made 3 h ahead gets the 2 h reminder, not a
        // late "24 h" one and then another.
        let nearest = before
            .iter()
            .copied()
            .filter(|b| record.start.saturating_sub(*b) <= now)
            .min();
        if let Some(b) = nearest
            && !sent(&record.appointment, b)
        {
            due.push((record, b));
        }
    }
    due
}

/// The appointment's time in the practice's wall clock, if the record's is valid.
fn local_time(record: &ReminderRecord) -> Option<OffsetDateTime> {
    let offset = UtcOffset::from_whole_seconds(record.utc_offset_minutes.saturating_mul(60))
        .unwrap_or(UtcOffset::UTC);
    i64::try_from(record.start)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.to_offset(offset))
}

/// "Tuesday 8 December 2026 at 09:30".
fn day_and_time(t: OffsetDateTime) -> String {
    format!(
        "{} {} {} {} at {:02}:{:02}",
        t.weekday(),
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// The reminder's text: the practice, the day and the time in its wall clock.
pub fn reminder_text(record: &ReminderRecord) -> String {
    match local_time(record) {
        Some(t) => format!(
            "Reminder from {}: you have an appointment on {}.",
            record.practice,
            day_and_time(t)
        ),
        None => format!(
            "Reminder from {}: you have an appointment soon.",
            record.practice
        ),
    }
}

/// A reminder by email: its subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderEmail {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// The reminder's email: the practice, the day and the time in its wall clock (with its offset
/// from UTC), and to contact the practice to change it; like [`reminder_text`], nothing of the
/// visit (not its type, not its reason).
pub fn reminder_email(record: &ReminderRecord) -> ReminderEmail {
    let when = match local_time(record) {
        Some(t) => {
            let offset = t.offset();
            let sign = if offset.is_negative() { '-' } else { '+' };
            format!(
                "on {} (UTC{sign}{:02}:{:02})",
                day_and_time(t),
                offset.whole_hours().unsigned_abs(),
                offset.minutes_past_hour().unsigned_abs()
            )
        }
        None => "soon".to_owned(),
    };
    ReminderEmail {
        subject: format!("Appointment reminder from {}", record.practice),
        body: format!(
            "Hello,\n\nThis is a reminder from {practice}: you have an appointment {when}.\n\nTo change or cancel it, please contact {practice}.\n\n{practice}\n",
            practice = record.practice
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fhir::{ContactPoint, Patient};

    fn record(email: Option<&str>) -> ReminderRecord {
        ReminderRecord {
            appointment: "appt-1".to_owned(),
            patient: "ab".repeat(32),
            // Tuesday 2030-01-08 14:30 UTC: 09:30 at UTC-05:00.
            start: 1_894_113_000,
            practice: "Maple Street Pediatrics".to_owned(),
            utc_offset_minutes: -300,
            cancelled: false,
            email: email.map(str::to_owned),
        }
    }

    fn email_contact(value: &str, use_: Option<&str>, rank: Option<u32>) -> ContactPoint {
        ContactPoint {
            system: Some("email".to_owned()),
            value: Some(value.to_owned()),
            use_: use_.map(str::to_owned),
            rank,
        }
    }

    #[test]
    fn her_email_is_the_patients_email_telecom_ranked_first_and_current() {
        let patient = |telecom| {
            Resource::Patient(Patient {
                telecom,
                ..Patient::default()
            })
        };
        assert_eq!(patient_email(&patient(Vec::new())), None);
        let phone = ContactPoint {
            system: Some("phone".to_owned()),
            value: Some("+1 555 0100".to_owned()),
            ..ContactPoint::default()
        };
        assert_eq!(patient_email(&patient(vec![phone.clone()])), None);
        assert_eq!(
            patient_email(&patient(vec![
                phone,
                email_contact("old@example.org", Some("old"), Some(1)),
                email_contact(" second@example.org ", Some("home"), Some(2)),
                email_contact("third@example.org", None, None),
                email_contact("not an address", None, Some(1)),
            ])),
            Some("second@example.org".to_owned())
        );
        assert_eq!(
            patient_email(&patient(vec![email_contact(
                "old@example.org",
                Some("old"),
                None
            )])),
            Some("old@example.org".to_owned())
        );
        assert_eq!(patient_email(&crate::demo::appointment("p")), None);
    }

    #[test]
    fn a_record_without_an_email_reads_and_writes_as_before() {
        let without = serde_json::to_string(&record(None)).unwrap();
        assert!(!without.contains("email"), "{without}");
        let old =
            r#"{"appointment":"a","patient":"b","start":1,"practice":"P","utc_offset_minutes":0}"#;
        assert_eq!(
            serde_json::from_str::<ReminderRecord>(old).unwrap().email,
            None
        );
        let with = serde_json::to_string(&record(Some("ana@example.org"))).unwrap();
        assert_eq!(
            serde_json::from_str::<ReminderRecord>(&with).unwrap(),
            record(Some("ana@example.org"))
        );
    }

    #[test]
    fn the_email_names_the_practice_and_her_local_time_and_nothing_else() {
        let mail = reminder_email(&record(Some("ana@example.org")));
        assert_eq!(
            mail.subject,
            "Appointment reminder from Maple Street Pediatrics"
        );
        assert!(
            mail.body
                .contains("you have an appointment on Tuesday 8 January 2030 at 09:30 (UTC-05:00)"),
            "{}",
            mail.body
        );
        assert!(
            mail.body
                .contains("To change or cancel it, please contact Maple Street Pediatrics")
        );
        // Neither her address nor anything of the record beyond the practice and the time.
        for absent in ["ana@example.org", "appt-1", &"ab".repeat(32)] {
            assert!(!mail.body.contains(absent) && !mail.subject.contains(absent));
        }
        assert_eq!(
            reminder_text(&record(None)),
            "Reminder from Maple Street Pediatrics: you have an appointment on Tuesday 8 January 2030 at 09:30."
        );
        let half = ReminderRecord {
            utc_offset_minutes: 330,
            ..record(None)
        };
        assert!(reminder_email(&half).body.contains("at 20:00 (UTC+05:30)"));
    }
}
