//! `ehr import shared`: take in the records a patient shared from another practice (kind 2108,
//! `ehr_client::share`, DESIGN.md §11). A member opens the parts with the epoch key, and each
//! complete batch's records become this practice's records of the patient, signed by the
//! member, marked as shared by the patient and naming the practice they came from. Safe to
//! repeat: a record already in the chart (same type and id) is not written again.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use ehr_client::fhir::Resource;
use ehr_client::keys::{self, Identity};
use ehr_client::kinds::SHARED_RECORDS;
use ehr_client::nostr::prelude::{Kind, PublicKey};
use ehr_client::share::{self, SharedRecords};
use serde_json::{Value, json};

use crate::practice::{practice_chart, report, write};
use crate::session::Session;

pub fn import_shared(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    dry_run: bool,
) -> Result<Value> {
    session.sync(actor)?;
    let view = session.view(actor)?;
    let epochs: BTreeMap<u64, _> = view.epoch_keys().map(|k| (k.number, k)).collect();
    let mut parts = Vec::new();
    let mut unreadable = Vec::new();
    let mut refuse =
        |id: String, reason: String| unreadable.push(json!({ "id": id, "reason": reason }));
    for event in session.events() {
        if event.kind != Kind::Custom(SHARED_RECORDS) {
            continue;
        }
        let shared = match SharedRecords::parse(event.clone()) {
            Ok(shared) if shared.patient() == *patient => shared,
            Ok(_) => continue,
            Err(error) => {
                refuse(event.id.to_hex(), error.to_string());
                continue;
            }
        };
        match epochs.get(&shared.epoch()) {
            Some(key) => match shared.open_with_epoch_key(key) {
                Ok(part) => parts.push(part),
                Err(error) => refuse(event.id.to_hex(), error.to_string()),
            },
            None => refuse(
                event.id.to_hex(),
                format!("this key holds no grant for epoch {}", shared.epoch()),
            ),
        }
    }
    let (batches, incomplete) = share::assemble(parts);

    let chart = practice_chart(session, &view, patient);
    let here_patient_id = chart
        .entries()
        .find(|e| e.resource.resource_type().as_str() == "Patient")
        .map(|e| e.key.id.clone());
    let mut present: BTreeSet<(String, String)> = chart
        .entries()
        .map(|e| {
            (
                e.resource.resource_type().as_str().to_owned(),
                e.key.id.clone(),
            )
        })
        .collect();
    let mut plan = Vec::new();
    let mut imported: BTreeMap<String, usize> = BTreeMap::new();
    let mut already = 0usize;
    let mut invalid = Vec::new();
    for batch in &batches {
        // The patient's id at the first practice, so references to her point to her record here.
        let there_patient_id = batch
            .resources
            .iter()
            .find(|r| r["resourceType"] == "Patient")
            .and_then(|r| r["id"].as_str());
        for resource in &batch.resources {
            let (Some(kind), Some(id)) =
                (resource["resourceType"].as_str(), resource["id"].as_str())
            else {
                invalid
                    .push(json!({ "batch": batch.batch, "reason": "a record without type or id" }));
                continue;
            };
            // This practice keeps its own Patient record.
            if kind == "Patient" {
                continue;
            }
            if !present.insert((kind.to_owned(), id.to_owned())) {
                already += 1;
                continue;
            }
            let marked = share::as_shared_record(
                resource,
                &batch.source,
                there_patient_id,
                here_patient_id.as_deref(),
            );
            match Resource::from_json(&marked) {
                Ok(resource) => {
                    plan.push(write(&view, actor, patient, resource)?);
                    *imported.entry(kind.to_owned()).or_default() += 1;
                }
                Err(error) => invalid.push(json!({
                    "batch": batch.batch,
                    "type": kind,
                    "reason": format!("not valid FHIR R4: {error}"),
                })),
            }
        }
    }
    let planned = plan.len();
    let publish = if dry_run || plan.is_empty() {
        Value::Null
    } else {
        report(&session.commit(actor, plan)?)
    };
    Ok(json!({
        "patient_npub": keys::to_npub(patient),
        "dry_run": dry_run,
        "batches": batches.iter().map(|b| json!({ "batch": b.batch, "from": b.source, "records": b.resources.len() })).collect::<Vec<_>>(),
        "incomplete_batches": incomplete,
        "imported": imported,
        "planned_events": planned,
        "already_imported": already,
        "invalid": invalid,
        "unreadable": unreadable,
        "publish": publish,
    }))
}
