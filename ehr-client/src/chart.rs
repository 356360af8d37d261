//! Chart folding (DESIGN.md §3): verified, decrypted records in; the current chart out.
//!
//! The fold is a pure function of the *set* of records, so every reader (CLI, portal, gateway)
//! that has the same events shows the same chart whatever order they arrived in:
//!
//! - A record is identified by resource type, logical `id` and origin (practice or patient).
//!   Patient-authored entries never replace practice entries and the reverse ("multiple
//!   truths"): they are kept side by side, and the patient's are marked.
//! - Status updates and corrections are later versions (`meta.versionId`); the highest version
//!   wins, ties broken by `created_at` and then event id.
//! - A deletion version hides its record, and nothing else.
//! - Addenda and notes attach to their encounter (DocumentReference `context.encounter`);
//!   results attach to their order (`basedOn` of DiagnosticReport and Observation), within the
//!   same origin.

use std::collections::{BTreeMap, BTreeSet};

use nostr::prelude::{EventId, PublicKey, Timestamp};

use crate::event::ClinicalRecord;
use crate::fhir::{RecordAction, Resource, ResourceType};

/// Who wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A member of the practice.
    Practice,
    /// The patient (patient-reported data, messages).
    Patient,
}

/// Identity of a record in a chart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// FHIR resource type.
    pub resource_type: ResourceType,
    /// Logical id.
    pub id: String,
    /// Who wrote it.
    pub origin: Origin,
}

/// Options of the fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldOptions {
    /// Whether patient-reported entries appear (they always do for the patient; a practice view
    /// may leave them out).
    pub include_patient_reported: bool,
}

impl Default for FoldOptions {
    fn default() -> Self {
        Self {
            include_patient_reported: true,
        }
    }
}

/// One current record of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartEntry {
    /// Identity of the record.
    pub key: RecordKey,
    /// The current version of the resource.
    pub resource: Resource,
    /// Event carrying the current version.
    pub event_id: EventId,
    /// Author of the current version.
    pub author: PublicKey,
    /// `created_at` of the current version.
    pub updated_at: Timestamp,
    /// Version number of the current version.
    pub version: u32,
    /// Every version's event id, oldest first.
    pub history: Vec<EventId>,
    /// Whether any version was a correction.
    pub corrected: bool,
    /// Whether the patient wrote it.
    pub patient_reported: bool,
    /// Records attached to this one: notes and addenda of an encounter, results of an order.
    pub attached: Vec<RecordKey>,
}

/// The folded chart of one patient.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    entries: BTreeMap<RecordKey, ChartEntry>,
    hidden: BTreeSet<RecordKey>,
}

impl Chart {
    /// Every current record, ordered by key.
    pub fn entries(&self) -> impl Iterator<Item = &ChartEntry> {
        self.entries.values()
    }

    /// Current records of one resource type.
    pub fn of_type(&self, resource_type: ResourceType) -> impl Iterator<Item = &ChartEntry> {
        self.entries
            .values()
            .filter(move |e| e.key.resource_type == resource_type)
    }

    /// The patient's current consent decision: the newest Consent, hers or the practice's
    /// record of one, by [`ChartEntry::recency`]. Every reader (the gateway's policy, the
    /// practice's maintenance, the portal) decides by this one rule.
    ///
    /// Sharing and emergency access are separate decisions: this is the newest consent that
    /// is not about emergency access ([`crate::fhir::Consent::is_emergency_access`]).
    pub fn newest_consent(&self) -> Option<&ChartEntry> {
        self.newest_consent_where(false)
    }

    /// The patient's current decision on emergency access: the newest Consent whose purpose is
    /// emergency treatment, by the same rule as [`Self::newest_consent`].
    pub fn newest_emergency_consent(&self) -> Option<&ChartEntry> {
        self.newest_consent_where(true)
    }

    fn newest_consent_where(&self, emergency: bool) -> Option<&ChartEntry> {
        self.of_type(ResourceType::Consent)
            .filter(|entry| {
                entry
                    .resource
                    .as_consent()
                    .is_some_and(|c| c.is_emergency_access() == emergency)
            })
            .max_by_key(|entry| entry.recency())
    }

    /// One record.
    pub fn get(&self, key: &RecordKey) -> Option<&ChartEntry> {
        self.entries.get(key)
    }

    /// Records hidden by a deletion.
    pub fn hidden(&self) -> impl Iterator<Item = &RecordKey> {
        self.hidden.iter()
    }

    /// Number of current records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the chart is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A FHIR R4 `collection` Bundle of the current records, in [`Chart::entries`] order: what
    /// `ehr chart show --format bundle` prints and what the portal's WebAssembly returns, so
    /// every reader hands out the same Bundle for the same events.
    ///
    /// A patient-reported entry carries [`patient_reported_tag`] in `resource.meta.tag`, so
    /// every view of the Bundle can mark it as the patient's.
    pub fn to_bundle(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .entries()
            .filter_map(|entry| {
                let mut resource = serde_json::to_value(&entry.resource).ok()?;
                if entry.patient_reported {
                    add_meta_tag(&mut resource, patient_reported_tag());
                }
                Some(resource)
            })
            .map(|resource| serde_json::json!({ "resource": resource }))
            .collect();
        serde_json::json!({
            "resourceType": "Bundle",
            "type": "collection",
            "total": entries.len(),
            "entry": entries,
        })
    }
}

/// The code system of the `meta.tag` that says who wrote an entry of a Bundle.
pub const ORIGIN_SYSTEM: &str = "urn:nostr-ehr:origin";
/// Its code for an entry the patient wrote.
pub const PATIENT_REPORTED: &str = "patient-reported";
/// Its code for a record the patient brought from another practice ([`crate::share`]).
pub const SHARED_BY_PATIENT: &str = "shared-by-patient";

