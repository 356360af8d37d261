//! Typed relay configuration, validated once at start (README "Relay configuration").

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ehr_client::keys::parse_public_key;
use ipnet::IpNet;
use nostr::prelude::PublicKey;
use serde::Deserialize;

use crate::error::RelayError;

/// The whole relay configuration (`ehr-relay.toml`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where `ehr-relay serve` listens (the library takes a bound listener instead).
    pub listen: SocketAddr,
    /// The URL clients use, `ws://` or `wss://`. NIP-42 `relay` tags and NIP-98 `u` tags must
    /// name it. `None` means "the address the listener is bound to", for tests and local use.
    pub public_url: Option<String>,
    /// The practice root public key: the roster chain starts here.
    pub practice: PublicKey,
    /// NIP-11 name, description and contact.
    pub info: RelayInfo,
    /// Where events live.
    pub database: DatabaseConfig,
    /// Size and rate limits.
    pub limits: Limits,
    /// Reverse proxies whose client-address header is believed.
    pub proxies: TrustedProxies,
}

/// Which reverse proxies name the client, and in which header. Every per-address limit applies
/// to the address they name; from any other peer such a header is ignored, since anyone can
/// send one.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    /// Addresses and ranges of the proxies (`relay.trusted_proxies`).
    pub nets: Vec<IpNet>,
    /// The header they set (`relay.client_ip_header`).
    pub header: ClientIpHeader,
}

impl TrustedProxies {
    /// Whether the TCP peer `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeader {
    /// `X-Forwarded-For`: the rightmost address is the one the proxy saw.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`: the rightmost `for=`.
    Forwarded,
}

/// A proxy address (`10.0.0.7`) or range (`10.0.0.0/8`, `fd00::/8`).
fn parse_net(text: &str) -> Result<IpNet, RelayError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            RelayError::Config(format!(
                "relay.trusted_proxies: {text:?} is not an IP address or CIDR range"
            ))
        })
}

/// NIP-11 fields a practice sets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayInfo {
    /// Relay name.
    #[serde(default = "default_name")]
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Administrative contact (mail address or URL).
    #[serde(default)]
    pub contact: Option<String>,
}

fn default_name() -> String {
    "nostr-ehr practice relay".to_owned()
}

/// The event database.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/relay.db` or `postgres://user:password@host/db`.
    pub url: String,
    /// SQLite only: `full` (fsync on every group commit, the default) or `normal` (survives a
    /// relay crash but not a power cut).
    pub sqlite_synchronous: SqliteSync,
    /// Connections in the read pool.
    pub max_connections: u32,
}

impl DatabaseConfig {
    /// Which backend the URL names.
    pub fn backend(&self) -> Backend {
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

use ehr_service::config::{is_database_url, redact_url};

/// The two storage backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode, the default.
    Sqlite,
    /// PostgreSQL, shared by several relay processes.
    Postgres,
}

/// SQLite `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// fsync the WAL at every commit.
    Full,
    /// fsync only at checkpoints: safe against a relay crash, not against a power cut.
    Normal,
}

