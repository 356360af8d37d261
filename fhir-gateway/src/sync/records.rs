//! A patient's opened events while her index is built: the ids opened (each event once) and
//! the records, compact (JSON in one buffer, the fold's fields beside it), dropped once her
//! index is built ([`super::Follower`]).

use std::collections::{HashMap, HashSet};

use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::Resource;
use ehr_client::kinds::ClinicalKind;
use nostr::prelude::{EventId, PublicKey, Timestamp};

use crate::provenance::{Opened, Seal};
use crate::served::{PatientIndex, SummaryAuthor};

/// A patient's opened events: their ids (to open each event once), and, only until her index
/// is built, the opened records themselves, compact ([`Pending`]). Once the index is built the
/// records are dropped: a change re-reads her events from the relay ([`Follower::rebuild`]).
#[derive(Debug, Default)]
pub(super) struct PatientRecords {
    /// Ids of opened records: every one while records are pending; afterwards only those the
    /// live subscription may deliver again (at or after [`Follower::keep_ids_from`]).
    pub(super) ids: HashSet<EventId>,
    /// Records opened (for the admins' catch-up status).
    pub(super) opened: usize,
    /// Records opened and not yet indexed.
    pub(super) pending: Pending,
}

impl PatientRecords {
    pub(super) fn insert(&mut self, record: CompactRecord) {
        if self.ids.insert(record.meta.event_id) {
            self.opened += 1;
            self.pending.push(record);
        }
    }

    /// Take the pending records for indexing, keeping only the ids at or after `keep_from`.
    pub(super) fn take(&mut self, keep_from: u64) -> Pending {
        let pending = std::mem::take(&mut self.pending);
        let old: HashSet<EventId> = pending
            .metas
            .iter()
            .filter(|m| m.created_at.as_secs() < keep_from)
            .map(|m| m.event_id)
            .collect();
        self.ids.retain(|id| !old.contains(id));
        self.ids.shrink_to_fit();
        pending
    }
}

/// An opened record without its FHIR tree: what folding needs of the event, the seal its
/// Provenance needs, and the resource as compact JSON.
#[derive(Debug, Clone)]
pub(super) struct RecordMeta {
    pub(super) event_id: EventId,
    pub(super) author: PublicKey,
    pub(super) created_at: Timestamp,
    pub(super) kind: ClinicalKind,
    pub(super) copied_by: Option<PublicKey>,
    pub(super) guardian: Option<PublicKey>,
    pub(super) seal: Option<Seal>,
    /// Where its JSON ends in [`Pending::json`] (it starts where the previous one ends).
    pub(super) end: usize,
}

/// One opened record, compact.
#[derive(Debug)]
pub(super) struct CompactRecord {
    pub(super) patient: PublicKey,
    pub(super) meta: RecordMeta,
    pub(super) json: String,
}

impl CompactRecord {
    pub(super) fn of((record, seal): Opened) -> Self {
        Self {
            patient: record.patient,
            json: record.resource.to_json(),
            meta: RecordMeta {
                event_id: record.event_id,
                author: record.author,
                created_at: record.created_at,
                kind: record.kind,
                copied_by: record.copied_by,
                guardian: record.guardian,
                seal,
                end: 0,
            },
        }
    }
}

/// A patient's opened records awaiting her index, as compact JSON in one buffer: a whole
/// practice is held this way during a catch-up, about the size of its JSON, in a few large
/// allocations per patient that go back to the system once indexed.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) metas: Vec<RecordMeta>,
    pub(super) json: Vec<u8>,
}

impl Pending {
    pub(super) fn push(&mut self, record: CompactRecord) {
        self.json.extend_from_slice(record.json.as_bytes());
        let mut meta = record.meta;
        meta.end = self.json.len();
        self.metas.push(meta);
    }

    /// Fold the records and build the patient's index (the records are dropped with `self`).
    pub(super) fn index(self, patient: &PublicKey, author: &SummaryAuthor) -> PatientIndex {
        let mut start = 0;
        let mut records = Vec::with_capacity(self.metas.len());
        let mut seals = HashMap::new();
        for meta in &self.metas {
            let json = self
                .json
                .get(start..meta.end)
                .and_then(|bytes| std::str::from_utf8(bytes).ok());
            start = meta.end;
            // Written by `Resource::to_json` from a resource that parsed: it parses again.
            let Some(resource) = json.and_then(|json| Resource::from_json(json).ok()) else {
                continue;
            };
            if let Some(seal) = meta.seal {
                seals.entry(meta.event_id).or_insert(seal);
            }
            records.push(ClinicalRecord {
                event_id: meta.event_id,
                author: meta.author,
                created_at: meta.created_at,
                kind: meta.kind,
                patient: *patient,
                resource,
                copied_by: meta.copied_by,
                guardian: meta.guardian,
            });
        }
        drop(self);
        PatientIndex::build_sealed(
            patient,
            &records,
            &|id| seals.get(id).copied(),
            Some(author),
        )
    }
}
