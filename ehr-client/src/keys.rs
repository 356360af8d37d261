//! Keys: parsing and printing (hex, `npub`/`nsec`, NIP-49 `ncryptsec`), generation, and the
//! secret types that never print themselves.
//!
//! Every secret here lives in a type that zeroizes on drop (`nostr::SecretKey` erases itself,
//! raw bytes sit in [`zeroize::Zeroizing`]) and whose `Debug` prints `<redacted>`.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use nostr::nips::nip19::{FromBech32, ToBech32};
use nostr::nips::nip44::v2::ConversationKey;
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::prelude::{Keys, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError};

/// Why a key could not be parsed, printed or generated. Messages never contain key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The input is neither 64 hex digits nor a bech32 string of the expected kind.
    #[error("not a {expected}: expected 64 hex digits or a {expected} bech32 string")]
    UnrecognisedFormat {
        /// What the caller asked for (`npub`, `nsec`, ...).
        expected: &'static str,
    },
    /// A bech32 string with a human-readable part other than the one expected.
    #[error("wrong bech32 prefix: expected {expected}, got {found}")]
    WrongPrefix {
        /// The expected prefix.
        expected: &'static str,
        /// The prefix found in the input.
        found: String,
    },
    /// The bech32 checksum does not match: the string was mistyped or truncated.
    #[error("bech32 checksum or encoding is invalid")]
    InvalidBech32,
    /// 32 bytes that are not a valid secp256k1 point or scalar.
    #[error("not a valid secp256k1 {what}")]
    InvalidKey {
        /// `public key` or `secret key`.
        what: &'static str,
    },
    /// An `ncryptsec` was given without a password.
    #[error("an ncryptsec needs a password")]
    PasswordRequired,
    /// The `ncryptsec` did not open with the password given.
    #[error("the password does not open this ncryptsec (or it is corrupted)")]
    WrongPassword,
    /// Encrypting a secret with NIP-49 failed.
    #[error("NIP-49 encryption failed: {0}")]
    Nip49(String),
}

/// Parse a public key given as 64 hex digits or as an `npub` (checksum verified).
pub fn parse_public_key(input: &str) -> Result<PublicKey, KeyError> {
    let input = input.trim();
    if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_hex_public_key(input);
    }
    check_bech32_prefix(input, "npub")?;
    let key = PublicKey::from_bech32(input).map_err(|_| KeyError::InvalidBech32)?;
    validate_public_key(&key)?;
    Ok(key)
}

/// Parse a public key as events carry it (hex) and check that it is a curve point.
pub fn parse_hex_public_key(hex: &str) -> Result<PublicKey, KeyError> {
    crate::tags::parse_public_key(hex).ok_or(KeyError::InvalidKey { what: "public key" })
}

/// Check that 32 bytes are the x-coordinate of a secp256k1 point. `nostr` parses public keys
/// lazily, so a key that is not on the curve would otherwise fail only at first use.
pub fn validate_public_key(key: &PublicKey) -> Result<(), KeyError> {
    key.xonly()
        .map(|_| ())
        .map_err(|_| KeyError::InvalidKey { what: "public key" })
}

/// Parse a secret key given as 64 hex digits, an `nsec`, or a NIP-49 `ncryptsec` (which needs
/// `password`).
pub fn parse_secret_key(input: &str, password: Option<&str>) -> Result<SecretKey, KeyError> {
    let input = input.trim();
    if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
        return SecretKey::from_hex(input).map_err(|_| KeyError::InvalidKey { what: "secret key" });
    }
    if bech32_prefix(input).as_deref() == Some("ncryptsec") {
        let password = password.ok_or(KeyError::PasswordRequired)?;
        let encrypted =
            EncryptedSecretKey::from_bech32(input).map_err(|_| KeyError::InvalidBech32)?;
        return encrypted
            .decrypt(password)
            .map_err(|_| KeyError::WrongPassword);
    }
    check_bech32_prefix(input, "nsec")?;
    SecretKey::from_bech32(input).map_err(|_| KeyError::InvalidBech32)
}

/// Print a public key as `npub`.
pub fn to_npub(public_key: &PublicKey) -> String {
    match public_key.to_bech32() {
        Ok(npub) => npub,
        // Encoding 32 bytes with a fixed prefix cannot fail; fall back to hex rather than panic.
        Err(_) => public_key.to_hex(),
    }
}

/// Print a secret key as `nsec`, in a buffer that is wiped when dropped.
pub fn to_nsec(secret_key: &SecretKey) -> Zeroizing<String> {
    Zeroizing::new(match secret_key.to_bech32() {
        Ok(nsec) => nsec,
        Err(_) => secret_key.to_secret_hex(),
    })
}

/// Encrypt a secret key with NIP-49 (`ncryptsec`). `log_n` is the scrypt work factor
/// (16 is the NIP's interactive default; 20+ for keys kept offline, such as the practice root).
pub fn to_ncryptsec(
    secret_key: &SecretKey,
    password: &str,
    log_n: u8,
) -> Result<Zeroizing<String>, KeyError> {
    let encrypted = EncryptedSecretKey::new(secret_key, password, log_n, KeySecurity::Medium)
        .map_err(|e| KeyError::Nip49(e.to_string()))?;
    encrypted
        .to_bech32()
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Nip49(e.to_string()))
}

