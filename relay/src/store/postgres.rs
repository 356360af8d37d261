//! PostgreSQL, shared by several relay processes. Every stored event is announced with
//! `NOTIFY ehr_events` inside its transaction, so other processes hear of it exactly when it
//! commits; role changes are announced on `ehr_roles`.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use nostr::prelude::{Event, EventId, PublicKey, Timestamp};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use super::StoredRow;
use super::select::{Bind, Select, secs};
use super::statements::backend_statements;
use super::write::{
    EVENT_ROWS_PER_INSERT, EventRow, TagRow, Tx, WriteJob, WriteOutcome, write_all,
};
use crate::config::DatabaseConfig;
use crate::error::RelayError;
use ehr_service::database::numbered;

/// NOTIFY channel for stored and ephemeral events (payload: hex id).
pub const EVENTS_CHANNEL: &str = "ehr_events";
/// NOTIFY channel for NIP-86 role changes.
pub const ROLES_CHANNEL: &str = "ehr_roles";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
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

    /// The rows of [`Select::events`] (numbered), in its order, as the server sends them.
    pub(super) fn stream_events<'a>(
        &'a self,
        select: &'a Select,
    ) -> BoxStream<'a, Result<StoredRow, RelayError>> {
        bind_all(sqlx::query(&select.sql), &select.binds)
            .fetch(&self.pool)
            .map(|row| {
                let row = row?;
                let kind: i64 = row.try_get(2)?;
                Ok(StoredRow {
                    created_at: row.try_get(0)?,
                    id: row.try_get(1)?,
                    kind: u16::try_from(kind).unwrap_or(u16::MAX),
                    raw: row.try_get(3)?,
                })
            })
            .boxed()
    }

    pub(super) async fn announce_roles_changed(&self) -> Result<(), RelayError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROLES_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

struct PgTx<'c>(&'c mut PgConnection);

backend_statements! {
    db: Postgres,
    store: PgStore { read: pool, write: pool },
    tx: PgTx,
    sql: numbered,

    async fn stored(&mut self, ids: &[&[u8]]) -> Result<(), sqlx::Error> {
        let ids: Vec<String> = ids.iter().map(hex::encode).collect();
        sqlx::query("SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x")
            .bind(EVENTS_CHANNEL)
            .bind(ids)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn lock_author(&mut self, pubkey: &[u8]) -> Result<(), sqlx::Error> {
        // The key's first 8 bytes: two authors sharing them only wait for each other.
        let mut key = [0u8; 8];
        key.iter_mut().zip(pubkey).for_each(|(k, b)| *k = *b);
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(i64::from_be_bytes(key))
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}
