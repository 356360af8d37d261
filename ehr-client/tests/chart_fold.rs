#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Property tests of the chart fold: independent of arrival order and of duplicate delivery;
//! a deletion hides only its target; the newest version wins; patient entries are kept, marked,
//! and never replace the practice's.

use ehr_client::chart::{FoldOptions, Origin, RecordKey, fold};
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::*;
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{EventId, Keys, PublicKey, Timestamp};
use proptest::prelude::*;

fn patient() -> PublicKey {
    Keys::parse("0000000000000000000000000000000000000000000000000000000000000003")
        .unwrap()
        .public_key()
}

fn doctor() -> PublicKey {
    Keys::parse("0000000000000000000000000000000000000000000000000000000000000004")
        .unwrap()
        .public_key()
}

#[derive(Debug, Clone)]
struct Op {
    type_index: usize,
    id: u8,
    version: u32,
    action: RecordAction,
    by_patient: bool,
    created_at: u64,
    link: Option<u8>,
    salt: u8,
}

fn resource(op: &Op) -> Resource {
    let id = format!("r{}", op.id);
    let subject = Reference::to("Patient", "pt");
    let link = op.link.map(|l| format!("r{l}"));
    let mut resource: Resource = match op.type_index {
        0 => Encounter {
            id: Some(id),
            class: Coding::new("s", "AMB", "a"),
            ..Encounter::default()
        }
        .into(),
        1 => DocumentReference {
            id: Some(id),
            content: vec![DocumentContent {
                attachment: Attachment {
                    title: Some(format!("v{}", op.salt)),
                    ..Attachment::default()
                },
                format: None,
            }],
            context: link.map(|l| DocumentContext {
                encounter: vec![Reference::to("Encounter", &l)],
                ..DocumentContext::default()
            }),
            ..DocumentReference::default()
        }
        .into(),
        2 => ServiceRequest {
            id: Some(id),
            subject,
            ..ServiceRequest::default()
        }
        .into(),
        3 => DiagnosticReport {
            id: Some(id),
            code: CodeableConcept::coded("l", "1", "panel"),
            based_on: link
                .map(|l| vec![Reference::to("ServiceRequest", &l)])
                .unwrap_or_default(),
            conclusion: Some(format!("c{}", op.salt)),
            ..DiagnosticReport::default()
        }
        .into(),
        _ => Observation {
            id: Some(id),
            code: CodeableConcept::coded("l", "2", "k"),
            value_integer: Some(i64::from(op.salt)),
            ..Observation::default()
        }
        .into(),
    };
    resource.set_version(op.version, op.action);
    resource
}

