//! The billing database (sqlx's `Any` driver over `migrations/billing/{sqlite,postgres}`): one
//! set of statements for both engines. Plans, households and members ([`catalog`]), invoices,
//! payments and reports ([`ledger`]), the queue of NIP-17 messages ([`outbox`]), and the
//! appointment reminders already queued ([`crate::appointments`]).
//!
//! Every change that belongs together commits together: an invoice with its lines, its visits
//! and its messages; a payment with the invoice's new status and the receipt.

pub mod catalog;
pub mod ledger;
pub mod outbox;

use std::borrow::Cow;

use ehr_service::database::AnyDatabase;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Row, Transaction};

use crate::error::BillingError;

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    database: AnyDatabase,
}

/// A transaction on the billing database.
pub type Tx = Transaction<'static, Any>;

impl Store {
    /// Connect and migrate; the receive-address counter starts at `first_index` (once).
    pub async fn open(database_url: &str, first_index: u32) -> Result<Self, BillingError> {
        let database = AnyDatabase::connect(database_url).await?;
        if database.postgres {
            sqlx::migrate!("../migrations/billing/postgres")
                .run(&database.pool)
                .await?;
        } else {
            sqlx::migrate!("../migrations/billing/sqlite")
                .run(&database.pool)
                .await?;
        }
        let store = Self { database };
        sqlx::query(&store.sql(
            "INSERT INTO counters (name, value) VALUES ('address', ?) ON CONFLICT DO NOTHING",
        ))
        .bind(i64::from(first_index))
        .execute(&store.database.pool)
        .await?;
        Ok(store)
    }

    /// A statement with `?` placeholders for this engine.
    pub(crate) fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        self.database.sql(sql)
    }

    /// Start a transaction; every one here writes, so it takes SQLite's write lock at once
    /// (`AnyDatabase::begin_write`).
    pub(crate) async fn begin(&self) -> Result<Tx, BillingError> {
        Ok(self.database.begin_write().await?)
    }

    /// Rows of a read-only statement with `i64` and text parameters.
    pub(crate) async fn rows(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<Vec<AnyRow>, BillingError> {
        let sql = self.sql(sql);
        Ok(query(&sql, binds).fetch_all(&self.database.pool).await?)
    }

    /// Every row of a read-only statement, each made into a `T` by `of`.
    pub(crate) async fn all<T>(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
        of: impl Fn(&AnyRow) -> Result<T, BillingError>,
    ) -> Result<Vec<T>, BillingError> {
        self.rows(sql, binds).await?.iter().map(of).collect()
    }

    /// Remember a NIP-98 event id until `expires_at`; `false` if it was used before.
    pub async fn claim_nip98(
        &self,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, BillingError> {
        Ok(self
            .database
            .claim_once("nip98_seen", id, expires_at, now)
            .await?)
    }
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// An integer.
    Int(i64),
    /// A string.
    Text(&'a str),
    /// An integer or NULL.
    OptInt(Option<i64>),
}

/// A statement with its parameters bound.
fn query<'q>(sql: &'q str, binds: &[Bind<'_>]) -> sqlx::query::Query<'q, Any, AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.to_string()),
            Bind::OptInt(v) => query.bind(*v),
        };
    }
    query
}

/// Run a statement inside `tx` with integer and text parameters; the number of rows changed.
pub(crate) async fn execute(
    store: &Store,
    tx: &mut Tx,
    sql: &str,
    binds: &[Bind<'_>],
) -> Result<u64, BillingError> {
    let sql = store.sql(sql);
    Ok(query(&sql, binds).execute(&mut **tx).await?.rows_affected())
}

/// The first row of a statement inside `tx`, if any.
pub(crate) async fn fetch_optional(
    store: &Store,
    tx: &mut Tx,
    sql: &str,
    binds: &[Bind<'_>],
) -> Result<Option<AnyRow>, BillingError> {
    let sql = store.sql(sql);
    Ok(query(&sql, binds).fetch_optional(&mut **tx).await?)
}

/// Every row of a statement inside `tx`.
pub(crate) async fn fetch_all(
    store: &Store,
    tx: &mut Tx,
    sql: &str,
    binds: &[Bind<'_>],
) -> Result<Vec<AnyRow>, BillingError> {
    let sql = store.sql(sql);
    Ok(query(&sql, binds).fetch_all(&mut **tx).await?)
}

/// An `i64` column.
pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64, BillingError> {
    Ok(row.try_get(column)?)
}

/// A text column.
pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, BillingError> {
    Ok(row.try_get(column)?)
}

/// A nullable `i64` column.
pub(crate) fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, BillingError> {
    Ok(row.try_get(column)?)
}

/// A nullable text column.
pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, BillingError> {
    Ok(row.try_get(column)?)
}
