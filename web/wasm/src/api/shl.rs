//! SMART Health Links in the browser (DESIGN.md §11 "Summary, SMART Health Links and
//! emergency access"): the portal's side (a new link, its key sealed to herself, the link and
//! its QR code shown again, a `latest` link's file refreshed, NIP-98 for the practice's link
//! API through her signer) and the viewer's (parse a link, the manifest request, open a file).
//! The protocol is `ehr_client::shl`'s; this module only joins it to the signer and to JSON.

use ehr_client::http_auth;
use ehr_client::shl::{
    self, FHIR_JSON, FileUpdate, LinkKey, LinkListing, ManifestRequest, NewLink, Payload, ShlError,
};
use ehr_client::signer::{Nip44Decrypt, PatientSigner};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, seconds};

/// The longest self-description of a recipient the viewer sends.
pub const RECIPIENT_MAX: usize = 200;

fn shl_error(error: ShlError) -> ApiError {
    ApiError::Record(error.to_string())
}

/// The summary as the file of a link: a FHIR document Bundle, compact.
fn summary_bytes(summary: &str) -> Result<Vec<u8>, ApiError> {
    let value: Value =
        serde_json::from_str(summary).map_err(|_| ApiError::Field("summary", "is not JSON"))?;
    if value.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(ApiError::Field("summary", "is not a FHIR Bundle"));
    }
    serde_json::to_vec(&value).map_err(|_| ApiError::Field("summary", "is not JSON"))
}

/// The link form of the portal.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkForm {
    label: String,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    passcode: Option<String>,
    #[serde(default)]
    passcode_attempts: Option<u32>,
    #[serde(default)]
    latest: bool,
}

/// A new link to `summary` (the IPS Bundle, JSON) from `form` (`{"label", "expiresAt"?,
/// "passcode"?, "passcodeAttempts"?, "latest"}`), checked at `now` (seconds) by the rules the
/// server applies: `{"body": the NewLink JSON to POST, "key": the link's key}`. The key is
/// generated here, the summary encrypted under it, and the key sealed by `signer` to herself
/// (NIP-44), so that her portal can show the link again and refresh a `latest` link.
pub async fn new_link<S: PatientSigner>(
    signer: &S,
    summary: &str,
    form: &str,
    now: f64,
) -> Result<String, ApiError> {
    let form: LinkForm = serde_json::from_str(form)
        .map_err(|_| ApiError::Field("link form", "is not the form's JSON"))?;
    let now = seconds(now)?;
    let key = LinkKey::generate().map_err(shl_error)?;
    let file = shl::encrypt_file(&key, FHIR_JSON, &summary_bytes(summary)?).map_err(shl_error)?;
    let passcode = form
        .passcode
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let link = NewLink {
        label: form.label.trim().to_owned(),
        expires_at: form.expires_at,
        passcode_attempts: passcode.as_ref().and(form.passcode_attempts),
        passcode,
        latest: form.latest,
        file,
        sealed_key: String::new(),
    };
    // The form's rules first, before the signer is asked anything.
    let check = NewLink {
        sealed_key: "-".to_owned(),
        ..link.clone()
    };
    check.check(now.as_secs()).map_err(shl_error)?;
    let sealed_key = signer
        .nip44_encrypt(&signer.public_key(), &key.to_base64url())
        .await
        .map_err(|e| ApiError::Signer(e.to_string()))?;
    let link = NewLink { sealed_key, ..link };
    link.check(now.as_secs()).map_err(shl_error)?;
    let body = serde_json::to_string(&link).map_err(|_| ApiError::Chart)?;
    Ok(json!({ "body": body, "key": key.to_base64url() }).to_string())
}

/// The link of `listing` (the server's LinkListing JSON) under `key`: `{"link": "shlink:/…",
/// "url": viewer + "#" + link, "qr": the QR code of that URL ({"size", "path"})}`.
pub fn link(listing: &str, key: &str, viewer: &str) -> Result<String, ApiError> {
    let listing: LinkListing = serde_json::from_str(listing)
        .map_err(|_| ApiError::Field("link listing", "is not the server's JSON"))?;
    let key = LinkKey::from_base64url(key.trim()).map_err(shl_error)?;
    link_json(&listing.payload(&key), viewer)
}

fn link_json(payload: &Payload, viewer: &str) -> Result<String, ApiError> {
    let link = payload.to_link();
    let viewer = viewer.trim();
    let url = if viewer.is_empty() {
        link.clone()
    } else {
        format!("{}#{link}", viewer.trim_end_matches('#'))
    };
    let qr = super::enrolment::qr(&url)?;
    Ok(json!({ "link": link, "url": url, "qr": qr }).to_string())
}

