//! `ehr-web`: what the two browser apps share (DESIGN.md §11). The patient portal and the
//! clinic app are each a server of this shape: an app page and its own modules, the shared
//! browser modules of [`SHARED`] (login, signers, relay connection, chart rendering), and the
//! WebAssembly of `ehr-web-wasm` that `scripts/build-web` writes. The server only hands out
//! files; everything is decrypted in the browser.

mod files;

pub use files::{App, Asset, Assets, escape};

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

/// Where `scripts/build-web` writes by default: `web/assets` of the source tree this server was
/// built from (a deployment names its own directory).
pub const DEFAULT_ASSETS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");

/// The shared browser modules, served at `/<name>` by both apps (compiled in, so they always
/// match the server).
pub const SHARED: &[(&str, &str)] = &[
    ("/dom.js", include_str!("../shared/dom.js")),
    ("/relay.js", include_str!("../shared/relay.js")),
    ("/session.js", include_str!("../shared/session.js")),
    ("/protocol.js", include_str!("../shared/protocol.js")),
    ("/signers.js", include_str!("../shared/signers.js")),
    ("/nip46.js", include_str!("../shared/nip46.js")),
    ("/passkey.js", include_str!("../shared/passkey.js")),
    ("/practices.js", include_str!("../shared/practices.js")),
    ("/login.js", include_str!("../shared/login.js")),
    ("/chart.js", include_str!("../shared/chart.js")),
    ("/chart-view.js", include_str!("../shared/chart-view.js")),
    ("/chart-tabs.js", include_str!("../shared/chart-tabs.js")),
    ("/vitals.js", include_str!("../shared/vitals.js")),
    ("/documents.js", include_str!("../shared/documents.js")),
    ("/access-log.js", include_str!("../shared/access-log.js")),
    ("/style.css", include_str!("../shared/style.css")),
    ("/icon.svg", include_str!("../shared/icon.svg")),
];

/// Why an app could not be served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A configured Blossom or relay origin is not an origin.
    #[error("blossom or relays: {0:?} is not an origin (http(s)://host[:port], no path)")]
    Origin(String),
    /// The configured FHIR gateway is not an http(s) URL.
    #[error("gateway: {0:?} is not the gateway's FHIR base URL (http(s)://host[:port]/path)")]
    Gateway(String),
    /// The socket failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Fifteen minutes: the default inactivity lock.
pub const DEFAULT_LOCK_AFTER_SECS: u64 = 15 * 60;

/// A browser app server's configuration (`[portal]`, `[clinic]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Where to listen; put TLS in front.
    pub listen: SocketAddr,
    /// The practice's connection string (`nostr-ehr:<npub>?relay=<url>`), offered at login.
    #[serde(default)]
    pub connection: Option<String>,
    /// The directory `scripts/build-web` wrote the WebAssembly to (default:
    /// [`DEFAULT_ASSETS_DIR`], `web/assets` of the source tree).
    #[serde(default)]
    pub assets: Option<PathBuf>,
    /// Lock a session after this many seconds without activity (default
    /// [`DEFAULT_LOCK_AFTER_SECS`]): what was decrypted leaves the page, the key is wiped.
    #[serde(default)]
    pub lock_after_secs: Option<u64>,
    /// Origins of the Blossom servers whose documents are downloaded in the browser
    /// (`https://blobs.example.org`): the CSP's `connect-src` names exactly these. The launcher
    /// adds the Blossom of its own stack.
    #[serde(default)]
    pub blossom: Vec<String>,
    /// HTTP origins of the relays whose NIP-11 document the app reads (its page size,
    /// `limitation.max_limit`), `https://relay.example.org` for `wss://relay.example.org`: also
    /// in `connect-src`. The launcher adds its own relay.
    #[serde(default)]
    pub relays: Vec<String>,
    /// The FHIR gateway's base URL (`https://fhir.example.org/fhir`) whose admin API the clinic
    /// app's administration calls (facilities, catch-up status): written into the page
    /// (`{{gateway}}`), its origin added to `connect-src`. The launcher sets its own gateway's
    /// for the clinic app; the portal takes none.
    #[serde(default)]
    pub gateway: Option<String>,
}

/// The origin of `url`, the gateway's FHIR base URL (`http(s)://host[:port]/path`, no query or
/// fragment), checked as [`checked_origin`] checks origins: anything else could widen the CSP
/// or break out of the page's attribute.
pub fn gateway_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let plain_path = path
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '"' | '<' | '>' | '\\'));
    plain_path
        .then(|| checked_origin(&format!("{scheme}://{authority}")))
        .flatten()
}

