#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The practice's own dot-phrases (kind 2122): sealed to the clinical epoch, read by every
//! clinical member and by no one else; the newest definition of a name counts, a retired one
//! takes it away; one the front desk or a revoked member signs is ignored.

#[path = "common/practice.rs"]
mod practice;

use ehr_client::crypto;
use ehr_client::kinds;
use ehr_client::nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, Tag};
use ehr_client::phrases::{self, PhraseDefinition, PhraseError};
use ehr_client::rotation::RosterChange;
use ehr_client::tags::{FORMAT_VERSION, TAG_EPOCH, TAG_FORMAT};
use practice::Practice;

fn definition(name: &str, text: &str) -> PhraseDefinition {
    PhraseDefinition {
        name: name.to_owned(),
        text: text.to_owned(),
        retired: false,
    }
}

fn names(p: &Practice, reader: &ehr_client::keys::Identity) -> Vec<(String, String)> {
    phrases::practice_phrases(&p.view(reader), &p.store)
        .into_iter()
        .map(|phrase| (phrase.name, phrase.text))
        .collect()
}

#[test]
fn a_phrase_the_doctor_defines_is_read_by_clinical_members_and_not_by_the_front_desk() {
    let mut p = Practice::new();
    let at = p.tick();
    let event = phrases::seal(
        &p.view(&p.doctor),
        &p.doctor,
        &definition("asthma", "Asthma action plan reviewed. (synthetic)"),
        at,
    )
    .unwrap();
    assert!(!event.content.contains("Asthma"));
    p.store.push(event);
    let expected = vec![(
        "asthma".to_owned(),
        "Asthma action plan reviewed. (synthetic)".to_owned(),
    )];
    for reader in [&p.doctor, &p.nurse, &p.admin] {
        assert_eq!(names(&p, reader), expected);
    }
    assert!(names(&p, &p.frontdesk).is_empty());
    assert!(names(&p, &p.gateway).is_empty());
}

#[test]
fn the_newest_definition_of_a_name_counts_and_a_retired_phrase_is_gone() {
    let mut p = Practice::new();
    for text in ["First wording.", "Second wording."] {
        let at = p.tick();
        let event =
            phrases::seal(&p.view(&p.doctor), &p.doctor, &definition("fu", text), at).unwrap();
        p.store.push(event);
    }
    assert_eq!(names(&p, &p.nurse)[0].1, "Second wording.");
    let at = p.tick();
    let retired = PhraseDefinition {
        retired: true,
        ..definition("fu", "")
    };
    let event = phrases::seal(&p.view(&p.nurse), &p.nurse, &retired, at).unwrap();
    p.store.push(event);
    assert!(names(&p, &p.doctor).is_empty());
}

#[test]
fn the_front_desk_may_not_define_a_phrase_and_one_it_forges_is_ignored() {
    let mut p = Practice::new();
    let at = p.tick();
    let refused = phrases::seal(
        &p.view(&p.frontdesk),
        &p.frontdesk,
        &definition("pe", "Normal exam."),
        at,
    );
    assert_eq!(refused.unwrap_err(), PhraseError::NotAllowed);
    // Sealed by hand to the clinical epoch public key, which the roster announces to all.
    let roster = p
        .view(&p.frontdesk)
        .roster()
        .current()
        .unwrap()
        .content
        .clone();
    let (epoch, epoch_key) = roster
        .epoch_of(ehr_client::kinds::Domain::Clinical)
        .unwrap();
    let plaintext = serde_json::to_string(&definition("pe", "Forged.")).unwrap();
    let content = crypto::nip44_encrypt(p.frontdesk.secret_key(), &epoch_key, &plaintext).unwrap();
    let forged: Event = EventBuilder::new(Kind::from(kinds::PRACTICE_PHRASE), content)
        .tags([
            Tag::custom(TAG_EPOCH, [epoch.to_string()]),
            Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
        ])
        .custom_created_at(p.tick())
        .finalize(p.frontdesk.keys())
        .unwrap();
    p.store.push(forged);
    assert!(names(&p, &p.doctor).is_empty());
}

#[test]
fn a_phrase_a_revoked_nurse_signs_after_her_revocation_is_ignored() {
    let mut p = Practice::new();
    let nurse = p.nurse.clone();
    let before = p.view(&nurse);
    let admin = p.admin.clone();
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: nurse.public_key(),
        },
    );
    let at = p.tick();
    // Her old view still lets her seal; readers check her role at the event's time.
    let late = phrases::seal(&before, &nurse, &definition("ros", "Late."), at).unwrap();
    p.store.push(late);
    assert!(names(&p, &p.doctor).is_empty());
}

#[test]
fn a_name_or_text_outside_the_rules_is_refused() {
    let mut p = Practice::new();
    let view = p.view(&p.doctor);
    let at = p.tick();
    for (name, text, error) in [
        ("a", "One letter.", PhraseError::Name),
        ("with-dash", "Dash.", PhraseError::Name),
        ("Upper", "Capital.", PhraseError::Name),
        ("ok", "   ", PhraseError::Text),
    ] {
        assert_eq!(
            phrases::seal(&view, &p.doctor, &definition(name, text), at).unwrap_err(),
            error
        );
    }
    let long = "x".repeat(phrases::MAX_PHRASE_TEXT + 1);
    assert_eq!(
        phrases::seal(&view, &p.doctor, &definition("long", &long), at).unwrap_err(),
        PhraseError::Text
    );
}
