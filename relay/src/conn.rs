//! One WebSocket connection: NIP-01 messages, NIP-42 AUTH, NIP-45 COUNT and NIP-77 negentropy,
//! with the role rules of [`crate::access`] applied to every event read, counted or delivered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use nostr::prelude::{ClientMessage, Event, EventId, Filter, PublicKey, SubscriptionId, Timestamp};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::RelayState;
use crate::access::ReadScope;
use crate::admission;
use crate::error::Reject;
use crate::hub::LiveEvent;
use crate::negentropy::NegSessions;
use crate::store::{WriteOutcome, row_visible};

/// Writes one connection may have waiting for their commit before it stops reading.
const MAX_IN_FLIGHT: usize = 512;
/// Messages queued for the socket before a slow reader is dropped.
const OUTBOX: usize = 1024;
/// How long a cached read scope is trusted without a change of members (roster validity
/// intervals end with time, not with an event).
const SCOPE_TTL: Duration = Duration::from_secs(5);

type Ack = Pin<
    Box<
        dyn Future<
                Output = (
                    EventId,
                    Result<Result<WriteOutcome, Reject>, oneshot::error::RecvError>,
                ),
            > + Send,
    >,
>;

/// Per-connection state.
struct Conn {
    relay: Arc<RelayState>,
    ip: IpAddr,
    out: mpsc::Sender<Vec<Message>>,
    challenge: String,
    authed: Option<PublicKey>,
    subs: HashMap<String, Vec<Filter>>,
    scope: Option<(u64, Instant, Result<ReadScope, Reject>)>,
    neg: NegSessions,
    window: (Instant, u32),
    /// Set when the connection must close (a slow reader whose CLOSED could not be queued).
    hang_up: bool,
}

