//! "No member can exhaust the relay" (DESIGN.md §5): connections per client address, idle
//! connections, the per-author storage quota, and client addresses behind a trusted proxy.
//! Each test runs the attack against a relay on 127.0.0.1:0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Db, Practice, TestRelay, clinical, fresh_database};
use ehr_relay::RelayConfig;
use futures_util::StreamExt;
use nostr::prelude::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A relay on a fresh database with its configuration changed by `edit`, and the temp dir
/// that must outlive it.
async fn relay_with(
    db: Db,
    practice: &Practice,
    edit: impl FnOnce(&mut RelayConfig),
) -> (TestRelay, Option<tempfile::TempDir>) {
    let (database_url, dir) = fresh_database(db).await;
    let mut config = RelayConfig::new(practice.root.public_key(), database_url);
    edit(&mut config);
    (TestRelay::start_on(config).await, dir)
}

/// Open a WebSocket whose upgrade request carries `forwarded_for` as `X-Forwarded-For`; the
/// refusal's status and `X-Reason` if the relay says no.
async fn open(relay: &TestRelay, forwarded_for: Option<&str>) -> Result<Ws, (u16, String)> {
    let mut request = relay.url.as_str().into_client_request().unwrap();
    if let Some(client) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => {
            let reason = response.headers().get("x-reason");
            let reason = reason.map(|v| v.to_str().unwrap().to_owned());
            Err((response.status().as_u16(), reason.unwrap_or_default()))
        }
        Err(other) => panic!("the upgrade failed otherwise: {other}"),
    }
}

fn assert_refused(result: Result<Ws, (u16, String)>, status: u16, why: &str) {
    match result {
        Ok(_) => panic!("the upgrade was accepted"),
        Err((got, reason)) => {
            assert_eq!(got, status, "{reason}");
            assert!(reason.contains(why), "X-Reason: {reason:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_from_one_address_are_refused_with_429() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.connections_per_ip = 3;
    })
    .await;
    let mut open_ones = Vec::new();
    for _ in 0..3 {
        open_ones.push(open(&relay, None).await.unwrap());
    }
    assert_refused(open(&relay, None).await, 429, "too many connections");
    // The connections admitted still work: each got its AUTH challenge.
    for ws in &mut open_ones {
        let first = ws.next().await.unwrap().unwrap();
        assert!(matches!(&first, Message::Text(t) if t.as_str().starts_with("[\"AUTH\"")));
    }
    drop(open_ones);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_behind_a_trusted_proxy_gets_its_own_connection_cap() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.connections_per_ip = 2;
        // The test itself, on 127.0.0.1, is the proxy.
        c.proxies.nets = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let mut open_ones = Vec::new();
    for _ in 0..2 {
        open_ones.push(open(&relay, Some("198.51.100.1")).await.unwrap());
    }
    assert_refused(open(&relay, Some("198.51.100.1")).await, 429, "too many");
    // A client the proxy names differently has a cap of its own; an entry further left, which
    // the client could have forged, changes nothing.
    for _ in 0..2 {
        let other = open(&relay, Some("198.51.100.1, 198.51.100.2")).await;
        open_ones.push(other.unwrap());
    }
    assert_refused(open(&relay, Some("198.51.100.2")).await, 429, "too many");
    drop(open_ones);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_that_names_no_client_is_refused_with_400() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.proxies.nets = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert_refused(open(&relay, None).await, 400, "client address");
    assert_refused(open(&relay, Some("not-an-ip")).await, 400, "client address");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let practice = Practice::new();
    // No trusted proxies: 127.0.0.1 is a client like any other.
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.connections_per_ip = 2;
    })
    .await;
    let first = open(&relay, Some("198.51.100.1")).await.unwrap();
    let second = open(&relay, Some("198.51.100.2")).await.unwrap();
    // Were the header believed, this would be a third client with a cap of its own.
    assert_refused(open(&relay, Some("198.51.100.3")).await, 429, "too many");
    drop((first, second));
    relay.stop().await;
}

