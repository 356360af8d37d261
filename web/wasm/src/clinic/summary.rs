//! The patient summary (IPS) in the clinic app (DESIGN.md §12, §14): the open patient's
//! International Patient Summary, built by `ehr_client::ips::patient_summary` from the chart
//! the member's session folds, with each section's lines as the summary's own narrative says
//! them (so the screen, the printout and the FHIR JSON say the same thing).

use ehr_client::chart::FoldOptions;
use ehr_client::ips::{self, Section, SummaryOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::MemberSession;
use crate::api::{ApiError, parse_events, public_key, seconds};

/// What the browser asks for (`{"now", "practiceName", "includePatientReported"}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Asked {
    /// The summary's time, Unix seconds (the browser's clock).
    now: f64,
    /// The practice's name (the connection's), the summary's author.
    #[serde(default)]
    practice_name: String,
    /// Whether the patient's own entries go in.
    #[serde(default)]
    include_patient_reported: bool,
}

#[wasm_bindgen]
impl MemberSession {
    /// The International Patient Summary of `patient` from `events` (her chart's events, as
    /// `openChart` takes them), with `options` (`{"now", "practiceName",
    /// "includePatientReported"}`): `{"bundle", "date", "sections": [{"code", "title",
    /// "items", "empty", "inSummary"}], "warning"}`. `items` are each entry in words ("reported by the
    /// patient" when hers), `empty` what the summary says of a section with none, `warning`
    /// the IPS rule the document breaks (`ips::check_summary`, e.g. an entry held as text
    /// only), or null.
    #[wasm_bindgen(js_name = patientSummary)]
    pub fn patient_summary(
        &self,
        patient: &str,
        events: &str,
        options: &str,
    ) -> Result<String, JsError> {
        Ok(summary(&self.session, patient, events, options)?)
    }
}

