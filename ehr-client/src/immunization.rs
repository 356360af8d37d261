//! Forecast of routine childhood immunizations: per vaccine group, the next dose, when it may
//! be given, when it is recommended, and whether it is due or overdue today.
//!
//! The rules are those of the CDC "Child and Adolescent Immunization Schedule by Age,
//! Recommendations for Ages 18 Years or Younger, United States, 2025" (approved by ACIP, AAP,
//! AAFP, ACOG, ACNM, APA and NAPNAP):
//! - recommended ages and their ranges from Table 1 ("Recommended Child and Adolescent
//!   Immunization Schedule by Age"), one row per vaccine, cited at each series below;
//! - minimum ages and intervals from Table 2 ("Catch-up Immunization Schedule") and the Notes,
//!   with the 4-day grace period of ACIP's General Best Practice Guidelines ("Timing and
//!   Spacing of Immunobiologics": doses up to 4 days before the minimum age or interval count);
//! - ages are calendar ages: months add to the same day of the month (the CDC Clinical
//!   Decision Support for Immunization (CDSi) Logic Specification's date rules: a day the
//!   target month lacks becomes the 1st of the next month); weeks are 7 days.
//!
//! How a dose is judged: a dose counts if given at or after its minimum age and interval less
//! 4 days; invalid doses are ignored. The next dose's earliest date is the latest of minimum
//! age and minimum intervals; its recommended date the latest of the recommended age (start of
//! the Table 1 range) and the earliest date; it is overdue from the day after the Table 1 range
//! ends (a single-age column such as "2 mos" ends a month later), and never earlier than a month
//! after its recommended date.
//!
//! Simplifications (not modelled):
//! - the catch-up schedule (Table 2) beyond the minimum intervals: a late child is reported
//!   overdue for the next routine dose, not given a compressed catch-up plan; in particular
//!   DTaP past 7 years (where Tdap replaces it) shows DTaP overdue;
//! - product-dependent dose counts: rotavirus is a 3-dose series (RotaTeq, or any unknown
//!   product) even when Rotarix (2 doses) was given; Hib is the 4-dose PRP-T series even for
//!   PedvaxHIB (3 doses); Hib and PCV doses after a late first dose follow the routine table,
//!   except that a valid dose at 15 months or older completes Hib and one at 24 months or older
//!   completes PCV (Table 2);
//! - an invalid (too early) dose does not reset the interval to the next dose, as CDSi would for
//!   live vaccines and HPV;
//! - the 28-day spacing of live vaccines not given on the same day;
//! - special populations and conditions (high-risk PCV, MenACWY in infancy, HepB for infants
//!   of HBsAg-positive mothers, pregnancy), MenB (shared clinical decision-making at 16–23 years)
//!   and COVID-19 (not forecast: recognised in [`VaccineGroup::from_cvx`] only), nirsevimab;
//! - influenza: one season runs July 1 to June 30; children from 6 months through 8 years who
//!   had fewer than 2 doses before this season need 2 this season, 4 weeks apart; never overdue;
//! - changes to the schedule after its January 2025 publication.

mod cvx;
mod schedule;

use serde::Serialize;
use time::{Date, Duration, Month};

use crate::fhir::{Immunization, ImmunizationStatus};
use schedule::*;

/// The vaccine groups of the routine childhood schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum VaccineGroup {
    /// Hepatitis B.
    HepB,
    /// Rotavirus.
    #[serde(rename = "RV")]
    Rv,
    /// Diphtheria, tetanus and acellular pertussis (under 7 years).
    DTaP,
    /// Haemophilus influenzae type b.
    Hib,
    /// Pneumococcal conjugate.
    #[serde(rename = "PCV")]
    Pcv,
    /// Inactivated poliovirus.
    #[serde(rename = "IPV")]
    Ipv,
    /// Influenza.
    Influenza,
    /// Measles, mumps, rubella.
    #[serde(rename = "MMR")]
    Mmr,
    /// Varicella.
    Varicella,
    /// Hepatitis A.
    HepA,
    /// Tetanus, diphtheria and acellular pertussis (adolescent).
    Tdap,
    /// Human papillomavirus.
    #[serde(rename = "HPV")]
    Hpv,
    /// Meningococcal ACWY conjugate.
    MenACWY,
    /// Meningococcal B (not forecast).
    MenB,
    /// COVID-19 (not forecast).
    #[serde(rename = "COVID")]
    Covid,
}

