//! Enrolling a patient from the clinic app (issue 21): her details, and either her own `npub`
//! or a key made here. A new key leaves only as a NIP-49 `ncryptsec` under a password made for
//! her ([`keys::handover_password`]), for the handover sheet; the plaintext key is dropped (and
//! zeroed) when this returns, so it is never stored or shown. The sheet carries the practice's
//! signed connection string and the `ncryptsec`, each as text and as a QR code; the password
//! is told to her apart from the sheet. Everything is planned by
//! `ehr_client::practice::enrol_patient_with_details`.

use ehr_client::connection::Connection;
use ehr_client::fhir::Resource;
use ehr_client::keys::{self, Identity};
use ehr_client::practice::{self, State};
use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, parse_events, public_key, seconds};

/// NIP-49's scrypt work factor for a handover key: the NIP's interactive default, so the
/// portal opens it in a second or two on a phone.
const HANDOVER_LOG_N: u8 = 16;

/// The enrolment form: the details form (`api::clinic::details`) and her own `npub`, empty for
/// a new key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolmentForm {
    details: Value,
    #[serde(default)]
    npub: String,
}

/// Enrol the patient of `form` (JSON) as `actor` from `events` of the practice whose root is
/// `practice` and whose signed connection string is `connection`, at `now`: `{"events": [the
/// plan, in publication order], "patient": hex, "npub", "handover": null | {"connection",
/// "connection_qr", "ncryptsec", "ncryptsec_qr", "password"}}` (a QR code as [`qr`] draws it).
pub fn enrol(
    actor: &Identity,
    practice: &str,
    connection: &str,
    events: &str,
    form: &str,
    now: f64,
) -> Result<String, ApiError> {
    let root = public_key(practice, "practice")?;
    let connection = Connection::parse_signed(connection)?;
    if connection.practice != root {
        return Err(ApiError::Field(
            "connection string",
            "is another practice's",
        ));
    }
    let form: EnrolmentForm =
        serde_json::from_str(form).map_err(|_| ApiError::Field("enrolment", "is not a form"))?;
    let details = super::clinic::details::details(r#"{"bundle":{}}"#, &form.details.to_string())?;
    let details = Resource::from_json(&details).map_err(|_| ApiError::Chart)?;
    let (events, _) = parse_events(events)?;
    let state = State {
        root,
        events: &events,
        actor,
        now: seconds(now)?,
    };
    let (patient, handover) = if form.npub.trim().is_empty() {
        let key = Identity::generate();
        let password = keys::handover_password().map_err(|_| ApiError::Signing)?;
        let ncryptsec = keys::to_ncryptsec(key.secret_key(), &password, HANDOVER_LOG_N)
            .map_err(|_| ApiError::Signing)?;
        let connection = connection.to_string();
        let handover = json!({
            "connection_qr": qr(&connection)?,
            "connection": connection,
            "ncryptsec_qr": qr(&ncryptsec)?,
            "ncryptsec": ncryptsec.as_str(),
            "password": password.as_str(),
        });
        (key.public_key(), handover)
    } else {
        (public_key(form.npub.trim(), "patient")?, Value::Null)
    };
    let plan = practice::enrol_patient_with_details(&state, &patient, details)
        .map_err(|e| ApiError::Plan(e.to_string()))?;
    Ok(json!({
        "events": plan.events(),
        "patient": patient.to_hex(),
        "npub": keys::to_npub(&patient),
        "handover": handover,
    })
    .to_string())
}

/// `text` as a QR code (error correction M), for the page to draw as SVG without markup:
/// `{"size": modules a side, quiet zone included, "path": an SVG path of the dark modules in
/// module units}`.
pub fn qr(text: &str) -> Result<Value, ApiError> {
    const QUIET: usize = 4;
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| ApiError::Field("QR code", "cannot hold this text"))?;
    let width = code.width();
    let mut path = String::new();
    for (index, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (index % width + QUIET, index / width + QUIET);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(json!({ "size": width + 2 * QUIET, "path": path }))
}

#[cfg(test)]
mod tests;