/// [`MemberSession::patient_summary`].
pub(crate) fn summary(
    session: &crate::api::member::MemberSession,
    patient: &str,
    events: &str,
    options: &str,
) -> Result<String, ApiError> {
    let patient = public_key(patient, "patient")?;
    let asked: Asked = serde_json::from_str(options).map_err(|_| {
        ApiError::Field(
            "summary options",
            "must be {now, practiceName, includePatientReported}",
        )
    })?;
    let (events, _) = parse_events(events)?;
    let view = session.view();
    let fold = FoldOptions {
        include_patient_reported: true,
    };
    let (chart, _) = view.chart(&patient, &events, fold);
    let mut options = SummaryOptions::new(seconds(asked.now)?, &asked.practice_name);
    options.practice_key = Some(*view.root());
    options.include_patient_reported = asked.include_patient_reported;
    let bundle = ips::patient_summary(&chart, &options)
        .map_err(|error| ApiError::Record(error.to_string()))?;
    let warning = ips::check_summary(&bundle).err().map(|e| e.to_string());
    let at = |value: &Value, pointer: &str| value.pointer(pointer).cloned().unwrap_or(Value::Null);
    let composition = at(&bundle, "/entry/0/resource");
    let written = composition
        .get("section")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Every section in document order: those the summary leaves out (an optional one with
    // nothing to list) are shown as such, so that "none" is said rather than a part missing.
    let sections: Vec<Value> = Section::ALL
        .into_iter()
        .filter_map(|section| {
            let found = written
                .iter()
                .find(|s| at(s, "/code/coding/0/code") == section.code());
            match found {
                Some(found) => {
                    let (items, empty) =
                        narrative_lines(at(found, "/text/div").as_str().unwrap_or_default());
                    let listed = found.get("entry").is_some();
                    let items = readable(section, found, items, &bundle);
                    Some(json!({
                        "code": section.code(),
                        "title": section.title(),
                        "items": if listed { items } else { Vec::new() },
                        "empty": if listed { Value::Null } else { json!(empty) },
                        "inSummary": true,
                    }))
                }
                // The chart has no kind for procedures yet: no part to show.
                None if section == Section::Procedures => None,
                None => Some(json!({
                    "code": section.code(),
                    "title": section.title(),
                    "items": [],
                    "empty": "None recorded (the summary leaves this section out).",
                    "inSummary": false,
                })),
            }
        })
        .collect();
    Ok(json!({
        "date": at(&composition, "/date"),
        "sections": sections,
        "warning": warning,
        "bundle": bundle,
    })
    .to_string())
}

/// A section's lines as a clinician reads them: dates without their time of day, and the
/// dated sections (immunizations, results, vital signs) newest first. The narrative's item
/// `i` is the section's entry `i`, whose resource gives the date to order by.
fn readable(section: Section, found: &Value, items: Vec<String>, bundle: &Value) -> Vec<String> {
    let mut lines: Vec<(String, String)> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let url = found
                .pointer(&format!("/entry/{i}/reference"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (entry_date(bundle, url), short_dates(&item))
        })
        .collect();
    if matches!(
        section,
        Section::Immunizations | Section::Results | Section::VitalSigns
    ) {
        lines.sort_by(|a, b| b.0.cmp(&a.0));
    }
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The clinical date of the Bundle's resource at `url` ("" without one).
fn entry_date(bundle: &Value, url: &str) -> String {
    let resource = bundle
        .get("entry")
        .and_then(Value::as_array)
        .and_then(|entries| {
            entries
                .iter()
                .find(|e| e.get("fullUrl").and_then(Value::as_str) == Some(url))
        })
        .and_then(|e| e.get("resource"));
    let Some(resource) = resource else {
        return String::new();
    };
    [
        "/occurrenceDateTime",
        "/effectiveDateTime",
        "/effectivePeriod/start",
        "/issued",
        "/onsetDateTime",
        "/authoredOn",
    ]
    .into_iter()
    .find_map(|pointer| resource.pointer(pointer).and_then(Value::as_str))
    .unwrap_or_default()
    .to_owned()
}

/// `line` (the narrative's parts joined by "; ") with each part that is a FHIR dateTime with
/// a time of day cut to its date.
fn short_dates(line: &str) -> String {
    line.split("; ")
        .map(|part| {
            let bytes = part.as_bytes();
            let dated = bytes.len() > 10
                && bytes.get(10) == Some(&b'T')
                && bytes.iter().take(10).enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        *b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
                && part
                    .chars()
                    .skip(11)
                    .all(|c| c.is_ascii_digit() || ":.+-Z".contains(c));
            if dated {
                part.get(..10).unwrap_or(part)
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The lines of a section's generated narrative (`ehr_client::ips`'s own markup: a `ul` of
/// `li`, or one `p` when the section is empty): its list items, and its paragraph.
fn narrative_lines(div: &str) -> (Vec<String>, String) {
    let between = |open: &str, close: &str| -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = div;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(close) else { break };
            found.push(unescape(&after[..end]));
            rest = &after[end + close.len()..];
        }
        found
    };
    let items = between("<li>", "</li>");
    let paragraph = between("<p>", "</p>").join(" ");
    (items, paragraph)
}

/// XML character data back to text: the five references `ips`'s narrative escapes with.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_are_cut_and_other_parts_kept() {
        assert_eq!(
            short_dates("Body weight: 76 kg; 2026-03-07T09:10:00-05:00"),
            "Body weight: 76 kg; 2026-03-07"
        );
        assert_eq!(
            short_dates("A1c: 5.4 %; 2026-03-11T08:00:00Z"),
            "A1c: 5.4 %; 2026-03-11"
        );
        assert_eq!(short_dates("Tdap; 2021-03-15"), "Tdap; 2021-03-15");
        assert_eq!(
            short_dates("Note 2026-03-07T09:10 said; x"),
            "Note 2026-03-07T09:10 said; x"
        );
    }

    #[test]
    fn the_narrative_lines_are_the_items_unescaped_or_the_paragraph() {
        let div = r#"<div xmlns="http://www.w3.org/1999/xhtml"><ul><li>Penicillin &amp; co; reaction: &lt;hives&gt;</li><li>Peanut &#39;x&#39; &quot;y&quot;</li></ul></div>"#;
        let (items, paragraph) = narrative_lines(div);
        assert_eq!(
            items,
            vec![
                "Penicillin & co; reaction: <hives>".to_owned(),
                "Peanut 'x' \"y\"".to_owned()
            ]
        );
        assert_eq!(paragraph, "");
        let empty = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>No known &amp;lt; allergies.</p></div>"#;
        let (items, paragraph) = narrative_lines(empty);
        assert!(items.is_empty());
        assert_eq!(paragraph, "No known &lt; allergies.");
    }
}
