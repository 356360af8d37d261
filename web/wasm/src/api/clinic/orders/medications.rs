//! Prescriptions (kind 2120: MedicationRequest, intent order, with a dispenseRequest) from the
//! RxNorm picker or in free text, with dose, route, frequency, duration and quantity; and
//! discontinuing one with a reason (its next version, status stopped).

use ehr_client::fhir::{
    CodeableConcept, DispenseRequest, Dosage, DoseAndRate, MedicationRequest,
    MedicationRequestStatus, Quantity, RecordAction, Reference, RequestIntent, Resource,
    ResourceType, Timing, TimingRepeat,
};
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::super::super::records::{checked, first_version, patient_id, text_concept};
use super::systems::{RXNORM, SNOMED};
use super::{Form, current, next_version, picked};

/// Routes: (form value, SNOMED CT code, display, how the instructions say it).
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("oral", "26643006", "Oral route", "by mouth"),
    (
        "sublingual",
        "37839007",
        "Sublingual route",
        "under the tongue",
    ),
    ("topical", "6064005", "Topical route", "on the skin"),
    (
        "transdermal",
        "45890007",
        "Transdermal route",
        "as a skin patch",
    ),
    (
        "inhalation",
        "447694001",
        "Respiratory tract route",
        "inhaled",
    ),
    ("nasal", "46713006", "Nasal route", "in the nose"),
    ("ophthalmic", "54485002", "Ophthalmic route", "in the eye"),
    ("otic", "10547007", "Otic route", "in the ear"),
    (
        "intramuscular",
        "78421000",
        "Intramuscular route",
        "intramuscularly",
    ),
    (
        "subcutaneous",
        "34206005",
        "Subcutaneous route",
        "subcutaneously",
    ),
    (
        "intravenous",
        "47625008",
        "Intravenous route",
        "intravenously",
    ),
    ("rectal", "37161004", "Rectal route", "rectally"),
    ("vaginal", "16857009", "Vaginal route", "vaginally"),
];

/// A frequency of the form: how often, as FHIR Timing and in words.
#[derive(Debug)]
pub struct Frequency {
    /// The form's value.
    pub value: &'static str,
    /// Times per period.
    pub times: u32,
    /// The period.
    pub period: f64,
    /// The period's unit (UCUM: h, d, wk).
    pub unit: &'static str,
    /// How the instructions say it.
    pub text: &'static str,
    /// A `when` code (HS: at bedtime).
    pub when: Option<&'static str>,
}

const fn every(
    value: &'static str,
    times: u32,
    period: f64,
    unit: &'static str,
    text: &'static str,
) -> Frequency {
    Frequency {
        value,
        times,
        period,
        unit,
        text,
        when: None,
    }
}

/// The frequencies the form offers.
pub const FREQUENCIES: &[Frequency] = &[
    every("QD", 1, 1.0, "d", "once daily"),
    every("BID", 2, 1.0, "d", "twice daily"),
    every("TID", 3, 1.0, "d", "three times daily"),
    every("QID", 4, 1.0, "d", "four times daily"),
    Frequency {
        when: Some("HS"),
        ..every("QHS", 1, 1.0, "d", "at bedtime")
    },
    every("Q4H", 1, 4.0, "h", "every 4 hours"),
    every("Q6H", 1, 6.0, "h", "every 6 hours"),
    every("Q8H", 1, 8.0, "h", "every 8 hours"),
    every("Q12H", 1, 12.0, "h", "every 12 hours"),
    every("QWK", 1, 1.0, "wk", "once weekly"),
];

/// Dose units: (form value, UCUM code when the unit is one, plural).
pub const DOSE_UNITS: &[(&str, Option<&str>, &str)] = &[
    ("tablet", None, "tablets"),
    ("capsule", None, "capsules"),
    ("mg", Some("mg"), "mg"),
    ("mL", Some("mL"), "mL"),
    ("g", Some("g"), "g"),
    ("mcg", Some("ug"), "mcg"),
    ("unit", Some("[iU]"), "units"),
    ("puff", None, "puffs"),
    ("drop", None, "drops"),
    ("spray", None, "sprays"),
    ("patch", None, "patches"),
    ("application", None, "applications"),
];

/// The longest course a prescription takes, in days.
const MAX_DAYS: f64 = 366.0;

/// The choices of the prescribing form: `{"routes": [{value, label}], "frequencies": [...],
/// "doseUnits": [...]}`.
pub fn options() -> Value {
    json!({
        "routes": ROUTES.iter().map(|(v, _, d, _)| json!({ "value": v, "label": d.trim_end_matches(" route") })).collect::<Vec<_>>(),
        "frequencies": FREQUENCIES.iter().map(|f| json!({ "value": f.value, "label": f.text })).collect::<Vec<_>>(),
        "doseUnits": DOSE_UNITS.iter().map(|u| json!({ "value": u.0, "label": u.0 })).collect::<Vec<_>>(),
    })
}

fn quantity(value: f64, unit: &str) -> Quantity {
    match DOSE_UNITS.iter().find(|u| u.0 == unit).and_then(|u| u.1) {
        Some(code) => Quantity::ucum(value, unit, code),
        None => Quantity {
            value: Some(value),
            unit: Some(unit.to_owned()),
            ..Quantity::default()
        },
    }
}

