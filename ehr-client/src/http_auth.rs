//! NIP-98 HTTP auth, both sides: the `Authorization: Nostr <base64 event>` header a member
//! signs, and the checks every service of the practice makes before it trusts one (the relay's
//! NIP-86 API, the FHIR gateway's admin API). Replay protection needs storage, so it stays with
//! each service: [`verify`] returns the event, whose id the service claims once.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nostr::prelude::{
    Event, EventBuilder, FinalizeEvent, FinalizeUnsignedEvent, Kind, PublicKey, Tag, Timestamp,
    UnsignedEvent,
};

use crate::document::sha256_hex;
use crate::keys::Identity;
use crate::tags::first_value;

/// How far an auth event's `created_at` may be from now, in seconds.
pub const AUTH_WINDOW: u64 = 60;

/// Largest header accepted: an auth event is a few hundred bytes.
const MAX_HEADER: usize = 8 * 1024;

/// Why an `Authorization` header was refused. Messages name the rule, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpAuthError {
    /// No header, or not the `Nostr` scheme.
    #[error("a NIP-98 Authorization header (Nostr scheme) is required")]
    Missing,
    /// Not base64, not an event, or too large.
    #[error("the Authorization header is not a base64 Nostr event")]
    Malformed,
    /// Another kind than 27235.
    #[error("the auth event must be kind 27235")]
    WrongKind,
    /// Id or signature do not verify.
    #[error("bad auth event id or signature")]
    BadSignature,
    /// `created_at` too far from now.
    #[error("the auth event is outside the 60 s window")]
    Stale,
    /// The `u` tag names another URL.
    /// A management call was asked of an address that is not a relay's.
    #[error("not a relay URL (expected ws:// or wss://)")]
    NotARelayUrl,
    #[error("the auth event's u tag does not name this URL")]
    WrongUrl,
    /// The `method` tag names another method.
    #[error("the auth event's method tag does not match the request")]
    WrongMethod,
    /// The `payload` tag is missing for a body, or does not hash it.
    #[error("the auth event's payload tag does not match the body")]
    WrongPayload,
    /// The event was used before (the service's replay check).
    #[error("the auth event was already used")]
    Replayed,
    /// Signing failed.
    #[error("the auth event could not be signed")]
    Signing,
}

/// Until when a service must remember a verified event's id to refuse it again: the end of its
/// window, plus a second.
pub fn replay_expiry(event: &Event) -> Timestamp {
    Timestamp::from(event.created_at.as_secs() + AUTH_WINDOW + 1)
}

