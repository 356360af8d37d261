//! The FHIR gateway end to end on the real relay, beyond plain reads (those are in reads.rs):
//! the gateway's key itself on a non-consenting chart, catch-up past a relay that caps
//! requests, scopes, deletions, late consent and refusals, and oversized or broken requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ehr_client::access::{AccessError, PracticeView};
use ehr_client::demo;
use ehr_client::fhir::ResourceType;
use ehr_client::kinds::ClinicalKind;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Filter, FinalizeEvent, Kind};
use reqwest::StatusCode;
use serde_json::Value;

mod common;

use common::*;

fn log_of(client: &str) -> ehr_fhir_gateway::store::audit::LogFilter {
    ehr_fhir_gateway::store::audit::LogFilter {
        client_id: Some(client.to_owned()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_key_cannot_open_a_chart_whose_patient_did_not_consent() {
    // Invariant 4, attacked: the gateway's own key, reading everything the relay lets it read,
    // decrypts nothing of a patient who never consented, and nothing written after a withdrawal.
    let practice = TestPractice::start().await.unwrap();
    let (never, _) = patient_with_chart(&practice).await;
    let (withdrew, chart_id) = patient_with_chart(&practice).await;
    consent(&practice, &withdrew.public_key(), &chart_id, &["*"]).await;
    withdraw(&practice, &withdrew.public_key()).await;
    let after = practice
        .write(
            &withdrew.public_key(),
            ClinicalKind::Encounter,
            demo::encounter(&chart_id),
        )
        .await
        .unwrap();

    let relay = ehr_client::net::RelayClient::connect(
        &practice.relay_url,
        &practice.gateway,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let everything = relay.fetch_all(Filter::new(), 5000).await.unwrap();
    let clinical: Vec<_> = everything
        .iter()
        .filter(|e| ClinicalKind::from_u16(e.kind.as_u16()).is_some())
        .collect();
    assert!(
        clinical
            .iter()
            .any(|e| e.tags.public_keys().any(|p| p == never.public_key())),
        "the relay should let the gateway read the ciphertext"
    );
    // Even with a full copy of the relay's database (the root reads everything), the gateway's
    // key opens nothing of theirs.
    let full_copy = practice.events().await.unwrap();
    assert!(full_copy.len() > everything.len());
    let view = PracticeView::load(
        &practice.root.public_key(),
        full_copy.iter(),
        &practice.gateway,
    );
    let opened = view.open(full_copy.iter(), Some(&never.public_key()));
    assert!(opened.records.is_empty());
    assert!(!opened.refused.is_empty());
    assert!(opened.refused.iter().all(|(_, e)| *e == AccessError::NoKey));
    let later = view.open([&after], Some(&withdrew.public_key()));
    assert!(later.records.is_empty());
    assert_eq!(later.refused[0].1, AccessError::NoKey);
    // The relay never hands the gateway an epoch grant: those open every chart.
    assert!(
        full_copy
            .iter()
            .any(|e| e.kind.as_u16() == ehr_client::kinds::EPOCH_GRANT)
    );
    assert!(
        everything
            .iter()
            .all(|e| e.kind.as_u16() != ehr_client::kinds::EPOCH_GRANT)
    );

    // The gateway itself serves neither.
    let gateway = Running::start(&practice).await;
    let any = gateway.key("any-facility").await;
    let (_, patients) = gateway.get(Some(&any), "Patient").await;
    assert!(entries(&patients).is_empty(), "{patients}");
    gateway.stop().await;
    relay.disconnect().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_pages_past_a_relay_that_caps_requests_and_never_returns_a_short_list() {
    // The relay answers at most 8 events per filter; the gateway and the CLI ask for 5,000.
    let practice = TestPractice::start_with(|config| config.limits.max_limit = 8)
        .await
        .unwrap();
    let start = nostr::prelude::Timestamp::now().as_secs() - 1000;
    let note = |content: String, at: u64| {
        nostr::prelude::EventBuilder::new(Kind::TextNote, content)
            .custom_created_at(nostr::prelude::Timestamp::from_secs(at))
            .finalize(practice.root.keys())
            .unwrap()
    };
    let spread: Vec<_> = (0..20)
        .map(|i| note(format!("spread {i}"), start + i))
        .collect();
    practice.publish(&spread).await.unwrap();
    let notes = Filter::new().kind(Kind::TextNote);
    let all = practice
        .connection()
        .fetch_all(notes.clone(), 5000)
        .await
        .unwrap();
    assert_eq!(all.len(), 20);

    // Nine in one second cannot be paged through eight at a time: an error, not eight of them.
    let crowded: Vec<_> = (0..9)
        .map(|i| note(format!("crowded {i}"), start - 10))
        .collect();
    practice.publish(&crowded).await.unwrap();
    let error = practice
        .connection()
        .fetch_all(notes, 5000)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("one second"), "{error}");
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_deletions_late_consent_and_refusals_are_enforced_and_logged() {
    let practice = TestPractice::start().await.unwrap();
    let (dana, dana_chart) = patient_with_chart(&practice).await;
    // The gateway starts before Dana consents: the wrap arrives live, and the gateway must go
    // back for the events written before it.
    let mut gateway = Running::start(&practice).await;
    let dana_id = ehr_fhir_gateway::served::patient_id(&dana.public_key());
    assert!(!gateway.snapshots.borrow().patients.contains_key(&dana_id));
    consent(&practice, &dana.public_key(), &dana_chart, &["lab-d"]).await;
    let wanted = dana_id.clone();
    gateway
        .until(|s| {
            s.patients
                .get(&wanted)
                .is_some_and(|p| p.resources.len() >= 10)
        })
        .await;

    // A token for Observations only: Patient is refused, $everything holds Observations only.
    let now = now();
    gateway.register("lab-d").await;
    let observations_only = gateway
        .store
        .add_api_key(
            "lab-d",
            &["system/Observation.rs".to_owned()],
            now,
            now + 3600,
        )
        .await
        .unwrap();
    let (status, body) = gateway.get(Some(&observations_only), "Patient").await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, everything) = gateway
        .get(
            Some(&observations_only),
            &format!("Patient/{dana_id}/$everything"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds = types(&everything);
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| k == "Observation"), "{kinds:?}");

    // A record entered in error answers 410 and leaves every search.
    let full = gateway.key("lab-d").await;
    let (_, conditions) = gateway
        .get(Some(&full), &format!("Condition?patient={dana_id}"))
        .await;
    let condition_id = entries(&conditions)[0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (view, events) = practice.doctor_view().await.unwrap();
    let (chart, _) = view.chart(&dana.public_key(), events.iter(), Default::default());
    let mut deletion = chart
        .of_type(ResourceType::Condition)
        .next()
        .unwrap()
        .resource
        .clone();
    deletion.set_version(
        deletion.version() + 1,
        ehr_client::fhir::RecordAction::Deletion,
    );
    practice
        .write(&dana.public_key(), ClinicalKind::Condition, deletion)
        .await
        .unwrap();
    let deleted = condition_id.clone();
    let patient = dana_id.clone();
    gateway
        .until(|s| {
            s.patients
                .get(&patient)
                .is_some_and(|p| p.is_gone(ResourceType::Condition, &deleted))
        })
        .await;
    let (status, body) = gateway
        .get(Some(&full), &format!("Condition/{condition_id}"))
        .await;
    assert_eq!((status, outcome(&body)), (StatusCode::GONE, "deleted"));
    let (_, conditions) = gateway
        .get(Some(&full), &format!("Condition?patient={dana_id}"))
        .await;
    assert!(!conditions.to_string().contains(&condition_id));

    // Refusals are OperationOutcomes too, and they are logged.
    let put = gateway
        .http
        .put(format!("{}/Patient/{dana_id}", gateway.base))
        .bearer_auth(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    let put: Value = put.json().await.unwrap();
    assert_eq!(outcome(&put), "not-supported");
    let (status, _) = gateway.get(Some(&full), "Observation?colour=blue").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let log = gateway
        .store
        .audit_log(&log_of("lab-d"), 1000)
        .await
        .unwrap();
    let outcomes: Vec<&str> = log.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"0"));
    assert!(
        outcomes.iter().filter(|o| **o == "4").count() >= 3,
        "the 403, the 410 and the 400 are logged: {outcomes:?}"
    );
    // The log keeps which parameters were asked, never their values (PHI at rest).
    let queries: Vec<String> = log
        .iter()
        .flat_map(|e| e["entity"].as_array().cloned().unwrap_or_default())
        .filter_map(|entity| entity["query"].as_str().map(str::to_owned))
        .map(|q| {
            use base64::Engine as _;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(q).unwrap()).unwrap()
        })
        .collect();
    assert!(queries.iter().any(|q| q == "colour"), "{queries:?}");
    assert!(!queries.iter().any(|q| q.contains("blue")), "{queries:?}");
    // A POST search without a form content type is still a search, not a 415.
    let posted = gateway
        .http
        .post(format!("{}/Patient/_search", gateway.base))
        .bearer_auth(&full)
        .body(format!("_id={dana_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let posted: Value = posted.json().await.unwrap();
    assert_eq!(entries(&posted).len(), 1);

    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_broken_paths_get_an_operation_outcome_and_change_nothing() {
    let practice = TestPractice::start().await.unwrap();
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;
    let huge = "a".repeat(3 << 20);
    let root = gateway.service_root();
    for (url, bearer) in [
        (format!("{}/Observation/_search", gateway.base), true),
        (format!("{}/auth/token", gateway.base), false),
        (format!("{root}/admin/api-keys"), false),
    ] {
        let token = bearer.then_some(hospital.as_str());
        let (status, has_reason, body) = post_raw(&url, token, huge.clone().into_bytes()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{url}");
        assert!(has_reason, "{url}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{url}: {body}");
        assert_eq!(outcome(&body), "too-costly", "{url}");
    }
    // A path segment that is not UTF-8 once decoded: the gateway's own 400, not axum's text.
    for path in ["Patient/%FF", "Patient/%FF/$everything", "bulkstatus/%FF"] {
        let (status, body) = gateway.get(Some(&hospital), path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(outcome(&body), "invalid", "{path}");
    }
    assert_eq!(
        gateway.store.api_keys().await.unwrap().len(),
        1,
        "only the hospital's key"
    );
    gateway.stop().await;
    practice.stop().await.unwrap();
}
