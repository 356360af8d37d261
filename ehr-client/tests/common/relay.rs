//! An in-process Nostr relay for tests: `nostr-relay-builder` 0.44 behind a listener on
//! `127.0.0.1`, port 0.
//!
//! `LocalRelay::run` picks a random port by probing, so this module binds its own listener and
//! hands each connection to the relay after the WebSocket handshake. The listener is bound before
//! `spawn_relay` returns, so the relay is ready at once. The accept loop runs on the caller's
//! tokio runtime: under `#[tokio::test(flavor = "multi_thread")]` it keeps serving while the
//! test thread blocks on a child process.

#![allow(dead_code, clippy::expect_used)]

use std::net::SocketAddr;

use nostr_relay_builder::prelude::{
    LocalRelay, RateLimit, RelayBuilder, RelayBuilderNip42, RelayBuilderNip42Mode,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running test relay; it stops accepting and closes its connections when dropped.
#[derive(Debug)]
pub struct TestRelay {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    relay: LocalRelay,
    accept_loop: JoinHandle<()>,
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.relay.shutdown();
    }
}

/// Start a relay on `127.0.0.1` on a free port. With `require_auth`, NIP-42 AUTH is required
/// for both reads (`REQ`) and writes (`EVENT`).
pub async fn spawn_relay(require_auth: bool) -> TestRelay {
    spawn_relay_from(relay_builder(require_auth)).await
}

/// The builder [`spawn_relay`] uses, for tests that add policies to it.
pub fn relay_builder(require_auth: bool) -> RelayBuilder {
    let builder = RelayBuilder::default()
        // Generous limits: tests publish bursts and read whole charts back.
        .rate_limit(RateLimit {
            max_reqs: 500,
            notes_per_minute: 100_000,
        })
        .default_filter_limit(100_000);
    if require_auth {
        builder.nip42(RelayBuilderNip42 {
            mode: RelayBuilderNip42Mode::Both,
        })
    } else {
        builder
    }
}

/// Start a relay from `builder` (its address and port settings are ignored).
pub async fn spawn_relay_from(builder: RelayBuilder) -> TestRelay {
    let relay = LocalRelay::new(builder);

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a test relay listener");
    let port = listener.local_addr().expect("listener address").port();

    let serving = relay.clone();
    let accept_loop = tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let relay = serving.clone();
            tokio::spawn(async move {
                let _ = serve(relay, stream, peer).await;
            });
        }
    });

    TestRelay {
        url: format!("ws://127.0.0.1:{port}"),
        relay,
        accept_loop,
    }
}

/// Answer the HTTP upgrade (RFC 6455 §4.2), then let the relay speak Nostr on the stream.
/// `LocalRelay::take_connection` wants an upgraded stream, so the head is parsed with
/// `httparse` and the accept key comes from `tungstenite`.
async fn serve(relay: LocalRelay, mut stream: TcpStream, peer: SocketAddr) -> Result<(), String> {
    let head = read_http_head(&mut stream).await?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head).map_err(|e| e.to_string())?;
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|h| h.value)
        .ok_or("not a WebSocket upgrade")?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        tungstenite::handshake::derive_accept_key(key)
    );
    stream
        .write_all(response.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    relay
        .take_connection(stream, peer)
        .await
        .map_err(|e| e.to_string())
}

/// Read the request head byte by byte, so that nothing after it is consumed.
async fn read_http_head(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err("request head too long".to_owned());
        }
        head.push(stream.read_u8().await.map_err(|e| e.to_string())?);
    }
    Ok(head)
}
