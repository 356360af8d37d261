#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app offline (headless Chromium, the demo practice). The relay's public address is
//! a proxy the test cuts ("the relay is down", as a clinic's network fails), and the nurse's
//! page also goes offline for a reload (the service worker serves the app):
//! - vitals and a note written with the relay unreachable are kept in the outbox; after the
//!   reload she logs in from what the device kept, and the chart and the outbox are there;
//! - when the network is back, the outbox is sent in order, each event once, every one
//!   accepted; the doctor's record written meanwhile appears in her chart;
//! - what the browser stores (IndexedDB, the Cache API) holds no plaintext of the chart;
//! - logging out wipes the cache;
//! - an event the relay refuses stays listed with its reason and is not sent again.

mod clinic_common;
mod demo_common;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_own_origins, note_text, run_node, screenshot_dir,
    serve_clinic,
};
use demo_common::{Seeded, ehr, every_event, prepare_edited, start_seeded_with};
use ehr_client::access::PracticeView;
use ehr_client::fhir::ResourceType;
use ehr_tests::proxy::CuttableProxy;
use nostr_ehr::Service;
use nostr_ehr::demo::DemoKeys;
use serde_json::{Value, json};

const NURSE_MARKER: &str = "Offline nursing note OFFLINEMARK7731";
const DOCTOR_MARKER: &str = "Doctor problem DOCTORMARK4410";

/// What the node half may ask of the test while it runs.
struct Control {
    proxy: CuttableProxy,
    home: std::path::PathBuf,
    doctor: ehr_client::keys::Identity,
    connection: String,
    maria: String,
}

async fn cut(State(control): State<Arc<Control>>) -> &'static str {
    control.proxy.cut();
    "cut"
}

async fn restore(State(control): State<Arc<Control>>) -> &'static str {
    control.proxy.restore();
    "restored"
}

/// The doctor, on her own machine (the `ehr` CLI, straight to the relay), records a problem in
/// Maria's chart.
async fn doctor_writes(State(control): State<Arc<Control>>) -> String {
    // The relay's one address is the proxy: opened for the doctor's write alone (the nurse's
    // browser is offline meanwhile), then cut again.
    control.proxy.restore();
    let writing = Arc::clone(&control);
    let written = tokio::task::spawn_blocking(move || {
        let control = writing;
        let home = control.home.join("doctor");
        ehr(
            &home,
            &control.doctor,
            &["practice", "connect", &control.connection],
        );
        let (_, mut problem) = ehr_client::demo::one_of_each_kind("maria")
            .into_iter()
            .map(|(kind, resource)| (kind, serde_json::to_value(resource).unwrap()))
            .find(|(_, r)| r["resourceType"] == "Condition")
            .unwrap();
        problem["code"] = json!({ "text": DOCTOR_MARKER });
        let file = control.home.join("problem.json");
        std::fs::write(&file, problem.to_string()).unwrap();
        let file = file.to_str().unwrap();
        ehr(
            &home,
            &control.doctor,
            &["record", "add", "--patient", &control.maria, file],
        );
        "written".to_owned()
    })
    .await
    .unwrap();
    control.proxy.cut();
    written
}

