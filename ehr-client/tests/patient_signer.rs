#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Patient-authored events through any signer (`PatientSigner`): the same event the raw key
//! writes, accepted by the practice's checks, and a clear error from a signer that refuses,
//! alters the event, or holds another key.

use ehr_client::access::{self, PracticeView};
use ehr_client::chart::{FoldOptions, ORIGIN_SYSTEM, PATIENT_REPORTED};
use ehr_client::demo;
use ehr_client::event::{ClinicalEventBuilder, EventError, PracticeKeyRef};
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{Event, PublicKey, SignEvent, Timestamp, UnsignedEvent};
use ehr_client::rotation;
use ehr_client::signer::{Nip44Decrypt, PatientSigner, SignerError};

/// A signer over a key that can be told to misbehave.
#[derive(Debug)]
struct Mock {
    key: Identity,
    behaviour: Behaviour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    RefuseToSign,
    RefuseToEncrypt,
    AlterContent,
    SignWithAnotherKey,
}

impl Nip44Decrypt for Mock {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    async fn nip44_decrypt(&self, peer: &PublicKey, payload: &str) -> Result<String, SignerError> {
        Nip44Decrypt::nip44_decrypt(&self.key, peer, payload).await
    }
}

impl PatientSigner for Mock {
    async fn nip44_encrypt(&self, peer: &PublicKey, text: &str) -> Result<String, SignerError> {
        if self.behaviour == Behaviour::RefuseToEncrypt {
            return Err(SignerError::Rejected);
        }
        PatientSigner::nip44_encrypt(&self.key, peer, text).await
    }

    async fn sign_event(&self, mut unsigned: UnsignedEvent) -> Result<Event, SignerError> {
        match self.behaviour {
            Behaviour::RefuseToSign => Err(SignerError::Rejected),
            Behaviour::AlterContent => {
                unsigned.id = None;
                unsigned.content = "something else".to_owned();
                PatientSigner::sign_event(&self.key, unsigned).await
            }
            Behaviour::SignWithAnotherKey => {
                let other = Identity::generate();
                unsigned.id = None;
                unsigned.pubkey = other.public_key();
                Ok(SignEvent::sign_event(other.keys(), unsigned).unwrap())
            }
            _ => PatientSigner::sign_event(&self.key, unsigned).await,
        }
    }
}

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

fn supplement(patient_id: &str) -> ehr_client::fhir::Resource {
    let mut resource = demo::one_of_each_kind(patient_id)
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Medication)
        .unwrap()
        .1;
    if let ehr_client::fhir::Resource::MedicationRequest(m) = &mut resource {
        m.reported_boolean = Some(true);
    }
    resource
}

fn sign_with(
    p: &Practice,
    behaviour: Behaviour,
    kind: ClinicalKind,
    resource: ehr_client::fhir::Resource,
) -> Result<ehr_client::event::ClinicalEvent, EventError> {
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let target = view.roster().patient_seal_target(kind).unwrap();
    let signer = Mock {
        key: Identity::from_secret_key(p.patient.secret_key().clone()),
        behaviour,
    };
    pollster::block_on(
        ClinicalEventBuilder::new(kind, resource, p.patient.public_key())
            .unwrap()
            .sign_as_patient_with(&signer, &target, Timestamp::from_secs(1_800_000_000)),
    )
}

