//! The patient's side (invariants 5 and 7): her own chart, opened from the patient copies with
//! her key or her signer, authorised by the same roster rule as the practice's view.

use nostr::prelude::{Event, EventId, PublicKey};

use super::{AccessError, Opened, authorise, authorise_original, open_events, select_events};
use crate::chart::{self, Chart, FoldOptions};
use crate::event::ClinicalEvent;
use crate::keys::Identity;
use crate::roster::{RosterChain, verify_roster_chain};
use crate::signer::Nip44Decrypt;

/// Open the patient copies of the events about `patient`, through the patient's own key, with
/// the same authorisation check as the practice view (invariants 5 and 7).
pub fn open_as_patient<'a>(
    roster: &RosterChain,
    patient: &Identity,
    events: impl IntoIterator<Item = &'a Event>,
) -> Opened {
    // One conversation key per author, not one derivation per event.
    let keys = std::cell::RefCell::new(std::collections::HashMap::new());
    open_events(events, Some(&patient.public_key()), |clinical| {
        authorise(roster, clinical)?;
        let record = clinical.decrypt_with_patient_key_cached(patient, &mut keys.borrow_mut())?;
        authorise_original(roster, &record)?;
        Ok(record)
    })
}

/// [`open_as_patient`] through any [`Nip44Decrypt`] signer holding the patient's key (a NIP-07
/// extension or a NIP-46 bunker in the portal): the same selection and authorisation, each
/// patient copy decrypted by the signer.
pub async fn open_as_patient_with<'a, S: Nip44Decrypt>(
    roster: &RosterChain,
    signer: &S,
    events: impl IntoIterator<Item = &'a Event>,
) -> Opened {
    let patient = signer.public_key();
    let mut opened = Opened::default();
    let parse = |event: &Event| ClinicalEvent::parse(event.clone());
    for (id, clinical) in select_events(events, |event| *event, parse, Some(&patient)) {
        let result = match clinical.and_then(|clinical| {
            authorise(roster, &clinical)?;
            Ok(clinical)
        }) {
            Ok(clinical) => match clinical.decrypt_as_patient(signer).await {
                Ok(record) => authorise_original(roster, &record).map(|()| record),
                Err(error) => Err(error.into()),
            },
            Err(error) => Err(error),
        };
        match result {
            Ok(record) => opened.records.push(record),
            Err(error) => opened.refused.push((id, error)),
        }
    }
    opened
}

/// The patient's own chart, as every patient-side reader (the `ehr` CLI, the portal) reads it:
/// the roster chain followed from the practice `root`, the patient copies opened with the
/// patient's key and authorised by that chain, then folded. Also what was refused.
pub fn patient_chart<'a>(
    root: &PublicKey,
    patient: &Identity,
    events: impl IntoIterator<Item = &'a Event> + Clone,
    options: FoldOptions,
) -> (Chart, Vec<(EventId, AccessError)>) {
    let roster = verify_roster_chain(root, events.clone());
    let opened = open_as_patient(&roster, patient, events);
    (chart::fold(&opened.records, options), opened.refused)
}

/// [`patient_chart`] through a [`Nip44Decrypt`] signer instead of the secret key.
pub async fn patient_chart_with<'a, S: Nip44Decrypt>(
    root: &PublicKey,
    signer: &S,
    events: impl IntoIterator<Item = &'a Event> + Clone,
    options: FoldOptions,
) -> (Chart, Vec<(EventId, AccessError)>) {
    let roster = verify_roster_chain(root, events.clone());
    let opened = open_as_patient_with(&roster, signer, events).await;
    (chart::fold(&opened.records, options), opened.refused)
}
