#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The wire format of DESIGN.md §3: build, verify, decrypt, and refuse what is malformed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ehr_client::demo;
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder, EventError, PracticeKeyRef};
use ehr_client::fhir::{FhirError, Resource};
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag};
use serde_json::{Value, json};

struct Practice {
    doctor: Identity,
    patient: Identity,
    chart_key: ChartKey,
}

fn practice() -> Practice {
    Practice {
        doctor: Identity::generate(),
        patient: Identity::generate(),
        chart_key: ChartKey::generate(1),
    }
}

fn encounter_event(p: &Practice) -> ClinicalEvent {
    ClinicalEventBuilder::new(
        ClinicalKind::Encounter,
        demo::encounter("pt-1"),
        p.patient.public_key(),
    )
    .unwrap()
    .sign(&p.doctor, &p.chart_key)
    .unwrap()
}

#[test]
fn every_kind_round_trips_through_both_copies() {
    let p = practice();
    for (kind, resource) in demo::one_of_each_kind("pt-1") {
        let event = ClinicalEventBuilder::new(kind, resource.clone(), p.patient.public_key())
            .unwrap()
            .sign(&p.doctor, &p.chart_key)
            .unwrap();
        let reparsed = ClinicalEvent::from_json(&event.to_json()).unwrap();
        assert_eq!(reparsed.kind(), kind);
        let practice_copy = reparsed.decrypt_with_chart_key(&p.chart_key).unwrap();
        let patient_copy = reparsed.decrypt_with_patient_key(&p.patient).unwrap();
        assert_eq!(practice_copy.resource, resource);
        assert_eq!(patient_copy.resource, resource);
        assert_eq!(patient_copy.author, p.doctor.public_key());
    }
}

#[test]
fn only_the_minimal_tags_are_in_plaintext() {
    let p = practice();
    let event = encounter_event(&p);
    let json: Value = serde_json::from_str(&event.to_json()).unwrap();
    let names: Vec<&str> = json["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p", "patient-content", "chart-key", "ehr"]);
    assert_eq!(json["tags"][0][1], p.patient.public_key().to_hex());
    // Both copies are NIP-44 v2 payloads (version byte 2 after base64).
    let patient_copy = json["tags"][1][1].as_str().unwrap();
    for ciphertext in [json["content"].as_str().unwrap(), patient_copy] {
        let raw = STANDARD.decode(ciphertext).unwrap();
        assert_eq!(raw[0], 2, "not a NIP-44 v2 payload");
    }
    // Nothing of the resource leaks in the cleartext fields. The ciphertexts are
    // left out of this search: random base64 may spell any short word by chance.
    let mut cleartext = json.clone();
    cleartext["content"] = Value::Null;
    cleartext["tags"][1][1] = Value::Null;
    let text = cleartext.to_string();
    for needle in ["Encounter", "finished", "Hypertension", "pt-1", "AMB"] {
        assert!(!text.contains(needle), "plaintext leaks {needle}");
    }
    assert_eq!(event.practice_key(), PracticeKeyRef::Chart(1));
}

#[test]
fn another_patients_key_and_a_wrong_chart_key_fail_cleanly() {
    let p = practice();
    let event = encounter_event(&p);
    let stranger = Identity::generate();
    assert_eq!(
        event.decrypt_with_patient_key(&stranger).unwrap_err(),
        EventError::NotThisPatient
    );
    assert!(matches!(
        pollster::block_on(event.decrypt_as_patient(&stranger)),
        Err(EventError::NotThisPatient)
    ));
    // Another chart key of the same version: the MAC fails.
    let wrong = ChartKey::generate(1);
    assert!(matches!(
        event.decrypt_with_chart_key(&wrong),
        Err(EventError::Crypto(
            ehr_client::crypto::CryptoError::InvalidMac
        ))
    ));
    // A key of another version is refused before any decryption.
    assert_eq!(
        event
            .decrypt_with_chart_key(&ChartKey::generate(2))
            .unwrap_err(),
        EventError::ChartKeyVersionMismatch {
            expected: 1,
            given: 2
        }
    );
}

