//! SQLite in WAL mode: one writer connection (group commit), a pool of readers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
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

    /// The rows of a REQ answer ([`Select::events_index_packed`]) in NIP-01 order, read in
    /// chunks of about [`CHUNK_BYTES`], one packed value each: a reader connection is held for
    /// one chunk at a time, and only one chunk is in memory.
    pub(super) fn stream_events<'a>(
        &'a self,
        select: &'a Select,
    ) -> BoxStream<'a, Result<StoredRow, RelayError>> {
        stream::once(self.answer_index(select))
            .map_ok(move |index| {
                stream::iter(in_chunks(index))
                    .then(move |chunk| self.chunk_rows(chunk))
                    .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
                    .try_flatten()
            })
            .try_flatten()
            .boxed()
    }

    async fn packed(&self, select: &Select) -> Result<String, RelayError> {
        let packed: Option<String> = bind_all(sqlx::query(&select.sql), &select.binds)
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        Ok(packed.unwrap_or_default())
    }

    /// Which events answer, in NIP-01 order: newest first, then the lower id.
    async fn answer_index(&self, select: &Select) -> Result<Vec<Indexed>, RelayError> {
        let packed = self.packed(select).await?;
        let mut index = records(&packed)
            .map(|record| {
                let mut fields = record.splitn(4, US);
                let (Some(seq), Some(at), Some(id), Some(bytes)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    return Err(malformed());
                };
                Ok(Indexed {
                    seq: seq.parse().map_err(|_| malformed())?,
                    created_at: at.parse().unwrap_or_default(),
                    id: hex::decode(id).unwrap_or_default(),
                    bytes: bytes.parse().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        index.sort_unstable_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(index)
    }

    /// The events of one chunk, in its order; one deleted since the index was read is left out.
    async fn chunk_rows(&self, chunk: Vec<Indexed>) -> Result<Vec<StoredRow>, RelayError> {
        let seqs: Vec<i64> = chunk.iter().map(|i| i.seq).collect();
        let seqs = serde_json::to_string(&seqs).map_err(|_| malformed())?;
        let packed = self.packed(&Select::events_by_seq_packed(seqs)).await?;
        let mut found = HashMap::with_capacity(chunk.len());
        for record in records(&packed) {
            let mut fields = record.splitn(3, US);
            let (Some(seq), Some(kind), Some(raw)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(malformed());
            };
            let seq: i64 = seq.parse().map_err(|_| malformed())?;
            found.insert(seq, (kind.parse().unwrap_or(u16::MAX), raw));
        }
        Ok(chunk
            .into_iter()
            .filter_map(|i| {
                let (kind, raw) = found.remove(&i.seq)?;
                Some(StoredRow {
                    created_at: i.created_at,
                    id: i.id,
                    kind,
                    raw: raw.to_owned(),
                })
            })
            .collect())
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

/// A REQ answer is read in chunks of about this many bytes of events.
const CHUNK_BYTES: usize = 128 * 1024;
/// And at most this many events.
const CHUNK_ROWS: usize = 512;
/// Packed values: records end with RS, fields with US.
const RS: char = '\u{1e}';
const US: char = '\u{1f}';

/// One event of a REQ answer's index: its row, its place in NIP-01 order, its size.
struct Indexed {
    seq: i64,
    created_at: i64,
    id: Vec<u8>,
    bytes: usize,
}

fn records(packed: &str) -> impl Iterator<Item = &str> {
    packed.split(RS).filter(|record| !record.is_empty())
}

fn malformed() -> RelayError {
    RelayError::BadEvent {
        line: 0,
        reason: "malformed packed row".into(),
    }
}

/// Cut the index into chunks of about [`CHUNK_BYTES`] (one event larger than that is a chunk).
fn in_chunks(index: Vec<Indexed>) -> Vec<Vec<Indexed>> {
    let mut chunks = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for entry in index {
        bytes += entry.bytes;
        chunk.push(entry);
        if bytes >= CHUNK_BYTES || chunk.len() >= CHUNK_ROWS {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
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

    async fn lock_author(&mut self, _pubkey: &[u8]) -> Result<(), sqlx::Error> {
        // One process, one writer connection: transactions never overlap.
        Ok(())
    }
}
