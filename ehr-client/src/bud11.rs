//! BUD-11 authorization tokens (kind 24242, `Authorization: Nostr <base64 event>`): building
//! them (the `ehr` CLI's Blossom client, the portal) and checking them (the Blossom server), in
//! one place so the two cannot drift apart.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use nostr::prelude::{Event, EventBuilder, Kind, PublicKey, Tag, Timestamp};

use crate::tags::tag_values;

/// How long a token this library builds stays valid, in seconds.
pub const TOKEN_LIFETIME: u64 = 300;

/// The action a token names in its `t` tag.
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
    /// The `t` tag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Upload => "upload",
            Self::List => "list",
            Self::Delete => "delete",
        }
    }
}

/// Why a token was refused; the message names the problem, never the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

/// The unsigned token for `verb` on the server `host` (its `server` tag), scoped to `sha256`
/// when given, valid from `now` for [`TOKEN_LIFETIME`] seconds.
pub fn token_builder(verb: Verb, host: &str, sha256: Option<&str>, now: Timestamp) -> EventBuilder {
    let expiration = (now.as_secs() + TOKEN_LIFETIME).to_string();
    let mut tags = vec![
        Tag::custom("t", [verb.as_str()]),
        Tag::custom("expiration", [expiration]),
        Tag::custom("server", [host]),
    ];
    if let Some(sha) = sha256 {
        tags.push(Tag::custom("x", [sha]));
    }
    EventBuilder::new(Kind::BlossomAuth, format!("{} blob", verb.as_str()))
        .tags(tags)
        .custom_created_at(now)
}

/// What a server checks every token against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The host `server` tags must name (lower case).
    pub host: String,
    /// Allowed clock skew for `created_at` and `expiration`, seconds.
    pub skew: u64,
    /// Latest `expiration` accepted, seconds after now.
    pub max_lifetime: u64,
}

/// A checked token, before its `x` scope is matched against the blob.
#[derive(Debug, Clone)]
pub struct Token {
    /// Who signed it.
    pub pubkey: PublicKey,
    x: Vec<String>,
}

impl Token {
    /// Whether the token covers `sha256`: it must name it when `required`, and if it names any
    /// blob at all, one of them must be this one.
    pub fn covers(&self, sha256: &str, required: bool) -> Result<(), Refused> {
        if self.x.is_empty() {
            return if required {
                Err(Refused("the token must name the blob in an x tag"))
            } else {
                Ok(())
            };
        }
        if self.x.iter().any(|x| x == sha256) {
            Ok(())
        } else {
            Err(Refused("the token's x tags do not name this blob"))
        }
    }
}

/// Check an `Authorization` header value for `verb` under `rules` at `now`.
pub fn check(
    authorization: &str,
    verb: Verb,
    rules: &Rules,
    now: Timestamp,
) -> Result<Token, Refused> {
    let encoded = authorization
        .strip_prefix("Nostr ")
        .ok_or(Refused("Authorization must use the Nostr scheme"))?;
    let json = decode(encoded.trim()).ok_or(Refused("Authorization is not base64"))?;
    let event = Event::from_json(&json).map_err(|_| Refused("the token is not a Nostr event"))?;
    if event.kind != Kind::BlossomAuth {
        return Err(Refused("the token must be kind 24242"));
    }
    event
        .verify()
        .map_err(|_| Refused("bad token id or signature"))?;
    check_times(&event, rules, now)?;
    if !tag_values(&event, "t").any(|t| t == verb.as_str()) {
        return Err(Refused("the token's t tag is for another action"));
    }
    // A token without a server tag would be good on any Blossom server the signer uses, so
    // one leaked by (or replayed from) another server must not open this one.
    let mut servers = tag_values(&event, "server").peekable();
    if servers.peek().is_none() {
        return Err(Refused("the token must name this server in a server tag"));
    }
    if !servers.any(|s| server_host(s).eq_ignore_ascii_case(&rules.host)) {
        return Err(Refused("the token's server tags name other servers"));
    }
    let x = tag_values(&event, "x")
        .map(str::to_ascii_lowercase)
        .collect();
    Ok(Token {
        pubkey: event.pubkey,
        x,
    })
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

/// Signed not in the future, not expired, and not valid for longer than the server allows (a
/// long-lived token that leaks would open blobs for days).
fn check_times(event: &Event, rules: &Rules, now: Timestamp) -> Result<(), Refused> {
    let now = now.as_secs();
    if event.created_at.as_secs() > now + rules.skew {
        return Err(Refused("the token's created_at is in the future"));
    }
    let expiration = tag_values(event, "expiration")
        .next()
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or(Refused("the token has no expiration"))?;
    if expiration <= now {
        return Err(Refused("the token has expired"));
    }
    if expiration > now + rules.max_lifetime + rules.skew {
        return Err(Refused(
            "the token's expiration is further ahead than this server allows",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nostr::prelude::{FinalizeEvent, Keys};

    use super::*;

    const SHA: &str = "aa00000000000000000000000000000000000000000000000000000000000000";

    fn rules() -> Rules {
        Rules {
            host: "blobs.example.org".into(),
            skew: 60,
            max_lifetime: 3600,
        }
    }

    fn header(builder: EventBuilder) -> String {
        let event = builder.finalize(&Keys::generate()).unwrap();
        format!("Nostr {}", URL_SAFE_NO_PAD.encode(event.as_json()))
    }

    #[test]
    fn a_token_this_library_builds_passes_the_check_it_is_built_for() {
        let now = Timestamp::now();
        let value = header(token_builder(
            Verb::Get,
            "blobs.example.org",
            Some(SHA),
            now,
        ));
        let token = check(&value, Verb::Get, &rules(), now).unwrap();
        assert!(token.covers(SHA, true).is_ok());
    }

    #[test]
    fn a_token_for_another_server_or_action_is_refused() {
        let now = Timestamp::now();
        let other = header(token_builder(Verb::Get, "elsewhere.org", Some(SHA), now));
        assert!(check(&other, Verb::Get, &rules(), now).is_err());
        let upload = header(token_builder(
            Verb::Upload,
            "blobs.example.org",
            Some(SHA),
            now,
        ));
        assert!(check(&upload, Verb::Get, &rules(), now).is_err());
    }

    #[test]
    fn a_token_living_longer_than_the_server_allows_is_refused() {
        let now = Timestamp::now();
        let strict = Rules {
            max_lifetime: 10,
            skew: 0,
            ..rules()
        };
        let value = header(token_builder(Verb::Get, "blobs.example.org", None, now));
        assert_eq!(
            check(&value, Verb::Get, &strict, now).unwrap_err(),
            Refused("the token's expiration is further ahead than this server allows")
        );
    }
}
