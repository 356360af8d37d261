//! Vital signs and growth (DESIGN.md §12): the clinic's vitals form as FHIR Observations
//! (US Core vital signs: LOINC codes, UCUM units, category `vital-signs`), entered in the units
//! the clinic uses and converted exactly; BMI computed; implausible values turned into
//! questions the member must confirm, impossible ones refused. The growth charts are
//! in the `growth` submodule.

use ehr_client::fhir::{
    CodeableConcept, Coding, Observation, ObservationComponent, ObservationStatus, Quantity,
    Reference, Resource,
};
use ehr_client::immunization::parse_date;
use serde_json::{Map, Value, json};

use super::super::ApiError;
use super::super::records::{checked, first_version};

mod bounds;
mod growth;

pub use bounds::{AgeBand, Vital};
pub use growth::growth_chart;

pub(crate) const LOINC: &str = "http://loinc.org";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// Exact unit conversions (the international yard and pound agreement of 1959; the Fahrenheit
/// scale's definition).
pub const KG_PER_LB: f64 = 0.453_592_37;
/// Centimetres per inch.
pub const CM_PER_IN: f64 = 2.54;

/// °F to °C, exactly.
pub fn fahrenheit_to_celsius(f: f64) -> f64 {
    (f - 32.0) * 5.0 / 9.0
}

/// `value` rounded to `step` (0.01, 0.1, 1): kilograms to 10 g, centimetres and degrees to a
/// tenth, counts to a whole number: the precision the instruments give.
pub fn round_to(value: f64, step: f64) -> f64 {
    let scaled = (value / step).round() * step;
    // Printing 0.1 steps of f64 exactly ("24.950000000000003" reads badly in a record).
    let decimals = (-step.log10()).round().max(0.0) as i32;
    let factor = 10f64.powi(decimals);
    (scaled * factor).round() / factor
}

/// Body-mass index (kg/m²) of a weight and a height in centimetres, to a tenth.
pub fn bmi(kg: f64, cm: f64) -> f64 {
    let m = cm / 100.0;
    round_to(kg / (m * m), 0.1)
}

/// What one number of the form becomes: its vital, the value in the stored unit, and how the
/// member entered it (for the question text).
struct Entry {
    vital: Vital,
    value: f64,
    entered: Option<String>,
}

