//! What storing one event means, for both backends: duplicates, NIP-09 deletions (refused for
//! the practice's kinds), replaceable and addressable kinds, and the tag index. Every refusal is
//! decided before the job writes anything (or, for the storage quota, undone to a savepoint), so a
//! refused job leaves no trace in the batch.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use nostr::prelude::{Event, EventId, Kind, PublicKey, Timestamp};

use super::DELETED_BEFORE;
use super::quota::{Savepoint, Usage};
use super::select::secs;
use crate::access::is_practice_kind;
use crate::error::Reject;
use ehr_client::tags::tag_values;

/// One event to store.
#[derive(Debug, Clone)]
pub struct WriteJob {
    /// The verified event.
    pub event: Event,
    /// Its JSON as received.
    pub raw: String,
    /// When the relay received it.
    pub received_at: Timestamp,
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed.
    Stored,
    /// Nothing to do: already stored, or a newer version of a replaceable event is.
    Duplicate(&'static str),
    /// Refused by a storage rule (NIP-09 on practice kinds, an id its author deleted).
    Refused(Reject),
}

/// A replaceable or addressable event older than the version stored.
const SUPERSEDED: Reject = Reject::duplicate("a newer version of this event is stored");

fn is_practice(event: &Event) -> bool {
    is_practice_kind(event.kind.as_u16())
}

const CLINICAL_APPEND_ONLY: Reject = Reject::blocked(
    "practice records (the practice kinds in use, 2100-2126) are append-only; publish a correction instead",
);

/// The statements a backend runs inside one transaction.
pub(crate) trait Tx {
    /// Kind and author of a stored event.
    async fn kind_and_author(&mut self, id: &[u8]) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error>;
    /// Whether `pubkey` deleted `id`.
    async fn is_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<bool, sqlx::Error>;
    /// `(created_at, id)` of stored versions of a replaceable or addressable event.
    async fn versions(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        until: Option<i64>,
    ) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error>;
    /// Remove a stored event and its tags.
    async fn delete_event(&mut self, id: &[u8]) -> Result<(), sqlx::Error>;
    /// `(id, pubkey)` of the deletions recorded for any of `ids`.
    async fn deleted_among(
        &mut self,
        ids: &[&[u8]],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, sqlx::Error>;
    /// Insert event rows (ids already stored are skipped); `(id, seq)` of the rows inserted.
    async fn insert_events(
        &mut self,
        rows: &[EventRow<'_>],
    ) -> Result<Vec<(Vec<u8>, i64)>, sqlx::Error>;
    /// Insert tag rows.
    async fn insert_tags(&mut self, rows: &[TagRow<'_>]) -> Result<(), sqlx::Error>;
    /// Whether `pubkey` deleted the address `kind:pubkey:d_tag` at or after `created_at`.
    async fn address_deleted(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        created_at: i64,
    ) -> Result<bool, sqlx::Error>;
    /// Remember that versions of an address up to `until` are deleted.
    async fn mark_address_deleted(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        until: i64,
    ) -> Result<(), sqlx::Error>;
    /// Remember that `pubkey` deleted `id`.
    async fn mark_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<(), sqlx::Error>;
    /// Called after events are stored (PostgreSQL announces them to the other processes).
    async fn stored(&mut self, ids: &[&[u8]]) -> Result<(), sqlx::Error>;
    /// Bytes `pubkey` holds in kinds the quota counts ([`super::quota`]).
    async fn author_bytes(&mut self, pubkey: &[u8]) -> Result<i64, sqlx::Error>;
    /// Keep other processes' writes for `pubkey` out until this transaction ends (PostgreSQL;
    /// SQLite's single writer needs nothing).
    async fn lock_author(&mut self, pubkey: &[u8]) -> Result<(), sqlx::Error>;
    /// Open, undo or close the savepoint around one quota-checked job.
    async fn savepoint(&mut self, step: Savepoint) -> Result<(), sqlx::Error>;
}

/// One single-letter tag of a stored event.
#[derive(Debug)]
pub(crate) struct TagRow<'a> {
    pub seq: i64,
    pub name: &'a str,
    pub value: &'a str,
    pub created_at: i64,
}

/// Event rows per multi-row INSERT (8 values each; SQLite allows 32,766 per statement).
pub(crate) const EVENT_ROWS_PER_INSERT: usize = 1000;
/// Tag rows per multi-row INSERT (4 values each).
pub(crate) const TAG_ROWS_PER_INSERT: usize = 5000;

/// The single-letter tags of `event`, for the index.
fn indexed_tags(event: &Event, seq: i64) -> impl Iterator<Item = TagRow<'_>> {
    let created_at = secs(event.created_at);
    event.tags.iter().filter_map(move |tag| {
        let fields = tag.as_slice();
        let name = fields.first()?;
        let value = fields.get(1)?;
        let single_letter = name.len() == 1 && name.bytes().all(|b| b.is_ascii_alphabetic());
        single_letter.then_some(TagRow {
            seq,
            name: name.as_str(),
            value: value.as_str(),
            created_at,
        })
    })
}

fn row_of<'a>(
    job: &'a WriteJob,
    id: &'a [u8],
    author: &'a [u8],
    d_tag: Option<&'a str>,
) -> EventRow<'a> {
    EventRow {
        id,
        pubkey: author,
        created_at: secs(job.event.created_at),
        kind: i64::from(job.event.kind.as_u16()),
        d_tag,
        expires_at: job.event.tags.expiration().map(secs),
        raw: &job.raw,
        received_at: secs(job.received_at),
    }
}

/// Whether an event is stored by plain insertion: not replaceable, addressable or a deletion.
fn is_plain(event: &Event) -> bool {
    event.kind.is_regular() && event.kind != Kind::EventDeletion
}

/// Store a batch inside the caller's transaction. Plain events go in a few multi-row
/// statements; the others one by one, after them, in arrival order. A batch holding a deletion
/// goes one by one throughout, so a deletion never lands before what it names arrived. With a
/// `quota`, each author's events outside the practice's kinds stay within it ([`super::quota`]).
pub(crate) async fn write_all<T: Tx>(
    tx: &mut T,
    jobs: &[WriteJob],
    quota: Option<u64>,
) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    let mut usage = Usage::new(quota);
    usage.lock_authors(tx, jobs).await?;
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; jobs.len()];
    let ids: Vec<[u8; 32]> = jobs.iter().map(|j| j.event.id.to_bytes()).collect();
    let authors: Vec<[u8; 32]> = jobs.iter().map(|j| j.event.pubkey.to_bytes()).collect();
    let has_deletion = jobs.iter().any(|j| j.event.kind == Kind::EventDeletion);
    let plain: Vec<usize> = (0..jobs.len())
        .filter(|&i| !has_deletion && jobs.get(i).is_some_and(|j| is_plain(&j.event)))
        .collect();
    if !plain.is_empty() {
        let plain_ids: Vec<&[u8]> = plain
            .iter()
            .filter_map(|&i| ids.get(i))
            .map(|id| id.as_slice())
            .collect();
        let deleted: HashSet<(Vec<u8>, Vec<u8>)> =
            tx.deleted_among(&plain_ids).await?.into_iter().collect();
        let mut first_of: HashMap<&[u8], usize> = HashMap::new();
        let mut rows = Vec::with_capacity(plain.len());
        for &i in &plain {
            let (Some(job), Some(id), Some(author), Some(slot)) =
                (jobs.get(i), ids.get(i), authors.get(i), outcomes.get_mut(i))
            else {
                continue;
            };
            if deleted.contains(&(id.to_vec(), author.to_vec())) && !is_practice(&job.event) {
                *slot = Some(WriteOutcome::Refused(DELETED_BEFORE));
            } else if first_of.contains_key(id.as_slice()) {
                *slot = Some(WriteOutcome::Duplicate("already have this event"));
            } else if let Some(refused) = usage.admit_plain(tx, job).await? {
                *slot = Some(refused);
            } else {
                first_of.insert(id.as_slice(), i);
                rows.push(row_of(job, id, author, None));
            }
        }
        let mut inserted: HashMap<Vec<u8>, i64> = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(EVENT_ROWS_PER_INSERT) {
            inserted.extend(tx.insert_events(chunk).await?);
        }
        let mut tags = Vec::new();
        let mut stored = Vec::with_capacity(inserted.len());
        for (id, &i) in &first_of {
            let (Some(job), Some(slot)) = (jobs.get(i), outcomes.get_mut(i)) else {
                continue;
            };
            match inserted.get(*id) {
                Some(&seq) => {
                    tags.extend(indexed_tags(&job.event, seq));
                    stored.push(*id);
                    *slot = Some(WriteOutcome::Stored);
                }
                None => *slot = Some(WriteOutcome::Duplicate("already have this event")),
            }
        }
        for chunk in tags.chunks(TAG_ROWS_PER_INSERT) {
            tx.insert_tags(chunk).await?;
        }
        if !stored.is_empty() {
            tx.stored(&stored).await?;
        }
    }
    for (job, slot) in jobs.iter().zip(outcomes.iter_mut()) {
        if slot.is_none() {
            *slot = Some(usage.write_one(tx, job).await?);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(WriteOutcome::Duplicate("already have this event")))
        .collect())
}