#[test]
fn a_signer_writes_what_the_practice_and_the_patient_both_read_marked_as_hers() {
    let p = practice();
    let resource = supplement(&p.patient.public_key().to_hex());
    let event = sign_with(
        &p,
        Behaviour::Honest,
        ClinicalKind::Medication,
        resource.clone(),
    )
    .unwrap();
    assert_eq!(event.author(), p.patient.public_key());
    assert!(matches!(event.practice_key(), PracticeKeyRef::Epoch(0)));
    assert_eq!(event.event().created_at.as_secs(), 1_800_000_000);

    // The practice (through the epoch key) and the patient (her own key) open the same record,
    // authorised by the roster as the relay authorises it.
    let mut events = p.events.clone();
    events.push(event.event().clone());
    let view = PracticeView::load(&p.root.public_key(), &events, &p.doctor);
    view.authorise(&event).unwrap();
    let (chart, refused) = view.chart(&p.patient.public_key(), &events, FoldOptions::default());
    assert!(refused.is_empty(), "{refused:?}");
    let entry = chart.entries().next().unwrap();
    assert!(entry.patient_reported);
    assert_eq!(entry.resource, resource);
    let (own, refused) = access::patient_chart(
        &p.root.public_key(),
        &p.patient,
        &events,
        FoldOptions::default(),
    );
    assert!(refused.is_empty());
    assert_eq!(own, chart);

    // The Bundle marks it, and stays FHIR: the tag is a Coding in meta.tag.
    let bundle = own.to_bundle();
    let tags = &bundle["entry"][0]["resource"]["meta"]["tag"];
    assert_eq!(tags[0]["system"], ORIGIN_SYSTEM);
    assert_eq!(tags[0]["code"], PATIENT_REPORTED);
    let back = ehr_client::fhir::Resource::from_json(&bundle["entry"][0]["resource"].to_string());
    assert!(back.is_ok(), "{back:?}");

    // A practice entry is not marked.
    let key = view.write_key(&p.patient.public_key()).unwrap();
    let by_doctor = ClinicalEventBuilder::new(
        ClinicalKind::Encounter,
        demo::encounter("pt"),
        p.patient.public_key(),
    )
    .unwrap()
    .sign(&p.doctor, key)
    .unwrap();
    events.push(by_doctor.event().clone());
    let (chart, _) = view.chart(&p.patient.public_key(), &events, FoldOptions::default());
    let bundle = chart.to_bundle().to_string();
    assert_eq!(bundle.matches(PATIENT_REPORTED).count(), 1);
}

#[test]
fn a_signer_that_refuses_or_cheats_gets_a_clear_error() {
    let p = practice();
    let resource = supplement("pt");
    let refused = sign_with(
        &p,
        Behaviour::RefuseToSign,
        ClinicalKind::Medication,
        resource.clone(),
    )
    .unwrap_err();
    assert_eq!(refused, EventError::Signer(SignerError::Rejected));
    assert_eq!(refused.to_string(), "the signer refused the request");
    assert_eq!(
        sign_with(
            &p,
            Behaviour::RefuseToEncrypt,
            ClinicalKind::Medication,
            resource.clone()
        )
        .unwrap_err(),
        EventError::Signer(SignerError::Rejected)
    );
    for cheat in [Behaviour::AlterContent, Behaviour::SignWithAnotherKey] {
        assert_eq!(
            sign_with(&p, cheat, ClinicalKind::Medication, resource.clone()).unwrap_err(),
            EventError::SignerAltered,
            "{cheat:?}"
        );
    }
}

#[test]
fn a_patient_writes_only_her_kinds_and_only_about_herself() {
    let p = practice();
    // An encounter, a prescription: the practice's to write.
    assert_eq!(
        sign_with(
            &p,
            Behaviour::Honest,
            ClinicalKind::Encounter,
            demo::encounter("pt")
        )
        .unwrap_err(),
        EventError::NotPatientWritable(2111)
    );
    // A prescription (2120) signed by her is not hers to write: the practice refuses it.
    let prescription = demo::one_of_each_kind("pt")
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Prescription)
        .unwrap()
        .1;
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let epoch = view.current_epoch_key().unwrap();
    let forged = ClinicalEventBuilder::new(
        ClinicalKind::Prescription,
        prescription,
        p.patient.public_key(),
    )
    .unwrap()
    .sign_as_patient(&p.patient, epoch.number, &epoch.public_key())
    .unwrap();
    assert_eq!(
        view.authorise(&forged).unwrap_err(),
        access::AccessError::NotAuthorised
    );
    // Another patient's signer cannot write into her chart.
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let target = view
        .roster()
        .patient_seal_target(ClinicalKind::Medication)
        .unwrap();
    let stranger = Mock {
        key: Identity::generate(),
        behaviour: Behaviour::Honest,
    };
    let written = pollster::block_on(
        ClinicalEventBuilder::new(
            ClinicalKind::Medication,
            supplement("pt"),
            p.patient.public_key(),
        )
        .unwrap()
        .sign_as_patient_with(&stranger, &target, Timestamp::now()),
    );
    assert_eq!(written.unwrap_err(), EventError::AuthorIsNotPatient);
}

