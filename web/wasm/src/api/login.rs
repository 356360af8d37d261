//! Logins beyond a plain nsec (DESIGN.md §11, "Logins and the session"): NIP-49 `ncryptsec`
//! with its password, the nsec handed out once to be sealed under a passkey, and the client
//! side of NIP-46 (remote signer): pairing URIs, requests and responses as NIP-44-encrypted
//! kind 24133 events. JavaScript only carries the events over the relay.

use ehr_client::crypto;
use ehr_client::keys::{self, Identity, KeyError};
use ehr_client::nostr::nips::nip46::{
    NostrConnectMessage, NostrConnectMethod, NostrConnectRequest, NostrConnectUri, ResponseResult,
};
use ehr_client::nostr::prelude::{
    Event, EventBuilder, FinalizeEvent, Kind, PublicKey, RelayUrl, Tag, Timestamp,
};
use serde_json::json;
use zeroize::Zeroizing;

/// Why a login step was refused. Messages say what to do and never quote a key, a password
/// or a signer's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// An ncryptsec came without a password.
    #[error("this is an encrypted key (ncryptsec): enter its password")]
    PasswordRequired,
    /// The password does not open the ncryptsec.
    #[error("the password does not open this encrypted key (ncryptsec)")]
    WrongPassword,
    /// Not a secret key in any form the portal takes.
    #[error("the secret key is not a valid nsec, ncryptsec or 64 hex digits")]
    SecretKey,
    /// A bunker URI that does not parse, or names no relay.
    #[error("the signer link must be bunker://<signer key>?relay=wss://…")]
    BunkerUri,
    /// A relay URL that is not one.
    #[error("the relay URL is not a valid ws:// or wss:// URL")]
    RelayUrl,
    /// A NIP-46 method or parameter list that NIP-46 does not define.
    #[error("not a NIP-46 request")]
    Request,
    /// No remote signer yet (pair first).
    #[error("no remote signer is connected")]
    NotPaired,
    /// An event that is not a NIP-46 message for this client.
    #[error("not a NIP-46 message for this login")]
    NotForUs,
    /// A message from a key other than the paired signer.
    #[error("a NIP-46 message came from another key than the signer")]
    WrongSigner,
    /// The signer's answer does not fit the request (e.g. a signed event that does not verify,
    /// or is signed by someone else).
    #[error("the signer's answer to {0} is not valid")]
    BadAnswer(String),
    /// Building or signing an event failed.
    #[error("the event could not be built or signed")]
    Signing,
}

/// Hex, `nsec`, or `ncryptsec` with `password` (NIP-49, scrypt; the work factor is the key's).
pub fn unlock(secret: &str, password: Option<&str>) -> Result<Identity, LoginError> {
    let password = password.filter(|p| !p.is_empty());
    Identity::parse(secret.trim(), password).map_err(|error| match error {
        KeyError::PasswordRequired => LoginError::PasswordRequired,
        KeyError::WrongPassword => LoginError::WrongPassword,
        _ => LoginError::SecretKey,
    })
}

/// The nsec of `identity`: only for sealing it under a passkey (the one time it leaves
/// WebAssembly, to be encrypted by WebCrypto at once).
pub fn export_nsec(identity: &Identity) -> Zeroizing<String> {
    keys::to_nsec(identity.secret_key())
}

/// The client half of a NIP-46 session: an ephemeral key (never the patient's), the remote
/// signer once known, and the secret a `nostrconnect://` pairing must echo.
#[derive(Debug)]
pub struct Nip46Session {
    client: Identity,
    signer: Option<PublicKey>,
    /// The `nostrconnect://` secret, until the signer echoes it.
    pairing: Option<Zeroizing<String>>,
}

impl Default for Nip46Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Nip46Session {
    /// A session with a fresh client key.
    pub fn new() -> Self {
        Self {
            client: Identity::generate(),
            signer: None,
            pairing: None,
        }
    }

    /// The ephemeral client key (for the relay's NIP-42 and for signing requests).
    pub fn client(&self) -> &Identity {
        &self.client
    }

    /// Take a `bunker://` URI: the signer becomes known; `{"signer": hex, "relays": [...],
    /// "connect": [params of the connect request]}`.
    pub fn bunker(&mut self, uri: &str) -> Result<String, LoginError> {
        let parsed = NostrConnectUri::parse(uri.trim()).map_err(|_| LoginError::BunkerUri)?;
        let NostrConnectUri::Bunker {
            remote_signer_public_key,
            relays,
            secret,
        } = parsed
        else {
            return Err(LoginError::BunkerUri);
        };
        if relays.is_empty() {
            return Err(LoginError::BunkerUri);
        }
        self.signer = Some(remote_signer_public_key);
        let mut connect = vec![remote_signer_public_key.to_hex()];
        connect.extend(secret);
        let relays: Vec<String> = relays.iter().map(ToString::to_string).collect();
        Ok(json!({
            "signer": remote_signer_public_key.to_hex(),
            "relays": relays,
            "connect": connect,
        })
        .to_string())
    }