#[test]
fn the_patient_reads_through_any_nip44_signer() {
    let p = practice();
    let event = encounter_event(&p);
    let record = pollster::block_on(event.decrypt_as_patient(p.patient.keys())).unwrap();
    assert_eq!(record.resource.resource_type().as_str(), "Encounter");
}

fn tamper(event: &ClinicalEvent, f: impl FnOnce(&mut Value)) -> String {
    let mut json: Value = serde_json::from_str(&event.to_json()).unwrap();
    f(&mut json);
    json.to_string()
}

#[test]
fn forged_and_altered_events_are_rejected() {
    let p = practice();
    let event = encounter_event(&p);
    // Altered content keeps the old id: the id no longer matches.
    let altered = tamper(&event, |j| j["content"] = json!("AgAAAA"));
    assert_eq!(
        ClinicalEvent::from_json(&altered).unwrap_err(),
        EventError::InvalidSignature
    );
    // Another key's pubkey on the same signature.
    let impostor = Identity::generate();
    let forged = tamper(&event, |j| {
        j["pubkey"] = json!(impostor.public_key().to_hex())
    });
    assert_eq!(
        ClinicalEvent::from_json(&forged).unwrap_err(),
        EventError::InvalidSignature
    );
    // A flipped signature byte.
    let bad_sig = tamper(&event, |j| {
        let mut sig = j["sig"].as_str().unwrap().to_owned();
        let last = if sig.ends_with('0') { "1" } else { "0" };
        sig.replace_range(127..128, last);
        j["sig"] = json!(sig);
    });
    assert_eq!(
        ClinicalEvent::from_json(&bad_sig).unwrap_err(),
        EventError::InvalidSignature
    );
    for junk in ["", "{}", "[]", "null", "{\"kind\":2111}", "\u{0}"] {
        assert_eq!(
            ClinicalEvent::from_json(junk).unwrap_err(),
            EventError::NotAnEvent
        );
    }
}

/// Sign arbitrary tags with a real key, so only the structure is wrong.
fn signed(kind: u16, content: &str, tags: Vec<Vec<String>>) -> String {
    let author = Identity::generate();
    let tags = tags.into_iter().map(|t| Tag::parse(t).unwrap());
    EventBuilder::new(Kind::from_u16(kind), content)
        .tags(tags)
        .finalize(author.keys())
        .unwrap()
        .as_json()
}

