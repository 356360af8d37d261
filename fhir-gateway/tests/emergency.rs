//! Break-glass at the gateway (DESIGN.md §15): a facility registered with the emergency scope
//! gets the International Patient Summary of a patient who opted in (a Consent with purpose
//! ETREAT), stating a reason, without her sharing consent naming it; the access is audited with
//! its purpose and reason, and she is sent a NIP-17 notice and a sealed audit copy at once.
//! Attacks: a patient who did not opt in (403, nothing disclosed, the same answer as for no
//! patient at all), no reason, an emergency token on every other route, an emergency scope
//! mixed with others, a sharing consent mistaken for an opt-in, a withdrawn opt-in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::audit::AuditRecord;
use ehr_client::fhir::Consent;
use ehr_client::keys::Identity;
use ehr_client::kinds::{AUDIT_EVENT, ClinicalKind};
use ehr_fhir_gateway::scopes::EMERGENCY_SCOPE;
use ehr_fhir_gateway::served::patient_id;
use ehr_fhir_gateway::store::audit::LogFilter;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Filter, Kind, PublicKey};
use reqwest::StatusCode;
use serde_json::Value;

mod common;

use common::*;

const REASON: &str = "Unconscious on arrival after a road accident";

struct Setting {
    practice: TestPractice,
    gateway: Running,
    alice: Identity,
    alice_id: String,
    bob_id: String,
    carol_id: String,
    /// er-east's emergency API key.
    emergency: String,
}

/// Alice opted in to emergency access; Bob did not; Carol shares with hospital-a only.
async fn setting() -> Setting {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    // She reads her notices on the practice relay, as a member.
    practice.admit(&alice.public_key()).await.unwrap();
    with_record_number(&practice, &alice.public_key(), &alice_chart).await;
    opt_in(&practice, &alice.public_key(), &alice_chart).await;
    let (bob, _) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    consent(
        &practice,
        &carol.public_key(),
        &carol_chart,
        &["hospital-a"],
    )
    .await;
    let gateway = Running::start(&practice).await;
    let emergency = emergency_key(&gateway, "er-east").await;
    Setting {
        alice_id: patient_id(&alice.public_key()),
        bob_id: patient_id(&bob.public_key()),
        carol_id: patient_id(&carol.public_key()),
        alice,
        practice,
        gateway,
        emergency,
    }
}

/// The patient's record number, as a new Patient record (the newest is hers).
const MRN: (&str, &str) = ("urn:oid:2.16.840.1.113883.19.5", "MRN-0042");

async fn with_record_number(practice: &TestPractice, patient: &PublicKey, chart_id: &str) {
    let (_, resource) = ehr_client::demo::one_of_each_kind(chart_id)
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Patient)
        .unwrap();
    let mut json = serde_json::to_value(&resource).unwrap();
    json["id"] = Value::String(ehr_client::demo::new_id());
    json["identifier"] = serde_json::json!([{"system": MRN.0, "value": MRN.1}]);
    practice
        .write(
            patient,
            ClinicalKind::Patient,
            serde_json::from_value(json).unwrap(),
        )
        .await
        .unwrap();
}

async fn opt_in(practice: &TestPractice, patient: &PublicKey, chart_id: &str) {
    practice
        .write(
            patient,
            ClinicalKind::Consent,
            Consent::emergency_access(chart_id, "2026-12-01"),
        )
        .await
        .unwrap();
    practice.maintain_keys().await.unwrap();
}

/// Register `client` with the emergency permission and issue it an emergency API key.
async fn emergency_key(gateway: &Running, client: &str) -> String {
    gateway
        .store
        .register_client(
            client,
            &ehr_fhir_gateway::smart::no_keys(),
            &[EMERGENCY_SCOPE.to_owned(), "system/*.read".to_owned()],
            "test harness",
            now(),
        )
        .await
        .unwrap();
    gateway
        .store
        .add_api_key(client, &[EMERGENCY_SCOPE.to_owned()], now(), now() + 3600)
        .await
        .unwrap()
}

fn summary_path(id: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!(
            "Patient/{id}/$summary?reason={}",
            form_urlencoded_value(reason)
        ),
        None => format!("Patient/{id}/$summary"),
    }
}

fn form_urlencoded_value(value: &str) -> String {
    value.replace(' ', "+")
}

impl Setting {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_in_patient_gets_her_summary_audited_with_the_reason_and_a_notice() {
    let s = setting().await;
    let (status, document) = s
        .gateway
        .get(Some(&s.emergency), &summary_path(&s.alice_id, Some(REASON)))
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["type"], "document");
    ehr_client::ips::check_summary(&document).unwrap();

    // The practice's access log: the purpose and the reason, found by purpose.
    let filter = LogFilter {
        purpose: Some("ETREAT".to_owned()),
        ..Default::default()
    };
    let log = s.gateway.store.audit_log(&filter, 100).await.unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
    assert_eq!(log[0]["purposeOfEvent"][0]["text"], REASON);
    assert_eq!(log[0]["agent"][0]["who"]["identifier"]["value"], "er-east");
    assert_eq!(log[0]["outcome"], "0");

