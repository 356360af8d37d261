//! The NIP-86 relay management client (feature `relay-client`): calls signed with NIP-98 HTTP
//! auth, posted to the relay's own URL with an `http(s)` scheme. Staff use it to add patients and
//! guardians to the practice relay; admins to ban keys.

use nostr::types::Url;
use serde_json::{Value, json};

use crate::keys::Identity;

/// Why a management call failed. Messages carry no key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagementError {
    /// The relay address is not a `ws://` or `wss://` URL.
    #[error("not a relay URL (expected ws:// or wss://)")]
    InvalidUrl,
    /// The request could not be sent or the answer read.
    #[error("cannot reach the relay's management API: {0}")]
    Http(String),
    /// The relay refused the call (status and its reason).
    #[error("the relay refused the call ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The relay's `error` or `X-Reason`.
        reason: String,
    },
    /// Signing the NIP-98 event failed.
    #[error("could not sign the NIP-98 authorization")]
    Signing,
}

/// A NIP-86 client for one relay.
#[derive(Debug, Clone)]
pub struct ManagementClient {
    http: reqwest::Client,
    url: Url,
}

impl ManagementClient {
    /// The management endpoint of the relay at `relay_url` (`wss://host/` → `https://host/`).
    pub fn for_relay(relay_url: &str) -> Result<Self, ManagementError> {
        let http_url =
            crate::http_auth::management_url(relay_url).ok_or(ManagementError::InvalidUrl)?;
        let url = Url::parse(&http_url).map_err(|_| ManagementError::InvalidUrl)?;
        Ok(Self {
            http: reqwest::Client::new(),
            url,
        })
    }

    /// Call `method` with `params` as `identity`; the `result` on success.
    pub async fn call(
        &self,
        identity: &Identity,
        method: &str,
        params: Vec<Value>,
    ) -> Result<Value, ManagementError> {
        let body = json!({ "method": method, "params": params }).to_string();
        let authorization =
            crate::http_auth::authorization(identity, self.url.as_str(), "POST", body.as_bytes())
                .map_err(|_| ManagementError::Signing)?;
        let response = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/nostr+json+rpc")
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| ManagementError::Http(e.without_url().to_string()))?;
        let status = response.status();
        let reason = response
            .headers()
            .get("x-reason")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let reason = answer
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(reason)
                .unwrap_or_default();
            return Err(ManagementError::Refused {
                status: status.as_u16(),
                reason,
            });
        }
        match answer.get("error").and_then(Value::as_str) {
            Some(error) if !error.is_empty() => Err(ManagementError::Refused {
                status: status.as_u16(),
                reason: error.to_owned(),
            }),
            _ => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
        }
    }
}
