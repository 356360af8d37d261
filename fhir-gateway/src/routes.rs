//! The FHIR REST endpoints: read, search (GET and POST), `Patient/$everything`, and metadata.
//! Every answer is `application/fhir+json`; every access is logged as an AuditEvent.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::fhir::{FHIR_CLIENT_SYSTEM, ResourceType};
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::{FHIR_JSON, GatewayError};
use crate::search::{Paging, Search};
use crate::served::{PatientIndex, ServedResource, instant, patient_of, served_type};
use crate::store::{Client, Interaction};
use crate::sync::Snapshot;

type Params = Vec<(String, String)>;

fn now() -> i64 {
    i64::try_from(nostr::prelude::Timestamp::now().as_secs()).unwrap_or(i64::MAX)
}

/// A FHIR JSON answer.
fn fhir(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, Body::from(body.to_string())).into_response();
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
async fn authenticate(state: &GatewayState, headers: &HeaderMap) -> Result<Client, GatewayError> {
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
fn patient_for<'a>(
    snapshot: &'a Snapshot,
    client: &Client,
    id: &str,
) -> Option<&'a Arc<PatientIndex>> {
    snapshot
        .patients
        .get(id)
        .filter(|p| p.sharing.allows(&client.client_id))
}

/// Log one access as a FHIR AuditEvent (an access is never answered unlogged).
async fn audit(
    state: &GatewayState,
    client: &Client,
    interaction: &str,
    patients: &BTreeSet<String>,
    query: &str,
    outcome: &str,
) -> Result<(), GatewayError> {
    let recorded = now();
    let mut entities: Vec<Value> = patients
        .iter()
        .map(|p| json!({"what": {"reference": format!("Patient/{p}")}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}))
        .collect();
    if !query.is_empty() {
        use base64::Engine as _;
        entities.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "query": base64::engine::general_purpose::STANDARD.encode(query),
        }));
    }
    let event = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": if interaction == "read" { "R" } else { "E" },
        "recorded": instant(recorded),
        "outcome": outcome,
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
            "who": {"identifier": {"system": FHIR_CLIENT_SYSTEM, "value": client.client_id}},
            "requestor": true,
        }],
        "source": {"observer": {"display": "ehr-fhir-gateway"}},
        "entity": entities,
    });
    let patient = (patients.len() == 1)
        .then(|| patients.iter().next().map(String::as_str))
        .flatten();
    state
        .store
        .record_audit(recorded, &client.client_id, patient, outcome, &event)
        .await
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

/// `GET /fhir/[type]/[id]`.
pub async fn read(
    State(state): State<Arc<GatewayState>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let client = authenticate(&state, &headers).await?;
    let resource_type = resource_type(&kind)?;
    if !client.may(&kind, Interaction::Read) {
        return Err(GatewayError::Forbidden(
            "the token's scopes do not allow reading this type",
        ));
    }
    let snapshot = snapshot(&state);
    let patients = BTreeSet::from([patient_of(&id).to_owned()]);
    let Some(patient) = patient_for(&snapshot, &client, patient_of(&id)) else {
        audit(
            &state,
            &client,
            "read",
            &BTreeSet::new(),
            &format!("{kind}/{id}"),
            "4",
        )
        .await?;
        return Err(GatewayError::NotFound("no such resource for this client"));
    };
    if let Some(resource) = patient.get(resource_type, &id) {
        audit(&state, &client, "read", &patients, "", "0").await?;
        return Ok(fhir(StatusCode::OK, &resource.json));
    }
    audit(
        &state,
        &client,
        "read",
        &patients,
        &format!("{kind}/{id}"),
        "4",
    )
    .await?;
    if patient.is_gone(resource_type, &id) {
        return Err(GatewayError::Gone(
            "the resource was deleted (entered in error)",
        ));
    }
    Err(GatewayError::NotFound("no such resource for this client"))
}

/// `GET /fhir/[type]?...`.
pub async fn search_get(
    State(state): State<Arc<GatewayState>>,
    Path(kind): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    search(&state, &kind, &params, &headers).await
}

/// `POST /fhir/[type]/_search` (form body; query parameters count too).
pub async fn search_post(
    State(state): State<Arc<GatewayState>>,
    Path((kind, action)): Path<(String, String)>,
    Query(mut params): Query<Params>,
    headers: HeaderMap,
    Form(body): Form<Params>,
) -> Result<Response, GatewayError> {
    if action != "_search" {
        return Err(GatewayError::BadRequest(
            "this server is read-only; POST only to [type]/_search".to_owned(),
        ));
    }
    params.extend(body);
    search(&state, &kind, &params, &headers).await
}

fn paging(state: &GatewayState) -> Paging {
    Paging {
        default_count: state.config.default_count,
        max_count: state.config.max_count,
    }
}

fn link(base: &str, path: &str, params: &[(String, String)], offset: Option<usize>) -> String {
    let mut query = form_encode(params);
    if let Some(offset) = offset {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("_offset={offset}"));
    }
    if query.is_empty() {
        format!("{base}/{path}")
    } else {
        format!("{base}/{path}?{query}")
    }
}

fn form_encode(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:|/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A searchset Bundle: the page's matches, then what `_include` brought.
fn bundle(
    base: &str,
    total: usize,
    links: Vec<(&str, String)>,
    matches: &[Arc<ServedResource>],
    included: &[Arc<ServedResource>],
) -> Value {
    let entry = |resource: &Arc<ServedResource>, mode: &str| {
        json!({
            "fullUrl": format!("{base}/{}/{}", resource.resource_type.as_str(), resource.id),
            "resource": resource.json,
            "search": {"mode": mode},
        })
    };
    let mut entries: Vec<Value> = matches.iter().map(|r| entry(r, "match")).collect();
    entries.extend(included.iter().map(|r| entry(r, "include")));
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links.into_iter().map(|(relation, url)| json!({"relation": relation, "url": url})).collect::<Vec<_>>(),
    });
    if !entries.is_empty()
        && let Some(object) = bundle.as_object_mut()
    {
        object.insert("entry".to_owned(), Value::Array(entries));
    }
    bundle
}