/// Serve `app` as `service` (its name in logs and metrics) on `listener` until `shutdown`
/// resolves: its page with the connection string, lock time and gateway filled in, the shared
/// modules, the WebAssembly, and the security headers.
pub async fn serve(
    listener: TcpListener,
    config: AppConfig,
    app: App<'_>,
    service: &'static str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    serve_with_pages(listener, config, app, &[], service, shutdown).await
}

/// A second page of an app, at its own path with its own `connect-src`: the portal's SMART
/// Health Link viewer, which POSTs to whatever manifest URL a link names. `{{gateway}}` in its
/// HTML is filled as in the app's page.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// Where it is served (`/viewer`).
    pub path: &'a str,
    /// Its HTML.
    pub html: &'a str,
    /// Its `connect-src` beside `'self'` and the app's configured origins (source expressions
    /// written in code, such as `https:`), instead of WebSockets.
    pub connect_src: &'a [&'a str],
}

/// [`serve`] with `pages` beside the app's own page.
pub async fn serve_with_pages(
    listener: TcpListener,
    config: AppConfig,
    app: App<'_>,
    pages: &[Page<'_>],
    service: &'static str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let dir = config
        .assets
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ASSETS_DIR));
    let mut origins: Vec<String> = config
        .blossom
        .iter()
        .chain(&config.relays)
        .cloned()
        .collect();
    let gateway = config.gateway.as_deref().map(str::trim).unwrap_or("");
    if !gateway.is_empty() {
        let origin =
            gateway_origin(gateway).ok_or_else(|| WebError::Gateway(gateway.to_owned()))?;
        origins.push(origin);
    }
    let mut assets = Assets::load(&app, &dir);
    assets.fill("connection", config.connection.as_deref().unwrap_or(""));
    assets.fill("gateway", gateway.trim_end_matches('/'));
    let lock_after = config
        .lock_after_secs
        .unwrap_or(DEFAULT_LOCK_AFTER_SECS)
        .max(1);
    assets.fill("lock_after_secs", &lock_after.to_string());
    let mut page_policies = Vec::with_capacity(pages.len());
    for page in pages {
        let html = page
            .html
            .replace("{{gateway}}", &escape(gateway.trim_end_matches('/')));
        assets.add_page(page.path, &html);
        page_policies.push((page.path.to_owned(), page.connect_src.join(" ")));
    }
    // Last: the worker's version covers the page as served (a new lock time is a new worker).
    if let Some(worker) = app.service_worker {
        assets.add_service_worker(worker);
    }
    if let Some(dir) = assets.missing() {
        tracing::warn!(
            service,
            dir = %dir.display(),
            "the browser apps' WebAssembly is not built: run scripts/build-web; until then the page says so"
        );
    }
    let router = router_with_pages(assets, &origins, &page_policies, service)?;
    tracing::info!(service, local = %listener.local_addr()?, assets = %dir.display(), "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Only this origin's files; WebAssembly may be compiled (`'wasm-unsafe-eval'`, nothing
/// broader: no `eval`, no inline script or style); WebSockets to any relay, because a patient
/// may read several practices; no framing; DOM sinks take no strings (trusted types), and the
/// one policy allowed (`service-worker`) only passes the clinic app's own `/sw.js`; the web app
/// manifest and the service worker from this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; connect-src 'self' ws: wss:; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'; trusted-types service-worker";

/// `origin` if it is `http(s)://host[:port]` with nothing after it (a trailing `/` is dropped):
/// anything else could widen or break the policy it is written into.
pub fn checked_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/');
    let (scheme, authority) = origin.split_once("://")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    ((scheme == "http" || scheme == "https")
        && !authority.is_empty()
        && authority.chars().all(allowed))
    .then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// [`CONTENT_SECURITY_POLICY`] with `connect-src` also naming `origins` (Blossom servers,
/// relays' NIP-11 documents; each checked with [`checked_origin`]).
pub fn content_security_policy(origins: &[String]) -> Result<String, WebError> {
    let mut checked = Vec::with_capacity(origins.len());
    for origin in origins {
        let origin = checked_origin(origin).ok_or_else(|| WebError::Origin(origin.clone()))?;
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

/// The app's router: `assets` by path, `/healthz`, the CSP built from `origins` and the other
/// security headers on every response, and request metrics labelled `service`.
pub fn router(
    assets: Assets,
    origins: &[String],
    service: &'static str,
) -> Result<Router, WebError> {
    router_with_pages(assets, origins, &[], service)
}

/// The policies of an app: its own, and each second page's by path.
#[derive(Debug)]
struct Policies {
    app: HeaderValue,
    pages: Vec<(String, HeaderValue)>,
}

/// [`router`] where each of `pages` (path, extra `connect-src` sources) gets the app's policy
/// with `connect-src` = `'self'`, those sources and `origins`, instead of WebSockets.
pub fn router_with_pages(
    assets: Assets,
    origins: &[String],
    pages: &[(String, String)],
    service: &'static str,
) -> Result<Router, WebError> {
    let policy = content_security_policy(origins)?;
    let header_of =
        |text: &str| HeaderValue::from_str(text).map_err(|_| WebError::Origin(origins.join(" ")));
    let mut policies = Policies {
        app: header_of(&policy)?,
        pages: Vec::with_capacity(pages.len()),
    };
    for (path, sources) in pages {
        let page = policy.replacen(
            "connect-src 'self' ws: wss:",
            &format!("connect-src 'self' {sources}"),
            1,
        );
        policies.pages.push((path.clone(), header_of(&page)?));
    }
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(file)
        .with_state(Arc::new(assets))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(policies),
            policy_header,
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
            service,
            ehr_service::metrics::observe,
        )))
}

