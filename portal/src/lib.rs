//! `ehr-portal`: the patient web portal's server. It serves the browser app, which does all
//! decryption in the browser; the server never sees a secret key or a plaintext record.
//!
//! The app (DESIGN.md §11) loads `ehr-client`'s core as WebAssembly, logs the patient in (nsec,
//! ncryptsec, NIP-07 extension, NIP-46 remote signer or passkey; the session locks after
//! `lock_after_secs`), verifies the practice's signed connection string, authenticates to the
//! relay (NIP-42), and shows the chart that core verified, opened and folded, with what she
//! writes and takes with her. The server only hands out files ([`assets`]).

pub mod assets;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::assets::Assets;

/// The portal's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen; put TLS in front.
    pub listen: SocketAddr,
    /// The practice's connection string (`nostr-ehr:<npub>?relay=<url>`), offered to patients.
    #[serde(default)]
    pub connection: Option<String>,
    /// The directory `scripts/build-portal` wrote the WebAssembly to (default:
    /// [`assets::DEFAULT_DIR`], `portal/assets` of the source tree).
    #[serde(default)]
    pub assets: Option<PathBuf>,
    /// Lock a patient's session after this many seconds without activity (default
    /// [`DEFAULT_LOCK_AFTER_SECS`]): the decrypted chart leaves the page, the key is wiped.
    #[serde(default)]
    pub lock_after_secs: Option<u64>,
    /// Origins of the Blossom servers whose documents patients download in the browser
    /// (`https://blobs.example.org`): the CSP's `connect-src` names exactly these. The launcher
    /// adds the Blossom of its own stack.
    #[serde(default)]
    pub blossom: Vec<String>,
    /// HTTP origins of the relays whose NIP-11 document the app reads (its page size,
    /// `limitation.max_limit`), `https://relay.example.org` for `wss://relay.example.org`: also
    /// in `connect-src`. The launcher adds its own relay.
    #[serde(default)]
    pub relays: Vec<String>,
}

/// Fifteen minutes: the portal's default inactivity lock.
pub const DEFAULT_LOCK_AFTER_SECS: u64 = 15 * 60;

/// Why the portal could not run.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The socket failed.
    #[error("portal I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A `[portal] blossom` or `relays` entry is not an origin.
    #[error("[portal] blossom or relays: {0:?} is not an origin (http(s)://host[:port], no path)")]
    BlossomOrigin(String),
}

/// Only this origin's files; WebAssembly may be compiled (`'wasm-unsafe-eval'`, nothing
/// broader: no `eval`, no inline script or style); WebSockets to any relay, because a patient
/// may read several practices; no framing; DOM sinks take no strings (trusted types).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'";

/// `origin` if it is `http(s)://host[:port]` with nothing after it (a trailing `/` is dropped):
/// anything else could widen or break the policy it is written into.
pub fn blossom_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/');
    let (scheme, authority) = origin.split_once("://")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    ((scheme == "http" || scheme == "https")
        && !authority.is_empty()
        && authority.chars().all(allowed))
    .then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// [`CONTENT_SECURITY_POLICY`] with `connect-src` also naming the Blossom `origins` (checked
/// with [`blossom_origin`]): documents are fetched from there, and from nowhere else.
pub fn content_security_policy(origins: &[String]) -> Result<String, PortalError> {
    let mut checked = Vec::with_capacity(origins.len());
    for origin in origins {
        let origin =
            blossom_origin(origin).ok_or_else(|| PortalError::BlossomOrigin(origin.clone()))?;
        if !checked.contains(&origin) {
            checked.push(origin);
        }
    }
    if checked.is_empty() {
        return Ok(CONTENT_SECURITY_POLICY.to_owned());
    }
    Ok(CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self' ws: wss:;",
        &format!("connect-src 'self' ws: wss: {};", checked.join(" ")),
    ))
}

/// A file by path, revalidated on every use (`no-cache` with a strong `ETag`): the names do not
/// change between builds, so a browser must never run a stale app against new WebAssembly.
async fn file(State(assets): State<Arc<Assets>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let Some(asset) = assets.get(request.uri().path()) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let status = if assets.missing().is_some() && request.uri().path() == "/" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        if request.headers().get(header::IF_NONE_MATCH) == Some(&etag) {
            headers.insert(header::ETAG, etag);
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (status, headers, asset.body.clone()).into_response()
}

/// Serve the portal on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PortalError> {
    let dir = config
        .assets
        .clone()
        .unwrap_or_else(|| PathBuf::from(assets::DEFAULT_DIR));
    let origins: Vec<String> = config
        .blossom
        .iter()
        .chain(&config.relays)
        .cloned()
        .collect();
    let csp = HeaderValue::from_str(&content_security_policy(&origins)?)
        .map_err(|_| PortalError::BlossomOrigin(origins.join(" ")))?;
    let mut assets = Assets::load(&dir, config.connection.as_deref());
    let lock_after = config
        .lock_after_secs
        .unwrap_or(DEFAULT_LOCK_AFTER_SECS)
        .max(1);
    assets.fill("lock_after_secs", &lock_after.to_string());
    if let Some(dir) = assets.missing() {
        tracing::warn!(
            dir = %dir.display(),
            "the portal's WebAssembly is not built: run scripts/build-portal; until then the portal page says so"
        );
    }
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(file)
        .with_state(Arc::new(assets))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            "portal",
            ehr_service::metrics::observe,
        ));
    tracing::info!(local = %listener.local_addr()?, assets = %dir.display(), "portal listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