/// The letters of a handover password: digits and capitals without 0, 1, I and O, which
/// read alike when spoken or copied by hand. 32 of them: 5 bits each.
const PASSWORD_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A password for a new patient's `ncryptsec` on her handover sheet, told to her apart from
/// the sheet: 16 random letters of 32, without 0, 1, I and O (80 bits), in groups of four
/// (`7KQ2-M9XD-4HTP-WB3C`), so it can be read out at the desk; under NIP-49's scrypt no one
/// guesses it.
pub fn handover_password() -> Result<Zeroizing<String>, KeyError> {
    let mut random = Zeroizing::new([0u8; 16]);
    getrandom::fill(random.as_mut_slice()).map_err(|e| KeyError::Nip49(e.to_string()))?;
    let mut password = Zeroizing::new(String::with_capacity(19));
    for (index, byte) in random.iter().enumerate() {
        if index > 0 && index % 4 == 0 {
            password.push('-');
        }
        // 256 is a multiple of 32: the low five bits are uniform.
        let letter = PASSWORD_ALPHABET
            .get(usize::from(byte & 31))
            .copied()
            .unwrap_or(b'2');
        password.push(char::from(letter));
    }
    Ok(password)
}

fn bech32_prefix(input: &str) -> Option<String> {
    input
        .rfind('1')
        .map(|pos| input.get(..pos).unwrap_or_default().to_ascii_lowercase())
}

fn check_bech32_prefix(input: &str, expected: &'static str) -> Result<(), KeyError> {
    match bech32_prefix(input) {
        Some(found) if found == expected => Ok(()),
        Some(found) if !found.is_empty() => Err(KeyError::WrongPrefix { expected, found }),
        _ => Err(KeyError::UnrecognisedFormat { expected }),
    }
}

/// A user's own keypair (clinician, patient, agent): a signer for events and NIP-44.
///
/// `Debug` shows only the public key.
#[derive(Clone)]
pub struct Identity {
    keys: Keys,
}

impl Identity {
    /// A fresh random keypair from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self {
            keys: Keys::generate(),
        }
    }

    /// Wrap an existing secret key.
    pub fn from_secret_key(secret_key: SecretKey) -> Self {
        Self {
            keys: Keys::new(secret_key),
        }
    }

    /// Parse hex, `nsec` or `ncryptsec` (with `password`).
    pub fn parse(input: &str, password: Option<&str>) -> Result<Self, KeyError> {
        parse_secret_key(input, password).map(Self::from_secret_key)
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// The secret key, for NIP-44 and signing.
    pub fn secret_key(&self) -> &SecretKey {
        self.keys.secret_key()
    }

    /// The underlying `nostr` keys, for signing events.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// `npub` of this identity.
    pub fn npub(&self) -> String {
        to_npub(&self.public_key())
    }

    /// `nsec` of this identity, wiped on drop.
    pub fn nsec(&self) -> Zeroizing<String> {
        to_nsec(self.secret_key())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key().to_hex())
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl FromStr for Identity {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, None)
    }
}

/// Chart key `K_{p,v}` (DESIGN.md §2): 32 random bytes per patient and version that encrypt the
/// practice copy of every event in that patient's chart.
///
/// The 32 bytes are used as a secp256k1 secret key, and the practice copy is a standard NIP-44 v2
/// payload from that key to its own public key. Anyone holding the chart key can therefore open a
/// practice copy with any NIP-44 library: `nip44_decrypt(K, pub(K), content)`.
#[derive(Clone)]
pub struct ChartKey {
    version: u32,
    secret: SecretKey,
    // Derived once: every encryption and decryption under this key needs it.
    public: PublicKey,
    // The self-conversation key, derived on first use and kept: one derivation (ECDH and HKDF)
    // costs about as much as seven decryptions of a 2 KB record, and a chart key opens hundreds
    // of them. Lazily, because opening a wrap builds a key for every earlier version too, most
    // of which are never used. Wiped on drop like the secret.
    conversation: OnceLock<Zeroizing<[u8; 32]>>,
}

impl ChartKey {
    /// A fresh random chart key with the given version number.
    pub fn generate(version: u32) -> Self {
        Self::from_secret(version, SecretKey::generate())
    }

    fn from_secret(version: u32, secret: SecretKey) -> Self {
        let public = Keys::new(secret.clone()).public_key();
        Self {
            version,
            secret,
            public,
            conversation: OnceLock::new(),
        }
    }

    /// A chart key from its 32 bytes (for example after unwrapping a grant).
    pub fn from_bytes(version: u32, bytes: &[u8]) -> Result<Self, KeyError> {
        SecretKey::from_slice(bytes)
            .map(|secret| Self::from_secret(version, secret))
            .map_err(|_| KeyError::InvalidKey { what: "chart key" })
    }

    /// The version number `v` of this key.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The raw 32 bytes, wiped on drop: what gets wrapped for members and grantees.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_secret_bytes())
    }

    /// The key as a secp256k1 secret, for the NIP-44 self-conversation.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The public half, the other side of the NIP-44 self-conversation.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The NIP-44 v2 self-conversation key, derived once.
    pub(crate) fn conversation_key(&self) -> Result<ConversationKey, CryptoError> {
        if let Some(bytes) = self.conversation.get() {
            return Ok(ConversationKey::new(**bytes));
        }
        let derived = crypto::conversation_key(&self.secret, &self.public)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(derived.as_bytes());
        // Another thread may have won the race; both derived the same key.
        let _ = self.conversation.set(bytes);
        Ok(derived)
    }

    /// Encrypt the practice copy of an event under this chart key (its NIP-44 self-conversation).
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        crypto::encrypt_with_conversation_key(&self.conversation_key()?, plaintext.as_bytes())
    }

    /// Decrypt a practice copy with this chart key.
    pub fn decrypt(&self, payload: &str) -> Result<String, CryptoError> {
        let bytes = crypto::decrypt_with_conversation_key(&self.conversation_key()?, payload)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)
    }
}

impl fmt::Debug for ChartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChartKey")
            .field("version", &self.version)
            .field("secret", &"<redacted>")
            .finish()
    }
}