impl VaccineGroup {
    /// The groups a CVX code belongs to (a combination vaccine belongs to several; an unknown
    /// code to none). See the table's sources in `immunization/cvx.rs`.
    pub fn from_cvx(code: &str) -> &'static [VaccineGroup] {
        cvx::groups(code)
    }
}

/// Where a group stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForecastStatus {
    /// No dose given and the first is not recommended yet.
    NotYet,
    /// Doses given so far are on schedule; the next is not recommended yet.
    UpToDate,
    /// The next dose is recommended now.
    Due,
    /// The next dose is past the end of its recommended age range.
    Overdue,
    /// The series is complete.
    Complete,
    /// The series is incomplete but no longer recommended at this age (rotavirus past
    /// 15 weeks without a first dose or past 8 months; Hib and PCV from 5 years).
    AgedOut,
}

/// The next dose of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextDose {
    /// Its number in the series, from 1 (for influenza: in this season).
    pub dose: u8,
    /// The first day it counts (minimum age and intervals).
    #[serde(serialize_with = "iso_date")]
    pub earliest: Date,
    /// The first day it is recommended.
    #[serde(serialize_with = "iso_date")]
    pub recommended: Date,
    /// The first day it is overdue; none for influenza.
    #[serde(serialize_with = "iso_date_opt")]
    pub overdue: Option<Date>,
}

/// The forecast of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GroupForecast {
    /// The group.
    pub group: VaccineGroup,
    /// Where it stands today.
    pub status: ForecastStatus,
    /// How many doses given count toward the series (this season's, for influenza).
    pub valid_doses: u8,
    /// The next dose, unless the series is complete or aged out.
    pub next: Option<NextDose>,
}

fn iso_date<S: serde::Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(date)
}

fn iso_date_opt<S: serde::Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

/// The forecast for a child born `birth` as of `today`, from the doses given (any order;
/// doses before birth or after today are ignored). One entry per forecast group in
/// [`VaccineGroup`] order (MenB and COVID-19 excepted); empty from the 19th birthday (the
/// schedule ends at 18 years) or when `today` is before `birth`.
pub fn forecast(birth: Date, today: Date, doses: &[(VaccineGroup, Date)]) -> Vec<GroupForecast> {
    if today < birth || today >= add(birth, SCHEDULE_END) {
        return Vec::new();
    }
    let dates = |group: VaccineGroup| {
        let mut d: Vec<Date> = doses
            .iter()
            .filter(|(g, d)| *g == group && *d >= birth && *d <= today)
            .map(|(_, d)| *d)
            .collect();
        d.sort_unstable();
        d
    };
    let c = Child { birth, today };
    let hpv = dates(VaccineGroup::Hpv);
    let hpv_table = if c.hpv_three_doses(&hpv) { HPV3 } else { HPV2 };
    use VaccineGroup::*;
    vec![
        c.series(HepB, HEPB, &dates(HepB)),
        c.series(Rv, RV, &dates(Rv)),
        c.series(DTaP, DTAP, &dates(DTaP)),
        c.series(Hib, HIB_PCV, &dates(Hib)),
        c.series(Pcv, HIB_PCV, &dates(Pcv)),
        c.series(Ipv, IPV, &dates(Ipv)),
        c.influenza(&dates(Influenza)),
        c.series(Mmr, MMR, &dates(Mmr)),
        c.series(Varicella, VAR, &dates(Varicella)),
        c.series(HepA, HEPA, &dates(HepA)),
        c.series(Tdap, TDAP, &dates(Tdap)),
        c.series(Hpv, hpv_table, &hpv),
        c.series(MenACWY, MENACWY, &dates(MenACWY)),
    ]
}

