//! What storing one event means, for both backends: duplicates, NIP-09 deletions (refused for
//! the practice's kinds), replaceable and addressable kinds, and the tag index. Every refusal is
//! decided before the job writes anything, so a refused job leaves no trace in the batch.

use std::cmp::Ordering;

use nostr::prelude::{Event, EventId, Kind, PublicKey, Timestamp};

use super::DELETED_BEFORE;
use super::select::secs;
use crate::access::{DELETION, is_practice_kind, tag_values};
use crate::error::Reject;

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

const CLINICAL_APPEND_ONLY: Reject = Reject::blocked(
    "practice records (kinds 2100-2121) are append-only; publish a correction instead",
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
    /// Insert the event row; false if the id is already stored.
    async fn insert_event(&mut self, row: &EventRow<'_>) -> Result<bool, sqlx::Error>;
    /// Insert the single-letter tags of an event.
    async fn insert_tags(
        &mut self,
        id: &[u8],
        created_at: i64,
        tags: &[(&str, &str)],
    ) -> Result<(), sqlx::Error>;
    /// Remember that `pubkey` deleted `id`.
    async fn mark_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<(), sqlx::Error>;
    /// Called after an event is stored (PostgreSQL announces it to the other processes).
    async fn stored(&mut self, id: &[u8]) -> Result<(), sqlx::Error>;
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
pub(crate) async fn write_one<T: Tx>(
    tx: &mut T,
    job: &WriteJob,
) -> Result<WriteOutcome, sqlx::Error> {
    let event = &job.event;
    let id = event.id.to_bytes();
    let author = event.pubkey.to_bytes();
    let created_at = secs(event.created_at);
    let kind = i64::from(event.kind.as_u16());
    if tx.is_deleted(&id, &author).await? {
        return Ok(WriteOutcome::Refused(DELETED_BEFORE));
    }
    let targets = if event.kind == Kind::from(DELETION) {
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
        if versions
            .iter()
            .any(|(at, vid)| vid.as_slice() == id || newer((*at, vid), (created_at, &id)))
        {
            return Ok(WriteOutcome::Duplicate(
                "a newer version of this event is stored",
            ));
        }
        for (_, old) in versions {
            tx.delete_event(&old).await?;
        }
    }
    let row = EventRow {
        id: &id,
        pubkey: &author,
        created_at,
        kind,
        d_tag: d_tag.as_deref(),
        expires_at: event.tags.expiration().map(secs),
        raw: &job.raw,
        received_at: secs(job.received_at),
    };
    if !tx.insert_event(&row).await? {
        return Ok(WriteOutcome::Duplicate("already have this event"));
    }
    let tags: Vec<(&str, &str)> = event
        .tags
        .iter()
        .filter_map(|tag| {
            let fields = tag.as_slice();
            let name = fields.first()?;
            let value = fields.get(1)?;
            let single_letter = name.len() == 1 && name.bytes().all(|b| b.is_ascii_alphabetic());
            single_letter.then_some((name.as_str(), value.as_str()))
        })
        .collect();
    if !tags.is_empty() {
        tx.insert_tags(&id, created_at, &tags).await?;
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
        }
    }
    tx.stored(&id).await?;
    Ok(WriteOutcome::Stored)
}
