//! The International Patient Summary (DESIGN.md §14) checked by validators written by others:
//! the IPS of a demo patient, and of a patient with an empty chart, validate with fhirclient's
//! R4 models, `fhir.resources` (R4B) and the official R4 JSON schema at
//! `../shared/fhir/fhir.r4.schema.json`, every entry of the document Bundle included
//! (tests/python/fhir_third_party.py `validate`, as in tests/fhir_third_party.rs).
//!
//! The Python packages come from `scripts/python-tools` (run by `scripts/test`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::PathBuf;

use ehr_client::chart::{FoldOptions, fold};
use ehr_client::demo;
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::Resource;
use ehr_client::ips::{SummaryOptions, check_summary, patient_summary};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{EventId, Keys, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The Python side (fhirclient, fhir.resources, the R4 schema): its answer.
fn python(args: &[&str]) -> Value {
    ehr_tests::python::fhir_third_party(args).unwrap()
}

fn schema() -> PathBuf {
    ehr_tests::python::r4_schema()
}

fn records(
    resources: Vec<(ClinicalKind, Resource)>,
    patient_wrote_last: bool,
) -> Vec<ClinicalRecord> {
    let practice = Keys::generate().public_key();
    let patient = Keys::generate().public_key();
    let count = resources.len();
    resources
        .into_iter()
        .enumerate()
        .map(|(n, (kind, resource))| {
            let digest = Sha256::digest(format!("{n}|{}", resource.to_json()));
            let mut id = [0u8; 32];
            id.copy_from_slice(&digest);
            let hers = patient_wrote_last && n + 1 == count;
            ClinicalRecord {
                event_id: EventId::from_byte_array(id),
                author: if hers { patient } else { practice },
                created_at: Timestamp::from(1_772_500_000 + n as u64),
                kind,
                patient,
                resource,
                copied_by: None,
                guardian: None,
            }
        })
        .collect()
}

#[test]
fn the_ips_of_a_demo_patient_validates_against_the_r4_schema_and_models() {
    let patient_id = demo::new_id();
    let mut resources = demo::one_of_each_kind(&patient_id);
    // One of her own, included on request.
    let mut hers = resources
        .iter()
        .find(|(kind, _)| *kind == ClinicalKind::AllergyIntolerance)
        .unwrap()
        .clone();
    hers.1.set_id(demo::new_id());
    resources.push(hers);
    let chart = fold(&records(resources, true), FoldOptions::default());
    let patient_only = fold(
        &records(
            demo::one_of_each_kind(&patient_id)
                .into_iter()
                .filter(|(kind, _)| *kind == ClinicalKind::Patient)
                .collect(),
            false,
        ),
        FoldOptions::default(),
    );

    let mut options = SummaryOptions::new(Timestamp::from(1_772_700_000), "Demo Family Practice");
    options.practice_key = Some(Keys::generate().public_key());
    let mut with_hers = options.clone();
    with_hers.include_patient_reported = true;
    let summaries = [
        patient_summary(&chart, &options).unwrap(),
        patient_summary(&chart, &with_hers).unwrap(),
        patient_summary(&patient_only, &options).unwrap(),
    ];
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("ips.ndjson");
    let mut out = std::fs::File::create(&file).unwrap();
    for summary in &summaries {
        check_summary(summary).unwrap();
        writeln!(out, "{summary}").unwrap();
    }
    drop(out);

    let answer = python(&[
        "validate",
        file.to_str().unwrap(),
        "--schema",
        schema().to_str().unwrap(),
    ]);
    let types = &answer["types"];
    assert_eq!(types["Bundle"], 3, "{answer}");
    assert_eq!(types["Composition"], 3, "{answer}");
    assert_eq!(types["Patient"], 3, "{answer}");
    assert_eq!(types["Organization"], 3, "{answer}");
    for kind in [
        "AllergyIntolerance",
        "MedicationRequest",
        "Condition",
        "Immunization",
        "Observation",
    ] {
        assert!(types[kind].as_u64().unwrap_or(0) >= 2, "{kind}: {answer}");
    }
}
