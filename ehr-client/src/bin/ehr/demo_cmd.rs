//! `ehr keygen` and `ehr demo`: keys, and the wire format end to end without a relay.

use anyhow::{Context, Result};
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder};
use ehr_client::keys::{self, ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::{demo, fhir};
use serde_json::json;

use crate::secrets::{self, KeyArgs};

pub fn keygen(
    key_args: &KeyArgs,
    log_n: u8,
    out: Option<&std::path::Path>,
) -> Result<serde_json::Value> {
    let identity = Identity::generate();
    let mut document = json!({
        "npub": identity.npub(),
        "hex": identity.public_key().to_hex(),
    });
    match (out, &key_args.password_env) {
        (Some(path), _) => {
            let password = key_args.new_passphrase()?;
            secrets::write_ncryptsec(path, &identity, &password, log_n)?;
            crate::set_field(
                document.as_object_mut(),
                "key_file",
                json!(path.display().to_string()),
            );
        }
        (None, Some(_)) => {
            let password = key_args.passphrase("Passphrase: ")?;
            let ncryptsec = keys::to_ncryptsec(identity.secret_key(), &password, log_n)?;
            crate::set_field(
                document.as_object_mut(),
                "secret",
                json!({ "ncryptsec": ncryptsec.as_str() }),
            );
        }
        (None, None) => crate::set_field(
            document.as_object_mut(),
            "secret",
            json!({ "nsec": identity.nsec().as_str() }),
        ),
    }
    Ok(document)
}

/// Returns the printed document and the patient, so `roundtrip` can open it.
pub fn demo_encrypt() -> Result<(serde_json::Value, Identity)> {
    let practice_member = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);
    let encounter = demo::encounter(&demo::new_id());
    let event =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, encounter, patient.public_key())?
            .sign(&practice_member, &chart_key)?;
    let document = json!({
        "note": "Synthetic demo data. The chart key is discarded: only the patient can read this.",
        "event": serde_json::from_str::<serde_json::Value>(&event.to_json())?,
        "patient_nsec": patient.nsec().as_str(),
        "patient_npub": patient.npub(),
        "practice_npub": practice_member.npub(),
    });
    Ok((document, patient))
}

pub fn demo_decrypt(input: &str, patient: &Identity) -> Result<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(input).context("stdin is not JSON")?;
    // Accept the whole `demo encrypt` document or a bare event.
    let event_json = value.get("event").unwrap_or(&value).to_string();
    let event = ClinicalEvent::from_json(&event_json).context("not a valid clinical event")?;
    let record = event
        .decrypt_with_patient_key(patient)
        .context("cannot open the patient copy with this key")?;
    let resource: serde_json::Value = serde_json::from_str(&record.resource.to_json())?;
    Ok(json!({
        "verified_author_npub": keys::to_npub(&record.author),
        "kind": record.kind.as_u16(),
        "resource_type": fhir::Resource::resource_type(&record.resource).as_str(),
        "resource": resource,
    }))
}
