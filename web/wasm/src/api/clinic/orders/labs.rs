//! Lab and imaging orders (kind 2118, ServiceRequest, LOINC-coded from the panel list) and
//! their results: one Observation per analyte (kind 2113) with the panel's reference range
//! and the abnormal flag computed here, a DiagnosticReport (kind 2119) `basedOn` the order with
//! the Observations as its `result`, and the order's next version, completed. Cancelling an
//! order is its next version, revoked.

use ehr_client::fhir::{
    Annotation, CodeableConcept, DiagnosticReport, DiagnosticReportStatus, Observation,
    ObservationStatus, Quantity, RecordAction, Reference, ReferenceRange, RequestIntent,
    RequestStatus, Resource, ResourceType, ServiceRequest,
};
use ehr_client::immunization::parse_date;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::super::super::records::{checked, first_version, patient_id};
use super::systems::{INTERPRETATION, LOINC, SNOMED};
use super::{Form, chart_resources, chart_value, current, next_version};

const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const REPORT_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";

/// One sex- or age-specific range of an analyte in the panel list.
#[derive(Debug, Clone, Deserialize)]
struct SpecificRange {
    sex: Option<String>,
    min_age: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
}

/// An analyte of the panel list (`clinic/data/lab-panels.json`).
#[derive(Debug, Clone, Deserialize)]
struct Analyte {
    loinc: String,
    display: String,
    unit: Option<String>,
    low: Option<f64>,
    high: Option<f64>,
    #[serde(default)]
    ranges: Vec<SpecificRange>,
}

/// A panel of the list: a lab panel with analytes, or an imaging study without.
#[derive(Debug, Clone, Deserialize)]
struct Panel {
    loinc: String,
    display: String,
    kind: String,
    #[serde(default)]
    analytes: Vec<Analyte>,
}

fn panel_of(json: &str) -> Result<Panel, ApiError> {
    serde_json::from_str(json)
        .map_err(|_| ApiError::Field("test", "must be an entry of the panel list"))
}

fn is_loinc(code: &str) -> bool {
    code.split_once('-').is_some_and(|(body, check)| {
        (1..=7).contains(&body.len())
            && body.chars().all(|c| c.is_ascii_digit())
            && check.len() == 1
            && check.chars().all(|c| c.is_ascii_digit())
    })
}

/// An order: `{"loinc", "display", "kind": "lab" | "imaging", "authoredOn", "priority"?,
/// "note"?}`: active, intent order, LOINC-coded, categorised as a laboratory procedure or
/// imaging (SNOMED CT).
pub fn lab_order(chart: &str, form: &str) -> Result<String, ApiError> {
    let form = Form::parse(form)?;
    let loinc = form.required("loinc", "test (LOINC)")?;
    if !is_loinc(&loinc) {
        return Err(ApiError::Field(
            "test (LOINC)",
            "must be a LOINC code from the list",
        ));
    }
    let display = form.required("display", "test")?;
    let category = match form.required("kind", "kind of order")?.as_str() {
        "lab" => CodeableConcept::coded(SNOMED, "108252007", "Laboratory procedure"),
        "imaging" => CodeableConcept::coded(SNOMED, "363679005", "Imaging"),
        _ => return Err(ApiError::Field("kind of order", "must be lab or imaging")),
    };
    let resource = Resource::ServiceRequest(ServiceRequest {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: RequestStatus::Active,
        intent: RequestIntent::Order,
        category: vec![category],
        code: Some(CodeableConcept::coded(LOINC, &loinc, &display)),
        subject: Reference::to("Patient", &patient_id(chart)?),
        authored_on: form.date("authoredOn", "date ordered", false)?,
        note: form
            .text("note", "note", true)?
            .map(|text| Annotation {
                text,
                ..Annotation::default()
            })
            .into_iter()
            .collect(),
        ..ServiceRequest::default()
    });
    checked(resource)
}

/// The open order `order` (its current version), checked to be an active ServiceRequest.
fn open_order(order: &str) -> Result<(Resource, String), ApiError> {
    let resource = current(order, ResourceType::ServiceRequest)?;
    let Resource::ServiceRequest(s) = &resource else {
        return Err(ApiError::Record("not a ServiceRequest".to_owned()));
    };
    if s.status != RequestStatus::Active {
        return Err(ApiError::Field("order", "is not open"));
    }
    let id = s.id.clone().unwrap_or_default();
    Ok((resource, id))
}

/// Cancel the open order `order` (its current version), with an optional `reason`: the next
/// version, status revoked.
pub fn order_cancel(order: &str, reason: &str) -> Result<String, ApiError> {
    let (mut resource, _) = open_order(order)?;
    if let Resource::ServiceRequest(s) = &mut resource {
        s.status = RequestStatus::Revoked;
        if let Some(text) = super::super::super::records::field(reason, "reason", true)? {
            s.note.push(Annotation {
                text: format!("Cancelled: {text}"),
                ..Annotation::default()
            });
        }
    }
    checked(next_version(resource, RecordAction::StatusUpdate))
}

