//! The relay client (feature `relay-client`): one relay connection with NIP-42 AUTH, publishing
//! events and fetching stored events.
//!
//! The transport is `nostr-sdk` 0.44, which brings its own `nostr` 0.44 (DESIGN.md §8). Nothing
//! of 0.44 crosses this module's public API: events and filters are converted through their
//! NIP-01 JSON, keys through their 32 secret bytes.
//!
//! Signatures are checked once. `nostr-relay-pool` verifies every event's id and signature
//! before it reports the event (unconditionally, in `handle_event_msg`); after the crossing to
//! the protocol's `nostr` 0.45.6 the id is checked again, which proves the event is the one
//! whose signature was verified. Events come out as [`VerifiedEvent`]s (or plain events), and a
//! forged signature never comes out at all (`tests/relay_client.rs` attacks this with a relay
//! that sends one).

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use nostr::prelude::{Event, EventId, Filter, Timestamp};
use nostr_sdk::JsonUtil as _;
use nostr_sdk::pool::pool::Error as PoolError;
use nostr_sdk::pool::relay::Error as RelayError;
use nostr_sdk::prelude as sdk;
use tokio::sync::broadcast::error::RecvError;

use crate::event::VerifiedEvent;
use crate::keys::Identity;

/// Capacity of the relay's notification channel. Every event received takes two slots; a fetch
/// that falls this far behind fails with [`NetError::Lagged`] rather than lose events.
const NOTIFICATION_CHANNEL_SIZE: usize = 16_384;

/// Why talking to a relay failed. Messages carry no key material and no event content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetError {
    /// The relay address is not a `ws://` or `wss://` URL.
    #[error("not a relay URL (expected ws:// or wss://)")]
    InvalidUrl,
    /// The WebSocket connection could not be opened.
    #[error("cannot connect to the relay: {0}")]
    Connect(String),
    /// The relay did not answer in time (connection, `OK` or `EOSE`).
    #[error("the relay did not answer in time")]
    Timeout,
    /// NIP-42 authentication failed, or the relay still asks for it after we authenticated.
    #[error("relay authentication failed: {0}")]
    AuthFailed(String),
    /// The relay closed a subscription before `EOSE` (`CLOSED`, e.g. `restricted: ...`).
    #[error("the relay closed the subscription: {0}")]
    Closed(String),
    /// The connection was lost during the operation.
    #[error("the relay connection was lost")]
    Disconnected,
    /// The relay sent more than this client could buffer; the result would be incomplete.
    #[error("too many messages from the relay at once; some were lost")]
    Lagged,
    /// An event or filter could not be converted between the two `nostr` versions.
    #[error("an event or filter could not be converted for the relay transport")]
    Conversion,
    /// Any other failure of the relay transport.
    #[error("relay transport error: {0}")]
    Relay(String),
}

/// What the relay answered to one published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// `OK true`: stored, or already stored (`duplicate:`).
    Accepted,
    /// `OK false`, with the relay's message (`auth-required: ...`, `restricted: ...`,
    /// `invalid: ...`).
    Refused {
        /// The relay's `OK` message, machine-readable prefix included.
        message: String,
    },
}

/// A connection to one relay, authenticated as one [`Identity`] whenever the relay sends a
/// NIP-42 challenge.
pub struct RelayClient {
    client: sdk::Client,
    relay: sdk::Relay,
    url: String,
    timeout: Duration,
    max_limit: tokio::sync::OnceCell<Option<usize>>,
}

