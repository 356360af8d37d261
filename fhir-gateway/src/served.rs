//! What the gateway serves: each consenting patient's folded chart, turned into FHIR resources
//! with stable ids, `meta.lastUpdated` from the event, references that resolve within the
//! gateway, and no file keys. Built from decrypted records in memory only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use ehr_client::chart::{self, Chart, FoldOptions, Origin, RecordKey};
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::{FHIR_CLIENT_SYSTEM, ResourceType};
use nostr::prelude::PublicKey;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::search::SearchKeys;
use sha2::{Digest, Sha256};

/// The resource types the gateway serves (issue 6; Communication and Consent stay inside).
pub const SERVED_TYPES: [ResourceType; 10] = [
    ResourceType::Patient,
    ResourceType::Encounter,
    ResourceType::Observation,
    ResourceType::Condition,
    ResourceType::MedicationRequest,
    ResourceType::AllergyIntolerance,
    ResourceType::Immunization,
    ResourceType::ServiceRequest,
    ResourceType::DiagnosticReport,
    ResourceType::DocumentReference,
];

/// The FHIR client id a consent may name to share with every registered facility.
pub const ANY_FACILITY: &str = "*";

/// The type of a `resourceType` string, if the gateway serves it.
pub fn served_type(name: &str) -> Option<ResourceType> {
    SERVED_TYPES.into_iter().find(|t| t.as_str() == name)
}

/// Which facilities may see a patient, from the patient's newest Consent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sharing {
    /// No active consent names a facility.
    #[default]
    Nobody,
    /// These FHIR client ids.
    Clients(BTreeSet<String>),
    /// Every registered facility ([`ANY_FACILITY`]).
    Anyone,
}

impl Sharing {
    /// Whether `client` may see the patient.
    pub fn allows(&self, client: &str) -> bool {
        match self {
            Self::Nobody => false,
            Self::Clients(ids) => ids.contains(client),
            Self::Anyone => true,
        }
    }
}

/// One resource as served: the JSON it is sent as, serialised once, and the keys it is
/// searched by ([`SearchKeys`]); a request copies bytes and never serialises a resource.
#[derive(Debug, Clone)]
pub struct ServedResource {
    /// Its type.
    pub resource_type: ResourceType,
    /// Its gateway id.
    pub id: String,
    /// `meta.lastUpdated`, Unix seconds (the current version's event time).
    pub last_updated: i64,
    /// The resource's JSON.
    pub json: Box<RawValue>,
    /// What searches compare.
    pub keys: SearchKeys,
}

impl ServedResource {
    /// Serve `json`, a resource of `resource_type` with gateway id `id`.
    pub fn new(
        resource_type: ResourceType,
        id: String,
        last_updated: i64,
        json: &Value,
    ) -> Option<Self> {
        let raw = serde_json::value::to_raw_value(json).ok()?;
        Some(Self {
            resource_type,
            id,
            last_updated,
            keys: SearchKeys::of(resource_type, json),
            json: raw,
        })
    }
}

/// A consenting patient's served chart.
#[derive(Debug, Clone)]
pub struct PatientIndex {
    /// The Patient resource id.
    pub id: String,
    /// The patient's key (audit events are sealed to it; never served).
    pub patient: PublicKey,
    /// Who may see it.
    pub sharing: Sharing,
    /// When the newest Consent the practice recorded was written (Unix seconds; 0 without
    /// one): a patient-signed Consent at or after it is one the practice has not acted on.
    pub consent_at: u64,
    /// Every served resource, newest first (then by id).
    pub resources: Vec<Arc<ServedResource>>,
    by_id: HashMap<(ResourceType, String), usize>,
    gone: HashSet<(ResourceType, String)>,
    /// The folded chart the resources were made from, kept for `$summary`
    /// ([`crate::summary`]), which builds from a chart and not from served JSON.
    chart: Chart,
    /// The chart's record that is served as the patient's own Patient.
    own_record: Option<RecordKey>,
}

/// The gateway id of a patient: 24 hex digits of a hash of the key (stable, opaque).
pub fn patient_id(patient: &PublicKey) -> String {
    digest_id(&[b"nostr-ehr fhir patient", patient.to_hex().as_bytes()])
}

/// The gateway id of a practice record: the patient's id, a dash, and 24 hex digits of a hash
/// of the record's identity (type and logical id), so every version keeps it and a read finds
/// the patient without a global table.
pub fn record_id(patient: &PublicKey, resource_type: ResourceType, logical_id: &str) -> String {
    format!(
        "{}-{}",
        patient_id(patient),
        digest_id(&[
            b"nostr-ehr fhir record",
            patient.to_hex().as_bytes(),
            resource_type.as_str().as_bytes(),
            logical_id.as_bytes(),
        ])
    )
}

fn digest_id(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize().get(..12).unwrap_or_default())
}

