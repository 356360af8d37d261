//! NIP-86 over NIP-98: every check on the auth event is attacked, and role changes reach
//! live connections without a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::{Db, Practice, TestRelay, clinical, member, nip86, nip98_header};
use ehr_client::http_auth;
use ehr_client::keys::Identity;
use ehr_client::roster::Role;
use nostr::prelude::*;
use serde_json::{Value, json};

async fn post(relay: &TestRelay, auth: Option<String>, body: &str) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(relay.http_url())
        .header("content-type", "application/nostr+json+rpc")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let reason = response
        .headers()
        .get("x-reason")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, reason, response.json().await.unwrap_or(Value::Null))
}

fn auth_event(keys: &Keys, tags: Vec<Tag>, created_at: Timestamp) -> String {
    let event = EventBuilder::new(Kind::HttpAuth, "")
        .tags(tags)
        .custom_created_at(created_at)
        .finalize(keys)
        .unwrap();
    http_auth::header(&event)
}

fn tag(name: &str, value: &str) -> Tag {
    Tag::custom(name, [value])
}

async fn every_nip98_check_is_enforced_with_401(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate().public_key().to_hex();
    let body = json!({"method": "allowpubkey", "params": [patient]}).to_string();
    let url = relay.http_url();
    let digest = ehr_client::document::sha256_hex(body.as_bytes());
    let now = Timestamp::now();
    let admin = &practice.admin;
    let good_tags = || {
        vec![
            tag("u", &url),
            tag("method", "POST"),
            tag("payload", &digest),
        ]
    };
    let wrong_kind = {
        let event = EventBuilder::new(Kind::TextNote, "")
            .tags(good_tags())
            .finalize(admin)
            .unwrap();
        http_auth::header(&event)
    };
    let forged = {
        let event = EventBuilder::new(Kind::HttpAuth, "")
            .tags(good_tags())
            .finalize(admin)
            .unwrap();
        let mut value: Value = serde_json::from_str(&event.as_json()).unwrap();
        value["pubkey"] = json!(practice.root.public_key().to_hex());
        format!(
            "Nostr {}",
            base64::engine::general_purpose::STANDARD.encode(value.to_string())
        )
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not base64", Some("Nostr !!!".into())),
        ("wrong kind", Some(wrong_kind)),
        ("forged signature", Some(forged)),
        (
            "other url",
            Some(auth_event(
                admin,
                vec![
                    tag("u", "http://127.0.0.1:1/"),
                    tag("method", "POST"),
                    tag("payload", &digest),
                ],
                now,
            )),
        ),
        (
            "url with a path",
            Some(auth_event(
                admin,
                vec![
                    tag("u", &format!("{url}admin")),
                    tag("method", "POST"),
                    tag("payload", &digest),
                ],
                now,
            )),
        ),
        (
            "wrong method",
            Some(auth_event(
                admin,
                vec![
                    tag("u", &url),
                    tag("method", "GET"),
                    tag("payload", &digest),
                ],
                now,
            )),
        ),
        (
            "wrong payload",
            Some(auth_event(
                admin,
                vec![
                    tag("u", &url),
                    tag("method", "POST"),
                    tag("payload", &"0".repeat(64)),
                ],
                now,
            )),
        ),
        (
            "no payload",
            Some(auth_event(
                admin,
                vec![tag("u", &url), tag("method", "POST")],
                now,
            )),
        ),
        (
            "expired",
            Some(auth_event(
                admin,
                good_tags(),
                Timestamp::from_secs(now.as_secs() - 120),
            )),
        ),
        (
            "from the future",
            Some(auth_event(
                admin,
                good_tags(),
                Timestamp::from_secs(now.as_secs() + 120),
            )),
        ),
    ];
    for (case, auth) in cases {
        let (status, reason, body_json) = post(&relay, auth, &body).await;
        assert_eq!(status, 401, "{case}: {body_json}");
        assert!(
            reason.is_some_and(|r| r.starts_with("unauthorized")),
            "{case}: X-Reason missing"
        );
    }
    // Nothing changed: the patient was never added.
    let (status, listed) = nip86(&relay, admin, "listallowedpubkeys", json!([])).await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed["result"].is_array(), "{listed}");
    assert!(!listed["result"].to_string().contains(&patient));

    // The genuine call works once; its replay inside the window is refused.
    let auth = nip98_header(admin, &url, body.as_bytes());
    let (status, _, answer) = post(&relay, Some(auth.clone()), &body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, reason, _) = post(&relay, Some(auth), &body).await;
    assert_eq!(status, 401);
    assert!(reason.unwrap().contains("already used"));
    relay.stop().await;
}

