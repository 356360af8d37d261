//! The FHIR REST endpoints: read, search (GET and POST, and the patient compartment
//! `Patient/[id]/[type]`), `Patient/$everything`, `Patient/$summary`, and metadata.
//! Every answer is `application/fhir+json`; every access is logged as an AuditEvent.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::fhir::ResourceType;
use serde_json::json;

use crate::GatewayState;
use crate::audit::{AccessFacts, Accessor};
use crate::bundle::page_links;
pub use crate::bundle::{SearchSet, bundle};
use crate::error::{FHIR_JSON, GatewayError};
use crate::search::{Paging, Search};
use crate::served::{PatientIndex, ServedResource, patient_of, served_type};
use crate::store::{Client, Interaction};
use crate::sync::Snapshot;

type Params = Vec<(String, String)>;

pub(crate) use crate::now;

/// A FHIR JSON answer.
pub(crate) fn fhir(status: StatusCode, body: &(impl serde::Serialize + ?Sized)) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(_) => {
            return GatewayError::Unavailable("the answer could not be written").into_response();
        }
    };
    let mut response = (status, Body::from(bytes)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// Refuse an `Accept` we cannot answer: JSON only, FHIR version 4.0.
fn check_accept(headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let json_like = matches!(
            media,
            "application/fhir+json"
                | "application/json"
                | "application/*"
                | "*/*"
                | ""
                | "application/json+fhir"
        );
        let version_ok = parts.all(|p| {
            p.strip_prefix("fhirVersion=")
                .is_none_or(|v| v == "4.0" || v.starts_with("4.0."))
        });
        json_like && version_ok
    });
    if acceptable {
        Ok(())
    } else {
        Err(GatewayError::NotAcceptable(
            "this server answers application/fhir+json, FHIR 4.0 only",
        ))
    }
}

/// The calling facility, from its bearer token.
pub(crate) async fn authenticate(
    state: &GatewayState,
    headers: &HeaderMap,
) -> Result<Client, GatewayError> {
    check_accept(headers)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(GatewayError::Unauthorized("a bearer token is required"))?;
    state
        .store
        .check_api_key(token.trim(), now())
        .await?
        .ok_or(GatewayError::Unauthorized(
            "the access token is unknown, expired or revoked",
        ))
}

fn snapshot(state: &GatewayState) -> Arc<Snapshot> {
    state.snapshot.borrow().clone()
}

/// A served patient this client may see.
pub(crate) fn patient_for<'a>(
    snapshot: &'a Snapshot,
    client: &Client,
    id: &str,
) -> Option<&'a Arc<PatientIndex>> {
    snapshot
        .patients
        .get(id)
        .filter(|p| p.sharing.allows(&client.client_id))
}

fn resource_type(name: &str) -> Result<ResourceType, GatewayError> {
    served_type(name).ok_or(GatewayError::NotFound(
        "this server does not serve that resource type",
    ))
}

/// `GET /fhir/metadata`.
pub async fn metadata(State(state): State<Arc<GatewayState>>) -> Response {
    fhir(StatusCode::OK, &crate::capability::statement(&state.base))
}

/// A handler's answer before it is logged: the body and the patients whose records it holds.
pub(crate) type Answer = Result<(Response, BTreeSet<String>), GatewayError>;

/// Run `handle` for an authenticated facility and log the access, whatever its outcome, as an
/// AuditEvent before answering. Only the names of the query's parameters are logged: their
/// values (a name, a birth date) would be PHI at rest. The handler and the log see the same
/// snapshot, so the patients named are the ones the answer holds.
pub(crate) async fn audited(
    state: &GatewayState,
    headers: &HeaderMap,
    interaction: &str,
    params: &[(String, String)],
    handle: impl AsyncFnOnce(&Client, &Snapshot) -> Answer,
) -> Result<Response, GatewayError> {
    audited_operation(state, headers, interaction, None, params, handle).await
}

