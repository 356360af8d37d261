//! Errors, and the one place they become HTTP answers ([`BlossomError::into_response`]): a
//! status code and an `X-Reason`. Reasons name rules, never content.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Failures of the Blossom server.
#[derive(Debug, thiserror::Error)]
pub enum BlossomError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Authorization missing or invalid (BUD-11): 401.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Authorized, but policy forbids it: 403.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Malformed path, header or body: 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// No such blob (for this caller): 404.
    #[error("not found")]
    NotFound,
    /// The body's hash is not the one announced: 409.
    #[error("conflict: {0}")]
    HashMismatch(&'static str),
    /// Over the size limit or the owner's quota: 413.
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// A range outside the blob: 416 with `Content-Range: bytes */size`.
    #[error("range not satisfiable")]
    Range(u64),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migration failure.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Filesystem or socket failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The relay's membership could not be read.
    #[error("membership: {0}")]
    Membership(#[from] ehr_service::membership::MembershipError),
}

impl IntoResponse for BlossomError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::HashMismatch(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Range(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Config(_)
            | Self::Database(_)
            | Self::Migration(_)
            | Self::Io(_)
            | Self::Membership(_) => {
                tracing::error!(error = %self, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let reason = match status {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "the server could not complete the request".to_owned()
            }
            _ => self.to_string(),
        };
        let mut response = (status, reason.clone()).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&reason) {
            headers.insert("x-reason", value);
        }
        if let Self::Range(size) = self
            && let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            headers.insert("content-range", value);
        }
        response
    }
}

impl From<ehr_client::bud11::Refused> for BlossomError {
    fn from(refused: ehr_client::bud11::Refused) -> Self {
        Self::Unauthorized(refused.0)
    }
}
