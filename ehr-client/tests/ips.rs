#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The International Patient Summary (DESIGN.md §14): the IPS of a demo patient passes the
//! offline IPS rules and holds exactly her chart's active allergies, medications and problems;
//! an empty chart still has the three required sections; the patient's own entries go in only
//! when asked; nothing from the chart becomes markup.

use std::collections::BTreeSet;

use ehr_client::chart::{Chart, FoldOptions, ORIGIN_SYSTEM, PATIENT_REPORTED, fold, has_origin};
use ehr_client::demo;
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::*;
use ehr_client::ips::{
    EMPTY_REASON_SYSTEM, IpsError, Section, SummaryOptions, check_summary, patient_summary,
};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{EventId, Keys, PublicKey, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};

const PATIENT_ID: &str = "demo-patient-1";
const SNOMED: &str = "http://snomed.info/sct";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const LOINC: &str = "http://loinc.org";
const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";

fn patient_key() -> PublicKey {
    Keys::parse("0000000000000000000000000000000000000000000000000000000000000003")
        .unwrap()
        .public_key()
}

fn doctor_key() -> PublicKey {
    Keys::parse("0000000000000000000000000000000000000000000000000000000000000004")
        .unwrap()
        .public_key()
}

fn record(resource: Resource, by_patient: bool, created_at: u64) -> ClinicalRecord {
    let digest = Sha256::digest(format!("{}|{created_at}|{by_patient}", resource.to_json()));
    let mut id = [0u8; 32];
    id.copy_from_slice(&digest);
    ClinicalRecord {
        event_id: EventId::from_byte_array(id),
        author: if by_patient {
            patient_key()
        } else {
            doctor_key()
        },
        created_at: Timestamp::from(created_at),
        kind: ClinicalKind::for_resource(&resource),
        patient: patient_key(),
        resource,
        copied_by: None,
        guardian: None,
    }
}

fn id_of(resource: &Resource) -> String {
    resource.id().unwrap().to_owned()
}

fn subject() -> Reference {
    Reference::to("Patient", PATIENT_ID)
}

fn allergy(substance: &str, clinical: Option<&str>, verification: Option<&str>) -> Resource {
    AllergyIntolerance {
        id: Some(demo::new_id()),
        meta: demo::synthetic_meta(),
        clinical_status: clinical.map(|c| CodeableConcept::coded(ALLERGY_CLINICAL, c, c)),
        verification_status: verification
            .map(|v| CodeableConcept::coded(ALLERGY_VERIFICATION, v, v)),
        code: Some(CodeableConcept::coded(SNOMED, "111088007", substance)),
        patient: subject(),
        ..AllergyIntolerance::default()
    }
    .into()
}

fn condition(name: &str, clinical: &str) -> Resource {
    Condition {
        id: Some(demo::new_id()),
        meta: demo::synthetic_meta(),
        clinical_status: Some(CodeableConcept::coded(
            CONDITION_CLINICAL,
            clinical,
            clinical,
        )),
        code: Some(CodeableConcept::coded(SNOMED, "195967001", name)),
        subject: subject(),
        ..Condition::default()
    }
    .into()
}

fn medication(name: &str, status: MedicationRequestStatus) -> Resource {
    MedicationRequest {
        id: Some(demo::new_id()),
        meta: demo::synthetic_meta(),
        status,
        intent: RequestIntent::Plan,
        medication_codeable_concept: Some(CodeableConcept::coded(RXNORM, "197361", name)),
        subject: subject(),
        ..MedicationRequest::default()
    }
    .into()
}

fn observation(category: &str, code: &str, name: &str, at: &str, value: f64) -> Resource {
    Observation {
        id: Some(demo::new_id()),
        meta: demo::synthetic_meta(),
        status: ObservationStatus::Final,
        category: vec![CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            category,
            category,
        )],
        code: CodeableConcept::coded(LOINC, code, name),
        subject: Some(subject()),
        effective_date_time: Some(at.to_owned()),
        value_quantity: Some(Quantity::ucum(value, "1", "1")),
        ..Observation::default()
    }
    .into()
}

/// The demo patient's chart: one record of every kind (`ehr_client::demo`), plus records that
/// must stay out (inactive, refuted, resolved, stopped, older, the patient's own) and what
/// must go in, by id.
struct Demo {
    chart: Chart,
    allergies: BTreeSet<String>,
    medications: BTreeSet<String>,
    problems: BTreeSet<String>,
    immunizations: BTreeSet<String>,
    vital_signs: BTreeSet<String>,
    results: BTreeSet<String>,
    absent: BTreeSet<String>,
    patient_allergy: String,
}

