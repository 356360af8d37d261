#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app's vitals entry and growth chart in a real browser (headless Chromium from
//! Debian, driven by playwright-core), the demo practice in-process on ports :0:
//! - the doctor enters a child's vitals in lb, in and °F with an implausible heart rate, is
//!   questioned and confirms;
//! - the nurse reads the records back with the CLI: LOINC-coded, UCUM units, converted exactly;
//! - the Growth tab shows the new weight with the percentile computed here, independently, from
//!   the LMS row of clinic/data/growth.json.
//!
//! Screenshots of the form and the weight chart at 1280 and 375 px stay in
//! `$CARGO_TARGET_DIR/clinic-screenshots/`. Needs `scripts/build-web`, Chromium and
//! `npm ci --prefix tests/node`; `scripts/test` does all three.

mod clinic_common;
mod demo_common;

use std::path::Path;

use clinic_common::{CHROMIUM, assert_same_origin, screenshot_dir};
use demo_common::{Seeded, ehr, start_seeded};
use serde_json::{Value, json};

/// Mateo, the demo's younger child (born 2019-01-25, male).
const MATEO: usize = 9;
const MATEO_BORN: (i64, i64, i64) = (2019, 1, 25);

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Φ(z) by Simpson's rule on the normal density (independent of the code under test).
fn normal_cdf(z: f64) -> f64 {
    let n = 20_000;
    let h = z / f64::from(n);
    let pdf = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut sum = pdf(0.0) + pdf(z);
    for i in 1..n {
        sum += pdf(h * f64::from(i)) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    0.5 + sum * h / 3.0
}

/// The percentile of a boy's `kg` at `months` on the CDC weight-for-age table, by linear
/// interpolation of the LMS rows and z = ((X/M)^L − 1)/(L·S).
fn cdc_weight_percentile(kg: f64, months: f64) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clinic/data/growth.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let table = file["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == "cdc" && t["measure"] == "weight" && t["sex"] == "male")
        .unwrap();
    let rows: Vec<[f64; 4]> = serde_json::from_value(table["rows"].clone()).unwrap();
    let upper = rows.iter().position(|r| r[0] >= months).unwrap();
    let (lo, hi) = (rows[upper - 1], rows[upper]);
    let t = (months - lo[0]) / (hi[0] - lo[0]);
    let [l, m, s] = [1, 2, 3].map(|i| lo[i] + (hi[i] - lo[i]) * t);
    let z = ((kg / m).powf(l) - 1.0) / (l * s);
    normal_cdf(z) * 100.0
}

/// The Observation in `bundle` coded `code` (LOINC) measured at `effective`.
fn observation<'a>(bundle: &'a Value, code: &str, effective: &str) -> &'a Value {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| {
            r["resourceType"] == "Observation"
                && r["effectiveDateTime"] == effective
                && r["code"]["coding"][0]["code"] == code
        })
        .unwrap_or_else(|| panic!("no {code} at {effective}"))
}

