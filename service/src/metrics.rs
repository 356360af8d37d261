//! Prometheus metrics for every service, off unless the operator switches them on (the
//! launcher's `[metrics]` table): open relay connections, events stored, and HTTP request
//! latencies by service, method, route template and status.
//!
//! One registry per process, so a launcher running every service serves them all on one
//! `/metrics`. Labels carry route templates (`/fhir/{kind}/{id}`), never concrete paths,
//! so no patient id or other PHI reaches a scrape.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

/// Labels of one HTTP latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    service: String,
    method: String,
    route: String,
    status: u16,
}

type LatencyFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: LatencyFamily,
    connections: Gauge,
    events_stored: Counter,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("ehr");
        let requests: LatencyFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let connections = Gauge::default();
        let events_stored = Counter::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by service, method, route template and status",
            requests.clone(),
        );
        registry.register(
            "relay_connections",
            "Open WebSocket connections to the relay",
            connections.clone(),
        );
        registry.register(
            "relay_events_stored",
            "Events the relay stored since it started",
            events_stored.clone(),
        );
        Self {
            registry,
            requests,
            connections,
            events_stored,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Switch metrics on for this process (idempotent) and return them.
pub fn enable() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// The metrics, if switched on.
pub fn enabled() -> Option<&'static Metrics> {
    METRICS.get()
}

/// `GET /metrics`.
pub async fn handler() -> Response {
    let body = enabled().map(Metrics::render).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Counts one open relay connection until dropped.
#[derive(Debug)]
pub struct ConnectionGuard(bool);

/// A relay connection opened.
pub fn connection_opened() -> ConnectionGuard {
    match enabled() {
        Some(m) => {
            m.connections.inc();
            ConnectionGuard(true)
        }
        None => ConnectionGuard(false),
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.0
            && let Some(m) = enabled()
        {
            m.connections.dec();
        }
    }
}

/// The relay stored `count` events.
pub fn events_stored(count: u64) {
    if let Some(m) = enabled() {
        m.events_stored.inc_by(count);
    }
}

/// Middleware for every service's router: runs the request inside the service's span (so its
/// logs name the service) and, when metrics are on, records its latency.
/// Use as `axum::middleware::from_fn_with_state("relay", ehr_service::metrics::observe)`.
pub async fn observe(
    State(service): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let span = tracing::info_span!("service", name = service);
    let Some(metrics) = enabled() else {
        return next.run(request).instrument(span).await;
    };
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    metrics
        .requests
        .get_or_create(&HttpLabels {
            service: service.to_owned(),
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_exposition_names_every_series_and_no_path() {
        let metrics = enable();
        let guard = connection_opened();
        events_stored(3);
        metrics
            .requests
            .get_or_create(&HttpLabels {
                service: "fhir-gateway".to_owned(),
                method: "GET".to_owned(),
                route: "/fhir/{kind}/{id}".to_owned(),
                status: 200,
            })
            .observe(0.002);
        let text = metrics.render();
        assert!(text.contains("ehr_relay_connections 1"), "{text}");
        assert!(text.contains("ehr_relay_events_stored_total 3"), "{text}");
        assert!(
            text.contains("ehr_http_request_duration_seconds_bucket{"),
            "{text}"
        );
        assert!(text.contains("route=\"/fhir/{kind}/{id}\""), "{text}");
        drop(guard);
        assert!(metrics.render().contains("ehr_relay_connections 0"));
    }
}
