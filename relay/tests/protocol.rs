//! NIP-01, 09, 11, 40, 45 behaviour as a client sees it, on both backends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Client, Db, Practice, clinical};
use nostr::prelude::*;
use serde_json::json;

fn note(keys: &Keys, kind: u16, at: u64, tags: Vec<Tag>) -> Event {
    EventBuilder::new(Kind::from(kind), format!("note at {at}"))
        .tags(tags)
        .custom_created_at(Timestamp::from_secs(at))
        .finalize(keys)
        .unwrap()
}

async fn filters_select_by_every_field_newest_first(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let patient = Keys::generate().public_key();
    let base = Timestamp::now().as_secs() - 1000;
    let mut events = Vec::new();
    for i in 0..6u64 {
        let kind = if i % 2 == 0 { 2113 } else { 2114 };
        let event = note(
            &practice.doctor,
            kind,
            base + i * 10,
            vec![
                Tag::public_key(patient),
                Tag::hashtag(format!("t{}", i % 3)),
            ],
        );
        doctor.publish_ok(&event).await;
        events.push(event);
    }
    let ids = |list: &[Event]| list.iter().map(|e| e.id).collect::<Vec<_>>();
    let newest_first: Vec<EventId> = events.iter().rev().map(|e| e.id).collect();

    let all = doctor
        .req("p", &[json!({"#p": [patient.to_hex()]})])
        .await
        .unwrap();
    assert_eq!(ids(&all), newest_first, "newest first");
    let limited = doctor
        .req("l", &[json!({"#p": [patient.to_hex()], "limit": 2})])
        .await
        .unwrap();
    assert_eq!(
        ids(&limited),
        newest_first[..2].to_vec(),
        "limit keeps the newest"
    );
    let by_kind = doctor
        .req("k", &[json!({"kinds": [2114], "#p": [patient.to_hex()]})])
        .await
        .unwrap();
    assert_eq!(by_kind.len(), 3);
    assert!(by_kind.iter().all(|e| e.kind == Kind::from(2114)));
    let window = doctor
        .req(
            "w",
            &[json!({"#p": [patient.to_hex()], "since": base + 10, "until": base + 30})],
        )
        .await
        .unwrap();
    assert_eq!(ids(&window), vec![events[3].id, events[2].id, events[1].id]);
    let tagged = doctor
        .req(
            "t",
            &[json!({"#t": ["t1"], "authors": [practice.doctor.public_key().to_hex()]})],
        )
        .await
        .unwrap();
    assert_eq!(ids(&tagged), vec![events[4].id, events[1].id]);
    let by_id = doctor
        .req(
            "i",
            &[json!({"ids": [events[0].id.to_hex(), events[5].id.to_hex()]})],
        )
        .await
        .unwrap();
    assert_eq!(ids(&by_id), vec![events[5].id, events[0].id]);
    let none = doctor.req("n", &[json!({"ids": []})]).await.unwrap();
    assert!(none.is_empty(), "an empty list matches nothing");
    let two = doctor
        .req(
            "two",
            &[
                json!({"kinds": [2113], "#p": [patient.to_hex()], "limit": 1}),
                json!({"kinds": [2114], "#p": [patient.to_hex()], "limit": 1}),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&two),
        vec![events[4].id, events[5].id],
        "each filter keeps its own limit"
    );
    assert_eq!(
        doctor
            .count("c", json!({"#p": [patient.to_hex()], "kinds": [2113]}))
            .await
            .unwrap(),
        3
    );

    // A duplicate is acknowledged as such.
    let (ok, message) = doctor.publish(&events[0]).await;
    assert!(ok && message.starts_with("duplicate:"), "{message}");
    relay.stop().await;
}

