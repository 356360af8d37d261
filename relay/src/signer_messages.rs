//! NIP-46 remote-signer messages (kind 24133) for the patient portal's signer logins
//! (DESIGN.md §5, §11). A portal's client key is ephemeral and a signer's key need not be a
//! member, so any NIP-42-authenticated key may send and receive them; they are ephemeral
//! (never stored), go only to connections authenticated as their one `p` recipient, and keys
//! that are not members pay a per-IP rate, as unknown gift wraps do (with their own budget:
//! opening a chart through a signer is one request per record).

use std::net::IpAddr;

use nostr::prelude::{Event, Filter, Kind, PublicKey, Timestamp};

use crate::RelayState;
use crate::access::p_tags;
use crate::error::Reject;

/// Kind 24133, NIP-46's request and response event.
pub const NOSTR_CONNECT: u16 = Kind::NostrConnect.as_u16();

/// Whether `event` is a signer message.
pub fn is_signer_message(event: &Event) -> bool {
    event.kind.as_u16() == NOSTR_CONNECT
}

/// Admission of a signer message from `authed`: signed by the authenticated key itself, one
/// `p` recipient, not banned; from a non-member, small and rate-limited per IP.
pub(crate) fn check(
    relay: &RelayState,
    authed: Option<PublicKey>,
    ip: IpAddr,
    event: &Event,
    raw: &str,
    now: Timestamp,
) -> Result<(), Reject> {
    let Some(authed) = authed else {
        return Err(Reject::auth_required(
            "authenticate (NIP-42) to send signer messages (NIP-46)",
        ));
    };
    if event.pubkey != authed {
        return Err(Reject::restricted(
            "a signer message must be signed by the authenticated key",
        ));
    }
    let mut recipients = p_tags(event);
    let (Some(recipient), None) = (recipients.next(), recipients.next()) else {
        return Err(Reject::invalid(
            "a signer message (kind 24133) must have exactly one p tag",
        ));
    };
    PublicKey::from_hex(recipient)
        .map_err(|_| Reject::invalid("the signer message's p tag is not a public key"))?;
    let roles = relay.hub.access().roles(&authed, now);
    if roles.banned {
        return Err(Reject::blocked("this key is banned from the relay"));
    }
    if !roles.is_member() {
        let limits = &relay.config.limits;
        if raw.len() > limits.max_giftwrap_bytes {
            return Err(Reject::invalid(
                "signer message is larger than this relay accepts from unknown keys",
            ));
        }
        if !relay.signer_message_allowed(ip) {
            return Err(Reject::rate_limited(
                "too many signer messages from this address",
            ));
        }
    }
    Ok(())
}

/// Whether every filter asks for signer messages only: what a key that is not a member may
/// subscribe to (nothing stored can match, and delivery checks the recipient).
pub(crate) fn only_signer_messages(filters: &[Filter]) -> bool {
    !filters.is_empty()
        && filters.iter().all(|f| {
            f.kinds
                .as_ref()
                .is_some_and(|k| !k.is_empty() && k.iter().all(|k| k.as_u16() == NOSTR_CONNECT))
        })
}

/// Whether `reader` may receive the signer message `event`: only as its `p` recipient.
pub(crate) fn addressed_to(event: &Event, reader: Option<&PublicKey>) -> bool {
    let Some(reader) = reader else {
        return false;
    };
    let hex = reader.to_hex();
    p_tags(event).any(|p| p == hex)
}
