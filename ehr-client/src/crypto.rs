//! NIP-44 v2 through the `nostr` crate, with the checks it leaves to callers.
//!
//! `nostr::nips::nip44::v2::decrypt_to_bytes` takes an already-decoded payload and does not look
//! at the version byte, and nothing bounds the size of an untrusted payload. Every decryption in
//! this project goes through [`decrypt_with_conversation_key`], which does both before handing the
//! bytes to `nostr`. Plaintexts of 65,536 bytes and more use the 2026 extended (6-byte) length
//! prefix of 44.md, which `nostr` 0.45.6 implements.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nostr::nips::nip44::v2;
pub use nostr::nips::nip44::v2::ConversationKey;
use nostr::prelude::{PublicKey, SecretKey};

/// The only NIP-44 version this project reads or writes.
pub const NIP44_VERSION: u8 = 2;

/// Largest encoded payload [`decrypt_with_conversation_key`] accepts: 64 MiB of base64, a
/// 48 MiB plaintext. Clinical events are far smaller; documents travel through Blossom.
pub const MAX_ENCODED_PAYLOAD: usize = 64 * 1024 * 1024;

/// Smallest valid decoded payload: version, nonce, 2-byte prefix and 32 padded bytes, MAC.
const MIN_DECODED_PAYLOAD: usize = 1 + 32 + 2 + 32 + 32;

/// Why NIP-44 encryption or decryption failed. Messages never contain plaintext or keys.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The payload is empty.
    #[error("empty NIP-44 payload")]
    EmptyPayload,
    /// A payload starting with `#`: a future, non-base64 NIP-44 encoding this client cannot read.
    #[error("unknown NIP-44 encryption version (payload starts with '#')")]
    UnknownFutureVersion,
    /// The payload is not standard padded base64.
    #[error("NIP-44 payload is not valid base64")]
    InvalidBase64,
    /// A decoded payload shorter or longer than any valid v2 payload.
    #[error("invalid NIP-44 payload length: {0} bytes")]
    InvalidPayloadLength(usize),
    /// The payload is larger than [`MAX_ENCODED_PAYLOAD`].
    #[error("NIP-44 payload too large: {0} bytes")]
    PayloadTooLarge(usize),
    /// A version byte other than 2.
    #[error("unsupported NIP-44 encryption version {0}")]
    UnsupportedVersion(u8),
    /// The MAC did not verify: wrong key, or the payload was altered.
    #[error("NIP-44 authentication failed (wrong key or altered payload)")]
    InvalidMac,
    /// The MAC verified but the padding or length prefix is malformed.
    #[error("invalid NIP-44 padding")]
    InvalidPadding,
    /// An empty plaintext (NIP-44 forbids it) or one too long to encode.
    #[error("invalid NIP-44 plaintext length: {0} bytes")]
    InvalidPlaintextLength(usize),
    /// The decrypted plaintext is not UTF-8.
    #[error("NIP-44 plaintext is not UTF-8")]
    NotUtf8,
    /// A secret or public key that cannot form a conversation key.
    #[error("invalid key for a NIP-44 conversation")]
    InvalidKey,
    /// Any other failure reported by the `nostr` crate.
    #[error("NIP-44 failure: {0}")]
    Other(String),
}

fn map_nostr_error(error: &nostr::error::Error) -> CryptoError {
    // `nostr` reports these with fixed messages; match them to typed variants.
    match error.to_string().as_str() {
        "invalid HMAC" => CryptoError::InvalidMac,
        "invalid padding" => CryptoError::InvalidPadding,
        "message empty" => CryptoError::InvalidPlaintextLength(0),
        other => CryptoError::Other(other.to_owned()),
    }
}

/// Derive the NIP-44 v2 conversation key between `secret_key` and `public_key`.
pub fn conversation_key(
    secret_key: &SecretKey,
    public_key: &PublicKey,
) -> Result<ConversationKey, CryptoError> {
    ConversationKey::derive(secret_key, public_key).map_err(|_| CryptoError::InvalidKey)
}

/// Encrypt `plaintext` under a conversation key with a fresh random nonce.
pub fn encrypt_with_conversation_key(
    conversation_key: &ConversationKey,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let mut nonce = [0u8; 32];
    fill_random(&mut nonce)?;
    encrypt_with_nonce(conversation_key, plaintext, nonce)
}

/// Encrypt with a caller-chosen nonce. Only tests and vectors should choose nonces.
pub fn encrypt_with_nonce(
    conversation_key: &ConversationKey,
    plaintext: &[u8],
    nonce: [u8; 32],
) -> Result<String, CryptoError> {
    if plaintext.is_empty() || u32::try_from(plaintext.len()).is_err() {
        return Err(CryptoError::InvalidPlaintextLength(plaintext.len()));
    }
    let payload = v2::encrypt_to_bytes_with_nonce(conversation_key, plaintext, nonce)
        .map_err(|e| map_nostr_error(&e))?;
    Ok(STANDARD.encode(payload))
}

/// Decrypt a base64 NIP-44 payload under a conversation key, checking size, encoding and the
/// version byte before the MAC.
pub fn decrypt_with_conversation_key(
    conversation_key: &ConversationKey,
    payload: &str,
) -> Result<Vec<u8>, CryptoError> {
    if payload.is_empty() {
        return Err(CryptoError::EmptyPayload);
    }
    if payload.starts_with('#') {
        return Err(CryptoError::UnknownFutureVersion);
    }
    if payload.len() > MAX_ENCODED_PAYLOAD {
        return Err(CryptoError::PayloadTooLarge(payload.len()));
    }
    let decoded = STANDARD
        .decode(payload)
        .map_err(|_| CryptoError::InvalidBase64)?;
    match decoded.first() {
        Some(&NIP44_VERSION) => {}
        Some(&other) => return Err(CryptoError::UnsupportedVersion(other)),
        None => return Err(CryptoError::InvalidPayloadLength(0)),
    }
    if decoded.len() < MIN_DECODED_PAYLOAD {
        return Err(CryptoError::InvalidPayloadLength(decoded.len()));
    }
    v2::decrypt_to_bytes(conversation_key, &decoded).map_err(|e| map_nostr_error(&e))
}

/// NIP-44 v2 encrypt a UTF-8 message from `secret_key` to `public_key`, as every Nostr client
/// does.
pub fn nip44_encrypt(
    secret_key: &SecretKey,
    public_key: &PublicKey,
    plaintext: &str,
) -> Result<String, CryptoError> {
    encrypt_with_conversation_key(
        &conversation_key(secret_key, public_key)?,
        plaintext.as_bytes(),
    )
}

/// NIP-44 v2 decrypt a payload that `public_key` sent to `secret_key` (or the reverse).
pub fn nip44_decrypt(
    secret_key: &SecretKey,
    public_key: &PublicKey,
    payload: &str,
) -> Result<String, CryptoError> {
    let bytes = decrypt_with_conversation_key(&conversation_key(secret_key, public_key)?, payload)?;
    String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)
}

fn fill_random(buffer: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buffer)
        .map_err(|_| CryptoError::Other("the OS random source failed".to_owned()))
}
