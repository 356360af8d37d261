//! Test harness: a relay on 127.0.0.1:0 (SQLite in a temp dir, or a fresh PostgreSQL database),
//! a practice with a roster, and a raw NIP-01 client that sees every prefix.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::Duration;

use ehr_client::keys::Identity;
use ehr_client::roster::{Member, Role, RosterContent};
use ehr_relay::RelayConfig;
use futures_util::{SinkExt, StreamExt};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Run an `async fn(Db)` test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Db::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::common::postgres_admin_url().is_some() {
                        super::$name($crate::common::Db::Postgres).await;
                    }
                }
            }
        )*
    };
}

/// The PostgreSQL server for tests (`EHR_TEST_POSTGRES_URL`, set by `scripts/test`). Without
/// it the PostgreSQL half fails, unless `EHR_TEST_POSTGRES=skip` says to leave it out.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("EHR_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("EHR_TEST_POSTGRES").as_deref() == Ok("skip") => None,
        Err(_) => panic!(
            "EHR_TEST_POSTGRES_URL is not set: run ./scripts/test (it starts PostgreSQL), \
             or set EHR_TEST_POSTGRES=skip to run the SQLite half only"
        ),
    }
}

/// A fresh database URL: a temp SQLite file, or a new PostgreSQL database.
pub async fn fresh_database(db: Db) -> (String, Option<tempfile::TempDir>) {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("relay.db").display());
            (url, Some(dir))
        }
        Db::Postgres => {
            use sqlx::Connection;
            let admin = postgres_admin_url().unwrap();
            let name = format!(
                "ehr_test_{}",
                Keys::generate().public_key().to_hex()[..16].to_owned()
            );
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            (format!("{base}/{name}"), None)
        }
    }
}

/// A running relay.
pub struct TestRelay {
    pub addr: SocketAddr,
    pub url: String,
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ehr_relay::RelayError>>>,
    dir: Option<tempfile::TempDir>,
}

impl TestRelay {
    /// A relay for the practice `root` on a fresh database.
    pub async fn start(db: Db, root: &PublicKey) -> Self {
        let (database_url, dir) = fresh_database(db).await;
        let mut relay = Self::start_on(RelayConfig::new(*root, database_url)).await;
        relay.dir = dir;
        relay
    }

    /// A relay with this configuration, on 127.0.0.1:0.
    pub async fn start_on(config: RelayConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let database_url = config.database.url.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ehr_relay::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            url: format!("ws://{addr}"),
            database_url,
            stop: Some(stop),
            task: Some(task),
            dir: None,
        }
    }

    /// The NIP-86 / NIP-11 URL.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stop the relay and wait until it has finished.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.dir.take()
    }

    /// Connect and authenticate as `keys`.
    pub async fn client(&self, keys: &Keys) -> Client {
        let mut client = Client::connect(&self.url).await;
        let (ok, message) = client.auth(keys, &self.url).await;
        assert!(ok, "AUTH refused: {message}");
        client
    }
}

/// The practice and its people.
pub struct Practice {
    pub root: Identity,
    pub admin: Keys,
    pub doctor: Keys,
    pub nurse: Keys,
    pub frontdesk: Keys,
    pub gateway: Keys,
    pub billing: Keys,
    pub genesis: Event,
}

pub fn member(keys: &Keys, role: Role, from: Timestamp) -> Member {
    Member {
        pubkey: keys.public_key(),
        role,
        name: None,
        valid_from: from,
        valid_until: None,
    }
}

impl Practice {
    pub fn new() -> Self {
        let root = Identity::generate();
        let start = Timestamp::from_secs(Timestamp::now().as_secs() - 3600);
        let [admin, doctor, nurse, frontdesk, gateway, billing] =
            std::array::from_fn(|_| Keys::generate());
        let content = RosterContent {
            practice: root.public_key(),
            sequence: 0,
            previous: None,
            epoch: 0,
            epoch_public_key: Keys::generate().public_key(),
            office_epoch: None,
            members: vec![
                member(&admin, Role::Admin, start),
                member(&doctor, Role::Doctor, start),
                member(&nurse, Role::Nurse, start),
                member(&frontdesk, Role::Frontdesk, start),
                member(&gateway, Role::FhirGateway, start),
                member(&billing, Role::BillingBot, start),
            ],
        };
        let genesis = content.sign(&root, start).unwrap();
        Self {
            root,
            admin,
            doctor,
            nurse,
            frontdesk,
            gateway,
            billing,
            genesis,
        }
    }

    pub fn root_keys(&self) -> Keys {
        self.root.keys().clone()
    }

    /// The genesis roster's content, for building the next link.
    pub fn genesis_content(&self) -> RosterContent {
        ehr_client::roster::Roster::parse(&self.genesis)
            .unwrap()
            .content
    }

    /// The root's next roster after genesis: the same members, with an office epoch, so the
    /// practice has its two key domains (shared DESIGN §2).
    pub fn split_roster(&self) -> Event {
        let mut content = self.genesis_content();
        content.sequence = 1;
        content.previous = Some(self.genesis.id);
        content.office_epoch = Some((0, Keys::generate().public_key()));
        content.sign(&self.root, Timestamp::now()).unwrap()
    }

    /// A relay with the genesis roster stored (published by the root).
    pub async fn relay(&self, db: Db) -> TestRelay {
        let relay = TestRelay::start(db, &self.root.public_key()).await;
        let mut root = relay.client(&self.root_keys()).await;
        root.publish_ok(&self.genesis).await;
        relay
    }
}

