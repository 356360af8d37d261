//! A practice and a copy of everything its relay holds, driven on a clock of its own (each
//! step one minute later): the shared fixture of the key-hierarchy tests.
#![allow(dead_code)]

use ehr_client::access::PracticeView;
use ehr_client::crypto;
use ehr_client::demo;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::Resource;
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::nostr::prelude::{Event, PublicKey, Timestamp};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, PatientPolicy, RosterChange};

type Genesis = fn(
    &Identity,
    Option<(PublicKey, Option<String>)>,
    Timestamp,
) -> Result<(Vec<Event>, ehr_client::grants::EpochKey), rotation::PlanError>;

/// A practice and a copy of everything its relay holds.
pub struct Practice {
    pub root: Identity,
    pub admin: Identity,
    pub doctor: Identity,
    pub nurse: Identity,
    pub frontdesk: Identity,
    pub gateway: Identity,
    pub billing: Identity,
    pub store: Vec<Event>,
    pub clock: u64,
}

impl Practice {
    /// A practice with the two key domains, as `ehr init` creates one today.
    pub fn new() -> Self {
        Self::with_genesis(rotation::genesis)
    }

    /// A practice created before the two key domains: one epoch, the front desk holding it.
    pub fn before_split() -> Self {
        Self::with_genesis(rotation::genesis_before_split)
    }

    fn with_genesis(genesis: Genesis) -> Self {
        let mut p = Self {
            root: Identity::generate(),
            admin: Identity::generate(),
            doctor: Identity::generate(),
            nurse: Identity::generate(),
            frontdesk: Identity::generate(),
            gateway: Identity::generate(),
            billing: Identity::generate(),
            store: Vec::new(),
            clock: 1_700_000_000,
        };
        let now = p.tick();
        let (events, _) = genesis(
            &p.root,
            Some((p.admin.public_key(), Some("Admin".into()))),
            now,
        )
        .unwrap();
        p.store.extend(events);
        let admin = p.admin.clone();
        for (who, role) in [
            (p.doctor.public_key(), Role::Doctor),
            (p.nurse.public_key(), Role::Nurse),
            (p.frontdesk.public_key(), Role::Frontdesk),
            (p.gateway.public_key(), Role::FhirGateway),
            (p.billing.public_key(), Role::BillingBot),
        ] {
            p.change(
                &admin,
                RosterChange::Add {
                    pubkey: who,
                    role,
                    name: None,
                },
            );
        }
        p
    }

    pub fn tick(&mut self) -> Timestamp {
        self.clock += 60;
        Timestamp::from_secs(self.clock)
    }

    pub fn view(&self, reader: &Identity) -> PracticeView {
        PracticeView::load(&self.root.public_key(), &self.store, reader)
    }

    /// A roster change, then the grants it leaves missing.
    pub fn change(&mut self, actor: &Identity, change: RosterChange) {
        let now = self.tick();
        let events = rotation::change_roster(&self.view(actor), actor, &change, now).unwrap();
        self.store.extend(events);
        let grants = rotation::missing_epoch_grants(&self.view(actor), actor, now).unwrap();
        self.store.extend(grants);
    }

    pub fn policy(&self) -> PatientPolicy {
        PatientPolicy {
            consenting: self
                .view(&self.admin)
                .gateway_patients(&self.store, Timestamp::from_secs(self.clock)),
        }
    }

    /// Run chart-key maintenance as the admin; returns how many events it published.
    pub fn maintain(&mut self) -> usize {
        let now = self.tick();
        let policy = self.policy();
        let events =
            rotation::maintain_chart_keys(&self.view(&self.admin), &self.admin, &policy, None, now)
                .unwrap();
        let count = events.len();
        self.store.extend(events);
        count
    }

    pub fn enrol(&mut self) -> Identity {
        let patient = Identity::generate();
        let now = self.tick();
        let events = rotation::enrol_patient(
            &self.view(&self.doctor),
            &self.doctor,
            &patient.public_key(),
            now,
        )
        .unwrap();
        self.store.extend(events);
        patient
    }

    /// `author` writes `resource` of `kind` into `patient`'s chart with its current write key.
    pub fn write(
        &mut self,
        author: &Identity,
        patient: &PublicKey,
        kind: ClinicalKind,
        resource: Resource,
    ) -> Event {
        let now = self.tick();
        let view = self.view(author);
        let builder = ClinicalEventBuilder::new(kind, resource, *patient)
            .unwrap()
            .created_at(now);
        let event = view.sign_record(author, builder).unwrap();
        self.store.push(event.event().clone());
        event.event().clone()
    }

    pub fn encounter(&mut self, author: &Identity, patient: &PublicKey) -> Event {
        let author = author.clone();
        self.write(
            &author,
            patient,
            ClinicalKind::Encounter,
            demo::encounter("pt"),
        )
    }

    pub fn consent(&mut self, patient: &PublicKey) -> Resource {
        let consent = demo::fhir_sharing_consent("pt", &["st-marys"]);
        let doctor = self.doctor.clone();
        self.write(&doctor, patient, ClinicalKind::Consent, consent.clone());
        consent
    }
}

pub fn can_open(view: &PracticeView, event: &Event) -> bool {
    let opened = view.open([event], None);
    opened.records.len() == 1
}

/// Every 32-byte key the reader could ever obtain from the store, tried as a NIP-44 key against
/// `event`'s practice copy: chart keys, office keys and the epoch keys of both domains alike.
pub fn any_key_opens(view: &PracticeView, event: &Event) -> bool {
    let mut chart_keys: Vec<ChartKey> = Vec::new();
    for patient in view.patients() {
        for domain in Domain::ALL {
            chart_keys.extend(view.keys_in(&patient, domain));
        }
    }
    let by_chart = chart_keys.iter().any(|k| k.decrypt(&event.content).is_ok());
    let by_epoch = Domain::ALL.into_iter().any(|domain| {
        view.epoch_keys_in(domain)
            .any(|e| crypto::nip44_decrypt(&e.secret, &event.pubkey, &event.content).is_ok())
    });
    by_chart || by_epoch
}
