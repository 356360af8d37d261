//! `ehr-relay`: the practice relay (DESIGN.md §5).
//!
//! - NIP-01 with NIP-09 (refused for practice kinds), NIP-11, NIP-40, NIP-42 AUTH, NIP-45 COUNT,
//!   NIP-70 and NIP-77 negentropy, on one WebSocket endpoint (module `conn`).
//! - NIP-86 management over NIP-98 on the same URL ([`nip86`]).
//! - Who may read and write what: [`access`], from the roster chain verified with `ehr-client`.
//! - Storage on SQLite or PostgreSQL with group commit ([`store`], [`hub`]).
//!
//! [`serve`] runs the relay on a bound listener until `shutdown` resolves.

pub mod access;
mod admission;
mod client_addr;
pub mod config;
mod conn;
pub mod error;
pub mod hub;
mod keepalive;
pub mod negentropy;
pub mod nip86;
mod outbox;
mod scheduling;
pub mod signer_messages;
pub mod store;
pub mod tools;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use nostr::prelude::{Event, Timestamp};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

use crate::access::Access;
use crate::client_addr::ConnectionSlots;
use crate::config::{Backend, Config};
use crate::hub::{Hub, Writer};
use crate::store::Store;

pub use crate::config::Config as RelayConfig;
pub use crate::error::{Reject, RelayError};

/// NIPs this relay implements, as NIP-11 lists them.
pub const SUPPORTED_NIPS: [u16; 10] = [1, 9, 11, 40, 42, 45, 59, 70, 77, 86];

/// Shared by every request and connection.
#[derive(Debug)]
pub struct RelayState {
    config: Config,
    /// The URL NIP-42 `relay` tags must name.
    ws_url: String,
    hub: Arc<Hub>,
    writer: Writer,
    giftwraps: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// NIP-46 signer messages from non-members, per IP, this minute.
    signer_messages: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Open WebSocket connections per client address.
    connections: Arc<ConnectionSlots>,
    shutdown: watch::Receiver<bool>,
}

impl RelayState {
    /// The URLs a NIP-98 `u` tag may name: the relay URL with an http(s) scheme, with or
    /// without the trailing slash.
    pub fn management_urls(&self) -> [String; 2] {
        let http = if let Some(rest) = self.ws_url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else {
            format!("http://{}", self.ws_url.trim_start_matches("ws://"))
        };
        let bare = http.trim_end_matches('/').to_owned();
        [format!("{bare}/"), bare]
    }

    /// The NIP-11 document.
    pub fn info_document(&self) -> Value {
        let l = &self.config.limits;
        json!({
            "name": self.config.info.name,
            "description": self.config.info.description,
            "pubkey": self.config.practice.to_hex(),
            "contact": self.config.info.contact,
            "supported_nips": SUPPORTED_NIPS,
            "software": "https://github.com/nostr-ehr/nostr-ehr",
            "version": env!("CARGO_PKG_VERSION"),
            "limitation": {
                "max_message_length": l.max_event_bytes + 1024,
                "max_subscriptions": l.max_subscriptions,
                "max_filters": l.max_filters,
                "max_limit": l.max_limit,
                "max_event_tags": l.max_event_tags,
                "max_content_length": l.max_event_bytes,
                "auth_required": true,
                "restricted_writes": true,
                "payment_required": false,
            },
        })
    }

    /// Whether `ip` may send another gift wrap as an unknown key this minute.
    fn giftwrap_allowed(&self, ip: IpAddr) -> bool {
        per_ip_minute(
            &self.giftwraps,
            ip,
            self.config.limits.giftwraps_per_ip_per_minute,
        )
    }

    /// Whether `ip` may send another NIP-46 signer message as a non-member this minute.
    fn signer_message_allowed(&self, ip: IpAddr) -> bool {
        per_ip_minute(
            &self.signer_messages,
            ip,
            self.config.limits.signer_messages_per_ip_per_minute,
        )
    }

    /// Hand an ephemeral event to live subscribers of every relay process.
    async fn publish_ephemeral(
        &self,
        event: Event,
        raw: String,
        now: Timestamp,
    ) -> Result<(), RelayError> {
        match self.hub.store() {
            Store::Sqlite(_) => {
                self.hub.deliver(event, raw);
                Ok(())
            }
            Store::Postgres(pg) => pg.publish_ephemeral(&event, &raw, now).await,
        }
    }
}

/// Count one more message from `ip` in `table`'s current minute: whether it is within `limit`.
fn per_ip_minute(table: &Mutex<HashMap<IpAddr, (Instant, u32)>>, ip: IpAddr, limit: u32) -> bool {
    let mut table = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    table.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
    let entry = table.entry(ip).or_insert((now, 0));
    entry.1 += 1;
    entry.1 <= limit
}

