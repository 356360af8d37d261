#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use ehr_client::fhir::Resource;
use serde_json::{Value, json};

use super::*;

const NOW: &str = "2026-12-07T10:30:00Z";

fn signs(form: Value) -> Value {
    serde_json::from_str(&vital_signs(&form.to_string(), "patient-1", NOW).unwrap()).unwrap()
}

fn refused(form: Value) -> String {
    vital_signs(&form.to_string(), "patient-1", NOW)
        .unwrap_err()
        .to_string()
}

/// The resource coded `code` (LOINC) in the output.
fn coded_as<'a>(out: &'a Value, code: &str) -> &'a Value {
    out["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["code"]["coding"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["code"] == code)
        })
        .unwrap_or_else(|| panic!("no {code} in {out}"))
}

#[test]
fn pounds_inches_and_fahrenheit_convert_exactly_then_round() {
    let out = signs(json!({
        "weight": "55", "weightUnit": "lb", "height": "49", "heightUnit": "in",
        "temperature": "98.6", "temperatureUnit": "F", "birthDate": "2019-01-25",
    }));
    // 55 × 0.45359237 = 24.9475…; 49 × 2.54 = 124.46; (98.6 − 32) × 5/9 = 37.0
    assert_eq!(
        coded_as(&out, "29463-7")["valueQuantity"],
        json!({
            "value": 24.95, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"
        })
    );
    assert_eq!(coded_as(&out, "8302-2")["valueQuantity"]["value"], 124.5);
    let temperature = &coded_as(&out, "8310-5")["valueQuantity"];
    assert_eq!(temperature["value"], 37.0);
    assert_eq!(temperature["code"], "Cel");
    assert_eq!(out["questions"], json!([]));
}

#[test]
fn conversion_helpers_are_the_exact_definitions() {
    assert_eq!(KG_PER_LB * 1.0, 0.453_592_37);
    assert!((fahrenheit_to_celsius(212.0) - 100.0).abs() < 1e-12);
    assert!((fahrenheit_to_celsius(-40.0) + 40.0).abs() < 1e-12);
    assert_eq!(round_to(24.947_580_35, 0.01), 24.95);
    assert_eq!(round_to(124.46, 0.1), 124.5);
    assert_eq!(round_to(36.949, 0.1), 36.9);
}

#[test]
fn bmi_is_its_own_observation_derived_from_weight_and_height() {
    let out = signs(json!({ "weight": "30", "height": "130" }));
    let bmi = coded_as(&out, "39156-5");
    // 30 / 1.3² = 17.75…
    assert_eq!(bmi["valueQuantity"]["value"], 17.8);
    assert_eq!(bmi["valueQuantity"]["code"], "kg/m2");
    let weight = coded_as(&out, "29463-7")["id"].as_str().unwrap();
    let height = coded_as(&out, "8302-2")["id"].as_str().unwrap();
    assert_eq!(
        bmi["derivedFrom"],
        json!([
            { "reference": format!("Observation/{weight}") },
            { "reference": format!("Observation/{height}") },
        ])
    );
    assert_eq!(super::bmi(30.0, 130.0), 17.8);
}

#[test]
fn no_bmi_without_both_weight_and_height() {
    let out = signs(json!({ "weight": "30" }));
    assert_eq!(out["resources"].as_array().unwrap().len(), 1);
}

