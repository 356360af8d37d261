//! SMART Backend Services at the FHIR gateway, end to end on the real relay, one behaviour per
//! test: staff register clients over NIP-98, facilities get tokens with ES384 client assertions,
//! clients rotate and are revoked, static API keys are issued, and the access log lists a
//! client's reads. Each test starts the same small practice with [`smart`]: Alice consents to
//! hie-east, Bob to hie-west only.
//!
//! Attacks: forged, replayed, expired, mis-addressed and wrongly signed assertions; unusable
//! JWKS; a rotated and a revoked client; NIP-98 missing, by a patient, by the gateway's own
//! agent key, replayed, for another body or URL, or outside its time window.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ehr_client::http_auth;
use ehr_client::keys::Identity;
use ehr_fhir_gateway::served::patient_id;
use ehr_tests::practice::TestPractice;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nostr::prelude::{FinalizeEvent, Kind};
use reqwest::{Method, StatusCode};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use serde_json::{Value, json};

/// A facility's P-384 signing key and its public JWK.
struct ClientKey {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl ClientKey {
    fn generate(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // Uncompressed point: 0x04, x (48 bytes), y (48 bytes).
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
            "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
        });
        Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        }
    }

    fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// A client assertion; `edit` changes the claims before signing.
    fn assertion(&self, client_id: &str, audience: &str, edit: impl FnOnce(&mut Value)) -> String {
        let now = now();
        let mut claims = json!({
            "iss": client_id, "sub": client_id, "aud": audience,
            "exp": now + 240, "jti": format!("{}", rand_hex()),
        });
        edit(&mut claims);
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn rand_hex() -> String {
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ask the token endpoint; the status and JSON answer.
async fn token(gateway: &Running, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = gateway
        .http
        .post(format!("{}/auth/token", gateway.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if !status.is_success() {
        assert!(response.headers().contains_key("x-reason"));
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap())
}

async fn token_for(
    gateway: &Running,
    key: &ClientKey,
    client_id: &str,
    scope: &str,
) -> (StatusCode, Value) {
    let assertion = key.assertion(client_id, &format!("{}/auth/token", gateway.base), |_| {});
    token(
        gateway,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                ehr_fhir_gateway::smart::ASSERTION_TYPE,
            ),
            ("client_assertion", &assertion),
            ("scope", scope),
        ],
    )
    .await
}

/// A practice whose gateway the tests register SMART clients with.
struct Smart {
    practice: TestPractice,
    gateway: Running,
    alice: Identity,
    bob: Identity,
    /// The token endpoint, the audience of every assertion.
    audience: String,
}

/// Alice consents to hie-east; Bob to hie-west only, so hie-east's tokens must not reach him.
async fn smart() -> Smart {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (bob, bob_chart) = patient_with_chart(&practice).await;
    consent(&practice, &alice.public_key(), &alice_chart, &["hie-east"]).await;
    consent(&practice, &bob.public_key(), &bob_chart, &["hie-west"]).await;
    let gateway = Running::start(&practice).await;
    let audience = format!("{}/auth/token", gateway.base);
    Smart {
        practice,
        gateway,
        alice,
        bob,
        audience,
    }
}

impl Smart {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }

    fn clients_url(&self) -> String {
        format!("{}/admin/clients", self.gateway.service_root())
    }

    /// An admin call signed by the practice root.
    async fn as_root(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.gateway
            .admin(&self.practice.root, method, path, body)
            .await
    }

    /// Register hie-east with `key`, by the root; a new key for it.
    async fn register_hie_east(&self) -> ClientKey {
        let key = ClientKey::generate("hie-east-2026");
        let registration =
            json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/*.read"]});
        let (status, body) = self
            .as_root(Method::POST, "/admin/clients", Some(&registration))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        key
    }

    /// A granted access token for hie-east signed with `key`.
    async fn access_token(&self, key: &ClientKey) -> String {
        let (status, granted) = token_for(&self.gateway, key, "hie-east", "system/*.read").await;
        assert_eq!(status, StatusCode::OK, "{granted}");
        granted["access_token"].as_str().unwrap().to_owned()
    }

    /// Ask for a token with `assertion` for all read scopes.
    async fn send(&self, assertion: &str) -> (StatusCode, Value) {
        token(
            &self.gateway,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    ehr_fhir_gateway::smart::ASSERTION_TYPE,
                ),
                ("client_assertion", assertion),
                ("scope", "system/*.read"),
            ],
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_token_endpoint_in_smart_configuration_and_metadata() {
    let s = smart().await;
    let configuration: Value = s
        .gateway
        .http
        .get(format!(
            "{}/.well-known/smart-configuration",
            s.gateway.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(configuration["token_endpoint"], s.audience.as_str());
    assert_eq!(
        configuration["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS384", "ES384"])
    );
    let (_, metadata) = s.gateway.get(None, "metadata").await;
    let security = &metadata["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(
        security["extension"][0]["extension"][0]["valueUri"],
        s.audience.as_str()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_without_nip98_by_a_patient_or_the_gateway_or_signed_for_another_request_is_refused()
 {
    let s = smart().await;
    let key = ClientKey::generate("hie-east-2026");
    let registration =
        json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/*.read"]});
    let clients_url = s.clients_url();
    let body = registration.to_string();
    let no_auth = s
        .gateway
        .send_admin(Method::POST, &clients_url, "", body.clone())
        .await;
    assert_eq!(no_auth.0, StatusCode::UNAUTHORIZED);
    for (who, signer) in [
        ("patient", &s.alice),
        ("gateway agent", &s.practice.gateway),
    ] {
        let (status, body) = s
            .gateway
            .admin(signer, Method::POST, "/admin/clients", Some(&registration))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    let root = &s.practice.root;
    let other_body = http_auth::authorization(root, &clients_url, "POST", b"{}").unwrap();
    let (status, _) = s
        .gateway
        .send_admin(Method::POST, &clients_url, &other_body, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed for another body");
    let evil = "https://evil.example/admin/clients";
    let other_url = http_auth::authorization(root, evil, "POST", body.as_bytes()).unwrap();
    let (status, _) = s
        .gateway
        .send_admin(Method::POST, &clients_url, &other_url, body)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed for another URL");
    s.stop().await;
}

/// A P-256 public JWK: a curve SMART's ES384 cannot verify with.
fn p256_jwk() -> Value {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": "p256",
           "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_with_private_symmetric_unverifiable_or_duplicate_keys_is_unprocessable() {
    let s = smart().await;
    let key = ClientKey::generate("hie-east-2026");
    // A JWKS carrying a private key, or a symmetric key, is refused as unprocessable.
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    // So are keys this gateway cannot verify SMART's algorithms with: a P-256 key, a
    // 1024-bit RSA key, and two keys under one kid.
    let rsa_1024 = json!({"kty": "RSA", "kid": "small", "e": "AQAB",
                          "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128])});
    for jwks in [
        json!({"keys": [private]}),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}),
        json!({"keys": []}),
        json!({"keys": [p256_jwk()]}),
        json!({"keys": [rsa_1024]}),
        json!({"keys": [key.jwk, ClientKey::generate("hie-east-2026").jwk]}),
    ] {
        let bad = json!({"client_id": "hie-east", "jwks": jwks, "scopes": ["system/*.read"]});
        let (status, body) = s.as_root(Method::POST, "/admin/clients", Some(&bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_registered_once_and_its_nip98_event_cannot_be_replayed() {
    let s = smart().await;
    let key = ClientKey::generate("hie-east-2026");
    let body = json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/*.read"]})
        .to_string();
    let clients_url = s.clients_url();
    let auth =
        http_auth::authorization(&s.practice.root, &clients_url, "POST", body.as_bytes()).unwrap();
    let (status, created) = s
        .gateway
        .send_admin(Method::POST, &clients_url, &auth, body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["client_id"], "hie-east");
    let (status, _) = s
        .gateway
        .send_admin(Method::POST, &clients_url, &auth, body)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed auth event");
    // (Another body than the first: the same request signed in the same second is the same
    // auth event, and would be refused as a replay.)
    let again =
        json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/Patient.rs"]});
    let (status, _) = s
        .as_root(Method::POST, "/admin/clients", Some(&again))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "registered twice");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_assertion_gets_a_short_lived_token_that_reads_only_consented_patients() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let (status, granted) =
        token_for(&s.gateway, &key, "hie-east", "system/*.read launch/patient").await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(granted["token_type"], "bearer");
    assert_eq!(granted["scope"], "system/*.read");
    assert!(granted["expires_in"].as_i64().unwrap() <= 300);
    let access = granted["access_token"].as_str().unwrap();
    let (status, patients) = s.gateway.get(Some(access), "Patient").await;
    assert_eq!(status, StatusCode::OK);
    let found = entries(&patients);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["resource"]["id"],
        patient_id(&s.alice.public_key()).as_str()
    );
    let bob = format!("Patient/{}", patient_id(&s.bob.public_key()));
    let (status, _) = s.gateway.get(Some(access), &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// `signed` with its claims re-encoded after signing (a new `exp`), the signature kept.
fn edited_after_signing(signed: &str) -> String {
    let parts: Vec<&str> = signed.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("hie-east");
    claims["exp"] = json!(now() + 200);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

/// Every bad assertion the tests send, after `replayed` was used once.
fn bad_assertions(
    key: &ClientKey,
    audience: &str,
    replayed: String,
) -> Vec<(&'static str, String)> {
    let stranger = ClientKey::generate("hie-east-2026");
    vec![
        ("replayed jti", replayed),
        (
            "signed by an unregistered key with the same kid",
            stranger.assertion("hie-east", audience, |_| {}),
        ),
        (
            "claims edited after signing",
            edited_after_signing(&key.assertion("hie-east", audience, |_| {})),
        ),
        (
            "expired",
            key.assertion("hie-east", audience, |c| c["exp"] = json!(now() - 600)),
        ),
        (
            "lives an hour",
            key.assertion("hie-east", audience, |c| c["exp"] = json!(now() + 3600)),
        ),
        (
            "for another token endpoint",
            key.assertion("hie-east", "https://other.example/token", |_| {}),
        ),
        (
            "sub is not the client",
            key.assertion("hie-east", audience, |c| c["sub"] = json!("someone")),
        ),
        (
            "no jti",
            key.assertion("hie-east", audience, |c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "unknown client",
            key.assertion("hie-west", audience, |_| {}),
        ),
        ("alg none", {
            let header =
                URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "hie-east-2026"}).to_string());
            let body = URL_SAFE_NO_PAD.encode(json!({"iss": "hie-east", "sub": "hie-east", "aud": audience, "exp": now() + 60, "jti": rand_hex()}).to_string());
            format!("{header}.{body}.")
        }),
        ("HS384 with the public key as secret", {
            let mut header = Header::new(Algorithm::HS384);
            header.kid = Some("hie-east-2026".into());
            let claims = json!({"iss": "hie-east", "sub": "hie-east", "aud": audience, "exp": now() + 60, "jti": rand_hex()});
            let secret = EncodingKey::from_secret(key.jwk.to_string().as_bytes());
            jsonwebtoken::encode(&header, &claims, &secret).unwrap()
        }),
        ("not a JWT", "hello".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_assertion_is_an_invalid_client_and_gets_no_token() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let replayed = key.assertion("hie-east", &s.audience, |_| {});
    assert_eq!(s.send(&replayed).await.0, StatusCode::OK);
    for (what, assertion) in bad_assertions(&key, &s.audience, replayed) {
        let (status, body) = s.send(&assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(body.get("access_token").is_none());
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_scope_is_an_invalid_scope_and_a_password_grant_is_unsupported() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let (status, body) = token_for(
        &s.gateway,
        &key,
        "hie-east",
        "system/*.write patient/*.read",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = token(&s.gateway, &[("grant_type", "password"), ("username", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    s.stop().await;
}

/// Replace hie-east's keys with a new one, by the root.
async fn rotate(s: &Smart) -> ClientKey {
    let rotated = ClientKey::generate("hie-east-2027");
    let (status, _) = s
        .as_root(
            Method::PUT,
            "/admin/clients/hie-east",
            Some(&json!({"jwks": rotated.jwks()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    rotated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rotation_the_old_key_gets_no_token_and_the_new_one_does() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let rotated = rotate(&s).await;
    assert_eq!(
        token_for(&s.gateway, &key, "hie-east", "system/*.read")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = token_for(&s.gateway, &rotated, "hie-east", "system/*.read").await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_ends_live_tokens_at_once_and_they_stay_dead_after_registering_again() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let access = s.access_token(&key).await;
    let rotated = rotate(&s).await;
    let fresh = s.access_token(&rotated).await;
    let (status, _) = s
        .as_root(Method::DELETE, "/admin/clients/hie-east", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for token in [&access, &fresh] {
        assert_eq!(
            s.gateway.get(Some(token), "Patient").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        token_for(&s.gateway, &rotated, "hie-east", "system/*.read")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = s
        .as_root(Method::DELETE, "/admin/clients/hie-west", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such client");
    let again =
        json!({"client_id": "hie-east", "jwks": rotated.jwks(), "scopes": ["system/*.read"]});
    let (status, body) = s
        .as_root(Method::POST, "/admin/clients", Some(&again))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for token in [&access, &fresh] {
        assert_eq!(
            s.gateway.get(Some(token), "Patient").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nip98_event_from_outside_the_60_s_window_is_refused() {
    let s = smart().await;
    let url = s.clients_url();
    for skew in [-120i64, 120] {
        let at = nostr::prelude::Timestamp::from(u64::try_from(now() + skew).unwrap());
        let event = nostr::prelude::EventBuilder::new(Kind::HttpAuth, "")
            .tags([
                nostr::prelude::Tag::custom("u", [url.as_str()]),
                nostr::prelude::Tag::custom("method", ["GET"]),
            ])
            .custom_created_at(at)
            .finalize(s.practice.root.keys())
            .unwrap();
        let (status, _) = s
            .gateway
            .send_admin(Method::GET, &url, &http_auth::header(&event), String::new())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "created_at {skew} s away");
    }
    s.stop().await;
}

/// A static API key for hie-east with the Patient scope only, through the admin API.
async fn patient_only_api_key(s: &Smart) -> String {
    let request =
        json!({"client_id": "hie-east", "scopes": ["system/Patient.rs"], "expires_in_days": 30});
    let (status, issued) = s
        .as_root(Method::POST, "/admin/api-keys", Some(&request))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    issued["api_key"].as_str().unwrap().to_owned()
}

/// Status of a Bulk Data export of Observations with `token`.
async fn export_observations(gateway: &Running, token: &str) -> StatusCode {
    gateway
        .http
        .get(format!(
            "{}/Group/consented/$export?_type=Observation",
            gateway.base
        ))
        .bearer_auth(token)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_reaches_only_its_scope_is_listed_without_its_secret_and_is_revocable() {
    let s = smart().await;
    s.register_hie_east().await;
    let api_key = patient_only_api_key(&s).await;
    let api_key = api_key.as_str();
    assert_eq!(
        s.gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::OK
    );
    // Its scope is Patient only: other types, and exporting them, are refused.
    assert_eq!(
        s.gateway.get(Some(api_key), "Observation").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        export_observations(&s.gateway, api_key).await,
        StatusCode::FORBIDDEN
    );
    let (status, listed) = s.as_root(Method::GET, "/admin/clients", None).await;
    assert_eq!(status, StatusCode::OK);
    let key_id = api_key.split('_').nth(1).unwrap();
    assert!(
        listed["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["key_id"] == key_id)
    );
    assert!(
        !listed
            .to_string()
            .contains(api_key.split('_').nth(2).unwrap()),
        "no secret listed"
    );
    let (status, revoked) = s
        .as_root(Method::DELETE, &format!("/admin/api-keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(
        s.gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_lists_one_clients_reads_and_refusals_and_no_other_clients() {
    let s = smart().await;
    let key = s.register_hie_east().await;
    let access = s.access_token(&key).await;
    let gateway = &s.gateway;
    assert_eq!(
        gateway.get(Some(&access), "Patient").await.0,
        StatusCode::OK
    );
    let bob = format!("Patient/{}", patient_id(&s.bob.public_key()));
    assert_eq!(
        gateway.get(Some(&access), &bob).await.0,
        StatusCode::NOT_FOUND
    );
    let api_key = patient_only_api_key(&s).await;
    assert_eq!(
        gateway.get(Some(&api_key), "Patient").await.0,
        StatusCode::OK
    );
    assert_eq!(
        gateway.get(Some(&api_key), "Observation").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        export_observations(gateway, &api_key).await,
        StatusCode::FORBIDDEN
    );
    // Another facility's access, which the filtered log must leave out.
    let clinic = gateway.key("clinic-c").await;
    assert_eq!(
        gateway.get(Some(&clinic), "Patient").await.0,
        StatusCode::OK
    );
    let (status, log) = s
        .as_root(
            Method::GET,
            "/admin/access-log?client=hie-east&_count=50",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let logged: Vec<&Value> = log["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    // hie-east's accesses with valid credentials: Patient and Bob's 404 with the token,
    // Patient, Observation (403) and the refused export with the API key.
    assert_eq!(logged.len(), 5, "{log}");
    assert!(logged.iter().all(|e| e["resourceType"] == "AuditEvent"
        && e["agent"][0]["who"]["identifier"]["value"] == "hie-east"));
    let refused = logged.iter().filter(|e| e["outcome"] == "4").count();
    assert_eq!(refused, 3, "Bob's 404, the 403 and the refused export");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_cannot_read_the_access_log_and_an_unknown_filter_is_a_400() {
    let s = smart().await;
    let (status, _) = s
        .gateway
        .admin(&s.alice, Method::GET, "/admin/access-log", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a patient reads the practice log"
    );
    let (status, body) = s
        .as_root(Method::GET, "/admin/access-log?patient_name=x", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_origin_may_preflight_an_admin_post_and_read_a_refusals_reason() {
    let s = smart().await;
    let clients_url = s.clients_url();
    let clinic = "https://clinic.example.org";
    let preflight = s
        .gateway
        .http
        .request(Method::OPTIONS, &clients_url)
        .header("origin", clinic)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let header = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-methods").contains("post"));
    assert!(header("access-control-allow-headers").contains("authorization"));
    assert!(header("access-control-allow-headers").contains("content-type"));

    // A refusal (no NIP-98 header) names its reason where a cross-origin page may read it.
    let refused = s
        .gateway
        .http
        .post(&clients_url)
        .header("origin", clinic)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let headers = refused.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("x-reason")
    );
    assert!(headers.contains_key("x-reason"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_the_catch_up_status_and_what_it_serves() {
    let s = smart().await;
    let (status, body) = s.as_root(Method::GET, "/admin/status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["caught_up"], true, "{body}");
    assert_eq!(body["link"], "following", "{body}");
    assert_eq!(body["serving"], true, "{body}");
    // Alice and Bob consented; each chart has at least the records patient_with_chart wrote.
    assert_eq!(body["patients"], 2, "{body}");
    assert!(body["events"].as_u64().unwrap() >= 2, "{body}");
    let now = ehr_fhir_gateway::now().cast_unsigned();
    let last = body["last_event_at"].as_u64().unwrap();
    assert!(last <= now + 60 && last + 3600 > now, "{body}");
    assert_eq!(body["relay"], s.practice.relay_url.as_str(), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_cannot_read_the_catch_up_status() {
    let s = smart().await;
    let (status, body) = s
        .gateway
        .admin(&s.alice, Method::GET, "/admin/status", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    s.stop().await;
}
