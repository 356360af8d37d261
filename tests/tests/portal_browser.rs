#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The patient portal in a real browser (headless Chromium from Debian, driven by
//! playwright-core): the demo practice runs in-process on ports :0, the patient logs in with
//! her nsec and the connection string, and the page shows the chart that `ehr-client`'s core,
//! compiled to WebAssembly, verified, decrypted and folded in the browser — the same records as
//! `ehr chart show --format bundle`. Nothing is fetched from another origin, the CSP is never
//! violated, and another patient's nsec shows none of her records.
//!
//! Needs `scripts/build-web` (the WebAssembly), Chromium and `npm ci --prefix tests/node`;
//! `scripts/test` does all three.

mod demo_common;

use std::collections::BTreeMap;
use std::path::Path;

use demo_common::{Seeded, count, ehr, start_seeded};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The visible text of the rows whose first cell (the kind of record) is `record`.
fn rows_of<'a>(result: &'a Value, record: &str) -> Vec<&'a Value> {
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row[0] == record)
        .collect()
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{}://{host}", url.split("://").next().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_reads_her_chart_in_the_browser_and_nobody_elses() {
    let wasm = Path::new(ehr_portal::assets::DEFAULT_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(
        wasm.is_file(),
        "the portal's WebAssembly is not built: run scripts/build-web (scripts/test does)"
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "Chromium is missing: apt-get install chromium (scripts/test does)"
    );
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let portal = stack.urls().portal.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let maria = &keys.patients[0];
    let james = &keys.patients[1];

    // What the CLI shows her, to compare with what the browser shows.
    let maria_home = home.path().join("maria");
    ehr(&maria_home, maria, &["practice", "connect", &connection]);
    let npub = maria.npub();
    let cli = ehr(
        &maria_home,
        maria,
        &["chart", "show", "--patient", &npub, "--format", "bundle"],
    );

    // The NIP-07 path, in Node: an independent NIP-44 (nostr-tools) as the decrypt callback,
    // over the events the CLI mirrored for her.
    let mirrored: Vec<Value> = std::fs::read_to_string(maria_home.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let signer_input = json!({
        "assets": ehr_portal::assets::DEFAULT_DIR,
        "connection": connection,
        "nsec": maria.nsec().as_str(),
        "events": mirrored,
    });

    let screenshot = home.path().join("chart.png");
    let input = json!({
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "logins": [
            { "name": "maria", "nsec": maria.nsec().as_str(), "screenshot": screenshot },
            { "name": "james", "nsec": james.nsec().as_str() },
        ],
    });
    let (results, signer) = tokio::task::spawn_blocking(move || {
        (
            ehr_tests::node::run_json_lines("portal-browser.mjs", "playwright-core", &input),
            ehr_tests::node::run_json_lines("portal-wasm-signer.mjs", "nostr-tools", &signer_input),
        )
    })
    .await
    .unwrap();
    let (results, signer) = (results.unwrap(), signer.unwrap());
    stack.stop().await;
    let by_name: BTreeMap<&str, &Value> = results
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    let her = by_name["maria"];
    let his = by_name["james"];

    // Her chart: every record the CLI folds, one row each, read in the browser.
    assert_eq!(her["error"], "", "{her}");
    assert_eq!(her["offered"], connection, "the portal offers its practice");
    let rows = her["rows"].as_array().unwrap();
    assert_eq!(rows.len(), cli["entry"].as_array().unwrap().len(), "{her}");
    assert_eq!(
        her["caption"],
        format!("{} records, newest first within each kind", rows.len())
    );
    assert_eq!(
        her["status"],
        "Every record was verified and decrypted in this browser."
    );
    let visits = rows_of(her, "Visit");
    assert_eq!(visits.len(), count(&cli, "Encounter"));
    assert!(visits.len() >= 5);
    assert!(
        visits.iter().all(|v| v[2] == "Hypertension follow-up"),
        "{visits:?}"
    );
    assert!(
        rows_of(her, "Medication")
            .iter()
            .any(|m| m[2] == "amoxicillin 500 MG Oral Capsule" && m[3] == "stopped"),
        "no stopped amoxicillin: {her}"
    );
    assert_eq!(
        rows_of(her, "Document").len(),
        count(&cli, "DocumentReference")
    );
    assert!(!rows_of(her, "Document").is_empty());
    assert!(
        rows_of(her, "Patient details")
            .iter()
            .any(|p| p[2] == "Maria Demo-Alvarez (synthetic demo patient)")
    );
    // The secret left the form; the keyboard lands on the chart; logging out clears it.
    assert_eq!(her["secretLeftInForm"], "");
    assert_eq!(her["focused"], "chart-heading");
    assert_eq!(her["rowsAfterLogout"], 0);
    assert_eq!(her["chartVisibleAfterLogout"], false);

    // Another patient's key: his own chart, none of hers.
    assert_eq!(his["error"], "", "{his}");
    let text = his["rows"].to_string();
    assert!(text.contains("James Demo-Okafor"), "{his}");
    assert!(
        !text.contains("Maria") && !text.contains("Demo-Alvarez"),
        "{his}"
    );

    for result in [her, his] {
        // Every file from the portal itself (and the relay's NIP-11 page size), every socket
        // to the practice's relay only.
        let relay_info = relay.replacen("ws://", "http://", 1);
        for url in result["requests"].as_array().unwrap() {
            let from = origin(url.as_str().unwrap());
            assert!(from == portal || from == relay_info, "{url}");
        }
        for url in result["websockets"].as_array().unwrap() {
            assert_eq!(origin(url.as_str().unwrap()), relay, "{url}");
        }
        assert!(!result["websockets"].as_array().unwrap().is_empty());
        assert_eq!(result["violations"], json!([]), "CSP violated: {result}");
        assert_eq!(result["errors"], json!([]), "console errors: {result}");
    }
    let requested = her["requests"].to_string();
    assert!(requested.contains("/assets/ehr_web_wasm_bg.wasm"));

    // Signer and key fold exactly the CLI's Bundle from the same events; a refusing signer
    // opens nothing, and says so per event; a bad key is a JavaScript Error without the key.
    let signer = &signer[0];
    assert_eq!(signer["patient"], maria.public_key().to_hex());
    let with_signer: Value = serde_json::from_str(signer["withSigner"].as_str().unwrap()).unwrap();
    let with_key: Value = serde_json::from_str(signer["withKey"].as_str().unwrap()).unwrap();
    assert_eq!(with_signer["bundle"], cli);
    assert_eq!(with_key["bundle"], cli);
    assert_eq!(with_signer["refused"], json!([]));
    assert_eq!(signer["refused"]["bundle"]["total"], 0);
    let refusals = signer["refused"]["refused"].as_array().unwrap();
    // One refusal per event: at least one per record (a stopped course has two versions).
    assert!(refusals.len() >= cli["entry"].as_array().unwrap().len());
    assert!(
        refusals
            .iter()
            .all(|r| r["reason"] == "the signer refused the request"),
        "{refusals:?}"
    );
    assert_eq!(signer["badKeyError"]["isError"], true);
    let message = signer["badKeyError"]["message"].as_str().unwrap();
    assert!(message.contains("not a valid nsec") && !message.contains("definitely"));

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
}
