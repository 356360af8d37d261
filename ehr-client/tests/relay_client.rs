#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `ehr_client::net::RelayClient` against an in-process `nostr-relay-builder` relay: NIP-42 AUTH,
//! events crossing from `nostr` 0.45.6 to `nostr-sdk` 0.44 and back unchanged, tag filters,
//! forged signatures, duplicates, unreachable relays and refused subscriptions.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::relay::{relay_builder, spawn_relay, spawn_relay_from};
use ehr_client::keys::Identity;
use ehr_client::net::{NetError, PublishOutcome, RelayClient};
use ehr_client::nostr::prelude::{
    Event, EventBuilder, Filter, FinalizeEvent, Kind, PublicKey, Tag, Timestamp,
};
use nostr_relay_builder::prelude::{BoxedFuture, PolicyResult, QueryPolicy};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A signed 0.45.6 event of kind 1 tagging `patients`, with a marker tag and a given time.
fn note(author: &Identity, content: &str, patients: &[PublicKey], created_at: u64) -> Event {
    let mut tags: Vec<Tag> = patients.iter().map(|p| Tag::public_key(*p)).collect();
    tags.push(Tag::hashtag("relay-client-test"));
    EventBuilder::new(Kind::TextNote, content)
        .tags(tags)
        .custom_created_at(Timestamp::from(created_at))
        .finalize(author.keys())
        .unwrap()
}

