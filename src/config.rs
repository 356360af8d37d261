//! One TOML file for the whole stack (`nostr-ehr.toml`).
//!
//! Each service's table takes the keys of that service's own configuration file (the relay's
//! `[relay]`, `[relay.database]` and `[relay.limits]`; Blossom's, the gateway's and the billing
//! bot's top-level keys), so a split deployment can move a table into its own file unchanged.
//! What the services share is written once: the practice key, the data directory, and the
//! relay's URL. Every service's own parser checks its table, so a bad value fails at start
//! with the table named.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nostr::prelude::PublicKey;
use serde::Deserialize;
use toml::{Table, Value};

use crate::error::StackError;

/// The services the launcher runs, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// The practice relay.
    Relay,
    /// The Blossom document server.
    Blossom,
    /// The FHIR gateway for outside facilities.
    FhirGateway,
    /// The billing bot.
    BillingBot,
    /// The patient portal.
    Portal,
    /// The clinic app (staff).
    Clinic,
}

impl Service {
    /// Every service.
    pub const ALL: [Self; 6] = [
        Self::Relay,
        Self::Blossom,
        Self::FhirGateway,
        Self::BillingBot,
        Self::Portal,
        Self::Clinic,
    ];

    /// The name used in logs, `--only` and the config's table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Blossom => "blossom",
            Self::FhirGateway => "fhir-gateway",
            Self::BillingBot => "billing-bot",
            Self::Portal => "portal",
            Self::Clinic => "clinic",
        }
    }

    /// The config table that configures it.
    pub fn table(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Blossom => "blossom",
            Self::FhirGateway => "fhir_gateway",
            Self::BillingBot => "billing_bot",
            Self::Portal => "portal",
            Self::Clinic => "clinic",
        }
    }

    /// Parse a name as `--only` takes it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event, with the service's span.
    #[default]
    Text,
    /// One JSON object per event (for journald, Loki, ...), with the service's span.
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PracticeTable {
    root: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StackTable {
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    log_format: LogFormat,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsTable {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "default_metrics_listen")]
    listen: SocketAddr,
}

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

/// The whole stack's configuration, each service's checked by its own parser.
#[derive(Debug)]
pub struct StackConfig {
    /// The practice root public key.
    pub practice: PublicKey,
    /// Where every database and blob lives (absolute).
    pub data_dir: PathBuf,
    /// Log format on stderr.
    pub log_format: LogFormat,
    /// Where `/metrics` is served, when switched on.
    pub metrics: Option<SocketAddr>,
    /// The relay.
    pub relay: ehr_relay::RelayConfig,
    /// Blossom.
    pub blossom: ehr_blossom_server::Config,
    /// The FHIR gateway, unless `enabled = false`.
    pub fhir_gateway: Option<ehr_fhir_gateway::Config>,
    /// The billing bot, unless `enabled = false`.
    pub billing_bot: Option<ehr_billing_bot::Config>,
    /// The portal, unless `enabled = false`.
    pub portal: Option<ehr_portal::Config>,
    /// The clinic app, if `[clinic]` is configured and not `enabled = false`.
    pub clinic: Option<ehr_clinic::Config>,
    /// The agents whose `relay_url` is not set while the relay has no `public_url`: theirs
    /// follows the address the relay is bound to.
    pub(crate) follow_relay_listener: BTreeSet<Service>,
}

fn table_error(table: &str, message: impl std::fmt::Display) -> StackError {
    StackError::Config(format!("[{table}]: {message}"))
}

/// Take `[name]` out of `root` (an empty table when absent).
fn take_table(root: &mut Table, name: &str) -> Result<Table, StackError> {
    match root.remove(name) {
        None => Ok(Table::new()),
        Some(Value::Table(t)) => Ok(t),
        Some(_) => Err(StackError::Config(format!("{name} must be a table"))),
    }
}

/// Take `enabled` out of a service table (default on).
fn take_enabled(table: &mut Table, name: &str) -> Result<bool, StackError> {
    match table.remove("enabled") {
        None => Ok(true),
        Some(Value::Boolean(b)) => Ok(b),
        Some(_) => Err(table_error(name, "enabled must be true or false")),
    }
}

