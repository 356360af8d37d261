#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The `ehr` binary: keygen, and demo encrypt piped into demo decrypt.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ehr(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ehr"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn demo_encrypt_then_decrypt_with_the_patient_nsec() {
    let out = ehr(&["demo", "encrypt"], &[], "");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nsec = doc["patient_nsec"].as_str().unwrap();
    assert!(nsec.starts_with("nsec1"));
    assert!(doc["practice_npub"].as_str().unwrap().starts_with("npub1"));
    assert_eq!(doc["event"]["kind"], 2111);

    let stdin = String::from_utf8(out.stdout).unwrap();
    let opened = ehr(&["demo", "decrypt"], &[("EHR_PATIENT_NSEC", nsec)], &stdin);
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let opened: Value = serde_json::from_slice(&opened.stdout).unwrap();
    assert_eq!(opened["resource"]["resourceType"], "Encounter");
    assert_eq!(opened["verified_author_npub"], doc["practice_npub"]);

    // Another patient's key is refused, with an error and no record printed.
    let keygen: Value = serde_json::from_slice(&ehr(&["keygen"], &[], "").stdout).unwrap();
    let other = keygen["secret"]["nsec"].as_str().unwrap();
    let refused = ehr(&["demo", "decrypt"], &[("EHR_PATIENT_NSEC", other)], &stdin);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another patient"));
}

#[test]
fn keygen_can_encrypt_the_secret_with_nip49() {
    let out = ehr(
        &["keygen", "--password-env", "EHR_TEST_PW", "--log-n", "8"],
        &[("EHR_TEST_PW", "pw")],
        "",
    );
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["secret"]["ncryptsec"]
            .as_str()
            .unwrap()
            .starts_with("ncryptsec1")
    );
    assert!(doc["secret"].get("nsec").is_none());
    let empty = ehr(
        &["keygen", "--password-env", "EHR_TEST_PW"],
        &[("EHR_TEST_PW", "")],
        "",
    );
    assert!(!empty.status.success());
}
