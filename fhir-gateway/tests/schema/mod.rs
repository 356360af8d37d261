//! The official FHIR R4 JSON schema (`../shared/fhir/fhir.r4.schema.json`) checked from Rust:
//! element types, enums, fixed values, required elements and no unknown elements, through
//! `$ref` and the `resourceType` discriminator of contained resources (Bundle entries). String
//! patterns are not checked here; `tests/tests/fhir_third_party.rs` runs the full schema, with
//! two more independent validators, over the same kinds of answers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

fn definitions() -> &'static Map<String, Value> {
    static DEFINITIONS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fhir/fhir.r4.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the R4 schema at {}: {e}", path.display()));
        let mut schema: Value = serde_json::from_str(&text).unwrap();
        match schema["definitions"].take() {
            Value::Object(definitions) => definitions,
            _ => panic!("the R4 schema has no definitions"),
        }
    })
}

/// Panic with every violation if `resource` does not fit the R4 schema of its `resourceType`.
pub fn check(resource: &Value) {
    let mut errors = Vec::new();
    resource_errors(resource, "", &mut errors);
    assert!(
        errors.is_empty(),
        "the R4 JSON schema refuses the answer: {errors:#?}\n{resource}"
    );
}

fn resource_errors(value: &Value, path: &str, errors: &mut Vec<String>) {
    let definition = value["resourceType"]
        .as_str()
        .and_then(|name| definitions().get(name));
    match definition {
        Some(definition) => value_errors(definition, value, path, errors),
        None => errors.push(format!("{path}: no known resourceType")),
    }
}

fn value_errors(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/definitions/");
        if name == "ResourceList" {
            resource_errors(value, path, errors);
        } else {
            value_errors(&definitions()[name], value, path, errors);
        }
        return;
    }
    if let Some(kind) = schema["type"].as_str() {
        let fits = match kind {
            "string" => value.is_string(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            _ => true,
        };
        if !fits {
            errors.push(format!("{path}: not a {kind}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let Some(fixed) = schema.get("const")
        && fixed != value
    {
        errors.push(format!("{path}: {value} is not {fixed}"));
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (n, item) in array.iter().enumerate() {
            value_errors(items, item, &format!("{path}/{n}"), errors);
        }
    }
    if let Some(properties) = schema["properties"].as_object() {
        let Some(object) = value.as_object() else {
            errors.push(format!("{path}: not an object"));
            return;
        };
        for (key, item) in object {
            match properties.get(key) {
                Some(property) => value_errors(property, item, &format!("{path}/{key}"), errors),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{path}: unknown element `{key}`"));
                }
                None => {}
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = required.as_str()
                && !object.contains_key(name)
            {
                errors.push(format!("{path}: the required `{name}` is missing"));
            }
        }
    }
}
