//! What a patient's key must do, by whatever holds it: NIP-44 decryption to read
//! ([`Nip44Decrypt`]), NIP-44 encryption and event signing to write ([`PatientSigner`]).
//!
//! A raw key, a NIP-07 browser extension or a NIP-46 remote signer all answer
//! `nip44_decrypt(pubkey, payload)`, `nip44_encrypt(pubkey, plaintext)` and `sign_event`. The
//! traits are async and do not require `Send`, so a browser extension's promise can implement
//! them under WebAssembly.

use std::future::Future;

use nostr::prelude::{Event, PublicKey, SignEvent, UnsignedEvent};

use crate::crypto::{self, CryptoError};
use crate::keys::Identity;

/// Why a signer could not decrypt.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SignerError {
    /// Decryption ran and failed (wrong key, altered payload).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The signer (extension, bunker, user) refused the request.
    #[error("the signer refused the request")]
    Rejected,
    /// The signer could not be reached.
    #[error("the signer is unavailable: {0}")]
    Unavailable(String),
}

/// Anything that can NIP-44 decrypt for a user's key.
#[allow(async_fn_in_trait)]
pub trait Nip44Decrypt {
    /// The user's public key.
    fn public_key(&self) -> PublicKey;

    /// Decrypt `payload`, a NIP-44 message between `counterparty` and this user.
    fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> impl Future<Output = Result<String, SignerError>>;
}

impl Nip44Decrypt for Identity {
    fn public_key(&self) -> PublicKey {
        Identity::public_key(self)
    }

    async fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> Result<String, SignerError> {
        self.keys().nip44_decrypt(counterparty, payload).await
    }
}

/// Anything that can write as the patient: NIP-44 encrypt from her key and sign an event with
/// it (a NIP-07 extension's `nip44.encrypt` and `signEvent`, a NIP-46 bunker, a raw key).
#[allow(async_fn_in_trait)]
pub trait PatientSigner: Nip44Decrypt {
    /// Encrypt `plaintext` as a NIP-44 v2 message from this user to `counterparty`.
    fn nip44_encrypt(
        &self,
        counterparty: &PublicKey,
        plaintext: &str,
    ) -> impl Future<Output = Result<String, SignerError>>;

    /// Sign `unsigned` (its pubkey is this user's). The caller checks that what comes back is
    /// the event it asked for, validly signed: a signer is not trusted to return it unchanged.
    fn sign_event(
        &self,
        unsigned: UnsignedEvent,
    ) -> impl Future<Output = Result<Event, SignerError>>;
}

impl PatientSigner for Identity {
    async fn nip44_encrypt(
        &self,
        counterparty: &PublicKey,
        plaintext: &str,
    ) -> Result<String, SignerError> {
        Ok(crypto::nip44_encrypt(
            self.secret_key(),
            counterparty,
            plaintext,
        )?)
    }

    async fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event, SignerError> {
        SignEvent::sign_event(self.keys(), unsigned).map_err(|_| SignerError::Rejected)
    }
}

impl Nip44Decrypt for nostr::prelude::Keys {
    fn public_key(&self) -> PublicKey {
        nostr::prelude::Keys::public_key(self)
    }

    async fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> Result<String, SignerError> {
        Ok(crypto::nip44_decrypt(
            self.secret_key(),
            counterparty,
            payload,
        )?)
    }
}
