//! The bot's relay connections: one to the practice relay, kept and re-opened when lost, over
//! which it reads the roster (who may administer billing), inbox relay lists and the appointment
//! reminder records sealed to it, and publishes gift wraps; and short-lived ones to members' own
//! inbox relays.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ehr_client::dm;
use ehr_client::kinds;
use ehr_client::net::{NetError, PublishOutcome, RelayClient};
use ehr_client::roster::{Role, RosterChain, verify_roster_chain};
use nostr::prelude::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use tokio::sync::Mutex;

use crate::config::Config;

/// How long a fetched roster is trusted before it is fetched again.
const ROSTER_FRESH: Duration = Duration::from_secs(5);

/// The practice relay and the roster read from it.
#[derive(Debug)]
pub struct Relays {
    practice: Mutex<Option<RelayClient>>,
    roster: Mutex<Option<CachedRoster>>,
}

/// The roster chain as last read, with the roster events it was verified from.
#[derive(Debug)]
struct CachedRoster {
    events: Vec<Event>,
    chain: RosterChain,
    checked: Instant,
}

impl Relays {
    /// No connection yet; the first use connects.
    pub fn new() -> Self {
        Self {
            practice: Mutex::new(None),
            roster: Mutex::new(None),
        }
    }

    /// Run `f` on the practice relay connection, connecting first if needed; a connection
    /// that fails is dropped, so the next call connects again.
    async fn on_practice<T>(
        &self,
        config: &Config,
        f: impl AsyncFnOnce(&RelayClient) -> Result<T, NetError>,
    ) -> Result<T, NetError> {
        let mut slot = self.practice.lock().await;
        if slot.is_none() {
            *slot = Some(
                RelayClient::connect(&config.relay_url, &config.key, config.relay_timeout).await?,
            );
        }
        let client = slot.as_ref().ok_or(NetError::Disconnected)?;
        let result = f(client).await;
        if matches!(
            result,
            Err(NetError::Disconnected | NetError::Timeout | NetError::Lagged | NetError::Relay(_))
        ) && let Some(client) = slot.take()
        {
            client.disconnect().await;
        }
        result
    }

    /// The role `pubkey` holds in the roster now (`None`: not a current member). The roster is
    /// looked at again when older than five seconds, or at once for a key it does not know, so
    /// a new staff member is recognised without a restart (one look at a time: callers wait on
    /// the cache's lock). A look asks only for the rosters from the current tip's second on: a
    /// successor is never older than the roster it follows, so nothing before can have changed,
    /// and a look that finds nothing new verifies nothing again.
    pub async fn role_of(
        &self,
        config: &Config,
        pubkey: &PublicKey,
    ) -> Result<Option<Role>, NetError> {
        let now = Timestamp::now();
        let mut cached = self.roster.lock().await;
        if let Some(roster) = cached.as_ref() {
            let role = roster.chain.role_at(pubkey, now);
            if role.is_some() && roster.checked.elapsed() < ROSTER_FRESH {
                return Ok(role);
            }
        }
        let roster = self.refresh(config, &mut cached).await?;
        Ok(roster.chain.role_at(pubkey, now))
    }

    /// The roster chain, looked at again first (only the rosters from the current tip's second
    /// on, as for [`Relays::role_of`]): a member added a moment ago is known.
    pub async fn roster(&self, config: &Config) -> Result<RosterChain, NetError> {
        let mut cached = self.roster.lock().await;
        Ok(self.refresh(config, &mut cached).await?.chain.clone())
    }

