//! The patient's details (demographics, kind 2110, the office key domain): what the front desk
//! registers and keeps up to date. The first record is version 1; every change is the next
//! version of the same record (action `correction`: its content revised), never an edit.

use ehr_client::demo::new_id;
use ehr_client::fhir::{
    Address, AdministrativeGender, ContactPoint, HumanName, Identifier, Patient, RecordAction,
    Resource,
};
use serde::Deserialize;
use serde_json::Value;

use crate::api::ApiError;
use crate::api::records::{at, checked, field, first_version};

/// The details form; an empty field clears what it stands for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DetailsForm {
    given: String,
    family: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    identifier: String,
}

/// The patient's details from `form` (JSON) as the next version of her Patient record in
/// `chart` (as opened), or her first: FHIR JSON to sign and publish.
pub fn details(chart: &str, form: &str) -> Result<String, ApiError> {
    let form: DetailsForm =
        serde_json::from_str(form).map_err(|_| ApiError::Field("details", "are not a form"))?;
    let chart: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let current = at(&chart, "/bundle/entry")
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| at(entry, "/resource"))
        .find(|r| at(r, "/resourceType") == "Patient")
        .map(|r| Resource::from_json(&r.to_string()))
        .transpose()
        .map_err(|_| ApiError::Chart)?;
    let mut patient = match &current {
        Some(Resource::Patient(patient)) => patient.clone(),
        _ => Patient {
            id: Some(new_id()),
            meta: first_version(),
            ..Patient::default()
        },
    };
    let given = field(&form.given, "given name", false)?.unwrap_or_default();
    patient.name = vec![HumanName {
        use_: Some("official".to_owned()),
        family: field(&form.family, "family name", false)?,
        given: given.split_whitespace().map(str::to_owned).collect(),
        ..HumanName::default()
    }];
    patient.birth_date = field(&form.birth_date, "date of birth", true)?;
    patient.gender = match form.gender.as_str() {
        "" => None,
        "female" => Some(AdministrativeGender::Female),
        "male" => Some(AdministrativeGender::Male),
        "other" => Some(AdministrativeGender::Other),
        "unknown" => Some(AdministrativeGender::Unknown),
        _ => {
            return Err(ApiError::Field(
                "sex",
                "is not female, male, other or unknown",
            ));
        }
    };
    let contact = |system: &str, value: Option<String>| {
        value.map(|value| ContactPoint {
            system: Some(system.to_owned()),
            value: Some(value),
            ..ContactPoint::default()
        })
    };
    patient.telecom = [
        contact("phone", field(&form.phone, "phone", true)?),
        contact("email", field(&form.email, "email", true)?),
    ]
    .into_iter()
    .flatten()
    .collect();
    patient.address = field(&form.address, "address", true)?
        .map(|text| Address {
            text: Some(text),
            ..Address::default()
        })
        .into_iter()
        .collect();
    patient.identifier = field(&form.identifier, "identifier", true)?
        .map(|value| Identifier {
            value: Some(value),
            ..Identifier::default()
        })
        .into_iter()
        .collect();
    let mut resource = Resource::Patient(patient);
    if let Some(current) = &current {
        resource.set_version(current.version() + 1, RecordAction::Correction);
    }
    checked(resource)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

    use serde_json::json;

    use super::*;

    fn chart_with(resources: &[Resource]) -> String {
        let entries: Vec<Value> = resources
            .iter()
            .map(|r| json!({ "resource": serde_json::to_value(r).unwrap() }))
            .collect();
        json!({ "patient": "ab".repeat(32), "bundle": { "entry": entries } }).to_string()
    }

    fn form(phone: &str) -> String {
        json!({
            "given": "Ana María", "family": "Demo", "birthDate": "2019-01-25",
            "gender": "female", "phone": phone,
        })
        .to_string()
    }

    #[test]
    fn the_first_details_are_version_one_of_a_new_patient_record() {
        let json = details(&chart_with(&[]), &form("555-0100")).unwrap();
        let Resource::Patient(patient) = Resource::from_json(&json).unwrap() else {
            panic!("not a Patient")
        };
        assert_eq!(patient.name[0].given, ["Ana", "María"]);
        assert_eq!(patient.telecom[0].value.as_deref(), Some("555-0100"));
        assert_eq!(Resource::Patient(patient).version(), 1);
    }

    #[test]
    fn a_change_is_the_next_version_of_the_same_record() {
        let first =
            Resource::from_json(&details(&chart_with(&[]), &form("555-0100")).unwrap()).unwrap();
        let json = details(&chart_with(std::slice::from_ref(&first)), &form("555-0199")).unwrap();
        let second = Resource::from_json(&json).unwrap();
        assert_eq!(second.id(), first.id());
        assert_eq!(second.version(), 2);
        assert_eq!(second.action(), RecordAction::Correction);
    }

    #[test]
    fn a_missing_name_or_an_unknown_sex_is_refused() {
        let nameless = json!({ "given": "", "family": "Demo" }).to_string();
        assert!(details(&chart_with(&[]), &nameless).is_err());
        let odd = json!({ "given": "A", "family": "B", "gender": "x" }).to_string();
        assert!(details(&chart_with(&[]), &odd).is_err());
    }
}
