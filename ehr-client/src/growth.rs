//! Growth percentiles and z-scores from LMS tables (the clinic app's growth charts).
//!
//! Sources of the rules:
//! - The LMS method: Cole T. J., Green P. J., "Smoothing reference centile curves: the LMS
//!   method and penalized likelihood", Statistics in Medicine 11 (1992) 1305-1319:
//!   `z = ((X/M)^L - 1) / (L·S)` when `L ≠ 0`, `z = ln(X/M) / S` when `L = 0`, and the value at a
//!   z-score `X = M·(1 + L·S·z)^(1/L)` (`M·e^(S·z)` when `L = 0`).
//! - The restricted application of the LMS method beyond ±3 SD for weight-based indicators:
//!   WHO Multicentre Growth Reference Study Group, "WHO Child Growth Standards: Methods and
//!   development" (2006), chapter 7, "Computation of centiles and z-scores".
//! - Which reference for which age: CDC, "Use of World Health Organization and CDC growth charts
//!   for children aged 0-59 months in the United States", MMWR Recomm Rep 59 (RR-9), 2010: the WHO
//!   standards from birth to 24 months, the CDC 2000 references from 24 months to 20 years;
//!   recumbent length before 24 months, standing height (stature) after.
//!
//! The tables themselves are data ([`LmsTable`]), loaded by the caller; this module does no I/O.
//! Not modelled: the 0.7 cm length/height adjustment WHO applies when a child is measured in
//! the other position than its age calls for, and weight-for-length/height tables (by length,
//! not age).

use serde::{Deserialize, Serialize};

/// Days per month used to convert ages (365.25 / 12), as WHO and CDC do.
pub const DAYS_PER_MONTH: f64 = 30.4375;
/// Age in months from which the CDC 2000 references replace the WHO standards (MMWR 2010).
pub const CDC_FROM_MONTHS: f64 = 24.0;
/// The CDC 2000 references end at 20 years.
pub const MAX_AGE_MONTHS: f64 = 240.0;

/// Who published a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowthSource {
    /// WHO Child Growth Standards (2006).
    Who,
    /// CDC 2000 growth references.
    Cdc,
}

/// What a table measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Weight (kg).
    Weight,
    /// Recumbent length (cm), under 24 months.
    Length,
    /// Standing height, "stature" (cm), from 24 months.
    Height,
    /// Head circumference (cm).
    Head,
    /// Body-mass index (kg/m²).
    Bmi,
}

/// Sex of the reference population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Boys.
    Male,
    /// Girls.
    Female,
}

/// The unit of a table's age column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeUnit {
    /// Days (the WHO expanded tables).
    Day,
    /// Months (the CDC tables, and the WHO tables by month).
    Month,
}

/// One row of an LMS table: on the wire the array `[age, L, M, S]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 4]", into = "[f64; 4]")]
pub struct LmsRow {
    /// Age, in the table's [`AgeUnit`].
    pub age: f64,
    /// Box-Cox power (skewness).
    pub l: f64,
    /// Median.
    pub m: f64,
    /// Coefficient of variation.
    pub s: f64,
}

impl From<[f64; 4]> for LmsRow {
    fn from([age, l, m, s]: [f64; 4]) -> Self {
        Self { age, l, m, s }
    }
}

impl From<LmsRow> for [f64; 4] {
    fn from(row: LmsRow) -> Self {
        [row.age, row.l, row.m, row.s]
    }
}

/// One LMS table, as the reference data files hold it:
/// `{"source":"who","measure":"weight","sex":"male","age_unit":"day","rows":[[age,L,M,S],...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmsTable {
    /// WHO or CDC.
    pub source: GrowthSource,
    /// What is measured.
    pub measure: Measure,
    /// The reference population's sex.
    pub sex: Sex,
    /// Unit of the age column.
    pub age_unit: AgeUnit,
    /// Rows in increasing age.
    pub rows: Vec<LmsRow>,
}

/// A measurement placed on its reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentile {
    /// z-score (restricted beyond ±3 for WHO weight and BMI).
    pub z: f64,
    /// Percentile, 0-100: Φ(z)·100.
    pub percentile: f64,
    /// The reference the measurement was placed on.
    pub source: GrowthSource,
}