/// A stand-in clinical event: the relay never decrypts, so the content is opaque to it.
pub fn clinical(author: &Keys, kind: u16, patient: &PublicKey) -> Event {
    // Random content keeps ids distinct within one second.
    let nonce = Keys::generate().public_key().to_hex();
    EventBuilder::new(Kind::from(kind), format!("AgIC-{nonce}"))
        .tags([Tag::public_key(*patient), Tag::custom("v", ["1"])])
        .finalize(author)
        .unwrap()
}

/// A raw NIP-01 client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub challenge: String,
}

const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    /// Connect and read the AUTH challenge the relay sends first.
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Self {
            ws,
            challenge: String::new(),
        };
        let first = client.recv().await;
        assert_eq!(
            first[0], "AUTH",
            "the relay must challenge on connect: {first}"
        );
        client.challenge = first[1].as_str().unwrap().to_owned();
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Send, reporting a dead connection instead of failing.
    pub async fn try_send(&mut self, message: Value) -> Result<(), ()> {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .map_err(|_| ())
    }

    /// The next message, or `None` once the connection is gone.
    pub async fn try_recv(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(ANSWER_TIMEOUT, self.ws.next())
                .await
                .ok()??
            {
                Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// The next relay message (a missing answer fails the test after a generous timeout).
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(ANSWER_TIMEOUT, self.ws.next())
                .await
                .expect("the relay did not answer")
                .expect("the connection closed")
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Answer the challenge as `keys`, naming `relay_url`.
    pub async fn auth(&mut self, keys: &Keys, relay_url: &str) -> (bool, String) {
        let event = EventBuilder::new(Kind::Authentication, "")
            .tags([
                Tag::custom("relay", [relay_url]),
                Tag::custom("challenge", [self.challenge.as_str()]),
            ])
            .finalize(keys)
            .unwrap();
        self.send(json!(["AUTH", event])).await;
        self.ok_for(&event.id).await
    }

    /// Wait for the OK about `id`.
    pub async fn ok_for(&mut self, id: &EventId) -> (bool, String) {
        loop {
            let message = self.recv().await;
            if message[0] == "OK" && message[1] == id.to_hex() {
                return (
                    message[2].as_bool().unwrap(),
                    message[3].as_str().unwrap().to_owned(),
                );
            }
        }
    }

    pub async fn publish(&mut self, event: &Event) -> (bool, String) {
        self.send(json!(["EVENT", event])).await;
        self.ok_for(&event.id).await
    }

    pub async fn publish_ok(&mut self, event: &Event) {
        let (ok, message) = self.publish(event).await;
        assert!(ok, "event refused: {message}");
    }

    /// REQ and collect until EOSE (`Ok`) or CLOSED (`Err(reason)`).
    pub async fn req(&mut self, sub: &str, filters: &[Value]) -> Result<Vec<Event>, String> {
        let mut message = vec![json!("REQ"), json!(sub)];
        message.extend(filters.iter().cloned());
        self.send(Value::Array(message)).await;
        let mut events = Vec::new();
        loop {
            let answer = self.recv().await;
            if answer[1] != sub {
                continue;
            }
            match answer[0].as_str().unwrap() {
                "EVENT" => events.push(Event::from_json(answer[2].to_string()).unwrap()),
                "EOSE" => return Ok(events),
                "CLOSED" => return Err(answer[2].as_str().unwrap().to_owned()),
                other => panic!("unexpected {other}"),
            }
        }
    }

    /// REQ, expecting the events of `ids` and nothing else.
    pub async fn count(&mut self, sub: &str, filter: Value) -> Result<u64, String> {
        self.send(json!(["COUNT", sub, filter])).await;
        loop {
            let answer = self.recv().await;
            if answer[1] != sub {
                continue;
            }
            match answer[0].as_str().unwrap() {
                "COUNT" => return Ok(answer[2]["count"].as_u64().unwrap()),
                "CLOSED" => return Err(answer[2].as_str().unwrap().to_owned()),
                other => panic!("unexpected {other}"),
            }
        }
    }

    /// The next EVENT for `sub`, if one arrives within `wait`.
    pub async fn next_event(&mut self, sub: &str, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value[0] == "EVENT" && value[1] == sub {
                    return Some(Event::from_json(value[2].to_string()).unwrap());
                }
            }
        }
    }
}

/// A NIP-98 `Authorization` header for a POST of `body` to `url`, as the `ehr` CLI signs it.
pub fn nip98_header(keys: &Keys, url: &str, body: &[u8]) -> String {
    let identity = ehr_client::keys::Identity::from_secret_key(keys.secret_key().clone());
    ehr_client::http_auth::authorization(&identity, url, "POST", body).unwrap()
}

/// Call a NIP-86 method; returns (status, JSON body).
/// `staff` allows `patient` on the relay (NIP-86 `allowpubkey`), which must succeed.
pub async fn allow(relay: &TestRelay, staff: &Keys, patient: &PublicKey) {
    let (status, body) = nip86(relay, staff, "allowpubkey", json!([patient.to_hex()])).await;
    assert_eq!(status, 200, "{body}");
}

pub async fn nip86(relay: &TestRelay, keys: &Keys, method: &str, params: Value) -> (u16, Value) {
    let body = json!({ "method": method, "params": params }).to_string();
    let url = relay.http_url();
    let auth = nip98_header(keys, &url, body.as_bytes());
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/nostr+json+rpc")
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}
