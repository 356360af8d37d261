//! What a DocumentReference says about its encrypted file, and the host its BUD-11 token
//! ([`crate::bud11`]) is scoped to: the I/O-free half of [`crate::blossom`] (DESIGN.md §4),
//! shared by the `ehr` CLI and the portal's WebAssembly, which cannot carry the HTTP client.

use crate::document::{FileKey, Layout, Sealed};
pub use crate::fhir::FILE_KEY_EXTENSION;
use crate::fhir::{
    Attachment, DocumentContent, DocumentReference, DocumentReferenceStatus, Extension, Reference,
};

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

fn string_extension(url: &str, value: String) -> Extension {
    Extension {
        url: url.to_owned(),
        value_string: Some(value),
        ..Extension::default()
    }
}

/// An encrypted file uploaded to `url`: what sealing it produced, and its key.
#[derive(Debug, Clone, Copy)]
pub struct SealedFile<'a> {
    /// Sizes, hashes and layout.
    pub sealed: &'a Sealed,
    /// The file key.
    pub key: &'a FileKey,
    /// Where the blob is.
    pub url: &'a str,
}

/// The DocumentReference of an uploaded file: the attachment points at the blob, and the key,
/// layout and hashes live in extensions inside the (encrypted) resource.
pub fn document_reference(
    patient_reference: &str,
    file: &SealedFile<'_>,
    content_type: &str,
    title: &str,
) -> DocumentReference {
    let mut document = DocumentReference {
        id: Some(crate::demo::new_id()),
        status: DocumentReferenceStatus::Current,
        subject: Some(Reference {
            reference: Some(patient_reference.to_owned()),
            ..Reference::default()
        }),
        content: vec![DocumentContent {
            attachment: Attachment {
                content_type: Some(content_type.to_owned()),
                title: Some(title.to_owned()),
                ..Attachment::default()
            },
            format: None,
        }],
        ..DocumentReference::default()
    };
    attach_file(&mut document, file);
    document
}

/// Point `document`'s first attachment at an uploaded blob: its URL and plaintext size, and the
/// key, layout and hashes in extensions (replacing any earlier ones).
pub fn attach_file(document: &mut DocumentReference, file: &SealedFile<'_>) {
    let SealedFile { sealed, key, url } = *file;
    let ours = [
        FILE_KEY_EXTENSION,
        FILE_LAYOUT_EXTENSION,
        CIPHERTEXT_SHA256_EXTENSION,
        PLAINTEXT_SHA256_EXTENSION,
    ];
    document
        .extension
        .retain(|e| !ours.contains(&e.url.as_str()));
    document.extension.extend([
        string_extension(FILE_KEY_EXTENSION, key.to_hex().to_string()),
        Extension {
            url: FILE_LAYOUT_EXTENSION.to_owned(),
            value_code: Some(sealed.layout.as_str().to_owned()),
            ..Extension::default()
        },
        string_extension(
            CIPHERTEXT_SHA256_EXTENSION,
            sealed.ciphertext_sha256.clone(),
        ),
        string_extension(PLAINTEXT_SHA256_EXTENSION, sealed.plaintext_sha256.clone()),
    ]);
    if document.content.is_empty() {
        document.content.push(DocumentContent::default());
    }
    if let Some(content) = document.content.first_mut() {
        content.attachment.url = Some(url.to_owned());
        content.attachment.size = Some(sealed.plaintext_size);
    }
}
