//! Cases written from the CDC Child and Adolescent Immunization Schedule, 2025 (Table 1 ages,
//! Table 2 minimum intervals, Notes).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::VaccineGroup::*;
use super::*;
use crate::fhir::{CodeableConcept, Coding};

fn ymd(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
}

fn status_of(f: &[GroupForecast], group: VaccineGroup) -> ForecastStatus {
    f.iter().find(|g| g.group == group).unwrap().status
}

fn next_of(f: &[GroupForecast], group: VaccineGroup) -> NextDose {
    f.iter().find(|g| g.group == group).unwrap().next.unwrap()
}

fn groups_with(f: &[GroupForecast], status: ForecastStatus) -> Vec<VaccineGroup> {
    f.iter()
        .filter(|g| g.status == status)
        .map(|g| g.group)
        .collect()
}

/// Every routine dose through 4–6 years at the Table 1 ages: HepB birth, 2, 6 mos; RV, DTaP,
/// Hib, PCV, IPV at 2, 4, 6 mos; Hib, PCV, MMR, VAR, HepA at 12 mos; DTaP at 15 mos; HepA at
/// 18 mos; DTaP, IPV, MMR, VAR at 4 yrs.
fn childhood_series(birth: Date) -> Vec<(VaccineGroup, Date)> {
    let at = |s| add(birth, s);
    let mut doses = vec![(HepB, birth), (HepB, at(M(2))), (HepB, at(M(6)))];
    for g in [Rv, DTaP, Hib, Pcv, Ipv] {
        doses.extend([(g, at(M(2))), (g, at(M(4))), (g, at(M(6)))]);
    }
    for g in [Hib, Pcv, Mmr, Varicella, HepA] {
        doses.push((g, at(M(12))));
    }
    doses.extend([(DTaP, at(M(15))), (HepA, at(M(18)))]);
    for g in [DTaP, Ipv, Mmr, Varicella] {
        doses.push((g, at(Y(4))));
    }
    doses
}

#[test]
fn a_newborn_is_due_hepb_only() {
    let birth = ymd(2025, 3, 10);
    let f = forecast(birth, birth, &[]);
    assert_eq!(groups_with(&f, ForecastStatus::Due), [HepB]);
    assert_eq!(f.len(), 13);
    assert!(
        f.iter()
            .filter(|g| g.group != HepB)
            .all(|g| g.status == ForecastStatus::NotYet)
    );
    assert_eq!(
        next_of(&f, HepB),
        NextDose {
            dose: 1,
            earliest: birth,
            recommended: birth,
            overdue: Some(ymd(2025, 4, 10))
        }
    );
}

#[test]
fn a_two_month_old_with_birth_hepb_is_due_the_two_month_vaccines() {
    let birth = ymd(2025, 1, 10);
    let f = forecast(birth, ymd(2025, 3, 10), &[(HepB, birth)]);
    assert_eq!(
        groups_with(&f, ForecastStatus::Due),
        [HepB, Rv, DTaP, Hib, Pcv, Ipv]
    );
    assert_eq!(next_of(&f, HepB).dose, 2);
    assert_eq!(
        next_of(&f, DTaP),
        NextDose {
            dose: 1,
            earliest: ymd(2025, 2, 21),
            recommended: ymd(2025, 3, 10),
            overdue: Some(ymd(2025, 4, 10)),
        }
    );
    assert!(groups_with(&f, ForecastStatus::Overdue).is_empty());
}

#[test]
fn a_seven_month_old_with_nothing_after_two_months_is_overdue() {
    let birth = ymd(2024, 8, 5);
    let two_months = ymd(2024, 10, 5);
    let mut doses = vec![(HepB, birth)];
    doses.extend([HepB, Rv, DTaP, Hib, Pcv, Ipv].map(|g| (g, two_months)));
    let f = forecast(birth, ymd(2025, 3, 5), &doses);
    // The 4-month doses were overdue from 5 months; HepB 3 is in its 6–18 month range.
    assert_eq!(
        groups_with(&f, ForecastStatus::Overdue),
        [Rv, DTaP, Hib, Pcv, Ipv]
    );
    assert!(
        f.iter()
            .filter(|g| groups_with(&f, ForecastStatus::Overdue).contains(&g.group))
            .all(|g| g.next.unwrap().dose == 2)
    );
    assert_eq!(status_of(&f, HepB), ForecastStatus::Due);
    assert_eq!(next_of(&f, HepB).dose, 3);
    // First influenza season from 6 months: dose 1 of 2.
    assert_eq!(status_of(&f, Influenza), ForecastStatus::Due);
}

