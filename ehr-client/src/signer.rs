//! The one capability a patient's reader needs: NIP-44 decryption by whatever holds the key.
//!
//! A raw key, a NIP-07 browser extension or a NIP-46 remote signer all answer
//! `nip44_decrypt(pubkey, payload)`. The trait is async and does not require `Send`, so a
//! browser extension's promise can implement it under WebAssembly.

use std::future::Future;

use nostr::prelude::PublicKey;

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
