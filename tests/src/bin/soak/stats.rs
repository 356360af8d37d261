//! Counters every client adds to, read by the 30 s report and the final one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use nostr::prelude::EventId;

#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub unanswered: AtomicU64,
    pub live: AtomicU64,
    pub reads: AtomicU64,
    pub closed: AtomicU64,
    pub notices: AtomicU64,
    pub failed_clients: AtomicU64,
    /// Publish-to-OK, ms, since the last report.
    interval: Mutex<Vec<f64>>,
    /// Publish-to-OK, ms, the whole run.
    all: Mutex<Vec<f64>>,
    /// REQ-to-EOSE, ms, the whole run.
    reads_ms: Mutex<Vec<f64>>,
    /// Every event answered `OK true`.
    accepted_ids: Mutex<Vec<EventId>>,
}

fn push<T>(list: &Mutex<Vec<T>>, value: T) {
    list.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(value);
}

fn take<T: Clone>(list: &Mutex<Vec<T>>, drain: bool) -> Vec<T> {
    let mut list = list
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if drain {
        std::mem::take(&mut *list)
    } else {
        list.clone()
    }
}

impl Stats {
    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    pub fn ok(&self, id: EventId, accepted: bool, waited: Duration) {
        let ms = waited.as_secs_f64() * 1000.0;
        push(&self.interval, ms);
        push(&self.all, ms);
        if accepted {
            self.accepted.fetch_add(1, Relaxed);
            push(&self.accepted_ids, id);
        } else {
            self.refused.fetch_add(1, Relaxed);
        }
    }

    pub fn unanswered(&self, n: usize) {
        self.unanswered.fetch_add(n as u64, Relaxed);
    }

    pub fn live(&self) {
        self.live.fetch_add(1, Relaxed);
    }

    pub fn read(&self, waited: Duration) {
        self.reads.fetch_add(1, Relaxed);
        push(&self.reads_ms, waited.as_secs_f64() * 1000.0);
    }

    pub fn closed(&self) {
        self.closed.fetch_add(1, Relaxed);
    }

    pub fn notice(&self) {
        self.notices.fetch_add(1, Relaxed);
    }

    /// Publish-to-OK samples since the last call.
    pub fn take_interval(&self) -> Vec<f64> {
        take(&self.interval, true)
    }

    pub fn all_latencies(&self) -> Vec<f64> {
        take(&self.all, false)
    }

    pub fn read_latencies(&self) -> Vec<f64> {
        take(&self.reads_ms, false)
    }

    pub fn accepted_ids(&self) -> Vec<EventId> {
        take(&self.accepted_ids, false)
    }
}
