//! Event storage on SQLite (WAL, the default) or PostgreSQL, through sqlx with the migrations
//! of `migrations/relay/{sqlite,postgres}`.
//!
//! Both backends share the SQL of filters and read rules (module `select`) and the logic of a write
//! (module `write`); each backend only binds values and runs statements.

mod postgres;
mod quota;
mod select;
mod sqlite;
mod statements;
mod write;

use std::collections::BTreeSet;
use std::path::Path;

use futures_util::stream::BoxStream;
use nostr::prelude::{Event, EventId, Filter, PublicKey, Timestamp};

use crate::access::{AssignedRole, ReadScope};
use crate::config::{Backend, DatabaseConfig};
use crate::error::{Reject, RelayError};

pub use postgres::{EVENTS_CHANNEL, PgStore, ROLES_CHANNEL};
pub use sqlite::SqliteStore;
pub use write::{WriteJob, WriteOutcome};

/// A row as the read path needs it.
#[derive(Debug)]
pub struct StoredRow {
    /// For NIP-01 order.
    pub created_at: i64,
    /// For NIP-01 order among equal times.
    pub id: Vec<u8>,
    /// Kind, to skip parsing where the SQL rule already settles access.
    pub kind: u16,
    /// The signed event JSON.
    pub raw: String,
}

/// A REQ filter's statement, spelled for its backend ([`Store::events_query`]).
#[derive(Debug)]
pub struct EventQuery(select::Select);

/// The event store.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// Shared PostgreSQL.
    Postgres(PgStore),
}

/// Patients, guardians and bans as stored.
pub type AssignedRoles = (ehr_service::membership::Assigned, BTreeSet<PublicKey>);

macro_rules! both {
    ($self:ident, $store:ident => $body:expr) => {
        match $self {
            Store::Sqlite($store) => $body,
            Store::Postgres($store) => $body,
        }
    };
}

