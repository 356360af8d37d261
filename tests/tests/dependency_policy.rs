#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The dependency policy of DESIGN.md §8, checked against the resolved graph (`cargo metadata`):
//!
//! - the protocol's `nostr` is exactly 0.45.6, and `ehr-client` depends on it directly;
//! - the relay transport is `nostr-sdk` 0.44.x, which brings a second `nostr` 0.44.x: only the
//!   rust-nostr transport crates of that family may depend on it;
//! - `nostr-relay-builder` (test relays) is a dev-dependency only, and no persistent
//!   `nostr-*` database backend is in the graph;
//! - crates.io is the only source.

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

/// The rust-nostr crates that may depend on `nostr` 0.44.x.
const NOSTR_0_44_USERS: &[&str] = &[
    "nostr-sdk",
    "nostr-relay-pool",
    "nostr-database",
    "nostr-gossip",
    "nostr-relay-builder",
];

/// Database backends the in-memory relay client must not pull in.
const BANNED: &[&str] = &[
    "nostr-lmdb",
    "nostr-ndb",
    "nostr-sqlite",
    "nostr-indexeddb",
    "nostrdb",
];

struct Package {
    name: String,
    version: String,
    workspace: bool,
}

/// `(from, to, dependency kinds)` for every edge of the resolve graph; kind `"normal"` stands
/// for cargo's `null`.
type Edge<'a> = (&'a Package, &'a Package, Vec<String>);

#[test]
fn resolved_dependencies_follow_the_policy() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();

    let mut packages: HashMap<&str, Package> = HashMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        let id = package["id"].as_str().unwrap();
        match package["source"].as_str() {
            None => assert!(members.contains(&id), "{id} is a path dependency"),
            Some(source) => assert_eq!(
                source, "registry+https://github.com/rust-lang/crates.io-index",
                "{} comes from outside crates.io",
                package["name"]
            ),
        }
        packages.insert(
            id,
            Package {
                name: package["name"].as_str().unwrap().to_owned(),
                version: package["version"].as_str().unwrap().to_owned(),
                workspace: members.contains(&id),
            },
        );
    }
    let versions = |name: &str| -> Vec<&str> {
        let mut versions: Vec<&str> = packages
            .values()
            .filter(|p| p.name == name)
            .map(|p| p.version.as_str())
            .collect();
        versions.sort_unstable();
        versions
    };

    let mut edges: Vec<Edge<'_>> = Vec::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let from = &packages[node["id"].as_str().unwrap()];
        for dep in node["deps"].as_array().unwrap() {
            let to = &packages[dep["pkg"].as_str().unwrap()];
            let kinds = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kind"].as_str().unwrap_or("normal").to_owned())
                .collect();
            edges.push((from, to, kinds));
        }
    }

    // One protocol `nostr`, 0.45.6, used directly by the clinical core.
    let nostr = versions("nostr");
    assert!(
        nostr.contains(&"0.45.6"),
        "nostr 0.45.6 is missing: {nostr:?}"
    );
    assert!(
        nostr
            .iter()
            .all(|v| *v == "0.45.6" || v.starts_with("0.44.")),
        "only nostr 0.45.6 and the transport's 0.44.x are allowed: {nostr:?}"
    );
    assert!(
        edges
            .iter()
            .any(|(from, to, kinds)| from.name == "ehr-client"
                && to.name == "nostr"
                && to.version == "0.45.6"
                && kinds.iter().any(|k| k == "normal")),
        "ehr-client must depend on nostr 0.45.6 directly"
    );

    // The transport family is 0.44.x, and only it uses nostr 0.44.x.
    for name in NOSTR_0_44_USERS {
        for version in versions(name) {
            assert!(
                version.starts_with("0.44."),
                "{name} {version}: expected 0.44.x"
            );
        }
    }
    for (from, to, _) in &edges {
        if to.name == "nostr" && to.version != "0.45.6" {
            assert!(
                NOSTR_0_44_USERS.contains(&from.name.as_str()),
                "{} depends on nostr {}; only the nostr-sdk 0.44 family may",
                from.name,
                to.version
            );
        }
    }

    // Test relays are for tests: every edge to nostr-relay-builder is a workspace dev-dependency.
    for (from, to, kinds) in &edges {
        if to.name == "nostr-relay-builder" {
            assert!(
                from.workspace && kinds.iter().all(|k| k == "dev"),
                "{} depends on nostr-relay-builder as {kinds:?}; only dev-dependencies may",
                from.name
            );
        }
    }

    for banned in BANNED {
        assert!(
            versions(banned).is_empty(),
            "{banned} must not be in the graph"
        );
    }
}