/// A field of the form as text (numbers are accepted too), trimmed; empty when absent.
fn text(form: &Map<String, Value>, key: &str) -> String {
    match form.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A measurement: none when empty; refused when not a number, negative or zero (impossible
/// for every vital sign the form takes).
fn number(
    form: &Map<String, Value>,
    key: &str,
    name: &'static str,
) -> Result<Option<f64>, ApiError> {
    let raw = text(form, key);
    if raw.is_empty() {
        return Ok(None);
    }
    // A decimal comma is how many clinics write "70,5".
    let value: f64 = raw
        .replacen(',', ".", 1)
        .parse()
        .map_err(|_| ApiError::Field(name, "must be a number"))?;
    if !value.is_finite() {
        return Err(ApiError::Field(name, "must be a number"));
    }
    if value < 0.0 {
        return Err(ApiError::Field(name, "cannot be negative"));
    }
    if value == 0.0 {
        return Err(ApiError::Field(name, "cannot be zero"));
    }
    Ok(Some(value))
}

/// The form's unit for `key`: the first of `units` when absent.
fn unit<'a>(
    form: &Map<String, Value>,
    key: &str,
    units: &[&'a str],
    name: &'static str,
) -> Result<&'a str, ApiError> {
    let given = text(form, key).replace('°', "");
    if given.is_empty() {
        return units
            .first()
            .copied()
            .ok_or(ApiError::Field(name, "is unknown"));
    }
    units
        .iter()
        .find(|u| u.eq_ignore_ascii_case(&given))
        .copied()
        .ok_or(ApiError::Field(name, "is not one the form offers"))
}

/// Weight, length/height, head circumference and temperature in the stored units.
fn body_entries(form: &Map<String, Value>) -> Result<Vec<Entry>, ApiError> {
    let mut entries = Vec::new();
    if let Some(w) = number(form, "weight", "weight")? {
        let lb = unit(form, "weightUnit", &["kg", "lb"], "weight unit")? == "lb";
        entries.push(Entry {
            vital: Vital::Weight,
            value: round_to(if lb { w * KG_PER_LB } else { w }, 0.01),
            entered: lb.then(|| format!("{w} lb")),
        });
    }
    for (key, unit_key, vital, name) in [
        ("height", "heightUnit", Vital::Height, "height or length"),
        ("head", "headUnit", Vital::Head, "head circumference"),
    ] {
        if let Some(v) = number(form, key, name)? {
            let inches = unit(form, unit_key, &["cm", "in"], "length unit")? == "in";
            entries.push(Entry {
                vital,
                value: round_to(if inches { v * CM_PER_IN } else { v }, 0.1),
                entered: inches.then(|| format!("{v} in")),
            });
        }
    }
    if let Some(t) = number(form, "temperature", "temperature")? {
        let f = unit(form, "temperatureUnit", &["C", "F"], "temperature unit")? == "F";
        entries.push(Entry {
            vital: Vital::Temperature,
            value: round_to(if f { fahrenheit_to_celsius(t) } else { t }, 0.1),
            entered: f.then(|| format!("{t} °F")),
        });
    }
    Ok(entries)
}

/// Heart rate, respiratory rate, SpO2, systolic and diastolic pressure, as whole numbers.
fn sign_entries(form: &Map<String, Value>) -> Result<Vec<Entry>, ApiError> {
    let mut entries = Vec::new();
    for (key, vital, name) in [
        ("heartRate", Vital::HeartRate, "heart rate"),
        (
            "respiratoryRate",
            Vital::RespiratoryRate,
            "respiratory rate",
        ),
        ("spo2", Vital::Spo2, "oxygen saturation"),
        ("systolic", Vital::Systolic, "systolic pressure"),
        ("diastolic", Vital::Diastolic, "diastolic pressure"),
    ] {
        if let Some(v) = number(form, key, name)? {
            entries.push(Entry {
                vital,
                value: round_to(v, 1.0),
                entered: None,
            });
        }
    }
    let value = |vital| entries.iter().find(|e| e.vital == vital).map(|e| e.value);
    if value(Vital::Spo2).is_some_and(|s| s > 100.0) {
        return Err(ApiError::Field(
            "oxygen saturation",
            "cannot be above 100 %",
        ));
    }
    match (value(Vital::Systolic), value(Vital::Diastolic)) {
        (Some(s), Some(d)) if s <= d => Err(ApiError::Field(
            "systolic pressure",
            "must be higher than the diastolic pressure",
        )),
        (Some(_), None) | (None, Some(_)) => Err(ApiError::Field(
            "blood pressure",
            "needs both the systolic and the diastolic value",
        )),
        _ => Ok(entries),
    }
}

/// Where and when the observations belong.
struct Context {
    patient: Reference,
    effective: String,
    encounter: Option<Reference>,
}

fn coded(code: &str, display: &str, text: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding::new(LOINC, code, display)],
        text: Some(text.to_owned()),
    }
}

fn observation(context: &Context, code: CodeableConcept) -> Observation {
    Observation {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: ObservationStatus::Final,
        category: vec![CodeableConcept::coded(
            CATEGORY,
            "vital-signs",
            "Vital Signs",
        )],
        code,
        subject: Some(context.patient.clone()),
        encounter: context.encounter.clone(),
        effective_date_time: Some(context.effective.clone()),
        ..Observation::default()
    }
}

/// The Observation of one entry (blood pressure is the panel, built apart).
fn single(context: &Context, entry: &Entry, band: Option<AgeBand>) -> Observation {
    let mut resource = observation(context, entry.vital.code(band));
    resource.value_quantity = Some(entry.vital.quantity(entry.value));
    resource
}

/// Blood pressure: the US Core panel 85354-9 with systolic 8480-6 and diastolic 8462-4.
fn blood_pressure(context: &Context, systolic: f64, diastolic: f64) -> Observation {
    let component = |code, display, value| ObservationComponent {
        code: coded(code, display, display),
        value_quantity: Some(Quantity::ucum(value, "mmHg", "mm[Hg]")),
        ..ObservationComponent::default()
    };
    let mut resource = observation(
        context,
        coded(
            "85354-9",
            "Blood pressure panel with all children optional",
            "Blood pressure",
        ),
    );
    resource.component = vec![
        component("8480-6", "Systolic blood pressure", systolic),
        component("8462-4", "Diastolic blood pressure", diastolic),
    ];
    resource
}