fn demo_chart() -> Demo {
    let mut records = Vec::new();
    let set = |t: ResourceType, resources: &[(ClinicalKind, Resource)]| -> BTreeSet<String> {
        resources
            .iter()
            .filter(|(_, r)| r.resource_type() == t)
            .map(|(_, r)| id_of(r))
            .collect()
    };
    let demo = demo::one_of_each_kind(PATIENT_ID);
    let allergies = set(ResourceType::AllergyIntolerance, &demo);
    // The medication list's lisinopril and its prescription, both active.
    let medications = set(ResourceType::MedicationRequest, &demo);
    let problems = set(ResourceType::Condition, &demo);
    let immunizations = set(ResourceType::Immunization, &demo);
    // The blood pressure panel (vital-signs) and the potassium (laboratory).
    let observations: Vec<&Resource> = demo
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.resource_type() == ResourceType::Observation)
        .collect();
    let is = |r: &Resource, category: &str| matches!(r, Resource::Observation(o) if o.category.iter().any(|c| c.has_code(None, category)));
    let vital_signs: BTreeSet<String> = observations
        .iter()
        .filter(|r| is(r, "vital-signs"))
        .map(|r| id_of(r))
        .collect();
    let results: BTreeSet<String> = observations
        .iter()
        .filter(|r| is(r, "laboratory"))
        .map(|r| id_of(r))
        .collect();
    for (n, (_, resource)) in demo.into_iter().enumerate() {
        records.push(record(resource, false, 1_772_500_000 + n as u64));
    }

    let out = [
        allergy("Latex", Some("inactive"), None),
        allergy("Sulfonamide", Some("resolved"), None),
        allergy("Codeine", Some("active"), Some("refuted")),
        condition("Acute bronchitis", "resolved"),
        condition("Asthma", "remission"),
        medication(
            "amoxicillin 500 MG Oral Capsule",
            MedicationRequestStatus::Stopped,
        ),
        medication(
            "ibuprofen 400 MG Oral Tablet",
            MedicationRequestStatus::Completed,
        ),
        // An older blood pressure panel and potassium: not the latest of their code.
        observation(
            "vital-signs",
            "85354-9",
            "Blood pressure panel",
            "2025-01-10T09:00:00Z",
            1.0,
        ),
        observation(
            "laboratory",
            "2823-3",
            "Potassium",
            "2025-01-10T09:00:00Z",
            5.9,
        ),
    ];
    let absent: BTreeSet<String> = out.iter().map(id_of).collect();
    for (n, resource) in out.into_iter().enumerate() {
        records.push(record(resource, false, 1_772_400_000 + n as u64));
    }
    // A newer, active allergy of the practice goes in.
    let shellfish = allergy("Shellfish", Some("active"), Some("confirmed"));
    let mut allergies = allergies;
    allergies.insert(id_of(&shellfish));
    records.push(record(shellfish, false, 1_772_600_000));
    // The patient's own allergy: out unless asked for.
    let peanut = allergy("Peanut", Some("active"), None);
    let patient_allergy = id_of(&peanut);
    records.push(record(peanut, true, 1_772_600_001));

    Demo {
        chart: fold(&records, FoldOptions::default()),
        allergies,
        medications,
        problems,
        immunizations,
        vital_signs,
        results,
        absent,
        patient_allergy,
    }
}

fn options() -> SummaryOptions {
    let mut options = SummaryOptions::new(Timestamp::from(1_772_700_000), "Demo Family Practice");
    options.practice_key = Some(doctor_key());
    options.bundle_id = Some(uuid::Uuid::from_u128(
        0x1234_5678_9abc_4def_8123_4567_89ab_cdef,
    ));
    options
}

fn section<'a>(bundle: &'a Value, code: &str) -> Option<&'a Value> {
    bundle["entry"][0]["resource"]["section"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"]["coding"][0]["code"] == code)
}

fn resource_at<'a>(bundle: &'a Value, url: &str) -> &'a Value {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fullUrl"] == url)
        .map(|e| &e["resource"])
        .unwrap_or_else(|| panic!("{url} is not in the bundle"))
}

