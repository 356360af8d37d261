//! The FHIR gateway's search parameters (fhir-gateway/src/search.rs): `Search::parse` of a
//! query string as the routes decode it, `_since`/`_type` of `$everything` and `$export`, the
//! date parser, and `Search::matches` against fixed resources and one whose JSON the fuzzer
//! writes (its search keys taken as the gateway takes them when it serves a resource).
//!
//! Input: a mode byte (the resource type), a pick byte (the fuzzer's resource's
//! `meta.lastUpdated`), then `query string` [`\n` resource JSON].
#![no_main]

use std::sync::OnceLock;

use ehr_fhir_gateway::search::{Paging, Search, date_range, since_param, types_param};
use ehr_fhir_gateway::served::{SERVED_TYPES, ServedResource};
use libfuzzer_sys::fuzz_target;
use nostr_ehr_fuzz::Input;
use serde_json::{Value, json};

const PAGING: Paging = Paging {
    default_count: 50,
    max_count: 1000,
};

/// One resource of every served type, with a value at every search path.
fn resources() -> &'static [ServedResource] {
    static RESOURCES: OnceLock<Vec<ServedResource>> = OnceLock::new();
    RESOURCES.get_or_init(|| {
        let coding = json!({"coding": [{"system": "http://loinc.org", "code": "8867-4"}]});
        let body = |t: &str| {
            json!({
                "resourceType": t, "id": "r1", "status": "final", "intent": "order",
                "gender": "female", "class": {"code": "AMB"},
                "identifier": [{"system": "urn:mrn", "value": "42"}],
                "name": [{"family": "Doe", "given": ["Jane", "Q"]}], "birthDate": "1980-02-29",
                "subject": {"reference": "Patient/p1"}, "patient": {"reference": "Patient/p1"},
                "encounter": {"reference": "Encounter/e1"}, "result": [{"reference": "Observation/o1"}],
                "code": coding, "category": [coding], "type": coding, "vaccineCode": coding,
                "clinicalStatus": coding, "medicationCodeableConcept": coding,
                "period": {"start": "2024-01-01", "end": "2024-12"},
                "effectiveDateTime": "2024-05-01T10:00:00+02:00", "onsetDateTime": "2023",
                "recordedDate": "2023-06", "abatementDateTime": "2024-05-01T10:00Z",
                "authoredOn": "2024-05-01", "occurrenceDateTime": "2022-02-02",
                "date": "2024-05-01T10:00:00.123Z",
                "context": {"period": {"start": "2024-01-01"}, "encounter": {"reference": "e1"}},
            })
        };
        SERVED_TYPES
            .iter()
            .flat_map(|t| {
                [0, 1_700_000_000, i64::MAX]
                    .map(|at| ServedResource::new(*t, format!("p1-{at}"), at, &body(t.as_str())))
            })
            .flatten()
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::of(data) else {
        return;
    };
    let Some(resource_type) = SERVED_TYPES.get(usize::from(input.mode) % SERVED_TYPES.len()) else {
        return;
    };
    let (query, body) = input.text.split_once('\n').unwrap_or((input.text, ""));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (name, value) in &params {
        let _ = date_range(value);
        let _ = since_param(name, value);
        let _ = types_param(name, value);
    }
    // A created_at past i64 is served as i64::MAX (served.rs).
    let last_updated = match input.pick % 3 {
        0 => 0,
        1 => 1_700_000_000,
        _ => i64::MAX,
    };
    let own = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| ServedResource::new(*resource_type, "p1-x".into(), last_updated, &json));
    if let Some(own) = &own {
        for name in ["result", "subject", "patient", "encounter"] {
            let _ = own.keys.references(name).count();
        }
    }
    let Ok(search) = Search::parse(*resource_type, &params, PAGING) else {
        return;
    };
    for resource in resources().iter().chain(&own) {
        if resource.resource_type == *resource_type {
            let _ = search.matches(resource);
        }
    }
});