/// Check `header` (the whole `Authorization` value) against a request: kind 27235, a valid id
/// and signature, `created_at` within [`AUTH_WINDOW`] of `now`, `u` one of `urls`, `method`
/// equal, and, when the request has a body, a `payload` tag with its sha256. The caller still
/// checks who signed and that the event id was not used before.
pub fn verify(
    header: Option<&str>,
    urls: &[&str],
    method: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<Event, HttpAuthError> {
    let encoded = header
        .and_then(|h| h.strip_prefix("Nostr "))
        .ok_or(HttpAuthError::Missing)?
        .trim();
    if encoded.len() > MAX_HEADER {
        return Err(HttpAuthError::Malformed);
    }
    let json = STANDARD
        .decode(encoded)
        .map_err(|_| HttpAuthError::Malformed)?;
    let event = Event::from_json(&json).map_err(|_| HttpAuthError::Malformed)?;
    if event.kind != Kind::HttpAuth {
        return Err(HttpAuthError::WrongKind);
    }
    event.verify().map_err(|_| HttpAuthError::BadSignature)?;
    if event.created_at.as_secs().abs_diff(now.as_secs()) > AUTH_WINDOW {
        return Err(HttpAuthError::Stale);
    }
    let url = first_value(&event, "u").ok_or(HttpAuthError::WrongUrl)?;
    if !urls.contains(&url) {
        return Err(HttpAuthError::WrongUrl);
    }
    if first_value(&event, "method").is_none_or(|m| !m.eq_ignore_ascii_case(method)) {
        return Err(HttpAuthError::WrongMethod);
    }
    let payload = first_value(&event, "payload");
    if !body.is_empty() || payload.is_some() {
        let digest = sha256_hex(body);
        if payload != Some(digest.as_str()) {
            return Err(HttpAuthError::WrongPayload);
        }
    }
    Ok(event)
}

/// The `Authorization` header value for a request: a kind 27235 event signed by `identity`
/// naming `url` and `method`, with the body's sha256 when there is a body, and a random `nonce`
/// tag: services refuse an event id they have seen, and without it the same request made twice
/// in one second would be the same event.
pub fn authorization(
    identity: &Identity,
    url: &str,
    method: &str,
    body: &[u8],
) -> Result<String, HttpAuthError> {
    authorization_at(identity, url, method, body, Timestamp::now())
}

/// [`authorization`] dated `created_at` (the browser passes its clock: the core reads none
/// there).
pub fn authorization_at(
    identity: &Identity,
    url: &str,
    method: &str,
    body: &[u8],
    created_at: Timestamp,
) -> Result<String, HttpAuthError> {
    let event = EventBuilder::new(Kind::HttpAuth, "")
        .tags(request_tags(url, method, body)?)
        .custom_created_at(created_at)
        .finalize(identity.keys())
        .map_err(|_| HttpAuthError::Signing)?;
    Ok(header(&event))
}

/// The unsigned kind 27235 event [`authorization_at`] signs, by `author`: for a signer that
/// holds the key elsewhere (a browser extension, a remote signer). Check what it returns with
/// [`verify`].
pub fn request_event(
    author: PublicKey,
    url: &str,
    method: &str,
    body: &[u8],
    created_at: Timestamp,
) -> Result<UnsignedEvent, HttpAuthError> {
    Ok(EventBuilder::new(Kind::HttpAuth, "")
        .tags(request_tags(url, method, body)?)
        .custom_created_at(created_at)
        .finalize_unsigned(author))
}

/// `u`, `method`, a random `nonce` (the same request twice in one second is two events) and,
/// with a body, its sha256 as `payload`.
fn request_tags(url: &str, method: &str, body: &[u8]) -> Result<Vec<Tag>, HttpAuthError> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|_| HttpAuthError::Signing)?;
    let mut tags = vec![
        Tag::custom("u", [url]),
        Tag::custom("method", [method.to_ascii_uppercase()]),
        Tag::custom("nonce", [hex::encode(nonce)]),
    ];
    if !body.is_empty() {
        tags.push(Tag::custom("payload", [sha256_hex(body)]));
    }
    Ok(tags)
}

/// The NIP-86 management endpoint of the relay at `relay_url`: its own address with an HTTP
/// scheme (`wss://host/` → `https://host/`); `None` for anything but a `ws(s)://` URL.
pub fn management_url(relay_url: &str) -> Option<String> {
    if let Some(rest) = relay_url.strip_prefix("wss://") {
        Some(format!("https://{rest}"))
    } else {
        relay_url
            .strip_prefix("ws://")
            .map(|rest| format!("http://{rest}"))
    }
}

/// A NIP-86 call to the relay at `relay_url` as `identity` at `created_at`: the URL to POST to,
/// the JSON-RPC body (`{"method", "params"}`) and its NIP-98 `Authorization` value.
pub fn management_call(
    identity: &Identity,
    relay_url: &str,
    method: &str,
    params: &[serde_json::Value],
    created_at: Timestamp,
) -> Result<(String, String, String), HttpAuthError> {
    let url = management_url(relay_url).ok_or(HttpAuthError::NotARelayUrl)?;
    let body = serde_json::json!({ "method": method, "params": params }).to_string();
    let authorization = authorization_at(identity, &url, "POST", body.as_bytes(), created_at)?;
    Ok((url, body, authorization))
}

