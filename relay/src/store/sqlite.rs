//! SQLite in WAL mode: one writer connection (group commit), a pool of readers.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use nostr::prelude::{EventId, PublicKey, Timestamp};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use super::StoredRow;
use super::select::{Bind, Select, secs};
use super::statements::backend_statements;
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
}

struct SqliteTx<'c>(&'c mut SqliteConnection);

/// `?` placeholders are SQLite's own.
fn as_written(sql: &str) -> Cow<'_, str> {
    Cow::Borrowed(sql)
}

backend_statements! {
    db: Sqlite,
    store: SqliteStore { read: read, write: write },
    tx: SqliteTx,
    sql: as_written,

    async fn stored(&mut self, _ids: &[&[u8]]) -> Result<(), sqlx::Error> {
        // One process: the writer hands stored events to subscribers itself.
        Ok(())
    }
}