#[test]
fn every_observation_validates_as_a_us_core_vital_sign() {
    let out = signs(json!({
        "weight": "70", "height": "175", "temperature": "37.2", "heartRate": "72",
        "respiratoryRate": "14", "systolic": "120", "diastolic": "80", "spo2": "98",
        "birthDate": "1980-01-01",
    }));
    let resources = out["resources"].as_array().unwrap();
    // weight, height, temperature, heart rate, respiratory rate, SpO2, BP panel, BMI
    assert_eq!(resources.len(), 8);
    for r in resources {
        let resource = Resource::from_json(&r.to_string()).unwrap();
        resource.validate().unwrap();
        assert_eq!(r["status"], "final");
        assert_eq!(r["category"][0]["coding"][0]["code"], "vital-signs");
        assert_eq!(r["subject"]["reference"], "Patient/patient-1");
        assert_eq!(r["effectiveDateTime"], NOW);
        assert_eq!(r["meta"]["versionId"], "1");
        assert_eq!(r["code"]["coding"][0]["system"], "http://loinc.org");
        assert!(r.get("encounter").is_none());
    }
    let spo2 = coded_as(&out, "59408-5");
    assert_eq!(spo2["code"]["coding"][1]["code"], "2708-6");
    assert_eq!(spo2["valueQuantity"]["code"], "%");
    assert_eq!(coded_as(&out, "8867-4")["valueQuantity"]["code"], "/min");
    assert_eq!(coded_as(&out, "9279-1")["valueQuantity"]["value"], 14.0);
}

#[test]
fn blood_pressure_is_one_panel_with_systolic_and_diastolic_components() {
    let out = signs(json!({ "systolic": "118", "diastolic": "76" }));
    let panel = coded_as(&out, "85354-9");
    assert!(panel.get("valueQuantity").is_none());
    let components = panel["component"].as_array().unwrap();
    assert_eq!(components[0]["code"]["coding"][0]["code"], "8480-6");
    assert_eq!(components[0]["valueQuantity"]["value"], 118.0);
    assert_eq!(components[0]["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(components[1]["code"]["coding"][0]["code"], "8462-4");
    assert_eq!(components[1]["valueQuantity"]["value"], 76.0);
}

#[test]
fn the_encounter_is_linked_when_given() {
    let out = signs(json!({ "heartRate": "80", "encounter": "enc-7" }));
    assert_eq!(
        out["resources"][0]["encounter"]["reference"],
        "Encounter/enc-7"
    );
}

#[test]
fn length_under_two_years_head_circumference_coded_for_infants() {
    let out = signs(json!({ "height": "70", "head": "44", "birthDate": "2026-01-01" }));
    assert_eq!(coded_as(&out, "8306-3")["valueQuantity"]["value"], 70.0);
    assert_eq!(coded_as(&out, "9843-4")["valueQuantity"]["code"], "cm");
    let older = signs(json!({ "height": "70", "birthDate": "2023-01-01" }));
    coded_as(&older, "8302-2");
}

#[test]
fn an_implausible_heart_rate_is_questioned_not_refused() {
    let out = signs(json!({ "heartRate": "300", "birthDate": "2019-01-25" }));
    let questions = out["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1);
    let question = questions[0].as_str().unwrap();
    assert!(
        question.starts_with("Heart rate 300 /min is outside"),
        "{question}"
    );
    assert_eq!(out["resources"].as_array().unwrap().len(), 1);
}

#[test]
fn plausibility_depends_on_age() {
    let infant = signs(json!({ "weight": "40", "birthDate": "2026-06-01" }));
    assert_eq!(infant["questions"].as_array().unwrap().len(), 1, "{infant}");
    let adult = signs(json!({ "weight": "40", "birthDate": "1990-06-01" }));
    assert_eq!(adult["questions"], json!([]));
}

#[test]
fn a_converted_value_is_questioned_with_what_was_typed() {
    let out = signs(json!({ "weight": "900", "weightUnit": "lb" }));
    let question = out["questions"][0].as_str().unwrap();
    assert!(
        question.contains("408.23 kg (entered as 900 lb)"),
        "{question}"
    );
    let celsius = signs(json!({ "temperature": "98.6" }));
    assert!(celsius["questions"][0].as_str().unwrap().contains("°F"));
}

#[test]
fn an_implausible_bmi_is_questioned() {
    let out = signs(json!({ "weight": "100", "height": "100", "birthDate": "1990-06-01" }));
    let questions = out["questions"].as_array().unwrap();
    assert!(
        questions
            .iter()
            .any(|q| q.as_str().unwrap().starts_with("BMI 100")),
        "{out}"
    );
}

#[test]
fn impossible_values_are_refused_with_a_clear_message() {
    assert_eq!(
        refused(json!({ "weight": "-3" })),
        "the weight cannot be negative"
    );
    assert_eq!(
        refused(json!({ "heartRate": "fast" })),
        "the heart rate must be a number"
    );
    assert_eq!(
        refused(json!({ "temperature": "0" })),
        "the temperature cannot be zero"
    );
    assert_eq!(
        refused(json!({ "spo2": "101" })),
        "the oxygen saturation cannot be above 100 %"
    );
    assert_eq!(
        refused(json!({ "systolic": "80", "diastolic": "90" })),
        "the systolic pressure must be higher than the diastolic pressure"
    );
    assert!(refused(json!({ "systolic": "120" })).contains("both"));
    assert!(refused(json!({})).contains("empty"));
    assert!(refused(json!({ "weight": "3", "weightUnit": "stone" })).contains("weight unit"));
}

#[test]
fn a_decimal_comma_is_read_as_a_point() {
    let out = signs(json!({ "weight": "70,5" }));
    assert_eq!(out["resources"][0]["valueQuantity"]["value"], 70.5);
}

// Growth charts.

/// One WHO and one CDC weight table for boys with constant L = 1, M = 10, S = 0.1: a value of
/// 11 is z = (11/10 − 1)/(1 × 0.1) = 1, the 84.13th percentile.
fn flat_tables() -> String {
    let table = |source: &str, from: f64, to: f64| {
        json!({ "source": source, "measure": "weight", "sex": "male", "age_unit": "month",
                "unit": "kg", "rows": [[from, 1.0, 10.0, 0.1], [to, 1.0, 10.0, 0.1]] })
    };
    json!({ "tables": [table("who", 0.0, 24.0), table("cdc", 24.0, 240.0)] }).to_string()
}

fn weight(id: &str, date: &str, kg: f64) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7" }] },
        "effectiveDateTime": date,
        "valueQuantity": { "value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg" },
    })
}

