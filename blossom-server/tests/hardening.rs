//! Least privilege (issue 18), attacked over HTTP: concurrent uploads racing past the quota,
//! BUD-11 tokens for another server or valid for weeks, and shared caches keeping
//! authorised reads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use nostr::prelude::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes each racing blob has: one fits the quota, two do not.
const BLOB: usize = 600;
const QUOTA: u64 = 1000;
const RACERS: u8 = 4;

/// A `PUT /upload` whose headers are sent and whose handler has passed its first quota check:
/// the server asked for the body (`100 Continue`), which it does only after that check.
async fn upload_waiting_for_its_body(
    server: &Server,
    auth: &str,
    hash: &str,
) -> tokio::net::TcpStream {
    let address = server.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT /upload HTTP/1.1\r\nhost: {address}\r\nauthorization: {auth}\r\nx-sha-256: {hash}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {BLOB}\r\n\
         expect: 100-continue\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            socket.read(&mut byte).await.unwrap(),
            1,
            "connection closed"
        );
        answer.push(byte[0]);
    }
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    socket
}

/// Send the body and read the answer: its status and `X-Reason`.
async fn finish_upload(mut socket: tokio::net::TcpStream, body: &[u8]) -> (u16, String) {
    socket.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let reason = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-reason: "))
        .unwrap_or_default()
        .to_owned();
    (status, reason)
}

