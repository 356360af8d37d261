#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The `ehr` CLI on an offline practice (everything stays in the local mirror and outbox): a
//! record whose text carries terminal control sequences (clear screen, bell, an 8-bit CSI) is
//! printed inert, and revoking a member ends the guardianships it held.

use std::path::{Path, PathBuf};
use std::process::Command;

use ehr_client::demo;
use ehr_client::keys;
use ehr_client::kinds;
use serde_json::Value;

const PASSWORD_ENV: &str = "EHR_TEST_PASSPHRASE";

/// The hostile text, and what a terminal must see of it.
const HOSTILE: &str = "Visit\u{1b}[2J\u{7}\u{9b}31mnote";
const SHOWN: &str = "Visitnote";

/// Run `ehr` offline in `dir`, as the key file `key`; its stdout.
fn ehr(dir: &Path, key: Option<&str>, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ehr"));
    command
        .arg("--home")
        .arg(dir.join("clinic"))
        .env(PASSWORD_ENV, "correct horse battery staple")
        .env_remove("EHR_KEY_FILE")
        .env_remove("EHR_HOME")
        .args(["--password-env", PASSWORD_ENV, "--offline"]);
    if let Some(key) = key {
        command.arg("--key").arg(dir.join(key));
    }
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ehr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(dir: &Path, key: Option<&str>, args: &[&str]) -> Value {
    serde_json::from_slice(&ehr(dir, key, args)).unwrap()
}

/// An offline practice with an admin (`admin.key`) and a patient; the directory and the
/// patient's npub.
fn practice_with_a_patient() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let admin = keygen(dir.path(), "admin.key");
    let root_file = dir.path().join("root.ncryptsec");
    json(
        dir.path(),
        None,
        &[
            "practice",
            "init",
            "--relay",
            "ws://127.0.0.1:9",
            "--root-key-out",
            root_file.to_str().unwrap(),
            "--admin",
            &admin,
            "--log-n",
            "8",
        ],
    );
    let created = json(dir.path(), Some("admin.key"), &["patient", "create"]);
    let patient = created["patient_npub"].as_str().unwrap().to_owned();
    (dir, patient)
}

/// A new key file `name` in `dir`; its npub.
fn keygen(dir: &Path, name: &str) -> String {
    let out = dir.join(name);
    let key = json(
        dir,
        None,
        &["keygen", "--log-n", "8", "--out", out.to_str().unwrap()],
    );
    key["npub"].as_str().unwrap().to_owned()
}

/// [`practice_with_a_patient`], and an encounter whose type reads [`HOSTILE`] written by the
/// admin.
fn practice_with_a_hostile_record() -> (tempfile::TempDir, String) {
    let (dir, patient) = practice_with_a_patient();
    let path: PathBuf = dir.path().join("record.json");
    let mut encounter: Value =
        serde_json::from_str(&demo::encounter(&demo::new_id()).to_json()).unwrap();
    encounter["type"][0]["text"] = Value::from(HOSTILE);
    std::fs::write(&path, encounter.to_string()).unwrap();
    json(
        dir.path(),
        Some("admin.key"),
        &[
            "record",
            "add",
            "--patient",
            &patient,
            path.to_str().unwrap(),
        ],
    );
    (dir, patient)
}

#[test]
fn chart_show_strips_control_sequences_from_record_text() {
    let (dir, patient) = practice_with_a_hostile_record();
    let table = ehr(
        dir.path(),
        Some("admin.key"),
        &["chart", "show", "--patient", &patient],
    );
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains(SHOWN), "{table}");
    assert!(!table.contains("[2J"), "{table}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );
}

#[test]
fn chart_show_as_a_bundle_escapes_control_characters_and_keeps_the_text() {
    let (dir, patient) = practice_with_a_hostile_record();
    let bundle = ehr(
        dir.path(),
        Some("admin.key"),
        &["chart", "show", "--patient", &patient, "--format", "bundle"],
    );
    let printed = String::from_utf8(bundle).unwrap();
    assert!(
        !printed.chars().any(|c| c.is_control() && c != '\n'),
        "{printed:?}"
    );
    // Escaped, not lost: a program reading the Bundle gets the record as written.
    let bundle: Value = serde_json::from_str(&printed).unwrap();
    let texts: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["type"][0]["text"].as_str())
        .collect();
    assert_eq!(texts, [HOSTILE]);
}

#[test]
fn revoking_a_staff_member_ends_the_guardianships_it_held() {
    let (dir, ward) = practice_with_a_patient();
    let person = keygen(dir.path(), "person.key");
    let admin = Some("admin.key");
    // A guardian first, then on the staff, then revoked.
    json(
        dir.path(),
        admin,
        &["guardian", "grant", "--ward", &ward, "--guardian", &person],
    );
    json(
        dir.path(),
        admin,
        &["staff", "add", "--npub", &person, "--role", "nurse"],
    );
    json(dir.path(), admin, &["staff", "revoke", "--npub", &person]);

    let export = dir.path().join("events.jsonl");
    json(
        dir.path(),
        admin,
        &["sync", "--export", export.to_str().unwrap()],
    );
    let hex = |npub: &str| keys::parse_public_key(npub).unwrap().to_hex();
    let mut statuses: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["kind"] == kinds::GUARDIANSHIP)
        .map(|event| {
            let tag = |name: &str| {
                event["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t[0] == name)
                    .map(|t| t[1].as_str().unwrap().to_owned())
                    .unwrap()
            };
            assert_eq!((tag("p"), tag("P")), (hex(&ward), hex(&person)));
            tag("status")
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["active", "ended"]);
}
