//! Bulk Data Access (FHIR Bulk Data IG 2.0) for HIEs: `GET /fhir/Group/consented/$export`
//! with `Prefer: respond-async`, a status URL to poll, and NDJSON files behind the same bearer
//! token (`requiresAccessToken: true`).
//!
//! `Group/consented` is, for each facility, the patients whose consent names it (or any
//! facility). Nothing decrypted may touch the disk, and a job holds no record either: only the
//! ids each file will hold, for an hour. A file is built when it is downloaded, from the
//! records as they are then and only for patients the facility may still see: a consent
//! withdrawn, or a record corrected or deleted, after the kick-off shows in the files. A download is a disclosure and is audited
//! like any other access; polls are not.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::fhir::ResourceType;
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::routes::{PathOf, audited, authenticate, now};
use crate::served::{SERVED_TYPES, ServedResource, instant, patient_of};
use crate::store::{Client, Interaction};

/// The one group this server exports.
pub const GROUP_CONSENTED: &str = "consented";

/// How long a finished export stays downloadable, in seconds.
const JOB_LIFETIME: i64 = 3600;

/// Exports one facility may hold at once.
const JOBS_PER_CLIENT: usize = 4;

/// Resources per NDJSON file.
const FILE_SIZE: usize = 10_000;

/// The NDJSON media type.
const NDJSON: &str = "application/fhir+ndjson";

struct ExportFile {
    resource_type: ResourceType,
    /// Gateway ids, looked up again at download: a record corrected or deleted since the
    /// kick-off is exported as it is then, or not at all.
    ids: Vec<String>,
}

struct Job {
    client_id: String,
    created: i64,
    request: String,
    files: Vec<ExportFile>,
}

/// The exports in progress or ready, by job id.
#[derive(Default)]
pub struct Exports {
    jobs: Mutex<HashMap<String, Job>>,
}

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let jobs = self.jobs.lock().map(|j| j.len()).unwrap_or_default();
        f.debug_struct("Exports").field("jobs", &jobs).finish()
    }
}

impl Exports {
    fn with_jobs<T>(&self, f: impl FnOnce(&mut HashMap<String, Job>) -> T) -> T {
        // A poisoned lock only means another request panicked mid-way; the map is still whole.
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = now();
        jobs.retain(|_, job| job.created + JOB_LIFETIME > now);
        f(&mut jobs)
    }
}

fn status_url(base: &str, job: &str) -> String {
    format!("{base}/bulkstatus/{job}")
}

/// Parsed kick-off parameters.
struct Request {
    since: Option<i64>,
    types: Vec<ResourceType>,
}

fn parse(client: &Client, params: &[(String, String)]) -> Result<Request, GatewayError> {
    let mut since = None;
    let mut types: Option<Vec<ResourceType>> = None;
    for (name, value) in params {
        let bad = |what: &str| GatewayError::BadRequest(format!("{what} in parameter `{name}`"));
        match name.as_str() {
            "_outputFormat" => {
                if !matches!(
                    value.as_str(),
                    "application/fhir+ndjson" | "application/ndjson" | "ndjson"
                ) {
                    return Err(bad("an output format other than NDJSON"));
                }
            }
            "_since" => since = Some(crate::search::since_param(name, value)?),
            "_type" => {
                let list = crate::search::types_param(name, value)?;
                if list
                    .iter()
                    .any(|t| !client.may(t.as_str(), Interaction::Search))
                {
                    return Err(GatewayError::Forbidden(
                        "the token's scopes do not allow exporting a requested type",
                    ));
                }
                types = Some(list);
            }
            _ => {
                return Err(bad(
                    "an unsupported parameter (_outputFormat, _since, _type)",
                ));
            }
        }
    }
    let types = types.unwrap_or_else(|| {
        SERVED_TYPES
            .into_iter()
            .filter(|t| client.may(t.as_str(), Interaction::Search))
            .collect()
    });
    if types.is_empty() {
        return Err(GatewayError::Forbidden(
            "the token's scopes do not allow exporting any type",
        ));
    }
    Ok(Request { since, types })
}

