//! What each vital sign is coded as (US Core vital signs profiles, FHIR R4: LOINC code, UCUM
//! unit) and which values are questioned before saving.
//!
//! The bounds guard against entry errors (a misplaced decimal point, the wrong unit), they are
//! not reference ranges: a value outside them is asked about, never refused. They were chosen
//! well outside the normal ranges by age of the PALS tables (American Heart Association,
//! Pediatric Advanced Life Support Provider Manual, 2020: heart rate and respiratory rate by
//! age) and outside the WHO (2006) and CDC (2000) growth references' extremes, and for adults
//! outside what is recorded in people (e.g. weight, height and temperature), following the
//! limits issue 20 suggests: weight 0.3–350 kg, heart rate 20–250 /min, temperature 30–45 °C,
//! systolic 50–280 and diastolic 20–180 mmHg. Impossible values (not a number, negative, zero,
//! SpO2 above 100 %, systolic not above diastolic) are refused by the form instead.

use ehr_client::fhir::{CodeableConcept, Coding, Quantity};

use super::{LOINC, coded};

/// A vital sign of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vital {
    /// Body weight, kg.
    Weight,
    /// Body height, or length lying under 2 years, cm.
    Height,
    /// Head circumference, cm.
    Head,
    /// Body temperature, °C.
    Temperature,
    /// Heart rate, /min.
    HeartRate,
    /// Respiratory rate, /min.
    RespiratoryRate,
    /// Oxygen saturation by pulse oximetry, %.
    Spo2,
    /// Systolic blood pressure, mmHg (a component of the panel).
    Systolic,
    /// Diastolic blood pressure, mmHg (a component of the panel).
    Diastolic,
    /// Body-mass index, kg/m² (computed).
    Bmi,
}

/// The patient's age when measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeBand {
    years: f64,
}

impl AgeBand {
    /// The age of `days` since birth.
    pub fn of_days(days: f64) -> Self {
        Self {
            years: days / 365.25,
        }
    }

    /// Which row of [`BOUNDS`]: under 1 year, 1 to 12 years, 12 and older.
    fn row(self) -> usize {
        if self.years < 1.0 {
            0
        } else if self.years < 12.0 {
            1
        } else {
            2
        }
    }
}

/// Plausible (low, high) per age row: under 1 year, 1–12 years, 12 years and older. Units are
/// the stored ones (kg, cm, °C, /min, %, mmHg, kg/m²).
const BOUNDS: [(Vital, [(f64, f64); 3]); 10] = [
    // Below 0.3 kg no newborn survives; 350 kg keeps a wrong unit in view.
    (Vital::Weight, [(0.3, 25.0), (3.0, 150.0), (10.0, 350.0)]),
    (Vital::Height, [(20.0, 110.0), (45.0, 200.0), (50.0, 250.0)]),
    (Vital::Head, [(18.0, 60.0), (30.0, 65.0), (40.0, 70.0)]),
    (
        Vital::Temperature,
        [(30.0, 45.0), (30.0, 45.0), (30.0, 45.0)],
    ),
    // PALS 2020: newborn 100-205 awake, adolescent sleeping down to 50.
    (
        Vital::HeartRate,
        [(40.0, 250.0), (30.0, 250.0), (20.0, 250.0)],
    ),
    // PALS 2020: infants 30-53, school age 18-25, adolescents 12-20.
    (
        Vital::RespiratoryRate,
        [(10.0, 120.0), (6.0, 80.0), (4.0, 60.0)],
    ),
    (Vital::Spo2, [(50.0, 100.0), (50.0, 100.0), (50.0, 100.0)]),
    (
        Vital::Systolic,
        [(40.0, 200.0), (50.0, 280.0), (50.0, 280.0)],
    ),
    (
        Vital::Diastolic,
        [(20.0, 150.0), (20.0, 180.0), (20.0, 180.0)],
    ),
    // The CDC BMI-for-age extremes lie inside 10-50; adults beyond 80 are rare enough to ask.
    (Vital::Bmi, [(8.0, 40.0), (8.0, 60.0), (10.0, 90.0)]),
];

/// The plausible range of `vital` at `age`, the widest of all ages when the age is unknown.
pub fn bounds(vital: Vital, age: Option<AgeBand>) -> (f64, f64) {
    let rows = BOUNDS
        .iter()
        .find(|(v, _)| *v == vital)
        .map(|(_, rows)| *rows)
        .unwrap_or([(f64::MIN, f64::MAX); 3]);
    match age.and_then(|a| rows.get(a.row()).copied()) {
        Some(row) => row,
        None => rows.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (l, h)| {
            (lo.min(*l), hi.max(*h))
        }),
    }
}

