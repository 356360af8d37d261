#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Reading the chart in the patient portal (headless Chromium, 375 px wide): every tab shows
//! the records `ehr chart show --format bundle` gives the same patient, the tabs follow the
//! WAI-ARIA tabs pattern by keyboard, the page body never scrolls sideways, the immunization
//! record prints alone, a patient-reported entry is marked "Reported by you", and the CSP is
//! never violated. Screenshots (Summary, Medications, Vitals) are left under
//! `$CARGO_TARGET_DIR/portal-screenshots/`.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node`; `scripts/test`
//! does all three.

mod demo_common;

use std::path::{Path, PathBuf};

use std::time::Duration;

use demo_common::{Seeded, count, ehr, start_seeded};
use ehr_client::connection::Connection;
use ehr_client::keys::Identity;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::net::{Followed, RelayClient};
use nostr::prelude::{Filter, Kind};
use serde_json::{Value, json};

/// The outside facility of the demo (its FHIR client id).
fn ehr_tests_facility() -> &'static str {
    nostr_ehr::demo::DEMO_FACILITY
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{}://{host}", url.split("://").next().unwrap_or_default())
}

fn resources<'a>(bundle: &'a Value, resource_type: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == resource_type)
        .collect()
}

fn is_vital(observation: &Value) -> bool {
    observation["category"]
        .to_string()
        .contains("\"vital-signs\"")
}

trait Npub {
    fn practice_npub(&self) -> String;
}

impl Npub for Connection {
    fn practice_npub(&self) -> String {
        ehr_client::keys::to_npub(&self.practice)
    }
}

fn rows(tab: &Value) -> Vec<Vec<String>> {
    serde_json::from_value(tab["rows"].clone()).unwrap()
}

