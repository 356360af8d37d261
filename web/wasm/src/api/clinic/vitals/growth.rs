//! Growth charts (DESIGN.md §12): a child's weight, length/height, head circumference and BMI
//! placed on the WHO (under 24 months) and CDC (24 months to 20 years) references by
//! `ehr_client::growth`, and the percentile curves to draw them against.

use std::collections::BTreeMap;

use ehr_client::growth::{
    self, CDC_FROM_MONTHS, DAYS_PER_MONTH, GrowthSource, LmsTable, MAX_AGE_MONTHS, Measure, Sex,
};
use ehr_client::immunization::parse_date;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::{CM_PER_IN, KG_PER_LB, bmi};

/// The curves drawn: percentile and its z-score (Φ⁻¹(p)), as the WHO charts show them.
const CURVES: [(u32, f64); 5] = [
    (3, -1.880_793_608_151_251),
    (15, -1.036_433_389_493_79),
    (50, 0.0),
    (85, 1.036_433_389_493_79),
    (97, 1.880_793_608_151_251),
];

/// A chart of one measure: its id in the output, title, unit, LOINC codes that feed it, and
/// the ages (months) its reference covers. Length and height share a chart (MMWR 2010: length
/// before 24 months, height after; `select_table` picks the table).
struct Chart {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    measure: Measure,
    codes: &'static [&'static str],
    ages: (f64, f64),
}

const CHARTS: [Chart; 4] = [
    Chart {
        id: "weight",
        title: "Weight-for-age",
        unit: "kg",
        measure: Measure::Weight,
        codes: &["29463-7"],
        ages: (0.0, MAX_AGE_MONTHS),
    },
    Chart {
        id: "length",
        title: "Length/height-for-age",
        unit: "cm",
        measure: Measure::Height,
        codes: &["8302-2", "8306-3"],
        ages: (0.0, MAX_AGE_MONTHS),
    },
    // The CDC infant table ends at 36 months: head circumference is charted under 3 years.
    Chart {
        id: "head",
        title: "Head circumference-for-age",
        unit: "cm",
        measure: Measure::Head,
        codes: &["9843-4"],
        ages: (0.0, 36.0),
    },
    // BMI is charted from 2 years, as the CDC charts do.
    Chart {
        id: "bmi",
        title: "BMI-for-age",
        unit: "kg/m2",
        measure: Measure::Bmi,
        codes: &["39156-5"],
        ages: (CDC_FROM_MONTHS, MAX_AGE_MONTHS),
    },
];

/// `growth.json`'s shape (clinic/data/SOURCES.md), or a bare list of tables.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tables {
    File { tables: Vec<LmsTable> },
    List(Vec<LmsTable>),
}

/// One measurement read from the records.
#[derive(Debug, Clone)]
struct Measured {
    id: Option<String>,
    date: String,
    chart: usize,
    value: f64,
    derived: bool,
}

fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// The Observations of a JSON array of resources, a Bundle, or the chart (`{"bundle"}`).
fn observations(json: &str) -> Result<Vec<Value>, ApiError> {
    let value: Value = serde_json::from_str(json).map_err(|_| ApiError::Chart)?;
    let list = match &value {
        Value::Array(items) => items.clone(),
        _ => {
            let bundle = if value.get("bundle").is_some() {
                at(&value, "/bundle")
            } else {
                &value
            };
            at(bundle, "/entry")
                .as_array()
                .map(|entries| entries.iter().map(|e| at(e, "/resource").clone()).collect())
                .ok_or(ApiError::Chart)?
        }
    };
    Ok(list
        .into_iter()
        .filter(|r| at(r, "/resourceType") == "Observation")
        .filter(|r| {
            !matches!(
                at(r, "/status").as_str(),
                Some("entered-in-error" | "cancelled")
            )
        })
        .collect())
}

/// A quantity in the chart's unit (kg, cm, kg/m²), converting the UCUM units a record may use.
fn in_unit(quantity: &Value, unit: &str) -> Option<f64> {
    let value = at(quantity, "/value").as_f64()?;
    let code = at(quantity, "/code")
        .as_str()
        .or(at(quantity, "/unit").as_str())
        .unwrap_or(unit);
    let factor = match (unit, code) {
        (a, b) if a == b => 1.0,
        ("kg", "g") => 0.001,
        ("kg", "[lb_av]") => KG_PER_LB,
        ("cm", "m") => 100.0,
        ("cm", "mm") => 0.1,
        ("cm", "[in_i]") => CM_PER_IN,
        ("kg/m2", "kg/m²") => 1.0,
        _ => return None,
    };
    Some(value * factor)
}

