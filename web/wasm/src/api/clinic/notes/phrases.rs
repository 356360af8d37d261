//! Dot-phrases: `.name` and the like, typed in a note's section, replaced by text from the open
//! chart (the patient's age, active problems, current medications, allergies, latest vitals) or
//! by a standard sentence, or by the text of one of the practice's own phrases
//! (`ehr_client::phrases`, kind 2122). A built-in name cannot be redefined. An unknown phrase
//! is left as typed.

use serde_json::Value;

use crate::api::records::at;

/// The phrases, with what each becomes (for the form's help).
pub const PHRASES: [(&str, &str); 10] = [
    ("name", "the patient's name"),
    ("age", "her age"),
    ("problems", "active problems"),
    ("meds", "current medications"),
    ("allergies", "allergies"),
    ("vitals", "the latest vital signs"),
    ("ros", "review of systems, negative"),
    ("pe", "a normal examination"),
    ("fu", "a follow-up instruction"),
    ("rtc", "return-to-clinic advice"),
];

/// Whether `name` is a built-in phrase (the practice may not redefine it).
pub fn is_built_in(name: &str) -> bool {
    PHRASES.iter().any(|(phrase, _)| *phrase == name)
}

/// `text` with every known dot-phrase replaced, reading `chart` (`{"bundle"}` as opened) at
/// `today` (`YYYY-MM-DD`, for the age); `practice` is the practice's own phrases as
/// `[{"name", "text"}]` (`MemberSession::practice_phrases`), used as written.
pub fn expand(text: &str, chart: &str, today: &str, practice: &str) -> String {
    let practice: Vec<Value> = serde_json::from_str(practice).unwrap_or_default();
    let own = |word: &str| {
        practice
            .iter()
            .find(|p| at(p, "/name") == word)
            .and_then(|p| at(p, "/text").as_str())
            .map(str::to_owned)
    };
    let chart: Value = serde_json::from_str(chart).unwrap_or(Value::Null);
    let resources: Vec<&Value> = chart
        .pointer("/bundle/entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("resource"))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dot) = rest.find('.') {
        let (before, from_dot) = rest.split_at(dot);
        out.push_str(before);
        let word: String = from_dot
            .chars()
            .skip(1)
            .take_while(char::is_ascii_lowercase)
            .collect();
        let starts_word = out
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || "(:;,".contains(c));
        let replacement = starts_word
            .then(|| phrase(&word, &resources, today).or_else(|| own(&word)))
            .flatten();
        match replacement {
            Some(text) => {
                out.push_str(&text);
                rest = &from_dot[1 + word.len()..];
            }
            None => {
                out.push('.');
                rest = &from_dot[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn phrase(word: &str, resources: &[&Value], today: &str) -> Option<String> {
    let of_type = |t: &'static str| {
        resources
            .iter()
            .copied()
            .filter(move |r| at(r, "/resourceType") == t)
    };
    Some(match word {
        "name" => of_type("Patient")
            .next()
            .map(patient_name)
            .unwrap_or_default(),
        "age" => of_type("Patient")
            .next()
            .and_then(|p| at(p, "/birthDate").as_str())
            .and_then(|born| age(born, today))
            .unwrap_or_else(|| "age unknown".to_owned()),
        "problems" => listed(
            of_type("Condition")
                .filter(|c| coded(at(c, "/clinicalStatus")) == Some("active"))
                .map(|c| concept(at(c, "/code"))),
            "none recorded",
        ),
        "meds" => listed(
            of_type("MedicationRequest")
                .filter(|m| at(m, "/status") == "active")
                .map(|m| {
                    let name = concept(at(m, "/medicationCodeableConcept"));
                    match m
                        .pointer("/dosageInstruction/0/text")
                        .and_then(Value::as_str)
                    {
                        Some(dose) => format!("{name} ({dose})"),
                        None => name,
                    }
                }),
            "none recorded",
        ),
        "allergies" => listed(
            of_type("AllergyIntolerance")
                .filter(|a| {
                    !matches!(
                        coded(at(a, "/verificationStatus")),
                        Some("entered-in-error" | "refuted")
                    )
                })
                .map(|a| concept(at(a, "/code"))),
            "no known allergies recorded",
        ),
        "vitals" => latest_vitals(&of_type("Observation").collect::<Vec<_>>()),
        "ros" => "Review of systems: negative except as noted above.".to_owned(),
        "pe" => "Exam: well appearing, in no distress. Heart regular, lungs clear, abdomen soft."
            .to_owned(),
        "fu" => "Follow up in ___ weeks, sooner if symptoms worsen.".to_owned(),
        "rtc" => "Return to clinic or call if not improving, or for any concern.".to_owned(),
        _ => return None,
    })
}

fn patient_name(patient: &Value) -> String {
    let name = at(patient, "/name/0");
    if let Some(text) = at(name, "/text").as_str() {
        return text.to_owned();
    }
    let mut parts: Vec<&str> = at(name, "/given")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    parts.extend(at(name, "/family").as_str());
    parts.join(" ")
}

/// "40 years", or "18 months" under two.
fn age(born: &str, today: &str) -> Option<String> {
    let ymd = |s: &str| -> Option<(i64, i64, i64)> {
        let mut parts = s.get(..10)?.split('-');
        Some((
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        ))
    };
    let ((by, bm, bd), (ty, tm, td)) = (ymd(born)?, ymd(today)?);
    let months = (ty - by) * 12 + (tm - bm) - i64::from(td < bd);
    match months {
        ..0 => None,
        0..24 => Some(format!("{months} months")),
        _ => Some(format!("{} years", months / 12)),
    }
}

fn coded(concept: &Value) -> Option<&str> {
    concept.pointer("/coding/0/code").and_then(Value::as_str)
}

fn concept(concept: &Value) -> String {
    at(concept, "/text")
        .as_str()
        .or_else(|| concept.pointer("/coding/0/display").and_then(Value::as_str))
        .unwrap_or("(unnamed)")
        .to_owned()
}

fn listed(items: impl Iterator<Item = String>, none: &str) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        none.to_owned()
    } else {
        items.join("; ")
    }
}

/// The newest measurement of each vital sign (by LOINC code), with its date.
fn latest_vitals(observations: &[&Value]) -> String {
    const VITALS: [(&str, &str); 8] = [
        ("85354-9", "BP"),
        ("8867-4", "HR"),
        ("9279-1", "RR"),
        ("8310-5", "Temp"),
        ("59408-5", "SpO2"),
        ("29463-7", "Wt"),
        ("8302-2", "Ht"),
        ("39156-5", "BMI"),
    ];
    let mut parts = Vec::new();
    let mut newest = "";
    for (code, label) in VITALS {
        let latest = observations
            .iter()
            .filter(|o| o.pointer("/code/coding/0/code").and_then(Value::as_str) == Some(code))
            .max_by_key(|o| at(o, "/effectiveDateTime").as_str().unwrap_or_default());
        let Some(observation) = latest else { continue };
        let when = at(observation, "/effectiveDateTime")
            .as_str()
            .unwrap_or_default();
        newest = newest.max(when);
        let value = if code == "85354-9" {
            let part =
                |i: usize| at(observation, &format!("/component/{i}/valueQuantity/value")).clone();
            format!("{}/{} mmHg", part(0), part(1))
        } else {
            let quantity = at(observation, "/valueQuantity");
            format!(
                "{} {}",
                at(quantity, "/value"),
                at(quantity, "/unit").as_str().unwrap_or_default()
            )
        };
        parts.push(format!("{label} {}", value.trim()));
    }
    if parts.is_empty() {
        return "Vitals: none recorded.".to_owned();
    }
    format!(
        "Vitals ({}): {}",
        newest.get(..10).unwrap_or(newest),
        parts.join(", ")
    )
}
