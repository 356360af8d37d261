//! Scheduling on the relay (DESIGN.md §13): one booking per time (the first hold wins), a bound
//! on the requests a patient leaves waiting, schedules and holds served to patients with no
//! patient's appointment, and reminder records only for the practice's reminder agent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Db, Practice, allow};
use ehr_client::keys::Identity;
use ehr_client::schedule::{FreeSlot, hold_event};
use nostr::prelude::*;
use serde_json::json;

fn identity(keys: &Keys) -> Identity {
    Identity::from_secret_key(keys.secret_key().clone())
}

fn slot(start: u64, minutes: u64) -> FreeSlot {
    FreeSlot {
        slot: format!("dr-rivera.{start}"),
        schedule: "dr-rivera".to_owned(),
        clinician: "Dr. Rivera".to_owned(),
        start,
        end: start + minutes * 60,
        visit_type: "sick".to_owned(),
    }
}

fn hold(author: &Keys, slot: &FreeSlot, held: bool) -> Event {
    hold_event(&identity(author), slot, held, Timestamp::now()).unwrap()
}

/// An appointment record (opaque to the relay) about `patient`, the practice copy under
/// `key_tag`.
fn appointment(author: &Keys, patient: &PublicKey, key_tag: (&str, &str)) -> Event {
    EventBuilder::new(
        Kind::from(2124),
        format!("AgIC-{}", Keys::generate().public_key()),
    )
    .tags([
        Tag::public_key(*patient),
        Tag::custom("patient-content", ["AgIC-patient"]),
        Tag::custom("ehr", ["1"]),
        Tag::custom(key_tag.0, [key_tag.1]),
    ])
    .finalize(author)
    .unwrap()
}

async fn a_time_is_held_once_and_the_second_hold_is_refused_until_released(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let start = Timestamp::now().as_secs() + 86_400;
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    let first = hold(&practice.frontdesk, &slot(start, 15), true);
    frontdesk.publish_ok(&first).await;
    // Another desk, the same time for a longer visit: refused, the first confirmation won.
    let mut doctor = relay.client(&practice.doctor).await;
    let (ok, message) = doctor
        .publish(&hold(&practice.doctor, &slot(start, 30), true))
        .await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    // Another time that overlaps it, under its own slot id: refused too.
    let (ok, message) = doctor
        .publish(&hold(&practice.doctor, &slot(start - 900, 30), true))
        .await;
    assert!(!ok && message.starts_with("blocked:"), "{message}");
    // The same hold sent again (its OK lost) is a duplicate, not a second booking.
    let (ok, message) = frontdesk.publish(&first).await;
    assert!(ok, "{message}");
    // The next quarter hour is free.
    doctor
        .publish_ok(&hold(&practice.doctor, &slot(start + 900, 15), true))
        .await;
    // Released, then held again.
    frontdesk
        .publish_ok(&hold(&practice.frontdesk, &slot(start, 15), false))
        .await;
    doctor
        .publish_ok(&hold(&practice.doctor, &slot(start - 900, 30), true))
        .await;
    // A hold without its times is malformed; a patient holds nothing.
    let bare = EventBuilder::new(Kind::from(2125), "")
        .tags([Tag::custom("slot", ["dr-rivera.1"])])
        .finalize(&practice.frontdesk)
        .unwrap();
    let (ok, message) = frontdesk.publish(&bare).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    let patient = Keys::generate();
    allow(&relay, &practice.doctor, &patient.public_key()).await;
    let mut her = relay.client(&patient).await;
    let (ok, message) = her
        .publish(&hold(&patient, &slot(start + 7200, 15), true))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    relay.stop().await;
}