fn record(op: &Op) -> ClinicalRecord {
    let resource = resource(op);
    // A stand-in event id: distinct for distinct ops, like a real hash.
    let mut id = [0u8; 32];
    let digest = format!("{op:?}");
    for (i, b) in digest.bytes().enumerate() {
        id[i % 32] = id[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    ClinicalRecord {
        event_id: EventId::from_byte_array(id),
        author: if op.by_patient { patient() } else { doctor() },
        created_at: Timestamp::from(op.created_at),
        kind: ClinicalKind::for_resource(&resource),
        patient: patient(),
        resource,
        copied_by: None,
        guardian: None,
    }
}

fn op_strategy(allow_delete: bool) -> impl Strategy<Value = Op> {
    let action = if allow_delete {
        prop_oneof![
            4 => Just(RecordAction::Create),
            2 => Just(RecordAction::StatusUpdate),
            2 => Just(RecordAction::Correction),
            1 => Just(RecordAction::Deletion),
        ]
        .boxed()
    } else {
        prop_oneof![
            Just(RecordAction::Create),
            Just(RecordAction::StatusUpdate),
            Just(RecordAction::Correction)
        ]
        .boxed()
    };
    (
        0usize..5,
        0u8..4,
        1u32..4,
        action,
        prop::bool::weighted(0.25),
        0u64..50,
        prop::option::of(0u8..4),
        any::<u8>(),
    )
        .prop_map(
            |(type_index, id, version, action, by_patient, created_at, link, salt)| Op {
                type_index,
                id,
                version,
                action,
                by_patient,
                created_at,
                link,
                salt,
            },
        )
}

fn records(allow_delete: bool) -> impl Strategy<Value = Vec<ClinicalRecord>> {
    prop::collection::vec(op_strategy(allow_delete), 0..24)
        .prop_map(|ops| ops.iter().map(record).collect())
}

fn key_of(r: &ClinicalRecord) -> RecordKey {
    RecordKey {
        resource_type: r.resource.resource_type(),
        id: r.resource.id().unwrap().to_owned(),
        origin: if r.is_patient_authored() {
            Origin::Patient
        } else {
            Origin::Practice
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arrival_order_and_duplicates_do_not_matter(
        (original, shuffled) in records(true).prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle()))
    ) {
        let expected = fold(&original, FoldOptions::default());
        prop_assert_eq!(&fold(&shuffled, FoldOptions::default()), &expected);
        let doubled: Vec<ClinicalRecord> = shuffled.iter().chain(original.iter()).cloned().collect();
        prop_assert_eq!(&fold(&doubled, FoldOptions::default()), &expected);
    }

    #[test]
    fn a_deletion_hides_only_its_target(base in records(false), target in op_strategy(false)) {
        let mut deletion_op = target.clone();
        deletion_op.action = RecordAction::Deletion;
        deletion_op.version += 1;
        let deletion = record(&deletion_op);
        let target_key = key_of(&deletion);

        let before = fold(&base, FoldOptions::default());
        let with_deletion: Vec<ClinicalRecord> = base.iter().cloned().chain([deletion]).collect();
        let after = fold(&with_deletion, FoldOptions::default());

        prop_assert!(after.get(&target_key).is_none());
        prop_assert!(after.hidden().any(|k| *k == target_key));
        // Every other record is exactly as before, less any link to the hidden one.
        let mut expected: Vec<_> = before.entries().filter(|e| e.key != target_key).cloned().collect();
        for entry in &mut expected {
            entry.attached.retain(|k| *k != target_key);
        }
        let actual: Vec<_> = after.entries().cloned().collect();
        prop_assert_eq!(actual, expected);
    }

    #[test]
    fn the_newest_version_wins(records in records(false)) {
        let chart = fold(&records, FoldOptions::default());
        for entry in chart.entries() {
            let versions: Vec<&ClinicalRecord> = records.iter().filter(|r| key_of(r) == entry.key).collect();
            let newest = versions.iter().max_by_key(|r| (r.resource.version(), r.created_at, r.event_id)).unwrap();
            prop_assert_eq!(entry.event_id, newest.event_id);
            prop_assert_eq!(&entry.resource, &newest.resource);
            prop_assert_eq!(entry.history.len(), versions.iter().map(|r| r.event_id).collect::<std::collections::BTreeSet<_>>().len());
            prop_assert_eq!(entry.corrected, versions.iter().any(|r| r.resource.action() == RecordAction::Correction));
        }
    }

    #[test]
    fn patient_entries_are_kept_marked_and_never_override(records in records(true)) {
        let with = fold(&records, FoldOptions { include_patient_reported: true });
        let without = fold(&records, FoldOptions { include_patient_reported: false });
        for entry in with.entries() {
            prop_assert_eq!(entry.patient_reported, entry.key.origin == Origin::Patient);
        }
        prop_assert!(without.entries().all(|e| !e.patient_reported));
        // The practice's own records are the same in both views: the patient cannot change them.
        let practice = |c: &ehr_client::chart::Chart| -> Vec<(RecordKey, EventId)> {
            c.entries().filter(|e| e.key.origin == Origin::Practice).map(|e| (e.key.clone(), e.event_id)).collect()
        };
        prop_assert_eq!(practice(&with), practice(&without));
        // Every patient record that is not deleted appears.
        for r in records.iter().filter(|r| r.is_patient_authored()) {
            let key = key_of(r);
            prop_assert!(with.get(&key).is_some() || with.hidden().any(|k| *k == key));
        }
    }
}

#[test]
fn addenda_attach_to_their_encounter_and_results_to_their_order() {
    let ops = [
        Op {
            type_index: 0,
            id: 0,
            version: 1,
            action: RecordAction::Create,
            by_patient: false,
            created_at: 1,
            link: None,
            salt: 0,
        },
        Op {
            type_index: 1,
            id: 1,
            version: 1,
            action: RecordAction::Create,
            by_patient: false,
            created_at: 2,
            link: Some(0),
            salt: 0,
        },
        Op {
            type_index: 1,
            id: 2,
            version: 1,
            action: RecordAction::Create,
            by_patient: false,
            created_at: 3,
            link: Some(0),
            salt: 1,
        },
        Op {
            type_index: 2,
            id: 3,
            version: 1,
            action: RecordAction::Create,
            by_patient: false,
            created_at: 4,
            link: None,
            salt: 0,
        },
        Op {
            type_index: 3,
            id: 1,
            version: 1,
            action: RecordAction::Create,
            by_patient: false,
            created_at: 5,
            link: Some(3),
            salt: 0,
        },
    ];
    let records: Vec<ClinicalRecord> = ops.iter().map(record).collect();
    let chart = fold(&records, FoldOptions::default());
    let key = |t, id: &str| RecordKey {
        resource_type: t,
        id: id.into(),
        origin: Origin::Practice,
    };
    let encounter = chart.get(&key(ResourceType::Encounter, "r0")).unwrap();
    assert_eq!(
        encounter.attached,
        vec![
            key(ResourceType::DocumentReference, "r1"),
            key(ResourceType::DocumentReference, "r2")
        ]
    );
    let order = chart.get(&key(ResourceType::ServiceRequest, "r3")).unwrap();
    assert_eq!(
        order.attached,
        vec![key(ResourceType::DiagnosticReport, "r1")]
    );
    assert_eq!(chart.len(), 5);
}

#[test]
fn a_status_update_replaces_and_keeps_history() {
    let v1 = Op {
        type_index: 2,
        id: 0,
        version: 1,
        action: RecordAction::Create,
        by_patient: false,
        created_at: 10,
        link: None,
        salt: 0,
    };
    let v2 = Op {
        version: 2,
        action: RecordAction::StatusUpdate,
        created_at: 5,
        ..v1.clone()
    };
    let records = vec![record(&v2), record(&v1)];
    let chart = fold(&records, FoldOptions::default());
    let entry = chart.entries().next().unwrap();
    // Version order, not clock order: v2 wins although its clock is earlier.
    assert_eq!(entry.version, 2);
    assert_eq!(
        entry.history,
        vec![records[1].event_id, records[0].event_id]
    );
}
