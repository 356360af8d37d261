//! A gateway cut off from the relay stops serving (DESIGN.md §6, "Following the relay"): it
//! cannot know of a withdrawal, a rotation or its own revocation while it does not follow, so
//! past `relay_outage_bound` every data request gets 503 with an OperationOutcome, and a
//! refusal by the relay (revoked, banned) stops it at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ehr_fhir_gateway::link::Link;
use ehr_tests::practice::TestPractice;
use nostr::prelude::PublicKey;
use reqwest::StatusCode;

mod common;

use common::*;

/// The id of the one patient the gateway serves.
async fn served_patient(gateway: &Running, token: &str) -> String {
    let (status, bundle) = gateway.get(Some(token), "Patient").await;
    assert_eq!(status, StatusCode::OK);
    let found = entries(&bundle);
    assert_eq!(found.len(), 1, "{bundle}");
    found[0]["resource"]["id"].as_str().unwrap().to_owned()
}

/// Status and whether the answer says why (`X-Reason`) and is an OperationOutcome.
async fn patient_read(
    gateway: &Running,
    token: &str,
    patient_id: &str,
) -> (StatusCode, bool, String) {
    let response = gateway
        .http
        .get(format!("{}/Patient/{patient_id}", gateway.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let has_reason = response.headers().contains_key("x-reason");
    let body: serde_json::Value = response.json().await.unwrap();
    let kind = body["resourceType"].as_str().unwrap_or_default().to_owned();
    (status, has_reason, kind)
}

/// A practice with one consenting patient, and a gateway serving her to `hospital-a` with the
/// outage bound `bound`: the gateway, the facility's token, the patient's id (read once) and
/// her key.
async fn serving(practice: &TestPractice, bound: Duration) -> (Running, String, String, PublicKey) {
    let (patient, chart_id) = patient_with_chart(practice).await;
    consent(practice, &patient.public_key(), &chart_id, &["hospital-a"]).await;
    let relay_url = practice.relay_url.clone();
    let gateway = Running::start_with(practice, &relay_url, |config| {
        config.relay_outage_bound = bound;
    })
    .await;
    let token = gateway.key("hospital-a").await;
    let patient_id = served_patient(&gateway, &token).await;
    assert_eq!(
        patient_read(&gateway, &token, &patient_id).await.0,
        StatusCode::OK
    );
    (gateway, token, patient_id, patient.public_key())
}

/// The read of the patient answers 503 with `X-Reason` and an OperationOutcome.
async fn assert_unavailable(gateway: &Running, token: &str, patient_id: &str) {
    let (status, has_reason, body) = patient_read(gateway, token, patient_id).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(has_reason);
    assert_eq!(body, "OperationOutcome");
}

#[tokio::test]
async fn a_gateway_removed_from_the_roster_stops_serving_tokens_it_issued_at_once() {
    let practice = TestPractice::start().await.unwrap();
    // The default bound (60 s) applies to outages; a refusal does not wait for it.
    let (mut gateway, token, patient_id, _) = serving(&practice, Duration::from_secs(60)).await;

    practice
        .revoke_member(&practice.gateway.public_key())
        .await
        .unwrap();
    gateway.until_link(|link| link == Link::Refused).await;

    assert_unavailable(&gateway, &token, &patient_id).await;
    let (status, search) = gateway.get(Some(&token), "Observation").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(outcome(&search), "transient");
    // What needs no patient data still answers.
    assert_eq!(gateway.get(None, "metadata").await.0, StatusCode::OK);

    gateway.stop().await;
    practice.stop().await.unwrap();
}

#[tokio::test]
async fn a_gateway_whose_relay_stopped_serves_nothing_past_the_bound() {
    let practice = TestPractice::start().await.unwrap();
    let (mut gateway, token, patient_id, _) = serving(&practice, Duration::ZERO).await;

    practice.stop().await.unwrap();
    gateway
        .until_link(|link| matches!(link, Link::Lost(_)))
        .await;

    assert_unavailable(&gateway, &token, &patient_id).await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_consent_withdrawn_while_the_relay_refused_the_gateway_is_never_served() {
    let practice = TestPractice::start().await.unwrap();
    let (mut gateway, token, patient_id, patient) = serving(&practice, Duration::ZERO).await;

    // The relay refuses the gateway (banned), so it does not see the withdrawal.
    manage(&practice, "banpubkey").await;
    withdraw(&practice, &patient).await;
    gateway.until_link(|link| link == Link::Refused).await;
    assert_unavailable(&gateway, &token, &patient_id).await;

    // Let back in, it serves again only after a catch-up, which includes the withdrawal.
    manage(&practice, "unbanpubkey").await;
    gateway.until_link(|link| link == Link::Following).await;
    let (status, _, body) = patient_read(&gateway, &token, &patient_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "OperationOutcome");

    gateway.stop().await;
    practice.stop().await.unwrap();
}

/// Ban or unban the gateway's key on the relay (NIP-86, by the root).
async fn manage(practice: &TestPractice, method: &str) {
    ehr_client::management::ManagementClient::for_relay(&practice.relay_url)
        .unwrap()
        .call(
            &practice.root,
            method,
            vec![serde_json::Value::String(
                practice.gateway.public_key().to_hex(),
            )],
        )
        .await
        .unwrap();
}
