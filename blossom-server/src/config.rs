//! Typed Blossom configuration, validated at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ehr_client::keys::parse_public_key;
use nostr::prelude::PublicKey;
use serde::Deserialize;

use crate::error::BlossomError;

/// The whole configuration (`ehr-blossom.toml`).
#[derive(Clone)]
pub struct Config {
    /// Where `ehr-blossom serve` listens.
    pub listen: SocketAddr,
    /// The URL clients use (`https://blobs.example.org`): descriptor URLs start with it, and
    /// BUD-11 `server` tags must name its host. `None`: the address the listener is bound to.
    pub public_url: Option<String>,
    /// The practice root key: the relay's roster chain starts here.
    pub practice: PublicKey,
    /// The relay's database: members are read from it, never from a list kept here.
    pub relay_database_url: String,
    /// Metadata database: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Directory of the blobs (filesystem storage).
    pub blob_dir: PathBuf,
    /// Largest blob, bytes.
    pub max_blob_bytes: u64,
    /// Most bytes one key may own.
    pub quota_bytes: u64,
    /// Whether `GET`/`HEAD` of a blob need a `t=get` token (sizes and existence are metadata).
    pub reads_need_auth: bool,
    /// Allowed clock skew for `created_at`, seconds.
    pub clock_skew_seconds: u64,
    /// Latest BUD-11 `expiration` accepted, seconds after now: a leaked token is useless soon.
    pub max_token_lifetime_seconds: u64,
    /// Store blobs in this S3-compatible bucket instead of `blob_dir` (which then holds only
    /// temporary files).
    pub s3: Option<S3Config>,
}

/// An S3-compatible bucket.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL (`https://s3.eu-central-1.amazonaws.com`, or a MinIO/moto address).
    pub endpoint: String,
    /// Region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never logged).
    pub secret_access_key: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("practice", &self.practice)
            .field(
                "relay_database_url",
                &ehr_service::config::redact_url(&self.relay_database_url),
            )
            .field(
                "database_url",
                &ehr_service::config::redact_url(&self.database_url),
            )
            .field("blob_dir", &self.blob_dir)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("quota_bytes", &self.quota_bytes)
            .field("reads_need_auth", &self.reads_need_auth)
            .field(
                "max_token_lifetime_seconds",
                &self.max_token_lifetime_seconds,
            )
            .field("s3", &self.s3)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: SocketAddr,
    #[serde(default)]
    public_url: Option<String>,
    practice: String,
    relay_database_url: String,
    database_url: String,
    blob_dir: PathBuf,
    #[serde(default = "default_max")]
    max_blob_bytes: u64,
    #[serde(default = "default_quota")]
    quota_bytes: u64,
    #[serde(default = "default_true")]
    reads_need_auth: bool,
    #[serde(default = "default_token_lifetime")]
    max_token_lifetime_seconds: u64,
    #[serde(default)]
    s3: Option<S3Config>,
}

fn default_max() -> u64 {
    8 << 30
}
fn default_quota() -> u64 {
    50 << 30
}
fn default_true() -> bool {
    true
}
fn default_token_lifetime() -> u64 {
    3600
}

/// Longest `max_token_lifetime_seconds` accepted: a day.
const MAX_TOKEN_LIFETIME: u64 = 86_400;

impl Config {
    /// Defaults for tests and tools.
    pub fn new(
        practice: PublicKey,
        relay_database_url: impl Into<String>,
        database_url: impl Into<String>,
        blob_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            practice,
            relay_database_url: relay_database_url.into(),
            database_url: database_url.into(),
            blob_dir: blob_dir.into(),
            max_blob_bytes: default_max(),
            quota_bytes: default_quota(),
            reads_need_auth: true,
            clock_skew_seconds: 60,
            max_token_lifetime_seconds: default_token_lifetime(),
            s3: None,
        }
    }

    /// Parse and validate TOML.
    pub fn from_toml(text: &str) -> Result<Self, BlossomError> {
        let file: File =
            toml::from_str(text).map_err(|e| BlossomError::Config(e.message().to_owned()))?;
        let practice = parse_public_key(&file.practice).map_err(|_| {
            BlossomError::Config("practice is not an npub or hex public key".into())
        })?;
        let config = Self {
            listen: file.listen,
            public_url: file.public_url,
            practice,
            relay_database_url: file.relay_database_url,
            database_url: file.database_url,
            blob_dir: file.blob_dir,
            max_blob_bytes: file.max_blob_bytes,
            quota_bytes: file.quota_bytes,
            reads_need_auth: file.reads_need_auth,
            clock_skew_seconds: 60,
            max_token_lifetime_seconds: file.max_token_lifetime_seconds,
            s3: file.s3,
        };
        config.validate()?;
        Ok(config)
    }

    /// Read a configuration file.
    pub fn load(path: &Path) -> Result<Self, BlossomError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BlossomError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Refuse what cannot work, naming the key.
    pub fn validate(&self) -> Result<(), BlossomError> {
        let bad = |m: &str| Err(BlossomError::Config(m.to_owned()));
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_url must start with http:// or https://");
        }
        for (key, url) in [
            ("database_url", &self.database_url),
            ("relay_database_url", &self.relay_database_url),
        ] {
            if !ehr_service::config::is_database_url(url) {
                return Err(BlossomError::Config(format!(
                    "{key} must start with sqlite: or postgres://"
                )));
            }
        }
        if let Some(s3) = &self.s3
            && (s3.bucket.is_empty()
                || !(s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://")))
        {
            return bad("s3.bucket must be set and s3.endpoint must be an http(s) URL");
        }
        if self.max_blob_bytes == 0 || self.quota_bytes == 0 {
            return bad("max_blob_bytes and quota_bytes must be at least 1");
        }
        if !(1..=MAX_TOKEN_LIFETIME).contains(&self.max_token_lifetime_seconds) {
            return bad("max_token_lifetime_seconds must be between 1 and 86400");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_config_parses_and_bad_ones_name_the_key() {
        let text = include_str!("../ehr-blossom.example.toml");
        let config = Config::from_toml(text).unwrap();
        assert!(config.reads_need_auth);
        assert_eq!(config.max_token_lifetime_seconds, 3600);
        let err = Config::from_toml(&text.replace(
            "max_token_lifetime_seconds = 3600",
            "max_token_lifetime_seconds = 2592000",
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("max_token_lifetime_seconds"),
            "{err}"
        );
        let err =
            Config::from_toml(&text.replace("sqlite://data/blobs.db", "mysql://x")).unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let err =
            Config::from_toml(&text.replace("reads_need_auth", "whitelist = []\nreads_need_auth"))
                .unwrap_err();
        assert!(err.to_string().contains("whitelist"), "{err}");
        let with_s3 = format!(
            "{text}\n[s3]\nbucket = \"blobs\"\nendpoint = \"http://127.0.0.1:9000\"\naccess_key_id = \"k\"\nsecret_access_key = \"s3cret\"\n"
        );
        let config = Config::from_toml(&with_s3).unwrap();
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the S3 secret must not be shown"
        );
    }
}
