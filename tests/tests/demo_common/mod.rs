//! What the tests of `nostr-ehr up --demo` share: the demo's configuration on ports :0, the
//! stack started and seeded in-process, and the `ehr` CLI run as one of its people.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

use ehr_client::keys::Identity;
use nostr_ehr::demo::{self, DemoInfo, DemoKeys};
use nostr_ehr::{Service, Stack, StackConfig};
use serde_json::Value;

pub const NSEC_ENV: &str = "EHR_DEMO_NSEC";

/// The demo's configuration with every port `:0`.
pub fn prepare(home: &Path) -> StackConfig {
    prepare_edited(home, |text| text)
}

/// [`prepare`] with the configuration file's text changed by `edit` first.
pub fn prepare_edited(home: &Path, edit: impl FnOnce(String) -> String) -> StackConfig {
    let path = demo::prepare(home).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for port in ["7447", "7448", "8090", "8095", "8080", "8081", "9464"] {
        text = text.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:0");
    }
    std::fs::write(&path, edit(text)).unwrap();
    StackConfig::load(&path).unwrap()
}

/// The demo stack, running and seeded.
pub struct Seeded {
    pub stack: Stack,
    pub keys: DemoKeys,
    pub info: DemoInfo,
    /// The connection string the banner prints.
    pub connection: String,
    pub banner: String,
}

/// Start the demo practice under `home` on ports :0 and seed it through the protocol, as
/// `nostr-ehr up --demo` does on its first start.
pub async fn start_seeded(home: &Path) -> Seeded {
    start_seeded_with(home, prepare(home), Vec::new()).await
}

/// [`start_seeded`] with `config` (from [`prepare_edited`]) and services already `bound`.
pub async fn start_seeded_with(
    home: &Path,
    config: StackConfig,
    bound: Vec<(Service, tokio::net::TcpListener)>,
) -> Seeded {
    let data_dir = config.data_dir.clone();
    let gateway_db = config.fhir_gateway.as_ref().unwrap().database_url.clone();
    let services = config.services(None).unwrap();
    let mut stack = Stack::with_listeners(config, services, bound)
        .await
        .unwrap();
    stack.start_storage().await.unwrap();
    assert!(DemoInfo::load(&data_dir).is_none(), "seeded already");
    let keys_dir = home.join("keys");
    let keys = DemoKeys::load(&keys_dir).unwrap();
    let info = demo::seed(stack.urls(), &keys, &keys_dir, &data_dir, Some(&gateway_db))
        .await
        .unwrap();
    let signed = info.connection(stack.urls(), &stack.config().practice);
    stack.set_app_connection(signed.clone());
    stack.start_readers().await.unwrap();
    let banner = info.banner(stack.urls(), &stack.config().practice);
    // The banner signs its own copy (BIP-340 signatures are randomised); the portal's is this.
    let connection = signed;
    Seeded {
        stack,
        keys,
        info,
        connection,
        banner,
    }
}

/// `ehr` run as the holder of `identity`, in the home directory `home`.
pub fn ehr_output(home: &Path, identity: &Identity, args: &[&str]) -> Output {
    Command::new(ehr_tests::cli::ehr_binary().unwrap())
        .arg("--home")
        .arg(home)
        .env(NSEC_ENV, identity.nsec().as_str())
        .env_remove("EHR_KEY_FILE")
        .env_remove("EHR_HOME")
        .args(["--nsec-env", NSEC_ENV])
        .args(args)
        .output()
        .unwrap()
}

/// [`ehr_output`] that must succeed: its JSON.
pub fn ehr(home: &Path, identity: &Identity, args: &[&str]) -> Value {
    let out = ehr_output(home, identity, args);
    assert!(
        out.status.success(),
        "ehr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many entries of a Bundle are of `resource_type`.
pub fn count(bundle: &Value, resource_type: &str) -> usize {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == resource_type)
        .count()
}

/// The doctor writes an encounter into `patient`'s chart with `ehr` (under `home`); then every
/// practice event the relay at `relay` holds, as the admin fetches it, and the doctor's newest.
pub async fn doctor_writes_then_every_event(
    home: &Path,
    keys: &DemoKeys,
    connection: &str,
    relay: &str,
    patient: &Identity,
) -> (
    Vec<ehr_client::nostr::prelude::Event>,
    ehr_client::nostr::prelude::Event,
) {
    let doctor_home = home.join("doctor");
    ehr(
        &doctor_home,
        &keys.doctor,
        &["practice", "connect", connection],
    );
    let note = home.join("encounter.json");
    std::fs::write(&note, ehr_client::demo::encounter("maria").to_json()).unwrap();
    ehr(
        &doctor_home,
        &keys.doctor,
        &[
            "record",
            "add",
            "--patient",
            &patient.npub(),
            note.to_str().unwrap(),
        ],
    );
    let events = every_event(relay, keys).await;
    let written = events
        .iter()
        .filter(|e| e.pubkey == keys.doctor.public_key())
        .max_by_key(|e| e.created_at)
        .unwrap()
        .clone();
    (events, written)
}

/// Every practice event the relay at `relay` holds, as the admin fetches it.
pub async fn every_event(relay: &str, keys: &DemoKeys) -> Vec<ehr_client::nostr::prelude::Event> {
    let admin = ehr_client::net::RelayClient::connect(
        relay,
        &keys.admin,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    let filter =
        ehr_client::nostr::prelude::Filter::new().kinds(ehr_client::kinds::practice_kinds());
    let events = admin.fetch_all(filter, 5000).await.unwrap();
    admin.disconnect().await;
    events
}

/// The FHIR gateway's answer (its status) to a facility with API key `key` asking for
/// `patient_id`'s `$everything`.
pub async fn everything(base: &str, key: &str, patient_id: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/Patient/{patient_id}/$everything"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Wait until the gateway answers `want` (it follows the relay live; no fixed sleep).
pub async fn until_status(base: &str, key: &str, patient_id: &str, want: impl Fn(u16) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = everything(base, key, patient_id).await;
        if want(status) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway still answers {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
