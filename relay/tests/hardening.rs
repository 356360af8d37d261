//! Least-privilege attacks (DESIGN.md §5): the relay's answers must not tell who is a member,
//! and a staff key, current or revoked, must not come back as a guardian.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Client, Db, Practice, nip86};
use ehr_client::grants::{Guardianship, GuardianshipStatus};
use ehr_client::keys::Identity;
use nostr::prelude::*;
use serde_json::json;

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
    nip86(
        &relay,
        &practice.doctor,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
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
    nip86(
        &relay,
        &practice.doctor,
        "allowpubkey",
        json!([stranger.public_key().to_hex()]),
    )
    .await;
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

on_both_backends!(
    a_gift_wrap_answer_does_not_tell_whether_the_recipient_is_a_member,
    a_guardianship_cannot_make_a_current_or_revoked_staff_key_a_guardian,
);
