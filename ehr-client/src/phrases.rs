//! The practice's own dot-phrases (kind 2122, DESIGN.md §12): a name and the text a note's
//! `.name` becomes, defined by a member who writes notes and sealed (NIP-44) from her key to
//! the current clinical epoch key `E_n`. Every clinical member reads them; the front desk,
//! patients and agents hold no clinical epoch and read nothing (the relay does not serve them
//! the kind either). Nothing is in the clear but the epoch number.
//!
//! Each event is one phrase as of its time: the newest per name counts (time, then event id),
//! and a retired one takes the name away. Events are never edited or deleted, as every
//! practice kind.

use std::collections::BTreeMap;

use nostr::prelude::UnsignedEvent;
use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, PublicKey, Tag, Timestamp};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::access::PracticeView;
use crate::crypto::{self, CryptoError};
use crate::keys::Identity;
use crate::kinds::{self, ClinicalKind, Domain};
use crate::roster::Role;
use crate::signer::{PatientSigner, SignerError};
use crate::tags::{FORMAT_VERSION, TAG_EPOCH, TAG_FORMAT, Tags};

/// The longest phrase text, in characters.
pub const MAX_PHRASE_TEXT: usize = 4000;

/// A phrase name: 2 to 24 lower-case ASCII letters (what follows the dot in a note).
const NAME_LENGTH: std::ops::RangeInclusive<usize> = 2..=24;

/// What one event says: a phrase defined, or (`retired`) taken away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseDefinition {
    /// The name, without its dot.
    pub name: String,
    /// The text `.name` becomes (empty when retired).
    #[serde(default)]
    pub text: String,
    /// The phrase is no longer offered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

impl PhraseDefinition {
    /// The rules a definition must meet, written or read.
    pub fn check(&self) -> Result<(), PhraseError> {
        let name_ok = NAME_LENGTH.contains(&self.name.len())
            && self.name.chars().all(|c| c.is_ascii_lowercase());
        if !name_ok {
            return Err(PhraseError::Name);
        }
        let length = self.text.chars().count();
        if (!self.retired && self.text.trim().is_empty()) || length > MAX_PHRASE_TEXT {
            return Err(PhraseError::Text);
        }
        Ok(())
    }
}

/// A phrase of the practice as a member reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PracticePhrase {
    /// The name, without its dot.
    pub name: String,
    /// The text it becomes.
    pub text: String,
    /// Who defined it (hex on the wire).
    #[serde(serialize_with = "hex_key")]
    pub author: PublicKey,
    /// When (Unix seconds).
    pub updated_at: u64,
}

fn hex_key<S: serde::Serializer>(key: &PublicKey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&key.to_hex())
}

/// Why a phrase was not written. No variant carries the phrase's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    /// The name is not 2 to 24 lower-case letters.
    #[error("a phrase name is 2 to 24 lower-case letters (a to z)")]
    Name,
    /// The text is empty, or longer than [`MAX_PHRASE_TEXT`].
    #[error("a phrase's text is required and at most 4,000 characters")]
    Text,
    /// The author's role does not write notes.
    #[error("your role may not define the practice's phrases")]
    NotAllowed,
    /// The roster announces no clinical epoch.
    #[error("the practice has no clinical epoch key yet")]
    NoEpoch,
    /// Encryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The signer refused or failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// A signer returned another event than the one asked for, or an invalid one.
    #[error("the signer returned a different or invalid event")]
    SignerAltered,
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}

/// Whether `role` may define the practice's phrases: the roles that write notes.
pub fn may_define(role: Role) -> bool {
    role.may_write(ClinicalKind::Document)
}

/// What a new phrase event is sealed to, once its author and definition pass the rules.
fn target(
    view: &PracticeView,
    author: &PublicKey,
    definition: &PhraseDefinition,
    created_at: Timestamp,
) -> Result<(u64, PublicKey), PhraseError> {
    definition.check()?;
    let allowed = view
        .roster()
        .role_at(author, created_at)
        .is_some_and(may_define);
    if !allowed {
        return Err(PhraseError::NotAllowed);
    }
    view.roster()
        .current()
        .and_then(|roster| roster.content.epoch_of(Domain::Clinical))
        .ok_or(PhraseError::NoEpoch)
}

