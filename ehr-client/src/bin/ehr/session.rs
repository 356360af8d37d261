//! One CLI run: the practice directory (`--home`), its local store, and the relay.
//!
//! Online, a command first fetches the practice's events, plans, stores the whole plan in the
//! outbox, then publishes the outbox. With `--offline` it plans from the local mirror and only
//! stores: the outbox file is then carried to an online machine and sent with `ehr publish`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ehr_client::access::PracticeView;
use ehr_client::connection::Connection;
use ehr_client::keys::{self, Identity};
use ehr_client::kinds;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::nostr::prelude::{Event, EventId, Filter, PublicKey};
use ehr_client::store::{self, LocalStore};
use serde::{Deserialize, Serialize};

/// Events per page when the CLI fetches the practice (the relay may cap pages lower).
const FETCH_PAGE: usize = 5000;

/// What `practice.json` in the home directory says: which practice, on which relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeConfig {
    /// The practice root key, as npub.
    pub practice: String,
    /// The practice relay, ws:// or wss://.
    pub relay: String,
}

impl PracticeConfig {
    /// The root public key.
    pub fn root(&self) -> Result<PublicKey> {
        keys::parse_public_key(&self.practice).context("practice.json: invalid practice key")
    }

    /// The connection string a patient or a new device pastes.
    pub fn connection_string(&self) -> Result<String> {
        Ok(Connection::new(self.root()?, self.relay.clone())?.to_string())
    }

    /// Parse a connection string `nostr-ehr:<npub>?relay=<url>`.
    pub fn from_connection_string(input: &str) -> Result<Self> {
        let connection = Connection::parse(input)?;
        Ok(Self {
            practice: keys::to_npub(&connection.practice),
            relay: connection.relay,
        })
    }

    fn validate(&self) -> Result<()> {
        Connection::new(self.root()?, self.relay.clone())?;
        Ok(())
    }
}

/// Global options of a run.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgs {
    /// The practice directory: practice.json, the event mirror and the outbox.
    #[arg(long, global = true, env = "EHR_HOME", default_value = ".nostr-ehr")]
    pub home: PathBuf,
    /// Do not touch the network: plan from the local mirror, put signed events in the outbox.
    #[arg(long, global = true)]
    pub offline: bool,
    /// The outbox file (default: HOME/outbox.jsonl).
    #[arg(long, global = true, value_name = "FILE")]
    pub outbox: Option<PathBuf>,
    /// Seconds to wait for the relay before giving up.
    #[arg(long, global = true, default_value_t = 15)]
    pub timeout: u64,
}

/// An open practice directory.
#[derive(Debug)]
pub struct Session {
    home: PathBuf,
    store: LocalStore,
    config: Option<PracticeConfig>,
    offline: bool,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    connection: Option<RelayClient>,
}

/// What publishing achieved.
#[derive(Debug, Default)]
pub struct Published {
    pub accepted: usize,
    pub refused: Vec<String>,
    pub pending: usize,
}

