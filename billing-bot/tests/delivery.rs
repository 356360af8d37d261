#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing bot's NIP-17 delivery on the project's relay: kind 10050 inbox relays, inbox
//! addresses refused before connecting, a relay's refusal recorded and never retried, and
//! retries with backoff until given up. (The invoice-to-receipt story, checked by nostr-tools
//! under node, is tests/tests/billing_e2e.rs.)

mod common;

use std::time::Duration;

use common::{Billing, MID_MARCH, messages_for, wraps_for};
use ehr_client::keys::Identity;
use ehr_tests::practice::TestPractice;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_to_the_inbox_relays_the_recipient_published() {
    let billing = Billing::quiet(MID_MARCH, |_| {}).await;
    let elsewhere = TestPractice::start().await.unwrap();
    let plan = billing.plan("monthly", 10000).await;
    let patient = billing.patient().await;
    elsewhere.admit(&patient.public_key()).await.unwrap();
    // The patient publishes her kind 10050 on the practice relay: her inbox is elsewhere.
    billing
        .publish_inbox_list(&patient, &[&elsewhere.relay_url])
        .await;

    billing.member(&patient, Some(plan), "2025-03-01").await;
    billing
        .bot
        .run_billing("2025-03".parse().unwrap())
        .await
        .unwrap();
    let report = billing.bot.deliver_due().await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let there = messages_for(&elsewhere.relay_url, &patient, 1).await;
    assert_eq!(there[0].1.subject.as_deref(), Some("Invoice 1 for 2025-03"));
    assert!(
        wraps_for(&billing.practice.relay_url, &patient)
            .await
            .is_empty()
    );
    // The bot's own copy stays on the practice relay.
    assert_eq!(
        wraps_for(&billing.practice.relay_url, &billing.key)
            .await
            .len(),
        1
    );
    let attempts = billing.bot.store().attempts(1).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(
        attempts[0].relay.starts_with(&elsewhere.relay_url),
        "{attempts:?}"
    );
    elsewhere.stop().await.unwrap();
    billing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_relays_on_plain_ws_or_non_public_addresses_are_refused_before_connecting() {
    let billing = Billing::quiet(MID_MARCH, |c| c.delivery.allow_private_dm_relays = false).await;
    // A socket standing in for a relay on the loopback: a connection attempt would wait in
    // its accept queue.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let port = trap.local_addr().unwrap().port();
    let listed = [
        format!("ws://127.0.0.1:{port}"),
        format!("wss://127.0.0.1:{port}"),
        format!("wss://localhost:{port}"),
        format!("wss://[::1]:{port}"),
        // Never contacted: the check refuses before any connection.
        "wss://10.0.0.1".to_owned(),
    ];
    let plan = billing.plan("monthly", 10000).await;
    let patient = billing.patient().await;
    let names: Vec<&str> = listed.iter().map(String::as_str).collect();
    billing.publish_inbox_list(&patient, &names).await;
    billing.member(&patient, Some(plan), "2025-03-01").await;
    billing
        .bot
        .run_billing("2025-03".parse().unwrap())
        .await
        .unwrap();

    let report = billing.bot.deliver_due().await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(
        trap.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the bot connected to a loopback relay"
    );
    // Each listed relay is recorded as refused by rule; the invoice went to the practice relay.
    let deliveries = billing.bot.store().deliveries(Some(1)).await.unwrap();
    let to_patient = deliveries.iter().find(|d| !d.copy).unwrap();
    let attempts = billing.bot.store().attempts(to_patient.id).await.unwrap();
    for relay in &listed {
        assert!(
            attempts.iter().any(|a| a.relay.starts_with(relay.as_str())
                && a.outcome == "rejected"
                && a.message.starts_with("blocked:")),
            "{relay}: {attempts:?}"
        );
    }
    let accepted: Vec<&str> = attempts
        .iter()
        .filter(|a| a.outcome == "accepted")
        .map(|a| a.relay.as_str())
        .collect();
    assert_eq!(accepted, [billing.practice.relay_url.as_str()]);
    let there = messages_for(&billing.practice.relay_url, &patient, 1).await;
    assert_eq!(there[0].1.subject.as_deref(), Some("Invoice 1 for 2025-03"));
    billing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_recorded_and_never_retried() {
    let billing = Billing::quiet(MID_MARCH, |_| {}).await;
    let plan = billing.plan("monthly", 10000).await;
    // A member the relay does not know: it refuses gift wraps to her.
    let stranger = Identity::generate();
    billing.member(&stranger, Some(plan), "2025-03-01").await;
    billing
        .bot
        .run_billing("2025-03".parse().unwrap())
        .await
        .unwrap();
    let report = billing.bot.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.rejected), (1, 1), "{report:?}");
    let deliveries = billing.bot.store().deliveries(Some(1)).await.unwrap();
    let refused = deliveries.iter().find(|d| !d.copy).unwrap();
    assert_eq!(refused.status, "rejected");
    let attempts = billing.bot.store().attempts(refused.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "rejected");
    assert!(
        attempts[0].message.starts_with("restricted:"),
        "{attempts:?}"
    );
    // Days later: nothing is due, nothing is tried again.
    billing.clock.advance(7 * 86_400);
    let report = billing.bot.deliver_due().await.unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(
        billing
            .bot
            .store()
            .attempts(refused.id)
            .await
            .unwrap()
            .len(),
        1
    );
    billing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_inboxes_are_retried_with_backoff_then_given_up() {
    let billing = Billing::quiet(MID_MARCH, |c| {
        c.delivery.max_attempts = 3;
        c.delivery.backoff_seconds = 30;
        c.delivery.max_backoff_seconds = 45;
        c.relay_timeout = Duration::from_secs(3);
    })
    .await;
    let plan = billing.plan("monthly", 10000).await;
    let patient = billing.patient().await;
    // Port 1 stays closed: every attempt fails to connect.
    billing
        .publish_inbox_list(&patient, &["ws://127.0.0.1:1"])
        .await;
    billing.member(&patient, Some(plan), "2025-03-01").await;
    billing
        .bot
        .run_billing("2025-03".parse().unwrap())
        .await
        .unwrap();

    let round = || billing.bot.deliver_due();
    let first = round().await.unwrap();
    assert_eq!((first.sent, first.retrying), (1, 1), "{first:?}");
    let pending = |d: &[ehr_billing_bot::store::outbox::DeliveryInfo]| {
        d.iter().find(|d| !d.copy).unwrap().clone()
    };
    let d = pending(&billing.bot.store().deliveries(Some(1)).await.unwrap());
    assert_eq!(
        (d.status.as_str(), d.attempts, d.next_attempt_at),
        ("pending", 1, MID_MARCH + 30)
    );
    // Not yet due: nothing happens.
    assert_eq!(round().await.unwrap(), Default::default());
    billing.clock.advance(30);
    assert_eq!(round().await.unwrap().retrying, 1);
    let d = pending(&billing.bot.store().deliveries(Some(1)).await.unwrap());
    // Doubled, capped at 45 s.
    assert_eq!((d.attempts, d.next_attempt_at), (2, MID_MARCH + 30 + 45));
    billing.clock.advance(45);
    assert_eq!(round().await.unwrap().failed, 1);
    billing.clock.advance(86_400);
    assert_eq!(round().await.unwrap(), Default::default());
    let d = pending(&billing.bot.store().deliveries(Some(1)).await.unwrap());
    assert_eq!((d.status.as_str(), d.attempts), ("failed", 3));
    let attempts = billing.bot.store().attempts(d.id).await.unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.outcome == "error"));
    billing.stop().await;
}
