//! Checks against published WHO and CDC numbers and against values computed independently
//! (Python's `math.erfc` and the LMS formulas, recorded below).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

/// WHO Child Growth Standards, weight-for-age, boys, z-scores by month
/// (`wfa_boys_0-to-5-years_zscores`): months 0, 1 and 2 (Month, L, M, S).
fn who_weight_boys() -> LmsTable {
    LmsTable {
        source: GrowthSource::Who,
        measure: Measure::Weight,
        sex: Sex::Male,
        age_unit: AgeUnit::Month,
        rows: vec![
            LmsRow::from([0.0, 0.3487, 3.3464, 0.14602]),
            LmsRow::from([1.0, 0.2297, 4.4709, 0.13395]),
            LmsRow::from([2.0, 0.1970, 5.5675, 0.12385]),
        ],
    }
}

/// CDC 2000 BMI-for-age, males (`bmiagerev.csv`, Sex 1): Agemos 24 and 24.5.
fn cdc_bmi_boys() -> LmsTable {
    LmsTable {
        source: GrowthSource::Cdc,
        measure: Measure::Bmi,
        sex: Sex::Male,
        age_unit: AgeUnit::Month,
        rows: vec![
            LmsRow::from([24.0, -2.01118107, 16.57502768, 0.080592465]),
            LmsRow::from([24.5, -1.982373595, 16.54777487, 0.080127429]),
        ],
    }
}

fn tables() -> Vec<LmsTable> {
    vec![who_weight_boys(), cdc_bmi_boys()]
}

fn birth_row() -> LmsRow {
    who_weight_boys().rows[0]
}

const CDC_24_MONTHS_DAYS: f64 = 24.0 * DAYS_PER_MONTH;

#[test]
fn the_median_of_a_published_row_has_z_zero() {
    let p = measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, 3.3464).unwrap();
    assert!(p.z.abs() < 1e-6, "{}", p.z);
    assert!((p.percentile - 50.0).abs() < 1e-6);
    assert_eq!(p.source, GrowthSource::Who);
}

#[test]
fn the_sd2_value_of_a_published_row_has_z_two() {
    let r = birth_row();
    let sd2 = r.m * (1.0 + 2.0 * r.l * r.s).powf(1.0 / r.l);
    let p = measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, sd2).unwrap();
    assert!((p.z - 2.0).abs() < 1e-6, "{}", p.z);
}

#[test]
fn the_curves_round_to_the_who_published_sd_values() {
    // WHO table, month 0: SD3neg..SD3 = 2.1 2.5 2.9 3.3 3.9 4.4 5.0 kg (rounded to 0.1).
    let published = [2.1, 2.5, 2.9, 3.3, 3.9, 4.4, 5.0];
    for (z, kg) in (-3..=3).zip(published) {
        let v = value_at_z(&birth_row(), f64::from(z));
        assert!((v - kg).abs() <= 0.05 + 1e-9, "z {z}: {v} vs {kg}");
    }
}

#[test]
fn a_rounded_published_value_gets_the_independently_computed_percentile() {
    // 4.4 kg at birth: z 1.9669073253720117, percentile 97.54030520628822 (Python math.erfc).
    let p = measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, 4.4).unwrap();
    assert!((p.z - 1.966_907_325_372_011_7).abs() < 1e-9);
    assert!((p.percentile - 97.540_305_206_288_22).abs() < 1e-7);
}

#[test]
fn cdc_published_bmi_percentiles_are_reproduced() {
    // bmiagerev.csv, males, Agemos 24: P5 14.73731947, P50 16.57502768, P85 18.16219473,
    // P95 19.33801062. The published values have 10 digits, so 1e-5 of a percentile.
    for (bmi, pct) in [
        (14.73731947, 5.0),
        (16.57502768, 50.0),
        (18.16219473, 85.0),
        (19.33801062, 95.0),
    ] {
        let p = measure_percentile(&tables(), Measure::Bmi, Sex::Male, CDC_24_MONTHS_DAYS, bmi)
            .unwrap();
        assert_eq!(p.source, GrowthSource::Cdc);
        assert!((p.percentile - pct).abs() < 1e-5, "{bmi}: {}", p.percentile);
    }
}

