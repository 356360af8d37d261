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

use clinic_common::{assert_same_origin, nurse_logs_in};
use demo_common::{Seeded, doctor_writes_then_every_event, ehr, start_seeded};
use ehr_client::access::PracticeView;
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
    let (events, written) =
        doctor_writes_then_every_event(home.path(), &keys, &connection, &relay, &keys.patients[0])
            .await;

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
    stack.stop().await;
    let view = PracticeView::load(&keys.root.public_key(), &events, &keys.nurse);
    assert!(view.open([&written], None).records.is_empty());
}
