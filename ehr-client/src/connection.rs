//! The connection string a patient or a new device pastes: `nostr-ehr:<npub>?relay=<url>`,
//! optionally with the practice's Blossom server and name, and signed by the practice root key
//! (DESIGN.md §11): `nostr-ehr:<npub>?relay=<url>&blossom=<url>&name=<text>&sig=<hex>`.
//!
//! The signature is BIP-340 over the id of a Nostr event that is never published: kind
//! [`CONNECTION_KIND`], `created_at` 0, no tags, content the JSON array
//! `["nostr-ehr-connection", 1, practice hex, relay, blossom or "", name or ""]`. So a string
//! whose relay or Blossom was changed, or that was signed by any key but the practice's, does
//! not verify: the portal refuses it as phishing. The CLI still accepts unsigned strings.

use nostr::prelude::{
    EventBuilder, FinalizeEvent, FinalizeUnsignedEvent, Kind, PublicKey, Signature, Timestamp,
};

use crate::keys::{self, Identity};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The kind of the (never published) event a connection signature signs: ephemeral, so a
/// relay would not keep one either.
pub const CONNECTION_KIND: u16 = 22_100;

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
    /// The Blossom URL is not an http(s) URL.
    #[error("the Blossom URL must start with http:// or https://")]
    BlossomUrl,
    /// A parameter is malformed, repeated or unknown.
    #[error("the connection string has a malformed, repeated or unknown parameter")]
    Parameter,
    /// No signature, where one is required (the portal).
    #[error(
        "this connection string is not signed by its practice: ask your practice for its signed connection string"
    )]
    Unsigned,
    /// The signature does not verify for the practice key it names.
    #[error(
        "this connection string was not signed by the practice it names: its relay or document server may have been changed by someone else (possible phishing). Do not use it; ask your practice for its connection string"
    )]
    BadSignature,
    /// Signing with a key that is not the practice root key.
    #[error("only the practice root key signs its connection string")]
    NotTheRoot,
}

/// Whether two relay URLs name the same relay (an AUTH `relay` tag, a member's inbox list, an
/// import's source and target): scheme and host case-insensitive, a trailing slash ignored.
pub fn same_relay_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// A practice and its relay (and, in a signed string, its Blossom server and name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The practice root public key.
    pub practice: PublicKey,
    /// The practice relay, `ws://` or `wss://`.
    pub relay: String,
    /// The practice's Blossom server, `http(s)://`.
    pub blossom: Option<String>,
    /// The practice's name, as it signed it.
    pub name: Option<String>,
    /// The root key's signature over all of the above.
    pub signature: Option<Signature>,
}

impl Connection {
    /// Check the relay URL's scheme.
    pub fn new(practice: PublicKey, relay: impl Into<String>) -> Result<Self, ConnectionError> {
        let relay = relay.into();
        if !(relay.starts_with("ws://") || relay.starts_with("wss://")) {
            return Err(ConnectionError::RelayUrl);
        }
        Ok(Self {
            practice,
            relay,
            blossom: None,
            name: None,
            signature: None,
        })
    }

    /// With the practice's Blossom server (drops any signature: sign again).
    pub fn with_blossom(mut self, blossom: impl Into<String>) -> Result<Self, ConnectionError> {
        let blossom = blossom.into();
        if !(blossom.starts_with("http://") || blossom.starts_with("https://")) {
            return Err(ConnectionError::BlossomUrl);
        }
        self.blossom = Some(blossom);
        self.signature = None;
        Ok(self)
    }

