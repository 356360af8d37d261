//! What a run reports: every legacy event's fate, checked against the new practice.

use std::collections::BTreeMap;

use nostr::prelude::Timestamp;
use serde::Serialize;

use super::{State, on_roster};
use crate::legacy::plan::{Analysis, Fate};

/// A legacy event named in the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventNote {
    /// The legacy event id.
    pub id: String,
    /// Its kind as published.
    pub kind: u16,
    /// Why it is where it is.
    pub reason: String,
}

/// What happened to the legacy events of one kind.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct KindTally {
    /// Read from the old relay.
    pub total: usize,
    /// In the new practice (records, members, guardianships).
    pub imported: usize,
    /// Still to import (a dry run, or a run that stopped).
    pub pending: usize,
    /// Deliberately not imported.
    pub skipped: usize,
    /// Could not be read.
    pub unreadable: usize,
}

/// The outcome of a run (or of a dry run).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Nothing was published.
    pub dry_run: bool,
    /// Legacy events read.
    pub legacy_events: usize,
    /// Per legacy kind (as published).
    pub legacy_kinds: BTreeMap<u16, KindTally>,
    /// New events published (or, in a dry run, records to publish), per kind.
    pub published: BTreeMap<u16, usize>,
    /// Members added to the roster (hex keys) with their role.
    pub members_added: Vec<(String, String)>,
    /// Patients enrolled.
    pub patients_enrolled: usize,
    /// Guardianships recorded.
    pub guardianships_recorded: usize,
    /// Documents re-encrypted and uploaded.
    pub documents_moved: usize,
    /// Skipped events and why.
    pub skipped: Vec<EventNote>,
    /// Unreadable events and why.
    pub unreadable: Vec<EventNote>,
    /// Events planned but not (yet) in the new practice.
    pub pending: Vec<EventNote>,
    /// Every legacy event is imported, skipped with a reason or unreadable with one.
    pub complete: bool,
}

pub(super) fn dry_run(analysis: &Analysis, state: &State, report: &mut ImportReport) {
    let now = Timestamp::now();
    for member in &analysis.members {
        if !on_roster(&state.view, &member.pubkey, now) {
            report
                .members_added
                .push((member.pubkey.to_hex(), member.role.as_str().to_owned()));
        }
    }
    report.patients_enrolled = analysis
        .patients
        .keys()
        .filter(|p| state.view.newest_version(p).is_none())
        .count();
    report.guardianships_recorded = analysis
        .guardianships
        .iter()
        .filter(|(ward, guardian)| {
            !state
                .view
                .guardians_of(ward, Timestamp::now())
                .contains(guardian)
        })
        .count();
    for record in analysis.missing(&state.present) {
        *report.published.entry(record.kind.as_u16()).or_insert(0) += 1;
        if record.file.is_some() {
            report.documents_moved += 1;
        }
    }
}

/// Tally every legacy event against what the new practice holds.
pub(super) fn finish(analysis: &Analysis, state: &State, report: &mut ImportReport) {
    let now = Timestamp::now();
    report.legacy_events = analysis.fates.len();
    let mut pending = 0;
    for (id, fate) in &analysis.fates {
        let tally = report.legacy_kinds.entry(fate.kind).or_default();
        tally.total += 1;
        let note = |reason: &str| EventNote {
            id: id.to_hex(),
            kind: fate.kind,
            reason: reason.to_owned(),
        };
        let done = match &fate.fate {
            Fate::Skipped(reason) => {
                tally.skipped += 1;
                report.skipped.push(note(reason));
                continue;
            }
            Fate::Unreadable(reason) => {
                tally.unreadable += 1;
                report.unreadable.push(note(reason));
                continue;
            }
            Fate::Records(keys) => keys.iter().all(|k| state.present.contains(k)),
            Fate::Members(keys) => keys.iter().all(|k| on_roster(&state.view, k, now)),
            Fate::Guardianship(ward, guardian) => {
                state.view.guardians_of(ward, now).contains(guardian)
            }
        };
        if done {
            tally.imported += 1;
        } else {
            tally.pending += 1;
            pending += 1;
            report.pending.push(note("not in the new practice yet"));
        }
    }
    report.complete = pending == 0;
}
