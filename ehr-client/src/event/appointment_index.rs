//! The plaintext index of an appointment version (DESIGN.md §13, "Scale"): the UTC day of its
//! start (`D`, NIP-52's day number), the day it moved from (`M`), and whether it asks or answers
//! a request (`t` = `request`). Nothing else of an appointment is in the clear.
//!
//! For a booking, the relay learns nothing new: the desk publishes its slot hold (the exact
//! time, in the clear) in the same second as the appointment. For a request not yet answered,
//! it learns one thing more: the day a patient asked for (her author key names her already).

use nostr::prelude::Tag;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::EventError;
use crate::fhir::Resource;
use crate::tags::{TAG_DAY, TAG_MOVED_FROM, TAG_TOPIC, TOPIC_REQUEST};

/// Seconds in a day: the index's granularity.
const DAY: i64 = 86_400;

/// An appointment version's index tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppointmentIndex {
    /// The UTC day number of its start.
    pub day: Option<u64>,
    /// The day of the previous version's start, when it moved.
    pub moved_from: Option<u64>,
    /// A patient's request, or the desk's answer to one.
    pub request: bool,
}

/// The UTC day number of an RFC 3339 instant (NIP-52: `floor(seconds / 86400)`).
fn day_number(instant: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(instant, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp().div_euclid(DAY)).ok()
}

/// The day number of a resource's start, if it is an appointment with one.
pub(crate) fn start_day(resource: &Resource) -> Option<u64> {
    day_number(resource.as_appointment()?.start.as_deref()?)
}

impl AppointmentIndex {
    /// The index of `resource` (its start's day).
    pub(crate) fn of(resource: &Resource) -> Self {
        Self {
            day: start_day(resource),
            ..Self::default()
        }
    }

    /// The tags, in a fixed order.
    pub(crate) fn tags(&self) -> Vec<Tag> {
        let mut tags = Vec::new();
        if let Some(day) = self.day {
            tags.push(Tag::custom(TAG_DAY, [day.to_string()]));
        }
        if let Some(day) = self.moved_from.filter(|d| Some(*d) != self.day) {
            tags.push(Tag::custom(TAG_MOVED_FROM, [day.to_string()]));
        }
        if self.request {
            tags.push(Tag::custom(TAG_TOPIC, [TOPIC_REQUEST]));
        }
        tags
    }

    /// Read the index from its tags' values (each at most once, as every tag): a day number is
    /// digits, the topic is `request`.
    pub(crate) fn read(
        day: Option<String>,
        moved_from: Option<String>,
        topic: Option<String>,
    ) -> Result<Self, EventError> {
        let number = |value: Option<String>, name| match value {
            None => Ok(None),
            Some(v) if v.len() <= 8 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map(Some)
                .map_err(|_| EventError::MalformedTag(name)),
            Some(_) => Err(EventError::MalformedTag(name)),
        };
        let request = match topic.as_deref() {
            None => false,
            Some(TOPIC_REQUEST) => true,
            Some(_) => return Err(EventError::MalformedTag(TAG_TOPIC)),
        };
        Ok(Self {
            day: number(day, TAG_DAY)?,
            moved_from: number(moved_from, TAG_MOVED_FROM)?,
            request,
        })
    }

    /// Whether any index tag is present.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
