//! BUD-11 authorization tokens: kind 24242 events in `Authorization: Nostr <base64>`.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ehr_client::event::tag_values;
use nostr::prelude::{Event, Kind, PublicKey, Timestamp};

use crate::error::BlossomError;

/// The action a token must name in its `t` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`/`HEAD /<sha256>`.
    Get,
    /// `PUT`/`HEAD /upload`.
    Upload,
    /// `GET /list/<pubkey>`.
    List,
    /// `DELETE /<sha256>`.
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Upload => "upload",
            Self::List => "list",
            Self::Delete => "delete",
        }
    }
}

/// A checked token, before its `x` scope is matched against the blob.
#[derive(Debug)]
pub struct Token {
    /// Who signed it.
    pub pubkey: PublicKey,
    x: Vec<String>,
}

impl Token {
    /// Whether the token covers `sha256`: it must name it when `required`, and if it names any
    /// blob at all, one of them must be this one.
    pub fn covers(&self, sha256: &str, required: bool) -> Result<(), BlossomError> {
        if self.x.is_empty() {
            return if required {
                Err(BlossomError::Unauthorized(
                    "the token must name the blob in an x tag",
                ))
            } else {
                Ok(())
            };
        }
        if self.x.iter().any(|x| x == sha256) {
            Ok(())
        } else {
            Err(BlossomError::Unauthorized(
                "the token's x tags do not name this blob",
            ))
        }
    }
}

fn decode(encoded: &str) -> Option<Vec<u8>> {
    // Clients send base64url without padding (the spec) or standard base64 (many real ones).
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
}

/// The host a `server` tag names. BUD-11 asks for a bare domain; some clients send a URL, so
/// the scheme, port and path are dropped before comparing (the host must still be ours).
fn server_host(tag: &str) -> &str {
    let rest = tag.split_once("://").map_or(tag, |(_, rest)| rest);
    rest.split(['/', ':']).next().unwrap_or_default()
}

/// What every token is checked against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The host `server` tags must name (lower case).
    pub host: String,
    /// Allowed clock skew for `created_at` and `expiration`, seconds.
    pub skew: u64,
    /// Latest `expiration` accepted, seconds after now.
    pub max_lifetime: u64,
}

/// Check the token's times: signed not in the future, not expired, and not valid for longer
/// than the server allows (a long-lived token that leaks would open blobs for days).
fn check_times(event: &Event, rules: &Rules) -> Result<(), BlossomError> {
    let now = Timestamp::now().as_secs();
    if event.created_at.as_secs() > now + rules.skew {
        return Err(BlossomError::Unauthorized(
            "the token's created_at is in the future",
        ));
    }
    let expiration = tag_values(event, "expiration")
        .next()
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or(BlossomError::Unauthorized("the token has no expiration"))?;
    if expiration <= now {
        return Err(BlossomError::Unauthorized("the token has expired"));
    }
    if expiration > now + rules.max_lifetime + rules.skew {
        return Err(BlossomError::Unauthorized(
            "the token's expiration is further ahead than this server allows",
        ));
    }
    Ok(())
}

/// Read and check the token of `headers` for `verb` under `rules`.
/// `Ok(None)` when there is no `Authorization` header at all.
pub fn token(
    headers: &HeaderMap,
    verb: Verb,
    rules: &Rules,
) -> Result<Option<Token>, BlossomError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| BlossomError::Unauthorized("Authorization is not text"))?;
    let encoded = value
        .strip_prefix("Nostr ")
        .ok_or(BlossomError::Unauthorized(
            "Authorization must use the Nostr scheme",
        ))?;
    let json =
        decode(encoded.trim()).ok_or(BlossomError::Unauthorized("Authorization is not base64"))?;
    let event = Event::from_json(&json)
        .map_err(|_| BlossomError::Unauthorized("the token is not a Nostr event"))?;
    if event.kind != Kind::BlossomAuth {
        return Err(BlossomError::Unauthorized("the token must be kind 24242"));
    }
    event
        .verify()
        .map_err(|_| BlossomError::Unauthorized("bad token id or signature"))?;
    check_times(&event, rules)?;
    if !tag_values(&event, "t").any(|t| t == verb.as_str()) {
        return Err(BlossomError::Unauthorized(
            "the token's t tag is for another action",
        ));
    }
    // A token without a server tag would be good on any Blossom server the signer uses, so
    // one leaked by (or replayed from) another server must not open this one.
    let mut servers = tag_values(&event, "server").peekable();
    if servers.peek().is_none() {
        return Err(BlossomError::Unauthorized(
            "the token must name this server in a server tag",
        ));
    }
    if !servers.any(|s| server_host(s).eq_ignore_ascii_case(&rules.host)) {
        return Err(BlossomError::Unauthorized(
            "the token's server tags name other servers",
        ));
    }
    let x = tag_values(&event, "x")
        .map(str::to_ascii_lowercase)
        .collect();
    Ok(Some(Token {
        pubkey: event.pubkey,
        x,
    }))
}

/// Like [`token`], but a missing token is an error.
pub fn required(headers: &HeaderMap, verb: Verb, rules: &Rules) -> Result<Token, BlossomError> {
    token(headers, verb, rules)?.ok_or(BlossomError::Unauthorized(
        "authorization required (BUD-11)",
    ))
}