async fn replaceable_addressable_and_ephemeral_kinds_keep_their_semantics(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let now = Timestamp::now().as_secs();
    let old = note(&practice.doctor, 0, now - 100, vec![]);
    let new = note(&practice.doctor, 0, now - 50, vec![]);
    doctor.publish_ok(&new).await;
    let (ok, message) = doctor.publish(&old).await;
    assert!(
        !ok && message.starts_with("duplicate:"),
        "an older replaceable version is refused: {message}"
    );
    let newer = note(&practice.doctor, 0, now - 10, vec![]);
    doctor.publish_ok(&newer).await;
    let profiles = doctor
        .req(
            "m",
            &[json!({"kinds": [0], "authors": [practice.doctor.public_key().to_hex()]})],
        )
        .await
        .unwrap();
    assert_eq!(
        profiles.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![newer.id]
    );

    let a1 = note(
        &practice.doctor,
        30078,
        now - 20,
        vec![Tag::identifier("prefs")],
    );
    let b1 = note(
        &practice.doctor,
        30078,
        now - 20,
        vec![Tag::identifier("other")],
    );
    let a2 = note(
        &practice.doctor,
        30078,
        now - 5,
        vec![Tag::identifier("prefs")],
    );
    for e in [&a1, &b1, &a2] {
        doctor.publish_ok(e).await;
    }
    let addressable = doctor.req("a", &[json!({"kinds": [30078]})]).await.unwrap();
    let mut found: Vec<EventId> = addressable.iter().map(|e| e.id).collect();
    found.sort();
    let mut expected = vec![a2.id, b1.id];
    expected.sort();
    assert_eq!(found, expected, "one version per d tag");

    // NIP-09 by address: versions up to the deletion stay deleted, newer ones are welcome.
    let delete_address = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::custom(
            "a",
            [format!(
                "30078:{}:prefs",
                practice.doctor.public_key().to_hex()
            )],
        )])
        .custom_created_at(Timestamp::from_secs(now - 1))
        .finalize(&practice.doctor)
        .unwrap();
    doctor.publish_ok(&delete_address).await;
    assert!(
        doctor
            .req("gone", &[json!({"kinds": [30078], "#d": ["prefs"]})])
            .await
            .unwrap()
            .is_empty()
    );
    let (ok, message) = doctor
        .publish(&note(
            &practice.doctor,
            30078,
            now - 3,
            vec![Tag::identifier("prefs")],
        ))
        .await;
    assert!(
        !ok && message.starts_with("blocked:"),
        "an older version of a deleted address came back: {message}"
    );
    doctor
        .publish_ok(&note(
            &practice.doctor,
            30078,
            now,
            vec![Tag::identifier("prefs")],
        ))
        .await;

    // Ephemeral: delivered live, never stored.
    let mut listener = relay.client(&practice.nurse).await;
    listener
        .req("live", &[json!({"kinds": [25050]})])
        .await
        .unwrap();
    let signal = note(&practice.doctor, 25050, now, vec![]);
    doctor.publish_ok(&signal).await;
    assert_eq!(
        listener
            .next_event("live", Duration::from_secs(10))
            .await
            .unwrap()
            .id,
        signal.id
    );
    assert!(
        doctor
            .req("e", &[json!({"kinds": [25050]})])
            .await
            .unwrap()
            .is_empty()
    );
    relay.stop().await;
}