/// The columns of an event row.
#[derive(Debug)]
pub(crate) struct EventRow<'a> {
    pub id: &'a [u8],
    pub pubkey: &'a [u8],
    pub created_at: i64,
    pub kind: i64,
    pub d_tag: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub raw: &'a str,
    pub received_at: i64,
}

/// The `d` value that makes versions of a replaceable (`""`) or addressable event the same.
fn version_key(event: &Event) -> Option<String> {
    let kind = event.kind;
    if kind.is_addressable() {
        Some(event.tags.identifier().unwrap_or_default())
    } else if kind.is_replaceable() {
        Some(String::new())
    } else {
        None
    }
}

/// NIP-01 order of versions: later `created_at` wins, then the lower id.
fn newer(a: (i64, &[u8]), b: (i64, &[u8])) -> bool {
    match a.0.cmp(&b.0) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => a.1 < b.1,
    }
}

/// What a deletion request removes: event ids and `kind:pubkey:d` addresses of its author.
struct Targets {
    ids: Vec<Vec<u8>>,
    missing: Vec<Vec<u8>>,
    addresses: Vec<(i64, String)>,
}

async fn deletion_targets<T: Tx>(
    tx: &mut T,
    event: &Event,
) -> Result<Result<Targets, Reject>, sqlx::Error> {
    let author = event.pubkey.to_bytes();
    let mut targets = Targets {
        ids: Vec::new(),
        missing: Vec::new(),
        addresses: Vec::new(),
    };
    for kind in tag_values(event, "k") {
        if kind.parse::<u16>().is_ok_and(is_practice_kind) {
            return Ok(Err(CLINICAL_APPEND_ONLY));
        }
    }
    for value in tag_values(event, "e") {
        let Ok(id) = EventId::from_hex(value) else {
            return Ok(Err(Reject::invalid(
                "an e tag of the deletion request is not an event id",
            )));
        };
        let id = id.to_bytes().to_vec();
        match tx.kind_and_author(&id).await? {
            Some((kind, _)) if u16::try_from(kind).is_ok_and(is_practice_kind) => {
                return Ok(Err(CLINICAL_APPEND_ONLY));
            }
            Some((_, owner)) if owner == author => targets.ids.push(id),
            Some(_) => {}
            None => targets.missing.push(id),
        }
    }
    for value in tag_values(event, "a") {
        let mut parts = value.splitn(3, ':');
        let (Some(kind), Some(pubkey), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(Err(Reject::invalid(
                "an a tag of the deletion request is not kind:pubkey:d",
            )));
        };
        let (Ok(kind), Ok(pubkey)) = (kind.parse::<u16>(), PublicKey::from_hex(pubkey)) else {
            return Ok(Err(Reject::invalid(
                "an a tag of the deletion request is not kind:pubkey:d",
            )));
        };
        if is_practice_kind(kind) {
            return Ok(Err(CLINICAL_APPEND_ONLY));
        }
        if pubkey == event.pubkey {
            targets.addresses.push((i64::from(kind), d.to_owned()));
        }
    }
    Ok(Ok(targets))
}