/// A practice whose roster has the FHIR gateway, with one enrolled patient.
fn practice_with_gateway() -> (Practice, Identity) {
    let mut p = practice();
    let gateway = Identity::generate();
    let now = Timestamp::from_secs(Timestamp::now().as_secs() + 1);
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let change = rotation::RosterChange::Add {
        pubkey: gateway.public_key(),
        role: ehr_client::roster::Role::FhirGateway,
        name: None,
    };
    p.events
        .extend(rotation::change_roster(&view, &p.root, &change, now).unwrap());
    (p, gateway)
}

/// Staff key maintenance as `ehr rotate` runs it: keys by the consent policy, then the
/// practice's record of consents patients signed themselves.
fn maintain(p: &mut Practice, now: Timestamp) -> Vec<Event> {
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let policy = rotation::PatientPolicy {
        consenting: view.gateway_patients(&p.events, Timestamp::now()),
    };
    let mut plan = rotation::maintain_chart_keys(&view, &p.doctor, &policy, None, now).unwrap();
    let after: Vec<Event> = p.events.iter().chain(&plan).cloned().collect();
    let view = PracticeView::load(&p.root.public_key(), &after, &p.doctor);
    plan.extend(rotation::record_patient_consents(&view, &p.doctor, &after, None, now).unwrap());
    p.events.extend(plan.clone());
    plan
}

fn patient_consent(p: &mut Practice, resource: ehr_client::fhir::Resource, at: u64) {
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    let epoch = view.current_epoch_key().unwrap();
    let event = ClinicalEventBuilder::new(ClinicalKind::Consent, resource, p.patient.public_key())
        .unwrap()
        .created_at(Timestamp::from_secs(at))
        .sign_as_patient(&p.patient, epoch.number, &epoch.public_key())
        .unwrap();
    p.events.push(event.event().clone());
}

/// What the gateway can read of the patient: the newest practice-recorded consent's facilities.
fn gateway_reads(p: &Practice, gateway: &Identity) -> Option<Vec<String>> {
    let view = PracticeView::load(&p.root.public_key(), &p.events, gateway);
    let (chart, _) = view.chart(&p.patient.public_key(), &p.events, FoldOptions::default());
    if view
        .latest_chart_key(&p.patient.public_key())
        .map(|k| k.version())
        != view.newest_version(&p.patient.public_key())
    {
        return None;
    }
    chart
        .entries()
        .filter_map(|e| Some(((e.updated_at, e.event_id), e.resource.as_consent()?)))
        .max_by_key(|(order, _)| *order)
        .map(|(_, consent)| consent.fhir_recipients(Timestamp::now()))
}

#[test]
fn staff_maintenance_records_the_patients_own_consent_for_the_gateway() {
    let (mut p, gateway) = practice_with_gateway();
    let start = Timestamp::now().as_secs() + 10;
    let grant = demo::fhir_sharing_consent(&p.patient.public_key().to_hex(), &["st-marys"]);
    patient_consent(&mut p, grant.clone(), start);
    // Before staff act, the gateway holds no key and reads no consent.
    assert_eq!(gateway_reads(&p, &gateway), None);

    let plan = maintain(&mut p, Timestamp::from_secs(start));
    let recorded: Vec<&Event> = plan.iter().filter(|e| e.kind.as_u16() == 2105).collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].pubkey, p.doctor.public_key());
    assert!(recorded[0].created_at.as_secs() > start, "newer than hers");
    assert_eq!(
        gateway_reads(&p, &gateway),
        Some(vec!["st-marys".to_owned()])
    );
    // Idempotent: nothing left to do.
    assert!(maintain(&mut p, Timestamp::from_secs(start + 5)).is_empty());

    // She withdraws: the practice records it (version 2, inactive) and the key rotates away.
    let withdrawal = grant.as_consent().unwrap().withdrawal();
    patient_consent(&mut p, withdrawal, start + 20);
    let plan = maintain(&mut p, Timestamp::from_secs(start + 20));
    let recorded = plan.iter().find(|e| e.kind.as_u16() == 2105).unwrap();
    assert!(recorded.created_at.as_secs() > start + 20);
    assert!(plan.iter().any(|e| e.kind.as_u16() == 2100), "a rotation");
    assert_eq!(
        gateway_reads(&p, &gateway),
        None,
        "the gateway lost the newest key"
    );
    let view = PracticeView::load(&p.root.public_key(), &p.events, &p.doctor);
    assert!(
        view.gateway_patients(&p.events, Timestamp::now())
            .is_empty()
    );
    assert!(maintain(&mut p, Timestamp::from_secs(start + 30)).is_empty());
}