#[test]
fn a_fully_vaccinated_five_year_old_is_complete() {
    let birth = ymd(2020, 4, 1);
    let mut doses = childhood_series(birth);
    doses.extend(
        [
            ymd(2020, 10, 1),
            ymd(2020, 11, 1),
            ymd(2023, 10, 1),
            ymd(2024, 10, 1),
        ]
        .map(|d| (Influenza, d)),
    );
    let f = forecast(birth, ymd(2025, 5, 1), &doses);
    assert_eq!(
        groups_with(&f, ForecastStatus::Complete),
        [HepB, Rv, DTaP, Hib, Pcv, Ipv, Mmr, Varicella, HepA]
    );
    assert_eq!(status_of(&f, Influenza), ForecastStatus::UpToDate);
    assert_eq!(next_of(&f, Influenza).earliest, ymd(2025, 7, 1));
    assert_eq!(
        groups_with(&f, ForecastStatus::NotYet),
        [Tdap, Hpv, MenACWY]
    );
}

#[test]
fn an_eleven_year_old_is_due_tdap_hpv_and_menacwy() {
    let birth = ymd(2014, 3, 1);
    let mut doses = childhood_series(birth);
    doses.push((Influenza, ymd(2024, 10, 1)));
    let f = forecast(birth, ymd(2025, 3, 15), &doses);
    assert_eq!(groups_with(&f, ForecastStatus::Due), [Tdap, Hpv, MenACWY]);
    assert_eq!(next_of(&f, Tdap).recommended, ymd(2025, 3, 1));
    assert_eq!(next_of(&f, Hpv).overdue, Some(ymd(2027, 3, 1)));
    assert_eq!(
        groups_with(&f, ForecastStatus::Complete),
        [HepB, Rv, DTaP, Hib, Pcv, Ipv, Mmr, Varicella, HepA]
    );
}

#[test]
fn an_adult_gets_no_childhood_forecast() {
    assert!(forecast(ymd(2000, 1, 1), ymd(2025, 3, 1), &[]).is_empty());
}

#[test]
fn the_schedule_runs_through_eighteen_years() {
    let birth = ymd(2006, 6, 1);
    assert_eq!(forecast(birth, ymd(2025, 5, 31), &[]).len(), 13);
    assert!(forecast(birth, ymd(2025, 6, 1), &[]).is_empty());
}

#[test]
fn a_dose_before_its_minimum_interval_does_not_count() {
    let birth = ymd(2024, 1, 1);
    // DTaP 2 two weeks after dose 1 (minimum 4 weeks): only dose 1 counts.
    let f = forecast(
        birth,
        ymd(2024, 3, 20),
        &[(DTaP, ymd(2024, 3, 1)), (DTaP, ymd(2024, 3, 15))],
    );
    let g = f.iter().find(|g| g.group == DTaP).unwrap();
    assert_eq!(g.valid_doses, 1);
    assert_eq!(g.next.unwrap().earliest, ymd(2024, 3, 29));
}

#[test]
fn a_dose_within_the_four_day_grace_period_counts() {
    let birth = ymd(2024, 1, 1);
    // Minimum age 6 weeks is 2024-02-12; 4 days earlier still counts, 5 days does not.
    let counted = |d| forecast(birth, ymd(2024, 3, 1), &[(DTaP, d)])[2].valid_doses;
    assert_eq!(counted(ymd(2024, 2, 8)), 1);
    assert_eq!(counted(ymd(2024, 2, 7)), 0);
}

