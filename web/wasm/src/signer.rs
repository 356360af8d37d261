//! The portal's signer object (`web/shared/signers.js`) seen from Rust: one adapter for every
//! login method, for reading (NIP-44 decrypt) and writing (encrypt and sign) alike.

use ehr_client::nostr::prelude::{Event, PublicKey, UnsignedEvent};
use ehr_client::signer::{Nip44Decrypt, PatientSigner, SignerError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::api;

/// The portal's signer object (`web/shared/signers.js`: `{publicKey, signEvent(template),
/// nip44: {encrypt, decrypt}}`, every method returning a promise) as a [`PatientSigner`], so any
/// login (nsec, NIP-07, NIP-46, passkey) writes the same patient-authored events.
#[derive(Debug)]
pub struct JsPatientSigner {
    public_key: PublicKey,
    signer: JsValue,
    nip44: JsValue,
}

impl JsPatientSigner {
    /// Wrap the signer object; it must have a `publicKey` and `nip44`.
    pub fn new(signer: JsValue) -> Result<Self, JsError> {
        let public_key = js_sys::Reflect::get(&signer, &JsValue::from_str("publicKey"))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or_else(|| JsError::new("the signer has no publicKey"))?;
        let nip44 = js_sys::Reflect::get(&signer, &JsValue::from_str("nip44"))
            .map_err(|_| JsError::new("the signer has no nip44"))?;
        Ok(Self {
            public_key: api::public_key(&public_key, "signer")?,
            signer,
            nip44,
        })
    }

    /// Call `target[name](args...)` and await the promise it returns. A throw or a rejection
    /// is the signer (or the user) saying no; its message could quote anything and is dropped.
    async fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, SignerError> {
        let function: js_sys::Function = js_sys::Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| SignerError::Unavailable(format!("the signer has no {name}")))?;
        let array: js_sys::Array = args.iter().collect();
        let returned = function
            .apply(target, &array)
            .map_err(|_| SignerError::Rejected)?;
        JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map_err(|_| SignerError::Rejected)
    }
}

impl Nip44Decrypt for JsPatientSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    async fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> Result<String, SignerError> {
        let args = [
            JsValue::from_str(&counterparty.to_hex()),
            JsValue::from_str(payload),
        ];
        Self::call(&self.nip44, "decrypt", &args)
            .await?
            .as_string()
            .ok_or_else(|| SignerError::Unavailable("the signer returned no text".to_owned()))
    }
}

impl PatientSigner for JsPatientSigner {
    async fn nip44_encrypt(
        &self,
        counterparty: &PublicKey,
        plaintext: &str,
    ) -> Result<String, SignerError> {
        let args = [
            JsValue::from_str(&counterparty.to_hex()),
            JsValue::from_str(plaintext),
        ];
        Self::call(&self.nip44, "encrypt", &args)
            .await?
            .as_string()
            .ok_or_else(|| SignerError::Unavailable("the signer returned no text".to_owned()))
    }

    async fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event, SignerError> {
        // NIP-07's template: {kind, created_at, tags, content}.
        let template = api::template_of(&unsigned);
        let template = js_sys::JSON::parse(&template.to_string())
            .map_err(|_| SignerError::Unavailable("the event template".to_owned()))?;
        let signed = Self::call(&self.signer, "signEvent", &[template]).await?;
        let text = js_sys::JSON::stringify(&signed)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| SignerError::Unavailable("the signer returned no event".to_owned()))?;
        serde_json::from_str::<Event>(&text)
            .map_err(|_| SignerError::Unavailable("the signer returned no event".to_owned()))
    }
}
