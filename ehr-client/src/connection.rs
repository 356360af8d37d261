//! The connection string a patient or a new device pastes: `nostr-ehr:<npub>?relay=<url>`.

use nostr::prelude::PublicKey;

use crate::keys;

/// Why a connection string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// It does not start with `nostr-ehr:`.
    #[error("a connection string starts with nostr-ehr:")]
    Scheme,
    /// It names no relay.
    #[error("a connection string names the relay: nostr-ehr:<npub>?relay=<url>")]
    NoRelay,
    /// The practice key is not an npub or hex public key.
    #[error("the practice key in the connection string is invalid")]
    PracticeKey,
    /// The relay URL is not a WebSocket URL.
    #[error("the relay URL must start with ws:// or wss://")]
    RelayUrl,
}

/// Whether two relay URLs name the same relay (an AUTH `relay` tag, a member's inbox list, an
/// import's source and target): scheme and host case-insensitive, a trailing slash ignored.
pub fn same_relay_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// A practice and its relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The practice root public key.
    pub practice: PublicKey,
    /// The practice relay, `ws://` or `wss://`.
    pub relay: String,
}

impl Connection {
    /// Check the relay URL's scheme.
    pub fn new(practice: PublicKey, relay: impl Into<String>) -> Result<Self, ConnectionError> {
        let relay = relay.into();
        if !(relay.starts_with("ws://") || relay.starts_with("wss://")) {
            return Err(ConnectionError::RelayUrl);
        }
        Ok(Self { practice, relay })
    }

    /// Parse `nostr-ehr:<npub>?relay=<url>`.
    pub fn parse(input: &str) -> Result<Self, ConnectionError> {
        let rest = input
            .trim()
            .strip_prefix("nostr-ehr:")
            .ok_or(ConnectionError::Scheme)?;
        let (practice, relay) = rest.split_once("?relay=").ok_or(ConnectionError::NoRelay)?;
        let practice =
            keys::parse_public_key(practice).map_err(|_| ConnectionError::PracticeKey)?;
        Self::new(practice, relay)
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nostr-ehr:{}?relay={}",
            keys::to_npub(&self.practice),
            self.relay
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::keys::Identity;

    #[test]
    fn a_connection_string_round_trips_and_bad_ones_are_named() {
        let practice = Identity::generate().public_key();
        let connection = Connection::new(practice, "wss://relay.example.org").unwrap();
        let text = connection.to_string();
        assert_eq!(Connection::parse(&text).unwrap(), connection);
        assert_eq!(
            Connection::parse("npub1x?relay=wss://r"),
            Err(ConnectionError::Scheme)
        );
        assert_eq!(
            Connection::parse("nostr-ehr:npub1x"),
            Err(ConnectionError::NoRelay)
        );
        assert_eq!(
            Connection::parse("nostr-ehr:npub1nope?relay=wss://r"),
            Err(ConnectionError::PracticeKey)
        );
        let http = format!("nostr-ehr:{}?relay=https://r", keys::to_npub(&practice));
        assert_eq!(Connection::parse(&http), Err(ConnectionError::RelayUrl));
    }
}
