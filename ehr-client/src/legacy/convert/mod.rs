//! The reference's FHIR-like payloads as standard FHIR R4 (DESIGN.md §10, "Payloads").
//!
//! Each function takes the decrypted legacy JSON and returns standard resources as JSON values
//! (validated later by [`crate::fhir::Resource::from_json`], whose models deny every unknown
//! element, so nothing non-standard slips through):
//!
//! - `Encounter.note` (R4 has none) becomes a DocumentReference note with `context.encounter`;
//!   an addendum becomes a DocumentReference that also `appends` that note.
//! - DiagnosticReport's string `category`, `interpretation`, `effectiveDate` and free-text
//!   `result` become `category`, `conclusionCode`, `effectiveDateTime` and `conclusion`; each of
//!   its `analytes` becomes an Observation `basedOn` the order, listed in `result`.
//! - `RxOrder` (and the prescription fields of a 2112) becomes a MedicationRequest with intent
//!   order, `dispenseRequest`, `substitution` and `reasonCode`; the exact legacy texts are kept
//!   in extensions (`…:legacy-rx:<field>`).
//! - DocumentReference `fileKey` and the `sha256:` attachment hash leave the resource: the file
//!   is re-encrypted under a new key, which goes in the standard file-key extension.
//! - Message text becomes a Communication.
//!
//! The reference's own FHIR id is kept as an identifier ([`super::LEGACY_ID_SYSTEM`]); the new
//! logical id is the legacy event id (records are keyed by event id).

use base64::Engine as _;
use nostr::prelude::Timestamp;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod orders;

pub use orders::RX_FIELDS;
use orders::{diagnostic_report, rx_fields, rx_order, service_request};

use super::source::{LegacyTags, other_tag};
use super::{
    EXT_ENTERED_AS, EXT_LEGACY_BLOB, EXT_LEGACY_BLOB_URL, EXT_TAG_PREFIX, LEGACY_ID_SYSTEM,
};
use crate::document::FileKey;
use crate::kinds::ClinicalKind;

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

/// One standard resource made from a legacy event.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The kind it travels in.
    pub kind: ClinicalKind,
    /// The resource, as JSON (no provenance or version yet).
    pub resource: Value,
}

/// A legacy document's encrypted file, to be re-encrypted before its DocumentReference is
/// written.
#[derive(Debug, Clone)]
pub struct LegacyFile {
    /// sha256 of the legacy blob (its Blossom address), hex.
    pub sha256: String,
    /// The legacy AES-256-GCM key.
    pub key: std::sync::Arc<FileKey>,
    /// The plaintext size the reference recorded.
    pub size: Option<u64>,
    /// The legacy URL (informational only: blobs are matched by hash).
    pub url: Option<String>,
}

/// What one legacy event becomes: its record first, then records derived from it.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The outputs; `outputs[0]` is the record the event is.
    pub outputs: Vec<Output>,
    /// The file to carry over, for a document.
    pub file: Option<LegacyFile>,
}

/// What the conversion needs besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The legacy event's tags.
    pub tags: &'a LegacyTags,
    /// The legacy event's `created_at`.
    pub created_at: Timestamp,
    /// `Patient/<id>` of the chart.
    pub patient_reference: &'a str,
}

/// A deterministic FHIR id for a record derived from `source` (64 hex digits).
pub fn derived_id(label: &str, source: &str, index: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"nostr-ehr legacy import\0");
    hasher.update(label.as_bytes());
    hasher.update([0]);
    hasher.update(source.as_bytes());
    hasher.update([0]);
    hasher.update(index.to_le_bytes());
    hex::encode(hasher.finalize())
}

/// The id of the note DocumentReference of encounter `encounter_id` (`index`th note).
pub fn note_id(encounter_id: &str, index: usize) -> String {
    derived_id("note", encounter_id, index)
}

fn object(payload: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(payload) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("the payload is not a JSON object".to_owned()),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn push(map: &mut Map<String, Value>, key: &str, value: Value) {
    if let Value::Array(items) = map.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
        items.push(value);
    }
}

/// Add an extension `{url, value<type>: value}`.
pub fn push_extension(map: &mut Map<String, Value>, url: &str, value_type: &str, value: Value) {
    let mut extension = Map::new();
    extension.insert("url".into(), Value::String(url.to_owned()));
    extension.insert(format!("value{value_type}"), value);
    push(map, "extension", Value::Object(extension));
}

/// Replace the reference's id with `id`, keeping the old one as an identifier.
fn rekey(map: &mut Map<String, Value>, id: &str, resource_type: &str) {
    map.insert(
        "resourceType".into(),
        Value::String(resource_type.to_owned()),
    );
    if let Some(old) = map.insert("id".into(), Value::String(id.to_owned()))
        && let Some(old) = old.as_str()
        && old != id
    {
        push(
            map,
            "identifier",
            json!({ "system": LEGACY_ID_SYSTEM, "value": old }),
        );
    }
}