#[test]
fn rotavirus_is_not_started_after_fifteen_weeks() {
    let birth = ymd(2024, 1, 1);
    let f = forecast(birth, ymd(2024, 4, 15), &[]);
    assert_eq!(status_of(&f, Rv), ForecastStatus::AgedOut);
    assert!(f.iter().find(|g| g.group == Rv).unwrap().next.is_none());
}

#[test]
fn rotavirus_ends_at_eight_months() {
    let birth = ymd(2024, 1, 1);
    let f = forecast(birth, ymd(2024, 9, 2), &[(Rv, ymd(2024, 3, 1))]);
    assert_eq!(status_of(&f, Rv), ForecastStatus::AgedOut);
}

#[test]
fn dtap_five_is_not_needed_after_dtap_four_at_four_years() {
    let birth = ymd(2019, 1, 1);
    let doses = [
        ymd(2019, 3, 1),
        ymd(2019, 5, 1),
        ymd(2019, 7, 1),
        ymd(2023, 2, 1),
    ]
    .map(|d| (DTaP, d));
    assert_eq!(
        status_of(&forecast(birth, ymd(2023, 6, 1), &doses), DTaP),
        ForecastStatus::Complete
    );
}

#[test]
fn ipv_four_before_four_years_does_not_count() {
    let birth = ymd(2019, 1, 1);
    let doses = [
        ymd(2019, 3, 1),
        ymd(2019, 5, 1),
        ymd(2019, 7, 1),
        ymd(2020, 6, 1),
    ]
    .map(|d| (Ipv, d));
    let f = forecast(birth, ymd(2023, 3, 1), &doses);
    assert_eq!(status_of(&f, Ipv), ForecastStatus::Due);
    assert_eq!(next_of(&f, Ipv).dose, 4);
}

#[test]
fn hib_and_pcv_age_out_at_five_years() {
    let f = forecast(ymd(2019, 1, 1), ymd(2024, 2, 1), &[]);
    assert_eq!(status_of(&f, Hib), ForecastStatus::AgedOut);
    assert_eq!(status_of(&f, Pcv), ForecastStatus::AgedOut);
}

#[test]
fn hib_after_fifteen_months_completes_the_series() {
    let birth = ymd(2022, 1, 1);
    let f = forecast(birth, ymd(2023, 8, 1), &[(Hib, ymd(2023, 5, 1))]);
    assert_eq!(status_of(&f, Hib), ForecastStatus::Complete);
}

#[test]
fn hpv_started_before_fifteen_needs_two_doses_six_months_apart() {
    let birth = ymd(2012, 5, 1);
    let f = forecast(birth, ymd(2024, 1, 1), &[(Hpv, ymd(2023, 6, 1))]);
    let next = next_of(&f, Hpv);
    assert_eq!(
        (next.dose, next.earliest, next.recommended),
        (2, ymd(2023, 11, 1), ymd(2023, 12, 1))
    );
    assert_eq!(status_of(&f, Hpv), ForecastStatus::Due);
    let done = forecast(
        birth,
        ymd(2024, 1, 1),
        &[(Hpv, ymd(2023, 6, 1)), (Hpv, ymd(2023, 12, 1))],
    );
    assert_eq!(status_of(&done, Hpv), ForecastStatus::Complete);
}

#[test]
fn hpv_started_at_fifteen_needs_three_doses() {
    let birth = ymd(2008, 1, 1);
    let doses = [(Hpv, ymd(2023, 3, 1)), (Hpv, ymd(2023, 4, 1))];
    let f = forecast(birth, ymd(2023, 6, 1), &doses);
    let next = next_of(&f, Hpv);
    // Dose 3: 12 weeks after dose 2, 5 months after dose 1; recommended 6 months after dose 1.
    assert_eq!(
        (next.dose, next.earliest, next.recommended),
        (3, ymd(2023, 8, 1), ymd(2023, 9, 1))
    );
    assert_eq!(status_of(&f, Hpv), ForecastStatus::UpToDate);
}

#[test]
fn menacwy_booster_is_due_at_sixteen() {
    let birth = ymd(2008, 3, 1);
    let f = forecast(birth, ymd(2024, 4, 1), &[(MenACWY, ymd(2019, 4, 1))]);
    assert_eq!(status_of(&f, MenACWY), ForecastStatus::Due);
    assert_eq!(next_of(&f, MenACWY).dose, 2);
}