impl Session {
    pub fn open(args: &SessionArgs) -> Result<Self> {
        let store = LocalStore::open(&args.home, args.outbox.as_deref())?;
        let config_path = args.home.join("practice.json");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => {
                let config: PracticeConfig = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid", config_path.display()))?;
                config.validate()?;
                Some(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("reading {}", config_path.display())),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        Ok(Self {
            home: args.home.clone(),
            store,
            config,
            offline: args.offline,
            timeout: Duration::from_secs(args.timeout),
            runtime,
            connection: None,
        })
    }

    pub fn config(&self) -> Result<&PracticeConfig> {
        self.config.as_ref().context(
            "no practice in this directory: run `ehr practice init` or `ehr practice connect`",
        )
    }

    pub fn root(&self) -> Result<PublicKey> {
        self.config()?.root()
    }

    /// Write practice.json (refuses to replace another practice's).
    pub fn set_config(&mut self, config: PracticeConfig) -> Result<()> {
        if let Some(existing) = &self.config
            && existing.practice != config.practice
        {
            bail!("this directory already belongs to another practice; use another --home");
        }
        let path = self.home.join("practice.json");
        std::fs::write(&path, serde_json::to_string_pretty(&config)?)
            .with_context(|| format!("writing {}", path.display()))?;
        self.config = Some(config);
        Ok(())
    }

    pub fn events(&self) -> &[Event] {
        self.store.events()
    }

    pub fn view(&self, reader: &Identity) -> Result<PracticeView> {
        Ok(PracticeView::load(
            &self.root()?,
            self.store.events(),
            reader,
        ))
    }

    /// The run's one relay connection, opened (and authenticated) on first use, with the
    /// runtime to drive it.
    fn connection(
        &mut self,
        identity: &Identity,
    ) -> Result<(&tokio::runtime::Runtime, &RelayClient)> {
        if self.connection.is_none() {
            let url = self.config()?.relay.clone();
            let client = self
                .runtime
                .block_on(RelayClient::connect(&url, identity, self.timeout))
                .with_context(|| format!("connecting to {url}"))?;
            self.connection = Some(client);
        }
        let client = self
            .connection
            .as_ref()
            .context("the relay connection closed")?;
        Ok((&self.runtime, client))
    }

    /// How long to wait for a relay.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the run may not touch the network.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Run a future on the session's runtime (HTTP calls to the Blossom server).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Call a NIP-86 management method on the practice relay.
    pub fn manage(
        &mut self,
        identity: &Identity,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        if self.offline {
            anyhow::bail!("managing the relay needs the network; drop --offline");
        }
        let url = self.config()?.relay.clone();
        let client = ehr_client::management::ManagementClient::for_relay(&url)?;
        let timeout = self.timeout;
        self.runtime
            .block_on(async {
                tokio::time::timeout(timeout, client.call(identity, method, params)).await
            })
            .map_err(|_| anyhow::anyhow!("the relay did not answer in time"))?
            .with_context(|| format!("{method} on {url}"))
    }

    /// Fetch the practice's events from the relay into the mirror (no-op offline).
    pub fn sync(&mut self, identity: &Identity) -> Result<usize> {
        if self.offline {
            return Ok(0);
        }
        let filter = Filter::new().kinds(kinds::practice_kinds());
        let (runtime, client) = self.connection(identity)?;
        let fetched = runtime
            .block_on(client.fetch_all(filter, FETCH_PAGE))
            .context("fetching the practice's events")?;
        Ok(self.store.merge(fetched)?)
    }

    /// Store a plan as a whole, then publish the outbox (unless offline).
    pub fn commit(&mut self, identity: &Identity, events: Vec<Event>) -> Result<Published> {
        self.store.stage(events)?;
        if self.offline {
            return Ok(Published {
                pending: self.store.pending().len(),
                ..Published::default()
            });
        }
        self.publish(identity)
    }

    /// Publish the outbox; acknowledged events leave it, refused ones stay and are reported.
    pub fn publish(&mut self, identity: &Identity) -> Result<Published> {
        let pending = self.store.pending().to_vec();
        if pending.is_empty() {
            return Ok(Published::default());
        }
        let (mut published, acknowledged) = self.send(identity, &pending)?;
        self.store.acknowledge(&acknowledged)?;
        published.pending = self.store.pending().len();
        Ok(published)
    }

    /// Publish the events of an outbox file carried from another machine, and drop the
    /// acknowledged ones from that file.
    pub fn publish_file(&mut self, identity: &Identity, path: &Path) -> Result<Published> {
        let events = authentic(store::read_events(path)?)?;
        let (mut published, acknowledged) = self.send(identity, &events)?;
        let left: Vec<&Event> = events
            .iter()
            .filter(|e| !acknowledged.contains(&e.id))
            .collect();
        store::write_events(path, left.iter().copied())?;
        published.pending = left.len();
        // Only what the relay took joins the mirror; the rest waits in the file.
        self.store
            .merge(events.into_iter().filter(|e| acknowledged.contains(&e.id)))?;
        Ok(published)
    }

    /// Send `events`; returns the tally and the ids the relay acknowledged.
    fn send(
        &mut self,
        identity: &Identity,
        events: &[Event],
    ) -> Result<(Published, BTreeSet<EventId>)> {
        let (runtime, client) = self.connection(identity)?;
        let outcomes = runtime
            .block_on(client.publish(events))
            .context("publishing to the relay")?;
        let mut published = Published::default();
        let mut acknowledged = BTreeSet::new();
        for (event, outcome) in events.iter().zip(outcomes) {
            match outcome {
                PublishOutcome::Accepted => {
                    acknowledged.insert(event.id);
                    published.accepted += 1;
                }
                PublishOutcome::Refused { message } => published
                    .refused
                    .push(format!("kind {}: {message}", event.kind.as_u16())),
            }
        }
        Ok((published, acknowledged))
    }

    /// Merge events from a file (an export of another machine's mirror).
    pub fn import_file(&mut self, path: &Path) -> Result<usize> {
        Ok(self.store.merge(authentic(store::read_events(path)?)?)?)
    }

    /// Write every known event to a file, for an offline machine.
    pub fn export_file(&self, path: &Path) -> Result<()> {
        Ok(store::write_events(path, self.store.events())?)
    }
}

/// Events carried in a file, each checked (id and signature) before the mirror takes any: a
/// copy with a genuine id and a forged signature would otherwise stand in for the real event
/// (the mirror keeps one event per id). One bad event refuses the whole file.
fn authentic(events: Vec<Event>) -> Result<Vec<Event>> {
    let forged = events.iter().filter(|e| e.verify().is_err()).count();
    if forged > 0 {
        bail!(
            "{forged} event(s) in the file have a wrong id or signature; nothing was taken from it"
        );
    }
    Ok(events)
}
