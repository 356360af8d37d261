//! State shared by every connection: the store, the members, live fan-out, and the group-commit
//! writer. An event is acknowledged only after the transaction holding it commits; events that
//! arrive together share one transaction (and one fsync).

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nostr::prelude::{Event, EventId, Timestamp};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::access::{Access, changes_access};
use crate::error::{Reject, RelayError};
use crate::store::{Store, WriteJob, WriteOutcome, parse_stored};

/// Most events in one transaction.
const MAX_BATCH: usize = 1024;
/// Live events buffered per connection before a slow reader loses its subscriptions.
pub const LIVE_BUFFER: usize = 4096;

/// An event on its way to live subscribers.
#[derive(Debug)]
pub struct LiveEvent {
    /// The parsed event, for filter and scope checks.
    pub event: Event,
    /// Its JSON, sent as is.
    pub raw: String,
}

/// A write waiting for its commit.
#[derive(Debug)]
pub struct Pending {
    job: WriteJob,
    reply: oneshot::Sender<Result<WriteOutcome, Reject>>,
}

/// Shared state.
#[derive(Debug)]
pub struct Hub {
    store: Store,
    access: RwLock<Access>,
    live: broadcast::Sender<Arc<LiveEvent>>,
    /// Role reloads started, and the latest one applied: see [`Hub::reload_roles`].
    role_reloads: std::sync::atomic::AtomicU64,
    roles_applied: std::sync::Mutex<u64>,
}

