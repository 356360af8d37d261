//! The routine series of the CDC Child and Adolescent Immunization Schedule, 2025, as data:
//! per dose, its minimum, recommended and overdue ages and its spacing from earlier doses.

use time::{Date, Duration, Month};

/// An age or interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span {
    Weeks(i64),
    Months(i32),
    Years(i32),
}

pub(super) use Span::{Months as M, Weeks as W, Years as Y};

/// The day `span` after `date`, by calendar months and years (CDSi: a missing day of the
/// month becomes the 1st of the next month); saturating at the end of the calendar.
pub(super) fn add(date: Date, span: Span) -> Date {
    let months = match span {
        Span::Weeks(w) => return date.saturating_add(Duration::weeks(w)),
        Span::Months(m) => i64::from(m),
        Span::Years(y) => i64::from(y) * 12,
    };
    let index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
    let ymd = |index: i64, day: u8| -> Option<Date> {
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
        Date::from_calendar_date(year, month, day).ok()
    };
    ymd(index, date.day())
        .or_else(|| ymd(index + 1, 1))
        .unwrap_or(Date::MAX)
}

/// The ACIP grace period: a dose up to 4 days early still counts.
pub(super) const GRACE: Duration = Duration::days(4);

/// Spacing from an earlier dose: minimum, recommended, and overdue-from (none: no limit).
#[derive(Debug, Clone, Copy)]
pub(super) struct Gap {
    pub(super) min: Span,
    pub(super) rec: Span,
    pub(super) overdue: Option<Span>,
}

pub(super) const fn gap(min: Span) -> Option<Gap> {
    Some(Gap {
        min,
        rec: min,
        overdue: None,
    })
}

/// One dose of a series: minimum age, recommended age (start of the Table 1 range), the age
/// it is overdue from, and its spacing from the previous and from the first dose.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dose {
    pub(super) min_age: Span,
    pub(super) rec_age: Span,
    pub(super) overdue_age: Span,
    pub(super) after_prev: Option<Gap>,
    pub(super) after_first: Option<Gap>,
}

pub(super) const fn dose(
    min_age: Span,
    rec_age: Span,
    overdue_age: Span,
    after_prev: Option<Gap>,
) -> Dose {
    Dose {
        min_age,
        rec_age,
        overdue_age,
        after_prev,
        after_first: None,
    }
}

pub(super) const BIRTH: Span = W(0);

