//! The reminder agent's records (kind 2126). A booking writes one for the agent: the patient's
//! key, the time, the practice's name and wall clock, and nothing clinical (not the visit
//! type, not the reason), sealed with NIP-44 from the author to the agent's key alone. Moving
//! an appointment writes a new one; cancelling writes one marked cancelled. The agent reads the
//! newest per appointment, from a member who may schedule (shared DESIGN §6, invariant 4: an
//! agent that sends reminders learns only what a reminder needs).
//!
//! The agent is the practice's billing bot (its roster role, `billing-bot`): it already sends
//! NIP-17 messages to patients with a key that opens no office or clinical record.

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, PublicKey, Tag, Timestamp};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use super::{ScheduleError, may_schedule};
use crate::crypto;
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

/// The reminder's text: the practice, the day and the time in its wall clock.
pub fn reminder_text(record: &ReminderRecord) -> String {
    let offset = UtcOffset::from_whole_seconds(record.utc_offset_minutes.saturating_mul(60))
        .unwrap_or(UtcOffset::UTC);
    let when = i64::try_from(record.start)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.to_offset(offset));
    match when {
        Some(t) => format!(
            "Reminder from {}: you have an appointment on {} {} {} {} at {:02}:{:02}.",
            record.practice,
            t.weekday(),
            t.day(),
            t.month(),
            t.year(),
            t.hour(),
            t.minute()
        ),
        None => format!(
            "Reminder from {}: you have an appointment soon.",
            record.practice
        ),
    }
}
