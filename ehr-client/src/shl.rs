//! SMART Health Links (HL7 SMART Health Cards and Links IG, STU1): the patient's own
//! emergency access to her summary (DESIGN.md §15).
//!
//! A link is `shlink:/` and the base64url of a JSON payload naming the manifest URL, the
//! 32-byte key, an expiry, flags (`L` the file may change, `P` a passcode is asked) and a
//! label. Whoever holds the link POSTs a manifest request to the URL and gets the file,
//! encrypted as a JWE in compact form with `alg: dir`, `enc: A256GCM`: the key is only in the
//! link, so the server that hands out the manifest holds ciphertext only. This module is the
//! protocol: the payload, the file's encryption, the manifest request and answer, and the
//! request the portal sends to create a link. It does no I/O.
//!
//! The JWE here is the one case the specification uses: a direct key, AES-256-GCM from the
//! RustCrypto `aes-gcm` crate, the protected header as additional data, no compression. The
//! compact form is five base64url parts joined by dots, which is all the framing there is.

use aes_gcm::aead::{Aead, KeyInit, Payload as AeadPayload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The scheme prefix of a link.
pub const SCHEME: &str = "shlink:/";

/// The content type of a FHIR JSON file (the patient summary is a FHIR document Bundle).
pub const FHIR_JSON: &str = "application/fhir+json";

/// How many wrong passcodes a link takes before it is disabled for good, unless its creator
/// chose fewer.
pub const PASSCODE_ATTEMPTS: u32 = 5;

/// The longest label the specification allows.
pub const LABEL_MAX: usize = 80;

/// The largest file a link may hold (a summary is a few tens of kilobytes).
pub const FILE_MAX: usize = 2 * 1024 * 1024;

/// Why a link, a file or a request is refused. Messages name the rule, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShlError {
    /// Not `shlink:/` followed by a base64url JSON payload with `url` and `key`.
    #[error("not a SMART Health Link")]
    NotALink,
    /// The key is not 43 base64url characters (32 bytes).
    #[error("the link's key is not 32 bytes in base64url")]
    BadKey,
    /// Not a JWE in compact form with `alg: dir` and `enc: A256GCM`.
    #[error("the file is not a JWE with alg dir and enc A256GCM")]
    NotAJwe,
    /// The file does not decrypt under the link's key (another key, or altered).
    #[error("the file does not decrypt with this link's key")]
    Decrypt,
    /// Encryption failed.
    #[error("the file could not be encrypted")]
    Encrypt,
    /// No randomness for a key or a nonce.
    #[error("no randomness available")]
    Random,
    /// A request to create a link breaks a rule (named).
    #[error("{0}")]
    Invalid(&'static str),
}

/// A link's 32-byte key, wiped on drop.
#[derive(Clone)]
pub struct LinkKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

impl LinkKey {
    /// A new random key.
    pub fn generate() -> Result<Self, ShlError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| ShlError::Random)?;
        Ok(Self(bytes))
    }

    /// The key as the payload carries it: 43 base64url characters.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_slice())
    }

    /// Parse 43 base64url characters.
    pub fn from_base64url(text: &str) -> Result<Self, ShlError> {
        if text.len() != 43 {
            return Err(ShlError::BadKey);
        }
        let decoded = Zeroizing::new(URL_SAFE_NO_PAD.decode(text).map_err(|_| ShlError::BadKey)?);
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| ShlError::BadKey)?;
        Ok(Self(Zeroizing::new(bytes)))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }
}

/// The JSON payload of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The manifest URL.
    pub url: String,
    /// The key, 43 base64url characters.
    pub key: String,
    /// Expiry, Unix seconds (shown to the recipient; the server enforces its own copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Flags: `L` (long-term: the file may change), `P` (a passcode is asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// A short description for the recipient, at most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The payload's version (1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u8>,
}

