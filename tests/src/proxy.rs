//! A TCP proxy a test can cut. The clinic app's offline test puts it between the browser and
//! the relay, so "the relay is down" is the network failing as a clinic sees it (every open
//! connection closed, new ones closed at once, before the WebSocket handshake), while the
//! relay and what it holds stay as they were.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The proxy: forwards to its target while up.
#[derive(Debug)]
pub struct CuttableProxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
    target: Arc<OnceLock<SocketAddr>>,
    task: JoinHandle<()>,
}

impl CuttableProxy {
    /// Listen on `127.0.0.1:0`; connections are closed until [`Self::forward_to`] names the
    /// target (the proxy's address may have to be configured before the target runs).
    pub async fn bind() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (up, _) = watch::channel(true);
        let target = Arc::new(OnceLock::new());
        let (watching, targeted) = (up.clone(), Arc::clone(&target));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                match targeted.get() {
                    Some(&to) if *watching.borrow() => {
                        tokio::spawn(forward(client, to, watching.subscribe()));
                    }
                    _ => drop(client),
                }
            }
        });
        Ok(Self {
            address,
            up,
            target,
            task,
        })
    }

    /// Forward each connection to `target` from now on.
    pub fn forward_to(&self, target: SocketAddr) {
        let _ = self.target.set(target);
    }

    /// The proxy's WebSocket URL (`ws://127.0.0.1:port`).
    pub fn url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// Its HTTP origin (the relay's NIP-11 document through it).
    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Close every connection and every new one, until [`Self::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut relay) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut relay) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}
