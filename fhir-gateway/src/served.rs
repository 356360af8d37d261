//! What the gateway serves: each consenting patient's folded chart, turned into FHIR resources
//! with stable ids, `meta.lastUpdated` from the event, references that resolve within the
//! gateway, and no file keys. Built from decrypted records in memory only.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use ehr_client::chart::{self, Chart, FoldOptions, Origin, RecordKey};
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::{FHIR_CLIENT_SYSTEM, ResourceType};
use nostr::prelude::Timestamp;
use nostr::prelude::{EventId, PublicKey};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::search::SearchKeys;

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

/// One resource as served: the JSON it is sent as, serialised once and kept deflated, and the
/// keys it is searched by ([`SearchKeys`]); a request inflates the bytes it sends and never
/// serialises a resource. FHIR JSON deflates to a fraction of its size (names and codes
/// repeat), which is most of what the gateway holds per record.
#[derive(Debug, Clone)]
pub struct ServedResource {
    /// Its type.
    pub resource_type: ResourceType,
    /// Its gateway id.
    pub id: String,
    /// `meta.lastUpdated`, Unix seconds (the current version's event time).
    pub last_updated: i64,
    /// The resource's JSON, deflated ([`Self::json`]).
    packed: Box<[u8]>,
    /// What searches compare.
    pub keys: SearchKeys,
    /// The signed event of the current version, for its Provenance ([`crate::provenance`]);
    /// `None` for a resource not built from a chart.
    pub signed: Option<crate::provenance::Signed>,
}

/// The DEFLATE level served resources are kept at: small, and quick to inflate.
const DEFLATE_LEVEL: u8 = 6;

impl ServedResource {
    /// Serve `json`, a resource of `resource_type` with gateway id `id`.
    pub fn new(
        resource_type: ResourceType,
        id: String,
        last_updated: i64,
        json: &Value,
    ) -> Option<Self> {
        let text = serde_json::to_vec(json).ok()?;
        let packed = miniz_oxide::deflate::compress_to_vec(&text, DEFLATE_LEVEL);
        Some(Self {
            resource_type,
            id,
            last_updated,
            keys: SearchKeys::of(resource_type, json),
            packed: packed.into_boxed_slice(),
            signed: None,
        })
    }

    /// The resource's JSON, as it is sent.
    pub fn json(&self) -> Box<RawValue> {
        let inflated = miniz_oxide::inflate::decompress_to_vec(&self.packed)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| RawValue::from_string(text).ok());
        match inflated {
            Some(json) => json,
            None => {
                // Bytes this process deflated itself: only a memory fault can get here.
                tracing::error!(id = %self.id, "a served resource did not inflate");
                RawValue::from_string("{}".to_owned()).unwrap_or_default()
            }
        }
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
    /// Whether she opted in to emergency access: a facility with the emergency scope may have
    /// her `$summary`, and nothing else, without her consent naming it (DESIGN.md §15).
    pub emergency: bool,
    /// When the newest Consent the practice recorded was written (Unix seconds; 0 without
    /// one): a patient-signed Consent at or after it is one the practice has not acted on.
    pub consent_at: u64,
    /// Every served resource, newest first (then by id).
    pub resources: Vec<Arc<ServedResource>>,
    /// Positions in `resources`, ordered by type and id (a read by id is a binary search).
    by_id: Box<[u32]>,
    gone: HashSet<(ResourceType, String)>,
    /// The patient's summary (`$summary`), made when the chart was folded: the chart itself
    /// is not kept ([`crate::summary::Summary`]).
    pub summary: crate::summary::Summary,
}

/// What the practice's summaries are authored by ([`crate::summary`]): they are made when a
/// chart is folded.
#[derive(Debug, Clone)]
pub struct SummaryAuthor {
    /// The practice's name.
    pub practice_name: String,
    /// The practice's root key.
    pub practice_key: PublicKey,
}

/// The gateway id of a patient (one function, in the core, for every reader).
pub fn patient_id(patient: &PublicKey) -> String {
    ehr_client::fhir::gateway_patient_id(patient)
}

/// The gateway id of a practice record ([`ehr_client::fhir::gateway_record_id`]).
pub fn record_id(patient: &PublicKey, resource_type: ResourceType, logical_id: &str) -> String {
    ehr_client::fhir::gateway_record_id(patient, resource_type, logical_id)
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
    /// No summary is made ([`PatientIndex::build_sealed`] makes one).
    pub fn build(patient: &PublicKey, records: &[ClinicalRecord]) -> Self {
        Self::build_sealed(patient, records, &|_| None, None)
    }

    /// [`PatientIndex::build`], keeping for each served record the signature and kind of the
    /// event of its current version (`seal_of` its id), for its Provenance, and, with an
    /// `author`, the patient's summary as of now. The folded chart is dropped once the
    /// resources and the summary are made from it.
    pub fn build_sealed(
        patient: &PublicKey,
        records: &[ClinicalRecord],
        seal_of: &dyn Fn(&EventId) -> Option<crate::provenance::Seal>,
        author: Option<&SummaryAuthor>,
    ) -> Self {
        // Patient-written events are under the epoch key, which an agent never holds: the
        // gateway's records are all practice-written.
        let chart = chart::fold(
            records,
            FoldOptions {
                include_patient_reported: false,
            },
        );
        let now = Timestamp::now();
        let sharing = sharing_of(&chart, now);
        let emergency = chart
            .newest_emergency_consent()
            .and_then(|e| e.resource.as_consent())
            .is_some_and(|consent| consent.permits_emergency_access(now));
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
            if let Some(mut served) =
                ServedResource::new(resource_type, served_id, last_updated, &json)
            {
                let seal = seal_of(&entry.event_id);
                served.signed = Some(crate::provenance::Signed::of(entry, seal));
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
        let mut by_id: Vec<(ResourceType, &str, u32)> = resources
            .iter()
            .zip(0u32..)
            .map(|(r, i)| (r.resource_type, r.id.as_str(), i))
            .collect();
        by_id.sort_unstable();
        let by_id: Box<[u32]> = by_id.into_iter().map(|(_, _, i)| i).collect();
        let summary = match author {
            Some(author) => crate::summary::Summary::of(
                &chart,
                patient,
                &|key| served_id_of(patient, own_record.as_ref(), key),
                author,
                now,
            ),
            None => crate::summary::Summary::NotMade,
        };
        Self {
            id,
            patient: *patient,
            sharing,
            emergency,
            consent_at,
            resources,
            by_id,
            gone,
            summary,
        }
    }

    /// One resource by type and gateway id.
    pub fn get(&self, resource_type: ResourceType, id: &str) -> Option<&Arc<ServedResource>> {
        let at = |i: u32| self.resources.get(usize::try_from(i).ok()?);
        let found = self
            .by_id
            .binary_search_by(|i| {
                at(*i).map_or(std::cmp::Ordering::Greater, |r| {
                    (r.resource_type, r.id.as_str()).cmp(&(resource_type, id))
                })
            })
            .ok()?;
        at(*self.by_id.get(found)?)
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

/// Who the newest sharing Consent the practice recorded shares with (the chart holds the
/// practice's records only; emergency access is a separate decision).
fn sharing_of(chart: &Chart, now: nostr::prelude::Timestamp) -> Sharing {
    let Some(consent) = chart
        .newest_consent()
        .and_then(|entry| entry.resource.as_consent())
    else {
        return Sharing::Nobody;
    };
    // Evaluated when the chart is folded (each sync): a consent period that ends between
    // folds ends sharing at the next one, or when maintenance rotates the key away.
    let recipients = consent.fhir_recipients(now);
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
