//! The exports of what a patient writes and takes with her (DESIGN.md §11): the portal's signer
//! object as a [`PatientSigner`], and thin wrappers of [`crate::api::records`].

use ehr_client::nostr::prelude::{Event, PublicKey, UnsignedEvent};
use ehr_client::signer::{Nip44Decrypt, PatientSigner, SignerError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::api;

/// The portal's signer object (`portal/web/signers.js`: `{publicKey, signEvent(template),
/// nip44: {encrypt, decrypt}}`, every method returning a promise) as a [`PatientSigner`], so any
/// login (nsec, NIP-07, NIP-46, passkey) writes the same patient-authored events.
#[derive(Debug)]
pub struct JsPatientSigner {
    public_key: PublicKey,
    signer: JsValue,
    nip44: JsValue,
}

impl JsPatientSigner {
    /// Wrap the signer object; it must have a `publicKey` and `nip44`.
    pub fn new(signer: JsValue) -> Result<Self, JsError> {
        let public_key = js_sys::Reflect::get(&signer, &JsValue::from_str("publicKey"))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or_else(|| JsError::new("the signer has no publicKey"))?;
        let nip44 = js_sys::Reflect::get(&signer, &JsValue::from_str("nip44"))
            .map_err(|_| JsError::new("the signer has no nip44"))?;
        Ok(Self {
            public_key: api::public_key(&public_key, "signer")?,
            signer,
            nip44,
        })
    }

    /// Call `target[name](args...)` and await the promise it returns. A throw or a rejection
    /// is the signer (or the user) saying no; its message could quote anything and is dropped.
    async fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, SignerError> {
        let function: js_sys::Function = js_sys::Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| SignerError::Unavailable(format!("the signer has no {name}")))?;
        let array: js_sys::Array = args.iter().collect();
        let returned = function
            .apply(target, &array)
            .map_err(|_| SignerError::Rejected)?;
        JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map_err(|_| SignerError::Rejected)
    }
}

impl Nip44Decrypt for JsPatientSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    async fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> Result<String, SignerError> {
        let args = [
            JsValue::from_str(&counterparty.to_hex()),
            JsValue::from_str(payload),
        ];
        Self::call(&self.nip44, "decrypt", &args)
            .await?
            .as_string()
            .ok_or_else(|| SignerError::Unavailable("the signer returned no text".to_owned()))
    }
}

impl PatientSigner for JsPatientSigner {
    async fn nip44_encrypt(
        &self,
        counterparty: &PublicKey,
        plaintext: &str,
    ) -> Result<String, SignerError> {
        let args = [
            JsValue::from_str(&counterparty.to_hex()),
            JsValue::from_str(plaintext),
        ];
        Self::call(&self.nip44, "encrypt", &args)
            .await?
            .as_string()
            .ok_or_else(|| SignerError::Unavailable("the signer returned no text".to_owned()))
    }

    async fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event, SignerError> {
        // NIP-07's template: {kind, created_at, tags, content}.
        let template = serde_json::json!({
            "kind": unsigned.kind.as_u16(),
            "created_at": unsigned.created_at.as_secs(),
            "tags": unsigned.tags,
            "content": unsigned.content,
        });
        let template = js_sys::JSON::parse(&template.to_string())
            .map_err(|_| SignerError::Unavailable("the event template".to_owned()))?;
        let signed = Self::call(&self.signer, "signEvent", &[template]).await?;
        let text = js_sys::JSON::stringify(&signed)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| SignerError::Unavailable("the signer returned no event".to_owned()))?;
        serde_json::from_str::<Event>(&text)
            .map_err(|_| SignerError::Unavailable("the signer returned no event".to_owned()))
    }
}

/// Sign `resource` (FHIR JSON) as a patient-authored event through `signer` (the portal's
/// signer object): practice copy to the current epoch key of `practice`'s roster in `events`,
/// patient copy to herself. The signed event (JSON), checked before it is returned.
#[wasm_bindgen(js_name = signPatientEvent)]
pub async fn sign_patient_event(
    signer: JsValue,
    practice: String,
    events: String,
    resource: String,
    created_at: f64,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(
        api::records::sign_patient_event(&signer, &practice, &events, &resource, created_at)
            .await?,
    )
}

/// A medication or supplement the patient reports taking (MedicationRequest, FHIR JSON).
#[wasm_bindgen(js_name = reportedMedication)]
pub fn reported_medication(
    chart: &str,
    name: &str,
    dosage: &str,
    today: &str,
) -> Result<String, JsError> {
    Ok(api::records::reported_medication(
        chart, name, dosage, today,
    )?)
}

/// A message to the practice (Communication, FHIR JSON): a new thread, or a reply.
#[wasm_bindgen(js_name = patientMessage)]
pub fn patient_message(
    chart: &str,
    topic: &str,
    text: &str,
    in_response_to: &str,
    sent: &str,
) -> Result<String, JsError> {
    Ok(api::records::message(
        chart,
        topic,
        text,
        in_response_to,
        sent,
    )?)
}

/// Consent to FHIR sharing with the facilities of `facilities` (a JSON array of client ids).
#[wasm_bindgen(js_name = consentGrant)]
pub fn consent_grant(chart: &str, facilities: &str, date: &str) -> Result<String, JsError> {
    Ok(api::records::consent_grant(chart, facilities, date)?)
}

/// The withdrawal of `consent` (its next version, inactive).
#[wasm_bindgen(js_name = consentWithdrawal)]
pub fn consent_withdrawal(consent: &str) -> Result<String, JsError> {
    Ok(api::records::consent_withdrawal(consent)?)
}

/// The message threads of a chart, senders named from the roster.
#[wasm_bindgen(js_name = messageThreads)]
pub fn message_threads(practice: &str, events: &str, chart: &str) -> Result<String, JsError> {
    Ok(api::records::message_threads(practice, events, chart)?)
}

/// Whether her newest Consent shares the chart: `{"sharing", "facilities", "consent"}`.
#[wasm_bindgen(js_name = sharingState)]
pub fn sharing_state(chart: &str) -> Result<String, JsError> {
    Ok(api::records::sharing_state(chart)?)
}

/// Her verified raw events as JSON Lines: the practice's rosters, then her clinical events.
#[wasm_bindgen(js_name = exportEvents)]
pub fn export_events(practice: &str, patient: &str, events: &str) -> Result<String, JsError> {
    Ok(api::records::export_events(practice, patient, events)?)
}
