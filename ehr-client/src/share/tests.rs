#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use super::*;
use crate::keys::Identity;
use nostr::prelude::{EventBuilder, FinalizeEvent, Keys};

fn chart() -> Value {
    let entry = |kind: &str, id: &str, text: &str| json!({ "resource": { "resourceType": kind, "id": id, "note": [{ "text": text }] } });
    let mut entries: Vec<Value> = (0..30)
        .map(|i| entry("Observation", &format!("obs-{i}"), &"x".repeat(300)))
        .collect();
    entries.push(entry(
        "Communication",
        "msg-1",
        "a message to the first practice",
    ));
    entries.push(entry("Consent", "consent-1", "sharing with st-marys"));
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

/// One part sealed by the patient's own key as her signer.
fn publish(patient: &Identity, epoch: &EpochKey, plaintext: &str) -> Event {
    pollster::block_on(seal_part(
        patient,
        (epoch.number, &epoch.public_key()),
        plaintext,
        Timestamp::from_secs(1_700_000_000),
    ))
    .unwrap()
}

#[test]
fn a_chart_splits_into_bounded_parts_that_the_new_practice_reassembles() {
    let patient = Identity::generate();
    let source = Keys::generate().public_key();
    let epoch = EpochKey::generate(3);
    let parts = split(&chart(), &source, "batch-1", 4_000).unwrap();
    assert!(
        parts.len() > 1,
        "30 records of ~350 bytes need several 4 KB parts"
    );
    assert!(parts.iter().all(|p| p.len() <= 4_000));

    let opened: Vec<SharedPart> = parts
        .iter()
        .rev()
        .map(|p| {
            let record = SharedRecords::parse(publish(&patient, &epoch, p)).unwrap();
            assert_eq!(record.patient(), patient.public_key());
            record.open_with_epoch_key(&epoch).unwrap()
        })
        .collect();
    let (batches, incomplete) = assemble(opened.clone());
    assert!(incomplete.is_empty());
    assert_eq!(batches.len(), 1);
    let ids: Vec<&str> = batches[0]
        .resources
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("obs-{i}")).collect();
    assert_eq!(ids, expected, "every shared record once, in chart order");
    assert_eq!(
        batches[0].source,
        format!("nostr:{}", keys::to_npub(&source))
    );

    // Messages and consents stay with the first practice.
    assert!(
        parts
            .iter()
            .all(|p| !p.contains("Communication") && !p.contains("Consent"))
    );

    // A missing part leaves the batch incomplete rather than importing half a chart.
    let (batches, incomplete) = assemble(opened[1..].to_vec());
    assert!(batches.is_empty());
    assert_eq!(incomplete, vec!["batch-1".to_owned()]);
}

#[test]
fn only_the_patient_writes_her_shares_and_only_the_epoch_opens_them() {
    let patient = Identity::generate();
    let epoch = EpochKey::generate(1);
    let plaintext = &split(&chart(), &patient.public_key(), "b", DEFAULT_PART_BYTES).unwrap()[0];
    let event = publish(&patient, &epoch, plaintext);

    // Another key cannot open it, and the wrong epoch is named.
    let other = EpochKey::generate(1);
    assert!(matches!(
        SharedRecords::parse(event.clone())
            .unwrap()
            .open_with_epoch_key(&other),
        Err(ShareError::Crypto(_))
    ));
    assert_eq!(
        SharedRecords::parse(event.clone())
            .unwrap()
            .open_with_epoch_key(&EpochKey::generate(2)),
        Err(ShareError::WrongEpoch {
            expected: 1,
            given: 2
        })
    );

    // Someone else sharing "her" records: the author must be the patient named.
    let mallory = Identity::generate();
    let forged = EventBuilder::new(Kind::Custom(SHARED_RECORDS), "AAAA")
        .tags(crate::event::epoch_layout_tags(
            &patient.public_key(),
            "AAAA".to_owned(),
            1,
        ))
        .finalize(mallory.keys())
        .unwrap();
    assert_eq!(SharedRecords::parse(forged), Err(ShareError::BadTags));

    // A tampered signature.
    let mut tampered = event;
    tampered.content.push('A');
    assert_eq!(
        SharedRecords::parse(tampered),
        Err(ShareError::InvalidSignature)
    );
}

#[test]
fn a_record_larger_than_a_part_is_refused_by_name() {
    let big = json!({ "resourceType": "Bundle", "entry": [
        { "resource": { "resourceType": "Observation", "id": "big", "note": [{ "text": "y".repeat(5_000) }] } }
    ]});
    let source = Keys::generate().public_key();
    assert_eq!(
        split(&big, &source, "b", 2_000),
        Err(ShareError::RecordTooLarge { limit: 2_000 })
    );
    assert_eq!(
        split(&json!({ "resourceType": "Patient" }), &source, "b", 2_000),
        Err(ShareError::NotABundle)
    );
}

#[test]
fn a_shared_record_is_marked_names_its_source_and_points_at_her_record_here() {
    let record = json!({
        "resourceType": "Observation", "id": "o1",
        "meta": { "tag": [{ "system": "urn:example", "code": "kept" }] },
        "subject": { "reference": "Patient/old-id" },
    });
    let kept: Value = serde_json::from_str(&as_shared_record(
        &record,
        "nostr:npub1x",
        Some("old-id"),
        Some("new-id"),
    ))
    .unwrap();
    assert!(chart::has_origin(&kept, chart::SHARED_BY_PATIENT));
    assert_eq!(kept["meta"]["tag"][0]["code"], "kept");
    assert_eq!(kept["meta"]["source"], "nostr:npub1x");
    assert_eq!(kept["subject"]["reference"], "Patient/new-id");
    // Without her record here, the reference is left as it was.
    let unlinked: Value = serde_json::from_str(&as_shared_record(
        &record,
        "nostr:npub1x",
        Some("old-id"),
        None,
    ))
    .unwrap();
    assert_eq!(unlinked["subject"]["reference"], "Patient/old-id");
}