impl Payload {
    /// The link: `shlink:/` and the base64url of the payload's JSON.
    pub fn to_link(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{SCHEME}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Parse a link, bare or behind a viewer's URL (`https://viewer.example/#shlink:/...`).
    pub fn parse(text: &str) -> Result<Self, ShlError> {
        let text = text.trim();
        let start = text.find(SCHEME).ok_or(ShlError::NotALink)?;
        let encoded = text.get(start + SCHEME.len()..).ok_or(ShlError::NotALink)?;
        let json = URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map_err(|_| ShlError::NotALink)?;
        let payload: Self = serde_json::from_slice(&json).map_err(|_| ShlError::NotALink)?;
        if !(payload.url.starts_with("https://") || payload.url.starts_with("http://")) {
            return Err(ShlError::NotALink);
        }
        LinkKey::from_base64url(&payload.key)?;
        Ok(payload)
    }

    /// The link's key.
    pub fn link_key(&self) -> Result<LinkKey, ShlError> {
        LinkKey::from_base64url(&self.key)
    }

    /// Whether the recipient must give a passcode.
    pub fn needs_passcode(&self) -> bool {
        self.flag.as_deref().is_some_and(|f| f.contains('P'))
    }
}

/// The flags of a link that is kept current (`latest`) and/or asks for a passcode.
pub fn flags(latest: bool, passcode: bool) -> Option<String> {
    let flag: String = [(latest, 'L'), (passcode, 'P')]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect();
    (!flag.is_empty()).then_some(flag)
}

/// The JWE protected header this module writes and accepts.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zip: Option<String>,
}

/// Encrypt `plaintext` (of `content_type`) under `key`: a JWE in compact form.
pub fn encrypt_file(
    key: &LinkKey,
    content_type: &str,
    plaintext: &[u8],
) -> Result<String, ShlError> {
    let header = Header {
        alg: "dir".to_owned(),
        enc: "A256GCM".to_owned(),
        cty: Some(content_type.to_owned()),
        zip: None,
    };
    let header =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| ShlError::Encrypt)?);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|_| ShlError::Random)?;
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            AeadPayload {
                msg: plaintext,
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| ShlError::Encrypt)?;
    let (ciphertext, tag) = sealed.split_at(sealed.len().saturating_sub(16));
    Ok(format!(
        "{header}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

fn header_of(jwe: &str) -> Result<Header, ShlError> {
    let encoded = jwe.split('.').next().ok_or(ShlError::NotAJwe)?;
    let header: Header = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(ShlError::NotAJwe)?;
    if header.alg != "dir" || header.enc != "A256GCM" || header.zip.is_some() {
        return Err(ShlError::NotAJwe);
    }
    Ok(header)
}

/// Check that `jwe` is a compact JWE this module can open (five parts, `dir`/`A256GCM`, no
/// encrypted key, a 96-bit IV and a 128-bit tag), without the key.
pub fn check_file(jwe: &str) -> Result<(), ShlError> {
    parts(jwe).map(|_| ())
}

struct Parts {
    header: String,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

fn parts(jwe: &str) -> Result<Parts, ShlError> {
    let fields: Vec<&str> = jwe.trim().split('.').collect();
    let [header, encrypted_key, iv, ciphertext, tag] = fields.as_slice() else {
        return Err(ShlError::NotAJwe);
    };
    header_of(header)?;
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| ShlError::NotAJwe);
    let parts = Parts {
        header: (*header).to_owned(),
        iv: decode(iv)?,
        ciphertext: decode(ciphertext)?,
        tag: decode(tag)?,
    };
    if !encrypted_key.is_empty() || parts.iv.len() != 12 || parts.tag.len() != 16 {
        return Err(ShlError::NotAJwe);
    }
    Ok(parts)
}

/// Decrypt a file with the link's key: its content type (from the header) and its bytes.
pub fn decrypt_file(key: &LinkKey, jwe: &str) -> Result<(Option<String>, Vec<u8>), ShlError> {
    let parts = parts(jwe)?;
    let mut sealed = parts.ciphertext;
    sealed.extend_from_slice(&parts.tag);
    let plaintext = key
        .cipher()
        .decrypt(
            Nonce::from_slice(&parts.iv),
            AeadPayload {
                msg: &sealed,
                aad: parts.header.as_bytes(),
            },
        )
        .map_err(|_| ShlError::Decrypt)?;
    Ok((header_of(&parts.header)?.cty, plaintext))
}

/// The body a recipient POSTs to the manifest URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRequest {
    /// Who is asking, as the recipient describes itself (shown to the patient).
    pub recipient: String,
    /// The passcode, for a `P` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// The longest embedded file the recipient wants; larger files come by `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_length_max: Option<usize>,
}

/// The manifest: the link's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `finalized` (a snapshot) or `can-change` (kept current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// One file of a manifest: embedded, or at a short-lived location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    /// What the decrypted file is ([`FHIR_JSON`]).
    pub content_type: String,
    /// The JWE itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
    /// Where to GET the JWE (valid for an hour at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When the file last changed (an instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// The body of a refused passcode (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasscodeRefused {
    /// Wrong passcodes the link still takes before it is disabled.
    pub remaining_attempts: u32,
}

