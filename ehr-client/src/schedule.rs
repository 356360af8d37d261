//! Scheduling (DESIGN.md §13, shared DESIGN §3): clinicians' schedules, free slots, slot holds,
//! and the appointment operations of the desk.
//!
//! What is secret and what is not:
//! - a **schedule** (kind 2123) says when a clinician sees patients and for which visit types:
//!   not about any patient, and every enrolled patient must read it to book, so it travels in
//!   the clear (the relay serves it to authenticated members only);
//! - a **slot hold** (kind 2125) says that a time of a schedule is taken, never by whom: in the
//!   clear too, so the relay keeps one booking per slot (the first hold wins) and patients see
//!   which times are free, and nothing else;
//! - the **appointment** (kind 2124, FHIR Appointment) says who, when, for what: an office
//!   record, encrypted like demographics (the patient's request to the office epoch `F_n`, the
//!   desk's versions under her office key), with her copy;
//! - the **reminder record** (kind 2126, [`reminder`]) carries what a reminder needs (her key,
//!   the time, the practice's name), sealed to the reminder agent alone.
//!
//! Times: a schedule's hours are wall-clock times at a fixed UTC offset (`utc_offset_minutes`),
//! which the desk changes when the clocks change; slots are absolute (Unix seconds).

pub mod booking;
pub mod reminder;

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, PublicKey, Tag, Timestamp};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, UtcOffset, Weekday};

use crate::keys::Identity;
use crate::kinds;
use crate::roster::RosterChain;

/// Why a schedule, a slot or a hold was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule definition breaks a rule (named).
    #[error("the schedule is invalid: {0}")]
    Invalid(&'static str),
    /// The slot is not free in this schedule (taken, outside hours, or a day off).
    #[error("this time is not free")]
    NotFree,
    /// No such visit type in the schedule.
    #[error("this schedule has no such visit type")]
    VisitType,
    /// This key may not write the schedule (front desk and clinical staff may).
    #[error("this key may not manage the schedule")]
    NotStaff,
    /// Signing failed.
    #[error("the event could not be signed")]
    Signing,
}

/// A kind of visit and how long it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitType {
    /// A stable code (`well-child`, `sick`).
    pub code: String,
    /// What patients and staff read.
    pub label: String,
    /// Minutes, a multiple of the schedule's step.
    pub minutes: u32,
    /// Whether patients may request it from the portal (staff book every type).
    #[serde(default = "yes")]
    pub bookable_online: bool,
}

fn yes() -> bool {
    true
}

