//! SMART Health Links (DESIGN.md §15): the manifest server of the patients' own emergency
//! links, beside the FHIR API.
//!
//! - `POST /shl/{id}`, public: the manifest request of the specification (`recipient`,
//!   `passcode`, `embeddedLengthMax`). The answer holds the JWE file, embedded or at a location
//!   valid for an hour (`GET /shl/file/{token}`). A wrong passcode is 401
//!   `{"remainingAttempts": n}` and takes one attempt; the last one disables the link. An
//!   unknown, expired, revoked or disabled link is 404. Every request for an active link,
//!   answered or refused, is audited like a facility's access (an AuditEvent in the access log,
//!   a kind 2107 copy sealed to the patient and the practice) and the patient gets a NIP-17
//!   notice; requests for an ended one are not logged (they disclose nothing).
//! - `POST /shl`, `GET /shl`, `PUT /shl/{id}/file`, `DELETE /shl/{id}`: the patient creates,
//!   lists, refreshes and revokes her links, each request signed by her with NIP-98. Only a
//!   patient the relay's clinical events name may keep links here.
//!
//! The gateway never holds a link's key: its portal encrypts the file and seals the key to
//! her. It cannot read the file it serves, and needs no consent or chart key to serve it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::shl::{
    FHIR_JSON, FileUpdate, Manifest, ManifestFile, ManifestRequest, NewLink, PasscodeRefused,
    check_upload_file,
};
use nostr::prelude::PublicKey;
use serde_json::json;

use crate::GatewayState;
use crate::admin::{nip98_signer, service_root};
use crate::audit::{AccessFacts, Accessor, notice_time};
use crate::error::GatewayError;
use crate::routes::PathOf;
use crate::served::{instant, patient_id};
use crate::store::shl::{LinkRow, Refusal};
use ehr_client::audit::SHL_MANIFEST;

/// The largest request body of the patient's routes (a file of at most 2 MiB, and the rest).
pub const UPLOAD_LIMIT: usize = 3 * 1024 * 1024;

/// The longest `recipient` kept.
const RECIPIENT_MAX: usize = 200;

/// The manifest URL of a link.
fn manifest_url(state: &GatewayState, link_id: &str) -> String {
    format!("{}/shl/{link_id}", service_root(&state.base))
}

/// A request of the patient's own routes: who signed it (NIP-98, a patient the relay's events
/// name) and the body she signed, checked before the handler runs.
#[derive(Debug)]
pub struct PatientRequest {
    owner: PublicKey,
    body: Bytes,
}

impl axum::extract::FromRequest<Arc<GatewayState>> for PatientRequest {
    type Rejection = GatewayError;

    async fn from_request(
        request: Request,
        state: &Arc<GatewayState>,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = <Bytes as axum::extract::FromRequest<_>>::from_request(
            Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|_| GatewayError::BadRequest("the request body could not be read".to_owned()))?;
        let owner = nip98_signer(state, &parts.method, &parts.uri, &parts.headers, &body).await?;
        if !state.snapshot.borrow().known_patients.contains(&owner) {
            return Err(GatewayError::Forbidden(
                "only a patient of this practice may keep SMART Health Links here",
            ));
        }
        Ok(Self { owner, body })
    }
}

/// One of her links, as her list shows it.
fn listed(state: &GatewayState, status: StatusCode, row: &LinkRow) -> Response {
    json_answer(status, &row.listing(manifest_url(state, &row.link_id)))
}

fn json_answer(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body)
        .map_err(|_| GatewayError::BadRequest("the JSON body is not as documented".to_owned()))
}

/// `POST /shl`: a new link.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    PatientRequest { owner, body }: PatientRequest,
) -> Result<Response, GatewayError> {
    let link: NewLink = parse(&body)?;
    let now = crate::now();
    link.check(u64::try_from(now).unwrap_or_default())
        .map_err(|e| GatewayError::Unprocessable(e.to_string()))?;
    let row = state
        .store
        .create_link(&owner.to_hex(), &link, now)
        .await?
        .ok_or(GatewayError::Conflict(
            "too many active links: revoke one first",
        ))?;
    tracing::info!(link = %row.link_id, "a patient created a SMART Health Link");
    Ok(listed(&state, StatusCode::CREATED, &row))
}