/// What the portal sends to the practice to create a link: everything the manifest server
/// keeps, and nothing that opens the file. The key stays in the link and in `sealed_key`, which
/// only the patient's own key opens (NIP-44 to herself), so that her portal can show the link
/// again and keep a `latest` link's file current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLink {
    /// Shown to recipients and in her list, at most 80 characters.
    pub label: String,
    /// When the link stops working, Unix seconds; none: until revoked.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// A passcode the recipient must give (4 to 64 characters), if any.
    #[serde(default)]
    pub passcode: Option<String>,
    /// Wrong passcodes taken before the link is disabled (1 to 10; default 5).
    #[serde(default)]
    pub passcode_attempts: Option<u32>,
    /// Whether the file is kept current (`L`) rather than a snapshot.
    pub latest: bool,
    /// The file: a JWE of the summary under the link's key.
    pub file: String,
    /// The link's key, NIP-44 encrypted by the patient to herself.
    pub sealed_key: String,
}

impl NewLink {
    /// The rules a server applies before storing a link (`now` in Unix seconds).
    pub fn check(&self, now: u64) -> Result<(), ShlError> {
        let label_len = self.label.chars().count();
        if label_len == 0 || label_len > LABEL_MAX || self.label.chars().any(char::is_control) {
            return Err(ShlError::Invalid(
                "label: 1 to 80 characters, no control characters",
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(ShlError::Invalid("expiresAt: must be in the future"));
        }
        if let Some(passcode) = &self.passcode {
            let len = passcode.chars().count();
            if !(4..=64).contains(&len) {
                return Err(ShlError::Invalid("passcode: 4 to 64 characters"));
            }
        }
        match (self.passcode.is_some(), self.passcode_attempts) {
            (false, Some(_)) => {
                return Err(ShlError::Invalid("passcodeAttempts: only with a passcode"));
            }
            (true, Some(n)) if !(1..=10).contains(&n) => {
                return Err(ShlError::Invalid("passcodeAttempts: 1 to 10"));
            }
            _ => {}
        }
        check_upload(&self.file, &self.sealed_key)
    }
}

/// The rules for a file and its sealed key, on creation.
pub fn check_upload(file: &str, sealed_key: &str) -> Result<(), ShlError> {
    check_upload_file(file)?;
    if sealed_key.is_empty() || sealed_key.len() > 1024 {
        return Err(ShlError::Invalid("sealedKey: a NIP-44 payload is required"));
    }
    Ok(())
}

/// The rules for a file, on creation and on each refresh.
pub fn check_upload_file(file: &str) -> Result<(), ShlError> {
    if file.len() > FILE_MAX {
        return Err(ShlError::Invalid("file: larger than a link may hold"));
    }
    check_file(file).map_err(|_| ShlError::Invalid("file: not a JWE with alg dir and enc A256GCM"))
}

/// A refreshed file for a `latest` link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileUpdate {
    /// The new JWE, under the same key.
    pub file: String,
}

/// One of her links as the server lists it to her.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkListing {
    /// The link's id (the last segment of its manifest URL).
    pub id: String,
    /// The manifest URL.
    pub url: String,
    /// Its label.
    pub label: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds, if it expires.
    pub expires_at: Option<u64>,
    /// Whether a passcode is asked.
    pub passcode: bool,
    /// Wrong passcodes it still takes.
    pub remaining_attempts: Option<u32>,
    /// Kept current rather than a snapshot.
    pub latest: bool,
    /// When the file was last replaced, Unix seconds.
    pub file_updated_at: u64,
    /// Revoked (by her) or disabled (too many wrong passcodes), Unix seconds.
    pub ended_at: Option<u64>,
    /// How many times its manifest was opened.
    pub accesses: u64,
    /// When it was last opened, Unix seconds.
    pub last_access_at: Option<u64>,
    /// The key, sealed to her (her portal opens it to show the link again).
    pub sealed_key: String,
}

