//! `nostr-ehr`: the whole practice stack in one process.
//!
//! - [`config`]: one TOML file for every service ([`config::StackConfig`]).
//! - [`stack`]: bind, start in order, stop in reverse ([`stack::Stack`]).
//! - [`demo`]: the synthetic demo practice of `nostr-ehr up --demo`.
//! - [`logging`]: structured logs with a span per service.
//!
//! Each service also runs alone from the same file (`nostr-ehr up --only relay`), or from its
//! own binary and file, for a split deployment.

pub mod config;
pub mod demo;
pub mod error;
pub mod logging;
pub mod stack;

pub use config::{Service, StackConfig};
pub use error::StackError;
pub use stack::{Stack, Urls};

use std::path::Path;

/// Snapshot every SQLite database of the stack into the new directory `out` while it runs
/// (relay, Blossom, gateway and bot), and say what else to copy. Returns one line per item.
pub async fn backup(config: &StackConfig, out: &Path) -> Result<Vec<String>, StackError> {
    std::fs::create_dir(out).map_err(|e| {
        StackError::io(
            format!("cannot create {} (it must be new)", out.display()),
            e,
        )
    })?;
    let mut report = Vec::new();
    let mut databases = vec![
        ("relay", config.relay.database.url.clone()),
        ("blossom", config.blossom.database_url.clone()),
    ];
    if let Some(gateway) = &config.fhir_gateway {
        databases.push(("fhir-gateway", gateway.database_url.clone()));
    }
    if let Some(bot) = &config.billing_bot {
        databases.push(("billing-bot", bot.database_url.clone()));
    }
    for (name, url) in databases {
        let file = out.join(format!("{name}.db"));
        let database = ehr_service::database::AnyDatabase::connect(&url)
            .await
            .map_err(|e| StackError::Config(format!("{name} database: {e}")))?;
        let written = database
            .snapshot(&file)
            .await
            .map_err(|e| StackError::Config(format!("{name} database snapshot: {e}")))?;
        database.pool.close().await;
        report.push(if written {
            format!("{name}: {}", file.display())
        } else {
            format!("{name}: on PostgreSQL, back it up with pg_dump")
        });
    }
    report.push(format!(
        "blobs: copy {} (ciphertext files named by their hash; rsync works while running)",
        config.blossom.blob_dir.display()
    ));
    report.push("keys: copy the agents' key files (keep them 0600)".to_owned());
    Ok(report)
}

/// Build the browser apps' WebAssembly with `scripts/build-web` when an app serves the
/// assets of this source tree and they are missing, so that `cargo run --release -- up --demo`
/// on a fresh clone gives a working portal. Returns whether a build ran. A failed build is
/// reported and the portal then answers with a page that says how to build it.
pub fn build_web_assets_if_missing(app: &ehr_web::AppConfig) -> bool {
    let default = Path::new(ehr_web::DEFAULT_ASSETS_DIR);
    let serves_source_tree = app.assets.as_deref().is_none_or(|dir| dir == default);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-web");
    if !serves_source_tree || default.join("ehr_web_wasm_bg.wasm").is_file() || !script.is_file() {
        return false;
    }
    tracing::info!(
        "building the browser apps' WebAssembly once (scripts/build-web; a few minutes)"
    );
    match std::process::Command::new(&script).status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            tracing::warn!(%status, "scripts/build-web failed: the app pages will say so");
            false
        }
        Err(error) => {
            tracing::warn!(%error, "scripts/build-web could not run: the app pages will say so");
            false
        }
    }
}

/// First run without a configuration: write the example at `path` and the two agents' keys
/// beside it (0600, never overwritten). Returns the agents' npubs, for `ehr agent add`.
pub fn write_example(path: &Path) -> Result<Vec<(String, String)>, StackError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)
        .map_err(|e| StackError::io(format!("cannot create {}", keys.display()), e))?;
    let mut agents = Vec::new();
    for name in ["fhir-gateway", "billing-bot"] {
        let file = keys.join(format!("{name}.nsec"));
        let identity = if file.exists() {
            demo::read_key(&file)?
        } else {
            let identity = ehr_client::keys::Identity::generate();
            demo::write_key(&file, &identity)?;
            identity
        };
        agents.push((name.to_owned(), identity.npub()));
    }
    std::fs::write(
        path,
        config::example_toml("npub1...your-practice-root-npub..."),
    )
    .map_err(|e| StackError::io(format!("cannot write {}", path.display()), e))?;
    Ok(agents)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_first_run_writes_an_example_that_asks_for_the_practice_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nostr-ehr.toml");
        let agents = write_example(&path).unwrap();
        assert_eq!(agents.len(), 2);
        for (name, npub) in &agents {
            let file = dir.path().join("keys").join(format!("{name}.nsec"));
            assert_eq!(&demo::read_key(&file).unwrap().npub(), npub);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
            }
        }
        let error = StackConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("[practice]"), "{error}");
        // A second first run keeps the agents' keys.
        assert_eq!(write_example(&path).unwrap(), agents);
    }
}
