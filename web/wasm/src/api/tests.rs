#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::access::PracticeView;
use ehr_client::connection::Connection;
use ehr_client::demo;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::rotation;

use super::*;

/// A practice (root, one admin who writes records) with one patient and one record of every
/// clinical kind; the events as a relay would serve them to the patient.
struct Practice {
    root: Identity,
    admin: Identity,
    patient: Identity,
    events: Vec<Event>,
}

fn practice() -> Practice {
    let root = Identity::generate();
    let admin = Identity::generate();
    let patient = Identity::generate();
    let now = Timestamp::now();
    let (mut events, _) = rotation::genesis(&root, Some((admin.public_key(), None)), now).unwrap();
    let view = PracticeView::load(&root.public_key(), &events, &admin);
    events.extend(rotation::enrol_patient(&view, &admin, &patient.public_key(), now).unwrap());
    let view = PracticeView::load(&root.public_key(), &events, &admin);
    let key = view.write_key(&patient.public_key()).unwrap().clone();
    for (kind, resource) in demo::one_of_each_kind("pt-1") {
        let event = ClinicalEventBuilder::new(kind, resource, patient.public_key())
            .unwrap()
            .sign(&admin, &key)
            .unwrap();
        events.push(event.event().clone());
    }
    Practice {
        root,
        admin,
        patient,
        events,
    }
}

fn json_of(events: &[Event]) -> String {
    serde_json::to_string(events).unwrap()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_patient_copies_fold_to_the_bundle_of_the_practice_view() {
    let p = practice();
    let practice_hex = p.root.public_key().to_hex();
    let out = parse(&open_chart_with_key(&practice_hex, &p.patient, &json_of(&p.events)).unwrap());
    assert_eq!(out["patient"], p.patient.public_key().to_hex());
    assert_eq!(out["refused"], json!([]));
    let bundle = &out["bundle"];
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["total"], demo::one_of_each_kind("pt-1").len());
    // The same records folded from the practice copies by a member's view: one chart, one
    // Bundle, whichever copy a reader opens.
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.admin);
    let (practice_chart, refused) =
        view.chart(&p.patient.public_key(), &p.events, FoldOptions::default());
    assert!(refused.is_empty());
    assert_eq!(*bundle, practice_chart.to_bundle());
}

#[test]
fn a_signer_callback_opens_the_same_chart_as_the_key() {
    let p = practice();
    let practice_hex = p.root.public_key().to_hex();
    let events = json_of(&p.events);
    let with_key = open_chart_with_key(&practice_hex, &p.patient, &events).unwrap();
    // `Identity` is a `Nip44Decrypt` signer too, as a NIP-07 extension is in the browser.
    let with_signer =
        pollster::block_on(open_chart_with_signer(&practice_hex, &p.patient, &events)).unwrap();
    assert_eq!(parse(&with_key), parse(&with_signer));
}

#[test]
fn another_patient_sees_nothing_of_hers() {
    let p = practice();
    let james = Identity::generate();
    let out = parse(
        &open_chart_with_key(&p.root.public_key().to_hex(), &james, &json_of(&p.events)).unwrap(),
    );
    assert_eq!(out["bundle"]["total"], 0);
    assert_eq!(out["bundle"]["entry"], json!([]));
    assert!(!out.to_string().contains("Synthia"));
}

#[test]
fn a_tampered_event_is_refused_and_the_rest_is_shown() {
    let p = practice();
    let mut events: Vec<Value> = p
        .events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let last = events.len() - 1;
    let tampered_id = events[last]["id"].clone();
    events[last]["created_at"] = json!(1);
    events.push(json!({ "id": "not an event" }));
    let text = serde_json::to_string(&events).unwrap();

    let out =
        parse(&open_chart_with_key(&p.root.public_key().to_hex(), &p.patient, &text).unwrap());
    assert_eq!(
        out["bundle"]["total"],
        demo::one_of_each_kind("pt-1").len() - 1
    );
    let refused = out["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|r| r["id"] == tampered_id && r["reason"] == "invalid event id or signature")
    );
    assert!(
        refused
            .iter()
            .any(|r| r["id"] == "not an event" && r["reason"] == "not a valid Nostr event")
    );
}

