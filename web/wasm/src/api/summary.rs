//! Her International Patient Summary and her emergency-access decision (DESIGN.md §11
//! "Summary, SMART Health Links and emergency access", §14, §15), from the chart the portal
//! opened: `{"patient", "bundle", "entries"}` as [`super::open_chart_with_key`] returns it.
//!
//! The portal holds the folded chart as that JSON, not as a [`Chart`]. The Bundle holds the
//! current version of every record, and `entries` says who wrote each and when, so folding
//! those records again gives the same chart: the IPS is then `ehr_client::ips`'s, and the
//! emergency decision `Chart::newest_emergency_consent`'s, with nothing decided here.

use ehr_client::chart::{Chart, FoldOptions, fold};
use ehr_client::event::ClinicalRecord;
use ehr_client::fhir::Consent;
use ehr_client::ips::{self, SummaryOptions};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{EventId, PublicKey, Timestamp};
use serde_json::{Value, json};

use super::records::{at, checked, patient_id, resource_of};
use super::{ApiError, public_key, seconds};

/// The chart the portal opened, folded again from its current records.
pub fn chart_of(chart: &str) -> Result<(PublicKey, Chart), ApiError> {
    let value: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let patient = at(&value, "/patient")
        .as_str()
        .and_then(|p| PublicKey::from_hex(p).ok())
        .ok_or(ApiError::Chart)?;
    let entries = at(&value, "/bundle/entry")
        .as_array()
        .ok_or(ApiError::Chart)?;
    let facts = at(&value, "/entries").as_array().ok_or(ApiError::Chart)?;
    if entries.len() != facts.len() {
        return Err(ApiError::Chart);
    }
    let mut records = Vec::with_capacity(entries.len());
    for (entry, fact) in entries.iter().zip(facts) {
        let resource = resource_of(&at(entry, "/resource").to_string())?;
        let author = at(fact, "/author")
            .as_str()
            .and_then(|a| PublicKey::from_hex(a).ok())
            .ok_or(ApiError::Chart)?;
        let event_id = at(fact, "/event_id")
            .as_str()
            .and_then(|id| EventId::from_hex(id).ok())
            .ok_or(ApiError::Chart)?;
        let created_at = at(fact, "/updated_at").as_u64().ok_or(ApiError::Chart)?;
        let reported = at(fact, "/patient_reported").as_bool().unwrap_or(false);
        records.push(ClinicalRecord {
            event_id,
            author,
            created_at: Timestamp::from_secs(created_at),
            kind: ClinicalKind::for_resource(&resource),
            patient,
            resource,
            copied_by: None,
            // A patient-reported entry another key wrote is her guardian's, for her.
            guardian: (reported && author != patient).then_some(author),
        });
    }
    Ok((patient, fold(&records, FoldOptions::default())))
}

/// Her International Patient Summary (`ips::patient_summary`) at `now` (seconds), authored by
/// the practice `practice` (its key) named `practice_name` (may be empty): the FHIR document
/// Bundle (JSON). Her own reported entries stay out, as in every summary the practice hands out.
pub fn patient_summary(
    chart: &str,
    practice: &str,
    practice_name: &str,
    now: f64,
) -> Result<String, ApiError> {
    let practice = public_key(practice, "practice")?;
    let (_, chart) = chart_of(chart)?;
    let mut options = SummaryOptions::new(seconds(now)?, practice_name);
    options.practice_key = Some(practice);
    let summary = ips::patient_summary(&chart, &options)
        .map_err(|error| ApiError::Record(error.to_string()))?;
    Ok(summary.to_string())
}

/// Her current decision on emergency access (`Chart::newest_emergency_consent`) at `now`:
/// `{"optedIn": whether it permits emergency access now, "consent": that Consent (what a
/// withdrawal starts from) or null, "recorded": Unix seconds of it or null}`.
pub fn emergency_state(chart: &str, now: f64) -> Result<String, ApiError> {
    let now = seconds(now)?;
    let (_, chart) = chart_of(chart)?;
    let Some(entry) = chart.newest_emergency_consent() else {
        return Ok(json!({ "optedIn": false, "consent": null, "recorded": null }).to_string());
    };
    let opted_in = entry
        .resource
        .as_consent()
        .is_some_and(|c| c.permits_emergency_access(now));
    Ok(json!({
        "optedIn": opted_in,
        "consent": serde_json::to_value(&entry.resource).map_err(|_| ApiError::Chart)?,
        "recorded": entry.updated_at.as_secs(),
    })
    .to_string())
}

