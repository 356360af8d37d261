//! Where the data lives: a directory kept between runs and keyed by the parameters (with a
//! manifest of the practice's keys once the seeded database is complete), or a temporary one.

use std::path::PathBuf;

use anyhow::Context;
use ehr_client::keys::Identity;
use nostr::prelude::PublicKey;
use serde_json::{Value, json};

use crate::{Cli, Practice};

/// Bump when the seeded data changes, so an old cached database is not reused.
const SEED_FORMAT: u32 = 2;

pub struct Work {
    pub dir: PathBuf,
    pub relay_db: PathBuf,
    manifest: PathBuf,
    /// Removed when dropped; `None` when the directory is kept.
    temporary: Option<tempfile::TempDir>,
}

impl Work {
    /// `--dir`'s subdirectory for these parameters, or a new temporary directory.
    pub fn new(cli: &Cli) -> anyhow::Result<Self> {
        let (temporary, dir) = match &cli.dir {
            Some(dir) => {
                let name = format!(
                    "gateway-bench-v{SEED_FORMAT}-p{}-e{}-b{}",
                    cli.patients, cli.events_per_patient, cli.record_bytes
                );
                (None, dir.join(name))
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("gateway-bench-")
                    .tempdir()?;
                let dir = temporary.path().to_path_buf();
                (Some(temporary), dir)
            }
        };
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            relay_db: dir.join("relay.db"),
            manifest: dir.join("manifest.json"),
            dir,
            temporary,
        })
    }

    /// Whether the directory outlives this run.
    pub fn is_kept(&self) -> bool {
        self.temporary.is_none()
    }

    pub fn gateway_db(&self) -> PathBuf {
        self.dir.join("gateway.db")
    }

    /// A SQLite database here and its companions (`-wal`, `-shm`, `-journal`).
    fn database_files(&self, name: &str) -> impl Iterator<Item = PathBuf> + '_ {
        let name = name.to_owned();
        ["", "-wal", "-shm", "-journal"]
            .into_iter()
            .map(move |suffix| self.dir.join(format!("{name}{suffix}")))
    }

    /// Start the relay database afresh (a run that failed may have left part of one).
    pub fn remove_relay_db(&self) {
        for file in self.database_files("relay.db") {
            let _ = std::fs::remove_file(file);
        }
    }

    /// Start the gateway's own database afresh, for a true cold start.
    pub fn remove_gateway_db(&self) {
        for file in self.database_files("gateway.db") {
            let _ = std::fs::remove_file(file);
        }
    }

    /// The size of the relay's database files (not the gateway's, nor the manifest).
    pub fn relay_db_bytes(&self) -> u64 {
        self.database_files("relay.db")
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Record the practice beside a complete seeded database, for the next run with the same
    /// parameters. Call it only once every event is stored.
    pub fn save(&self, cli: &Cli, practice: &Practice) -> anyhow::Result<()> {
        // Synthetic keys of a throwaway practice, kept so the cached database can be read again.
        let manifest = json!({
            "format": SEED_FORMAT,
            "patients": cli.patients,
            "events_per_patient": cli.events_per_patient,
            "record_bytes": cli.record_bytes,
            "root": practice.root.secret_key().to_secret_hex(),
            "doctor": practice.doctor.secret_key().to_secret_hex(),
            "gateway": practice.gateway.secret_key().to_secret_hex(),
            "patient_keys": practice.patients.iter().map(PublicKey::to_hex).collect::<Vec<_>>(),
        });
        let partial = self.manifest.with_extension("partial");
        std::fs::write(&partial, manifest.to_string())?;
        std::fs::rename(&partial, &self.manifest)?;
        Ok(())
    }

    /// The practice of a complete seeded database here, if there is one of this format.
    pub fn load(&self) -> anyhow::Result<Option<Practice>> {
        let Ok(text) = std::fs::read_to_string(&self.manifest) else {
            return Ok(None);
        };
        let manifest: Value = serde_json::from_str(&text)?;
        if manifest.get("format").and_then(Value::as_u64) != Some(u64::from(SEED_FORMAT)) {
            return Ok(None);
        }
        let path = &self.manifest;
        let identity = |name: &str| -> anyhow::Result<Identity> {
            let hex = manifest
                .get(name)
                .and_then(Value::as_str)
                .with_context(|| format!("no {name} in {}", path.display()))?;
            Ok(Identity::parse(hex, None)?)
        };
        let patients = manifest
            .get("patient_keys")
            .and_then(Value::as_array)
            .context("no patient keys in the manifest")?
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|hex| PublicKey::from_hex(hex).ok())
                    .context("a malformed patient key in the manifest")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(Practice {
            root: identity("root")?,
            doctor: identity("doctor")?,
            gateway: identity("gateway")?,
            patients,
        }))
    }
}