/// Publish over a raw WebSocket; the `OK`'s flag and message.
async fn publish_raw(ws: &mut Ws, event: &Event) -> (bool, String) {
    let message = json!(["EVENT", event]).to_string();
    futures_util::SinkExt::send(ws, Message::Text(message.into()))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next());
        let frame = frame.await.expect("no OK").unwrap().unwrap();
        let Message::Text(text) = frame else { continue };
        let answer: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        if answer[0] == "OK" && answer[1] == event.id.to_hex() {
            let ok = answer[2].as_bool().unwrap();
            return (ok, answer[3].as_str().unwrap().to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_one_client_cannot_use_up_anothers_gift_wrap_allowance() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.giftwraps_per_ip_per_minute = 1;
        c.proxies.nets = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let wrap = || {
        EventBuilder::new(Kind::GiftWrap, "AgIC-sealed")
            .tags([Tag::public_key(Keys::generate().public_key())])
            .finalize(&Keys::generate())
            .unwrap()
    };
    let mut flooder = open(&relay, Some("198.51.100.1")).await.unwrap();
    assert!(publish_raw(&mut flooder, &wrap()).await.0);
    let (ok, message) = publish_raw(&mut flooder, &wrap()).await;
    assert!(!ok && message.starts_with("rate-limited:"), "{message}");
    // Another client behind the same proxy still has its allowance.
    let mut other = open(&relay, Some("198.51.100.2")).await.unwrap();
    let (ok, message) = publish_raw(&mut other, &wrap()).await;
    assert!(ok, "{message}");
    drop((flooder, other));
    relay.stop().await;
}

/// A WebSocket client that never answers pings: the upgrade written by hand over TCP, then
/// the server's (unmasked) frames read one by one.
struct Silent {
    tcp: TcpStream,
}

impl Silent {
    async fn connect(relay: &TestRelay) -> Self {
        let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            relay.addr
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "no upgrade");
        Self { tcp }
    }

    /// The next frame as `(opcode, payload)`, or `None` at the end of the stream.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let read = tokio::time::timeout(Duration::from_secs(20), self.tcp.read_u8());
        let first = read
            .await
            .expect("the relay neither sent nor closed")
            .ok()?;
        let len = match self.tcp.read_u8().await.unwrap() & 0x7f {
            126 => u64::from(self.tcp.read_u16().await.unwrap()),
            127 => self.tcp.read_u64().await.unwrap(),
            short => u64::from(short),
        };
        let mut payload = vec![0; usize::try_from(len).unwrap()];
        self.tcp.read_exact(&mut payload).await.unwrap();
        Some((first & 0x0f, payload))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_gets_a_notice_and_is_closed() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.idle_timeout_seconds = 1;
    })
    .await;
    let mut silent = Silent::connect(&relay).await;
    let (mut pings, mut notice) = (0, None);
    loop {
        match silent.frame().await {
            Some((0x1, text)) => {
                let message: serde_json::Value = serde_json::from_slice(&text).unwrap();
                if message[0] == "NOTICE" {
                    notice = Some(message[1].as_str().unwrap().to_owned());
                }
            }
            Some((0x9, _)) => pings += 1,
            Some((0x8, _)) => break,
            Some((opcode, _)) => panic!("unexpected frame {opcode}"),
            None => panic!("the connection ended without a close frame"),
        }
    }
    assert!(pings >= 1, "the relay closed without pinging first");
    let notice = notice.expect("no NOTICE before the close");
    assert!(notice.contains("nothing received"), "{notice}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_answers_pings_stays_connected_past_the_idle_timeout() {
    let practice = Practice::new();
    let (relay, _dir) = relay_with(Db::Sqlite, &practice, |c| {
        c.limits.idle_timeout_seconds = 1;
    })
    .await;
    relay
        .client(&practice.root_keys())
        .await
        .publish_ok(&practice.genesis)
        .await;
    let patient = Keys::generate().public_key();
    let mut subscriber = relay.client(&practice.nurse).await;
    let filter = json!({"kinds": [2113], "#p": [patient.to_hex()]});
    assert!(subscriber.req("live", &[filter]).await.unwrap().is_empty());
    // Reading (and so answering pings, as tungstenite and nostr-sdk do) for over twice the
    // timeout, with nothing to deliver and nothing sent.
    let quiet = subscriber
        .next_event("live", Duration::from_millis(2500))
        .await;
    assert!(quiet.is_none());
    let record = clinical(&practice.doctor, 2113, &patient);
    relay
        .client(&practice.doctor)
        .await
        .publish_ok(&record)
        .await;
    let delivered = subscriber.next_event("live", Duration::from_secs(20)).await;
    assert_eq!(
        delivered.map(|e| e.id),
        Some(record.id),
        "the subscriber was dropped"
    );
    relay.stop().await;
}

/// A regular kind-1 note of about `bytes` bytes as JSON, unlike any other.
fn note(author: &Keys, bytes: usize) -> Event {
    let nonce = Keys::generate().public_key().to_hex();
    let padding = "x".repeat(bytes.saturating_sub(464));
    EventBuilder::new(Kind::TextNote, format!("{nonce}{padding}"))
        .finalize(author)
        .unwrap()
}

/// A relay with small events and a 4 KiB quota, with the roster stored.
async fn quota_relay(practice: &Practice, db: Db) -> (TestRelay, Option<tempfile::TempDir>) {
    let (relay, dir) = relay_with(db, practice, |c| {
        c.limits.max_event_bytes = 2048;
        c.limits.max_giftwrap_bytes = 2048;
        c.limits.author_quota_bytes = 4096;
    })
    .await;
    relay
        .client(&practice.root_keys())
        .await
        .publish_ok(&practice.genesis)
        .await;
    (relay, dir)
}