/// Her opt-in to emergency access (`Consent::emergency_access`), dated `date` (an R4 dateTime):
/// FHIR JSON to sign as hers (`signPatientEvent`).
pub fn emergency_opt_in(chart: &str, date: &str) -> Result<String, ApiError> {
    let date = date.trim();
    if date.is_empty() {
        return Err(ApiError::Field("date", "is required"));
    }
    checked(Consent::emergency_access(&patient_id(chart)?, date))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use ehr_client::access::{self, PracticeView};
    use ehr_client::demo;
    use ehr_client::event::ClinicalEventBuilder;
    use ehr_client::keys::Identity;
    use ehr_client::rotation;

    use super::*;
    use crate::api::open_chart_with_key;

    /// A practice with one patient and one record of every kind: the practice key (hex), the
    /// chart as the core folds it, and the chart JSON as the portal holds it.
    fn demo() -> (Identity, String, Chart, String) {
        let root = Identity::generate();
        let admin = Identity::generate();
        let patient = Identity::generate();
        let now = Timestamp::now();
        let (mut events, _) =
            rotation::genesis(&root, Some((admin.public_key(), None)), now).unwrap();
        let view = PracticeView::load(&root.public_key(), &events, &admin);
        events.extend(rotation::enrol_patient(&view, &admin, &patient.public_key(), now).unwrap());
        let view = PracticeView::load(&root.public_key(), &events, &admin);
        let key = view.write_key(&patient.public_key()).unwrap().clone();
        for (kind, resource) in demo::one_of_each_kind("pt-1") {
            let event = ClinicalEventBuilder::new(kind, resource, patient.public_key())
                .unwrap()
                .sign(&admin, &key)
                .unwrap();
            events.push(event.event().clone());
        }
        let json = serde_json::to_string(&events).unwrap();
        let practice = root.public_key().to_hex();
        let opened = open_chart_with_key(&practice, &patient, &json).unwrap();
        let (chart, _) = access::patient_chart(
            &root.public_key(),
            &patient,
            &events,
            FoldOptions::default(),
        );
        (patient, practice, chart, opened)
    }

    #[test]
    fn the_chart_folded_again_is_the_chart_and_gives_the_same_summary() {
        let (_, practice, chart, opened) = demo();
        let (_, again) = chart_of(&opened).unwrap();
        assert_eq!(again.to_bundle(), chart.to_bundle());
        let now = 1_900_000_000.0;
        let summary: Value =
            serde_json::from_str(&patient_summary(&opened, &practice, "Demo", now).unwrap())
                .unwrap();
        ips::check_summary(&summary).unwrap();
        let mut options = SummaryOptions::new(Timestamp::from_secs(1_900_000_000), "Demo");
        options.practice_key = Some(PublicKey::from_hex(&practice).unwrap());
        options.bundle_id = summary["identifier"]["value"]
            .as_str()
            .and_then(|v| v.strip_prefix("urn:uuid:"))
            .map(|v| v.parse().unwrap());
        assert_eq!(summary, ips::patient_summary(&chart, &options).unwrap());
    }

    #[test]
    fn her_opt_in_is_an_emergency_consent_and_not_a_sharing_one() {
        let (_, _, _, opened) = demo();
        let state: Value =
            serde_json::from_str(&emergency_state(&opened, 1_900_000_000.0).unwrap()).unwrap();
        assert_eq!(state["optedIn"], false);
        let consent = emergency_opt_in(&opened, "2026-12-07").unwrap();
        let resource = resource_of(&consent).unwrap();
        let consent = resource.as_consent().unwrap();
        assert!(consent.is_emergency_access());
        assert!(consent.permits_emergency_access(Timestamp::from_secs(1_900_000_000)));
        assert!(emergency_opt_in(&opened, " ").is_err());
    }
}