fn chart<'a>(out: &'a Value, id: &str) -> &'a Value {
    out["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

#[test]
fn a_point_is_placed_by_the_lms_formula_on_its_reference() {
    let records = json!([
        weight("w1", "2020-06-01", 11.0),
        weight("w2", "2023-06-01", 11.0)
    ]);
    let out: Value = serde_json::from_str(
        &growth_chart(&flat_tables(), "male", "2020-01-01", &records.to_string()).unwrap(),
    )
    .unwrap();
    let points = chart(&out, "weight")["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (point, source) in points.iter().zip(["who", "cdc"]) {
        assert!((point["z"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{point}");
        assert!((point["percentile"].as_f64().unwrap() - 84.134_474_6).abs() < 1e-6);
        assert_eq!(point["source"], source);
    }
    // 152 days = 4.99 months
    assert!((points[0]["ageMonths"].as_f64().unwrap() - 152.0 / 30.4375).abs() < 1e-3);
}

#[test]
fn the_curves_are_the_lms_values_at_each_percentile_with_a_break_at_24_months() {
    let records = json!([
        weight("w1", "2020-06-01", 11.0),
        weight("w2", "2023-06-01", 11.0)
    ]);
    let out: Value = serde_json::from_str(
        &growth_chart(&flat_tables(), "male", "2020-01-01", &records.to_string()).unwrap(),
    )
    .unwrap();
    let weight = chart(&out, "weight");
    assert_eq!(weight["from"], 0.0);
    assert_eq!(weight["to"], 48.0);
    let curves = weight["curves"].as_array().unwrap();
    let percentiles: Vec<u64> = curves
        .iter()
        .map(|c| c["percentile"].as_u64().unwrap())
        .collect();
    assert_eq!(percentiles, [3, 15, 50, 85, 97]);
    for curve in curves {
        let z = curve["z"].as_f64().unwrap();
        let segments = curve["segments"].as_array().unwrap();
        assert_eq!(segments.len(), 2, "WHO then CDC");
        for [age, value] in segments
            .iter()
            .flat_map(|s| s.as_array().unwrap())
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        {
            assert!((0.0..=48.0).contains(&age));
            assert!((value - 10.0 * (1.0 + 0.1 * z)).abs() < 1e-3);
        }
    }
    // Nothing measured: no curves.
    assert_eq!(chart(&out, "head")["curves"], json!([]));
}

#[test]
fn real_tables_give_the_who_median_at_its_row() {
    let tables = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../clinic/data/growth.json"
    ))
    .unwrap();
    // WHO boys' length row at day 91 (week 13): L = 1, M = 61.4013.
    let length = json!([{
        "resourceType": "Observation", "id": "l1", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8306-3" }] },
        "effectiveDateTime": "2026-04-02",
        "valueQuantity": { "value": 61.4013, "unit": "cm", "code": "cm" },
    }]);
    let out: Value = serde_json::from_str(
        &growth_chart(&tables, "male", "2026-01-01", &length.to_string()).unwrap(),
    )
    .unwrap();
    let point = &chart(&out, "length")["points"][0];
    assert!(point["z"].as_f64().unwrap().abs() < 1e-9, "{point}");
    assert!((point["percentile"].as_f64().unwrap() - 50.0).abs() < 1e-6);
}

#[test]
fn bmi_is_derived_from_a_weight_and_height_of_the_same_day_from_two_years() {
    let tables = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../clinic/data/growth.json"
    ))
    .unwrap();
    let height = |id: &str, date: &str, cm: f64| {
        json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8302-2" }] },
            "effectiveDateTime": date, "valueQuantity": { "value": cm, "code": "cm" },
        })
    };
    let bundle = json!({ "resourceType": "Bundle", "entry": [
        { "resource": weight("w1", "2020-03-01T09:00:00Z", 10.0) },
        { "resource": height("h1", "2020-03-01T09:00:00Z", 80.0) },
        { "resource": weight("w2", "2024-03-01T09:00:00Z", 20.0) },
        { "resource": height("h2", "2024-03-01T09:00:00Z", 110.0) },
        { "resource": weight("w3", "2046-03-01T09:00:00Z", 70.0) },
    ]});
    let out: Value = serde_json::from_str(
        &growth_chart(&tables, "female", "2019-06-01", &bundle.to_string()).unwrap(),
    )
    .unwrap();
    let bmi = chart(&out, "bmi")["points"].as_array().unwrap();
    assert_eq!(bmi.len(), 1, "under 2 years no BMI: {bmi:?}");
    assert_eq!(bmi[0]["value"], 16.5);
    assert_eq!(bmi[0]["derived"], true);
    assert!(bmi[0]["percentile"].as_f64().is_some());
    // The weight at 26 years is past the references.
    assert_eq!(chart(&out, "weight")["points"].as_array().unwrap().len(), 2);
}

#[test]
fn growth_refuses_an_unknown_sex_and_bad_tables() {
    let tables = flat_tables();
    assert!(
        growth_chart(&tables, "unknown", "2020-01-01", "[]")
            .unwrap_err()
            .to_string()
            .contains("sex")
    );
    assert!(growth_chart("{}", "male", "2020-01-01", "[]").is_err());
}

#[test]
fn entered_in_error_measurements_are_not_charted() {
    let mut wrong = weight("w1", "2020-06-01", 11.0);
    wrong["status"] = json!("entered-in-error");
    let out: Value = serde_json::from_str(
        &growth_chart(
            &flat_tables(),
            "male",
            "2020-01-01",
            &json!([wrong]).to_string(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(chart(&out, "weight")["points"], json!([]));
}
