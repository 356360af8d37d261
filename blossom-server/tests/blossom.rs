//! The Blossom server over HTTP, with the relay's real membership: endpoints, ranges, owners,
//! and the attacks of issue 5 (expired token, wrong `t`, hash mismatch, path traversal,
//! oversized body, non-member upload, deleting another owner's blob).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::*;
use nostr::prelude::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_read_ranges_list_and_delete() {
    roundtrip(None).await;
}

/// An S3 bucket on the test S3 server (`EHR_TEST_S3_ENDPOINT`, moto, started by scripts/test).
async fn s3_bucket() -> Option<ehr_blossom_server::config::S3Config> {
    let endpoint = match std::env::var("EHR_TEST_S3_ENDPOINT") {
        Ok(url) => url,
        Err(_) if std::env::var("EHR_TEST_S3").as_deref() == Ok("skip") => return None,
        Err(_) => panic!(
            "EHR_TEST_S3_ENDPOINT is not set: run ./scripts/test (it starts moto), or EHR_TEST_S3=skip"
        ),
    };
    let bucket = format!("blobs-{}", &Keys::generate().public_key().to_hex()[..12]);
    // moto creates buckets on an unsigned PUT.
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "creating the test bucket: {}",
        created.status()
    );
    let config = format!(
        "bucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n"
    );
    Some(toml::from_str(&config).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_s3_are_served_the_same_way() {
    if let Some(s3) = s3_bucket().await {
        roundtrip(Some(s3)).await;
    }
}

async fn roundtrip(s3: Option<ehr_blossom_server::config::S3Config>) {
    let on_s3 = s3.is_some();
    let (server, people) = start(|c| c.s3 = s3).await;
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let hash = sha(&blob);
    // A server tag naming this server's host is accepted, also when a client sends a URL.
    let server_tag = Tag::custom("server", [server.url.as_str()]);
    let up = token(
        &people.doctor,
        "upload",
        &[&hash],
        300,
        vec![server_tag],
        false,
    );
    let created = put(&server, Some(up.clone()), blob.clone(), Some(&hash)).await;
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "{}",
        reason(&created)
    );
    assert_eq!(created.headers()["access-control-allow-origin"], "*");
    let descriptor: serde_json::Value = created.json().await.unwrap();
    assert_eq!(descriptor["sha256"], hash);
    assert_eq!(descriptor["size"], 100_000);
    assert!(
        descriptor["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{hash}.bin"))
    );
    // Again: already stored.
    let again = put(&server, Some(up), blob.clone(), Some(&hash)).await;
    assert_eq!(again.status(), StatusCode::OK);

    let read = token(&people.patient, "get", &[], 300, vec![], true);
    let whole = get(&server, &format!("{hash}.pdf"), Some(read.clone()), None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.headers()["etag"], format!("\"{hash}\""));
    assert!(
        whole.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), blob.as_slice());
    let part = get(&server, &hash, Some(read.clone()), Some("bytes=10-19")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &blob[10..20]);
    let tail = get(&server, &hash, Some(read.clone()), Some("bytes=-5")).await;
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &blob[99_995..]);
    let outside = get(&server, &hash, Some(read.clone()), Some("bytes=100000-")).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers()["content-range"], "bytes */100000");
    let head = reqwest::Client::new()
        .head(format!("{}/{hash}", server.url))
        .header("authorization", read.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "100000");

    let list = list(&server, &people.doctor, &people.doctor.public_key()).await;
    let listed: serde_json::Value = list.json().await.unwrap();
    assert_eq!(listed[0]["sha256"], hash);

    let deleted = delete(&server, &people.doctor, &hash).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&server, &hash, Some(read), None).await.status(),
        StatusCode::NOT_FOUND
    );
    // On S3, nothing stays on the local disk.
    if on_s3 {
        assert_eq!(server.temp_files(), 0);
        assert!(!server.dir.path().join("blobs").join(&hash[..2]).exists());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_bad_bodies_are_refused_and_nothing_is_kept() {
    let (server, people) = start(|c| c.max_blob_bytes = 50_000).await;
    let blob = b"encrypted scan bytes".to_vec();
    let hash = sha(&blob);
    let cases = [
        ("no token", None, StatusCode::UNAUTHORIZED),
        (
            "expired",
            Some(token(
                &people.doctor,
                "upload",
                &[&hash],
                -10,
                vec![],
                false,
            )),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong t",
            Some(token(
                &people.doctor,
                "delete",
                &[&hash],
                300,
                vec![],
                false,
            )),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "other server",
            Some(token(
                &people.doctor,
                "upload",
                &[&hash],
                300,
                vec![Tag::custom("server", ["blobs.elsewhere.org"])],
                false,
            )),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "x of another blob",
            Some(token(
                &people.doctor,
                "upload",
                &[&sha(b"other")],
                300,
                vec![],
                false,
            )),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "not a member",
            Some(token(
                &people.stranger,
                "upload",
                &[&hash],
                300,
                vec![],
                false,
            )),
            StatusCode::FORBIDDEN,
        ),
        (
            "an agent",
            Some(token(
                &people.gateway,
                "upload",
                &[&hash],
                300,
                vec![],
                false,
            )),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (case, auth, status) in cases {
        let response = put(&server, auth, blob.clone(), None).await;
        assert_eq!(response.status(), status, "{case}: {}", reason(&response));
        assert!(!reason(&response).is_empty(), "{case}: X-Reason missing");
    }
    // A forged signature.
    let good = token(&people.doctor, "upload", &[&hash], 300, vec![], true);
    let mut json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(good.trim_start_matches("Nostr "))
            .unwrap(),
    )
    .unwrap();
    json["pubkey"] = serde_json::json!(people.nurse.public_key().to_hex());
    let forged = format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    );
    assert_eq!(
        put(&server, Some(forged), blob.clone(), None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // The body is not what X-SHA-256 says: refused after streaming, nothing kept.
    let claimed = sha(b"something else");
    let auth = token(&people.doctor, "upload", &[&claimed], 300, vec![], false);
    let response = put(&server, Some(auth), blob.clone(), Some(&claimed)).await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "{}",
        reason(&response)
    );
    // Oversized: refused while reading, nothing kept.
    let big = vec![7u8; 60_000];
    let auth = token(&people.doctor, "upload", &[&sha(&big)], 300, vec![], false);
    assert_eq!(
        put(&server, Some(auth), big, None).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        server.temp_files(),
        0,
        "a refused upload left a file behind"
    );
    // The same without a Content-Length (chunked): only the count while reading stops it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..6).map(|_| Ok(vec![7u8; 10_000])).collect();
    let auth = token(
        &people.doctor,
        "upload",
        &[&sha(&vec![7u8; 60_000])],
        300,
        vec![],
        false,
    );
    let streamed = reqwest::Client::new()
        .put(format!("{}/upload", server.url))
        .header("authorization", auth)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        server.temp_files(),
        0,
        "a streamed oversize upload left a file"
    );
    let read = token(&people.nurse, "get", &[], 300, vec![], false);
    for hash in [&hash, &claimed] {
        assert_eq!(
            get(&server, hash, Some(read.clone()), None).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    // Path traversal and malformed hashes never reach the filesystem.
    for path in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        &hash.to_uppercase(),
        "abc",
        &format!("{hash}0"),
    ] {
        let response = get(&server, path, Some(read.clone()), None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    // Reads need a member's token.
    assert_eq!(
        get(&server, &hash, None, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let stranger = token(&people.stranger, "get", &[], 300, vec![], false);
    assert_eq!(
        get(&server, &hash, Some(stranger), None).await.status(),
        StatusCode::FORBIDDEN
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_stays_while_another_owner_holds_it() {
    owners_share_blobs(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_works_on_postgres_too() {
    if let Some(url) = postgres_database().await {
        owners_share_blobs(Some(url)).await;
    }
}

/// Blossom reads the relay's members through `ehr_service::membership` on PostgreSQL as on
/// SQLite: the relay's staff and patients have their standing, a stranger none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_is_read_from_a_postgres_relay_database() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let (people, url, practice) = practice_db_at(url).await;
    let membership = ehr_blossom_server::membership::Membership::open(&url, practice)
        .await
        .unwrap();
    let doctor = membership
        .standing(&people.doctor.public_key())
        .await
        .unwrap();
    assert!(doctor.may_upload && doctor.may_read && !doctor.is_admin);
    let patient = membership
        .standing(&people.patient.public_key())
        .await
        .unwrap();
    assert!(patient.may_upload && patient.may_read);
    let stranger = membership
        .standing(&people.stranger.public_key())
        .await
        .unwrap();
    assert!(!stranger.may_read && !stranger.may_upload);
}

async fn owners_share_blobs(metadata_url: Option<String>) {
    let (server, people) = start(|c| {
        if let Some(url) = metadata_url {
            c.database_url = url;
        }
    })
    .await;
    let blob = b"shared lab report".to_vec();
    let hash = sha(&blob);
    for owner in [&people.doctor, &people.patient] {
        let response = put(
            &server,
            Some(token(owner, "upload", &[&hash], 300, vec![], false)),
            blob.clone(),
            None,
        )
        .await;
        assert!(response.status().is_success(), "{}", reason(&response));
    }
    // A key that owns the blob but is no longer a member (removed from the practice since it
    // uploaded) cannot delete it either.
    let store = ehr_blossom_server::store::Store::open(&server.database_url)
        .await
        .unwrap();
    let meta = store.get(&hash).await.unwrap().unwrap();
    store
        .add(&meta, &people.stranger.public_key().to_hex(), u64::MAX)
        .await
        .unwrap();
    let former = delete(&server, &people.stranger, &hash).await;
    assert_eq!(
        former.status(),
        StatusCode::FORBIDDEN,
        "{}",
        reason(&former)
    );
    // The nurse owns nothing here: deleting is refused and changes nothing.
    let nurse_delete = delete(&server, &people.nurse, &hash).await;
    assert_eq!(nurse_delete.status(), StatusCode::FORBIDDEN);
    let doctor_delete = delete(&server, &people.doctor, &hash).await;
    assert_eq!(doctor_delete.status(), StatusCode::NO_CONTENT);
    let read = token(&people.patient, "get", &[], 300, vec![], false);
    let still = get(&server, &hash, Some(read), None).await;
    assert_eq!(still.status(), StatusCode::OK);
    assert_eq!(still.bytes().await.unwrap().as_ref(), blob.as_slice());
    // A key lists only its own blobs.
    let peek = list(&server, &people.nurse, &people.patient.public_key()).await;
    assert_eq!(peek.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_preflight_answers_before_any_bytes_move() {
    let (server, people) = start(|c| c.max_blob_bytes = 1000).await;
    let hash = sha(b"x");
    let preflight = |auth: Option<String>, length: &str| {
        let mut request = reqwest::Client::new()
            .head(format!("{}/upload", server.url))
            .header("x-sha-256", hash.clone())
            .header("x-content-length", length)
            .header("x-content-type", "application/pdf");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(
        preflight(None, "10").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let auth = token(&people.doctor, "upload", &[&hash], 300, vec![], false);
    assert_eq!(
        preflight(Some(auth.clone()), "10").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        preflight(Some(auth), "5000").await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let options = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/upload", server.url))
        .send()
        .await
        .unwrap();
    assert!(options.status().is_success());
    assert!(
        options.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    server.stop().await;
}

#[tokio::test]
async fn an_upload_cut_off_mid_body_and_the_leftovers_of_a_crash_leave_no_temporary_files() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, people) = start(|c| {
        // What a crash in the middle of an upload two days ago left, and one in progress now
        // (another server sharing the directory).
        let temp = c.blob_dir.join("tmp");
        std::fs::create_dir_all(&temp).unwrap();
        let stale = std::fs::File::create(temp.join("crashed")).unwrap();
        stale
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400))
            .unwrap();
        std::fs::write(temp.join("in-progress"), b"partial").unwrap();
    })
    .await;
    // Any answer means the server has started (and cleaned up).
    let hash = sha(b"never sent in full");
    let auth = token(&people.doctor, "upload", &[&hash], 300, vec![], false);
    let head = reqwest::Client::new()
        .head(format!("{}/upload", server.url))
        .header("authorization", auth.clone())
        .header("x-sha-256", hash.clone())
        .header("x-content-length", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let left: Vec<_> = std::fs::read_dir(server.dir.path().join("blobs").join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["in-progress"]);
    std::fs::remove_file(
        server
            .dir
            .path()
            .join("blobs")
            .join("tmp")
            .join("in-progress"),
    )
    .unwrap();

    // 3 MiB of a promised 10 MiB, then the client goes away.
    let address = server.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "PUT /upload HTTP/1.1\r\nhost: {address}\r\nauthorization: {auth}\r\nx-sha-256: {hash}\r\ncontent-length: {}\r\n\r\n",
        10 << 20
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket.write_all(&vec![7u8; 3 << 20]).await.unwrap();
    socket.shutdown().await.unwrap();
    // The server answers or hangs up only after it has let go of the upload.
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    assert_eq!(server.temp_files(), 0);
    let listed = list(&server, &people.doctor, &people.doctor.public_key()).await;
    assert_eq!(
        listed.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );
    server.stop().await;
}
