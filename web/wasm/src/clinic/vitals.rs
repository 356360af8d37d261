//! The exports of [`crate::api::clinic::vitals`].

use wasm_bindgen::prelude::*;

use crate::api::clinic::vitals;

/// The vitals form (JSON, values as entered with their units) as FHIR Observations about
/// Patient `patient_id` measured at `effective`: `{"resources": [...], "questions": [...]}`;
/// an impossible value is an error saying which field.
#[wasm_bindgen(js_name = vitalSigns)]
pub fn vital_signs(form: &str, patient_id: &str, effective: &str) -> Result<String, JsError> {
    Ok(vitals::vital_signs(form, patient_id, effective)?)
}

/// Growth charts of a child from the LMS tables (growth.json) and her records (a Bundle, the
/// opened chart or a list of Observations): curves per percentile and her points with
/// percentile and z-score.
#[wasm_bindgen(js_name = growthChart)]
pub fn growth_chart(
    tables: &str,
    sex: &str,
    birth_date: &str,
    observations: &str,
) -> Result<String, JsError> {
    Ok(vitals::growth_chart(tables, sex, birth_date, observations)?)
}
