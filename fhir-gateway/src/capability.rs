//! `GET /fhir/metadata`: the CapabilityStatement, generated from the same tables the search code
//! uses, so it lists exactly what is implemented.

use serde_json::{Value, json};

use crate::search::{REVINCLUDE_PROVENANCE, includes_of, params_of};
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
                "searchRevInclude": [REVINCLUDE_PROVENANCE],
                "searchParam": params,
            });
            if resource_type.as_str() == "DocumentReference"
                && let Some(object) = resource.as_object_mut()
            {
                object.insert(
                    "operation".to_owned(),
                    json!([{
                        "name": "docref",
                        "definition": "http://hl7.org/fhir/us/core/OperationDefinition/docref"
                    }]),
                );
            }
            if resource_type.as_str() == "Patient"
                && let Some(object) = resource.as_object_mut()
            {
                object.insert(
                    "operation".to_owned(),
                    json!([
                        {
                            "name": "everything",
                            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                        },
                        {
                            "name": "summary",
                            "definition": crate::summary::OPERATION
                        }
                    ]),
                );
            }
            resource
        })
        .chain(std::iter::once(provenance()))
        .chain(std::iter::once(json!({
            "type": "Group",
            "documentation": "Only Group/consented: the patients whose consent names the calling facility. No read or search.",
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
            }],
        })))
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
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Results hold only patients whose consent names the calling facility. Paging with _count; _sort on the type's date parameters and _lastUpdated (- for newest first); _elements; _summary=true, data, false or count; the patient compartment Patient/[id]/[type]; _include of the listed reference parameters (one level: :iterate is refused) and _revinclude=Provenance:target, both within the matched resource's own patient and only for types the token's scopes allow (else 403). Every served record has a Provenance built from the Nostr event that carries its current version: the author's key, the practice key it acted for, and the author's BIP-340 Schnorr signature. Unknown parameters are refused.",
            "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
            "security": {
                "cors": false,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR"
                    }],
                    "text": "SMART Backend Services (client_credentials, private_key_jwt RS384/ES384)"
                }],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": crate::smart::token_url(base)}]
                }],
                "description": "SMART Backend Services: clients registered by the practice get short-lived bearer tokens at the token endpoint (see .well-known/smart-configuration). Small partners may use static bearer API keys instead. Both carry SMART system scopes (system/*.read, system/<type>.rs)."
            },
            "resource": resources,
        }],
    })
}

/// The CapabilityStatement's Provenance entry.
fn provenance() -> Value {
    json!({
        "type": crate::provenance::PROVENANCE,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": false,
        "searchParam": [
            {"name": "_id", "type": "token"},
            {"name": "target", "type": "reference"},
            {"name": "patient", "type": "reference"},
        ],
        "documentation": "Built from the signed Nostr event that carries each served record's current version: agent = the author's key (identifier system urn:nostr-ehr:nostr-pubkey) on behalf of the practice root key, policy = the roster that authorised the author, signature = the author's BIP-340 Schnorr signature (data: base64 of the event's id, pubkey, created_at, kind and sig). Scope: system/Provenance.read, and the target's type.",
    })
}
