#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The dependency policy of DESIGN.md §8, checked against the resolved graph (`cargo metadata`):
//! one rust-nostr family (`nostr` 0.45.6, no `nostr-sdk`, whose 0.45.x releases are yanked), no
//! unmaintained relay builder, and crates.io as the only source.

use std::process::Command;

use serde_json::Value;

#[test]
fn resolved_dependencies_follow_the_policy() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();

    let versions = |name: &str| -> Vec<String> {
        packages
            .iter()
            .filter(|p| p["name"] == name)
            .map(|p| p["version"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        versions("nostr"),
        ["0.45.6"],
        "exactly one nostr, the pinned 0.45.6"
    );
    for banned in ["nostr-sdk", "nostr-relay-builder", "nostr-database"] {
        assert!(
            versions(banned).is_empty(),
            "{banned} must not be in the graph"
        );
    }
    for package in packages {
        match package["source"].as_str() {
            None => {} // a workspace crate
            Some(source) => assert_eq!(
                source, "registry+https://github.com/rust-lang/crates.io-index",
                "{} comes from outside crates.io",
                package["name"]
            ),
        }
    }
}
