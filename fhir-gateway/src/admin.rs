//! The admin API, for the practice root and its admins only, over NIP-98 HTTP auth (no passwords): register,
//! rotate and revoke SMART clients, issue and revoke static API keys, read the access log and
//! the gateway's catch-up status.
//!
//! Every request carries `Authorization: Nostr <base64 kind 27235 event>` naming this URL, the
//! method and the body's sha256, signed by the practice root or an admin of the current roster
//! (other staff, agents and patients are refused: least privilege), used once.
//!
//! Browsers may call it from any origin ([`cross_origin`]: the clinic app's administration):
//! every call is authorised by its signed one-time header, never by a cookie.
//!
//! `GET /admin/status` answers what the follower ([`crate::sync`]) knows, no patient data:
//! `{"caught_up": bool` (following the relay's live subscription after a catch-up), `"link":
//! "following" | "lost" | "refused"`, `"serving": bool` (data requests are answered: following,
//! or lost for less than `relay_outage_seconds`), `"patients"` (patients served now: consenting
//! and readable), `"events"` (clinical events it has opened with its keys, served or not),
//! `"last_event_at"` (the newest `created_at` of any clinical event the relay sent it, Unix
//! seconds, or `null`), `"relay"` (the relay URL it follows)`}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ehr_client::http_auth::{self, HttpAuthError};
use nostr::prelude::{PublicKey, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::link::Link;
use crate::now;
use crate::routes::PathOf;
use crate::smart::check_jwks;
use crate::store::audit::LogFilter;

/// Most entries one access-log page returns.
const MAX_LOG: i64 = 1000;

/// The service root (the FHIR base without its `/fhir`), under which `/admin` lives.
pub(crate) fn service_root(base: &str) -> &str {
    base.strip_suffix("/fhir").unwrap_or(base)
}

/// Check the NIP-98 header of this request (this URL, this method, this body, within 60 s, used
/// once) and return who signed it.
pub(crate) async fn nip98_signer(
    state: &GatewayState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PublicKey, GatewayError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", service_root(&state.base));
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = Timestamp::now();
    let event = http_auth::verify(header, &[&url], method.as_str(), body, now)
        .map_err(GatewayError::AdminAuth)?;
    let seconds = |t: Timestamp| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    if !state
        .store
        .claim_nip98(
            &event.id.to_hex(),
            seconds(http_auth::replay_expiry(&event)),
            seconds(now),
        )
        .await?
    {
        return Err(GatewayError::AdminAuth(HttpAuthError::Replayed));
    }
    Ok(event.pubkey)
}

/// Check the NIP-98 header of this request and who signed it: the root's or a current admin's
/// key.
async fn administrator(
    state: &GatewayState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PublicKey, GatewayError> {
    let signer = nip98_signer(state, method, uri, headers, body).await?;
    let is_root = signer == state.config.practice;
    let role = state
        .snapshot
        .borrow()
        .roster
        .role_at(&signer, Timestamp::now());
    if !is_root && !role.is_some_and(|r| r.is_admin()) {
        return Err(GatewayError::Forbidden(
            "only the practice root and current admins may administer the gateway",
        ));
    }
    Ok(signer)
}

/// An admin request whose NIP-98 header was checked before the handler runs: who signed it
/// (the root or a current admin) and the body it signed.
#[derive(Debug)]
pub struct Administrator {
    by: PublicKey,
    body: Bytes,
}

impl FromRequest<Arc<GatewayState>> for Administrator {
    type Rejection = GatewayError;

    async fn from_request(
        request: Request,
        state: &Arc<GatewayState>,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await?;
        let by = administrator(state, &parts.method, &parts.uri, &parts.headers, &body).await?;
        Ok(Self { by, body })
    }
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde's messages may quote the input; name the class only.
        let class = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "missing or mistyped fields",
            serde_json::error::Category::Eof => "truncated",
        };
        GatewayError::BadRequest(format!("the JSON body is not as documented: {class}"))
    })
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    client_id: String,
    /// Absent: a facility that reads with API keys only (it can never get a token).
    #[serde(default)]
    jwks: Option<Value>,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    jwks: Value,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {
    client_id: String,
    scopes: Vec<String>,
    #[serde(default = "default_key_days")]
    expires_in_days: u32,
}

fn default_key_days() -> u32 {
    365
}

/// The CORS policy of `/admin/*`: any origin, since a call is authorised by its NIP-98 header
/// (signed, one-time, naming this URL), never by a cookie the browser would add; `X-Reason`
/// readable, so the clinic app can say why a call was refused.
pub fn cross_origin() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::HeaderName::from_static("x-reason")])
}

/// `GET /admin/status`: whether the gateway has caught up with the relay and follows it, and
/// what it serves (see the module documentation).
pub async fn status(
    State(state): State<Arc<GatewayState>>,
    _admin: Administrator,
) -> Result<Response, GatewayError> {
    let link = *state.link.borrow();
    let (caught_up, name) = match link {
        Link::Following => (true, "following"),
        Link::Lost(_) => (false, "lost"),
        Link::Refused => (false, "refused"),
    };
    let serving = link.may_serve(tokio::time::Instant::now(), state.config.relay_outage_bound);
    let snapshot = state.snapshot.borrow().clone();
    Ok(answer(
        StatusCode::OK,
        &json!({
            "caught_up": caught_up,
            "link": name,
            "serving": serving,
            "patients": snapshot.patients.len(),
            "events": snapshot.events,
            "last_event_at": snapshot.last_event_at,
            "relay": state.config.relay_url,
        }),
    ))
}