fn number_text(value: f64) -> String {
    // Whole numbers read without a decimal point; others as given.
    if value.fract() == 0.0 && value < 1e9 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// The dosage of the form: structured fields and the instructions they read as.
fn dosage(form: &Form) -> Result<(Dosage, f64), ApiError> {
    let dose = form
        .number("dose", "dose")?
        .ok_or(ApiError::Field("dose", "is required"))?;
    let unit = form.required("doseUnit", "dose unit")?;
    let unit_entry = DOSE_UNITS
        .iter()
        .find(|u| u.0 == unit)
        .ok_or(ApiError::Field(
            "dose unit",
            "is not one of the form's units",
        ))?;
    let route_key = form.required("route", "route")?;
    let route = ROUTES
        .iter()
        .find(|r| r.0 == route_key)
        .ok_or(ApiError::Field("route", "is not one of the form's routes"))?;
    let frequency_key = form.required("frequency", "frequency")?;
    let frequency = FREQUENCIES
        .iter()
        .find(|f| f.value == frequency_key)
        .ok_or(ApiError::Field(
            "frequency",
            "is not one of the form's frequencies",
        ))?;
    let days = form
        .number("days", "duration")?
        .ok_or(ApiError::Field("duration", "is required"))?;
    if days.fract() != 0.0 || days > MAX_DAYS {
        return Err(ApiError::Field(
            "duration",
            "must be whole days, at most a year",
        ));
    }
    let as_needed = form.flag("asNeeded");
    let unit_text = if dose == 1.0 {
        unit_entry.0
    } else {
        unit_entry.2
    };
    let mut text = format!(
        "{} {unit_text} {} {}{} for {} days",
        number_text(dose),
        route.3,
        frequency.text,
        if as_needed { " as needed" } else { "" },
        number_text(days),
    );
    if let Some(more) = form.text("instructions", "instructions", true)? {
        text = format!("{text}; {more}");
    }
    let dosage = Dosage {
        text: Some(text),
        timing: Some(Timing {
            repeat: Some(TimingRepeat {
                frequency: Some(frequency.times),
                period: Some(frequency.period),
                period_unit: Some(frequency.unit.to_owned()),
                when: frequency.when.map(str::to_owned).into_iter().collect(),
                ..TimingRepeat::default()
            }),
            ..Timing::default()
        }),
        as_needed_boolean: Some(as_needed),
        route: Some(CodeableConcept::coded(SNOMED, route.1, route.2)),
        dose_and_rate: vec![DoseAndRate {
            dose_quantity: Some(quantity(dose, unit_entry.0)),
            ..DoseAndRate::default()
        }],
        ..Dosage::default()
    };
    Ok((dosage, days))
}

/// A prescription: `{"rxcui"?, "display"?, "text"?, "dose", "doseUnit", "route", "frequency",
/// "asNeeded"?, "days", "quantity", "quantityUnit"?, "instructions"?, "authoredOn"}`. With
/// `rxcui` (the picker's choice) the medication is RxNorm-coded with `display`; without,
/// `text` names it in free text. Active, intent order, with a dispenseRequest (quantity and
/// expected supply duration): kind 2120.
pub fn prescription(chart: &str, form: &str) -> Result<String, ApiError> {
    let form = Form::parse(form)?;
    let rxcui = form.text("rxcui", "RxNorm code", true)?;
    if rxcui
        .as_deref()
        .is_some_and(|c| c.len() > 10 || !c.chars().all(|d| d.is_ascii_digit()))
    {
        return Err(ApiError::Field("RxNorm code", "must be digits"));
    }
    let name = match &rxcui {
        Some(_) => form.required("display", "medication")?,
        None => form.required("text", "medication")?,
    };
    let (dosage, days) = dosage(&form)?;
    let amount = form
        .number("quantity", "quantity")?
        .ok_or(ApiError::Field("quantity", "is required"))?;
    let unit = match form.text("quantityUnit", "quantity unit", true)? {
        Some(unit) => unit,
        None => form.required("doseUnit", "dose unit")?,
    };
    let resource = Resource::MedicationRequest(MedicationRequest {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: MedicationRequestStatus::Active,
        intent: RequestIntent::Order,
        medication_codeable_concept: Some(picked(RXNORM, rxcui.as_deref(), &name)),
        subject: Reference::to("Patient", &patient_id(chart)?),
        authored_on: form.date("authoredOn", "date", false)?,
        dosage_instruction: vec![dosage],
        dispense_request: Some(DispenseRequest {
            quantity: Some(quantity(amount, &unit)),
            expected_supply_duration: Some(Quantity::ucum(days, "days", "d")),
            number_of_repeats_allowed: Some(0),
            ..DispenseRequest::default()
        }),
        ..MedicationRequest::default()
    });
    checked(resource)
}

/// Discontinue `medication` (its current version from the chart) for `reason`: the next
/// version, status stopped, `statusReason` the reason in words.
pub fn discontinue(medication: &str, reason: &str) -> Result<String, ApiError> {
    let mut resource = current(medication, ResourceType::MedicationRequest)?;
    let Resource::MedicationRequest(m) = &mut resource else {
        return Err(ApiError::Record("not a MedicationRequest".to_owned()));
    };
    if !matches!(
        m.status,
        MedicationRequestStatus::Active | MedicationRequestStatus::OnHold
    ) {
        return Err(ApiError::Field("medication", "is not current"));
    }
    let reason = super::super::super::records::field(reason, "reason", false)?.unwrap_or_default();
    m.status = MedicationRequestStatus::Stopped;
    m.status_reason = Some(text_concept(reason));
    checked(next_version(resource, RecordAction::StatusUpdate))
}
