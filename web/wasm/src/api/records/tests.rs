#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::access::PracticeView;
use ehr_client::chart::FoldOptions;
use ehr_client::keys::Identity;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::rotation;

use super::*;

struct Practice {
    root: Identity,
    doctor: Identity,
    patient: Identity,
    events: Vec<Event>,
}

fn practice() -> Practice {
    let root = Identity::generate();
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let now = Timestamp::now();
    let (mut events, _) = rotation::genesis(&root, Some((doctor.public_key(), None)), now).unwrap();
    let view = PracticeView::load(&root.public_key(), &events, &doctor);
    events.extend(rotation::enrol_patient(&view, &doctor, &patient.public_key(), now).unwrap());
    Practice {
        root,
        doctor,
        patient,
        events,
    }
}

fn chart_of(p: &Practice) -> String {
    crate::api::open_chart_with_key(
        &p.root.public_key().to_hex(),
        &p.patient,
        &serde_json::to_string(&p.events).unwrap(),
    )
    .unwrap()
}

fn write(p: &mut Practice, resource: &str) -> Event {
    let json = pollster::block_on(sign_patient_event(
        &p.patient,
        &p.root.public_key().to_hex(),
        &serde_json::to_string(&p.events).unwrap(),
        resource,
        1_800_000_000.0,
    ))
    .unwrap();
    let event: Event = serde_json::from_str(&json).unwrap();
    p.events.push(event.clone());
    event
}

#[test]
fn a_reported_supplement_is_the_patients_in_both_views() {
    let mut p = practice();
    let chart = chart_of(&p);
    let supplement =
        reported_medication(&chart, " Vitamin D3 ", "1000 IU daily", "2026-11-21").unwrap();
    let event = write(&mut p, &supplement);
    assert_eq!(event.kind.as_u16(), 2112);
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let (chart, refused) = view.chart(&p.patient.public_key(), &p.events, FoldOptions::default());
    assert!(refused.is_empty(), "{refused:?}");
    let bundle = chart.to_bundle();
    let resource = &bundle["entry"][0]["resource"];
    assert_eq!(resource["medicationCodeableConcept"]["text"], "Vitamin D3");
    assert_eq!(resource["reportedBoolean"], true);
    assert_eq!(resource["intent"], "plan");
    assert_eq!(resource["meta"]["tag"][0]["code"], "patient-reported");

    // Her own view: the same entry, and who wrote it.
    let own: Value = serde_json::from_str(&chart_of(&p)).unwrap();
    assert_eq!(own["bundle"], bundle);
    assert_eq!(own["entries"][0]["patient_reported"], true);
    assert_eq!(own["entries"][0]["author"], p.patient.public_key().to_hex());
}

#[test]
fn a_reply_in_the_same_second_follows_its_question_whatever_its_sent_says() {
    let question = json!({"id": "q", "parent": null, "at": 100, "sent": "2026-12-07T10:00:00Z"});
    // Written in the same second, with an older `sent`: still shown after the question.
    let answer = json!({"id": "a", "parent": "q", "at": 100, "sent": "2026-11-21T12:00:00Z"});
    let threads = threads(vec![question, answer]);
    let messages = threads[0]["messages"].as_array().unwrap();
    let order: Vec<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(order, ["q", "a"]);
}