fn set_default(table: &mut Table, key: &str, value: impl Into<Value>) {
    table.entry(key).or_insert_with(|| value.into());
}

fn sqlite_url(data_dir: &Path, file: &str) -> String {
    format!("sqlite://{}", data_dir.join(file).display())
}

fn deserialize<T: serde::de::DeserializeOwned>(table: Table, name: &str) -> Result<T, StackError> {
    T::deserialize(Value::Table(table)).map_err(|e| table_error(name, e.message()))
}

fn to_text(table: Table, name: &str) -> Result<String, StackError> {
    toml::to_string(&table).map_err(|e| table_error(name, e))
}

impl StackConfig {
    /// Read and check `path`; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, StackError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StackError::Config(format!("cannot read {}: {e}", path.display())))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base)
            .map_err(|e| StackError::Config(format!("cannot resolve {}: {e}", base.display())))?;
        Self::from_toml(&text, &base)
    }

    /// Parse and check a whole-stack configuration; `base` resolves relative paths.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, StackError> {
        let mut root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| StackError::Config(e.message().to_owned()))?;
        let practice: PracticeTable = deserialize(take_table(&mut root, "practice")?, "practice")?;
        let root_key = ehr_client::keys::parse_public_key(&practice.root)
            .map_err(|_| table_error("practice", "root is not an npub or hex public key"))?;
        let stack: StackTable = deserialize(take_table(&mut root, "stack")?, "stack")?;
        let metrics: MetricsTable = deserialize(take_table(&mut root, "metrics")?, "metrics")?;
        let data_dir = base.join(&stack.data_dir);
        let npub = ehr_client::keys::to_npub(&root_key);

        // The relay: `[relay]` with `[relay.database]` and `[relay.limits]`.
        let mut relay = take_table(&mut root, "relay")?;
        let mut database = take_table(&mut relay, "database")?;
        let limits = relay.remove("limits");
        set_default(&mut database, "url", sqlite_url(&data_dir, "relay.db"));
        set_default(&mut relay, "practice", npub.clone());
        if let Some(name) = &practice.name {
            set_default(&mut relay, "name", format!("{name} relay"));
        }
        let relay_listen = relay
            .get("listen")
            .and_then(Value::as_str)
            .ok_or_else(|| table_error("relay", "listen is required"))?
            .to_owned();
        let relay_url_follows_listener = !relay.contains_key("public_url");
        let relay_url = relay
            .get("public_url")
            .and_then(Value::as_str)
            .map_or_else(|| format!("ws://{relay_listen}"), str::to_owned);
        let relay_database_url = database
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut relay_file = Table::new();
        relay_file.insert("relay".into(), Value::Table(relay));
        relay_file.insert("database".into(), Value::Table(database));
        if let Some(limits) = limits {
            relay_file.insert("limits".into(), limits);
        }
        let relay = ehr_relay::RelayConfig::from_toml(&to_text(relay_file, "relay")?)
            .map_err(|e| table_error("relay", e))?;

        // Blossom reads membership from the relay's database.
        let mut blossom = take_table(&mut root, "blossom")?;
        set_default(&mut blossom, "practice", npub.clone());
        set_default(&mut blossom, "relay_database_url", relay_database_url);
        set_default(
            &mut blossom,
            "database_url",
            sqlite_url(&data_dir, "blossom.db"),
        );
        set_default(
            &mut blossom,
            "blob_dir",
            data_dir.join("blobs").display().to_string(),
        );
        let blossom = ehr_blossom_server::Config::from_toml(&to_text(blossom, "blossom")?)
            .map_err(|e| table_error("blossom", e))?;

        let mut follow_relay_listener = BTreeSet::new();
        let mut agent =
            |root: &mut Table, service: Service, db: &str| -> Result<Option<Table>, StackError> {
                let mut table = take_table(root, service.table())?;
                if !take_enabled(&mut table, service.table())? {
                    return Ok(None);
                }
                if relay_url_follows_listener && !table.contains_key("relay_url") {
                    follow_relay_listener.insert(service);
                }
                set_default(&mut table, "practice", npub.clone());
                set_default(&mut table, "relay_url", relay_url.clone());
                set_default(&mut table, "database_url", sqlite_url(&data_dir, db));
                Ok(Some(table))
            };
        let fhir_gateway = match agent(&mut root, Service::FhirGateway, "fhir-gateway.db")? {
            None => None,
            Some(table) => Some(
                ehr_fhir_gateway::Config::from_toml(&to_text(table, "fhir_gateway")?, base)
                    .map_err(|e| table_error("fhir_gateway", e))?,
            ),
        };
        let billing_bot = match agent(&mut root, Service::BillingBot, "billing-bot.db")? {
            None => None,
            Some(table) => Some(
                ehr_billing_bot::Config::from_toml(&to_text(table, "billing_bot")?, base)
                    .map_err(|e| table_error("billing_bot", e))?,
            ),
        };
        let mut portal = take_table(&mut root, "portal")?;
        let portal = if take_enabled(&mut portal, "portal")? {
            Some(deserialize::<ehr_portal::Config>(portal, "portal")?)
        } else {
            None
        };
        // A configuration written before the clinic app has no `[clinic]`: it stays off.
        let clinic = match root.contains_key("clinic") {
            false => None,
            true => {
                let mut clinic = take_table(&mut root, "clinic")?;
                if take_enabled(&mut clinic, "clinic")? {
                    Some(deserialize::<ehr_clinic::Config>(clinic, "clinic")?)
                } else {
                    None
                }
            }
        };
        if let Some(unknown) = root.keys().next() {
            return Err(StackError::Config(format!(
                "unknown table or key `{unknown}` (known: practice, stack, metrics, relay, blossom, fhir_gateway, billing_bot, portal, clinic)"
            )));
        }
        Ok(Self {
            practice: root_key,
            data_dir,
            log_format: stack.log_format,
            metrics: metrics.enabled.then_some(metrics.listen),
            relay,
            blossom,
            fhir_gateway,
            billing_bot,
            portal,
            clinic,
            follow_relay_listener,
        })
    }

    /// Where `service` listens; `None` when the configuration disables it.
    pub fn listen(&self, service: Service) -> Option<SocketAddr> {
        match service {
            Service::Relay => Some(self.relay.listen),
            Service::Blossom => Some(self.blossom.listen),
            Service::FhirGateway => self.fhir_gateway.as_ref().map(|c| c.listen),
            Service::BillingBot => self.billing_bot.as_ref().map(|c| c.listen),
            Service::Portal => self.portal.as_ref().map(|c| c.listen),
            Service::Clinic => self.clinic.as_ref().map(|c| c.listen),
        }
    }

    /// The services this configuration runs (the enabled ones, or those of `only`).
    pub fn services(
        &self,
        only: Option<&BTreeSet<Service>>,
    ) -> Result<BTreeSet<Service>, StackError> {
        let enabled: BTreeSet<Service> = Service::ALL
            .into_iter()
            .filter(|s| self.listen(*s).is_some())
            .collect();
        match only {
            None => Ok(enabled),
            Some(only) => match only.difference(&enabled).next() {
                Some(off) => Err(StackError::Config(format!(
                    "--only names {}, which the configuration disables",
                    off.name()
                ))),
                None => Ok(only.clone()),
            },
        }
    }
}

