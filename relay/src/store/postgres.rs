//! PostgreSQL, shared by several relay processes. Every stored event is announced with
//! `NOTIFY ehr_events` inside its transaction, so other processes hear of it exactly when it
//! commits; role changes are announced on `ehr_roles`.

use nostr::prelude::{Event, EventId, PublicKey, Timestamp};
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use super::StoredRow;
use super::select::{Bind, Select, numbered, secs};
use super::write::{
    EVENT_ROWS_PER_INSERT, EventRow, TagRow, Tx, WriteJob, WriteOutcome, write_all,
};
use crate::config::DatabaseConfig;
use crate::error::RelayError;

/// NOTIFY channel for stored and ephemeral events (payload: hex id).
pub const EVENTS_CHANNEL: &str = "ehr_events";
/// NOTIFY channel for NIP-86 role changes.
pub const ROLES_CHANNEL: &str = "ehr_roles";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

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

impl PgStore {
    /// Connect and migrate.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, RelayError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .connect(&config.url)
            .await?;
        sqlx::migrate!("../migrations/relay/postgres")
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for the LISTEN side of fan-out.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn write_batch(
        &self,
        jobs: &[WriteJob],
    ) -> Result<Vec<WriteOutcome>, RelayError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        outcomes.extend(write_all(&mut PgTx(&mut tx), jobs).await?);
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Hand an ephemeral event to every process: kept briefly, announced by id.
    pub async fn publish_ephemeral(
        &self,
        event: &Event,
        raw: &str,
        now: Timestamp,
    ) -> Result<(), RelayError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO ephemeral (id, raw, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(event.id.as_bytes().as_slice())
            .bind(raw)
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(event.id.to_hex())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn announce_roles_changed(&self) -> Result<(), RelayError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROLES_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn query(&self, select: &Select) -> Result<Vec<StoredRow>, RelayError> {
        let sql = numbered(&select.sql);
        let rows = bind_all(sqlx::query(&sql), &select.binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let kind: i64 = row.try_get(2)?;
                Ok(StoredRow {
                    created_at: row.try_get(0)?,
                    id: row.try_get(1)?,
                    kind: u16::try_from(kind).unwrap_or(u16::MAX),
                    raw: row.try_get(3)?,
                })
            })
            .collect()
    }

    pub(super) async fn count(&self, select: &Select) -> Result<u64, RelayError> {
        let sql = numbered(&select.sql);
        let row = bind_all(sqlx::query(&sql), &select.binds)
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    pub(super) async fn fingerprints(
        &self,
        select: &Select,
    ) -> Result<Vec<(u64, Vec<u8>)>, RelayError> {
        let sql = numbered(&select.sql);
        let rows = bind_all(sqlx::query(&sql), &select.binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get(0)?;
                Ok((u64::try_from(at).unwrap_or_default(), row.try_get(1)?))
            })
            .collect()
    }

