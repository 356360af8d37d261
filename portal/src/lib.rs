//! `ehr-portal`: the patient web portal's server. It serves the browser app, which does all
//! decryption in the browser; the server never sees a secret key or a plaintext record.
//!
//! The browser app itself (signer and passkey login, the chart, messages, consent, export) is
//! still to be built (issue 9). Until then the server answers with a page saying where the
//! practice's services are, so the launcher's portal URL is honest.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;

/// The portal's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen; put TLS in front.
    pub listen: SocketAddr,
    /// The practice's connection string (`nostr-ehr:<npub>?relay=<url>`), shown to patients.
    #[serde(default)]
    pub connection: Option<String>,
}

/// Why the portal could not run.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The socket failed.
    #[error("portal I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// No script, no foreign origin, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(connection: Option<&str>) -> String {
    let connection = connection.map_or_else(String::new, |c| {
        let escaped = c
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        format!("<p>Your practice's connection string:</p><p><code>{escaped}</code></p>")
    });
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Patient portal</title></head><body><main>\
         <h1>Patient portal</h1>\
         <p>The browser portal is not available in this version yet. Your records are readable \
         now with any NIP-44 client and the <code>ehr</code> command line: \
         <code>ehr practice connect</code>, then <code>ehr chart show</code>.</p>\
         {connection}</main></body></html>"
    )
}

async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Serve the portal on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PortalError> {
    let body = page(config.connection.as_deref());
    let app = Router::new()
        .route("/", get(move || async move { Html(body).into_response() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(axum::middleware::map_response(secure))
        .layer(axum::middleware::from_fn_with_state(
            "portal",
            ehr_relay::metrics::observe,
        ));
    tracing::info!(local = %listener.local_addr()?, "portal listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_connection_string_is_escaped() {
        let html = page(Some("nostr-ehr:npub1x?relay=wss://r<script>"));
        assert!(html.contains("wss://r&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