/// Table 1, "Hepatitis B (HepB)": birth; 1–2 mos; 6–18 mos. Table 2: 4 weeks, then 8 weeks
/// and 16 weeks after dose 1; minimum age for the final dose 24 weeks.
pub(super) const HEPB: &[Dose] = &[
    dose(BIRTH, BIRTH, M(1), None),
    dose(W(4), M(1), M(3), gap(W(4))),
    Dose {
        after_first: gap(W(16)),
        ..dose(W(24), M(6), M(19), gap(W(8)))
    },
];
/// Table 1, "Rotavirus (RV): RV1 (2-dose series), RV5 (3-dose series)": 2, 4, 6 mos.
/// Table 2: minimum age 6 weeks, intervals 4 weeks; first dose before 15 weeks 0 days, none
/// after 8 months 0 days.
pub(super) const RV: &[Dose] = &[
    dose(W(6), M(2), M(3), None),
    dose(W(10), M(4), M(5), gap(W(4))),
    dose(W(14), M(6), M(7), gap(W(4))),
];
/// Table 1, "Diphtheria, tetanus, and acellular pertussis (DTaP <7 yrs)": 2, 4, 6, 15–18 mos,
/// 4–6 yrs. Table 2: 6 weeks; 4 weeks, 4 weeks, 6 months, 6 months; Notes: dose 4 from 12
/// months, dose 5 from 4 years and not needed if dose 4 was given at 4 years or older.
pub(super) const DTAP: &[Dose] = &[
    dose(W(6), M(2), M(3), None),
    dose(W(10), M(4), M(5), gap(W(4))),
    dose(W(14), M(6), M(7), gap(W(4))),
    dose(M(12), M(15), M(19), gap(M(6))),
    dose(Y(4), Y(4), Y(7), gap(M(6))),
];
/// Table 1, "Haemophilus influenzae type b (Hib)": 2, 4, 6, 12–15 mos (PRP-T).
/// Table 1, "Pneumococcal conjugate (PCV15, PCV20)": 2, 4, 6, 12–15 mos.
/// Table 2: 6 weeks; 4 weeks, 4 weeks, 8 weeks as final dose at 12 months or older.
pub(super) const HIB_PCV: &[Dose] = &[
    dose(W(6), M(2), M(3), None),
    dose(W(10), M(4), M(5), gap(W(4))),
    dose(W(14), M(6), M(7), gap(W(4))),
    dose(M(12), M(12), M(16), gap(W(8))),
];
/// Table 1, "Inactivated poliovirus (IPV <18 yrs)": 2, 4, 6–18 mos, 4–6 yrs. Table 2:
/// 6 weeks; 4 weeks, 4 weeks, 6 months, final dose from 4 years; Notes: dose 4 not needed if
/// dose 3 was given at 4 years or older and 6 months after dose 2.
pub(super) const IPV: &[Dose] = &[
    dose(W(6), M(2), M(3), None),
    dose(W(10), M(4), M(5), gap(W(4))),
    dose(W(14), M(6), M(19), gap(W(4))),
    dose(Y(4), Y(4), Y(7), gap(M(6))),
];
/// Table 1, "Measles, mumps, rubella (MMR)": 12–15 mos, 4–6 yrs. Table 2: 12 months, 4 weeks.
pub(super) const MMR: &[Dose] = &[
    dose(M(12), M(12), M(16), None),
    dose(M(12), Y(4), Y(7), gap(W(4))),
];
/// Table 1, "Varicella (VAR)": 12–15 mos, 4–6 yrs. Table 2: 12 months, 3 months (under 13).
pub(super) const VAR: &[Dose] = &[
    dose(M(12), M(12), M(16), None),
    dose(M(12), Y(4), Y(7), gap(M(3))),
];
/// Table 1, "Hepatitis A (HepA)": 2-dose series, 12–23 mos. Table 2: 12 months, 6 months.
pub(super) const HEPA: &[Dose] = &[
    dose(M(12), M(12), M(24), None),
    dose(M(12), M(18), M(24), gap(M(6))),
];
/// Table 1, "Tetanus, diphtheria, and acellular pertussis (Tdap ≥7 yrs)": 11–12 yrs. Notes:
/// Tdap at 10 years or older counts as the adolescent dose.
pub(super) const TDAP: &[Dose] = &[dose(Y(10), Y(11), Y(13), None)];
/// Table 1, "Human papillomavirus (HPV)": 11–12 yrs (from 9 yrs). Notes: started before 15
/// years, 2 doses 6–12 months apart (minimum 5 months).
pub(super) const HPV2: &[Dose] = &[
    dose(Y(9), Y(11), Y(13), None),
    dose(
        Y(9),
        Y(11),
        Y(13),
        Some(Gap {
            min: M(5),
            rec: M(6),
            overdue: Some(M(13)),
        }),
    ),
];
/// Notes: started at 15 years or older, 3 doses at 0, 1–2 and 6 months (minimum intervals
/// 4 weeks, 12 weeks, and 5 months after dose 1).
pub(super) const HPV3: &[Dose] = &[
    dose(Y(9), Y(11), Y(13), None),
    dose(
        Y(9),
        Y(11),
        Y(13),
        Some(Gap {
            min: W(4),
            rec: M(1),
            overdue: Some(M(3)),
        }),
    ),
    Dose {
        after_first: Some(Gap {
            min: M(5),
            rec: M(6),
            overdue: Some(M(7)),
        }),
        ..dose(Y(9), Y(11), Y(13), gap(W(12)))
    },
];
/// Table 1, "Meningococcal (MenACWY-CRM ≥2 mos, MenACWY-TT ≥2 years)": 11–12 yrs, 16 yrs.
/// Notes: booster from 16 years, 8 weeks after dose 1; none if dose 1 was at 16 or older.
pub(super) const MENACWY: &[Dose] = &[
    dose(Y(10), Y(11), Y(13), None),
    dose(Y(16), Y(16), Y(17), gap(W(8))),
];

/// The schedule covers birth through 18 years.
pub(super) const SCHEDULE_END: Span = Y(19);
