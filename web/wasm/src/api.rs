//! The portal's browser API as plain Rust: JSON text in, JSON text out, [`ApiError`] for
//! anything refused. `lib.rs` only exports these to JavaScript, so everything here is tested
//! natively, and every decision (verification, authorisation, folding) is `ehr-client`'s.

use ehr_client::access::{self, AccessError};
use ehr_client::chart::{Chart, FoldOptions};
use ehr_client::connection::ConnectionError;
use ehr_client::crypto;
use ehr_client::keys::{self, Identity};
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::nostr::nips::nip42::ClientAuthentication;
use ehr_client::nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, FinalizeUnsignedEvent, IntoEventBuilder, Kind,
    PublicKey, RelayUrl, Tag, Timestamp, UnsignedEvent,
};
use ehr_client::roster::verify_roster_chain;
use ehr_client::signer::Nip44Decrypt;
use ehr_client::tags::TAG_PATIENT;
use serde_json::{Value, json};

pub mod access_log;
pub mod clinic;
pub mod connections;
pub mod documents;
pub mod enrolment;
pub mod guardians;
pub mod login;
pub mod member;
pub mod practice;
pub mod schedule;
pub mod shl;
pub mod summary;

/// Why a call was refused. Messages name what was wrong with the input, never its content,
/// so they may be shown and logged without leaking a key or a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The events argument is not a JSON array.
    #[error("events must be a JSON array of Nostr events")]
    EventList,
    /// A public key argument is not a public key.
    #[error("the {0} key is not a valid public key (npub or 64 hex digits)")]
    PublicKey(&'static str),
    /// The connection string was refused.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The relay URL of an AUTH event is not a relay URL.
    #[error("the relay URL is not a valid ws:// or wss:// URL")]
    RelayUrl,
    /// The time of an AUTH event is not a Unix time in seconds.
    #[error("created_at must be a Unix time in seconds")]
    CreatedAt,
    /// Signing failed.
    #[error("the event could not be signed")]
    Signing,
    /// A filter name the app does not fetch with.
    #[error("no such filter")]
    UnknownFilter,
    /// An event template is not `{kind, created_at, tags, content}` (NIP-07's shape).
    #[error("the event template must be {{kind, created_at, tags, content}}")]
    Template,
    /// Sharing with a practice: the chart could not be split, or a part not read.
    #[error(transparent)]
    Share(#[from] ehr_client::share::ShareError),
    /// Sharing with the practice the records came from.
    #[error("the new practice is the practice these records came from")]
    SamePractice,
    /// NIP-44 encryption or decryption failed (wrong key, altered payload).
    #[error("NIP-44 encryption or decryption failed")]
    Nip44,
    /// No roster of this practice verified: the events are not this practice's, or the relay
    /// served none.
    #[error("no valid roster for this practice: check the connection string")]
    NoRoster,
    /// A record the patient writes was refused (invalid FHIR, a kind she may not write, a
    /// signer that refused); the reason names an element or a rule, never a value.
    #[error("the record was not written: {0}")]
    Record(String),
    /// A form field is missing or unusable.
    #[error("the {0} {1}")]
    Field(&'static str, &'static str),
    /// The chart argument is not the chart this API returned.
    #[error("the chart must be the JSON the chart was opened as")]
    Chart,
    /// The login's signer (NIP-07, NIP-46) refused or could not be reached.
    #[error("your signer did not answer: {0}")]
    Signer(String),
    /// The key is not a staff member of this practice now (never added, revoked, or an agent).
    #[error("this key is not on the practice's staff roster: ask an administrator to add it")]
    NotMember,
    /// A practice operation is not one of `practice::Operation`'s shapes.
    #[error("the operation must be {{\"op\": ...}} with its fields: {0}")]
    Operation(&'static str),
    /// The practice refused the operation (`ehr_client::rotation::PlanError`: a rule, never a
    /// key or a record).
    #[error("the operation was refused: {0}")]
    Plan(String),
}

pub mod records;

/// A public key argument named `what` in errors.
pub fn public_key(text: &str, what: &'static str) -> Result<PublicKey, ApiError> {
    keys::parse_public_key(text.trim()).map_err(|_| ApiError::PublicKey(what))
}

/// The events of a JSON array. An element that is not a Nostr event is reported (with its id
/// when it has one) rather than failing the whole list: one bad event from a relay must not
/// hide the rest of the chart.
pub fn parse_events(json: &str) -> Result<(Vec<Event>, Vec<Value>), ApiError> {
    let items: Vec<Value> = serde_json::from_str(json).map_err(|_| ApiError::EventList)?;
    let mut events = Vec::with_capacity(items.len());
    let mut malformed = Vec::new();
    for item in items {
        let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        match serde_json::from_value::<Event>(item) {
            Ok(event) => events.push(event),
            Err(_) => malformed.push(json!({ "id": id, "reason": "not a valid Nostr event" })),
        }
    }
    Ok((events, malformed))
}

/// The patient's chart, opened with the patient's own secret key.
pub fn open_chart_with_key(
    practice: &str,
    patient: &Identity,
    json: &str,
) -> Result<String, ApiError> {
    let (practice, events, malformed) = chart_inputs(practice, json)?;
    let (chart, refused) =
        access::patient_chart(&practice, patient, &events, FoldOptions::default());
    Ok(chart_json(
        &patient.public_key(),
        &chart,
        &refused,
        malformed,
    ))
}

/// The patient's chart, opened through `signer` (a NIP-07 extension in the browser).
pub async fn open_chart_with_signer<S: Nip44Decrypt>(
    practice: &str,
    signer: &S,
    json: &str,
) -> Result<String, ApiError> {
    let (practice, events, malformed) = chart_inputs(practice, json)?;
    let (chart, refused) =
        access::patient_chart_with(&practice, signer, &events, FoldOptions::default()).await;
    Ok(chart_json(
        &signer.public_key(),
        &chart,
        &refused,
        malformed,
    ))
}

/// The practice key and the events of a chart request, with the elements that were not
/// events. Without a verified roster nothing can be authorised, and an empty chart would look
/// like a patient with no records: that is an error instead.
fn chart_inputs(
    practice: &str,
    json: &str,
) -> Result<(PublicKey, Vec<Event>, Vec<Value>), ApiError> {
    let practice = public_key(practice, "practice")?;
    let (events, malformed) = parse_events(json)?;
    if verify_roster_chain(&practice, &events).current().is_none() {
        return Err(ApiError::NoRoster);
    }
    Ok((practice, events, malformed))
}

/// `{"patient": hex, "bundle": FHIR Bundle, "refused": [{"id", "reason"}]}`; the Bundle is
/// [`Chart::to_bundle`], the same as `ehr chart show --format bundle`.
fn chart_json(
    patient: &PublicKey,
    chart: &Chart,
    refused: &[(EventId, AccessError)],
    mut malformed: Vec<Value>,
) -> String {
    malformed.extend(refused.iter().map(|(id, error)| refusal(Some(*id), error)));
    // Who wrote each Bundle entry and when, in the Bundle's order (the Bundle itself says
    // only that an entry is the patient's): what message threads show as the sender.
    let entries: Vec<Value> = chart
        .entries()
        .filter(|entry| serde_json::to_value(&entry.resource).is_ok())
        .map(|entry| {
            json!({
                "author": entry.author.to_hex(),
                "patient_reported": entry.patient_reported,
                "updated_at": entry.updated_at.as_secs(),
                "event_id": entry.event_id.to_hex(),
            })
        })
        .collect();
    json!({
        "patient": patient.to_hex(),
        "bundle": chart.to_bundle(),
        "entries": entries,
        // Her current consent decision, by the core's one rule (`Chart::newest_consent`).
        "newest_consent": chart.newest_consent().map(|entry| entry.event_id.to_hex()),
        "refused": malformed,
    })
    .to_string()
}

fn refusal(id: Option<EventId>, error: &impl std::fmt::Display) -> Value {
    json!({ "id": id.map(|id| id.to_hex()), "reason": error.to_string() })
}

/// The NIP-42 AUTH template (kind 22242) for `relay`'s `challenge` at `created_at` (seconds;
/// the browser's clock, passed in because the core reads no clock), for any signer's
/// `signEvent` (`author` is that signer's key): `{kind, created_at, tags, content}`.
pub fn auth_template(
    author: &str,
    relay: &str,
    challenge: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let author = public_key(author, "signer")?;
    let relay = RelayUrl::parse(relay).map_err(|_| ApiError::RelayUrl)?;
    let created_at = seconds(created_at)?;
    let unsigned = ClientAuthentication::new(challenge, relay)
        .into_event_builder()
        .custom_created_at(created_at)
        .finalize_unsigned(author);
    Ok(template_of(&unsigned).to_string())
}

/// An unsigned event as a NIP-07 template `{kind, created_at, tags, content}`.
pub(crate) fn template_of(unsigned: &UnsignedEvent) -> Value {
    json!({
        "kind": unsigned.kind.as_u16(),
        "created_at": unsigned.created_at.as_secs(),
        "tags": unsigned.tags.iter().map(|t| t.as_slice().to_vec()).collect::<Vec<_>>(),
        "content": unsigned.content,
    })
}

/// The filters the app fetches with (`{"rosters", "chart", "audit", "guardianship",
/// "patient", "signer"}`, each `{"kinds": [...]}`; [`filter`] adds the patients), so the kind
/// numbers live in `ehr_client::kinds` only.
pub fn filters() -> String {
    named_filters().to_string()
}

/// The filter `name` of [`filters`], about `patients` (a JSON array of keys, npub or hex) when
/// given: their hex keys in the patient tag (`#p`), so the tag name lives in `ehr_client::tags`.
pub fn filter(name: &str, patients: Option<&str>) -> Result<String, ApiError> {
    let mut filter = named_filters()
        .get_mut(name)
        .map(Value::take)
        .ok_or(ApiError::UnknownFilter)?;
    if let Some(patients) = patients {
        let keys: Vec<String> =
            serde_json::from_str(patients).map_err(|_| ApiError::PublicKey("patient"))?;
        let hex = keys
            .iter()
            .map(|key| public_key(key, "patient").map(|k| k.to_hex()))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(fields) = filter.as_object_mut() {
            fields.insert(format!("#{TAG_PATIENT}"), json!(hex));
        }
    }
    Ok(filter.to_string())
}

/// The clinical kinds by name (`{"document": 2121, ...}`, [`ClinicalKind::name`]), so the
/// browser apps name kinds and never write their numbers.
pub fn clinical_kinds() -> String {
    let kinds: serde_json::Map<String, Value> = ClinicalKind::ALL
        .iter()
        .map(|k| (k.name().to_owned(), json!(k.as_u16())))
        .collect();
    Value::Object(kinds).to_string()
}

fn named_filters() -> Value {
    let chart: Vec<u16> = ClinicalKind::ALL.iter().map(|k| k.as_u16()).collect();
    json!({
        "rosters": { "kinds": [kinds::ROSTER] },
        "chart": { "kinds": chart },
        "audit": { "kinds": [kinds::AUDIT_EVENT] },
        "guardianship": { "kinds": [kinds::GUARDIAN_GRANT, kinds::GUARDIANSHIP] },
        "patient": { "kinds": [ClinicalKind::Patient.as_u16()] },
        "signer": { "kinds": [Kind::NostrConnect.as_u16()] },
        // What a member's keys come from: rosters, epoch grants, key wraps, guardianships.
        "keys": { "kinds": [
            kinds::CHART_KEY_WRAP, kinds::EPOCH_GRANT, kinds::ROSTER,
            kinds::GUARDIAN_GRANT, kinds::GUARDIANSHIP,
        ] },
        // What a practice operation plans from (`planPractice`): the key events, consents
        // (the gateway's policy), demographics and messages (the office copies of a migration).
        "administration": { "kinds": [
            kinds::CHART_KEY_WRAP, kinds::EPOCH_GRANT, kinds::ROSTER,
            kinds::GUARDIAN_GRANT, kinds::GUARDIANSHIP, kinds::CONSENT,
            ClinicalKind::Patient.as_u16(), ClinicalKind::Message.as_u16(),
        ] },
        // The practice's own dot-phrases (sealed to the clinical epoch).
        "phrases": { "kinds": [kinds::PRACTICE_PHRASE] },
        // The clinic's patient list: demographics and visits.
        "patient-list": { "kinds": [
            ClinicalKind::Patient.as_u16(), ClinicalKind::Encounter.as_u16(),
        ] },
        // Appointments as they are written (the desk's live subscription; its views fetch
        // by day and by request: `appointmentFilters`).
        "appointments": { "kinds": [ClinicalKind::Appointment.as_u16()] },
    })
}

/// A time from the browser's clock (seconds; the core reads no clock of its own).
pub(crate) fn seconds(created_at: f64) -> Result<Timestamp, ApiError> {
    if !(created_at.is_finite() && created_at >= 0.0) {
        return Err(ApiError::CreatedAt);
    }
    // Finite, non-negative: the cast keeps the whole seconds.
    Ok(Timestamp::from_secs(created_at as u64))
}

/// Sign a NIP-07-shaped template `{kind, created_at, tags, content}` with `identity`: the
/// signed event (JSON). This is `signEvent` of the portal's signer interface for keys held in
/// WebAssembly (nsec, ncryptsec, passkey), so every login method signs the same templates.
pub fn sign_event(identity: &Identity, template: &str) -> Result<String, ApiError> {
    #[derive(serde::Deserialize)]
    struct Template {
        kind: u16,
        created_at: u64,
        tags: Vec<Vec<String>>,
        content: String,
    }
    let template: Template = serde_json::from_str(template).map_err(|_| ApiError::Template)?;
    let tags = template
        .tags
        .into_iter()
        .map(|tag| Tag::parse(tag).map_err(|_| ApiError::Template))
        .collect::<Result<Vec<Tag>, ApiError>>()?;
    let event = EventBuilder::new(Kind::from(template.kind), template.content)
        .tags(tags)
        .custom_created_at(Timestamp::from_secs(template.created_at))
        .finalize(identity.keys())
        .map_err(|_| ApiError::Signing)?;
    serde_json::to_string(&event).map_err(|_| ApiError::Signing)
}

/// NIP-44 v2 encryption from `identity` to `peer` (hex or npub).
pub fn nip44_encrypt(identity: &Identity, peer: &str, plaintext: &str) -> Result<String, ApiError> {
    let peer = public_key(peer, "peer")?;
    crypto::nip44_encrypt(identity.secret_key(), &peer, plaintext).map_err(|_| ApiError::Nip44)
}

/// NIP-44 v2 decryption of `payload` between `identity` and `peer`.
pub fn nip44_decrypt(identity: &Identity, peer: &str, payload: &str) -> Result<String, ApiError> {
    let peer = public_key(peer, "peer")?;
    crypto::nip44_decrypt(identity.secret_key(), &peer, payload).map_err(|_| ApiError::Nip44)
}

pub mod share;

#[cfg(test)]
mod tests;