async fn racing_uploads_stay_within_the_quota(metadata_url: Option<String>) {
    let (server, people) = start(|c| {
        c.quota_bytes = QUOTA;
        if let Some(url) = metadata_url {
            c.database_url = url;
        }
    })
    .await;
    let blobs: Vec<Vec<u8>> = (0..RACERS).map(|i| vec![i; BLOB]).collect();
    // Every upload passes the check made before its body is read, at the same time.
    let mut waiting = Vec::new();
    for blob in &blobs {
        let hash = sha(blob);
        let auth = token(&people.doctor, "upload", &[&hash], 300, vec![], false);
        waiting.push(upload_waiting_for_its_body(&server, &auth, &hash).await);
    }
    let answers = futures_util::future::join_all(
        waiting
            .into_iter()
            .zip(&blobs)
            .map(|(socket, blob)| finish_upload(socket, blob)),
    )
    .await;
    let stored = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(stored, 1, "{answers:?}");
    for (status, reason) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 413, "{reason}");
        assert!(reason.contains("quota"), "{reason}");
    }
    let listed: serde_json::Value = list(&server, &people.doctor, &people.doctor.public_key())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // The losers' bytes are gone too: only the stored blob reads back.
    let read = token(&people.doctor, "get", &[], 300, vec![], false);
    for blob in &blobs {
        let hash = sha(blob);
        let expected = if listed[0]["sha256"] == hash.as_str() {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(
            get(&server, &hash, Some(read.clone()), None).await.status(),
            expected
        );
        let file = server.dir.path().join("blobs").join(&hash[..2]).join(&hash);
        assert_eq!(file.exists(), expected == StatusCode::OK, "{hash}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_cannot_together_exceed_the_quota() {
    racing_uploads_stay_within_the_quota(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_cannot_together_exceed_the_quota_on_postgres() {
    if let Some(url) = postgres_database().await {
        racing_uploads_stay_within_the_quota(Some(url)).await;
    }
}

/// On PostgreSQL the server serialises an owner's uploads with an advisory lock: here the test
/// holds it, mid-way through recording another blob of the same owner, and the server's upload
/// must wait for it and then see that blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_waits_for_the_same_owners_upload_in_progress_on_postgres() {
    use sqlx::Connection;
    let Some(url) = postgres_database().await else {
        return;
    };
    let (server, people) = start(|c| {
        c.quota_bytes = QUOTA;
        c.database_url = url.clone();
    })
    .await;
    // Any answer means the server has started (and migrated).
    let ready = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert!(ready.status().is_success());
    let owner = people.doctor.public_key().to_hex();
    let key = i64::from_be_bytes(hex::decode(&owner[..16]).unwrap().try_into().unwrap());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut held = conn.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *held)
        .await
        .unwrap();
    let other = sha(&[9u8; BLOB]);
    sqlx::query("INSERT INTO blobs (sha256, size, type, uploaded) VALUES ($1, $2, 'x', 0)")
        .bind(&other)
        .bind(BLOB as i64)
        .execute(&mut *held)
        .await
        .unwrap();
    sqlx::query("INSERT INTO owners (sha256, pubkey, added) VALUES ($1, $2, 0)")
        .bind(&other)
        .bind(&owner)
        .execute(&mut *held)
        .await
        .unwrap();

    let refused = {
        let blob = vec![1u8; BLOB];
        let auth = token(&people.doctor, "upload", &[&sha(&blob)], 300, vec![], false);
        let request = put(&server, Some(auth), blob, None);
        tokio::pin!(request);
        let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
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
            response = &mut request => panic!(
                "the upload did not wait for the owner's upload in progress: {} {}",
                response.status(),
                reason(&response)
            ),
            () = waiting => {}
        }
        held.commit().await.unwrap();
        request.await
    };
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reason(&refused).contains("quota"), "{}", reason(&refused));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_naming_another_server_or_none_is_refused() {
    let (server, people) = start(|_| {}).await;
    let blob = b"encrypted referral".to_vec();
    let hash = sha(&blob);
    let upload = |tags| token(&people.doctor, "upload", &[&hash], 300, tags, false);
    let cases = [
        (
            "another server",
            upload(vec![Tag::custom("server", ["blobs.elsewhere.org"])]),
        ),
        (
            "no server",
            raw_token(&people.doctor, "upload", &[&hash], 300, vec![], false),
        ),
    ];
    for (case, auth) in cases {
        let refused = put(&server, Some(auth), blob.clone(), None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            reason(&refused).contains("server"),
            "{case}: {}",
            reason(&refused)
        );
    }
    let read = raw_token(&people.doctor, "get", &[], 300, vec![], false);
    let refused = get(&server, &hash, Some(read), None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(&refused).contains("server"), "{}", reason(&refused));
    // The same token naming this server is accepted.
    let accepted = put(&server, Some(upload(vec![])), blob, None).await;
    assert_eq!(
        accepted.status(),
        StatusCode::CREATED,
        "{}",
        reason(&accepted)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_valid_for_longer_than_allowed_is_refused() {
    let (server, people) = start(|_| {}).await;
    let blob = b"encrypted discharge letter".to_vec();
    let hash = sha(&blob);
    let month = 30 * 86_400;
    let long = token(&people.doctor, "upload", &[&hash], month, vec![], false);
    let refused = put(&server, Some(long), blob.clone(), None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        reason(&refused).contains("expiration"),
        "{}",
        reason(&refused)
    );
    let read = token(&people.doctor, "get", &[], month, vec![], false);
    assert_eq!(
        get(&server, &hash, Some(read), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // An hour (blossom-client-sdk's default) is within the default limit.
    let hour = token(&people.doctor, "upload", &[&hash], 3600, vec![], false);
    let accepted = put(&server, Some(hour), blob, None).await;
    assert_eq!(
        accepted.status(),
        StatusCode::CREATED,
        "{}",
        reason(&accepted)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorised_read_is_private_to_the_reader() {
    let (server, people) = start(|_| {}).await;
    let blob = b"encrypted lab result".to_vec();
    let hash = sha(&blob);
    let auth = token(&people.doctor, "upload", &[&hash], 300, vec![], false);
    assert_eq!(
        put(&server, Some(auth), blob, None).await.status(),
        StatusCode::CREATED
    );
    let read = token(&people.patient, "get", &[], 300, vec![], false);
    let response = get(&server, &hash, Some(read), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cache = response.headers()["cache-control"].to_str().unwrap();
    assert!(cache.split(", ").any(|d| d == "private"), "{cache}");
    assert!(!cache.contains("public"), "{cache}");
    server.stop().await;
}
