//! Documents the clinic uploads (DESIGN.md §4, §12): the file is encrypted here, in the browser
//! (a new AES-256-GCM key, the single-message layout), the member's signer signs a BUD-11
//! upload token for the Blossom server, and once the server holds the ciphertext the file is
//! recorded as a DocumentReference whose key travels only inside the record's encryption.

use ehr_client::attachment::{self, SealedFile};
use ehr_client::bud11::{self, Verb};
use ehr_client::document::{self, FileKey, Sealed};
use ehr_client::fhir::{CodeableConcept, Resource};
use ehr_client::nostr::prelude::FinalizeUnsignedEvent;

use crate::api::records::{checked, field, first_version, patient_id, text_concept};
use crate::api::{ApiError, public_key, seconds};

/// The largest file sealed in the browser at once (the single-message layout holds it all in
/// memory); larger files go through `ehr doc add`, which streams.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// A file sealed for upload, its key held here until the record is built.
pub struct Upload {
    key: FileKey,
    sealed: Sealed,
    blob: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("sha256", &self.sealed.ciphertext_sha256)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Encrypt `bytes` under a new key.
    pub fn seal(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.is_empty() {
            return Err(ApiError::Field("file", "is empty"));
        }
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::Field(
                "file",
                "is larger than 64 MB: upload it with `ehr doc add`",
            ));
        }
        let key = FileKey::generate().map_err(|_| ApiError::Record("no randomness".into()))?;
        let (blob, sealed) = document::seal_single_described(&key, bytes)
            .map_err(|_| ApiError::Record("the file could not be encrypted".into()))?;
        Ok(Self { key, sealed, blob })
    }

    /// The ciphertext to upload.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The ciphertext's sha256 (its Blossom address), hex.
    pub fn sha256(&self) -> &str {
        &self.sealed.ciphertext_sha256
    }

    /// The unsigned BUD-11 upload token (NIP-07's template shape) for `author`'s signer, for
    /// the Blossom server at `server`, valid from `now` (seconds).
    pub fn upload_template(
        &self,
        author: &str,
        server: &str,
        now: f64,
    ) -> Result<String, ApiError> {
        let author = public_key(author, "member")?;
        let host = attachment::server_host(server)
            .ok_or(ApiError::Field("Blossom server", "is not an http(s) URL"))?;
        let unsigned =
            bud11::token_builder(Verb::Upload, &host, Some(self.sha256()), seconds(now)?)
                .finalize_unsigned(author);
        Ok(crate::api::template_of(&unsigned).to_string())
    }

    /// The DocumentReference of the uploaded file at `url`, in `chart`, titled `title`, of
    /// `content_type`, dated `date` (FHIR dateTime): FHIR JSON to sign and publish.
    pub fn document(
        &self,
        chart: &str,
        url: &str,
        content_type: &str,
        title: &str,
        date: &str,
    ) -> Result<String, ApiError> {
        // BUD-02: the blob's URL ends in its sha256, perhaps with a file extension.
        let last = url.rsplit('/').next().unwrap_or_default();
        if attachment::server_host(url).is_none() || !last.starts_with(self.sha256()) {
            return Err(ApiError::Field("upload", "did not return this file's URL"));
        }
        let title = field(title, "title", false)?.unwrap_or_default();
        let content_type = field(content_type, "type", true)?
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let file = SealedFile {
            sealed: &self.sealed,
            key: &self.key,
            url,
        };
        let patient = format!("Patient/{}", patient_id(chart)?);
        let mut document = attachment::document_reference(&patient, &file, &content_type, &title);
        document.meta = first_version();
        document.date = field(date, "date", false)?;
        document.type_ = Some(CodeableConcept {
            ..text_concept(title)
        });
        checked(Resource::DocumentReference(document))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

    use ehr_client::attachment::encrypted_file;
    use serde_json::json;

    use super::*;

    fn chart() -> String {
        json!({ "patient": "ab".repeat(32), "bundle": { "entry": [] } }).to_string()
    }

    #[test]
    fn a_sealed_upload_is_recorded_with_a_key_that_opens_it() {
        let upload = Upload::seal(b"%PDF-1.4 synthetic").unwrap();
        let url = format!("https://blobs.example.org/{}", upload.sha256());
        let json = upload
            .document(
                &chart(),
                &url,
                "application/pdf",
                "Referral letter",
                "2026-12-07",
            )
            .unwrap();
        let Resource::DocumentReference(document) = Resource::from_json(&json).unwrap() else {
            panic!("not a document")
        };
        let file = encrypted_file(&document).unwrap();
        assert_eq!(file.ciphertext_sha256, upload.sha256());
        let opened = document::open_single(&file.key, upload.blob()).unwrap();
        assert_eq!(opened.as_slice(), b"%PDF-1.4 synthetic");
    }

    #[test]
    fn a_url_that_is_not_the_uploaded_blob_is_refused() {
        let upload = Upload::seal(b"x").unwrap();
        let wrong = "https://blobs.example.org/0000";
        assert!(
            upload
                .document(&chart(), wrong, "text/plain", "t", "2026-12-07")
                .is_err()
        );
        assert!(Upload::seal(b"").is_err());
    }

    #[test]
    fn the_upload_token_names_the_server_and_the_blob() {
        let upload = Upload::seal(b"x").unwrap();
        let author = "ab".repeat(32);
        let template: serde_json::Value = serde_json::from_str(
            &upload
                .upload_template(&author, "https://blobs.example.org", 1_800_000_000.0)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(template["kind"], 24242);
        let tags = template["tags"].to_string();
        assert!(
            tags.contains(upload.sha256()) && tags.contains("upload"),
            "{tags}"
        );
    }
}
