//! `ehr-portal`: the patient web portal's server. It serves the browser app, which does all
//! decryption in the browser; the server never sees a secret key or a plaintext record.
//!
//! The app (DESIGN.md §11) loads `ehr-client`'s core as WebAssembly, logs the patient in (nsec,
//! ncryptsec, NIP-07 extension, NIP-46 remote signer or passkey; the session locks after
//! `lock_after_secs`), verifies the practice's signed connection string, authenticates to the
//! relay (NIP-42), and shows the chart that core verified, opened and folded, with what she
//! writes and takes with her. The server only hands out files ([`assets`]), through `ehr-web`.

pub mod assets;

use std::future::Future;

use tokio::net::TcpListener;

pub use ehr_web::{AppConfig as Config, DEFAULT_LOCK_AFTER_SECS};

/// Why the portal could not run.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Serving failed, or a `[portal] blossom` or `relays` entry is not an origin.
    #[error("portal: {0}")]
    Web(#[from] ehr_web::WebError),
}

/// Serve the portal on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PortalError> {
    let viewer = ehr_web::Page {
        path: assets::VIEWER_PATH,
        html: assets::VIEWER_HTML,
        connect_src: assets::VIEWER_CONNECT_SRC,
    };
    Ok(
        ehr_web::serve_with_pages(listener, config, assets::APP, &[viewer], "portal", shutdown)
            .await?,
    )
}

#[cfg(test)]
mod tests;
