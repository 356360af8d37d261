//! Least-privilege attacks (DESIGN.md §5): the relay's answers must not tell who is a member,
//! a staff key, current or revoked, must not come back as a guardian, and in a practice with
//! two key domains no message or demographics record is written outside the office domain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Client, Db, Practice, allow};
use ehr_client::grants::{Guardianship, GuardianshipStatus};
use ehr_client::keys::Identity;
use nostr::prelude::*;
use serde_json::json;

/// A stand-in office record (the relay never decrypts) whose practice key is named by `key_tags`.
fn office_record(
    author: &Keys,
    kind: u16,
    patient: &PublicKey,
    key_tags: &[(&str, &str)],
) -> Event {
    let mut tags = vec![
        Tag::public_key(*patient),
        Tag::custom("patient-content", ["AgIC-patient"]),
        Tag::custom("ehr", ["1"]),
    ];
    tags.extend(
        key_tags
            .iter()
            .map(|(name, value)| Tag::custom(*name, [*value])),
    );
    EventBuilder::new(
        Kind::from(kind),
        format!("AgIC-{}", Keys::generate().public_key()),
    )
    .tags(tags)
    .finalize(author)
    .unwrap()
}

async fn in_a_split_practice_messages_and_demographics_outside_the_office_domain_are_refused(
    db: Db,
) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    allow(&relay, &practice.doctor, &patient.public_key()).await;
    let pk = patient.public_key();
    // Before the split, a message under a chart key is how every practice wrote one.
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    frontdesk
        .publish_ok(&office_record(
            &practice.frontdesk,
            2117,
            &pk,
            &[("chart-key", "1")],
        ))
        .await;
    let mut root = relay.client(&practice.root_keys()).await;
    root.publish_ok(&practice.split_roster()).await;

    let mut doctor = relay.client(&practice.doctor).await;
    let mut her = relay.client(&patient).await;
    let refused = [
        (
            &mut frontdesk,
            &practice.frontdesk,
            2117,
            vec![("chart-key", "1")],
        ),
        (
            &mut doctor,
            &practice.doctor,
            2110,
            vec![("chart-key", "2")],
        ),
        (&mut her, &patient, 2117, vec![("epoch", "0")]),
    ];
    for (client, author, kind, tags) in refused {
        let (ok, message) = client
            .publish(&office_record(author, kind, &pk, &tags))
            .await;
        assert!(
            !ok && message.starts_with("invalid:"),
            "kind {kind}: {message}"
        );
    }
    frontdesk
        .publish_ok(&office_record(
            &practice.frontdesk,
            2117,
            &pk,
            &[("office-key", "1")],
        ))
        .await;
    let office_epoch = [("epoch", "0"), ("domain", "office")];
    her.publish_ok(&office_record(&patient, 2117, &pk, &office_epoch))
        .await;
    // Clinical kinds keep the chart key and the clinical epoch.
    doctor
        .publish_ok(&office_record(
            &practice.doctor,
            2113,
            &pk,
            &[("chart-key", "2")],
        ))
        .await;
    her.publish_ok(&office_record(&patient, 2113, &pk, &[("epoch", "0")]))
        .await;
    relay.stop().await;
}

fn gift_wrap(to: &PublicKey) -> Event {
    EventBuilder::new(Kind::GiftWrap, "AgIC-sealed")
        .tags([Tag::public_key(*to)])
        .finalize(&Keys::generate())
        .unwrap()
}

async fn a_gift_wrap_answer_does_not_tell_whether_the_recipient_is_a_member(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (patient, stranger) = (Keys::generate(), Keys::generate());
    allow(&relay, &practice.doctor, &patient.public_key()).await;
    let mut anonymous = Client::connect(&relay.url).await;
    let to_member = gift_wrap(&patient.public_key());
    let to_stranger = gift_wrap(&stranger.public_key());
    // Each sent twice: a `duplicate:` for the stored one only would tell as much.
    for _ in 0..2 {
        let member_answer = anonymous.publish(&to_member).await;
        let stranger_answer = anonymous.publish(&to_stranger).await;
        assert_eq!(
            member_answer, stranger_answer,
            "the OK tells who is a member"
        );
        assert_eq!(member_answer, (true, String::new()));
    }
    // Roster members (staff may list members anyway; the billing bot keeps its own) are told.
    for insider in [&practice.doctor, &practice.billing] {
        let mut connection = relay.client(insider).await;
        let (ok, message) = connection.publish(&gift_wrap(&stranger.public_key())).await;
        assert!(!ok && message.starts_with("restricted:"), "{message}");
    }

    // The stranger's wrap was dropped: once a member, she is served nothing.
    allow(&relay, &practice.doctor, &stranger.public_key()).await;
    let mut late = relay.client(&stranger).await;
    let served = late.req("w", &[json!({"kinds": [1059]})]).await.unwrap();
    assert!(served.is_empty(), "a wrap for a non-member was stored");
    let mut recipient = relay.client(&patient).await;
    let served = recipient
        .req("w", &[json!({"kinds": [1059]})])
        .await
        .unwrap();
    assert_eq!(
        served.iter().map(|e| e.id).collect::<Vec<_>>(),
        [to_member.id]
    );
    relay.stop().await;
}

