//! Fresh databases for the store tests: SQLite in a temporary folder, or a new database on the
//! PostgreSQL server `scripts/test` starts (`EHR_TEST_POSTGRES_URL`).

use std::path::Path;

use anyhow::{Context, bail};
use ehr_client::keys::Identity;
use sqlx::Executor as _;

/// A fresh database URL for `engine` (`"sqlite"` or `"postgres"`), named after `service`; `None`
/// when PostgreSQL is skipped on purpose (`EHR_TEST_POSTGRES=skip`).
pub async fn fresh_database(
    engine: &str,
    dir: &Path,
    service: &str,
) -> anyhow::Result<Option<String>> {
    if engine == "sqlite" {
        let file = dir.join(format!("{service}.db"));
        return Ok(Some(format!("sqlite://{}", file.display())));
    }
    let admin = match std::env::var("EHR_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("EHR_TEST_POSTGRES").as_deref() == Ok("skip") => return Ok(None),
        Err(_) => bail!(
            "EHR_TEST_POSTGRES_URL is not set: run scripts/test (it starts PostgreSQL), or set EHR_TEST_POSTGRES=skip"
        ),
    };
    let suffix = Identity::generate().public_key().to_hex();
    let name = format!("ehr_{service}_{}", suffix.get(..16).unwrap_or_default());
    let database = ehr_service::database::AnyDatabase::connect(&admin)
        .await
        .context("cannot reach the test PostgreSQL server")?;
    database
        .pool
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    database.pool.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(Some(format!("{base}/{name}")))
}