/// The key of `listing`, opened from its `sealedKey` by her signer (sealed to herself).
async fn open_key<S: Nip44Decrypt>(signer: &S, listing: &LinkListing) -> Result<LinkKey, ApiError> {
    let key = signer
        .nip44_decrypt(&signer.public_key(), &listing.sealed_key)
        .await
        .map_err(|e| ApiError::Signer(e.to_string()))?;
    LinkKey::from_base64url(key.trim()).map_err(shl_error)
}

/// The link of `listing` shown again: its key opened by her signer, then [`link`]'s answer.
pub async fn open_link<S: Nip44Decrypt>(
    signer: &S,
    listing: &str,
    viewer: &str,
) -> Result<String, ApiError> {
    let listing: LinkListing = serde_json::from_str(listing)
        .map_err(|_| ApiError::Field("link listing", "is not the server's JSON"))?;
    let key = open_key(signer, &listing).await?;
    link_json(&listing.payload(&key), viewer)
}

/// A `latest` link's new file: `summary` (the IPS Bundle, JSON) under the key of `listing`,
/// opened by her signer: the FileUpdate JSON to PUT.
pub async fn refresh<S: Nip44Decrypt>(
    signer: &S,
    listing: &str,
    summary: &str,
) -> Result<String, ApiError> {
    let listing: LinkListing = serde_json::from_str(listing)
        .map_err(|_| ApiError::Field("link listing", "is not the server's JSON"))?;
    let key = open_key(signer, &listing).await?;
    let file = shl::encrypt_file(&key, FHIR_JSON, &summary_bytes(summary)?).map_err(shl_error)?;
    serde_json::to_string(&FileUpdate { file }).map_err(|_| ApiError::Chart)
}

/// The NIP-98 `Authorization` value for a `method` request to `url` with `body` ("" for
/// none), signed by `signer` at `now` (seconds): `ehr_client::http_auth::request_event`.
/// What the signer returns is checked as a server checks it.
pub async fn http_authorization<S: PatientSigner>(
    signer: &S,
    url: &str,
    method: &str,
    body: &str,
    now: f64,
) -> Result<String, ApiError> {
    let created_at = seconds(now)?;
    let method = method.to_ascii_uppercase();
    let unsigned = http_auth::request_event(
        signer.public_key(),
        url,
        &method,
        body.as_bytes(),
        created_at,
    )
    .map_err(|e| ApiError::Signer(e.to_string()))?;
    let event = signer
        .sign_event(unsigned)
        .await
        .map_err(|e| ApiError::Signer(e.to_string()))?;
    let header = http_auth::header(&event);
    let checked = http_auth::verify(Some(&header), &[url], &method, body.as_bytes(), created_at)
        .map_err(|_| ApiError::Signer("the signer returned a different or invalid event".into()))?;
    if checked.pubkey != signer.public_key() {
        return Err(ApiError::Signer(
            "the signer signed with another key".to_owned(),
        ));
    }
    Ok(header)
}

/// A link (bare, or behind a viewer's URL) as the viewer reads it: the payload's fields
/// (`url`, `key`, `exp`, `flag`, `label`, `v`) and `needsPasscode`, `keptCurrent`.
pub fn parse_link(text: &str) -> Result<String, ApiError> {
    let payload = Payload::parse(text).map_err(shl_error)?;
    let mut value = serde_json::to_value(&payload).map_err(|_| ApiError::Chart)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("needsPasscode".to_owned(), json!(payload.needs_passcode()));
        map.insert(
            "keptCurrent".to_owned(),
            json!(payload.flag.as_deref().is_some_and(|f| f.contains('L'))),
        );
    }
    Ok(value.to_string())
}

/// The body the viewer POSTs to the manifest URL: `recipient` (who is asking, required) and
/// the `passcode` ("" for none).
pub fn manifest_request(recipient: &str, passcode: &str) -> Result<String, ApiError> {
    let recipient = recipient.trim();
    if recipient.is_empty() {
        return Err(ApiError::Field("recipient", "is required"));
    }
    if recipient.chars().count() > RECIPIENT_MAX || recipient.chars().any(char::is_control) {
        return Err(ApiError::Field(
            "recipient",
            "must be at most 200 characters on one line",
        ));
    }
    let passcode = passcode.trim();
    let request = ManifestRequest {
        recipient: recipient.to_owned(),
        passcode: (!passcode.is_empty()).then(|| passcode.to_owned()),
        embedded_length_max: None,
    };
    serde_json::to_string(&request).map_err(|_| ApiError::Chart)
}