/// Where screenshots stay after the test: `$CARGO_TARGET_DIR/portal-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("portal-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout)]
async fn every_tab_of_her_chart_shows_what_the_cli_folds_at_375_px() {
    let wasm = Path::new(ehr_portal::assets::DEFAULT_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(wasm.is_file(), "run scripts/build-web (scripts/test does)");
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        info,
        ..
    } = start_seeded(home.path()).await;
    let portal = stack.urls().portal.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let maria = &keys.patients[0];

    let maria_home = home.path().join("maria");
    ehr(&maria_home, maria, &["practice", "connect", &connection]);
    let cli = ehr(
        &maria_home,
        maria,
        &[
            "chart",
            "show",
            "--patient",
            &maria.npub(),
            "--format",
            "bundle",
        ],
    );

    // The document the CLI downloads and decrypts, to compare with the browser's.
    let documents = resources(&cli, "DocumentReference");
    let newest = documents
        .iter()
        .max_by_key(|d| d["date"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    let cli_file = home.path().join("cli-document");
    ehr(
        &maria_home,
        maria,
        &[
            "doc",
            "get",
            "--patient",
            &maria.npub(),
            "--id",
            newest["id"].as_str().unwrap(),
            "--out",
            cli_file.to_str().unwrap(),
        ],
    );
    let browser_file = home.path().join("browser-document");
    let blossom = stack.urls().blossom.clone();

    // An outside facility reads the consenting patient's chart through the FHIR gateway; the
    // gateway's audit event about it reaches the relay (followed as her, no sleeping).
    let james = &keys.patients[1];
    let fhir = stack.urls().fhir.clone().unwrap();
    let response = reqwest::Client::new()
        .get(format!(
            "{fhir}/Patient/{}/$everything",
            info.consenting_patient_fhir_id
        ))
        .bearer_auth(&info.fhir_api_key)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let follower = RelayClient::connect(&relay, james, Duration::from_secs(10))
        .await
        .unwrap();
    let mut following = follower
        .follow(vec![
            Filter::new()
                .kind(Kind::Custom(AUDIT_EVENT))
                .pubkey(james.public_key()),
        ])
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Followed::Event(_) = following.next().await.unwrap() {
                break;
            }
        }
    })
    .await
    .expect("the gateway's audit event reached the relay");
    drop(following);

    // What the CLI shows Maria, guardian of the two children, of each ward's chart.
    let children: Vec<(String, Value)> = keys.patients[8..]
        .iter()
        .map(|child| {
            let npub = child.npub();
            let bundle = ehr(
                &maria_home,
                maria,
                &["chart", "show", "--patient", &npub, "--format", "bundle"],
            );
            (child.public_key().to_hex(), bundle)
        })
        .collect();

    // Phishing strings: the demo's signed string with another relay, and one naming the demo
    // practice but signed by another key.
    let signed = Connection::parse_signed(&connection).unwrap();
    assert!(signed.blossom.is_some() && signed.name.is_some());
    let tampered_relay = connection.replacen("relay=ws://127.0.0.1:", "relay=ws://127.0.0.2:", 1);
    assert_ne!(tampered_relay, connection);
    let mallory = Identity::generate();
    let other_key = Connection::new(mallory.public_key(), "ws://127.0.0.2:7447")
        .unwrap()
        .sign(&mallory)
        .unwrap()
        .to_string()
        .replace(&mallory.npub(), &signed.practice_npub());

    // `ehr practice connection` signs with the root key (and refuses any other key).
    let root_home = home.path().join("root");
    ehr(
        &root_home,
        &keys.root,
        &["practice", "connect", &connection],
    );
    let blossom_url = stack.urls().blossom.clone();
    let made = ehr(
        &root_home,
        &keys.root,
        &[
            "practice",
            "connection",
            "--blossom",
            &blossom_url,
            "--name",
            "Demo clinic",
        ],
    );
    let made = Connection::parse_signed(made["connection_string"].as_str().unwrap()).unwrap();
    assert_eq!(made.name.as_deref(), Some("Demo clinic"));
    assert_eq!(made.blossom.as_deref(), Some(blossom_url.as_str()));
    assert_eq!(made.relay, signed.relay);
    let refused = demo_common::ehr_output(&root_home, maria, &["practice", "connection"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only the practice root key"));

    // A second practice (another demo stack, another root key) and one of its patients.
    let home2 = tempfile::tempdir().unwrap();
    let Seeded {
        stack: mut stack2,
        keys: keys2,
        connection: connection2,
        ..
    } = start_seeded(home2.path()).await;

    let shots = home.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let input = json!({
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "nsec": maria.nsec().as_str(),
        "screenshots": shots,
        "download": browser_file,
        "accessLog": { "nsec": james.nsec().as_str() },
        "phishing": [
            { "name": "tampered relay", "connection": tampered_relay },
            { "name": "signed by another key", "connection": other_key },
            { "name": "unsigned", "connection": format!("nostr-ehr:{}?relay={relay}", signed.practice_npub()) },
        ],
        "practices": [
            { "connection": connection, "nsec": maria.nsec().as_str() },
            { "connection": connection2, "nsec": keys2.patients[2].nsec().as_str() },
        ],
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("portal-chart.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    stack.stop().await;
    stack2.stop().await;
    let page = &results[0];
    assert_eq!(page["error"], "", "{page}");
    let tabs = &page["tabs"];

    // The tab list: every tab, each controlling a labelled tabpanel; only the first selected
    // and in the Tab order.
    let tablist = page["tablist"].as_array().unwrap();
    let labels: Vec<&str> = tablist
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Summary",
            "Timeline",
            "Visits",
            "Vitals",
            "Problems",
            "Medications",
            "Allergies",
            "Immunizations",
            "Orders & results",
            "Documents",
            "Access log",
            // Registered by summary.js (her IPS and SMART Health Links).
            "Emergency summary",
            "Appointments",
            // Registered by records.js and share.js (what she writes and takes with her).
            "Things I take",
            "Messages",
            "Sharing",
            "Take my records",
            "New practice",
            "All records"
        ]
    );
    for (i, tab) in tablist.iter().enumerate() {
        assert_eq!(tab["selected"], if i == 0 { "true" } else { "false" });
        assert_eq!(tab["tabIndex"], if i == 0 { 0 } else { -1 });
        assert_eq!(tab["panelRole"], "tabpanel");
        assert_eq!(tab["panelLabelledBy"], tab["id"]);
    }

    // Keyboard: Tab reaches the selected tab; arrows, Home and End move selection and focus,
    // wrapping at the ends; Tab then enters the panel.
    assert_eq!(page["focusedAfterLogin"], "chart-heading");
    let moves: Vec<(&str, &str)> = page["keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["focused"].as_str().unwrap(),
                m["selected"].as_str().unwrap(),
            )
        })
        .collect();
    let expected = [
        "tab-summary",
        "tab-timeline",
        "tab-visits",
        "tab-timeline",
        "tab-all",
        "tab-summary",
        "tab-all",
        "tab-summary",
    ];
    for ((focused, selected), want) in moves.iter().zip(expected) {
        assert_eq!((*focused, *selected), (want, want), "{moves:?}");
    }
    for m in page["keyboard"].as_array().unwrap() {
        assert_eq!(m["shown"].as_array().unwrap().len(), 1, "one panel shown");
        assert_eq!(
            m["shown"][0].as_str().unwrap().replace("panel-", "tab-"),
            m["selected"].as_str().unwrap()
        );
    }
    assert_eq!(page["tabIntoPanel"], "panel-summary");

    // Summary: who she is and what is current.
    let summary = &tabs["summary"];
    let facts = summary["facts"].to_string();
    assert!(
        facts.contains("Maria Demo-Alvarez (synthetic demo patient)")
            && facts.contains("1986-04-12"),
        "{facts}"
    );
    let sections = summary["sections"].to_string();
    assert!(sections.contains("Hypertension"), "{sections}");
    assert!(
        sections.contains("lisinopril 10 MG Oral Tablet"),
        "{sections}"
    );
    let current_meds = summary["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Current medications")
        .unwrap();
    assert!(
        !current_meds.to_string().contains("amoxicillin"),
        "a stopped course is not current: {current_meds}"
    );

    // Visits: one per Encounter, newest first, with the vitals measured there.
    let visits = tabs["visits"]["visits"].as_array().unwrap();
    assert_eq!(visits.len(), count(&cli, "Encounter"));
    assert!(visits.len() >= 5);
    assert!(visits[0]["title"].as_str().unwrap().starts_with("2026-"));
    assert!(
        visits.iter().all(|v| v["title"]
            .as_str()
            .unwrap()
            .ends_with("Hypertension follow-up")
            && v["measured"].as_u64().unwrap() >= 3),
        "{visits:?}"
    );

    // Vitals: a row per vital sign, and a line chart per series with a point per visit.
    let observations = resources(&cli, "Observation");
    let vitals = observations.iter().filter(|o| is_vital(o)).count();
    assert_eq!(rows(&tabs["vitals"]).len(), vitals);
    assert!(vitals > 0);
    let charts = tabs["vitals"]["charts"].as_array().unwrap();
    let series: Vec<&str> = charts
        .iter()
        .map(|c| c["series"].as_str().unwrap())
        .collect();
    assert_eq!(series, ["weight", "blood-pressure", "heart-rate"]);
    for chart in charts {
        assert_eq!(chart["role"], "img");
        assert!(chart["title"].as_str().unwrap().contains(" over time: "));
        for points in chart["lines"].as_array().unwrap() {
            assert_eq!(points.as_u64().unwrap() as usize, visits.len(), "{chart}");
        }
        // Fits the phone's width.
        assert!(chart["width"].as_f64().unwrap() <= 375.0, "{chart}");
    }
    assert_eq!(
        charts[1]["lines"].as_array().unwrap().len(),
        2,
        "systolic and diastolic"
    );

    // Problems, medications (current apart from stopped), allergies, immunizations.
    assert_eq!(rows(&tabs["problems"]).len(), count(&cli, "Condition"));
    let meds = &tabs["medications"];
    let (current, stopped) = (
        meds["current"].as_array().unwrap(),
        meds["stopped"].as_array().unwrap(),
    );
    assert_eq!(
        current.len() + stopped.len(),
        count(&cli, "MedicationRequest")
    );
    assert!(
        current
            .iter()
            .any(|r| r[0] == "lisinopril 10 MG Oral Tablet")
    );
    assert!(
        stopped
            .iter()
            .any(|r| r[0] == "amoxicillin 500 MG Oral Capsule" && r[3] == "stopped"),
        "{meds}"
    );
    assert_eq!(
        rows(&tabs["allergies"]).len(),
        count(&cli, "AllergyIntolerance")
    );
    assert!(rows(&tabs["allergies"])[0][0].contains("penicillin"));
    assert_eq!(
        rows(&tabs["immunizations"]).len(),
        count(&cli, "Immunization")
    );
    // The immunization record prints alone: no tabs, no title, no buttons.
    let print = &tabs["immunizations"]["print"];
    assert_eq!(
        print,
        &json!({"record": true, "recordRows": count(&cli, "Immunization"), "tabs": false,
                "title": false, "button": false, "logout": false})
    );
    assert_eq!(tabs["immunizations"]["printButton"], true);

    // Orders and results: each result under the order it fulfils.
    let orders = tabs["orders"]["orders"].as_array().unwrap();
    assert_eq!(orders.len(), count(&cli, "ServiceRequest"));
    let reports: usize = orders
        .iter()
        .map(|o| o["reports"].as_array().unwrap().len())
        .sum();
    assert_eq!(reports, count(&cli, "DiagnosticReport"));
    assert!(
        orders[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Hemoglobin A1c")
    );
    assert!(
        orders[0]["reports"][0]
            .as_str()
            .unwrap()
            .contains("Hemoglobin A1c/Hemoglobin.total in Blood: "),
        "{orders:?}"
    );

    // Documents, and everything in one table.
    assert_eq!(
        rows(&tabs["documents"]).len(),
        count(&cli, "DocumentReference")
    );
    assert!(!rows(&tabs["documents"]).is_empty());
    // Downloaded from Blossom with her BUD-11 token and decrypted in the browser: the very
    // bytes the CLI decrypts.
    let downloaded = std::fs::read(&browser_file).unwrap();
    assert_eq!(downloaded, std::fs::read(&cli_file).unwrap());
    assert!(downloaded.starts_with(b"%PDF"), "not the PDF");
    let status = tabs["documents"]["downloadStatus"].as_str().unwrap();
    assert!(status.contains("was decrypted in this browser"), "{status}");
    assert!(
        tabs["documents"]["downloadName"]
            .as_str()
            .unwrap()
            .ends_with(".pdf")
    );
    assert_eq!(
        rows(&tabs["all"]).len(),
        cli["entry"].as_array().unwrap().len()
    );

    // Nothing the practice wrote is marked as hers; her own entry is, in its tab and in the
    // table of everything.
    // Her own message (the demo seeds one) is hers in the table of everything.
    let hers = cli["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resource"]["meta"]["tag"]
                .to_string()
                .contains("patient-reported")
        })
        .count();
    assert!(hers >= 1, "{cli}");
    for (id, tab) in tabs.as_object().unwrap() {
        let expected = if id == "all" { hers } else { 0 };
        assert_eq!(tab["reported"], expected, "{id}");
        assert_eq!(
            page["overflow"][id], true,
            "the page scrolls sideways on {id}"
        );
    }
    assert_eq!(
        page["reportedMarker"],
        json!({"rows": ["Vitamin D 1000 IU Reported by you", "lisinopril 10 MG Oral Tablet"],
               "markers": [1, 0], "allMarkers": 1})
    );

    // Maria's chart was read by nobody outside; James's by the demo facility, and he sees it.
    assert!(
        tabs["access"]["text"]
            .as_str()
            .unwrap()
            .contains("Nobody outside your practice has read your records."),
        "{}",
        tabs["access"]["text"]
    );
    let log = &page["accessLog"];
    assert_eq!(log["error"], "", "{log}");
    let entries = log["rows"].as_array().unwrap();
    assert!(!entries.is_empty(), "{log}");
    assert!(
        entries.iter().any(|r| r[0] == ehr_tests_facility()
            && r[2].as_str().unwrap().starts_with("retrieved records")
            && r[3] == "answered"),
        "{log}"
    );

    // The guardian: her own chart, then each child's (as the CLI folds it for her), then hers
    // again; the access log of a ward's chart is not hers to show.
    let options = page["wardOptions"].as_array().unwrap();
    assert_eq!(options.len(), 3, "herself and two children: {options:?}");
    assert_eq!(options[0]["text"], "My own chart");
    let wards = page["wards"].as_array().unwrap();
    assert_eq!(wards.len(), 2);
    // Each ward is one of her children, each child once (the portal orders them by name).
    let mut shown: Vec<&str> = wards.iter().map(|w| w["ward"].as_str().unwrap()).collect();
    shown.sort_unstable();
    let mut expected: Vec<&str> = children.iter().map(|(hex, _)| hex.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(shown, expected);
    for ward in wards {
        let (_, bundle) = children
            .iter()
            .find(|(hex, _)| ward["ward"] == hex.as_str())
            .unwrap();
        let name = ward["name"].as_str().unwrap();
        assert!(
            name.contains("Demo-Alvarez") && !name.contains("Maria"),
            "{name}"
        );
        assert!(ward["heading"].as_str().unwrap().starts_with(name));
        assert_eq!(ward["focused"], "chart-heading");
        assert_eq!(
            ward["rows"].as_array().unwrap().len(),
            bundle["entry"].as_array().unwrap().len(),
            "{ward}"
        );
        assert!(count(bundle, "Encounter") >= 3);
        assert!(ward["summary"].as_str().unwrap().contains(name));
        assert!(!ward["summary"].as_str().unwrap().contains("Maria"));
        assert!(
            ward["access"]
                .as_str()
                .unwrap()
                .contains("shown to the patient only")
        );
    }
    assert_ne!(wards[0]["name"], wards[1]["name"]);
    assert_eq!(
        page["backHome"]["rows"].as_u64().unwrap() as usize,
        cli["entry"].as_array().unwrap().len()
    );
    assert!(
        page["backHome"]["summary"]
            .as_str()
            .unwrap()
            .contains("Maria Demo-Alvarez")
    );
    // James is nobody's guardian: no switch, none of the children's records.
    assert_eq!(log["switchVisible"], false);
    assert_eq!(log["wardOptions"], 0);
    let his = log["allText"].as_str().unwrap();
    assert!(his.contains("James Demo-Okafor") && !his.contains("Demo-Alvarez"));

    // Phishing strings are refused with a warning, before any socket opens, and not remembered.
    let attempts = page["phishing"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for attempt in attempts {
        let error = attempt["error"].as_str().unwrap();
        assert!(error.starts_with("Warning: "), "{attempt}");
        assert_eq!(attempt["warning"], "alert", "{attempt}");
        assert_eq!(attempt["chartShown"], false);
        assert_eq!(attempt["sockets"], json!([]), "{attempt}");
        assert_eq!(attempt["remembered"], Value::Null);
    }
    assert!(attempts[0]["error"].as_str().unwrap().contains("phishing"));
    assert!(attempts[1]["error"].as_str().unwrap().contains("phishing"));
    assert!(
        attempts[2]["error"]
            .as_str()
            .unwrap()
            .contains("not signed")
    );

    // Two practices: both opened, both remembered and offered; switching back works.
    let practices = &page["practices"];
    let logins = practices["logins"].as_array().unwrap();
    assert_eq!(logins[0]["error"], "", "{practices}");
    assert_eq!(logins[1]["error"], "", "{practices}");
    assert!(
        logins[0]["patient"]
            .as_str()
            .unwrap()
            .contains("Maria Demo-Alvarez")
    );
    assert!(
        logins[1]["patient"]
            .as_str()
            .unwrap()
            .contains("Aiko Demo-Tanaka")
    );
    let options = practices["options"].as_array().unwrap();
    assert_eq!(options.len(), 3, "two practices and 'another': {options:?}");
    assert_eq!(options[0]["value"], connection2.as_str(), "newest first");
    assert_eq!(options[1]["value"], connection.as_str());
    assert!(
        options[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Demo practice (synthetic)")
    );
    assert_eq!(practices["chosen"], connection.as_str());
    assert!(
        practices["again"]
            .as_str()
            .unwrap()
            .contains("Maria Demo-Alvarez")
    );
    let stored = practices["stored"].as_str().unwrap();
    assert!(
        !stored.contains("nsec") && !stored.contains("Maria"),
        "public data only: {stored}"
    );

    // Logging out leaves no record on the page.
    assert_eq!(
        page["afterLogout"],
        json!({"tabs": 0, "panels": 1, "rows": 0, "visible": false})
    );
    // Files from the portal, the document from the practice's Blossom, the page size from the
    // relay's NIP-11 document, nothing else.
    let relay_info = relay.replacen("ws://", "http://", 1);
    let (mut blossom_requests, mut info_requests) = (0, 0);
    for url in page["requests"].as_array().unwrap() {
        let from = origin(url.as_str().unwrap());
        if from == blossom {
            blossom_requests += 1;
        } else if from == relay_info {
            info_requests += 1;
        } else {
            assert_eq!(from, portal, "{url}");
        }
    }
    assert!(blossom_requests >= 1);
    assert_eq!(info_requests, 1, "NIP-11 read once per relay");
    for url in page["websockets"].as_array().unwrap() {
        assert_eq!(origin(url.as_str().unwrap()), relay, "{url}");
    }
    assert_eq!(page["violations"], json!([]), "CSP violated: {page}");
    assert_eq!(page["errors"], json!([]), "console errors: {page}");

    // Screenshots at 375 px, kept where a person can look at them.
    let keep = screenshot_dir();
    std::fs::create_dir_all(&keep).unwrap();
    for id in ["summary", "medications", "vitals"] {
        let path = PathBuf::from(tabs[id]["screenshot"].as_str().unwrap());
        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.len() > 10_000, "{id}: {} bytes", png.len());
        let kept = keep.join(path.file_name().unwrap());
        std::fs::copy(&path, &kept).unwrap();
        println!("screenshot: {}", kept.display());
    }
}