async fn expiration_and_deletion_follow_nip40_and_nip09(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let now = Timestamp::now().as_secs();
    let expired = note(
        &practice.doctor,
        1,
        now - 10,
        vec![Tag::expiration(Timestamp::from_secs(now - 5))],
    );
    let (ok, message) = doctor.publish(&expired).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    let expiring = note(
        &practice.doctor,
        1,
        now,
        vec![Tag::expiration(Timestamp::from_secs(now + 3600))],
    );
    doctor.publish_ok(&expiring).await;
    assert_eq!(
        doctor
            .req("x", &[json!({"ids": [expiring.id.to_hex()]})])
            .await
            .unwrap()
            .len(),
        1
    );
    // An event whose time ran out while stored (written straight to the database, as if it
    // had been accepted an hour ago) is no longer served.
    let lapsed = note(
        &practice.doctor,
        1,
        now - 3600,
        vec![Tag::expiration(Timestamp::from_secs(now - 1))],
    );
    let store = ehr_relay::store::Store::open(
        &ehr_relay::RelayConfig::new(practice.root.public_key(), relay.database_url.clone())
            .database,
    )
    .await
    .unwrap();
    let job = ehr_relay::store::WriteJob {
        raw: lapsed.as_json(),
        event: lapsed.clone(),
        received_at: Timestamp::from_secs(now - 3600),
    };
    assert_eq!(
        store.write_batch(&[job]).await.unwrap(),
        vec![ehr_relay::store::WriteOutcome::Stored]
    );
    assert!(
        doctor
            .req("y", &[json!({"ids": [lapsed.id.to_hex()]})])
            .await
            .unwrap()
            .is_empty(),
        "expired events are not served"
    );
    assert_eq!(
        doctor
            .count("yc", json!({"ids": [lapsed.id.to_hex()]}))
            .await
            .unwrap(),
        0
    );

    // NIP-09 on an ordinary note: allowed, and the note stays gone.
    let plain = note(&practice.doctor, 1, now, vec![]);
    doctor.publish_ok(&plain).await;
    let deletion = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::event(plain.id)])
        .finalize(&practice.doctor)
        .unwrap();
    doctor.publish_ok(&deletion).await;
    assert!(
        doctor
            .req("d", &[json!({"ids": [plain.id.to_hex()]})])
            .await
            .unwrap()
            .is_empty()
    );
    let (ok, message) = doctor.publish(&plain).await;
    assert!(
        !ok && message.starts_with("blocked:"),
        "a deleted event came back: {message}"
    );

    // Only the author's own request counts: another member naming an id first does not stop the
    // author's deletion from holding.
    let future_note = note(&practice.doctor, 1, now - 5, vec![]);
    let mut nurse = relay.client(&practice.nurse).await;
    let squat = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::event(future_note.id)])
        .finalize(&practice.nurse)
        .unwrap();
    nurse.publish_ok(&squat).await;
    doctor.publish_ok(&future_note).await;
    let own = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::event(future_note.id)])
        .finalize(&practice.doctor)
        .unwrap();
    doctor.publish_ok(&own).await;
    let (ok, message) = doctor.publish(&future_note).await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");

    // A deletion request cannot pre-empt a clinical record either.
    let patient_key = Keys::generate().public_key();
    let pending = clinical(&practice.doctor, 2113, &patient_key);
    let pre_delete = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::event(pending.id)])
        .finalize(&practice.doctor)
        .unwrap();
    doctor.publish_ok(&pre_delete).await;
    doctor.publish_ok(&pending).await;

    // NIP-09 on a clinical record: refused, and the record stays.
    let patient = Keys::generate().public_key();
    let record = clinical(&practice.doctor, 2113, &patient);
    doctor.publish_ok(&record).await;
    let delete_record = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::event(record.id)])
        .finalize(&practice.doctor)
        .unwrap();
    let (ok, message) = doctor.publish(&delete_record).await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    let by_kind = EventBuilder::new(Kind::EventDeletion, "")
        .tags([Tag::custom("k", ["2113"])])
        .finalize(&practice.doctor)
        .unwrap();
    let (ok, message) = doctor.publish(&by_kind).await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    assert_eq!(
        doctor
            .req("r", &[json!({"ids": [record.id.to_hex()]})])
            .await
            .unwrap()
            .len(),
        1
    );
    relay.stop().await;
}

async fn bad_messages_get_prefixed_answers_and_change_nothing(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    doctor.send_text("not json").await;
    let notice = doctor.recv().await;
    assert_eq!(notice[0], "NOTICE");
    assert!(notice[1].as_str().unwrap().starts_with("invalid:"));
    doctor
        .send(json!(["REQ", "bad", {"authors": ["zz"]}]))
        .await;
    let closed = doctor.recv().await;
    assert_eq!(closed[0], "CLOSED");
    assert!(
        closed[2].as_str().unwrap().starts_with("invalid:"),
        "{closed}"
    );
    let too_many: Vec<_> = (0..20).map(|_| json!({})).collect();
    let err = doctor.req("many", &too_many).await.unwrap_err();
    assert!(err.starts_with("invalid:"), "{err}");
    let future = note(
        &practice.doctor,
        1,
        Timestamp::now().as_secs() + 3600,
        vec![],
    );
    let (ok, message) = doctor.publish(&future).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    let huge = EventBuilder::new(Kind::TextNote, "x".repeat(200 * 1024))
        .finalize(&practice.doctor)
        .unwrap();
    let (ok, message) = doctor.publish(&huge).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    // Up to the limit is fine: an encrypted telehealth offer of ~100 KiB.
    let offer = EventBuilder::new(Kind::from(25050), "y".repeat(100 * 1024))
        .finalize(&practice.doctor)
        .unwrap();
    doctor.publish_ok(&offer).await;
    relay.stop().await;
}

