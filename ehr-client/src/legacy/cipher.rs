//! The Nostr EHR legacy cipher, decrypt only (`../shared/DESIGN.md` §7).
//!
//! The TypeScript reference labels it "nip44-v2", but it is not NIP-44 v2:
//!
//! - the conversation key is HKDF-SHA256 of the ECDH x-coordinate with salt `"nip44-v2"`,
//!   *expanded* to 76 bytes (NIP-44 keeps the 32-byte extract);
//! - message keys are HKDF-SHA256 of those 76 bytes, salt = the 32-byte nonce, info
//!   `"nip44-v2"`, 76 bytes: ChaCha20 key 0..32, ChaCha20 nonce 32..44, the rest unused;
//! - the plaintext is padded to 32 bytes or the next power of two, behind a 2-byte length;
//! - the tag is Poly1305 over the ciphertext alone, keyed with ChaCha20 block 0; data is
//!   encrypted from block 1;
//! - the payload is standard base64 of `0x02 || nonce(32) || ciphertext || tag(16)`.
//!
//! The HKDF extract step is exactly NIP-44's conversation key, so
//! [`LegacyConversationKey::derive`] takes it from `nostr`'s NIP-44 code (one ECDH, in the
//! `nostr` crate) and only expands it here. Grants of the reference carry the raw x-coordinate
//! instead; [`LegacyConversationKey::from_shared_x`] takes that. Only RustCrypto primitives are
//! used (`hkdf`, `chacha20`, `poly1305`), and the tag is compared in constant time (`subtle`).

use base64::Engine as _;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use hkdf::Hkdf;
use nostr::nips::nip44::v2::ConversationKey;
use nostr::prelude::{PublicKey, SecretKey};
use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The version byte the reference writes.
const VERSION: u8 = 2;
/// The HKDF salt of the conversation key and the info of the message keys.
const LABEL: &[u8] = b"nip44-v2";
/// Length of the conversation key and of the message keys.
const KEY_MATERIAL: usize = 76;
const NONCE: usize = 32;
const TAG: usize = 16;
/// Smallest padded plaintext: the 2-byte length and a 32-byte body.
const MIN_PADDED: usize = 2 + 32;
/// Largest payload accepted, in base64 characters (as for NIP-44 in `crypto`).
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Why a legacy payload could not be opened. No variant carries key or plaintext material.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum LegacyCipherError {
    /// Not standard padded base64.
    #[error("legacy payload: not valid base64")]
    Base64,
    /// Larger than [`MAX_PAYLOAD`].
    #[error("legacy payload: too large")]
    TooLarge,
    /// Shorter than version, nonce, the smallest padded message and the tag.
    #[error("legacy payload: too short")]
    TooShort,
    /// A version byte other than 2.
    #[error("legacy payload: unknown version {0}")]
    Version(u8),
    /// The Poly1305 tag does not match: wrong key, or the payload was altered.
    #[error("legacy payload: authentication failed (wrong key or altered payload)")]
    Authentication,
    /// The padded plaintext is not the reference's padding of any length.
    #[error("legacy payload: invalid padding")]
    Padding,
    /// The plaintext is not UTF-8.
    #[error("legacy payload: plaintext is not UTF-8")]
    NotUtf8,
    /// A shared secret or key that is not usable (wrong length, not a curve point).
    #[error("legacy payload: invalid key")]
    InvalidKey,
}

/// The 76-byte legacy conversation key of one pair of keys (wiped on drop).
#[derive(Clone)]
pub struct LegacyConversationKey(Zeroizing<[u8; KEY_MATERIAL]>);

impl std::fmt::Debug for LegacyConversationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacyConversationKey(<redacted>)")
    }
}

impl LegacyConversationKey {
    /// From the 32-byte ECDH x-coordinate ("X1", "X2"; the grants of the reference carry it).
    pub fn from_shared_x(shared_x: &[u8]) -> Result<Self, LegacyCipherError> {
        if shared_x.len() != 32 {
            return Err(LegacyCipherError::InvalidKey);
        }
        Self::expand(Hkdf::<Sha256>::new(Some(LABEL), shared_x))
    }

    /// From the hex x-coordinate of a grant.
    pub fn from_shared_x_hex(hex_x: &str) -> Result<Self, LegacyCipherError> {
        let bytes = Zeroizing::new(hex::decode(hex_x).map_err(|_| LegacyCipherError::InvalidKey)?);
        Self::from_shared_x(&bytes)
    }

    /// Between `secret_key` and `public_key`: ECDH and the HKDF extract are NIP-44's
    /// conversation key (computed by `nostr`), the expansion to 76 bytes is the reference's.
    pub fn derive(
        secret_key: &SecretKey,
        public_key: &PublicKey,
    ) -> Result<Self, LegacyCipherError> {
        let prk = ConversationKey::derive(secret_key, public_key)
            .map_err(|_| LegacyCipherError::InvalidKey)?;
        let hkdf =
            Hkdf::<Sha256>::from_prk(prk.as_bytes()).map_err(|_| LegacyCipherError::InvalidKey)?;
        Self::expand(hkdf)
    }