/// Limits (NIP-11 `limitation` reports them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest event, as JSON bytes. 128 KiB: an encrypted telehealth SDP offer exceeds 64 KiB.
    pub max_event_bytes: usize,
    /// Most tags in one event.
    pub max_event_tags: usize,
    /// Most open subscriptions per connection.
    pub max_subscriptions: usize,
    /// Most filters in one REQ.
    pub max_filters: usize,
    /// Largest `limit` honoured; larger ones are cut to this.
    pub max_limit: usize,
    /// Messages per connection per minute.
    pub messages_per_minute: u32,
    /// Gift wraps (kind 1059) from unauthenticated or unknown keys, per IP per minute.
    pub giftwraps_per_ip_per_minute: u32,
    /// Largest gift wrap from an unauthenticated or unknown key, as JSON bytes.
    pub max_giftwrap_bytes: usize,
    /// NIP-46 signer messages (kind 24133) from keys that are not members, per IP per minute.
    /// Higher than gift wraps: a patient reading her chart through a remote signer asks it to
    /// decrypt every record (DESIGN.md §11).
    pub signer_messages_per_ip_per_minute: u32,
    /// How far in the future `created_at` may be, in seconds.
    pub max_future_seconds: u64,
    /// Concurrent WebSocket connections per client address; the upgrade beyond it gets `429`.
    pub connections_per_ip: usize,
    /// Seconds without any frame from the client (pongs count) before the relay closes the
    /// connection; it pings every half of this, so a healthy client never reaches it.
    pub idle_timeout_seconds: u64,
    /// Bytes each author may keep stored in kinds other than the practice's own (2100-2199):
    /// gift wraps, relay lists, metadata. Replacing a replaceable event counts the net size.
    pub author_quota_bytes: u64,
    /// Bytes one connection may have queued for its socket. A REQ answer waits for room (sent
    /// as the rows come); a live event that finds none ends the subscriptions (`CLOSED error:`).
    pub max_outbound_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: 128 * 1024,
            max_event_tags: 2000,
            max_subscriptions: 32,
            max_filters: 16,
            max_limit: 5000,
            messages_per_minute: 12_000,
            giftwraps_per_ip_per_minute: 30,
            max_giftwrap_bytes: 64 * 1024,
            signer_messages_per_ip_per_minute: 6_000,
            max_future_seconds: 15 * 60,
            connections_per_ip: 64,
            idle_timeout_seconds: 300,
            author_quota_bytes: 1024 * 1024,
            max_outbound_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    relay: RelaySection,
    database: DatabaseSection,
    #[serde(default)]
    limits: Option<Limits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelaySection {
    listen: SocketAddr,
    #[serde(default)]
    public_url: Option<String>,
    practice: String,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    client_ip_header: ClientIpHeader,
    #[serde(flatten)]
    info: RelayInfo,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: String,
    #[serde(default = "default_sync")]
    sqlite_synchronous: SqliteSync,
    #[serde(default = "default_connections")]
    max_connections: u32,
}

fn default_sync() -> SqliteSync {
    SqliteSync::Full
}

fn default_connections() -> u32 {
    8
}

