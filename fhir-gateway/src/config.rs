//! Typed gateway configuration, validated at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ehr_client::keys::{Identity, parse_public_key};
use nostr::prelude::PublicKey;
use serde::Deserialize;

use crate::error::GatewayError;

/// The whole configuration (`ehr-fhir-gateway.toml`).
#[derive(Clone)]
pub struct Config {
    /// Where the gateway listens (TLS terminates in front of it).
    pub listen: SocketAddr,
    /// The FHIR base URL facilities use (`https://fhir.example.org/fhir`): `fullUrl`s and paging
    /// links start with it. `None`: `http://<bound address>/fhir`.
    pub public_base_url: Option<String>,
    /// The practice root key: the roster chain starts here.
    pub practice: PublicKey,
    /// The practice's name, as the author of the summaries it serves (`$summary`); without
    /// one a summary's author is named by the practice key only.
    pub practice_name: Option<String>,
    /// The practice relay (`wss://...`).
    pub relay_url: String,
    /// The gateway's own agent key (`fhir-gateway` in the roster), read from `key_file`.
    pub key: Identity,
    /// Access log and API keys: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Bound on each relay round trip.
    pub relay_timeout: Duration,
    /// How long the gateway keeps serving after it lost (or was refused by) the relay: past
    /// it, data requests get 503 until it has caught up again (`link`). Zero: stop at once.
    pub relay_outage_bound: Duration,
    /// Page size without `_count`.
    pub default_count: usize,
    /// Largest `_count` honoured.
    pub max_count: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_base_url", &self.public_base_url)
            .field("practice", &self.practice)
            .field("practice_name", &self.practice_name)
            .field("relay_url", &self.relay_url)
            .field("key", &self.key)
            .field(
                "database_url",
                &ehr_service::config::redact_url(&self.database_url),
            )
            .field("relay_timeout", &self.relay_timeout)
            .field("relay_outage_bound", &self.relay_outage_bound)
            .field("default_count", &self.default_count)
            .field("max_count", &self.max_count)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: SocketAddr,
    #[serde(default)]
    public_base_url: Option<String>,
    practice: String,
    #[serde(default)]
    practice_name: Option<String>,
    relay_url: String,
    key_file: PathBuf,
    database_url: String,
    #[serde(default = "default_timeout")]
    relay_timeout_seconds: u64,
    #[serde(default = "default_outage")]
    relay_outage_seconds: u64,
    #[serde(default = "default_count")]
    default_count: usize,
    #[serde(default = "default_max_count")]
    max_count: usize,
}

fn default_timeout() -> u64 {
    30
}
fn default_outage() -> u64 {
    60
}
fn default_count() -> usize {
    50
}
fn default_max_count() -> usize {
    500
}

impl Config {
    /// Defaults for tests and tools.
    pub fn new(
        practice: PublicKey,
        relay_url: impl Into<String>,
        key: Identity,
        database_url: impl Into<String>,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_base_url: None,
            practice,
            practice_name: None,
            relay_url: relay_url.into(),
            key,
            database_url: database_url.into(),
            relay_timeout: Duration::from_secs(default_timeout()),
            relay_outage_bound: Duration::from_secs(default_outage()),
            default_count: default_count(),
            max_count: default_max_count(),
        }
    }

    /// Parse and validate TOML; `base` resolves a relative `key_file`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, GatewayError> {
        let file: File =
            toml::from_str(text).map_err(|e| GatewayError::Config(e.message().to_owned()))?;
        let practice = parse_public_key(&file.practice).map_err(|_| {
            GatewayError::Config("practice is not an npub or hex public key".into())
        })?;
        let key = ehr_service::config::read_agent_key(base, &file.key_file)
            .map_err(GatewayError::Config)?;
        let config = Self {
            listen: file.listen,
            public_base_url: file
                .public_base_url
                .map(|u| u.trim_end_matches('/').to_owned()),
            practice,
            practice_name: file
                .practice_name
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            relay_url: file.relay_url,
            key,
            database_url: file.database_url,
            relay_timeout: Duration::from_secs(file.relay_timeout_seconds),
            relay_outage_bound: Duration::from_secs(file.relay_outage_seconds),
            default_count: file.default_count,
            max_count: file.max_count,
        };
        config.validate()?;
        Ok(config)
    }

    /// Read a configuration file.
    pub fn load(path: &Path) -> Result<Self, GatewayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GatewayError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Refuse what cannot work, naming the key.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let bad = |m: &str| Err(GatewayError::Config(m.to_owned()));
        if let Some(url) = &self.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_base_url must start with http:// or https://");
        }
        if self.practice_name.as_ref().is_some_and(|n| n.len() > 200) {
            return bad("practice_name must be at most 200 bytes");
        }
        if !(self.relay_url.starts_with("ws://") || self.relay_url.starts_with("wss://")) {
            return bad("relay_url must start with ws:// or wss://");
        }
        if !ehr_service::config::is_database_url(&self.database_url) {
            return bad("database_url must start with sqlite: or postgres://");
        }
        if self.relay_timeout.is_zero() {
            return bad("relay_timeout_seconds must be at least 1");
        }
        if self.default_count == 0 || self.max_count < self.default_count {
            return bad("default_count must be at least 1 and max_count at least default_count");
        }
        if self.key.public_key() == self.practice {
            return bad(
                "key_file holds the practice root key; the gateway needs its own agent key",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A fresh agent key in `dir/gateway.nsec` with permission bits `mode`.
    fn write_key(dir: &Path, mode: u32) -> Identity {
        let key = Identity::generate();
        let path = dir.join("gateway.nsec");
        std::fs::write(&path, ehr_client::keys::to_nsec(key.secret_key()).as_str()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        key
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let example = include_str!("../ehr-fhir-gateway.example.toml");
        // The modes themselves are ehr-service's test; here, that this config goes through it.
        write_key(dir.path(), 0o644);
        let error = Config::from_toml(example, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("gateway.nsec") && error.contains("chmod 600"),
            "{error}"
        );
        let key = write_key(dir.path(), 0o600);
        let config = Config::from_toml(example, dir.path()).unwrap();
        assert_eq!(config.key.public_key(), key.public_key());
    }

    #[test]
    fn the_example_config_parses_and_bad_ones_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = write_key(dir.path(), 0o600);
        let example = include_str!("../ehr-fhir-gateway.example.toml");
        let config = Config::from_toml(example, dir.path()).unwrap();
        assert_eq!(config.key.public_key(), key.public_key());
        assert_eq!(
            config.public_base_url.as_deref(),
            Some("https://fhir.example-practice.org/fhir")
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(!debug.contains(&key.secret_key().to_secret_hex()));

        for (change, named) in [
            (("relay_url", "\"https://x\""), "relay_url"),
            (("database_url", "\"mysql://x\""), "database_url"),
            (("max_count", "1"), "max_count"),
            (("listen", "\"nowhere\""), "listen"),
            (("practice", "\"npub1nope\""), "practice"),
        ] {
            let text: String = example
                .lines()
                .map(|line| {
                    if line.starts_with(&format!("{} ", change.0)) {
                        format!("{} = {}", change.0, change.1)
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let error = Config::from_toml(&text, dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(named) || error.contains("invalid"),
                "{named}: {error}"
            );
        }
        let unknown = format!("{example}\ncolour = \"blue\"\n");
        assert!(
            Config::from_toml(&unknown, dir.path())
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        std::fs::remove_file(dir.path().join("gateway.nsec")).unwrap();
        assert!(
            Config::from_toml(example, dir.path())
                .unwrap_err()
                .to_string()
                .contains("key_file")
        );
    }
}