/// Numbers as a clinician writes them: no trailing ".0".
fn show(value: f64) -> String {
    format!("{value}")
}

/// The question about `value` (stored unit) when it lies outside [`bounds`]; `entered` is how
/// the member typed it when it was converted.
pub fn question(
    vital: Vital,
    value: f64,
    entered: Option<&str>,
    age: Option<AgeBand>,
) -> Option<String> {
    let (low, high) = bounds(vital, age);
    if (low..=high).contains(&value) {
        return None;
    }
    let unit = vital.unit().0;
    let typed = entered
        .map(|e| format!(" (entered as {e})"))
        .unwrap_or_default();
    let ages = if age.is_some() { " for this age" } else { "" };
    let hint = match vital {
        Vital::Temperature if (86.0..=113.0).contains(&value) => " Was it in °F?",
        _ => "",
    };
    Some(format!(
        "{} {} {unit}{typed} is outside {}–{} {unit}{ages}: check it.{hint}",
        vital.label(),
        show(value),
        show(low),
        show(high),
    ))
}

impl Vital {
    /// How the questions name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Weight => "Weight",
            Self::Height => "Height/length",
            Self::Head => "Head circumference",
            Self::Temperature => "Temperature",
            Self::HeartRate => "Heart rate",
            Self::RespiratoryRate => "Respiratory rate",
            Self::Spo2 => "Oxygen saturation",
            Self::Systolic => "Systolic pressure",
            Self::Diastolic => "Diastolic pressure",
            Self::Bmi => "BMI",
        }
    }

    /// The stored unit: (human-readable, UCUM code).
    pub fn unit(self) -> (&'static str, &'static str) {
        match self {
            Self::Weight => ("kg", "kg"),
            Self::Height | Self::Head => ("cm", "cm"),
            Self::Temperature => ("°C", "Cel"),
            Self::HeartRate | Self::RespiratoryRate => ("/min", "/min"),
            Self::Spo2 => ("%", "%"),
            Self::Systolic | Self::Diastolic => ("mmHg", "mm[Hg]"),
            Self::Bmi => ("kg/m2", "kg/m2"),
        }
    }

    /// `value` as a UCUM quantity.
    pub fn quantity(self, value: f64) -> Quantity {
        let (unit, code) = self.unit();
        Quantity::ucum(value, unit, code)
    }

    /// The LOINC code of the US Core profile: body length lying (8306-3) under 2 years,
    /// height (8302-2) otherwise; pulse oximetry carries 59408-5 and 2708-6 as US Core asks.
    pub fn code(self, age: Option<AgeBand>) -> CodeableConcept {
        match self {
            Self::Weight => coded("29463-7", "Body weight", "Body weight"),
            Self::Height if age.is_some_and(|a| a.years < 2.0) => {
                coded("8306-3", "Body height --lying", "Body length")
            }
            Self::Height => coded("8302-2", "Body height", "Body height"),
            Self::Head => coded(
                "9843-4",
                "Head Occipital-frontal circumference",
                "Head circumference",
            ),
            Self::Temperature => coded("8310-5", "Body temperature", "Body temperature"),
            Self::HeartRate => coded("8867-4", "Heart rate", "Heart rate"),
            Self::RespiratoryRate => coded("9279-1", "Respiratory rate", "Respiratory rate"),
            Self::Spo2 => {
                let mut concept = coded(
                    "59408-5",
                    "Oxygen saturation in Arterial blood by Pulse oximetry",
                    "Oxygen saturation (pulse oximetry)",
                );
                concept.coding.push(Coding::new(
                    LOINC,
                    "2708-6",
                    "Oxygen saturation in Arterial blood",
                ));
                concept
            }
            Self::Systolic => coded(
                "8480-6",
                "Systolic blood pressure",
                "Systolic blood pressure",
            ),
            Self::Diastolic => coded(
                "8462-4",
                "Diastolic blood pressure",
                "Diastolic blood pressure",
            ),
            Self::Bmi => coded(
                "39156-5",
                "Body mass index (BMI) [Ratio]",
                "Body mass index",
            ),
        }
    }
}
