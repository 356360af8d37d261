//! The soak's clients: well-behaved ones that publish and read at a steady rate, a slow reader
//! that never reads, one that sends oversized messages, and the final check that every
//! accepted event is on the relay.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio::time::{Instant as Deadline, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::Stats;

/// The kind the soak publishes (a practice kind, so no per-author quota applies).
pub const KIND: u16 = 2113;
/// How long a connect, an AUTH or one query may take.
const STEP: Duration = Duration::from_secs(30);

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one steady client does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub keys: Keys,
    /// The patient its events name.
    pub writes_for: PublicKey,
    /// The patient its live subscription follows.
    pub follows: PublicKey,
    pub publish_every: Duration,
    pub req_every: Duration,
    pub content: String,
    /// Stop sending then; stop waiting for answers `STEP` later.
    pub deadline: Deadline,
}

fn at(value: &Value, i: usize) -> &Value {
    value.get(i).unwrap_or(&Value::Null)
}

async fn send(ws: &mut Ws, value: Value) -> anyhow::Result<()> {
    ws.send(Message::Text(value.to_string().into())).await?;
    Ok(())
}

/// The next text frame as JSON, within `STEP`.
async fn next_json(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match tokio::time::timeout(STEP, ws.next()).await {
            Err(_) => bail!("timed out"),
            Ok(None) => bail!("connection closed"),
            Ok(Some(message)) => {
                if let Message::Text(text) = message? {
                    return Ok(serde_json::from_str(text.as_str())?);
                }
            }
        }
    }
}

/// Connect and answer the relay's NIP-42 challenge.
pub async fn connect(url: &str, keys: &Keys) -> anyhow::Result<Ws> {
    let connecting = tokio_tungstenite::connect_async_with_config(url, None, true);
    let (mut ws, _) = tokio::time::timeout(STEP, connecting)
        .await
        .context("connect timed out")??;
    let challenge = loop {
        let value = next_json(&mut ws).await?;
        if at(&value, 0) == "AUTH" {
            break at(&value, 1).as_str().context("challenge")?.to_owned();
        }
    };
    let event = EventBuilder::new(Kind::Authentication, "")
        .tags([
            Tag::custom("relay", [url]),
            Tag::custom("challenge", [challenge]),
        ])
        .finalize(keys)?;
    send(&mut ws, json!(["AUTH", event])).await?;
    loop {
        let value = next_json(&mut ws).await?;
        if at(&value, 0) == "OK" {
            if at(&value, 2) != true {
                bail!("AUTH refused: {}", at(&value, 3));
            }
            return Ok(ws);
        }
    }
}

