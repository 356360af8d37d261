//! What the browser benchmarks share: publishing a seed with the relay's back-pressure, the
//! practice's key events, and enrolling a crowd of synthetic patients with demographics.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::demo::{new_id, synthetic_meta};
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AdministrativeGender, HumanName, Identifier, Patient, Resource};
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, practice_kinds};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::nostr::prelude::{Event, Filter, PublicKey, Timestamp};
use ehr_client::practice::{self, State};

/// Publish `events` in batches; what the relay defers (`rate-limited:`) is sent again a second
/// later, as a client should, and anything else refused fails the benchmark.
pub async fn publish_all(client: &RelayClient, events: &[Event]) {
    for batch in events.chunks(250) {
        let mut pending: Vec<Event> = batch.to_vec();
        while !pending.is_empty() {
            let outcomes = client.publish(&pending).await.unwrap();
            let mut deferred = Vec::new();
            for (event, outcome) in pending.into_iter().zip(outcomes) {
                match outcome {
                    PublishOutcome::Accepted => {}
                    PublishOutcome::Refused { message } if message.starts_with("rate-limited:") => {
                        deferred.push(event);
                    }
                    other => panic!("the relay refused a seeded event: {other:?}"),
                }
            }
            if !deferred.is_empty() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            pending = deferred;
        }
    }
}

/// The practice's key events (rosters, grants, wraps) as `client` reads them.
pub async fn practice_events(client: &RelayClient) -> Vec<Event> {
    client
        .fetch_all(Filter::new().kinds(practice_kinds()), 5000)
        .await
        .unwrap()
}

/// Synthetic demographics number `index`, family name `<family>-<index>`.
pub fn demographics(index: usize, family: &str) -> Resource {
    Resource::Patient(Patient {
        id: Some(new_id()),
        meta: synthetic_meta(),
        identifier: vec![Identifier {
            system: Some("urn:example:mrn".to_owned()),
            value: Some(format!("MRN-{index:05}")),
            ..Identifier::default()
        }],
        name: vec![HumanName {
            family: Some(format!("{family}-{index:04}")),
            given: vec!["Pat".to_owned()],
            ..HumanName::default()
        }],
        gender: Some(if index.is_multiple_of(2) {
            AdministrativeGender::Female
        } else {
            AdministrativeGender::Male
        }),
        birth_date: Some(format!(
            "{}-0{}-1{}",
            1940 + index % 80,
            1 + index % 9,
            index % 10
        )),
        ..Patient::default()
    })
}

/// `count` new patients enrolled by `author` (published), and `author`'s view after it, to
/// sign their records with.
pub async fn enrol(
    client: &RelayClient,
    root: &Identity,
    author: &Identity,
    count: usize,
) -> (Vec<PublicKey>, PracticeView) {
    let patients: Vec<_> = (0..count)
        .map(|_| Identity::generate().public_key())
        .collect();
    let org = practice_events(client).await;
    let state = State {
        root: root.public_key(),
        events: &org,
        actor: author,
        now: Timestamp::now(),
    };
    let plan = practice::enrol_patients(&state, &patients).unwrap();
    publish_all(client, plan.events()).await;
    let org = practice_events(client).await;
    (
        patients,
        PracticeView::load(&root.public_key(), &org, author),
    )
}

/// The signed demographics record of each of `patients` (family name `<family>-<index>`).
pub fn demographics_records(
    view: &PracticeView,
    author: &Identity,
    patients: &[PublicKey],
    family: &str,
) -> Vec<Event> {
    patients
        .iter()
        .enumerate()
        .map(|(index, patient)| {
            let builder = ClinicalEventBuilder::new(
                ClinicalKind::Patient,
                demographics(index, family),
                *patient,
            )
            .unwrap();
            view.sign_record(author, builder).unwrap().event().clone()
        })
        .collect()
}
