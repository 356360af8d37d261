//! What the clinic app's browser tests share (their node halves share `tests/node/clinic-page.mjs`):
//! where screenshots go, the check that a page talked to its own origin and the relay only, and
//! readers of the FHIR Bundle `ehr chart show --format bundle` prints.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

/// Debian's Chromium, which the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The WebAssembly is built (`scripts/build-web`) and Chromium is installed: the browser tests
/// say so plainly instead of failing later.
pub fn assert_browser_ready() {
    let wasm = Path::new(ehr_web::DEFAULT_ASSETS_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(
        wasm.is_file(),
        "the WebAssembly is not built: run scripts/build-web (scripts/test does)"
    );
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
}

/// One nurse login through the clinic app's browser test (tests/node/clinic-browser.mjs): what
/// the page showed her (an `error`, or her `patients` and Maria's chart `rows`).
pub async fn nurse_logs_in(clinic: &str, nsec: &str) -> Value {
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "logins": [{ "name": "nurse", "nsec": nsec, "width": 1280, "search": "maria demo-alvarez" }],
    });
    tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-browser.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0)
}

/// The resources of `bundle` of `resource_type`.
pub fn of_type<'a>(bundle: &'a Value, resource_type: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == resource_type)
        .collect()
}

/// Whether `resource[field]` is coded `system`|`code`.
pub fn has_code(resource: &Value, field: &str, system: &str, code: &str) -> bool {
    resource[field]["coding"]
        .as_array()
        .is_some_and(|c| c.iter().any(|k| k["system"] == system && k["code"] == code))
}

/// The text of a note (a DocumentReference with its content inline, base64).
pub fn note_text(resource: &Value) -> String {
    let data = resource["content"][0]["attachment"]["data"]
        .as_str()
        .unwrap_or_default();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

/// Where screenshots stay after the test: `$CARGO_TARGET_DIR/clinic-screenshots/` (created).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("clinic-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `scheme://host[:port]` of a URL (a request logged as "METHOD url" too).
pub fn origin(logged: &str) -> String {
    let url = logged.rsplit(' ').next().unwrap_or(logged);
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{}://{host}", url.split("://").next().unwrap_or_default())
}

/// Every request of `result` (a node half's JSON) to the clinic app's origin, `blossom` (when
/// given) or the relay (its NIP-11 page size); every socket to the relay; no CSP violation and
/// no console error.
pub fn assert_same_origin(result: &Value, clinic: &str, relay: &str, blossom: Option<&str>) {
    assert_own_origins(result, clinic, relay, blossom.as_slice());
}

/// [`assert_same_origin`] where the page may also call `also` (origins, or URLs whose origin
/// counts: Blossom, the FHIR gateway the administration calls).
pub fn assert_own_origins(result: &Value, clinic: &str, relay: &str, also: &[&str]) {
    let relay_info = relay.replacen("ws://", "http://", 1);
    let also: Vec<String> = also.iter().map(|url| origin(url)).collect();
    for url in result["requests"].as_array().unwrap() {
        let from = origin(url.as_str().unwrap());
        let allowed = from == clinic || from == relay_info || also.contains(&from);
        assert!(allowed, "{url}");
    }
    for url in result["websockets"].as_array().into_iter().flatten() {
        assert_eq!(origin(url.as_str().unwrap()), relay, "{url}");
    }
    assert_eq!(result["violations"], json!([]), "CSP violated: {result}");
    assert_eq!(result["errors"], json!([]), "console errors: {result}");
}

/// Run the browser test's node half `script` (in `tests/node`) with `input` on stdin: the one
/// JSON line it prints.
pub async fn run_node(script: &'static str, input: Value) -> Value {
    tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines(script, "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0)
}

/// The text of a PDF, as `pdftotext -layout` reads it (poppler-utils, which `scripts/test`
/// installs).
pub fn pdf_text(pdf: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The cells of the roster table's row named `name` (as the node halves read the table).
pub fn roster_row(rows: &Value, name: &str) -> Option<Vec<String>> {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == name)
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
}

/// A clinic app server of its own on 127.0.0.1:0 offering `connection` (its relay's NIP-11 in
/// the CSP), locking after `lock_after_secs`: its URL.
pub async fn serve_clinic(connection: Option<&str>, lock_after_secs: Option<u64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let relays = connection
        .map(|c| {
            ehr_client::connection::Connection::parse(c)
                .unwrap()
                .relay
                .replacen("ws://", "http://", 1)
                .trim_end_matches('/')
                .to_owned()
        })
        .into_iter()
        .collect();
    let config = ehr_clinic::Config {
        listen: listener.local_addr().unwrap(),
        connection: connection.map(str::to_owned),
        assets: None,
        lock_after_secs,
        gateway: None,
        blossom: Vec::new(),
        relays,
    };
    tokio::spawn(ehr_clinic::serve(listener, config, std::future::pending()));
    url
}
