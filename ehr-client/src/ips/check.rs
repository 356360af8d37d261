//! The IPS rules a document can be checked against offline: no terminology server, no profile
//! snapshots. What the R4 JSON schema checks (element names and types) is left to it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{IpsError, LOINC, PATIENT_SUMMARY_CODE, Section};
use crate::fhir::is_fhir_date_time;

fn structure(rule: &'static str) -> IpsError {
    IpsError::Structure { rule }
}

fn text_of<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Whether a CodeableConcept has a coding with both a system and a code (and, with
/// `system`, that system).
fn coded(concept: Option<&Value>, system: Option<&str>, code: Option<&str>) -> bool {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings.iter().any(|k| {
                let s = k.get("system").and_then(Value::as_str);
                let c = k.get("code").and_then(Value::as_str);
                s.is_some_and(|s| !s.is_empty() && system.is_none_or(|want| want == s))
                    && c.is_some_and(|c| !c.is_empty() && code.is_none_or(|want| want == c))
            })
        })
}

/// The resources of a document by `fullUrl`.
struct Resources<'a> {
    by_url: BTreeMap<&'a str, &'a Value>,
}

impl<'a> Resources<'a> {
    /// The resource a reference points at: its `fullUrl`, or for a relative `Type/id` the
    /// entry whose RESTful `fullUrl` ends with it.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        if let Some(found) = self.by_url.get(reference) {
            return Some(*found);
        }
        if reference.contains(':') || !reference.contains('/') {
            return None;
        }
        let suffix = format!("/{reference}");
        self.by_url
            .iter()
            .find(|(url, _)| url.ends_with(&suffix))
            .map(|(_, resource)| *resource)
    }

    fn resolve_type(&self, reference: Option<&Value>) -> Option<&'a str> {
        let reference = reference?.get("reference")?.as_str()?;
        self.resolve(reference)?
            .get("resourceType")
            .and_then(Value::as_str)
    }
}

/// Every `reference` string inside `value`.
fn references<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("reference").and_then(Value::as_str) {
                out.push(r);
            }
            for child in map.values() {
                references(child, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                references(item, out);
            }
        }
        _ => {}
    }
}

/// Whether an entry of `resource_type` carries the code IPS requires, with a system: the
/// substance, medication, problem, vaccine, test or procedure.
fn entry_coded(resource: &Value, resources: &Resources<'_>) -> bool {
    let kind = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "AllergyIntolerance" | "Condition" | "Observation" | "DiagnosticReport" | "Procedure" => {
            coded(resource.get("code"), None, None)
        }
        "Immunization" => coded(resource.get("vaccineCode"), None, None),
        "MedicationRequest" | "MedicationStatement" => {
            coded(resource.get("medicationCodeableConcept"), None, None)
                || resource
                    .get("medicationReference")
                    .and_then(|r| r.get("reference"))
                    .and_then(Value::as_str)
                    .and_then(|r| resources.resolve(r))
                    .is_some_and(|m| {
                        m.get("resourceType").and_then(Value::as_str) == Some("Medication")
                            && coded(m.get("code"), None, None)
                    })
        }
        _ => true,
    }
}