    /// With the practice's name (drops any signature: sign again).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self.signature = None;
        self
    }

    /// The unpublished event whose id the signature signs.
    fn signed_content(&self) -> String {
        serde_json::json!([
            "nostr-ehr-connection",
            1,
            self.practice.to_hex(),
            self.relay,
            self.blossom.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
        ])
        .to_string()
    }

    fn builder(&self) -> EventBuilder {
        EventBuilder::new(Kind::Custom(CONNECTION_KIND), self.signed_content())
            .custom_created_at(Timestamp::from_secs(0))
    }

    /// Sign with the practice root key (`root` must be the key the string names).
    pub fn sign(mut self, root: &Identity) -> Result<Self, ConnectionError> {
        if root.public_key() != self.practice {
            return Err(ConnectionError::NotTheRoot);
        }
        let event = self
            .builder()
            .finalize(root.keys())
            .map_err(|_| ConnectionError::NotTheRoot)?;
        self.signature = Some(event.sig);
        Ok(self)
    }

    /// Whether it is signed at all.
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// Check the signature: [`ConnectionError::Unsigned`] without one,
    /// [`ConnectionError::BadSignature`] when it is not the named practice's over exactly
    /// this practice, relay, Blossom server and name.
    pub fn verify(&self) -> Result<(), ConnectionError> {
        let signature = self.signature.ok_or(ConnectionError::Unsigned)?;
        self.builder()
            .finalize_unsigned(self.practice)
            .add_signature(signature)
            .map(|_| ())
            .map_err(|_| ConnectionError::BadSignature)
    }

    /// Parse a connection string; a signature, when present, must verify (an unsigned string
    /// is accepted: see [`Connection::parse_signed`]).
    pub fn parse(input: &str) -> Result<Self, ConnectionError> {
        let rest = input
            .trim()
            .strip_prefix("nostr-ehr:")
            .ok_or(ConnectionError::Scheme)?;
        let (practice, query) = rest.split_once('?').ok_or(ConnectionError::NoRelay)?;
        let practice =
            keys::parse_public_key(practice).map_err(|_| ConnectionError::PracticeKey)?;
        let query = query
            .strip_prefix("relay=")
            .ok_or(ConnectionError::NoRelay)?;
        // A string without other parameters keeps its relay URL verbatim (as before signing).
        if !query.contains("&blossom=") && !query.contains("&name=") && !query.contains("&sig=") {
            return Self::new(practice, query);
        }
        let (mut relay, mut blossom, mut name, mut sig) = (None, None, None, None);
        for (i, pair) in query.split('&').enumerate() {
            let (key, value) = if i == 0 {
                ("relay", pair)
            } else {
                pair.split_once('=').ok_or(ConnectionError::Parameter)?
            };
            let value = percent_decode(value).ok_or(ConnectionError::Parameter)?;
            let slot = match key {
                "relay" => &mut relay,
                "blossom" => &mut blossom,
                "name" => &mut name,
                "sig" => &mut sig,
                _ => return Err(ConnectionError::Parameter),
            };
            if slot.replace(value).is_some() {
                return Err(ConnectionError::Parameter);
            }
        }
        let mut connection = Self::new(practice, relay.ok_or(ConnectionError::NoRelay)?)?;
        if let Some(blossom) = blossom {
            connection = connection.with_blossom(blossom)?;
        }
        connection.name = name;
        if let Some(sig) = sig {
            let signature: Signature = sig.parse().map_err(|_| ConnectionError::BadSignature)?;
            connection.signature = Some(signature);
            connection.verify()?;
        }
        Ok(connection)
    }

    /// Parse a connection string that must carry a valid signature of the practice it names.
    pub fn parse_signed(input: &str) -> Result<Self, ConnectionError> {
        let connection = Self::parse(input)?;
        connection.verify()?;
        Ok(connection)
    }
}

/// Escaped in a query value: everything but unreserved characters and `:` `/`, which stay
/// readable in the URLs.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/');

/// `%XX` escapes decoded (UTF-8); `None` for invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let npub = keys::to_npub(&self.practice);
        if self.blossom.is_none() && self.name.is_none() && self.signature.is_none() {
            return write!(f, "nostr-ehr:{npub}?relay={}", self.relay);
        }
        write!(f, "nostr-ehr:{npub}?relay={}", percent_encode(&self.relay))?;
        if let Some(blossom) = &self.blossom {
            write!(f, "&blossom={}", percent_encode(blossom))?;
        }
        if let Some(name) = &self.name {
            write!(f, "&name={}", percent_encode(name))?;
        }
        if let Some(signature) = &self.signature {
            write!(f, "&sig={signature}")?;
        }
        Ok(())
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

    #[test]
    fn a_signed_string_round_trips_and_any_change_or_other_signer_is_phishing() {
        let root = Identity::generate();
        let signed = Connection::new(root.public_key(), "wss://relay.example.org")
            .unwrap()
            .with_blossom("https://blobs.example.org")
            .unwrap()
            .with_name("Clinic & Co. – Ünïcode")
            .sign(&root)
            .unwrap();
        let text = signed.to_string();
        assert_eq!(Connection::parse_signed(&text).unwrap(), signed);
        // Another relay or Blossom server in the same string: the signature no longer holds.
        for (from, to) in [
            ("relay.example.org", "relay.evil.example"),
            ("blobs.example.org", "blobs.evil.example"),
            ("Clinic", "Clinik"),
        ] {
            let tampered = text.replacen(from, to, 1);
            assert_eq!(
                Connection::parse(&tampered),
                Err(ConnectionError::BadSignature),
                "{tampered}"
            );
        }
        // Signed by another key while naming this practice.
        let mallory = Identity::generate();
        let forged = Connection::new(mallory.public_key(), "wss://relay.evil.example")
            .unwrap()
            .sign(&mallory)
            .unwrap()
            .to_string()
            .replace(
                &keys::to_npub(&mallory.public_key()),
                &keys::to_npub(&root.public_key()),
            );
        assert_eq!(
            Connection::parse(&forged),
            Err(ConnectionError::BadSignature)
        );
        assert_eq!(
            Connection::new(root.public_key(), "wss://r")
                .unwrap()
                .sign(&mallory),
            Err(ConnectionError::NotTheRoot)
        );
        // Unsigned strings: the CLI takes them, the portal's parse_signed does not.
        let plain = Connection::new(root.public_key(), "wss://relay.example.org").unwrap();
        assert_eq!(Connection::parse(&plain.to_string()).unwrap(), plain);
        assert_eq!(
            Connection::parse_signed(&plain.to_string()),
            Err(ConnectionError::Unsigned)
        );
        let repeated = format!("{text}&sig=00");
        assert_eq!(
            Connection::parse(&repeated),
            Err(ConnectionError::Parameter)
        );
    }
}