/// Run the relay on `listener` until `shutdown` resolves; then close connections, finish the
/// writes in flight and return.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    config.validate()?;
    let local = listener.local_addr()?;
    let ws_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{local}"));
    let store = Store::open(&config.database).await?;
    let backend = config.database.backend();
    let hub = Hub::load(store, Access::new(config.practice)).await?;
    let (writer, queue) = Writer::channel();
    let writer_task = tokio::spawn(
        hub.clone()
            .run_writer(
                queue,
                backend == Backend::Sqlite,
                config.limits.author_quota_bytes,
            )
            .in_current_span(),
    );
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(RelayState {
        config,
        ws_url,
        hub: hub.clone(),
        writer,
        giftwraps: Mutex::new(HashMap::new()),
        signer_messages: Mutex::new(HashMap::new()),
        connections: Arc::default(),
        shutdown: stopped.clone(),
    });
    let mut background = vec![tokio::spawn(purge_loop(hub.clone()).in_current_span())];
    if let Store::Postgres(pg) = hub.store() {
        background.push(tokio::spawn(
            listen_loop(hub.clone(), pg.pool().clone()).in_current_span(),
        ));
    }
    tracing::info!(%local, backend = ?backend, "relay listening");
    let app = Router::new()
        .route("/", get(root).post(management).layer(cross_origin()))
        .route("/healthz", get(health))
        .with_state(state.clone())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            "relay",
            ehr_service::metrics::observe,
        ));
    let listener = listener.tap_io(|tcp| {
        // Small REQ answers must not wait for Nagle and delayed ACKs.
        let _ = tcp.set_nodelay(true);
    });
    drop(stopped);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    for task in background {
        task.abort();
    }
    // Dropping the last writer handle lets the writer finish its queue and stop.
    drop(state);
    let _ = writer_task.await;
    result.map_err(RelayError::Io)
}

/// `GET /healthz`: the relay answers HTTP (NIP-11 tells its limits).
async fn health() -> &'static str {
    "ok\n"
}

async fn root(
    State(state): State<Arc<RelayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(upgrade) = upgrade {
        let admitted =
            client_addr::client_ip(&state.config.proxies, peer.ip(), &headers).and_then(|ip| {
                let max = state.config.limits.connections_per_ip;
                Ok((ip, state.connections.take(ip, max)?))
            });
        let (ip, slot) = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => return refusal.into_response(),
        };
        // Room above the event limit, so an oversized event gets an `OK false` rather than a
        // dropped connection.
        let max = state.config.limits.max_event_bytes.saturating_mul(4);
        return upgrade
            .max_message_size(max)
            .max_frame_size(max)
            // The connection outlives this request; it keeps the service's span for its logs.
            // The slot lives as long as the connection (or this closure, if it never runs).
            .on_upgrade(move |socket| {
                async move {
                    let _slot = slot;
                    conn::run(socket, state, ip).await;
                }
                .instrument(tracing::Span::current())
            });
    }
    let wants_info = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/nostr+json"));
    if wants_info {
        let mut response = axum::Json(state.info_document()).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/nostr+json"),
        );
        return response;
    }
    let mut response = (
        StatusCode::OK,
        "nostr-ehr practice relay: connect with a Nostr client\n",
    )
        .into_response();
    response.headers_mut().insert(
        "x-reason",
        HeaderValue::from_static("use a WebSocket, or Accept: application/nostr+json"),
    );
    response
}

/// Browsers may read the NIP-11 document and call NIP-86 from any origin (the clinic app's
/// administration). Safe from any origin: a call is authorised by its NIP-98 event, signed by a
/// key, never by a cookie the browser would add.
fn cross_origin() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::HeaderName::from_static("x-reason")])
}

async fn management(
    State(state): State<Arc<RelayState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    nip86::handle(&state, &headers, &body).await
}

/// Drop expired events and spent auth ids once a minute.
async fn purge_loop(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(error) = hub.store().purge(Timestamp::now()).await {
            tracing::warn!(%error, "purge failed");
        }
    }
}

/// PostgreSQL: hear what other relay processes stored and which roles they changed.
async fn listen_loop(hub: Arc<Hub>, pool: sqlx::PgPool) {
    use crate::store::{EVENTS_CHANNEL, ROLES_CHANNEL};
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "LISTEN connection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen_all([EVENTS_CHANNEL, ROLES_CHANNEL]).await {
            tracing::error!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Notifications sent while (re)connecting are lost: catch up on roles, rosters and
        // guardianships that other processes stored meanwhile.
        if let Err(error) = hub.reload_roles().await {
            tracing::warn!(%error, "could not re-read roles");
        }
        if let Err(error) = hub.reload_practice_events().await {
            tracing::warn!(%error, "could not re-read rosters and guardianships");
        }
        loop {
            let notification = match listener.recv().await {
                Ok(n) => n,
                Err(error) => {
                    tracing::warn!(%error, "LISTEN connection lost");
                    break;
                }
            };
            let outcome = if notification.channel() == ROLES_CHANNEL {
                hub.reload_roles().await
            } else {
                match nostr::prelude::EventId::from_hex(notification.payload()) {
                    Ok(id) => hub.deliver_announced(&id).await,
                    Err(_) => Ok(()),
                }
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "could not take a notification");
            }
        }
    }
}
