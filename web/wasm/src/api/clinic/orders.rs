//! Problems, medications, allergies, immunizations, orders and results (DESIGN.md §12): the
//! clinic app's forms as validated FHIR (JSON in, FHIR JSON out), each change of a record as
//! its next version, and two of `ehr-client`'s clinical rules on the opened chart: allergy
//! alerts before prescribing and the immunization forecast. The browser composes no resource
//! and decides no rule.

mod allergies;
mod forecast;
mod immunizations;
mod labs;
mod medications;
mod problems;

pub use allergies::{allergy, allergy_alerts, allergy_entered_in_error};
pub use forecast::immunization_forecast;
pub use immunizations::immunization;
pub use labs::{lab_interpretation, lab_order, lab_result, order_cancel, result_form};
pub use medications::{discontinue, prescription};
pub use problems::{problem, problem_change};

use ehr_client::fhir::{CodeableConcept, RecordAction, Resource, ResourceType};
use serde_json::{Map, Value};

use super::super::ApiError;
use super::super::records::{at, field, resource_of};

/// The choices of the forms' select lists, from the tables the builders code with:
/// `{"routes", "frequencies", "doseUnits", "severities", "criticalities", "categories",
/// "vaccine": {"sites", "routes"}}`, each a list of `{value, label}`.
pub fn form_options() -> String {
    let mut options = medications::options();
    if let (Some(all), Value::Object(more)) = (options.as_object_mut(), allergies::options()) {
        all.extend(more);
        all.insert("vaccine".to_owned(), immunizations::options());
    }
    options.to_string()
}

/// Code systems the forms code with.
pub(crate) mod systems {
    /// ICD-10-CM.
    pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    /// RxNorm.
    pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
    /// CVX (CDC vaccine codes).
    pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
    /// LOINC.
    pub const LOINC: &str = "http://loinc.org";
    /// SNOMED CT.
    pub const SNOMED: &str = "http://snomed.info/sct";
    /// HL7 v3 ActSite (LA, RA, LT, RT).
    pub const ACT_SITE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActSite";
    /// HL7 v3 RouteOfAdministration (IM, SQ, PO, NASINHLC).
    pub const ROUTE: &str = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration";
    /// HL7 v3 ObservationInterpretation (H, L, N).
    pub const INTERPRETATION: &str =
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
}

/// A form: a JSON object of named values.
pub(crate) struct Form(Map<String, Value>);

impl Form {
    pub(crate) fn parse(json: &str) -> Result<Self, ApiError> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(ApiError::Field("form", "must be a JSON object")),
        }
    }

    /// A text field (a number is taken as its text): trimmed, required unless `optional`.
    pub(crate) fn text(
        &self,
        key: &str,
        name: &'static str,
        optional: bool,
    ) -> Result<Option<String>, ApiError> {
        let value = match self.0.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(ApiError::Field(name, "must be text")),
        };
        field(&value, name, optional)
    }

    /// A required text field.
    pub(crate) fn required(&self, key: &str, name: &'static str) -> Result<String, ApiError> {
        Ok(self.text(key, name, false)?.unwrap_or_default())
    }

    /// A positive number, if given.
    pub(crate) fn number(&self, key: &str, name: &'static str) -> Result<Option<f64>, ApiError> {
        let Some(text) = self.text(key, name, true)? else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
            _ => Err(ApiError::Field(name, "must be a positive number")),
        }
    }

    /// A date (`YYYY-MM-DD`), required unless `optional`.
    pub(crate) fn date(
        &self,
        key: &str,
        name: &'static str,
        optional: bool,
    ) -> Result<Option<String>, ApiError> {
        date(
            &self.text(key, name, true)?.unwrap_or_default(),
            name,
            optional,
        )
    }

    /// Whether a checkbox was ticked.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.0.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// A date (`YYYY-MM-DD`) given as text, required unless `optional`.
pub(crate) fn date(
    value: &str,
    name: &'static str,
    optional: bool,
) -> Result<Option<String>, ApiError> {
    let date = field(value, name, optional)?;
    if let Some(d) = &date
        && (d.len() != 10 || ehr_client::immunization::parse_date(d).is_none())
    {
        return Err(ApiError::Field(name, "must be a date (YYYY-MM-DD)"));
    }
    Ok(date)
}

/// A concept coded in `system` when `code` is given (the picker's choice), else free text only
/// (FHIR's `code.text`): `display` is its text either way.
pub(crate) fn picked(system: &str, code: Option<&str>, display: &str) -> CodeableConcept {
    match code {
        Some(code) => CodeableConcept::coded(system, code, display),
        None => CodeableConcept {
            text: Some(display.to_owned()),
            ..CodeableConcept::default()
        },
    }
}

/// The current version of a record, as the chart's Bundle gives it (FHIR JSON), which must be
/// a `resource_type`.
pub(crate) fn current(json: &str, resource_type: ResourceType) -> Result<Resource, ApiError> {
    let resource = resource_of(json)?;
    if resource.resource_type() != resource_type {
        return Err(ApiError::Record(format!("not a {resource_type}")));
    }
    Ok(resource)
}

/// `resource` as its next version doing `action` (records are never edited in place).
pub(crate) fn next_version(mut resource: Resource, action: RecordAction) -> Resource {
    let version = resource.version().saturating_add(1);
    resource.set_version(version, action);
    resource
}

/// The resources of type `resource_type` in an opened chart (`{"bundle"}`): those that parse,
/// Bundle-only tags dropped.
pub(crate) fn chart_resources(
    chart: &Value,
    resource_type: &str,
) -> Result<Vec<Resource>, ApiError> {
    let entries = at(chart, "/bundle/entry")
        .as_array()
        .ok_or(ApiError::Chart)?;
    Ok(entries
        .iter()
        .map(|entry| at(entry, "/resource"))
        .filter(|r| at(r, "/resourceType") == resource_type)
        .filter_map(|r| resource_of(&r.to_string()).ok())
        .collect())
}

/// The opened chart (`{"patient", "bundle", ...}`).
pub(crate) fn chart_value(chart: &str) -> Result<Value, ApiError> {
    serde_json::from_str(chart).map_err(|_| ApiError::Chart)
}

#[cfg(test)]
mod tests;