/// The configuration `nostr-ehr up` writes on first run, for a practice whose root key was made
/// with `ehr practice init` (its npub goes in `[practice] root`).
pub fn example_toml(practice_npub: &str) -> String {
    EXAMPLE.replace("{PRACTICE}", practice_npub)
}

const EXAMPLE: &str = r#"# nostr-ehr: the whole practice stack in one process (`nostr-ehr up`).
# Each table takes the keys of that service's own file (see the README); what they share is
# written once here. Relative paths are relative to this file.

[practice]
# The practice root public key from `ehr practice init`. The root secret stays offline.
root = "{PRACTICE}"
name = "Example Family Practice"

[stack]
# Databases (SQLite) and blobs. Back this directory up (see the README).
data_dir = "data"
# text, or json for log collectors.
log_format = "text"

[metrics]
# Prometheus /metrics on its own loopback port: connections, events stored, request latencies.
enabled = false
listen = "127.0.0.1:9464"

[relay]
listen = "127.0.0.1:7447"
# The URL clients use, behind your TLS proxy (wss://...). Without it: ws://<listen>.
# public_url = "wss://relay.example-practice.org"
description = "Private relay of the practice. Members only."
# [relay.database]  url = "postgres://..." to scale out; SQLite under data_dir by default.
# [relay.limits]    max_event_bytes, max_subscriptions, messages_per_minute, connections_per_ip,
#                   idle_timeout_seconds, author_quota_bytes, ...
# Behind a reverse proxy, per-address limits apply per client only if the proxy is trusted:
# trusted_proxies = ["127.0.0.1"]
# client_ip_header = "x-forwarded-for"

