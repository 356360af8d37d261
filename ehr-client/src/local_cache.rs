//! The clinic app's offline cache at rest (DESIGN.md §12): what a member opened (the key events,
//! the patient list's events, charts) and her outbox, kept in the browser's IndexedDB so she
//! keeps working when the relay cannot be reached, and never in clear there.
//!
//! Each device login makes one random [`CacheKey`]; the member's own key seals it to herself
//! (NIP-44 to her own pubkey, through whatever signs for her: a key held in WebAssembly, a
//! NIP-07 extension, a NIP-46 signer), so only her login opens the cache again, and a stolen
//! disk without her key opens nothing. Entries are sealed with AES-256-GCM under a key derived
//! from it (HKDF-SHA256), their name bound as associated data so one entry cannot be passed off
//! as another; entries are stored under an opaque id (a keyed hash of the name), so the store
//! does not even show which patients were opened. Wiping is deleting the store: the app does
//! it on logout and when the inactivity lock wipes the session.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The version byte of a sealed entry (and of the derivation labels).
const VERSION: u8 = 1;
/// AES-GCM's nonce length.
const NONCE: usize = 12;

/// Why a cache entry or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The cache key is not 64 hex digits.
    #[error("the cache key is not 64 hex digits")]
    Key,
    /// The entry is not one this version sealed, or was altered, or belongs to another name
    /// or another key.
    #[error("the cache entry does not open with this key")]
    Open,
    /// The system's random source failed.
    #[error("no randomness for the cache")]
    Random,
}

/// One device login's cache key: 32 random bytes, zeroed when dropped.
pub struct CacheKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(<redacted>)")
    }
}

impl CacheKey {
    /// A new random key.
    pub fn generate() -> Result<Self, CacheError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(|_| CacheError::Random)?;
        Ok(Self(key))
    }

    /// The key from its hex form (as the member's seal to herself holds it).
    pub fn from_hex(text: &str) -> Result<Self, CacheError> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), key.as_mut_slice()).map_err(|_| CacheError::Key)?;
        Ok(Self(key))
    }

    /// The key's hex form, to seal to the member (NIP-44); zeroed when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let info = format!("nostr-ehr local cache v{VERSION} {label}");
        // 32 bytes is far below HKDF-SHA256's limit (8160): expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, self.0.as_slice())
            .expand(info.as_bytes(), out.as_mut_slice());
        out
    }

    fn cipher(&self) -> Aes256Gcm {
        let key = self.derive("entries");
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_slice()))
    }

    /// The opaque id entry `name` is stored under: a keyed hash, so the store's keys say
    /// nothing (not which patient a chart is).
    pub fn entry_id(&self, name: &str) -> String {
        let key = self.derive("entry ids");
        let mut id = [0u8; 16];
        let _ = Hkdf::<Sha256>::from_prk(key.as_slice())
            .map(|prk| prk.expand(name.as_bytes(), &mut id));
        hex::encode(id)
    }

    /// `plaintext` sealed as entry `name`: base64 of version, nonce and ciphertext.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, CacheError> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|_| CacheError::Random)?;
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| CacheError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of entry `name` sealed by [`Self::seal`] under this key.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, CacheError> {
        let bytes = STANDARD
            .decode(sealed.trim())
            .map_err(|_| CacheError::Open)?;
        let (version, rest) = bytes.split_first().ok_or(CacheError::Open)?;
        if *version != VERSION || rest.len() < NONCE {
            return Err(CacheError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CacheError::Open)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_entry_opens_with_its_key_and_name_only() {
        let key = CacheKey::generate().unwrap();
        let sealed = key.seal("chart:abc", b"Hypertension plan MARKER").unwrap();
        assert_eq!(
            key.open("chart:abc", &sealed).unwrap().as_slice(),
            b"Hypertension plan MARKER"
        );
        assert!(!sealed.contains("MARKER"));
        assert_eq!(
            key.open("chart:def", &sealed).unwrap_err(),
            CacheError::Open
        );
        let other = CacheKey::generate().unwrap();
        assert_eq!(
            other.open("chart:abc", &sealed).unwrap_err(),
            CacheError::Open
        );
        let mut altered = STANDARD.decode(&sealed).unwrap();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert!(key.open("chart:abc", &STANDARD.encode(altered)).is_err());
    }

    #[test]
    fn entry_ids_are_stable_per_key_and_reveal_nothing_of_the_name() {
        let key = CacheKey::generate().unwrap();
        let again = CacheKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(key.entry_id("chart:abc"), again.entry_id("chart:abc"));
        assert_ne!(key.entry_id("chart:abc"), key.entry_id("chart:abd"));
        let other = CacheKey::generate().unwrap();
        assert_ne!(key.entry_id("chart:abc"), other.entry_id("chart:abc"));
        assert_eq!(format!("{key:?}"), "CacheKey(<redacted>)");
        assert_eq!(CacheKey::from_hex("zz").unwrap_err(), CacheError::Key);
    }
}
