//! The FHIR gateway's disclosure trail and Bulk Data, end to end on the real relay: HIEs run
//! Bulk Data exports, and every disclosure reaches the relay as a kind 2107 audit event that
//! only the practice and that patient can open. (SMART Backend Services registration and
//! assertions are in backend_services.rs.)
//!
//! Attacks: another facility's export; another patient reading an audit event; forged audit
//! events; a former admin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::*;
use ehr_client::audit::AuditRecord;
use ehr_client::keys::Identity;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::net::{Followed, RelayClient};
use ehr_client::roster::Role;
use ehr_fhir_gateway::served::patient_id;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Filter, Kind, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
