//! Allergies (kind 2115, AllergyIntolerance): substance, reaction, severity and criticality;
//! entered-in-error as the next version; and the allergy alert a prescription must pass
//! (`ehr_client::allergy::medication_alerts`).

use ehr_client::allergy::{AlertReason, AlertSeverity, DrugClass, medication_alerts};
use ehr_client::fhir::{
    AllergyIntolerance, AllergyIntoleranceCategory, AllergyIntoleranceCriticality,
    AllergyIntoleranceSeverity, AllergyReaction, CodeableConcept, RecordAction, Reference,
    Resource, ResourceType,
};
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::super::super::records::{checked, first_version, patient_id, text_concept};
use super::systems::RXNORM;
use super::{Form, chart_resources, chart_value, current, next_version, picked};

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

/// Severities, criticalities and categories the form offers: `{value, label}` lists.
pub fn options() -> Value {
    let list = |items: &[(&str, &str)]| {
        items
            .iter()
            .map(|(value, label)| json!({ "value": value, "label": label }))
            .collect::<Vec<_>>()
    };
    json!({
        "severities": list(&[("mild", "Mild"), ("moderate", "Moderate"), ("severe", "Severe")]),
        "criticalities": list(&[("low", "Low"), ("high", "High"), ("unable-to-assess", "Unable to assess")]),
        "categories": list(&[("medication", "Medication"), ("food", "Food"), ("environment", "Environment"), ("biologic", "Biologic")]),
    })
}

fn one_of<T: Copy>(
    value: Option<String>,
    name: &'static str,
    all: &[T],
    code: impl Fn(T) -> &'static str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            all.iter()
                .copied()
                .find(|item| code(*item) == v)
                .ok_or(ApiError::Field(name, "is not one of the form's choices"))
        })
        .transpose()
}

/// A new allergy: `{"substance", "rxcui"?, "category"?, "reaction"?, "severity"?,
/// "criticality"?, "recorded"}`. `rxcui` codes the substance in RxNorm (a medication
/// ingredient); otherwise the substance is free text. A severity belongs to a reaction, so
/// it needs one. Active and confirmed.
pub fn allergy(chart: &str, form: &str) -> Result<String, ApiError> {
    use AllergyIntoleranceCriticality as C;
    use AllergyIntoleranceSeverity as S;
    let form = Form::parse(form)?;
    let substance = form.required("substance", "substance")?;
    let rxcui = form.text("rxcui", "RxNorm code", true)?;
    let category = one_of(
        form.text("category", "category", true)?,
        "category",
        &[
            AllergyIntoleranceCategory::Medication,
            AllergyIntoleranceCategory::Food,
            AllergyIntoleranceCategory::Environment,
            AllergyIntoleranceCategory::Biologic,
        ],
        AllergyIntoleranceCategory::code,
    )?;
    let severity = one_of(
        form.text("severity", "severity", true)?,
        "severity",
        &[S::Mild, S::Moderate, S::Severe],
        S::code,
    )?;
    let criticality = one_of(
        form.text("criticality", "criticality", true)?,
        "criticality",
        &[C::Low, C::High, C::UnableToAssess],
        C::code,
    )?;
    let reaction = form.text("reaction", "reaction", true)?;
    if severity.is_some() && reaction.is_none() {
        return Err(ApiError::Field("reaction", "is required with a severity"));
    }
    let resource = Resource::AllergyIntolerance(AllergyIntolerance {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        clinical_status: Some(CodeableConcept::coded(CLINICAL, "active", "Active")),
        verification_status: Some(CodeableConcept::coded(
            VERIFICATION,
            "confirmed",
            "Confirmed",
        )),
        category: category.into_iter().collect(),
        criticality,
        code: Some(picked(RXNORM, rxcui.as_deref(), &substance)),
        patient: Reference::to("Patient", &patient_id(chart)?),
        recorded_date: form.date("recorded", "date recorded", false)?,
        reaction: reaction
            .map(|text| AllergyReaction {
                manifestation: vec![text_concept(text)],
                severity,
                ..AllergyReaction::default()
            })
            .into_iter()
            .collect(),
        ..AllergyIntolerance::default()
    });
    checked(resource)
}

/// `allergy` (its current version) entered in error: verification status entered-in-error,
/// no clinical status (FHIR's rule for that status), hidden from the chart. The next version.
pub fn allergy_entered_in_error(allergy: &str) -> Result<String, ApiError> {
    let mut resource = current(allergy, ResourceType::AllergyIntolerance)?;
    if let Resource::AllergyIntolerance(a) = &mut resource {
        a.clinical_status = None;
        a.verification_status = Some(CodeableConcept::coded(
            VERIFICATION,
            "entered-in-error",
            "Entered in error",
        ));
    }
    checked(next_version(resource, RecordAction::Deletion))
}

fn class_name(class: DrugClass) -> &'static str {
    match class {
        DrugClass::Penicillins => "penicillins",
        DrugClass::Cephalosporins => "cephalosporins",
        DrugClass::Carbapenems => "carbapenems",
        DrugClass::SulfonamideAntibiotics => "sulfonamide antibiotics",
        DrugClass::Macrolides => "macrolides",
        DrugClass::Tetracyclines => "tetracyclines",
        DrugClass::Fluoroquinolones => "fluoroquinolones",
        DrugClass::Nsaids => "NSAIDs",
        DrugClass::Opioids => "opioids",
        DrugClass::AceInhibitors => "ACE inhibitors",
        DrugClass::Statins => "statins",
        DrugClass::AromaticAnticonvulsants => "aromatic anticonvulsants",
    }
}

/// The alert in words: the allergy, the reason and the severity.
fn alert_text(
    substance: &str,
    ingredient: &str,
    reason: AlertReason,
    severity: AlertSeverity,
) -> String {
    let why = match reason {
        AlertReason::SameIngredient => "same drug".to_owned(),
        AlertReason::SameClass(class) => format!("same class ({})", class_name(class)),
        AlertReason::CrossReactive(class) => {
            format!("cross-reactive ({} with this allergy)", class_name(class))
        }
    };
    let severity = match severity {
        AlertSeverity::High => "high",
        AlertSeverity::Low => "low",
        AlertSeverity::Unassessed => "not assessed",
    };
    format!("Allergy to {substance}: {ingredient} — {why}; severity {severity}.")
}

/// The allergy alerts of prescribing a medication of `ingredients` (a JSON array of generic
/// names) to the patient of `chart`: her AllergyIntolerance records through
/// `ehr_client::allergy::medication_alerts`. `[{allergyId, substance, ingredient, reason,
/// severity, text}]`, empty when nothing alerts.
pub fn allergy_alerts(chart: &str, ingredients: &str) -> Result<String, ApiError> {
    let ingredients: Vec<String> = serde_json::from_str(ingredients)
        .map_err(|_| ApiError::Field("ingredients", "must be a list of names"))?;
    let allergies: Vec<AllergyIntolerance> =
        chart_resources(&chart_value(chart)?, "AllergyIntolerance")?
            .into_iter()
            .filter_map(|r| match r {
                Resource::AllergyIntolerance(a) => Some(a),
                _ => None,
            })
            .collect();
    let alerts: Vec<Value> = medication_alerts(&allergies, &ingredients)
        .into_iter()
        .map(|alert| {
            let text = alert_text(
                &alert.substance,
                &alert.ingredient,
                alert.reason,
                alert.severity,
            );
            let mut value = serde_json::to_value(&alert).unwrap_or(Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("text".to_owned(), Value::String(text));
            }
            value
        })
        .collect();
    Ok(Value::Array(alerts).to_string())
}
