//! The Nostr EHR legacy dataset (`../shared/vectors/nostrehr-legacy/`, read in place) and the
//! view of an imported chart in the shape of its `expected.json`: the folded chart of the new
//! practice, read back through the provenance the import keeps (legacy event ids, signers,
//! times, tags), so the two can be compared field by field.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use ehr_client::chart::{Chart, ChartEntry};
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::{Resource, ResourceType};
use ehr_client::legacy;
use ehr_client::nostr::prelude::{EventId, PublicKey};
use serde_json::{Map, Value, json};

/// The dataset's folder.
pub fn dataset_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/nostrehr-legacy"
    ))
}

/// A file of the dataset, as text.
pub fn dataset_file(name: &str) -> String {
    let path = dataset_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {} (shared/ must sit beside the repository): {e}",
            path.display()
        )
    })
}

/// `expected.json`.
pub fn expected() -> Value {
    serde_json::from_str(&dataset_file("expected.json")).unwrap_or(Value::Null)
}

/// `keys.json`'s keys.
pub fn keys() -> Value {
    serde_json::from_str::<Value>(&dataset_file("keys.json"))
        .map(|v| v["keys"].clone())
        .unwrap_or(Value::Null)
}

/// `created_at` of every legacy event, by id (to order lists whose entries share a second).
pub fn legacy_times() -> BTreeMap<String, u64> {
    dataset_file("events.jsonl")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|e| Some((e["id"].as_str()?.to_owned(), e["created_at"].as_u64()?)))
        .collect()
}

fn json_of(resource: &Resource) -> Value {
    serde_json::to_value(resource).unwrap_or(Value::Null)
}

fn ext<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
    resource["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
        .and_then(|e| {
            e.as_object()?
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(_, v)| v)
        })
}

fn ext_str(resource: &Value, url: &str) -> Value {
    ext(resource, url).cloned().unwrap_or(Value::Null)
}

fn tag(resource: &Value, name: &str) -> Value {
    ext_str(resource, &format!("{}{name}", legacy::EXT_TAG_PREFIX))
}

fn legacy_id(resource: &Value) -> Value {
    ext_str(resource, legacy::EXT_EVENT)
}

fn created_at(resource: &Value) -> Value {
    ext_str(resource, legacy::EXT_CREATED_AT)
}

fn fhir_id(resource: &Value) -> Value {
    resource["identifier"]
        .as_array()
        .and_then(|ids| {
            ids.iter()
                .find(|i| i["system"] == legacy::LEGACY_ID_SYSTEM && i.get("use").is_none())
        })
        .map(|i| i["value"].clone())
        .unwrap_or(Value::Null)
}

fn authored_by(resource: &Value) -> Value {
    match ext(resource, legacy::EXT_AUTHORED_BY) {
        Some(pubkey) => json!({
            "pubkey": pubkey,
            "name": ext_str(resource, legacy::EXT_AUTHORED_BY_NAME),
        }),
        None => Value::Null,
    }
}

fn coding_code(concept: &Value, system: &str) -> Value {
    concept["coding"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["system"] == system))
        .map(|c| c["code"].clone())
        .unwrap_or(Value::Null)
}