fn phrase_tags(epoch: u64) -> [Tag; 2] {
    [
        Tag::custom(TAG_EPOCH, [epoch.to_string()]),
        Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
    ]
}

fn plaintext(definition: &PhraseDefinition) -> Result<String, PhraseError> {
    serde_json::to_string(definition).map_err(|_| PhraseError::Signing)
}

/// Seal `definition` as `author` at `created_at`: kind 2122, content NIP-44 from her key to
/// the current clinical epoch key, tags `["epoch", n]` and the format version.
pub fn seal(
    view: &PracticeView,
    author: &Identity,
    definition: &PhraseDefinition,
    created_at: Timestamp,
) -> Result<Event, PhraseError> {
    let (epoch, epoch_key) = target(view, &author.public_key(), definition, created_at)?;
    let content = crypto::nip44_encrypt(author.secret_key(), &epoch_key, &plaintext(definition)?)?;
    EventBuilder::new(Kind::from(kinds::PRACTICE_PHRASE), content)
        .tags(phrase_tags(epoch))
        .custom_created_at(created_at)
        .finalize(author.keys())
        .map_err(|_| PhraseError::Signing)
}

/// [`seal`] through a signer holding the author's key (NIP-07, NIP-46): it encrypts and
/// signs, and what it returns must be the event asked for, validly signed.
pub async fn seal_with<S: PatientSigner>(
    view: &PracticeView,
    signer: &S,
    definition: &PhraseDefinition,
    created_at: Timestamp,
) -> Result<Event, PhraseError> {
    let author = signer.public_key();
    let (epoch, epoch_key) = target(view, &author, definition, created_at)?;
    let content = signer
        .nip44_encrypt(&epoch_key, &plaintext(definition)?)
        .await?;
    let tags = phrase_tags(epoch).to_vec();
    let mut unsigned = UnsignedEvent::new(
        author,
        created_at,
        Kind::from(kinds::PRACTICE_PHRASE),
        tags,
        content,
    );
    let expected = unsigned.id();
    let event = signer.sign_event(unsigned).await?;
    if event.id != expected || event.pubkey != author || event.verify().is_err() {
        return Err(PhraseError::SignerAltered);
    }
    Ok(event)
}

/// The practice's current phrases in `events` (other kinds are skipped) as `view`'s reader
/// opens them, by name: each verified, sealed to a clinical epoch the reader holds, written
/// by a key whose role then could define phrases; the newest per name counts and a retired
/// one removes it. What does not open or pass is left out.
pub fn practice_phrases<'a>(
    view: &PracticeView,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<PracticePhrase> {
    let mut newest: BTreeMap<String, (Timestamp, nostr::prelude::EventId, Option<PracticePhrase>)> =
        BTreeMap::new();
    for event in events {
        if event.kind.as_u16() != kinds::PRACTICE_PHRASE {
            continue;
        }
        let Some(definition) = open(view, event) else {
            continue;
        };
        let order = (event.created_at, event.id);
        let current = newest.get(&definition.name).map(|(at, id, _)| (*at, *id));
        if current.is_some_and(|current| current >= order) {
            continue;
        }
        let phrase = (!definition.retired).then(|| PracticePhrase {
            name: definition.name.clone(),
            text: definition.text,
            author: event.pubkey,
            updated_at: event.created_at.as_secs(),
        });
        newest.insert(definition.name, (order.0, order.1, phrase));
    }
    newest
        .into_values()
        .filter_map(|(_, _, phrase)| phrase)
        .collect()
}

/// One phrase event opened and checked, or `None`.
fn open(view: &PracticeView, event: &Event) -> Option<PhraseDefinition> {
    event.verify().ok()?;
    let tags = Tags::read(event).ok()?;
    tags.only(&[TAG_EPOCH, TAG_FORMAT]).ok()?;
    let number = tags.number(TAG_EPOCH).ok()?;
    let allowed = view
        .roster()
        .role_at(&event.pubkey, event.created_at)
        .is_some_and(may_define);
    if !allowed {
        return None;
    }
    let epoch = view
        .epoch_keys_in(Domain::Clinical)
        .find(|key| key.number == number)?;
    let text =
        Zeroizing::new(crypto::nip44_decrypt(&epoch.secret, &event.pubkey, &event.content).ok()?);
    let definition: PhraseDefinition = serde_json::from_str(&text).ok()?;
    definition.check().ok()?;
    Some(definition)
}
