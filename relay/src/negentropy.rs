//! NIP-77 negentropy sessions: the relay answers, the client initiates. The items of a session
//! come from the same scoped query as a REQ, so a reader reconciles only what it may read.

use std::collections::HashMap;
use std::fmt;

use negentropy::{Id, Negentropy, NegentropyStorageVector};

use crate::error::Reject;

/// Most items one session reconciles.
pub const MAX_ITEMS: usize = 500_000;
/// Largest negentropy frame the relay sends.
const FRAME_LIMIT: u64 = 256 * 1024;

/// A `NEG-ERR` message.
pub fn neg_err(sub: &str, reject: &Reject) -> String {
    serde_json::json!(["NEG-ERR", sub, reject.wire()]).to_string()
}

fn neg_msg(sub: &str, bytes: &[u8]) -> String {
    serde_json::json!(["NEG-MSG", sub, hex::encode(bytes)]).to_string()
}

/// Open sessions of one connection.
#[derive(Default)]
pub struct NegSessions {
    sessions: HashMap<String, Negentropy<'static, NegentropyStorageVector>>,
}

impl fmt::Debug for NegSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegSessions")
            .field("open", &self.sessions.len())
            .finish()
    }
}

impl NegSessions {
    /// Start (or restart) session `sub` over `items` and answer the client's first message.
    pub fn open(
        &mut self,
        sub: &str,
        items: Vec<(u64, Vec<u8>)>,
        initial: &str,
        max_sessions: usize,
    ) -> String {
        self.sessions.remove(sub);
        if self.sessions.len() >= max_sessions {
            return neg_err(
                sub,
                &Reject::restricted("too many open negentropy sessions"),
            );
        }
        if items.len() >= MAX_ITEMS {
            return neg_err(
                sub,
                &Reject::blocked("too many events to reconcile; narrow the filter"),
            );
        }
        let mut storage = NegentropyStorageVector::with_capacity(items.len());
        for (created_at, id) in items {
            let Ok(id) = <[u8; 32]>::try_from(id.as_slice()) else {
                return neg_err(sub, &Reject::error("the store holds a malformed id"));
            };
            if storage.insert(created_at, Id::from_byte_array(id)).is_err() {
                return neg_err(sub, &Reject::error("could not build the negentropy set"));
            }
        }
        if storage.seal().is_err() {
            return neg_err(sub, &Reject::error("could not build the negentropy set"));
        }
        let Ok(mut session) = Negentropy::owned(storage, FRAME_LIMIT) else {
            return neg_err(sub, &Reject::error("could not start negentropy"));
        };
        let reply = reconcile(&mut session, sub, initial);
        self.sessions.insert(sub.to_owned(), session);
        reply
    }

    /// Answer the next client message of session `sub`.
    pub fn message(&mut self, sub: &str, message: &str) -> String {
        match self.sessions.get_mut(sub) {
            Some(session) => reconcile(session, sub, message),
            None => neg_err(sub, &Reject::invalid("closed: no such negentropy session")),
        }
    }

    /// Forget session `sub`.
    pub fn close(&mut self, sub: &str) {
        self.sessions.remove(sub);
    }
}

fn reconcile(
    session: &mut Negentropy<'static, NegentropyStorageVector>,
    sub: &str,
    message: &str,
) -> String {
    let Ok(query) = hex::decode(message) else {
        return neg_err(sub, &Reject::invalid("negentropy message is not hex"));
    };
    match session.reconcile(&query) {
        Ok(reply) => neg_msg(sub, &reply),
        Err(_) => neg_err(sub, &Reject::invalid("malformed negentropy message")),
    }
}
