//! Least privilege at the FHIR gateway, attacked end to end on the real relay: the admin API is
//! the root's and the admins' alone; credentials reach nothing unless their client is
//! registered and live, even under a consent to any facility; a `_summary=count` is one audit
//! event, not one per patient counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ehr_client::keys::Identity;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::net::RelayClient;
use ehr_client::roster::Role;
use ehr_fhir_gateway::served::patient_id;
use ehr_fhir_gateway::store::audit::LogFilter;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Filter, Kind};
use reqwest::{Method, StatusCode};
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// A public P-384 JWKS, as a facility registers.
fn jwks(kid: &str) -> Value {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    json!({"keys": [{
        "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
    }]})
}

/// An admin call signed by `signer`: the status, the `X-Reason` header, the JSON body.
async fn call(
    gateway: &Running,
    signer: &Identity,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Option<String>, Value) {
    gateway.admin_answer(signer, method, path, body).await
}

/// Every admin route, with a body where it takes one, in an order an admin can run them.
fn admin_routes(client: &str, key_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/admin/clients".into(), None),
        (
            Method::POST,
            "/admin/clients".into(),
            Some(json!({"client_id": "intruder", "jwks": jwks("i"), "scopes": ["system/*.read"]})),
        ),
        (
            Method::PUT,
            format!("/admin/clients/{client}"),
            Some(json!({"jwks": jwks("rotated")})),
        ),
        (
            Method::POST,
            "/admin/api-keys".into(),
            Some(json!({"client_id": client, "scopes": ["system/Patient.rs"]})),
        ),
        (Method::DELETE, format!("/admin/api-keys/{key_id}"), None),
        (Method::GET, "/admin/access-log".into(), None),
        // Last: revoking the client ends its keys too.
        (Method::DELETE, format!("/admin/clients/{client}"), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_root_and_current_admins_may_use_any_admin_route() {
    let practice = TestPractice::start().await.unwrap();
    let (admin, frontdesk, nurse, patient) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    for (who, role) in [
        (&admin, Role::Admin),
        (&frontdesk, Role::Frontdesk),
        (&nurse, Role::Nurse),
    ] {
        practice.add_member(&who.public_key(), role).await.unwrap();
    }
    practice.enrol(&patient.public_key()).await.unwrap();
    let gateway = Running::start(&practice).await;
    let client = "hie-north";
    let registration = json!({"client_id": client, "jwks": jwks("a"), "scopes": ["system/*.read"]});
    let (status, _, body) = call(
        &gateway,
        &admin,
        Method::POST,
        "/admin/clients",
        Some(&registration),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let issued = json!({"client_id": client, "scopes": ["system/*.read"]});
    let (status, _, body) = call(
        &gateway,
        &admin,
        Method::POST,
        "/admin/api-keys",
        Some(&issued),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let api_key = body["api_key"].as_str().unwrap().to_owned();
    let key_id = api_key.split('_').nth(1).unwrap().to_owned();

    for (who, signer) in [
        ("front desk", &frontdesk),
        ("nurse", &nurse),
        ("doctor", &practice.doctor),
        ("patient", &patient),
    ] {
        for (method, path, body) in admin_routes(client, &key_id) {
            let (status, reason, answer) =
                call(&gateway, signer, method.clone(), &path, body.as_ref()).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who} {method} {path}: {answer}"
            );
            assert!(
                reason.is_some_and(|r| r.contains("admins")),
                "{who} {method} {path}"
            );
            assert_eq!(outcome(&answer), "forbidden", "{who} {method} {path}");
        }
    }
    // Nothing the refused calls asked for happened.
    assert!(
        gateway
            .store
            .smart_client("intruder")
            .await
            .unwrap()
            .is_none()
    );
    let live = gateway.store.smart_client(client).await.unwrap().unwrap();
    assert!(live.revoked_at.is_none());
    assert_eq!(live.jwks["keys"][0]["kid"], "a");
    assert_eq!(gateway.store.api_keys().await.unwrap().len(), 1);
    assert!(
        gateway
            .store
            .check_api_key(&api_key, now())
            .await
            .unwrap()
            .is_some()
    );

    // The admin may do each of them.
    for (method, path, body) in admin_routes(client, &key_id) {
        let (status, _, answer) =
            call(&gateway, &admin, method.clone(), &path, body.as_ref()).await;
        assert!(
            status.is_success(),
            "admin {method} {path}: {status} {answer}"
        );
    }
    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_rotations_are_refused_for_clients_not_registered_and_live() {
    let practice = TestPractice::start().await.unwrap();
    let gateway = Running::start(&practice).await;
    let root = &practice.root;
    let add_key = |client: &str| json!({"client_id": client, "scopes": ["system/*.read"]});
    let (status, reason, body) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/api-keys",
        Some(&add_key("never-registered")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(reason.unwrap().contains("register"));
    assert_eq!(outcome(&body), "not-found");
    let (status, _, _) = call(
        &gateway,
        root,
        Method::PUT,
        "/admin/clients/never-registered",
        Some(&json!({"jwks": jwks("x")})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A revoked client: no new key, no rotation, and its live key stops reading at once.
    let registration =
        json!({"client_id": "hie-gone", "jwks": jwks("g"), "scopes": ["system/*.read"]});
    let (status, _, _) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/clients",
        Some(&registration),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, issued) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/api-keys",
        Some(&add_key("hie-gone")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let api_key = issued["api_key"].as_str().unwrap();
    assert_eq!(
        gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::OK
    );
    let (status, _, _) = call(
        &gateway,
        root,
        Method::DELETE,
        "/admin/clients/hie-gone",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = call(
        &gateway,
        root,
        Method::PUT,
        "/admin/clients/hie-gone",
        Some(&json!({"jwks": jwks("y")})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // (Another body than the first request for this client: a new auth event.)
    let again = json!({"client_id": "hie-gone", "scopes": ["system/Patient.rs"]});
    let (status, _, body) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/api-keys",
        Some(&again),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let keys = gateway.store.api_keys().await.unwrap();
    assert!(
        keys.iter().all(|k| k.client_id == "hie-gone") && keys.len() == 1,
        "nothing written: {keys:?}"
    );
    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_for_an_unregistered_client_reads_nothing_even_under_a_consent_to_any_facility() {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    consent(&practice, &alice.public_key(), &alice_chart, &["*"]).await;
    let mut database_url = String::new();
    let mut gateway = Running::start_with(&practice, &practice.relay_url, |config| {
        database_url = config.database_url.clone();
    })
    .await;
    let alice_id = patient_id(&alice.public_key());
    gateway.until(|s| s.patients.contains_key(&alice_id)).await;

    // A registered facility reads Alice: her consent names any facility.
    let hospital = gateway.key("hospital-a").await;
    let (status, found) = gateway.get(Some(&hospital), "Patient").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries(&found).len(), 1);

    // A key row for a client never registered (the API no longer makes one): nothing.
    let database = ehr_service::database::AnyDatabase::connect(&database_url)
        .await
        .unwrap();
    let now = now();
    sqlx::query(
        "INSERT INTO api_keys (key_id, client_id, secret_sha256, scopes, created_at, expires_at, kind) VALUES (?, ?, ?, ?, ?, ?, 'api-key')",
    )
    .bind("0badc0ffee000001")
    .bind("unregistered-lab")
    .bind(ehr_client::document::sha256_hex(b"secret"))
    .bind("system/*.read")
    .bind(now - 10)
    .bind(now + 3600)
    .execute(&database.pool)
    .await
    .unwrap();
    let ghost = "ehrfhir_0badc0ffee000001_secret";
    for path in [
        "Patient".to_owned(),
        format!("Patient/{alice_id}"),
        format!("Patient/{alice_id}/$everything"),
    ] {
        let (status, body) = gateway.get(Some(ghost), &path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(!body.to_string().contains(&alice_id), "{path}");
    }
    gateway.stop().await;
    practice.stop().await.unwrap();
}

/// Every sealed kind 2107 the gateway made so far, queued or published: the outbox is read
/// first, then the relay, so an event moving from one to the other in between is still seen.
async fn sealed_ids(gateway: &Running, doctor: &RelayClient) -> BTreeSet<(String, String)> {
    let pair = |e: &nostr::prelude::Event| {
        let patient = e
            .tags
            .iter()
            .find(|t| t.as_slice().first().map(String::as_str) == Some("p"))
            .and_then(|t| t.as_slice().get(1).cloned())
            .unwrap_or_default();
        (e.id.to_hex(), patient)
    };
    let mut ids: BTreeSet<(String, String)> = gateway
        .store
        .outbox(1000)
        .await
        .unwrap()
        .iter()
        .map(pair)
        .collect();
    let published = doctor
        .fetch(vec![Filter::new().kind(Kind::Custom(AUDIT_EVENT))])
        .await
        .unwrap();
    ids.extend(published.iter().map(pair));
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_over_many_patients_is_one_audit_event_not_one_per_patient() {
    let practice = TestPractice::start().await.unwrap();
    let mut patients = Vec::new();
    for _ in 0..3 {
        let (patient, chart) = patient_with_chart(&practice).await;
        consent(&practice, &patient.public_key(), &chart, &["*"]).await;
        patients.push(patient);
    }
    let mut gateway = Running::start(&practice).await;
    let ids: Vec<String> = patients
        .iter()
        .map(|p| patient_id(&p.public_key()))
        .collect();
    gateway
        .until(|s| ids.iter().all(|id| s.patients.contains_key(id)))
        .await;
    let hospital = gateway.key("hospital-a").await;
    let doctor = RelayClient::connect(
        &practice.relay_url,
        &practice.doctor,
        Duration::from_secs(10),
    )
    .await
    .unwrap();

    let (status, count) = gateway
        .get(Some(&hospital), "Observation?_summary=count")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(count["total"].as_u64().unwrap() >= 3, "{count}");
    let log = |patient: Option<&String>| LogFilter {
        client_id: Some("hospital-a".into()),
        patient_id: patient.cloned(),
        ..LogFilter::default()
    };
    let logged = gateway.store.audit_log(&log(None), 100).await.unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
    let entities = logged[0]["entity"].as_array().unwrap();
    assert!(
        entities.iter().all(|e| e.get("what").is_none()),
        "a count names no patient: {entities:?}"
    );
    for id in &ids {
        assert!(
            gateway
                .store
                .audit_log(&log(Some(id)), 100)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(sealed_ids(&gateway, &doctor).await.is_empty());

    // A count about one named patient is about her: one event, sealed to her alone.
    let (status, _) = gateway
        .get(
            Some(&hospital),
            &format!("Observation?patient={}&_summary=count", ids[0]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        gateway
            .store
            .audit_log(&log(None), 100)
            .await
            .unwrap()
            .len(),
        2
    );
    let sealed = sealed_ids(&gateway, &doctor).await;
    let named: Vec<&str> = sealed.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(named, [patients[0].public_key().to_hex()]);
    doctor.disconnect().await;
    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registered_without_keys_reads_with_an_api_key_and_never_gets_a_token() {
    let practice = TestPractice::start().await.unwrap();
    let gateway = Running::start(&practice).await;
    let root = &practice.root;
    let registration = json!({"client_id": "lab-b", "scopes": ["system/*.read"]});
    let (status, _, client) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/clients",
        Some(&registration),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, _, issued) = call(
        &gateway,
        root,
        Method::POST,
        "/admin/api-keys",
        Some(&json!({"client_id": "lab-b", "scopes": ["system/*.read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let api_key = issued["api_key"].as_str().unwrap();
    assert_eq!(
        gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::OK
    );
    // No key is registered, so no assertion in its name can verify: no token.
    let token = gateway
        .http
        .post(format!("{}/auth/token", gateway.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "system/*.read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &forged_assertion(&format!("{}/auth/token", gateway.base)),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert!(token.status().is_client_error(), "{}", token.status());
    gateway.stop().await;
    practice.stop().await.unwrap();
}

/// A syntactically whole ES384 assertion in lab-b's name, signed by a key lab-b never
/// registered.
fn forged_assertion(audience: &str) -> String {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("any".into());
    let now = now();
    let claims = json!({
        "iss": "lab-b", "sub": "lab-b", "aud": audience, "exp": now + 60,
        "jti": format!("{now}-forged"),
    });
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}