    pub(super) async fn event_json(&self, id: &EventId) -> Result<Option<String>, RelayError> {
        Ok(sqlx::query_scalar(
            "SELECT raw FROM events WHERE id = $1 UNION ALL SELECT raw FROM ephemeral WHERE id = $1 LIMIT 1",
        )
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(super) async fn raw_of_kinds(&self, kinds: &[u16]) -> Result<Vec<String>, RelayError> {
        let kinds: Vec<i64> = kinds.iter().map(|k| i64::from(*k)).collect();
        Ok(sqlx::query_scalar(
            "SELECT raw FROM events WHERE kind = ANY($1) ORDER BY created_at, id",
        )
        .bind(kinds)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn assigned_roles(
        &self,
    ) -> Result<(Vec<(Vec<u8>, String)>, Vec<Vec<u8>>), RelayError> {
        let roles = sqlx::query_as("SELECT pubkey, role FROM assigned_roles")
            .fetch_all(&self.pool)
            .await?;
        let bans = sqlx::query_scalar("SELECT pubkey FROM bans")
            .fetch_all(&self.pool)
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
            "INSERT INTO assigned_roles (pubkey, role, assigned_by, assigned_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(pubkey.to_bytes().as_slice())
        .bind(role)
        .bind(by.to_bytes().as_slice())
        .bind(secs(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn unassign_role(
        &self,
        pubkey: &PublicKey,
        role: Option<&str>,
    ) -> Result<bool, RelayError> {
        let done = sqlx::query(
            "DELETE FROM assigned_roles WHERE pubkey = $1 AND ($2::text IS NULL OR role = $2)",
        )
        .bind(pubkey.to_bytes().as_slice())
        .bind(role)
        .execute(&self.pool)
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
            "INSERT INTO bans (pubkey, reason, banned_by, banned_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(pubkey.to_bytes().as_slice())
        .bind(reason)
        .bind(by.to_bytes().as_slice())
        .bind(secs(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn unban(&self, pubkey: &PublicKey) -> Result<bool, RelayError> {
        let done = sqlx::query("DELETE FROM bans WHERE pubkey = $1")
            .bind(pubkey.to_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn claim_auth_event(
        &self,
        id: &EventId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, RelayError> {
        sqlx::query("DELETE FROM nip98_seen WHERE expires_at < $1")
            .bind(secs(now))
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "INSERT INTO nip98_seen (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_bytes().as_slice())
        .bind(secs(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn purge(&self, now: Timestamp) -> Result<u64, RelayError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE expires_at IS NOT NULL AND expires_at <= $1)")
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        let done =
            sqlx::query("DELETE FROM events WHERE expires_at IS NOT NULL AND expires_at <= $1")
                .bind(secs(now))
                .execute(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM nip98_seen WHERE expires_at < $1")
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        // In-flight ephemeral events need only outlive the NOTIFY round trip.
        sqlx::query("DELETE FROM ephemeral WHERE received_at < $1")
            .bind(secs(now) - 60)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn export_page(
        &self,
        after: Option<(i64, Vec<u8>)>,
        page: u32,
    ) -> Result<Vec<(i64, Vec<u8>, String)>, RelayError> {
        let (at, id) = after.unwrap_or((i64::MIN, Vec::new()));
        Ok(sqlx::query_as(
            "SELECT created_at, id, raw FROM events WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3",
        )
        .bind(at)
        .bind(id)
        .bind(i64::from(page))
        .fetch_all(&self.pool)
        .await?)
    }
}

struct PgTx<'c>(&'c mut PgConnection);

impl Tx for PgTx<'_> {
    async fn kind_and_author(&mut self, id: &[u8]) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as("SELECT kind, pubkey FROM events WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await
    }

    async fn is_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<bool, sqlx::Error> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM deleted WHERE id = $1 AND pubkey = $2")
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
            "SELECT created_at, id FROM events WHERE pubkey = $1 AND kind = $2 AND d_tag = $3 AND ($4::bigint IS NULL OR created_at <= $4)",
        )
        .bind(pubkey)
        .bind(kind)
        .bind(d_tag)
        .bind(until)
        .fetch_all(&mut *self.0)
        .await
    }

    async fn delete_event(&mut self, id: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM tags WHERE event_seq IN (SELECT seq FROM events WHERE id = $1)")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        sqlx::query("DELETE FROM events WHERE id = $1")
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
                sqlx::QueryBuilder::<Postgres>::new("SELECT id, pubkey FROM deleted WHERE id IN (");
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
        let mut builder = sqlx::QueryBuilder::<Postgres>::new(
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
        let mut builder = sqlx::QueryBuilder::<Postgres>::new(
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
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM deleted_addresses WHERE pubkey = $1 AND kind = $2 AND d_tag = $3 AND until >= $4")
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
        sqlx::query("INSERT INTO deleted_addresses (pubkey, kind, d_tag, until) VALUES ($1, $2, $3, $4) ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = GREATEST(deleted_addresses.until, excluded.until)")
            .bind(pubkey)
            .bind(kind)
            .bind(d_tag)
            .bind(until)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn mark_deleted(&mut self, id: &[u8], pubkey: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO deleted (id, pubkey) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(pubkey)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn stored(&mut self, ids: &[&[u8]]) -> Result<(), sqlx::Error> {
        let ids: Vec<String> = ids.iter().map(hex::encode).collect();
        sqlx::query("SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x")
            .bind(EVENTS_CHANNEL)
            .bind(ids)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}
