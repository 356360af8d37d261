//! The exports of [`crate::api::clinic::notes`]: encounter notes for the clinic app.

use wasm_bindgen::prelude::*;

use crate::api::clinic::notes;

/// The built-in note templates (JSON).
#[wasm_bindgen(js_name = noteTemplates)]
pub fn note_templates() -> String {
    notes::templates()
}

/// The dot-phrases and what each becomes (JSON).
#[wasm_bindgen(js_name = dotPhrases)]
pub fn dot_phrases() -> String {
    notes::dot_phrases()
}

/// `text` with its dot-phrases filled in from `chart` (as opened) at `today` (YYYY-MM-DD), and
/// the practice's own (`practice`: the session's `practicePhrases`, `[]` for none).
#[wasm_bindgen(js_name = expandDotPhrases)]
pub fn expand_dot_phrases(text: &str, chart: &str, today: &str, practice: &str) -> String {
    notes::expand(text, chart, today, practice)
}

/// The resources of a signed note (`form` JSON) in `chart` at `now`: a JSON array of FHIR
/// JSON texts to publish in order (a new visit's Encounter first).
#[wasm_bindgen(js_name = encounterNote)]
pub fn encounter_note(chart: &str, form: &str, now: &str) -> Result<String, JsError> {
    Ok(notes::note(chart, form, now)?)
}

/// An addendum (FHIR JSON) to the signed note `noteId` of `chart`.
#[wasm_bindgen(js_name = noteAddendum)]
pub fn note_addendum(chart: &str, note_id: &str, text: &str, now: &str) -> Result<String, JsError> {
    Ok(notes::addendum(chart, note_id, text, now)?)
}

/// The patient's details (a form, JSON) as the next version of her Patient record in `chart`,
/// or her first (FHIR JSON).
#[wasm_bindgen(js_name = patientDetails)]
pub fn patient_details(chart: &str, form: &str) -> Result<String, JsError> {
    Ok(crate::api::clinic::details::details(chart, form)?)
}