    /// Read the rosters newer than the cached tip into `cached`, verifying the chain again only
    /// when something new came.
    async fn refresh<'a>(
        &self,
        config: &Config,
        cached: &'a mut Option<CachedRoster>,
    ) -> Result<&'a CachedRoster, NetError> {
        let mut filter = Filter::new().kind(Kind::Custom(kinds::ROSTER));
        if let Some(tip) = cached.as_ref().and_then(|r| r.chain.current()) {
            filter = filter.since(tip.created_at);
        }
        let fetched = self
            .on_practice(config, async |client| client.fetch_all(filter, 500).await)
            .await?;
        let mut roster = cached.take().unwrap_or_else(|| CachedRoster {
            events: Vec::new(),
            chain: RosterChain::default(),
            checked: Instant::now(),
        });
        let known: HashSet<EventId> = roster.events.iter().map(|e| e.id).collect();
        let new: Vec<Event> = fetched
            .into_iter()
            .filter(|e| !known.contains(&e.id))
            .collect();
        if !new.is_empty() || roster.events.is_empty() {
            roster.events.extend(new);
            roster.chain = verify_roster_chain(&config.practice, &roster.events);
        }
        roster.checked = Instant::now();
        Ok(cached.insert(roster))
    }

    /// Every appointment reminder record (kind 2126) addressed to the bot on the practice relay:
    /// sealed to its key, readable by it alone ([`ehr_client::schedule::reminder`]).
    pub async fn reminder_records(&self, config: &Config) -> Result<Vec<Event>, NetError> {
        let filter = Filter::new()
            .kind(Kind::Custom(kinds::REMINDER))
            .pubkey(config.key.public_key());
        self.on_practice(config, async |client| client.fetch_all(filter, 500).await)
            .await
    }

    /// The relays of the newest kind 10050 inbox list of each of `recipients`, read from the
    /// practice relay and the lookup relays with one request to each, however many recipients;
    /// a recipient without a list (or whose lists could not be read) is absent.
    pub async fn inbox_relays(
        &self,
        config: &Config,
        recipients: &HashSet<PublicKey>,
    ) -> HashMap<PublicKey, Vec<String>> {
        if recipients.is_empty() {
            return HashMap::new();
        }
        let filter = Filter::new()
            .kind(Kind::InboxRelays)
            .authors(recipients.iter().copied());
        let mut lists: Vec<Event> = self
            .on_practice(config, async |client| {
                client.fetch_all(filter.clone(), 500).await
            })
            .await
            .unwrap_or_default();
        for url in &config.inbox_lookup_relays {
            if let Ok(client) = RelayClient::connect(url, &config.key, config.relay_timeout).await {
                lists.extend(
                    client
                        .fetch_all(filter.clone(), 500)
                        .await
                        .unwrap_or_default(),
                );
                client.disconnect().await;
            }
        }
        let mut newest: HashMap<PublicKey, Event> = HashMap::new();
        for list in lists {
            if !recipients.contains(&list.pubkey) {
                continue;
            }
            match newest.get(&list.pubkey) {
                Some(kept) if (kept.created_at, kept.id) >= (list.created_at, list.id) => {}
                _ => {
                    newest.insert(list.pubkey, list);
                }
            }
        }
        newest
            .into_iter()
            .map(|(who, list)| (who, dm::inbox_relays(&list)))
            .filter(|(_, relays)| !relays.is_empty())
            .collect()
    }

    /// Publish one gift wrap to `url`: over the kept connection for the practice relay, over
    /// `others` (opened on first use, closed by the caller) for any other.
    pub async fn publish(
        &self,
        config: &Config,
        url: &str,
        wrap: &Event,
        others: &mut HashMap<String, RelayClient>,
    ) -> Result<PublishOutcome, NetError> {
        let one = |outcomes: Vec<PublishOutcome>| {
            outcomes.into_iter().next().ok_or(NetError::Disconnected)
        };
        if ehr_service::config::same_relay_url(url, &config.relay_url) {
            let wraps = std::slice::from_ref(wrap);
            return one(self
                .on_practice(config, async |client| client.publish(wraps).await)
                .await?);
        }
        if !others.contains_key(url) {
            let client = RelayClient::connect(url, &config.key, config.relay_timeout).await?;
            others.insert(url.to_owned(), client);
        }
        let client = others.get(url).ok_or(NetError::Disconnected)?;
        let result = client.publish(std::slice::from_ref(wrap)).await;
        if result.is_err()
            && let Some(client) = others.remove(url)
        {
            client.disconnect().await;
        }
        one(result?)
    }

    /// Close the practice relay connection.
    pub async fn close(&self) {
        if let Some(client) = self.practice.lock().await.take() {
            client.disconnect().await;
        }
    }
}

impl Default for Relays {
    fn default() -> Self {
        Self::new()
    }
}
