//! What the clinic app's browser tests share (their node halves share `tests/node/clinic-page.mjs`):
//! where screenshots go, and the check that a page talked to its own origin and the relay only.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

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
    let relay_info = relay.replacen("ws://", "http://", 1);
    for url in result["requests"].as_array().unwrap() {
        let from = origin(url.as_str().unwrap());
        let allowed = from == clinic || from == relay_info || blossom == Some(from.as_str());
        assert!(allowed, "{url}");
    }
    for url in result["websockets"].as_array().into_iter().flatten() {
        assert_eq!(origin(url.as_str().unwrap()), relay, "{url}");
    }
    assert_eq!(result["violations"], json!([]), "CSP violated: {result}");
    assert_eq!(result["errors"], json!([]), "console errors: {result}");
}
