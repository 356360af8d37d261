//! Exhaustion attacks (DESIGN.md §5, "Connections"): a member that asks for far more than it
//! reads costs the relay at most its outbound budget, and everyone else is still served.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Db, Practice, TestRelay, fresh_database};
use ehr_relay::RelayConfig;
use nostr::prelude::*;
use serde_json::json;
use std::time::Duration;

/// The outbound budget here: small, so that what a missing budget would queue stands out.
const BUDGET: usize = 1 << 20;
/// The stored events the attacker asks for, each near the largest the relay takes (128 KiB).
const LARGE_EVENTS: usize = 40;
const CONTENT_BYTES: usize = 120 * 1024;
/// What the attack may add to the process's peak memory: the budget, the batch being built,
/// the database driver's row buffer, the socket library's write buffer and allocator slack.
/// Without the budget, the 32 answers of ~4.8 MB each would be queued: ~150 MB.
const ALLOWED_GROWTH: u64 = 24 * BUDGET as u64;

/// The memory measured is the whole test process's, so the backends take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn large_event(author: &Keys, patient: &PublicKey, i: usize) -> Event {
    let content = format!("AgIC-{i}-{}", "A".repeat(CONTENT_BYTES));
    EventBuilder::new(Kind::from(2113), content)
        .tags([Tag::public_key(*patient), Tag::custom("v", ["1"])])
        .finalize(author)
        .unwrap()
}

/// A `kB` field of `/proc/self/status` (the relay runs in this process), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

async fn a_member_that_never_reads_costs_the_relay_at_most_its_outbound_budget(db: Db) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let practice = Practice::new();
    let (database_url, _dir) = fresh_database(db).await;
    let mut config = RelayConfig::new(practice.root.public_key(), database_url);
    config.limits.max_outbound_bytes = BUDGET;
    // A client that takes in nothing for this long is cut off: the attack ends by itself.
    config.limits.idle_timeout_seconds = 2;
    let relay = TestRelay::start_on(config).await;
    let mut root = relay.client(&practice.root_keys()).await;
    root.publish_ok(&practice.genesis).await;
    let patient = Keys::generate().public_key();
    let mut author = relay.client(&practice.doctor).await;
    for i in 0..LARGE_EVENTS {
        author
            .publish_ok(&large_event(&practice.doctor, &patient, i))
            .await;
    }
    // Served once in full first, so what the database maps and caches is in the baseline.
    let mut warm = relay.client(&practice.nurse).await;
    let everything = warm.req("warm", &[json!({"kinds": [2113]})]).await.unwrap();
    assert_eq!(everything.len(), LARGE_EVENTS);
    assert!(
        std::fs::write("/proc/self/clear_refs", "5").is_ok(),
        "cannot reset the peak RSS mark"
    );
    let baseline = status_bytes("VmRSS");

    // The attacker fills every subscription it may open with everything, and reads nothing.
    // A note after its REQs shows when (if ever) the relay got through all of them.
    let mut healthy = relay.client(&practice.nurse).await;
    let watch = json!({"kinds": [1], "authors": [practice.doctor.public_key().to_hex()]});
    assert!(healthy.req("marker", &[watch]).await.unwrap().is_empty());
    let mut attacker = relay.client(&practice.doctor).await;
    for sub in 0..32 {
        attacker
            .send(json!(["REQ", format!("all-{sub}"), {"kinds": [2113]}]))
            .await;
    }
    let marker = EventBuilder::new(Kind::TextNote, "done")
        .finalize(&practice.doctor)
        .unwrap();
    attacker.send(json!(["EVENT", marker])).await;
    // Meanwhile another member is served as usual.
    let served = healthy
        .req("mine", &[json!({"kinds": [2113], "limit": 2})])
        .await
        .expect("the healthy client got CLOSED");
    assert_eq!(served.len(), 2);
    // A relay without a budget queues every answer and then takes the note; this one never
    // gets there (a generous wait; the outcome is judged by memory below).
    let _ = healthy.next_event("marker", Duration::from_secs(5)).await;

    // Once the relay has stopped, every connection task has ended: all it did for the
    // attacker is behind us (the attacker, never read, is cut off after the idle timeout).
    relay.stop().await;
    let grown = status_bytes("VmHWM").saturating_sub(baseline);
    assert!(
        grown < ALLOWED_GROWTH,
        "the attack grew the relay by {} KiB (allowed {} KiB)",
        grown / 1024,
        ALLOWED_GROWTH / 1024
    );
    drop(attacker);
}

on_both_backends!(a_member_that_never_reads_costs_the_relay_at_most_its_outbound_budget);
