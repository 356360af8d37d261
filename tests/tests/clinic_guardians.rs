#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A guardianship granted and ended in the clinic app (headless Chromium, the demo practice):
//! the doctor grants Mateo's guardianship to a new key, which the relay then serves his chart
//! and whose key opens it; she ends it, and the key opens nothing written afterwards.

mod clinic_common;
mod demo_common;

use std::time::Duration;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node};
use demo_common::{Seeded, doctor_writes_then_every_event, start_seeded};
use ehr_client::access::PracticeView;
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::net::RelayClient;
use ehr_client::nostr::prelude::Filter;
use serde_json::{Value, json};

async fn phase(input: Value) -> Value {
    run_node("clinic-guardians.mjs", input).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_granted_in_the_app_reads_the_wards_chart_and_not_after_it_ends() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let mateo_key = keys.patients.last().unwrap();
    let mateo = mateo_key.public_key();
    let guardian = Identity::generate();
    let input = |phase: &str| {
        json!({
            "clinic": clinic,
            "chromium": CHROMIUM,
            "nsec": keys.doctor.nsec().as_str(),
            "search": "mateo",
            "phase": phase,
            "guardian": { "npub": guardian.npub(), "hex": guardian.public_key().to_hex() },
        })
    };

    let granted = phase(input("grant")).await;
    assert_eq!(granted["failure"], Value::Null, "{granted}");
    assert_eq!(granted["error"], "", "{granted}");
    assert_same_origin(&granted, &clinic, &relay, None);
    let before = granted["before"].as_array().unwrap().len();
    let after = granted["after"].to_string();
    assert_eq!(
        granted["after"].as_array().unwrap().len(),
        before + 1,
        "{granted}"
    );
    assert!(
        after.contains(&guardian.public_key().to_hex()[..16]),
        "{granted}"
    );

    // The relay serves the guardian his chart, and the guardian's key opens it.
    let as_guardian = RelayClient::connect(&relay, &guardian, Duration::from_secs(30))
        .await
        .unwrap();
    let kinds: Vec<u16> = ClinicalKind::ALL.iter().map(|k| k.as_u16()).collect();
    let his = Filter::new()
        .kinds(
            kinds
                .into_iter()
                .map(ehr_client::nostr::prelude::Kind::from),
        )
        .pubkey(mateo);
    let served = as_guardian.fetch_all(his, 5000).await.unwrap();
    assert!(!served.is_empty(), "the relay serves the guardian nothing");
    let keys_served = as_guardian
        .fetch_all(
            Filter::new().kinds(ehr_client::kinds::practice_kinds()),
            5000,
        )
        .await
        .unwrap();
    let view = PracticeView::load(&keys.root.public_key(), &keys_served, &guardian);
    assert!(!view.open(&served, None).records.is_empty());

    let ended = phase(input("end")).await;
    assert_eq!(ended["failure"], Value::Null, "{ended}");
    assert_eq!(ended["error"], "", "{ended}");
    assert_eq!(ended["after"].as_array().unwrap().len(), before, "{ended}");
    // What the doctor writes into Mateo's chart now is closed to the former guardian.
    let (events, written) =
        doctor_writes_then_every_event(home.path(), &keys, &connection, &relay, mateo_key).await;
    stack.stop().await;
    assert!(written.tags.public_keys().any(|p| p == mateo));
    let view = PracticeView::load(&keys.root.public_key(), &events, &guardian);
    assert!(view.open([&written], None).records.is_empty());
}
