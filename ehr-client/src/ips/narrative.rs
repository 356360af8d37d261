//! The generated narrative of the summary: XHTML `div`s whose only markup is this module's,
//! every text from the chart escaped by [`escape`].

use crate::chart::ChartEntry;
use crate::fhir::{CodeableConcept, ImmunizationStatus, Observation, Quantity, Resource};
use crate::kinds::ClinicalKind;

/// The XHTML namespace every narrative `div` declares.
const XHTML: &str = "http://www.w3.org/1999/xhtml";

/// `text` as XML character data and attribute content: `&`, `<`, `>`, `"` and `'` as
/// references, and the characters XML 1.0 does not allow (C0 controls other than tab, line
/// feed and carriage return; U+FFFE and U+FFFF) dropped.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn div(body: &str) -> String {
    format!(r#"<div xmlns="{XHTML}">{body}</div>"#)
}

/// A section's narrative: one list item per entry (plain text, escaped here), or `nothing`.
pub(super) fn section_div(items: &[String], nothing: &str) -> String {
    if items.is_empty() {
        return div(&format!("<p>{}</p>", escape(nothing)));
    }
    let list: String = items
        .iter()
        .map(|item| format!("<li>{}</li>", escape(item)))
        .collect();
    div(&format!("<ul>{list}</ul>"))
}

/// The Composition's narrative: whose summary, by whom, when.
pub(super) fn composition_div(patient: &Resource, practice: &str, date: &str) -> String {
    let mut line = String::from("International Patient Summary");
    if let Resource::Patient(p) = patient {
        let name = p
            .name
            .first()
            .map(|n| {
                n.text.clone().unwrap_or_else(|| {
                    n.given
                        .iter()
                        .chain(n.family.iter())
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            })
            .filter(|n| !n.trim().is_empty());
        if let Some(name) = name {
            line.push_str(" of ");
            line.push_str(&name);
        }
        if let Some(born) = &p.birth_date {
            line.push_str(", born ");
            line.push_str(born);
        }
    }
    if !practice.is_empty() {
        line.push_str(", by ");
        line.push_str(practice);
    }
    line.push_str(", ");
    line.push_str(date);
    line.push('.');
    div(&format!("<p>{}</p>", escape(&line)))
}

/// A concept in words: its text, else its first display, else its first code.
fn concept(c: &CodeableConcept) -> Option<String> {
    c.text
        .clone()
        .or_else(|| c.coding.iter().find_map(|k| k.display.clone()))
        .or_else(|| c.coding.iter().find_map(|k| k.code.clone()))
        .filter(|t| !t.trim().is_empty())
}

fn quantity(q: &Quantity) -> String {
    let value = q.value.map(|v| v.to_string()).unwrap_or_default();
    let unit = q.unit.as_deref().or(q.code.as_deref()).unwrap_or_default();
    let comparator = q.comparator.as_deref().unwrap_or_default();
    format!("{comparator}{value} {unit}").trim().to_owned()
}

fn observation_value(o: &Observation) -> Option<String> {
    if let Some(q) = &o.value_quantity {
        return Some(quantity(q));
    }
    if let Some(c) = &o.value_codeable_concept {
        return concept(c);
    }
    if let Some(s) = &o.value_string {
        return Some(s.clone());
    }
    if let Some(b) = o.value_boolean {
        return Some(if b { "yes" } else { "no" }.to_owned());
    }
    if let Some(i) = o.value_integer {
        return Some(i.to_string());
    }
    let components: Vec<String> = o
        .component
        .iter()
        .map(|c| {
            let name = concept(&c.code).unwrap_or_default();
            let value = c
                .value_quantity
                .as_ref()
                .map(quantity)
                .or_else(|| c.value_codeable_concept.as_ref().and_then(concept))
                .or_else(|| c.value_string.clone())
                .unwrap_or_default();
            format!("{name} {value}").trim().to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if !components.is_empty() {
        return Some(components.join(", "));
    }
    o.data_absent_reason
        .as_ref()
        .and_then(concept)
        .map(|r| format!("no value ({r})"))
}

/// One entry in words (plain text; [`section_div`] escapes it).
pub(super) fn describe(entry: &ChartEntry) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &entry.resource {
        Resource::AllergyIntolerance(a) => {
            parts.push(
                a.code
                    .as_ref()
                    .and_then(concept)
                    .unwrap_or_else(|| "Unspecified substance".to_owned()),
            );
            if let Some(criticality) = a.criticality {
                parts.push(format!("criticality {}", criticality.code()));
            }
            let reactions: Vec<String> = a
                .reaction
                .iter()
                .flat_map(|r| r.manifestation.iter())
                .filter_map(concept)
                .collect();
            if !reactions.is_empty() {
                parts.push(format!("reaction: {}", reactions.join(", ")));
            }
        }
        Resource::MedicationRequest(m) => {
            parts.push(
                m.medication_codeable_concept
                    .as_ref()
                    .and_then(concept)
                    .or_else(|| {
                        m.medication_reference
                            .as_ref()
                            .and_then(|r| r.display.clone())
                    })
                    .unwrap_or_else(|| "Unspecified medication".to_owned()),
            );
            parts.extend(m.dosage_instruction.iter().filter_map(|d| d.text.clone()));
            if ClinicalKind::for_resource(&entry.resource) == ClinicalKind::Prescription {
                parts.push("prescription".to_owned());
            }
        }
        Resource::Condition(c) => {
            parts.push(
                c.code
                    .as_ref()
                    .and_then(concept)
                    .unwrap_or_else(|| "Unspecified problem".to_owned()),
            );
            if let Some(onset) = &c.onset_date_time {
                parts.push(format!("since {onset}"));
            }
        }
        Resource::Immunization(i) => {
            parts
                .push(concept(&i.vaccine_code).unwrap_or_else(|| "Unspecified vaccine".to_owned()));
            if let Some(date) = i
                .occurrence_date_time
                .as_ref()
                .or(i.occurrence_string.as_ref())
            {
                parts.push(date.clone());
            }
            if i.status == ImmunizationStatus::NotDone {
                parts.push("not given".to_owned());
            }
        }
        Resource::Observation(o) => {
            let name = concept(&o.code).unwrap_or_else(|| "Unspecified observation".to_owned());
            match observation_value(o) {
                Some(value) => parts.push(format!("{name}: {value}")),
                None => parts.push(name),
            }
            if let Some(date) = o
                .effective_date_time
                .as_ref()
                .or_else(|| o.effective_period.as_ref().and_then(|p| p.start.as_ref()))
                .or(o.issued.as_ref())
            {
                parts.push(date.clone());
            }
        }
        other => parts.push(other.resource_type().as_str().to_owned()),
    }
    if entry.patient_reported {
        parts.push("reported by the patient".to_owned());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup_and_no_illegal_characters() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\td\u{FFFF}é"), "abc\tdé");
        assert_eq!(
            section_div(&["<b>".to_owned()], "none"),
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><ul><li>&lt;b&gt;</li></ul></div>"#
        );
        assert_eq!(
            section_div(&[], "None & more."),
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>None &amp; more.</p></div>"#
        );
    }
}
