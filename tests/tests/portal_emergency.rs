#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Her emergency summary, SMART Health Links, the link viewer and the emergency opt-in, in
//! headless Chromium at 375 px (DESIGN.md §11 "Summary, SMART Health Links and emergency
//! access"). The demo practice runs in-process; a portal server beside it is configured with
//! the stack's FHIR gateway (the launcher gives the portal none), whose link API the portal
//! calls. Maria's summary shows exactly the active allergies, medications and problems of her
//! folded chart; she creates a passcode-protected snapshot link; the listing shows it; a
//! clinician opens it in the viewer (another browser context, no login) with a wrong, then the
//! right passcode and reads the same summary; she revokes it and the viewer gets "no longer
//! available"; she opts in to emergency access on the Sharing tab. Screenshots stay in
//! `$CARGO_TARGET_DIR/portal-screenshots/`.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node` (`scripts/test`).

mod demo_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use demo_common::{Seeded, ehr, start_seeded};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("portal-screenshots")
}

/// How the page names a concept: its text, else its first coding's display.
fn concept(value: &Value) -> String {
    value["text"]
        .as_str()
        .or_else(|| value["coding"][0]["display"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn reported(resource: &Value) -> bool {
    resource["meta"]["tag"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t["code"] == "patient-reported"))
}

/// The active allergies, medications and problems of the folded chart (the CLI's Bundle), by
/// the IPS rules (DESIGN.md §14), sorted: what the summary must show, no more, no less.
fn expected(chart: &Value) -> BTreeMap<&'static str, Vec<String>> {
    let status = |r: &Value| {
        r["clinicalStatus"]["coding"][0]["code"]
            .as_str()
            .map(str::to_owned)
    };
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for entry in chart["entry"].as_array().unwrap() {
        let r = &entry["resource"];
        if reported(r) {
            continue;
        }
        let (section, name) = match r["resourceType"].as_str().unwrap() {
            "AllergyIntolerance"
                if r["verificationStatus"]["coding"][0]["code"] != "refuted"
                    && r["verificationStatus"]["coding"][0]["code"] != "entered-in-error"
                    && !matches!(status(r).as_deref(), Some("inactive" | "resolved")) =>
            {
                ("Allergies and intolerances", concept(&r["code"]))
            }
            "MedicationRequest" if r["status"] == "active" => {
                ("Medications", concept(&r["medicationCodeableConcept"]))
            }
            "Condition"
                if !matches!(
                    status(r).as_deref(),
                    Some("inactive" | "remission" | "resolved")
                ) && r["verificationStatus"]["coding"][0]["code"] != "refuted"
                    && r["verificationStatus"]["coding"][0]["code"] != "entered-in-error" =>
            {
                ("Problems", concept(&r["code"]))
            }
            _ => continue,
        };
        out.entry(section).or_default().push(name);
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

fn shown(summary: &Value, section: &str) -> Vec<String> {
    let mut list: Vec<String> = summary[section]
        .as_array()
        .map(|l| l.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    list.sort();
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout)]
async fn her_summary_travels_by_a_smart_health_link_and_she_opts_in_to_emergency_access() {
    assert!(
        Path::new(ehr_portal::assets::DEFAULT_DIR)
            .join("ehr_web_wasm_bg.wasm")
            .is_file(),
        "the portal's WebAssembly is not built: run scripts/build-web (scripts/test does)"
    );
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let maria = &keys.patients[0];
    let urls = stack.urls().clone();
    let fhir = urls.fhir.clone().expect("the demo runs the FHIR gateway");

    // What her chart folds to, as the CLI reads it with her key.
    let maria_home = home.path().join("maria");
    ehr(&maria_home, maria, &["practice", "connect", &connection]);
    let chart = ehr(
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
    let expected = expected(&chart);
    assert!(
        expected.values().map(Vec::len).sum::<usize>() >= 3,
        "the demo patient has allergies, medications and problems: {expected:?}"
    );

    // A portal that knows the gateway (the launcher's portal takes none).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let portal = format!("http://{}", listener.local_addr().unwrap());
    let relay_http = urls.relay.replacen("ws://", "http://", 1);
    let config = ehr_portal::Config {
        listen: listener.local_addr().unwrap(),
        connection: Some(connection.clone()),
        assets: None,
        lock_after_secs: None,
        gateway: Some(fhir.clone()),
        blossom: vec![urls.blossom.clone()],
        relays: vec![relay_http.trim_end_matches('/').to_owned()],
    };
    tokio::spawn(ehr_portal::serve(listener, config, std::future::pending()));

    // The viewer's page has its own policy: any https manifest URL and the gateway.
    let viewer = reqwest::get(format!("{portal}/viewer")).await.unwrap();
    assert_eq!(viewer.status(), 200);
    let csp = viewer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let gateway_origin = ehr_web::gateway_origin(&fhir).unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' https: {gateway_origin}"))
            || csp.contains("connect-src 'self' https:"),
        "{csp}"
    );
    assert!(csp.contains(&gateway_origin), "{csp}");
    assert!(!csp.contains("ws:"), "{csp}");

    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let input = json!({
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "nsec": maria.nsec().as_str(),
        "shots": shots,
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("portal-emergency.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    let out = &results[0];
    let mut brief = out.clone();
    brief["portal"]["requests"] = json!(out["portal"]["requests"].as_array().map_or(0, Vec::len));
    println!("{}", serde_json::to_string_pretty(&brief).unwrap());
    assert_eq!(out["failure"], Value::Null, "{out}");
    assert_eq!(out["loginError"], "", "{out}");

    // Exactly her active allergies, medications and problems.
    for section in ["Allergies and intolerances", "Medications", "Problems"] {
        let want = expected.get(section).cloned().unwrap_or_default();
        assert_eq!(shown(&out["summary"], section), want, "{section}: {out}");
    }

    // The link: created, listed, opened with the right passcode only, then revoked.
    assert_eq!(out["linksError"], "", "{out}");
    assert_eq!(out["createError"], "", "{out}");
    let link = out["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{portal}/viewer#shlink:/")),
        "{link}"
    );
    assert!(
        out["listing"][0]
            .as_str()
            .unwrap()
            .contains("Emergency health summary"),
        "{out}"
    );
    let card = out["card"].as_str().unwrap();
    assert!(
        card.contains("Passcode required") && !card.contains("2468"),
        "{card}"
    );
    assert!(
        out["wrongPasscode"]
            .as_str()
            .unwrap()
            .starts_with("Wrong passcode. 2 tries left"),
        "{out}"
    );
    assert_eq!(out["rightPasscode"], "", "{out}");
    for section in ["Allergies and intolerances", "Medications", "Problems"] {
        assert_eq!(
            shown(&out["viewerSummary"], section),
            shown(&out["summary"], section),
            "{section}: {out}"
        );
    }
    assert!(
        out["revoked"][0].as_str().unwrap().contains("Revoked"),
        "{out}"
    );
    assert!(
        out["afterRevoke"]
            .as_str()
            .unwrap()
            .contains("no longer available"),
        "{out}"
    );
    // The key never left the viewer: no request carried it.
    let key = ehr_client::shl::Payload::parse(link).unwrap().key;
    for request in out["viewer"]["requests"].as_array().unwrap() {
        assert!(!request.to_string().contains(&key), "{request}");
    }

    // Emergency access: withdrawn first when the demo had her opted in, then given.
    if out["emergencyBefore"]
        .as_str()
        .unwrap()
        .starts_with("You allow")
    {
        assert!(
            out["emergencyWithdrawn"]
                .as_str()
                .unwrap()
                .starts_with("You do not allow"),
            "{out}"
        );
    }
    assert_eq!(out["emergencyError"], "", "{out}");
    assert!(
        out["emergencyAfter"]
            .as_str()
            .unwrap()
            .starts_with("You allow emergency access"),
        "{out}"
    );

    for page in ["portal", "viewer"] {
        assert_eq!(out[page]["violations"], json!([]), "CSP violated: {out}");
        // The viewer's refused passcode and revoked link are HTTP errors the browser logs.
        let errors: Vec<&Value> = out[page]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                !e.as_str()
                    .unwrap()
                    .contains("Failed to load resource: the server responded with a status of 40")
            })
            .collect();
        assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
    }
    for name in [
        "portal-summary.png",
        "portal-link.png",
        "viewer-summary.png",
        "viewer-revoked.png",
        "portal-emergency.png",
    ] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.len() > 5_000, "{name}: {} bytes", png.len());
    }
    drop(stack);
}
