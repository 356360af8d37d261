//! The practice's patient list, as one member reads it (the clinic app's first screen): every
//! patient the member's keys reach, with the name, date of birth and identifiers of her newest
//! demographics record and the start of her latest encounter. Demographics are office records
//! and encounters clinical, so the front desk's list has no last visit (shared DESIGN §2).

use std::collections::BTreeMap;

use nostr::prelude::{Event, PublicKey};
use serde::Serialize;

use crate::access::PracticeView;
use crate::chart::{self, FoldOptions};
use crate::event::ClinicalRecord;
use crate::fhir::{HumanName, Resource};
use crate::kinds::ClinicalKind;

/// One row of the patient list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientSummary {
    /// The patient's key (hex on the wire).
    #[serde(serialize_with = "hex_key")]
    pub patient: PublicKey,
    /// Her name as the practice records it ("Given Family"), if a demographics record is read.
    pub name: Option<String>,
    /// Date of birth (FHIR `date`).
    pub birth_date: Option<String>,
    /// Administrative gender code.
    pub gender: Option<String>,
    /// Business identifiers (MRN and the like), values only.
    pub identifiers: Vec<String>,
    /// Start of the latest encounter (FHIR `dateTime`), when the reader may read encounters.
    pub last_visit: Option<String>,
    /// Her email address, if her demographics give one (what an appointment's reminder
    /// record carries to the reminder agent, [`crate::schedule::reminder::patient_email`]).
    pub email: Option<String>,
}

fn hex_key<S: serde::Serializer>(key: &PublicKey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&key.to_hex())
}

/// The patient list of `view`'s reader from `events` (a relay dump may be passed): every
/// enrolled patient, sorted by name (unnamed last), then key. One pass opens the demographics
/// and encounter events; nothing else is decrypted.
pub fn patient_list<'a>(
    view: &PracticeView,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<PatientSummary> {
    let wanted = [ClinicalKind::Patient, ClinicalKind::Encounter].map(ClinicalKind::as_u16);
    let selected = events
        .into_iter()
        .filter(|event| wanted.contains(&event.kind.as_u16()));
    let mut by_patient: BTreeMap<PublicKey, Vec<ClinicalRecord>> = view
        .patients()
        .into_iter()
        .map(|patient| (patient, Vec::new()))
        .collect();
    for record in view.open(selected, None).records {
        if let Some(records) = by_patient.get_mut(&record.patient) {
            records.push(record);
        }
    }
    let mut list: Vec<PatientSummary> = by_patient
        .into_iter()
        .map(|(patient, records)| summary(patient, &records))
        .collect();
    list.sort_by(|a, b| {
        (a.name.is_none(), &a.name, a.patient).cmp(&(b.name.is_none(), &b.name, b.patient))
    });
    list
}

fn summary(patient: PublicKey, records: &[ClinicalRecord]) -> PatientSummary {
    let chart = chart::fold(records, FoldOptions::default());
    let demographics = chart
        .entries()
        .filter_map(|entry| match &entry.resource {
            Resource::Patient(p) => Some((entry.updated_at, p)),
            _ => None,
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, p)| p);
    let last_visit = chart
        .entries()
        .filter_map(|entry| match &entry.resource {
            Resource::Encounter(e) => e.period.as_ref()?.start.clone(),
            _ => None,
        })
        .max();
    PatientSummary {
        patient,
        name: demographics.and_then(|p| p.name.first()).map(display_name),
        birth_date: demographics.and_then(|p| p.birth_date.clone()),
        gender: demographics
            .and_then(|p| p.gender.as_ref())
            .and_then(|g| serde_json::to_value(g).ok())
            .and_then(|g| g.as_str().map(str::to_owned)),
        identifiers: demographics
            .map(|p| {
                p.identifier
                    .iter()
                    .filter_map(|i| i.value.clone())
                    .collect()
            })
            .unwrap_or_default(),
        last_visit,
        email: demographics.and_then(crate::schedule::reminder::email_of),
    }
}

/// "Given Family" (or the name's text).
pub fn display_name(name: &HumanName) -> String {
    if let Some(text) = &name.text {
        return text.clone();
    }
    let mut parts: Vec<&str> = name.given.iter().map(String::as_str).collect();
    parts.extend(name.family.as_deref());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use nostr::prelude::Timestamp;

    use super::*;
    use crate::event::ClinicalEventBuilder;
    use crate::keys::Identity;
    use crate::practice::{self, State};
    use crate::roster::Role;
    use crate::rotation::{self, RosterChange};

    struct Clinic {
        root: Identity,
        doctor: Identity,
        frontdesk: Identity,
        events: Vec<Event>,
    }

    fn clinic_with_two_patients() -> (Clinic, Vec<PublicKey>) {
        let (root, doctor, frontdesk) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let now = Timestamp::from_secs(1_800_000_000);
        let (mut events, _) = rotation::genesis(&root, None, now).unwrap();
        for (member, role) in [(&doctor, Role::Doctor), (&frontdesk, Role::Frontdesk)] {
            let state = State {
                root: root.public_key(),
                events: &events,
                actor: &root,
                now,
            };
            let change = RosterChange::Add {
                pubkey: member.public_key(),
                role,
                name: None,
            };
            let plan = practice::change_roster(&state, &change).unwrap();
            events.extend(plan.into_events());
        }
        let patients: Vec<PublicKey> = (0..2).map(|_| Identity::generate().public_key()).collect();
        let state = State {
            root: root.public_key(),
            events: &events,
            actor: &doctor,
            now,
        };
        events.extend(
            practice::enrol_patients(&state, &patients)
                .unwrap()
                .into_events(),
        );
        // The first has demographics and a visit; the second nothing yet.
        let view = PracticeView::load(&root.public_key(), &events, &doctor);
        let p = patients[0];
        for (kind, resource) in crate::demo::one_of_each_kind(&p.to_hex()) {
            if matches!(kind, ClinicalKind::Patient | ClinicalKind::Encounter) {
                let builder = ClinicalEventBuilder::new(kind, resource, p)
                    .unwrap()
                    .created_at(now);
                events.push(view.sign_record(&doctor, builder).unwrap().event().clone());
            }
        }
        (
            Clinic {
                root,
                doctor,
                frontdesk,
                events,
            },
            patients,
        )
    }

    #[test]
    fn a_clinician_lists_every_patient_with_name_birth_date_and_last_visit() {
        let (clinic, patients) = clinic_with_two_patients();
        let view = PracticeView::load(&clinic.root.public_key(), &clinic.events, &clinic.doctor);
        let list = patient_list(&view, &clinic.events);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].patient, patients[0]);
        assert!(list[0].name.is_some());
        assert!(list[0].birth_date.is_some());
        assert_eq!(
            list[0].last_visit.as_deref(),
            Some("2026-03-02T09:00:00-05:00")
        );
        assert_eq!((list[1].patient, &list[1].name), (patients[1], &None));
    }

    #[test]
    fn the_front_desk_lists_names_but_no_visit_it_cannot_read() {
        let (clinic, _) = clinic_with_two_patients();
        let view = PracticeView::load(&clinic.root.public_key(), &clinic.events, &clinic.frontdesk);
        let list = patient_list(&view, &clinic.events);
        assert_eq!(list.len(), 2);
        assert!(list[0].name.is_some());
        assert_eq!(list[0].last_visit, None);
    }
}
