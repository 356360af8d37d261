//! A small sqlx `Any` database for the services beside the relay (Blossom metadata, the FHIR
//! gateway's keys and access log): one URL for SQLite or PostgreSQL, and statements written with
//! `?` placeholders, numbered for PostgreSQL. Each service runs its own migrations on it.

use std::borrow::Cow;
use std::fmt::Write as _;

use sqlx::AnyPool;

/// A connected database.
#[derive(Debug, Clone)]
pub struct AnyDatabase {
    /// The pool.
    pub pool: AnyPool,
    /// Whether it is PostgreSQL (otherwise SQLite).
    pub postgres: bool,
}

impl AnyDatabase {
    /// Connect to `sqlite://...` (created if missing) or `postgres://...`. SQLite runs in WAL
    /// mode with `synchronous = FULL`: a commit costs one fsync of the log instead of the
    /// rollback journal's several, and stays durable across a power cut.
    pub async fn connect(database_url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let postgres = !database_url.starts_with("sqlite:");
        let url = if postgres || database_url.contains('?') {
            database_url.to_owned()
        } else {
            format!("{database_url}?mode=rwc")
        };
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if !postgres {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self { pool, postgres })
    }

    /// Begin a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes while another
    /// connection commits fails with `database is locked` at once, since WAL cannot wait for a
    /// lock upgrade from a stale snapshot; an immediate one waits its turn (busy timeout).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.postgres {
            self.pool.begin().await
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        }
    }

    /// Write an online, consistent snapshot of a SQLite database to the new file `path`
    /// (`VACUUM INTO`); `false` for PostgreSQL, whose backups are `pg_dump`'s.
    pub async fn snapshot(&self, path: &std::path::Path) -> Result<bool, sqlx::Error> {
        if self.postgres {
            return Ok(false);
        }
        sqlx::query("VACUUM INTO ?")
            .bind(path.display().to_string())
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// A statement with `?` placeholders, numbered when the database is PostgreSQL.
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if self.postgres {
            numbered(sql)
        } else {
            Cow::Borrowed(sql)
        }
    }

    /// Remember `id` in `table` (columns `id`, `expires_at`) until `expires_at`, forgetting what
    /// has expired; `false` when it is remembered already. The services' replay guards (NIP-98
    /// event ids, SMART assertion ids) are each one such table.
    pub async fn claim_once(
        &self,
        table: &'static str,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let forget = format!("DELETE FROM {table} WHERE expires_at < ?");
        sqlx::query(&self.sql(&forget))
            .bind(now)
            .execute(&self.pool)
            .await?;
        let claim =
            format!("INSERT INTO {table} (id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING");
        let done = sqlx::query(&self.sql(&claim))
            .bind(id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// `?` placeholders numbered `$1, $2, ...` for PostgreSQL. The statements given hold no `?`
/// inside string literals.
pub fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            let _ = write!(out, "${n}");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(numbered("a = ? AND b IN (?,?)"), "a = $1 AND b IN ($2,$3)");
    }
}
