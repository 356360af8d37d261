//! Orders and results: prescription fields (2112, `RxOrder` 2120), lab orders (2118) and
//! reports with their analytes (2119).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{Context, LOINC, Output, UCUM, derived_id, push, push_extension, text};
use crate::kinds::ClinicalKind;
use crate::legacy::{EXT_ANALYTE_UNIT, EXT_ANALYTE_VALUE, EXT_RX_PREFIX};

/// The reference's prescription fields, in the order it writes them.
pub const RX_FIELDS: [&str; 10] = [
    "drug",
    "dose",
    "sig",
    "route",
    "qty",
    "daysSupply",
    "refills",
    "daw",
    "pharmacy",
    "indication",
];

/// Move the prescription fields into standard elements (those not already present) and keep
/// each exact value in an extension.
pub(super) fn rx_fields(map: &mut Map<String, Value>, prescription: bool) {
    let fields: Vec<(&str, Value)> = RX_FIELDS
        .iter()
        .filter_map(|f| map.remove(*f).map(|v| (*f, v)))
        .collect();
    if fields.is_empty() && !prescription {
        return;
    }
    let get = |name: &str| fields.iter().find(|(f, _)| *f == name).map(|(_, v)| v);
    let as_text = |name: &str| get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(drug) = as_text("drug") {
        map.entry("medicationCodeableConcept")
            .or_insert_with(|| json!({ "text": drug }));
    }
    if !map.contains_key("dosageInstruction") {
        let mut dosage = Map::new();
        if let Some(sig) = as_text("sig") {
            dosage.insert("text".into(), json!(sig));
        }
        if let Some(route) = as_text("route") {
            dosage.insert("route".into(), json!({ "text": route }));
        }
        if !dosage.is_empty() {
            map.insert("dosageInstruction".into(), json!([dosage]));
        }
    }
    if let Some(indication) = as_text("indication") {
        map.entry("reasonCode")
            .or_insert_with(|| json!([{ "text": indication }]));
    }
    let mut dispense = Map::new();
    if let Some(quantity) = as_text("qty").and_then(quantity) {
        dispense.insert("quantity".into(), quantity);
    }
    if let Some(days) = get("daysSupply").and_then(Value::as_f64) {
        dispense.insert(
            "expectedSupplyDuration".into(),
            json!({ "value": days, "unit": "days", "system": UCUM, "code": "d" }),
        );
    }
    if let Some(refills) = get("refills").and_then(Value::as_u64) {
        dispense.insert("numberOfRepeatsAllowed".into(), json!(refills));
    }
    if let Some(pharmacy) = as_text("pharmacy") {
        dispense.insert("performer".into(), json!({ "display": pharmacy }));
    }
    if prescription || !dispense.is_empty() {
        map.entry("dispenseRequest")
            .or_insert_with(|| Value::Object(dispense));
    }
    if let Some(daw) = get("daw").and_then(Value::as_bool) {
        map.entry("substitution")
            .or_insert_with(|| json!({ "allowedBoolean": !daw }));
    }
    for (field, value) in &fields {
        let url = format!("{EXT_RX_PREFIX}{field}");
        match value {
            Value::String(s) => push_extension(map, &url, "String", json!(s)),
            Value::Bool(b) => push_extension(map, &url, "Boolean", json!(b)),
            Value::Number(n) if n.is_i64() => push_extension(map, &url, "Integer", json!(n)),
            other => push_extension(map, &url, "String", json!(other.to_string())),
        }
    }
}

/// `"60 mL"` → `{value: 60, unit: "mL"}`; `"90"` → `{value: 90}`.
fn quantity(text: &str) -> Option<Value> {
    let (number, unit) = match text.split_once(' ') {
        Some((n, u)) => (n, Some(u.trim())),
        None => (text, None),
    };
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite())?;
    Some(match unit.filter(|u| !u.is_empty()) {
        Some(unit) => json!({ "value": value, "unit": unit }),
        None => json!({ "value": value }),
    })
}

pub(super) fn rx_order(map: &mut Map<String, Value>) -> Result<(), String> {
    map.insert("intent".into(), json!("order"));
    if !map.contains_key("status") {
        map.insert("status".into(), json!("active"));
    }
    rx_fields(map, true);
    if !map.contains_key("medicationCodeableConcept") {
        return Err("RxOrder without a drug".to_owned());
    }
    Ok(())
}

fn category_concept(category: &str) -> Value {
    json!({ "text": category })
}

pub(super) fn service_request(map: &mut Map<String, Value>) {
    if let Some(Value::String(category)) = map.remove("category") {
        map.insert("category".into(), json!([category_concept(&category)]));
    }
}

