//! The gateway's database on both engines (SQLite, and PostgreSQL from `scripts/test`): keys and
//! tokens, SMART clients, replay guards, and the access log with its relay outbox.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::audit::AuditRecord;
use ehr_client::grants::EpochKey;
use ehr_client::keys::Identity;
use ehr_fhir_gateway::GatewayError;
use ehr_fhir_gateway::store::Store;
use ehr_fhir_gateway::store::audit::{Access, LogFilter};
use ehr_tests::database::fresh_database;
use nostr::prelude::Timestamp;
use serde_json::json;
use std::collections::BTreeSet;

async fn every_query_works(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(engine, dir.path(), "gateway").await.unwrap() else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let now = 1_900_000_000;

    // No token for a client that is not registered.
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "a", "x": "AA", "y": "AA"}]});
    let scopes = vec!["system/*.read".to_owned()];
    let token_scopes = vec!["system/*.rs".to_owned()];
    let issue = |at: i64| store.issue_access_token("hie", &token_scopes, at, at + 300);
    assert!(issue(now).await.unwrap().is_none());
    store
        .register_client("hie", &jwks, &scopes, "doctor", now)
        .await
        .unwrap();

    // No API key for a client that is not registered: refused, nothing written.
    assert!(matches!(
        store.add_api_key("lab", &scopes, now, now + 60).await,
        Err(GatewayError::NotFound(_))
    ));
    assert!(store.api_keys().await.unwrap().is_empty());
    store
        .register_client("lab", &jwks, &scopes, "admin", now)
        .await
        .unwrap();

    // API keys and SMART access tokens: listed apart, revoked apart.
    let key = store
        .add_api_key("lab", &["system/*.read".into()], now, now + 60)
        .await
        .unwrap();
    let token = issue(now).await.unwrap().unwrap();
    assert_eq!(
        store
            .check_api_key(&key, now)
            .await
            .unwrap()
            .unwrap()
            .client_id,
        "lab"
    );
    assert!(
        store.check_api_key(&key, now + 60).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.check_api_key(&token, now).await.unwrap().is_some());
    assert!(
        store
            .check_api_key(&token, now + 300)
            .await
            .unwrap()
            .is_none(),
        "token expired"
    );
    let keys = store.api_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "access tokens are not API keys");
    let token_id = token.split('_').nth(1).unwrap();
    assert!(!store.revoke_api_key(token_id, now).await.unwrap());
    // Filters in scopes are refused, as are client ids with spaces.
    let filtered = vec!["system/Observation.rs?category=laboratory".to_owned()];
    assert!(
        store
            .add_api_key("lab", &filtered, now, now + 60)
            .await
            .is_err()
    );
    assert!(
        store
            .register_client("hie west", &jwks, &scopes, "doctor", now)
            .await
            .is_err()
    );

    // Clients: conflict, rotate, revoke (with their tokens), register again (the old tokens
    // stay revoked), no token once revoked.
    assert!(
        store
            .register_client("hie", &jwks, &scopes, "doctor", now)
            .await
            .is_err()
    );
    assert!(
        store
            .rotate_client("hie", &json!({"keys": []}), None, "admin", now + 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_client("nobody", &jwks, None, "admin", now)
            .await
            .unwrap()
    );
    let client = store.smart_client("hie").await.unwrap().unwrap();
    assert_eq!(
        (client.registered_by.as_str(), client.updated_at),
        ("admin", now + 1)
    );
    assert!(store.revoke_client("hie", now + 2).await.unwrap());
    assert!(
        store
            .check_api_key(&token, now + 3)
            .await
            .unwrap()
            .is_none(),
        "token revoked with its client"
    );
    assert!(
        issue(now + 3).await.unwrap().is_none(),
        "no token for a revoked client"
    );
    assert!(
        store.check_api_key(&key, now + 3).await.unwrap().is_some(),
        "another client's key stays"
    );
    store
        .register_client("hie", &jwks, &scopes, "doctor", now + 4)
        .await
        .unwrap();
    assert!(
        store
            .check_api_key(&token, now + 5)
            .await
            .unwrap()
            .is_none(),
        "re-registering revives no token"
    );
    assert!(issue(now + 5).await.unwrap().is_some());
    assert_eq!(store.smart_clients().await.unwrap().len(), 2);

    // Replay guards: once each, until they expire.
    assert!(
        store
            .claim_assertion("hie", "j1", now + 100, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_assertion("hie", "j1", now + 100, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_assertion("lab", "j1", now + 100, now)
            .await
            .unwrap(),
        "per client"
    );
    assert!(store.claim_nip98("e1", now + 61, now).await.unwrap());
    assert!(!store.claim_nip98("e1", now + 61, now).await.unwrap());
    assert!(
        store.claim_nip98("e1", now + 200, now + 100).await.unwrap(),
        "after expiry"
    );

    // The access log and the outbox, written together.
    let patient = Identity::generate();
    let gateway = Identity::generate();
    let epoch = EpochKey::generate(1);
    let audit = json!({"resourceType": "AuditEvent", "outcome": "0"});
    let sealed = AuditRecord::seal(
        &gateway,
        &patient.public_key(),
        (1, epoch.public_key()),
        &audit.to_string(),
        Timestamp::from(1_900_000_000),
    )
    .unwrap();
    // One access disclosed p1 alone, one p1 and p2 together, one nobody.
    let set = |ids: &[&str]| {
        ids.iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<String>>()
    };
    for (client, patients) in [
        ("hie", set(&["p1"])),
        ("lab", set(&["p1", "p2"])),
        ("lab", set(&[])),
    ] {
        store
            .record_access(
                &Access {
                    recorded_at: now,
                    client_id: client,
                    patients: &patients,
                    outcome: "0",
                    purpose: None,
                    audit_event: &audit,
                },
                std::slice::from_ref(sealed.event()),
            )
            .await
            .unwrap();
    }
    let of = |client: Option<&str>, patient: Option<&str>| LogFilter {
        client_id: client.map(str::to_owned),
        patient_id: patient.map(str::to_owned),
        since: Some(now),
        purpose: None,
    };
    assert_eq!(store.audit_log(&of(None, None), 10).await.unwrap().len(), 3);
    assert_eq!(
        store
            .audit_log(&of(Some("hie"), None), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .audit_log(&of(None, Some("p1")), 10)
            .await
            .unwrap()
            .len(),
        2,
        "p1's accesses include the one that disclosed p2 as well"
    );
    assert_eq!(
        store
            .audit_log(&of(Some("lab"), Some("p2")), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Accesses from many requests at once share commits; every one is logged, as itself,
    // before its request goes on.
    let concurrent: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            let audit = audit.clone();
            tokio::spawn(async move {
                let patients = BTreeSet::from([format!("c{i}")]);
                let client = format!("burst-{}", i % 4);
                store
                    .record_access(
                        &Access {
                            recorded_at: now,
                            client_id: &client,
                            patients: &patients,
                            outcome: "0",
                            purpose: None,
                            audit_event: &audit,
                        },
                        &[],
                    )
                    .await
            })
        })
        .collect();
    for task in concurrent {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        store.audit_log(&of(None, None), 100).await.unwrap().len(),
        67
    );
    for i in [0, 17, 63] {
        let found = store
            .audit_log(
                &of(Some(&format!("burst-{}", i % 4)), Some(&format!("c{i}"))),
                10,
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "access c{i}");
    }

    let pending = store.outbox(10).await.unwrap();
    assert_eq!(pending.len(), 1, "the same sealed event is queued once");
    assert_eq!(pending[0].id, sealed.id());
    store.outbox_done(&pending[0]).await.unwrap();
    assert!(store.outbox(10).await.unwrap().is_empty());
}

/// A bearer credential reads only while its client is registered and live, and was when the
/// credential was issued.
async fn credentials_need_a_registered_live_client(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(engine, dir.path(), "gateway").await.unwrap() else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let now = 1_900_000_000;
    let scopes = vec!["system/*.read".to_owned()];
    // A key row for a client never registered, as older databases allowed: it reads nothing.
    let database = ehr_service::database::AnyDatabase::connect(&url)
        .await
        .unwrap();
    let insert = database.sql(
        "INSERT INTO api_keys (key_id, client_id, secret_sha256, scopes, created_at, expires_at, kind) VALUES (?, ?, ?, ?, ?, ?, 'api-key')",
    );
    sqlx::query(&insert)
        .bind("00112233aabbccdd")
        .bind("ghost")
        .bind(ehr_client::document::sha256_hex(b"s3cret"))
        .bind("system/*.read")
        .bind(now)
        .bind(now + 600)
        .execute(&database.pool)
        .await
        .unwrap();
    let ghost = "ehrfhir_00112233aabbccdd_s3cret";
    assert!(store.check_api_key(ghost, now).await.unwrap().is_none());
    // Registering the client later does not bring the older row to life.
    store
        .register_client("ghost", &json!({"keys": []}), &scopes, "admin", now + 1)
        .await
        .unwrap();
    assert!(store.check_api_key(ghost, now + 2).await.unwrap().is_none());
    // A key issued to the live client reads; revoking the client ends it, and registering the
    // client again does not revive it.
    let key = store
        .add_api_key("ghost", &scopes, now + 2, now + 600)
        .await
        .unwrap();
    assert!(store.check_api_key(&key, now + 2).await.unwrap().is_some());
    assert!(store.revoke_client("ghost", now + 3).await.unwrap());
    assert!(store.check_api_key(&key, now + 4).await.unwrap().is_none());
    assert!(matches!(
        store
            .add_api_key("ghost", &scopes, now + 4, now + 600)
            .await,
        Err(GatewayError::NotFound(_))
    ));
    store
        .register_client("ghost", &json!({"keys": []}), &scopes, "admin", now + 5)
        .await
        .unwrap();
    assert!(store.check_api_key(&key, now + 6).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_need_a_registered_live_client_on_sqlite() {
    credentials_need_a_registered_live_client("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_need_a_registered_live_client_on_postgres() {
    credentials_need_a_registered_live_client("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_works_on_sqlite() {
    every_query_works("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_works_on_postgres() {
    every_query_works("postgres").await;
}
