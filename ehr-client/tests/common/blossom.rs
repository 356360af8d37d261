//! A Blossom server (`ehr-blossom`) for a practice relay's database, on 127.0.0.1:0. Included
//! by path (`#[path]`) by the tests that need one, here and in `tests/`.

use std::path::Path;

use ehr_client::nostr::prelude::PublicKey;

/// The server's stop signal and task.
pub type Served = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ehr_blossom_server::BlossomError>>,
);

/// Serve blobs in `dir` for the members of the practice `practice` whose relay database is
/// `relay_database`; returns the server's URL.
pub async fn serve(practice: PublicKey, relay_database: String, dir: &Path) -> (String, Served) {
    let config = ehr_blossom_server::Config::new(
        practice,
        relay_database,
        format!("sqlite://{}", dir.join("blobs.db").display()),
        dir.join("blobs"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ehr_blossom_server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (url, (stop, task))
}