/// The `Authorization` value carrying `event`: `Nostr <base64 of its JSON>`.
pub fn header(event: &Event) -> String {
    format!("Nostr {}", STANDARD.encode(event.as_json()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const URL: &str = "https://gw.example/admin/clients";

    #[test]
    fn a_management_call_posts_to_the_relays_http_address_and_its_authorization_verifies() {
        assert_eq!(
            management_url("wss://relay.example/").as_deref(),
            Some("https://relay.example/")
        );
        assert_eq!(
            management_url("ws://127.0.0.1:7447").as_deref(),
            Some("http://127.0.0.1:7447")
        );
        assert_eq!(management_url("https://relay.example/"), None);
        let admin = Identity::generate();
        let now = Timestamp::from_secs(1_800_000_000);
        let params = [serde_json::json!("npub1example")];
        let (url, body, header) =
            management_call(&admin, "wss://relay.example/", "allowpubkey", &params, now).unwrap();
        assert_eq!(url, "https://relay.example/");
        assert_eq!(
            body,
            r#"{"method":"allowpubkey","params":["npub1example"]}"#
        );
        let event = verify(Some(&header), &[url.as_str()], "POST", body.as_bytes(), now).unwrap();
        assert_eq!((event.pubkey, event.created_at), (admin.public_key(), now));
        assert_eq!(
            management_call(
                &admin,
                "https://relay.example/",
                "allowpubkey",
                &params,
                now
            ),
            Err(HttpAuthError::NotARelayUrl)
        );
    }

    #[test]
    fn a_signed_header_verifies_and_every_mismatch_is_refused() {
        let admin = Identity::generate();
        let now = Timestamp::now();
        let body = br#"{"client_id":"lab"}"#;
        let header = authorization(&admin, URL, "POST", body).unwrap();
        let event = verify(Some(&header), &[URL], "POST", body, now).unwrap();
        assert_eq!(event.pubkey, admin.public_key());

        let check = |h: Option<&str>, url: &str, method: &str, body: &[u8], now| {
            verify(h, &[url], method, body, now).unwrap_err()
        };
        assert_eq!(check(None, URL, "POST", body, now), HttpAuthError::Missing);
        assert_eq!(
            check(Some("Bearer x"), URL, "POST", body, now),
            HttpAuthError::Missing
        );
        assert_eq!(
            check(Some("Nostr !!"), URL, "POST", body, now),
            HttpAuthError::Malformed
        );
        let h = Some(header.as_str());
        assert_eq!(
            check(h, "https://other.example/admin/clients", "POST", body, now),
            HttpAuthError::WrongUrl
        );
        assert_eq!(check(h, URL, "GET", body, now), HttpAuthError::WrongMethod);
        assert_eq!(
            check(h, URL, "POST", b"{}", now),
            HttpAuthError::WrongPayload
        );
        let later = Timestamp::from(now.as_secs() + AUTH_WINDOW + 5);
        assert_eq!(check(h, URL, "POST", body, later), HttpAuthError::Stale);

        // Another key's pubkey on the same signature.
        let json = STANDARD
            .decode(header.trim_start_matches("Nostr "))
            .unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        value["pubkey"] = serde_json::json!(Identity::generate().public_key().to_hex());
        let forged = format!("Nostr {}", STANDARD.encode(value.to_string()));
        assert_eq!(
            check(Some(&forged), URL, "POST", body, now),
            HttpAuthError::BadSignature
        );

        // A GET without a body needs no payload tag.
        let get = authorization(&admin, URL, "get", b"").unwrap();
        assert!(verify(Some(&get), &[URL], "GET", b"", now).is_ok());
    }

    #[test]
    fn the_same_request_twice_is_two_events() {
        // A service refuses an event id it has seen: two identical requests in one second must
        // not share one.
        let admin = Identity::generate();
        let now = Timestamp::now();
        let first = authorization(&admin, URL, "GET", b"").unwrap();
        let second = authorization(&admin, URL, "GET", b"").unwrap();
        let first = verify(Some(&first), &[URL], "GET", b"", now).unwrap();
        let second = verify(Some(&second), &[URL], "GET", b"", now).unwrap();
        assert_ne!(first.id, second.id);
    }
}
