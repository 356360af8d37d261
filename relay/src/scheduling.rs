//! The relay's part in scheduling (DESIGN.md §13): one booking per time, and a bound on the
//! requests a patient leaves waiting.
//!
//! Both are decided in the writer, where slot holds and appointments commit one at a time
//! (they are barriers, as rosters are), against what this process has stored: a hold that
//! overlaps a time already held is refused (the first confirmation wins), and a patient with
//! [`MAX_OPEN_REQUESTS`] requests since the practice last acted on her appointments is refused
//! another. "Since" is in the order the relay stored them, not by `created_at`, which the
//! patient chooses: a request dated back before the desk's answer still counts. An event this
//! process already applied passes (the store answers `duplicate:`), so a hold sent again after a
//! lost `OK` is not taken for a second booking. Several relay processes on one PostgreSQL database each decide for their own
//! writes; a practice runs one writer.

use std::collections::{BTreeMap, HashSet};

use ehr_client::kinds;
use ehr_client::roster::RosterChain;
use ehr_client::schedule::{Holds, hold_tags, may_schedule};
use ehr_client::tags::{TAG_PATIENT, first_value};
use nostr::prelude::{Event, EventId, PublicKey};

use crate::error::Reject;

/// Requests a patient may leave waiting for the practice.
pub const MAX_OPEN_REQUESTS: usize = 3;

/// What the writer knows of holds and waiting requests.
#[derive(Debug, Clone, Default)]
pub struct Scheduling {
    holds: Holds,
    /// Per patient: the requests she (or her guardian) sent since the practice last wrote an
    /// appointment about her, in the order they were stored.
    requests: BTreeMap<PublicKey, Vec<EventId>>,
    /// Every hold and appointment applied (a reload applies them all again).
    applied: HashSet<EventId>,
}

fn patient_of(event: &Event) -> Option<PublicKey> {
    first_value(event, TAG_PATIENT).and_then(|p| PublicKey::from_hex(p).ok())
}

impl Scheduling {
    /// Take a stored hold or appointment into account, once.
    pub fn apply(&mut self, chain: &RosterChain, event: &Event) {
        if !self.applied.insert(event.id) {
            return;
        }
        match event.kind.as_u16() {
            kinds::SLOT_HOLD => self.holds.apply_stored(chain, event),
            kinds::APPOINTMENT => {
                let Some(patient) = patient_of(event) else {
                    return;
                };
                let sent = self.requests.entry(patient).or_default();
                if may_schedule(chain, &event.pubkey, event.created_at) {
                    sent.clear();
                } else {
                    sent.push(event.id);
                }
            }
            _ => {}
        }
    }

    /// Whether `event` (a hold or an appointment) may be stored now.
    pub fn check(&self, chain: &RosterChain, event: &Event) -> Result<(), Reject> {
        if self.applied.contains(&event.id) {
            return Ok(());
        }
        match event.kind.as_u16() {
            kinds::SLOT_HOLD => {
                let (_, schedule, start, end, held) = hold_tags(event).ok_or(Reject::invalid(
                    "a slot hold names its slot, schedule, start, end and whether it is held",
                ))?;
                if held && self.holds.overlaps(&schedule, start, end) {
                    return Err(Reject::blocked(
                        "this time is already held: another booking took it first",
                    ));
                }
                Ok(())
            }
            kinds::APPOINTMENT => {
                if may_schedule(chain, &event.pubkey, event.created_at) {
                    return Ok(());
                }
                let waiting = patient_of(event)
                    .and_then(|patient| self.requests.get(&patient))
                    .map_or(0, Vec::len);
                if waiting >= MAX_OPEN_REQUESTS {
                    return Err(Reject::rate_limited(
                        "3 appointment requests are already waiting for the practice to answer",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
