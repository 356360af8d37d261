//! The deployment files in the tree are valid: the systemd unit passes `systemd-analyze
//! verify` with no warning (where systemd is installed), and the README's reverse-proxy
//! snippet forwards WebSocket upgrades to the relay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn the_systemd_unit_verifies_without_warnings() {
    let unit = std::fs::read_to_string(repository().join("scripts/nostr-ehr.service")).unwrap();
    assert!(
        unit.contains(
            "ExecStart=/usr/local/bin/nostr-ehr up --config /etc/nostr-ehr/nostr-ehr.toml"
        )
    );
    assert!(unit.contains("KillSignal=SIGTERM"));
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed here: the unit was not verified");
        return;
    }
    // verify checks that ExecStart exists: point it at a binary that does.
    let me = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nostr-ehr.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/nostr-ehr", me.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("nostr-ehr.service"),
        "systemd-analyze warned about the unit: {stderr}"
    );

    // The check bites: a misspelt key is reported.
    std::fs::write(&path, unit.replace("NoNewPrivileges", "NoNewPrivilege")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoNewPrivilege"));
}

#[test]
fn the_readme_proxy_snippet_upgrades_websockets_for_the_relay() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let start = readme
        .find("```nginx")
        .expect("the README has an nginx snippet");
    let snippet = &readme[start..];
    let snippet = &snippet[..snippet[8..].find("```").unwrap() + 8];
    for needle in [
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection \"upgrade\";",
        "proxy_pass http://127.0.0.1:7447;",
        "proxy_pass http://127.0.0.1:7448;",
        "proxy_pass http://127.0.0.1:8090;",
        "proxy_pass http://127.0.0.1:8080;",
        "client_max_body_size",
    ] {
        assert!(snippet.contains(needle), "the nginx snippet lacks {needle}");
    }
}
