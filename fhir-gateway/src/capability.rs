//! `GET /fhir/metadata`: the CapabilityStatement, generated from the same tables the search code
//! uses, so it lists exactly what is implemented.

use serde_json::{Value, json};

use crate::search::{includes_of, params_of};
use crate::served::SERVED_TYPES;

/// The CapabilityStatement of a gateway whose FHIR base is `base`.
pub fn statement(base: &str) -> Value {
    let resources: Vec<Value> = SERVED_TYPES
        .iter()
        .map(|resource_type| {
            let mut params = vec![
                json!({"name": "_id", "type": "token"}),
                json!({"name": "_lastUpdated", "type": "date"}),
            ];
            params.extend(
                params_of(*resource_type)
                    .iter()
                    .map(|p| json!({"name": p.name, "type": p.kind.as_str()})),
            );
            let mut resource = json!({
                "type": resource_type.as_str(),
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "versioning": "versioned",
                "readHistory": false,
                "searchInclude": includes_of(*resource_type),
                "searchParam": params,
            });
            if resource_type.as_str() == "Patient"
                && let Some(object) = resource.as_object_mut()
            {
                object.insert(
                    "operation".to_owned(),
                    json!([{
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                    }]),
                );
            }
            resource
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-21",
        "publisher": "nostr-ehr",
        "kind": "instance",
        "software": {"name": "ehr-fhir-gateway", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": "A practice's records, for outside facilities its patients consented to",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Results hold only patients whose consent names the calling facility. Paging with _count; _summary=count; unknown parameters are refused.",
            "security": {
                "cors": false,
                "description": "Bearer API keys issued by the practice, with SMART system scopes (system/*.read, system/<type>.rs)."
            },
            "resource": resources,
        }],
    })
}
