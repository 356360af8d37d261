//! The wire format of a clinical event (DESIGN.md §3): build, sign, parse and decrypt.
//!
//! ```text
//! kind     2105 (Consent) and 2110..=2121
//! content  NIP-44 v2 of the FHIR JSON under the chart key (practice copy), or, for a
//!          patient-authored event, NIP-44 from the patient to the epoch public key
//! tags     ["p", <patient pubkey>]
//!          ["patient-content", <NIP-44 v2 from author to patient>]
//!          ["chart-key", <v>]  or, for an office record, ["office-key", <v>],
//!                              or, patient-authored, ["epoch", <n>] (["domain","office"] for F_n)
//!          ["ehr", "1"]        format version
//! ```
//! Nothing else is in plaintext: subjects, names, statuses and links live in the ciphertext.
//!
//! An office record written before the practice had its two key domains is carried into the
//! office domain by an *office copy* ([`ClinicalEvent::office_copy`]): a new event under the
//! office key whose plaintext holds the original resource with the original event's id, author
//! and time, so readers fold the two as one record.

use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, PublicKey, SecretKey, Tag, Timestamp,
    UnsignedEvent,
};

use crate::crypto::{self, CryptoError};
use crate::fhir::{FhirError, Resource};
use crate::keys::{ChartKey, Identity};
use crate::kinds::{ClinicalKind, Domain};
use crate::roster::SealTarget;
use crate::signer::{Nip44Decrypt, PatientSigner, SignerError};

mod appointment_index;
mod epoch_layout;
mod office_copy;
mod practice_key;

use appointment_index::AppointmentIndex;
pub(crate) use epoch_layout::{EpochLayout, epoch_layout_tags, read_epoch_layout, seal_with};
pub use office_copy::CopyOf;
pub use practice_key::PracticeKeyRef;
use practice_key::{
    check_domain, epoch_ref, malformed_or_unexpected, practice_key_tags, read_practice_key,
    sanitise_tag_name,
};

use crate::tags::{TAG_DAY, TAG_MOVED_FROM, TAG_TOPIC};
// The tag names and readers live in the lowest module; re-exported here for older paths.
pub use crate::tags::{
    FORMAT_VERSION, TAG_CHART_KEY, TAG_DOMAIN, TAG_EPOCH, TAG_FORMAT, TAG_OFFICE_KEY, TAG_PATIENT,
    TAG_PATIENT_CONTENT, tag_values,
};

/// Largest serialised event this library parses (the relay enforces its own limit too).
pub const MAX_EVENT_JSON: usize = 8 * 1024 * 1024;

