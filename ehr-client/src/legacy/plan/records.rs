//! Records from opened legacy events: one per event (and its derived records), and the
//! versions link markers make of their targets.

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventId};
use serde_json::{Map, Value, json};

use super::{Analysis, Fate, Opened, OutputKey, PlannedRecord};
use crate::fhir::{RecordAction, Resource};
use crate::kinds::ClinicalKind;
use crate::legacy::convert::{self, Context, Converted, LegacyFile, Output, push_extension};
use crate::legacy::source::Marker;
use crate::legacy::{
    EXT_AUTHORED_BY, EXT_AUTHORED_BY_NAME, EXT_CREATED_AT, EXT_EVENT, EXT_KIND, EXT_MARKER,
    EXT_SIGNER, LEGACY_ID_SYSTEM,
};

impl Analysis {
    pub(super) fn plan_records(&mut self, opened: &BTreeMap<EventId, Opened<'_>>) {
        let mut ordered: Vec<&Opened<'_>> = opened.values().collect();
        ordered.sort_by_key(|o| (o.event.created_at, o.event.id));
        let mut versions: BTreeMap<String, u32> = BTreeMap::new();
        let mut bases: BTreeMap<EventId, Output> = BTreeMap::new();
        let mut chains: BTreeMap<EventId, Vec<&Opened<'_>>> = BTreeMap::new();
        for o in &ordered {
            let reference = self.patient_reference(&o.patient);
            let context = Context {
                tags: &o.tags,
                created_at: o.event.created_at,
                patient_reference: &reference,
            };
            let own = o.event.id.to_hex();
            let link = o.tags.link;
            if let Some((_, target)) = link
                && let Some(t) = opened.get(&target)
                && t.patient != o.patient
            {
                self.set(
                    o.event,
                    Fate::Unreadable("its link points at another patient's event".into()),
                );
                continue;
            }
            let converted = match link {
                Some((Marker::StatusUpdate | Marker::Deletion | Marker::Cancelled, target)) => {
                    chains.entry(target).or_default().push(o);
                    continue;
                }
                Some((Marker::Addendum, target)) => {
                    convert::addendum(&own, &target.to_hex(), &o.plaintext, &context)
                }
                Some((Marker::Result, target)) => {
                    convert::convert(o.kind, &own, &o.plaintext, &context).map(|mut c| {
                        with_based_on(&mut c, &target);
                        c
                    })
                }
                None if o.kind == ClinicalKind::Patient => {
                    let id = self
                        .patients
                        .get(&o.patient)
                        .cloned()
                        .unwrap_or_else(|| o.patient.to_hex());
                    convert::convert(o.kind, &id, &o.plaintext, &context)
                }
                None => convert::convert(o.kind, &own, &o.plaintext, &context),
            };
            let Converted { outputs, file } = match converted {
                Ok(c) => c,
                Err(reason) => {
                    self.set(o.event, Fate::Unreadable(reason));
                    continue;
                }
            };
            if let Some(primary) = outputs.first() {
                bases.insert(o.event.id, primary.clone());
            }
            // Patients are one record whose versions follow the 2110 events.
            let mut planned = Vec::new();
            let mut failed = None;
            for (index, output) in outputs.into_iter().enumerate() {
                let id = output
                    .resource
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let version = if o.kind == ClinicalKind::Patient {
                    let n = versions.entry(id).or_insert(0);
                    *n += 1;
                    *n
                } else {
                    1
                };
                let action = if version == 1 {
                    RecordAction::Create
                } else {
                    RecordAction::StatusUpdate
                };
                let file = if index == 0 { file.clone() } else { None };
                match record(o, output, version, action, None, file) {
                    Ok(r) => planned.push(r),
                    Err(reason) => {
                        failed = Some(reason);
                        break;
                    }
                }
            }
            self.commit(o.event, planned, failed);
        }
        for (target, markers) in chains {
            self.plan_chain(opened.get(&target), bases.get(&target), &target, &markers);
        }
    }

    fn commit(&mut self, event: &Event, planned: Vec<PlannedRecord>, failed: Option<String>) {
        match failed {
            Some(reason) => self.set(event, Fate::Unreadable(reason)),
            None => {
                self.set(
                    event,
                    Fate::Records(planned.iter().map(|r| r.key.clone()).collect()),
                );
                self.records.extend(planned);
            }
        }
    }