impl fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayClient")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RelayClient {
    /// Connect to one relay as `identity`, answering NIP-42 AUTH challenges automatically.
    /// `timeout` bounds the connection and, later, each publish and each fetch.
    pub async fn connect(
        url: &str,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        let relay_url = sdk::RelayUrl::parse(url).map_err(|_| NetError::InvalidUrl)?;
        let secret = sdk::SecretKey::from_slice(identity.secret_key().as_secret_bytes())
            .map_err(|_| NetError::Conversion)?;
        let client = sdk::Client::builder()
            .signer(sdk::Keys::new(secret))
            .opts(sdk::ClientOptions::new().automatic_authentication(true))
            .build();

        let mut limits = sdk::RelayLimits::default();
        // The pool's default cap is 5 MB per message, and larger events would be dropped
        // silently; the WebSocket layer already caps messages at 64 MiB.
        limits.messages.max_size = None;
        let options = sdk::RelayOptions::new()
            .limits(limits)
            .notification_channel_size(NOTIFICATION_CHANNEL_SIZE);
        client
            .pool()
            .add_relay(relay_url.clone(), options)
            .await
            .map_err(|e| NetError::Relay(e.to_string()))?;

        let connecting = client.pool().try_connect_relay(relay_url.clone(), timeout);
        let connected = tokio::time::timeout(timeout, connecting).await;
        let outcome = match connected {
            Err(_) => Err(NetError::Timeout),
            Ok(Err(PoolError::Relay(RelayError::Timeout))) => Err(NetError::Timeout),
            Ok(Err(e)) => Err(NetError::Connect(e.to_string())),
            Ok(Ok(())) => client
                .relay(relay_url)
                .await
                .map_err(|e| NetError::Relay(e.to_string())),
        };
        match outcome {
            Ok(relay) => Ok(Self {
                client,
                relay,
                url: url.to_owned(),
                timeout,
                max_limit: tokio::sync::OnceCell::new(),
            }),
            Err(e) => {
                client.shutdown().await;
                Err(e)
            }
        }
    }

    /// Publish events one after the other and return one outcome per event, in order.
    ///
    /// A relay that answers `auth-required:` gets the NIP-42 AUTH and then the event once more
    /// (`nostr-sdk` does this in `Relay::send_event`); if it refuses again, that second answer is
    /// the outcome. Connection failures and timeouts end the whole call with an error; events
    /// already accepted stay accepted, and publishing them again is harmless.
    pub async fn publish(&self, events: &[Event]) -> Result<Vec<PublishOutcome>, NetError> {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let event = to_sdk_event(event)?;
            let sent = tokio::time::timeout(self.timeout, self.relay.send_event(&event)).await;
            let outcome = match sent {
                Err(_) => return Err(NetError::Timeout),
                Ok(Ok(_)) => PublishOutcome::Accepted,
                Ok(Err(RelayError::RelayMessage(message))) => PublishOutcome::Refused { message },
                Ok(Err(e)) => return Err(relay_error(e)),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Fetch every stored event matching any of `filters`, until `EOSE`.
    ///
    /// Events come back as the protocol's `nostr` events, each verified (id and signature),
    /// deduplicated by id and sorted by `created_at`, then id. Events that fail verification are
    /// not authentic and are left out. A `CLOSED` before `EOSE` is an error, never a short list:
    /// `auth-required:` is answered with AUTH and the request sent once more, and the relay's
    /// second refusal is [`NetError::AuthFailed`]; anything else is [`NetError::Closed`]. No
    /// `EOSE` within the timeout is [`NetError::Timeout`]. A relay may still cap the number of
    /// events it returns per filter (its `limit` default); ask in pages with `until` if needed.
    pub async fn fetch(&self, filters: Vec<Filter>) -> Result<Vec<Event>, NetError> {
        let events = self.fetch_verified(filters).await?;
        Ok(events.into_iter().map(VerifiedEvent::into_event).collect())
    }

    /// [`RelayClient::fetch`], keeping the proof that each event was verified.
    pub async fn fetch_verified(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<VerifiedEvent>, NetError> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let filters = filters
            .iter()
            .map(to_sdk_filter)
            .collect::<Result<Vec<_>, _>>()?;
        let id = sdk::SubscriptionId::generate();

        // Listen before sending, so that no answer can be missed.
        let mut notifications = self.relay.notifications();
        self.send_req(&id, &filters)?;

        let mut state = FetchState::default();
        let collected = tokio::time::timeout(
            self.timeout,
            self.read_until_eose(&id, &filters, &mut notifications, &mut state),
        )
        .await;
        // Release the subscription on the relay; it may already be gone, which is fine.
        let _ = self.relay.send_msg(sdk::ClientMessage::close(id));

        match collected {
            Err(_) => match state.awaiting_auth {
                Some(message) => Err(NetError::AuthFailed(message)),
                None => Err(NetError::Timeout),
            },
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => {
                let mut events = state.events;
                events.sort_by_key(|event| (event.event().created_at, event.event().id));
                Ok(events)
            }
        }
    }

    /// Fetch every stored event matching `filter`, however many the relay caps a request at:
    /// pages of at most `page` events (or the relay's NIP-11 `max_limit`, if lower), newest
    /// first, each ending where the last one did (`until`), until a page comes back short.
    /// Events are deduplicated and sorted as by [`RelayClient::fetch`]. A page filled with
    /// events of one second cannot move on, and is [`NetError::Relay`] rather than a silently
    /// short answer.
    pub async fn fetch_all(&self, filter: Filter, page: usize) -> Result<Vec<Event>, NetError> {
        let mut pages = self.pages(filter, page).await;
        let mut events = Vec::new();
        while let Some(batch) = pages.next(self).await? {
            events.extend(batch.into_iter().map(VerifiedEvent::into_event));
        }
        events.sort_by_key(|event| (event.created_at, event.id));
        Ok(events)
    }

    /// The pages [`RelayClient::fetch_all`] reads, one at a time, so that a large read can be
    /// processed while the next page arrives and never sits whole in memory.
    pub async fn pages(&self, filter: Filter, page: usize) -> Pages {
        let page = match self.max_limit().await {
            Some(cap) => page.min(cap),
            None => page,
        }
        .max(1);
        Pages {
            until: filter.until,
            filter,
            page,
            previous: HashSet::new(),
            done: false,
        }
    }

    /// The relay's `limitation.max_limit` from its NIP-11 document, asked once per connection
    /// (`None` when the relay does not say): a relay silently caps larger `limit`s to it.
    async fn max_limit(&self) -> Option<usize> {
        *self
            .max_limit
            .get_or_init(|| async {
                let http_url = self
                    .url
                    .replacen("wss://", "https://", 1)
                    .replacen("ws://", "http://", 1);
                let response = reqwest::Client::new()
                    .get(http_url)
                    .header("accept", "application/nostr+json")
                    .timeout(self.timeout)
                    .send()
                    .await
                    .ok()?;
                let document: serde_json::Value = response.json().await.ok()?;
                let limit = document.get("limitation")?.get("max_limit")?.as_u64()?;
                usize::try_from(limit).ok().filter(|l| *l > 0)
            })
            .await
    }

    /// Follow `filters`: one subscription that delivers the stored events and then every new
    /// one, verified, until the connection ends. Answers NIP-42 like [`RelayClient::fetch`].
    pub fn follow(&self, filters: Vec<Filter>) -> Result<Following, NetError> {
        let filters = filters
            .iter()
            .map(to_sdk_filter)
            .collect::<Result<Vec<_>, _>>()?;
        let id = sdk::SubscriptionId::generate();
        let notifications = self.relay.notifications();
        self.send_req(&id, &filters)?;
        Ok(Following {
            relay: self.relay.clone(),
            id,
            filters,
            notifications,
            state: FetchState::default(),
            stored_done: false,
        })
    }

    /// Close the connection.
    pub async fn disconnect(self) {
        self.client.shutdown().await;
    }

    fn send_req(&self, id: &sdk::SubscriptionId, filters: &[sdk::Filter]) -> Result<(), NetError> {
        self.relay
            .send_msg(sdk::ClientMessage::req(id.clone(), filters.to_vec()))
            .map_err(relay_error)
    }

    /// Read the relay's notifications until `EOSE` of subscription `id`.
    async fn read_until_eose(
        &self,
        id: &sdk::SubscriptionId,
        filters: &[sdk::Filter],
        notifications: &mut tokio::sync::broadcast::Receiver<sdk::RelayNotification>,
        state: &mut FetchState,
    ) -> Result<(), NetError> {
        loop {
            match step(receive(notifications).await?, id, state)? {
                Step::Event(event) => state.add(&event)?,
                Step::EndOfStored => return Ok(()),
                Step::SendAgain => self.send_req(id, filters)?,
                Step::Nothing => {}
            }
        }
    }
}

/// Every stored event matching a filter, page by page ([`RelayClient::pages`]): at most `page`
/// events per page, newest first, each page ending where the last one did (`until`), until a
/// page comes back short. Events are verified, and each is delivered once (pages overlap at the
/// second where the last one ended). A page filled with events of one second cannot move on,
/// and is [`NetError::Relay`] rather than a silently short answer.
#[derive(Debug)]
pub struct Pages {
    filter: Filter,
    page: usize,
    until: Option<Timestamp>,
    /// The last page's events of the second it ended at.
    previous: HashSet<EventId>,
    done: bool,
}

impl Pages {
    /// The next page, or `None` after the last one.
    pub async fn next(
        &mut self,
        client: &RelayClient,
    ) -> Result<Option<Vec<VerifiedEvent>>, NetError> {
        if self.done {
            return Ok(None);
        }
        let mut request = self.filter.clone().limit(self.page);
        if let Some(until) = self.until {
            request = request.until(until);
        }
        let batch = client.fetch_verified(vec![request]).await?;
        let full = batch.len() >= self.page;
        let oldest = batch.iter().map(|e| e.event().created_at).min();
        let fresh: Vec<VerifiedEvent> = batch
            .into_iter()
            .filter(|e| !self.previous.contains(&e.event().id))
            .collect();
        match (full, oldest) {
            (true, Some(oldest)) if !fresh.is_empty() => {
                // Still in the same second: what came before at that second stays delivered.
                if self.until != Some(oldest) {
                    self.previous.clear();
                }
                self.until = Some(oldest);
                self.previous.extend(
                    fresh
                        .iter()
                        .map(VerifiedEvent::event)
                        .filter(|e| e.created_at == oldest)
                        .map(|e| e.id),
                );
            }
            (true, _) => {
                self.done = true;
                return Err(NetError::Relay(
                    "more events in one second than the relay returns at once".to_owned(),
                ));
            }
            (false, _) => self.done = true,
        }
        Ok(Some(fresh))
    }
}

/// The next notification of a relay.
async fn receive(
    notifications: &mut tokio::sync::broadcast::Receiver<sdk::RelayNotification>,
) -> Result<sdk::RelayNotification, NetError> {
    match notifications.recv().await {
        Ok(notification) => Ok(notification),
        Err(RecvError::Lagged(_)) => Err(NetError::Lagged),
        Err(RecvError::Closed) => Err(NetError::Disconnected),
    }
}

/// What one notification means for subscription `id`.
enum Step {
    Event(Box<sdk::Event>),
    EndOfStored,
    /// AUTH succeeded after an `auth-required:` CLOSED: send the REQ again.
    SendAgain,
    Nothing,
}

/// Interpret one notification for subscription `id`: its events, its `EOSE`, and NIP-42 (a
/// `CLOSED auth-required:` waits for `nostr-sdk` to authenticate, then the REQ goes out once
/// more; a second refusal, or any other `CLOSED`, ends the subscription with an error).
fn step(
    notification: sdk::RelayNotification,
    id: &sdk::SubscriptionId,
    state: &mut FetchState,
) -> Result<Step, NetError> {
    match notification {
        sdk::RelayNotification::Message { message } => match message {
            sdk::RelayMessage::Event {
                subscription_id,
                event,
            } if subscription_id.as_ref() == id => Ok(Step::Event(Box::new(event.into_owned()))),
            sdk::RelayMessage::EndOfStoredEvents(subscription_id)
                if subscription_id.as_ref() == id =>
            {
                Ok(Step::EndOfStored)
            }
            sdk::RelayMessage::Closed {
                subscription_id,
                message,
            } if subscription_id.as_ref() == id => {
                let message = message.into_owned();
                let auth_required = matches!(
                    sdk::MachineReadablePrefix::parse(&message),
                    Some(sdk::MachineReadablePrefix::AuthRequired)
                );
                if !auth_required {
                    return Err(NetError::Closed(message));
                }
                if state.retried {
                    return Err(NetError::AuthFailed(message));
                }
                // The challenge came with (or before) this CLOSED; `nostr-sdk` answers it and
                // reports `Authenticated`, then the request goes out again.
                state.awaiting_auth = Some(message);
                Ok(Step::Nothing)
            }
            _ => Ok(Step::Nothing),
        },
        sdk::RelayNotification::Authenticated if state.awaiting_auth.is_some() => {
            state.awaiting_auth = None;
            state.retried = true;
            Ok(Step::SendAgain)
        }
        sdk::RelayNotification::AuthenticationFailed if state.awaiting_auth.is_some() => {
            Err(auth_rejected())
        }
        sdk::RelayNotification::RelayStatus {
            status:
                sdk::RelayStatus::Disconnected | sdk::RelayStatus::Terminated | sdk::RelayStatus::Banned,
        }
        | sdk::RelayNotification::Shutdown => Err(NetError::Disconnected),
        _ => Ok(Step::Nothing),
    }
}

/// A live subscription made by [`RelayClient::follow`].
pub struct Following {
    relay: sdk::Relay,
    id: sdk::SubscriptionId,
    filters: Vec<sdk::Filter>,
    notifications: tokio::sync::broadcast::Receiver<sdk::RelayNotification>,
    state: FetchState,
    stored_done: bool,
}

impl fmt::Debug for Following {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Following")
            .field("stored_done", &self.stored_done)
            .finish_non_exhaustive()
    }
}