/// `GET /fhir/Group/[id]/$export`: start an export; 202 with the status URL.
pub async fn kick_off(
    state: &GatewayState,
    headers: &HeaderMap,
    group: &str,
    params: &[(String, String)],
) -> Result<Response, GatewayError> {
    audited(
        state,
        headers,
        "operation",
        params,
        async |client, snapshot| {
            let prefer = headers
                .get("prefer")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !prefer.split(',').any(|p| p.trim() == "respond-async") {
                return Err(GatewayError::BadRequest(
                    "$export needs the header Prefer: respond-async".into(),
                ));
            }
            if group != GROUP_CONSENTED {
                return Err(GatewayError::NotFound(
                    "no such group; this server exports Group/consented",
                ));
            }
            let request = parse(client, params)?;
            let patients: Vec<_> = snapshot
                .patients
                .values()
                .filter(|p| p.sharing.allows(&client.client_id))
                .collect();
            let mut files = Vec::new();
            for resource_type in &request.types {
                let mut resources: Vec<&Arc<ServedResource>> = patients
                    .iter()
                    .flat_map(|p| p.resources.iter())
                    .filter(|r| r.resource_type == *resource_type)
                    .filter(|r| request.since.is_none_or(|s| r.last_updated >= s))
                    .collect();
                resources.sort_by(|a, b| a.id.cmp(&b.id));
                for chunk in resources.chunks(FILE_SIZE) {
                    files.push(ExportFile {
                        resource_type: *resource_type,
                        ids: chunk.iter().map(|r| r.id.clone()).collect(),
                    });
                }
            }
            let id = crate::store::random_hex(16)?;
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .finish();
            let mut request_url = format!("{}/Group/{group}/$export", state.base);
            if !query.is_empty() {
                request_url = format!("{request_url}?{query}");
            }
            state.exports.with_jobs(|jobs| {
                let held = jobs
                    .values()
                    .filter(|j| j.client_id == client.client_id)
                    .count();
                if held >= JOBS_PER_CLIENT {
                    return Err(GatewayError::TooManyRequests(
                        "this client holds four exports; delete one or wait an hour",
                    ));
                }
                jobs.insert(
                    id.clone(),
                    Job {
                        client_id: client.client_id.clone(),
                        created: now(),
                        request: request_url,
                        files,
                    },
                );
                Ok(())
            })?;
            let mut response = StatusCode::ACCEPTED.into_response();
            if let Ok(location) = HeaderValue::from_str(&status_url(&state.base, &id)) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LOCATION, location);
            }
            Ok((response, BTreeSet::new()))
        },
    )
    .await
}

/// The job `id` if it belongs to `client`: another facility's job does not exist for it.
fn owned<T>(
    state: &GatewayState,
    client: &Client,
    id: &str,
    f: impl FnOnce(&Job) -> T,
) -> Result<T, GatewayError> {
    state.exports.with_jobs(|jobs| {
        jobs.get(id)
            .filter(|job| job.client_id == client.client_id)
            .map(f)
            .ok_or(GatewayError::NotFound("no such export (or it expired)"))
    })
}

/// `GET /fhir/bulkstatus/[job]`: the manifest (every export is complete when first polled).
pub async fn status(
    State(state): State<Arc<GatewayState>>,
    PathOf(id): PathOf<String>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let client = authenticate(&state, &headers).await?;
    let manifest = owned(&state, &client, &id, |job| {
        // Only files of the types this credential may export (another credential of the
        // same facility may carry narrower scopes).
        let output: Vec<Value> = job
            .files
            .iter()
            .enumerate()
            .filter(|(_, file)| client.may(file.resource_type.as_str(), Interaction::Search))
            .map(|(n, file)| {
                json!({
                    "type": file.resource_type.as_str(),
                    "url": format!("{}/bulkfiles/{id}/{n}.ndjson", state.base),
                    "count": file.ids.len(),
                })
            })
            .collect();
        json!({
            "transactionTime": instant(job.created),
            "request": job.request,
            "requiresAccessToken": true,
            "output": output,
            "error": [],
        })
    })?;
    let mut response = axum::Json(manifest).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /fhir/bulkstatus/[job]`: cancel or forget an export.
pub async fn cancel(
    State(state): State<Arc<GatewayState>>,
    PathOf(id): PathOf<String>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let client = authenticate(&state, &headers).await?;
    state.exports.with_jobs(|jobs| {
        if jobs
            .get(&id)
            .is_some_and(|job| job.client_id == client.client_id)
        {
            jobs.remove(&id);
            Ok(StatusCode::ACCEPTED.into_response())
        } else {
            Err(GatewayError::NotFound("no such export (or it expired)"))
        }
    })
}

/// `GET /fhir/bulkfiles/[job]/[n].ndjson`: one file, audited as a disclosure.
pub async fn file(
    State(state): State<Arc<GatewayState>>,
    PathOf((id, name)): PathOf<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    audited(
        &state,
        &headers,
        "operation",
        &[],
        async |client, snapshot| {
            let index: usize = name
                .strip_suffix(".ndjson")
                .and_then(|n| n.parse().ok())
                .ok_or(GatewayError::NotFound("no such export file"))?;
            let (resource_type, ids) = owned(&state, client, &id, |job| {
                job.files
                    .get(index)
                    .map(|f| (f.resource_type, f.ids.clone()))
            })?
            .ok_or(GatewayError::NotFound("no such export file"))?;
            if !client.may(resource_type.as_str(), Interaction::Search) {
                return Err(GatewayError::Forbidden(
                    "the token's scopes do not allow exporting this file's type",
                ));
            }
            let mut body = String::new();
            let mut patients = BTreeSet::new();
            for id in &ids {
                let patient = patient_of(id);
                // Only patients the facility may still see now, records as they are now.
                let Some(resource) = snapshot
                    .patients
                    .get(patient)
                    .filter(|p| p.sharing.allows(&client.client_id))
                    .and_then(|p| p.get(resource_type, id))
                else {
                    continue;
                };
                patients.insert(patient.to_owned());
                body.push_str(resource.json().get());
                body.push('\n');
            }
            let mut response = (StatusCode::OK, Body::from(body)).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
            Ok((response, patients))
        },
    )
    .await
}