/// The doses of completed, not entered-in-error Immunization records: every group of each CVX
/// coding (system `http://hl7.org/fhir/sid/cvx`), on the date of `occurrenceDateTime`.
pub fn doses_from_immunizations(records: &[Immunization]) -> Vec<(VaccineGroup, Date)> {
    const CVX_SYSTEM: &str = "http://hl7.org/fhir/sid/cvx";
    let mut out = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.status == ImmunizationStatus::Completed)
    {
        let Some(date) = r.occurrence_date_time.as_deref().and_then(parse_date) else {
            continue;
        };
        let codes = r
            .vaccine_code
            .coding
            .iter()
            .filter(|c| c.system.as_deref() == Some(CVX_SYSTEM));
        let mut groups: Vec<VaccineGroup> = codes
            .filter_map(|c| c.code.as_deref())
            .flat_map(VaccineGroup::from_cvx)
            .copied()
            .collect();
        groups.sort_unstable();
        groups.dedup();
        out.extend(groups.into_iter().map(|g| (g, date)));
    }
    out
}

/// The date of a FHIR `date` or `dateTime` (`YYYY-MM-DD...`).
pub fn parse_date(value: &str) -> Option<Date> {
    let mut parts = value.get(..10)?.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

struct Child {
    birth: Date,
    today: Date,
}

impl Child {
    fn at(&self, age: Span) -> Date {
        add(self.birth, age)
    }

    /// HPV needs 3 doses if the first valid one was given at 15 years or later, or, with none
    /// given, if the child is 15 today.
    fn hpv_three_doses(&self, dates: &[Date]) -> bool {
        let from = self.at(Y(9)).saturating_sub(GRACE);
        let first = dates
            .iter()
            .copied()
            .find(|d| *d >= from)
            .unwrap_or(self.today);
        first >= self.at(Y(15))
    }

    /// The doses that count, in order: each no earlier than its minimum age and intervals
    /// less the grace period; extra doses past the series are ignored.
    fn valid(&self, table: &[Dose], dates: &[Date]) -> Vec<Date> {
        let mut valid: Vec<Date> = Vec::new();
        for &date in dates {
            let Some(rule) = table.get(valid.len()) else {
                break;
            };
            if date >= self.earliest(rule, &valid).saturating_sub(GRACE) {
                valid.push(date);
            }
        }
        valid
    }

    fn earliest(&self, rule: &Dose, valid: &[Date]) -> Date {
        self.latest(rule, valid, self.at(rule.min_age), |g| Some(g.min))
    }

    /// The latest of `from` and the dates the previous and first doses' gaps give.
    fn latest(
        &self,
        rule: &Dose,
        valid: &[Date],
        from: Date,
        pick: impl Fn(&Gap) -> Option<Span>,
    ) -> Date {
        let after =
            |gap: Option<Gap>, dose: Option<&Date>| match (gap.as_ref().and_then(&pick), dose) {
                (Some(span), Some(d)) => add(*d, span),
                _ => from,
            };
        from.max(after(rule.after_prev, valid.last()))
            .max(after(rule.after_first, valid.first()))
    }

    fn series(&self, group: VaccineGroup, table: &[Dose], dates: &[Date]) -> GroupForecast {
        let valid = self.valid(table, dates);
        let count = u8::try_from(valid.len()).unwrap_or(u8::MAX);
        let finished = |status| GroupForecast {
            group,
            status,
            valid_doses: count,
            next: None,
        };
        let Some(rule) = table.get(valid.len()) else {
            return finished(ForecastStatus::Complete);
        };
        if self.done_early(group, &valid) {
            return finished(ForecastStatus::Complete);
        }
        if self.aged_out(group, &valid) {
            return finished(ForecastStatus::AgedOut);
        }
        let earliest = self.earliest(rule, &valid);
        let recommended = self
            .latest(rule, &valid, self.at(rule.rec_age), |g| Some(g.rec))
            .max(earliest);
        let overdue = self
            .latest(rule, &valid, self.at(rule.overdue_age), |g| g.overdue)
            .max(add(recommended, M(1)));
        let status = if self.today >= overdue {
            ForecastStatus::Overdue
        } else if self.today >= recommended {
            ForecastStatus::Due
        } else if valid.is_empty() {
            ForecastStatus::NotYet
        } else {
            ForecastStatus::UpToDate
        };
        let next = NextDose {
            dose: count.saturating_add(1),
            earliest,
            recommended,
            overdue: Some(overdue),
        };
        GroupForecast {
            group,
            status,
            valid_doses: count,
            next: Some(next),
        }
    }

    /// Series the schedule's notes end before their last dose.
    fn done_early(&self, group: VaccineGroup, valid: &[Date]) -> bool {
        let last = valid.last().copied();
        let at_or_after = |age: Span| last.is_some_and(|d| d >= self.at(age).saturating_sub(GRACE));
        match group {
            // DTaP dose 5 is not needed if dose 4 was given at 4 years or older.
            VaccineGroup::DTaP => valid.len() == 4 && at_or_after(Y(4)),
            // IPV dose 4 is not needed if dose 3 was at 4 years or older and 6 months after dose 2.
            VaccineGroup::Ipv => {
                valid.len() == 3
                    && at_or_after(Y(4))
                    && matches!(valid, [_, d2, d3] if *d3 >= add(*d2, M(6)).saturating_sub(GRACE))
            }
            // Table 2: no further Hib dose after one at 15 months or older, nor PCV (healthy
            // children) after one at 24 months or older.
            VaccineGroup::Hib => valid
                .iter()
                .any(|d| *d >= self.at(M(15)).saturating_sub(GRACE)),
            VaccineGroup::Pcv => valid
                .iter()
                .any(|d| *d >= self.at(M(24)).saturating_sub(GRACE)),
            // MenACWY: no booster if dose 1 was given at 16 years or older.
            VaccineGroup::MenACWY => valid.len() == 1 && at_or_after(Y(16)),
            _ => false,
        }
    }

    fn aged_out(&self, group: VaccineGroup, valid: &[Date]) -> bool {
        match group {
            // Table 2: rotavirus dose 1 not started at 15 weeks 0 days or later; no dose after
            // 8 months 0 days.
            VaccineGroup::Rv => {
                (valid.is_empty() && self.today >= self.at(W(15))) || self.today > self.at(M(8))
            }
            // Hib and PCV are not routinely recommended for healthy children from 5 years.
            VaccineGroup::Hib | VaccineGroup::Pcv => self.today >= self.at(Y(5)),
            _ => false,
        }
    }

    /// Influenza (Table 1, "Influenza (IIV4 or LAIV4)": annually from 6 months; Notes: 2 doses
    /// 4 weeks apart for children 6 months–8 years with fewer than 2 doses before July 1 of
    /// the season). Seasons run July 1 to June 30.
    fn influenza(&self, dates: &[Date]) -> GroupForecast {
        let group = VaccineGroup::Influenza;
        let six_months = self.at(M(6));
        let valid: Vec<Date> = dates
            .iter()
            .copied()
            .filter(|d| *d >= six_months.saturating_sub(GRACE))
            .collect();
        let season_year = if self.today.month() >= Month::July {
            self.today.year()
        } else {
            self.today.year() - 1
        };
        let season = Date::from_calendar_date(season_year, Month::July, 1).unwrap_or(self.today);
        let (before, this): (Vec<Date>, Vec<Date>) = valid.iter().partition(|d| **d < season);
        let needed = if self.today < self.at(Y(9)) && before.len() < 2 {
            2
        } else {
            1
        };
        let count = u8::try_from(this.len()).unwrap_or(u8::MAX);
        let (dose, earliest) = if this.len() >= needed {
            // This season is done: the next is next season's first dose.
            (1, add(season, Y(1)).max(six_months))
        } else {
            let after_last = this
                .last()
                .map_or(season, |d| d.saturating_add(Duration::weeks(4)));
            (
                count.saturating_add(1),
                season.max(six_months).max(after_last),
            )
        };
        let status = if self.today >= earliest {
            ForecastStatus::Due
        } else if valid.is_empty() {
            ForecastStatus::NotYet
        } else {
            ForecastStatus::UpToDate
        };
        let next = NextDose {
            dose,
            earliest,
            recommended: earliest,
            overdue: None,
        };
        GroupForecast {
            group,
            status,
            valid_doses: count,
            next: Some(next),
        }
    }
}

#[cfg(test)]
#[path = "immunization/tests.rs"]
mod tests;
