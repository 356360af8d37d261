//! NIP-17 private direct messages: a kind 14 rumor with a subject, sealed (kind 13) to each
//! recipient and gift-wrapped (kind 1059) by the `nostr` crate's NIP-59 builders; opening a wrap
//! with the receiver's key; and the kind 10050 inbox relay list.
//!
//! One rumor goes to every recipient and, as NIP-17 asks, to the sender itself, so the sender
//! keeps a copy it can open. Opening goes through [`crate::crypto::nip44_decrypt`] (size and
//! version checks first), verifies the seal's signature and requires the rumor's author to be
//! the seal's signer and the rumor's id, when it carries one, to be its hash.

use nostr::nips::nip17;
use nostr::nips::nip59::GiftWrapBuilder;
use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, FinalizeUnsignedEvent, Kind, PublicKey, Tag,
    Timestamp, UnsignedEvent,
};

use crate::crypto::{self, CryptoError};
use crate::keys::Identity;

/// Why a direct message could not be built or opened. Messages name the rule, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmError {
    /// Sealing or wrapping failed.
    #[error("the message could not be sealed or wrapped")]
    Wrap,
    /// The event is not a kind 1059 gift wrap, or its id or signature do not verify.
    #[error("not a valid gift wrap")]
    NotGiftWrap,
    /// NIP-44 failed: not addressed to this key, or altered.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The seal is not a signed kind 13 event.
    #[error("the gift wrap does not hold a valid seal")]
    BadSeal,
    /// The rumor is not a kind 14 event by the seal's signer.
    #[error("the seal does not hold a kind 14 message from its signer")]
    BadRumor,
}

/// A kind 14 message as its receiver reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectMessage {
    /// The rumor's id: the same in every recipient's copy.
    pub id: EventId,
    /// Who sent it (the seal's verified signer).
    pub sender: PublicKey,
    /// Every `p` tag of the rumor.
    pub recipients: Vec<PublicKey>,
    /// The `subject` tag, if any.
    pub subject: Option<String>,
    /// The text.
    pub text: String,
    /// The rumor's `created_at` (the real time of writing; wraps and seals are backdated).
    pub created_at: Timestamp,
}

/// One message wrapped for its recipient and for its sender.
#[derive(Debug, Clone)]
pub struct Wrapped {
    /// The rumor's id.
    pub rumor_id: EventId,
    /// The gift wrap addressed to the recipient.
    pub to_recipient: Event,
    /// The gift wrap addressed to the sender: its copy for the record.
    pub to_self: Event,
}

/// The kind 14 rumor from `sender` to `recipient`, with a `subject`, written at `at`.
pub fn rumor(
    sender: &PublicKey,
    recipient: &PublicKey,
    subject: &str,
    text: &str,
    at: Timestamp,
) -> UnsignedEvent {
    let mut rumor = EventBuilder::new(Kind::PrivateDirectMessage, text)
        .tags([
            Tag::public_key(*recipient),
            Tag::custom("subject", [subject]),
        ])
        .custom_created_at(at)
        .finalize_unsigned(*sender);
    rumor.ensure_id();
    rumor
}

/// Seal and wrap a message from `sender` to `recipient`, and the same rumor to the sender.
pub fn wrap(
    sender: &Identity,
    recipient: &PublicKey,
    subject: &str,
    text: &str,
    at: Timestamp,
) -> Result<Wrapped, DmError> {
    let rumor = rumor(&sender.public_key(), recipient, subject, text, at);
    let rumor_id = rumor.id.ok_or(DmError::Wrap)?;
    let to = |receiver: PublicKey| {
        GiftWrapBuilder::new(receiver, rumor.clone())
            .finalize(sender.keys())
            .map_err(|_| DmError::Wrap)
    };
    Ok(Wrapped {
        rumor_id,
        to_recipient: to(*recipient)?,
        to_self: to(sender.public_key())?,
    })
}

/// Open a gift wrap addressed to `receiver`.
pub fn open(receiver: &Identity, gift_wrap: &Event) -> Result<DirectMessage, DmError> {
    if gift_wrap.kind != Kind::GiftWrap || gift_wrap.verify().is_err() {
        return Err(DmError::NotGiftWrap);
    }
    let seal = crypto::nip44_decrypt(receiver.secret_key(), &gift_wrap.pubkey, &gift_wrap.content)?;
    let seal = Event::from_json(seal).map_err(|_| DmError::BadSeal)?;
    if seal.kind != Kind::Seal || seal.verify().is_err() {
        return Err(DmError::BadSeal);
    }
    let rumor = crypto::nip44_decrypt(receiver.secret_key(), &seal.pubkey, &seal.content)?;
    let rumor = UnsignedEvent::from_json(rumor).map_err(|_| DmError::BadRumor)?;
    if rumor.kind != Kind::PrivateDirectMessage
        || rumor.pubkey != seal.pubkey
        || rumor.verify_id().is_err()
    {
        return Err(DmError::BadRumor);
    }
    // The id the rumor says it has, if it says one, is the one it was just checked against.
    let id = rumor.compute_id();
    let subject = rumor.tags.iter().find_map(|tag| {
        let fields = tag.as_slice();
        (fields.first().map(String::as_str) == Some("subject"))
            .then(|| fields.get(1).cloned())
            .flatten()
    });
    Ok(DirectMessage {
        id,
        sender: seal.pubkey,
        recipients: rumor.tags.public_keys().collect(),
        subject,
        text: rumor.content,
        created_at: rumor.created_at,
    })
}