/// Store one job inside the caller's transaction.
pub(super) async fn write_one<T: Tx>(
    tx: &mut T,
    job: &WriteJob,
) -> Result<WriteOutcome, sqlx::Error> {
    let event = &job.event;
    let id = event.id.to_bytes();
    let author = event.pubkey.to_bytes();
    let created_at = secs(event.created_at);
    let kind = i64::from(event.kind.as_u16());
    // Practice records are append-only: a deletion request cannot pre-empt one either.
    if !is_practice(event) && tx.is_deleted(&id, &author).await? {
        return Ok(WriteOutcome::Refused(DELETED_BEFORE));
    }
    let targets = if event.kind == Kind::EventDeletion {
        match deletion_targets(tx, event).await? {
            Ok(targets) => Some(targets),
            Err(reject) => return Ok(WriteOutcome::Refused(reject)),
        }
    } else {
        None
    };
    let d_tag = version_key(event);
    if let Some(d) = &d_tag {
        let versions = tx.versions(&author, kind, d, None).await?;
        if versions.iter().any(|(_, vid)| vid.as_slice() == id) {
            return Ok(WriteOutcome::Duplicate("already have this event"));
        }
        if versions
            .iter()
            .any(|(at, vid)| newer((*at, vid), (created_at, &id)))
        {
            return Ok(WriteOutcome::Refused(SUPERSEDED));
        }
        if tx.address_deleted(&author, kind, d, created_at).await? {
            return Ok(WriteOutcome::Refused(DELETED_BEFORE));
        }
        for (_, old) in versions {
            tx.delete_event(&old).await?;
        }
    }
    let row = row_of(job, &id, &author, d_tag.as_deref());
    let Some((_, seq)) = tx.insert_events(std::slice::from_ref(&row)).await?.pop() else {
        return Ok(WriteOutcome::Duplicate("already have this event"));
    };
    let tags: Vec<TagRow<'_>> = indexed_tags(event, seq).collect();
    if !tags.is_empty() {
        tx.insert_tags(&tags).await?;
    }
    if let Some(targets) = targets {
        for target in &targets.ids {
            tx.delete_event(target).await?;
            tx.mark_deleted(target, &author).await?;
        }
        for target in &targets.missing {
            tx.mark_deleted(target, &author).await?;
        }
        for (kind, d) in &targets.addresses {
            for (_, old) in tx.versions(&author, *kind, d, Some(created_at)).await? {
                tx.delete_event(&old).await?;
            }
            tx.mark_address_deleted(&author, *kind, d, created_at)
                .await?;
        }
    }
    tx.stored(&[id.as_slice()]).await?;
    Ok(WriteOutcome::Stored)
}
