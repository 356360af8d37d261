//! The practice's life on the whole stack (`nostr-ehr`'s launcher, every service in this
//! process on 127.0.0.1:0, SQLite under one data directory), driven the way its people drive it,
//! one behaviour per test. Each test starts its own stack with [`life`]: the admin enrols staff
//! and agents with `ehr`; the doctor creates a patient and writes an encounter and a lab result
//! with a PDF on Blossom. Then: the patient reads it all with only her nsec and the connection
//! string; an outside facility reads `$everything` after her consent and nothing before; the
//! billing bot invoices her and she receives the DM; a revoked nurse cannot read what is written
//! after, while everyone else can; a backup and a restart on the same data lose nothing; and a
//! scan of every database file and log finds none of the charts' marker strings (DESIGN.md §6,
//! invariant 2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod stack_common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::chart::FoldOptions;
use ehr_client::keys::Identity;
use ehr_client::net::{Followed, RelayClient};
use nostr::prelude::Filter;
use nostr_ehr::{Stack, Urls};
use reqwest::StatusCode;
use serde_json::{Value, json};
use stack_common::*;

/// A practice on a running stack, with one patient whose chart the doctor wrote.
struct Life {
    dir: tempfile::TempDir,
    ehr: Ehr,
    stack: Stack,
    urls: Urls,
    http: reqwest::Client,
    config_path: PathBuf,
    /// The practice root's npub, and the connection string patients are given.
    practice: String,
    connection: String,
    nurse: String,
    billing: Identity,
    patient: Identity,
    patient_nsec: String,
    patient_npub: String,
    document_id: String,
    blob_sha256: String,
    pdf: PathBuf,
}

/// `ehr practice init` for a relay to be started on `relay_url`; the practice npub, the
/// connection string.
fn init_practice(ehr: &Ehr, relay_url: &str, admin: &str) -> (String, String) {
    let root_file = ehr.path("root.ncryptsec");
    let init = ehr.json(
        "clinic",
        None,
        &[
            "--offline",
            "practice",
            "init",
            "--relay",
            relay_url,
            "--root-key-out",
            root_file.to_str().unwrap(),
            "--admin",
            admin,
            "--log-n",
            "8",
        ],
    );
    (
        init["practice_npub"].as_str().unwrap().to_owned(),
        init["connection_string"].as_str().unwrap().to_owned(),
    )
}

/// The admin enrols staff and agents with `ehr` (the root key publishes the genesis).
fn enrol_staff_and_agents(ehr: &Ehr, doctor: &str, nurse: &str, agents: [(&str, &str); 2]) {
    ehr.act("root.ncryptsec", &["publish"]);
    ehr.act(
        "admin.ncryptsec",
        &[
            "staff", "add", "--npub", doctor, "--role", "doctor", "--name", "Dr. E2E",
        ],
    );
    ehr.act(
        "admin.ncryptsec",
        &["staff", "add", "--npub", nurse, "--role", "nurse"],
    );
    for (npub, role) in agents {
        ehr.act(
            "admin.ncryptsec",
            &["agent", "add", "--npub", npub, "--role", role],
        );
    }
}

/// The doctor creates a patient, admits her to the relay, and writes an encounter, a lab order
/// and its report; the patient's npub and nsec.
fn patient_with_records(ehr: &Ehr) -> (String, String) {
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
    ehr.json(
        "clinic",
        Some("doctor.ncryptsec"),
        &["relay", "allow", "--npub", &patient_npub],
    );
    let patient_id = ehr_client::keys::parse_public_key(&patient_npub)
        .unwrap()
        .to_hex();
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
    let report = json!({
        "resourceType": "DiagnosticReport", "id": "e2e-report-1", "status": "final",
        "basedOn": [{"reference": "ServiceRequest/e2e-order-1"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}], "text": "Vantablue-Hemoglobin"},
        "subject": {"reference": format!("Patient/{patient_id}")},
        "conclusion": "Quillfeather-7730: within range (synthetic)"
    });
    for (name, record) in [("order.json", order), ("report.json", report)] {
        let file = ehr.write_json(name, &record);
        ehr.act(
            "doctor.ncryptsec",
            &["record", "add", "--patient", &patient_npub, &file],
        );
    }
    (patient_npub, patient_nsec)
}

