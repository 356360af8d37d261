//! The relay's part in scheduling (DESIGN.md §13): one booking per time, and a bound on the
//! requests a patient leaves waiting.
//!
//! Both are decided in the writer, where slot holds and appointments commit one at a time
//! (they are barriers, as rosters are), against what this process has stored: a hold that
//! overlaps a time already held is refused (the first confirmation wins), and a patient with
//! [`MAX_OPEN_REQUESTS`] requests since the practice last acted on her appointments is refused
//! another. Several relay processes on one PostgreSQL database each decide for their own
//! writes; a practice runs one writer.

use std::collections::BTreeMap;

use ehr_client::kinds;
use ehr_client::roster::RosterChain;
use ehr_client::schedule::{Hold, Holds, hold_tags, may_schedule};
use ehr_client::tags::{TAG_PATIENT, first_value};
use nostr::prelude::{Event, EventId, PublicKey, Timestamp};

use crate::error::Reject;

/// Requests a patient may leave waiting for the practice.
pub const MAX_OPEN_REQUESTS: usize = 3;

/// What the writer knows of holds and waiting requests.
#[derive(Debug, Clone, Default)]
pub struct Scheduling {
    holds: Holds,
    /// Per patient: when the practice last wrote an appointment about her, and the requests
    /// she (or her guardian) sent since.
    requests: BTreeMap<PublicKey, (Timestamp, Vec<(Timestamp, EventId)>)>,
}

fn patient_of(event: &Event) -> Option<PublicKey> {
    first_value(event, TAG_PATIENT).and_then(|p| PublicKey::from_hex(p).ok())
}

impl Scheduling {
    /// Take a stored hold or appointment into account.
    pub fn apply(&mut self, chain: &RosterChain, event: &Event) {
        match event.kind.as_u16() {
            kinds::SLOT_HOLD if may_schedule(chain, &event.pubkey, event.created_at) => {
                if let Some((slot, schedule, start, end, held)) = hold_tags(event) {
                    let hold = Hold {
                        schedule,
                        start,
                        end,
                        held,
                        at: event.created_at,
                    };
                    self.holds.apply(slot, hold);
                }
            }
            kinds::APPOINTMENT => {
                let Some(patient) = patient_of(event) else {
                    return;
                };
                let (acted, sent) = self
                    .requests
                    .entry(patient)
                    .or_insert((Timestamp::from_secs(0), Vec::new()));
                if may_schedule(chain, &event.pubkey, event.created_at) {
                    *acted = (*acted).max(event.created_at);
                } else if sent.iter().all(|(_, id)| *id != event.id) {
                    sent.push((event.created_at, event.id));
                }
                let since = *acted;
                sent.retain(|(at, _)| *at > since);
            }
            _ => {}
        }
    }

    /// Whether `event` (a hold or an appointment) may be stored now.
    pub fn check(&self, chain: &RosterChain, event: &Event) -> Result<(), Reject> {
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
                    .map_or(0, |(_, sent)| sent.len());
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