/// Why a clinical event could not be built, parsed or decrypted. No variant carries PHI.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// Not a Nostr event at all.
    #[error("not a valid Nostr event JSON")]
    NotAnEvent,
    /// The event JSON exceeds [`MAX_EVENT_JSON`].
    #[error("event too large: {0} bytes")]
    TooLarge(usize),
    /// The id is not the hash of the event, or the signature does not verify.
    #[error("invalid event id or signature")]
    InvalidSignature,
    /// A kind outside 2105 and 2110–2121.
    #[error("kind {0} is not a clinical kind")]
    NotClinical(u16),
    /// A required tag is absent.
    #[error("missing tag `{0}`")]
    MissingTag(&'static str),
    /// A tag that may appear once appears more often.
    #[error("tag `{0}` appears more than once")]
    DuplicateTag(&'static str),
    /// A tag beyond the minimal set; plaintext metadata is refused.
    #[error("unexpected plaintext tag `{0}`")]
    UnexpectedTag(String),
    /// A tag value of the wrong form.
    #[error("malformed tag `{0}`")]
    MalformedTag(&'static str),
    /// A format version this library does not read.
    #[error("unsupported event format version")]
    UnsupportedFormat,
    /// Not exactly one of `chart-key`, `office-key` and `epoch`.
    #[error("exactly one of `chart-key`, `office-key` and `epoch` is required")]
    AmbiguousPracticeKey,
    /// A clinical kind under an office key or the office epoch: the front desk holds those.
    #[error("kind {0} is clinical and may not be written in the office key domain")]
    WrongDomain(u16),
    /// An office copy whose original is malformed or of another kind or patient.
    #[error("malformed office copy")]
    MalformedCopy,
    /// The practice copy was written under another chart-key version.
    #[error("chart key version {given} given, event uses version {expected}")]
    ChartKeyVersionMismatch {
        /// Version in the event.
        expected: u32,
        /// Version of the key given.
        given: u32,
    },
    /// The practice copy is under an epoch key, not a chart key (or the reverse).
    #[error("wrong kind of practice key for this event")]
    WrongPracticeKey,
    /// A patient-authored event must be signed by the patient it is about.
    #[error("a patient-authored event must be signed by its patient")]
    AuthorIsNotPatient,
    /// The reader's key is not the patient of this event.
    #[error("this event is about another patient")]
    NotThisPatient,
    /// Encryption or decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The payload is not valid FHIR for this kind.
    #[error(transparent)]
    Fhir(#[from] FhirError),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
    /// A signer returned an event other than the one it was asked to sign, or one whose
    /// signature does not verify.
    #[error("the signer returned a different or invalid event")]
    SignerAltered,
    /// A patient-authored event of a kind the patient may not write (DESIGN.md §2).
    #[error("a patient may not write kind {0}")]
    NotPatientWritable(u16),
    /// An event signed through a signer needs its time set: the core reads no clock there.
    #[error("the event has no created_at")]
    NoTime,
}

/// An event whose id and signature have been checked, once: by [`VerifiedEvent::verify`], or
/// by the relay transport before it handed the event over ([`crate::net`]). Parsing it as a
/// clinical event ([`ClinicalEvent::from_verified`]) does not check the signature again, which
/// is most of what reading a large chart costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent(Event);

impl VerifiedEvent {
    /// Check `event`'s id and signature.
    pub fn verify(event: Event) -> Result<Self, EventError> {
        event.verify().map_err(|_| EventError::InvalidSignature)?;
        Ok(Self(event))
    }

    /// An event whose signature the transport verified; its id is checked here, so the event
    /// is the one whose signature was verified.
    #[cfg(feature = "relay-client")]
    pub(crate) fn verified_by_transport(event: Event) -> Option<Self> {
        event.verify_id().then_some(Self(event))
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.0
    }

    /// The event, giving up the proof.
    pub fn into_event(self) -> Event {
        self.0
    }
}

/// A decrypted clinical record: the event's facts plus its typed FHIR payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicalRecord {
    /// Event id.
    pub event_id: EventId,
    /// Signer of the event.
    pub author: PublicKey,
    /// Event `created_at`.
    pub created_at: Timestamp,
    /// Kind.
    pub kind: ClinicalKind,
    /// The patient the event is about.
    pub patient: PublicKey,
    /// The FHIR resource.
    pub resource: Resource,
    /// For an office copy: who copied it into the office domain. The fields above are then the
    /// original event's, so the copy and the original fold as one record.
    pub copied_by: Option<PublicKey>,
    /// For a record a guardian wrote for her ward (what the patient herself may write, with a
    /// guardianship in force at its time): the guardian, who is then its author.
    pub guardian: Option<PublicKey>,
}

impl ClinicalRecord {
    /// Whether the patient (or her guardian, for her) wrote this entry: patient-reported data,
    /// messages, appointment requests. It folds as hers.
    pub fn is_patient_authored(&self) -> bool {
        self.author == self.patient || self.guardian.is_some()
    }
}

/// Builds and signs a clinical event.
#[derive(Debug)]
pub struct ClinicalEventBuilder {
    kind: ClinicalKind,
    resource: Resource,
    patient: PublicKey,
    created_at: Option<Timestamp>,
    index: AppointmentIndex,
}

impl ClinicalEventBuilder {
    /// Start an event of `kind` carrying `resource` about `patient`. The resource must be valid
    /// FHIR for that kind.
    pub fn new(
        kind: ClinicalKind,
        resource: Resource,
        patient: PublicKey,
    ) -> Result<Self, EventError> {
        kind.check_resource(&resource)?;
        resource.validate()?;
        let index = if kind == ClinicalKind::Appointment {
            AppointmentIndex::of(&resource)
        } else {
            AppointmentIndex::default()
        };
        Ok(Self {
            kind,
            resource,
            patient,
            created_at: None,
            index,
        })
    }

    /// An appointment's next version: indexed on the day `previous` started too, when it
    /// moves, so that day's view sees it leave; and as an answer to a request when `previous`
    /// was one (proposed).
    pub fn after(mut self, previous: &Resource) -> Self {
        if self.kind == ClinicalKind::Appointment {
            self.index.moved_from = appointment_index::start_day(previous);
            self.index.request = previous
                .as_appointment()
                .is_some_and(|a| matches!(a.status, crate::fhir::AppointmentStatus::Proposed));
        }
        self
    }

    /// A version the patient (or her guardian) writes: for an appointment, a request (or its
    /// withdrawal), which the desk fetches with the requests waiting.
    pub fn from_patient_side(mut self) -> Self {
        if self.kind == ClinicalKind::Appointment {
            self.index.request = true;
        }
        self
    }

    /// The kind being built.
    pub fn kind(&self) -> ClinicalKind {
        self.kind
    }

    /// The patient the event is about.
    pub fn patient(&self) -> PublicKey {
        self.patient
    }

    /// Set `created_at` (default: now).
    pub fn created_at(mut self, created_at: Timestamp) -> Self {
        self.created_at = Some(created_at);
        self
    }

    /// Sign as a member: practice copy under `chart_key`, patient copy from `author` to the
    /// patient.
    pub fn sign(
        self,
        author: &Identity,
        chart_key: &ChartKey,
    ) -> Result<ClinicalEvent, EventError> {
        self.sign_in(author, Domain::Clinical, chart_key)
    }

    /// Sign as a member with the patient's key of `domain`: the chart key, or (for an office
    /// kind only) the office key.
    pub fn sign_in(
        self,
        author: &Identity,
        domain: Domain,
        key: &ChartKey,
    ) -> Result<ClinicalEvent, EventError> {
        let practice_key = match domain {
            Domain::Clinical => PracticeKeyRef::Chart(key.version()),
            Domain::Office => PracticeKeyRef::Office(key.version()),
        };
        check_domain(self.kind, practice_key)?;
        let json = self.resource.to_json();
        let practice_copy = key.encrypt(&json)?;
        self.finish(author, practice_copy, &json, practice_key)
    }

    /// [`Self::sign_in`] through a signer that holds the author's key (a NIP-07 extension, a
    /// NIP-46 bunker): the practice copy is encrypted here under `key`; the signer encrypts
    /// the patient copy and signs, and what it returns must be the event asked for, validly
    /// signed. `created_at` must be set: the core reads no clock in the browser.
    pub async fn sign_in_with<S: PatientSigner>(
        self,
        signer: &S,
        domain: Domain,
        key: &ChartKey,
    ) -> Result<ClinicalEvent, EventError> {
        let practice_key = match domain {
            Domain::Clinical => PracticeKeyRef::Chart(key.version()),
            Domain::Office => PracticeKeyRef::Office(key.version()),
        };
        check_domain(self.kind, practice_key)?;
        let created_at = self.created_at.ok_or(EventError::NoTime)?;
        let json = self.resource.to_json();
        let practice_copy = key.encrypt(&json)?;
        let patient_copy = signer.nip44_encrypt(&self.patient, &json).await?;
        let author = signer.public_key();
        let tags = member_tags(self.patient, patient_copy, practice_key, &self.index);
        let mut unsigned = UnsignedEvent::new(
            author,
            created_at,
            self.kind.to_nostr(),
            tags,
            practice_copy,
        );
        let expected = unsigned.id();
        let event = signer.sign_event(unsigned).await?;
        if event.id != expected || event.pubkey != author {
            return Err(EventError::SignerAltered);
        }
        let verified = VerifiedEvent::verify(event).map_err(|_| EventError::SignerAltered)?;
        ClinicalEvent::from_verified(verified)
    }

    /// Sign as the patient: practice copy to the epoch public key `E_n`, patient copy to the
    /// patient's own key.
    pub fn sign_as_patient(
        self,
        patient: &Identity,
        epoch: u64,
        epoch_public_key: &PublicKey,
    ) -> Result<ClinicalEvent, EventError> {
        let target = SealTarget {
            domain: Domain::Clinical,
            number: epoch,
            public_key: *epoch_public_key,
        };
        self.sign_as_patient_to(patient, &target)
    }

    /// Sign as the patient, the practice copy sealed to `target` (the roster's
    /// [`crate::roster::RosterChain::patient_seal_target`] for the kind: `F_n` for a message in a
    /// split practice, `E_n` otherwise).
    pub fn sign_as_patient_to(
        self,
        patient: &Identity,
        target: &SealTarget,
    ) -> Result<ClinicalEvent, EventError> {
        if patient.public_key() != self.patient {
            return Err(EventError::AuthorIsNotPatient);
        }
        let this = self.from_patient_side();
        let practice_key = epoch_ref(target);
        check_domain(this.kind, practice_key)?;
        let json = this.resource.to_json();
        let practice_copy = crypto::nip44_encrypt(patient.secret_key(), &target.public_key, &json)?;
        this.finish(patient, practice_copy, &json, practice_key)
    }

    /// Sign as the patient through any [`PatientSigner`] (a NIP-07 extension, a NIP-46
    /// bunker, a key): the same event as [`ClinicalEventBuilder::sign_as_patient_to`], the
    /// practice copy encrypted to `target`'s epoch public key and the patient copy to the
    /// patient, both by the signer. `created_at` is required: the core reads no clock in the
    /// browser. The event the signer returns is checked (same id, valid signature, a clinical
    /// event the practice will accept) before it is handed out.
    pub async fn sign_as_patient_with<S: PatientSigner>(
        self,
        signer: &S,
        target: &SealTarget,
        created_at: Timestamp,
    ) -> Result<ClinicalEvent, EventError> {
        if signer.public_key() != self.patient {
            return Err(EventError::AuthorIsNotPatient);
        }
        if !crate::kinds::patient_may_write(self.kind) {
            return Err(EventError::NotPatientWritable(self.kind.as_u16()));
        }
        check_domain(self.kind, epoch_ref(target))?;
        let this = self.from_patient_side();
        let json = this.resource.to_json();
        let event = seal_with(
            signer,
            this.kind.to_nostr(),
            target,
            &json,
            created_at,
            this.index.tags(),
        )
        .await?;
        ClinicalEvent::from_verified(event).map_err(|_| EventError::SignerAltered)
    }

    fn finish(
        self,
        author: &Identity,
        practice_copy: String,
        json: &str,
        practice_key: PracticeKeyRef,
    ) -> Result<ClinicalEvent, EventError> {
        let parts = SignedParts {
            kind: self.kind,
            patient: self.patient,
            practice_key,
            created_at: self.created_at,
            index: self.index,
        };
        parts.sign(author, practice_copy, json)
    }
}

/// What a member's event is made of, before the patient copy and the signature.
struct SignedParts {
    kind: ClinicalKind,
    patient: PublicKey,
    practice_key: PracticeKeyRef,
    created_at: Option<Timestamp>,
    index: AppointmentIndex,
}

impl SignedParts {
    fn sign(
        self,
        author: &Identity,
        practice_copy: String,
        patient_plaintext: &str,
    ) -> Result<ClinicalEvent, EventError> {
        let patient_copy =
            crypto::nip44_encrypt(author.secret_key(), &self.patient, patient_plaintext)?;
        let tags = member_tags(
            self.patient,
            patient_copy.clone(),
            self.practice_key,
            &self.index,
        );
        let mut builder = EventBuilder::new(self.kind.to_nostr(), practice_copy).tags(tags);
        if let Some(created_at) = self.created_at {
            builder = builder.custom_created_at(created_at);
        }
        let event = builder
            .finalize(author.keys())
            .map_err(|_| EventError::Signing)?;
        // Built from checked parts and signed here: no need to verify our own signature again.
        Ok(ClinicalEvent {
            event,
            kind: self.kind,
            patient: self.patient,
            practice_key: self.practice_key,
            patient_content: patient_copy,
        })
    }
}

/// The tags of a member-written event: the patient, her copy, the practice key, the format,
/// and an appointment's index.
fn member_tags(
    patient: PublicKey,
    patient_copy: String,
    practice_key: PracticeKeyRef,
    index: &AppointmentIndex,
) -> Vec<Tag> {
    let mut tags = vec![
        Tag::public_key(patient),
        Tag::custom(TAG_PATIENT_CONTENT, [patient_copy]),
    ];
    tags.extend(practice_key_tags(practice_key));
    tags.push(Tag::custom(TAG_FORMAT, [FORMAT_VERSION]));
    tags.extend(index.tags());
    tags
}

/// A verified clinical event, still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicalEvent {
    event: Event,
    kind: ClinicalKind,
    patient: PublicKey,
    practice_key: PracticeKeyRef,
    patient_content: String,
}

impl ClinicalEvent {
    /// Parse event JSON and verify it (see [`ClinicalEvent::parse`]).
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        if json.len() > MAX_EVENT_JSON {
            return Err(EventError::TooLarge(json.len()));
        }
        let event = Event::from_json(json).map_err(|_| EventError::NotAnEvent)?;
        Self::parse(event)
    }

    /// Verify an event as a clinical event: id and signature, kind, and exactly the minimal tags.
    pub fn parse(event: Event) -> Result<Self, EventError> {
        Self::from_verified(VerifiedEvent::verify(event)?)
    }

    /// [`ClinicalEvent::parse`] for an event whose id and signature were already checked.
    pub fn from_verified(event: VerifiedEvent) -> Result<Self, EventError> {
        let event = event.0;
        let kind = ClinicalKind::from_u16(event.kind.as_u16())
            .ok_or(EventError::NotClinical(event.kind.as_u16()))?;

        let mut patient = None;
        let mut patient_content = None;
        let mut chart = None;
        let mut office = None;
        let mut epoch = None;
        let mut domain = None;
        let mut format = None;
        let (mut day, mut moved_from, mut topic) = (None, None, None);
        for tag in event.tags.iter() {
            let values = tag.as_slice();
            let (name, value) = match values {
                [name, value, ..] => (name.as_str(), value.as_str()),
                [name] => return Err(malformed_or_unexpected(name)),
                [] => return Err(EventError::UnexpectedTag(String::new())),
            };
            let (slot_name, slot): (&'static str, &mut Option<String>) = match name {
                TAG_PATIENT => (TAG_PATIENT, &mut patient),
                TAG_PATIENT_CONTENT => (TAG_PATIENT_CONTENT, &mut patient_content),
                TAG_CHART_KEY => (TAG_CHART_KEY, &mut chart),
                TAG_OFFICE_KEY => (TAG_OFFICE_KEY, &mut office),
                TAG_EPOCH => (TAG_EPOCH, &mut epoch),
                TAG_DOMAIN => (TAG_DOMAIN, &mut domain),
                TAG_FORMAT => (TAG_FORMAT, &mut format),
                TAG_DAY => (TAG_DAY, &mut day),
                TAG_MOVED_FROM => (TAG_MOVED_FROM, &mut moved_from),
                TAG_TOPIC => (TAG_TOPIC, &mut topic),
                other => return Err(EventError::UnexpectedTag(sanitise_tag_name(other))),
            };
            if values.len() != 2 {
                return Err(EventError::MalformedTag(slot_name));
            }
            if slot.replace(value.to_owned()).is_some() {
                return Err(EventError::DuplicateTag(slot_name));
            }
        }

        let index = AppointmentIndex::read(day, moved_from, topic)?;
        if kind != ClinicalKind::Appointment && !index.is_empty() {
            return Err(EventError::UnexpectedTag(TAG_DAY.to_owned()));
        }
        let format = format.ok_or(EventError::MissingTag(TAG_FORMAT))?;
        if format != FORMAT_VERSION {
            return Err(EventError::UnsupportedFormat);
        }
        let patient = patient.ok_or(EventError::MissingTag(TAG_PATIENT))?;
        let patient = crate::keys::parse_hex_public_key(&patient)
            .map_err(|_| EventError::MalformedTag(TAG_PATIENT))?;
        let patient_content = patient_content
            .filter(|c| !c.is_empty())
            .ok_or(EventError::MissingTag(TAG_PATIENT_CONTENT))?;
        let practice_key = read_practice_key(chart, office, epoch, domain)?;
        check_domain(kind, practice_key)?;
        if practice_key.is_epoch() && event.pubkey != patient {
            return Err(EventError::AuthorIsNotPatient);
        }
        if event.content.is_empty() {
            return Err(EventError::MissingTag("content"));
        }
        Ok(Self {
            event,
            kind,
            patient,
            practice_key,
            patient_content,
        })
    }

    /// The signed Nostr event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event as JSON.
    pub fn to_json(&self) -> String {
        self.event.as_json()
    }

    /// Event id.
    pub fn id(&self) -> EventId {
        self.event.id
    }

    /// Kind.
    pub fn kind(&self) -> ClinicalKind {
        self.kind
    }

    /// Signer.
    pub fn author(&self) -> PublicKey {
        self.event.pubkey
    }

    /// The patient the event is about.
    pub fn patient(&self) -> PublicKey {
        self.patient
    }

    /// Which key encrypts the practice copy.
    pub fn practice_key(&self) -> PracticeKeyRef {
        self.practice_key
    }

    /// The patient copy (a NIP-44 payload from the author to the patient).
    pub fn patient_content(&self) -> &str {
        &self.patient_content
    }

    /// Open the practice copy with the chart key (or, for an office record, the office key)
    /// it was written under.
    pub fn decrypt_with_chart_key(
        &self,
        chart_key: &ChartKey,
    ) -> Result<ClinicalRecord, EventError> {
        match self.practice_key {
            PracticeKeyRef::Chart(expected) | PracticeKeyRef::Office(expected)
                if expected == chart_key.version() => {}
            PracticeKeyRef::Chart(expected) | PracticeKeyRef::Office(expected) => {
                return Err(EventError::ChartKeyVersionMismatch {
                    expected,
                    given: chart_key.version(),
                });
            }
            PracticeKeyRef::Epoch(_) | PracticeKeyRef::OfficeEpoch(_) => {
                return Err(EventError::WrongPracticeKey);
            }
        }
        let json = chart_key.decrypt(&self.event.content)?;
        self.record(&json)
    }

    /// Open the practice copy of a patient-authored event with the epoch secret (`E_n`, or
    /// `F_n` for one sealed to the office epoch).
    pub fn decrypt_with_epoch_key(
        &self,
        epoch_secret: &SecretKey,
    ) -> Result<ClinicalRecord, EventError> {
        if !self.practice_key.is_epoch() {
            return Err(EventError::WrongPracticeKey);
        }
        let json = crypto::nip44_decrypt(epoch_secret, &self.event.pubkey, &self.event.content)?;
        self.record(&json)
    }

    /// Open the patient copy through any NIP-44 signer holding the patient's key.
    pub async fn decrypt_as_patient<S: Nip44Decrypt>(
        &self,
        signer: &S,
    ) -> Result<ClinicalRecord, EventError> {
        if signer.public_key() != self.patient {
            return Err(EventError::NotThisPatient);
        }
        let json = signer
            .nip44_decrypt(&self.event.pubkey, &self.patient_content)
            .await?;
        self.record(&json)
    }

    /// Open the patient copy with the patient's secret key, synchronously.
    pub fn decrypt_with_patient_key(
        &self,
        patient: &Identity,
    ) -> Result<ClinicalRecord, EventError> {
        self.decrypt_with_patient_key_cached(patient, &mut std::collections::HashMap::new())
    }

    /// [`ClinicalEvent::decrypt_with_patient_key`] with the NIP-44 conversation keys of earlier
    /// authors kept in `conversation_keys`: a chart has a handful of authors and thousands of
    /// events, and each derivation is an elliptic-curve multiplication (slow in the portal's
    /// WebAssembly, which has no precomputed tables).
    pub fn decrypt_with_patient_key_cached(
        &self,
        patient: &Identity,
        conversation_keys: &mut std::collections::HashMap<PublicKey, crypto::ConversationKey>,
    ) -> Result<ClinicalRecord, EventError> {
        if patient.public_key() != self.patient {
            return Err(EventError::NotThisPatient);
        }
        let key = match conversation_keys.entry(self.event.pubkey) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                crypto::conversation_key(patient.secret_key(), &self.event.pubkey)?,
            ),
        };
        let bytes = crypto::decrypt_with_conversation_key(key, &self.patient_content)?;
        let json = String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)?;
        self.record(&json)
    }

    fn record(&self, json: &str) -> Result<ClinicalRecord, EventError> {
        // Only a member's office record may be an office copy.
        if matches!(self.practice_key, PracticeKeyRef::Office(_))
            && let Some(record) = office_copy::copied_record(self, json)?
        {
            return Ok(record);
        }
        let resource = Resource::from_json(json)?;
        self.kind.check_resource(&resource)?;
        Ok(ClinicalRecord {
            event_id: self.event.id,
            author: self.event.pubkey,
            created_at: self.event.created_at,
            kind: self.kind,
            patient: self.patient,
            resource,
            copied_by: None,
            guardian: None,
        })
    }
}