/// Weekly hours: on `days` (ISO 1 = Monday … 7 = Sunday), from `start` to `end` (`HH:MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// ISO weekdays.
    pub days: Vec<u8>,
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`.
    pub end: String,
}

/// Time off: whole days `from`..=`to` (`YYYY-MM-DD`), or, with `start` and `end`, those hours
/// of each of those days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeOff {
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Start of blocked hours, `HH:MM` (none: the whole day).
    #[serde(default)]
    pub start: Option<String>,
    /// End of blocked hours.
    #[serde(default)]
    pub end: Option<String>,
    /// Why (a holiday, training): shown to staff, not to patients.
    #[serde(default)]
    pub reason: String,
}

/// A clinician's schedule: the content of a kind 2123 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDefinition {
    /// Stable id (FHIR id charset, at most 36 characters).
    pub id: String,
    /// The clinician (a staff member's key, hex).
    pub clinician: String,
    /// Her name as patients read it.
    pub name: String,
    /// The wall clock's offset from UTC, in minutes.
    pub utc_offset_minutes: i32,
    /// The grid slots start on, in minutes (5–60).
    pub step_minutes: u32,
    /// Visit types.
    pub visit_types: Vec<VisitType>,
    /// Weekly hours.
    pub weekly: Vec<WeeklyHours>,
    /// Days and hours off.
    #[serde(default)]
    pub time_off: Vec<TimeOff>,
    /// Whether the schedule is in use.
    #[serde(default = "yes")]
    pub active: bool,
}

/// A free (or candidate) slot of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreeSlot {
    /// `<schedule id>.<start>`: the FHIR Slot id and the hold's `slot` tag.
    pub slot: String,
    /// The schedule.
    pub schedule: String,
    /// The clinician's name.
    pub clinician: String,
    /// Start, Unix seconds.
    pub start: u64,
    /// End, Unix seconds.
    pub end: u64,
    /// The visit type's code.
    pub visit_type: String,
}

/// Minutes since midnight of `HH:MM`.
fn minutes_of(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

impl ScheduleDefinition {
    /// Check the rules: an id, a clinician key, a step of 5–60 minutes, visit types whose
    /// length is a positive multiple of it, hours that end after they start.
    pub fn check(&self) -> Result<(), ScheduleError> {
        let bad = |rule| Err(ScheduleError::Invalid(rule));
        if self.id.is_empty()
            || self.id.len() > 36
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return bad("id must be 1-36 letters, digits or hyphens");
        }
        if PublicKey::from_hex(&self.clinician).is_err() {
            return bad("clinician must be a public key");
        }
        if !(5..=60).contains(&self.step_minutes) {
            return bad("step_minutes must be 5 to 60");
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return bad("utc_offset_minutes is out of range");
        }
        if self.visit_types.is_empty()
            || self.visit_types.iter().any(|v| {
                v.code.is_empty()
                    || v.minutes == 0
                    || v.minutes > 480
                    || v.minutes % self.step_minutes != 0
            })
        {
            return bad("each visit type needs a code and a length that is a multiple of the step");
        }
        for hours in &self.weekly {
            let (Some(start), Some(end)) = (minutes_of(&hours.start), minutes_of(&hours.end))
            else {
                return bad("weekly hours are HH:MM");
            };
            if end <= start || hours.days.iter().any(|d| !(1..=7).contains(d)) {
                return bad("weekly hours end after they start, on days 1 to 7");
            }
        }
        for off in &self.time_off {
            let days = crate::immunization::parse_date(&off.from)
                .zip(crate::immunization::parse_date(&off.to));
            if days.is_none_or(|(from, to)| to < from) {
                return bad("time off runs from a date to a later or equal date");
            }
            if off.start.is_some() != off.end.is_some()
                || off
                    .start
                    .as_deref()
                    .is_some_and(|s| minutes_of(s).is_none())
                || off.end.as_deref().is_some_and(|s| minutes_of(s).is_none())
            {
                return bad("time off hours are both given, as HH:MM");
            }
        }
        Ok(())
    }

    fn offset(&self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.utc_offset_minutes.saturating_mul(60))
            .unwrap_or(UtcOffset::UTC)
    }

    /// The visit type `code`.
    pub fn visit_type(&self, code: &str) -> Option<&VisitType> {
        self.visit_types.iter().find(|v| v.code == code)
    }

    /// Whether `[start, end)` (minutes of `day`) is inside the weekly hours and not time off.
    fn open(&self, day: Date, start: u32, end: u32) -> bool {
        let weekday = day.weekday().number_from_monday();
        let in_hours = self.weekly.iter().any(|h| {
            h.days.contains(&weekday)
                && minutes_of(&h.start).is_some_and(|s| s <= start)
                && minutes_of(&h.end).is_some_and(|e| end <= e)
        });
        let off = self.time_off.iter().any(|t| {
            let dates = crate::immunization::parse_date(&t.from)
                .zip(crate::immunization::parse_date(&t.to));
            let on_day = dates.is_some_and(|(from, to)| from <= day && day <= to);
            let hours = t
                .start
                .as_deref()
                .and_then(minutes_of)
                .zip(t.end.as_deref().and_then(minutes_of));
            on_day && hours.is_none_or(|(s, e)| start < e && s < end)
        });
        in_hours && !off
    }

    /// Every slot of visit type `code` from `from` to `to` (Unix seconds) on the step grid
    /// inside the hours, none of it held in `holds`.
    pub fn free_slots(
        &self,
        holds: &Holds,
        code: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<FreeSlot>, ScheduleError> {
        let visit = self.visit_type(code).ok_or(ScheduleError::VisitType)?;
        if !self.active {
            return Ok(Vec::new());
        }
        let offset = self.offset();
        let local = |t: u64| {
            OffsetDateTime::from_unix_timestamp(i64::try_from(t).unwrap_or(i64::MAX))
                .map(|d| d.to_offset(offset))
        };
        let (Ok(first), Ok(last)) = (local(from), local(to)) else {
            return Ok(Vec::new());
        };
        let mut slots = Vec::new();
        let mut day = first.date();
        while day <= last.date() && slots.len() < 10_000 {
            let mut minute = 0;
            while minute + visit.minutes <= 24 * 60 {
                let end_minute = minute + visit.minutes;
                let start = day
                    .midnight()
                    .assume_offset(offset)
                    .saturating_add(Duration::minutes(i64::from(minute)));
                let start = u64::try_from(start.unix_timestamp()).unwrap_or(0);
                let end = start + u64::from(visit.minutes) * 60;
                if start >= from
                    && end <= to
                    && self.open(day, minute, end_minute)
                    && !holds.overlaps(&self.id, start, end)
                {
                    slots.push(FreeSlot {
                        slot: slot_id(&self.id, start),
                        schedule: self.id.clone(),
                        clinician: self.name.clone(),
                        start,
                        end,
                        visit_type: visit.code.clone(),
                    });
                }
                minute += self.step_minutes;
            }
            day = match day.next_day() {
                Some(next) => next,
                None => break,
            };
        }
        Ok(slots)
    }

    /// Whether `[start, end)` is bookable now for visit type `code`: on the grid, inside the
    /// hours, not held.
    pub fn is_free(
        &self,
        holds: &Holds,
        code: &str,
        start: u64,
    ) -> Result<FreeSlot, ScheduleError> {
        let visit = self.visit_type(code).ok_or(ScheduleError::VisitType)?;
        let end = start + u64::from(visit.minutes) * 60;
        self.free_slots(holds, code, start, end)?
            .into_iter()
            .find(|s| s.start == start)
            .ok_or(ScheduleError::NotFree)
    }

    /// The day of `t` in this schedule's wall clock, and the weekday.
    pub fn local_day(&self, t: u64) -> Option<(Date, Weekday)> {
        let d = OffsetDateTime::from_unix_timestamp(i64::try_from(t).ok()?)
            .ok()?
            .to_offset(self.offset());
        Some((d.date(), d.weekday()))
    }
}

/// The slot id of a schedule's time: `<schedule>.<start>`.
pub fn slot_id(schedule: &str, start: u64) -> String {
    format!("{schedule}.{start}")
}

/// The schedules in `events` (kind 2123) as `roster` authorises them: the newest version of
/// each id signed by a staff member who may write appointments at its time.
pub fn schedules<'a>(
    roster: &RosterChain,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<ScheduleDefinition> {
    let mut newest: BTreeMap<String, (Timestamp, ScheduleDefinition)> = BTreeMap::new();
    for event in events {
        if event.kind.as_u16() != kinds::SCHEDULE || event.verify().is_err() {
            continue;
        }
        if !may_schedule(roster, &event.pubkey, event.created_at) {
            continue;
        }
        let Ok(definition) = serde_json::from_str::<ScheduleDefinition>(&event.content) else {
            continue;
        };
        if definition.check().is_err() {
            continue;
        }
        let newer = newest
            .get(&definition.id)
            .is_none_or(|(at, _)| *at < event.created_at);
        if newer {
            newest.insert(definition.id.clone(), (event.created_at, definition));
        }
    }
    newest.into_values().map(|(_, d)| d).collect()
}

/// Whether `key` may manage schedules, holds and appointments at `at` (every staff role that
/// writes appointments: the front desk and the clinical roles).
pub fn may_schedule(roster: &RosterChain, key: &PublicKey, at: Timestamp) -> bool {
    roster
        .role_at(key, at)
        .is_some_and(|role| role.may_write(kinds::ClinicalKind::Appointment))
}

/// A schedule as a kind 2123 event signed by `author` at `created_at`.
pub fn schedule_event(
    author: &Identity,
    definition: &ScheduleDefinition,
    created_at: Timestamp,
) -> Result<Event, ScheduleError> {
    definition.check()?;
    let content = serde_json::to_string(definition).map_err(|_| ScheduleError::Signing)?;
    EventBuilder::new(Kind::from(kinds::SCHEDULE), content)
        .tags([Tag::identifier(definition.id.clone())])
        .custom_created_at(created_at)
        .finalize(author.keys())
        .map_err(|_| ScheduleError::Signing)
}

/// The times held now, per schedule, from slot-hold events (kind 2125): for each slot, its
/// newest hold or release by a member who may schedule.
#[derive(Debug, Clone, Default)]
pub struct Holds {
    by_slot: BTreeMap<String, Hold>,
    /// The times held, by schedule and start: their ends. An overlap is a range query (holds
    /// are at most [`MAX_HOLD_SECONDS`] long), not a scan of a year's holds per slot.
    held: BTreeMap<(String, u64), u64>,
}

/// One slot's newest hold event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The schedule.
    pub schedule: String,
    /// Start, Unix seconds.
    pub start: u64,
    /// End, Unix seconds.
    pub end: u64,
    /// Held (or released).
    pub held: bool,
    /// When.
    pub at: Timestamp,
}

/// The longest time one hold may cover: a day (visit types are at most eight hours).
pub const MAX_HOLD_SECONDS: u64 = 86_400;

/// The tag values of a slot-hold event: `(slot, schedule, start, end, held)`; none for a hold
/// whose slot is not `<schedule>.<start>` or that covers nothing or more than a day.
pub fn hold_tags(event: &Event) -> Option<(String, String, u64, u64, bool)> {
    use crate::tags::{
        HOLD_HELD, HOLD_RELEASED, TAG_END, TAG_HOLD, TAG_SCHEDULE, TAG_SLOT, TAG_START, first_value,
    };
    let tag = |name| first_value(event, name);
    let schedule = tag(TAG_SCHEDULE)?.to_owned();
    let start: u64 = tag(TAG_START)?.parse().ok()?;
    let end: u64 = tag(TAG_END)?.parse().ok()?;
    let held = match tag(TAG_HOLD)? {
        HOLD_HELD => true,
        HOLD_RELEASED => false,
        _ => return None,
    };
    let slot = tag(TAG_SLOT)?.to_owned();
    let length = end.checked_sub(start)?;
    (slot == slot_id(&schedule, start) && (1..=MAX_HOLD_SECONDS).contains(&length))
        .then_some((slot, schedule, start, end, held))
}

impl Holds {
    /// The holds in `events` as `roster` authorises them.
    pub fn from_events<'a>(
        roster: &RosterChain,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Self {
        let mut holds = Self::default();
        for event in events {
            if event.kind.as_u16() == kinds::SLOT_HOLD && event.verify().is_ok() {
                holds.apply_event(roster, event);
            }
        }
        holds
    }

    /// Take a verified slot-hold event into account, if a member who may schedule wrote it and
    /// it is well formed: the newest of its slot counts (a release wins a tie: booked and moved
    /// in one second, the time is free).
    pub fn apply_event(&mut self, roster: &RosterChain, event: &Event) {
        if let Some((slot, hold)) = Self::hold_of(roster, event) {
            self.apply(slot, hold);
        }
    }

    /// [`Self::apply_event`] for events taken in the order they were stored (the relay's
    /// writer): the last one counts, whatever its date.
    pub fn apply_stored(&mut self, roster: &RosterChain, event: &Event) {
        if let Some((slot, hold)) = Self::hold_of(roster, event) {
            self.set(slot, hold);
        }
    }

    fn hold_of(roster: &RosterChain, event: &Event) -> Option<(String, Hold)> {
        if event.kind.as_u16() != kinds::SLOT_HOLD
            || !may_schedule(roster, &event.pubkey, event.created_at)
        {
            return None;
        }
        let (slot, schedule, start, end, held) = hold_tags(event)?;
        let at = event.created_at;
        Some((
            slot,
            Hold {
                schedule,
                start,
                end,
                held,
                at,
            },
        ))
    }

    /// Record `hold` for `slot` if it is the newest (a release wins a tie).
    pub fn apply(&mut self, slot: String, hold: Hold) {
        let newer_known = self
            .by_slot
            .get(&slot)
            .is_some_and(|h| (h.at, !h.held) > (hold.at, !hold.held));
        if !newer_known {
            self.set(slot, hold);
        }
    }

    fn set(&mut self, slot: String, hold: Hold) {
        let key = (hold.schedule.clone(), hold.start);
        if hold.held {
            self.held.insert(key, hold.end);
        } else {
            self.held.remove(&key);
        }
        self.by_slot.insert(slot, hold);
    }

    /// Whether a time of `schedule` overlapping `[start, end)` is held.
    pub fn overlaps(&self, schedule: &str, start: u64, end: u64) -> bool {
        let from = (schedule.to_owned(), start.saturating_sub(MAX_HOLD_SECONDS));
        let to = (schedule.to_owned(), end);
        self.held
            .range(from..to)
            .any(|(_, held_end)| start < *held_end)
    }

    /// Whether `slot` is held.
    pub fn is_held(&self, slot: &str) -> bool {
        self.by_slot.get(slot).is_some_and(|h| h.held)
    }
}

/// The filters of what booking reads for the days `from`..=`to` (Unix seconds): the rosters
/// and schedules, and the holds of those UTC days (by their `D` tag; a hold lies within a day
/// of its start, so the day before is fetched too).
pub fn schedule_filters(from: u64, to: u64) -> Vec<nostr::prelude::Filter> {
    use nostr::prelude::{Filter, SingleLetterTag};
    let days: Vec<String> = (from.saturating_sub(MAX_HOLD_SECONDS) / 86_400..=to / 86_400)
        .take(64)
        .map(|d| d.to_string())
        .collect();
    let mut filters =
        vec![Filter::new().kinds([Kind::from(kinds::ROSTER), Kind::from(kinds::SCHEDULE)])];
    if let Ok(day) = SingleLetterTag::from_char('D') {
        filters.push(
            Filter::new()
                .kind(Kind::from(kinds::SLOT_HOLD))
                .custom_tags(day, days),
        );
    }
    filters
}

/// A slot-hold event (kind 2125) for `slot`: held, or released.
pub fn hold_event(
    author: &Identity,
    slot: &FreeSlot,
    held: bool,
    created_at: Timestamp,
) -> Result<Event, ScheduleError> {
    use crate::tags::{
        HOLD_HELD, HOLD_RELEASED, TAG_DAY, TAG_END, TAG_HOLD, TAG_NONCE, TAG_SCHEDULE, TAG_SLOT,
        TAG_START,
    };
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|_| ScheduleError::Signing)?;
    let tags = [
        Tag::custom(TAG_SLOT, [slot.slot.clone()]),
        Tag::custom(TAG_SCHEDULE, [slot.schedule.clone()]),
        Tag::custom(TAG_START, [slot.start.to_string()]),
        Tag::custom(TAG_END, [slot.end.to_string()]),
        Tag::custom(TAG_HOLD, [if held { HOLD_HELD } else { HOLD_RELEASED }]),
        Tag::custom(TAG_NONCE, [hex::encode(nonce)]),
        // The UTC day of its start, so a day's free times need that day's holds only.
        Tag::custom(TAG_DAY, [(slot.start / 86_400).to_string()]),
    ];
    EventBuilder::new(Kind::from(kinds::SLOT_HOLD), "")
        .tags(tags)
        .custom_created_at(created_at)
        .finalize(author.keys())
        .map_err(|_| ScheduleError::Signing)
}