/// The chart ids of a section's entries.
fn section_ids(bundle: &Value, code: &str) -> BTreeSet<String> {
    let Some(section) = section(bundle, code) else {
        return BTreeSet::new();
    };
    section["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            resource_at(bundle, e["reference"].as_str().unwrap())["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn every_reference<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("reference").and_then(Value::as_str) {
                out.push(r);
            }
            map.values().for_each(|v| every_reference(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| every_reference(v, out)),
        _ => {}
    }
}

#[test]
fn the_demo_patients_summary_validates_and_holds_exactly_her_active_records() {
    let demo = demo_chart();
    let bundle = patient_summary(&demo.chart, &options()).unwrap();
    check_summary(&bundle).unwrap();

    assert_eq!(bundle["type"], "document");
    assert_eq!(
        bundle["identifier"]["value"],
        "urn:uuid:12345678-9abc-4def-8123-456789abcdef"
    );
    assert_eq!(bundle["timestamp"], "2026-03-05T08:40:00Z");
    let entries = bundle["entry"].as_array().unwrap();
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types[..3], ["Composition", "Patient", "Organization"]);
    assert!(
        entries
            .iter()
            .all(|e| e["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"))
    );
    let composition = &entries[0]["resource"];
    assert_eq!(composition["status"], "final");
    assert_eq!(composition["type"]["coding"][0]["code"], "60591-5");
    assert_eq!(composition["title"], "International Patient Summary");
    assert_eq!(composition["subject"]["reference"], entries[1]["fullUrl"]);
    assert_eq!(composition["author"][0]["reference"], entries[2]["fullUrl"]);
    assert_eq!(entries[1]["resource"]["id"], PATIENT_ID);
    assert_eq!(entries[2]["resource"]["name"], "Demo Family Practice");
    assert!(
        entries[2]["resource"]["identifier"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("nostr:npub1")
    );

    // Exactly the active allergies, medications and problems.
    assert_eq!(section_ids(&bundle, "48765-2"), demo.allergies);
    assert_eq!(section_ids(&bundle, "10160-0"), demo.medications);
    assert_eq!(section_ids(&bundle, "11450-4"), demo.problems);
    assert_eq!(section_ids(&bundle, "11369-6"), demo.immunizations);
    // The latest of each code.
    assert_eq!(section_ids(&bundle, "8716-3"), demo.vital_signs);
    assert_eq!(section_ids(&bundle, "30954-2"), demo.results);
    // No procedures in the chart, so no such section.
    assert!(section(&bundle, "47519-4").is_none());
    let carried: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        carried.is_disjoint(&demo.absent),
        "an inactive record is in"
    );
    assert!(!carried.contains(&demo.patient_allergy));
    // Nothing that is not a section's (messages, notes, orders, consent, appointment).
    assert_eq!(
        entries.len(),
        3 + demo.allergies.len()
            + demo.medications.len()
            + demo.problems.len()
            + demo.immunizations.len()
            + demo.vital_signs.len()
            + demo.results.len()
    );

    // The demo's allergy has no clinicalStatus: read and written as active.
    let penicillin = entries
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["code"]["text"] == "penicillin G")
        .unwrap();
    assert_eq!(penicillin["clinicalStatus"]["coding"][0]["code"], "active");

    // Every reference is a fullUrl of the bundle; links to records not carried are gone.
    let mut references = Vec::new();
    every_reference(&bundle, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        assert!(reference.starts_with("urn:uuid:"), "{reference}");
        resource_at(&bundle, reference);
    }
    let text = bundle.to_string();
    assert!(!text.contains("\"basedOn\""));
    assert!(!text.contains("\"encounter\""));

    // Each section's narrative lists its entries.
    let allergies = section(&bundle, "48765-2").unwrap();
    let div = allergies["text"]["div"].as_str().unwrap();
    assert!(div.starts_with(r#"<div xmlns="http://www.w3.org/1999/xhtml"><ul><li>"#));
    assert!(div.contains("penicillin G; criticality high; reaction: Hives"));
    assert!(div.contains("Shellfish"));
    assert!(!div.contains("Latex"));
    let vitals = section(&bundle, "8716-3").unwrap()["text"]["div"]
        .as_str()
        .unwrap();
    assert!(vitals.contains("Systolic blood pressure 138 mmHg, Diastolic blood pressure 88 mmHg"));

    // The same chart and options give the same document.
    assert_eq!(patient_summary(&demo.chart, &options()).unwrap(), bundle);
}

#[test]
fn an_empty_chart_has_the_three_required_sections_with_an_empty_reason() {
    let patient = demo::one_of_each_kind(PATIENT_ID)
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Patient)
        .unwrap()
        .1;
    let chart = fold(
        &[record(patient, false, 1_772_500_000)],
        FoldOptions::default(),
    );
    let bundle = patient_summary(&chart, &options()).unwrap();
    check_summary(&bundle).unwrap();
    let sections = bundle["entry"][0]["resource"]["section"]
        .as_array()
        .unwrap();
    let codes: Vec<&str> = sections
        .iter()
        .map(|s| s["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["48765-2", "10160-0", "11450-4"]);
    for section in sections {
        assert!(section.get("entry").is_none());
        assert_eq!(
            section["emptyReason"]["coding"][0]["system"],
            EMPTY_REASON_SYSTEM
        );
        assert_eq!(section["emptyReason"]["coding"][0]["code"], "unavailable");
        assert!(
            section["text"]["div"]
                .as_str()
                .unwrap()
                .contains("<p>No information about")
        );
    }
    // Composition, Patient, Organization.
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 3);

    // No Patient, no summary; no author, no summary.
    assert_eq!(
        patient_summary(&Chart::default(), &options()),
        Err(IpsError::NoPatient)
    );
    let mut anonymous = options();
    anonymous.practice_name = " ".to_owned();
    anonymous.practice_key = None;
    assert_eq!(patient_summary(&chart, &anonymous), Err(IpsError::NoAuthor));
}

#[test]
fn the_patients_own_entries_go_in_only_when_asked_and_marked() {
    let demo = demo_chart();
    let bundle = patient_summary(&demo.chart, &options()).unwrap();
    assert!(!section_ids(&bundle, "48765-2").contains(&demo.patient_allergy));
    assert!(!bundle.to_string().contains(PATIENT_REPORTED));

    let mut with_hers = options();
    with_hers.include_patient_reported = true;
    let bundle = patient_summary(&demo.chart, &with_hers).unwrap();
    check_summary(&bundle).unwrap();
    let mut expected = demo.allergies.clone();
    expected.insert(demo.patient_allergy.clone());
    assert_eq!(section_ids(&bundle, "48765-2"), expected);
    let peanut = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["id"] == demo.patient_allergy.as_str())
        .unwrap();
    assert!(has_origin(peanut, PATIENT_REPORTED));
    assert_eq!(
        peanut["meta"]["tag"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["system"] == ORIGIN_SYSTEM)
            .count(),
        1
    );
    // Her reference to herself is the summary's patient.
    assert_eq!(
        peanut["patient"]["reference"],
        bundle["entry"][1]["fullUrl"]
    );
    let div = section(&bundle, "48765-2").unwrap()["text"]["div"]
        .as_str()
        .unwrap();
    assert!(div.contains("Peanut; reported by the patient"));
}