fn attachment_text(document: &Value) -> String {
    document["content"][0]["attachment"]["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// Every version of every record of one chart, by new event id.
struct Versions<'a> {
    by_event: BTreeMap<EventId, &'a ClinicalRecord>,
    all: &'a [ClinicalRecord],
}

impl<'a> Versions<'a> {
    fn new(records: &'a [ClinicalRecord]) -> Self {
        Self {
            by_event: records.iter().map(|r| (r.event_id, r)).collect(),
            all: records,
        }
    }

    /// The resources of an entry's versions, oldest first.
    fn history(&self, entry: &ChartEntry) -> Vec<Value> {
        entry
            .history
            .iter()
            .filter_map(|id| self.by_event.get(id))
            .map(|r| json_of(&r.resource))
            .collect()
    }

    /// The resources of a hidden record's versions, oldest first.
    fn hidden(&self, resource_type: ResourceType, id: &str) -> Vec<Value> {
        let mut versions: Vec<&ClinicalRecord> = self
            .all
            .iter()
            .filter(|r| r.resource.resource_type() == resource_type && r.resource.id() == Some(id))
            .collect();
        versions.sort_by_key(|r| r.resource.version());
        versions.iter().map(|r| json_of(&r.resource)).collect()
    }
}

/// The view of one imported chart in `expected.json`'s shape. `records` are the opened
/// records of the chart (every version), `chart` their fold, `practice` the legacy practice
/// key, `legacy_blob_size` the size of a legacy blob by its sha256.
pub fn view(
    chart: &Chart,
    records: &[ClinicalRecord],
    practice: &PublicKey,
    legacy_blob_size: &dyn Fn(&str) -> Option<u64>,
) -> Value {
    let versions = Versions::new(records);
    let of = |t: ResourceType| -> Vec<(&ChartEntry, Value)> {
        chart
            .of_type(t)
            .map(|e| (e, json_of(&e.resource)))
            .collect()
    };
    let first = |entry: &ChartEntry| -> Value {
        versions
            .history(entry)
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
    };
    let mut out = Map::new();

    // Demographics.
    if let Some((entry, patient)) = of(ResourceType::Patient).into_iter().next() {
        out.insert("patient_id".into(), json!(entry.key.id));
        out.insert(
            "demographics".into(),
            json!({
                "name": patient["name"][0]["text"],
                "birthDate": patient["birthDate"],
                "gender": patient["gender"],
                "telecom": patient.get("telecom").cloned().unwrap_or(json!([])),
                "address": patient.get("address").cloned().unwrap_or(json!([])),
            }),
        );
        out.insert("demographics_versions".into(), json!(entry.history.len()));
    }

    // Encounters, their notes and addenda.
    let documents: BTreeMap<String, Value> = of(ResourceType::DocumentReference)
        .into_iter()
        .map(|(e, v)| (e.key.id.clone(), v))
        .collect();
    let encounters: Vec<Value> = of(ResourceType::Encounter)
        .into_iter()
        .map(|(entry, encounter)| {
            let attached: Vec<&Value> = entry
                .attached
                .iter()
                .filter(|k| k.resource_type == ResourceType::DocumentReference)
                .filter_map(|k| documents.get(&k.id))
                .collect();
            let note = attached
                .iter()
                .find(|d| d.get("relatesTo").is_none())
                .map(|d| attachment_text(d));
            let mut addenda: Vec<Value> = attached
                .iter()
                .filter(|d| d.get("relatesTo").is_some())
                .map(|d| {
                    json!({
                        "id": legacy_id(d),
                        "created_at": created_at(d),
                        "authored_by": authored_by(d),
                        "text": attachment_text(d),
                    })
                })
                .collect();
            addenda.sort_by_key(|a| (a["created_at"].as_u64(), a["id"].to_string()));
            json!({
                "id": legacy_id(&encounter),
                "fhir_id": fhir_id(&encounter),
                "created_at": created_at(&encounter),
                "start": encounter["period"]["start"],
                "reason": encounter["reasonCode"][0]["text"],
                "class": encounter["class"]["display"],
                "encounter_type": tag(&encounter, "encounter-type"),
                "authored_by": authored_by(&encounter),
                "note": note,
                "addenda": addenda,
            })
        })
        .collect();
    out.insert("encounters".into(), json!(encounters));

    // Observations the practice recorded (lab analytes belong to their reports).
    let observations: BTreeMap<String, Value> = of(ResourceType::Observation)
        .into_iter()
        .map(|(e, v)| (e.key.id.clone(), v))
        .collect();
    let vitals: Vec<Value> = observations
        .values()
        .filter(|o| o.get("basedOn").is_none())
        .map(|o| {
            let mut item = json!({
                "id": legacy_id(o),
                "loinc": o["code"]["coding"][0]["code"],
                "display": o["code"]["coding"][0]["display"],
                "effective": o["effectiveDateTime"],
                "obs_tag": tag(o, "obs"),
                "authored_by": authored_by(o),
            });
            if let Some(components) = o["component"].as_array() {
                item["components"] = components
                    .iter()
                    .map(|c| {
                        json!({
                            "code": c["code"]["coding"][0]["code"],
                            "display": c["code"]["coding"][0]["display"],
                            "value": c["valueQuantity"]["value"],
                            "unit": c["valueQuantity"]["unit"],
                        })
                    })
                    .collect();
            } else {
                item["value"] = o["valueQuantity"]["value"].clone();
                item["unit"] = o["valueQuantity"]["unit"].clone();
            }
            item
        })
        .collect();
    out.insert("observations".into(), json!(vitals));

    // Conditions and their status history.
    let conditions: Vec<Value> = of(ResourceType::Condition)
        .into_iter()
        .map(|(entry, current)| {
            let history = versions.history(entry);
            let original = first(entry);
            let code = &original["code"];
            let icd10 = coding_code(code, "http://hl7.org/fhir/sid/icd-10-cm");
            let snomed = coding_code(code, "http://snomed.info/sct");
            json!({
                "id": entry.key.id,
                "fhir_id": fhir_id(&original),
                "code": if icd10.is_null() { if snomed.is_null() { code["text"].clone() } else { snomed.clone() } } else { icd10.clone() },
                "display": code["text"],
                "icd10": icd10,
                "snomed": snomed,
                "severity": original["severity"]["coding"][0]["display"],
                "onset": original["onsetDateTime"],
                "clinicalStatus": current["clinicalStatus"]["coding"][0]["code"],
                "status_history": history.iter().map(|v| json!({
                    "event": legacy_id(v),
                    "created_at": created_at(v),
                    "status": v["clinicalStatus"]["coding"][0]["code"],
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    out.insert("conditions".into(), json!(conditions));

    // Medications (kind 2112) and prescriptions (kind 2120).
    let rx = |v: &Value| -> Option<Value> {
        let mut fields = Map::new();
        for field in legacy::convert::RX_FIELDS {
            if let Some(value) = ext(v, &format!("{}{field}", legacy::EXT_RX_PREFIX)) {
                fields.insert(field.into(), value.clone());
            }
        }
        (!fields.is_empty()).then_some(Value::Object(fields))
    };
    let (mut active, mut discontinued, mut rx_orders) = (Vec::new(), Vec::new(), Vec::new());
    for (entry, current) in of(ResourceType::MedicationRequest) {
        let original = first(entry);
        let record = versions.by_event.get(&entry.event_id);
        let prescription = record.is_some_and(|r| r.kind.as_u16() == 2120);
        let marker = ext_str(&current, legacy::EXT_MARKER);
        if prescription {
            let mut item = rx(&original).unwrap_or(json!({}));
            item["id"] = json!(entry.key.id);
            item["fhir_id"] = fhir_id(&original);
            item["status"] = current["status"].clone();
            item["cancelled_by"] = if marker == "cancelled" {
                legacy_id(&current)
            } else {
                Value::Null
            };
            rx_orders.push(item);
            continue;
        }
        let mut item = json!({
            "id": entry.key.id,
            "fhir_id": fhir_id(&original),
            "text": original["medicationCodeableConcept"]["text"],
            "dosage": original["dosageInstruction"][0]["text"],
            "authoredOn": original["authoredOn"],
            "authored_by": authored_by(&original),
        });
        if let Some(rx) = rx(&original) {
            item["rx"] = rx;
        }
        if marker == "deletion" {
            item["discontinued_by"] = legacy_id(&current);
            discontinued.push(item);
        } else {
            active.push(item);
        }
    }
    out.insert("medications_active".into(), json!(active));
    out.insert("medications_discontinued".into(), json!(discontinued));
    out.insert("rx_orders".into(), json!(rx_orders));

    // Allergies, and the deleted ones (hidden by the fold).
    let allergy = |original: &Value| {
        json!({
            "id": legacy_id(original),
            "fhir_id": fhir_id(original),
            "allergen": original["code"]["text"],
            "reaction": original["reaction"][0]["manifestation"][0]["text"],
            "severity": original["reaction"][0]["severity"],
            "authored_by": authored_by(original),
        })
    };
    let allergies: Vec<Value> = of(ResourceType::AllergyIntolerance)
        .into_iter()
        .map(|(entry, _)| allergy(&first(entry)))
        .collect();
    out.insert("allergies".into(), json!(allergies));
    let deleted: Vec<Value> = chart
        .hidden()
        .filter(|k| k.resource_type == ResourceType::AllergyIntolerance)
        .map(|k| {
            let history = versions.hidden(k.resource_type, &k.id);
            let mut item = allergy(history.first().unwrap_or(&Value::Null));
            item["deleted_by"] = history.last().map(legacy_id).unwrap_or(Value::Null);
            item
        })
        .collect();
    out.insert("allergies_deleted".into(), json!(deleted));

    let immunizations: Vec<Value> = of(ResourceType::Immunization)
        .into_iter()
        .map(|(_, i)| {
            json!({
                "id": legacy_id(&i),
                "fhir_id": fhir_id(&i),
                "vaccine": i["vaccineCode"]["text"],
                "date": i["occurrenceDateTime"],
                "dose": i["doseQuantity"]["value"],
                "authored_by": authored_by(&i),
            })
        })
        .collect();
    out.insert("immunizations".into(), json!(immunizations));

    // Lab orders, their results and analytes.
    let reports: BTreeMap<String, Value> = of(ResourceType::DiagnosticReport)
        .into_iter()
        .map(|(e, v)| (e.key.id.clone(), v))
        .collect();
    let labs: Vec<Value> = of(ResourceType::ServiceRequest)
        .into_iter()
        .map(|(entry, current)| {
            let original = first(entry);
            let report = entry
                .attached
                .iter()
                .find(|k| k.resource_type == ResourceType::DiagnosticReport)
                .and_then(|k| reports.get(&k.id));
            let cancelled = ext_str(&current, legacy::EXT_MARKER) == "cancelled";
            let status = if cancelled {
                json!("cancelled")
            } else if report.is_some() {
                json!("resulted")
            } else {
                current["status"].clone()
            };
            let analytes: Vec<Value> = report
                .and_then(|r| r["result"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r["reference"].as_str()?.strip_prefix("Observation/"))
                .filter_map(|id| observations.get(id))
                .map(|o| {
                    json!({
                        "name": o["code"]["text"],
                        "value": ext_str(o, legacy::EXT_ANALYTE_VALUE),
                        "unit": ext_str(o, legacy::EXT_ANALYTE_UNIT),
                        "refRange": o["referenceRange"][0]["text"],
                        "flag": o["interpretation"][0]["text"],
                        "loinc": o["code"]["coding"][0]["code"],
                    })
                })
                .collect();
            let field = |name: &str| report.map(|r| r[name].clone()).unwrap_or(Value::Null);
            let result_text = report
                .and_then(|r| {
                    r["presentedForm"]
                        .as_array()?
                        .iter()
                        .find(|f| f["title"] == "result")
                        .map(|f| json!(attachment_text(&json!({ "content": [{ "attachment": f }] }))))
                })
                .unwrap_or_else(|| field("conclusion"));
            json!({
                "order": entry.key.id,
                "order_fhir_id": fhir_id(&original),
                "test": original["code"]["text"],
                "loinc": coding_code(&original["code"], "http://loinc.org"),
                "category": original["category"][0]["text"],
                "priority": original["priority"],
                "status": status,
                "cancelled_by": if cancelled { legacy_id(&current) } else { Value::Null },
                "result": report.map(legacy_id).unwrap_or(Value::Null),
                "result_conclusion": field("conclusion"),
                "result_text": result_text,
                "interpretation": report.map(|r| r["conclusionCode"][0]["text"].clone()).unwrap_or(Value::Null),
                "effectiveDate": field("effectiveDateTime"),
                "basedOn": report.map(|r| r["basedOn"][0]["reference"].clone()).unwrap_or(Value::Null),
                "analytes": analytes.len(),
                "analyte_list": analytes,
            })
        })
        .collect();
    out.insert("labs".into(), json!(labs));

    // Documents with files (notes and addenda belong to encounters).
    let files: Vec<Value> = documents
        .values()
        .filter(|d| d.get("context").is_none())
        .map(|d| {
            let attachment = &d["content"][0]["attachment"];
            let blob = ext_str(d, legacy::EXT_LEGACY_BLOB);
            json!({
                "id": legacy_id(d),
                "fhir_id": fhir_id(d),
                "title": attachment["title"],
                "category": d["type"]["text"],
                "description": d["description"],
                "contentType": attachment["contentType"],
                "size": attachment["size"],
                "url": ext_str(d, legacy::EXT_LEGACY_BLOB_URL),
                "blob_sha256": blob,
                "blob_size": blob.as_str().and_then(legacy_blob_size),
                "plaintext_size": attachment["size"],
                "plaintext_sha256": ext_str(d, "urn:nostr-ehr:extension:plaintext-sha256"),
            })
        })
        .collect();
    out.insert("documents".into(), json!(files));

    // Events a staff member wrote (by legacy event, whatever they became).
    let mut staff_events: Vec<String> = records
        .iter()
        .map(|r| json_of(&r.resource))
        .filter(|v| ext(v, legacy::EXT_AUTHORED_BY).is_some())
        .filter_map(|v| legacy_id(&v).as_str().map(str::to_owned))
        .collect();
    staff_events.sort();
    staff_events.dedup();
    out.insert("staff_authored_events".into(), json!(staff_events.len()));

    // Messages and threads.
    let mut messages: Vec<Value> = of(ResourceType::Communication)
        .into_iter()
        .map(|(entry, m)| {
            let signer = ext_str(&m, legacy::EXT_SIGNER);
            let role = if signer == practice.to_hex() && ext(&m, legacy::EXT_AUTHORED_BY).is_none()
            {
                "practice"
            } else if ext(&m, legacy::EXT_AUTHORED_BY).is_some() {
                "staff"
            } else if !tag(&m, "guardian-of").is_null() {
                "guardian"
            } else {
                "patient"
            };
            let root = m["inResponseTo"][0]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Communication/"))
                .map(str::to_owned)
                .unwrap_or_else(|| entry.key.id.clone());
            json!({
                "id": legacy_id(&m),
                "created_at": created_at(&m),
                "author_role": role,
                "signer": signer,
                "subject": m["topic"]["text"],
                "thread_root": root,
                "no_reply": tag(&m, "no-reply") == "true",
                "text": m["payload"][0]["contentString"],
            })
        })
        .collect();
    messages.sort_by_key(|m| (m["created_at"].as_u64(), m["id"].to_string()));
    let mut threads: Vec<Value> = Vec::new();
    for message in &messages {
        let root = &message["thread_root"];
        let role = &message["author_role"];
        match threads.iter_mut().find(|t| &t["root"] == root) {
            Some(thread) => {
                thread["count"] = json!(thread["count"].as_u64().unwrap_or(0) + 1);
                if let Some(authors) = thread["authors"].as_array_mut()
                    && !authors.contains(role)
                {
                    authors.push(role.clone());
                }
            }
            None => threads.push(json!({
                "root": root,
                "subject": messages.iter().find(|m| &m["id"] == root).map(|m| m["subject"].clone()).unwrap_or(Value::Null),
                "count": 1,
                "authors": [role],
            })),
        }
    }
    out.insert("messages".into(), json!(messages.len()));
    out.insert("message_threads".into(), json!(threads));
    out.insert("message_list".into(), json!(messages));
    Value::Object(out)
}

/// Make a patient view comparable: every number as a float, and every list of records (whose
/// entries carry an `id`, `order` or `root`) in legacy `created_at` order, then by id: the
/// dataset says publish order carries no meaning, and several records share a second.
pub fn normalise(value: &Value, times: &BTreeMap<String, u64>) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| normalise(v, times)).collect();
            let key = |v: &Value| -> Option<String> {
                ["id", "order", "root"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str))
                    .map(str::to_owned)
            };
            if items
                .iter()
                .all(|v| key(v).is_some_and(|k| times.contains_key(&k)))
            {
                items.sort_by_key(|v| {
                    let k = key(v).unwrap_or_default();
                    (times.get(&k).copied(), k)
                });
            }
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalise(v, times)))
                .collect(),
        ),
        other => other.clone(),
    }
}
