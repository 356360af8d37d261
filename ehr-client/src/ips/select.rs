//! What goes into each section of the summary.

use std::collections::BTreeMap;

use nostr::prelude::{EventId, Timestamp};

use super::Section;
use crate::chart::{Chart, ChartEntry};
use crate::fhir::{
    CodeableConcept, Condition, ImmunizationStatus, MedicationRequestStatus, ObservationStatus,
    Resource, ResourceType, date_time_range,
};

/// The entries of one section, in chart order (results and vital signs: the latest of each
/// code, ordered by code).
pub(super) fn select<'a>(
    chart: &'a Chart,
    section: Section,
    wanted: &dyn Fn(&&'a ChartEntry) -> bool,
) -> Vec<&'a ChartEntry> {
    let of = |t: ResourceType| chart.of_type(t).filter(move |e| wanted(e));
    match section {
        Section::Allergies => of(ResourceType::AllergyIntolerance)
            .filter(|e| match &e.resource {
                Resource::AllergyIntolerance(a) => crate::allergy::can_alert(a),
                _ => false,
            })
            .collect(),
        Section::Medications => of(ResourceType::MedicationRequest)
            .filter(|e| {
                matches!(&e.resource, Resource::MedicationRequest(m)
                    if m.status == MedicationRequestStatus::Active)
            })
            .collect(),
        Section::Problems => of(ResourceType::Condition)
            .filter(|e| matches!(&e.resource, Resource::Condition(c) if active_condition(c)))
            .collect(),
        Section::Immunizations => of(ResourceType::Immunization)
            .filter(|e| {
                matches!(&e.resource, Resource::Immunization(i)
                    if i.status != ImmunizationStatus::EnteredInError)
            })
            .collect(),
        Section::Results | Section::VitalSigns => {
            let vital = section == Section::VitalSigns;
            let mut latest: BTreeMap<String, &ChartEntry> = BTreeMap::new();
            for entry in of(ResourceType::Observation) {
                let Resource::Observation(o) = &entry.resource else {
                    continue;
                };
                let is_vital = o.category.iter().any(|c| c.has_code(None, "vital-signs"));
                let is_lab = o.category.iter().any(|c| c.has_code(None, "laboratory"));
                let reportable = matches!(
                    o.status,
                    ObservationStatus::Final
                        | ObservationStatus::Amended
                        | ObservationStatus::Corrected
                        | ObservationStatus::Preliminary
                );
                // An observation in both categories is a vital sign.
                if !reportable || (vital && !is_vital) || (!vital && (is_vital || !is_lab)) {
                    continue;
                }
                let key = code_key(&o.code, entry);
                let newer = latest
                    .get(&key)
                    .is_none_or(|current| observed_order(entry) > observed_order(current));
                if newer {
                    latest.insert(key, entry);
                }
            }
            latest.into_values().collect()
        }
        // The chart has no Procedure kind yet: the section appears once it does.
        Section::Procedures => Vec::new(),
    }
}

/// Active: not `inactive`, `remission` or `resolved` (an absent status counts as active, as
/// for allergies), and neither refuted nor entered in error.
fn active_condition(condition: &Condition) -> bool {
    let has = |c: &Option<CodeableConcept>, codes: &[&str]| {
        c.as_ref().is_some_and(|c| {
            c.coding
                .iter()
                .any(|k| k.code.as_deref().is_some_and(|v| codes.contains(&v)))
        })
    };
    !has(
        &condition.verification_status,
        &["refuted", "entered-in-error"],
    ) && !has(
        &condition.clinical_status,
        &["inactive", "remission", "resolved"],
    )
}

/// What "the same test" means for the latest-per-code rule: the first coding with a system
/// and a code, else the text, else the record itself.
fn code_key(code: &CodeableConcept, entry: &ChartEntry) -> String {
    if let Some(coding) = code
        .coding
        .iter()
        .find(|c| c.system.is_some() && c.code.is_some())
    {
        return format!(
            "coding|{}|{}",
            coding.system.as_deref().unwrap_or_default(),
            coding.code.as_deref().unwrap_or_default()
        );
    }
    match code.text.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => format!("text|{}", text.to_lowercase()),
        _ => format!("record|{}|{:?}", entry.key.id, entry.key.origin),
    }
}

/// Which of two observations of one code is the latest: the clinically relevant time
/// (`effective[x]`, else `issued`, else when it was written), then the event's time and id.
fn observed_order(entry: &ChartEntry) -> (i64, Timestamp, EventId) {
    let written = i64::try_from(entry.updated_at.as_secs()).unwrap_or(i64::MAX);
    let at = match &entry.resource {
        Resource::Observation(o) => o
            .effective_date_time
            .as_ref()
            .or_else(|| o.effective_period.as_ref().and_then(|p| p.start.as_ref()))
            .or(o.issued.as_ref())
            .and_then(|d| date_time_range(d))
            .map(|(start, _)| start),
        _ => None,
    };
    (at.unwrap_or(written), entry.updated_at, entry.event_id)
}