/// Why a measurement could not be placed on a reference. No measured values in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrowthError {
    /// Negative age, past 20 years, or outside the chosen table's rows.
    #[error("age outside the growth reference")]
    AgeOutOfRange,
    /// No table for this reference, measure and sex was loaded.
    #[error("no {reference:?} {measure:?} table for this sex")]
    NoTable {
        /// The reference the age calls for.
        reference: GrowthSource,
        /// The measure looked for.
        measure: Measure,
    },
    /// Zero, negative or not a number.
    #[error("the measurement must be a positive number")]
    NonPositiveValue,
    /// Rows empty or not in increasing age, or an M or S that is not positive.
    #[error("the growth table is malformed")]
    InvalidTable,
}

impl LmsTable {
    /// L, M and S at `age` (in this table's unit), linearly interpolated between the two rows
    /// around it; an age on a row gives that row.
    pub fn lms_at(&self, age: f64) -> Result<LmsRow, GrowthError> {
        self.check()?;
        let (first, last) = match (self.rows.first(), self.rows.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(GrowthError::InvalidTable),
        };
        if !age.is_finite() || age < first.age || age > last.age {
            return Err(GrowthError::AgeOutOfRange);
        }
        // First row whose age is >= `age`: it exists since age <= last.age.
        let upper = self.rows.partition_point(|r| r.age < age);
        let hi = *self.rows.get(upper).ok_or(GrowthError::AgeOutOfRange)?;
        if hi.age == age || upper == 0 {
            return Ok(hi);
        }
        let lo = *self.rows.get(upper - 1).ok_or(GrowthError::AgeOutOfRange)?;
        let t = (age - lo.age) / (hi.age - lo.age);
        let mix = |a: f64, b: f64| a + (b - a) * t;
        Ok(LmsRow {
            age,
            l: mix(lo.l, hi.l),
            m: mix(lo.m, hi.m),
            s: mix(lo.s, hi.s),
        })
    }

    /// The age in this table's unit.
    fn age_of(&self, age_days: f64) -> f64 {
        match self.age_unit {
            AgeUnit::Day => age_days,
            AgeUnit::Month => age_days / DAYS_PER_MONTH,
        }
    }

    /// Whether the rows reach `age_days`.
    fn covers(&self, age_days: f64) -> bool {
        let age = self.age_of(age_days);
        matches!((self.rows.first(), self.rows.last()), (Some(f), Some(l)) if f.age <= age && age <= l.age)
    }

    /// Ages strictly increasing, every value finite, M and S positive.
    fn check(&self) -> Result<(), GrowthError> {
        let sane = |r: &LmsRow| {
            [r.age, r.l, r.m, r.s].iter().all(|v| v.is_finite()) && r.m > 0.0 && r.s > 0.0
        };
        let increasing = self.rows.windows(2).all(|w| match w {
            [a, b] => a.age < b.age,
            _ => true,
        });
        if self.rows.is_empty() || !increasing || !self.rows.iter().all(sane) {
            return Err(GrowthError::InvalidTable);
        }
        Ok(())
    }

    /// Whether the restricted LMS application applies: WHO weight-based indicators (WHO 2006,
    /// ch. 7). Length/height and head circumference have L = 1 or close to it (no skew), and
    /// the CDC publishes plain LMS z-scores.
    fn restricted(&self) -> bool {
        self.source == GrowthSource::Who && matches!(self.measure, Measure::Weight | Measure::Bmi)
    }
}

/// Whether L is zero for the Box-Cox formulas (the L = 0 limit is the log formula).
fn l_is_zero(l: f64) -> bool {
    l.abs() < 1e-12
}

/// The plain LMS z-score of `value` (Cole and Green 1992).
pub fn z_score(value: f64, lms: &LmsRow) -> f64 {
    let ratio = value / lms.m;
    if l_is_zero(lms.l) {
        ratio.ln() / lms.s
    } else {
        (ratio.powf(lms.l) - 1.0) / (lms.l * lms.s)
    }
}

/// The measurement at z-score `z` (Cole and Green 1992): the percentile curves of a chart.
/// NaN where the Box-Cox curve is undefined (1 + L·S·z <= 0, far in a tail).
pub fn value_at_z(lms: &LmsRow, z: f64) -> f64 {
    if l_is_zero(lms.l) {
        return lms.m * (lms.s * z).exp();
    }
    let base = 1.0 + lms.l * lms.s * z;
    if base <= 0.0 {
        return f64::NAN;
    }
    lms.m * base.powf(1.0 / lms.l)
}