/// The `meta.tag` Coding of a patient-reported entry in [`Chart::to_bundle`].
pub fn patient_reported_tag() -> serde_json::Value {
    origin_tag(PATIENT_REPORTED, "Reported by the patient")
}

/// An [`ORIGIN_SYSTEM`] Coding.
pub fn origin_tag(code: &str, display: &str) -> serde_json::Value {
    serde_json::json!({ "system": ORIGIN_SYSTEM, "code": code, "display": display })
}

/// Whether a resource (FHIR JSON) carries the [`ORIGIN_SYSTEM`] tag `code`.
pub fn has_origin(resource: &serde_json::Value, code: &str) -> bool {
    resource
        .pointer("/meta/tag")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|tags| {
            tags.iter().any(|t| {
                t.get("system").and_then(serde_json::Value::as_str) == Some(ORIGIN_SYSTEM)
                    && t.get("code").and_then(serde_json::Value::as_str) == Some(code)
            })
        })
}

/// The resource's `meta` object (FHIR JSON), created when missing; `None` when the value is not
/// a JSON object.
pub(crate) fn meta_of(
    resource: &mut serde_json::Value,
) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
    let meta = resource
        .as_object_mut()?
        .entry("meta")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if !meta.is_object() {
        *meta = serde_json::Value::Object(serde_json::Map::new());
    }
    meta.as_object_mut()
}

/// Add `tag` to a resource's `meta.tag` (creating `meta` and `tag`).
pub(crate) fn add_meta_tag(resource: &mut serde_json::Value, tag: serde_json::Value) {
    let Some(meta) = meta_of(resource) else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(tags) = tags.as_array_mut() {
        tags.push(tag);
    }
}

impl ChartEntry {
    /// Which of two records is the newer decision: event time, then version (a withdrawal is
    /// the next version of what it withdraws, so it wins a same-second tie with the practice's
    /// copy of the consent it ends), then event id.
    pub fn recency(&self) -> (Timestamp, u32, EventId) {
        (self.updated_at, self.version, self.event_id)
    }
}

/// Total order of versions: version number, then `created_at`, then event id.
fn version_order(record: &ClinicalRecord) -> (u32, Timestamp, EventId) {
    (
        record.resource.version(),
        record.created_at,
        record.event_id,
    )
}

/// Fold records (already verified and decrypted) into the current chart.
pub fn fold(records: &[ClinicalRecord], options: FoldOptions) -> Chart {
    // Group by record, dropping duplicate deliveries of the same event.
    let mut groups: BTreeMap<RecordKey, BTreeMap<EventId, &ClinicalRecord>> = BTreeMap::new();
    for record in records {
        let Some(id) = record.resource.id() else {
            continue;
        };
        let origin = if record.is_patient_authored() {
            Origin::Patient
        } else {
            Origin::Practice
        };
        // An appointment is one record both sides write: her request, reschedule or
        // cancellation, the desk's answers. Its versions fold together, and hers count only
        // where a patient may act (asking, cancelling), never booking herself.
        let shared = record.resource.as_appointment();
        if let Some(appointment) = shared
            && origin == Origin::Patient
            && !crate::schedule::booking::patient_may_set(appointment.status)
        {
            continue;
        }
        let origin = if shared.is_some() {
            Origin::Practice
        } else {
            origin
        };
        if origin == Origin::Patient && !options.include_patient_reported {
            continue;
        }
        let key = RecordKey {
            resource_type: record.resource.resource_type(),
            id: id.to_owned(),
            origin,
        };
        groups
            .entry(key)
            .or_default()
            .insert(record.event_id, record);
    }

    let mut chart = Chart::default();
    for (key, versions) in groups {
        let mut versions: Vec<&ClinicalRecord> = versions.into_values().collect();
        versions.sort_by_key(|r| version_order(r));
        if versions
            .iter()
            .any(|r| r.resource.action() == RecordAction::Deletion)
        {
            chart.hidden.insert(key);
            continue;
        }
        let Some(current) = versions.last() else {
            continue;
        };
        let entry = ChartEntry {
            resource: current.resource.clone(),
            event_id: current.event_id,
            author: current.author,
            updated_at: current.created_at,
            version: current.resource.version(),
            history: versions.iter().map(|r| r.event_id).collect(),
            corrected: versions
                .iter()
                .any(|r| r.resource.action() == RecordAction::Correction),
            patient_reported: key.origin == Origin::Patient,
            attached: Vec::new(),
            key: key.clone(),
        };
        chart.entries.insert(key, entry);
    }

    attach(&mut chart);
    chart
}

/// Link notes, addenda and results to the record they point at, within the same origin: a
/// practice result never attaches to a patient's record (nor the reverse), so hiding one record
/// can never move a link onto another.
fn attach(chart: &mut Chart) {
    let mut links: Vec<(RecordKey, (Timestamp, RecordKey))> = Vec::new();
    for entry in chart.entries.values() {
        for (resource_type, id) in entry.resource.attaches_to() {
            let target = RecordKey {
                resource_type,
                id,
                origin: entry.key.origin,
            };
            if target != entry.key && chart.entries.contains_key(&target) {
                links.push((target, (entry.updated_at, entry.key.clone())));
            }
        }
    }
    links.sort();
    links.dedup();
    for (target, (_, source)) in links {
        if let Some(entry) = chart.entries.get_mut(&target) {
            entry.attached.push(source);
        }
    }
}