#[test]
fn lms_is_interpolated_linearly_between_rows() {
    // Half a month: the mean of rows 0 and 1; z 1.0272161358195415 for 4.5 kg (Python).
    let lms = who_weight_boys().lms_at(0.5).unwrap();
    assert!((lms.l - 0.2892).abs() < 1e-12);
    assert!((lms.m - 3.90865).abs() < 1e-12);
    assert!((lms.s - 0.139985).abs() < 1e-12);
    let p = measure_percentile(
        &tables(),
        Measure::Weight,
        Sex::Male,
        0.5 * DAYS_PER_MONTH,
        4.5,
    )
    .unwrap();
    assert!((p.z - 1.027_216_135_819_541_5).abs() < 1e-9);
}

#[test]
fn an_age_on_a_row_takes_that_row() {
    assert_eq!(
        who_weight_boys().lms_at(1.0).unwrap(),
        who_weight_boys().rows[1]
    );
}

#[test]
fn who_weight_beyond_plus_three_is_restricted() {
    // 6.0 kg at birth: LMS z 4.4347, restricted 3 + (6 − SD3)/(SD3 − SD2) = 4.585774285207116.
    let p = measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, 6.0).unwrap();
    assert!((p.z - 4.585_774_285_207_116).abs() < 1e-9, "{}", p.z);
}

#[test]
fn who_weight_beyond_minus_three_is_restricted() {
    // 1.8 kg at birth: LMS z −3.8189, restricted −3.739589424615126.
    let p = measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, 1.8).unwrap();
    assert!((p.z + 3.739_589_424_615_126).abs() < 1e-9, "{}", p.z);
}

#[test]
fn cdc_bmi_beyond_three_is_not_restricted() {
    // BMI 30 at 24 months: plain LMS z 4.298710877423685.
    let p =
        measure_percentile(&tables(), Measure::Bmi, Sex::Male, CDC_24_MONTHS_DAYS, 30.0).unwrap();
    assert!((p.z - 4.298_710_877_423_685).abs() < 1e-9);
}

#[test]
fn z_with_l_zero_is_the_log_formula() {
    let lms = LmsRow::from([0.0, 0.0, 10.0, 0.1]);
    assert!((z_score(11.0, &lms) - (1.1_f64).ln() / 0.1).abs() < 1e-12);
    assert!((value_at_z(&lms, 1.5) - 10.0 * (0.15_f64).exp()).abs() < 1e-12);
}

#[test]
fn normal_cdf_matches_reference_values() {
    // Python 0.5·erfc(−x/√2).
    let cases = [
        (1.0, 0.841_344_746_068_542_9),
        (1.96, 0.975_002_104_851_779_5),
        (-3.0, 0.001_349_898_031_630_095_7),
        (2.0, 0.977_249_868_051_820_8),
        (-1.5, 0.066_807_201_268_858_09),
        (0.25, 0.598_706_325_682_923_7),
        (-6.0, 9.865_876_450_377_012e-10),
        (6.0, 0.999_999_999_013_412_3),
        (0.0, 0.5),
    ];
    for (x, want) in cases {
        assert!((normal_cdf(x) - want).abs() < 1e-12, "Φ({x})");
    }
    assert_eq!(normal_cdf(-9.0), 0.0);
    assert_eq!(normal_cdf(9.0), 1.0);
}

#[test]
fn under_24_months_uses_who_and_from_24_months_cdc() {
    let t = tables();
    let before = select_table(&t, Measure::Bmi, Sex::Male, CDC_24_MONTHS_DAYS - 1.0);
    assert_eq!(
        before,
        Err(GrowthError::NoTable {
            reference: GrowthSource::Who,
            measure: Measure::Bmi
        })
    );
    let at = select_table(&t, Measure::Bmi, Sex::Male, CDC_24_MONTHS_DAYS).unwrap();
    assert_eq!(at.source, GrowthSource::Cdc);
}

