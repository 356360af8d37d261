//! What a search shows of each match: `_elements` and `_summary` (FHIR R4, search §3.1.1.5.8
//! and §3.1.1.5.9). A resource shown in part carries the `SUBSETTED` tag in `meta.tag`, so no
//! one takes it for the whole record.
//!
//! `resourceType`, `id` and `meta` are always kept, and so are the type's mandatory elements:
//! the spec says servers SHOULD return them whether asked for or not, and without them a
//! resource fails the R4 models and the JSON schema (Observation requires `code`, Encounter
//! `class`, ...). Element names `_elements` does not know are ignored, as the spec says. A
//! primitive's extensions (`_birthDate`) go with it.

use std::borrow::Cow;

use ehr_client::fhir::ResourceType;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::error::GatewayError;
use crate::served::served_type;

/// The `meta.tag` of a resource shown in part.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// How much of each match a search shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum View {
    /// The whole resource (no `_elements`; `_summary=false`).
    #[default]
    Full,
    /// `_summary=true`: the type's summary elements.
    Summary,
    /// `_summary=data`: everything but the narrative (`text`).
    Data,
    /// `_elements=a,b`: these top-level elements and the mandatory ones.
    Elements(Vec<String>),
}

/// Kept whatever the view.
const ALWAYS: &[&str] = &["resourceType", "id", "meta"];

/// Choice elements (`value[x]`) of the served types, by base name: `value` is `valueQuantity`,
/// `valueString`, .... No other element of these types starts with one of these names followed
/// by a capital letter.
const CHOICES: &[&str] = &[
    "deceased",
    "multipleBirth",
    "effective",
    "value",
    "onset",
    "abatement",
    "reported",
    "medication",
    "occurrence",
    "quantity",
    "asNeeded",
];

/// The summary elements of each served type besides `id`, `meta` and `implicitRules`: the
/// elements with `isSummary: true` in the FHIR R4 definitions (profiles-resources.json), as the
/// `summary_element_property` flags of fhir.resources 8.3's R4B models carry them (R4B did not
/// change these types' summary flags). Choice elements by base name, separated by spaces.
fn summary_of(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::Patient => {
            concat!(
                "implicitRules identifier active name telecom gender birthDate deceased ",
                "address managingOrganization link"
            )
        }
        ResourceType::Encounter => {
            concat!(
                "implicitRules identifier status class type serviceType subject ",
                "episodeOfCare participant appointment reasonCode reasonReference ",
                "diagnosis"
            )
        }
        ResourceType::Observation => {
            concat!(
                "implicitRules identifier basedOn partOf status code subject focus ",
                "encounter effective issued performer value hasMember derivedFrom ",
                "component"
            )
        }
        ResourceType::Condition => {
            concat!(
                "implicitRules identifier clinicalStatus verificationStatus bodySite code ",
                "subject encounter onset recordedDate recorder asserter"
            )
        }
        ResourceType::MedicationRequest => {
            concat!(
                "implicitRules status intent priority doNotPerform reported medication ",
                "subject authoredOn requester performerType instantiatesCanonical ",
                "instantiatesUri basedOn groupIdentifier"
            )
        }
        ResourceType::AllergyIntolerance => {
            concat!(
                "implicitRules identifier clinicalStatus verificationStatus type category ",
                "criticality code patient asserter"
            )
        }
        ResourceType::Immunization => {
            concat!(
                "implicitRules status vaccineCode patient occurrence primarySource ",
                "performer note isSubpotent"
            )
        }
        ResourceType::ServiceRequest => {
            concat!(
                "implicitRules identifier instantiatesCanonical instantiatesUri basedOn ",
                "replaces requisition status intent category priority doNotPerform code ",
                "orderDetail quantity subject encounter occurrence asNeeded authoredOn ",
                "requester performerType performer locationCode locationReference ",
                "reasonCode reasonReference specimen bodySite patientInstruction"
            )
        }
        ResourceType::DiagnosticReport => {
            concat!(
                "implicitRules identifier status category code subject encounter ",
                "effective issued performer resultsInterpreter media"
            )
        }
        ResourceType::DocumentReference => {
            concat!(
                "implicitRules masterIdentifier identifier status docStatus type category ",
                "subject date author relatesTo description securityLabel content context"
            )
        }
        _ => "",
    }
}

/// The mandatory (`min` 1) top-level elements of each served type in FHIR R4; all of them
/// are summary elements too. Separated by spaces.
fn mandatory_of(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::Encounter => "status class",
        ResourceType::Observation | ResourceType::DiagnosticReport => "status code",
        ResourceType::Condition => "subject",
        ResourceType::MedicationRequest => "status intent medication subject",
        ResourceType::AllergyIntolerance => "patient",
        ResourceType::Immunization => "status vaccineCode patient occurrence",
        ResourceType::ServiceRequest => "status intent subject",
        ResourceType::DocumentReference => "status content",
        _ => "",
    }
}

/// Whether the JSON property `key` is the element `name` (a choice element by its base name).
fn element_is(key: &str, name: &str) -> bool {
    key == name
        || (CHOICES.contains(&name)
            && key
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())))
}