fn assert_ucum(resource: &Value, value: f64, code: &str) {
    let quantity = &resource["valueQuantity"];
    assert_eq!(
        quantity["system"], "http://unitsofmeasure.org",
        "{resource}"
    );
    assert_eq!(quantity["code"], code, "{resource}");
    assert!(
        (quantity["value"].as_f64().unwrap() - value).abs() < 1e-9,
        "{resource}"
    );
    assert_eq!(resource["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(resource["category"][0]["coding"][0]["code"], "vital-signs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vitals_entered_in_us_units_are_stored_in_ucum_and_charted_at_the_right_percentile() {
    let wasm = Path::new(ehr_web::DEFAULT_ASSETS_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(
        wasm.is_file(),
        "the WebAssembly is not built: run scripts/build-web"
    );
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.doctor.nsec().as_str(),
        "search": "mateo",
        "units": { "Weight unit": "lb", "Height unit": "in", "Temperature unit": "F" },
        "vitals": {
            "Weight": "55", "Height": "49", "Temperature": "98.6", "Heart rate (/min)": "300",
            "Respiratory rate (/min)": "20", "SpO2 (%)": "98", "Systolic": "100", "Diastolic": "62",
        },
        "screenshots": {
            "form1280": shots.join("vitals-form-1280px.png"),
            "question1280": shots.join("vitals-question-1280px.png"),
            "growth1280": shots.join("growth-weight-1280px.png"),
            "growthTab1280": shots.join("growth-tab-1280px.png"),
            "form375": shots.join("vitals-form-375px.png"),
            "growth375": shots.join("growth-weight-375px.png"),
        },
    });
    let result = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-vitals.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0);
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_eq!(result["error"], "", "{result}");
    assert!(result["heading"].as_str().unwrap().contains("Mateo"));
    assert!(
        result["tabs"]
            .as_array()
            .unwrap()
            .contains(&json!("Growth"))
    );

    // Questioned on the heart rate, saved only once confirmed.
    let question = result["question"].as_str().unwrap();
    assert!(
        question.contains("Heart rate 300 /min is outside"),
        "{question}"
    );
    assert_eq!(result["confirmLabel"], "Save vitals anyway");
    let remembered: Value =
        serde_json::from_str(result["unitsRemembered"].as_str().unwrap()).unwrap();
    assert_eq!(
        remembered,
        json!({ "weight": "lb", "length": "in", "temperature": "F" })
    );
    assert_eq!(result["unitAfterReload"], "lb");

    // The nurse reads the records: LOINC codes, UCUM units, values converted exactly.
    let mateo = &keys.patients[MATEO];
    let nurse_home = home.path().join("nurse");
    ehr(
        &nurse_home,
        &keys.nurse,
        &["practice", "connect", &connection],
    );
    let bundle = ehr(
        &nurse_home,
        &keys.nurse,
        &[
            "chart",
            "show",
            "--patient",
            &mateo.npub(),
            "--format",
            "bundle",
        ],
    );
    stack.stop().await;
    let hr = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| {
            r["code"]["coding"][0]["code"] == "8867-4" && r["valueQuantity"]["value"] == 300.0
        })
        .expect("the confirmed heart rate");
    let when = hr["effectiveDateTime"].as_str().unwrap();
    assert_ucum(hr, 300.0, "/min");
    // 55 lb × 0.45359237 = 24.9476 kg; 49 in × 2.54 = 124.46 cm; (98.6 − 32) × 5/9 = 37 °C.
    assert_ucum(observation(&bundle, "29463-7", when), 24.95, "kg");
    assert_ucum(observation(&bundle, "8302-2", when), 124.5, "cm");
    assert_ucum(observation(&bundle, "8310-5", when), 37.0, "Cel");
    assert_ucum(observation(&bundle, "9279-1", when), 20.0, "/min");
    assert_ucum(observation(&bundle, "59408-5", when), 98.0, "%");
    // 24.95 / 1.245² = 16.097
    assert_ucum(observation(&bundle, "39156-5", when), 16.1, "kg/m2");
    let bp = observation(&bundle, "85354-9", when);
    assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
    assert_eq!(bp["component"][0]["valueQuantity"]["value"], 100.0);
    assert_eq!(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(bp["component"][1]["code"]["coding"][0]["code"], "8462-4");
    assert_eq!(bp["component"][1]["valueQuantity"]["value"], 62.0);

    // The Growth tab: one more weight, its percentile as computed here from the LMS row.
    let weight_chart = |growth: &Value| {
        growth
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["measure"] == "weight")
            .cloned()
            .unwrap_or_else(|| panic!("no weight chart: {growth}"))
    };
    let (before, after) = (
        weight_chart(&result["before"]),
        weight_chart(&result["after"]),
    );
    assert_eq!(
        after["points"].as_u64().unwrap(),
        before["points"].as_u64().unwrap() + 1,
        "{result}"
    );
    assert_eq!(
        after["curves"].as_u64().unwrap() % 5,
        0,
        "five percentile curves"
    );
    let newest = &after["rows"][0];
    assert_eq!(newest[0], &when[..10]);
    assert_eq!(newest[2], "24.95 kg");
    let date: Vec<i64> = when[..10].split('-').map(|p| p.parse().unwrap()).collect();
    let (y, m, d) = MATEO_BORN;
    let months =
        (days_from_civil(date[0], date[1], date[2]) - days_from_civil(y, m, d)) as f64 / 30.4375;
    let expected = cdc_weight_percentile(24.95, months);
    let shown: f64 = newest[3].as_str().unwrap().parse().unwrap();
    assert!(
        (shown - expected).abs() <= 0.051,
        "shown {shown}, computed {expected}"
    );
    assert_eq!(newest[5], "CDC");
    // BMI (from 2 years) is charted too, from its own record.
    assert!(
        result["after"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["measure"] == "bmi")
    );

    // Nothing from another origin, no CSP violation, no console error; no sideways scroll.
    assert_same_origin(&result, &clinic, &relay, None);
    assert!(result["pageWidth"].as_u64().unwrap() <= 375, "{result}");
    assert_eq!(weight_chart(&result["narrow"])["points"], after["points"]);
    for shot in ["vitals-form-1280px.png", "growth-weight-375px.png"] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot}");
    }
}
