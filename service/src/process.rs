//! What every service binary (relay, Blossom, FHIR gateway, billing bot) does the same way:
//! structured logs on stderr, its listening socket announced on stdout, and a graceful stop.

use std::io::Write as _;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Log to stderr, filtered by `RUST_LOG` (default: `info`, with sqlx and tower-http quieter).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Bind `address` and say so in one line on stdout (`<service> listening on <scheme>://<addr>`),
/// so scripts and tests learn the port when it is `:0`.
pub async fn listen(
    service: &str,
    scheme: &str,
    address: SocketAddr,
) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{service} listening on {scheme}://{}",
        listener.local_addr()?
    )?;
    out.flush()?;
    Ok(listener)
}

/// Resolves on Ctrl-C, or on SIGTERM (what systemd sends) on Unix.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return interrupt.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or_default();
}
