#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A practice run from the `ehr` CLI against the practice relay (`ehr-relay`, in-process):
//! init → staff → patient (added over NIP-86) → record → revoke → record, checking who can read
//! what; consent and the gateway; then the offline root key and idempotent rotation.

use std::path::PathBuf;
use std::process::{Command, Output};

use ehr_client::demo;
use serde_json::Value;

const PASSWORD_ENV: &str = "EHR_TEST_PASSPHRASE";

struct Clinic {
    dir: PathBuf,
    relay: String,
}

impl Clinic {
    fn new(relay: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ehr-cli-{}", demo::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            relay: relay.to_owned(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Run `ehr` with the practice home `home` and the key file `key`.
    fn run(&self, home: &str, key: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ehr"));
        command
            .arg("--home")
            .arg(self.path(home))
            .env(PASSWORD_ENV, "correct horse battery staple")
            .env_remove("EHR_KEY_FILE")
            .env_remove("EHR_HOME")
            .args(["--password-env", PASSWORD_ENV]);
        if let Some(key) = key {
            command.arg("--key").arg(self.path(key));
        }
        command.args(args).output().unwrap()
    }

    fn ok(&self, home: &str, key: Option<&str>, args: &[&str]) -> String {
        let out = self.run(home, key, args);
        assert!(
            out.status.success(),
            "ehr {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, home: &str, key: Option<&str>, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(home, key, args)).unwrap()
    }

    /// `practice init` offline (the relay needs the practice key it makes), with `admin` as the
    /// first admin; the report and the root key file (`root.ncryptsec`).
    fn init_offline(&self, admin: &str) -> (Value, PathBuf) {
        let root_file = self.path("root.ncryptsec");
        let init = self.json(
            "clinic",
            None,
            &[
                "--offline",
                "practice",
                "init",
                "--relay",
                &self.relay,
                "--root-key-out",
                root_file.to_str().unwrap(),
                "--admin",
                admin,
                "--log-n",
                "8",
            ],
        );
        (init, root_file)
    }

    /// A new key file; returns its npub.
    fn keygen(&self, name: &str) -> String {
        let out = self.json(
            "keys",
            None,
            &[
                "keygen",
                "--log-n",
                "8",
                "--out",
                self.path(name).to_str().unwrap(),
            ],
        );
        out["npub"].as_str().unwrap().to_owned()
    }

    fn encounters(&self, key: &str, patient: &str) -> usize {
        let bundle = self.json(
            "clinic",
            Some(key),
            &["chart", "show", "--patient", patient, "--format", "bundle"],
        );
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Encounter")
            .count()
    }

    /// Run a command in the clinic directory that must publish everything it signs.
    fn act(&self, key: &str, args: &[&str]) -> Value {
        let report = self.json("clinic", Some(key), args);
        published_ok(&report);
        report
    }

    /// Whether a command in the clinic directory was refused.
    fn refused(&self, key: &str, args: &[&str]) -> bool {
        !self.run("clinic", Some(key), args).status.success()
    }

    /// `record add` a fresh synthetic encounter as `key`.
    fn add_encounter(&self, key: &str, patient: &str) {
        let path = self.path(&format!("{}.json", demo::new_id()));
        std::fs::write(&path, demo::encounter(&demo::new_id()).to_json()).unwrap();
        self.act(
            key,
            &[
                "record",
                "add",
                "--patient",
                patient,
                path.to_str().unwrap(),
            ],
        );
    }
}

impl Drop for Clinic {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The practice relay, in-process on 127.0.0.1:0, for a practice created offline: it is bound
/// first (its URL goes into practice.json), and serves once `init` has made the practice key.
struct PracticeRelay {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ehr_relay::RelayError>>,
    practice: ehr_client::nostr::prelude::PublicKey,
    database_url: String,
    data: tempfile::TempDir,
}

impl PracticeRelay {
    async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    /// Serve the practice `init` created, and send its genesis roster from the outbox with the
    /// root key (`root.ncryptsec` in the clinic directory).
    async fn serve(listener: tokio::net::TcpListener, clinic: &Clinic, init: &Value) -> Self {
        let practice =
            ehr_client::keys::parse_public_key(init["practice_npub"].as_str().unwrap()).unwrap();
        let data = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", data.path().join("relay.db").display());
        let config = ehr_relay::RelayConfig::new(practice, database_url.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(ehr_relay::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        let sent = clinic.json("clinic", Some("root.ncryptsec"), &["publish"]);
        assert_eq!(sent["refused"], serde_json::json!([]), "{sent}");
        assert_eq!(sent["pending_in_outbox"], 0, "{sent}");
        Self {
            stop: Some(stop),
            task,
            practice,
            database_url,
            data,
        }
    }

    /// The relay's data directory.
    fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

fn published_ok(report: &Value) {
    assert_eq!(
        report["publish"]["refused"],
        serde_json::json!([]),
        "{report}"
    );
    assert_eq!(report["publish"]["pending_in_outbox"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_runs_from_the_cli_and_revocation_holds() {
    let (listener, url) = PracticeRelay::bind().await;
    let clinic = Clinic::new(&url);
    let admin = clinic.keygen("admin.key");
    let doctor = clinic.keygen("doctor.key");
    let nurse = clinic.keygen("nurse.key");
    let gateway = clinic.keygen("gateway.key");

    // init (offline: the relay needs the practice key it makes): the root key exists only as
    // an ncryptsec file.
    let (init, root_file) = clinic.init_offline(&admin);
    assert!(
        std::fs::read_to_string(&root_file)
            .unwrap()
            .starts_with("ncryptsec1")
    );
    let relay = PracticeRelay::serve(listener, &clinic, &init).await;
    let connection = init["connection_string"].as_str().unwrap();
    assert!(connection.starts_with("nostr-ehr:npub1") && connection.contains(&clinic.relay));

    // staff and agent
    for (npub, role) in [(&doctor, "doctor"), (&nurse, "nurse")] {
        clinic.act(
            "admin.key",
            &["staff", "add", "--npub", npub, "--role", role],
        );
    }
    clinic.act(
        "admin.key",
        &["agent", "add", "--npub", &gateway, "--role", "fhir-gateway"],
    );
    // A nurse may not change the roster; an agent role is refused for staff.
    assert!(clinic.refused(
        "nurse.key",
        &["staff", "add", "--npub", &gateway, "--role", "ma"]
    ));
    assert!(clinic.refused(
        "admin.key",
        &["staff", "add", "--npub", &gateway, "--role", "billing-bot"]
    ));

    // patient, record
    let handover = clinic.path("patient.nsec");
    let patient = clinic.act(
        "doctor.key",
        &[
            "patient",
            "create",
            "--nsec-out",
            handover.to_str().unwrap(),
        ],
    );
    assert!(
        patient.get("patient_nsec").is_none(),
        "written to the file, not printed"
    );
    let patient = patient["patient_npub"].as_str().unwrap().to_owned();
    clinic.ok(
        "clinic",
        Some("doctor.key"),
        &["relay", "allow", "--npub", &patient],
    );
    clinic.add_encounter("doctor.key", &patient);
    // Invalid FHIR is refused and publishes nothing.
    let bad = clinic.path("bad.json");
    std::fs::write(
        &bad,
        r#"{"resourceType":"Encounter","status":"finished","note":"x"}"#,
    )
    .unwrap();
    assert!(clinic.refused(
        "doctor.key",
        &[
            "record",
            "add",
            "--patient",
            &patient,
            bad.to_str().unwrap()
        ]
    ));

    assert_eq!(clinic.encounters("nurse.key", &patient), 1);
    assert_eq!(clinic.encounters("patient.nsec", &patient), 1);
    assert_eq!(
        clinic.encounters("gateway.key", &patient),
        0,
        "no consent yet"
    );

    // revoke the nurse, write again
    clinic.act("admin.key", &["staff", "revoke", "--npub", &nurse]);
    clinic.add_encounter("doctor.key", &patient);
    assert_eq!(clinic.encounters("doctor.key", &patient), 2);
    assert_eq!(clinic.encounters("patient.nsec", &patient), 2);
    // The relay no longer serves the revoked nurse at all (and the keys rotated besides).
    let refused = clinic.run(
        "clinic",
        Some("nurse.key"),
        &["chart", "show", "--patient", &patient],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("restricted:"));
    let table = clinic.ok(
        "clinic",
        Some("doctor.key"),
        &["chart", "show", "--patient", &patient],
    );
    assert!(
        table.contains("Encounter") && table.contains("2 entries"),
        "{table}"
    );

    // consent: the gateway reads this chart only while consent stands
    clinic.act(
        "doctor.key",
        &[
            "consent",
            "grant",
            "--patient",
            &patient,
            "--facility",
            "st-marys",
        ],
    );
    assert_eq!(clinic.encounters("gateway.key", &patient), 2);
    clinic.act(
        "doctor.key",
        &["consent", "withdraw", "--patient", &patient],
    );
    clinic.add_encounter("doctor.key", &patient);
    assert_eq!(
        clinic.encounters("gateway.key", &patient),
        2,
        "nothing after withdrawal"
    );
    assert_eq!(clinic.encounters("doctor.key", &patient), 3);

    // Everything is in place: a re-run of the maintenance publishes nothing.
    let rotate = clinic.json("clinic", Some("admin.key"), &["rotate"]);
    assert_eq!(rotate["planned_events"], 0, "{rotate}");

    // The root key signs offline: a second admin, carried to the relay as an outbox file.
    let second_admin = clinic.keygen("admin2.key");
    let export = clinic.path("events.jsonl");
    clinic.ok(
        "clinic",
        Some("admin.key"),
        &["sync", "--export", export.to_str().unwrap()],
    );
    clinic.ok(
        "vault",
        None,
        &["--offline", "practice", "connect", connection],
    );
    // A copy with one signature forged is refused as a whole: it could stand in for the real
    // event in the mirror (one event per id), a revoking roster for instance.
    let forged = clinic.path("forged.jsonl");
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sig = lines[0]["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    lines[0]["sig"] = Value::String(format!("{flipped}{}", &sig[1..]));
    std::fs::write(
        &forged,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let refused = clinic.run(
        "vault",
        None,
        &["--offline", "sync", "--import", forged.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("wrong id or signature"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    clinic.ok(
        "vault",
        None,
        &["--offline", "sync", "--import", export.to_str().unwrap()],
    );
    let offline = clinic.json(
        "vault",
        Some("root.ncryptsec"),
        &[
            "--offline",
            "staff",
            "add",
            "--npub",
            &second_admin,
            "--role",
            "admin",
        ],
    );
    assert_eq!(offline["publish"]["accepted"], 0);
    assert!(offline["publish"]["pending_in_outbox"].as_u64().unwrap() >= 1);
    // An admin may not add an admin; only the root's (offline) signature does.
    assert!(clinic.refused(
        "admin.key",
        &["staff", "add", "--npub", &second_admin, "--role", "admin"]
    ));
    let carried = clinic.path("vault").join("outbox.jsonl");
    let sent = clinic.json(
        "clinic",
        Some("admin.key"),
        &["publish", "--from", carried.to_str().unwrap()],
    );
    assert!(sent["accepted"].as_u64().unwrap() >= 1, "{sent}");
    assert_eq!(
        std::fs::read_to_string(&carried).unwrap().trim(),
        "",
        "the carried outbox is emptied"
    );
    let list = clinic.json("clinic", Some("admin2.key"), &["staff", "list"]);
    let admins = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "admin")
        .count();
    assert_eq!(admins, 2, "{list}");
    assert_no_plaintext_fhir(relay.data_dir());
    relay.stop().await;
}

/// Invariant 2: the relay's database (and its WAL) holds no FHIR in the clear.
fn assert_no_plaintext_fhir(dir: &std::path::Path) {
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let has = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    // The scan sees the stored clinical events (their patient copies)...
    assert!(
        has(b"patient-content"),
        "no clinical events found in the relay's files"
    );
    // ...and none of them holds FHIR in the clear.
    assert!(!has(b"resourceType"), "the relay stored plaintext FHIR");
}

/// A practice on its own relay with an admin, a doctor (`doctor.key`) and one patient created by
/// the doctor (`patient.nsec`), not yet added to the relay; returns the patient's npub.
async fn practice_with_a_patient() -> (PracticeRelay, Clinic, String) {
    let (listener, url) = PracticeRelay::bind().await;
    let clinic = Clinic::new(&url);
    let admin = clinic.keygen("admin.key");
    let doctor = clinic.keygen("doctor.key");
    let (init, _) = clinic.init_offline(&admin);
    let relay = PracticeRelay::serve(listener, &clinic, &init).await;
    clinic.act(
        "admin.key",
        &["staff", "add", "--npub", &doctor, "--role", "doctor"],
    );
    let handover = clinic.path("patient.nsec");
    let created = clinic.act(
        "doctor.key",
        &[
            "patient",
            "create",
            "--nsec-out",
            handover.to_str().unwrap(),
        ],
    );
    let patient = created["patient_npub"].as_str().unwrap().to_owned();
    (relay, clinic, patient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_runs_on_its_own_relay_and_patients_are_added_over_nip86() {
    let (relay, clinic, patient) = practice_with_a_patient().await;
    clinic.add_encounter("doctor.key", &patient);
    assert_eq!(clinic.encounters("doctor.key", &patient), 1);

    // Until staff add the patient over NIP-86, the relay serves the patient nothing.
    let before = clinic.run(
        "clinic",
        Some("patient.nsec"),
        &["chart", "show", "--patient", &patient],
    );
    assert!(!before.status.success());
    assert!(
        String::from_utf8_lossy(&before.stderr).contains("restricted:"),
        "{before:?}"
    );
    let added = clinic.json(
        "clinic",
        Some("doctor.key"),
        &["relay", "allow", "--npub", &patient],
    );
    assert_eq!(added["result"], true, "{added}");
    assert_eq!(clinic.encounters("patient.nsec", &patient), 1);
    // A patient cannot add anyone, and a stranger reads nothing.
    let stranger = clinic.keygen("stranger.key");
    assert!(clinic.refused("patient.nsec", &["relay", "allow", "--npub", &stranger]));
    assert!(clinic.refused("stranger.key", &["chart", "show", "--patient", &patient]));
    let listed = clinic.json("clinic", Some("admin.key"), &["relay", "list"]);
    assert!(
        listed.to_string().contains(
            &ehr_client::keys::parse_public_key(&patient)
                .unwrap()
                .to_hex()
        )
    );

    relay.stop().await;
}

/// A Blossom server for the practice served by `relay`, reading members from its database.
async fn blossom_for(
    relay: &PracticeRelay,
) -> (
    String,
    tempfile::TempDir,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ehr_blossom_server::BlossomError>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = ehr_blossom_server::Config::new(
        relay.practice,
        relay.database_url.clone(),
        format!("sqlite://{}", dir.path().join("blobs.db").display()),
        dir.path().join("blobs"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ehr_blossom_server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (url, dir, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_encrypted_uploaded_and_read_back_by_the_patient() {
    let (relay, clinic, patient) = practice_with_a_patient().await;
    clinic.ok(
        "clinic",
        Some("doctor.key"),
        &["relay", "allow", "--npub", &patient],
    );
    let (server, blobs, stop, task) = blossom_for(&relay).await;

    // A small scan (one GCM message) and a large one (streamed in segments).
    let small = clinic.path("scan.pdf");
    std::fs::write(&small, b"%PDF-1.7 synthetic test scan").unwrap();
    let large = clinic.path("mri.dcm");
    std::fs::write(
        &large,
        (0..2_600_000u32)
            .map(|i| (i % 241) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut ids = Vec::new();
    for (file, mime, layout) in [
        (&small, "application/pdf", "aes-256-gcm"),
        (&large, "application/dicom", "ehr-aes256gcm-stream-v1"),
    ] {
        let added = clinic.act(
            "doctor.key",
            &[
                "doc",
                "add",
                "--patient",
                &patient,
                "--server",
                &server,
                "--type",
                mime,
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(added["layout"], layout, "{added}");
        ids.push((
            added["document_id"].as_str().unwrap().to_owned(),
            file.clone(),
            added["sha256"].as_str().unwrap().to_owned(),
        ));
    }
    // The patient reads both back with their own key; the bytes are the originals.
    for (id, original, _) in &ids {
        let out = clinic.path(&format!("back-{id}"));
        clinic.ok(
            "clinic",
            Some("patient.nsec"),
            &[
                "doc",
                "get",
                "--patient",
                &patient,
                "--id",
                id,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(original).unwrap(),
            "{id} did not round-trip"
        );
    }
    // The server holds only ciphertext.
    let (_, _, small_sha) = &ids[0];
    let stored = std::fs::read(
        blobs
            .path()
            .join("blobs")
            .join(&small_sha[..2])
            .join(small_sha),
    )
    .unwrap();
    assert!(
        !stored.windows(8).any(|w| w == b"%PDF-1.7"),
        "the blob is not encrypted"
    );
    // A stranger gets nothing; a tampered blob is refused and nothing is written.
    clinic.keygen("stranger.key");
    let out = clinic.path("stranger.pdf");
    assert!(clinic.refused(
        "stranger.key",
        &[
            "doc",
            "get",
            "--patient",
            &patient,
            "--id",
            &ids[0].0,
            "--out",
            out.to_str().unwrap()
        ]
    ));
    assert!(!out.exists());
    let mut tampered = stored.clone();
    tampered[20] ^= 1;
    std::fs::write(
        blobs
            .path()
            .join("blobs")
            .join(&small_sha[..2])
            .join(small_sha),
        tampered,
    )
    .unwrap();
    let out = clinic.path("tampered.pdf");
    let refused = clinic.run(
        "clinic",
        Some("patient.nsec"),
        &[
            "doc",
            "get",
            "--patient",
            &patient,
            "--id",
            &ids[0].0,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sha256"),
        "{refused:?}"
    );
    assert!(!out.exists());

    let _ = stop.send(());
    task.await.unwrap().unwrap();
    relay.stop().await;
}

#[test]
fn every_verb_has_help_with_an_example() {
    let verbs: &[&[&str]] = &[
        &["keygen"],
        &["practice", "init"],
        &["practice", "connect"],
        &["staff", "add"],
        &["staff", "revoke"],
        &["staff", "list"],
        &["agent", "add"],
        &["agent", "revoke"],
        &["patient", "create"],
        &["patient", "import"],
        &["record", "add"],
        &["chart", "show"],
        &["consent", "grant"],
        &["consent", "withdraw"],
        &["guardian", "grant"],
        &["guardian", "revoke"],
        &["rotate"],
        &["publish"],
        &["sync"],
        &["relay", "allow"],
        &["relay", "remove"],
        &["relay", "list"],
        &["relay", "ban"],
        &["relay", "unban"],
        &["doc", "add"],
        &["doc", "get"],
    ];
    for verb in verbs {
        let out = Command::new(env!("CARGO_BIN_EXE_ehr"))
            .args(*verb)
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Example: ehr"),
            "{verb:?}: {text}"
        );
    }
}

#[test]
fn secrets_are_never_taken_from_argv() {
    let out = Command::new(env!("CARGO_BIN_EXE_ehr"))
        .args(["staff", "list", "--nsec", "nsec1xyz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--nsec'"));
    // No option of the CLI takes a secret or a passphrase as its value.
    let help = Command::new(env!("CARGO_BIN_EXE_ehr"))
        .args(["staff", "add", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--nsec-env <ENV_VAR>") && help.contains("--key <FILE>"));
    for inline in ["--nsec <", "--password <", "--secret", "--passphrase"] {
        assert!(!help.contains(inline), "{inline}");
    }
}