/// The patient part of a gateway id.
pub fn patient_of(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// Unix seconds as a FHIR `instant`.
pub fn instant(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

impl PatientIndex {
    /// Fold `records` (everything opened for the patient) and build the served chart.
    pub fn build(patient: &PublicKey, records: &[ClinicalRecord]) -> Self {
        // Patient-written events are under the epoch key, which an agent never holds: the
        // gateway's records are all practice-written.
        let chart = chart::fold(
            records,
            FoldOptions {
                include_patient_reported: false,
            },
        );
        let sharing = sharing_of(&chart);
        let consent_at = chart
            .of_type(ResourceType::Consent)
            .map(|e| e.updated_at.as_secs())
            .max()
            .unwrap_or(0);
        let id = patient_id(patient);
        let mut resources = Vec::new();
        let mut gone = HashSet::new();
        // The newest Patient record is the patient's; any other gets a record id.
        let own_record = chart
            .of_type(ResourceType::Patient)
            .max_by_key(|e| (e.updated_at, e.event_id))
            .map(|e| e.key.clone());
        for entry in chart
            .entries()
            .filter(|e| e.key.origin == Origin::Practice)
            .filter(|e| SERVED_TYPES.contains(&e.key.resource_type))
        {
            let resource_type = entry.key.resource_type;
            let served_id = served_id_of(patient, own_record.as_ref(), &entry.key);
            let Ok(mut json) = serde_json::to_value(&entry.resource) else {
                continue;
            };
            let last_updated = i64::try_from(entry.updated_at.as_secs()).unwrap_or(i64::MAX);
            prepare(&mut json, patient, &served_id, entry.version, last_updated);
            if let Some(served) = ServedResource::new(resource_type, served_id, last_updated, &json)
            {
                resources.push(Arc::new(served));
            }
        }
        for key in chart.hidden() {
            if key.origin == Origin::Practice {
                gone.insert((
                    key.resource_type,
                    record_id(patient, key.resource_type, &key.id),
                ));
            }
        }
        resources.sort_by(|a, b| {
            b.last_updated
                .cmp(&a.last_updated)
                .then_with(|| a.id.cmp(&b.id))
        });
        let by_id = resources
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.resource_type, r.id.clone()), i))
            .collect();
        Self {
            id,
            patient: *patient,
            sharing,
            consent_at,
            resources,
            by_id,
            gone,
            chart,
            own_record,
        }
    }

    /// The folded chart (the practice's records, as the resources were made from them).
    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    /// The gateway id of one of the chart's records.
    pub fn served_id(&self, key: &RecordKey) -> String {
        served_id_of(&self.patient, self.own_record.as_ref(), key)
    }

    /// One resource by type and gateway id.
    pub fn get(&self, resource_type: ResourceType, id: &str) -> Option<&Arc<ServedResource>> {
        self.by_id
            .get(&(resource_type, id.to_owned()))
            .and_then(|i| self.resources.get(*i))
    }

    /// Whether a resource was deleted (entered in error).
    pub fn is_gone(&self, resource_type: ResourceType, id: &str) -> bool {
        self.gone.contains(&(resource_type, id.to_owned()))
    }
}

/// The gateway id of a record: the patient's id for her own Patient record, else a record id.
fn served_id_of(patient: &PublicKey, own_record: Option<&RecordKey>, key: &RecordKey) -> String {
    if own_record == Some(key) {
        patient_id(patient)
    } else {
        record_id(patient, key.resource_type, &key.id)
    }
}

/// Who the newest Consent the practice recorded shares with.
fn sharing_of(chart: &Chart) -> Sharing {
    let newest = chart
        .of_type(ResourceType::Consent)
        .filter_map(|e| Some(((e.updated_at, e.event_id), e.resource.as_consent()?)))
        .max_by_key(|(order, _)| *order);
    let Some((_, consent)) = newest else {
        return Sharing::Nobody;
    };
    // Evaluated when the chart is folded (each sync): a consent period that ends between
    // folds ends sharing at the next one, or when maintenance rotates the key away.
    let recipients = consent.fhir_recipients(nostr::prelude::Timestamp::now());
    if recipients.iter().any(|r| r == ANY_FACILITY) {
        Sharing::Anyone
    } else if recipients.is_empty() {
        Sharing::Nobody
    } else {
        Sharing::Clients(recipients.into_iter().collect())
    }
}

/// Give the resource its gateway id and meta, point its references at gateway ids, and take
/// out what must not leave the practice (file keys and the project's internal tags).
pub(crate) fn prepare(
    json: &mut Value,
    patient: &PublicKey,
    id: &str,
    version: u32,
    last_updated: i64,
) {
    let Some(object) = json.as_object_mut() else {
        return;
    };
    object.insert("id".to_owned(), Value::String(id.to_owned()));
    let meta = object
        .entry("meta")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId".to_owned(), Value::String(version.to_string()));
        meta.insert(
            "lastUpdated".to_owned(),
            Value::String(instant(last_updated)),
        );
        if let Some(tags) = meta.get_mut("tag").and_then(Value::as_array_mut) {
            tags.retain(|t| {
                t.get("system").and_then(Value::as_str) != Some(ehr_client::fhir::ACTION_SYSTEM)
            });
            if tags.is_empty() {
                meta.remove("tag");
            }
        }
    }
    rewrite(json, patient);
}

/// Walk the resource: relative references to served types become gateway ids; extensions of
/// this project (file key, layout, hashes) are removed.
fn rewrite(value: &mut Value, patient: &PublicKey) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("reference")
                && let Some((kind, logical)) = reference.split_once('/')
                && let Some(resource_type) = served_type(kind)
                && !logical.contains('/')
            {
                let target = if resource_type == ResourceType::Patient {
                    patient_id(patient)
                } else {
                    record_id(patient, resource_type, logical)
                };
                *reference = format!("{kind}/{target}");
            }
            // Consents name facilities by client id; that never leaves either.
            if map.get("system").and_then(Value::as_str) == Some(FHIR_CLIENT_SYSTEM) {
                map.remove("value");
            }
            if let Some(Value::Array(extensions)) = map.get_mut("extension") {
                extensions.retain(|e| {
                    !e.get("url")
                        .and_then(Value::as_str)
                        .is_some_and(|u| u.starts_with("urn:nostr-ehr:extension:"))
                });
                if extensions.is_empty() {
                    map.remove("extension");
                }
            }
            for child in map.values_mut() {
                rewrite(child, patient);
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, patient);
            }
        }
        _ => {}
    }
}