async fn a_patient_may_leave_three_requests_waiting_and_not_a_fourth(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    let pk = patient.public_key();
    allow(&relay, &practice.doctor, &pk).await;
    let mut her = relay.client(&patient).await;
    for _ in 0..3 {
        her.publish_ok(&appointment(&patient, &pk, ("epoch", "0")))
            .await;
    }
    let (ok, message) = her
        .publish(&appointment(&patient, &pk, ("epoch", "0")))
        .await;
    assert!(!ok && message.starts_with("rate-limited:"), "{message}");
    // Once the practice answers, she may ask again.
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    frontdesk
        .publish_ok(&appointment(&practice.frontdesk, &pk, ("chart-key", "1")))
        .await;
    her.publish_ok(&appointment(&patient, &pk, ("epoch", "0")))
        .await;
    // Requests dated back before the practice's answer still count (the order they arrive in
    // decides, not the date she gives): a third waits, a fourth does not.
    let backdated = || {
        let request = appointment(&patient, &pk, ("epoch", "0"));
        EventBuilder::new(request.kind, request.content.clone())
            .tags(request.tags.clone())
            .custom_created_at(Timestamp::from_secs(Timestamp::now().as_secs() - 3600))
            .finalize(&patient)
            .unwrap()
    };
    her.publish_ok(&backdated()).await;
    her.publish_ok(&backdated()).await;
    let (ok, message) = her.publish(&backdated()).await;
    assert!(!ok && message.starts_with("rate-limited:"), "{message}");
    // A stranger is no member at all.
    let stranger = Keys::generate();
    let mut them = relay.client(&stranger).await;
    let (ok, message) = them
        .publish(&appointment(
            &stranger,
            &stranger.public_key(),
            ("epoch", "0"),
        ))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    relay.stop().await;
}

async fn a_patient_is_served_schedules_and_holds_but_no_other_patients_appointment(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (maria, other) = (Keys::generate(), Keys::generate());
    for p in [&maria, &other] {
        allow(&relay, &practice.doctor, &p.public_key()).await;
    }
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    let schedule = EventBuilder::new(Kind::from(2123), "{}")
        .tags([Tag::identifier("dr-rivera")])
        .finalize(&practice.frontdesk)
        .unwrap();
    frontdesk.publish_ok(&schedule).await;
    let start = Timestamp::now().as_secs() + 86_400;
    frontdesk
        .publish_ok(&hold(&practice.frontdesk, &slot(start, 15), true))
        .await;
    frontdesk
        .publish_ok(&appointment(
            &practice.frontdesk,
            &other.public_key(),
            ("chart-key", "1"),
        ))
        .await;
    let mut her = relay.client(&maria).await;
    let mine = appointment(&maria, &maria.public_key(), ("epoch", "0"));
    her.publish_ok(&mine).await;
    let served = her
        .req("s", &[json!({"kinds": [2123, 2124, 2125, 2126]})])
        .await
        .unwrap();
    let mut kinds: Vec<u16> = served.iter().map(|e| e.kind.as_u16()).collect();
    kinds.sort_unstable();
    // The schedule, the hold and her own request: not the other patient's appointment.
    assert_eq!(kinds, [2123, 2124, 2125]);
    assert!(served.iter().any(|e| e.id == mine.id));
    relay.stop().await;
}

async fn a_reminder_record_is_for_the_practices_reminder_agent_only(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let record = |author: &Keys, to: &PublicKey| {
        EventBuilder::new(Kind::from(2126), "AgIC-sealed")
            .tags([Tag::public_key(*to)])
            .finalize(author)
            .unwrap()
    };
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    frontdesk
        .publish_ok(&record(&practice.frontdesk, &practice.billing.public_key()))
        .await;
    let (ok, message) = frontdesk
        .publish(&record(&practice.frontdesk, &Keys::generate().public_key()))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // Tagged for the agent and someone else: refused.
    let two = EventBuilder::new(Kind::from(ehr_client::kinds::REMINDER), "AgIC-sealed")
        .tags([
            Tag::public_key(practice.billing.public_key()),
            Tag::public_key(Keys::generate().public_key()),
        ])
        .finalize(&practice.frontdesk)
        .unwrap();
    let (ok, message) = frontdesk.publish(&two).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // The agent is served its records; a patient none (not even when bookings happen).
    let mut agent = relay.client(&practice.billing).await;
    let served = agent.req("r", &[json!({"kinds": [2126]})]).await.unwrap();
    assert_eq!(served.len(), 1);
    let patient = Keys::generate();
    allow(&relay, &practice.doctor, &patient.public_key()).await;
    let mut her = relay.client(&patient).await;
    let served = her.req("r", &[json!({"kinds": [2126]})]).await.unwrap();
    assert!(served.is_empty());
    relay.stop().await;
}

on_both_backends!(
    a_time_is_held_once_and_the_second_hold_is_refused_until_released,
    a_patient_may_leave_three_requests_waiting_and_not_a_fourth,
    a_patient_is_served_schedules_and_holds_but_no_other_patients_appointment,
    a_reminder_record_is_for_the_practices_reminder_agent_only,
);
