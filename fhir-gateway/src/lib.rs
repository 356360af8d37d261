//! `ehr-fhir-gateway`: standard FHIR R4 REST for outside facilities, in front of the practice
//! relay, limited by consent and by cryptography (DESIGN.md §6 and §9).
//!
//! [`Gateway::start`] authenticates to the relay with the gateway's own agent key, loads the
//! roster and the chart keys wrapped to it, catches up and then follows one live subscription
//! ([`sync`]). Requests are answered from an in-memory snapshot of the consenting patients'
//! folded charts ([`served`]); nothing decrypted is written anywhere.

pub mod admin;
pub mod audit;
pub mod bundle;
pub mod capability;
pub mod config;
pub mod error;
pub mod export;
pub mod include;
pub mod link;
pub mod provenance;
pub mod routes;
pub mod scopes;
pub mod search;
pub mod served;
pub mod shl;
pub mod smart;
pub mod store;
pub mod subset;
pub mod summary;
pub mod sync;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use config::Config;
pub use error::GatewayError;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    i64::try_from(nostr::prelude::Timestamp::now().as_secs()).unwrap_or(i64::MAX)
}

/// What every request handler shares.
#[derive(Debug)]
pub struct GatewayState {
    /// The configuration.
    pub config: Arc<Config>,
    /// API keys and the access log.
    pub store: store::Store,
    /// The served patients, replaced as the relay changes.
    pub snapshot: watch::Receiver<Arc<sync::Snapshot>>,
    /// The FHIR base URL (`.../fhir`).
    pub base: String,
    /// Wakes the follower to publish queued audit events.
    pub outbox: Arc<Notify>,
    /// Bulk exports.
    pub exports: export::Exports,
    /// Whether the follower still follows the relay ([`link`]).
    pub link: watch::Receiver<link::Link>,
}

/// A gateway that has caught up with the relay and follows it.
#[derive(Debug)]
pub struct Gateway {
    config: Arc<Config>,
    store: store::Store,
    snapshot: watch::Receiver<Arc<sync::Snapshot>>,
    outbox: Arc<Notify>,
    link: watch::Receiver<link::Link>,
    follower: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Open the database, connect to the relay, catch up, and start following it.
    pub async fn start(config: Config) -> Result<Self, GatewayError> {
        config.validate()?;
        let config = Arc::new(config);
        let store = store::Store::open(&config.database_url).await?;
        let (sender, snapshot) = watch::channel(Arc::new(sync::Snapshot::default()));
        let outbox = Arc::new(Notify::new());
        let (link_sender, link) = link::LinkSender::new();
        let mut follower = sync::Follower::new(
            Arc::clone(&config),
            sender,
            store.clone(),
            Arc::clone(&outbox),
            link_sender,
        );
        let (client, since) = follower.catch_up().await?;
        let follower = tokio::spawn(tracing::Instrument::in_current_span(sync::run(
            follower, client, since,
        )));
        Ok(Self {
            config,
            store,
            snapshot,
            outbox,
            link,
            follower,
        })
    }

    /// The API keys and access log.
    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// The served patients, as they change (tests wait on this instead of sleeping).
    pub fn snapshots(&self) -> watch::Receiver<Arc<sync::Snapshot>> {
        self.snapshot.clone()
    }

    /// The follower's link to the relay, as it changes (tests wait on this).
    pub fn links(&self) -> watch::Receiver<link::Link> {
        self.link.clone()
    }

    /// Serve HTTP on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let base = match &self.config.public_base_url {
            Some(base) => base.clone(),
            None => format!("http://{}/fhir", listener.local_addr()?),
        };
        let state = Arc::new(GatewayState {
            config: Arc::clone(&self.config),
            store: self.store.clone(),
            snapshot: self.snapshot.clone(),
            base,
            outbox: Arc::clone(&self.outbox),
            exports: export::Exports::default(),
            link: self.link.clone(),
        });
        // Everything that discloses patient data stops when the relay is lost for too long.
        let data = Router::new()
            .route(
                "/fhir/bulkstatus/{job}",
                get(export::status).delete(export::cancel),
            )
            .route("/fhir/bulkfiles/{job}/{file}", get(export::file))
            .route("/fhir/{kind}", get(routes::search_get))
            .route(
                "/fhir/{kind}/{id}",
                get(routes::read).post(routes::search_post),
            )
            .route("/fhir/{kind}/{id}/{operation}", get(routes::operation))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                link::require_link,
            ));
        // The admin API answers browsers from other origins (the clinic app); its own 405s,
        // set before the CORS layer, so a preflight is answered by CORS and not refused.
        let admin = Router::new()
            .route("/admin/clients", get(admin::list).post(admin::register))
            .route(
                "/admin/clients/{client_id}",
                put(admin::rotate).delete(admin::revoke),
            )
            .route("/admin/api-keys", post(admin::add_key))
            .route("/admin/api-keys/{key_id}", delete(admin::revoke_key))
            .route("/admin/access-log", get(admin::access_log))
            .route("/admin/status", get(admin::status))
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(admin::cross_origin());
        // SMART Health Links answer any origin: viewers are web pages elsewhere, and the
        // patient's calls are authorised by her signed one-time header, never by a cookie.
        let links = Router::new()
            .route("/shl", get(shl::list).post(shl::create))
            .route("/shl/{link_id}", post(shl::manifest).delete(shl::revoke))
            .route("/shl/{link_id}/file", put(shl::replace_file))
            .route("/shl/file/{token}", get(shl::file))
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(axum::extract::DefaultBodyLimit::max(shl::UPLOAD_LIMIT))
            .layer(admin::cross_origin());
        let app = Router::new()
            .route("/healthz", get(routes::health))
            .route("/fhir/metadata", get(routes::metadata))
            .route(
                "/fhir/.well-known/smart-configuration",
                get(smart::configuration),
            )
            .route("/fhir/auth/token", post(smart::token))
            .merge(admin)
            .merge(links)
            .merge(data)
            .fallback(|| async { GatewayError::NotFound("no such endpoint") })
            .method_not_allowed_fallback(routes::method_not_allowed)
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(
                "fhir-gateway",
                ehr_service::metrics::observe,
            ));
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        self.follower.abort();
        result.map_err(GatewayError::from)
    }
}

/// Start the gateway and serve on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    Gateway::start(config)
        .await?
        .serve(listener, shutdown)
        .await
}