/// [`audited`], naming in the AuditEvent the definition of the `operation` run
/// ([`AccessFacts::operation`]).
pub(crate) async fn audited_operation(
    state: &GatewayState,
    headers: &HeaderMap,
    interaction: &str,
    operation: Option<&str>,
    params: &[(String, String)],
    handle: impl AsyncFnOnce(&Client, &Snapshot) -> Answer,
) -> Result<Response, GatewayError> {
    let client = authenticate(state, headers).await?;
    let snapshot = snapshot(state);
    let answer = handle(&client, &snapshot).await;
    let names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    let (outcome, patients) = match &answer {
        Ok((_, patients)) => ("0", patients.clone()),
        Err(GatewayError::Database(_) | GatewayError::Migration(_) | GatewayError::Io(_)) => {
            ("8", BTreeSet::new())
        }
        Err(_) => ("4", BTreeSet::new()),
    };
    let recorded = now();
    // An emergency credential's stated reason is the access's purpose (ETREAT); the patient is
    // told at once of every emergency disclosure.
    let emergency_reason = client
        .is_emergency()
        .then(|| crate::summary::stated_reason(params))
        .flatten();
    let notice = emergency_reason
        .filter(|_| outcome == "0")
        .map(|reason| crate::summary::emergency_notice(&client.client_id, reason, recorded));
    let facts = AccessFacts {
        accessor: Accessor::Facility(&client),
        interaction,
        operation,
        patients: &patients,
        parameter_names: &names.join(","),
        outcome,
        outcome_desc: None,
        recorded,
        emergency_reason,
        owner: None,
        notice,
    };
    crate::audit::record(state, &snapshot, &facts).await?;
    let (response, _) = answer?;
    Ok(response)
}

/// Query parameters, decoded (`application/x-www-form-urlencoded`).
fn decode(raw: Option<&[u8]>) -> Params {
    raw.map(|bytes| {
        form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// axum's `Path`, whose rejection (a segment that is not UTF-8 once decoded) is the gateway's
/// own 400 OperationOutcome rather than axum's plain text.
#[derive(Debug)]
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| GatewayError::BadRequest("the URL path is not valid".to_owned()))?;
        Ok(Self(value))
    }
}

/// `GET /fhir/[type]/[id]`, and US Core's `GET /fhir/DocumentReference/$docref`.
pub async fn read(
    State(state): State<Arc<GatewayState>>,
    PathOf((kind, id)): PathOf<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    if kind == "Patient" && id == "$summary" {
        let params = decode(query.as_deref().map(str::as_bytes));
        return crate::summary::summary(
            &state,
            &headers,
            crate::summary::Target::ByIdentifier,
            &params,
        )
        .await;
    }
    if kind == "DocumentReference" && id == "$docref" {
        let params = docref_search(&decode(query.as_deref().map(str::as_bytes)))?;
        return search(&state, &kind, &params, &headers, "search-type").await;
    }
    if kind == crate::provenance::PROVENANCE {
        return crate::provenance::read(&state, &id, &headers).await;
    }
    audited(&state, &headers, "read", &[], async |client, snapshot| {
        let resource_type = resource_type(&kind)?;
        if !client.may(&kind, Interaction::Read) {
            return Err(GatewayError::Forbidden(
                "the token's scopes do not allow reading this type",
            ));
        }
        let patient = patient_for(snapshot, client, patient_of(&id))
            .ok_or(GatewayError::NotFound("no such resource for this client"))?;
        if let Some(resource) = patient.get(resource_type, &id) {
            return Ok((
                fhir(StatusCode::OK, &resource.json()),
                BTreeSet::from([patient.id.clone()]),
            ));
        }
        if patient.is_gone(resource_type, &id) {
            return Err(GatewayError::Gone(
                "the resource was deleted (entered in error)",
            ));
        }
        Err(GatewayError::NotFound("no such resource for this client"))
    })
    .await
}

/// US Core `$docref` (DocumentReference/$docref) as the search it is here: `patient` (required),
/// `start` and `end` on the document's date, `type`. Documents already exist as
/// DocumentReferences, so `on-demand=true` (generate one) is not supported.
fn docref_search(params: &[(String, String)]) -> Result<Params, GatewayError> {
    let mut search = Vec::new();
    let mut patient = false;
    for (name, value) in params {
        match name.as_str() {
            "patient" => {
                patient = true;
                search.push(("patient".to_owned(), value.clone()));
            }
            "start" => search.push(("date".to_owned(), format!("ge{value}"))),
            "end" => search.push(("date".to_owned(), format!("le{value}"))),
            "type" => search.push(("type".to_owned(), value.clone())),
            "on-demand" if value == "false" => {}
            "on-demand" => {
                return Err(GatewayError::BadRequest(
                    "$docref: on-demand documents are not generated here".into(),
                ));
            }
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "$docref: unsupported parameter `{name}` (patient, start, end, type)"
                )));
            }
        }
    }
    if !patient {
        return Err(GatewayError::BadRequest(
            "$docref: the patient parameter is required".into(),
        ));
    }
    Ok(search)
}

