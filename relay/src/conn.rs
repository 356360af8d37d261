//! One WebSocket connection: NIP-01 messages, NIP-42 AUTH, NIP-45 COUNT and NIP-77 negentropy,
//! with the role rules of [`crate::access`] applied to every event read, counted or delivered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use nostr::prelude::{ClientMessage, Event, EventId, Filter, PublicKey, SubscriptionId, Timestamp};
use serde_json::json;
use tokio::sync::{broadcast, oneshot};

use crate::RelayState;
use crate::access::ReadScope;
use crate::admission::{self, Admitted};
use crate::error::Reject;
use crate::hub::LiveEvent;
use crate::keepalive::{self, Beat, Keepalive};
use crate::negentropy::NegSessions;
use crate::outbox::{self, Batch, Outbox};
use crate::store::WriteOutcome;

/// Writes one connection may have waiting for their commit before it stops reading.
const MAX_IN_FLIGHT: usize = 512;
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
    out: Outbox,
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
    let _counted = ehr_service::metrics::connection_opened();
    let (sink, mut stream) = socket.split();
    let stall = Duration::from_secs(relay.config.limits.idle_timeout_seconds);
    let (out, pipe) = Outbox::new(relay.config.limits.max_outbound_bytes, stall);
    let mut sender = tokio::spawn(outbox::drain(sink, pipe));
    let challenge = match admission::new_challenge(getrandom::fill) {
        Ok(challenge) => challenge,
        Err(error) => {
            // A predictable challenge would let a captured AUTH event be replayed: no AUTH,
            // no connection.
            tracing::error!(%error, "the OS RNG failed; closing the connection");
            let notice = Reject::error("the relay cannot authenticate connections now");
            let notice = json!(["NOTICE", notice.wire()]).to_string();
            let _ = out.send(vec![Message::Text(notice.into())]).await;
            drop(out);
            let _ = sender.await;
            return;
        }
    };
    let mut live = relay.hub.subscribe();
    let mut shutdown = relay.shutdown.clone();
    let mut conn = Conn {
        challenge,
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
    let challenge = json!(["AUTH", conn.challenge]).to_string();
    conn.send(challenge).await;
    let mut acks: FuturesUnordered<Ack> = FuturesUnordered::new();
    let idle_after = Duration::from_secs(conn.relay.config.limits.idle_timeout_seconds);
    let mut keepalive = Keepalive::new(idle_after);
    loop {
        tokio::select! {
            message = stream.next(), if acks.len() < MAX_IN_FLIGHT => match keepalive.heard(message) {
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
            _ = tokio::time::sleep_until(keepalive.next_beat()) => match keepalive.beat() {
                // Best effort: a client whose outbox is full is not idle, it reads slowly.
                Beat::Ping => { let _ = conn.out.try_send(vec![keepalive::ping()]); }
                // Writes still committing: the client may be waiting on the relay, not gone.
                Beat::Idle if !acks.is_empty() => {}
                Beat::Idle => {
                    conn.notice(&keepalive::IDLE).await;
                    break;
                }
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
    // A client that stopped reading is cut off; any other gets a moment to take what is queued.
    let grace = if conn.out.is_closed() {
        Duration::ZERO
    } else {
        stall
    };
    drop(conn);
    if tokio::time::timeout(grace, &mut sender).await.is_err() {
        sender.abort();
    }
}

impl Conn {
    async fn send(&self, text: String) {
        let _ = self.out.send(vec![Message::Text(text.into())]).await;
    }

    async fn notice(&self, reject: &Reject) {
        self.send(json!(["NOTICE", reject.wire()]).to_string())
            .await;
    }

    async fn ok(&self, id: EventId, accepted: bool, message: &str) {
        self.send(json!(["OK", id.to_hex(), accepted, message]).to_string())
            .await;
    }

    async fn closed(&self, sub: &str, reject: &Reject) {
        self.send(json!(["CLOSED", sub, reject.wire()]).to_string())
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
        let admitted =
            match admission::check_event(&self.relay, self.authed, self.ip, &event, &raw, now) {
                Ok(admitted) => admitted,
                Err(reject) => return self.ok(id, false, &reject.wire()).await,
            };
        if admitted == Admitted::Drop {
            return self.ok(id, true, "").await;
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
            Ok(done) if admitted == Admitted::Quietly => acks.push(Box::pin(async move {
                // Stored, already stored or refused: one answer, so it tells nothing.
                let outcome = done.await.map(|o| o.map(|_| WriteOutcome::Stored));
                (id, outcome)
            })),
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
        let max_limit = limits.max_limit;
        // Signer messages are never stored: nothing to query.
        let Some(scope) = scope else {
            return self.send(json!(["EOSE", sub_id]).to_string()).await;
        };
        let mut batch = Batch::default();
        for filter in &filters {
            let limit = filter.limit.map_or(max_limit, |l| l.min(max_limit));
            if limit == 0 {
                continue;
            }
            let store = self.relay.hub.store();
            let sent =
                outbox::send_stored(&self.out, store, filter, &scope, limit, &prefix, &mut batch);
            if let Err(error) = sent.await {
                if let Some(error) = error {
                    tracing::error!(%error, "query failed");
                    self.subs.remove(&sub_id);
                    self.closed(&sub_id, &Reject::from(&error)).await;
                }
                return;
            }
        }
        batch.push(json!(["EOSE", sub_id]).to_string());
        let _ = self.out.send(batch.into_messages()).await;
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
                self.send(json!(["COUNT", sub_id, {"count": count}]).to_string())
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
            // Access ended (revoked, banned): live delivery stops with it. A key that is not a
            // member (a portal's client, a signer) keeps waiting for its signer messages.
            return self.drop_readable_subscriptions();
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
            if filters
                .iter()
                .any(|f| matches_live(f, &live.event, options))
            {
                let message = format!(
                    "[\"EVENT\",{},{}]",
                    serde_json::Value::String(sub.clone()),
                    live.raw
                );
                // Live events never wait: no budget left ends the subscriptions below.
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

    /// End the subscriptions of a key that may not read: all of them when it is banned, else
    /// those that ask for more than signer messages.
    fn drop_readable_subscriptions(&mut self) {
        let banned = self.banned();
        let ended: Vec<String> = (self.subs.iter())
            .filter(|(_, f)| banned || !crate::signer_messages::only_signer_messages(f))
            .map(|(sub, _)| sub.clone())
            .collect();
        let reason = "restricted: this key may no longer read from this relay";
        self.close_subscriptions(ended, reason);
    }

    /// End every subscription with a CLOSED.
    fn drop_subscriptions(&mut self, reason: &str) {
        let all: Vec<String> = self.subs.keys().cloned().collect();
        self.close_subscriptions(all, reason);
    }

    /// End `subs` with a CLOSED each (best effort: the outbox may be full).
    fn close_subscriptions(&mut self, subs: Vec<String>, reason: &str) {
        let closing: Vec<Message> = (subs.into_iter())
            .filter_map(|sub| self.subs.remove_entry(&sub))
            .map(|(sub, _)| Message::Text(json!(["CLOSED", sub, reason]).to_string().into()))
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

/// Whether a live event matches `filter` as the stored query would: an empty `ids`, `authors`
/// or `kinds` list matches nothing there (it becomes `IN ()`), so it matches nothing live
/// either, where `Filter::match_event` would take it as no condition at all.
fn matches_live(filter: &Filter, event: &Event, options: nostr::filter::MatchEventOptions) -> bool {
    let empty = |set: Option<usize>| set == Some(0);
    if empty(filter.ids.as_ref().map(|s| s.len()))
        || empty(filter.authors.as_ref().map(|s| s.len()))
        || empty(filter.kinds.as_ref().map(|s| s.len()))
    {
        return false;
    }
    filter.match_event(event, options)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind};

    use super::*;

    fn note() -> Event {
        EventBuilder::new(Kind::TextNote, "hello")
            .finalize(&Keys::generate())
            .unwrap()
    }

    #[test]
    fn an_empty_kinds_list_matches_no_live_event_as_it_matches_no_stored_one() {
        let options = nostr::filter::MatchEventOptions::new();
        let event = note();
        let empty: Filter = serde_json::from_str(r#"{"kinds":[]}"#).unwrap();
        assert!(!matches_live(&empty, &event, options));
        let no_authors: Filter = serde_json::from_str(r#"{"authors":[]}"#).unwrap();
        assert!(!matches_live(&no_authors, &event, options));
        assert!(matches_live(&Filter::new(), &event, options));
    }
}
