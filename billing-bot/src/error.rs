//! Errors, and the one place they become HTTP answers ([`BillingError::into_response`]): a
//! status, the reason in `X-Reason`, and `{"error": reason}` as the body. Reasons name rules
//! and fields, never a member's key, an amount or anything else the request carried.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Failures of the billing bot.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A malformed request: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The admin API's NIP-98 header is missing or does not fit the request: 401.
    #[error("{0}")]
    AdminAuth(#[from] ehr_client::http_auth::HttpAuthError),
    /// A webhook without a valid signature or timestamp: 401.
    #[error("{0}")]
    Unsigned(&'static str),
    /// A signer who may not administer billing: 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such plan, member, household or invoice: 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// The thing exists already, or is in a state that refuses this: 409.
    #[error("{0}")]
    Conflict(&'static str),
    /// Well-formed, but a value out of range (an amount, a date): 422.
    #[error("{0}")]
    Unprocessable(String),
    /// Deriving a payment address failed.
    #[error("address derivation: {0}")]
    Address(String),
    /// Building a NIP-17 message failed.
    #[error("direct message: {0}")]
    Dm(#[from] ehr_client::dm::DmError),
    /// The chain API could not be read.
    #[error("chain API: {0}")]
    Chain(String),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migration failure.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The relay could not be reached or refused us.
    #[error("relay: {0}")]
    Relay(#[from] ehr_client::net::NetError),
    /// Socket failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl BillingError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::AdminAuth(_) | Self::Unsigned(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Config(_)
            | Self::Address(_)
            | Self::Dm(_)
            | Self::Chain(_)
            | Self::Database(_)
            | Self::Migration(_)
            | Self::Relay(_)
            | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for BillingError {
    fn into_response(self) -> Response {
        let status = self.status();
        let reason = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "the billing bot could not complete the request".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, axum::Json(json!({ "error": reason }))).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&reason) {
            headers.insert("x-reason", value);
        }
        if matches!(self, Self::AdminAuth(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Nostr"));
        }
        response
    }
}
