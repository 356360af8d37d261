#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Interop proof for the Blossom server: the real `blossom-client-sdk` (npm), under node,
//! uploads, checks, downloads, lists and deletes a blob, signing BUD-11 tokens with nostr-tools.

use std::process::Command;

use ehr_client::keys::Identity;
use ehr_client::roster::{Member, Role, RosterContent};
use ehr_relay::store::{Store as RelayStore, WriteJob};
use nostr::prelude::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blossom_client_sdk_uploads_checks_downloads_lists_and_deletes() {
    let node = ehr_tests::node::node_dir("blossom-client-sdk").unwrap();
    // A practice whose roster has one doctor, in a relay database the server reads members from.
    let dir = tempfile::tempdir().unwrap();
    let root = Identity::generate();
    let doctor = Keys::generate();
    let start = Timestamp::from_secs(Timestamp::now().as_secs() - 60);
    let roster = RosterContent {
        practice: root.public_key(),
        sequence: 0,
        previous: None,
        epoch: 0,
        epoch_public_key: Keys::generate().public_key(),
        office_epoch: None,
        members: vec![Member {
            pubkey: doctor.public_key(),
            role: Role::Doctor,
            name: None,
            valid_from: start,
            valid_until: None,
        }],
    }
    .sign(&root, start)
    .unwrap();
    let relay_url = format!("sqlite://{}", dir.path().join("relay.db").display());
    let relay = RelayStore::open(
        &ehr_relay::RelayConfig::new(root.public_key(), relay_url.clone()).database,
    )
    .await
    .unwrap();
    relay
        .write_batch(&[WriteJob {
            raw: roster.as_json(),
            event: roster,
            received_at: start,
        }])
        .await
        .unwrap();

    let mut config = ehr_blossom_server::Config::new(
        root.public_key(),
        relay_url,
        format!("sqlite://{}", dir.path().join("blobs.db").display()),
        dir.path().join("blobs"),
    );
    // The SDK's hasBlob sends no token; the rest sign one.
    config.reads_need_auth = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ehr_blossom_server::serve(listener, config, async move {
        let _ = stopped.await;
    }));

    let secret = doctor.secret_key().to_secret_hex();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(node.join("blossom-client.mjs"))
            .arg(url)
            .arg(secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sha = report["uploaded"]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(report["uploaded"]["size"], 70_000, "{report}");
    assert_eq!(report["has"], true, "{report}");
    assert_eq!(report["downloaded_matches"], true, "{report}");
    assert_eq!(report["listed"], serde_json::json!([sha]), "{report}");
    assert_eq!(report["deleted"], true, "{report}");
    assert_eq!(report["has_after_delete"], false, "{report}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