fn interpretation_code(flag: &str) -> Option<(&'static str, &'static str)> {
    Some(match flag {
        "low" => ("L", "Low"),
        "high" => ("H", "High"),
        "normal" => ("N", "Normal"),
        "abnormal" => ("A", "Abnormal"),
        "critical" => ("AA", "Critical abnormal"),
        _ => return None,
    })
}

fn interpretation(flag: &str) -> Value {
    match interpretation_code(flag) {
        Some((code, display)) => json!({
            "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": code, "display": display }],
            "text": flag,
        }),
        None => json!({ "text": flag }),
    }
}

pub(super) fn diagnostic_report(
    map: &mut Map<String, Value>,
    id: &str,
    context: &Context<'_>,
) -> Result<Vec<Output>, String> {
    if let Some(Value::String(category)) = map.remove("category") {
        map.insert("category".into(), json!([category_concept(&category)]));
    }
    if let Some(Value::String(flag)) = map.remove("interpretation") {
        push(map, "conclusionCode", interpretation(&flag));
    }
    if let Some(date) = map.remove("effectiveDate") {
        map.entry("effectiveDateTime").or_insert(date);
    }
    if let Some(Value::String(result)) = map.remove("result") {
        if map.contains_key("conclusion") {
            let data = base64::engine::general_purpose::STANDARD.encode(result.as_bytes());
            push(
                map,
                "presentedForm",
                json!({ "contentType": "text/plain; charset=utf-8", "data": data, "title": "result" }),
            );
        } else {
            map.insert("conclusion".into(), json!(result));
        }
    }
    let analytes = match map.remove("analytes") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err("DiagnosticReport analytes is not a list".to_owned()),
        None => Vec::new(),
    };
    let based_on = map.get("basedOn").cloned();
    let effective = map.get("effectiveDateTime").cloned();
    let subject = map
        .get("subject")
        .cloned()
        .unwrap_or_else(|| json!({ "reference": context.patient_reference }));
    let mut outputs = Vec::new();
    for (index, analyte) in analytes.iter().enumerate() {
        let analyte_id = derived_id("analyte", id, index);
        let observation = analyte_observation(
            &analyte_id,
            analyte,
            based_on.as_ref(),
            effective.as_ref(),
            &subject,
        )?;
        push(
            map,
            "result",
            json!({ "reference": format!("Observation/{analyte_id}") }),
        );
        outputs.push(Output {
            kind: ClinicalKind::Observation,
            resource: observation,
        });
    }
    Ok(outputs)
}

fn analyte_observation(
    id: &str,
    analyte: &Value,
    based_on: Option<&Value>,
    effective: Option<&Value>,
    subject: &Value,
) -> Result<Value, String> {
    let name = text(analyte.get("name"));
    let mut code = Map::new();
    if let Some(loinc) = text(analyte.get("loinc")) {
        code.insert("coding".into(), json!([{ "system": LOINC, "code": loinc }]));
    }
    if let Some(name) = &name {
        code.insert("text".into(), json!(name));
    }
    if code.is_empty() {
        return Err("an analyte has neither a name nor a code".to_owned());
    }
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("Observation"));
    map.insert("id".into(), json!(id));
    if let Some(based_on) = based_on {
        map.insert("basedOn".into(), based_on.clone());
    }
    map.insert("status".into(), json!("final"));
    map.insert(
        "category".into(),
        json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory" }] }]),
    );
    map.insert("code".into(), Value::Object(code));
    map.insert("subject".into(), subject.clone());
    if let Some(effective) = effective {
        map.insert("effectiveDateTime".into(), effective.clone());
    }
    let value = match analyte.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let unit = text(analyte.get("unit")).filter(|u| !u.is_empty());
    if let Some(value) = &value {
        match value.parse::<f64>().ok().filter(|v| v.is_finite()) {
            Some(number) => {
                let quantity = match &unit {
                    Some(unit) => json!({ "value": number, "unit": unit }),
                    None => json!({ "value": number }),
                };
                map.insert("valueQuantity".into(), quantity);
            }
            None => {
                map.insert("valueString".into(), json!(value));
            }
        }
        push_extension(&mut map, EXT_ANALYTE_VALUE, "String", json!(value));
    }
    if let Some(unit) = &unit {
        push_extension(&mut map, EXT_ANALYTE_UNIT, "String", json!(unit));
    }
    if let Some(flag) = text(analyte.get("flag")) {
        push(&mut map, "interpretation", interpretation(&flag));
    }
    if let Some(range) = text(analyte.get("refRange")) {
        push(&mut map, "referenceRange", json!({ "text": range }));
    }
    Ok(Value::Object(map))
}
