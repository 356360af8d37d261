//! Whether a connection may do what it asks: the AUTH answer (NIP-42) and every check on an
//! incoming event that needs no database (size, signature, time, NIP-70, gift-wrap rules, roles).

use std::net::IpAddr;

use nostr::prelude::{Event, Kind, PublicKey, Timestamp};

use crate::RelayState;
use crate::access::{GIFT_WRAP, p_tags};
use crate::error::Reject;

/// How far an AUTH event's `created_at` may be from now.
const AUTH_WINDOW: u64 = 600;

/// What to do with an event that passed admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// Store (or deliver) it and answer with the store's outcome.
    Accept,
    /// A gift wrap from a sender who may not learn who is a member: store it, and answer
    /// `OK true` with no message whatever the store says (a `duplicate:` would tell).
    Quietly,
    /// The same, but its recipient is not a member: dropped, not stored, same answer.
    Drop,
}

/// A fresh NIP-42 challenge: 16 bytes from `fill` (the OS RNG), in hex. An RNG failure is an
/// error, never a predictable challenge.
pub(crate) fn new_challenge(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

pub(crate) fn check_auth(event: &Event, challenge: &str, relay_url: &str) -> Result<(), Reject> {
    if event.kind != Kind::Authentication {
        return Err(Reject::invalid("AUTH takes a kind 22242 event"));
    }
    event
        .verify()
        .map_err(|_| Reject::invalid("bad event id or signature"))?;
    let now = Timestamp::now().as_secs();
    if event.created_at.as_secs().abs_diff(now) > AUTH_WINDOW {
        return Err(Reject::invalid(
            "the AUTH event's created_at is too far from now",
        ));
    }
    let tag = |name| ehr_client::tags::first_value(event, name);
    if tag("challenge") != Some(challenge) {
        return Err(Reject::invalid(
            "the AUTH event does not answer this connection's challenge",
        ));
    }
    let relay = tag("relay").unwrap_or_default();
    if !ehr_service::config::same_relay_url(relay, relay_url) {
        return Err(Reject::invalid("the AUTH event names another relay"));
    }
    Ok(())
}

/// Every check that needs no database: size, signature, time, NIP-70, roles.
pub(crate) fn check_event(
    relay: &RelayState,
    authed: Option<PublicKey>,
    ip: IpAddr,
    event: &Event,
    raw: &str,
    now: Timestamp,
) -> Result<Admitted, Reject> {
    let limits = &relay.config.limits;
    if raw.len() > limits.max_event_bytes {
        return Err(Reject::invalid("event is larger than this relay accepts"));
    }
    if event.tags.len() > limits.max_event_tags {
        return Err(Reject::invalid(
            "event has more tags than this relay accepts",
        ));
    }
    event
        .verify()
        .map_err(|_| Reject::invalid("bad event id or signature"))?;
    if event.created_at.as_secs() > now.as_secs() + limits.max_future_seconds {
        return Err(Reject::invalid("created_at is too far in the future"));
    }
    if event.is_expired_at(now) {
        return Err(Reject::invalid("event has expired (NIP-40)"));
    }
    if event.is_protected() {
        match authed {
            None => {
                return Err(Reject::auth_required(
                    "protected event (NIP-70): authenticate as its author",
                ));
            }
            Some(authed) if authed != event.pubkey => {
                return Err(Reject::restricted(
                    "protected event (NIP-70): only its author may publish it",
                ));
            }
            Some(_) => {}
        }
    }
    if crate::signer_messages::is_signer_message(event) {
        return crate::signer_messages::check(relay, authed, ip, event, raw, now)
            .map(|()| Admitted::Accept);
    }
    if event.kind.as_u16() == GIFT_WRAP {
        return check_gift_wrap(relay, authed, ip, event, raw, now);
    }
    let access = relay.hub.access();
    let Some(authed) = authed else {
        return Err(Reject::auth_required(
            "authenticate (NIP-42) to publish to this relay",
        ));
    };
    let roles = access.roles(&authed, now);
    if roles.banned {
        return Err(Reject::blocked("this key is banned from the relay"));
    }
    if !roles.is_member() {
        return Err(Reject::restricted(
            "this key is not a member of the practice",
        ));
    }
    if event.pubkey != authed && !roles.is_clinical_staff() {
        return Err(Reject::restricted("publish only events you signed"));
    }
    access.check_author(event, now).map(|()| Admitted::Accept)
}

/// A gift wrap (kind 1059): one `p` recipient; from keys that are not members, small and
/// rate-limited per IP. Only the root and roster members (staff, who may list members over
/// NIP-86 anyway, and agents such as the billing bot, which keeps its own list) learn whether
/// the recipient is a member: anyone else gets `OK true` either way, and a wrap for a
/// non-member is dropped, so the answer cannot be used to find out who is a patient.
fn check_gift_wrap(
    relay: &RelayState,
    authed: Option<PublicKey>,
    ip: IpAddr,
    event: &Event,
    raw: &str,
    now: Timestamp,
) -> Result<Admitted, Reject> {
    let limits = &relay.config.limits;
    let mut recipients = p_tags(event);
    let (Some(recipient), None) = (recipients.next(), recipients.next()) else {
        return Err(Reject::invalid("a gift wrap must have exactly one p tag"));
    };
    let recipient = PublicKey::from_hex(recipient)
        .map_err(|_| Reject::invalid("the gift wrap's p tag is not a public key"))?;
    let access = relay.hub.access();
    let sender = authed.map(|a| access.roles(&a, now));
    let member = access.is_member(&recipient, now);
    drop(access);
    if !sender.as_ref().is_some_and(|r| r.is_member()) {
        if raw.len() > limits.max_giftwrap_bytes {
            return Err(Reject::invalid(
                "gift wrap is larger than this relay accepts from unknown keys",
            ));
        }
        if !relay.giftwrap_allowed(ip) {
            return Err(Reject::rate_limited(
                "too many gift wraps from this address",
            ));
        }
    }
    let insider = sender.is_some_and(|r| !r.banned && (r.root || r.staff.is_some()));
    match (insider, member) {
        (true, true) => Ok(Admitted::Accept),
        (true, false) => Err(Reject::restricted(
            "gift wraps are accepted only for members of the practice",
        )),
        (false, true) => Ok(Admitted::Quietly),
        (false, false) => Ok(Admitted::Drop),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::new_challenge;

    #[test]
    fn a_failing_rng_gives_no_challenge() {
        let failed = new_challenge(|_| Err(getrandom::Error::UNEXPECTED));
        assert!(failed.is_err(), "a challenge was made without randomness");
    }

    #[test]
    fn challenges_from_the_os_rng_differ_and_are_not_zero() {
        let first = new_challenge(getrandom::fill).unwrap();
        let second = new_challenge(getrandom::fill).unwrap();
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
        assert_ne!(first, "0".repeat(32));
    }
}
