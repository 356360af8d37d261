//! What the Blossom tests share: a server on 127.0.0.1:0 over a relay database with a real
//! roster, BUD-11 tokens, and HTTP helpers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use ehr_blossom_server::Config;
use ehr_client::keys::Identity;
use ehr_client::roster::{Member, Role, RosterContent};
use ehr_relay::store::{Store as RelayStore, WriteJob};
use nostr::prelude::*;
use sha2::{Digest, Sha256};

pub struct Server {
    pub url: String,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), ehr_blossom_server::BlossomError>>,
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

pub struct Practice {
    pub doctor: Keys,
    pub nurse: Keys,
    pub patient: Keys,
    pub gateway: Keys,
    pub stranger: Keys,
}

/// A relay database holding a roster (doctor, nurse, gateway) and one NIP-86 patient.
pub async fn practice_db(dir: &std::path::Path) -> (Practice, String, PublicKey) {
    practice_db_at(format!("sqlite://{}", dir.join("relay.db").display())).await
}

/// The same, in the relay database at `url` (SQLite or PostgreSQL), written by the relay's store.
pub async fn practice_db_at(url: String) -> (Practice, String, PublicKey) {
    let root = Identity::generate();
    let people = Practice {
        doctor: Keys::generate(),
        nurse: Keys::generate(),
        patient: Keys::generate(),
        gateway: Keys::generate(),
        stranger: Keys::generate(),
    };
    let start = Timestamp::from_secs(Timestamp::now().as_secs() - 3600);
    let member = |k: &Keys, role| Member {
        pubkey: k.public_key(),
        role,
        name: None,
        valid_from: start,
        valid_until: None,
    };
    let roster = RosterContent {
        practice: root.public_key(),
        sequence: 0,
        previous: None,
        epoch: 0,
        epoch_public_key: Keys::generate().public_key(),
        office_epoch: None,
        members: vec![
            member(&people.doctor, Role::Doctor),
            member(&people.nurse, Role::Nurse),
            member(&people.gateway, Role::FhirGateway),
        ],
    }
    .sign(&root, start)
    .unwrap();
    let config = ehr_relay::RelayConfig::new(root.public_key(), url.clone());
    let store = RelayStore::open(&config.database).await.unwrap();
    store
        .write_batch(&[WriteJob {
            raw: roster.as_json(),
            event: roster,
            received_at: start,
        }])
        .await
        .unwrap();
    store
        .assign_role(
            &people.patient.public_key(),
            ehr_relay::access::AssignedRole::Patient,
            &people.doctor.public_key(),
            start,
        )
        .await
        .unwrap();
    (people, url, root.public_key())
}

pub async fn start(configure: impl FnOnce(&mut Config)) -> (Server, Practice) {
    let dir = tempfile::tempdir().unwrap();
    let (people, relay_url, practice) = practice_db(dir.path()).await;
    let mut config = Config::new(
        practice,
        relay_url,
        format!("sqlite://{}", dir.path().join("blobs.db").display()),
        dir.path().join("blobs"),
    );
    configure(&mut config);
    let database_url = config.database_url.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ehr_blossom_server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (
        Server {
            url,
            stop: Some(stop),
            task,
            dir,
            database_url,
        },
        people,
    )
}

impl Server {
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
    }

    pub fn temp_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("blobs").join("tmp"))
            .unwrap()
            .count()
    }
}

/// The host every test server listens on, which its tokens' `server` tags name.
pub const HOST: &str = "127.0.0.1";

/// A BUD-11 token for the test server (a `server` tag naming it unless `extra` has one),
/// base64url without padding unless `standard`.
pub fn token(
    keys: &Keys,
    verb: &str,
    x: &[&str],
    expires_in: i64,
    mut extra: Vec<Tag>,
    standard: bool,
) -> String {
    if !extra
        .iter()
        .any(|t| t.as_slice().first().is_some_and(|k| k == "server"))
    {
        extra.push(Tag::custom("server", [HOST]));
    }
    raw_token(keys, verb, x, expires_in, extra, standard)
}

/// A BUD-11 token with exactly the tags given (no `server` tag added).
pub fn raw_token(
    keys: &Keys,
    verb: &str,
    x: &[&str],
    expires_in: i64,
    extra: Vec<Tag>,
    standard: bool,
) -> String {
    let expiration = (Timestamp::now().as_secs() as i64 + expires_in).to_string();
    let mut tags = vec![
        Tag::custom("t", [verb]),
        Tag::custom("expiration", [expiration]),
    ];
    tags.extend(x.iter().map(|x| Tag::custom("x", [*x])));
    tags.extend(extra);
    let event = EventBuilder::new(Kind::BlossomAuth, "test")
        .tags(tags)
        .finalize(keys)
        .unwrap();
    let engine = if standard {
        base64::engine::general_purpose::STANDARD
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    };
    format!("Nostr {}", engine.encode(event.as_json()))
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `GET /list/<owner>` as `keys`.
pub async fn list(server: &Server, keys: &Keys, owner: &PublicKey) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/list/{}", server.url, owner.to_hex()))
        .header(
            "authorization",
            token(keys, "list", &[], 300, vec![], false),
        )
        .send()
        .await
        .unwrap()
}

/// `DELETE /<hash>` as `keys`.
pub async fn delete(server: &Server, keys: &Keys, hash: &str) -> reqwest::Response {
    reqwest::Client::new()
        .delete(format!("{}/{hash}", server.url))
        .header(
            "authorization",
            token(keys, "delete", &[hash], 300, vec![], false),
        )
        .send()
        .await
        .unwrap()
}

pub fn reason(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-reason")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub async fn put(
    server: &Server,
    auth: Option<String>,
    body: Vec<u8>,
    announced: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .put(format!("{}/upload", server.url))
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(sha) = announced {
        request = request.header("x-sha-256", sha);
    }
    request
        .header("content-type", "application/octet-stream")
        .send()
        .await
        .unwrap()
}

pub async fn get(
    server: &Server,
    path: &str,
    auth: Option<String>,
    range: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}/{path}", server.url));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.unwrap()
}

/// A fresh PostgreSQL database for the metadata (`EHR_TEST_POSTGRES_URL`, set by scripts/test).
pub async fn postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin = match std::env::var("EHR_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("EHR_TEST_POSTGRES").as_deref() == Ok("skip") => return None,
        Err(_) => panic!(
            "EHR_TEST_POSTGRES_URL is not set: run ./scripts/test, or EHR_TEST_POSTGRES=skip"
        ),
    };
    let name = format!(
        "ehr_blossom_{}",
        &Keys::generate().public_key().to_hex()[..16]
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
    Some(format!("{base}/{name}"))
}
