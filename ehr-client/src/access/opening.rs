//! Opening clinical events as a member: select the events about a patient, verify, authorise
//! and decrypt each with the key its tags name, and fold them.

use std::collections::BTreeSet;

use nostr::prelude::{Event, EventId, PublicKey};

use super::{AccessError, Opened, PracticeView, authorise_original};
use crate::chart::{self, Chart, FoldOptions};
use crate::event::{ClinicalEvent, ClinicalRecord, EventError, PracticeKeyRef, VerifiedEvent};
use crate::kinds::ClinicalKind;

impl PracticeView {
    /// Verify, authorise and decrypt the practice copies of the clinical events about
    /// `patient` (or about every patient, with `None`).
    pub fn open<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Event>,
        patient: Option<&PublicKey>,
    ) -> Opened {
        open_events(events, patient, |clinical| self.open_one(clinical))
    }

    /// [`PracticeView::open`] for events whose signatures were already checked (by the relay
    /// transport): the same authorisation and decryption, without a second signature check, and
    /// without copying the events it is given.
    pub fn open_verified(
        &self,
        events: impl IntoIterator<Item = VerifiedEvent>,
        patient: Option<&PublicKey>,
    ) -> Opened {
        open_events_with(
            events,
            VerifiedEvent::event,
            ClinicalEvent::from_verified,
            patient,
            |clinical| self.open_one(clinical),
        )
    }

    /// Authorise (a member, the patient, or her guardian) and decrypt one event.
    fn open_one(&self, clinical: &ClinicalEvent) -> Result<ClinicalRecord, AccessError> {
        let guardian = match self.authorise(clinical) {
            Ok(()) => None,
            Err(refused) => Some(self.writing_guardian(clinical).ok_or(refused)?),
        };
        let mut record = self.decrypt(clinical)?;
        record.guardian = guardian;
        Ok(record)
    }

    fn decrypt(&self, clinical: &ClinicalEvent) -> Result<ClinicalRecord, AccessError> {
        let domain = clinical.practice_key().domain();
        let record = match clinical.practice_key() {
            PracticeKeyRef::Chart(version) | PracticeKeyRef::Office(version) => {
                let keys = self
                    .chart_keys
                    .get(&(clinical.patient(), domain))
                    .and_then(|line| line.get(&version))
                    .ok_or(AccessError::NoKey)?;
                let mut last = AccessError::NoKey;
                let mut opened = None;
                for key in keys {
                    match clinical.decrypt_with_chart_key(key) {
                        Ok(record) => {
                            opened = Some(record);
                            break;
                        }
                        Err(error) => last = error.into(),
                    }
                }
                opened.ok_or(last)?
            }
            PracticeKeyRef::Epoch(number) | PracticeKeyRef::OfficeEpoch(number) => {
                let epoch = self
                    .epochs
                    .get(&(domain, number))
                    .ok_or(AccessError::NoKey)?;
                clinical.decrypt_with_epoch_key(&epoch.secret)?
            }
        };
        authorise_original(&self.roster, &record)?;
        Ok(record)
    }

    /// The folded chart of `patient` from the events at hand, and what was refused.
    pub fn chart<'a>(
        &self,
        patient: &PublicKey,
        events: impl IntoIterator<Item = &'a Event>,
        options: FoldOptions,
    ) -> (Chart, Vec<(EventId, AccessError)>) {
        let opened = self.open(events, Some(patient));
        (chart::fold(&opened.records, options), opened.refused)
    }
}

/// Verify, filter and open clinical events one by one with `open`. With a `patient`, events
/// whose `p` tag names someone else are skipped before their signature is checked.
pub(super) fn open_events<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    patient: Option<&PublicKey>,
    open: impl Fn(&ClinicalEvent) -> Result<ClinicalRecord, AccessError>,
) -> Opened {
    open_events_with(
        events,
        |event| *event,
        |event| ClinicalEvent::parse(event.clone()),
        patient,
        open,
    )
}

/// Parse (`parse`), authorise and open (`open`) the clinical events among `items` that may be
/// about `patient`, each once.
fn open_events_with<T>(
    items: impl IntoIterator<Item = T>,
    event_of: impl Fn(&T) -> &Event,
    parse: impl Fn(T) -> Result<ClinicalEvent, EventError>,
    patient: Option<&PublicKey>,
    open: impl Fn(&ClinicalEvent) -> Result<ClinicalRecord, AccessError>,
) -> Opened {
    let mut opened = Opened::default();
    for (id, clinical) in select_events(items, event_of, parse, patient) {
        match clinical.and_then(|clinical| open(&clinical)) {
            Ok(record) => opened.records.push(record),
            Err(error) => opened.refused.push((id, error)),
        }
    }
    opened
}

/// The clinical events among `items` that may be about `patient`, each once and in order,
/// parsed by `parse` (a parse failure is kept with its id, to be reported as refused).
pub(super) fn select_events<T>(
    items: impl IntoIterator<Item = T>,
    event_of: impl Fn(&T) -> &Event,
    parse: impl Fn(T) -> Result<ClinicalEvent, EventError>,
    patient: Option<&PublicKey>,
) -> Vec<(EventId, Result<ClinicalEvent, AccessError>)> {
    let mut selected = Vec::new();
    let mut seen = BTreeSet::new();
    for item in items {
        let event = event_of(&item);
        let id = event.id;
        let clinical_kind = ClinicalKind::from_u16(event.kind.as_u16()).is_some();
        let maybe_about =
            patient.is_none_or(|p| event.tags.public_keys().any(|tagged| tagged == *p));
        if !clinical_kind || !maybe_about || !seen.insert(id) {
            continue;
        }
        match parse(item) {
            // The `p` tag named the patient, but the event is about someone else.
            Ok(clinical) if patient.is_some_and(|p| p != &clinical.patient()) => {}
            parsed => selected.push((id, parsed.map_err(AccessError::from))),
        }
    }
    selected
}
