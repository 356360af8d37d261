//! BUD-11 authorization tokens on the server: the `Authorization` header read from the request
//! and checked by `ehr_client::bud11`, where the tokens are also built.

use axum::http::{HeaderMap, header};
pub use ehr_client::bud11::{Rules, Token, Verb};
use nostr::prelude::Timestamp;

use crate::error::BlossomError;

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
    ehr_client::bud11::check(value, verb, rules, Timestamp::now())
        .map(Some)
        .map_err(|refused| BlossomError::Unauthorized(refused.0))
}

/// Like [`token`], but a missing token is an error.
pub fn required(headers: &HeaderMap, verb: Verb, rules: &Rules) -> Result<Token, BlossomError> {
    token(headers, verb, rules)?.ok_or(BlossomError::Unauthorized(
        "authorization required (BUD-11)",
    ))
}