[blossom]
listen = "127.0.0.1:7448"
# public_url = "https://blobs.example-practice.org"
reads_need_auth = true

[fhir_gateway]
# Turn on once `ehr agent add --role fhir-gateway` has put its key on the roster.
enabled = false
listen = "127.0.0.1:8090"
# public_base_url = "https://fhir.example-practice.org/fhir"
key_file = "keys/fhir-gateway.nsec"

[billing_bot]
# Turn on once `ehr agent add --role billing-bot` has put its key on the roster.
enabled = false
listen = "127.0.0.1:8095"
# public_url = "https://billing.example-practice.org"
key_file = "keys/billing-bot.nsec"
tick_seconds = 60

[billing_bot.invoices]
currency = "USD"
minor_digits = 2
due_days = 14
reminder_days = [3, 10, 30]

[billing_bot.bitcoin]
# The practice's watch-only BIP84 account key (zpub/vpub); never a private key.
account_key = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
network = "bitcoin"
minor_units_per_btc = 6500000

[portal]
listen = "127.0.0.1:8080"
# Patients' SMART Health Links are kept by the FHIR gateway named by `gateway` (its FHIR base
# URL); the launcher fills in its own gateway's when it runs one.

# The clinic app for staff, on its own origin (its own port), apart from the portal.
[clinic]
listen = "127.0.0.1:8081"
# The FHIR gateway whose admin API its administration calls (facilities, catch-up status); the
# launcher fills in its own gateway's when it runs one.
# gateway = "https://fhir.example-practice.org/fhir"
"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use ehr_client::keys::Identity;

    fn write_key(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        crate::demo::write_key(&dir.join("keys").join(name), &Identity::generate()).unwrap();
    }

    #[test]
    fn the_example_parses_with_every_service_configured_from_one_practice_key() {
        let dir = tempfile::tempdir().unwrap();
        write_key(dir.path(), "fhir-gateway.nsec");
        write_key(dir.path(), "billing-bot.nsec");
        let practice = Identity::generate();
        let text = example_toml(&practice.npub()).replace(
            "enabled = false\nlisten = \"127.0.0.1:80",
            "enabled = true\nlisten = \"127.0.0.1:80",
        );
        let config = StackConfig::from_toml(&text, dir.path()).unwrap();
        assert_eq!(config.relay.practice, practice.public_key());
        assert_eq!(config.blossom.practice, practice.public_key());
        let gateway = config.fhir_gateway.as_ref().unwrap();
        assert_eq!(gateway.relay_url, "ws://127.0.0.1:7447");
        assert!(gateway.database_url.ends_with("data/fhir-gateway.db"));
        assert_eq!(
            config.billing_bot.as_ref().unwrap().relay_url,
            "ws://127.0.0.1:7447"
        );
        assert!(config.relay.database.url.starts_with("sqlite://"));
        assert!(config.relay.database.url.ends_with("data/relay.db"));
        assert_eq!(config.metrics, None);
        assert_eq!(config.services(None).unwrap().len(), 6);
        assert_eq!(
            config.follow_relay_listener,
            BTreeSet::from([Service::FhirGateway, Service::BillingBot])
        );
        // An agent's own relay_url is kept, never replaced by the relay's bound address.
        let pinned = text.replace(
            "key_file = \"keys/fhir-gateway.nsec\"",
            "key_file = \"keys/fhir-gateway.nsec\"\nrelay_url = \"wss://relay.example.org\"",
        );
        let pinned = StackConfig::from_toml(&pinned, dir.path()).unwrap();
        assert_eq!(
            pinned.fhir_gateway.as_ref().unwrap().relay_url,
            "wss://relay.example.org"
        );
        assert_eq!(
            pinned.follow_relay_listener,
            BTreeSet::from([Service::BillingBot])
        );
        // Secrets stay out of Debug.
        let debug = format!("{config:?}");
        assert!(!debug.contains("nsec1"), "{debug}");
    }

    #[test]
    fn the_clinic_app_and_the_portal_take_a_gateway_url() {
        let dir = tempfile::tempdir().unwrap();
        let text = example_toml(&Identity::generate().npub());
        let clinic = text.replace("# gateway = ", "gateway = ");
        let config = StackConfig::from_toml(&clinic, dir.path()).unwrap();
        assert_eq!(
            config.clinic.unwrap().gateway.as_deref(),
            Some("https://fhir.example-practice.org/fhir")
        );
        // The portal's SMART Health Links live at the gateway.
        let portal = text.replace(
            "[portal]\nlisten = \"127.0.0.1:8080\"",
            "[portal]\nlisten = \"127.0.0.1:8080\"\ngateway = \"https://fhir.example.org/fhir\"",
        );
        assert_ne!(portal, text);
        let config = StackConfig::from_toml(&portal, dir.path()).unwrap();
        assert_eq!(
            config.portal.unwrap().gateway.as_deref(),
            Some("https://fhir.example.org/fhir")
        );
    }

    #[test]
    fn the_example_as_written_runs_relay_blossom_portal_and_clinic_app_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = example_toml(&Identity::generate().npub());
        let config = StackConfig::from_toml(&text, dir.path()).unwrap();
        let services = config.services(None).unwrap();
        assert_eq!(
            services.into_iter().collect::<Vec<_>>(),
            [
                Service::Relay,
                Service::Blossom,
                Service::Portal,
                Service::Clinic
            ]
        );
        let only = BTreeSet::from([Service::FhirGateway]);
        let error = config.services(Some(&only)).unwrap_err().to_string();
        assert!(error.contains("fhir-gateway"), "{error}");
    }

    #[test]
    fn a_configuration_written_before_the_clinic_app_runs_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let example = example_toml(&Identity::generate().npub());
        let (before, _) = example.split_once("\n# The clinic app").unwrap();
        let config = StackConfig::from_toml(before, dir.path()).unwrap();
        assert!(config.clinic.is_none());
        assert!(!config.services(None).unwrap().contains(&Service::Clinic));
    }

    #[test]
    fn bad_configurations_fail_with_the_table_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = example_toml(&Identity::generate().npub());
        let cases = [
            (good.replace("root = \"npub", "root = \"xpub"), "[practice]"),
            (
                good.replace("listen = \"127.0.0.1:7447\"", "listen = \"nowhere\""),
                "[relay]",
            ),
            (
                good.replace(
                    "reads_need_auth = true",
                    "reads_need_auth = true\ncolour = 3",
                ),
                "[blossom]",
            ),
            (good.replace("[portal]", "[portal]\nport = 3"), "[portal]"),
            (format!("{good}\n[extra]\n"), "extra"),
            (
                good.replace("log_format = \"text\"", "log_format = \"xml\""),
                "[stack]",
            ),
            (
                good.replacen(
                    "enabled = false\nlisten = \"127.0.0.1:8090\"",
                    "enabled = true\nlisten = \"127.0.0.1:8090\"",
                    1,
                ),
                "[fhir_gateway]",
            ),
        ];
        for (text, named) in cases {
            let error = StackConfig::from_toml(&text, dir.path())
                .unwrap_err()
                .to_string();
            assert!(error.contains(named), "{named}: {error}");
        }
    }
}