/// One step of a [`Following`] subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// A verified event, stored or new (the consumer must be idempotent).
    Event(Box<VerifiedEvent>),
    /// Every stored event has been delivered (`EOSE`); new ones follow.
    Caught,
}

impl Following {
    /// The next event, or the end of the stored ones. An error ends the subscription: the
    /// connection was lost, the relay closed it, or this reader fell too far behind.
    pub async fn next(&mut self) -> Result<Followed, NetError> {
        loop {
            let notification = receive(&mut self.notifications).await?;
            match step(notification, &self.id, &mut self.state)? {
                Step::Event(event) => {
                    // No dedup set here: it would grow for as long as the service runs.
                    if let Some(event) =
                        VerifiedEvent::verified_by_transport(from_sdk_event(&event)?)
                    {
                        return Ok(Followed::Event(Box::new(event)));
                    }
                }
                Step::EndOfStored if !self.stored_done => {
                    self.stored_done = true;
                    return Ok(Followed::Caught);
                }
                Step::SendAgain => self
                    .relay
                    .send_msg(sdk::ClientMessage::req(
                        self.id.clone(),
                        self.filters.clone(),
                    ))
                    .map_err(relay_error)?,
                Step::EndOfStored | Step::Nothing => {}
            }
        }
    }
}

