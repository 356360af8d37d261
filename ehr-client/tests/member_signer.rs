#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A staff member whose key sits in a signer (a NIP-07 extension, a NIP-46 bunker): the view
//! loads with the signer decrypting only the grants sealed to that key, reads what the held
//! key reads, and writes records others open; a forged grant never reaches the signer, and a
//! signer that refuses or alters is an error.

#[path = "common/practice.rs"]
mod practice;

use std::cell::RefCell;

use ehr_client::access::PracticeView;
use ehr_client::demo;
use ehr_client::event::{ClinicalEventBuilder, EventError};
use ehr_client::grants::grant_epoch;
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::nostr::prelude::{Event, PublicKey, Timestamp, UnsignedEvent};
use ehr_client::signer::{Nip44Decrypt, PatientSigner, SignerError};
use pollster::block_on;
use practice::Practice;

/// A signer over a member's key that records what it was asked to decrypt.
struct Extension {
    key: Identity,
    refuse: bool,
    alter: bool,
    asked: RefCell<Vec<String>>,
}

impl Extension {
    fn over(key: &Identity) -> Self {
        Self {
            key: key.clone(),
            refuse: false,
            alter: false,
            asked: RefCell::new(Vec::new()),
        }
    }
}

impl Nip44Decrypt for Extension {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    async fn nip44_decrypt(&self, peer: &PublicKey, payload: &str) -> Result<String, SignerError> {
        self.asked.borrow_mut().push(payload.to_owned());
        if self.refuse {
            return Err(SignerError::Rejected);
        }
        Nip44Decrypt::nip44_decrypt(&self.key, peer, payload).await
    }
}

impl PatientSigner for Extension {
    async fn nip44_encrypt(&self, peer: &PublicKey, text: &str) -> Result<String, SignerError> {
        PatientSigner::nip44_encrypt(&self.key, peer, text).await
    }

    async fn sign_event(&self, mut unsigned: UnsignedEvent) -> Result<Event, SignerError> {
        if self.alter {
            unsigned.id = None;
            unsigned.created_at = Timestamp::from_secs(unsigned.created_at.as_secs() + 1);
        }
        PatientSigner::sign_event(&self.key, unsigned).await
    }
}

fn load(p: &Practice, signer: &Extension) -> Result<PracticeView, SignerError> {
    block_on(PracticeView::load_with_signer(
        &p.root.public_key(),
        &p.store,
        signer,
    ))
}

#[test]
fn a_member_through_a_signer_opens_what_the_held_key_opens() {
    let mut p = Practice::new();
    let patient = Identity::generate().public_key();
    let now = p.tick();
    let enrol =
        ehr_client::rotation::enrol_patient(&p.view(&p.doctor), &p.doctor, &patient, now).unwrap();
    p.store.extend(enrol);
    let nurse = p.nurse.clone();
    let note = p.encounter(&nurse, &patient);

    let signer = Extension::over(&p.doctor);
    let view = load(&p, &signer).unwrap();
    let opened = view.open([&note], None);
    assert_eq!(opened.records.len(), 1, "{:?}", opened.refused);
    let held = p.view(&p.doctor);
    for domain in Domain::ALL {
        assert_eq!(
            view.keys_in(&patient, domain).len(),
            held.keys_in(&patient, domain).len()
        );
    }
    // Only the grants sealed to the doctor were asked for: one per domain.
    assert_eq!(signer.asked.borrow().len(), 2);
}

#[test]
fn a_grant_forged_by_a_non_admin_is_never_handed_to_the_signer() {
    let mut p = Practice::new();
    // The nurse (no admin) seals an epoch key of her own to the doctor.
    let forged_key = ehr_client::grants::EpochKey::generate(0);
    let nurse = p.nurse.clone();
    let forged = grant_epoch(&nurse, &p.doctor.public_key(), &forged_key, &[], p.tick()).unwrap();
    p.store.push(forged.clone());
    let signer = Extension::over(&p.doctor);
    load(&p, &signer).unwrap();
    assert!(!signer.asked.borrow().contains(&forged.content));
}

#[test]
fn a_signer_that_refuses_to_decrypt_fails_the_login() {
    let p = Practice::new();
    let mut signer = Extension::over(&p.doctor);
    signer.refuse = true;
    assert_eq!(load(&p, &signer).unwrap_err(), SignerError::Rejected);
}

#[test]
fn a_record_signed_through_a_signer_is_read_by_another_member_and_the_patient() {
    let mut p = Practice::new();
    let patient = Identity::generate();
    let now = p.tick();
    let enrol = ehr_client::rotation::enrol_patient(
        &p.view(&p.doctor),
        &p.doctor,
        &patient.public_key(),
        now,
    )
    .unwrap();
    p.store.extend(enrol);
    let signer = Extension::over(&p.doctor);
    let view = load(&p, &signer).unwrap();
    let builder = ClinicalEventBuilder::new(
        ClinicalKind::Encounter,
        demo::encounter("pt"),
        patient.public_key(),
    )
    .unwrap()
    .created_at(p.tick());
    let event = block_on(view.sign_record_with(&signer, builder)).unwrap();
    assert_eq!(event.author(), p.doctor.public_key());
    let nurse_view = p.view(&p.nurse);
    assert_eq!(nurse_view.open([event.event()], None).records.len(), 1);
    assert!(event.decrypt_with_patient_key(&patient).is_ok());
}

#[test]
fn a_signer_that_alters_the_record_is_refused() {
    let mut p = Practice::new();
    let patient = Identity::generate().public_key();
    let now = p.tick();
    let enrol =
        ehr_client::rotation::enrol_patient(&p.view(&p.doctor), &p.doctor, &patient, now).unwrap();
    p.store.extend(enrol);
    let mut signer = Extension::over(&p.doctor);
    let view = load(&p, &signer).unwrap();
    signer.alter = true;
    let builder =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, demo::encounter("pt"), patient)
            .unwrap()
            .created_at(p.tick());
    let error = block_on(view.sign_record_with(&signer, builder)).unwrap_err();
    assert_eq!(error, EventError::SignerAltered.into());
}

#[test]
fn a_record_signed_through_a_signer_needs_its_time() {
    let mut p = Practice::new();
    let patient = Identity::generate().public_key();
    let now = p.tick();
    let enrol =
        ehr_client::rotation::enrol_patient(&p.view(&p.doctor), &p.doctor, &patient, now).unwrap();
    p.store.extend(enrol);
    let signer = Extension::over(&p.doctor);
    let view = load(&p, &signer).unwrap();
    let builder =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, demo::encounter("pt"), patient).unwrap();
    let error = block_on(view.sign_record_with(&signer, builder)).unwrap_err();
    assert_eq!(error, EventError::NoTime.into());
}