/// Check `bundle` against the IPS rules that need nothing but the document:
///
/// - a `Bundle` of type `document` with an `identifier` (system and value) and a `timestamp`
///   (an instant); every entry with a unique `fullUrl` and a resource; every `urn:` reference
///   inside a resource resolves to an entry;
/// - the first entry is a `Composition` with a status, type LOINC 60591-5, a title, a date, a
///   `subject` that resolves to a `Patient` and at least one author that resolves (or names
///   itself in `display`);
/// - every section has a LOINC code, a title and a generated XHTML narrative, and either entries
///   or an `emptyReason` (coded), never both; the required sections (allergies 48765-2,
///   medications 10160-0, problems 11450-4) are there, and no IPS section appears twice;
/// - every section entry resolves to a resource of the Bundle, of a type the section holds
///   (for the IPS sections), coded with a system where IPS asks for the code.
pub fn check_summary(bundle: &Value) -> Result<(), IpsError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(structure("not a Bundle"));
    }
    if bundle.get("type").and_then(Value::as_str) != Some("document") {
        return Err(structure("Bundle.type is not document"));
    }
    if text_of(bundle, "/identifier/system").is_none()
        || text_of(bundle, "/identifier/value").is_none()
    {
        return Err(structure("Bundle.identifier needs a system and a value"));
    }
    if !text_of(bundle, "/timestamp").is_some_and(|t| t.contains('T') && is_fhir_date_time(t)) {
        return Err(structure("Bundle.timestamp must be an instant"));
    }
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .ok_or(structure("the Bundle has no entries"))?;
    let mut by_url = BTreeMap::new();
    for entry in entries {
        let url = text_of(entry, "/fullUrl").ok_or(structure("an entry has no fullUrl"))?;
        let resource = entry
            .get("resource")
            .filter(|r| r.get("resourceType").and_then(Value::as_str).is_some())
            .ok_or(structure("an entry has no resource"))?;
        if by_url.insert(url, resource).is_some() {
            return Err(structure("two entries share a fullUrl"));
        }
    }
    let resources = Resources { by_url };

    let composition = entries
        .first()
        .and_then(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Composition"))
        .ok_or(structure("the first entry is not a Composition"))?;
    if !matches!(
        composition.get("status").and_then(Value::as_str),
        Some("preliminary" | "final" | "amended")
    ) {
        return Err(structure(
            "Composition.status is not preliminary, final or amended",
        ));
    }
    if !coded(
        composition.get("type"),
        Some(LOINC),
        Some(PATIENT_SUMMARY_CODE),
    ) {
        return Err(structure("Composition.type is not LOINC 60591-5"));
    }
    if text_of(composition, "/title").is_none() {
        return Err(structure("Composition.title is missing"));
    }
    if !text_of(composition, "/date").is_some_and(is_fhir_date_time) {
        return Err(structure("Composition.date is missing or not a dateTime"));
    }
    if resources.resolve_type(composition.get("subject")) != Some("Patient") {
        return Err(structure(
            "Composition.subject does not resolve to a Patient",
        ));
    }
    let authors = composition
        .get("author")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or(structure("Composition.author is missing"))?;
    for author in authors {
        let resolves = matches!(
            resources.resolve_type(Some(author)),
            Some(
                "Practitioner"
                    | "PractitionerRole"
                    | "Device"
                    | "Patient"
                    | "RelatedPerson"
                    | "Organization"
            )
        );
        if !resolves && author.get("display").is_none() {
            return Err(structure("a Composition.author does not resolve"));
        }
    }

    let sections = composition
        .get("section")
        .and_then(Value::as_array)
        .ok_or(structure("the Composition has no sections"))?;
    let mut seen = BTreeSet::new();
    for (index, section) in sections.iter().enumerate() {
        let rule = |rule| IpsError::Section {
            section: index,
            rule,
        };
        if !coded(section.get("code"), Some(LOINC), None) {
            return Err(rule("no LOINC code"));
        }
        if text_of(section, "/title").is_none() {
            return Err(rule("no title"));
        }
        let div = text_of(section, "/text/div").unwrap_or_default();
        if !div.starts_with(r#"<div xmlns="http://www.w3.org/1999/xhtml""#)
            || !div.ends_with("</div>")
            || text_of(section, "/text/status").is_none()
        {
            return Err(rule("no XHTML narrative"));
        }
        let known = section
            .pointer("/code/coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| k.get("system").and_then(Value::as_str) == Some(LOINC))
            .find_map(|k| {
                k.get("code")
                    .and_then(Value::as_str)
                    .and_then(Section::from_code)
            });
        if let Some(known) = known
            && !seen.insert(known)
        {
            return Err(IpsError::DuplicateSection { code: known.code() });
        }
        let section_entries = section
            .get("entry")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let empty_reason = section.get("emptyReason");
        match (section_entries.is_empty(), empty_reason) {
            (true, None) => return Err(rule("neither entries nor an emptyReason")),
            (false, Some(_)) => return Err(rule("both entries and an emptyReason")),
            (true, Some(reason)) if !coded(Some(reason), None, None) => {
                return Err(rule("an emptyReason without a code"));
            }
            _ => {}
        }
        for (position, entry) in section_entries.iter().enumerate() {
            let resource = entry
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| resources.resolve(r))
                .ok_or(IpsError::UnresolvedEntry {
                    section: index,
                    entry: position,
                })?;
            let Some(known) = known else {
                continue;
            };
            let kind = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !known.entry_types().contains(&kind) {
                return Err(IpsError::WrongEntryType {
                    section: index,
                    entry: position,
                });
            }
            if !entry_coded(resource, &resources) {
                return Err(IpsError::Uncoded {
                    section: index,
                    entry: position,
                });
            }
        }
    }
    for required in Section::ALL.into_iter().filter(|s| s.required()) {
        if !seen.contains(&required) {
            return Err(IpsError::MissingSection {
                code: required.code(),
            });
        }
    }
    // Last, so that a section entry that does not resolve is reported as such.
    for (index, entry) in entries.iter().enumerate() {
        let mut found = Vec::new();
        if let Some(resource) = entry.get("resource") {
            references(resource, &mut found);
        }
        if found
            .iter()
            .any(|r| r.starts_with("urn:") && resources.resolve(r).is_none())
        {
            return Err(IpsError::DanglingReference { entry: index });
        }
    }
    Ok(())
}
