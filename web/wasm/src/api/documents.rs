//! Documents for the portal (DESIGN.md §11): what a DocumentReference says about its encrypted
//! file, the BUD-11 token template the patient's signer signs to read it from Blossom, and the
//! decryption of the downloaded blob. All of it is `ehr-client`'s (`attachment`, `document`);
//! the browser only fetches bytes.

use ehr_client::attachment::{self, EncryptedFile};
use ehr_client::document;
use ehr_client::fhir::Resource;
use ehr_client::http_auth;
use ehr_client::nostr::prelude::{Event, FinalizeUnsignedEvent, Kind, Timestamp};
use serde_json::json;

/// Why a document could not be read. No message carries content or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentApiError {
    /// The argument is not a FHIR DocumentReference.
    #[error("not a FHIR DocumentReference")]
    NotADocument,
    /// The DocumentReference describes no encrypted file (it names what is missing).
    #[error("this document has no encrypted file: {0}")]
    NotAFile(&'static str),
    /// The file's URL is not an http(s) URL.
    #[error("the document's URL is not an http(s) URL")]
    Url,
    /// The time is not a Unix time in seconds.
    #[error("now must be a Unix time in seconds")]
    Time,
    /// The signed token is not a valid BUD-11 event.
    #[error("the authorization must be a signed kind 24242 event")]
    Token,
    /// The downloaded bytes are not the blob the record names.
    #[error("the downloaded file is not the one your record names (sha256 mismatch)")]
    HashMismatch,
    /// Wrong key, or the blob was altered.
    #[error("the document could not be decrypted (altered or wrong key)")]
    Decrypt,
}

fn file_of(document_json: &str) -> Result<EncryptedFile, DocumentApiError> {
    // The Bundle's resources carry `resourceType`: read through the tagged Resource.
    match serde_json::from_str::<Resource>(document_json) {
        Ok(Resource::DocumentReference(document)) => {
            attachment::encrypted_file(&document).map_err(DocumentApiError::NotAFile)
        }
        _ => Err(DocumentApiError::NotADocument),
    }
}

/// How to fetch a document's file: `{"url", "origin", "sha256", "contentType", "title",
/// "template"}`; `template` is the unsigned BUD-11 `get` token (NIP-07's template shape) for
/// the patient's signer, valid from `now` (seconds, the browser's clock).
pub fn document_request(
    document_json: &str,
    patient: &str,
    now: f64,
) -> Result<String, DocumentApiError> {
    let file = file_of(document_json)?;
    let patient =
        crate::api::public_key(patient, "patient").map_err(|_| DocumentApiError::Token)?;
    let host = attachment::server_host(&file.url).ok_or(DocumentApiError::Url)?;
    if !(now.is_finite() && now >= 0.0) {
        return Err(DocumentApiError::Time);
    }
    // Finite and non-negative: the cast keeps the whole seconds.
    let now = Timestamp::from_secs(now as u64);
    let unsigned = ehr_client::bud11::token_builder(
        ehr_client::bud11::Verb::Get,
        &host,
        Some(&file.ciphertext_sha256),
        now,
    )
    .finalize_unsigned(patient);
    let origin = origin_of(&file.url).ok_or(DocumentApiError::Url)?;
    Ok(json!({
        "url": file.url,
        "origin": origin,
        "sha256": file.ciphertext_sha256,
        "contentType": file.content_type,
        "title": file.title,
        "template": super::template_of(&unsigned),
    })
    .to_string())
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}"))
}

/// The `Authorization` header value for a signed BUD-11 token (the event the signer returned).
pub fn blossom_authorization(event_json: &str) -> Result<String, DocumentApiError> {
    let event: Event = serde_json::from_str(event_json).map_err(|_| DocumentApiError::Token)?;
    if event.kind != Kind::BlossomAuth || event.verify().is_err() {
        return Err(DocumentApiError::Token);
    }
    Ok(http_auth::header(&event))
}