#[test]
fn length_becomes_height_from_24_months() {
    let err = select_table(&[], Measure::Length, Sex::Female, CDC_24_MONTHS_DAYS + 10.0);
    assert_eq!(
        err,
        Err(GrowthError::NoTable {
            reference: GrowthSource::Cdc,
            measure: Measure::Height
        })
    );
    let err = select_table(&[], Measure::Height, Sex::Female, 100.0);
    assert_eq!(
        err,
        Err(GrowthError::NoTable {
            reference: GrowthSource::Who,
            measure: Measure::Length
        })
    );
}

#[test]
fn the_other_sex_has_no_table() {
    let err = measure_percentile(&tables(), Measure::Weight, Sex::Female, 0.0, 3.0);
    assert!(matches!(err, Err(GrowthError::NoTable { .. })));
}

#[test]
fn ages_outside_the_references_are_refused() {
    let t = tables();
    for days in [-1.0, 240.5 * DAYS_PER_MONTH, f64::NAN] {
        assert_eq!(
            measure_percentile(&t, Measure::Bmi, Sex::Male, days, 16.0),
            Err(GrowthError::AgeOutOfRange)
        );
    }
    // Past the last row of the loaded table (the fixture stops at 2 months).
    assert_eq!(
        measure_percentile(&t, Measure::Weight, Sex::Male, 3.0 * DAYS_PER_MONTH, 6.0),
        Err(GrowthError::AgeOutOfRange)
    );
}

#[test]
fn non_positive_values_are_refused() {
    for v in [0.0, -3.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            measure_percentile(&tables(), Measure::Weight, Sex::Male, 0.0, v),
            Err(GrowthError::NonPositiveValue)
        );
    }
}

#[test]
fn unsorted_rows_are_a_malformed_table() {
    let mut t = who_weight_boys();
    t.rows.swap(0, 1);
    assert_eq!(t.lms_at(0.5), Err(GrowthError::InvalidTable));
}

#[test]
fn a_table_reads_from_the_data_file_format() {
    let json = r#"{"source":"who","measure":"weight","sex":"male","age_unit":"day",
        "rows":[[0,0.3487,3.3464,0.14602]]}"#;
    let t: LmsTable = serde_json::from_str(json).unwrap();
    assert_eq!(
        (t.source, t.measure, t.sex, t.age_unit),
        (GrowthSource::Who, Measure::Weight, Sex::Male, AgeUnit::Day)
    );
    assert_eq!(
        t.rows[0],
        LmsRow {
            age: 0.0,
            l: 0.3487,
            m: 3.3464,
            s: 0.14602
        }
    );
    let back: LmsTable = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

/// WHO weight-for-age, boys, birth to 13 weeks (`wfa_boys_0_13_zscores`): weeks 0 and 1, with
/// the week written as day 7w as the reference data files do.
fn who_weight_boys_weekly() -> LmsTable {
    LmsTable {
        age_unit: AgeUnit::Day,
        rows: vec![
            LmsRow::from([0.0, 0.3487, 3.3464, 0.14602]),
            LmsRow::from([7.0, 0.2776, 3.4879, 0.14483]),
        ],
        ..who_weight_boys()
    }
}

#[test]
fn the_weekly_table_wins_where_it_reaches() {
    let t = [who_weight_boys(), who_weight_boys_weekly()];
    // Week 1's median: z 0 on the weekly table (the monthly rows would interpolate 3.61 kg).
    let p = measure_percentile(&t, Measure::Weight, Sex::Male, 7.0, 3.4879).unwrap();
    assert!(p.z.abs() < 1e-9, "{}", p.z);
    // Past the weekly rows the monthly table answers.
    let p = measure_percentile(&t, Measure::Weight, Sex::Male, DAYS_PER_MONTH, 4.4709).unwrap();
    assert!(p.z.abs() < 1e-9, "{}", p.z);
}
