//! Logs on stderr, as text or JSON. Every service runs inside a `service{name=...}` span (the
//! launcher's tasks and each request), so each line says which service wrote it.

use crate::config::LogFormat;

/// Install the process's subscriber, filtered by `RUST_LOG` (default: `info`, with sqlx and
/// tower-http quieter).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