/// What a fetch has gathered so far.
#[derive(Default)]
struct FetchState {
    events: Vec<VerifiedEvent>,
    seen: HashSet<EventId>,
    /// The `CLOSED auth-required:` message while AUTH is under way.
    awaiting_auth: Option<String>,
    /// Whether the request was already sent again after AUTH.
    retried: bool,
}

impl FetchState {
    /// Convert one event `nostr-sdk` verified, check its id, and keep it once.
    fn add(&mut self, event: &sdk::Event) -> Result<(), NetError> {
        if let Some(event) = VerifiedEvent::verified_by_transport(from_sdk_event(event)?)
            && self.seen.insert(event.event().id)
        {
            self.events.push(event);
        }
        Ok(())
    }
}

fn to_sdk_event(event: &Event) -> Result<sdk::Event, NetError> {
    sdk::Event::from_json(event.as_json()).map_err(|_| NetError::Conversion)
}

fn from_sdk_event(event: &sdk::Event) -> Result<Event, NetError> {
    Event::from_json(event.as_json()).map_err(|_| NetError::Conversion)
}

fn to_sdk_filter(filter: &Filter) -> Result<sdk::Filter, NetError> {
    sdk::Filter::from_json(filter.as_json()).map_err(|_| NetError::Conversion)
}