    // Alice, with her key only: the sealed audit copy and the NIP-17 notice.
    let alice = &s.alice;
    let audits = follow_until(
        &s.practice,
        alice,
        Filter::new()
            .kind(Kind::Custom(AUDIT_EVENT))
            .pubkey(alice.public_key()),
        1,
    )
    .await;
    let opened = AuditRecord::parse(audits[0].clone())
        .unwrap()
        .open_as_patient(alice)
        .await
        .unwrap();
    assert_eq!(opened["purposeOfEvent"][0]["text"], REASON);
    let wraps = follow_until(
        &s.practice,
        alice,
        Filter::new()
            .kind(Kind::GiftWrap)
            .pubkey(alice.public_key()),
        1,
    )
    .await;
    let notice = ehr_client::dm::open(alice, &wraps[0]).unwrap();
    assert_eq!(notice.sender, s.practice.gateway.public_key());
    assert!(notice.text.contains("er-east"), "{}", notice.text);
    assert!(notice.text.contains(REASON), "{}", notice.text);
    assert_eq!(
        notice.subject.as_deref(),
        Some("Emergency access to your health summary")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_opt_in_the_answer_is_403_and_discloses_nothing() {
    let s = setting().await;
    let unknown = "0123456789abcdef01234567".to_owned();
    // Bob never opted in; Carol shares with a facility but did not opt in; nobody is unknown.
    let mut answers = Vec::new();
    for id in [&s.bob_id, &s.carol_id, &unknown] {
        let (status, body) = s
            .gateway
            .get(Some(&s.emergency), &summary_path(id, Some(REASON)))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.get("entry").is_none());
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "the refusals tell patients apart: {answers:#?}"
    );
    // No notice and no sealed copy for anyone: nothing was disclosed.
    let log = s
        .gateway
        .store
        .audit_log(
            &LogFilter {
                purpose: Some("ETREAT".to_owned()),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|event| event["outcome"] == "4"));
    assert!(
        log.iter()
            .all(|event| !event.to_string().contains("Patient/"))
    );
    assert!(s.gateway.store.outbox(100).await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_token_must_state_a_reason() {
    let s = setting().await;
    for path in [
        summary_path(&s.alice_id, None),
        summary_path(&s.alice_id, Some("   ")),
        summary_path(&s.alice_id, Some(&"x".repeat(501))),
    ] {
        let (status, body) = s.gateway.get(Some(&s.emergency), &path).await;
        assert_eq!(
            (status, outcome(&body)),
            (StatusCode::BAD_REQUEST, "invalid")
        );
    }
    // And a facility without the emergency scope may not state one.
    let hospital = s.gateway.key("hospital-a").await;
    let (status, _) = s
        .gateway
        .get(Some(&hospital), &summary_path(&s.carol_id, Some(REASON)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(s.gateway.store.outbox(100).await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_token_gets_nothing_but_the_summary() {
    let s = setting().await;
    let alice = &s.alice_id;
    for path in [
        format!("Patient/{alice}"),
        "Patient".to_owned(),
        format!("Condition?patient={alice}"),
        format!("Patient/{alice}/$everything"),
        format!("Patient/{alice}/Condition"),
    ] {
        let (status, body) = s.gateway.get(Some(&s.emergency), &path).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{path}: {status} {body}"
        );
        assert!(body.get("entry").is_none(), "{path}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
    }
    let export = s
        .gateway
        .http
        .get(format!("{}/Group/consented/$export", s.gateway.base))
        .bearer_auth(&s.emergency)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_scope_is_only_ever_alone_in_a_credential() {
    let s = setting().await;
    let mixed = s
        .gateway
        .store
        .add_api_key(
            "er-east",
            &[EMERGENCY_SCOPE.to_owned(), "system/*.read".to_owned()],
            now(),
            now() + 3600,
        )
        .await;
    assert!(mixed.is_err(), "an emergency key that also reads");
    // A facility not registered with the permission cannot be given it.
    s.gateway.register("hospital-a").await;
    let unregistered = s
        .gateway
        .store
        .add_api_key(
            "hospital-a",
            &[EMERGENCY_SCOPE.to_owned()],
            now(),
            now() + 3600,
        )
        .await;
    assert!(
        unregistered.is_err(),
        "an emergency key for a facility without the permission"
    );
    // A key issued while the permission was registered stops when it is taken away.
    s.gateway
        .store
        .rotate_client(
            "er-east",
            &ehr_fhir_gateway::smart::no_keys(),
            Some(&["system/*.read".to_owned()]),
            "test harness",
            now(),
        )
        .await
        .unwrap();
    let (status, body) = s
        .gateway
        .get(Some(&s.emergency), &summary_path(&s.alice_id, Some(REASON)))
        .await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::UNAUTHORIZED, "login")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_opt_in_ends_emergency_access() {
    let mut s = setting().await;
    let alice_key = s.alice.public_key();
    let (view, events) = s.practice.doctor_view().await.unwrap();
    let (chart, _) = view.chart(&alice_key, events.iter(), Default::default());
    let withdrawal = chart
        .newest_emergency_consent()
        .and_then(|e| e.resource.as_consent())
        .unwrap()
        .withdrawal();
    s.practice
        .write(&alice_key, ClinicalKind::Consent, withdrawal)
        .await
        .unwrap();
    s.practice.maintain_keys().await.unwrap();
    let alice_id = s.alice_id.clone();
    s.gateway
        .until(|snapshot| !snapshot.patients.contains_key(&alice_id))
        .await;
    let (status, _) = s
        .gateway
        .get(Some(&s.emergency), &summary_path(&s.alice_id, Some(REASON)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_type_level_summary_finds_an_opted_in_patient_by_identifier() {
    let s = setting().await;
    let token = format!("{}|{}", MRN.0, MRN.1);
    let path = format!(
        "Patient/$summary?identifier={}&reason={}",
        token.replace(':', "%3A").replace('|', "%7C"),
        form_urlencoded_value(REASON)
    );
    let (status, document) = s.gateway.get(Some(&s.emergency), &path).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["entry"][1]["resource"]["id"], s.alice_id.as_str());
    let (status, _) = s
        .gateway
        .get(
            Some(&s.emergency),
            &format!(
                "Patient/$summary?identifier=nobody&reason={}",
                form_urlencoded_value(REASON)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.stop().await;
}