#[test]
fn messages_thread_by_reply_with_senders_named() {
    let mut p = practice();
    let chart = chart_of(&p);
    let first = message(
        &chart,
        "Refill",
        "Can I get a refill?",
        "",
        "2026-11-21T10:00:00Z",
    )
    .unwrap();
    let first_id = serde_json::from_str::<Value>(&first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    write(&mut p, &first);
    let reply = message(
        &chart,
        "",
        "Also: my address changed.",
        &first_id,
        "2026-11-21T10:05:00Z",
    )
    .unwrap();
    write(&mut p, &reply);
    let other = message(&chart, "Lab", "Any results?", "", "2026-11-20T09:00:00Z").unwrap();
    write(&mut p, &other);
    let chart = chart_of(&p);
    let threads: Value = serde_json::from_str(
        &message_threads(
            &p.root.public_key().to_hex(),
            &serde_json::to_string(&p.events).unwrap(),
            &chart,
            "You",
        )
        .unwrap(),
    )
    .unwrap();
    let threads = threads["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 2);
    // Newest last: the refill thread (10:05) after the lab one (the day before).
    assert_eq!(threads[1]["topic"], "Refill");
    let messages = threads[1]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["text"], "Can I get a refill?");
    assert_eq!(messages[1]["text"], "Also: my address changed.");
    assert!(
        messages
            .iter()
            .all(|m| m["from"] == "You" && m["mine"] == true)
    );
}

#[test]
fn consent_is_given_and_withdrawn_by_the_patient() {
    let mut p = practice();
    let chart = chart_of(&p);
    let grant = consent_grant(&chart, r#"["demo-hospital", " "]"#, "2026-11-21").unwrap();
    write(&mut p, &grant);
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    assert!(
        view.gateway_patients(&p.events, Timestamp::now())
            .contains(&p.patient.public_key())
    );
    let chart: Value = serde_json::from_str(&chart_of(&p)).unwrap();
    let current = chart["bundle"]["entry"][0]["resource"].to_string();
    let withdrawal = consent_withdrawal(&current).unwrap();
    let parsed: Value = serde_json::from_str(&withdrawal).unwrap();
    assert_eq!(parsed["status"], "inactive");
    assert_eq!(parsed["meta"]["versionId"], "2");
    // The Bundle's origin tag is not carried into what she writes.
    assert!(!withdrawal.contains("patient-reported"));
    let mut later = p.events.clone();
    let json = pollster::block_on(sign_patient_event(
        &p.patient,
        &p.root.public_key().to_hex(),
        &serde_json::to_string(&p.events).unwrap(),
        &withdrawal,
        1_800_000_100.0,
    ))
    .unwrap();
    later.push(serde_json::from_str(&json).unwrap());
    let view = PracticeView::load(&p.root.public_key(), &later, &p.doctor);
    assert!(view.gateway_patients(&later, Timestamp::now()).is_empty());
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let p = practice();
    let chart = chart_of(&p);
    assert_eq!(
        reported_medication(&chart, "  ", "", "2026-11-21")
            .unwrap_err()
            .to_string(),
        "the name is required"
    );
    assert_eq!(
        message(&chart, "", "hello", "", "2026-11-21T10:00:00Z")
            .unwrap_err()
            .to_string(),
        "the subject is required"
    );
    assert_eq!(
        consent_grant(&chart, "[]", "2026-11-21")
            .unwrap_err()
            .to_string(),
        "the facility is required"
    );
    assert_eq!(
        reported_medication("{}", "x", "", "").unwrap_err(),
        ApiError::Chart
    );
    // A resource the patient may not write, and one that is not FHIR.
    let encounter = ehr_client::demo::encounter("pt").to_json();
    for resource in [encounter.as_str(), r#"{"resourceType":"Nope"}"#] {
        let error = pollster::block_on(sign_patient_event(
            &p.patient,
            &p.root.public_key().to_hex(),
            &serde_json::to_string(&p.events).unwrap(),
            resource,
            1_800_000_000.0,
        ))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the record was not written: "),
            "{error}"
        );
    }
    // No roster of this practice: nothing to encrypt the practice copy to.
    let error = pollster::block_on(sign_patient_event(
        &p.patient,
        &Identity::generate().public_key().to_hex(),
        &serde_json::to_string(&p.events).unwrap(),
        &reported_medication(&chart, "x", "", "").unwrap(),
        1_800_000_000.0,
    ))
    .unwrap_err();
    assert_eq!(error, ApiError::NoRoster);
}

#[test]
fn her_export_is_the_rosters_then_her_verified_events() {
    let mut p = practice();
    let chart = chart_of(&p);
    write(
        &mut p,
        &reported_medication(&chart, "Magnesium", "", "").unwrap(),
    );
    // Another patient's event, and a forged copy of hers, are not exported.
    let other = Identity::generate();
    let mut events = p.events.clone();
    let view = PracticeView::load(&p.root.public_key(), &events, &p.doctor);
    events.extend(
        rotation::enrol_patient(&view, &p.doctor, &other.public_key(), Timestamp::now()).unwrap(),
    );
    let mut forged = serde_json::to_value(p.events.last().unwrap()).unwrap();
    forged["content"] = json!("AAAA");
    let mut input = serde_json::to_value(&events).unwrap();
    input.as_array_mut().unwrap().push(forged);
    let lines = export_events(
        &p.root.public_key().to_hex(),
        &p.patient.public_key().to_hex(),
        &input.to_string(),
    )
    .unwrap();
    let exported: Vec<Event> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(exported.iter().all(|e| e.verify().is_ok()));
    let kinds: Vec<u16> = exported.iter().map(|e| e.kind.as_u16()).collect();
    assert_eq!(kinds, [2102, 2112]);
    assert_eq!(exported[1], *p.events.last().unwrap());
    assert_eq!(
        export_events(
            &other.public_key().to_hex(),
            &p.patient.public_key().to_hex(),
            &input.to_string()
        )
        .unwrap_err(),
        ApiError::NoRoster
    );
}
