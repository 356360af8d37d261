#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Invariant 4 for the billing key (`shared/DESIGN.md` §6): it cannot decrypt any clinical
//! record, even with a full copy of the relay's database (it opens the appointment reminder
//! records sealed to it, and nothing else), and the relay takes nothing from it but gift wraps.

mod common;

use std::time::Duration;

use common::{Billing, MID_MARCH};
use ehr_client::access::{AccessError, PracticeView};
use ehr_client::crypto::nip44_decrypt;
use ehr_client::demo;
use ehr_client::event::ClinicalEvent;
use ehr_client::grants::{ChartKeyWrap, EpochGrant};
use ehr_client::keys::Identity;
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::schedule::reminder::{ReminderRecord, reminder_event};
use nostr::prelude::{EventBuilder, Filter, FinalizeEvent, Kind, Tag};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_billing_key_opens_nothing_clinical_and_publishes_only_gift_wraps() {
    let billing = Billing::quiet(MID_MARCH, |_| {}).await;
    let practice = &billing.practice;
    let patient = Identity::generate();
    practice.enrol(&patient.public_key()).await.unwrap();
    practice.admit(&patient.public_key()).await.unwrap();
    let chart = demo::new_id();
    for (kind, resource) in demo::one_of_each_kind(&chart) {
        practice
            .write(&patient.public_key(), kind, resource)
            .await
            .unwrap();
    }
    // Consent to the gateway, so there are direct wraps too.
    practice.maintain_keys().await.unwrap();
    // A booking's reminder record, sealed to the bot: the one thing it may open.
    let record = ReminderRecord {
        appointment: demo::new_id(),
        patient: patient.public_key().to_hex(),
        start: MID_MARCH.unsigned_abs() + 86_400,
        practice: "Demo Practice".to_owned(),
        utc_offset_minutes: 0,
        cancelled: false,
        email: None,
    };
    let sealed = reminder_event(
        &practice.doctor,
        &billing.key.public_key(),
        &record,
        nostr::prelude::Timestamp::now(),
    )
    .unwrap();
    let desk = RelayClient::connect(
        &practice.relay_url,
        &practice.doctor,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        desk.publish(&[sealed]).await.unwrap(),
        vec![PublishOutcome::Accepted]
    );
    desk.disconnect().await;

    // What the relay lets the billing key read: rosters and what is addressed to it (inbox
    // lists, gift wraps, reminder records), no clinical kind, no wrap, no grant.
    let relay = RelayClient::connect(&practice.relay_url, &billing.key, Duration::from_secs(10))
        .await
        .unwrap();
    let visible = relay.fetch_all(Filter::new(), 5000).await.unwrap();
    assert!(visible.iter().any(|e| e.kind.as_u16() == kinds::ROSTER));
    assert!(
        visible.iter().all(|e| matches!(
            e.kind.as_u16(),
            kinds::ROSTER | 10050 | 1059 | kinds::REMINDER
        )),
        "{:?}",
        visible.iter().map(|e| e.kind.as_u16()).collect::<Vec<_>>()
    );

    // With a full copy of the relay's database, every attempt fails.
    let full_copy = practice.events().await.unwrap();
    let clinical: Vec<_> = full_copy
        .iter()
        .filter_map(|e| ClinicalEvent::parse(e.clone()).ok())
        .collect();
    assert!(
        clinical.len() >= ClinicalKind::ALL.len() - 1,
        "the chart is on the relay"
    );
    let view = PracticeView::load(&practice.root.public_key(), full_copy.iter(), &billing.key);
    assert_eq!(view.epoch_keys().count(), 0);
    let opened = view.open(full_copy.iter(), Some(&patient.public_key()));
    assert!(opened.records.is_empty());
    assert!(!opened.refused.is_empty());
    assert!(opened.refused.iter().all(|(_, e)| *e == AccessError::NoKey));
    for event in &clinical {
        // The practice copy as a NIP-44 message from the author, and the patient copy.
        assert!(
            nip44_decrypt(
                billing.key.secret_key(),
                &event.author(),
                &event.event().content
            )
            .is_err()
        );
        assert!(
            nip44_decrypt(
                billing.key.secret_key(),
                &event.author(),
                event.patient_content()
            )
            .is_err()
        );
        assert!(event.decrypt_with_patient_key(&billing.key).is_err());
    }
    // Of everything stored, the billing key opens the reminder record sealed to it, and nothing
    // else.
    let opens: Vec<u16> = full_copy
        .iter()
        .filter(|e| nip44_decrypt(billing.key.secret_key(), &e.pubkey, &e.content).is_ok())
        .map(|e| e.kind.as_u16())
        .collect();
    assert_eq!(opens, vec![kinds::REMINDER]);
    let mut wraps = 0;
    let mut grants = 0;
    for event in &full_copy {
        if let Ok(wrap) = ChartKeyWrap::parse(event) {
            wraps += 1;
            assert!(wrap.open_as_grantee(&billing.key).is_err());
            assert!(
                nip44_decrypt(billing.key.secret_key(), &event.pubkey, &event.content).is_err()
            );
        }
        if let Ok(grant) = EpochGrant::parse(event) {
            grants += 1;
            assert!(grant.open(&billing.key).is_err());
            assert!(
                nip44_decrypt(billing.key.secret_key(), &event.pubkey, &event.content).is_err()
            );
        }
    }
    assert!(wraps > 0 && grants > 0, "wraps {wraps}, grants {grants}");
    // No epoch grant was ever made out to the billing bot.
    assert!(
        full_copy
            .iter()
            .filter_map(|e| EpochGrant::parse(e).ok())
            .all(|g| g.member != billing.key.public_key())
    );

    // The relay refuses every kind but 1059 from the billing key.
    let attempts = [
        EventBuilder::new(Kind::TextNote, "hello"),
        EventBuilder::new(Kind::Metadata, "{}"),
        EventBuilder::new(Kind::Custom(10050), "")
            .tags([Tag::custom("relay", ["wss://x.example"])]),
        EventBuilder::new(Kind::Custom(ClinicalKind::Observation.as_u16()), "x")
            .tags([Tag::public_key(patient.public_key())]),
        EventBuilder::new(Kind::Custom(kinds::CHART_KEY_WRAP), "x"),
        EventBuilder::new(Kind::EventDeletion, "").tags([Tag::event(full_copy[0].id)]),
    ];
    for builder in attempts {
        let event = builder.finalize(billing.key.keys()).unwrap();
        let outcome = relay.publish(std::slice::from_ref(&event)).await.unwrap();
        match &outcome[0] {
            PublishOutcome::Refused { message } => assert!(
                message.starts_with("restricted:")
                    || message.starts_with("blocked:")
                    || message.starts_with("invalid:"),
                "kind {}: {message}",
                event.kind.as_u16()
            ),
            PublishOutcome::Accepted => panic!("kind {} was accepted", event.kind.as_u16()),
        }
    }
    // A gift wrap to a member is accepted.
    let wrapped = ehr_client::dm::wrap(
        &billing.key,
        &patient.public_key(),
        "s",
        "t",
        nostr::prelude::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(
        relay.publish(&[wrapped.to_recipient]).await.unwrap(),
        vec![PublishOutcome::Accepted]
    );
    relay.disconnect().await;
    billing.stop().await;
}