/// The patient's sex (`male`/`female`) and age in whole years on `on`, from her chart.
fn patient_facts(chart: &Value, on: &str) -> Result<(Option<String>, Option<f64>), ApiError> {
    let patient = chart_resources(chart, "Patient")?
        .into_iter()
        .find_map(|r| match r {
            Resource::Patient(p) => Some(p),
            _ => None,
        });
    let sex = patient
        .as_ref()
        .and_then(|p| p.gender)
        .map(|g| g.code().to_owned());
    let age = patient
        .and_then(|p| p.birth_date)
        .and_then(|b| parse_date(&b))
        .zip(parse_date(on))
        .map(|(birth, on)| {
            let years = on.year() - birth.year();
            let before_birthday =
                (u8::from(on.month()), on.day()) < (u8::from(birth.month()), birth.day());
            f64::from(years - i32::from(before_birthday))
        });
    Ok((sex, age))
}

/// The range of `analyte` for a patient of `sex` and `age`: the specific range of her sex with
/// the highest minimum age she has reached, else the analyte's general range.
fn range_for(analyte: &Analyte, sex: Option<&str>, age: Option<f64>) -> (Option<f64>, Option<f64>) {
    let specific = analyte
        .ranges
        .iter()
        .filter(|r| r.sex.is_none() || r.sex.as_deref() == sex)
        .filter(|r| r.min_age.is_none_or(|min| age.is_some_and(|a| a >= min)))
        .max_by(|a, b| {
            a.min_age
                .unwrap_or(0.0)
                .total_cmp(&b.min_age.unwrap_or(0.0))
        });
    match specific {
        Some(r) => (r.low, r.high),
        None => (analyte.low, analyte.high),
    }
}

fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// A range in words: "70–99 mg/dL", "≤ 200 mg/dL" (a low of 0 bounds nothing), "≥ 40 mg/dL".
fn range_text(low: Option<f64>, high: Option<f64>, unit: &str) -> String {
    let low = low.filter(|l| *l > 0.0);
    let text = match (low, high) {
        (Some(l), Some(h)) => format!("{}–{}", number_text(l), number_text(h)),
        (None, Some(h)) => format!("≤ {}", number_text(h)),
        (Some(l), None) => format!("≥ {}", number_text(l)),
        (None, None) => return String::new(),
    };
    format!("{text} {unit}").trim_end().to_owned()
}

/// The result form of `panel` for the patient of `chart` on `date`: `[{loinc, display, unit,
/// low, high, range}]`, each analyte with the reference range that applies to her.
pub fn result_form(chart: &str, panel: &str, date: &str) -> Result<String, ApiError> {
    let panel = panel_of(panel)?;
    let (sex, age) = patient_facts(&chart_value(chart)?, date)?;
    let rows: Vec<Value> = panel
        .analytes
        .iter()
        .map(|a| {
            let (low, high) = range_for(a, sex.as_deref(), age);
            let unit = a.unit.clone().unwrap_or_default();
            json!({
                "loinc": a.loinc, "display": a.display, "unit": unit, "low": low, "high": high,
                "range": range_text(low, high, &unit),
            })
        })
        .collect();
    Ok(Value::Array(rows).to_string())
}

/// H above the range, L below it, N within; none without a range.
fn interpretation(value: f64, low: Option<f64>, high: Option<f64>) -> Option<CodeableConcept> {
    if low.is_none() && high.is_none() {
        return None;
    }
    let (code, display) = if high.is_some_and(|h| value > h) {
        ("H", "High")
    } else if low.is_some_and(|l| value < l) {
        ("L", "Low")
    } else {
        ("N", "Normal")
    };
    Some(CodeableConcept::coded(INTERPRETATION, code, display))
}

fn value_of(text: &str) -> Result<f64, ApiError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or(ApiError::Field("result", "must be a number"))
}

/// The flag of `value` against a row of [`result_form`] (`{low, high}`): `{"code", "display"}`
/// (H, L or N), or null when the value is not a number or the analyte has no range.
pub fn lab_interpretation(row: &str, value: &str) -> Result<String, ApiError> {
    let row: Value = serde_json::from_str(row)
        .map_err(|_| ApiError::Field("analyte", "must be a row of the result form"))?;
    let flag = value_of(value).ok().and_then(|v| {
        interpretation(
            v,
            row.get("low").and_then(Value::as_f64),
            row.get("high").and_then(Value::as_f64),
        )
    });
    Ok(match flag.and_then(|c| c.coding.into_iter().next()) {
        Some(coding) => json!({ "code": coding.code, "display": coding.display }),
        None => Value::Null,
    }
    .to_string())
}

