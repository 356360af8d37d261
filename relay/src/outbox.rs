//! A connection's outbound queue, bounded in bytes (`limits.max_outbound_bytes`): every batch of
//! frames holds as many permits of a semaphore as it has bytes until the sender task has written
//! and flushed it, so a client that reads slowly costs the relay at most its budget, however
//! large the answers it asks for. A batch larger than the whole budget takes the whole budget.
//! REQ answers are streamed from the database into it ([`send_stored`]), never held whole.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt, StreamExt};
use nostr::prelude::{Filter, Timestamp};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::access::ReadScope;
use crate::error::RelayError;
use crate::store::{Store, row_visible};

/// A REQ answer is sent in batches of about this many bytes, each written with one flush, as
/// the rows come from the database.
const BATCH_BYTES: usize = 128 * 1024;

/// Frames for the socket and the budget they hold until written.
pub(crate) type Frames = (Vec<Message>, OwnedSemaphorePermit);

/// The sending half, owned by the connection.
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Frames>,
    budget: Arc<Semaphore>,
    capacity: u32,
    /// How long a send may wait for budget: a client that takes in nothing for this long is
    /// cut off, so it cannot hold the connection's task, a database cursor or its connection
    /// slot forever (the relay's idle timeout).
    stall: Duration,
}

/// The receiving half, for [`drain`].
pub(crate) struct Pipe {
    rx: mpsc::UnboundedReceiver<Frames>,
    budget: Arc<Semaphore>,
}

/// The queue is closed: the socket is gone, or the client stopped reading.
#[derive(Debug)]
pub(crate) struct Closed;

impl Outbox {
    /// A queue of `max_bytes` (validated at start to fit in `u32`).
    pub(crate) fn new(max_bytes: usize, stall: Duration) -> (Self, Pipe) {
        let capacity = u32::try_from(max_bytes).unwrap_or(u32::MAX);
        let budget = Arc::new(Semaphore::new(capacity as usize));
        let (tx, rx) = mpsc::unbounded_channel();
        let pipe = Pipe {
            rx,
            budget: Arc::clone(&budget),
        };
        let outbox = Self {
            tx,
            budget,
            capacity,
            stall,
        };
        (outbox, pipe)
    }

    fn permits(&self, batch: &[Message]) -> u32 {
        let bytes: usize = batch.iter().map(message_bytes).sum();
        u32::try_from(bytes).unwrap_or(u32::MAX).min(self.capacity)
    }

    /// Queue `batch`, waiting for budget (back-pressure on this connection only). A client
    /// that frees none for the stall time closes the queue.
    pub(crate) async fn send(&self, batch: Vec<Message>) -> Result<(), Closed> {
        let wanted = self.permits(&batch);
        let acquire = Arc::clone(&self.budget).acquire_many_owned(wanted);
        match tokio::time::timeout(self.stall, acquire).await {
            Ok(Ok(permit)) => self.tx.send((batch, permit)).map_err(|_| Closed),
            Ok(Err(_)) => Err(Closed),
            Err(_) => {
                self.budget.close();
                Err(Closed)
            }
        }
    }

    /// Queue `batch` if the budget has room now.
    pub(crate) fn try_send(&self, batch: Vec<Message>) -> Result<(), Closed> {
        let wanted = self.permits(&batch);
        let permit = Arc::clone(&self.budget)
            .try_acquire_many_owned(wanted)
            .map_err(|_| Closed)?;
        self.tx.send((batch, permit)).map_err(|_| Closed)
    }

    /// Whether nothing more can be sent.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.budget.is_closed()
    }
}

/// Text frames gathered for one send, and their size.
#[derive(Default)]
pub(crate) struct Batch {
    messages: Vec<Message>,
    bytes: usize,
}

impl Batch {
    pub(crate) fn push(&mut self, text: String) {
        self.bytes += text.len();
        self.messages.push(Message::Text(text.into()));
    }

    pub(crate) fn into_messages(self) -> Vec<Message> {
        self.messages
    }
}

/// Send the stored events of one REQ filter as the database yields them, in batches of about
/// [`BATCH_BYTES`] that wait for the connection's budget; what is left stays in `batch`.
/// `Err(Some)`: the query failed; `Err(None)`: the connection is closing.
pub(crate) async fn send_stored(
    out: &Outbox,
    store: &Store,
    filter: &Filter,
    scope: &ReadScope,
    limit: usize,
    prefix: &str,
    batch: &mut Batch,
) -> Result<(), Option<RelayError>> {
    let query = store.events_query(filter, scope, limit, Timestamp::now());
    let mut rows = store.stream_events(&query);
    while let Some(row) = rows.next().await {
        let row = row.map_err(Some)?;
        if !row_visible(scope, &row) {
            continue;
        }
        batch.push(format!("{prefix}{}]", row.raw));
        if batch.bytes >= BATCH_BYTES {
            let full = std::mem::take(batch).messages;
            out.send(full).await.map_err(|_| None)?;
        }
    }
    Ok(())
}

/// Bytes a frame costs the budget.
fn message_bytes(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 0,
    }
}

/// The sender task: write what is queued, flushing once per run of queued batches, and give the
/// budget back only once the frames are written. When the socket fails the queue closes, so a
/// send waiting for budget ends at once.
pub(crate) async fn drain<S>(mut sink: S, pipe: Pipe)
where
    S: Sink<Message> + Unpin,
{
    let Pipe { mut rx, budget } = pipe;
    if write_all(&mut sink, &mut rx).await {
        let _ = sink.close().await;
    }
    budget.close();
}

/// Write until the queue ends (`true`) or the socket fails (`false`).
async fn write_all<S>(sink: &mut S, rx: &mut mpsc::UnboundedReceiver<Frames>) -> bool
where
    S: Sink<Message> + Unpin,
{
    let mut written = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some((batch, permit)) = next.take() {
            for message in batch {
                if sink.feed(message).await.is_err() {
                    return false;
                }
            }
            written.push(permit);
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return false;
        }
        written.clear();
    }
    true
}
