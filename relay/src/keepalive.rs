//! Idle connections: a connection from which nothing arrived (no frame at all, pongs included)
//! for `limits.idle_timeout_seconds` is closed. The relay pings every half of that, so a live
//! client (nostr-sdk, browsers and tungstenite answer pings by themselves) is never idle, while
//! a vanished one stops holding a slot, subscriptions and a task.

use axum::body::Bytes;
use axum::extract::ws::Message;
use tokio::time::{Duration, Instant};

use crate::error::Reject;

/// The NOTICE sent before an idle connection is closed.
pub(crate) const IDLE: Reject = Reject::error("nothing received for too long; closing");

/// What to do at a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The client was heard lately: ping it, so a quiet subscriber is heard by the next beat.
    Ping,
    /// Nothing for the whole timeout: say so and close.
    Idle,
}

/// One connection's idle clock.
#[derive(Debug)]
pub(crate) struct Keepalive {
    timeout: Duration,
    last_heard: Instant,
    next_beat: Instant,
}

impl Keepalive {
    /// A clock for a connection that just opened.
    pub(crate) fn new(timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            timeout,
            last_heard: now,
            next_beat: now + timeout / 2,
        }
    }

    /// When the next beat is due (a plain value, so the `select!` future borrows nothing).
    pub(crate) fn next_beat(&self) -> Instant {
        self.next_beat
    }

    /// Note that a frame (or the end of the stream) arrived, and pass it on.
    pub(crate) fn heard<T>(&mut self, frame: T) -> T {
        self.last_heard = Instant::now();
        frame
    }

    /// The beat that is due now; schedules the next one.
    pub(crate) fn beat(&mut self) -> Beat {
        let now = Instant::now();
        self.next_beat = now + self.timeout / 2;
        if now.duration_since(self.last_heard) >= self.timeout {
            Beat::Idle
        } else {
            Beat::Ping
        }
    }
}

/// The ping a beat sends.
pub(crate) fn ping() -> Message {
    Message::Ping(Bytes::new())
}