fn t(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn structurally_malformed_events_get_typed_errors() {
    let pk = Identity::generate().public_key().to_hex();
    let good = || {
        vec![
            t(&["p", &pk]),
            t(&["patient-content", "AgAA"]),
            t(&["chart-key", "1"]),
            t(&["ehr", "1"]),
        ]
    };

    let cases: Vec<(String, EventError)> = vec![
        (signed(1, "x", good()), EventError::NotClinical(1)),
        (signed(2122, "x", good()), EventError::NotClinical(2122)),
        (
            signed(2111, "x", good()[1..].to_vec()),
            EventError::MissingTag("p"),
        ),
        (
            signed(2111, "x", [good(), vec![t(&["p", &pk])]].concat()),
            EventError::DuplicateTag("p"),
        ),
        (
            signed(
                2111,
                "x",
                [good(), vec![t(&["subject", "Jane Doe"])]].concat(),
            ),
            EventError::UnexpectedTag("subject".into()),
        ),
        (
            signed(
                2111,
                "x",
                [good(), vec![t(&["e", &"0".repeat(64), "", "deletion"])]].concat(),
            ),
            EventError::UnexpectedTag("e".into()),
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", "zz"]),
                    t(&["patient-content", "A"]),
                    t(&["chart-key", "1"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::MalformedTag("p"),
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", &"f".repeat(64)]),
                    t(&["patient-content", "A"]),
                    t(&["chart-key", "1"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::MalformedTag("p"),
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", &pk]),
                    t(&["patient-content", "A"]),
                    t(&["chart-key", "01"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::MalformedTag("chart-key"),
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", &pk]),
                    t(&["patient-content", "A"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::AmbiguousPracticeKey,
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", &pk]),
                    t(&["patient-content", "A"]),
                    t(&["chart-key", "1"]),
                    t(&["epoch", "1"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::AmbiguousPracticeKey,
        ),
        (
            signed(
                2111,
                "x",
                vec![
                    t(&["p", &pk]),
                    t(&["patient-content", "A"]),
                    t(&["chart-key", "1"]),
                    t(&["ehr", "2"]),
                ],
            ),
            EventError::UnsupportedFormat,
        ),
        (
            signed(
                2111,
                "x",
                vec![t(&["p", &pk]), t(&["chart-key", "1"]), t(&["ehr", "1"])],
            ),
            EventError::MissingTag("patient-content"),
        ),
        (signed(2111, "", good()), EventError::MissingTag("content")),
        // An epoch-keyed (patient-authored) event signed by someone other than the patient.
        (
            signed(
                2117,
                "x",
                vec![
                    t(&["p", &pk]),
                    t(&["patient-content", "A"]),
                    t(&["epoch", "1"]),
                    t(&["ehr", "1"]),
                ],
            ),
            EventError::AuthorIsNotPatient,
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(ClinicalEvent::from_json(&json).unwrap_err(), expected);
    }
}

/// An event whose signature and tags are fine but whose ciphertext holds the wrong thing.
fn event_with_payload(p: &Practice, kind: u16, payload: &str) -> ClinicalEvent {
    let content = p.chart_key.encrypt(payload).unwrap();
    let patient_copy =
        ehr_client::crypto::nip44_encrypt(p.doctor.secret_key(), &p.patient.public_key(), payload)
            .unwrap();
    let json = EventBuilder::new(Kind::from_u16(kind), content)
        .tags([
            Tag::public_key(p.patient.public_key()),
            Tag::custom("patient-content", [patient_copy]),
            Tag::custom("chart-key", ["1"]),
            Tag::custom("ehr", ["1"]),
        ])
        .finalize(p.doctor.keys())
        .unwrap()
        .as_json();
    ClinicalEvent::from_json(&json).unwrap()
}

#[test]
fn payloads_are_checked_against_kind_and_standard_fhir() {
    let p = practice();
    let encounter = demo::encounter("pt-1").to_json();

    // An Encounter inside a Condition event.
    let wrong_kind = event_with_payload(&p, 2114, &encounter);
    assert!(matches!(
        wrong_kind.decrypt_with_chart_key(&p.chart_key),
        Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
    ));

    // The reference's non-standard Encounter.note.
    let mut with_note: Value = serde_json::from_str(&encounter).unwrap();
    with_note["note"] = json!("Pt doing well");
    let err = event_with_payload(&p, 2111, &with_note.to_string())
        .decrypt_with_patient_key(&p.patient)
        .unwrap_err();
    match err {
        EventError::Fhir(FhirError::Json { field, .. }) => {
            assert_eq!(field.as_deref(), Some("note"))
        }
        other => panic!("expected unknown element `note`, got {other}"),
    }
    // The error message names the element but never the value.
    let message = event_with_payload(&p, 2111, &with_note.to_string())
        .decrypt_with_chart_key(&p.chart_key)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("note") && !message.contains("doing well"),
        "{message}"
    );

    // Inline analytes on a DiagnosticReport, a status outside its value set, not JSON at all.
    let mut report = serde_json::from_str::<Value>(
        &demo::one_of_each_kind("pt-1")
            .into_iter()
            .find(|(k, _)| *k == ClinicalKind::DiagnosticReport)
            .unwrap()
            .1
            .to_json(),
    )
    .unwrap();
    report["analytes"] = json!([{"name": "K", "value": 4.2}]);
    let mut bad_status: Value = serde_json::from_str(&encounter).unwrap();
    bad_status["status"] = json!("done");
    for (kind, payload) in [
        (2119, report.to_string()),
        (2111, bad_status.to_string()),
        (2111, "not json".to_owned()),
    ] {
        assert!(matches!(
            event_with_payload(&p, kind, &payload).decrypt_with_chart_key(&p.chart_key),
            Err(EventError::Fhir(FhirError::Json { .. }))
        ));
    }

    // A prescription (2120) must be an order with dispensing details.
    let list_entry = demo::one_of_each_kind("pt-1")
        .into_iter()
        .find(|(k, _)| *k == ClinicalKind::Medication)
        .unwrap()
        .1;
    assert!(
        ClinicalEventBuilder::new(
            ClinicalKind::Prescription,
            list_entry.clone(),
            p.patient.public_key()
        )
        .is_err()
    );
    assert!(matches!(
        event_with_payload(&p, 2120, &list_entry.to_json()).decrypt_with_chart_key(&p.chart_key),
        Err(EventError::Fhir(FhirError::Invalid { .. }))
    ));
}

#[test]
fn builder_refuses_invalid_resources() {
    let p = practice();
    let mut no_id = demo::encounter("pt-1");
    if let Resource::Encounter(e) = &mut no_id {
        e.id = None;
    }
    assert!(matches!(
        ClinicalEventBuilder::new(ClinicalKind::Encounter, no_id, p.patient.public_key()),
        Err(EventError::Fhir(FhirError::Invalid { .. }))
    ));
    let mut bad_date = demo::encounter("pt-1");
    if let Resource::Encounter(e) = &mut bad_date {
        e.period.as_mut().unwrap().start = Some("03/02/2026".into());
    }
    assert!(
        ClinicalEventBuilder::new(ClinicalKind::Encounter, bad_date, p.patient.public_key())
            .is_err()
    );
    assert!(matches!(
        ClinicalEventBuilder::new(
            ClinicalKind::Condition,
            demo::encounter("pt-1"),
            p.patient.public_key()
        ),
        Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
    ));
}

#[test]
fn patient_authored_entries_use_the_epoch_key() {
    let p = practice();
    let epoch = Identity::generate();
    let (_, message) = demo::one_of_each_kind("pt-1")
        .into_iter()
        .find(|(k, _)| *k == ClinicalKind::Message)
        .unwrap();
    let event = ClinicalEventBuilder::new(
        ClinicalKind::Message,
        message.clone(),
        p.patient.public_key(),
    )
    .unwrap()
    .sign_as_patient(&p.patient, 4, &epoch.public_key())
    .unwrap();
    assert_eq!(event.practice_key(), PracticeKeyRef::Epoch(4));
    let by_practice = event.decrypt_with_epoch_key(epoch.secret_key()).unwrap();
    assert!(by_practice.is_patient_authored());
    assert_eq!(by_practice.resource, message);
    assert_eq!(
        event.decrypt_with_patient_key(&p.patient).unwrap().resource,
        message
    );
    // A chart key cannot open an epoch-keyed copy, and another epoch secret fails the MAC.
    assert_eq!(
        event.decrypt_with_chart_key(&p.chart_key).unwrap_err(),
        EventError::WrongPracticeKey
    );
    assert!(
        event
            .decrypt_with_epoch_key(Identity::generate().secret_key())
            .is_err()
    );
    // Nobody else can sign as the patient.
    let other = Identity::generate();
    assert_eq!(
        ClinicalEventBuilder::new(ClinicalKind::Message, message, p.patient.public_key())
            .unwrap()
            .sign_as_patient(&other, 4, &epoch.public_key())
            .unwrap_err(),
        EventError::AuthorIsNotPatient
    );
}
