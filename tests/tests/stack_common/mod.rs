//! What the whole-stack tests share: the `ehr` CLI driven as the practice's people drive it, the
//! launcher's configuration, and the checks on what the servers wrote.
#![allow(
    dead_code,
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

use ehr_client::keys::Identity;
use ehr_client::net::RelayClient;
use nostr::prelude::{EventId, Filter};
use nostr_ehr::{Service, Stack, StackConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const PASSWORD_ENV: &str = "EHR_E2E_PASSPHRASE";
pub const PATIENT_ENV: &str = "EHR_E2E_PATIENT_NSEC";

/// Strings that appear only inside the synthetic charts: none may reach a server's disk or logs.
pub const MARKERS: [&str; 5] = [
    "Zebracorn",
    "Quillfeather-7730",
    "Marrowdale-9041",
    "Thistlewick",
    "Vantablue-Hemoglobin",
];

pub struct Ehr {
    pub bin: PathBuf,
    pub dir: PathBuf,
}

impl Ehr {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn run(
        &self,
        home: &str,
        key: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Output {
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
    pub fn json(&self, home: &str, key: Option<&str>, args: &[&str]) -> Value {
        self.json_env(home, key, &[], args)
    }

    pub fn json_env(
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
    pub fn keygen(&self, name: &str) -> String {
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
    pub fn identity(&self, name: &str) -> Identity {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        Identity::parse(text.trim(), Some("correct horse battery staple")).unwrap()
    }

    /// A command in the clinic's directory that must publish all it signs.
    pub fn act(&self, key: &str, args: &[&str]) -> Value {
        let report = self.json("clinic", Some(key), args);
        // `publish` reports itself; every other command nests its publish report.
        let published = report.get("publish").unwrap_or(&report);
        assert_eq!(published["refused"], json!([]), "{report}");
        assert_eq!(published["pending_in_outbox"], 0, "{report}");
        report
    }

    pub fn write_json(&self, name: &str, value: &Value) -> String {
        let path = self.path(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The doctor writes a synthetic encounter with `reason` into the patient's chart.
    pub fn encounter(&self, patient_npub: &str, id: &str, day: &str, reason: &str) {
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
    pub fn chart(
        &self,
        home: &str,
        key: Option<&str>,
        env: &[(&str, &str)],
        patient: &str,
    ) -> String {
        self.json_env(
            home,
            key,
            env,
            &["chart", "show", "--patient", patient, "--format", "bundle"],
        )
        .to_string()
    }

    /// The chart as the patient reads it, with only her nsec (in the environment).
    pub fn patient_chart(&self, nsec: &str, patient: &str) -> String {
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
pub fn agent_key(dir: &Path, name: &str) -> Identity {
    let identity = Identity::generate();
    nostr_ehr::demo::write_key(&dir.join(name), &identity).unwrap();
    identity
}

/// Every log line of this test process, in one file under Cargo's temporary directory: the
/// subscriber is process-wide, so every stack started here logs to it. Installed on first use.
pub fn stack_log() -> &'static Path {
    static LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stack_e2e.log");
        let file = std::fs::File::create(&path).unwrap();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(Mutex::new(file))
            .try_init();
        path
    })
}

pub fn stack_toml(practice: &str, relay: &str) -> String {
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

pub async fn start(config_path: &Path, relay: Option<tokio::net::TcpListener>) -> Stack {
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
pub async fn gateway_serves(stack: &Stack, patient_id: &str, serves: bool) {
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
pub async fn every_event_id(relay: &str, admin: &Identity) -> BTreeSet<EventId> {
    let client = RelayClient::connect(relay, admin, Duration::from_secs(10))
        .await
        .unwrap();
    let events = client.fetch_all(Filter::new(), 5000).await.unwrap();
    client.disconnect().await;
    events.into_iter().map(|e| e.id).collect()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub struct Facility {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Facility {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
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