impl LinkListing {
    /// The link, given its key (opened from `sealed_key`).
    pub fn payload(&self, key: &LinkKey) -> Payload {
        Payload {
            url: self.url.clone(),
            key: key.to_base64url(),
            exp: self.expires_at,
            flag: flags(self.latest, self.passcode),
            label: Some(self.label.clone()),
            v: Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_file_round_trips_under_its_key_and_not_another() {
        let key = LinkKey::generate().unwrap();
        let jwe = encrypt_file(&key, FHIR_JSON, b"{\"resourceType\":\"Bundle\"}").unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        let (cty, plain) = decrypt_file(&key, &jwe).unwrap();
        assert_eq!(cty.as_deref(), Some(FHIR_JSON));
        assert_eq!(plain, b"{\"resourceType\":\"Bundle\"}");
        let other = LinkKey::generate().unwrap();
        assert_eq!(decrypt_file(&other, &jwe), Err(ShlError::Decrypt));
    }

    #[test]
    fn an_altered_header_or_ciphertext_does_not_decrypt() {
        let key = LinkKey::generate().unwrap();
        let jwe = encrypt_file(&key, FHIR_JSON, b"summary").unwrap();
        let mut fields: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM","cty":"text/plain"}"#);
        fields[0] = header;
        assert_eq!(
            decrypt_file(&key, &fields.join(".")),
            Err(ShlError::Decrypt)
        );
        let mut fields: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        fields[3] = URL_SAFE_NO_PAD.encode(b"Summary");
        assert_eq!(
            decrypt_file(&key, &fields.join(".")),
            Err(ShlError::Decrypt)
        );
    }

    #[test]
    fn other_algorithms_and_shapes_are_not_files() {
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","enc":"A256GCM"}"#);
        assert_eq!(
            check_file(&format!("{none}..AAAA.AAAA.AAAA")),
            Err(ShlError::NotAJwe)
        );
        let zipped = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#);
        assert_eq!(
            check_file(&format!("{zipped}..AAAA.AAAA.AAAA")),
            Err(ShlError::NotAJwe)
        );
        assert_eq!(check_file("a.b.c"), Err(ShlError::NotAJwe));
    }

    #[test]
    fn a_link_round_trips_bare_and_behind_a_viewer() {
        let key = LinkKey::generate().unwrap();
        let payload = Payload {
            url: "https://ehr.example.org/shl/abc".into(),
            key: key.to_base64url(),
            exp: Some(1_900_000_000),
            flag: flags(true, true),
            label: Some("Emergency summary".into()),
            v: Some(1),
        };
        let link = payload.to_link();
        assert!(link.starts_with("shlink:/"));
        assert_eq!(Payload::parse(&link).unwrap(), payload);
        let viewer = format!("https://viewer.example/#{link}");
        assert_eq!(Payload::parse(&viewer).unwrap(), payload);
        assert!(payload.needs_passcode());
        assert_eq!(payload.flag.as_deref(), Some("LP"));
    }

    #[test]
    fn malformed_links_and_keys_are_refused() {
        assert_eq!(
            Payload::parse("https://example.org"),
            Err(ShlError::NotALink)
        );
        assert_eq!(Payload::parse("shlink:/!!!"), Err(ShlError::NotALink));
        let short = URL_SAFE_NO_PAD.encode(br#"{"url":"https://x/m","key":"abc"}"#);
        assert_eq!(
            Payload::parse(&format!("shlink:/{short}")),
            Err(ShlError::BadKey)
        );
        assert_eq!(flags(false, false), None);
    }

    #[test]
    fn a_new_link_is_checked_before_it_is_stored() {
        let key = LinkKey::generate().unwrap();
        let good = NewLink {
            label: "For the ER".into(),
            expires_at: Some(2_000),
            passcode: Some("1234".into()),
            passcode_attempts: Some(3),
            latest: false,
            file: encrypt_file(&key, FHIR_JSON, b"{}").unwrap(),
            sealed_key: "AgAAAA".into(),
        };
        assert!(good.check(1_000).is_ok());
        let expired = NewLink {
            expires_at: Some(1_000),
            ..good.clone()
        };
        assert!(expired.check(1_000).is_err());
        let long = NewLink {
            label: "x".repeat(81),
            ..good.clone()
        };
        assert!(long.check(1_000).is_err());
        let short_code = NewLink {
            passcode: Some("12".into()),
            ..good.clone()
        };
        assert!(short_code.check(1_000).is_err());
        let attempts = NewLink {
            passcode: None,
            ..good.clone()
        };
        assert!(attempts.check(1_000).is_err());
        let plain = NewLink {
            file: "not a jwe".into(),
            ..good
        };
        assert!(plain.check(1_000).is_err());
    }
}