fn relay_error(error: RelayError) -> NetError {
    use RelayError as E;
    match error {
        E::Timeout => NetError::Timeout,
        E::AuthenticationFailed => auth_rejected(),
        E::NotConnected | E::PrematureExit | E::ReceivedShutdown | E::TerminationRequest => {
            NetError::Disconnected
        }
        e => NetError::Relay(e.to_string()),
    }
}

fn auth_rejected() -> NetError {
    NetError::AuthFailed("the relay did not accept our AUTH event".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag};

    use super::*;

    fn sdk_note(keys: &sdk::Keys, content: &str) -> sdk::Event {
        sdk::EventBuilder::text_note(content)
            .sign_with_keys(keys)
            .unwrap()
    }

    #[test]
    fn fetched_events_are_kept_once_and_only_when_their_id_holds() {
        let keys = sdk::Keys::generate();
        let first = sdk_note(&keys, "first");
        // Content changed after signing: the id no longer matches what was verified.
        let mut altered = sdk_note(&keys, "genuine");
        altered.content = "altered".to_owned();

        let mut state = FetchState::default();
        state.add(&first).unwrap();
        state.add(&first).unwrap();
        state.add(&altered).unwrap();
        assert_eq!(state.events.len(), 1);
        assert_eq!(state.events[0].event().as_json(), first.as_json());
    }

    #[test]
    fn filters_and_events_survive_the_crossing() {
        let identity = Identity::generate();
        let filter = Filter::new()
            .author(identity.public_key())
            .pubkey(identity.public_key())
            .kinds([Kind::TextNote, Kind::Custom(2100)])
            .limit(7);
        let converted = to_sdk_filter(&filter).unwrap();
        assert_eq!(converted.as_json(), filter.as_json());

        let event = EventBuilder::new(Kind::TextNote, "crossing")
            .tags([Tag::public_key(identity.public_key())])
            .finalize(identity.keys())
            .unwrap();
        let back = from_sdk_event(&to_sdk_event(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }
}
