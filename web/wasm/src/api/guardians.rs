//! A guardian's wards (DESIGN.md §11): the charts she reads through kind 2104 guardian grants,
//! with the access the `ehr` CLI uses for any reader but the patient herself
//! (`PracticeView::load` for her key, then `PracticeView::chart`). Her own chart stays
//! `access::patient_chart`.

use ehr_client::access::PracticeView;
use ehr_client::chart::FoldOptions;
use ehr_client::keys::Identity;
use nostr::prelude::Timestamp;
use serde_json::{Value, json};

use super::{ApiError, chart_inputs, chart_json, public_key};

/// The name on a chart's Patient resource, if any.
fn patient_name(bundle: &Value) -> Option<String> {
    bundle
        .get("entry")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("resource"))
        .find(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
        .and_then(|p| p.pointer("/name/0/text").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The wards `guardian` may read (an active guardianship, and a chart key wrapped to her):
/// `[{"ward": hex, "name"}]`. Empty for anyone who is no guardian.
pub fn wards(practice: &str, guardian: &Identity, json: &str) -> Result<String, ApiError> {
    let (practice, events, _) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, guardian);
    let me = guardian.public_key();
    let wards: Vec<Value> = view
        .patients()
        .into_iter()
        .filter(|ward| {
            *ward != me
                && view.guardians_of(ward, now()).contains(&me)
                && !view.chart_keys(ward).is_empty()
        })
        .map(|ward| {
            let (chart, _) = view.chart(&ward, &events, FoldOptions::default());
            json!({ "ward": ward.to_hex(), "name": patient_name(&chart.to_bundle()) })
        })
        .collect();
    Ok(Value::Array(wards).to_string())
}

/// `ward`'s chart as `guardian` reads it: the same shape as the patient's own
/// (`{"patient", "bundle", "refused"}`).
pub fn ward_chart(
    practice: &str,
    guardian: &Identity,
    ward: &str,
    json: &str,
) -> Result<String, ApiError> {
    let ward = public_key(ward, "ward")?;
    let (practice, events, malformed) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, guardian);
    let me = guardian.public_key();
    if !view.guardians_of(&ward, now()).contains(&me) {
        // Not her ward (or no longer): nothing is opened, whatever keys the events carry.
        return Ok(chart_json(&ward, &Default::default(), &[], malformed));
    }
    let (chart, refused) = view.chart(&ward, &events, FoldOptions::default());
    Ok(chart_json(&ward, &chart, &refused, malformed))
}

/// `resource` (FHIR JSON) about `ward`, signed by `guardian` for her at `created_at`
/// (`PracticeView::sign_for_ward`: what the patient herself may write, an appointment only as
/// a request or a cancellation, with a guardianship in force); `events` are the key events
/// (rosters, guardian grants, guardianships). The signed event (JSON).
pub fn sign_ward_record(
    practice: &str,
    guardian: &Identity,
    ward: &str,
    events: &str,
    resource: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let ward = public_key(ward, "ward")?;
    let (practice, events, _) = chart_inputs(practice, events)?;
    let view = PracticeView::load(&practice, &events, guardian);
    let resource = super::records::resource_of(resource)?;
    let event = view
        .sign_for_ward(guardian, &ward, resource, super::seconds(created_at)?)
        .map_err(|e| ApiError::Record(e.to_string()))?;
    Ok(event.to_json())
}

/// The browser's clock (the core reads none): guardianships and consents are judged at it.
pub(crate) fn now() -> Timestamp {
    #[cfg(target_arch = "wasm32")]
    {
        // Milliseconds since the epoch, finite and non-negative in any browser.
        Timestamp::from_secs((js_sys::Date::now() / 1000.0) as u64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Timestamp::now()
    }
}
