//! The exports of [`crate::api::clinic::orders`]: problems, prescriptions with the allergy
//! alert, allergies, immunizations with the forecast, orders and their results. FHIR JSON out;
//! every refusal an Error naming the field or rule, never a value.

use wasm_bindgen::prelude::*;

use crate::api::clinic::orders as api;

/// The choices of the forms' select lists (JSON).
#[wasm_bindgen(js_name = clinicFormOptions)]
pub fn clinic_form_options() -> String {
    api::form_options()
}

/// A new problem (Condition, FHIR JSON) from the form (JSON).
#[wasm_bindgen(js_name = clinicProblem)]
pub fn clinic_problem(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(api::problem(chart, form)?)
}

/// The next version of a problem: `action` resolve (on `date`), reactivate or
/// entered-in-error.
#[wasm_bindgen(js_name = clinicProblemChange)]
pub fn clinic_problem_change(condition: &str, action: &str, date: &str) -> Result<String, JsError> {
    Ok(api::problem_change(condition, action, date)?)
}

/// A prescription (MedicationRequest, kind 2120) from the form (JSON).
#[wasm_bindgen(js_name = clinicPrescription)]
pub fn clinic_prescription(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(api::prescription(chart, form)?)
}

/// The next version of a medication, stopped for `reason`.
#[wasm_bindgen(js_name = clinicDiscontinue)]
pub fn clinic_discontinue(medication: &str, reason: &str) -> Result<String, JsError> {
    Ok(api::discontinue(medication, reason)?)
}

/// The allergy alerts of prescribing a medication of `ingredients` (a JSON array of generic
/// names) to the patient of `chart`: `[{allergyId, substance, ingredient, reason, severity,
/// text}]`.
#[wasm_bindgen(js_name = allergyAlerts)]
pub fn allergy_alerts(chart: &str, ingredients: &str) -> Result<String, JsError> {
    Ok(api::allergy_alerts(chart, ingredients)?)
}

/// A new allergy (AllergyIntolerance) from the form (JSON).
#[wasm_bindgen(js_name = clinicAllergy)]
pub fn clinic_allergy(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(api::allergy(chart, form)?)
}

/// The next version of an allergy, entered in error.
#[wasm_bindgen(js_name = clinicAllergyEnteredInError)]
pub fn clinic_allergy_entered_in_error(allergy: &str) -> Result<String, JsError> {
    Ok(api::allergy_entered_in_error(allergy)?)
}

/// An immunization given (Immunization) from the form (JSON).
#[wasm_bindgen(js_name = clinicImmunization)]
pub fn clinic_immunization(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(api::immunization(chart, form)?)
}

/// The immunization forecast of the patient of `chart` on `today` (`YYYY-MM-DD`):
/// `{"birthDate", "groups": [...]}`.
#[wasm_bindgen(js_name = immunizationForecast)]
pub fn immunization_forecast(chart: &str, today: &str) -> Result<String, JsError> {
    Ok(api::immunization_forecast(chart, today)?)
}

/// A lab or imaging order (ServiceRequest) from the form (JSON).
#[wasm_bindgen(js_name = clinicOrder)]
pub fn clinic_order(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(api::lab_order(chart, form)?)
}

/// The next version of an open order, revoked.
#[wasm_bindgen(js_name = clinicOrderCancel)]
pub fn clinic_order_cancel(order: &str, reason: &str) -> Result<String, JsError> {
    Ok(api::order_cancel(order, reason)?)
}

/// The analytes of `panel` with the reference ranges that apply to the patient on `date`.
#[wasm_bindgen(js_name = clinicResultForm)]
pub fn clinic_result_form(chart: &str, panel: &str, date: &str) -> Result<String, JsError> {
    Ok(api::result_form(chart, panel, date)?)
}

/// The abnormal flag of `value` against a row of the result form: `{code, display}` or null.
#[wasm_bindgen(js_name = clinicResultFlag)]
pub fn clinic_result_flag(row: &str, value: &str) -> Result<String, JsError> {
    Ok(api::lab_interpretation(row, value)?)
}

/// The results of an open order: the Observations, the DiagnosticReport and the order
/// completed, to publish in that order (a JSON array of resources).
#[wasm_bindgen(js_name = clinicResults)]
pub fn clinic_results(
    chart: &str,
    order: &str,
    panel: &str,
    values: &str,
    date: &str,
    conclusion: &str,
) -> Result<String, JsError> {
    Ok(api::lab_result(
        chart, order, panel, values, date, conclusion,
    )?)
}
