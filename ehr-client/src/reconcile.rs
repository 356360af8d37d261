//! NIP-77 negentropy, the client's side: after a time offline, the clinic app learns which
//! events of a filter the relay holds that its cache lacks (and which it holds that the relay
//! lacks: its outbox) by exchanging fingerprints of ranges instead of the events. An event
//! written while the member was offline can carry any `created_at` (another member's device
//! was offline too), so a `since` filter would miss it; reconciliation does not.
//!
//! The app sends `["NEG-OPEN", sub, filter, initial]`, then answers each `["NEG-MSG", sub,
//! message]` with [`Reconciliation::step`]'s next message until it has none, then
//! `["NEG-CLOSE", sub]` and a REQ for the ids it needs.

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use nostr::prelude::{Event, EventId};

/// Largest frame the client sends (the relay's own limit is larger).
const FRAME_LIMIT: u64 = 128 * 1024;

/// Why a reconciliation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// A negentropy message is not hex or not a valid frame.
    #[error("the relay's negentropy message is malformed")]
    Message,
    /// The local set could not be prepared.
    #[error("the local events could not be prepared for reconciliation")]
    Storage,
}

/// One round's outcome: the next message to send (none: done), and the ids found so far
/// that the relay lacks (`have`) or that the client lacks (`need`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Hex message to send in `NEG-MSG`, or `None` when reconciliation is complete.
    pub next: Option<String>,
    /// Ids the client holds and the relay does not.
    pub have: Vec<EventId>,
    /// Ids the relay holds and the client does not.
    pub need: Vec<EventId>,
}

/// A client's reconciliation of the events it holds for one filter.
pub struct Reconciliation(Negentropy<'static, NegentropyStorageVector>);

impl std::fmt::Debug for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reconciliation")
    }
}

impl Reconciliation {
    /// Start over `events` (what the client holds for the filter): the session and the hex
    /// message for `NEG-OPEN`.
    pub fn start<'a>(
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(Self, String), ReconcileError> {
        let mut storage = NegentropyStorageVector::new();
        for event in events {
            storage
                .insert(
                    event.created_at.as_secs(),
                    Id::from_byte_array(event.id.to_bytes()),
                )
                .map_err(|_| ReconcileError::Storage)?;
        }
        storage.seal().map_err(|_| ReconcileError::Storage)?;
        let mut session =
            Negentropy::owned(storage, FRAME_LIMIT).map_err(|_| ReconcileError::Storage)?;
        let initial = session.initiate().map_err(|_| ReconcileError::Storage)?;
        Ok((Self(session), hex::encode(initial)))
    }

    /// Answer the relay's `message` (hex).
    pub fn step(&mut self, message: &str) -> Result<Step, ReconcileError> {
        let query = hex::decode(message.trim()).map_err(|_| ReconcileError::Message)?;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        let next = self
            .0
            .reconcile_with_ids(&query, &mut have, &mut need)
            .map_err(|_| ReconcileError::Message)?;
        let ids = |ids: Vec<Id>| {
            ids.into_iter()
                .map(|id| EventId::from_byte_array(id.to_bytes()))
                .collect()
        };
        Ok(Step {
            next: next.map(hex::encode),
            have: ids(have),
            need: ids(need),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind, Timestamp};

    use super::*;

    fn events(keys: &Keys, range: std::ops::Range<u64>) -> Vec<Event> {
        range
            .map(|n| {
                EventBuilder::new(Kind::TextNote, format!("{n}"))
                    .custom_created_at(Timestamp::from_secs(1_700_000_000 + n))
                    .finalize(keys)
                    .unwrap()
            })
            .collect()
    }

    /// The relay's side, as `relay/src/negentropy.rs` answers.
    fn relay_side(held: &[Event]) -> Negentropy<'static, NegentropyStorageVector> {
        let mut storage = NegentropyStorageVector::new();
        for e in held {
            storage
                .insert(e.created_at.as_secs(), Id::from_byte_array(e.id.to_bytes()))
                .unwrap();
        }
        storage.seal().unwrap();
        Negentropy::owned(storage, 256 * 1024).unwrap()
    }

    #[test]
    fn the_client_learns_what_it_lacks_and_what_the_relay_lacks() {
        let keys = Keys::generate();
        let all = events(&keys, 0..300);
        // The client missed 10..20 (written by others meanwhile, with old timestamps); the
        // relay lacks 290..300 (the client's outbox).
        let client: Vec<Event> = all
            .iter()
            .filter(|e| !(10..20).contains(&(e.created_at.as_secs() - 1_700_000_000)))
            .cloned()
            .collect();
        let relay: Vec<Event> = all[..290].to_vec();
        let (mut session, initial) = Reconciliation::start(&client).unwrap();
        let mut server = relay_side(&relay);
        let mut message = initial;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        loop {
            let answer = server.reconcile(&hex::decode(&message).unwrap()).unwrap();
            let step = session.step(&hex::encode(answer)).unwrap();
            have.extend(step.have);
            need.extend(step.need);
            match step.next {
                Some(next) => message = next,
                None => break,
            }
        }
        have.sort();
        need.sort();
        let mut want_need: Vec<EventId> = all[10..20].iter().map(|e| e.id).collect();
        let mut want_have: Vec<EventId> = all[290..].iter().map(|e| e.id).collect();
        want_need.sort();
        want_have.sort();
        assert_eq!((need, have), (want_need, want_have));
    }

    #[test]
    fn a_malformed_message_is_refused() {
        let (mut session, _) = Reconciliation::start(&[]).unwrap();
        assert_eq!(session.step("zz").unwrap_err(), ReconcileError::Message);
        assert_eq!(session.step("ff00").unwrap_err(), ReconcileError::Message);
    }
}