/// BMI from the weight and height Observations just built (`derivedFrom` names them).
fn bmi_observation(
    context: &Context,
    weight: &Observation,
    height: &Observation,
) -> Option<Observation> {
    let kg = weight.value_quantity.as_ref()?.value?;
    let cm = height.value_quantity.as_ref()?.value?;
    let mut resource = observation(context, Vital::Bmi.code(None));
    resource.value_quantity = Some(Vital::Bmi.quantity(bmi(kg, cm)));
    resource.derived_from = [weight, height]
        .iter()
        .filter_map(|o| o.id.as_deref())
        .map(|id| Reference::to("Observation", id))
        .collect();
    Some(resource)
}

/// The patient's age band at `effective` from the form's `birthDate` (none when either is
/// missing: the widest bounds then apply).
fn age_band(form: &Map<String, Value>, effective: &str) -> Option<AgeBand> {
    let birth = parse_date(&text(form, "birthDate"))?;
    let at = parse_date(effective)?;
    Some(AgeBand::of_days((at - birth).whole_days() as f64))
}

/// The vitals form (`{"weight", "weightUnit": "kg"|"lb", "height", "heightUnit": "cm"|"in",
/// "head", "headUnit", "temperature", "temperatureUnit": "C"|"F", "heartRate",
/// "respiratoryRate", "systolic", "diastolic", "spo2", "encounter"?, "birthDate"?}`, values as
/// entered) as Observations about Patient `patient_id` measured at `effective` (FHIR dateTime):
/// `{"resources": [Observation...], "questions": [text...]}`. A question names a value outside
/// the `bounds` submodule for the age; the member must confirm it before saving. Impossible values are
/// errors.
pub fn vital_signs(form: &str, patient_id: &str, effective: &str) -> Result<String, ApiError> {
    let form: Map<String, Value> = serde_json::from_str(form)
        .map_err(|_| ApiError::Field("vitals form", "is not a JSON object"))?;
    let patient_id = patient_id.trim();
    if patient_id.is_empty() {
        return Err(ApiError::Field("patient", "is required"));
    }
    let effective = effective.trim();
    if parse_date(effective).is_none() {
        return Err(ApiError::Field(
            "time of measurement",
            "must be a date and time",
        ));
    }
    let encounter = text(&form, "encounter");
    let context = Context {
        patient: Reference::to("Patient", patient_id),
        effective: effective.to_owned(),
        encounter: (!encounter.is_empty()).then(|| Reference::to("Encounter", &encounter)),
    };
    let band = age_band(&form, effective);
    let mut entries = body_entries(&form)?;
    entries.extend(sign_entries(&form)?);
    if entries.is_empty() {
        return Err(ApiError::Field(
            "vitals form",
            "is empty: enter at least one measurement",
        ));
    }
    let mut questions: Vec<String> = entries
        .iter()
        .filter_map(|e| bounds::question(e.vital, e.value, e.entered.as_deref(), band))
        .collect();
    let find = |vital| entries.iter().find(|e| e.vital == vital);
    let mut resources: Vec<Observation> = entries
        .iter()
        .filter(|e| !matches!(e.vital, Vital::Systolic | Vital::Diastolic))
        .map(|e| single(&context, e, band))
        .collect();
    if let (Some(s), Some(d)) = (find(Vital::Systolic), find(Vital::Diastolic)) {
        resources.push(blood_pressure(&context, s.value, d.value));
    }
    let body = |code: &str| {
        resources
            .iter()
            .find(|o| o.code.has_code(Some(LOINC), code))
    };
    let height = body("8302-2").or_else(|| body("8306-3"));
    if let Some(bmi) = body("29463-7")
        .zip(height)
        .and_then(|(w, h)| bmi_observation(&context, w, h))
    {
        let value = bmi
            .value_quantity
            .as_ref()
            .and_then(|q| q.value)
            .unwrap_or_default();
        questions.extend(bounds::question(Vital::Bmi, value, None, band));
        resources.push(bmi);
    }
    let resources = resources
        .into_iter()
        .map(|o| {
            let json = checked(Resource::Observation(o))?;
            serde_json::from_str(&json).map_err(|_| ApiError::Record("not JSON".to_owned()))
        })
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(json!({ "resources": resources, "questions": questions }).to_string())
}

#[cfg(test)]
mod tests;
