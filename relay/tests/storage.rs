//! Durability and data movement: kill -9 mid-stream, backup and restore, export and import,
//! and several relay processes sharing one PostgreSQL database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Db, Practice, TestRelay, clinical, fresh_database, nip86};
use ehr_relay::{RelayConfig, tools};
use nostr::prelude::*;
use serde_json::json;

/// Start the real `ehr-relay` binary and read the address it prints.
fn spawn_binary(config_path: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ehr-relay"))
        .args(["--config", config_path.to_str().unwrap(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("ehr-relay listening on ")
        .expect("listening line")
        .to_owned();
    (child, url)
}

fn write_config(
    dir: &std::path::Path,
    practice: &PublicKey,
    database_url: &str,
) -> std::path::PathBuf {
    let path = dir.join("ehr-relay.toml");
    let text = format!(
        "[relay]\nlisten = \"127.0.0.1:0\"\npractice = \"{}\"\n\n[database]\nurl = \"{database_url}\"\n",
        practice.to_hex()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn every_acknowledged_event_survives_kill_9(db: Db) {
    let practice = Practice::new();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _db_dir) = fresh_database(db).await;
    let config = write_config(dir.path(), &practice.root.public_key(), &database_url);
    let (mut child, url) = spawn_binary(&config);
    let mut root = Client::connect(&url).await;
    assert!(root.auth(&practice.root_keys(), &url).await.0);
    root.publish_ok(&practice.genesis).await;

    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let progress = Arc::new(tokio::sync::Notify::new());
    let mut writers = Vec::new();
    for keys in [
        &practice.doctor,
        &practice.nurse,
        &practice.admin,
        &practice.doctor,
    ] {
        let (keys, url, acknowledged, progress) = (
            keys.clone(),
            url.clone(),
            acknowledged.clone(),
            progress.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut client = Client::connect(&url).await;
            assert!(client.auth(&keys, &url).await.0);
            let patient = Keys::generate().public_key();
            // Keep 20 events in flight until the relay dies under us.
            let mut in_flight = 0;
            loop {
                while in_flight < 20 {
                    if client
                        .try_send(json!(["EVENT", clinical(&keys, 2113, &patient)]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    in_flight += 1;
                }
                let Some(answer) = client.try_recv().await else {
                    return;
                };
                if answer[0] == "OK" {
                    in_flight -= 1;
                    if answer[2] == true {
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(answer[1].as_str().unwrap().to_owned());
                        progress.notify_one();
                    }
                }
            }
        }));
    }
    // Kill once a good number of events are acknowledged, with writes still in flight.
    // Bounded: writers that stop early make the test fail, not hang.
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while acknowledged.lock().unwrap().len() < 400 {
            progress.notified().await;
        }
    })
    .await
    .expect("400 acknowledgements did not arrive");
    child.kill().unwrap();
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let (mut child, url) = spawn_binary(&config);
    let mut doctor = Client::connect(&url).await;
    assert!(doctor.auth(&practice.doctor, &url).await.0);
    let ids: Vec<String> = acknowledged.iter().cloned().collect();
    let mut found = BTreeSet::new();
    for chunk in ids.chunks(200) {
        for event in doctor.req("check", &[json!({"ids": chunk})]).await.unwrap() {
            found.insert(event.id.to_hex());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let lost: Vec<_> = acknowledged.difference(&found).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost after kill -9",
        lost.len(),
        acknowledged.len()
    );
}

async fn export_then_import_restores_every_event(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let patient = Keys::generate().public_key();
    let mut published = BTreeSet::from([practice.genesis.id]);
    for _ in 0..30 {
        let event = clinical(&practice.doctor, 2113, &patient);
        doctor.publish_ok(&event).await;
        published.insert(event.id);
    }
    let source = RelayConfig::new(practice.root.public_key(), relay.database_url.clone());
    let mut jsonl = Vec::new();
    assert_eq!(tools::export(&source, &mut jsonl).await.unwrap(), 31);
    relay.stop().await;

    let (target_url, _dir) = fresh_database(db).await;
    let target = RelayConfig::new(practice.root.public_key(), target_url);
    // A tampered line stops the import before its batch is written.
    let text = String::from_utf8(jsonl.clone()).unwrap();
    let tampered = text.replacen("AgIC-", "AgIC-x", 1);
    assert!(tools::import(&target, tampered.as_bytes()).await.is_err());
    let report = tools::import(&target, jsonl.as_slice()).await.unwrap();
    assert_eq!(report.stored, 31);
    let again = tools::import(&target, jsonl.as_slice()).await.unwrap();
    assert_eq!(
        (again.stored, again.duplicates),
        (0, 31),
        "import is idempotent"
    );

    let restored = TestRelay::start_on(target).await;
    let mut doctor = restored.client(&practice.doctor).await;
    let seen: BTreeSet<EventId> = doctor
        .req("all", &[json!({})])
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, published);
    restored.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_the_relay() {
    let practice = Practice::new();
    let relay = practice.relay(Db::Sqlite).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let patient = Keys::generate().public_key();
    let mut published = BTreeSet::from([practice.genesis.id]);
    for _ in 0..20 {
        let event = clinical(&practice.doctor, 2113, &patient);
        doctor.publish_ok(&event).await;
        published.insert(event.id);
    }
    let config = RelayConfig::new(practice.root.public_key(), relay.database_url.clone());
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.db");
    tools::backup(&config, &snapshot).await.unwrap();
    assert!(
        tools::backup(&config, &snapshot).await.is_err(),
        "a backup never overwrites a file"
    );
    // The live relay keeps going; the snapshot is what it held at backup time.
    doctor
        .publish_ok(&clinical(&practice.doctor, 2113, &patient))
        .await;
    relay.stop().await;

    let restored = TestRelay::start_on(RelayConfig::new(
        practice.root.public_key(),
        format!("sqlite://{}", snapshot.display()),
    ))
    .await;
    let mut doctor = restored.client(&practice.doctor).await;
    let seen: BTreeSet<EventId> = doctor
        .req("all", &[json!({})])
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, published);
    restored.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_processes_sharing_postgres_fan_out_events_and_roles() {
    if common::postgres_admin_url().is_none() {
        return;
    }
    let practice = Practice::new();
    let first = practice.relay(Db::Postgres).await;
    let second = TestRelay::start_on(RelayConfig::new(
        practice.root.public_key(),
        first.database_url.clone(),
    ))
    .await;
    let patient = Keys::generate();

    let mut listener = first.client(&practice.nurse).await;
    listener
        .req("live", &[json!({"kinds": [2113]})])
        .await
        .unwrap();
    let mut doctor = second.client(&practice.doctor).await;
    let event = clinical(&practice.doctor, 2113, &patient.public_key());
    doctor.publish_ok(&event).await;
    let heard = listener
        .next_event("live", Duration::from_secs(10))
        .await
        .expect("no fan-out across processes");
    assert_eq!(heard.id, event.id);

    // A patient added through one process may read through the other.
    let mut on_first = first.client(&patient).await;
    assert!(
        on_first
            .req("before", &[json!({})])
            .await
            .unwrap_err()
            .starts_with("restricted:")
    );
    let (status, _) = nip86(
        &second,
        &practice.frontdesk,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    assert_eq!(status, 200);
    // The other process learns of it by NOTIFY; retry the read until it has.
    let mut attempts = 0;
    let seen = loop {
        match on_first
            .req(
                &format!("after-{attempts}"),
                &[json!({"#p": [patient.public_key().to_hex()]})],
            )
            .await
        {
            Ok(seen) => break seen,
            Err(reason) if attempts < 5000 => {
                assert!(reason.starts_with("restricted:"), "{reason}");
                attempts += 1;
                tokio::task::yield_now().await;
            }
            Err(reason) => panic!("the role never reached the other process: {reason}"),
        }
    };
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![event.id]
    );
    second.stop().await;
    first.stop().await;
}

on_both_backends!(
    every_acknowledged_event_survives_kill_9,
    export_then_import_restores_every_event
);