/// A practice on the whole stack with staff, agents and one patient whose chart holds an
/// encounter, a lab result and its PDF on Blossom.
async fn life() -> Life {
    let dir = tempfile::tempdir().unwrap();
    let ehr = Ehr {
        bin: ehr_tests::cli::ehr_binary().unwrap(),
        dir: dir.path().to_owned(),
    };
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    stack_log();
    // The relay's address comes first: the practice's genesis names it.
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_address = relay_listener.local_addr().unwrap().to_string();
    let relay_url = format!("ws://{relay_address}");
    let admin = ehr.keygen("admin.ncryptsec");
    let doctor = ehr.keygen("doctor.ncryptsec");
    let nurse = ehr.keygen("nurse.ncryptsec");
    let gateway = agent_key(dir.path(), "gateway.nsec");
    let billing = agent_key(dir.path(), "billing.nsec");
    let (practice, connection) = init_practice(&ehr, &relay_url, &admin);
    let config_path = ehr.path("nostr-ehr.toml");
    std::fs::write(&config_path, stack_toml(&practice, &relay_address)).unwrap();
    let mut stack = start(&config_path, Some(relay_listener)).await;
    assert_eq!(stack.urls().relay, relay_url);
    enrol_staff_and_agents(
        &ehr,
        &doctor,
        &nurse,
        [
            (&gateway.npub(), "fhir-gateway"),
            (&billing.npub(), "billing-bot"),
        ],
    );
    stack.start_readers().await.unwrap();
    let urls = stack.urls().clone();
    let (patient_npub, patient_nsec) = patient_with_records(&ehr);
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
    Life {
        patient: Identity::parse(&patient_nsec, None).unwrap(),
        document_id: added["document_id"].as_str().unwrap().to_owned(),
        blob_sha256: added["sha256"].as_str().unwrap().to_owned(),
        http: reqwest::Client::new(),
        dir,
        ehr,
        stack,
        urls,
        config_path,
        practice,
        connection,
        nurse,
        billing,
        patient_nsec,
        patient_npub,
        pdf,
    }
}

impl Life {
    /// The patient joins the practice in her own `ehr` home with her nsec and the connection
    /// string.
    fn patient_connects(&self) {
        let as_patient = [(PATIENT_ENV, self.patient_nsec.as_str())];
        let connect = [
            "--nsec-env",
            PATIENT_ENV,
            "practice",
            "connect",
            &self.connection,
        ];
        self.ehr.json_env("patient", None, &as_patient, &connect);
    }

    /// The gateway's Patient id of the patient.
    fn fhir_patient(&self) -> String {
        ehr_fhir_gateway::served::patient_id(&self.patient.public_key())
    }

    fn everything(&self) -> String {
        format!("/Patient/{}/$everything", self.fhir_patient())
    }