impl Config {
    /// A configuration for tests and tools: SQLite at `database_url`, default limits.
    pub fn new(practice: PublicKey, database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            practice,
            info: RelayInfo {
                name: default_name(),
                description: String::new(),
                contact: None,
            },
            database: DatabaseConfig {
                url: database_url.into(),
                sqlite_synchronous: SqliteSync::Full,
                max_connections: default_connections(),
            },
            limits: Limits::default(),
            proxies: TrustedProxies::default(),
        }
    }

    /// Parse and validate a TOML configuration.
    pub fn from_toml(text: &str) -> Result<Self, RelayError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| RelayError::Config(e.message().to_owned()))?;
        let practice = parse_public_key(&file.relay.practice).map_err(|_| {
            RelayError::Config("relay.practice is not an npub or hex public key".into())
        })?;
        let proxies = TrustedProxies {
            nets: (file.relay.trusted_proxies.iter())
                .map(|net| parse_net(net))
                .collect::<Result<_, _>>()?,
            header: file.relay.client_ip_header,
        };
        let config = Self {
            proxies,
            listen: file.relay.listen,
            public_url: file.relay.public_url,
            practice,
            info: file.relay.info,
            database: DatabaseConfig {
                url: file.database.url,
                sqlite_synchronous: file.database.sqlite_synchronous,
                max_connections: file.database.max_connections,
            },
            limits: file.limits.unwrap_or_default(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Read, parse and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, RelayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RelayError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Refuse settings that cannot work, with the offending key named.
    pub fn validate(&self) -> Result<(), RelayError> {
        let bad = |m: &str| Err(RelayError::Config(m.to_owned()));
        if let Some(url) = &self.public_url
            && !(url.starts_with("ws://") || url.starts_with("wss://"))
        {
            return bad("relay.public_url must start with ws:// or wss://");
        }
        if !is_database_url(&self.database.url) {
            return bad("database.url must start with sqlite: or postgres://");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections must be at least 1");
        }
        let l = &self.limits;
        if l.max_event_bytes < 1024 {
            return bad("limits.max_event_bytes must be at least 1024");
        }
        if l.max_giftwrap_bytes > l.max_event_bytes {
            return bad("limits.max_giftwrap_bytes must not exceed limits.max_event_bytes");
        }
        if l.max_event_tags == 0
            || l.max_subscriptions == 0
            || l.max_filters == 0
            || l.max_limit == 0
        {
            return bad(
                "limits.max_event_tags, max_subscriptions, max_filters and max_limit must be at least 1",
            );
        }
        if l.messages_per_minute == 0
            || l.giftwraps_per_ip_per_minute == 0
            || l.signer_messages_per_ip_per_minute == 0
        {
            return bad(
                "limits.messages_per_minute, giftwraps_per_ip_per_minute and signer_messages_per_ip_per_minute must be at least 1",
            );
        }
        if l.connections_per_ip == 0 {
            return bad("limits.connections_per_ip must be at least 1");
        }
        // Pings go out every half of it, in whole milliseconds; a day is plenty.
        if !(1..=86_400).contains(&l.idle_timeout_seconds) {
            return bad("limits.idle_timeout_seconds must be between 1 and 86400");
        }
        // Semaphore permits are u32; a frame over it still goes out alone.
        if !(64 * 1024..=1 << 30).contains(&l.max_outbound_bytes) {
            return bad("limits.max_outbound_bytes must be between 65536 and 1073741824");
        }
        // Room for at least one largest event, or a member could not publish a relay list.
        if l.author_quota_bytes < l.max_event_bytes as u64 {
            return bad("limits.author_quota_bytes must be at least limits.max_event_bytes");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../ehr-relay.example.toml");
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.limits.max_event_bytes, 128 * 1024);
        assert_eq!(config.database.backend(), Backend::Sqlite);
    }

    #[test]
    fn bad_configs_fail_with_the_key_named() {
        let base = include_str!("../ehr-relay.example.toml");
        let cases = [
            (base.replace("npub1", "npubX"), "relay.practice"),
            (base.replace("sqlite://", "mysql://"), "database.url"),
            (
                base.replace("max_event_bytes = 131072", "max_event_bytes = 10"),
                "max_event_bytes",
            ),
            (
                base.replace("[relay]", "[relay]\nlisten_typo = 1"),
                "listen_typo",
            ),
            (
                base.replace("idle_timeout_seconds = 300", "idle_timeout_seconds = 0"),
                "idle_timeout_seconds",
            ),
            (
                base.replace("connections_per_ip = 64", "connections_per_ip = 0"),
                "connections_per_ip",
            ),
            (
                base.replace("author_quota_bytes = 1048576", "author_quota_bytes = 1000"),
                "author_quota_bytes",
            ),
            (
                base.replace("[relay]", "[relay]\ntrusted_proxies = [\"10.0.0.0/33\"]"),
                "trusted_proxies",
            ),
            (
                base.replace("[relay]", "[relay]\nclient_ip_header = \"x-real-ip\""),
                "x-real-ip",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let base = include_str!("../ehr-relay.example.toml");
        let text = base.replace(
            "[relay]",
            "[relay]\ntrusted_proxies = [\"10.0.0.7\", \"fd00::/8\"]\nclient_ip_header = \"forwarded\"",
        );
        let config = Config::from_toml(&text).unwrap();
        let proxies = &config.proxies;
        assert_eq!(proxies.header, ClientIpHeader::Forwarded);
        assert!(proxies.trusts("10.0.0.7".parse().unwrap()));
        assert!(!proxies.trusts("10.0.0.8".parse().unwrap()));
        assert!(proxies.trusts("fd00::1".parse().unwrap()));
        let default = Config::from_toml(base).unwrap().proxies;
        assert!(
            !default.trusts("127.0.0.1".parse().unwrap()),
            "no proxy is trusted by default"
        );
    }

    #[test]
    fn database_passwords_are_redacted_in_debug() {
        let mut config = Config::from_toml(include_str!("../ehr-relay.example.toml")).unwrap();
        config.database.url = "postgres://ehr:s3cret@db.local/ehr".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://ehr:[redacted]@db.local/ehr"));
    }
}