/// What every analyte of one result shares: the order, the patient, the sample's date.
struct Sample {
    based_on: Vec<Reference>,
    subject: Reference,
    date: Option<String>,
}

/// One analyte's Observation: its value in the panel's unit (UCUM), the reference range that
/// applies and the flag against it.
fn analyte_result(
    analyte: &Analyte,
    value: f64,
    (low, high): (Option<f64>, Option<f64>),
    sample: &Sample,
) -> Resource {
    let unit = analyte.unit.clone().unwrap_or_default();
    let quantity = |v: f64| match unit.as_str() {
        "" => Quantity {
            value: Some(v),
            ..Quantity::default()
        },
        _ => Quantity::ucum(v, &unit, &unit),
    };
    Resource::Observation(Observation {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        based_on: sample.based_on.clone(),
        status: ObservationStatus::Final,
        category: vec![CodeableConcept::coded(
            OBSERVATION_CATEGORY,
            "laboratory",
            "Laboratory",
        )],
        code: CodeableConcept::coded(LOINC, &analyte.loinc, &analyte.display),
        subject: Some(sample.subject.clone()),
        effective_date_time: sample.date.clone(),
        value_quantity: Some(quantity(value)),
        interpretation: interpretation(value, low, high).into_iter().collect(),
        reference_range: (low.is_some() || high.is_some())
            .then(|| ReferenceRange {
                low: low.map(quantity),
                high: high.map(quantity),
                text: Some(range_text(low, high, &unit)),
            })
            .into_iter()
            .collect(),
        ..Observation::default()
    })
}

/// The results of the open `order` (its current version) for `panel` (its entry in the panel
/// list): `values` maps analyte LOINC codes to the numbers entered (blank ones are left out),
/// `date` is when the sample was taken, `conclusion` optional text (an imaging study's
/// report). A JSON array of the records to publish in order: the Observations, the
/// DiagnosticReport, the order completed.
pub fn lab_result(
    chart: &str,
    order: &str,
    panel: &str,
    values: &str,
    date: &str,
    conclusion: &str,
) -> Result<String, ApiError> {
    let (order_resource, order_id) = open_order(order)?;
    let panel = panel_of(panel)?;
    let ordered = matches!(&order_resource, Resource::ServiceRequest(s)
        if s.code.as_ref().is_some_and(|c| c.has_code(Some(LOINC), &panel.loinc)));
    if !ordered {
        return Err(ApiError::Field("test", "is not the test of this order"));
    }
    let values: serde_json::Map<String, Value> = serde_json::from_str(values)
        .map_err(|_| ApiError::Field("results", "must be an object of values"))?;
    let date = super::date(date, "date of the sample", false)?;
    let conclusion = super::super::super::records::field(conclusion, "conclusion", true)?;
    let subject = Reference::to("Patient", &patient_id(chart)?);
    let chart = chart_value(chart)?;
    let (sex, age) = patient_facts(&chart, date.as_deref().unwrap_or_default())?;
    let based_on = vec![Reference::to("ServiceRequest", &order_id)];
    let sample = Sample {
        based_on: based_on.clone(),
        subject: subject.clone(),
        date: date.clone(),
    };
    let mut records = Vec::new();
    for analyte in &panel.analytes {
        let Some(text) = values
            .get(&analyte.loinc)
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        else {
            continue;
        };
        let value = value_of(text)?;
        let range = range_for(analyte, sex.as_deref(), age);
        records.push(analyte_result(analyte, value, range, &sample));
    }
    if records.is_empty() && conclusion.is_none() {
        return Err(ApiError::Field(
            "result",
            "is required: a value or a conclusion",
        ));
    }
    let result: Vec<Reference> = records
        .iter()
        .filter_map(|r| r.id().map(|id| Reference::to("Observation", id)))
        .collect();
    let (category, label) = if panel.kind == "imaging" {
        ("RAD", "Radiology")
    } else {
        ("LAB", "Laboratory")
    };
    records.push(Resource::DiagnosticReport(DiagnosticReport {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        based_on,
        status: DiagnosticReportStatus::Final,
        category: vec![CodeableConcept::coded(REPORT_CATEGORY, category, label)],
        code: CodeableConcept::coded(LOINC, &panel.loinc, &panel.display),
        subject: Some(subject),
        effective_date_time: date,
        result,
        conclusion,
        ..DiagnosticReport::default()
    }));
    let mut completed = order_resource;
    if let Resource::ServiceRequest(s) = &mut completed {
        s.status = RequestStatus::Completed;
    }
    records.push(next_version(completed, RecordAction::StatusUpdate));
    let list = records
        .into_iter()
        .map(|r| {
            checked(r)
                .and_then(|json| serde_json::from_str::<Value>(&json).map_err(|_| ApiError::Chart))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(list).to_string())
}