/// Serve the control routes on 127.0.0.1:0: its URL.
async fn control_server(control: Arc<Control>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/cut", post(cut))
        .route("/restore", post(restore))
        .route("/doctor-writes", post(doctor_writes))
        .with_state(control);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The nurse's notes with `marker` among every event of the relay, as the admin opens them.
async fn notes_with(relay: &str, keys: &DemoKeys, marker: &str) -> (usize, Vec<String>) {
    let events = every_event(relay, keys).await;
    let view = PracticeView::load(&keys.root.public_key(), &events, &keys.admin);
    let opened = view.open(&events, None);
    let notes = opened
        .records
        .iter()
        .filter(|r| r.resource.resource_type() == ResourceType::DocumentReference)
        .filter(|r| note_text(&serde_json::to_value(&r.resource).unwrap()).contains(marker))
        .count();
    (notes, events.iter().map(|e| e.id.to_hex()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nurse_works_offline_and_her_outbox_is_sent_once_when_the_relay_is_back() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    // The relay is reached through the proxy: its public address, as behind a clinic's
    // network (every client, the CLI's and the stack's own readers too).
    let proxy = CuttableProxy::bind().await.unwrap();
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    proxy.forward_to(relay_listener.local_addr().unwrap());
    let public_url = format!("public_url = \"{}\"\n", proxy.url());
    let config = prepare_edited(home.path(), |text| {
        text.replacen("[relay]\n", &format!("[relay]\n{public_url}"), 1)
    });
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded_with(home.path(), config, vec![(Service::Relay, relay_listener)]).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    assert_eq!(relay, proxy.url());
    let control = control_server(Arc::new(Control {
        proxy,
        home: home.path().to_path_buf(),
        doctor: keys.doctor.clone(),
        connection: connection.clone(),
        maria: keys.patients[0].npub(),
    }))
    .await;
    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.nurse.nsec().as_str(),
        "connection": connection,
        "control": control,
        "search": "maria demo-alvarez",
        "marker": NURSE_MARKER,
        "doctorMarker": DOCTOR_MARKER,
        "screenshots": {
            "outbox": shots.join("offline-outbox-sent-1280px.png"),
            "offline375": shots.join("offline-after-reload-375px.png"),
        },
    });
    let mut result = run_node("clinic-offline.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    // Chromium logs each connection that failed while the network was down; nothing else.
    let network_down = |e: &Value| {
        let e = e.as_str().unwrap_or_default();
        e.starts_with(&format!("WebSocket connection to '{relay}/' failed"))
            || e == "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"
    };
    result["errors"]
        .as_array_mut()
        .unwrap()
        .retain(|e| !network_down(e));
    assert_own_origins(&result, &clinic, &relay, &[]);
    assert_eq!(result["worker"], true, "{result}");
    assert!(
        result["onlineSummary"]
            .as_str()
            .unwrap()
            .starts_with("Online")
    );

    // Written offline: kept, and said so.
    assert!(
        result["vitalsSaid"]
            .as_str()
            .unwrap()
            .contains("waiting to send"),
        "{result}"
    );
    assert!(
        result["noteSaid"]
            .to_string()
            .contains("Kept on this device"),
        "{result}"
    );
    let offline = result["offlineSummary"].as_str().unwrap();
    assert!(
        offline.starts_with("Offline") && offline.contains("waiting to send"),
        "{offline}"
    );
    // After the reload with no network: the device's copy, her note and vitals, the outbox.
    assert!(
        result["offlineLogin"].as_str().unwrap().contains("Offline"),
        "{result}"
    );
    assert!(
        result["noteAfterReload"]
            .as_str()
            .unwrap()
            .contains(NURSE_MARKER),
        "{result}"
    );
    assert!(
        result["vitalsAfterReload"]
            .as_str()
            .unwrap()
            .contains("71.5"),
        "{result}"
    );
    let waiting = result["outboxWaiting"].as_array().unwrap();
    assert!(waiting.len() >= 2, "{result}");
    assert!(
        waiting
            .iter()
            .all(|row| row.as_str().unwrap().contains("waiting to send")),
        "{result}"
    );

    // Nothing of the chart in clear in the browser's storage.
    // IndexedDB: no record, name, value or even the shape of a record; the Cache API holds
    // the app's own files (its reference data has numbers of every kind), never a chart.
    let database = format!(
        "{} {}",
        result["stored"]["keys"], result["stored"]["values"]
    );
    for plain in [
        NURSE_MARKER,
        "OFFLINEMARK",
        "Maria",
        "Alvarez",
        "71.5",
        "resourceType",
    ] {
        assert!(!database.contains(plain), "{plain} in IndexedDB in clear");
    }
    // Not even the relay's events (themselves encrypted) in the clear: no key of hers, no
    // event's fields, nothing that parses as JSON (each value is one sealed entry).
    let maria = keys.patients[0].public_key().to_hex();
    for plain in [maria.as_str(), "\"sig\"", "\"pubkey\"", "patient-content"] {
        assert!(!database.contains(plain), "{plain} in IndexedDB in clear");
    }
    for value in result["stored"]["values"].as_array().unwrap() {
        let value = value.as_str().unwrap();
        assert!(
            serde_json::from_str::<Value>(value).is_err(),
            "a readable entry: {value:.80}"
        );
    }
    let files = result["stored"]["files"].to_string();
    for plain in [NURSE_MARKER, "OFFLINEMARK", "Maria", "Alvarez"] {
        assert!(!files.contains(plain), "{plain} in the Cache API");
    }
    assert!(!result["stored"]["values"].as_array().unwrap().is_empty());

    // Back online: every event sent and accepted, the doctor's record in her chart.
    assert_eq!(result["doctorWrote"], "written");
    // Her chart was brought up to date by NIP-77 reconciliation against what the device held.
    assert!(result["negOpens"].as_u64().unwrap() >= 1, "{result}");
    let sent = result["outboxSent"].as_array().unwrap();
    assert_eq!(sent.len(), waiting.len(), "{result}");
    assert!(
        sent.iter().all(|row| row["text"]
            .as_str()
            .unwrap()
            .contains("the relay accepted it")),
        "{result}"
    );
    assert!(
        result["status"].as_str().unwrap().contains("Back online"),
        "{result}"
    );
    // On the relay: each outbox event, and her note exactly once.
    let (notes, ids) = notes_with(&relay, &keys, NURSE_MARKER).await;
    assert_eq!(notes, 1);
    for row in sent {
        assert!(
            ids.contains(&row["id"].as_str().unwrap().to_owned()),
            "{row} not on the relay"
        );
    }
    // Logged out: the cache is gone; the logins' seals and the sent outbox may stay.
    let left: Vec<&Value> = result["afterLogout"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| !k.as_str().unwrap().starts_with("login:"))
        .collect();
    assert!(left.len() <= 1, "{result}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_relay_refuses_is_shown_with_its_reason_and_not_sent_again() {
    assert_browser_ready();
    let clinic = serve_clinic(None, None).await;
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "screenshot": screenshot_dir().join("outbox-refused-1280px.png"),
    });
    let result = run_node("clinic-outbox.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    // Written while unreachable: all wait; then sent in order, once each.
    assert_eq!(result["statuses"], json!(["pending", "pending", "pending"]));
    assert!(
        result["offline"]
            .as_str()
            .unwrap()
            .contains("3 waiting to send")
    );
    assert_eq!(result["published"], json!(["a", "b", "c"]));
    assert_eq!(
        result["publishedAgain"], 0,
        "a refused event is not retried"
    );
    let reason = "restricted: the author's role may not write this kind";
    assert_eq!(
        result["entries"],
        json!([
            ["a", "accepted", ""],
            ["b", "refused", reason],
            ["c", "accepted", ""]
        ])
    );
    // Shown, with the relay's reason, until she dismisses it.
    assert!(
        result["summary"].as_str().unwrap().contains("1 refused"),
        "{result}"
    );
    assert!(
        result["panel"]
            .as_str()
            .unwrap()
            .contains(&format!("refused: {reason}"))
    );
    assert!(
        !result["afterDismiss"].as_str().unwrap().contains("refused"),
        "{result}"
    );
}
