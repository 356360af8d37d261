//! Typed configuration (`ehr-billing-bot.toml`), validated at start. Secrets (the bot's key, the
//! webhook secret, a database password, the SMTP password) never appear in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::address::Account;
use crate::error::BillingError;
use bitcoin::Network;
use ehr_client::keys::{Identity, parse_public_key};
use nostr::prelude::PublicKey;
use serde::Deserialize;

/// The webhook's HMAC key; prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(pub Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The SMTP password; prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(pub String);

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the bot's SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: a mail server on this host only (`localhost`, `127.0.0.1`, `::1`).
    None,
}

/// Appointment reminders by email too (`[reminders.email]`): to a patient whose record from the
/// desk carries her address, through the practice's SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailReminders {
    /// The SMTP server's host name.
    pub smtp_host: String,
    /// Its port (587 for STARTTLS, 465 for TLS).
    pub smtp_port: u16,
    /// The sender, `reminders@example.org` or `Maple Street Pediatrics <reminders@example.org>`.
    pub from: String,
    /// The SMTP login, if the server wants one (with `password`).
    pub username: Option<String>,
    /// Its password (`password`, or read from `password_file`).
    pub password: Option<SmtpPassword>,
    /// How the connection is secured.
    pub tls: SmtpTls,
}

impl EmailReminders {
    /// Whether `smtp_host` is this host (where `tls = "none"` is allowed).
    pub fn is_local(&self) -> bool {
        let host = self.smtp_host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Refuse what cannot work or would send in the clear, naming the key.
    pub fn validate(&self) -> Result<(), BillingError> {
        let host = self.smtp_host.trim();
        let checks: [(bool, &str); 5] = [
            (
                !host.is_empty() && !host.contains(char::is_whitespace),
                "reminders.email.smtp_host must be a host name",
            ),
            (
                self.smtp_port != 0,
                "reminders.email.smtp_port must be 1 to 65535",
            ),
            (
                self.from.parse::<lettre::message::Mailbox>().is_ok(),
                "reminders.email.from must be an address, such as \"Maple Street Pediatrics <reminders@example.org>\"",
            ),
            (
                self.username.is_some() == self.password.is_some(),
                "reminders.email: username and password go together",
            ),
            (
                self.tls != SmtpTls::None || self.is_local(),
                "reminders.email.tls = \"none\" is allowed only for a server on this host (localhost); use \"starttls\" or \"tls\"",
            ),
        ];
        for (ok, message) in checks {
            if !ok {
                return Err(config_error(message));
            }
        }
        Ok(())
    }
}

/// The whole configuration.
#[derive(Clone)]
pub struct Config {
    /// Where the admin API and the webhook listen (TLS in front).
    pub listen: SocketAddr,
    /// The URL clients use (`https://billing.example.org`): NIP-98 `u` tags must start with it.
    /// `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// The practice root key.
    pub practice: PublicKey,
    /// The practice relay (`wss://...`).
    pub relay_url: String,
    /// Further relays where members' kind 10050 inbox lists are looked up.
    pub inbox_lookup_relays: Vec<String>,
    /// The bot's own agent key (`billing-bot` in the roster).
    pub key: Identity,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Bound on each relay round trip.
    pub relay_timeout: Duration,
    /// How often the scheduler runs billing, reminders, delivery and payment polling; zero:
    /// never by itself (tests and `ehr-billing-bot run` drive it).
    pub tick: Duration,
    /// Invoices.
    pub invoices: Invoices,
    /// On-chain payment.
    pub bitcoin: Bitcoin,
    /// The HMAC secret of payment webhooks; `None`: no webhook endpoint.
    pub webhook_secret: Option<WebhookSecret>,
    /// How far a webhook's timestamp may be from now, in seconds.
    pub webhook_tolerance: i64,
    /// NIP-17 delivery retries.
    pub delivery: Delivery,
    /// Appointment reminders.
    pub reminders: Reminders,
}

/// Appointment reminders: NIP-17 messages to the patient ahead of each booked appointment, from
/// the kind 2126 records the desk seals to the bot ([`crate::appointments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminders {
    /// Whether they are sent.
    pub enabled: bool,
    /// How long before the appointment each goes out, in seconds (`before` in the file, as
    /// durations such as `"24h"`, `"2h"`, `"90m"` or `"1d"`). Only the nearest one that has
    /// come is sent: an appointment booked 3 hours ahead gets the 2 hour reminder alone.
    pub before: Vec<u64>,
    /// Email as well, where the desk's record carries her address; `None`: messages only.
    pub email: Option<EmailReminders>,
}