impl Store {
    /// Connect and run the migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, RelayError> {
        Ok(match config.backend() {
            Backend::Sqlite => Self::Sqlite(SqliteStore::open(config).await?),
            Backend::Postgres => Self::Postgres(PgStore::open(config).await?),
        })
    }

    /// Store a batch in one transaction; every job gets its own outcome. Nothing of a refused
    /// job is written, and nothing at all is written when the transaction fails. No quota: for
    /// imports, restores and tools.
    pub async fn write_batch(&self, jobs: &[WriteJob]) -> Result<Vec<WriteOutcome>, RelayError> {
        both!(self, s => s.write_batch(jobs, None).await)
    }

    /// [`Store::write_batch`], keeping each author's events outside the practice's kinds within
    /// `quota` bytes (`limits.author_quota_bytes`); an event that would exceed it is
    /// [`WriteOutcome::Refused`] with `blocked:`.
    pub async fn write_batch_within(
        &self,
        jobs: &[WriteJob],
        quota: u64,
    ) -> Result<Vec<WriteOutcome>, RelayError> {
        both!(self, s => s.write_batch(jobs, Some(quota)).await)
    }

    /// The query for events matching `filter` that `scope` may read, newest first (NIP-01:
    /// then the lower id), at most `limit`; run it with [`Store::stream_events`].
    pub fn events_query(
        &self,
        filter: &Filter,
        scope: &ReadScope,
        limit: usize,
        now: Timestamp,
    ) -> EventQuery {
        EventQuery(match self {
            Self::Sqlite(_) => select::Select::events_index_packed(filter, scope, limit, now),
            Self::Postgres(_) => {
                let mut select = select::Select::events(filter, scope, limit, now);
                select.sql = ehr_service::database::numbered(&select.sql).into_owned();
                select
            }
        })
    }

    /// The rows of `query` in its order, as the database yields them: nothing is held beyond
    /// the driver's small row buffer, and the caller may stop early. The stream holds a reader
    /// connection until it is dropped.
    pub fn stream_events<'a>(
        &'a self,
        query: &'a EventQuery,
    ) -> BoxStream<'a, Result<StoredRow, RelayError>> {
        both!(self, s => s.stream_events(&query.0))
    }

    /// How many events match `filter` within `scope` (NIP-45).
    pub async fn count(
        &self,
        filter: &Filter,
        scope: &ReadScope,
        now: Timestamp,
    ) -> Result<u64, RelayError> {
        let select = select::Select::count(filter, scope, now);
        both!(self, s => s.count(&select).await)
    }

    /// `(created_at, id)` of the events matching `filter` within `scope`, for negentropy.
    pub async fn fingerprints(
        &self,
        filter: &Filter,
        scope: &ReadScope,
        cap: usize,
        now: Timestamp,
    ) -> Result<Vec<(u64, Vec<u8>)>, RelayError> {
        let select = select::Select::fingerprints(filter, scope, cap, now);
        both!(self, s => s.fingerprints(&select).await)
    }

    /// One event (stored or in-flight ephemeral) by id, for cross-process fan-out.
    pub async fn event_json(&self, id: &EventId) -> Result<Option<String>, RelayError> {
        both!(self, s => s.event_json(id).await)
    }

    /// Every stored event of the given kinds, oldest first.
    pub async fn events_of_kinds(&self, kinds: &[u16]) -> Result<Vec<Event>, RelayError> {
        let raws = both!(self, s => s.raw_of_kinds(kinds).await)?;
        raws.iter()
            .enumerate()
            .map(|(i, raw)| parse_stored(raw, i + 1))
            .collect()
    }

    /// A value that changes whenever who may do what could have changed: the newest roster or
    /// guardianship stored, and the NIP-86 roles and bans (the statement other services run
    /// through `ehr_service::membership`).
    pub async fn access_generation(&self) -> Result<[i64; 5], RelayError> {
        both!(self, s => s.access_generation().await)
    }

    /// Patients, guardians and bans.
    pub async fn assigned_roles(&self) -> Result<AssignedRoles, RelayError> {
        let (roles, bans) = both!(self, s => s.assigned_roles().await)?;
        Ok(ehr_service::membership::decode_assigned(roles, &bans))
    }

    /// Give `pubkey` a role; false when it already had it.
    pub async fn assign_role(
        &self,
        pubkey: &PublicKey,
        role: AssignedRole,
        by: &PublicKey,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        both!(self, s => s.assign_role(pubkey, role.as_str(), by, now).await)
    }

    /// Take roles from `pubkey` (all of them with `None`); false when it had none of them.
    pub async fn unassign_role(
        &self,
        pubkey: &PublicKey,
        role: Option<AssignedRole>,
    ) -> Result<bool, RelayError> {
        both!(self, s => s.unassign_role(pubkey, role.map(AssignedRole::as_str)).await)
    }

    /// Ban `pubkey`; false when it was banned already.
    pub async fn ban(
        &self,
        pubkey: &PublicKey,
        reason: &str,
        by: &PublicKey,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        both!(self, s => s.ban(pubkey, reason, by, now).await)
    }

    /// Lift a ban; false when there was none.
    pub async fn unban(&self, pubkey: &PublicKey) -> Result<bool, RelayError> {
        both!(self, s => s.unban(pubkey).await)
    }

    /// Record a NIP-98 auth event as used; false when it was used before (a replay).
    pub async fn claim_auth_event(
        &self,
        id: &EventId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        both!(self, s => s.claim_auth_event(id, expires_at, now).await)
    }

    /// Drop expired events (NIP-40), spent NIP-98 ids and old in-flight ephemeral events.
    pub async fn purge(&self, now: Timestamp) -> Result<u64, RelayError> {
        both!(self, s => s.purge(now).await)
    }

    /// Tell the other relay processes that roles changed (PostgreSQL; a no-op on SQLite).
    pub async fn announce_roles_changed(&self) -> Result<(), RelayError> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(s) => s.announce_roles_changed().await,
        }
    }

    /// Write an online, consistent snapshot to `path` (SQLite `VACUUM INTO`).
    pub async fn backup(&self, path: &Path) -> Result<(), RelayError> {
        match self {
            Self::Sqlite(s) => s.backup(path).await,
            Self::Postgres(_) => Err(RelayError::Config(
                "backup snapshots are for SQLite; on PostgreSQL use pg_dump, or `ehr-relay export`"
                    .into(),
            )),
        }
    }

    /// Every stored event as JSON, oldest first, in pages (for `export`).
    pub async fn export_page(
        &self,
        after: Option<(i64, Vec<u8>)>,
        page: u32,
    ) -> Result<Vec<(i64, Vec<u8>, String)>, RelayError> {
        both!(self, s => s.export_page(after, page).await)
    }
}

/// Parse an event the store holds or a file supplies.
pub fn parse_stored(raw: &str, line: usize) -> Result<Event, RelayError> {
    serde_json::from_str(raw).map_err(|e| RelayError::BadEvent {
        line,
        reason: format!("not a Nostr event: {e}"),
    })
}

/// The per-event read check applied to every row the SQL returns (defence in depth: the SQL
/// already applies the same [`ReadScope`]).
pub fn row_visible(scope: &ReadScope, row: &StoredRow) -> bool {
    if scope.everything && row.kind != crate::access::GIFT_WRAP {
        return true;
    }
    parse_stored(&row.raw, 0).is_ok_and(|event| scope.allows(&event))
}

/// A refusal from the store's own rules, for [`WriteOutcome::Refused`].
pub(crate) const DELETED_BEFORE: Reject =
    Reject::blocked("the author deleted this event; it is not stored again");