/// A file of the manifest of `link`, decrypted with the link's key: the FHIR JSON text.
pub fn open_file(link: &str, jwe: &str) -> Result<String, ApiError> {
    let payload = Payload::parse(link).map_err(shl_error)?;
    let key = payload.link_key().map_err(shl_error)?;
    let (content_type, bytes) = shl::decrypt_file(&key, jwe.trim()).map_err(shl_error)?;
    if content_type.as_deref().is_some_and(|t| t != FHIR_JSON) {
        return Err(ApiError::Field("file", "is not FHIR JSON"));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::Field("file", "is not UTF-8 text"))?;
    serde_json::from_str::<Value>(&text).map_err(|_| ApiError::Field("file", "is not JSON"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use ehr_client::keys::Identity;
    use ehr_client::nostr::prelude::Timestamp;

    use super::*;

    const SUMMARY: &str = r#"{"resourceType":"Bundle","type":"document"}"#;

    fn listing(body: &NewLink, expires: Option<u64>) -> String {
        json!({
            "id": "abc", "url": "https://gw.example/shl/abc", "label": body.label,
            "createdAt": 1_000, "expiresAt": expires, "passcode": body.passcode.is_some(),
            "remainingAttempts": body.passcode_attempts, "latest": body.latest,
            "fileUpdatedAt": 1_000, "endedAt": null, "accesses": 0, "lastAccessAt": null,
            "sealedKey": body.sealed_key,
        })
        .to_string()
    }

    #[test]
    fn a_new_link_opens_again_for_her_and_its_file_for_whoever_holds_the_link() {
        let her = Identity::generate();
        let form = r#"{"label":"Emergency health summary","expiresAt":2000000000,
            "passcode":"2468","passcodeAttempts":3,"latest":true}"#;
        let created: Value = serde_json::from_str(
            &pollster::block_on(new_link(&her, SUMMARY, form, 1_900_000_000.0)).unwrap(),
        )
        .unwrap();
        let body: NewLink = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
        assert!(body.check(1_900_000_000).is_ok());
        let key = created["key"].as_str().unwrap();
        let listing = listing(&body, body.expires_at);
        let shown: Value =
            serde_json::from_str(&link(&listing, key, "https://portal.example/viewer").unwrap())
                .unwrap();
        let again: Value = serde_json::from_str(
            &pollster::block_on(open_link(&her, &listing, "https://portal.example/viewer"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(shown["link"], again["link"]);
        assert!(
            shown["url"]
                .as_str()
                .unwrap()
                .starts_with("https://portal.example/viewer#shlink:/")
        );
        let parsed: Value =
            serde_json::from_str(&parse_link(shown["url"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(parsed["flag"], "LP");
        assert_eq!(parsed["needsPasscode"], true);
        assert_eq!(parsed["label"], "Emergency health summary");
        let link_text = shown["link"].as_str().unwrap();
        assert_eq!(open_file(link_text, &body.file).unwrap(), SUMMARY);
        // A refreshed file opens under the same link.
        let update: FileUpdate = serde_json::from_str(
            &pollster::block_on(refresh(
                &her,
                &listing,
                r#"{"resourceType":"Bundle","id":"2"}"#,
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(
            open_file(link_text, &update.file)
                .unwrap()
                .contains("\"2\"")
        );
        // Nobody else opens the sealed key.
        let other = Identity::generate();
        assert!(pollster::block_on(open_link(&other, &listing, "")).is_err());
    }

    #[test]
    fn the_form_is_checked_before_the_signer_is_asked() {
        let her = Identity::generate();
        for bad in [
            r#"{"label":"","latest":false}"#,
            r#"{"label":"x","passcode":"12","latest":false}"#,
            r#"{"label":"x","expiresAt":10,"latest":false}"#,
        ] {
            assert!(
                pollster::block_on(new_link(&her, SUMMARY, bad, 1_000.0)).is_err(),
                "{bad}"
            );
        }
        assert!(pollster::block_on(new_link(&her, "{}", r#"{"label":"x"}"#, 1_000.0)).is_err());
        // Attempts without a passcode are dropped, not an error.
        let ok = pollster::block_on(new_link(
            &her,
            SUMMARY,
            r#"{"label":"x","passcodeAttempts":5}"#,
            1_000.0,
        ));
        assert!(ok.is_ok());
    }

    #[test]
    fn her_signer_signs_nip98_that_a_server_accepts() {
        let her = Identity::generate();
        let url = "https://gw.example/shl";
        let header =
            pollster::block_on(http_authorization(&her, url, "post", "{}", 1_900_000_000.0))
                .unwrap();
        let event = http_auth::verify(
            Some(&header),
            &[url],
            "POST",
            b"{}",
            Timestamp::from_secs(1_900_000_010),
        )
        .unwrap();
        assert_eq!(event.pubkey, her.public_key());
        assert!(
            http_auth::verify(
                Some(&header),
                &[url],
                "POST",
                b"{ }",
                Timestamp::from_secs(1_900_000_010)
            )
            .is_err()
        );
    }

    #[test]
    fn the_viewer_asks_with_a_recipient() {
        assert!(manifest_request(" ", "").is_err());
        let body: Value =
            serde_json::from_str(&manifest_request("Dr Who, City ER", " 1234 ").unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"recipient": "Dr Who, City ER", "passcode": "1234"})
        );
        assert!(parse_link("https://example.org").is_err());
    }
}
