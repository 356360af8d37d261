//! The exports of her summary, her SMART Health Links and her emergency-access decision
//! (DESIGN.md §11 "Summary, SMART Health Links and emergency access"), and the viewer's:
//! thin wrappers of [`crate::api::summary`] and [`crate::api::shl`].

use wasm_bindgen::prelude::*;

use crate::api;
use crate::signer::JsPatientSigner;

/// Her International Patient Summary from her opened `chart` at `now` (seconds), authored by
/// `practice` (key) named `practiceName`: the FHIR document Bundle (JSON).
#[wasm_bindgen(js_name = patientSummary)]
pub fn patient_summary(
    chart: &str,
    practice: &str,
    practice_name: &str,
    now: f64,
) -> Result<String, JsError> {
    Ok(api::summary::patient_summary(
        chart,
        practice,
        practice_name,
        now,
    )?)
}

/// Her decision on emergency access at `now`: `{"optedIn", "consent", "recorded"}`.
#[wasm_bindgen(js_name = emergencyState)]
pub fn emergency_state(chart: &str, now: f64) -> Result<String, JsError> {
    Ok(api::summary::emergency_state(chart, now)?)
}

/// Her opt-in to emergency access dated `date`: FHIR JSON to sign (`signPatientEvent`); a
/// withdrawal is `consentWithdrawal` of the consent `emergencyState` names.
#[wasm_bindgen(js_name = emergencyOptIn)]
pub fn emergency_opt_in(chart: &str, date: &str) -> Result<String, JsError> {
    Ok(api::summary::emergency_opt_in(chart, date)?)
}

/// A new SMART Health Link to `summary` from the link `form`, its key sealed to herself by
/// `signer`: `{"body": NewLink JSON, "key"}`.
#[wasm_bindgen(js_name = shlNewLink)]
pub async fn shl_new_link(
    signer: JsValue,
    summary: String,
    form: String,
    now: f64,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::shl::new_link(&signer, &summary, &form, now).await?)
}

/// The link of `listing` under `key` for the viewer at `viewer`: `{"link", "url", "qr"}`.
#[wasm_bindgen(js_name = shlLink)]
pub fn shl_link(listing: &str, key: &str, viewer: &str) -> Result<String, JsError> {
    Ok(api::shl::link(listing, key, viewer)?)
}

/// The link of `listing`, its key opened by her `signer`: `{"link", "url", "qr"}`.
#[wasm_bindgen(js_name = shlOpenLink)]
pub async fn shl_open_link(
    signer: JsValue,
    listing: String,
    viewer: String,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::shl::open_link(&signer, &listing, &viewer).await?)
}

/// A `latest` link's new file (`{"file"}` JSON to PUT): `summary` under its key.
#[wasm_bindgen(js_name = shlRefresh)]
pub async fn shl_refresh(
    signer: JsValue,
    listing: String,
    summary: String,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::shl::refresh(&signer, &listing, &summary).await?)
}

/// NIP-98 `Authorization` for `method` `url` with `body` ("" for none), signed by her
/// `signer` (any login) at `now` and checked.
#[wasm_bindgen(js_name = signerHttpAuthorization)]
pub async fn signer_http_authorization(
    signer: JsValue,
    url: String,
    method: String,
    body: String,
    now: f64,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::shl::http_authorization(&signer, &url, &method, &body, now).await?)
}

/// A link as the viewer reads it (`url`, `key`, `exp`, `flag`, `label`, `needsPasscode`,
/// `keptCurrent`).
#[wasm_bindgen(js_name = shlParse)]
pub fn shl_parse(text: &str) -> Result<String, JsError> {
    Ok(api::shl::parse_link(text)?)
}

/// The manifest request body for `recipient` and `passcode` ("" for none).
#[wasm_bindgen(js_name = shlManifestRequest)]
pub fn shl_manifest_request(recipient: &str, passcode: &str) -> Result<String, JsError> {
    Ok(api::shl::manifest_request(recipient, passcode)?)
}

/// A file of `link`'s manifest (a JWE) decrypted with the link's key: FHIR JSON text.
#[wasm_bindgen(js_name = shlOpenFile)]
pub fn shl_open_file(link: &str, jwe: &str) -> Result<String, JsError> {
    Ok(api::shl::open_file(link, jwe)?)
}
