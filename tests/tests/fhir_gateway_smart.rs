//! The FHIR gateway's authorization and disclosure trail, end to end on the real relay: staff
//! register SMART Backend Services clients over NIP-98, facilities get tokens with ES384 client
//! assertions, HIEs run Bulk Data exports, and every disclosure reaches the relay as a kind
//! 2107 audit event that only the practice and that patient can open.
//!
//! Attacks: forged, replayed, expired, mis-addressed and wrongly signed assertions; a rotated
//! and a revoked client; NIP-98 by a patient, by the gateway's own agent key, replayed or for
//! another body; another facility's export; another patient reading an audit event.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod gateway_common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ehr_client::audit::AuditRecord;
use ehr_client::http_auth;
use ehr_client::keys::Identity;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::net::{Followed, RelayClient};
use ehr_client::roster::Role;
use ehr_fhir_gateway::served::patient_id;
use ehr_tests::practice::TestPractice;
use gateway_common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nostr::prelude::FinalizeEvent;
use nostr::prelude::{Filter, Kind, Timestamp};
use reqwest::StatusCode;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_services_clients_are_registered_over_nip98_and_every_bad_assertion_is_refused() {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (bob, bob_chart) = patient_with_chart(&practice).await;
    consent(&practice, &alice.public_key(), &alice_chart, &["hie-east"]).await;
    // Bob consented to another facility only: hie-east's tokens must not reach him.
    consent(&practice, &bob.public_key(), &bob_chart, &["hie-west"]).await;
    let gateway = Running::start(&practice).await;
    let audience = format!("{}/auth/token", gateway.base);

    // Discovery: the token endpoint in smart-configuration and in the CapabilityStatement.
    let configuration: Value = gateway
        .http
        .get(format!("{}/.well-known/smart-configuration", gateway.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(configuration["token_endpoint"], audience.as_str());
    assert_eq!(
        configuration["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS384", "ES384"])
    );
    let (_, metadata) = gateway.get(None, "metadata").await;
    let security = &metadata["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(
        security["extension"][0]["extension"][0]["valueUri"],
        audience.as_str()
    );

    // Registration is for the root and admins, signed with NIP-98, once per auth event.
    let key = ClientKey::generate("hie-east-2026");
    let registration =
        json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/*.read"]});
    let post = reqwest::Method::POST;
    let root = gateway.service_root();
    let clients_url = format!("{root}/admin/clients");
    let body = registration.to_string();
    let no_auth = gateway
        .send_admin(post.clone(), &clients_url, "", body.clone())
        .await;
    assert_eq!(no_auth.0, StatusCode::UNAUTHORIZED);
    for (who, signer) in [("patient", &alice), ("gateway agent", &practice.gateway)] {
        let (status, body) = gateway
            .admin(signer, post.clone(), "/admin/clients", Some(&registration))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    let other_body = http_auth::authorization(&practice.root, &clients_url, "POST", b"{}").unwrap();
    let (status, _) = gateway
        .send_admin(post.clone(), &clients_url, &other_body, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed for another body");
    let other_url = http_auth::authorization(
        &practice.root,
        "https://evil.example/admin/clients",
        "POST",
        body.as_bytes(),
    )
    .unwrap();
    let (status, _) = gateway
        .send_admin(post.clone(), &clients_url, &other_url, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed for another URL");
    // A JWKS carrying a private key, or a symmetric key, is refused as unprocessable.
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    // So are keys this gateway cannot verify SMART's algorithms with: a P-256 key, a
    // 1024-bit RSA key, and two keys under one kid.
    let p256 = {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": "p256",
               "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
    };
    let rsa_1024 = json!({"kty": "RSA", "kid": "small", "e": "AQAB",
                          "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128])});
    for jwks in [
        json!({"keys": [private]}),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}),
        json!({"keys": []}),
        json!({"keys": [p256]}),
        json!({"keys": [rsa_1024]}),
        json!({"keys": [key.jwk, ClientKey::generate("hie-east-2026").jwk]}),
    ] {
        let bad = json!({"client_id": "hie-east", "jwks": jwks, "scopes": ["system/*.read"]});
        let (status, body) = gateway
            .admin(&practice.root, post.clone(), "/admin/clients", Some(&bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    let auth =
        http_auth::authorization(&practice.root, &clients_url, "POST", body.as_bytes()).unwrap();
    let (status, created) = gateway
        .send_admin(post.clone(), &clients_url, &auth, body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["client_id"], "hie-east");
    let (status, _) = gateway
        .send_admin(post.clone(), &clients_url, &auth, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed auth event");
    // (Another body than the first: the same request signed in the same second is the same
    // auth event, and would be refused as a replay.)
    let again =
        json!({"client_id": "hie-east", "jwks": key.jwks(), "scopes": ["system/Patient.rs"]});
    let (status, _) = gateway
        .admin(&practice.root, post.clone(), "/admin/clients", Some(&again))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "registered twice");

    // A good assertion gets a short-lived token, which reads Alice and only Alice.
    let (status, granted) =
        token_for(&gateway, &key, "hie-east", "system/*.read launch/patient").await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(granted["token_type"], "bearer");
    assert_eq!(granted["scope"], "system/*.read");
    assert!(granted["expires_in"].as_i64().unwrap() <= 300);
    let access = granted["access_token"].as_str().unwrap().to_owned();
    let (status, patients) = gateway.get(Some(&access), "Patient").await;
    assert_eq!(status, StatusCode::OK);
    let found = entries(&patients);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["resource"]["id"],
        patient_id(&alice.public_key()).as_str()
    );
    let (status, _) = gateway
        .get(
            Some(&access),
            &format!("Patient/{}", patient_id(&bob.public_key())),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every bad assertion: invalid_client (401), and no token.
    let stranger = ClientKey::generate("hie-east-2026");
    let replayed = key.assertion("hie-east", &audience, |_| {});
    let send = |assertion: String| {
        let gateway = &gateway;
        async move {
            token(
                gateway,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        ehr_fhir_gateway::smart::ASSERTION_TYPE,
                    ),
                    ("client_assertion", &assertion),
                    ("scope", "system/*.read"),
                ],
            )
            .await
        }
    };
    assert_eq!(send(replayed.clone()).await.0, StatusCode::OK);
    let signed = key.assertion("hie-east", &audience, |_| {});
    let parts: Vec<&str> = signed.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("hie-east");
    claims["exp"] = json!(now() + 200);
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", replayed),
        (
            "signed by an unregistered key with the same kid",
            stranger.assertion("hie-east", &audience, |_| {}),
        ),
        ("claims edited after signing", edited),
        (
            "expired",
            key.assertion("hie-east", &audience, |c| c["exp"] = json!(now() - 600)),
        ),
        (
            "lives an hour",
            key.assertion("hie-east", &audience, |c| c["exp"] = json!(now() + 3600)),
        ),
        (
            "for another token endpoint",
            key.assertion("hie-east", "https://other.example/token", |_| {}),
        ),
        (
            "sub is not the client",
            key.assertion("hie-east", &audience, |c| c["sub"] = json!("someone")),
        ),
        (
            "no jti",
            key.assertion("hie-east", &audience, |c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "unknown client",
            key.assertion("hie-west", &audience, |_| {}),
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
            jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
            )
            .unwrap()
        }),
        ("not a JWT", "hello".to_owned()),
    ];
    for (what, assertion) in cases {
        let (status, body) = send(assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(body.get("access_token").is_none());
    }
    let (status, body) =
        token_for(&gateway, &key, "hie-east", "system/*.write patient/*.read").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body) = token(&gateway, &[("grant_type", "password"), ("username", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    // Rotation: the old key stops working, the new one works.
    let rotated = ClientKey::generate("hie-east-2027");
    let (status, _) = gateway
        .admin(
            &practice.root,
            reqwest::Method::PUT,
            "/admin/clients/hie-east",
            Some(&json!({"jwks": rotated.jwks()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        token_for(&gateway, &key, "hie-east", "system/*.read")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, fresh) = token_for(&gateway, &rotated, "hie-east", "system/*.read").await;
    assert_eq!(status, StatusCode::OK);
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();

    // Revocation ends live tokens at once, and no new one is issued.
    let (status, _) = gateway
        .admin(
            &practice.root,
            reqwest::Method::DELETE,
            "/admin/clients/hie-east",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for token in [&access, &fresh] {
        assert_eq!(
            gateway.get(Some(token), "Patient").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        token_for(&gateway, &rotated, "hie-east", "system/*.read")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = gateway
        .admin(
            &practice.root,
            reqwest::Method::DELETE,
            "/admin/clients/hie-west",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such client");
    // Registered again (by the practice root this time): the revoked tokens stay dead.
    let again =
        json!({"client_id": "hie-east", "jwks": rotated.jwks(), "scopes": ["system/*.read"]});
    let (status, body) = gateway
        .admin(&practice.root, post.clone(), "/admin/clients", Some(&again))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for token in [&access, &fresh] {
        assert_eq!(
            gateway.get(Some(token), "Patient").await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // A NIP-98 event from outside the 60 s window, either side, is refused.
    for skew in [-120i64, 120] {
        let at = nostr::prelude::Timestamp::from(u64::try_from(now() + skew).unwrap());
        let url = format!("{root}/admin/clients");
        let event = nostr::prelude::EventBuilder::new(Kind::HttpAuth, "")
            .tags([
                nostr::prelude::Tag::custom("u", [url.as_str()]),
                nostr::prelude::Tag::custom("method", ["GET"]),
            ])
            .custom_created_at(at)
            .finalize(practice.root.keys())
            .unwrap();
        let (status, _) = gateway
            .send_admin(
                reqwest::Method::GET,
                &url,
                &http_auth::header(&event),
                String::new(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "created_at {skew} s away");
    }

    // Static API keys through the same admin API; the access log lists the facility's reads.
    let (status, issued) = gateway.admin( &practice.root, post.clone(), "/admin/api-keys", Some(&json!({"client_id": "hie-east", "scopes": ["system/Patient.rs"], "expires_in_days": 30}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let api_key = issued["api_key"].as_str().unwrap();
    assert_eq!(
        gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::OK
    );
    // Its scope is Patient only: other types, and exporting them, are refused.
    assert_eq!(
        gateway.get(Some(api_key), "Observation").await.0,
        StatusCode::FORBIDDEN
    );
    let export = gateway
        .http
        .get(format!(
            "{}/Group/consented/$export?_type=Observation",
            gateway.base
        ))
        .bearer_auth(api_key)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    // Listed without its secret; revoked through the API.
    let (status, listed) = gateway
        .admin(&practice.root, reqwest::Method::GET, "/admin/clients", None)
        .await;
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
    // Another facility's access, which the filtered log must leave out.
    let clinic = gateway.key("clinic-c").await;
    assert_eq!(
        gateway.get(Some(&clinic), "Patient").await.0,
        StatusCode::OK
    );
    let (status, log) = gateway
        .admin(
            &practice.root,
            reqwest::Method::GET,
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
    // hie-east's accesses with valid credentials: Patient and Bob's 404 with the first token,
    // Patient, Observation (403) and the refused export with the API key.
    assert_eq!(logged.len(), 5, "{log}");
    assert!(logged.iter().all(|e| e["resourceType"] == "AuditEvent"
        && e["agent"][0]["who"]["identifier"]["value"] == "hie-east"));
    let refused = logged.iter().filter(|e| e["outcome"] == "4").count();
    assert_eq!(refused, 3, "Bob's 404, the 403 and the refused export");
    let (status, revoked) = gateway
        .admin(
            &practice.root,
            reqwest::Method::DELETE,
            &format!("/admin/api-keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(
        gateway.get(Some(api_key), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = gateway
        .admin(&alice, reqwest::Method::GET, "/admin/access-log", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a patient reads the practice log"
    );
    let (status, body) = gateway
        .admin(
            &practice.root,
            reqwest::Method::GET,
            "/admin/access-log?patient_name=x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disclosures_reach_the_relay_sealed_to_the_practice_and_the_patient_only() {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (bob, bob_chart) = patient_with_chart(&practice).await;
    consent(&practice, &alice.public_key(), &alice_chart, &["*"]).await;
    consent(&practice, &bob.public_key(), &bob_chart, &["*"]).await;
    practice.admit(&alice.public_key()).await.unwrap();
    practice.admit(&bob.public_key()).await.unwrap();
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;

    let alice_id = patient_id(&alice.public_key());
    let (status, _) = gateway
        .get(Some(&hospital), &format!("Patient/{alice_id}/$everything"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A search across both patients: one sealed event each, each naming only its patient.
    let (status, _) = gateway.get(Some(&hospital), "Condition").await;
    assert_eq!(status, StatusCode::OK);

    // Alice, with only her key, reads her audit events from the relay and opens them.
    let audit_of = |who: &Identity| {
        Filter::new()
            .kind(Kind::Custom(AUDIT_EVENT))
            .pubkey(who.public_key())
    };
    let alice_relay = RelayClient::connect(&practice.relay_url, &alice, Duration::from_secs(10))
        .await
        .unwrap();
    // Follow until both have arrived (the gateway publishes them right after answering).
    let mut following = alice_relay.follow(vec![audit_of(&alice)]).unwrap();
    let mut mine = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while mine.len() < 2 {
            if let Followed::Event(event) = following.next().await.unwrap() {
                mine.push(event.into_event());
            }
        }
    })
    .await
    .expect("the gateway published Alice's two audit events");
    let mut interactions = Vec::new();
    for event in &mine {
        let record = AuditRecord::parse(event.clone()).unwrap();
        assert_eq!(record.author(), practice.gateway.public_key());
        let opened = record.open_as_patient(&alice).await.unwrap();
        assert_eq!(
            opened["agent"][0]["who"]["identifier"]["value"],
            "hospital-a"
        );
        let named: Vec<&str> = opened["entity"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["what"]["reference"].as_str())
            .collect();
        assert_eq!(
            named,
            vec![format!("Patient/{alice_id}").as_str()],
            "only Alice is named"
        );
        interactions.push(opened["subtype"][0]["code"].as_str().unwrap().to_owned());
        // Bob cannot open Alice's copy.
        assert!(record.open_as_patient(&bob).await.is_err());
    }
    interactions.sort();
    assert_eq!(interactions, ["operation", "search-type"]);
    // The relay does not give Bob Alice's audit events.
    let bob_relay = RelayClient::connect(&practice.relay_url, &bob, Duration::from_secs(10))
        .await
        .unwrap();
    let seen_by_bob = bob_relay.fetch(vec![audit_of(&alice)]).await.unwrap();
    assert!(seen_by_bob.is_empty());

    // The practice follows all of them (Alice twice, Bob once) and opens each with the
    // epoch key; each names exactly the patient its `p` tag names.
    let (view, _) = practice.doctor_view().await.unwrap();
    let epoch = view.current_epoch_key().unwrap().clone();
    let mut following = practice
        .connection()
        .follow(vec![Filter::new().kind(Kind::Custom(AUDIT_EVENT))])
        .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while all.len() < 3 {
            if let Followed::Event(event) = following.next().await.unwrap() {
                all.push(AuditRecord::parse(event.into_event()).unwrap());
            }
        }
    })
    .await
    .expect("three audit events reach the relay");
    let mut per_patient = std::collections::BTreeMap::new();
    for record in &all {
        let opened = record.open_with_epoch_key(&epoch).unwrap();
        let named: Vec<String> = opened["entity"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["what"]["reference"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            named,
            vec![format!("Patient/{}", patient_id(&record.patient()))]
        );
        *per_patient.entry(record.patient()).or_insert(0) += 1;
    }
    assert_eq!(per_patient[&alice.public_key()], 2);
    assert_eq!(per_patient[&bob.public_key()], 1);

    // Nobody but the gateway (and the root) may write one: not the doctor, not a patient
    // forging a reassuring log about herself.
    let forged_by = |author: &Identity| {
        AuditRecord::seal(
            author,
            &alice.public_key(),
            (epoch.number, epoch.public_key()),
            r#"{"resourceType":"AuditEvent","outcome":"0"}"#,
            nostr::prelude::Timestamp::now(),
        )
        .unwrap()
        .event()
        .clone()
    };
    let doctor_relay = RelayClient::connect(
        &practice.relay_url,
        &practice.doctor,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    for (relay, author) in [(&doctor_relay, &practice.doctor), (&alice_relay, &alice)] {
        let outcome = relay.publish(&[forged_by(author)]).await.unwrap();
        assert!(
            matches!(&outcome[0], ehr_client::net::PublishOutcome::Refused { message } if message.starts_with("restricted:")),
            "{outcome:?}"
        );
    }
    doctor_relay.disconnect().await;

    alice_relay.disconnect().await;
    bob_relay.disconnect().await;
    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_export_gives_an_hie_its_consented_patients_as_ndjson_behind_its_token() {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    let (_dave, _) = patient_with_chart(&practice).await;
    consent(&practice, &alice.public_key(), &alice_chart, &["hie-east"]).await;
    consent(&practice, &carol.public_key(), &carol_chart, &["*"]).await;
    let mut gateway = Running::start(&practice).await;
    let hie = gateway.key("hie-east").await;
    let other = gateway.key("clinic-c").await;
    let http = gateway.http.clone();
    let base = gateway.base.clone();

    let kick_off = |token: String, query: &'static str, prefer: bool| {
        let request = gateway
            .http
            .get(format!("{}/Group/consented/$export{query}", base))
            .bearer_auth(token)
            .header("accept", "application/fhir+json");
        let request = if prefer {
            request.header("prefer", "respond-async")
        } else {
            request
        };
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        kick_off(hie.clone(), "", false).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        kick_off(hie.clone(), "?_outputFormat=text/csv", true)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        kick_off(hie.clone(), "?patient=x", true).await.status(),
        StatusCode::BAD_REQUEST
    );
    let missing = gateway
        .http
        .get(format!("{}/Group/everyone/$export", base))
        .bearer_auth(&hie)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let started = kick_off(hie.clone(), "?_type=Patient,Observation,Condition", true).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let status_url = started.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_owned();

    // Another facility's token does not see the job; no token gets 401.
    let poll = |token: &str| http.get(&status_url).bearer_auth(token).send();
    assert_eq!(poll(&other).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(
        http.get(&status_url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let manifest: Value = poll(&hie).await.unwrap().json().await.unwrap();
    assert_eq!(manifest["requiresAccessToken"], true);
    let outputs = manifest["output"].as_array().unwrap();
    let exported: Vec<&str> = outputs
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(exported, ["Patient", "Observation", "Condition"]);

    let allowed = [
        patient_id(&alice.public_key()),
        patient_id(&carol.public_key()),
    ];
    let download = |url: String, token: String| {
        let request = http.get(url).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let mut patients = Vec::new();
    for output in outputs {
        let url = output["url"].as_str().unwrap().to_owned();
        assert_eq!(
            download(url.clone(), other.clone()).await.status(),
            StatusCode::NOT_FOUND
        );
        let file = download(url, hie.clone()).await;
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()["content-type"], "application/fhir+ndjson");
        let text = file.text().await.unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u64, output["count"].as_u64().unwrap());
        for resource in &lines {
            assert_eq!(resource["resourceType"], output["type"]);
            let id = resource["id"].as_str().unwrap();
            let owner = id.split('-').next().unwrap();
            assert!(
                allowed.iter().any(|a| a == owner),
                "a non-consenting patient exported"
            );
            patients.push(owner.to_owned());
        }
    }
    patients.sort();
    patients.dedup();
    assert_eq!(patients.len(), 2, "Alice and Carol, not Dave");

    // Another credential of the same facility with a narrower scope sees only the files it
    // may export, and cannot download the others.
    let narrow = gateway
        .store
        .add_api_key(
            "hie-east",
            &["system/Patient.rs".to_owned()],
            now(),
            now() + 3600,
        )
        .await
        .unwrap();
    let listed: Value = poll(&narrow).await.unwrap().json().await.unwrap();
    let listed: Vec<&str> = listed["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Patient"]);
    let observations = outputs.iter().find(|o| o["type"] == "Observation").unwrap();
    let refused = download(
        observations["url"].as_str().unwrap().to_owned(),
        narrow.clone(),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // clinic-c's own export holds Carol (consent to any facility), never Alice (hie-east only).
    let theirs = kick_off(other.clone(), "?_type=Patient", true).await;
    assert_eq!(theirs.status(), StatusCode::ACCEPTED);
    let their_status = theirs.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_owned();
    let manifest: Value = http
        .get(&their_status)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = download(
        manifest["output"][0]["url"].as_str().unwrap().to_owned(),
        other.clone(),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        file.contains(&allowed[1]) && !file.contains(&allowed[0]),
        "{file}"
    );

    // Four exports at a time per facility: the fifth is refused until one is deleted.
    for _ in 0..3 {
        assert_eq!(
            kick_off(hie.clone(), "?_type=Patient", true).await.status(),
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        kick_off(hie.clone(), "?_type=Patient", true).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Carol withdraws after the kick-off: her records leave the files still to be downloaded.
    withdraw(&practice, &carol.public_key()).await;
    let carol_id = patient_id(&carol.public_key());
    gateway.until(|s| !s.patients.contains_key(&carol_id)).await;
    let again = download(outputs[0]["url"].as_str().unwrap().to_owned(), hie.clone())
        .await
        .text()
        .await
        .unwrap();
    assert!(!again.contains(&carol_id));
    assert!(again.contains(&allowed[0]));

    // Cancelling forgets the job.
    let deleted = gateway
        .http
        .delete(&status_url)
        .bearer_auth(&hie)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    assert_eq!(poll(&hie).await.unwrap().status(), StatusCode::NOT_FOUND);

    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_former_admin_cannot_administer_the_gateway() {
    let practice = TestPractice::start().await.unwrap();
    let admin = Identity::generate();
    practice
        .add_member(&admin.public_key(), Role::Admin)
        .await
        .unwrap();
    let mut gateway = Running::start(&practice).await;
    let get = reqwest::Method::GET;
    let (status, body) = gateway
        .admin(&admin, get.clone(), "/admin/clients", None)
        .await;
    assert_eq!(status, StatusCode::OK, "a current admin may: {body}");

    practice.revoke_member(&admin.public_key()).await.unwrap();
    let who = admin.public_key();
    gateway
        .until(|s| s.roster.role_at(&who, Timestamp::now()).is_none())
        .await;
    for path in ["/admin/clients", "/admin/access-log"] {
        let (status, body) = gateway.admin(&admin, get.clone(), path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, body) = gateway
        .admin(
            &admin,
            reqwest::Method::POST,
            "/admin/api-keys",
            Some(&json!({"client_id": "lab-x", "scopes": ["system/*.read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The same request twice in a second is two requests, and the root still may.
    for _ in 0..2 {
        let (status, body) = gateway
            .admin(&practice.root, get.clone(), "/admin/clients", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(
        !gateway
            .store
            .api_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.client_id == "lab-x"),
        "the refused call issued nothing"
    );

    gateway.stop().await;
    practice.stop().await.unwrap();
}
