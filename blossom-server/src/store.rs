//! Blob metadata (sqlx's `Any` driver over `migrations/blossom/{sqlite,postgres}`).

use ehr_service::database::AnyDatabase;
use nostr::prelude::Timestamp;
use serde::Serialize;
use sqlx::Row;

use crate::error::BlossomError;

/// A blob as BUD-02 describes it (without the URL, which depends on the server's address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobMeta {
    /// Lowercase hex sha256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// MIME type as uploaded.
    #[serde(rename = "type")]
    pub mime: String,
    /// Unix seconds.
    pub uploaded: u64,
}

/// Metadata database and blob directory.
#[derive(Debug, Clone)]
pub struct Store {
    database: AnyDatabase,
}

/// Whether `text` is a lowercase hex sha256: the only thing that ever becomes a path.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What [`Store::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The owner holds the blob now.
    New,
    /// The owner held it already (nothing counted twice).
    Already,
    /// Nothing recorded: the owner would exceed the quota.
    OverQuota,
}

/// Bytes one owner holds.
const USAGE: &str = "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM owners o JOIN blobs b ON b.sha256 = o.sha256 WHERE o.pubkey = ?";

/// The PostgreSQL advisory lock of an owner: the first 8 bytes of its hex key.
fn lock_key(pubkey: &str) -> i64 {
    let mut bytes = [0u8; 8];
    // Any value serves (a key that does not parse only shares its lock with others).
    let _ = hex::decode_to_slice(pubkey.get(..16).unwrap_or_default(), &mut bytes);
    i64::from_be_bytes(bytes)
}

fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl Store {
    /// Connect and migrate.
    pub async fn open(database_url: &str) -> Result<Self, BlossomError> {
        let database = AnyDatabase::connect(database_url).await?;
        if database.postgres {
            sqlx::migrate!("../migrations/blossom/postgres")
                .run(&database.pool)
                .await?;
        } else {
            sqlx::migrate!("../migrations/blossom/sqlite")
                .run(&database.pool)
                .await?;
        }
        Ok(Self { database })
    }

    fn sql<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        self.database.sql(sql)
    }

    /// The metadata of a blob.
    pub async fn get(&self, sha256: &str) -> Result<Option<BlobMeta>, BlossomError> {
        let sql = self.sql("SELECT sha256, size, type, uploaded FROM blobs WHERE sha256 = ?");
        let row = sqlx::query(&sql)
            .bind(sha256)
            .fetch_optional(&self.database.pool)
            .await?;
        row.map(|r| meta_of(&r)).transpose()
    }

    /// Bytes `pubkey` owns.
    pub async fn usage(&self, pubkey: &str) -> Result<u64, BlossomError> {
        let sql = self.sql(USAGE);
        let total: i64 = sqlx::query(&sql)
            .bind(pubkey)
            .fetch_one(&self.database.pool)
            .await?
            .try_get(0)?;
        Ok(u64::try_from(total).unwrap_or_default())
    }

    /// Record a blob and its owner, unless the owner would then hold more than `quota`
    /// bytes. The check and the write are one transaction, serialised per owner (SQLite: the
    /// first statement writes, so the transaction holds the write lock before it reads;
    /// PostgreSQL: an advisory lock on the owner), so concurrent uploads cannot all pass.
    pub async fn add(
        &self,
        meta: &BlobMeta,
        pubkey: &str,
        quota: u64,
    ) -> Result<Added, BlossomError> {
        let mut tx = self.database.pool.begin().await?;
        if self.database.postgres {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
                .bind(lock_key(pubkey))
                .execute(&mut *tx)
                .await?;
        }
        let sql = self.sql("INSERT INTO blobs (sha256, size, type, uploaded) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
        sqlx::query(&sql)
            .bind(&meta.sha256)
            .bind(secs(meta.size))
            .bind(&meta.mime)
            .bind(secs(meta.uploaded))
            .execute(&mut *tx)
            .await?;
        let sql = self.sql(
            "INSERT INTO owners (sha256, pubkey, added) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        );
        let added = sqlx::query(&sql)
            .bind(&meta.sha256)
            .bind(pubkey)
            .bind(secs(Timestamp::now().as_secs()))
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !added {
            tx.commit().await?;
            return Ok(Added::Already);
        }
        let sql = self.sql(USAGE);
        let total: i64 = sqlx::query(&sql)
            .bind(pubkey)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if u64::try_from(total).unwrap_or(u64::MAX) > quota {
            tx.rollback().await?;
            return Ok(Added::OverQuota);
        }
        tx.commit().await?;
        Ok(Added::New)
    }

    /// Whether `pubkey` owns `sha256`.
    pub async fn owns(&self, sha256: &str, pubkey: &str) -> Result<bool, BlossomError> {
        let sql = self.sql("SELECT COUNT(*) FROM owners WHERE sha256 = ? AND pubkey = ?");
        let n: i64 = sqlx::query(&sql)
            .bind(sha256)
            .bind(pubkey)
            .fetch_one(&self.database.pool)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    /// Drop `pubkey`'s ownership; the blob's record goes when no owner is left. Returns whether
    /// it went (the caller then removes the bytes).
    pub async fn remove(&self, sha256: &str, pubkey: &str) -> Result<bool, BlossomError> {
        let mut tx = self.database.pool.begin().await?;
        let sql = self.sql("DELETE FROM owners WHERE sha256 = ? AND pubkey = ?");
        sqlx::query(&sql)
            .bind(sha256)
            .bind(pubkey)
            .execute(&mut *tx)
            .await?;
        let sql = self.sql("SELECT COUNT(*) FROM owners WHERE sha256 = ?");
        let left: i64 = sqlx::query(&sql)
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let gone = left == 0;
        if gone {
            let sql = self.sql("DELETE FROM blobs WHERE sha256 = ?");
            sqlx::query(&sql).bind(sha256).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// The blobs `pubkey` owns, oldest first, after `cursor` (a sha256), at most `limit`.
    pub async fn list(
        &self,
        pubkey: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BlobMeta>, BlossomError> {
        let sql = self.sql(
            "SELECT b.sha256, b.size, b.type, b.uploaded FROM owners o JOIN blobs b ON b.sha256 = o.sha256 \
             WHERE o.pubkey = ? AND (o.added, o.sha256) > ( \
                COALESCE((SELECT added FROM owners WHERE pubkey = ? AND sha256 = ?), -1), COALESCE(?, '')) \
             ORDER BY o.added, o.sha256 LIMIT ?",
        );
        let rows = sqlx::query(&sql)
            .bind(pubkey)
            .bind(pubkey)
            .bind(cursor.unwrap_or_default())
            .bind(cursor.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.database.pool)
            .await?;
        rows.iter().map(meta_of).collect()
    }
}

fn meta_of(row: &sqlx::any::AnyRow) -> Result<BlobMeta, BlossomError> {
    let size: i64 = row.try_get(1)?;
    let uploaded: i64 = row.try_get(3)?;
    Ok(BlobMeta {
        sha256: row.try_get(0)?,
        size: u64::try_from(size).unwrap_or_default(),
        mime: row.try_get(2)?,
        uploaded: u64::try_from(uploaded).unwrap_or_default(),
    })
}