/// Decrypt `blob` (the bytes Blossom served) as the file `document_json` names: its sha256 is
/// checked first, then every segment authenticates, then the plaintext's sha256 when recorded.
pub fn open_document(document_json: &str, blob: &[u8]) -> Result<Vec<u8>, DocumentApiError> {
    let file = file_of(document_json)?;
    if !document::sha256_hex(blob).eq_ignore_ascii_case(&file.ciphertext_sha256) {
        return Err(DocumentApiError::HashMismatch);
    }
    let mut plain = Vec::new();
    document::open(&file.key, file.layout, blob, &mut plain)
        .map_err(|_| DocumentApiError::Decrypt)?;
    if let Some(expected) = &file.plaintext_sha256
        && !document::sha256_hex(&plain).eq_ignore_ascii_case(expected)
    {
        return Err(DocumentApiError::Decrypt);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use ehr_client::attachment::{
        CIPHERTEXT_SHA256_EXTENSION, FILE_KEY_EXTENSION, FILE_LAYOUT_EXTENSION,
        PLAINTEXT_SHA256_EXTENSION,
    };
    use ehr_client::document::{FileKey, seal_single_described};
    use ehr_client::keys::Identity;

    use serde_json::Value;

    use super::*;

    /// A DocumentReference as the practice writes one (`blossom::document_reference`).
    fn sealed_document(plaintext: &[u8]) -> (String, Vec<u8>) {
        let key = FileKey::generate().unwrap();
        let (blob, sealed) = seal_single_described(&key, plaintext).unwrap();
        let document = json!({
            "resourceType": "DocumentReference",
            "id": "doc-1",
            "status": "current",
            "extension": [
                {"url": FILE_KEY_EXTENSION, "valueString": key.to_hex().as_str()},
                {"url": FILE_LAYOUT_EXTENSION, "valueCode": sealed.layout.as_str()},
                {"url": CIPHERTEXT_SHA256_EXTENSION, "valueString": sealed.ciphertext_sha256},
                {"url": PLAINTEXT_SHA256_EXTENSION, "valueString": sealed.plaintext_sha256},
            ],
            "content": [{"attachment": {
                "contentType": "application/pdf",
                "title": "Lab letter",
                "url": format!("http://127.0.0.1:8095/{}", sealed.ciphertext_sha256),
            }}],
        });
        (document.to_string(), blob)
    }

    #[test]
    fn a_downloaded_file_decrypts_and_an_altered_one_does_not() {
        let (document, blob) = sealed_document(b"%PDF-1.4 synthetic");
        assert_eq!(
            open_document(&document, &blob).unwrap(),
            b"%PDF-1.4 synthetic"
        );
        let mut altered = blob.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(
            open_document(&document, &altered).unwrap_err(),
            DocumentApiError::HashMismatch
        );
        assert_eq!(
            open_document("{\"resourceType\":\"Patient\"}", &blob).unwrap_err(),
            DocumentApiError::NotADocument
        );
    }

    #[test]
    fn the_token_is_scoped_to_the_server_and_the_blob_and_signed_by_the_patient() {
        let (document, _) = sealed_document(b"x");
        let patient = Identity::generate();
        let hex = patient.public_key().to_hex();
        let request: Value =
            serde_json::from_str(&document_request(&document, &hex, 1_700_000_000.0).unwrap())
                .unwrap();
        assert_eq!(request["origin"], "http://127.0.0.1:8095");
        assert_eq!(request["contentType"], "application/pdf");
        let tags = request["template"]["tags"].to_string();
        let sha = request["sha256"].as_str().unwrap();
        assert_eq!(request["template"]["kind"], 24242);
        assert!(tags.contains("[\"t\",\"get\"]") && tags.contains("[\"server\",\"127.0.0.1\"]"));
        assert!(tags.contains(&format!("[\"x\",\"{sha}\"]")) && tags.contains("1700000300"));
        let signed = crate::api::sign_event(&patient, &request["template"].to_string()).unwrap();
        assert!(
            blossom_authorization(&signed)
                .unwrap()
                .starts_with("Nostr ")
        );
        // A forged token (content changed after signing) is refused.
        let mut forged: Value = serde_json::from_str(&signed).unwrap();
        forged["content"] = "get everything".into();
        assert_eq!(
            blossom_authorization(&forged.to_string()).unwrap_err(),
            DocumentApiError::Token
        );
    }
}
