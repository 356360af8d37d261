#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! "Share with a new practice" in a real browser: a patient of one practice (a demo stack)
//! re-encrypts her chart in the portal for a second practice (another demo stack, which
//! enrolled her key) and publishes it on that practice's relay as kind 2108 parts. The second
//! practice's doctor imports them with `ehr import shared`: every shareable record arrives,
//! marked as shared by the patient and naming the first practice, and a second import adds
//! nothing. A patient the new practice never enrolled cannot share there, and nobody can
//! share records in another patient's name.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node` (`scripts/test`).

mod demo_common;

use std::path::Path;
use std::time::Duration;

use demo_common::{Seeded, count, ehr, ehr_output, start_seeded};
use ehr_client::event::{FORMAT_VERSION, TAG_EPOCH, TAG_FORMAT, TAG_PATIENT_CONTENT};
use ehr_client::keys;
use ehr_client::kinds::SHARED_RECORDS;
use ehr_client::net::{PublishOutcome, RelayClient};
use nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";

fn shared_tag(resource: &Value) -> bool {
    resource["meta"]["tag"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t["code"] == "shared-by-patient"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_takes_her_records_to_a_new_practice_that_imports_them_as_hers() {
    assert!(
        Path::new(ehr_portal::assets::DEFAULT_DIR)
            .join("ehr_web_wasm_bg.wasm")
            .is_file(),
        "the portal's WebAssembly is not built: run scripts/build-web (scripts/test does)"
    );
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        stack: mut first,
        keys: first_keys,
        connection: first_connection,
        ..
    } = start_seeded(&home.path().join("first")).await;
    let Seeded {
        stack: mut second,
        keys: second_keys,
        connection: second_connection,
        ..
    } = start_seeded(&home.path().join("second")).await;
    let maria = &first_keys.patients[0];
    let james = &first_keys.patients[1];
    let maria_npub = maria.npub();

    // What she reads at the first practice.
    let maria_home = home.path().join("maria");
    ehr(
        &maria_home,
        maria,
        &["practice", "connect", &first_connection],
    );
    let chart = ehr(
        &maria_home,
        maria,
        &[
            "chart",
            "show",
            "--patient",
            &maria_npub,
            "--format",
            "bundle",
        ],
    );
    let shareable = chart["entry"].as_array().unwrap().len()
        - count(&chart, "Patient")
        - count(&chart, "Communication")
        - count(&chart, "Consent");
    assert!(shareable > 20, "{chart}");

    // The second practice enrols her key (not James's).
    let doctor_home = home.path().join("second-doctor");
    let doctor = &second_keys.doctor;
    ehr(
        &doctor_home,
        doctor,
        &["practice", "connect", &second_connection],
    );
    ehr(
        &doctor_home,
        doctor,
        &["patient", "import", "--npub", &maria_npub],
    );
    ehr(
        &doctor_home,
        doctor,
        &["relay", "allow", "--npub", &maria_npub],
    );

    let screenshot = home.path().join("share.png");
    let input = json!({
        "portal": first.urls().portal.clone().unwrap(),
        "chromium": CHROMIUM,
        "connection": first_connection,
        "shares": [
            { "name": "maria", "nsec": maria.nsec().as_str(), "target": second_connection, "screenshot": screenshot },
            { "name": "james", "nsec": james.nsec().as_str(), "target": second_connection },
            { "name": "same", "nsec": maria.nsec().as_str(), "target": first_connection },
        ],
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("portal-share.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    let [her, his, same] = [&results[0], &results[1], &results[2]];
    assert_eq!(her["loginError"], "", "{her}");
    assert_eq!(her["error"], "", "{her}");
    assert!(
        her["status"]
            .as_str()
            .unwrap()
            .starts_with("Shared your records with the practice"),
        "{her}"
    );
    let second_relay = second.urls().relay.clone();
    assert!(
        her["websockets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with(&second_relay)),
        "{her}"
    );
    // Not enrolled at the new practice: told so, nothing shared.
    assert!(
        his["error"]
            .as_str()
            .unwrap()
            .contains("has not enrolled you yet"),
        "{his}"
    );
    // The practice the records came from is not a new practice.
    assert!(
        same["error"]
            .as_str()
            .unwrap()
            .contains("the practice these records came from"),
        "{same}"
    );
    for result in &results {
        assert_eq!(result["violations"], json!([]), "CSP violated: {result}");
        assert_eq!(result["errors"], json!([]), "console errors: {result}");
    }
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());

    // Nobody shares records in her name: James signs a part about her at the new practice.
    let forged = EventBuilder::new(Kind::Custom(SHARED_RECORDS), "AAAA")
        .tags([
            Tag::public_key(maria.public_key()),
            Tag::custom(TAG_PATIENT_CONTENT, ["AAAA"]),
            Tag::custom(TAG_EPOCH, ["1"]),
            Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
        ])
        .finalize(james.keys())
        .unwrap();
    ehr(
        &doctor_home,
        doctor,
        &["relay", "allow", "--npub", &james.npub()],
    );
    let client = RelayClient::connect(&second_relay, james, Duration::from_secs(10))
        .await
        .unwrap();
    let outcome = client.publish(&[forged]).await.unwrap();
    assert!(
        matches!(&outcome[0], PublishOutcome::Refused { message } if message.starts_with("restricted:")),
        "{outcome:?}"
    );
    client.disconnect().await;

    // The new practice imports: a dry run first, which changes nothing.
    let dry = ehr(
        &doctor_home,
        doctor,
        &["import", "shared", "--patient", &maria_npub, "--dry-run"],
    );
    assert_eq!(dry["planned_events"], shareable, "{dry}");
    assert_eq!(dry["incomplete_batches"], json!([]), "{dry}");
    let before = ehr(
        &doctor_home,
        doctor,
        &[
            "chart",
            "show",
            "--patient",
            &maria_npub,
            "--format",
            "bundle",
        ],
    );
    assert_eq!(before["entry"].as_array().unwrap().len(), 0, "{before}");

    let imported = ehr(
        &doctor_home,
        doctor,
        &["import", "shared", "--patient", &maria_npub],
    );
    assert_eq!(imported["planned_events"], shareable, "{imported}");
    assert_eq!(imported["publish"]["refused"], json!([]), "{imported}");
    assert_eq!(imported["unreadable"], json!([]), "{imported}");
    assert_eq!(imported["invalid"], json!([]), "{imported}");
    let from = format!("nostr:{}", keys::to_npub(&first_keys.root.public_key()));
    assert_eq!(imported["batches"][0]["from"], from);

    let after = ehr(
        &doctor_home,
        doctor,
        &[
            "chart",
            "show",
            "--patient",
            &maria_npub,
            "--format",
            "bundle",
        ],
    );
    let entries = after["entry"].as_array().unwrap();
    assert_eq!(entries.len(), shareable, "{after}");
    for kind in [
        "Encounter",
        "Observation",
        "MedicationRequest",
        "Condition",
        "Immunization",
    ] {
        assert_eq!(count(&after, kind), count(&chart, kind), "{kind}");
    }
    for entry in entries {
        assert!(shared_tag(&entry["resource"]), "{entry}");
        assert_eq!(entry["resource"]["meta"]["source"], from, "{entry}");
    }
    assert!(after.to_string().contains("amoxicillin"));
    let table = ehr_output(
        &doctor_home,
        doctor,
        &["chart", "show", "--patient", &maria_npub],
    );
    assert!(String::from_utf8_lossy(&table.stdout).contains("shared-by-patient"));

    // And she reads them at the new practice as her records, too.
    let at_second = home.path().join("maria-second");
    ehr(
        &at_second,
        maria,
        &["practice", "connect", &second_connection],
    );
    let hers = ehr(
        &at_second,
        maria,
        &[
            "chart",
            "show",
            "--patient",
            &maria_npub,
            "--format",
            "bundle",
        ],
    );
    assert_eq!(hers["entry"].as_array().unwrap().len(), shareable);

    // Again: nothing new.
    let again = ehr(
        &doctor_home,
        doctor,
        &["import", "shared", "--patient", &maria_npub],
    );
    assert_eq!(again["planned_events"], 0, "{again}");
    assert_eq!(again["already_imported"], shareable, "{again}");

    first.stop().await;
    second.stop().await;
}
