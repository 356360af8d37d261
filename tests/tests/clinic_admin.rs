#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Staff administration in the clinic app, in headless Chromium on the demo practice: the admin
//! adds a member with a role and revokes the nurse, each planned by `ehr_client::practice` in
//! WebAssembly and published from the browser; then allows a patient's key on the relay and bans
//! it (NIP-86 over NIP-98, signed in WebAssembly, posted from the page). The new member logs in; the nurse's next login
//! is refused, and her key opens nothing the doctor writes afterwards. A screenshot of the
//! screen stays in `$CARGO_TARGET_DIR/clinic-screenshots/`.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_own_origins, nurse_logs_in, roster_row, run_node,
    screenshot_dir,
};
use demo_common::{Seeded, doctor_writes_then_every_event, start_seeded};
use ehr_client::access::PracticeView;
use ehr_client::keys::Identity;
use serde_json::{Value, json};

const NEW_NURSE: &str = "Nurse Two (synthetic)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_and_revokes_members_in_the_app_and_the_revoked_nurse_reads_nothing_new() {
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
    let fhir = stack.urls().fhir.clone().unwrap();
    let newcomer = Identity::generate();
    let stranger = Identity::generate();
    let nurse_name = "Nurse Demo Lee (synthetic)";
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.admin.nsec().as_str(),
        "add": { "npub": newcomer.npub(), "name": NEW_NURSE, "role": "nurse" },
        "revoke": nurse_name,
        "relayMember": { "npub": stranger.npub(), "hex": stranger.public_key().to_hex() },
        "screenshot": screenshot_dir().join("administration-1280px.png"),
    });
    let result = run_node("clinic-admin.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    // The administration view also asks the FHIR gateway (facilities, its status).
    assert_own_origins(&result, &clinic, &relay, &[&fhir]);
    let added = result["added"].to_string();
    assert!(added.contains("was added"), "{result}");
    let revoked = result["revoked"].to_string();
    assert!(revoked.contains("was revoked"), "{result}");
    assert!(
        result["asked"]
            .as_str()
            .unwrap()
            .contains("every chart key")
    );
    let row = |rows: &Value, name: &str| -> Vec<String> {
        roster_row(rows, name).unwrap_or_else(|| panic!("{name} not listed: {rows}"))
    };
    assert_eq!(row(&result["before"], nurse_name)[3], "active");
    assert_eq!(row(&result["after"], nurse_name)[3], "ended");
    let new_row = row(&result["after"], NEW_NURSE);
    assert_eq!(
        (new_row[1].as_str(), new_row[3].as_str()),
        ("nurse", "active")
    );

    // The newcomer opens charts; the nurse is refused. The doctor then writes into Maria's chart;
    // with every event of the relay, the nurse's key opens none of it, the newcomer's does.
    // The relay's members: the key allowed in the app is listed as a patient, then banned.
    let allowed = result["allowedList"].to_string();
    assert!(
        allowed.contains(&stranger.public_key().to_hex()[..16]) && allowed.contains("patient"),
        "{result}"
    );
    assert!(result["banned"].to_string().contains("Banned"), "{result}");
    let banned = result["bannedList"].to_string();
    assert!(
        banned.contains(&stranger.public_key().to_hex()[..16]),
        "{result}"
    );
    let relay_says = ehr_client::management::ManagementClient::for_relay(&relay).unwrap();
    let listed = relay_says
        .call(&keys.admin, "listbannedpubkeys", Vec::new())
        .await
        .unwrap();
    assert!(
        listed.to_string().contains(&stranger.public_key().to_hex()),
        "{listed}"
    );

    let newcomer_sees = nurse_logs_in(&clinic, newcomer.nsec().as_str()).await;
    assert_eq!(newcomer_sees["error"], "", "{newcomer_sees}");
    assert!(
        !newcomer_sees["rows"].as_array().unwrap().is_empty(),
        "{newcomer_sees}"
    );
    let refused = nurse_logs_in(&clinic, keys.nurse.nsec().as_str()).await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("not on the practice's staff roster"),
        "{refused}"
    );
    let (events, written) =
        doctor_writes_then_every_event(home.path(), &keys, &connection, &relay, &keys.patients[0])
            .await;
    stack.stop().await;
    let written = &written;
    let nurse = PracticeView::load(&keys.root.public_key(), &events, &keys.nurse);
    assert!(nurse.open([written], None).records.is_empty());
    let newcomer = PracticeView::load(&keys.root.public_key(), &events, &newcomer);
    assert_eq!(newcomer.open([written], None).records.len(), 1);
}
