//! The per-author storage quota (`limits.author_quota_bytes`): the bytes an author keeps stored
//! in kinds other than the practice's own (gift wraps, relay lists, metadata, deletion
//! requests). The practice's kinds, 2100-2199, are exempt: clinical records must never be
//! refused for space.
//!
//! The check runs inside the transaction that writes, and is exact: on SQLite one writer
//! connection runs every transaction (group commit, module `hub`), so no other write can slip
//! between the sum and the insert; on PostgreSQL, where several relay processes write, each
//! transaction first takes an advisory lock per counted author, so theirs are serialised too.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::write::{Tx, WriteJob, WriteOutcome, write_one};
use crate::access::is_practice_kind;
use crate::error::Reject;

/// Kinds that never count: the practice's range. `USAGE_SQL` and the index of migration
/// `0002_author_quota` spell the same range (a test checks the SQL).
const EXEMPT: RangeInclusive<u16> = ehr_client::kinds::PRACTICE_RANGE;

/// Bytes an author holds in counted kinds.
pub(crate) const USAGE_SQL: &str = "SELECT CAST(COALESCE(SUM(OCTET_LENGTH(raw)), 0) AS BIGINT) FROM events WHERE pubkey = ? AND kind NOT BETWEEN 2100 AND 2199";

/// `blocked:` rather than `rate-limited:`: waiting does not help; deleting (NIP-09) or
/// replacing events does.
pub(crate) const OVER_QUOTA: Reject = Reject::blocked(
    "this key's storage quota for events outside the practice's kinds is used up; delete some first",
);

/// Whether an event of `kind` counts against its author's quota.
pub(crate) fn counts(kind: u16) -> bool {
    !(EXEMPT.contains(&kind) || is_practice_kind(kind))
}

/// The quota as the transaction sees it: each author's usage, read once and then kept up to date
/// as the batch's plain events are admitted.
#[derive(Debug)]
pub(crate) struct Usage {
    limit: Option<i64>,
    used: HashMap<[u8; 32], i64>,
}

impl Usage {
    /// `limit` in bytes; `None` counts nothing (imports and restores).
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Self {
            limit: limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
            used: HashMap::new(),
        }
    }

    /// Whether `job` is under the quota at all.
    fn counted(&self, job: &WriteJob) -> Option<i64> {
        self.limit.filter(|_| counts(job.event.kind.as_u16()))
    }

    /// Serialise this transaction with others writing for the same authors (PostgreSQL), in
    /// one order, so two batches cannot deadlock.
    pub(crate) async fn lock_authors<T: Tx>(
        &self,
        tx: &mut T,
        jobs: &[WriteJob],
    ) -> Result<(), sqlx::Error> {
        let mut authors: Vec<[u8; 32]> = (jobs.iter())
            .filter(|job| self.counted(job).is_some())
            .map(|job| job.event.pubkey.to_bytes())
            .collect();
        authors.sort_unstable();
        authors.dedup();
        for author in &authors {
            tx.lock_author(author).await?;
        }
        Ok(())
    }

    /// A plain (regular, not replacing) event: whether its bytes fit, counting them if so. A
    /// refused one that is already stored is a duplicate, as without the quota.
    pub(crate) async fn admit_plain<T: Tx>(
        &mut self,
        tx: &mut T,
        job: &WriteJob,
    ) -> Result<Option<WriteOutcome>, sqlx::Error> {
        let Some(limit) = self.counted(job) else {
            return Ok(None);
        };
        let author = job.event.pubkey.to_bytes();
        let used = match self.used.get(&author) {
            Some(used) => *used,
            None => tx.author_bytes(&author).await?,
        };
        let size = i64::try_from(job.raw.len()).unwrap_or(i64::MAX);
        if used.saturating_add(size) <= limit {
            // A duplicate counted here only makes the rest of this batch stricter.
            self.used.insert(author, used.saturating_add(size));
            return Ok(None);
        }
        self.used.insert(author, used);
        let id = job.event.id.to_bytes();
        Ok(Some(if tx.kind_and_author(&id).await?.is_some() {
            WriteOutcome::Duplicate("already have this event")
        } else {
            WriteOutcome::Refused(OVER_QUOTA)
        }))
    }

    /// Write one job (a replaceable, addressable or deletion event, or any event of a batch
    /// holding a deletion) inside a savepoint, and undo it when it leaves its author over the
    /// quota and holding more than before: the net size counts, so a replacement no larger than
    /// the version it replaces, or a deletion that frees more than it takes, always passes.
    pub(crate) async fn write_one<T: Tx>(
        &mut self,
        tx: &mut T,
        job: &WriteJob,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let Some(limit) = self.counted(job) else {
            return write_one(tx, job).await;
        };
        let author = job.event.pubkey.to_bytes();
        self.used.remove(&author);
        let before = tx.author_bytes(&author).await?;
        tx.savepoint(Savepoint::Begin).await?;
        let outcome = write_one(tx, job).await?;
        if outcome == WriteOutcome::Stored {
            let after = tx.author_bytes(&author).await?;
            if after > limit && after > before {
                // Also takes back this job's NOTIFY on PostgreSQL: it was never stored.
                tx.savepoint(Savepoint::Undo).await?;
                tx.savepoint(Savepoint::End).await?;
                return Ok(WriteOutcome::Refused(OVER_QUOTA));
            }
        }
        tx.savepoint(Savepoint::End).await?;
        Ok(outcome)
    }
}

/// The savepoint statements around one guarded job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Savepoint {
    /// `SAVEPOINT`
    Begin,
    /// `ROLLBACK TO SAVEPOINT`
    Undo,
    /// `RELEASE SAVEPOINT`
    End,
}

impl Savepoint {
    /// The statement, the same on SQLite and PostgreSQL.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Begin => "SAVEPOINT author_quota",
            Self::Undo => "ROLLBACK TO SAVEPOINT author_quota",
            Self::End => "RELEASE SAVEPOINT author_quota",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_query_spells_the_practice_range() {
        let range = format!("NOT BETWEEN {} AND {}", EXEMPT.start(), EXEMPT.end());
        assert!(USAGE_SQL.contains(&range), "{USAGE_SQL}");
        for (name, migration) in [
            (
                "sqlite",
                include_str!("../../../migrations/relay/sqlite/0002_author_quota.sql"),
            ),
            (
                "postgres",
                include_str!("../../../migrations/relay/postgres/0002_author_quota.sql"),
            ),
        ] {
            assert!(migration.contains(&range), "{name}: {migration}");
        }
    }

    #[test]
    fn the_practice_kinds_never_count() {
        for kind in ehr_client::kinds::practice_kinds() {
            assert!(!counts(kind.as_u16()), "kind {kind} counts");
        }
        assert!(!counts(2199));
        for kind in [0, 1, 5, 1059, 10002, 10050, 2099, 2200, 30078] {
            assert!(counts(kind), "kind {kind} is exempt");
        }
    }
}