/// Keep the legacy plaintext tags the resource does not express otherwise.
fn keep_tags(map: &mut Map<String, Value>, tags: &LegacyTags) {
    if let Some(child) = tags.guardian_of {
        push_extension(
            map,
            &format!("{EXT_TAG_PREFIX}guardian-of"),
            "String",
            Value::String(child.to_hex()),
        );
    }
    for (name, values) in &tags.other {
        let value = match values.as_slice() {
            [one] => one.clone(),
            many => serde_json::to_string(many).unwrap_or_default(),
        };
        push_extension(
            map,
            &format!("{EXT_TAG_PREFIX}{name}"),
            "String",
            Value::String(value),
        );
    }
}

/// Convert the payload of a legacy clinical event that is not a link marker (or is a
/// `result` or `status-update`, which are records in their own right).
pub fn convert(
    kind: ClinicalKind,
    id: &str,
    payload: &str,
    context: &Context<'_>,
) -> Result<Converted, String> {
    if kind == ClinicalKind::Message {
        return Ok(single(kind, message(id, payload, context)));
    }
    let mut map = object(payload)?;
    let mut file = None;
    let mut extra = Vec::new();
    match kind {
        ClinicalKind::Patient => patient(&mut map),
        ClinicalKind::Encounter => {
            extra = encounter(&mut map, id, context);
        }
        ClinicalKind::Medication => rx_fields(&mut map, false),
        ClinicalKind::Prescription => rx_order(&mut map)?,
        ClinicalKind::Observation => observation(&mut map),
        ClinicalKind::ServiceRequest => service_request(&mut map),
        ClinicalKind::DiagnosticReport => {
            extra = diagnostic_report(&mut map, id, context)?;
        }
        ClinicalKind::Document => file = Some(document(&mut map)?),
        _ => {}
    }
    let resource_type = kind.resource_type().as_str();
    rekey(&mut map, id, resource_type);
    keep_tags(&mut map, context.tags);
    let mut outputs = vec![Output {
        kind,
        resource: Value::Object(map),
    }];
    outputs.extend(extra);
    Ok(Converted { outputs, file })
}

fn single(kind: ClinicalKind, resource: Value) -> Converted {
    Converted {
        outputs: vec![Output { kind, resource }],
        file: None,
    }
}

fn patient(map: &mut Map<String, Value>) {
    // Names are stored "Last, First": keep the text, and split it for family and given.
    if let Some(Value::Array(names)) = map.get_mut("name") {
        for name in names.iter_mut().filter_map(Value::as_object_mut) {
            let split = name
                .get("text")
                .and_then(Value::as_str)
                .and_then(|t| t.split_once(", "))
                .map(|(family, given)| (family.to_owned(), given.to_owned()));
            if let Some((family, given)) = split
                && !name.contains_key("family")
            {
                name.insert("family".into(), Value::String(family));
                name.insert("given".into(), json!(given.split(' ').collect::<Vec<_>>()));
            }
        }
    }
}

/// A note or an addendum: a DocumentReference attached to `encounter_id`.
fn note_document(
    id: &str,
    encounter_id: &str,
    note: &str,
    date: Option<&Value>,
    subject: Option<&Value>,
    appends: Option<&str>,
) -> Value {
    let (code, display) = if appends.is_some() {
        ("55107-7", "Addendum")
    } else {
        ("11506-3", "Progress note")
    };
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("DocumentReference"));
    map.insert("id".into(), json!(id));
    map.insert("status".into(), json!("current"));
    map.insert(
        "type".into(),
        json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display }),
    );
    if let Some(subject) = subject {
        map.insert("subject".into(), subject.clone());
    }
    if let Some(date) = date {
        map.insert("date".into(), date.clone());
    }
    if let Some(target) = appends {
        map.insert(
            "relatesTo".into(),
            json!([{ "code": "appends", "target": { "reference": format!("DocumentReference/{target}") } }]),
        );
    }
    let data = base64::engine::general_purpose::STANDARD.encode(note.as_bytes());
    map.insert(
        "content".into(),
        json!([{ "attachment": { "contentType": "text/plain; charset=utf-8", "data": data } }]),
    );
    map.insert(
        "context".into(),
        json!({ "encounter": [{ "reference": format!("Encounter/{encounter_id}") }] }),
    );
    Value::Object(map)
}

fn notes_of(map: &mut Map<String, Value>) -> Vec<String> {
    match map.remove("note") {
        Some(Value::Array(notes)) => notes.iter().filter_map(|n| text(n.get("text"))).collect(),
        _ => Vec::new(),
    }
}