/// The CSP of the page or file asked for: a second page's own, else the app's.
async fn policy_header(
    State(policies): State<Arc<Policies>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let policy = policies
        .pages
        .iter()
        .find(|(path, _)| path == request.uri().path())
        .map_or(&policies.app, |(_, policy)| policy)
        .clone();
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    response
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_gateway_url_gives_its_origin_and_anything_else_is_refused() {
        assert_eq!(
            gateway_origin("https://FHIR.example.org/fhir").as_deref(),
            Some("https://fhir.example.org")
        );
        assert_eq!(
            gateway_origin("http://127.0.0.1:8090/fhir/").as_deref(),
            Some("http://127.0.0.1:8090")
        );
        for bad in [
            "fhir.example.org/fhir",
            "ftp://fhir.example.org/fhir",
            "https://fhir.example.org/fhir?x=1",
            "https://fhir.example.org/f\"><script>",
            "https://evil.example; script-src */fhir",
            "https:///fhir",
        ] {
            assert_eq!(gateway_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_csp_names_the_blossom_origins_and_refuses_anything_else() {
        let csp = content_security_policy(&["https://Blobs.example.org/".to_owned()]).unwrap();
        assert!(
            csp.contains("connect-src 'self' ws: wss: https://blobs.example.org;"),
            "{csp}"
        );
        assert_eq!(
            content_security_policy(&[]).unwrap(),
            CONTENT_SECURITY_POLICY
        );
        // An entry that would widen the policy, or that is not an origin, stops the app.
        for bad in [
            "https://evil.example; script-src *",
            "https://blobs.example.org/path",
            "ftp://blobs.example.org",
            "*",
            "https://",
        ] {
            assert!(
                matches!(
                    content_security_policy(&[bad.to_owned()]),
                    Err(WebError::Origin(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_service_worker_lists_every_file_and_changes_with_any_of_them() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ehr_web_wasm.js", "ehr_web_wasm_bg.wasm"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let app = App {
            index_html: "<meta content=\"{{connection}}\">",
            own: &[("/app.js", "app")],
            not_built_html: "build it",
            service_worker: Some("const V = \"{{version}}\"; const F = {{files}};"),
        };
        let worker = |connection: &str| {
            let mut assets = Assets::load(&app, dir.path());
            assets.fill("connection", connection);
            assets.add_service_worker(app.service_worker.unwrap());
            String::from_utf8(assets.get("/sw.js").unwrap().body.to_vec()).unwrap()
        };
        let first = worker("nostr-ehr:a");
        assert!(
            first.contains(r#"const F = ["/", "/access-log.js""#),
            "{first}"
        );
        for path in ["/app.js", "/assets/ehr_web_wasm_bg.wasm", "/login.js"] {
            assert!(first.contains(&format!("\"{path}\"")), "{path}");
        }
        assert!(!first.contains("{{"), "{first}");
        assert_ne!(first, worker("nostr-ehr:b"), "a new page is a new worker");
        assert_eq!(first, worker("nostr-ehr:a"));
        // Without the WebAssembly there is no worker to cache the explanation.
        let mut unbuilt = Assets::load(&app, &dir.path().join("none"));
        unbuilt.add_service_worker("x");
        assert!(unbuilt.get("/sw.js").is_none());
    }
}