impl View {
    /// `_elements=...` of a search of `resource_type`: top-level element names, `value[x]` or
    /// `value` for a choice, optionally `Type.name`. Names of other types' elements or of
    /// nested ones are kept but match nothing (ignored, as the spec says).
    pub fn elements(resource_type: ResourceType, value: &str) -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                let name = name
                    .strip_prefix(resource_type.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .unwrap_or(name);
                name.strip_suffix("[x]").unwrap_or(name).to_owned()
            })
            .collect()
    }

    /// Whether this view keeps property `key` of a resource of `resource_type`.
    fn keeps(&self, resource_type: Option<ResourceType>, key: &str) -> bool {
        let name = key.strip_prefix('_').unwrap_or(key);
        if ALWAYS.contains(&name) {
            return true;
        }
        let listed = |names: &str| names.split_whitespace().any(|n| element_is(name, n));
        let mandatory = resource_type.is_some_and(|t| listed(mandatory_of(t)));
        match self {
            Self::Full => true,
            Self::Data => name != "text",
            Self::Summary => mandatory || resource_type.is_some_and(|t| listed(summary_of(t))),
            Self::Elements(names) => mandatory || names.iter().any(|n| element_is(name, n)),
        }
    }

    /// `resource` as this view shows it: itself when whole, otherwise the kept elements with
    /// the `SUBSETTED` tag.
    pub fn show<'a>(&self, resource: Cow<'a, RawValue>) -> Result<Cow<'a, RawValue>, GatewayError> {
        if *self == Self::Full {
            return Ok(resource);
        }
        let unwritable = |_| GatewayError::Unavailable("the answer could not be written");
        let mut object: Map<String, Value> =
            serde_json::from_str(resource.get()).map_err(unwritable)?;
        let resource_type = object
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(served_type);
        object.retain(|key, _| self.keeps(resource_type, key));
        tag_subsetted(&mut object);
        Ok(Cow::Owned(
            serde_json::value::to_raw_value(&object).map_err(unwritable)?,
        ))
    }
}

/// Add the `SUBSETTED` tag to `meta.tag` (once).
fn tag_subsetted(object: &mut Map<String, Value>) {
    let meta = object
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(tags) = tags.as_array_mut() else {
        return;
    };
    if !tags
        .iter()
        .any(|t| t.get("code").and_then(Value::as_str) == Some("SUBSETTED"))
    {
        tags.push(json!({
            "system": SUBSETTED_SYSTEM,
            "code": "SUBSETTED",
            "display": "subsetted",
        }));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn show(view: &View, resource: &Value) -> Value {
        let raw = serde_json::value::to_raw_value(resource).unwrap();
        let shown = view.show(Cow::Borrowed(&*raw)).unwrap();
        serde_json::from_str(shown.get()).unwrap()
    }

    fn observation() -> Value {
        json!({
            "resourceType": "Observation",
            "id": "a-b",
            "meta": {"versionId": "1", "tag": [{"system": "urn:x", "code": "y"}]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "status": "final",
            "category": [{"text": "vital-signs"}],
            "code": {"text": "pulse"},
            "subject": {"reference": "Patient/a"},
            "effectiveDateTime": "2024-05-01",
            "_effectiveDateTime": {"id": "e"},
            "valueQuantity": {"value": 60},
            "note": [{"text": "calm"}],
        })
    }

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn elements_keep_the_named_and_the_mandatory_and_tag_the_rest_subsetted() {
        let view = View::Elements(View::elements(
            ResourceType::Observation,
            "Observation.effective[x],value,no-such,Patient.name",
        ));
        let shown = show(&view, &observation());
        assert_eq!(
            keys(&shown),
            [
                "_effectiveDateTime",
                "code",
                "effectiveDateTime",
                "id",
                "meta",
                "resourceType",
                "status",
                "valueQuantity"
            ]
        );
        let tags = shown["meta"]["tag"].as_array().unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[1]["code"], "SUBSETTED");
        assert_eq!(tags[1]["system"], SUBSETTED_SYSTEM);
        // Once, even when shown twice.
        assert_eq!(
            show(&view, &shown)["meta"]["tag"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn summary_keeps_the_summary_elements_and_data_drops_only_the_narrative() {
        let summary = show(&View::Summary, &observation());
        assert_eq!(
            keys(&summary),
            [
                "_effectiveDateTime",
                "code",
                "effectiveDateTime",
                "id",
                "meta",
                "resourceType",
                "status",
                "subject",
                "valueQuantity"
            ]
        );
        let data = show(&View::Data, &observation());
        assert!(data.get("text").is_none());
        assert_eq!(data["note"][0]["text"], "calm");
        assert_eq!(data["meta"]["tag"][1]["code"], "SUBSETTED");
        assert_eq!(show(&View::Full, &observation()), observation());
    }

    #[test]
    fn choice_names_do_not_reach_other_elements() {
        assert!(element_is("valueQuantity", "value"));
        assert!(!element_is("statusReason", "status"));
        assert!(!element_is("values", "value"));
        for resource_type in crate::served::SERVED_TYPES {
            for name in mandatory_of(resource_type).split_whitespace() {
                assert!(
                    summary_of(resource_type)
                        .split_whitespace()
                        .any(|n| n == name),
                    "{name}"
                );
            }
        }
    }
}