async fn an_author_over_its_quota_is_refused_but_its_practice_records_are_not(db: Db) {
    let practice = Practice::new();
    let (relay, _dir) = quota_relay(&practice, db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let mut stored = 0;
    let (refused, message) = loop {
        let event = note(&practice.doctor, 1000);
        let (ok, message) = doctor.publish(&event).await;
        if !ok {
            break (event, message);
        }
        assert!(message.is_empty(), "{message}");
        stored += event.as_json().len();
        assert!(stored <= 4096, "{stored} bytes stored past the quota");
    };
    assert!(message.starts_with("blocked:"), "{message}");
    assert!(message.contains("quota"), "{message}");
    // Nothing of it was stored: sent again, it is refused again, not a `duplicate:`.
    let (ok, again) = doctor.publish(&refused).await;
    assert!(!ok && again == message, "{again}");
    // Gift wraps under the author's own key count too.
    let wrap = EventBuilder::new(Kind::GiftWrap, "x".repeat(600))
        .tags([Tag::public_key(practice.nurse.public_key())])
        .finalize(&practice.doctor)
        .unwrap();
    let (ok, message) = doctor.publish(&wrap).await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    // The practice's own records never count.
    let patient = Keys::generate().public_key();
    for _ in 0..6 {
        let record = clinical(&practice.doctor, 2113, &patient);
        let (ok, message) = doctor.publish(&record).await;
        assert!(ok, "a practice record was refused: {message}");
    }
    relay.stop().await;
}

async fn a_replacement_at_the_quota_counts_only_its_net_size(db: Db) {
    let practice = Practice::new();
    let (relay, _dir) = quota_relay(&practice, db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let inbox = |content: &str, at: u64| {
        EventBuilder::new(Kind::from(10050), content)
            .tags([Tag::custom("relay", ["wss://inbox.example.org"])])
            .custom_created_at(Timestamp::from_secs(at))
            .finalize(&practice.doctor)
            .unwrap()
    };
    let now = Timestamp::now().as_secs();
    doctor.publish_ok(&inbox(&"a".repeat(800), now - 10)).await;
    loop {
        let (ok, _) = doctor.publish(&note(&practice.doctor, 1000)).await;
        if !ok {
            break;
        }
    }
    // Same size, newer: it replaces, so the author holds no more than before.
    let replacement = inbox(&"b".repeat(800), now - 5);
    doctor.publish_ok(&replacement).await;
    // Larger: it would grow past the quota.
    let (ok, message) = doctor.publish(&inbox(&"c".repeat(1500), now)).await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    let author = practice.doctor.public_key().to_hex();
    let held = doctor
        .req("i", &[json!({"kinds": [10050], "authors": [author]})])
        .await
        .unwrap();
    assert_eq!(
        held.iter().map(|e| e.id).collect::<Vec<_>>(),
        [replacement.id]
    );
    relay.stop().await;
}

on_both_backends!(
    an_author_over_its_quota_is_refused_but_its_practice_records_are_not,
    a_replacement_at_the_quota_counts_only_its_net_size,
);

/// On PostgreSQL several relay processes write; each transaction takes an advisory lock per
/// counted author first. Here the test plays another process, holding the doctor's lock
/// mid-way through storing an event that fills the quota: the relay's write must wait for it,
/// then see that event and refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_processs_write_by_the_same_author_on_postgres() {
    use sqlx::Connection;
    if common::postgres_admin_url().is_none() {
        return;
    }
    let practice = Practice::new();
    let (relay, _dir) = quota_relay(&practice, Db::Postgres).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let author = practice.doctor.public_key().to_bytes();
    let key = i64::from_be_bytes(author[..8].try_into().unwrap());
    let mut conn = sqlx::PgConnection::connect(&relay.database_url)
        .await
        .unwrap();
    let mut held = conn.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *held)
        .await
        .unwrap();
    let filler = note(&practice.doctor, 3800);
    sqlx::query(
        "INSERT INTO events (id, pubkey, created_at, kind, raw, received_at) \
         VALUES ($1, $2, 0, 1, $3, 0)",
    )
    .bind(filler.id.to_bytes().as_slice())
    .bind(author.as_slice())
    .bind(filler.as_json())
    .execute(&mut *held)
    .await
    .unwrap();

    let event = note(&practice.doctor, 1000);
    let answer = doctor.publish(&event);
    tokio::pin!(answer);
    let mut watch = sqlx::PgConnection::connect(&relay.database_url)
        .await
        .unwrap();
    let waiting = async {
        let sql = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        loop {
            let (waiters,): (i64,) = sqlx::query_as(sql).fetch_one(&mut watch).await.unwrap();
            if waiters > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        (ok, message) = &mut answer => {
            panic!("the write did not wait for the author's write in progress: {ok} {message}")
        }
        () = waiting => {}
    }
    held.commit().await.unwrap();
    let (ok, message) = answer.await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    relay.stop().await;
}