/// `GET /shl`: her links, newest first.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    PatientRequest { owner, .. }: PatientRequest,
) -> Result<Response, GatewayError> {
    let links: Vec<_> = state
        .store
        .links_of(&owner.to_hex())
        .await?
        .iter()
        .map(|row| row.listing(manifest_url(&state, &row.link_id)))
        .collect();
    Ok(json_answer(StatusCode::OK, &json!({ "links": links })))
}

/// `DELETE /shl/{id}`: revoke one of her links.
pub async fn revoke(
    State(state): State<Arc<GatewayState>>,
    PathOf(link_id): PathOf<String>,
    PatientRequest { owner, .. }: PatientRequest,
) -> Result<Response, GatewayError> {
    let row = state
        .store
        .revoke_link(&owner.to_hex(), &link_id, crate::now())
        .await?
        .ok_or(GatewayError::NotFound("no such link of yours"))?;
    tracing::info!(link = %row.link_id, "a patient revoked a SMART Health Link");
    Ok(listed(&state, StatusCode::OK, &row))
}

/// `PUT /shl/{id}/file`: her portal's refreshed summary for a link kept current.
pub async fn replace_file(
    State(state): State<Arc<GatewayState>>,
    PathOf(link_id): PathOf<String>,
    PatientRequest { owner, body }: PatientRequest,
) -> Result<Response, GatewayError> {
    let update: FileUpdate = parse(&body)?;
    check_upload_file(&update.file).map_err(|e| GatewayError::Unprocessable(e.to_string()))?;
    let row = state
        .store
        .replace_file(&owner.to_hex(), &link_id, &update.file, crate::now())
        .await?
        .ok_or(GatewayError::NotFound(
            "no such active link of yours that is kept current",
        ))?;
    Ok(listed(&state, StatusCode::OK, &row))
}

/// `POST /shl/{id}`: the manifest request.
pub async fn manifest(
    State(state): State<Arc<GatewayState>>,
    PathOf(link_id): PathOf<String>,
    body: Bytes,
) -> Result<Response, GatewayError> {
    let request: ManifestRequest = parse(&body)?;
    let recipient = request.recipient.trim();
    if recipient.is_empty()
        || recipient.chars().count() > RECIPIENT_MAX
        || recipient.chars().any(char::is_control)
    {
        return Err(GatewayError::BadRequest(
            "recipient: 1 to 200 characters, describing who is asking, is required".to_owned(),
        ));
    }
    let inactive = GatewayError::NotFound("this SMART Health Link is not active");
    let Some(link) = state.store.link(&link_id).await? else {
        return Err(inactive);
    };
    let now = crate::now();
    let admitted = state
        .store
        .admit(&link, request.passcode.as_deref(), now)
        .await?;
    let access = LinkAccess {
        link: &link,
        recipient,
        now,
    };
    match admitted {
        Ok(()) => {
            state.store.count_access(&link.link_id, now).await?;
            access.audit(&state, Opened::Answered).await?;
            let file = manifest_file(&state, &link, request.embedded_length_max, now).await?;
            let status = if link.latest {
                "can-change"
            } else {
                "finalized"
            };
            Ok(json_answer(
                StatusCode::OK,
                &Manifest {
                    status: Some(status.to_owned()),
                    files: vec![file],
                },
            ))
        }
        Err(Refusal::Passcode(left)) => {
            access.audit(&state, Opened::WrongPasscode(left)).await?;
            let mut response = json_answer(
                StatusCode::UNAUTHORIZED,
                &PasscodeRefused {
                    remaining_attempts: left,
                },
            );
            response.headers_mut().insert(
                "x-reason",
                HeaderValue::from_static("the passcode is missing or wrong"),
            );
            Ok(response)
        }
        // An ended link discloses nothing and she knows it ended: its requests are not
        // logged, so an old QR code cannot fill her access log or the relay.
        Err(Refusal::Inactive) => Err(inactive),
    }
}

