//! The NIP-86 management API over NIP-98 HTTP auth: staff add and remove patients and
//! guardians; admins ban keys (an admin's ban is the root's). Staff and agents themselves come
//! only from the roster, and never double as patients or guardians.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::http_auth::{self, HttpAuthError};
use ehr_client::roster::Role;
use nostr::prelude::{PublicKey, Timestamp};
use serde_json::{Value, json};

use crate::RelayState;
use crate::access::{AssignedRole, Roles};
use crate::error::RelayError;

/// The methods this relay answers, as `supportedmethods` lists them.
pub const METHODS: [&str; 11] = [
    "supportedmethods",
    "allowpubkey",
    "unallowpubkey",
    "listallowedpubkeys",
    "banpubkey",
    "unbanpubkey",
    "listbannedpubkeys",
    "assignrole",
    "unassignrole",
    "listroles",
    "relayinfo",
];

/// Why a management call failed; [`ManagementError::into_response`] is the one mapping to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// The NIP-98 event is missing, malformed, forged, stale or for another request.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] HttpAuthError),
    /// Authenticated, but the caller's role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The JSON-RPC body or its parameters are wrong.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The relay failed.
    #[error("internal error")]
    Internal(#[from] RelayError),
}

impl IntoResponse for ManagementError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Internal(error) => {
                tracing::error!(%error, "management call failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let reason = self.to_string();
        let mut response = (
            status,
            axum::Json(json!({ "result": null, "error": reason })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&reason) {
            response.headers_mut().insert("x-reason", value);
        }
        response
    }
}

/// Handle one POST of the management API.
pub async fn handle(relay: &RelayState, headers: &HeaderMap, body: &[u8]) -> Response {
    match call(relay, headers, body).await {
        Ok(result) => {
            let mut response =
                axum::Json(json!({ "result": result, "error": null })).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/nostr+json+rpc"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Check the `Authorization: Nostr <base64 event>` header against this request (NIP-98).
async fn authenticate(
    relay: &RelayState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PublicKey, ManagementError> {
    let now = Timestamp::now();
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let urls = relay.management_urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let event = http_auth::verify(header, &urls, "POST", body, now)?;
    let expires = http_auth::replay_expiry(&event);
    if !relay
        .hub
        .store()
        .claim_auth_event(&event.id, expires, now)
        .await?
    {
        return Err(HttpAuthError::Replayed.into());
    }
    Ok(event.pubkey)
}

fn pubkey_param(params: &[Value], index: usize) -> Result<PublicKey, ManagementError> {
    params
        .get(index)
        .and_then(Value::as_str)
        .and_then(|s| ehr_client::keys::parse_public_key(s).ok())
        .ok_or(ManagementError::BadRequest(
            "parameter must be a public key",
        ))
}

fn role_param(params: &[Value]) -> Result<AssignedRole, ManagementError> {
    let name = params
        .get(1)
        .and_then(Value::as_str)
        .ok_or(ManagementError::BadRequest("parameter 2 must be a role"))?;
    AssignedRole::parse(name).ok_or(ManagementError::BadRequest(
        "only patient and guardian are assigned here; staff and agents come from the roster",
    ))
}

fn reason_param(params: &[Value]) -> String {
    params
        .get(1)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

async fn call(
    relay: &RelayState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ManagementError> {
    let caller = authenticate(relay, headers, body).await?;
    let request: Value = serde_json::from_slice(body)
        .map_err(|_| ManagementError::BadRequest("body is not JSON"))?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .ok_or(ManagementError::BadRequest("missing method"))?;
    let empty = Vec::new();
    let params = request
        .get("params")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let now = Timestamp::now();
    let roles: Roles = relay.hub.access().roles(&caller, now);
    if !roles.is_staff() {
        return Err(ManagementError::Forbidden(
            "only staff of the practice may manage the relay",
        ));
    }
    let store = relay.hub.store();
    let result = match method {
        "supportedmethods" => json!(METHODS),
        "relayinfo" => relay.info_document(),
        "allowpubkey" => {
            let pubkey = pubkey_param(params, 0)?;
            refuse_ever_staff(relay, &pubkey)?;
            store
                .assign_role(&pubkey, AssignedRole::Patient, &caller, now)
                .await?;
            Value::Bool(true)
        }
        "assignrole" => {
            let pubkey = pubkey_param(params, 0)?;
            let role = role_param(params)?;
            refuse_ever_staff(relay, &pubkey)?;
            store.assign_role(&pubkey, role, &caller, now).await?;
            Value::Bool(true)
        }
        "unallowpubkey" => {
            let pubkey = pubkey_param(params, 0)?;
            refuse_staff(relay, &pubkey, now)?;
            store.unassign_role(&pubkey, None).await?;
            Value::Bool(true)
        }
        "unassignrole" => {
            let pubkey = pubkey_param(params, 0)?;
            let role = role_param(params)?;
            store.unassign_role(&pubkey, Some(role)).await?;
            Value::Bool(true)
        }
        "banpubkey" | "unbanpubkey" => {
            if !roles.is_admin() {
                return Err(ManagementError::Forbidden(
                    "only admins may ban or unban keys",
                ));
            }
            let pubkey = pubkey_param(params, 0)?;
            if pubkey == relay.hub.access().practice() {
                return Err(ManagementError::BadRequest(
                    "the practice key cannot be banned",
                ));
            }
            // One admin must not lock out (or let back in) another: that is the root's call.
            if !roles.root && is_admin_now(relay, &pubkey, now) {
                return Err(ManagementError::Forbidden(
                    "only the practice root may ban or unban an admin",
                ));
            }
            if method == "banpubkey" {
                store
                    .ban(&pubkey, &reason_param(params), &caller, now)
                    .await?;
            } else {
                store.unban(&pubkey).await?;
            }
            Value::Bool(true)
        }
        "listallowedpubkeys" | "listroles" => {
            let access = relay.hub.access();
            let mut list: Vec<Value> = access
                .staff_at(now)
                .into_iter()
                .map(|(pubkey, role)| json!({ "pubkey": pubkey.to_hex(), "reason": role.as_str() }))
                .collect();
            list.extend(access.assigned().iter().map(|(pubkey, roles)| {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                json!({ "pubkey": pubkey.to_hex(), "reason": names.join(",") })
            }));
            Value::Array(list)
        }
        "listbannedpubkeys" => Value::Array(
            relay
                .hub
                .access()
                .bans()
                .iter()
                .map(|p| json!({ "pubkey": p.to_hex(), "reason": "banned" }))
                .collect(),
        ),
        _ => return Err(ManagementError::BadRequest("unsupported method")),
    };
    if method.starts_with("list") || matches!(method, "supportedmethods" | "relayinfo") {
        return Ok(result);
    }
    relay.hub.reload_roles().await?;
    store.announce_roles_changed().await?;
    Ok(result)
}

fn refuse_staff(
    relay: &RelayState,
    pubkey: &PublicKey,
    now: Timestamp,
) -> Result<(), ManagementError> {
    if relay.hub.access().roles(pubkey, now).staff.is_some() {
        return Err(ManagementError::BadRequest(
            "staff and agents come from the roster; revoke them with a roster change",
        ));
    }
    Ok(())
}

/// Whether `pubkey` is an admin in the roster now (banned or not).
fn is_admin_now(relay: &RelayState, pubkey: &PublicKey, now: Timestamp) -> bool {
    relay
        .hub
        .access()
        .roles(pubkey, now)
        .staff
        .is_some_and(Role::is_admin)
}

/// Patients and guardians use keys of their own: a key that is or was staff or an agent (or
/// the root) never gets one of those roles, so a revoked staff key cannot come back as one.
fn refuse_ever_staff(relay: &RelayState, pubkey: &PublicKey) -> Result<(), ManagementError> {
    if relay.hub.access().ever_staff(pubkey) {
        return Err(ManagementError::BadRequest(
            "a current or past staff or agent key cannot be a patient or guardian",
        ));
    }
    Ok(())
}