fn encounter(map: &mut Map<String, Value>, id: &str, context: &Context<'_>) -> Vec<Output> {
    if let Some(kind) = other_tag(context.tags, "encounter-type") {
        push(
            map,
            "type",
            json!({ "coding": [{ "system": "urn:nostr-ehr:nostrehr:encounter-type", "code": kind }], "text": kind }),
        );
    }
    let date = map.get("period").and_then(|p| p.get("start")).cloned();
    let subject = map.get("subject").cloned();
    notes_of(map)
        .iter()
        .enumerate()
        .map(|(index, note)| Output {
            kind: ClinicalKind::Document,
            resource: note_document(
                &note_id(id, index),
                id,
                note,
                date.as_ref(),
                subject.as_ref(),
                None,
            ),
        })
        .collect()
}

/// An addendum (a 2111 with the `addendum` marker): a DocumentReference `id` attached to
/// encounter `target` that appends the encounter's note.
pub fn addendum(
    id: &str,
    target: &str,
    payload: &str,
    context: &Context<'_>,
) -> Result<Converted, String> {
    let mut map = object(payload)?;
    let notes = notes_of(&mut map);
    let date = map.get("period").and_then(|p| p.get("start")).cloned();
    let subject = map.get("subject").cloned();
    let mut document = note_document(
        id,
        target,
        &notes.join("\n\n"),
        date.as_ref(),
        subject.as_ref(),
        Some(&note_id(target, 0)),
    );
    if let (Some(document), Some(old)) = (document.as_object_mut(), text(map.get("id"))) {
        push(
            document,
            "identifier",
            json!({ "system": LEGACY_ID_SYSTEM, "value": old }),
        );
        keep_tags(document, context.tags);
    }
    Ok(single(ClinicalKind::Document, document))
}

fn observation(map: &mut Map<String, Value>) {
    if let Some(display) = map.remove("_display") {
        let original = display.get("original").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let unit = text(display.get("originalUnit"));
        if let Some(original) = original {
            let entered = match unit {
                Some(unit) => format!("{original} {unit}"),
                None => original,
            };
            push_extension(map, EXT_ENTERED_AS, "String", json!(entered));
        }
    }
    if !map.contains_key("category") {
        push(
            map,
            "category",
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs" }] }),
        );
    }
}

fn document(map: &mut Map<String, Value>) -> Result<LegacyFile, String> {
    let key = text(map.remove("fileKey").as_ref())
        .and_then(|k| FileKey::from_hex(&k).ok())
        .ok_or_else(|| "DocumentReference without a valid fileKey".to_owned())?;
    let attachment = map
        .get_mut("content")
        .and_then(Value::as_array_mut)
        .and_then(|c| c.first_mut())
        .and_then(|c| c.get_mut("attachment"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "DocumentReference without an attachment".to_owned())?;
    let sha256 = attachment
        .remove("hash")
        .and_then(|h| h.as_str().map(str::to_owned))
        .and_then(|h| h.strip_prefix("sha256:").map(str::to_ascii_lowercase))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| "DocumentReference attachment without a sha256 hash".to_owned())?;
    let url = text(attachment.remove("url").as_ref());
    let size = attachment.get("size").and_then(Value::as_u64);
    push_extension(map, EXT_LEGACY_BLOB, "String", json!(sha256));
    if let Some(url) = &url {
        push_extension(map, EXT_LEGACY_BLOB_URL, "Uri", json!(url));
    }
    Ok(LegacyFile {
        sha256,
        key: std::sync::Arc::new(key),
        size,
        url,
    })
}

/// A FHIR `instant` (RFC 3339, UTC) of a Unix time.
pub fn instant(secs: u64) -> Option<String> {
    let secs = i64::try_from(secs).ok()?;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn message(id: &str, payload: &str, context: &Context<'_>) -> Value {
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("Communication"));
    map.insert("id".into(), json!(id));
    if let Some(root) = context.tags.thread_root {
        map.insert(
            "inResponseTo".into(),
            json!([{ "reference": format!("Communication/{}", root.to_hex()) }]),
        );
    }
    map.insert("status".into(), json!("completed"));
    map.insert(
        "subject".into(),
        json!({ "reference": context.patient_reference }),
    );
    if let Some(subject) = other_tag(context.tags, "subject") {
        map.insert("topic".into(), json!({ "text": subject }));
    }
    if let Some(sent) = instant(context.created_at.as_secs()) {
        map.insert("sent".into(), json!(sent));
    }
    map.insert("payload".into(), json!([{ "contentString": payload }]));
    keep_tags(&mut map, context.tags);
    Value::Object(map)
}
