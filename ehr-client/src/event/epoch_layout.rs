//! The *epoch layout*: the tags and sealing of an event whose practice copy is sealed to an
//! epoch public key, shared by a patient-authored entry, the gateway's audit event and a
//! shared-records part.

use nostr::prelude::{Event, PublicKey, Tag, Timestamp, UnsignedEvent};

use super::{EventError, VerifiedEvent};
use crate::roster::SealTarget;
use crate::signer::PatientSigner;
use crate::tags::{
    FORMAT_VERSION, TAG_DOMAIN, TAG_EPOCH, TAG_FORMAT, TAG_PATIENT, TAG_PATIENT_CONTENT, Tags,
};

/// The tags of the *epoch layout*, shared by a patient-authored entry, the gateway's audit
/// event and a shared-records part: the patient, the patient's copy, the epoch whose key
/// `E_n` the practice copy (the content) is encrypted to, and the format version.
pub(crate) fn epoch_layout_tags(patient: &PublicKey, patient_copy: String, epoch: u64) -> [Tag; 4] {
    [
        Tag::public_key(*patient),
        Tag::custom(TAG_PATIENT_CONTENT, [patient_copy]),
        Tag::custom(TAG_EPOCH, [epoch.to_string()]),
        Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
    ]
}

/// What the tags of an event in the epoch layout say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EpochLayout {
    /// The patient it is about.
    pub(crate) patient: PublicKey,
    /// The epoch of the practice copy.
    pub(crate) epoch: u64,
    /// The patient's copy.
    pub(crate) patient_content: String,
}

/// Read an event's tags as the epoch layout: exactly its four tags, once each, and neither
/// copy empty. `None` for anything else (the caller names its own error).
pub(crate) fn read_epoch_layout(event: &Event) -> Option<EpochLayout> {
    let tags = Tags::read(event).ok()?;
    tags.only(&[TAG_PATIENT, TAG_PATIENT_CONTENT, TAG_EPOCH, TAG_FORMAT])
        .ok()?;
    let patient_content = tags.get(TAG_PATIENT_CONTENT)?.to_owned();
    if patient_content.is_empty() || event.content.is_empty() {
        return None;
    }
    Some(EpochLayout {
        patient: tags.public_key(TAG_PATIENT).ok()?,
        epoch: tags.number(TAG_EPOCH).ok()?,
        patient_content,
    })
}

/// Seal `plaintext` as an event of `kind` in the epoch layout through the patient's `signer`:
/// the practice copy encrypted to `epoch`'s public key and the patient copy to herself, both by
/// the signer, then signed by it. What the signer returns is checked: the event asked for (same
/// id, her key) with a valid signature, else [`EventError::SignerAltered`].
pub(crate) async fn seal_with<S: PatientSigner>(
    signer: &S,
    kind: nostr::prelude::Kind,
    target: &SealTarget,
    plaintext: &str,
    created_at: Timestamp,
    index_tags: Vec<Tag>,
) -> Result<VerifiedEvent, EventError> {
    let patient = signer.public_key();
    let practice_copy = signer.nip44_encrypt(&target.public_key, plaintext).await?;
    let patient_copy = signer.nip44_encrypt(&patient, plaintext).await?;
    let mut tags = epoch_layout_tags(&patient, patient_copy, target.number).to_vec();
    if let Some(value) = target.domain.tag_value() {
        tags.insert(3, Tag::custom(TAG_DOMAIN, [value]));
    }
    tags.extend(index_tags);
    let mut unsigned = UnsignedEvent::new(patient, created_at, kind, tags, practice_copy);
    let expected = unsigned.id();
    let event = signer.sign_event(unsigned).await?;
    if event.id != expected || event.pubkey != patient {
        return Err(EventError::SignerAltered);
    }
    VerifiedEvent::verify(event).map_err(|_| EventError::SignerAltered)
}