async fn connect(url: &str, identity: &Identity) -> RelayClient {
    RelayClient::connect(url, identity, TIMEOUT).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_come_back_unchanged_from_an_auth_requiring_relay() {
    let relay = spawn_relay(true).await;
    let author = Identity::generate();
    let patient = Identity::generate().public_key();
    let events: Vec<Event> = (0..3)
        .map(|i| {
            note(
                &author,
                &format!("entry {i}"),
                &[patient],
                1_700_000_000 + i,
            )
        })
        .collect();

    let client = connect(&relay.url, &author).await;
    let outcomes = client.publish(&events).await.unwrap();
    assert_eq!(outcomes, vec![PublishOutcome::Accepted; 3]);

    let fetched = client
        .fetch(vec![Filter::new().author(author.public_key())])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 3);
    // Sorted by created_at, so in publishing order.
    for (sent, got) in events.iter().zip(&fetched) {
        assert_eq!(got.id, sent.id);
        assert_eq!(got.sig, sent.sig);
        assert_eq!(got.tags, sent.tags);
        assert_eq!(got.as_json(), sent.as_json());
        got.verify().unwrap();
    }
    client.disconnect().await;

    // Another identity reads them too, on a fresh connection (it authenticates for the REQ).
    let reader = connect(&relay.url, &Identity::generate()).await;
    let fetched = reader
        .fetch(vec![Filter::new().author(author.public_key())])
        .await
        .unwrap();
    assert_eq!(fetched, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p_tag_filter_returns_only_matching_events() {
    let relay = spawn_relay(true).await;
    let author = Identity::generate();
    let alice = Identity::generate().public_key();
    let bob = Identity::generate().public_key();
    let carol = Identity::generate().public_key();
    let for_alice = note(&author, "alice", &[alice], 1_700_000_001);
    let for_bob = note(&author, "bob", &[bob], 1_700_000_002);
    let for_both = note(&author, "both", &[alice, bob], 1_700_000_003);

    let client = connect(&relay.url, &author).await;
    let outcomes = client
        .publish(&[for_alice.clone(), for_bob.clone(), for_both.clone()])
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| *o == PublishOutcome::Accepted));

    let alice_only = client
        .fetch(vec![Filter::new().pubkey(alice)])
        .await
        .unwrap();
    assert_eq!(alice_only, vec![for_alice.clone(), for_both.clone()]);

    let nobody = client
        .fetch(vec![Filter::new().pubkey(carol)])
        .await
        .unwrap();
    assert!(nobody.is_empty());

    // Two filters are a union, and an event matching both comes back once.
    let union = client
        .fetch(vec![Filter::new().pubkey(alice), Filter::new().pubkey(bob)])
        .await
        .unwrap();
    assert_eq!(union, vec![for_alice, for_bob, for_both]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_refused_and_not_stored() {
    let relay = spawn_relay(true).await;
    let author = Identity::generate();
    let genuine = note(&author, "genuine", &[], 1_700_000_010);
    // A well-formed event from the same author, carrying another event's signature.
    let mut forged = note(&author, "forged", &[], 1_700_000_011);
    forged.sig = genuine.sig;
    assert!(forged.verify().is_err());

    let client = connect(&relay.url, &author).await;
    let outcomes = client
        .publish(&[forged.clone(), genuine.clone()])
        .await
        .unwrap();
    match &outcomes[0] {
        PublishOutcome::Refused { message } => {
            assert!(message.starts_with("invalid:"), "{message}");
        }
        other => panic!("forged event accepted: {other:?}"),
    }
    assert_eq!(outcomes[1], PublishOutcome::Accepted);

    let stored = client
        .fetch(vec![Filter::new().author(author.public_key())])
        .await
        .unwrap();
    assert_eq!(stored, vec![genuine]);
}

/// A relay that lies: it answers every `REQ` with `events`, as they are, and `EOSE`.
fn spawn_lying_relay(events: Vec<Event>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let events = events.clone();
            std::thread::spawn(move || {
                // Anything but a WebSocket upgrade (the NIP-11 request) is dropped.
                let Ok(mut socket) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(message) = socket.read() {
                    let Ok(text) = message.into_text() else {
                        continue;
                    };
                    let Ok(serde_json::Value::Array(parts)) = serde_json::from_str(&text) else {
                        continue;
                    };
                    if parts.first().and_then(|v| v.as_str()) != Some("REQ") {
                        continue;
                    }
                    let id = parts[1].clone();
                    for event in &events {
                        let message = serde_json::json!(["EVENT", id, event]).to_string();
                        let _ = socket.send(tungstenite::Message::text(message));
                    }
                    let eose = serde_json::json!(["EOSE", id]).to_string();
                    let _ = socket.send(tungstenite::Message::text(eose));
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_sending_a_forged_signature_gets_it_nowhere() {
    let author = Identity::generate();
    let genuine = note(&author, "genuine", &[], 1_700_000_010);
    let mut forged = note(&author, "forged", &[], 1_700_000_011);
    forged.sig = genuine.sig;
    let mut altered = note(&author, "to be altered", &[], 1_700_000_012);
    altered.content = "altered after signing".to_owned();
    let url = spawn_lying_relay(vec![forged, altered, genuine.clone()]);

    let client = connect(&url, &author).await;
    let filter = Filter::new().author(author.public_key());
    let fetched = client.fetch(vec![filter.clone()]).await.unwrap();
    assert_eq!(fetched, vec![genuine.clone()]);
    let verified = client.fetch_verified(vec![filter.clone()]).await.unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].event(), &genuine);
    let all = client.fetch_all(filter.clone(), 100).await.unwrap();
    assert_eq!(all, vec![genuine.clone()]);
    let mut pages = client.pages(filter, 100).await;
    let page = pages.next(&client).await.unwrap().unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event(), &genuine);
    assert!(pages.next(&client).await.unwrap().is_none());
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_deliver_every_event_once_across_shared_seconds() {
    let relay = spawn_relay(false).await;
    let author = Identity::generate();
    // Three events per second over four seconds, read four at a time: pages share seconds.
    let events: Vec<Event> = (0..12u64)
        .map(|i| note(&author, &format!("n{i}"), &[], 1_700_000_100 + i / 3))
        .collect();
    let client = connect(&relay.url, &author).await;
    let outcomes = client.publish(&events).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == PublishOutcome::Accepted));

    let mut pages = client
        .pages(Filter::new().author(author.public_key()), 4)
        .await;
    let mut seen = Vec::new();
    let mut count = 0;
    while let Some(page) = pages.next(&client).await.unwrap() {
        assert!(page.len() <= 4);
        count += 1;
        seen.extend(page.into_iter().map(|e| e.into_event()));
    }
    assert!(count >= 3, "{count} pages");
    seen.sort_by_key(|e| (e.created_at, e.id));
    let mut expected = events.clone();
    expected.sort_by_key(|e| (e.created_at, e.id));
    assert_eq!(seen, expected);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_twice_is_accepted_twice_and_stored_once() {
    let relay = spawn_relay(true).await;
    let author = Identity::generate();
    let event = note(&author, "once", &[], 1_700_000_020);

    let client = connect(&relay.url, &author).await;
    let first = client.publish(std::slice::from_ref(&event)).await.unwrap();
    let second = client
        .publish(&[event.clone(), event.clone()])
        .await
        .unwrap();
    assert_eq!(first, vec![PublishOutcome::Accepted]);
    assert_eq!(second, vec![PublishOutcome::Accepted; 2]);

    let stored = client
        .fetch(vec![Filter::new().id(event.id)])
        .await
        .unwrap();
    assert_eq!(stored, vec![event]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_fails_within_the_timeout() {
    // Port 1 (tcpmux) is privileged and unused: an ephemeral port freed here could be handed to
    // a relay another test starts in the meantime, and then it would not be closed.
    let port = 1;
    let timeout = Duration::from_secs(3);
    let started = Instant::now();
    let result = RelayClient::connect(
        &format!("ws://127.0.0.1:{port}"),
        &Identity::generate(),
        timeout,
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(NetError::Connect(_) | NetError::Timeout)),
        "{result:?}"
    );
    assert!(elapsed < timeout + Duration::from_secs(1), "{elapsed:?}");
}

#[tokio::test]
async fn a_malformed_url_is_rejected_before_any_io() {
    let result = RelayClient::connect("https://example.org", &Identity::generate(), TIMEOUT).await;
    assert_eq!(result.unwrap_err(), NetError::InvalidUrl);
}

/// Refuses every query, as a relay does for readers it does not serve.
#[derive(Debug)]
struct RefuseQueries;

impl QueryPolicy for RefuseQueries {
    fn admit_query<'a>(
        &'a self,
        _query: &'a nostr_relay_builder::prelude::Filter,
        _addr: &'a SocketAddr,
    ) -> BoxedFuture<'a, PolicyResult> {
        Box::pin(async { PolicyResult::Reject("not for you".to_owned()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_subscription_is_an_error_not_an_empty_list() {
    let relay = spawn_relay_from(relay_builder(true).query_policy(RefuseQueries)).await;
    let client = connect(&relay.url, &Identity::generate()).await;
    let result = client.fetch(vec![Filter::new().kind(Kind::TextNote)]).await;
    match result {
        Err(NetError::Closed(message)) => assert!(message.contains("not for you"), "{message}"),
        other => panic!("expected a CLOSED error, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_output_shows_no_key() {
    let relay = spawn_relay(false).await;
    let identity = Identity::generate();
    let client = connect(&relay.url, &identity).await;
    let debug = format!("{client:?}");
    assert!(debug.contains(&relay.url), "{debug}");
    assert!(!debug.contains(&identity.secret_key().to_secret_hex()));
    assert!(!debug.contains(identity.nsec().as_str()));
    client.disconnect().await;
}
