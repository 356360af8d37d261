//! What a DocumentReference says about its encrypted file, and the host its BUD-11 token
//! ([`crate::bud11`]) is scoped to: the I/O-free half of [`crate::blossom`] (DESIGN.md §4),
//! shared by the `ehr` CLI and the portal's WebAssembly, which cannot carry the HTTP client.

use crate::document::{FileKey, Layout};
use crate::fhir::DocumentReference;
pub use crate::fhir::FILE_KEY_EXTENSION;

/// Extension URL of the encryption layout (`aes-256-gcm` or `ehr-aes256gcm-stream-v1`).
pub const FILE_LAYOUT_EXTENSION: &str = "urn:nostr-ehr:extension:file-layout";
/// Extension URL of the ciphertext's sha256 (the Blossom address), hex.
pub const CIPHERTEXT_SHA256_EXTENSION: &str = "urn:nostr-ehr:extension:ciphertext-sha256";
/// Extension URL of the plaintext's sha256, hex.
pub const PLAINTEXT_SHA256_EXTENSION: &str = "urn:nostr-ehr:extension:plaintext-sha256";

/// What a DocumentReference says about its encrypted file.
#[derive(Debug)]
pub struct EncryptedFile {
    /// The blob's URL.
    pub url: String,
    /// The Blossom address.
    pub ciphertext_sha256: String,
    /// The plaintext's sha256, hex, when recorded.
    pub plaintext_sha256: Option<String>,
    /// How it is encrypted.
    pub layout: Layout,
    /// Its key.
    pub key: FileKey,
    /// The original MIME type.
    pub content_type: Option<String>,
    /// The file's title.
    pub title: Option<String>,
}

/// Read the encrypted file a DocumentReference points at; the error names what is missing.
pub fn encrypted_file(document: &DocumentReference) -> Result<EncryptedFile, &'static str> {
    let ext = |url: &str| document.extension.iter().find(|e| e.url == url);
    let attachment = &document.content.first().ok_or("no content")?.attachment;
    let key = ext(FILE_KEY_EXTENSION)
        .and_then(|e| e.value_string.as_deref())
        .and_then(|k| FileKey::from_hex(k).ok())
        .ok_or("no file key")?;
    let layout = ext(FILE_LAYOUT_EXTENSION)
        .and_then(|e| e.value_code.as_deref())
        .and_then(Layout::parse)
        .unwrap_or(Layout::Single);
    let ciphertext_sha256 = ext(CIPHERTEXT_SHA256_EXTENSION)
        .and_then(|e| e.value_string.clone())
        .ok_or("no ciphertext hash")?;
    Ok(EncryptedFile {
        url: attachment.url.clone().ok_or("no url")?,
        ciphertext_sha256,
        plaintext_sha256: ext(PLAINTEXT_SHA256_EXTENSION).and_then(|e| e.value_string.clone()),
        layout,
        key,
        content_type: attachment.content_type.clone(),
        title: attachment.title.clone(),
    })
}

/// The host a BUD-11 token is scoped to (its `server` tag): the lower-cased host of an
/// `http(s)://` URL, without port or path; `None` for any other URL.
pub fn server_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', ':', '?', '#']).next().unwrap_or_default();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}