    /// A `nostrconnect://` URI for `relay` naming this client, with a fresh secret the signer
    /// must echo in its `connect` response.
    pub fn nostrconnect_uri(&mut self, relay: &str, app: &str) -> Result<String, LoginError> {
        let relay = RelayUrl::parse(relay).map_err(|_| LoginError::RelayUrl)?;
        let uri = NostrConnectUri::client(self.client.public_key(), [relay], app);
        self.pairing = uri.secret().map(|s| Zeroizing::new(s.to_owned()));
        self.signer = None;
        Ok(uri.to_string())
    }

    /// The remote signer's key, hex, once known.
    pub fn signer(&self) -> Option<String> {
        self.signer.map(|s| s.to_hex())
    }

    /// A request `method(params)` to the signer, as a kind 24133 event at `created_at` (the
    /// browser's clock): `{"id", "event"}`.
    pub fn request(
        &self,
        method: &str,
        params: &str,
        created_at: f64,
    ) -> Result<String, LoginError> {
        let signer = self.signer.ok_or(LoginError::NotPaired)?;
        let method: NostrConnectMethod = method.parse().map_err(|_| LoginError::Request)?;
        let params: Vec<String> = serde_json::from_str(params).map_err(|_| LoginError::Request)?;
        let request =
            NostrConnectRequest::from_message(method, params).map_err(|_| LoginError::Request)?;
        let message = NostrConnectMessage::request(&request);
        let event = self.seal(&signer, &message, created_at)?;
        Ok(json!({ "id": message.id(), "event": event }).to_string())
    }

    fn seal(
        &self,
        to: &PublicKey,
        message: &NostrConnectMessage,
        created_at: f64,
    ) -> Result<Event, LoginError> {
        if !(created_at.is_finite() && created_at >= 0.0) {
            return Err(LoginError::Signing);
        }
        let json = serde_json::to_string(message).map_err(|_| LoginError::Signing)?;
        let content = crypto::nip44_encrypt(self.client.secret_key(), to, &json)
            .map_err(|_| LoginError::Signing)?;
        // Finite, non-negative: the cast keeps the whole seconds.
        EventBuilder::new(Kind::NostrConnect, content)
            .tag(Tag::public_key(*to))
            .custom_created_at(Timestamp::from_secs(created_at as u64))
            .finalize(self.client.keys())
            .map_err(|_| LoginError::Signing)
    }

    /// Open a kind 24133 event the relay delivered: `{"id", "result", "error"}` of a response
    /// from the signer, or `{"paired": true, "signer"}` when it completes a `nostrconnect://`
    /// pairing (a `connect` response echoing the secret). Anything else is refused: a request,
    /// an event for another key, a forged signature, a stranger's message.
    pub fn open(&mut self, event: &str) -> Result<String, LoginError> {
        let event: Event = serde_json::from_str(event).map_err(|_| LoginError::NotForUs)?;
        event.verify().map_err(|_| LoginError::NotForUs)?;
        let me = self.client.public_key();
        // NIP-46 addresses a message with the standard `p` tag.
        let to_me = event.tags.public_keys().any(|p| p == me);
        if event.kind != Kind::NostrConnect || !to_me {
            return Err(LoginError::NotForUs);
        }
        if self.signer.is_some_and(|s| s != event.pubkey) {
            return Err(LoginError::WrongSigner);
        }
        let plain = Zeroizing::new(
            crypto::nip44_decrypt(self.client.secret_key(), &event.pubkey, &event.content)
                .map_err(|_| LoginError::NotForUs)?,
        );
        let message: NostrConnectMessage =
            serde_json::from_str(&plain).map_err(|_| LoginError::NotForUs)?;
        let NostrConnectMessage::Response { id, result, error } = message else {
            return Err(LoginError::NotForUs);
        };
        if self.signer.is_none() {
            // Pairing: only the echo of our secret makes this key the signer.
            let echoed = self
                .pairing
                .as_ref()
                .is_some_and(|secret| result.as_deref() == Some(secret.as_str()));
            if !echoed {
                return Err(LoginError::WrongSigner);
            }
            self.pairing = None;
            self.signer = Some(event.pubkey);
            return Ok(json!({ "paired": true, "signer": event.pubkey.to_hex() }).to_string());
        }
        Ok(json!({ "id": id, "result": result, "error": error }).to_string())
    }

    /// Check a signer's `result` for `method` and normalise it: a `sign_event` answer must be
    /// an event that verifies and is signed by `user` (hex); `get_public_key` a public key.
    pub fn check(
        &self,
        method: &str,
        result: &str,
        user: Option<&str>,
    ) -> Result<String, LoginError> {
        let bad = || LoginError::BadAnswer(method.to_owned());
        let parsed_method: NostrConnectMethod = method.parse().map_err(|_| LoginError::Request)?;
        let parsed = ResponseResult::parse(parsed_method, result).map_err(|_| bad())?;
        match parsed {
            ResponseResult::GetPublicKey(key) => {
                keys::validate_public_key(&key).map_err(|_| bad())?;
                Ok(key.to_hex())
            }
            ResponseResult::SignEvent(event) => {
                event.verify().map_err(|_| bad())?;
                if user.is_some_and(|u| u != event.pubkey.to_hex()) {
                    return Err(bad());
                }
                serde_json::to_string(&event).map_err(|_| bad())
            }
            ResponseResult::AuthUrl | ResponseResult::Error => Err(bad()),
            _ => Ok(result.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests;