#[test]
fn menacwy_first_dose_at_sixteen_needs_no_booster() {
    let birth = ymd(2007, 3, 1);
    let f = forecast(birth, ymd(2024, 4, 1), &[(MenACWY, ymd(2023, 6, 1))]);
    assert_eq!(status_of(&f, MenACWY), ForecastStatus::Complete);
}

#[test]
fn a_young_child_needs_two_influenza_doses_in_the_first_season() {
    let birth = ymd(2023, 1, 1);
    let f = forecast(birth, ymd(2023, 11, 15), &[(Influenza, ymd(2023, 10, 1))]);
    assert_eq!(status_of(&f, Influenza), ForecastStatus::Due);
    assert_eq!(next_of(&f, Influenza).dose, 2);
    assert_eq!(next_of(&f, Influenza).earliest, ymd(2023, 10, 29));
}

#[test]
fn influenza_is_due_again_next_season() {
    let birth = ymd(2015, 1, 1);
    let f = forecast(birth, ymd(2024, 9, 1), &[(Influenza, ymd(2023, 10, 1))]);
    assert_eq!(status_of(&f, Influenza), ForecastStatus::Due);
    assert_eq!(
        next_of(&f, Influenza),
        NextDose {
            dose: 1,
            earliest: ymd(2024, 7, 1),
            recommended: ymd(2024, 7, 1),
            overdue: None
        }
    );
}

#[test]
fn a_combination_cvx_code_counts_for_each_group() {
    assert_eq!(VaccineGroup::from_cvx("110"), [DTaP, HepB, Ipv]);
    assert_eq!(VaccineGroup::from_cvx("146"), [DTaP, Ipv, Hib, HepB]);
    assert_eq!(VaccineGroup::from_cvx("94"), [Mmr, Varicella]);
}

#[test]
fn cvx_codes_match_with_or_without_leading_zeros() {
    assert_eq!(VaccineGroup::from_cvx("08"), [HepB]);
    assert_eq!(VaccineGroup::from_cvx("8"), [HepB]);
    assert_eq!(VaccineGroup::from_cvx("20"), [DTaP]);
    assert!(VaccineGroup::from_cvx("33").is_empty());
    assert!(VaccineGroup::from_cvx("").is_empty());
}

#[test]
fn months_add_by_calendar_and_a_missing_day_rolls_to_the_first() {
    assert_eq!(add(ymd(2024, 1, 15), M(2)), ymd(2024, 3, 15));
    assert_eq!(add(ymd(2024, 1, 31), M(1)), ymd(2024, 3, 1));
    assert_eq!(add(ymd(2023, 11, 30), M(3)), ymd(2024, 3, 1));
    assert_eq!(add(ymd(2020, 2, 29), Y(1)), ymd(2021, 3, 1));
    assert_eq!(add(ymd(2024, 12, 31), W(1)), ymd(2025, 1, 7));
}

#[test]
fn immunization_records_become_doses() {
    let record = |code: &str, date: &str, status| Immunization {
        status,
        vaccine_code: CodeableConcept {
            coding: vec![Coding::new("http://hl7.org/fhir/sid/cvx", code, "")],
            text: None,
        },
        occurrence_date_time: Some(date.to_owned()),
        ..Immunization::default()
    };
    let doses = doses_from_immunizations(&[
        record("110", "2024-03-01T10:00:00Z", ImmunizationStatus::Completed),
        record("20", "2024-05-01", ImmunizationStatus::EnteredInError),
        record("10", "2024-05-01", ImmunizationStatus::NotDone),
    ]);
    let d = ymd(2024, 3, 1);
    assert_eq!(doses, [(HepB, d), (DTaP, d), (Ipv, d)]);
}

#[test]
fn fhir_dates_parse() {
    assert_eq!(parse_date("2024-02-29"), Some(ymd(2024, 2, 29)));
    assert_eq!(parse_date("2024-02-30"), None);
    assert_eq!(parse_date("2024"), None);
}