/// The link's file, embedded unless the recipient asked for less than its size.
async fn manifest_file(
    state: &GatewayState,
    link: &LinkRow,
    embedded_length_max: Option<usize>,
    now: i64,
) -> Result<ManifestFile, GatewayError> {
    let embed = embedded_length_max.is_none_or(|max| link.file.len() <= max);
    let (embedded, location) = if embed {
        (Some(link.file.clone()), None)
    } else {
        let token = state.store.new_location(&link.link_id, now).await?;
        let url = format!("{}/shl/file/{token}", service_root(&state.base));
        (None, Some(url))
    };
    Ok(ManifestFile {
        content_type: FHIR_JSON.to_owned(),
        embedded,
        location,
        last_updated: Some(instant(link.file_updated_at)),
    })
}

/// `GET /shl/file/{token}`: a file at the location a manifest gave.
pub async fn file(
    State(state): State<Arc<GatewayState>>,
    PathOf(token): PathOf<String>,
) -> Result<Response, GatewayError> {
    let link = state
        .store
        .location(&token, crate::now())
        .await?
        .ok_or(GatewayError::NotFound("this file location is not valid"))?;
    let mut response = (StatusCode::OK, link.file).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jose"),
    );
    Ok(response)
}

/// How a manifest request for an active link ended.
#[derive(Debug, Clone, Copy)]
enum Opened {
    Answered,
    WrongPasscode(u32),
}

/// One manifest request for a known link, to be audited.
struct LinkAccess<'a> {
    link: &'a LinkRow,
    recipient: &'a str,
    now: i64,
}

impl LinkAccess<'_> {
    /// Audit the request and send her a notice.
    async fn audit(&self, state: &GatewayState, opened: Opened) -> Result<(), GatewayError> {
        let owner = PublicKey::from_hex(&self.link.patient)
            .map_err(|_| GatewayError::Unavailable("a link's owner is not a key"))?;
        let patients = BTreeSet::from([patient_id(&owner)]);
        let label = self.link.label.as_str();
        let when = notice_time(self.now);
        let (outcome, outcome_desc, notice) = match opened {
            Opened::Answered => (
                "0",
                None,
                Some(format!(
                    "Your SMART Health Link \"{label}\" was opened by \"{}\" at {when}. If you did not expect this, revoke the link in your portal.",
                    self.recipient
                )),
            ),
            Opened::WrongPasscode(0) => (
                "4",
                Some("wrong passcode; the link is now disabled"),
                Some(format!(
                    "A wrong passcode was given for your SMART Health Link \"{label}\" by \"{}\" at {when}. It was the last attempt: the link no longer works.",
                    self.recipient
                )),
            ),
            Opened::WrongPasscode(left) => (
                "4",
                Some("wrong passcode"),
                Some(format!(
                    "A wrong passcode was given for your SMART Health Link \"{label}\" by \"{}\" at {when}. {left} attempt(s) are left before it stops working.",
                    self.recipient
                )),
            ),
        };
        let snapshot = state.snapshot.borrow().clone();
        let facts = AccessFacts {
            accessor: Accessor::LinkRecipient {
                link: &self.link.link_id,
                label,
                recipient: self.recipient,
            },
            interaction: SHL_MANIFEST,
            operation: None,
            patients: &patients,
            parameter_names: "",
            outcome,
            outcome_desc,
            recorded: self.now,
            emergency_reason: None,
            owner: Some(owner),
            notice: notice.map(|text| ("Your SMART Health Link".to_owned(), text)),
        };
        crate::audit::record(state, &snapshot, &facts).await
    }
}