fn measurements(observations: &[Value]) -> Vec<Measured> {
    let mut found = Vec::new();
    for o in observations {
        let codes: Vec<&str> = at(o, "/code/coding")
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| at(c, "/system").as_str().is_none_or(|s| s == super::LOINC))
            .filter_map(|c| at(c, "/code").as_str())
            .collect();
        let Some(chart) = CHARTS
            .iter()
            .position(|c| c.codes.iter().any(|k| codes.contains(k)))
        else {
            continue;
        };
        let date = at(o, "/effectiveDateTime")
            .as_str()
            .or(at(o, "/effectivePeriod/start").as_str())
            .or(at(o, "/issued").as_str());
        let unit = CHARTS.get(chart).map_or("", |c| c.unit);
        if let (Some(date), Some(value)) = (date, in_unit(at(o, "/valueQuantity"), unit)) {
            found.push(Measured {
                id: at(o, "/id").as_str().map(str::to_owned),
                date: date.to_owned(),
                chart,
                value,
                derived: false,
            });
        }
    }
    found
}

/// BMI from a weight and a height measured the same day, where no BMI was recorded that day.
fn derived_bmi(measured: &[Measured]) -> Vec<Measured> {
    let day = |m: &Measured| m.date.get(..10).unwrap_or_default().to_owned();
    let newest = |chart: usize| {
        let mut by_day = BTreeMap::new();
        for m in measured.iter().filter(|m| m.chart == chart) {
            by_day.insert(day(m), m.clone());
        }
        by_day
    };
    let (weights, heights, recorded) = (newest(0), newest(1), newest(3));
    weights
        .iter()
        .filter(|(d, _)| !recorded.contains_key(*d))
        .filter_map(|(d, w)| {
            let h = heights.get(d)?;
            Some(Measured {
                id: None,
                date: w.date.clone(),
                chart: 3,
                value: bmi(w.value, h.value),
                derived: true,
            })
        })
        .collect()
}

/// Months from `birth` to the date of `date`.
fn age_months(birth: i32, date: &str) -> Option<f64> {
    let at = parse_date(date)?.to_julian_day();
    Some(f64::from(at - birth) / DAYS_PER_MONTH)
}

fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// The (source, L, M, S) of the reference at `months`.
fn lms(
    tables: &[LmsTable],
    measure: Measure,
    sex: Sex,
    months: f64,
) -> Option<(GrowthSource, growth::LmsRow)> {
    let days = months * DAYS_PER_MONTH;
    let table = growth::select_table(tables, measure, sex, days).ok()?;
    let age = match table.age_unit {
        growth::AgeUnit::Day => days,
        growth::AgeUnit::Month => months,
    };
    Some((table.source, table.lms_at(age).ok()?))
}

/// The percentile curves from `from` to `to` months, one segment per reference (the WHO
/// curves end at 24 months where the CDC ones begin).
fn curves(tables: &[LmsTable], chart: &Chart, sex: Sex, (from, to): (f64, f64)) -> Value {
    let step = if to - from <= 36.0 {
        0.5
    } else {
        ((to - from) / 120.0).ceil()
    };
    let mut ages: Vec<f64> = (0..)
        .map(|i| from + f64::from(i) * step)
        .take_while(|a| *a <= to)
        .collect();
    // The WHO curve's last point, just before the CDC reference takes over.
    if from < CDC_FROM_MONTHS && to > CDC_FROM_MONTHS {
        let end = CDC_FROM_MONTHS - 1e-6;
        let position = ages.partition_point(|a| *a < end);
        ages.insert(position, end);
    }
    let rows: Vec<(f64, GrowthSource, growth::LmsRow)> = ages
        .iter()
        .filter_map(|a| lms(tables, chart.measure, sex, *a).map(|(s, r)| (*a, s, r)))
        .collect();
    let lines: Vec<Value> = CURVES
        .iter()
        .map(|(percentile, z)| {
            let mut segments: Vec<Vec<[f64; 2]>> = Vec::new();
            let mut last = None;
            for (age, source, row) in &rows {
                let value = growth::value_at_z(row, *z);
                if !value.is_finite() {
                    continue;
                }
                if last != Some(*source) {
                    segments.push(Vec::new());
                    last = Some(*source);
                }
                if let Some(segment) = segments.last_mut() {
                    segment.push([round(*age, 3), round(value, 3)]);
                }
            }
            json!({ "percentile": percentile, "z": z, "segments": segments })
        })
        .collect();
    Value::Array(lines)
}