    fn expand(hkdf: Hkdf<Sha256>) -> Result<Self, LegacyCipherError> {
        let mut key = Zeroizing::new([0u8; KEY_MATERIAL]);
        hkdf.expand(&[], key.as_mut())
            .map_err(|_| LegacyCipherError::InvalidKey)?;
        Ok(Self(key))
    }

    /// Open a legacy payload.
    pub fn decrypt(&self, payload: &str) -> Result<String, LegacyCipherError> {
        let bytes = decrypt_to_bytes(self, payload)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| LegacyCipherError::NotUtf8)
    }
}

/// Open a legacy payload into its plaintext bytes.
fn decrypt_to_bytes(
    key: &LegacyConversationKey,
    payload: &str,
) -> Result<Zeroizing<Vec<u8>>, LegacyCipherError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(LegacyCipherError::TooLarge);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| LegacyCipherError::Base64)?;
    let (&version, rest) = raw.split_first().ok_or(LegacyCipherError::TooShort)?;
    if rest.len() < NONCE + MIN_PADDED + TAG {
        return Err(LegacyCipherError::TooShort);
    }
    if version != VERSION {
        return Err(LegacyCipherError::Version(version));
    }
    let (nonce, rest) = rest.split_at(NONCE);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG);

    let mut message_keys = Zeroizing::new([0u8; KEY_MATERIAL]);
    Hkdf::<Sha256>::new(Some(nonce), key.0.as_ref())
        .expand(LABEL, message_keys.as_mut())
        .map_err(|_| LegacyCipherError::InvalidKey)?;
    let (chacha_key, rest) = message_keys.split_at(32);
    let chacha_nonce = rest.get(..12).ok_or(LegacyCipherError::InvalidKey)?;
    let mut chacha = ChaCha20::new(chacha_key.into(), chacha_nonce.into());

    // Block 0 keys Poly1305; the data starts at block 1.
    let mut mac_key = Zeroizing::new([0u8; 64]);
    chacha.apply_keystream(mac_key.as_mut());
    let mac_key = mac_key.get(..32).ok_or(LegacyCipherError::InvalidKey)?;
    let expected = Poly1305::new(mac_key.into()).compute_unpadded(ciphertext);
    if !bool::from(expected.as_slice().ct_eq(tag)) {
        return Err(LegacyCipherError::Authentication);
    }
    let mut padded = Zeroizing::new(ciphertext.to_vec());
    chacha.seek(64u64);
    chacha.apply_keystream(&mut padded);
    unpad(&padded)
}

/// The body size the reference pads a plaintext of `len` bytes to.
pub fn padded_body_len(len: usize) -> usize {
    if len <= 32 {
        32
    } else {
        len.next_power_of_two()
    }
}

/// Undo the padding: `u16 BE (len mod 65536) || text || zeros`. The length prefix wraps at
/// 65,536, so a body can fit several lengths; the text is the shortest one whose padding is
/// all zeros (the reference writes zeros, and text never ends in NUL bytes).
fn unpad(padded: &[u8]) -> Result<Zeroizing<Vec<u8>>, LegacyCipherError> {
    let (prefix, body) = padded
        .split_at_checked(2)
        .ok_or(LegacyCipherError::Padding)?;
    let low = usize::from(u16::from_be_bytes([
        *prefix.first().ok_or(LegacyCipherError::Padding)?,
        *prefix.get(1).ok_or(LegacyCipherError::Padding)?,
    ]));
    let mut len = low;
    while len <= body.len() {
        if padded_body_len(len) == body.len() {
            let (text, padding) = body.split_at(len);
            if padding.iter().all(|b| *b == 0) {
                return Ok(Zeroizing::new(text.to_vec()));
            }
        }
        len += 1 << 16;
    }
    Err(LegacyCipherError::Padding)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn padding_follows_powers_of_two() {
        assert_eq!(padded_body_len(0), 32);
        assert_eq!(padded_body_len(32), 32);
        assert_eq!(padded_body_len(33), 64);
        assert_eq!(padded_body_len(1000), 1024);
        assert_eq!(padded_body_len(65_537), 131_072);
    }

    #[test]
    fn unpad_takes_the_wrapped_length_prefix() {
        // 70,000 bytes: the prefix says 70,000 mod 65,536 = 4,464.
        let text = vec![b'a'; 70_000];
        let mut padded = ((70_000 % 65_536) as u16).to_be_bytes().to_vec();
        padded.extend_from_slice(&text);
        padded.resize(2 + 131_072, 0);
        assert_eq!(unpad(&padded).unwrap().len(), 70_000);
        // Non-zero padding is refused.
        let mut bad = padded.clone();
        *bad.last_mut().unwrap() = 1;
        assert_eq!(unpad(&bad), Err(LegacyCipherError::Padding));
        // A body that is no padded size is refused.
        assert_eq!(unpad(&[0, 1, b'a', 0, 0]), Err(LegacyCipherError::Padding));
    }
}