/// One steady client on `ws` until the plan's deadline, then until its last OK (or `STEP`).
pub async fn steady(mut ws: Ws, plan: Plan, stats: Arc<Stats>, seed: u64) -> anyhow::Result<()> {
    let live = json!({"kinds": [KIND], "#p": [plan.follows.to_hex()], "since": Timestamp::now()});
    send(&mut ws, json!(["REQ", "live", live])).await?;
    // Spread the clients' ticks over the period, so the load is steady rather than in waves.
    let phase = |every: Duration| Deadline::now() + every.mul_f64((seed % 1000) as f64 / 1000.0);
    let mut publish = tokio::time::interval_at(phase(plan.publish_every), plan.publish_every);
    let mut read = tokio::time::interval_at(phase(plan.req_every), plan.req_every);
    // A late tick is not made up with a burst: the rate stays steady.
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    read.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: HashMap<EventId, Instant> = HashMap::new();
    let mut query: Option<(String, Instant)> = None;
    let mut seq = 0u64;
    let give_up = plan.deadline + STEP;
    loop {
        let sending = Deadline::now() < plan.deadline;
        if !sending && pending.is_empty() {
            break;
        }
        tokio::select! {
            // Wake at the deadline, so no client sends past it or waits a period more.
            _ = sleep_until(plan.deadline), if sending => {}
            _ = publish.tick(), if sending => {
                if Deadline::now() >= plan.deadline {
                    continue;
                }
                seq += 1;
                let event = EventBuilder::new(Kind::from(KIND), format!("{}{seed}-{seq}", plan.content))
                    .tags([Tag::public_key(plan.writes_for), Tag::custom("v", ["1"])])
                    .finalize(&plan.keys)?;
                pending.insert(event.id, Instant::now());
                stats.sent();
                send(&mut ws, json!(["EVENT", event])).await?;
            }
            _ = read.tick(), if sending && query.is_none() => {
                let sub = format!("q{seq}");
                let filter = json!({"kinds": [KIND], "#p": [plan.follows.to_hex()], "limit": 10});
                send(&mut ws, json!(["REQ", sub, filter])).await?;
                query = Some((sub, Instant::now()));
            }
            message = ws.next() => {
                let Some(message) = message else { bail!("the relay closed the connection") };
                let Message::Text(text) = message? else { continue };
                let value: Value = serde_json::from_str(text.as_str())?;
                answer(&mut ws, &value, &mut pending, &mut query, &stats).await?;
            }
            _ = sleep_until(give_up) => {
                stats.unanswered(pending.len());
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// Take one relay message of a steady client.
async fn answer(
    ws: &mut Ws,
    value: &Value,
    pending: &mut HashMap<EventId, Instant>,
    query: &mut Option<(String, Instant)>,
    stats: &Stats,
) -> anyhow::Result<()> {
    let sub = at(value, 1).as_str().unwrap_or_default();
    match at(value, 0).as_str().unwrap_or_default() {
        "OK" => {
            let id = EventId::from_hex(sub)?;
            if let Some(sent) = pending.remove(&id) {
                stats.ok(id, at(value, 2) == true, sent.elapsed());
            }
        }
        "EVENT" if sub == "live" => stats.live(),
        "EOSE" if query.as_ref().is_some_and(|(q, _)| q == sub) => {
            if let Some((_, started)) = query.take() {
                stats.read(started.elapsed());
            }
            send(ws, json!(["CLOSE", sub])).await?;
        }
        "CLOSED" => stats.closed(),
        "NOTICE" => stats.notice(),
        _ => {}
    }
    Ok(())
}

/// A client that subscribes to every soak event and never reads; every 2 s it also asks for
/// all of them again (limit 5,000), so its queue fills within a short run. The relay must cut it
/// off without slowing anyone else. Returns what it found when it finally read: how many
/// messages were queued, and whether its subscription was CLOSED or the connection ended.
pub async fn slow_reader(url: &str, keys: &Keys, deadline: Deadline) -> anyhow::Result<String> {
    let mut ws = connect(url, keys).await?;
    send(&mut ws, json!(["REQ", "all", {"kinds": [KIND]}])).await?;
    let mut asks = 0u64;
    while Deadline::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let dump = json!(["REQ", "dump", {"kinds": [KIND], "limit": 5000}]);
        // The relay stops reading a client it cannot write to: then this send waits; stop asking.
        match tokio::time::timeout(Duration::from_secs(1), send(&mut ws, dump)).await {
            Ok(Ok(())) => asks += 1,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    sleep_until(deadline).await;
    let (mut messages, mut closed_sub) = (0u64, false);
    let drained = Deadline::now() + Duration::from_secs(10);
    let ended = loop {
        match tokio::time::timeout_at(drained, ws.next()).await {
            Err(_) => break false,
            Ok(None | Some(Err(_))) => break true,
            Ok(Some(Ok(Message::Text(text)))) => {
                messages += 1;
                closed_sub |= text.as_str().starts_with("[\"CLOSED\"");
            }
            Ok(Some(Ok(Message::Close(_)))) => break true,
            Ok(Some(Ok(_))) => {}
        }
    };
    Ok(format!(
        "{asks} full REQs sent unread; at the end {messages} messages were left to read, subscription CLOSED: {closed_sub}, connection ended by the relay: {ended}"
    ))
}

/// What the oversized client saw.
#[derive(Debug, Default)]
pub struct Oversized {
    /// Events over the limit answered `OK false`.
    pub refused: u64,
    /// Messages over the frame limit that ended the connection.
    pub dropped: u64,
    /// Anything else (accepted, no answer).
    pub unexpected: u64,
}

/// Every 10 s until the deadline: an event twice the event limit (expects `OK false`), then a
/// message five times it (expects the relay to end the connection).
pub async fn oversized(
    url: &str,
    keys: &Keys,
    max_event_bytes: usize,
    deadline: Deadline,
) -> anyhow::Result<Oversized> {
    let mut seen = Oversized::default();
    while Deadline::now() < deadline {
        let mut ws = connect(url, keys).await?;
        let big =
            EventBuilder::new(Kind::from(KIND), "x".repeat(2 * max_event_bytes)).finalize(keys)?;
        send(&mut ws, json!(["EVENT", big])).await?;
        let refused = loop {
            let value = next_json(&mut ws).await?;
            if at(&value, 0) == "OK" {
                break at(&value, 2) == false;
            }
        };
        if refused {
            seen.refused += 1;
        } else {
            seen.unexpected += 1;
        }
        let huge = "y".repeat(5 * max_event_bytes);
        // The relay may already be closing: a failed send is the expected end too.
        let dropped = match send(&mut ws, json!(["EVENT", huge])).await {
            Err(_) => true,
            Ok(()) => next_json(&mut ws).await.is_err(),
        };
        if dropped {
            seen.dropped += 1;
        } else {
            seen.unexpected += 1;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    Ok(seen)
}

/// The ids of `accepted` the relay does not return, asked for 200 at a time.
pub async fn missing(url: &str, keys: &Keys, accepted: &[EventId]) -> anyhow::Result<usize> {
    let mut ws = connect(url, keys).await?;
    let mut missing = 0;
    for (n, chunk) in accepted.chunks(200).enumerate() {
        let sub = format!("check{n}");
        let ids: Vec<String> = chunk.iter().map(EventId::to_hex).collect();
        send(
            &mut ws,
            json!(["REQ", sub, {"ids": ids, "limit": chunk.len()}]),
        )
        .await?;
        let mut found = BTreeSet::new();
        loop {
            let value = next_json(&mut ws).await?;
            match at(&value, 0).as_str() {
                Some("EVENT") => {
                    if let Some(id) = at(&value, 2).get("id").and_then(Value::as_str) {
                        found.insert(EventId::from_hex(id)?);
                    }
                }
                Some("EOSE") => break,
                Some("CLOSED") => bail!("the check's REQ was refused: {}", at(&value, 2)),
                _ => {}
            }
        }
        missing += chunk.iter().filter(|id| !found.contains(id)).count();
        send(&mut ws, json!(["CLOSE", sub])).await?;
    }
    Ok(missing)
}