/// The WHO restricted z-score (WHO Child Growth Standards 2006, ch. 7): inside ±3 the LMS
/// z-score; beyond, the distance from the ±3 SD curve in units of the distance between the
/// ±2 and ±3 SD curves, so the long right tail of weight does not compress extreme values:
/// `z* = 3 + (y − SD3pos) / (SD3pos − SD2pos)` and `z* = −3 + (y − SD3neg) / (SD2neg − SD3neg)`.
pub fn restricted_z_score(value: f64, lms: &LmsRow) -> f64 {
    let z = z_score(value, lms);
    if z > 3.0 {
        let sd3 = value_at_z(lms, 3.0);
        3.0 + (value - sd3) / (sd3 - value_at_z(lms, 2.0))
    } else if z < -3.0 {
        let sd3 = value_at_z(lms, -3.0);
        -3.0 + (value - sd3) / (value_at_z(lms, -2.0) - sd3)
    } else {
        z
    }
}

/// Φ, the standard normal distribution function, by G. Marsaglia's Taylor series ("Evaluating
/// the Normal Distribution", Journal of Statistical Software 11(4), 2004):
/// `Φ(x) = 1/2 + φ(x)·(x + x³/3 + x⁵/(3·5) + x⁷/(3·5·7) + …)`, summed until a term no longer
/// changes the sum. Every term has the sign of x, so nothing cancels inside the sum; the
/// absolute error is of the order of 1e-15, far below the 1e-7 a percentile needs. Beyond
/// ±8.5 the result is 0 or 1 (Φ(−8.5) ≈ 1e-17).
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < -8.5 {
        return 0.0;
    }
    if x > 8.5 {
        return 1.0;
    }
    // ln √(2π)
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
    let x2 = x * x;
    let (mut sum, mut term, mut odd) = (x, x, 1.0_f64);
    // At |x| = 8.5 the terms peak near the 36th and vanish by the 200th.
    for _ in 0..400 {
        odd += 2.0;
        term *= x2 / odd;
        let next = sum + term;
        if next == sum {
            break;
        }
        sum = next;
    }
    (0.5 + sum * (-0.5 * x2 - LN_SQRT_2PI).exp()).clamp(0.0, 1.0)
}

/// The table for a child of `age_days`: WHO before 24 months, CDC from 24 months to 20 years
/// (of several tables for the same reference, measure and sex, a table by day where its rows
/// reach the age, else one by month);
/// [`Measure::Length`] and [`Measure::Height`] both mean body length, taken as recumbent
/// length before 24 months and standing height from 24 months (MMWR 2010).
pub fn select_table(
    tables: &[LmsTable],
    measure: Measure,
    sex: Sex,
    age_days: f64,
) -> Result<&LmsTable, GrowthError> {
    if !age_days.is_finite() || age_days < 0.0 {
        return Err(GrowthError::AgeOutOfRange);
    }
    let months = age_days / DAYS_PER_MONTH;
    if months > MAX_AGE_MONTHS {
        return Err(GrowthError::AgeOutOfRange);
    }
    let (source, measure) = if months < CDC_FROM_MONTHS {
        let m = if measure == Measure::Height {
            Measure::Length
        } else {
            measure
        };
        (GrowthSource::Who, m)
    } else {
        let m = if measure == Measure::Length {
            Measure::Height
        } else {
            measure
        };
        (GrowthSource::Cdc, m)
    };
    let mut candidates = tables
        .iter()
        .filter(|t| t.source == source && t.measure == measure && t.sex == sex)
        .peekable();
    if candidates.peek().is_none() {
        return Err(GrowthError::NoTable {
            reference: source,
            measure,
        });
    }
    // WHO publishes weekly tables for the first 13 weeks beside the monthly ones: the finer
    // table wins where it reaches.
    candidates
        .filter(|t| t.covers(age_days))
        .min_by_key(|t| t.age_unit == AgeUnit::Month)
        .ok_or(GrowthError::AgeOutOfRange)
}

/// z-score and percentile of `value` (kg, cm or kg/m²) measured at `age_days` on the
/// reference the age calls for ([`select_table`]). Age in days converts to months by
/// [`DAYS_PER_MONTH`] for tables by month.
pub fn measure_percentile(
    tables: &[LmsTable],
    measure: Measure,
    sex: Sex,
    age_days: f64,
    value: f64,
) -> Result<Percentile, GrowthError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(GrowthError::NonPositiveValue);
    }
    let table = select_table(tables, measure, sex, age_days)?;
    let lms = table.lms_at(table.age_of(age_days))?;
    let z = if table.restricted() {
        restricted_z_score(value, &lms)
    } else {
        z_score(value, &lms)
    };
    Ok(Percentile {
        z,
        percentile: normal_cdf(z) * 100.0,
        source: table.source,
    })
}

#[cfg(test)]
#[path = "growth/tests.rs"]
mod tests;