/// Serve one WebSocket until it closes or the relay shuts down.
pub async fn run(socket: WebSocket, relay: Arc<RelayState>, ip: IpAddr) {
    let _counted = crate::metrics::connection_opened();
    let (mut sink, mut stream) = socket.split();
    // Items are batches: a REQ answer of 1,000 events is one item, written with one flush.
    let (out, mut outbox) = mpsc::channel::<Vec<Message>>(OUTBOX);
    let sender = tokio::spawn(async move {
        while let Some(batch) = outbox.recv().await {
            for message in batch
                .into_iter()
                .chain(std::iter::from_fn(|| outbox.try_recv().ok()).flatten())
            {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut live = relay.hub.subscribe();
    let mut shutdown = relay.shutdown.clone();
    let mut conn = Conn {
        challenge: random_challenge(),
        relay,
        ip,
        out,
        authed: None,
        subs: HashMap::new(),
        scope: None,
        neg: NegSessions::default(),
        window: (Instant::now(), 0),
        hang_up: false,
    };
    let challenge = serde_json::json!(["AUTH", conn.challenge]).to_string();
    conn.send(challenge).await;
    let mut acks: FuturesUnordered<Ack> = FuturesUnordered::new();
    loop {
        tokio::select! {
            message = stream.next(), if acks.len() < MAX_IN_FLIGHT => match message {
                Some(Ok(Message::Text(text))) => conn.on_text(text.as_str(), &mut acks).await,
                Some(Ok(Message::Binary(_))) => {
                    conn.notice(&Reject::invalid("binary messages are not part of NIP-01")).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            Some((id, outcome)) = acks.next(), if !acks.is_empty() => {
                let outcome = outcome.unwrap_or_else(|_| Err(Reject::error("the relay is shutting down")));
                conn.ack(id, outcome).await;
            }
            live_event = live.recv() => match live_event {
                Ok(event) => conn.on_live(&event),
                Err(broadcast::error::RecvError::Lagged(_)) => conn.drop_subscriptions("error: live delivery fell behind; subscribe again"),
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = shutdown.changed() => {
                // Every subscription learns it ended, rather than waiting on a silent socket.
                conn.drop_subscriptions("error: the relay is shutting down");
                break;
            }
        }
        if conn.hang_up || conn.out.is_closed() {
            break;
        }
    }
    // Acknowledge what is still committing, so no client waits for an OK that never comes.
    while let Some((id, outcome)) = acks.next().await {
        let outcome = outcome.unwrap_or_else(|_| Err(Reject::error("the relay is shutting down")));
        conn.ack(id, outcome).await;
    }
    drop(conn);
    let _ = sender.await;
}

fn random_challenge() -> String {
    let mut bytes = [0u8; 16];
    // The OS RNG failing leaves the zero challenge: still unique per AUTH event id check.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

impl Conn {
    async fn send(&self, text: String) {
        let _ = self.out.send(vec![Message::Text(text.into())]).await;
    }

    async fn notice(&self, reject: &Reject) {
        self.send(serde_json::json!(["NOTICE", reject.wire()]).to_string())
            .await;
    }

    async fn ok(&self, id: EventId, accepted: bool, message: &str) {
        self.send(serde_json::json!(["OK", id.to_hex(), accepted, message]).to_string())
            .await;
    }

    async fn closed(&self, sub: &str, reject: &Reject) {
        self.send(serde_json::json!(["CLOSED", sub, reject.wire()]).to_string())
            .await;
    }

    async fn ack(&self, id: EventId, outcome: Result<WriteOutcome, Reject>) {
        match outcome {
            Ok(WriteOutcome::Stored) => self.ok(id, true, "").await,
            Ok(WriteOutcome::Duplicate(why)) => {
                self.ok(id, true, &Reject::duplicate(why).wire()).await
            }
            Ok(WriteOutcome::Refused(reject)) | Err(reject) => {
                self.ok(id, false, &reject.wire()).await
            }
        }
    }

    fn over_rate(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window.0) >= Duration::from_secs(60) {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        self.window.1 > self.relay.config.limits.messages_per_minute
    }

    /// The reader's scope, recomputed when members changed or it grew old.
    fn scope(&mut self) -> Result<ReadScope, Reject> {
        let Some(reader) = self.authed else {
            return Err(Reject::auth_required(
                "authenticate (NIP-42) to read from this relay",
            ));
        };
        let access = self.relay.hub.access();
        let generation = access.generation();
        if let Some((g, at, scope)) = &self.scope
            && *g == generation
            && at.elapsed() < SCOPE_TTL
        {
            return scope.clone();
        }
        let scope = access.read_scope(&reader, Timestamp::now());
        drop(access);
        self.scope = Some((generation, Instant::now(), scope.clone()));
        scope
    }

    async fn on_text(&mut self, text: &str, acks: &mut FuturesUnordered<Ack>) {
        if self.over_rate() {
            return self.rate_limited(text).await;
        }
        let message = match ClientMessage::from_json(text) {
            Ok(message) => message,
            Err(_) => return self.malformed(text).await,
        };
        match message {
            ClientMessage::Event(event) => self.on_event(event.into_owned(), acks).await,
            ClientMessage::Req {
                subscription_id,
                filters,
            } => {
                let filters = filters.into_iter().map(|f| f.into_owned()).collect();
                self.on_req(subscription_id.into_owned(), filters).await;
            }
            ClientMessage::Count {
                subscription_id,
                filter,
            } => {
                self.on_count(subscription_id.into_owned(), filter.into_owned())
                    .await;
            }
            ClientMessage::Close(id) => {
                self.subs.remove(id.as_str());
            }
            ClientMessage::Auth(event) => self.on_auth(event.into_owned()).await,
            ClientMessage::NegOpen {
                subscription_id,
                filter,
                initial_message,
            } => {
                let reply = self
                    .neg_open(
                        subscription_id.as_str(),
                        filter.into_owned(),
                        &initial_message,
                    )
                    .await;
                self.send(reply).await;
            }
            ClientMessage::NegMsg {
                subscription_id,
                message,
            } => {
                // A revocation or ban ends open sessions too.
                let reply = match self.scope() {
                    Ok(_) => self.neg.message(subscription_id.as_str(), &message),
                    Err(reject) => {
                        self.neg.close(subscription_id.as_str());
                        crate::negentropy::neg_err(subscription_id.as_str(), &reject)
                    }
                };
                self.send(reply).await;
            }
            ClientMessage::NegClose { subscription_id } => self.neg.close(subscription_id.as_str()),
        }
    }

    /// Refuse a message over the rate in the form its verb expects: every EVENT gets its `OK`,
    /// every REQ and COUNT its `CLOSED`.
    async fn rate_limited(&self, text: &str) {
        const SLOW_DOWN: Reject = Reject::rate_limited("too many messages; slow down");
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        match (value.get(0).and_then(|v| v.as_str()), value.get(1)) {
            (Some("REQ" | "COUNT"), Some(sub)) if sub.is_string() => {
                self.closed(sub.as_str().unwrap_or_default(), &SLOW_DOWN)
                    .await;
            }
            (Some("EVENT"), _) => match event_id_in(text) {
                Some(id) => self.ok(id, false, &SLOW_DOWN.wire()).await,
                None => self.notice(&SLOW_DOWN).await,
            },
            _ => self.notice(&SLOW_DOWN).await,
        }
    }

    /// Answer a message that did not parse in the form its verb expects: an `OK false` for an
    /// event whose id can be found, a `CLOSED` for a subscription, a `NOTICE` otherwise.
    async fn malformed(&self, text: &str) {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let verb = value.get(0).and_then(|v| v.as_str());
        if let (Some("REQ" | "COUNT"), Some(sub)) = (verb, value.get(1).and_then(|v| v.as_str())) {
            return self.closed(sub, &Reject::invalid("malformed filter")).await;
        }
        if text.trim_start().starts_with("[\"EVENT\"")
            && let Some(id) = event_id_in(text)
        {
            return self
                .ok(id, false, &Reject::invalid("malformed event").wire())
                .await;
        }
        self.notice(&Reject::invalid(
            "could not parse the message as NIP-01 JSON",
        ))
        .await;
    }

    async fn on_auth(&mut self, event: Event) {
        let id = event.id;
        match admission::check_auth(&event, &self.challenge, &self.relay.ws_url) {
            Ok(()) => {
                let roles = self
                    .relay
                    .hub
                    .access()
                    .roles(&event.pubkey, Timestamp::now());
                self.authed = Some(event.pubkey);
                self.scope = None;
                if roles.banned {
                    self.ok(
                        id,
                        false,
                        &Reject::blocked("this key is banned from the relay").wire(),
                    )
                    .await;
                } else {
                    self.ok(id, true, "").await;
                }
            }
            Err(reject) => self.ok(id, false, &reject.wire()).await,
        }
    }

    async fn on_event(&mut self, event: Event, acks: &mut FuturesUnordered<Ack>) {
        let id = event.id;
        let raw = event.as_json();
        let now = Timestamp::now();
        if let Err(reject) =
            admission::check_event(&self.relay, self.authed, self.ip, &event, &raw, now)
        {
            return self.ok(id, false, &reject.wire()).await;
        }
        if event.kind.is_ephemeral() {
            return match self.relay.publish_ephemeral(event, raw, now).await {
                Ok(()) => self.ok(id, true, "").await,
                Err(error) => self.ok(id, false, &Reject::from(&error).wire()).await,
            };
        }
        let barrier = crate::access::changes_access(event.kind.as_u16());
        match self.relay.writer.submit(event, raw, now).await {
            Ok(done) if barrier => {
                // Rosters and guardianships change who may do what: later messages on this
                // connection are judged after they commit.
                let outcome = done
                    .await
                    .unwrap_or_else(|_| Err(Reject::error("the relay is shutting down")));
                self.ack(id, outcome).await;
            }
            Ok(done) => acks.push(Box::pin(async move { (id, done.await) })),
            Err(error) => self.ok(id, false, &Reject::from(&error).wire()).await,
        }
    }

    async fn on_req(&mut self, sub: SubscriptionId, filters: Vec<Filter>) {
        let sub_id = sub.as_str().to_owned();
        let scope = match self.scope() {
            Ok(scope) => Some(scope),
            // A key that is not a member (a portal's NIP-46 client, a remote signer) may wait
            // for signer messages addressed to it, and nothing else.
            Err(_) if self.may_wait_for_signer_messages(&filters) => None,
            Err(reject) => return self.closed(&sub_id, &reject).await,
        };
        let limits = &self.relay.config.limits;
        if filters.len() > limits.max_filters {
            return self
                .closed(&sub_id, &Reject::invalid("too many filters in one REQ"))
                .await;
        }
        if filters.iter().any(|f| f.search.is_some()) {
            return self
                .closed(
                    &sub_id,
                    &Reject::invalid("search (NIP-50) is not supported"),
                )
                .await;
        }
        if !self.subs.contains_key(&sub_id) && self.subs.len() >= limits.max_subscriptions {
            return self
                .closed(&sub_id, &Reject::restricted("too many open subscriptions"))
                .await;
        }
        // Subscribe before querying: what commits meanwhile arrives live, after EOSE.
        self.subs.insert(sub_id.clone(), filters.clone());
        let prefix = format!("[\"EVENT\",{},", serde_json::Value::String(sub_id.clone()));
        let now = Timestamp::now();
        let max_limit = limits.max_limit;
        // Signer messages are never stored: nothing to query.
        let Some(scope) = scope else {
            return self
                .send(serde_json::json!(["EOSE", sub_id]).to_string())
                .await;
        };
        for filter in &filters {
            let limit = filter.limit.map_or(max_limit, |l| l.min(max_limit));
            if limit == 0 {
                continue;
            }
            match self
                .relay
                .hub
                .store()
                .query(filter, &scope, limit, now)
                .await
            {
                Ok(rows) => {
                    let batch: Vec<Message> = rows
                        .iter()
                        .filter(|row| row_visible(&scope, row))
                        .map(|row| Message::Text(format!("{prefix}{}]", row.raw).into()))
                        .collect();
                    if !batch.is_empty() {
                        let _ = self.out.send(batch).await;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "query failed");
                    self.subs.remove(&sub_id);
                    return self.closed(&sub_id, &Reject::from(&error)).await;
                }
            }
        }
        self.send(serde_json::json!(["EOSE", sub_id]).to_string())
            .await;
    }

    async fn on_count(&mut self, sub: SubscriptionId, filter: Filter) {
        let sub_id = sub.as_str();
        let scope = match self.scope() {
            Ok(scope) => scope,
            Err(reject) => return self.closed(sub_id, &reject).await,
        };
        match self
            .relay
            .hub
            .store()
            .count(&filter, &scope, Timestamp::now())
            .await
        {
            Ok(count) => {
                self.send(serde_json::json!(["COUNT", sub_id, {"count": count}]).to_string())
                    .await
            }
            Err(error) => self.closed(sub_id, &Reject::from(&error)).await,
        }
    }

    async fn neg_open(&mut self, sub: &str, filter: Filter, initial: &str) -> String {
        let scope = match self.scope() {
            Ok(scope) => scope,
            Err(reject) => return crate::negentropy::neg_err(sub, &reject),
        };
        let cap = self
            .relay
            .config
            .limits
            .max_limit
            .max(crate::negentropy::MAX_ITEMS);
        let max_sessions = self.relay.config.limits.max_subscriptions;
        match self
            .relay
            .hub
            .store()
            .fingerprints(&filter, &scope, cap, Timestamp::now())
            .await
        {
            Ok(items) => self.neg.open(sub, items, initial, max_sessions),
            Err(error) => crate::negentropy::neg_err(sub, &Reject::from(&error)),
        }
    }

    /// Whether the authenticated key is banned now.
    fn banned(&self) -> bool {
        self.authed
            .is_some_and(|key| self.relay.hub.access().roles(&key, Timestamp::now()).banned)
    }

    /// Whether this connection, authenticated and not banned, asks only for signer messages.
    fn may_wait_for_signer_messages(&self, filters: &[Filter]) -> bool {
        self.authed.is_some()
            && !self.banned()
            && crate::signer_messages::only_signer_messages(filters)
    }

    /// Deliver a committed event to the subscriptions it matches and the reader may see.
    fn on_live(&mut self, live: &LiveEvent) {
        if self.subs.is_empty() {
            return;
        }
        if crate::signer_messages::is_signer_message(&live.event) {
            if crate::signer_messages::addressed_to(&live.event, self.authed.as_ref())
                && !self.banned()
            {
                self.deliver(live);
            }
            return;
        }
        let Ok(scope) = self.scope() else {
            // Access ended (revoked, banned): live delivery stops with it.
            return self
                .drop_subscriptions("restricted: this key may no longer read from this relay");
        };
        if !scope.allows(&live.event) {
            return;
        }
        self.deliver(live);
    }

    /// Send `live` to the subscriptions it matches (the reader may see it).
    fn deliver(&mut self, live: &LiveEvent) {
        let options = nostr::filter::MatchEventOptions::new();
        let now = Timestamp::now();
        if live.event.is_expired_at(now) {
            return;
        }
        let mut overflow = false;
        for (sub, filters) in &self.subs {
            if filters.iter().any(|f| f.match_event(&live.event, options)) {
                let message = format!(
                    "[\"EVENT\",{},{}]",
                    serde_json::Value::String(sub.clone()),
                    live.raw
                );
                overflow |= self
                    .out
                    .try_send(vec![Message::Text(message.into())])
                    .is_err();
            }
        }
        if overflow {
            self.drop_subscriptions("error: the connection reads too slowly; subscribe again");
        }
    }

    /// End every subscription with a CLOSED (best effort: the outbox may be full).
    fn drop_subscriptions(&mut self, reason: &str) {
        let closing: Vec<Message> = std::mem::take(&mut self.subs)
            .into_keys()
            .map(|sub| {
                Message::Text(
                    serde_json::json!(["CLOSED", sub, reason])
                        .to_string()
                        .into(),
                )
            })
            .collect();
        if !closing.is_empty() && self.out.try_send(closing).is_err() {
            // The client would never learn its subscriptions ended: end the connection instead.
            self.hang_up = true;
        }
    }
}

/// The event id of an EVENT message that is not valid JSON, so the client still gets its `OK`.
fn event_id_in(text: &str) -> Option<EventId> {
    let start = text.find("\"id\"")? + 4;
    let rest = text
        .get(start..)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    EventId::from_hex(rest.get(..64)?).ok()
}