    /// An outside facility with an API key: it reads nothing of the patient before her consent;
    /// then the doctor records her consent to it and the gateway follows.
    async fn facility_after_consent(&self) -> Facility {
        let gateway_db = self
            .stack
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
        let scopes = ["system/*.read".to_owned()];
        // API keys are issued to registered clients only (this one uses no token endpoint).
        store
            .register_client("e2e-hospital", &json!({"keys": []}), &scopes, "e2e", now)
            .await
            .unwrap();
        let facility = Facility {
            http: self.http.clone(),
            base: self.urls.fhir.clone().unwrap(),
            token: store
                .add_api_key("e2e-hospital", &scopes, now, now + 3600)
                .await
                .unwrap(),
        };
        let (status, before) = facility.get(&self.everything()).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
            "{status} {before}"
        );
        assert!(!before.to_string().contains("Zebracorn"));
        self.ehr.act(
            "doctor.ncryptsec",
            &[
                "consent",
                "grant",
                "--patient",
                &self.patient_npub,
                "--facility",
                "e2e-hospital",
            ],
        );
        gateway_serves(&self.stack, &self.fhir_patient(), true).await;
        facility
    }

    /// A billing admin call signed by the doctor.
    async fn billing_admin(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.urls.billing.clone().unwrap());
        let bytes = body.to_string();
        let doctor = self.ehr.identity("doctor.ncryptsec");
        let auth =
            ehr_client::http_auth::authorization(&doctor, &url, "POST", bytes.as_bytes()).unwrap();
        let response = self
            .http
            .post(url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The billing bot invoices the patient (a plan, her membership, a run); she receives the
    /// invoice as a DM from the bot.
    async fn invoice_the_patient(&self) {
        let plan = json!({"name": "Adult membership", "kind": "monthly", "amount_minor": 15000});
        let (status, plan) = self.billing_admin("/admin/plans", plan).await;
        assert_eq!(status, StatusCode::CREATED, "{plan}");
        let member =
            json!({"npub": self.patient_npub, "plan_id": plan["id"], "joined_on": "2026-11-01"});
        let (status, member) = self.billing_admin("/admin/members", member).await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        let (status, run) = self.billing_admin("/admin/runs", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        let invoices = ehr_tests::inbox::messages_for(&self.urls.relay, &self.patient, 1)
            .await
            .unwrap();
        let invoices: Vec<_> = invoices.into_iter().map(|(_, m)| m).collect();
        assert_eq!(invoices[0].sender, self.billing.public_key());
        assert!(
            invoices[0]
                .subject
                .as_deref()
                .unwrap_or_default()
                .starts_with("Invoice"),
            "{:?}",
            invoices[0].subject
        );
    }

    /// The doctor writes a second encounter, "Thistlewick review".
    fn second_encounter(&self) {
        self.ehr.encounter(
            &self.patient_npub,
            "e2e-visit-2",
            "2026-11-20",
            "Thistlewick review",
        );
    }

    /// An online backup into `data/backup`: a snapshot of each database; the report's lines.
    async fn backup(&self) -> PathBuf {
        let backup_dir = self.dir.path().join("data").join("backup");
        let report = nostr_ehr::backup(self.stack.config(), &backup_dir)
            .await
            .unwrap();
        assert!(
            report.iter().any(|l| l.starts_with("relay: ")),
            "{report:?}"
        );
        backup_dir
    }

    /// Stop the stack gracefully and start it again on the same data and relay address.
    async fn restart(&mut self) {
        self.stack.stop().await;
        let relay_address = self.urls.relay.trim_start_matches("ws://").to_owned();
        let relay_listener = tokio::net::TcpListener::bind(&relay_address).await.unwrap();
        self.stack = start(&self.config_path, Some(relay_listener)).await;
        self.stack.start_readers().await.unwrap();
        self.urls = self.stack.urls().clone();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_answers_its_health_check_and_the_relay_names_the_practice() {
    let mut life = life().await;
    let urls = &life.urls;
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
        let health = life
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{base}/healthz");
    }
    let nip11: Value = life
        .http
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
        ehr_client::keys::parse_public_key(&life.practice)
            .unwrap()
            .to_hex()
    );
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_reads_her_chart_and_pdf_with_only_her_nsec_and_the_connection_string() {
    let mut life = life().await;
    let (ehr, npub) = (&life.ehr, life.patient_npub.as_str());
    life.patient_connects();
    let as_patient = [(PATIENT_ENV, life.patient_nsec.as_str())];
    let her_chart = ehr.patient_chart(&life.patient_nsec, npub);
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
            npub,
            "--id",
            &life.document_id,
            "--out",
            download.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&download).unwrap(),
        std::fs::read(&life.pdf).unwrap()
    );
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facility_reads_everything_after_consent_and_nothing_before() {
    let mut life = life().await;
    let facility = life.facility_after_consent().await;
    let (status, bundle) = facility.get(&life.everything()).await;
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
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_billing_bot_invoices_the_patient_by_a_dm_she_receives() {
    let mut life = life().await;
    life.invoice_the_patient().await;
    life.stack.stop().await;
}

/// Everything on the relay, read by the admin, folded into the patient's chart as `who` can
/// open it: its resources as JSON text.
async fn chart_text_with_a_full_copy(life: &Life, who: &Identity) -> String {
    let admin = life.ehr.identity("admin.ncryptsec");
    let client = RelayClient::connect(&life.urls.relay, &admin, Duration::from_secs(10))
        .await
        .unwrap();
    let events = client.fetch_all(Filter::new(), 5000).await.unwrap();
    client.disconnect().await;
    let root = ehr_client::keys::parse_public_key(&life.practice).unwrap();
    let view = PracticeView::load(&root, events.iter(), who);
    let (chart, _) = view.chart(
        &life.patient.public_key(),
        events.iter(),
        FoldOptions::default(),
    );
    chart.entries().map(|e| e.resource.to_json()).collect()
}

/// `who` downloads the lab PDF from Blossom into `name`.
async fn download(
    life: &Life,
    who: &Identity,
    name: &str,
) -> Result<u64, ehr_client::blossom::BlossomError> {
    let blobs = ehr_client::blossom::BlossomClient::new(&life.urls.blossom).unwrap();
    let out = life.dir.path().join(name);
    blobs.download(who, &life.blob_sha256, &out).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_nurse_is_refused_by_blossom_and_the_relay_and_cannot_open_new_records() {
    let mut life = life().await;
    let (ehr, npub) = (&life.ehr, life.patient_npub.as_str());
    let nurse_before = ehr.chart("clinic", Some("nurse.ncryptsec"), &[], npub);
    assert!(nurse_before.contains("Zebracorn"));
    let nurse = ehr.identity("nurse.ncryptsec");
    download(&life, &nurse, "nurse-before.pdf").await.unwrap();
    ehr.act(
        "admin.ncryptsec",
        &["staff", "revoke", "--npub", &life.nurse],
    );
    // Blossom refuses her at once (it reads the relay's members), and still serves the doctor.
    let refused = download(&life, &nurse, "nurse-after.pdf")
        .await
        .expect_err("Blossom served a revoked nurse");
    assert!(refused.to_string().contains("403"), "{refused}");
    let doctor = ehr.identity("doctor.ncryptsec");
    download(&life, &doctor, "doctor.pdf").await.unwrap();
    life.second_encounter();
    // The relay no longer serves her; and with a full copy of the relay, her key opens the
    // old encounter but not the new one.
    let show = ["chart", "show", "--patient", npub];
    let refused = ehr.run("clinic", Some("nurse.ncryptsec"), &[], &show);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("restricted:"));
    let nurse_text = chart_text_with_a_full_copy(&life, &nurse).await;
    assert!(
        nurse_text.contains("Zebracorn"),
        "the nurse lost what she could read before"
    );
    assert!(
        !nurse_text.contains("Thistlewick"),
        "the revoked nurse read a new encounter"
    );
    for key in ["doctor.ncryptsec", "admin.ncryptsec"] {
        assert!(
            ehr.chart("clinic", Some(key), &[], npub)
                .contains("Thistlewick"),
            "{key}"
        );
    }
    life.patient_connects();
    assert!(
        ehr.patient_chart(&life.patient_nsec, npub)
            .contains("Thistlewick")
    );
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_and_requests_and_name_no_patient() {
    let mut life = life().await;
    // A facility's read first, so the patient's id has passed through the gateway.
    let facility = life.facility_after_consent().await;
    assert_eq!(facility.get(&life.everything()).await.0, StatusCode::OK);
    let metrics = life
        .http
        .get(life.urls.metrics.clone().unwrap())
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
        !metrics.contains(&life.fhir_patient()),
        "a patient id reached the metrics"
    );
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_holds_every_event_and_never_overwrites_another() {
    let mut life = life().await;
    life.invoice_the_patient().await;
    let admin = life.ehr.identity("admin.ncryptsec");
    let on_the_relay = every_event_id(&life.urls.relay, &admin).await;
    let backup_dir = life.backup().await;
    for name in ["relay", "blossom", "fhir-gateway", "billing-bot"] {
        let file = backup_dir.join(format!("{name}.db"));
        assert!(file.metadata().unwrap().len() > 0, "{name}");
    }
    assert!(
        nostr_ehr::backup(life.stack.config(), &backup_dir)
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
        on_the_relay
            .iter()
            .all(|id| stored.contains(id.as_bytes().as_slice())),
        "the snapshot lacks events"
    );
    snapshot.pool.close().await;
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_told_its_subscription_ended_when_the_relay_stops() {
    let mut life = life().await;
    let patient = &life.patient;
    let follower = RelayClient::connect(&life.urls.relay, patient, Duration::from_secs(10))
        .await
        .unwrap();
    let mut following = follower
        .follow(vec![Filter::new().pubkey(patient.public_key())])
        .unwrap();
    while !matches!(following.next().await.unwrap(), Followed::Caught) {}
    life.stack.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), following.next())
        .await
        .expect("the subscription hung after the relay stopped");
    let error = ended
        .expect_err("an event arrived after the stop")
        .to_string();
    assert!(error.contains("shutting down"), "{error}");
    follower.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_data_loses_no_event_and_the_gateway_serves_again() {
    let mut life = life().await;
    let facility = life.facility_after_consent().await;
    life.second_encounter();
    let admin = life.ehr.identity("admin.ncryptsec");
    let before_stop = every_event_id(&life.urls.relay, &admin).await;
    life.restart().await;
    let after_restart = every_event_id(&life.urls.relay, &admin).await;
    assert_eq!(
        before_stop, after_restart,
        "events were lost across the restart"
    );
    gateway_serves(&life.stack, &life.fhir_patient(), true).await;
    let facility = Facility {
        base: life.urls.fhir.clone().unwrap(),
        ..facility
    };
    let (status, bundle) = facility.get(&life.everything()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bundle.to_string().contains("Thistlewick"));
    life.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_chart_marker_reaches_a_database_file_blob_backup_or_log() {
    // Every service writes what it writes in a practice's life: a facility's reads, an
    // invoice, a new record, a backup, a restart.
    let mut life = life().await;
    let facility = life.facility_after_consent().await;
    assert_eq!(facility.get(&life.everything()).await.0, StatusCode::OK);
    life.invoice_the_patient().await;
    life.second_encounter();
    life.backup().await;
    life.restart().await;
    life.stack.stop().await;
    // Invariant 2: no marker in any database file, blob or log the servers wrote. (The scan
    // bites: the same check finds a marker in a file that holds one.)
    let dir = life.dir.path();
    std::fs::write(dir.join("plain.txt"), b"note: Zebracorn").unwrap();
    assert!(contains(
        &std::fs::read(dir.join("plain.txt")).unwrap(),
        MARKERS[0]
    ));
    let mut files = Vec::new();
    files_under(&dir.join("data"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("relay.db")), "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("backup/relay.db")),
        "{files:?}"
    );
    // The log of every stack this process ran, this one's included.
    let log = std::fs::read(stack_log()).unwrap();
    assert!(
        contains(&log, "\"name\":\"relay\""),
        "the log has no service spans"
    );
    files.push(stack_log().to_owned());
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