#[test]
fn another_practice_key_is_refused_without_a_chart() {
    let p = practice();
    let stranger = Identity::generate().public_key().to_hex();
    let error = open_chart_with_key(&stranger, &p.patient, &json_of(&p.events)).unwrap_err();
    assert_eq!(error, ApiError::NoRoster);
}

#[test]
fn errors_name_the_problem_and_never_quote_the_input() {
    let secret = "nsec1notreallyasecretbutlooksclose";
    let error = login::unlock(secret, None).unwrap_err().to_string();
    assert!(!error.contains(secret));
    assert!(error.contains("nsec"));
    assert_eq!(parse_events("{}").unwrap_err(), ApiError::EventList);
    assert_eq!(
        public_key("npub1nope", "practice").unwrap_err().to_string(),
        "the practice key is not a valid public key (npub or 64 hex digits)"
    );
    assert_eq!(
        connections::verify_connection("https://example.org").unwrap_err(),
        ApiError::Connection(ConnectionError::Scheme)
    );
}

#[test]
fn a_connection_string_and_an_auth_event_are_what_the_relay_expects() {
    let practice = Identity::generate();
    let text = Connection::new(practice.public_key(), "ws://127.0.0.1:7447")
        .unwrap()
        .sign(&practice)
        .unwrap()
        .to_string();
    let connection = parse(&connections::verify_connection(&text).unwrap());
    assert_eq!(connection["practice"], practice.public_key().to_hex());
    assert_eq!(connection["relay"], "ws://127.0.0.1:7447");

    let patient = Identity::generate();
    let author = patient.public_key().to_hex();
    let template = auth_template(&author, "ws://127.0.0.1:7447", "c-123", 1_700_000_000.0);
    let auth: Event =
        serde_json::from_str(&sign_event(&patient, &template.unwrap()).unwrap()).unwrap();
    auth.verify().unwrap();
    assert_eq!(auth.kind.as_u16(), 22242);
    assert_eq!(auth.pubkey, patient.public_key());
    assert_eq!(auth.created_at.as_secs(), 1_700_000_000);
    let tags = serde_json::to_value(&auth.tags).unwrap().to_string();
    assert!(tags.contains(r#"["challenge","c-123"]"#), "{tags}");
    assert!(tags.contains("ws://127.0.0.1:7447"), "{tags}");
    assert_eq!(
        auth_template(&author, "https://r", "c", 1.0).unwrap_err(),
        ApiError::RelayUrl
    );
    assert_eq!(
        auth_template(&author, "ws://r", "c", f64::NAN).unwrap_err(),
        ApiError::CreatedAt
    );
}

#[test]
fn the_app_fetches_with_the_kinds_ehr_client_defines() {
    let filters = parse(&filters());
    let chart: Vec<u64> = filters["chart"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = ClinicalKind::ALL
        .iter()
        .map(|k| u64::from(k.as_u16()))
        .collect();
    assert_eq!(chart, expected);
    assert_eq!(filters["rosters"]["kinds"], json!([kinds::ROSTER]));
    assert_eq!(filters["audit"]["kinds"], json!([kinds::AUDIT_EVENT]));
    assert_eq!(filters["signer"]["kinds"], json!([24133]));
}

#[test]
fn a_filter_about_patients_names_their_hex_keys_in_the_patient_tag() {
    let maria = Identity::generate();
    let patients = json!([maria.npub()]).to_string();
    let chart = parse(&filter("chart", Some(&patients)).unwrap());
    assert_eq!(chart["#p"], json!([maria.public_key().to_hex()]));
    assert_eq!(chart["kinds"], parse(&filters())["chart"]["kinds"]);
}

#[test]
fn a_filter_without_patients_is_the_named_filter() {
    assert_eq!(
        parse(&filter("rosters", None).unwrap()),
        parse(&filters())["rosters"]
    );
}

#[test]
fn a_filter_refuses_an_unknown_name_and_a_key_that_is_not_one() {
    assert_eq!(filter("everything", None), Err(ApiError::UnknownFilter));
    assert_eq!(
        filter("chart", Some(r#"["not a key"]"#)),
        Err(ApiError::PublicKey("patient"))
    );
}