/// The relays of a kind 10050 inbox relay list (NIP-17), in order; empty for another kind.
pub fn inbox_relays(event: &Event) -> Vec<String> {
    if event.kind != Kind::InboxRelays {
        return Vec::new();
    }
    nip17::extract_relay_list(event)
        .map(|url| url.to_string())
        .collect()
}

/// A kind 10050 inbox relay list naming `relays`, signed by `identity`.
pub fn inbox_relay_list(identity: &Identity, relays: &[&str]) -> Result<Event, DmError> {
    let urls = relays
        .iter()
        .map(|r| nostr::prelude::RelayUrl::parse(r).map_err(|_| DmError::Wrap))
        .collect::<Result<Vec<_>, _>>()?;
    EventBuilder::new(Kind::InboxRelays, "")
        .tags(
            urls.into_iter()
                .map(|url| Tag::custom("relay", [url.to_string()])),
        )
        .finalize(identity.keys())
        .map_err(|_| DmError::Wrap)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn a_wrapped_message_opens_for_its_recipient_and_its_sender_only() {
        let sender = Identity::generate();
        let recipient = Identity::generate();
        let at = Timestamp::from_secs(1_700_000_000);
        let wrapped = wrap(
            &sender,
            &recipient.public_key(),
            "Invoice #1",
            "Due: 10.00",
            at,
        )
        .unwrap();
        for (wrap, reader) in [
            (&wrapped.to_recipient, &recipient),
            (&wrapped.to_self, &sender),
        ] {
            assert_eq!(wrap.kind, Kind::GiftWrap);
            assert_ne!(
                wrap.pubkey,
                sender.public_key(),
                "wraps use a throwaway key"
            );
            let message = open(reader, wrap).unwrap();
            assert_eq!(message.id, wrapped.rumor_id);
            assert_eq!(message.sender, sender.public_key());
            assert_eq!(message.recipients, vec![recipient.public_key()]);
            assert_eq!(message.subject.as_deref(), Some("Invoice #1"));
            assert_eq!(message.text, "Due: 10.00");
            assert_eq!(message.created_at, at);
        }
        let stranger = Identity::generate();
        assert!(matches!(
            open(&stranger, &wrapped.to_recipient),
            Err(DmError::Crypto(_))
        ));
        assert!(open(&recipient, &wrapped.to_self).is_err());
        // A wrap whose content was altered no longer verifies.
        let mut forged = wrapped.to_recipient.clone();
        forged.content.push('A');
        assert_eq!(open(&recipient, &forged), Err(DmError::NotGiftWrap));
    }

    #[test]
    fn a_message_in_another_senders_name_is_refused() {
        let bot = Identity::generate();
        let mallory = Identity::generate();
        let patient = Identity::generate();
        let at = Timestamp::from_secs(1_700_000_000);
        // Mallory seals a rumor that claims to be the bot's: the seal's signer is not its author.
        let claimed = rumor(
            &bot.public_key(),
            &patient.public_key(),
            "Invoice 1",
            "Pay me",
            at,
        );
        let forged = GiftWrapBuilder::new(patient.public_key(), claimed)
            .finalize(mallory.keys())
            .unwrap();
        assert_eq!(open(&patient, &forged), Err(DmError::BadRumor));
        // Her own rumor, whose id field does not match its content.
        let mut lying = rumor(&mallory.public_key(), &patient.public_key(), "s", "t", at);
        lying.content = "another text".to_owned();
        let forged = GiftWrapBuilder::new(patient.public_key(), lying)
            .finalize(mallory.keys())
            .unwrap();
        assert_eq!(open(&patient, &forged), Err(DmError::BadRumor));
        // Not a gift wrap at all: the seal itself, or another kind.
        let genuine = wrap(&bot, &patient.public_key(), "s", "t", at).unwrap();
        let note = EventBuilder::new(Kind::TextNote, "hi")
            .finalize(bot.keys())
            .unwrap();
        assert_eq!(open(&patient, &note), Err(DmError::NotGiftWrap));
        assert!(open(&patient, &genuine.to_recipient).is_ok());
    }

    #[test]
    fn inbox_relay_lists_round_trip() {
        let who = Identity::generate();
        let list = inbox_relay_list(&who, &["wss://inbox.example", "ws://127.0.0.1:7000"]).unwrap();
        assert_eq!(list.kind.as_u16(), 10050);
        let relays = inbox_relays(&list);
        assert_eq!(relays.len(), 2);
        assert!(relays[0].starts_with("wss://inbox.example"));
        assert!(inbox_relay_list(&who, &["not a url"]).is_err());
    }
}