#[test]
fn nothing_from_the_chart_becomes_markup() {
    let patient = demo::one_of_each_kind(PATIENT_ID)
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Patient)
        .unwrap()
        .1;
    let mut hostile = allergy("x", Some("active"), None);
    if let Resource::AllergyIntolerance(a) = &mut hostile {
        a.code = Some(CodeableConcept {
            coding: vec![Coding::new(
                SNOMED,
                "111088007",
                "</li><script>alert(1)</script>",
            )],
            text: Some("<script>alert('allergy')</script> & <b>bold</b>".to_owned()),
        });
        a.note = vec![Annotation {
            text: "<img src=x onerror=alert(2)>".to_owned(),
            ..Annotation::default()
        }];
        // A narrative of its own, from whoever wrote the record: not carried.
        a.text = Some(Narrative {
            status: "generated".to_owned(),
            div: r#"<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(3)</script></div>"#
                .to_owned(),
        });
    }
    let chart = fold(
        &[
            record(patient, false, 1_772_500_000),
            record(hostile, false, 1_772_500_001),
        ],
        FoldOptions::default(),
    );
    let bundle = patient_summary(&chart, &options()).unwrap();
    check_summary(&bundle).unwrap();
    let div = section(&bundle, "48765-2").unwrap()["text"]["div"]
        .as_str()
        .unwrap();
    assert_eq!(
        div,
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul><li>&lt;script&gt;alert(&#39;allergy&#39;)\
         &lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</li></ul></div>"
    );
    // No markup anywhere but the generated narratives' own; the data stays data.
    for entry in bundle["entry"].as_array().unwrap() {
        assert!(
            entry["resource"].get("text").is_none()
                || entry["resource"]["resourceType"] == "Composition"
        );
    }
    let mut divs = Vec::new();
    collect_divs(&bundle, &mut divs);
    for div in divs {
        assert!(!div.contains("<script"), "{div}");
        assert!(!div.contains("<img"), "{div}");
        assert!(!div.contains("<b>"), "{div}");
    }
}

