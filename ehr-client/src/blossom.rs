//! The Blossom client (feature `relay-client`): BUD-11 tokens, streamed uploads and downloads
//! with the sha256 checked on the way in, and the DocumentReference that points at a blob.

use std::path::Path;

use base64::Engine as _;
use futures_util::StreamExt;
use nostr::prelude::{FinalizeEvent, Timestamp};
use serde::Deserialize;

use crate::blob_file::{FileSource, HashingWriter};
use crate::bud11::Verb;
use crate::document::{FileKey, Sealed};
use crate::fhir::DocumentReference;
use crate::keys::Identity;

pub use crate::attachment::{
    CIPHERTEXT_SHA256_EXTENSION, EncryptedFile, FILE_KEY_EXTENSION, FILE_LAYOUT_EXTENSION,
    PLAINTEXT_SHA256_EXTENSION,
};

/// Why a Blossom call failed. No message carries content or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlossomError {
    /// The server URL is not http(s).
    #[error("not a Blossom server URL (expected http:// or https://)")]
    InvalidUrl,
    /// Transport failure.
    #[error("cannot reach the Blossom server: {0}")]
    Http(String),
    /// The server refused (status and its `X-Reason`).
    #[error("the Blossom server refused ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// `X-Reason`.
        reason: String,
    },
    /// The bytes received are not the blob asked for.
    #[error("the downloaded blob does not match its sha256")]
    HashMismatch,
    /// The DocumentReference does not describe an encrypted blob.
    #[error("the DocumentReference has no encrypted attachment: {0}")]
    NotAFile(&'static str),
    /// Signing the token failed.
    #[error("could not sign the authorization token")]
    Signing,
    /// Local file trouble.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A BUD-02 blob descriptor.
#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    /// Where the blob can be fetched.
    pub url: String,
    /// Its sha256, hex.
    pub sha256: String,
    /// Its size.
    pub size: u64,
}

/// A client for one Blossom server.
#[derive(Debug, Clone)]
pub struct BlossomClient {
    http: reqwest::Client,
    base: String,
    host: String,
}

impl BlossomClient {
    /// A client for the server at `base_url` (`https://blobs.example.org`).
    pub fn new(base_url: &str) -> Result<Self, BlossomError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(BlossomError::InvalidUrl)?;
        let host = rest
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(Self {
            http: reqwest::Client::new(),
            base,
            host,
        })
    }

    /// A BUD-11 token for `verb`, scoped to this server and to `sha256` when given.
    fn token(
        &self,
        identity: &Identity,
        verb: Verb,
        sha256: Option<&str>,
    ) -> Result<String, BlossomError> {
        let event = crate::bud11::token_builder(verb, &self.host, sha256, Timestamp::now())
            .finalize(identity.keys())
            .map_err(|_| BlossomError::Signing)?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(event.as_json());
        Ok(format!("Nostr {encoded}"))
    }

    async fn check(response: reqwest::Response) -> Result<reqwest::Response, BlossomError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let reason = response
            .headers()
            .get("x-reason")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Err(BlossomError::Refused {
            status: response.status().as_u16(),
            reason,
        })
    }

    /// Upload the file at `path` (ciphertext) whose sha256 is `sha256`, streaming it.
    pub async fn upload(
        &self,
        identity: &Identity,
        path: &Path,
        sha256: &str,
    ) -> Result<Descriptor, BlossomError> {
        let file = FileSource::open(path)?;
        let size = file.len()?;
        let body = reqwest::Body::wrap_stream(file.chunks(0, size));
        let response = self
            .http
            .put(format!("{}/upload", self.base))
            .header(
                "authorization",
                self.token(identity, Verb::Upload, Some(sha256))?,
            )
            .header("x-sha-256", sha256)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(body)
            .send()
            .await
            .map_err(|e| BlossomError::Http(e.without_url().to_string()))?;
        Self::check(response)
            .await?
            .json()
            .await
            .map_err(|e| BlossomError::Http(e.without_url().to_string()))
    }

    /// Give up this key's ownership of blob `sha256` (BUD-12); the server drops the bytes when
    /// no owner is left.
    pub async fn delete(&self, identity: &Identity, sha256: &str) -> Result<(), BlossomError> {
        let response = self
            .http
            .delete(format!("{}/{sha256}", self.base))
            .header(
                "authorization",
                self.token(identity, Verb::Delete, Some(sha256))?,
            )
            .send()
            .await
            .map_err(|e| BlossomError::Http(e.without_url().to_string()))?;
        Self::check(response).await?;
        Ok(())
    }

    /// Download blob `sha256` into the new file `path`, checking its hash; the file is removed
    /// when the bytes are not the blob.
    pub async fn download(
        &self,
        identity: &Identity,
        sha256: &str,
        path: &Path,
    ) -> Result<u64, BlossomError> {
        let response = self
            .http
            .get(format!("{}/{sha256}", self.base))
            .header(
                "authorization",
                self.token(identity, Verb::Get, Some(sha256))?,
            )
            .send()
            .await
            .map_err(|e| BlossomError::Http(e.without_url().to_string()))?;
        let response = Self::check(response).await?;
        let mut file = HashingWriter::create(path).await?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => file.write(&chunk).await?,
                Err(e) => {
                    file.abandon().await;
                    return Err(BlossomError::Http(e.without_url().to_string()));
                }
            }
        }
        let (actual, size) = file.finish().await?;
        if actual != sha256 {
            let _ = tokio::fs::remove_file(path).await;
            return Err(BlossomError::HashMismatch);
        }
        Ok(size)
    }
}

/// The DocumentReference of an uploaded file ([`crate::attachment::document_reference`] at the
/// descriptor's URL).
pub fn document_reference(
    patient_reference: &str,
    sealed: &Sealed,
    key: &FileKey,
    descriptor: &Descriptor,
    content_type: &str,
    title: &str,
) -> DocumentReference {
    let file = crate::attachment::SealedFile {
        sealed,
        key,
        url: &descriptor.url,
    };
    crate::attachment::document_reference(patient_reference, &file, content_type, title)
}

/// Point `document`'s first attachment at an uploaded blob
/// ([`crate::attachment::attach_file`] at the descriptor's URL).
pub fn attach_file(
    document: &mut DocumentReference,
    sealed: &Sealed,
    key: &FileKey,
    descriptor: &Descriptor,
) {
    let file = crate::attachment::SealedFile {
        sealed,
        key,
        url: &descriptor.url,
    };
    crate::attachment::attach_file(document, &file);
}

/// Read the encrypted file a DocumentReference points at.
pub fn encrypted_file(document: &DocumentReference) -> Result<EncryptedFile, BlossomError> {
    crate::attachment::encrypted_file(document).map_err(BlossomError::NotAFile)
}
