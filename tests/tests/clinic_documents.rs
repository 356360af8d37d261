#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Document upload in the clinic app, in headless Chromium on the demo practice: the doctor
//! chooses a file; it is encrypted in the browser, only ciphertext reaches the Blossom server,
//! and the DocumentReference lets another member download and decrypt it with the `ehr` CLI.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_same_origin, screenshot_dir};
use demo_common::{Seeded, ehr, ehr_output, start_seeded};
use serde_json::{Value, json};

const TEXT: &str = "Referral letter: synthetic content for the clinic's upload test.";
const TITLE: &str = "Referral letter (synthetic)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_in_the_clinic_app_is_stored_encrypted_and_opens_for_another_member() {
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let blossom = stack.urls().blossom.clone();
    let shots = screenshot_dir();
    let input = json!({
        "clinic": stack.urls().clinic.clone().unwrap(),
        "chromium": CHROMIUM,
        "doctor": keys.doctor.nsec().as_str(),
        "search": "maria demo-alvarez",
        "file": { "name": "referral.txt", "mimeType": "text/plain", "text": TEXT, "title": TITLE },
        "screenshot": shots.join("documents-upload-1280px.png"),
    });
    let result = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-documents.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0);
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_eq!(result["formErrors"], json!([""]), "{result}");
    let clinic = stack.urls().clinic.clone().unwrap();
    assert_same_origin(&result, &clinic, &stack.urls().relay, Some(&blossom));
    let uploads: Vec<&str> = result["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|r| r.starts_with("PUT "))
        .collect();
    assert_eq!(
        uploads,
        [format!("PUT {blossom}/upload").as_str()],
        "{result}"
    );

    // The nurse finds the record, downloads the blob and decrypts it with the CLI.
    let nurse_home = home.path().join("nurse");
    ehr(
        &nurse_home,
        &keys.nurse,
        &["practice", "connect", &connection],
    );
    let maria = keys.patients[0].npub();
    let bundle = ehr(
        &nurse_home,
        &keys.nurse,
        &["chart", "show", "--patient", &maria, "--format", "bundle"],
    );
    let document = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| {
            r["resourceType"] == "DocumentReference"
                && r["content"][0]["attachment"]["title"] == TITLE
        })
        .expect("the uploaded document's record");
    let out = home.path().join("downloaded.txt");
    let got = ehr_output(
        &nurse_home,
        &keys.nurse,
        &[
            "doc",
            "get",
            "--patient",
            &maria,
            "--id",
            document["id"].as_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    stack.stop().await;
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), TEXT);
}