fn collect_divs<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            if let Some(div) = map.get("div").and_then(Value::as_str) {
                out.push(div);
            }
            map.values().for_each(|v| collect_divs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_divs(v, out)),
        _ => {}
    }
}

#[test]
fn check_summary_names_the_broken_rule() {
    let demo = demo_chart();
    let good = patient_summary(&demo.chart, &options()).unwrap();
    let section_index = |code: &str| {
        good["entry"][0]["resource"]["section"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["code"]["coding"][0]["code"] == code)
            .unwrap()
    };
    let allergies = section_index("48765-2");
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut bundle = good.clone();
        change(&mut bundle);
        check_summary(&bundle).unwrap_err()
    };

    assert_eq!(
        broken(&|b| b["type"] = "collection".into()),
        IpsError::Structure {
            rule: "Bundle.type is not document"
        }
    );
    assert!(matches!(
        broken(&|b| b["entry"].as_array_mut().unwrap().swap(0, 1)),
        IpsError::Structure { .. }
    ));
    assert!(matches!(
        broken(&|b| b["entry"][0]["resource"]["type"]["coding"][0]["code"] = "34133-9".into()),
        IpsError::Structure { .. }
    ));
    assert_eq!(
        broken(&|b| {
            b["entry"][0]["resource"]["section"]
                .as_array_mut()
                .unwrap()
                .retain(|s| s["code"]["coding"][0]["code"] != "10160-0");
        }),
        IpsError::MissingSection { code: "10160-0" }
    );
    assert_eq!(
        broken(&|b| {
            let sections = b["entry"][0]["resource"]["section"].as_array_mut().unwrap();
            let copy = sections[allergies].clone();
            sections.push(copy);
        }),
        IpsError::DuplicateSection { code: "48765-2" }
    );
    assert_eq!(
        broken(&|b| {
            b["entry"][0]["resource"]["section"][allergies]["entry"][0]["reference"] =
                "urn:uuid:00000000-0000-4000-8000-000000000000".into();
        }),
        IpsError::UnresolvedEntry {
            section: allergies,
            entry: 0
        }
    );
    assert_eq!(
        broken(&|b| {
            let patient = b["entry"][1]["fullUrl"].clone();
            b["entry"][0]["resource"]["section"][allergies]["entry"][0]["reference"] = patient;
        }),
        IpsError::WrongEntryType {
            section: allergies,
            entry: 0
        }
    );
    assert_eq!(
        broken(&|b| {
            let url =
                b["entry"][0]["resource"]["section"][allergies]["entry"][0]["reference"].clone();
            for entry in b["entry"].as_array_mut().unwrap() {
                if entry["fullUrl"] == url {
                    entry["resource"]["code"]
                        .as_object_mut()
                        .unwrap()
                        .remove("coding");
                }
            }
        }),
        IpsError::Uncoded {
            section: allergies,
            entry: 0
        }
    );
    assert!(matches!(
        broken(&|b| {
            b["entry"][0]["resource"]["section"][allergies]["emptyReason"] = serde_json::json!({ "coding": [{ "system": EMPTY_REASON_SYSTEM, "code": "unavailable" }] });
        }),
        IpsError::Section {
            rule: "both entries and an emptyReason",
            ..
        }
    ));
    assert!(matches!(
        broken(&|b| {
            b["entry"][0]["resource"]["section"][allergies]
                .as_object_mut()
                .unwrap()
                .remove("entry");
        }),
        IpsError::Section {
            rule: "neither entries nor an emptyReason",
            ..
        }
    ));
    assert!(matches!(
        broken(&|b| {
            b["entry"][0]["resource"]["section"][allergies]["text"]["div"] = "plain".into();
        }),
        IpsError::Section {
            rule: "no XHTML narrative",
            ..
        }
    ));
    assert!(matches!(
        broken(&|b| {
            let last = b["entry"].as_array().unwrap().len() - 1;
            b["entry"][last]["resource"]["subject"]["reference"] =
                "urn:uuid:00000000-0000-4000-8000-000000000001".into();
        }),
        IpsError::DanglingReference { .. }
    ));
    // No PHI in what an error says.
    for error in [
        IpsError::NoPatient,
        IpsError::Uncoded {
            section: 0,
            entry: 1,
        },
    ] {
        assert!(!error.to_string().contains(PATIENT_ID));
    }
    assert_eq!(Section::from_code("11450-4"), Some(Section::Problems));
}
