//! The practice's life on the whole stack (`nostr-ehr`'s launcher, every service in this
//! process on 127.0.0.1:0, SQLite under one data directory), driven the way its people drive it:
//! the admin enrols staff and agents with `ehr`; the doctor creates a patient and writes an
//! encounter and a lab result with a PDF on Blossom; the patient reads it all with only her nsec
//! and the connection string; an outside facility reads `$everything` after her consent and
//! nothing before; the billing bot invoices her and she receives the DM; a revoked nurse cannot
//! read what is written after, while everyone else can. Then a restart on the same data loses
//! nothing, and a scan of every database file and log finds none of the charts' marker strings
//! (DESIGN.md §6, invariant 2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::chart::FoldOptions;
use ehr_client::keys::Identity;
use ehr_client::net::{Followed, RelayClient};
use nostr::prelude::{EventId, Filter};
use nostr_ehr::{Service, Stack, StackConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD_ENV: &str = "EHR_E2E_PASSPHRASE";
const PATIENT_ENV: &str = "EHR_E2E_PATIENT_NSEC";

/// Strings that appear only inside the synthetic charts: none may reach a server's disk or logs.
const MARKERS: [&str; 5] = [
    "Zebracorn",
    "Quillfeather-7730",
    "Marrowdale-9041",
    "Thistlewick",
    "Vantablue-Hemoglobin",
];

struct Ehr {
    bin: PathBuf,
    dir: PathBuf,
}

impl Ehr {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn run(&self, home: &str, key: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = Command::new(&self.bin);
        command
            .arg("--home")
            .arg(self.path(home))
            .env(PASSWORD_ENV, "correct horse battery staple")
            .env_remove("EHR_KEY_FILE")
            .env_remove("EHR_HOME")
            .args(["--password-env", PASSWORD_ENV]);
        for (name, value) in env {
            command.env(name, value);
        }
        if let Some(key) = key {
            command.arg("--key").arg(self.path(key));
        }
        command.args(args).output().unwrap()
    }

    /// Run `ehr`, which must succeed and print JSON.
    fn json(&self, home: &str, key: Option<&str>, args: &[&str]) -> Value {
        self.json_env(home, key, &[], args)
    }

    fn json_env(
        &self,
        home: &str,
        key: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Value {
        let out = self.run(home, key, env, args);
        assert!(
            out.status.success(),
            "ehr {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A staff member's own key file (ncryptsec); returns the npub.
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

    /// A staff member's identity from the key file `ehr keygen` wrote.
    fn identity(&self, name: &str) -> Identity {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        Identity::parse(text.trim(), Some("correct horse battery staple")).unwrap()
    }

    /// A command in the clinic's directory that must publish all it signs.
    fn act(&self, key: &str, args: &[&str]) -> Value {
        let report = self.json("clinic", Some(key), args);
        // `publish` reports itself; every other command nests its publish report.
        let published = report.get("publish").unwrap_or(&report);
        assert_eq!(published["refused"], json!([]), "{report}");
        assert_eq!(published["pending_in_outbox"], 0, "{report}");
        report
    }

    fn write_json(&self, name: &str, value: &Value) -> String {
        let path = self.path(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The doctor writes a synthetic encounter with `reason` into the patient's chart.
    fn encounter(&self, patient_npub: &str, id: &str, day: &str, reason: &str) {
        let patient = ehr_client::keys::parse_public_key(patient_npub).unwrap();
        let encounter = json!({
            "resourceType": "Encounter", "id": id, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{}", patient.to_hex())},
            "period": {"start": format!("{day}T09:00:00Z")},
            "reasonCode": [{"text": format!("{reason} (synthetic)")}]
        });
        let file = self.write_json(&format!("{id}.json"), &encounter);
        self.act(
            "doctor.ncryptsec",
            &["record", "add", "--patient", patient_npub, &file],
        );
    }

    /// The folded chart as `key` (a staff key file in the clinic) sees it: a FHIR Bundle.
    fn chart(&self, home: &str, key: Option<&str>, env: &[(&str, &str)], patient: &str) -> String {
        self.json_env(
            home,
            key,
            env,
            &["chart", "show", "--patient", patient, "--format", "bundle"],
        )
        .to_string()
    }

    /// The chart as the patient reads it, with only her nsec (in the environment).
    fn patient_chart(&self, nsec: &str, patient: &str) -> String {
        self.json_env(
            "patient",
            None,
            &[(PATIENT_ENV, nsec)],
            &[
                "--nsec-env",
                PATIENT_ENV,
                "chart",
                "show",
                "--patient",
                patient,
                "--format",
                "bundle",
            ],
        )
        .to_string()
    }
}

/// An agent's key, made on its host: an nsec file only it reads.
fn agent_key(dir: &Path, name: &str) -> Identity {
    let identity = Identity::generate();
    nostr_ehr::demo::write_key(&dir.join(name), &identity).unwrap();
    identity
}

/// Every log line of the run, kept in a file under the data directory.
fn capture_logs(file: &Path) {
    let file = std::fs::File::create(file).unwrap();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(Mutex::new(file))
        .try_init();
}

fn stack_toml(practice: &str, relay: &str) -> String {
    format!(
        r#"
[practice]
root = "{practice}"
name = "End-to-end Practice (synthetic)"

[stack]
data_dir = "data"
log_format = "json"

[metrics]
enabled = true
listen = "127.0.0.1:0"

[relay]
listen = "{relay}"

[blossom]
listen = "127.0.0.1:0"

[fhir_gateway]
listen = "127.0.0.1:0"
key_file = "gateway.nsec"

[billing_bot]
listen = "127.0.0.1:0"
key_file = "billing.nsec"
tick_seconds = 0

[billing_bot.invoices]
currency = "USD"

[billing_bot.bitcoin]
account_key = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
minor_units_per_btc = 6500000

[portal]
listen = "127.0.0.1:0"
"#
    )
}

async fn start(config_path: &Path, relay: Option<tokio::net::TcpListener>) -> Stack {
    let config = StackConfig::load(config_path).unwrap();
    let services = config.services(None).unwrap();
    assert_eq!(services.len(), 5);
    let bound = relay.map(|l| vec![(Service::Relay, l)]).unwrap_or_default();
    let mut stack = Stack::with_listeners(config, services, bound)
        .await
        .unwrap();
    stack.start_storage().await.unwrap();
    stack
}

/// Wait until the gateway serves (or stops serving) `patient_id`, as the relay delivers.
async fn gateway_serves(stack: &Stack, patient_id: &str, serves: bool) {
    let mut snapshots = stack.gateway_snapshots().unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        snapshots.wait_for(|s| s.patients.contains_key(patient_id) == serves),
    )
    .await
    .expect("the gateway did not follow the consent within 30 s")
    .unwrap();
}

/// The id of every event on the relay, as an admin reads them.
async fn every_event_id(relay: &str, admin: &Identity) -> BTreeSet<EventId> {
    let client = RelayClient::connect(relay, admin, Duration::from_secs(10))
        .await
        .unwrap();
    let events = client.fetch_all(Filter::new(), 5000).await.unwrap();
    client.disconnect().await;
    events.into_iter().map(|e| e.id).collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

struct Facility {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Facility {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_runs_its_life_on_the_whole_stack() {
    let dir = tempfile::tempdir().unwrap();
    let ehr = Ehr {
        bin: ehr_tests::cli::ehr_binary().unwrap(),
        dir: dir.path().to_owned(),
    };
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    capture_logs(&dir.path().join("data").join("stack.log"));

    // The relay's address comes first: the practice's genesis names it.
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("ws://{}", relay_listener.local_addr().unwrap());
    let admin = ehr.keygen("admin.ncryptsec");
    let doctor = ehr.keygen("doctor.ncryptsec");
    let nurse = ehr.keygen("nurse.ncryptsec");
    let gateway = agent_key(dir.path(), "gateway.nsec");
    let billing = agent_key(dir.path(), "billing.nsec");
    let root_file = ehr.path("root.ncryptsec");
    let init = ehr.json(
        "clinic",
        None,
        &[
            "--offline",
            "practice",
            "init",
            "--relay",
            &relay_url,
            "--root-key-out",
            root_file.to_str().unwrap(),
            "--admin",
            &admin,
            "--log-n",
            "8",
        ],
    );
    let practice = init["practice_npub"].as_str().unwrap().to_owned();
    let connection = init["connection_string"].as_str().unwrap().to_owned();
    let config_path = ehr.path("nostr-ehr.toml");
    std::fs::write(
        &config_path,
        stack_toml(&practice, &relay_listener.local_addr().unwrap().to_string()),
    )
    .unwrap();

    let mut stack = start(&config_path, Some(relay_listener)).await;
    let urls = stack.urls().clone();
    assert_eq!(urls.relay, relay_url);

    // The admin enrols staff and agents with `ehr` (the root key publishes the genesis).
    ehr.act("root.ncryptsec", &["publish"]);
    ehr.act(
        "admin.ncryptsec",
        &[
            "staff", "add", "--npub", &doctor, "--role", "doctor", "--name", "Dr. E2E",
        ],
    );
    ehr.act(
        "admin.ncryptsec",
        &["staff", "add", "--npub", &nurse, "--role", "nurse"],
    );
    ehr.act(
        "admin.ncryptsec",
        &[
            "agent",
            "add",
            "--npub",
            &gateway.npub(),
            "--role",
            "fhir-gateway",
        ],
    );
    ehr.act(
        "admin.ncryptsec",
        &[
            "agent",
            "add",
            "--npub",
            &billing.npub(),
            "--role",
            "billing-bot",
        ],
    );
    stack.start_readers().await.unwrap();
    let urls = stack.urls().clone();
    let http = reqwest::Client::new();
    for base in [
        urls.relay.replace("ws://", "http://"),
        urls.blossom.clone(),
        urls.fhir
            .clone()
            .unwrap()
            .trim_end_matches("/fhir")
            .to_owned(),
        urls.billing.clone().unwrap(),
        urls.portal.clone().unwrap(),
    ] {
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{base}/healthz");
    }
    let nip11: Value = http
        .get(urls.relay.replace("ws://", "http://"))
        .header("accept", "application/nostr+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        nip11["pubkey"],
        ehr_client::keys::parse_public_key(&practice)
            .unwrap()
            .to_hex()
    );

    // The doctor creates a patient and writes an encounter and a lab result with its PDF.
    let created = ehr.act(
        "doctor.ncryptsec",
        &[
            "patient",
            "create",
            "--nsec-out",
            ehr.path("patient.nsec").to_str().unwrap(),
        ],
    );
    let patient_npub = created["patient_npub"].as_str().unwrap().to_owned();
    let patient_nsec = std::fs::read_to_string(ehr.path("patient.nsec"))
        .unwrap()
        .trim()
        .to_owned();
    let patient = Identity::parse(&patient_nsec, None).unwrap();
    ehr.json(
        "clinic",
        Some("doctor.ncryptsec"),
        &["relay", "allow", "--npub", &patient_npub],
    );
    let patient_id = patient.public_key().to_hex();
    ehr.encounter(
        &patient_npub,
        "e2e-visit-1",
        "2026-11-02",
        "Zebracorn rash follow-up",
    );
    let order = json!({
        "resourceType": "ServiceRequest", "id": "e2e-order-1", "status": "completed", "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}], "text": "Hemoglobin"},
        "subject": {"reference": format!("Patient/{patient_id}")}
    });
    let file = ehr.write_json("order.json", &order);
    ehr.act(
        "doctor.ncryptsec",
        &["record", "add", "--patient", &patient_npub, &file],
    );
    let report = json!({
        "resourceType": "DiagnosticReport", "id": "e2e-report-1", "status": "final",
        "basedOn": [{"reference": "ServiceRequest/e2e-order-1"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}], "text": "Vantablue-Hemoglobin"},
        "subject": {"reference": format!("Patient/{patient_id}")},
        "conclusion": "Quillfeather-7730: within range (synthetic)"
    });
    let file = ehr.write_json("report.json", &report);
    ehr.act(
        "doctor.ncryptsec",
        &["record", "add", "--patient", &patient_npub, &file],
    );
    let pdf = ehr.path("lab.pdf");
    std::fs::write(
        &pdf,
        nostr_ehr::demo::charts::synthetic_pdf("Marrowdale-9041"),
    )
    .unwrap();
    let added = ehr.act(
        "doctor.ncryptsec",
        &[
            "doc",
            "add",
            "--patient",
            &patient_npub,
            "--server",
            &urls.blossom,
            "--type",
            "application/pdf",
            pdf.to_str().unwrap(),
        ],
    );
    let document_id = added["document_id"].as_str().unwrap().to_owned();
    let blob_sha256 = added["sha256"].as_str().unwrap().to_owned();

    // The patient reads it all with only her nsec and the connection string.
    let as_patient = [(PATIENT_ENV, patient_nsec.as_str())];
    ehr.json_env(
        "patient",
        None,
        &as_patient,
        &[
            "--nsec-env",
            PATIENT_ENV,
            "practice",
            "connect",
            &connection,
        ],
    );
    let her_chart = ehr.patient_chart(&patient_nsec, &patient_npub);
    for text in [
        "Zebracorn",
        "Quillfeather-7730",
        "Vantablue-Hemoglobin",
        "application/pdf",
    ] {
        assert!(her_chart.contains(text), "the patient's chart lacks {text}");
    }
    let download = ehr.path("downloaded.pdf");
    ehr.json_env(
        "patient",
        None,
        &as_patient,
        &[
            "--nsec-env",
            PATIENT_ENV,
            "doc",
            "get",
            "--patient",
            &patient_npub,
            "--id",
            &document_id,
            "--out",
            download.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&download).unwrap(),
        std::fs::read(&pdf).unwrap()
    );

    // The outside facility: a key, and nothing before consent.
    let gateway_db = stack
        .config()
        .fhir_gateway
        .as_ref()
        .unwrap()
        .database_url
        .clone();
    let store = ehr_fhir_gateway::store::Store::open(&gateway_db)
        .await
        .unwrap();
    let now = i64::try_from(nostr::prelude::Timestamp::now().as_secs()).unwrap();
    // API keys are issued to registered clients only (this one uses no token endpoint).
    store
        .register_client(
            "e2e-hospital",
            &serde_json::json!({"keys": []}),
            &["system/*.read".to_owned()],
            "e2e",
            now,
        )
        .await
        .unwrap();
    let facility = Facility {
        http: http.clone(),
        base: urls.fhir.clone().unwrap(),
        token: store
            .add_api_key(
                "e2e-hospital",
                &["system/*.read".to_owned()],
                now,
                now + 3600,
            )
            .await
            .unwrap(),
    };
    let fhir_patient = ehr_fhir_gateway::served::patient_id(&patient.public_key());
    let everything = format!("/Patient/{fhir_patient}/$everything");
    let (status, before) = facility.get(&everything).await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status} {before}"
    );
    assert!(!before.to_string().contains("Zebracorn"));
    ehr.act(
        "doctor.ncryptsec",
        &[
            "consent",
            "grant",
            "--patient",
            &patient_npub,
            "--facility",
            "e2e-hospital",
        ],
    );
    gateway_serves(&stack, &fhir_patient, true).await;
    let (status, bundle) = facility.get(&everything).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let text = bundle.to_string();
    assert!(
        text.contains("Zebracorn") && text.contains("Quillfeather-7730"),
        "{text}"
    );
    assert!(
        !text.contains("urn:nostr-ehr:extension:file-key"),
        "a file key was served"
    );

    // The billing bot invoices the patient, who receives the DM.
    let billing_url = urls.billing.clone().unwrap();
    let doctor_identity = ehr.identity("doctor.ncryptsec");
    let admin_call = |method: reqwest::Method, path: &str, body: Value| {
        let url = format!("{billing_url}{path}");
        let bytes = body.to_string();
        let auth = ehr_client::http_auth::authorization(
            &doctor_identity,
            &url,
            method.as_str(),
            bytes.as_bytes(),
        )
        .unwrap();
        let request = http
            .request(method, url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(bytes);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, plan) = admin_call(
        reqwest::Method::POST,
        "/admin/plans",
        json!({"name": "Adult membership", "kind": "monthly", "amount_minor": 15000}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let (status, member) = admin_call(
        reqwest::Method::POST,
        "/admin/members",
        json!({"npub": patient_npub, "plan_id": plan["id"], "joined_on": "2026-11-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    let (status, run) = admin_call(reqwest::Method::POST, "/admin/runs", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let invoices = ehr_tests::inbox::messages_for(&urls.relay, &patient, 1)
        .await
        .unwrap();
    let invoices: Vec<_> = invoices.into_iter().map(|(_, m)| m).collect();
    assert_eq!(invoices[0].sender, billing.public_key());
    assert!(
        invoices[0]
            .subject
            .as_deref()
            .unwrap_or_default()
            .starts_with("Invoice"),
        "{:?}",
        invoices[0].subject
    );

    // A nurse is revoked; a new encounter is unreadable to her, readable to everyone else.
    let nurse_before = ehr.chart("clinic", Some("nurse.ncryptsec"), &[], &patient_npub);
    assert!(nurse_before.contains("Zebracorn"));
    let blobs = ehr_client::blossom::BlossomClient::new(&urls.blossom).unwrap();
    let nurse_identity = ehr.identity("nurse.ncryptsec");
    blobs
        .download(
            &nurse_identity,
            &blob_sha256,
            &dir.path().join("nurse-before.pdf"),
        )
        .await
        .unwrap();
    ehr.act("admin.ncryptsec", &["staff", "revoke", "--npub", &nurse]);
    // Blossom refuses her at once (it reads the relay's members), and still serves the doctor.
    let refused = blobs
        .download(
            &nurse_identity,
            &blob_sha256,
            &dir.path().join("nurse-after.pdf"),
        )
        .await
        .expect_err("Blossom served a revoked nurse");
    assert!(refused.to_string().contains("403"), "{refused}");
    blobs
        .download(
            &ehr.identity("doctor.ncryptsec"),
            &blob_sha256,
            &dir.path().join("doctor.pdf"),
        )
        .await
        .unwrap();
    ehr.encounter(
        &patient_npub,
        "e2e-visit-2",
        "2026-11-20",
        "Thistlewick review",
    );
    // The relay no longer serves her; and with a full copy of the relay, her key opens the
    // old encounter but not the new one.
    let refused = ehr.run(
        "clinic",
        Some("nurse.ncryptsec"),
        &[],
        &["chart", "show", "--patient", &patient_npub],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("restricted:"));
    let admin_identity = ehr.identity("admin.ncryptsec");
    let everything_on_the_relay = {
        let client = RelayClient::connect(&urls.relay, &admin_identity, Duration::from_secs(10))
            .await
            .unwrap();
        let events = client.fetch_all(Filter::new(), 5000).await.unwrap();
        client.disconnect().await;
        events
    };
    let root = ehr_client::keys::parse_public_key(&practice).unwrap();
    let nurse_view = PracticeView::load(&root, everything_on_the_relay.iter(), &nurse_identity);
    let (nurse_chart, _) = nurse_view.chart(
        &patient.public_key(),
        everything_on_the_relay.iter(),
        FoldOptions::default(),
    );
    let nurse_text: String = nurse_chart
        .entries()
        .map(|e| e.resource.to_json())
        .collect();
    assert!(
        nurse_text.contains("Zebracorn"),
        "the nurse lost what she could read before"
    );
    assert!(
        !nurse_text.contains("Thistlewick"),
        "the revoked nurse read a new encounter"
    );
    assert!(
        ehr.chart("clinic", Some("doctor.ncryptsec"), &[], &patient_npub)
            .contains("Thistlewick")
    );
    assert!(
        ehr.chart("clinic", Some("admin.ncryptsec"), &[], &patient_npub)
            .contains("Thistlewick")
    );
    assert!(
        ehr.patient_chart(&patient_nsec, &patient_npub)
            .contains("Thistlewick")
    );

    // Metrics, then a graceful stop and a restart on the same data: nothing is lost.
    let metrics = http
        .get(urls.metrics.clone().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ehr_relay_events_stored_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ehr_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(&fhir_patient),
        "a patient id reached the metrics"
    );
    let before_stop = every_event_id(&urls.relay, &admin_identity).await;
    // An online backup: a snapshot of each database, the relay's holding every event.
    let backup_dir = dir.path().join("data").join("backup");
    let report = nostr_ehr::backup(stack.config(), &backup_dir)
        .await
        .unwrap();
    assert!(
        report.iter().any(|l| l.starts_with("relay: ")),
        "{report:?}"
    );
    for name in ["relay", "blossom", "fhir-gateway", "billing-bot"] {
        assert!(
            backup_dir
                .join(format!("{name}.db"))
                .metadata()
                .unwrap()
                .len()
                > 0,
            "{name}"
        );
    }
    assert!(
        nostr_ehr::backup(stack.config(), &backup_dir)
            .await
            .is_err(),
        "a backup overwrote another"
    );
    let snapshot = ehr_service::database::AnyDatabase::connect(&format!(
        "sqlite://{}",
        backup_dir.join("relay.db").display()
    ))
    .await
    .unwrap();
    // (It also holds the gift wraps, which only their recipients may read.)
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id FROM events")
        .fetch_all(&snapshot.pool)
        .await
        .unwrap();
    let stored: BTreeSet<Vec<u8>> = stored.into_iter().collect();
    assert!(
        before_stop
            .iter()
            .all(|id| stored.contains(id.as_bytes().as_slice())),
        "the snapshot lacks events"
    );
    snapshot.pool.close().await;
    // A follower is told its subscription ended when the relay stops.
    let follower = RelayClient::connect(&urls.relay, &patient, Duration::from_secs(10))
        .await
        .unwrap();
    let mut following = follower
        .follow(vec![Filter::new().pubkey(patient.public_key())])
        .unwrap();
    while !matches!(following.next().await.unwrap(), Followed::Caught) {}
    stack.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), following.next())
        .await
        .expect("the subscription hung after the relay stopped");
    let error = ended
        .expect_err("an event arrived after the stop")
        .to_string();
    assert!(error.contains("shutting down"), "{error}");
    follower.disconnect().await;
    let relay_address = urls.relay.trim_start_matches("ws://").to_owned();
    let relay_listener = tokio::net::TcpListener::bind(&relay_address).await.unwrap();
    let mut stack = start(&config_path, Some(relay_listener)).await;
    stack.start_readers().await.unwrap();
    let after_restart = every_event_id(&stack.urls().relay, &admin_identity).await;
    assert_eq!(
        before_stop, after_restart,
        "events were lost across the restart"
    );
    gateway_serves(&stack, &fhir_patient, true).await;
    let facility = Facility {
        base: stack.urls().fhir.clone().unwrap(),
        ..facility
    };
    let (status, bundle) = facility.get(&everything).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bundle.to_string().contains("Thistlewick"));
    stack.stop().await;

    // Invariant 2: no marker in any database file, blob or log the servers wrote. (The scan
    // bites: the same check finds a marker in a file that holds one.)
    std::fs::write(dir.path().join("plain.txt"), b"note: Zebracorn").unwrap();
    assert!(contains(
        &std::fs::read(dir.path().join("plain.txt")).unwrap(),
        MARKERS[0]
    ));
    let mut files = Vec::new();
    files_under(&dir.path().join("data"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("relay.db")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("stack.log")), "{files:?}");
    let log = std::fs::read(dir.path().join("data").join("stack.log")).unwrap();
    assert!(
        contains(&log, "\"name\":\"relay\""),
        "the log has no service spans"
    );
    for file in &files {
        // A SQLite -wal or -shm file goes when its last connection closes: its pages are then
        // in the database file, which is scanned.
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        for marker in MARKERS {
            assert!(
                !contains(&bytes, marker),
                "{marker} is in {}",
                file.display()
            );
        }
    }
}
