#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A revoked member's clinic app reads nothing new: the nurse works in the app, an admin
//! revokes her with `ehr staff revoke`, the doctor writes afterwards, and the nurse's next login
//! is refused with the roster's words, showing no patient and no chart; her key opens nothing
//! the doctor wrote after the revocation.

mod clinic_common;
mod demo_common;

use std::time::Duration;

use clinic_common::{assert_same_origin, nurse_logs_in};
use demo_common::{Seeded, ehr, start_seeded};
use ehr_client::access::PracticeView;
use ehr_client::kinds::practice_kinds;
use ehr_client::net::RelayClient;
use ehr_client::nostr::prelude::Filter;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_nurse_is_refused_at_her_next_login_and_opens_nothing_written_after() {
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let nsec = keys.nurse.nsec().as_str().to_owned();

    let before = nurse_logs_in(&clinic, &nsec).await;
    assert_eq!(before["error"], "", "{before}");
    assert!(!before["rows"].as_array().unwrap().is_empty(), "{before}");

    // The admin revokes her; the doctor then writes into Maria's chart.
    let admin_home = home.path().join("admin");
    ehr(
        &admin_home,
        &keys.admin,
        &["practice", "connect", &connection],
    );
    ehr(
        &admin_home,
        &keys.admin,
        &["staff", "revoke", "--npub", &keys.nurse.npub()],
    );
    let doctor_home = home.path().join("doctor");
    ehr(
        &doctor_home,
        &keys.doctor,
        &["practice", "connect", &connection],
    );
    let note = home.path().join("encounter.json");
    let encounter = ehr_client::demo::encounter("maria");
    std::fs::write(&note, encounter.to_json()).unwrap();
    ehr(
        &doctor_home,
        &keys.doctor,
        &[
            "record",
            "add",
            "--patient",
            &keys.patients[0].npub(),
            note.to_str().unwrap(),
        ],
    );

    let after = nurse_logs_in(&clinic, &nsec).await;
    let refused = after["error"].as_str().unwrap();
    assert!(
        refused.contains("not on the practice's staff roster"),
        "{after}"
    );
    assert_eq!(after["patients"], Value::Null, "{after}");
    assert_eq!(after["rows"], Value::Null, "{after}");
    assert_eq!(after["secretLeftInForm"], "");
    assert_same_origin(&after, &clinic, &relay, None);

    // Even with every event the practice holds, her keys open nothing written after.
    let admin = RelayClient::connect(&relay, &keys.admin, Duration::from_secs(30))
        .await
        .unwrap();
    let events = admin
        .fetch_all(Filter::new().kinds(practice_kinds()), 5000)
        .await
        .unwrap();
    stack.stop().await;
    let view = PracticeView::load(&keys.root.public_key(), &events, &keys.nurse);
    let written = events
        .iter()
        .filter(|e| e.pubkey == keys.doctor.public_key())
        .max_by_key(|e| e.created_at)
        .unwrap();
    assert!(view.open([written], None).records.is_empty());
}
