//! Attacks on NIP-46 signer messages (kind 24133, DESIGN.md §5): any authenticated key may
//! send them (a portal's ephemeral client key is no member), but only to a connection
//! authenticated as the one `p` recipient, never stored, never from an unauthenticated socket,
//! and rate-limited per address for keys that are not members.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Client, Db, Practice, TestRelay, clinical, fresh_database, nip86};
use ehr_relay::RelayConfig;
use nostr::prelude::*;
use serde_json::json;

fn signer_message(from: &Keys, to: &[PublicKey]) -> Event {
    EventBuilder::new(Kind::NostrConnect, "AgIC-nip44-payload")
        .tags(to.iter().map(|p| Tag::public_key(*p)))
        .finalize(from)
        .unwrap()
}

async fn signer_messages_reach_their_recipient_only(db: Db) {
    let practice = Practice::new();
    let (database_url, _dir) = fresh_database(db).await;
    let mut config = RelayConfig::new(practice.root.public_key(), database_url);
    config.limits.signer_messages_per_ip_per_minute = 25;
    let relay = TestRelay::start_on(config).await;
    relay
        .client(&practice.root_keys())
        .await
        .publish_ok(&practice.genesis)
        .await;
    let patient = Keys::generate();
    nip86(
        &relay,
        &practice.doctor,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    // A portal's ephemeral client key, a stranger and a patient acting as her own signer.
    let client = Keys::generate();
    let stranger = Keys::generate();
    let sub = |key: &Keys| json!({"kinds": [24133], "#p": [key.public_key().to_hex()]});

    // Not a member, yet it may wait for messages to itself, and nothing else.
    let mut portal = relay.client(&client).await;
    assert!(portal.req("n", &[sub(&client)]).await.unwrap().is_empty());
    let refused = portal
        .req("rosters", &[json!({"kinds": [2102]})])
        .await
        .unwrap_err();
    assert!(refused.starts_with("restricted:"), "{refused}");
    let refused = portal
        .req("mixed", &[sub(&client), json!({"kinds": [1]})])
        .await
        .unwrap_err();
    assert!(refused.starts_with("restricted:"), "{refused}");

    let mut signer = relay.client(&patient).await;
    assert!(signer.req("s", &[sub(&patient)]).await.unwrap().is_empty());
    // The stranger subscribes to the patient's messages and to everything of the kind.
    let mut eavesdropper = relay.client(&stranger).await;
    assert!(
        eavesdropper
            .req("e", &[sub(&patient), json!({"kinds": [24133]})])
            .await
            .unwrap()
            .is_empty()
    );
    // Staff who read everything else do not read signer messages either.
    let mut doctor = relay.client(&practice.doctor).await;
    assert!(
        doctor
            .req("d", &[json!({"kinds": [24133]})])
            .await
            .unwrap()
            .is_empty()
    );

    // Request from the portal to the signer; answer from the signer to the portal.
    let request = signer_message(&client, &[patient.public_key()]);
    portal.publish_ok(&request).await;
    let got = signer
        .next_event("s", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got.id, request.id);
    let answer = signer_message(&patient, &[client.public_key()]);
    signer.publish_ok(&answer).await;
    let got = portal
        .next_event("n", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got.id, answer.id);
    // Neither reached the third key or the doctor.
    let marker = signer_message(&stranger, &[stranger.public_key()]);
    eavesdropper.publish_ok(&marker).await;
    let first = eavesdropper
        .next_event("e", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first.id, marker.id, "a third key read someone else's 24133");
    assert!(
        doctor
            .next_event("d", Duration::from_millis(300))
            .await
            .is_none(),
        "staff read a signer message"
    );

    // Never stored: a later subscription (or the recipient asking by id) finds nothing.
    let mut again = relay.client(&patient).await;
    let stored = again
        .req(
            "later",
            &[sub(&patient), json!({"ids": [request.id.to_hex()]})],
        )
        .await
        .unwrap();
    assert!(stored.is_empty(), "a signer message was stored");
    assert_eq!(
        doctor
            .count(
                "dc",
                json!({"ids": [request.id.to_hex(), answer.id.to_hex()]})
            )
            .await
            .unwrap(),
        0
    );

    // Unauthenticated: refused with a prefix. Signed by another key than the socket's: refused.
    let mut anonymous = Client::connect(&relay.url).await;
    let (ok, message) = anonymous
        .publish(&signer_message(&Keys::generate(), &[patient.public_key()]))
        .await;
    assert!(!ok && message.starts_with("auth-required:"), "{message}");
    let (ok, message) = portal
        .publish(&signer_message(&stranger, &[patient.public_key()]))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // Two recipients (one message read by two): refused.
    let (ok, message) = portal
        .publish(&signer_message(
            &client,
            &[patient.public_key(), stranger.public_key()],
        ))
        .await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    // A non-member subscribing without AUTH: refused.
    let refused = anonymous.req("a", &[sub(&patient)]).await.unwrap_err();
    assert!(refused.starts_with("auth-required:"), "{refused}");

    // Keys that are not members pay a per-address rate (25 a minute here), as gift wraps do.
    let mut limited = None;
    for _ in 0..40 {
        let (ok, message) = portal
            .publish(&signer_message(&client, &[patient.public_key()]))
            .await;
        if !ok {
            limited = Some(message);
            break;
        }
    }
    let limited = limited.expect("the per-IP limit never applied to a non-member");
    assert!(limited.starts_with("rate-limited:"), "{limited}");
    // A member (the patient as her own signer) does not.
    for _ in 0..40 {
        signer
            .publish_ok(&signer_message(&patient, &[client.public_key()]))
            .await;
    }

    // A banned key neither sends nor waits for signer messages, member or not.
    let (status, body) = nip86(
        &relay,
        &practice.admin,
        "banpubkey",
        json!([stranger.public_key().to_hex(), "abuse"]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut banned = Client::connect(&relay.url).await;
    banned.auth(&stranger, &relay.url).await;
    let (ok, message) = banned
        .publish(&signer_message(&stranger, &[patient.public_key()]))
        .await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    let refused = banned.req("b", &[sub(&stranger)]).await.unwrap_err();
    assert!(refused.starts_with("blocked:"), "{refused}");
    relay.stop().await;
}

async fn a_non_member_waiting_for_signer_messages_outlives_unrelated_events(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (client, signer, someone) = (Keys::generate(), Keys::generate(), Keys::generate());
    let mut portal = relay.client(&client).await;
    let sub = json!({"kinds": [24133], "#p": [client.public_key().to_hex()]});
    assert!(portal.req("n", &[sub]).await.unwrap().is_empty());

    // Events the portal may not read pass through the relay: a clinical event and a signer
    // message for another key.
    let mut doctor = relay.client(&practice.doctor).await;
    doctor
        .publish_ok(&clinical(&practice.doctor, 2113, &signer.public_key()))
        .await;
    let mut remote = relay.client(&signer).await;
    remote
        .publish_ok(&signer_message(&signer, &[someone.public_key()]))
        .await;
    let answer = signer_message(&signer, &[client.public_key()]);
    remote.publish_ok(&answer).await;

    // The next thing the portal hears is its answer, not a CLOSED.
    let next = portal.recv().await;
    assert_eq!(next[0], "EVENT", "the subscription ended: {next}");
    assert_eq!(
        (&next[1], &next[2]["id"]),
        (&json!("n"), &json!(answer.id.to_hex()))
    );
    relay.stop().await;
}

on_both_backends!(
    signer_messages_reach_their_recipient_only,
    a_non_member_waiting_for_signer_messages_outlives_unrelated_events,
);
