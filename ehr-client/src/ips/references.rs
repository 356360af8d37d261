//! The document's `fullUrl`s, and the records as the document carries them: references
//! rewritten to those `fullUrl`s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::IpsError;
use crate::chart::{ChartEntry, Origin, add_meta_tag, patient_reported_tag};
use crate::fhir::{CodeableConcept, Resource, ResourceType};

const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// What a reference to a record outside the summary says when it must stay (a required
/// element) and names nothing else.
const NOT_INCLUDED: &str = "Not included in this summary";

/// The `fullUrl`s of the document.
#[derive(Debug, Default)]
pub(super) struct Urls {
    records: BTreeMap<(ResourceType, String, Origin), String>,
    used: BTreeSet<Uuid>,
}

impl Urls {
    /// A new UUID derived from `parts`, distinct from every one handed out.
    pub(super) fn fresh(&mut self, parts: &[&str]) -> Uuid {
        let mut attempt: u32 = 0;
        loop {
            let attempt_text = attempt.to_string();
            let mut all: Vec<&str> = parts.to_vec();
            all.push(&attempt_text);
            let id = derived_uuid(&all);
            if self.used.insert(id) {
                return id;
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// The `fullUrl` of a record: its own id when that is a UUID not yet taken, else one
    /// derived from its type, id and origin.
    pub(super) fn assign_record(&mut self, entry: &ChartEntry) -> String {
        let key = (
            entry.key.resource_type,
            entry.key.id.clone(),
            entry.key.origin,
        );
        if let Some(url) = self.records.get(&key) {
            return url.clone();
        }
        let own = Uuid::try_parse(&entry.key.id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == entry.key.id && !self.used.contains(u));
        let id = match own {
            Some(id) => {
                self.used.insert(id);
                id
            }
            None => {
                let origin = format!("{:?}", entry.key.origin);
                self.fresh(&[
                    "record",
                    entry.key.resource_type.as_str(),
                    &entry.key.id,
                    &origin,
                ])
            }
        };
        let url = urn(id);
        self.records.insert(key, url.clone());
        url
    }

    pub(super) fn url_of(&self, entry: &ChartEntry) -> Option<&String> {
        self.records.get(&(
            entry.key.resource_type,
            entry.key.id.clone(),
            entry.key.origin,
        ))
    }

    /// The `fullUrl` a relative reference `Type/id` of a record of `origin` points at: a
    /// Patient is the summary's patient (the chart is hers), anything else the record of that
    /// type and id, the same origin's first.
    pub(super) fn resolve(
        &self,
        reference: &str,
        origin: Origin,
        patient_url: &str,
    ) -> Option<String> {
        let (type_name, id) = reference.split_once('/')?;
        if id.is_empty() || id.contains('/') {
            return None;
        }
        if type_name == "Patient" {
            return Some(patient_url.to_owned());
        }
        let resource_type: ResourceType = type_name.parse().ok()?;
        let other = match origin {
            Origin::Practice => Origin::Patient,
            Origin::Patient => Origin::Practice,
        };
        [origin, other].into_iter().find_map(|o| {
            self.records
                .get(&(resource_type, id.to_owned(), o))
                .cloned()
        })
    }
}

pub(super) fn urn(id: Uuid) -> String {
    format!("urn:uuid:{}", id.hyphenated())
}

/// A UUID (version 8, RFC 9562) from the SHA-256 of `parts`.
fn derived_uuid(parts: &[&str]) -> Uuid {
    let mut hash = Sha256::new();
    hash.update(b"nostr-ehr ips fullUrl v1");
    for part in parts {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    for (byte, source) in bytes.iter_mut().zip(digest.iter()) {
        *byte = *source;
    }
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A record as the document carries it: an absent clinical status of an allergy or problem
/// written as `active` (what the summary read it as, and what R4's ait-1 and con-3 ask for),
/// its own narrative left out, its references rewritten, and the patient's entries tagged.
pub(super) fn carried(
    entry: &ChartEntry,
    urls: &Urls,
    patient_url: &str,
) -> Result<Value, IpsError> {
    let mut resource = entry.resource.clone();
    match &mut resource {
        Resource::AllergyIntolerance(a) if a.clinical_status.is_none() => {
            a.clinical_status = Some(CodeableConcept::coded(ALLERGY_CLINICAL, "active", "Active"));
        }
        Resource::Condition(c) if c.clinical_status.is_none() => {
            c.clinical_status = Some(CodeableConcept::coded(
                CONDITION_CLINICAL,
                "active",
                "Active",
            ));
        }
        _ => {}
    }
    let mut value = serde_json::to_value(&resource).map_err(|_| IpsError::Serialize)?;
    let map = value.as_object_mut().ok_or(IpsError::Serialize)?;
    map.remove("text");
    let resolve = |reference: &str| urls.resolve(reference, entry.key.origin, patient_url);
    for (key, child) in map.iter_mut() {
        rewrite(child, key, &resolve);
    }
    // `rewrite` may leave an emptied element behind as null.
    map.retain(|_, v| !v.is_null());
    if entry.patient_reported {
        add_meta_tag(&mut value, patient_reported_tag());
    }
    Ok(value)
}

/// Elements whose reference must stay even when its target is not in the document (required
/// in R4): they keep a `display`.
const REQUIRED_REFERENCES: [&str; 6] = [
    "subject",
    "patient",
    "actor",
    "medicationReference",
    "condition",
    "target",
];

/// Rewrite the references in `value` (the element `key`): a reference the document holds
/// becomes its `fullUrl`; one it does not hold keeps its `display` and `identifier`, or says
/// [`NOT_INCLUDED`] where R4 requires the element, or is removed (`value` becomes null, and
/// array items that become null are dropped).
fn rewrite(value: &mut Value, key: &str, resolve: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("reference").and_then(Value::as_str) {
                if let Some(url) = resolve(reference) {
                    map.insert("reference".to_owned(), Value::String(url));
                    return;
                }
                let type_name = reference
                    .split_once('/')
                    .map(|(t, _)| t.to_owned())
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()));
                map.remove("reference");
                if map.contains_key("display") || map.contains_key("identifier") {
                    return;
                }
                if REQUIRED_REFERENCES.contains(&key) {
                    map.insert("display".to_owned(), Value::String(NOT_INCLUDED.to_owned()));
                    if let Some(t) = type_name {
                        map.entry("type").or_insert(Value::String(t));
                    }
                } else {
                    *value = Value::Null;
                }
                return;
            }
            for (child_key, child) in map.iter_mut() {
                rewrite(child, child_key, resolve);
            }
            map.retain(|_, v| !v.is_null());
            // FHIR JSON has no empty objects (ele-1).
            if map.is_empty() {
                *value = Value::Null;
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                rewrite(item, key, resolve);
            }
            items.retain(|v| !v.is_null());
            if items.is_empty() {
                *value = Value::Null;
            }
        }
        _ => {}
    }
}