async fn a_guardianship_cannot_make_a_current_or_revoked_staff_key_a_guardian(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    // The nurse is revoked in the next roster; the front desk stays.
    let mut content = practice.genesis_content();
    content.sequence = 1;
    content.previous = Some(practice.genesis.id);
    content.epoch = 1;
    content.epoch_public_key = Keys::generate().public_key();
    for m in &mut content.members {
        if m.pubkey == practice.nurse.public_key() {
            m.valid_until = Some(Timestamp::now());
        }
    }
    let revocation = content.sign(&practice.root, Timestamp::now()).unwrap();
    let mut root = relay.client(&practice.root_keys()).await;
    root.publish_ok(&revocation).await;

    let ward = Keys::generate().public_key();
    let doctor_identity = Identity::from_secret_key(practice.doctor.secret_key().clone());
    let mut doctor = relay.client(&practice.doctor).await;
    for staff in [&practice.frontdesk, &practice.nurse] {
        let record = |signer: &Identity| {
            let guardian = staff.public_key();
            let (now, active) = (Timestamp::now(), GuardianshipStatus::Active);
            Guardianship::sign(signer, &ward, &guardian, active, now).unwrap()
        };
        let (ok, message) = doctor.publish(&record(&doctor_identity)).await;
        assert!(!ok && message.starts_with("restricted:"), "{message}");
        assert!(message.contains("guardian"), "{message}");
        // Not even the root makes one.
        let (ok, message) = root.publish(&record(&practice.root)).await;
        assert!(!ok && message.starts_with("restricted:"), "{message}");
    }
    // A guardian with a key of her own is still fine.
    let guardian = Keys::generate().public_key();
    let record = Guardianship::sign(
        &doctor_identity,
        &ward,
        &guardian,
        GuardianshipStatus::Active,
        Timestamp::now(),
    )
    .unwrap();
    doctor.publish_ok(&record).await;
    relay.stop().await;
}

/// A stand-in event of `kind` (the relay never decrypts).
fn opaque(author: &Keys, kind: u16) -> Event {
    EventBuilder::new(Kind::from(kind), "AgIC-opaque")
        .tags([Tag::custom("epoch", ["0"]), Tag::custom("ehr", ["1"])])
        .finalize(author)
        .unwrap()
}

async fn a_practice_phrase_comes_only_from_a_role_that_writes_notes_and_reserved_kinds_never(
    db: Db,
) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    allow(&relay, &practice.doctor, &patient.public_key()).await;
    let mut doctor = relay.client(&practice.doctor).await;
    doctor.publish_ok(&opaque(&practice.doctor, 2122)).await;
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    let (ok, message) = frontdesk.publish(&opaque(&practice.frontdesk, 2122)).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // The front desk is not served the phrases (they are sealed to the clinical epoch anyway).
    let served = frontdesk
        .req("p", &[json!({"kinds": [2122]})])
        .await
        .unwrap();
    assert!(served.is_empty());
    // A kind of the practice's range that is not in use would be stored free of quota.
    let mut her = relay.client(&patient).await;
    for kind in [2150, 2199] {
        let (ok, message) = her.publish(&opaque(&patient, kind)).await;
        assert!(!ok && message.starts_with("invalid:"), "{message}");
        let (ok, message) = doctor.publish(&opaque(&practice.doctor, kind)).await;
        assert!(!ok && message.starts_with("invalid:"), "{message}");
    }
    relay.stop().await;
}

on_both_backends!(
    a_practice_phrase_comes_only_from_a_role_that_writes_notes_and_reserved_kinds_never,
    a_gift_wrap_answer_does_not_tell_whether_the_recipient_is_a_member,
    a_guardianship_cannot_make_a_current_or_revoked_staff_key_a_guardian,
    in_a_split_practice_messages_and_demographics_outside_the_office_domain_are_refused,
);