    /// The versions the markers on one target make.
    fn plan_chain(
        &mut self,
        target: Option<&Opened<'_>>,
        base: Option<&Output>,
        target_id: &EventId,
        markers: &[&Opened<'_>],
    ) {
        let mut current = base.cloned();
        let mut version = 1;
        for marker in markers {
            let Some((kind, _)) = marker.tags.link else {
                continue;
            };
            if target.is_some_and(|t| t.kind != marker.kind) {
                self.set(
                    marker.event,
                    Fate::Unreadable("its marker points at an event of another kind".into()),
                );
                continue;
            }
            let reference = self.patient_reference(&marker.patient);
            let context = Context {
                tags: &marker.tags,
                created_at: marker.event.created_at,
                patient_reference: &reference,
            };
            let next = match kind {
                Marker::StatusUpdate => convert::convert(
                    marker.kind,
                    &target_id.to_hex(),
                    &marker.plaintext,
                    &context,
                )
                .and_then(|c| {
                    c.outputs
                        .into_iter()
                        .next()
                        .ok_or_else(|| "empty".to_owned())
                })
                .map(|o| (o, RecordAction::StatusUpdate)),
                Marker::Deletion | Marker::Cancelled => match &current {
                    None => Err(String::new()),
                    Some(base) => tombstone(base, kind, &marker.plaintext),
                },
                Marker::Addendum | Marker::Result => continue,
            };
            let (output, action) = match next {
                Ok(n) => n,
                Err(reason) if reason.is_empty() => {
                    self.set(
                        marker.event,
                        Fate::Skipped(format!(
                            "its {} target is not in the legacy data or could not be read",
                            kind.as_str()
                        )),
                    );
                    continue;
                }
                Err(reason) => {
                    self.set(marker.event, Fate::Unreadable(reason));
                    continue;
                }
            };
            version += 1;
            match record(marker, output.clone(), version, action, Some(kind), None) {
                Ok(r) => {
                    current = Some(output);
                    self.commit(marker.event, vec![r], None);
                }
                Err(reason) => {
                    version -= 1;
                    self.set(marker.event, Fate::Unreadable(reason));
                }
            }
        }
    }
}

/// A result's `basedOn` names its order, whatever the payload said.
fn with_based_on(converted: &mut Converted, order: &EventId) {
    let reference = json!([{ "reference": format!("ServiceRequest/{}", order.to_hex()) }]);
    for output in &mut converted.outputs {
        if let Some(map) = output.resource.as_object_mut()
            && matches!(
                map.get("resourceType").and_then(Value::as_str),
                Some("DiagnosticReport" | "Observation")
            )
        {
            map.insert("basedOn".into(), reference.clone());
        }
    }
}

/// The version a deletion or cancellation makes of `base`.
fn tombstone(
    base: &Output,
    marker: Marker,
    payload: &str,
) -> Result<(Output, RecordAction), String> {
    let mut output = base.clone();
    let Some(map) = output.resource.as_object_mut() else {
        return Err("the target is not a resource".into());
    };
    let resource_type = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let action = match (marker, resource_type.as_str()) {
        (Marker::Deletion, "MedicationRequest") => {
            map.insert("status".into(), json!("stopped"));
            RecordAction::StatusUpdate
        }
        (Marker::Deletion, _) => RecordAction::Deletion,
        (Marker::Cancelled, "ServiceRequest") => {
            map.insert("status".into(), json!("revoked"));
            RecordAction::StatusUpdate
        }
        (Marker::Cancelled, "MedicationRequest") => {
            map.insert("status".into(), json!("cancelled"));
            RecordAction::StatusUpdate
        }
        _ => return Err("a cancellation of a kind that has no cancelled status".into()),
    };
    // Keep the tombstone's own FHIR id beside the record's.
    if let Some(id) = serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        && let Value::Array(ids) = map.entry("identifier").or_insert_with(|| json!([]))
    {
        ids.push(json!({ "use": "secondary", "system": LEGACY_ID_SYSTEM, "value": id }));
    }
    Ok((output, action))
}

/// Provenance of `source` on a resource: the legacy event, its signer, time and kind, and the
/// staff member it names.
fn provenance(map: &mut Map<String, Value>, source: &Opened<'_>, marker: Option<Marker>) {
    let event = source.event;
    push_extension(map, EXT_EVENT, "String", json!(event.id.to_hex()));
    push_extension(map, EXT_SIGNER, "String", json!(event.pubkey.to_hex()));
    push_extension(
        map,
        EXT_CREATED_AT,
        "Integer",
        json!(event.created_at.as_secs()),
    );
    push_extension(map, EXT_KIND, "Integer", json!(event.kind.as_u16()));
    if let Some((staff, name)) = &source.tags.authored_by {
        push_extension(map, EXT_AUTHORED_BY, "String", json!(staff.to_hex()));
        if !name.is_empty() {
            push_extension(map, EXT_AUTHORED_BY_NAME, "String", json!(name));
        }
    }
    if let Some(marker) = marker {
        push_extension(map, EXT_MARKER, "Code", json!(marker.as_str()));
    }
}

fn record(
    source: &Opened<'_>,
    output: Output,
    version: u32,
    action: RecordAction,
    marker: Option<Marker>,
    file: Option<LegacyFile>,
) -> Result<PlannedRecord, String> {
    let mut value = output.resource;
    if let Some(map) = value.as_object_mut() {
        // Extensions of provenance are this version's own.
        if let Some(Value::Array(extensions)) = map.get_mut("extension") {
            extensions.retain(|e| {
                e.get("url")
                    .and_then(Value::as_str)
                    .is_none_or(|u| !is_provenance(u))
            });
        }
        provenance(map, source, marker);
    }
    let mut resource = Resource::from_json(&value.to_string()).map_err(|e| e.to_string())?;
    resource.set_version(version, action);
    resource.validate().map_err(|e| e.to_string())?;
    output
        .kind
        .check_resource(&resource)
        .map_err(|e| e.to_string())?;
    let key = OutputKey::of(&resource).ok_or_else(|| "a resource without an id".to_owned())?;
    Ok(PlannedRecord {
        key,
        patient: source.patient,
        kind: output.kind,
        resource,
        source: source.event.id,
        file,
    })
}

fn is_provenance(url: &str) -> bool {
    [
        EXT_EVENT,
        EXT_SIGNER,
        EXT_CREATED_AT,
        EXT_KIND,
        EXT_AUTHORED_BY,
        EXT_AUTHORED_BY_NAME,
        EXT_MARKER,
    ]
    .contains(&url)
}
