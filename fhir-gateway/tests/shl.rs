//! SMART Health Links at the gateway (DESIGN.md §15), driven as the patient's portal would
//! (NIP-98 signed by her key) and opened by `tests/python/shl_client.py`, a receiver written
//! from the specification with jwcrypto's JWE, not by this project's viewer. Attacks: a wrong
//! passcode until the link is disabled, an expired link, a revoked one, another patient or a
//! stranger managing her links, a replayed signature, a malformed file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::audit::AuditRecord;
use ehr_client::ips::{self, SummaryOptions};
use ehr_client::keys::Identity;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::shl::{self, FHIR_JSON, LinkKey, LinkListing, NewLink};
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Filter, Kind, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;

use common::*;

struct Setting {
    practice: TestPractice,
    gateway: Running,
    alice: Identity,
    bob: Identity,
    /// Alice's summary, as her portal builds it.
    summary: Value,
}

async fn setting() -> Setting {
    let practice = TestPractice::start().await.unwrap();
    let (alice, _) = patient_with_chart(&practice).await;
    let (bob, _) = patient_with_chart(&practice).await;
    for patient in [&alice, &bob] {
        practice.admit(&patient.public_key()).await.unwrap();
    }
    let (view, events) = practice.doctor_view().await.unwrap();
    let (chart, _) = view.chart(&alice.public_key(), events.iter(), Default::default());
    let summary = ips::patient_summary(
        &chart,
        &SummaryOptions::new(Timestamp::now(), "Test practice"),
    )
    .unwrap();
    // The gateway serves no chart of theirs (no consent): links need none.
    let gateway = Running::start(&practice).await;
    Setting {
        practice,
        gateway,
        alice,
        bob,
        summary,
    }
}

impl Setting {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }

    /// Alice's portal creates a link to `document`: the key stays here.
    async fn create(
        &self,
        who: &Identity,
        change: impl FnOnce(&mut NewLink),
    ) -> (StatusCode, Value, LinkKey) {
        let key = LinkKey::generate().unwrap();
        let file = shl::encrypt_file(&key, FHIR_JSON, self.summary.to_string().as_bytes()).unwrap();
        let mut link = NewLink {
            label: "Emergency summary".to_owned(),
            expires_at: Some(u64::try_from(now()).unwrap() + 86_400),
            passcode: None,
            passcode_attempts: None,
            latest: false,
            file,
            sealed_key: ehr_client::crypto::nip44_encrypt(
                who.secret_key(),
                &who.public_key(),
                &key.to_base64url(),
            )
            .unwrap(),
        };
        change(&mut link);
        let body = serde_json::to_value(&link).unwrap();
        let (status, answer) = self
            .gateway
            .admin(who, Method::POST, "/shl", Some(&body))
            .await;
        (status, answer, key)
    }
}

fn shlink(listing: &Value, key: &LinkKey) -> String {
    let listing: LinkListing = serde_json::from_value(listing.clone()).unwrap();
    format!("https://viewer.example/#{}", listing.payload(key).to_link())
}