impl Hub {
    /// Load the practice's rosters, guardianships and NIP-86 roles from the store.
    pub async fn load(store: Store, access: Access) -> Result<Arc<Self>, RelayError> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let hub = Arc::new(Self {
            store,
            access: RwLock::new(access),
            live,
            role_reloads: std::sync::atomic::AtomicU64::new(0),
            roles_applied: std::sync::Mutex::new(0),
        });
        hub.reload_practice_events().await?;
        hub.reload_roles().await?;
        Ok(hub)
    }

    /// Re-read rosters, guardianships, slot holds and appointments (at start, and after a
    /// LISTEN gap on PostgreSQL, in which other processes may have stored revocations or
    /// bookings). Applying is idempotent.
    pub async fn reload_practice_events(&self) -> Result<(), RelayError> {
        let events = self
            .store
            .events_of_kinds(&[
                ehr_client::kinds::ROSTER,
                ehr_client::kinds::GUARDIANSHIP,
                ehr_client::kinds::SLOT_HOLD,
                ehr_client::kinds::APPOINTMENT,
            ])
            .await?;
        let mut access = self.access_mut();
        for event in &events {
            access.apply(event);
        }
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Read the member view. A poisoned lock still holds a consistent view: every writer
    /// replaces whole fields.
    pub fn access(&self) -> RwLockReadGuard<'_, Access> {
        self.access
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn access_mut(&self) -> RwLockWriteGuard<'_, Access> {
        self.access
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-read NIP-86 roles and bans (after a management call here or in another process).
    ///
    /// Reloads run concurrently (a management call here, a NOTIFY, a LISTEN reconnect). A
    /// read that started earlier may finish later: applying it would undo a newer change (a
    /// key just allowed would count as a stranger). So only a reload that started after the
    /// last one applied is applied.
    pub async fn reload_roles(&self) -> Result<(), RelayError> {
        use std::sync::atomic::Ordering;
        let started = self.role_reloads.fetch_add(1, Ordering::SeqCst) + 1;
        let (assigned, bans) = self.store.assigned_roles().await?;
        let mut applied = self
            .roles_applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if started > *applied {
            *applied = started;
            self.access_mut().set_assigned(assigned, bans);
        }
        Ok(())
    }

    /// Subscribe to live events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.live.subscribe()
    }

    /// Hand an event to local subscribers, and let rosters and guardianships change access.
    pub fn deliver(&self, event: Event, raw: String) {
        if changes_access(event.kind.as_u16()) {
            self.access_mut().apply(&event);
        }
        // No receivers is fine: nobody is subscribed.
        let _ = self.live.send(Arc::new(LiveEvent { event, raw }));
    }

    /// Take an event announced by another process (PostgreSQL NOTIFY).
    pub async fn deliver_announced(&self, id: &EventId) -> Result<(), RelayError> {
        if let Some(raw) = self.store.event_json(id).await? {
            let event = parse_stored(&raw, 0)?;
            self.deliver(event, raw);
        }
        Ok(())
    }

    /// The group-commit writer: runs until every sender is gone, then returns.
    /// `quota` is `limits.author_quota_bytes`.
    pub async fn run_writer(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Pending>,
        fan_out_locally: bool,
        quota: u64,
    ) {
        let mut carried: Option<Pending> = None;
        loop {
            let first = match carried.take() {
                Some(p) => p,
                None => match queue.recv().await {
                    Some(p) => p,
                    None => return,
                },
            };
            let mut batch = vec![first];
            // Rosters are checked against the chain as it stands, so each commits alone.
            if !is_barrier(&batch) {
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(p) if is_barrier(std::slice::from_ref(&p)) => {
                            carried = Some(p);
                            break;
                        }
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
            }
            self.commit(batch, fan_out_locally, quota).await;
        }
    }

    async fn commit(&self, batch: Vec<Pending>, fan_out_locally: bool, quota: u64) {
        let mut jobs = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for pending in batch {
            let checked = match pending.job.event.kind.as_u16() {
                ehr_client::kinds::ROSTER => self.access().check_roster(&pending.job.event),
                ehr_client::kinds::SLOT_HOLD | ehr_client::kinds::APPOINTMENT => {
                    self.access().check_scheduling(&pending.job.event)
                }
                _ => Ok(()),
            };
            if let Err(reject) = checked {
                let _ = pending.reply.send(Err(reject));
                continue;
            }
            jobs.push(pending.job);
            replies.push(pending.reply);
        }
        if jobs.is_empty() {
            return;
        }
        match self.store.write_batch_within(&jobs, quota).await {
            Ok(outcomes) => {
                let stored = outcomes
                    .iter()
                    .filter(|o| **o == WriteOutcome::Stored)
                    .count();
                ehr_service::metrics::events_stored(stored as u64);
                for ((job, reply), outcome) in jobs.into_iter().zip(replies).zip(outcomes) {
                    if outcome == WriteOutcome::Stored {
                        if fan_out_locally {
                            self.deliver(job.event, job.raw);
                        } else {
                            // Other processes hear of it by NOTIFY; access changes here at once.
                            if changes_access(job.event.kind.as_u16()) {
                                self.access_mut().apply(&job.event);
                            }
                        }
                    }
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(%error, events = jobs.len(), "group commit failed");
                let reject = Reject::from(&error);
                for reply in replies {
                    let _ = reply.send(Err(reject.clone()));
                }
            }
        }
    }
}

/// Rosters and guardianships change who may do what: each commits in a batch of its own.
fn is_barrier(batch: &[Pending]) -> bool {
    batch
        .iter()
        .any(|p| changes_access(p.job.event.kind.as_u16()))
}

/// The sending side of the writer, held by connections.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl Writer {
    /// A writer queue; pass the receiver to [`Hub::run_writer`].
    pub fn channel() -> (Self, mpsc::Receiver<Pending>) {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * 4);
        (Self { queue }, receiver)
    }

    /// Queue an event; the receiver resolves once its transaction commits (or fails).
    pub async fn submit(
        &self,
        event: Event,
        raw: String,
        now: Timestamp,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome, Reject>>, RelayError> {
        let (reply, done) = oneshot::channel();
        let job = WriteJob {
            event,
            raw,
            received_at: now,
        };
        self.queue
            .send(Pending { job, reply })
            .await
            .map_err(|_| RelayError::ShuttingDown)?;
        Ok(done)
    }
}