async fn every_req_ends_in_eose_under_concurrency(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate().public_key();
    let mut doctor = relay.client(&practice.doctor).await;
    for _ in 0..50 {
        doctor
            .publish_ok(&clinical(&practice.doctor, 2113, &patient))
            .await;
    }
    let mut tasks = Vec::new();
    for c in 0..4 {
        let url = relay.url.clone();
        let keys = [
            &practice.doctor,
            &practice.nurse,
            &practice.admin,
            &practice.doctor,
        ][c]
            .clone();
        let writer = practice.nurse.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&url).await;
            assert!(client.auth(&keys, &url).await.0);
            for i in 0..100 {
                if i % 10 == 0 {
                    client
                        .send(json!(["EVENT", clinical(&writer, 2113, &patient)]))
                        .await;
                }
                let events = client
                    .req(
                        &format!("s{c}-{i}"),
                        &[json!({"#p": [patient.to_hex()], "limit": 20})],
                    )
                    .await;
                assert_eq!(events.unwrap().len(), 20);
                client.send(json!(["CLOSE", format!("s{c}-{i}")])).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    relay.stop().await;
}

async fn the_info_document_describes_the_relay(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let info: serde_json::Value = reqwest::Client::new()
        .get(relay.http_url())
        .header("accept", "application/nostr+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["pubkey"], practice.root.public_key().to_hex());
    for nip in [1, 9, 11, 40, 42, 45, 70, 77, 86] {
        assert!(
            info["supported_nips"]
                .as_array()
                .unwrap()
                .contains(&json!(nip)),
            "NIP-{nip} missing"
        );
    }
    assert_eq!(info["limitation"]["auth_required"], true);
    assert_eq!(info["limitation"]["max_content_length"], 128 * 1024);
    relay.stop().await;
}

async fn over_the_message_rate_every_req_and_event_still_gets_an_answer(db: Db) {
    let practice = Practice::new();
    let (database_url, _dir) = common::fresh_database(db).await;
    let mut config = ehr_relay::RelayConfig::new(practice.root.public_key(), database_url);
    config.limits.messages_per_minute = 3;
    let relay = common::TestRelay::start_on(config).await;
    let mut client = Client::connect(&relay.url).await;
    let mut answers = Vec::new();
    for i in 0..6 {
        answers.push(
            client
                .req(&format!("r{i}"), &[json!({})])
                .await
                .unwrap_err(),
        );
    }
    assert!(
        answers[..3].iter().all(|a| a.starts_with("auth-required:")),
        "{answers:?}"
    );
    assert!(
        answers[3..].iter().all(|a| a.starts_with("rate-limited:")),
        "{answers:?}"
    );
    let (ok, message) = client
        .publish(&note(
            &practice.doctor,
            1,
            Timestamp::now().as_secs(),
            vec![],
        ))
        .await;
    assert!(!ok && message.starts_with("rate-limited:"), "{message}");
    relay.stop().await;
}

on_both_backends!(
    over_the_message_rate_every_req_and_event_still_gets_an_answer,
    filters_select_by_every_field_newest_first,
    replaceable_addressable_and_ephemeral_kinds_keep_their_semantics,
    expiration_and_deletion_follow_nip40_and_nip09,
    bad_messages_get_prefixed_answers_and_change_nothing,
    every_req_ends_in_eose_under_concurrency,
    the_info_document_describes_the_relay,
);
