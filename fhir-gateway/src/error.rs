//! Errors, and the one place they become HTTP answers ([`GatewayError::into_response`]): a FHIR
//! `OperationOutcome` with the right status, and the same reason in `X-Reason`. Reasons name
//! rules and parameters, never record content.

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
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
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
            Self::Unauthorized(_) => "login",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Gone(_) => "deleted",
            Self::MethodNotAllowed(_) => "not-supported",
            Self::NotAcceptable(_) => "not-supported",
            _ => "exception",
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
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fhir\""),
            );
        }
        response
    }
}
