//! Errors, and the one place they become HTTP answers ([`GatewayError::into_response`]): a FHIR
//! `OperationOutcome` with the right status, and the same reason in `X-Reason`; the token
//! endpoint's refusals in OAuth's JSON form. Reasons name rules and parameters, never record
//! content.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The FHIR JSON media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json";

/// Failures of the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A malformed request or an unsupported parameter: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials: 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The admin API's NIP-98 header is missing or does not fit the request: 401.
    #[error("{0}")]
    AdminAuth(#[from] ehr_client::http_auth::HttpAuthError),
    /// Valid credentials without the scope or consent for this: 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource, or none this client may see: 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// The resource existed and was deleted (entered in error): 410.
    #[error("{0}")]
    Gone(&'static str),
    /// A method the endpoint does not serve (the gateway is read-only): 405.
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    /// An `Accept` the gateway cannot answer: 406.
    #[error("{0}")]
    NotAcceptable(&'static str),
    /// Too many of something at once (exports per client): 429.
    #[error("{0}")]
    TooManyRequests(&'static str),
    /// The thing to create exists already: 409.
    #[error("{0}")]
    Conflict(&'static str),
    /// Well-formed, but not something the gateway can act on (a JWKS without a usable key): 422.
    #[error("{0}")]
    Unprocessable(String),
    /// A token request refused (RFC 6749 §5.2): answered in OAuth's form, not FHIR's.
    #[error("{description}")]
    OAuth {
        /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope` or
        /// `unsupported_grant_type`.
        error: &'static str,
        /// Why, naming the rule.
        description: &'static str,
    },
    /// A request body larger than the gateway reads: 413.
    #[error("{0}")]
    TooLarge(&'static str),
    /// A part of the gateway that must work for the request is down (the access-log writer): 503.
    #[error("{0}")]
    Unavailable(&'static str),
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

impl GatewayError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::AdminAuth(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::OAuth {
                error: "invalid_client",
                ..
            } => StatusCode::UNAUTHORIZED,
            Self::OAuth { .. } => StatusCode::BAD_REQUEST,
            Self::Config(_)
            | Self::Database(_)
            | Self::Migration(_)
            | Self::Relay(_)
            | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `OperationOutcome.issue.code` (FHIR issue-type value set).
    fn issue_code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "invalid",
            Self::Unauthorized(_) | Self::AdminAuth(_) => "login",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Gone(_) => "deleted",
            Self::MethodNotAllowed(_) => "not-supported",
            Self::NotAcceptable(_) => "not-supported",
            Self::Conflict(_) => "duplicate",
            Self::TooManyRequests(_) => "throttled",
            Self::Unprocessable(_) => "processing",
            Self::Unavailable(_) => "transient",
            Self::TooLarge(_) => "too-costly",
            _ => "exception",
        }
    }
}

/// A body axum could not read becomes the gateway's own answer (an OperationOutcome with
/// `X-Reason`), never axum's plain text.
impl From<axum::extract::rejection::BytesRejection> for GatewayError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge("the request body is too large")
        } else {
            Self::BadRequest("the request body could not be read".to_owned())
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let reason = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "the gateway could not complete the request".to_owned()
        } else {
            self.to_string()
        };
        if let Self::OAuth { error, description } = &self {
            let body = json!({"error": error, "error_description": description});
            let mut response = (status, axum::Json(body)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert("x-reason", HeaderValue::from_static(description));
            return response;
        }
        let outcome = json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "error",
                "code": self.issue_code(),
                "diagnostics": reason,
            }]
        });
        let mut response = (status, outcome.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        if let Ok(value) = HeaderValue::from_str(&reason) {
            headers.insert("x-reason", value);
        }
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fhir\""),
            );
        } else if matches!(self, Self::AdminAuth(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Nostr"));
        }
        response
    }
}