async fn only_staff_manage_and_only_admins_ban(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    let (status, body) = nip86(
        &relay,
        &practice.frontdesk,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for outsider in [&patient, &Keys::generate(), &practice.gateway] {
        let (status, body) = nip86(
            &relay,
            outsider,
            "allowpubkey",
            json!([Keys::generate().public_key().to_hex()]),
        )
        .await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = nip86(
        &relay,
        &practice.doctor,
        "banpubkey",
        json!([patient.public_key().to_hex(), "abuse"]),
    )
    .await;
    assert_eq!(status, 403, "a doctor may not ban");
    let (status, _) = nip86(
        &relay,
        &practice.doctor,
        "assignrole",
        json!([patient.public_key().to_hex(), "doctor"]),
    )
    .await;
    assert_eq!(status, 400, "staff roles come only from the roster");
    let (status, _) = nip86(
        &relay,
        &practice.admin,
        "unallowpubkey",
        json!([practice.nurse.public_key().to_hex()]),
    )
    .await;
    assert_eq!(status, 400, "staff are revoked by roster, not NIP-86");
    let (status, methods) = nip86(&relay, &practice.admin, "supportedmethods", json!([])).await;
    assert_eq!(status, 200);
    for method in [
        "allowpubkey",
        "unallowpubkey",
        "listallowedpubkeys",
        "banpubkey",
        "assignrole",
        "unassignrole",
    ] {
        assert!(
            methods["result"]
                .as_array()
                .unwrap()
                .contains(&json!(method)),
            "{method}"
        );
    }
    let (status, body) = nip86(&relay, &practice.admin, "nosuchmethod", json!([])).await;
    assert_eq!(status, 400, "{body}");
    relay.stop().await;
}

async fn role_changes_reach_live_connections_without_a_restart(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    let mut doctor = relay.client(&practice.doctor).await;
    let record = clinical(&practice.doctor, 2113, &patient.public_key());
    doctor.publish_ok(&record).await;

    let mut connection = relay.client(&patient).await;
    let closed = connection.req("before", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("restricted:"), "{closed}");
    nip86(
        &relay,
        &practice.nurse,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    let seen = connection
        .req("after", &[json!({"#p": [patient.public_key().to_hex()]})])
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![record.id]
    );
    connection
        .publish_ok(&clinical(&patient, 2117, &patient.public_key()))
        .await;

    nip86(
        &relay,
        &practice.admin,
        "banpubkey",
        json!([patient.public_key().to_hex(), "lost device"]),
    )
    .await;
    let closed = connection.req("banned", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("blocked:"), "{closed}");
    let (ok, message) = connection
        .publish(&clinical(&patient, 2117, &patient.public_key()))
        .await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    nip86(
        &relay,
        &practice.admin,
        "unbanpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    nip86(
        &relay,
        &practice.admin,
        "unallowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    let closed = connection.req("removed", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("restricted:"), "{closed}");
    relay.stop().await;
}

async fn the_ehr_management_client_adds_patients(db: Db) {
    use ehr_client::management::{ManagementClient, ManagementError};
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let client = ManagementClient::for_relay(&relay.url).unwrap();
    let frontdesk =
        ehr_client::keys::Identity::from_secret_key(practice.frontdesk.secret_key().clone());
    let patient = Keys::generate();
    let added = client
        .call(
            &frontdesk,
            "assignrole",
            vec![json!(patient.public_key().to_hex()), json!("patient")],
        )
        .await
        .unwrap();
    assert_eq!(added, json!(true));
    let mut connection = relay.client(&patient).await;
    connection.req("now", &[json!({})]).await.unwrap();
    // A patient cannot add anyone: the relay answers 403 and the client reports it.
    let as_patient = ehr_client::keys::Identity::from_secret_key(patient.secret_key().clone());
    let refused = client
        .call(
            &as_patient,
            "allowpubkey",
            vec![json!(Keys::generate().public_key().to_hex())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ManagementError::Refused { status: 403, .. }),
        "{refused}"
    );
    relay.stop().await;
}

/// Store the next roster link, built from the genesis by `change`, signed by `signer`.
async fn next_roster(
    practice: &Practice,
    relay: &TestRelay,
    signer: &Keys,
    change: impl FnOnce(&mut ehr_client::roster::RosterContent),
) {
    let mut content = practice.genesis_content();
    content.sequence = 1;
    content.previous = Some(practice.genesis.id);
    change(&mut content);
    let identity = Identity::from_secret_key(signer.secret_key().clone());
    let roster = content.sign(&identity, Timestamp::now()).unwrap();
    relay.client(signer).await.publish_ok(&roster).await;
}

async fn only_the_root_bans_an_admin(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let second = Keys::generate();
    let since = Timestamp::from_secs(Timestamp::now().as_secs() - 60);
    next_roster(&practice, &relay, &practice.root_keys(), |content| {
        content.members.push(member(&second, Role::Admin, since));
    })
    .await;
    let target = second.public_key().to_hex();

    // One admin tries to lock another out: refused, and nothing changes.
    let (status, body) = nip86(
        &relay,
        &practice.admin,
        "banpubkey",
        json!([target, "takeover"]),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("root"), "{body}");
    let (_, banned) = nip86(&relay, &practice.admin, "listbannedpubkeys", json!([])).await;
    assert!(!banned["result"].to_string().contains(&target), "{banned}");
    let mut victim = relay.client(&second).await;
    victim.req("still", &[json!({})]).await.unwrap();

    // The root may.
    let (status, body) = nip86(
        &relay,
        &practice.root_keys(),
        "banpubkey",
        json!([target, "lost device"]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = victim.req("banned", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("blocked:"), "{closed}");
    // And only the root lets a banned admin back in.
    let (status, body) = nip86(&relay, &practice.admin, "unbanpubkey", json!([target])).await;
    assert_eq!(status, 403, "{body}");
    let closed = victim.req("still banned", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("blocked:"), "{closed}");
    relay.stop().await;
}

async fn staff_keys_current_or_revoked_never_become_patients_or_guardians(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    // The nurse is revoked; the doctor is current staff, the gateway a current agent.
    next_roster(&practice, &relay, &practice.admin, |content| {
        content.epoch = 1;
        content.epoch_public_key = Keys::generate().public_key();
        for m in &mut content.members {
            if m.pubkey == practice.nurse.public_key() {
                m.valid_until = Some(Timestamp::now());
            }
        }
    })
    .await;
    for key in [&practice.doctor, &practice.nurse, &practice.gateway] {
        let hex = key.public_key().to_hex();
        for (method, params) in [
            ("allowpubkey", json!([hex])),
            ("assignrole", json!([hex, "patient"])),
            ("assignrole", json!([hex, "guardian"])),
        ] {
            let (status, body) = nip86(&relay, &practice.admin, method, params).await;
            assert_eq!(status, 400, "{method} {body}");
        }
    }
    let (_, listed) = nip86(&relay, &practice.admin, "listallowedpubkeys", json!([])).await;
    let nurse = practice.nurse.public_key().to_hex();
    assert!(!listed["result"].to_string().contains(&nurse), "{listed}");
    // The revoked key still reads nothing.
    let mut revoked = relay.client(&practice.nurse).await;
    let closed = revoked.req("back", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("restricted:"), "{closed}");
    relay.stop().await;
}

/// A browser on another origin (the clinic app) may call NIP-86: the preflight allows the
/// method and the headers a call carries, and the answer exposes its reason.
async fn a_browser_on_another_origin_may_call_the_management_api(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, relay.http_url())
        .header("origin", "http://clinic.example")
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
    let allowed = header("access-control-allow-headers");
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    // An unauthenticated call is still refused, readably from that origin.
    let refused = reqwest::Client::new()
        .post(relay.http_url())
        .header("origin", "http://clinic.example")
        .header("content-type", "application/nostr+json+rpc")
        .body(r#"{"method":"supportedmethods","params":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let exposed = refused
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(exposed.contains("x-reason"), "{exposed}");
    relay.stop().await;
}

on_both_backends!(
    a_browser_on_another_origin_may_call_the_management_api,
    only_the_root_bans_an_admin,
    staff_keys_current_or_revoked_never_become_patients_or_guardians,
    the_ehr_management_client_adds_patients,
    every_nip98_check_is_enforced_with_401,
    only_staff_manage_and_only_admins_ban,
    role_changes_reach_live_connections_without_a_restart,
);