/// `GET /fhir/[type]?...`.
pub async fn search_get(
    State(state): State<Arc<GatewayState>>,
    PathOf(kind): PathOf<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let params = decode(query.as_deref().map(str::as_bytes));
    search(&state, &kind, &params, &headers, "search-type").await
}

/// `POST /fhir/[type]/_search` (form body; query parameters count too).
pub async fn search_post(
    State(state): State<Arc<GatewayState>>,
    PathOf((kind, action)): PathOf<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, GatewayError> {
    let body = body?;
    if action != "_search" {
        return Err(GatewayError::BadRequest(
            "this server is read-only; POST only to [type]/_search".to_owned(),
        ));
    }
    let mut params = decode(query.as_deref().map(str::as_bytes));
    params.extend(decode(Some(&body)));
    search(&state, &kind, &params, &headers, "search-type").await
}

fn paging(state: &GatewayState) -> Paging {
    Paging {
        default_count: state.config.default_count,
        max_count: state.config.max_count,
    }
}

/// The patients whose records a page holds.
fn patients_in(resources: &[Arc<ServedResource>]) -> BTreeSet<String> {
    resources
        .iter()
        .map(|r| patient_of(&r.id).to_owned())
        .collect()
}

/// The patients a search of `client` covers: the one it names, if she is served to the client,
/// or every patient served to the client.
fn patients_searched<'a>(
    snapshot: &'a Snapshot,
    client: &Client,
    patient: Option<&str>,
) -> Vec<&'a Arc<PatientIndex>> {
    match patient {
        Some(id) => patient_for(snapshot, client, id).into_iter().collect(),
        None => snapshot
            .patients
            .values()
            .filter(|p| p.sharing.allows(&client.client_id))
            .collect(),
    }
}

/// Every match of `search`, in its order: `_sort`'s, else newest first across patients too,
/// then by id. All of them are ordered before a page is cut, so pages never overlap.
fn matches_of<'a>(
    patients: &[&'a Arc<PatientIndex>],
    resource_type: ResourceType,
    search: &Search,
) -> Vec<&'a Arc<ServedResource>> {
    let mut matches: Vec<&Arc<ServedResource>> = patients
        .iter()
        .copied()
        .flat_map(|p| p.resources.iter())
        .filter(|r| r.resource_type == resource_type && search.matches(r))
        .collect();
    matches.sort_by(|a, b| {
        b.last_updated
            .cmp(&a.last_updated)
            .then_with(|| a.id.cmp(&b.id))
    });
    crate::search::sort::sort(&search.sort, &mut matches);
    matches
}

/// A search of type `kind`, logged as `interaction` (`search-type`, or `search-compartment`
/// for `Patient/[id]/[type]`).
async fn search(
    state: &GatewayState,
    kind: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
    interaction: &str,
) -> Result<Response, GatewayError> {
    if kind == crate::provenance::PROVENANCE {
        return crate::provenance::search(state, params, headers, interaction).await;
    }
    audited(
        state,
        headers,
        interaction,
        params,
        async |client, snapshot| {
            let resource_type = resource_type(kind)?;
            if !client.may(kind, Interaction::Search) {
                return Err(GatewayError::Forbidden(
                    "the token's scopes do not allow searching this type",
                ));
            }
            let search = Search::parse(resource_type, params, paging(state))?;
            let patients = patients_searched(snapshot, client, search.patient.as_deref());
            let matches = matches_of(&patients, resource_type, &search);
            let total = matches.len();
            let page: Vec<Arc<ServedResource>> = if search.summary_count {
                Vec::new()
            } else {
                matches
                    .iter()
                    .skip(search.offset)
                    .take(search.count)
                    .map(|r| Arc::clone(r))
                    .collect()
            };
            let included = crate::include::included(state, snapshot, client, &search, &page)?;
            let links = page_links(
                &state.base,
                kind,
                &search.canonical,
                search.offset,
                page.len(),
                total,
            );
            let seen = if search.summary_count {
                // A count discloses no record: the request gets one AuditEvent, naming the
                // patient only when the search named her (the number is then about her), never
                // one per patient counted (DESIGN.md §6, Audit).
                match &search.patient {
                    Some(_) => patients.iter().map(|p| p.id.clone()).collect(),
                    None => BTreeSet::new(),
                }
            } else {
                let mut seen = patients_in(&page);
                seen.extend(crate::include::patients(&included));
                seen
            };
            let body = crate::bundle::searchset(&state.base, total, links, &page, &included)
                .viewed(&search.view)?;
            Ok((fhir(StatusCode::OK, &body), seen))
        },
    )
    .await
}