/// `GET /admin/clients`: SMART clients and API keys (never a secret).
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    _admin: Administrator,
) -> Result<Response, GatewayError> {
    let clients = state.store.smart_clients().await?;
    let keys = state.store.api_keys().await?;
    Ok(answer(
        StatusCode::OK,
        &json!({"smart_clients": clients, "api_keys": keys}),
    ))
}

/// `POST /admin/clients`: register a facility: a SMART client with its JWKS, or (no `jwks`) a
/// client that reads with API keys only.
pub async fn register(
    State(state): State<Arc<GatewayState>>,
    Administrator { by, body }: Administrator,
) -> Result<Response, GatewayError> {
    let registration: Registration = json_body(&body)?;
    let jwks = match registration.jwks {
        Some(jwks) => {
            check_jwks(&jwks)?;
            jwks
        }
        None => crate::smart::no_keys(),
    };
    let client = state
        .store
        .register_client(
            &registration.client_id,
            &jwks,
            &registration.scopes,
            &by.to_hex(),
            now(),
        )
        .await?;
    tracing::info!(client = %registration.client_id, by = %by, "registered a SMART client");
    Ok(answer(StatusCode::CREATED, &json!(client)))
}

/// `PUT /admin/clients/{client_id}`: new keys (and scopes) for a live client.
pub async fn rotate(
    State(state): State<Arc<GatewayState>>,
    PathOf(client_id): PathOf<String>,
    Administrator { by, body }: Administrator,
) -> Result<Response, GatewayError> {
    let rotation: Rotation = json_body(&body)?;
    check_jwks(&rotation.jwks)?;
    if !state
        .store
        .rotate_client(
            &client_id,
            &rotation.jwks,
            rotation.scopes.as_deref(),
            &by.to_hex(),
            now(),
        )
        .await?
    {
        return Err(GatewayError::NotFound("no live client with this id"));
    }
    tracing::info!(client = %client_id, by = %by, "rotated a SMART client's keys");
    let client = state.store.smart_client(&client_id).await?;
    Ok(answer(StatusCode::OK, &json!(client)))
}

/// `DELETE /admin/clients/{client_id}`: revoke a client and its live tokens.
pub async fn revoke(
    State(state): State<Arc<GatewayState>>,
    PathOf(client_id): PathOf<String>,
    Administrator { by, .. }: Administrator,
) -> Result<Response, GatewayError> {
    if !state.store.revoke_client(&client_id, now()).await? {
        return Err(GatewayError::NotFound("no live client with this id"));
    }
    tracing::info!(client = %client_id, by = %by, "revoked a SMART client");
    Ok(answer(StatusCode::OK, &json!({"revoked": client_id})))
}

/// `POST /admin/api-keys`: issue a static API key for a registered, live client; it is shown
/// once.
pub async fn add_key(
    State(state): State<Arc<GatewayState>>,
    Administrator { by, body }: Administrator,
) -> Result<Response, GatewayError> {
    let request: NewApiKey = json_body(&body)?;
    let now = now();
    let expires_at = now + i64::from(request.expires_in_days.clamp(1, 3650)) * 86_400;
    let key = state
        .store
        .add_api_key(&request.client_id, &request.scopes, now, expires_at)
        .await?;
    tracing::info!(client = %request.client_id, by = %by, "issued an API key");
    Ok(answer(
        StatusCode::CREATED,
        &json!({"api_key": key, "client_id": request.client_id, "scopes": request.scopes, "expires_at": expires_at}),
    ))
}

/// `DELETE /admin/api-keys/{key_id}`.
pub async fn revoke_key(
    State(state): State<Arc<GatewayState>>,
    PathOf(key_id): PathOf<String>,
    Administrator { by, .. }: Administrator,
) -> Result<Response, GatewayError> {
    if !state.store.revoke_api_key(&key_id, now()).await? {
        return Err(GatewayError::NotFound("no live API key with this id"));
    }
    tracing::info!(key = %key_id, by = %by, "revoked an API key");
    Ok(answer(StatusCode::OK, &json!({"revoked": key_id})))
}

/// `GET /admin/access-log?client=&patient=&since=&purpose=emergency&_count=`: a Bundle of
/// AuditEvents, newest first; `purpose=emergency` keeps the break-glass accesses (DESIGN.md
/// §15).
pub async fn access_log(
    State(state): State<Arc<GatewayState>>,
    RawQuery(query): RawQuery,
    _admin: Administrator,
) -> Result<Response, GatewayError> {
    let mut filter = LogFilter::default();
    let mut limit = 100;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let bad = || GatewayError::BadRequest(format!("an invalid value in parameter `{name}`"));
        match name.as_ref() {
            "client" => filter.client_id = Some(value.into_owned()),
            "patient" => filter.patient_id = Some(value.into_owned()),
            "since" => filter.since = Some(value.parse().map_err(|_| bad())?),
            "purpose" if value == "emergency" => {
                filter.purpose = Some(crate::audit::EMERGENCY_PURPOSE.to_owned());
            }
            "purpose" => return Err(bad()),
            "_count" => limit = value.parse::<i64>().map_err(|_| bad())?.clamp(1, MAX_LOG),
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "unknown parameter `{name}` (client, patient, since, purpose, _count)"
                )));
            }
        }
    }
    let events = state.store.audit_log(&filter, limit).await?;
    let entries: Vec<Value> = events
        .into_iter()
        .map(|resource| json!({"resource": resource}))
        .collect();
    Ok(crate::routes::fhir(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "collection", "entry": entries}),
    ))
}