fn open(link: &str, recipient: &str, extra: &[&str]) -> Value {
    let mut args = vec![link, recipient];
    args.extend_from_slice(extra);
    ehr_tests::python::shl_client(&args).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_written_from_the_specification_opens_her_link_and_she_is_told() {
    let s = setting().await;
    let (status, listing, key) = s
        .create(&s.alice, |link| link.passcode = Some("4711".to_owned()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{listing}");
    assert_eq!(listing["remainingAttempts"], 5);
    let link = shlink(&listing, &key);

    let wrong = open(&link, "St Elsewhere ER", &["--passcode", "0000"]);
    assert_eq!(
        (
            wrong["status"].as_u64(),
            wrong["remainingAttempts"].as_u64()
        ),
        (Some(401), Some(4))
    );
    let opened = open(&link, "St Elsewhere ER", &["--passcode", "4711"]);
    assert_eq!(opened["status"], 200, "{opened}");
    assert_eq!(opened["manifestStatus"], "finalized");
    assert_eq!(opened["flag"], "P");
    let file = &opened["files"][0];
    assert_eq!(
        (
            file["contentType"].as_str(),
            file["cty"].as_str(),
            file["how"].as_str()
        ),
        (Some(FHIR_JSON), Some(FHIR_JSON), Some("embedded"))
    );
    assert_eq!(file["resource"], s.summary);
    ips::check_summary(&file["resource"]).unwrap();
    // A recipient that wants small manifests gets the file by its location.
    let by_location = open(
        &link,
        "St Elsewhere ER",
        &["--passcode", "4711", "--embedded-length-max", "10"],
    );
    assert_eq!(by_location["files"][0]["how"], "location");
    assert_eq!(by_location["files"][0]["resource"], s.summary);

    // She sees three accesses: in her list, in her access log, and as three notices.
    let (_, list) = s.gateway.admin(&s.alice, Method::GET, "/shl", None).await;
    assert_eq!(list["links"][0]["accesses"], 2);
    assert_eq!(list["links"][0]["remainingAttempts"], 4);
    let alice = &s.alice;
    let audits = follow_until(
        &s.practice,
        alice,
        Filter::new()
            .kind(Kind::Custom(AUDIT_EVENT))
            .pubkey(alice.public_key()),
        3,
    )
    .await;
    let mut outcomes = Vec::new();
    for event in audits {
        let opened = AuditRecord::parse(event)
            .unwrap()
            .open_as_patient(alice)
            .await
            .unwrap();
        assert_eq!(opened["subtype"][0]["code"], "shl-manifest");
        assert_eq!(opened["agent"][0]["who"]["display"], "St Elsewhere ER");
        assert_eq!(opened["entity"][1]["name"], "Emergency summary");
        outcomes.push(opened["outcome"].as_str().unwrap().to_owned());
    }
    outcomes.sort();
    assert_eq!(outcomes, ["0", "0", "4"]);
    let wraps = follow_until(
        &s.practice,
        alice,
        Filter::new()
            .kind(Kind::GiftWrap)
            .pubkey(alice.public_key()),
        3,
    )
    .await;
    for wrap in wraps {
        let notice = ehr_client::dm::open(alice, &wrap).unwrap();
        assert_eq!(notice.sender, s.practice.gateway.public_key());
        assert!(notice.text.contains("St Elsewhere ER"), "{}", notice.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passcodes_use_up_the_attempts_and_disable_the_link() {
    let s = setting().await;
    let (_, listing, key) = s
        .create(&s.alice, |link| {
            link.passcode = Some("4711".to_owned());
            link.passcode_attempts = Some(2);
        })
        .await;
    let link = shlink(&listing, &key);
    let first = open(&link, "guesser", &["--passcode", "1111"]);
    assert_eq!(first["remainingAttempts"], 1);
    let missing = open(&link, "guesser", &[]);
    assert_eq!(
        (
            missing["status"].as_u64(),
            missing["remainingAttempts"].as_u64()
        ),
        (Some(401), Some(0))
    );
    let right = open(&link, "guesser", &["--passcode", "4711"]);
    assert_eq!(
        right["status"], 404,
        "the right passcode after the last attempt"
    );
    let (_, list) = s.gateway.admin(&s.alice, Method::GET, "/shl", None).await;
    assert!(list["links"][0]["endedAt"].is_u64());
    assert_eq!(list["links"][0]["accesses"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_revoked_link_gives_nothing() {
    let s = setting().await;
    // An expired link, stored as if created a while ago.
    let key = LinkKey::generate().unwrap();
    let expired = NewLink {
        label: "Old".to_owned(),
        expires_at: Some(u64::try_from(now()).unwrap() - 60),
        passcode: None,
        passcode_attempts: None,
        latest: false,
        file: shl::encrypt_file(&key, FHIR_JSON, b"{}").unwrap(),
        sealed_key: "sealed".to_owned(),
    };
    let row = s
        .gateway
        .store
        .create_link(&s.alice.public_key().to_hex(), &expired, now() - 3600)
        .await
        .unwrap()
        .unwrap();
    let url = format!("{}/shl/{}", s.gateway.service_root(), row.link_id);
    let listing = serde_json::to_value(row.listing(url)).unwrap();
    // Past its `exp`, the specification's client does not even ask; the server refuses anyway.
    assert_eq!(open(&shlink(&listing, &key), "ER", &[])["expired"], true);
    let manifest = s
        .gateway
        .http
        .post(format!("{}/shl/{}", s.gateway.service_root(), row.link_id))
        .json(&json!({"recipient": "ER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::NOT_FOUND);

    let (_, listing, key) = s.create(&s.alice, |_| {}).await;
    let link = shlink(&listing, &key);
    assert_eq!(open(&link, "ER", &[])["status"], 200);
    let id = listing["id"].as_str().unwrap();
    // Bob cannot revoke it, nor see it; Alice can.
    let (status, _) = s
        .gateway
        .admin(&s.bob, Method::DELETE, &format!("/shl/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, bobs) = s.gateway.admin(&s.bob, Method::GET, "/shl", None).await;
    assert_eq!(bobs["links"], json!([]));
    let (status, revoked) = s
        .gateway
        .admin(&s.alice, Method::DELETE, &format!("/shl/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["endedAt"].is_u64());
    assert_eq!(open(&link, "ER", &[])["status"], 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_patient_manages_her_links_and_bad_input_changes_nothing() {
    let s = setting().await;
    // A key the practice's records do not name.
    let stranger = Identity::generate();
    let (status, _, _) = s.create(&stranger, |_| {}).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A malformed file, a past expiry, a long label: 422 and nothing stored.
    for change in [
        (|l: &mut NewLink| l.file = "not a jwe".to_owned()) as fn(&mut NewLink),
        |l| l.expires_at = Some(1),
        |l| l.label = "x".repeat(81),
        |l| l.passcode = Some("12".to_owned()),
    ] {
        let (status, body, _) = s.create(&s.alice, change).await;
        assert_eq!(
            (status, outcome(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "processing"),
            "{body}"
        );
    }
    let (_, list) = s.gateway.admin(&s.alice, Method::GET, "/shl", None).await;
    assert_eq!(list["links"], json!([]));
    // A replayed signature.
    let url = format!("{}/shl", s.gateway.service_root());
    let auth = ehr_client::http_auth::authorization(&s.alice, &url, "GET", b"").unwrap();
    let (first, _) = s
        .gateway
        .send_admin(Method::GET, &url, &auth, String::new())
        .await;
    let (again, _) = s
        .gateway
        .send_admin(Method::GET, &url, &auth, String::new())
        .await;
    assert_eq!((first, again), (StatusCode::OK, StatusCode::UNAUTHORIZED));
    // A manifest request without a recipient.
    let (_, listing, _) = s.create(&s.alice, |_| {}).await;
    let manifest = s
        .gateway
        .http
        .post(listing["url"].as_str().unwrap())
        .json(&json!({"passcode": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_kept_current_takes_her_new_summary_and_a_snapshot_does_not() {
    let s = setting().await;
    let (_, latest, key) = s.create(&s.alice, |link| link.latest = true).await;
    let link = shlink(&latest, &key);
    assert_eq!(open(&link, "ER", &[])["manifestStatus"], "can-change");
    let newer = json!({"resourceType": "Bundle", "type": "document", "id": "newer"});
    let file = shl::encrypt_file(&key, FHIR_JSON, newer.to_string().as_bytes()).unwrap();
    let id = latest["id"].as_str().unwrap();
    let (status, _) = s
        .gateway
        .admin(
            &s.alice,
            Method::PUT,
            &format!("/shl/{id}/file"),
            Some(&json!({"file": file})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open(&link, "ER", &[])["files"][0]["resource"], newer);

    let (_, snapshot, _) = s.create(&s.alice, |_| {}).await;
    let id = snapshot["id"].as_str().unwrap();
    let (status, _) = s
        .gateway
        .admin(
            &s.alice,
            Method::PUT,
            &format!("/shl/{id}/file"),
            Some(&json!({"file": file})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bob cannot replace Alice's file.
    let id = latest["id"].as_str().unwrap();
    let (status, _) = s
        .gateway
        .admin(
            &s.bob,
            Method::PUT,
            &format!("/shl/{id}/file"),
            Some(&json!({"file": file})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_no_more_tries_than_the_link_allows() {
    let s = setting().await;
    let (_, listing, _) = s
        .create(&s.alice, |link| {
            link.passcode = Some("4711".to_owned());
            link.passcode_attempts = Some(3);
        })
        .await;
    let url = listing["url"].as_str().unwrap().to_owned();
    let guesses = (0..8).map(|i| {
        let (http, url) = (s.gateway.http.clone(), url.clone());
        tokio::spawn(async move {
            let answer = http
                .post(url)
                .json(&json!({"recipient": "guesser", "passcode": format!("000{i}")}))
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    });
    let mut checked = 0;
    for guess in guesses {
        let (status, body) = guess.await.unwrap();
        assert_ne!(status, StatusCode::OK);
        // A guess that was compared took an attempt and says how many are left; the others
        // found none to take.
        if status == StatusCode::UNAUTHORIZED && body["remainingAttempts"].as_u64() < Some(3) {
            checked += 1;
        }
    }
    assert!(
        checked <= 3,
        "{checked} guesses were compared with three attempts"
    );
    let right = s
        .gateway
        .http
        .post(&url)
        .json(&json!({"recipient": "owner", "passcode": "4711"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        right.status(),
        StatusCode::NOT_FOUND,
        "the link is disabled"
    );
    // Requests for an ended link are not logged: an old QR code cannot fill her access log.
    let logged = async || {
        let filter = ehr_fhir_gateway::store::audit::LogFilter {
            client_id: Some(format!("shl:{}", listing["id"].as_str().unwrap())),
            ..Default::default()
        };
        s.gateway
            .store
            .audit_log(&filter, 1000)
            .await
            .unwrap()
            .len()
    };
    let before = logged().await;
    let _ = s
        .gateway
        .http
        .post(&url)
        .json(&json!({"recipient": "owner", "passcode": "4711"}))
        .send()
        .await
        .unwrap();
    assert_eq!(logged().await, before);
    s.stop().await;
}