impl Default for Reminders {
    fn default() -> Self {
        Self {
            enabled: true,
            before: vec![24 * 3600, 2 * 3600],
            email: None,
        }
    }
}

/// The longest `reminders.before`: 30 days.
const MAX_BEFORE: u64 = 30 * 86_400;

/// A duration such as `"24h"`, `"90m"`, `"1h30m"`, `"2d"` or `"45s"`, in seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(digit))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    // A number without its unit, or nothing at all, is not a duration.
    (number.is_none() && !text.is_empty()).then_some(total)
}

/// How invoices look and when they fall due.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoices {
    /// The currency of every plan and amount (display only), e.g. `USD`.
    pub currency: String,
    /// Decimals of its minor unit (2 for cents).
    #[serde(default = "two")]
    pub minor_digits: u32,
    /// Days from issue to due date.
    #[serde(default = "fourteen")]
    pub due_days: i64,
    /// Reminders for an unpaid invoice, in days after its due date, ascending.
    #[serde(default = "reminder_days")]
    pub reminder_days: Vec<i64>,
    /// An optional pay link, with `{invoice}`, `{amount_minor}` and `{currency}` filled in.
    #[serde(default)]
    pub pay_link: Option<String>,
}

/// The watch-only wallet and the chain API.
#[derive(Debug, Clone)]
pub struct Bitcoin {
    /// The BIP84 account.
    pub account: Account,
    /// Minor units of the currency per bitcoin: the rate each invoice is quoted at.
    pub minor_units_per_btc: u64,
    /// The first receive index to use.
    pub first_index: u32,
    /// An Esplora-compatible API (`https://blockstream.info/api`); `None`: no polling.
    pub esplora_url: Option<String>,
    /// Confirmations before a payment counts.
    pub min_confirmations: u32,
}

/// Delivery retries, and which inbox relays a recipient may name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Whether a recipient's kind 10050 list may send the bot to `ws://` relays and to
    /// loopback, private, link-local or other non-public addresses. Off by default: a list is
    /// anyone's to write, and must not turn the bot into a probe of the practice's network
    /// ([`crate::relay_policy`]). Tests running relays on 127.0.0.1 turn it on.
    #[serde(default)]
    pub allow_private_dm_relays: bool,
    /// Attempts before a message is given up as failed.
    #[serde(default = "eight")]
    pub max_attempts: i64,
    /// The first retry's delay in seconds; each next one doubles.
    #[serde(default = "thirty")]
    pub backoff_seconds: i64,
    /// The longest delay between attempts.
    #[serde(default = "hour")]
    pub max_backoff_seconds: i64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            allow_private_dm_relays: false,
            max_attempts: eight(),
            backoff_seconds: thirty(),
            max_backoff_seconds: hour(),
        }
    }
}

fn two() -> u32 {
    2
}
fn fourteen() -> i64 {
    14
}
fn eight() -> i64 {
    8
}
fn thirty() -> i64 {
    30
}
fn hour() -> i64 {
    3600
}
fn sixty() -> u64 {
    60
}
fn reminder_days() -> Vec<i64> {
    vec![3, 10, 30]
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("practice", &self.practice)
            .field("relay_url", &self.relay_url)
            .field("inbox_lookup_relays", &self.inbox_lookup_relays)
            .field("key", &self.key)
            .field(
                "database_url",
                &ehr_service::config::redact_url(&self.database_url),
            )
            .field("relay_timeout", &self.relay_timeout)
            .field("tick", &self.tick)
            .field("invoices", &self.invoices)
            .field("bitcoin", &self.bitcoin)
            .field("webhook_secret", &self.webhook_secret)
            .field("webhook_tolerance", &self.webhook_tolerance)
            .field("delivery", &self.delivery)
            .field("reminders", &self.reminders)
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
    relay_url: String,
    #[serde(default)]
    inbox_lookup_relays: Vec<String>,
    key_file: PathBuf,
    database_url: String,
    #[serde(default = "thirty_u")]
    relay_timeout_seconds: u64,
    #[serde(default = "sixty")]
    tick_seconds: u64,
    invoices: Invoices,
    bitcoin: BitcoinFile,
    #[serde(default)]
    webhook: Option<WebhookFile>,
    #[serde(default)]
    delivery: Delivery,
    #[serde(default)]
    reminders: RemindersFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemindersFile {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "before")]
    before: Vec<String>,
    #[serde(default)]
    email: Option<EmailFile>,
}