/// One point: the measurement with its age, z-score and percentile, or why it is not placed.
fn point(tables: &[LmsTable], chart: &Chart, sex: Sex, months: f64, m: &Measured) -> Value {
    let placed =
        growth::measure_percentile(tables, chart.measure, sex, months * DAYS_PER_MONTH, m.value);
    let mut point = json!({
        "id": m.id, "date": m.date, "ageMonths": round(months, 3),
        "value": m.value, "unit": chart.unit, "derived": m.derived,
    });
    if let Some(object) = point.as_object_mut() {
        match placed {
            Ok(p) => {
                object.insert("z".into(), json!(p.z));
                object.insert("percentile".into(), json!(p.percentile));
                object.insert("source".into(), json!(p.source));
            }
            Err(e) => {
                object.insert("note".into(), json!(e.to_string()));
            }
        }
    }
    point
}

/// The age range a chart spans: from birth when a point is under 24 months (else from 24
/// months, where the CDC charts start), to the first whole year at least 6 months after the
/// last point (so it does not sit on the edge), at least a year wide, inside the reference's
/// ages.
fn span(chart: &Chart, ages: &[f64]) -> (f64, f64) {
    let first = ages.iter().copied().fold(f64::MAX, f64::min);
    let last = ages.iter().copied().fold(f64::MIN, f64::max);
    let from = if first < CDC_FROM_MONTHS {
        0.0
    } else {
        CDC_FROM_MONTHS
    }
    .max(chart.ages.0);
    let to = (((last + 6.0) / 12.0).ceil() * 12.0)
        .max(from + 12.0)
        .min(chart.ages.1);
    (from, to)
}

/// Growth charts of a child of `sex` ("male" or "female", FHIR `gender`) born on `birth_date`
/// from the LMS `tables` (growth.json) and her records (`observations`: a JSON array of
/// resources, a FHIR Bundle, or the opened chart): `{"charts": [{"id", "title", "unit", "from",
/// "to", "curves": [{"percentile", "z", "segments": [[[months, value]...]...]}], "points":
/// [{"id", "date", "ageMonths", "value", "unit", "derived", "z", "percentile", "source"} or
/// with "note" when it cannot be placed]}]}`. A chart has curves when it has points; points
/// outside the chart's ages (before birth, past 20 years, head after 3, BMI before 2) are left
/// out. BMI without its own record is derived from a weight and height of the same day.
pub fn growth_chart(
    tables: &str,
    sex: &str,
    birth_date: &str,
    observations_json: &str,
) -> Result<String, ApiError> {
    let tables = match serde_json::from_str(tables) {
        Ok(Tables::File { tables } | Tables::List(tables)) => tables,
        Err(_) => return Err(ApiError::Field("growth tables", "are not LMS tables")),
    };
    let sex = match sex.trim() {
        "male" => Sex::Male,
        "female" => Sex::Female,
        _ => {
            return Err(ApiError::Field(
                "sex",
                "must be male or female for a growth chart",
            ));
        }
    };
    let birth = parse_date(birth_date.trim())
        .ok_or(ApiError::Field(
            "date of birth",
            "is needed for a growth chart",
        ))?
        .to_julian_day();
    let mut measured = measurements(&observations(observations_json)?);
    measured.extend(derived_bmi(&measured));
    measured.sort_by(|a, b| a.date.cmp(&b.date));
    let charts: Vec<Value> = CHARTS
        .iter()
        .enumerate()
        .map(|(index, chart)| {
            let placed: Vec<(f64, &Measured)> = measured
                .iter()
                .filter(|m| m.chart == index)
                .filter_map(|m| Some((age_months(birth, &m.date)?, m)))
                .filter(|(months, _)| (chart.ages.0..=chart.ages.1).contains(months))
                .collect();
            let ages: Vec<f64> = placed.iter().map(|(a, _)| *a).collect();
            let (from, to) = span(chart, &ages);
            let points: Vec<Value> = placed
                .iter()
                .map(|(a, m)| point(&tables, chart, sex, *a, m))
                .collect();
            let curves = if points.is_empty() {
                json!([])
            } else {
                curves(&tables, chart, sex, (from, to))
            };
            json!({
                "id": chart.id, "title": chart.title, "unit": chart.unit,
                "from": from, "to": to, "curves": curves, "points": points,
            })
        })
        .collect();
    Ok(json!({ "charts": charts, "referenceChange": CDC_FROM_MONTHS }).to_string())
}
