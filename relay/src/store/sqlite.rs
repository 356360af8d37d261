//! SQLite in WAL mode: one writer connection (group commit), a pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use nostr::prelude::{EventId, PublicKey, Timestamp};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use super::StoredRow;
use super::select::{Bind, Select, secs};
use super::write::{
    EVENT_ROWS_PER_INSERT, EventRow, TagRow, Tx, WriteJob, WriteOutcome, write_all,
};
use crate::config::{DatabaseConfig, SqliteSync};
use crate::error::RelayError;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    /// One connection: SQLite has one writer, and group commit wants exactly one.
    write: SqlitePool,
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind_all<'q>(mut query: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for bind in binds {
        query = match bind {
            Bind::Blob(b) => query.bind(b.as_slice()),
            Bind::Int(i) => query.bind(*i),
            Bind::Text(t) => query.bind(t.as_str()),
        };
    }
    query
}

impl SqliteStore {
    /// Open (creating if missing) and migrate.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, RelayError> {
        let options = SqliteConnectOptions::from_str(&config.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            // Readers map the file instead of copying pages through read(2), and keep a larger
            // page cache: a chart read touches about a thousand rows.
            .pragma("mmap_size", "268435456")
            .pragma("cache_size", "-32768");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/relay/sqlite")
            .run(&write)
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options)
            .await?;
        Ok(Self { read, write })
    }

    pub(super) async fn write_batch(
        &self,
        jobs: &[WriteJob],
    ) -> Result<Vec<WriteOutcome>, RelayError> {
        let mut tx = self.write.begin().await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        outcomes.extend(write_all(&mut SqliteTx(&mut tx), jobs).await?);
        tx.commit().await?;
        Ok(outcomes)
    }

    pub(super) async fn query_packed(&self, select: &Select) -> Result<Vec<StoredRow>, RelayError> {
        let packed: Option<String> = bind_all(sqlx::query(&select.sql), &select.binds)
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        let Some(packed) = packed else {
            return Ok(Vec::new());
        };
        packed
            .split('\u{1e}')
            .map(|record| {
                let mut fields = record.splitn(4, '\u{1f}');
                let (Some(kind), Some(at), Some(id), Some(raw)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    return Err(RelayError::BadEvent {
                        line: 0,
                        reason: "malformed packed row".into(),
                    });
                };
                Ok(StoredRow {
                    created_at: at.parse().unwrap_or_default(),
                    id: hex::decode(id).unwrap_or_default(),
                    kind: kind.parse().unwrap_or(u16::MAX),
                    raw: raw.to_owned(),
                })
            })
            .collect()
    }

    pub(super) async fn count(&self, select: &Select) -> Result<u64, RelayError> {
        let row = bind_all(sqlx::query(&select.sql), &select.binds)
            .fetch_one(&self.read)
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    pub(super) async fn fingerprints(
        &self,
        select: &Select,
    ) -> Result<Vec<(u64, Vec<u8>)>, RelayError> {
        let rows = bind_all(sqlx::query(&select.sql), &select.binds)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get(0)?;
                Ok((u64::try_from(at).unwrap_or_default(), row.try_get(1)?))
            })
            .collect()
    }

    pub(super) async fn event_json(&self, id: &EventId) -> Result<Option<String>, RelayError> {
        Ok(sqlx::query_scalar("SELECT raw FROM events WHERE id = ?")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.read)
            .await?)
    }

    pub(super) async fn raw_of_kinds(&self, kinds: &[u16]) -> Result<Vec<String>, RelayError> {
        let mut out = Vec::new();
        for kind in kinds {
            let mut raws: Vec<String> =
                sqlx::query_scalar("SELECT raw FROM events WHERE kind = ? ORDER BY created_at, id")
                    .bind(i64::from(*kind))
                    .fetch_all(&self.read)
                    .await?;
            out.append(&mut raws);
        }
        Ok(out)
    }

    pub(super) async fn assigned_roles(
        &self,
    ) -> Result<(Vec<(Vec<u8>, String)>, Vec<Vec<u8>>), RelayError> {
        let roles = sqlx::query_as("SELECT pubkey, role FROM assigned_roles")
            .fetch_all(&self.read)
            .await?;
        let bans = sqlx::query_scalar("SELECT pubkey FROM bans")
            .fetch_all(&self.read)
            .await?;
        Ok((roles, bans))
    }

    pub(super) async fn assign_role(
        &self,
        pubkey: &PublicKey,
        role: &str,
        by: &PublicKey,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        let done = sqlx::query(
            "INSERT INTO assigned_roles (pubkey, role, assigned_by, assigned_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(pubkey.to_bytes().as_slice())
        .bind(role)
        .bind(by.to_bytes().as_slice())
        .bind(secs(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn unassign_role(
        &self,
        pubkey: &PublicKey,
        role: Option<&str>,
    ) -> Result<bool, RelayError> {
        let done =
            sqlx::query("DELETE FROM assigned_roles WHERE pubkey = ? AND (? IS NULL OR role = ?)")
                .bind(pubkey.to_bytes().as_slice())
                .bind(role)
                .bind(role)
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn ban(
        &self,
        pubkey: &PublicKey,
        reason: &str,
        by: &PublicKey,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        let done = sqlx::query(
            "INSERT INTO bans (pubkey, reason, banned_by, banned_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(pubkey.to_bytes().as_slice())
        .bind(reason)
        .bind(by.to_bytes().as_slice())
        .bind(secs(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn unban(&self, pubkey: &PublicKey) -> Result<bool, RelayError> {
        let done = sqlx::query("DELETE FROM bans WHERE pubkey = ?")
            .bind(pubkey.to_bytes().as_slice())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn claim_auth_event(
        &self,
        id: &EventId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        sqlx::query("DELETE FROM nip98_seen WHERE expires_at < ?")
            .bind(secs(now))
            .execute(&self.write)
            .await?;
        let done = sqlx::query(
            "INSERT INTO nip98_seen (id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_bytes().as_slice())
        .bind(secs(expires_at))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn purge(&self, now: Timestamp) -> Result<u64, RelayError> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE expires_at IS NOT NULL AND expires_at <= ?)")
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        let done =
            sqlx::query("DELETE FROM events WHERE expires_at IS NOT NULL AND expires_at <= ?")
                .bind(secs(now))
                .execute(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM nip98_seen WHERE expires_at < ?")
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn backup(&self, path: &Path) -> Result<(), RelayError> {
        if path.exists() {
            return Err(RelayError::Config(format!(
                "{} already exists",
                path.display()
            )));
        }
        let target = path
            .to_str()
            .ok_or_else(|| RelayError::Config("backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    pub(super) async fn export_page(
        &self,
        after: Option<(i64, Vec<u8>)>,
        page: u32,
    ) -> Result<Vec<(i64, Vec<u8>, String)>, RelayError> {
        let (at, id) = after.unwrap_or((i64::MIN, Vec::new()));
        Ok(sqlx::query_as(
            "SELECT created_at, id, raw FROM events WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
        )
        .bind(at)
        .bind(id)
        .bind(i64::from(page))
        .fetch_all(&self.read)
        .await?)
    }
}

struct SqliteTx<'c>(&'c mut SqliteConnection);

impl Tx for SqliteTx<'_> {
    async fn kind_and_author(&mut self, id: &[u8]) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as("SELECT kind, pubkey FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await
    }

    async fn is_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<bool, sqlx::Error> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM deleted WHERE id = ? AND pubkey = ?")
                .bind(id)
                .bind(pubkey)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(found.is_some())
    }

    async fn versions(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        until: Option<i64>,
    ) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT created_at, id FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ? AND (? IS NULL OR created_at <= ?)",
        )
        .bind(pubkey)
        .bind(kind)
        .bind(d_tag)
        .bind(until)
        .bind(until)
        .fetch_all(&mut *self.0)
        .await
    }

    async fn delete_event(&mut self, id: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE id = ?)")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        sqlx::query("DELETE FROM events WHERE id = ?")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn deleted_among(
        &mut self,
        ids: &[&[u8]],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, sqlx::Error> {
        let mut found = Vec::new();
        for chunk in ids.chunks(EVENT_ROWS_PER_INSERT) {
            let mut builder =
                sqlx::QueryBuilder::<Sqlite>::new("SELECT id, pubkey FROM deleted WHERE id IN (");
            let mut list = builder.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
            found.extend(
                builder
                    .build_query_as::<(Vec<u8>, Vec<u8>)>()
                    .fetch_all(&mut *self.0)
                    .await?,
            );
        }
        Ok(found)
    }

    async fn insert_events(
        &mut self,
        rows: &[EventRow<'_>],
    ) -> Result<Vec<(Vec<u8>, i64)>, sqlx::Error> {
        let mut builder = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (id, pubkey, created_at, kind, d_tag, expires_at, raw, received_at) ",
        );
        builder.push_values(rows, |mut b, row| {
            b.push_bind(row.id)
                .push_bind(row.pubkey)
                .push_bind(row.created_at)
                .push_bind(row.kind)
                .push_bind(row.d_tag)
                .push_bind(row.expires_at)
                .push_bind(row.raw)
                .push_bind(row.received_at);
        });
        builder.push(" ON CONFLICT DO NOTHING RETURNING id, seq");
        builder.build_query_as().fetch_all(&mut *self.0).await
    }

    async fn insert_tags(&mut self, rows: &[TagRow<'_>]) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut builder = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO tags (event_seq, name, value, created_at) ",
        );
        builder.push_values(rows, |mut b, row| {
            b.push_bind(row.seq)
                .push_bind(row.name)
                .push_bind(row.value)
                .push_bind(row.created_at);
        });
        builder.build().execute(&mut *self.0).await?;
        Ok(())
    }

    async fn address_deleted(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        created_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM deleted_addresses WHERE pubkey = ? AND kind = ? AND d_tag = ? AND until >= ?")
            .bind(pubkey)
            .bind(kind)
            .bind(d_tag)
            .bind(created_at)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(found.is_some())
    }

    async fn mark_address_deleted(
        &mut self,
        pubkey: &[u8],
        kind: i64,
        d_tag: &str,
        until: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO deleted_addresses (pubkey, kind, d_tag, until) VALUES (?, ?, ?, ?) ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = max(until, excluded.until)")
            .bind(pubkey)
            .bind(kind)
            .bind(d_tag)
            .bind(until)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn mark_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO deleted (id, pubkey) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(pubkey)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn stored(&mut self, _ids: &[&[u8]]) -> Result<(), sqlx::Error> {
        Ok(())
    }
}