impl Default for RemindersFile {
    fn default() -> Self {
        Self {
            enabled: yes(),
            before: before(),
            email: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailFile {
    smtp_host: String,
    smtp_port: u16,
    from: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    tls: SmtpTls,
}

impl EmailFile {
    /// The settings, the password read from `password_file` (relative to `base`) if named.
    fn resolve(self, base: &Path) -> Result<EmailReminders, BillingError> {
        let password = match (self.password, self.password_file) {
            (Some(_), Some(_)) => {
                return Err(config_error(
                    "reminders.email: password or password_file, not both",
                ));
            }
            (Some(password), None) => Some(password),
            (None, Some(file)) => Some(
                ehr_service::config::read_config_file(base, &file, "reminders.email.password_file")
                    .map_err(BillingError::Config)?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(EmailReminders {
            smtp_host: self.smtp_host,
            smtp_port: self.smtp_port,
            from: self.from,
            username: self.username,
            password: password.map(SmtpPassword),
            tls: self.tls,
        })
    }
}

fn yes() -> bool {
    true
}
fn before() -> Vec<String> {
    vec!["24h".to_owned(), "2h".to_owned()]
}

fn thirty_u() -> u64 {
    30
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BitcoinFile {
    account_key: String,
    #[serde(default = "mainnet")]
    network: String,
    #[serde(default)]
    minor_units_per_btc: Option<u64>,
    #[serde(default)]
    first_index: u32,
    #[serde(default)]
    esplora_url: Option<String>,
    #[serde(default = "one")]
    min_confirmations: u32,
}

fn mainnet() -> String {
    "bitcoin".to_owned()
}
fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    secret_file: PathBuf,
    #[serde(default = "five_minutes")]
    tolerance_seconds: i64,
}

fn five_minutes() -> i64 {
    300
}

fn config_error(message: &str) -> BillingError {
    BillingError::Config(message.to_owned())
}

impl Config {
    /// Defaults for tests and tools: a practice, its relay, the bot's key, a database and the
    /// watch-only account; amounts in USD cents at 6,500,000 cents per bitcoin; no scheduler.
    pub fn new(
        practice: PublicKey,
        relay_url: impl Into<String>,
        key: Identity,
        database_url: impl Into<String>,
        account: Account,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            practice,
            relay_url: relay_url.into(),
            inbox_lookup_relays: Vec::new(),
            key,
            database_url: database_url.into(),
            relay_timeout: Duration::from_secs(10),
            tick: Duration::ZERO,
            invoices: Invoices {
                currency: "USD".to_owned(),
                minor_digits: two(),
                due_days: fourteen(),
                reminder_days: reminder_days(),
                pay_link: None,
            },
            bitcoin: Bitcoin {
                account,
                minor_units_per_btc: 6_500_000,
                first_index: 0,
                esplora_url: None,
                min_confirmations: 1,
            },
            webhook_secret: None,
            webhook_tolerance: five_minutes(),
            delivery: Delivery::default(),
            reminders: Reminders::default(),
        }
    }

    /// Parse and validate TOML; `base` resolves `key_file` and `webhook.secret_file`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, BillingError> {
        let file: File =
            toml::from_str(text).map_err(|e| BillingError::Config(e.message().to_owned()))?;
        let practice = parse_public_key(&file.practice)
            .map_err(|_| config_error("practice is not an npub or hex public key"))?;
        let key = ehr_service::config::read_agent_key(base, &file.key_file)
            .map_err(BillingError::Config)?;
        let network: Network = file.bitcoin.network.parse().map_err(|_| {
            config_error("bitcoin.network must be bitcoin, testnet, signet or regtest")
        })?;
        let account = Account::parse(&file.bitcoin.account_key, network)?;
        let btc = file.invoices.currency == "BTC";
        let minor_units_per_btc = match (file.bitcoin.minor_units_per_btc, btc) {
            (Some(rate), _) => rate,
            (None, true) => 100_000_000,
            (None, false) => {
                return Err(config_error(
                    "bitcoin.minor_units_per_btc is required unless invoices.currency is BTC",
                ));
            }
        };
        let (webhook_secret, webhook_tolerance) = match file.webhook {
            Some(webhook) => {
                let secret = ehr_service::config::read_config_file(
                    base,
                    &webhook.secret_file,
                    "webhook.secret_file",
                )
                .map_err(BillingError::Config)?;
                (
                    Some(WebhookSecret(secret.trim().as_bytes().to_vec())),
                    webhook.tolerance_seconds,
                )
            }
            None => (None, five_minutes()),
        };
        let before = file
            .reminders
            .before
            .iter()
            .map(|text| {
                parse_duration(text).ok_or_else(|| {
                    BillingError::Config(format!(
                        "reminders.before: {text:?} is not a duration such as \"24h\", \"90m\" or \"2d\""
                    ))
                })
            })
            .collect::<Result<Vec<u64>, BillingError>>()?;
        let config = Self {
            listen: file.listen,
            public_url: file.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            practice,
            relay_url: file.relay_url,
            inbox_lookup_relays: file.inbox_lookup_relays,
            key,
            database_url: file.database_url,
            relay_timeout: Duration::from_secs(file.relay_timeout_seconds),
            tick: Duration::from_secs(file.tick_seconds),
            invoices: file.invoices,
            bitcoin: Bitcoin {
                account,
                minor_units_per_btc,
                first_index: file.bitcoin.first_index,
                esplora_url: file
                    .bitcoin
                    .esplora_url
                    .map(|u| u.trim_end_matches('/').to_owned()),
                min_confirmations: file.bitcoin.min_confirmations,
            },
            webhook_secret,
            webhook_tolerance,
            delivery: file.delivery,
            reminders: Reminders {
                enabled: file.reminders.enabled,
                before,
                email: file
                    .reminders
                    .email
                    .map(|email| email.resolve(base))
                    .transpose()?,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Read a configuration file.
    pub fn load(path: &Path) -> Result<Self, BillingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BillingError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Refuse what cannot work, naming the key.
    pub fn validate(&self) -> Result<(), BillingError> {
        let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        let ws = |u: &str| u.starts_with("ws://") || u.starts_with("wss://");
        let before = &self.reminders.before;
        let checks: [(bool, &str); 14] = [
            (
                self.public_url.as_deref().is_none_or(http),
                "public_url must start with http:// or https://",
            ),
            (
                ws(&self.relay_url),
                "relay_url must start with ws:// or wss://",
            ),
            (
                self.inbox_lookup_relays.iter().all(|u| ws(u)),
                "inbox_lookup_relays must be ws:// or wss:// URLs",
            ),
            (
                ehr_service::config::is_database_url(&self.database_url),
                "database_url must start with sqlite: or postgres://",
            ),
            (
                !self.relay_timeout.is_zero(),
                "relay_timeout_seconds must be at least 1",
            ),
            (
                (1..=3).contains(&self.invoices.currency.len())
                    && self
                        .invoices
                        .currency
                        .bytes()
                        .all(|b| b.is_ascii_uppercase()),
                "invoices.currency must be an upper-case code such as USD",
            ),
            (
                self.invoices.minor_digits <= 8,
                "invoices.minor_digits must be at most 8",
            ),
            (
                (1..=365).contains(&self.invoices.due_days),
                "invoices.due_days must be 1 to 365",
            ),
            (
                self.invoices
                    .reminder_days
                    .windows(2)
                    .all(|w| w.first() < w.last())
                    && self
                        .invoices
                        .reminder_days
                        .iter()
                        .all(|d| (0..=365).contains(d)),
                "invoices.reminder_days must ascend, each from 0 to 365",
            ),
            (
                self.bitcoin.minor_units_per_btc > 0,
                "bitcoin.minor_units_per_btc must be at least 1",
            ),
            (
                self.bitcoin.esplora_url.as_deref().is_none_or(http),
                "bitcoin.esplora_url must start with http:// or https://",
            ),
            (
                self.delivery.max_attempts >= 1
                    && self.delivery.backoff_seconds >= 1
                    && self.delivery.max_backoff_seconds >= self.delivery.backoff_seconds,
                "delivery: max_attempts and backoff_seconds at least 1, max_backoff_seconds at least backoff_seconds",
            ),
            (
                before.iter().all(|b| (60..=MAX_BEFORE).contains(b))
                    && before
                        .iter()
                        .enumerate()
                        .all(|(i, b)| !before.iter().skip(i + 1).any(|other| other == b)),
                "reminders.before: each from 1m to 30d, none twice",
            ),
            (
                self.key.public_key() != self.practice,
                "key_file holds the practice root key; the billing bot needs its own agent key",
            ),
        ];
        for (ok, message) in checks {
            if !ok {
                return Err(config_error(message));
            }
        }
        if let Some(email) = &self.reminders.email {
            email.validate()?;
        }
        if self.webhook_secret.as_ref().is_some_and(|s| s.0.len() < 16) {
            return Err(config_error(
                "webhook.secret_file must hold at least 16 bytes",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A fresh agent key in `dir/billing.nsec` with permission bits `mode`.
    fn write_key(dir: &Path, mode: u32) -> Identity {
        let key = Identity::generate();
        let path = dir.join("billing.nsec");
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
        std::fs::write(
            dir.path().join("webhook.secret"),
            "a-long-webhook-secret-0123456789\n",
        )
        .unwrap();
        let example = include_str!("../ehr-billing-bot.example.toml");
        // The modes themselves are ehr-service's test; here, that this config goes through it.
        write_key(dir.path(), 0o644);
        let error = Config::from_toml(example, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("billing.nsec") && error.contains("chmod 600"),
            "{error}"
        );
        let key = write_key(dir.path(), 0o600);
        let config = Config::from_toml(example, dir.path()).unwrap();
        assert_eq!(config.key.public_key(), key.public_key());
    }

    #[test]
    fn durations_are_numbers_with_units() {
        for (text, seconds) in [
            ("24h", Some(86_400)),
            ("2h", Some(7200)),
            ("90m", Some(5400)),
            ("1h30m", Some(5400)),
            ("1d", Some(86_400)),
            ("45s", Some(45)),
            ("", None),
            ("2", None),
            ("h", None),
            ("2 h", None),
            ("-2h", None),
            ("2w", None),
            ("99999999999999999999h", None),
        ] {
            assert_eq!(parse_duration(text), seconds, "{text:?}");
        }
    }

    #[test]
    fn reminders_default_to_24_and_2_hours_when_the_table_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        write_key(dir.path(), 0o600);
        std::fs::write(
            dir.path().join("webhook.secret"),
            "a-long-webhook-secret-0123456789\n",
        )
        .unwrap();
        let example = include_str!("../ehr-billing-bot.example.toml");
        let without = example.split("\n[reminders]").next().unwrap_or(example);
        let config = Config::from_toml(without, dir.path()).unwrap();
        assert_eq!(
            config.reminders,
            Reminders {
                enabled: true,
                before: vec![86_400, 7200],
                email: None,
            }
        );
        let off = format!("{without}\n[reminders]\nenabled = false\n");
        assert!(
            !Config::from_toml(&off, dir.path())
                .unwrap()
                .reminders
                .enabled
        );
    }

    #[test]
    fn email_reminders_are_off_unless_configured_and_their_password_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        write_key(dir.path(), 0o600);
        std::fs::write(
            dir.path().join("webhook.secret"),
            "a-long-webhook-secret-0123456789\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("smtp.password"), "smtp-pa55word\n").unwrap();
        let example = include_str!("../ehr-billing-bot.example.toml");
        assert_eq!(
            Config::from_toml(example, dir.path())
                .unwrap()
                .reminders
                .email,
            None
        );
        // The example's block, uncommented.
        let uncommented: String = example
            .lines()
            .map(|line| {
                let bare = line.strip_prefix("# ").unwrap_or(line);
                if bare.starts_with("[reminders.email]")
                    || [
                        "smtp_host =",
                        "smtp_port =",
                        "from =",
                        "username =",
                        "password_file =",
                        "tls =",
                    ]
                    .iter()
                    .any(|key| bare.starts_with(key))
                {
                    bare.to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::from_toml(&uncommented, dir.path()).unwrap();
        let email = config.reminders.email.clone().unwrap();
        assert_eq!(
            (
                email.smtp_host.as_str(),
                email.smtp_port,
                email.tls,
                email.password.as_ref().map(|p| p.0.as_str())
            ),
            (
                "smtp.example-practice.org",
                587,
                SmtpTls::Starttls,
                Some("smtp-pa55word")
            )
        );
        let debug = format!("{config:?}");
        assert!(
            debug.contains("smtp.example-practice.org") && !debug.contains("smtp-pa55word"),
            "{debug}"
        );
        let inline = uncommented.replace(
            "password_file = \"smtp.password\"",
            "password = \"inline-pa55word\"",
        );
        let config = Config::from_toml(&inline, dir.path()).unwrap();
        assert!(!format!("{config:?}").contains("inline-pa55word"));

        // Checked at start: no clear text but to this host, an address to send from, a login
        // with its password.
        for (change, ok) in [
            (("tls = \"starttls\"", "tls = \"none\""), false),
            (("tls = \"starttls\"", "tls = \"tls\""), true),
            (("tls = \"starttls\"", "tls = \"plain\""), false),
            (("password_file = \"smtp.password\"", ""), false),
            (
                (
                    "from = \"Maple Street Pediatrics <reminders@example-practice.org>\"",
                    "from = \"nobody\"",
                ),
                false,
            ),
            (("smtp_port = 587", "smtp_port = 0"), false),
        ] {
            let text = uncommented.replace(change.0, change.1);
            assert_ne!(text, uncommented, "{change:?}");
            let result = Config::from_toml(&text, dir.path());
            assert_eq!(result.is_ok(), ok, "{change:?}: {result:?}");
            if let Err(e) = result {
                assert!(
                    e.to_string().contains("reminders.email") || e.to_string().contains("tls"),
                    "{change:?}: {e}"
                );
            }
        }
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let local = uncommented
                .replace("tls = \"starttls\"", "tls = \"none\"")
                .replace("smtp.example-practice.org", host);
            assert!(Config::from_toml(&local, dir.path()).is_ok(), "{host}");
        }
    }

    #[test]
    fn the_example_config_parses_and_bad_ones_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = write_key(dir.path(), 0o600);
        std::fs::write(
            dir.path().join("webhook.secret"),
            "a-long-webhook-secret-0123456789\n",
        )
        .unwrap();
        let example = include_str!("../ehr-billing-bot.example.toml");
        let config = Config::from_toml(example, dir.path()).unwrap();
        assert_eq!(config.key.public_key(), key.public_key());
        assert_eq!(config.invoices.currency, "USD");
        assert_eq!(config.reminders, Reminders::default());
        assert_eq!(
            config.webhook_secret.as_ref().unwrap().0,
            b"a-long-webhook-secret-0123456789"
        );
        let debug = format!("{config:?}");
        for secret in [
            "s3cret",
            "a-long-webhook-secret",
            &key.secret_key().to_secret_hex(),
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }

        for (change, named) in [
            (("relay_url", "\"https://x\""), "relay_url"),
            (("database_url", "\"mysql://x\""), "database_url"),
            (("account_key", "\"xprv-nope\""), "account_key"),
            (("due_days", "0"), "due_days"),
            (("reminder_days", "[10, 3]"), "reminder_days"),
            (("currency", "\"dollars\""), "currency"),
            (("practice", "\"npub1nope\""), "practice"),
            (("before", "[\"soon\"]"), "reminders.before"),
            (("before", "[\"2h\", \"2h\"]"), "reminders.before"),
            (("before", "[\"30s\"]"), "reminders.before"),
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
            assert!(error.contains(named), "{named}: {error}");
        }
        let unknown = format!("{example}\ncolour = \"blue\"\n");
        assert!(
            Config::from_toml(&unknown, dir.path())
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        std::fs::write(dir.path().join("webhook.secret"), "short").unwrap();
        assert!(
            Config::from_toml(example, dir.path())
                .unwrap_err()
                .to_string()
                .contains("webhook")
        );
    }
}