/// `GET /fhir/Patient/[id]/[type]?...`, the patient compartment: exactly the search
/// `[type]?patient=[id]&...` (for Patient, `_id=[id]`), with its scope and consent checks, so a
/// patient the facility may not see gives the empty searchset that search gives. Its links are
/// that search's.
async fn compartment(
    state: &GatewayState,
    id: &str,
    kind: &str,
    mut params: Params,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    if id.contains(',') {
        return Err(GatewayError::BadRequest(
            "a compartment is one patient's: Patient/[id]/[type]".to_owned(),
        ));
    }
    let name = if kind == "Patient" { "_id" } else { "patient" };
    params.insert(0, (name.to_owned(), id.to_owned()));
    search(state, kind, &params, headers, "search-compartment").await
}

/// `GET /fhir/Patient/[id]/$everything` with `_since`, `_type`, `_count` and paging;
/// `GET /fhir/Patient/[id]/$summary` ([`crate::summary`]);
/// `GET /fhir/Group/[id]/$export` ([`crate::export`]); and the patient compartment,
/// `GET /fhir/Patient/[id]/[type]` (`compartment`).
pub async fn operation(
    State(state): State<Arc<GatewayState>>,
    PathOf((kind, id, operation)): PathOf<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let params = decode(query.as_deref().map(str::as_bytes));
    if kind == "Group" && operation == "$export" {
        return crate::export::kick_off(&state, &headers, &id, &params).await;
    }
    if kind == "Patient"
        && (served_type(&operation).is_some() || operation == crate::provenance::PROVENANCE)
    {
        return compartment(&state, &id, &operation, params, &headers).await;
    }
    if kind == "Patient" && operation == "$summary" {
        return crate::summary::summary(&state, &headers, crate::summary::Target::Id(&id), &params)
            .await;
    }
    audited(
        &state,
        &headers,
        "operation",
        &params,
        async |client, snapshot| {
            if kind != "Patient" || operation != "$everything" {
                return Err(GatewayError::NotFound("no such operation"));
            }
            let mut since = None;
            let mut types: Option<BTreeSet<ResourceType>> = None;
            let mut count = state.config.default_count;
            let mut offset = 0usize;
            let mut canonical = Vec::new();
            for (name, value) in &params {
                let bad =
                    |what: &str| GatewayError::BadRequest(format!("{what} in parameter `{name}`"));
                if name != "_offset" {
                    canonical.push((name.clone(), value.clone()));
                }
                match name.as_str() {
                    "_since" => since = Some(crate::search::since_param(name, value)?),
                    "_type" => {
                        types = Some(
                            crate::search::types_param(name, value)?
                                .into_iter()
                                .collect(),
                        );
                    }
                    "_count" => {
                        count = value
                            .parse::<usize>()
                            .map_err(|_| bad("a non-numeric value"))?
                            .clamp(1, state.config.max_count);
                    }
                    "_offset" => offset = value.parse().map_err(|_| bad("a non-numeric value"))?,
                    _ => return Err(bad("an unsupported parameter")),
                }
            }
            let patient = patient_for(snapshot, client, &id)
                .ok_or(GatewayError::NotFound("no such patient for this client"))?;
            // The Patient first, then the rest newest first.
            let everything: Vec<&Arc<ServedResource>> = patient
                .resources
                .iter()
                .filter(|r| r.resource_type == ResourceType::Patient)
                .chain(
                    patient
                        .resources
                        .iter()
                        .filter(|r| r.resource_type != ResourceType::Patient),
                )
                .filter(|r| client.may(r.resource_type.as_str(), Interaction::Search))
                .filter(|r| since.is_none_or(|s| r.last_updated >= s))
                .filter(|r| types.as_ref().is_none_or(|t| t.contains(&r.resource_type)))
                .collect();
            let total = everything.len();
            let page: Vec<Arc<ServedResource>> = everything
                .into_iter()
                .skip(offset)
                .take(count)
                .map(Arc::clone)
                .collect();
            let path = format!("Patient/{id}/$everything");
            let links = page_links(&state.base, &path, &canonical, offset, page.len(), total);
            Ok((
                fhir(
                    StatusCode::OK,
                    &bundle(&state.base, total, links, &page, &[]),
                ),
                BTreeSet::from([patient.id.clone()]),
            ))
        },
    )
    .await
}

/// `GET /healthz`: 200 once the gateway serves (it starts only after the first catch-up).
pub async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// Any method a route does not serve.
pub async fn method_not_allowed() -> GatewayError {
    GatewayError::MethodNotAllowed("this server is read-only: GET, and POST to [type]/_search")
}
