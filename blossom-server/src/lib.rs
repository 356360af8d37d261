//! `ehr-blossom`: the practice's Blossom server for encrypted documents (DESIGN.md §4).
//!
//! - Endpoints of BUD-01, 02, 06 and 12 ([`routes`]), authorized with BUD-11 tokens ([`auth`]).
//! - Members only: the relay's roster and NIP-86 roles, read from its database ([`membership`]).
//! - Metadata in sqlx ([`store`]); bytes on the filesystem or S3, streamed and hashed ([`bytes`]).
//!
//! [`serve`] runs it on a bound listener until `shutdown` resolves.

pub mod auth;
pub mod bytes;
pub mod config;
pub mod error;
pub mod membership;
pub mod routes;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::bytes::BlobBytes;
pub use crate::config::Config;
pub use crate::error::BlossomError;
use crate::membership::Membership;
use crate::store::Store;

/// Shared by every request.
#[derive(Debug)]
pub struct BlossomState {
    config: Config,
    store: Store,
    bytes: BlobBytes,
    members: Membership,
    /// Descriptor URLs start here (no trailing slash).
    base_url: String,
    /// What BUD-11 tokens are checked against.
    rules: auth::Rules,
}

/// CORS on every response (BUD-01).
async fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, *"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// CORS preflight (`OPTIONS`) on any path, before routing.
async fn preflight_any(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method() == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    next.run(request).await
}

async fn fallback() -> Response {
    BlossomError::NotFound.into_response()
}

/// Run the server on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BlossomError> {
    config.validate()?;
    let local = listener.local_addr()?;
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    let host = base_url
        .split_once("://")
        .map_or(base_url.as_str(), |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let rules = auth::Rules {
        host,
        skew: config.clock_skew_seconds,
        max_lifetime: config.max_token_lifetime_seconds,
    };
    let store = Store::open(&config.database_url).await?;
    let bytes = BlobBytes::open(&config.blob_dir, config.s3.as_ref()).await?;
    let members = Membership::open(&config.relay_database_url, config.practice).await?;
    let state = Arc::new(BlossomState {
        config,
        store,
        bytes,
        members,
        base_url,
        rules,
    });
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                "ehr-blossom: the practice's Blossom server (BUD-01, 02, 06, 11, 12)\n"
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/upload",
            axum::routing::put(routes::upload).head(routes::preflight),
        )
        .route("/list/{pubkey}", get(routes::list))
        .route("/{blob}", get(routes::get_blob).delete(routes::delete))
        .fallback(fallback)
        .with_state(state)
        .layer(axum::middleware::from_fn(preflight_any))
        .layer(axum::middleware::map_response(cors))
        .layer(axum::middleware::from_fn_with_state(
            "blossom",
            ehr_service::metrics::observe,
        ));
    tracing::info!(%local, "blossom listening");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