async fn search(
    state: &GatewayState,
    kind: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    let client = authenticate(state, headers).await?;
    let resource_type = resource_type(kind)?;
    if !client.may(kind, Interaction::Search) {
        return Err(GatewayError::Forbidden(
            "the token's scopes do not allow searching this type",
        ));
    }
    let search = Search::parse(resource_type, params, paging(state))?;
    let snapshot = snapshot(state);
    let patients: Vec<&Arc<PatientIndex>> = match &search.patient {
        Some(id) => patient_for(&snapshot, &client, id).into_iter().collect(),
        None => {
            let mut all: Vec<_> = snapshot
                .patients
                .values()
                .filter(|p| p.sharing.allows(&client.client_id))
                .collect();
            all.sort_by(|a, b| a.id.cmp(&b.id));
            all
        }
    };
    let matches: Vec<&Arc<ServedResource>> = patients
        .iter()
        .flat_map(|p| p.resources.iter())
        .filter(|r| r.resource_type == resource_type && search.matches(r))
        .collect();
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
    let mut included = Vec::new();
    if search.include_results {
        for report in &page {
            for reference in report
                .json
                .get("result")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("reference").and_then(Value::as_str))
            {
                let Some(id) = reference.strip_prefix("Observation/") else {
                    continue;
                };
                if let Some(found) = patient_for(&snapshot, &client, patient_of(id))
                    .and_then(|p| p.get(ResourceType::Observation, id))
                    && !included
                        .iter()
                        .any(|i: &Arc<ServedResource>| i.id == found.id)
                {
                    included.push(Arc::clone(found));
                }
            }
        }
    }
    let mut links = vec![(
        "self",
        link(&state.base, kind, &search.canonical, Some(search.offset)),
    )];
    if !search.summary_count && search.offset + page.len() < total {
        links.push((
            "next",
            link(
                &state.base,
                kind,
                &search.canonical,
                Some(search.offset + page.len()),
            ),
        ));
    }
    let seen: BTreeSet<String> = page
        .iter()
        .chain(included.iter())
        .map(|r| patient_of(&r.id).to_owned())
        .collect();
    audit(
        state,
        &client,
        "search-type",
        &seen,
        &form_encode(params),
        "0",
    )
    .await?;
    Ok(fhir(
        StatusCode::OK,
        &bundle(&state.base, total, links, &page, &included),
    ))
}

/// `GET /fhir/Patient/[id]/$everything` with `_since`, `_type`, `_count` and paging.
pub async fn operation(
    State(state): State<Arc<GatewayState>>,
    Path((kind, id, operation)): Path<(String, String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let client = authenticate(&state, &headers).await?;
    if kind != "Patient" || operation != "$everything" {
        return Err(GatewayError::NotFound("no such operation"));
    }
    let mut since = None;
    let mut types: Option<BTreeSet<ResourceType>> = None;
    let mut count = state.config.default_count;
    let mut offset = 0usize;
    let mut canonical = Vec::new();
    for (name, value) in &params {
        let bad = |what: &str| GatewayError::BadRequest(format!("{what} in parameter `{name}`"));
        if name != "_offset" {
            canonical.push((name.clone(), value.clone()));
        }
        match name.as_str() {
            "_since" => {
                since = Some(
                    crate::search::date_range(value)
                        .ok_or_else(|| bad("an invalid instant"))?
                        .start,
                );
            }
            "_type" => {
                let mut set = BTreeSet::new();
                for name in value.split(',') {
                    set.insert(served_type(name.trim()).ok_or_else(|| bad("an unknown type"))?);
                }
                types = Some(set);
            }
            "_count" => {
                count = value
                    .parse::<usize>()
                    .map_err(|_| bad("a non-numeric value"))?
                    .min(state.config.max_count);
            }
            "_offset" => offset = value.parse().map_err(|_| bad("a non-numeric value"))?,
            _ => return Err(bad("an unsupported parameter")),
        }
    }
    let snapshot = snapshot(&state);
    let Some(patient) = patient_for(&snapshot, &client, &id) else {
        audit(
            &state,
            &client,
            "operation",
            &BTreeSet::new(),
            &format!("Patient/{id}/$everything"),
            "4",
        )
        .await?;
        return Err(GatewayError::NotFound("no such patient for this client"));
    };
    // The Patient first, then the rest newest first.
    let mut everything: Vec<&Arc<ServedResource>> = patient
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
    everything = everything.into_iter().skip(offset).take(count).collect();
    let page: Vec<Arc<ServedResource>> = everything.into_iter().map(Arc::clone).collect();
    let path = format!("Patient/{id}/$everything");
    let mut links = vec![("self", link(&state.base, &path, &canonical, Some(offset)))];
    if offset + page.len() < total {
        links.push((
            "next",
            link(&state.base, &path, &canonical, Some(offset + page.len())),
        ));
    }
    audit(
        &state,
        &client,
        "operation",
        &BTreeSet::from([patient.id.clone()]),
        "",
        "0",
    )
    .await?;
    Ok(fhir(
        StatusCode::OK,
        &bundle(&state.base, total, links, &page, &[]),
    ))
}

/// `GET /healthz`: 200 once caught up with the relay.
pub async fn health(State(state): State<Arc<GatewayState>>) -> Response {
    // Caught up by construction: the server starts only after the first catch-up.
    let _ = &state;
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}
