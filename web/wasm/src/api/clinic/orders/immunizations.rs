//! Immunizations given at the practice (kind 2116): CVX-coded, with lot number, site (HL7 v3
//! ActSite) and route (HL7 v3 RouteOfAdministration), status completed.

use ehr_client::fhir::{CodeableConcept, Immunization, ImmunizationStatus, Reference, Resource};
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::super::super::records::{checked, first_version, patient_id};
use super::Form;
use super::systems::{ACT_SITE, CVX, ROUTE};

/// Sites: (code, HL7 display).
pub const SITES: &[(&str, &str)] = &[
    ("LA", "left arm"),
    ("RA", "right arm"),
    ("LT", "left thigh"),
    ("RT", "right thigh"),
];

/// Routes: (code, HL7 display, the short form clinicians write).
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("IM", "Injection, intramuscular", "IM"),
    ("SQ", "Injection, subcutaneous", "SC"),
    ("PO", "Swallow, oral", "PO"),
    ("NASINHLC", "Inhalation, nasal", "IN"),
];

/// The form's site and route choices: `{"sites": [{value, label}], "routes": [...]}`.
pub fn options() -> Value {
    json!({
        "sites": SITES.iter().map(|(v, d)| json!({ "value": v, "label": capital(d) })).collect::<Vec<_>>(),
        "routes": ROUTES.iter().map(|(v, d, short)| json!({ "value": v, "label": format!("{short} — {}", d.to_lowercase()) })).collect::<Vec<_>>(),
    })
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn coded(
    value: Option<String>,
    name: &'static str,
    system: &str,
    table: &[(&str, &str)],
) -> Result<Option<CodeableConcept>, ApiError> {
    value
        .map(|v| {
            table
                .iter()
                .find(|(code, _)| *code == v)
                .map(|(code, display)| CodeableConcept::coded(system, code, display))
                .ok_or(ApiError::Field(name, "is not one of the form's choices"))
        })
        .transpose()
}

/// An immunization given: `{"cvx", "display", "date", "lot"?, "site"?, "route"?,
/// "recorded"}`, status completed, primary source (the practice gave it).
pub fn immunization(chart: &str, form: &str) -> Result<String, ApiError> {
    let form = Form::parse(form)?;
    let cvx = form.required("cvx", "vaccine (CVX)")?;
    if cvx.len() > 3 || !cvx.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::Field(
            "vaccine (CVX)",
            "must be a CVX code from the list",
        ));
    }
    let display = form.required("display", "vaccine")?;
    let routes: Vec<(&str, &str)> = ROUTES.iter().map(|(c, d, _)| (*c, *d)).collect();
    let resource = Resource::Immunization(Immunization {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: ImmunizationStatus::Completed,
        vaccine_code: CodeableConcept::coded(CVX, &cvx, &display),
        patient: Reference::to("Patient", &patient_id(chart)?),
        occurrence_date_time: form.date("date", "date given", false)?,
        recorded: form.date("recorded", "date recorded", true)?,
        primary_source: Some(true),
        lot_number: form.text("lot", "lot number", true)?,
        site: coded(form.text("site", "site", true)?, "site", ACT_SITE, SITES)?,
        route: coded(form.text("route", "route", true)?, "route", ROUTE, &routes)?,
        ..Immunization::default()
    });
    checked(resource)
}
