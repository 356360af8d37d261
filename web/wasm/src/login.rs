//! Exports for the portal's logins (DESIGN.md §11, "Logins and the session"): a key from an
//! `ncryptsec` and its password, the nsec handed out once for a passkey, and the NIP-46 client
//! ([`Nip46Client`]). The logic is [`crate::api::login`]'s.

use wasm_bindgen::prelude::*;

use crate::HeldKey;
use crate::api::{self, login::Nip46Session};

#[wasm_bindgen]
impl HeldKey {
    /// Take an `nsec`, 64 hex digits, or a NIP-49 `ncryptsec` with its `password`.
    pub fn unlock(secret: &str, password: Option<String>) -> Result<HeldKey, JsError> {
        Ok(Self {
            identity: api::login::unlock(secret, password.as_deref())?,
        })
    }

    /// The nsec, only to seal it under a passkey at once (WebCrypto AES-GCM).
    #[wasm_bindgen(js_name = exportNsec)]
    pub fn export_nsec(&self) -> String {
        api::login::export_nsec(&self.identity).as_str().to_owned()
    }
}

/// The client side of a NIP-46 login: an ephemeral key held here, never the patient's.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Nip46Client {
    session: Nip46Session,
}

#[wasm_bindgen]
impl Nip46Client {
    /// A client with a fresh ephemeral key.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Nip46Client {
        Self::default()
    }

    /// The client key, hex.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.session.client().public_key().to_hex()
    }

    /// Sign a template as the client key (the relay's NIP-42 login).
    #[wasm_bindgen(js_name = signEvent)]
    pub fn sign_event(&self, template: &str) -> Result<String, JsError> {
        Ok(api::sign_event(self.session.client(), template)?)
    }

    /// Take a `bunker://` URI: `{"signer", "relays", "connect"}`.
    pub fn bunker(&mut self, uri: &str) -> Result<String, JsError> {
        Ok(self.session.bunker(uri)?)
    }

    /// A `nostrconnect://` URI for `relay`, with a fresh secret.
    #[wasm_bindgen(js_name = nostrConnectUri)]
    pub fn nostrconnect_uri(&mut self, relay: &str, app: &str) -> Result<String, JsError> {
        Ok(self.session.nostrconnect_uri(relay, app)?)
    }

    /// A request event: `{"id", "event"}`.
    pub fn request(&self, method: &str, params: &str, created_at: f64) -> Result<String, JsError> {
        Ok(self.session.request(method, params, created_at)?)
    }

    /// Open a delivered kind 24133 event: a response, or the completion of a pairing.
    pub fn open(&mut self, event: &str) -> Result<String, JsError> {
        Ok(self.session.open(event)?)
    }

    /// Check and normalise the signer's `result` for `method`.
    pub fn check(
        &self,
        method: &str,
        result: &str,
        user: Option<String>,
    ) -> Result<String, JsError> {
        Ok(self.session.check(method, result, user.as_deref())?)
    }
}
