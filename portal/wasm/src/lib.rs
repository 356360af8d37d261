//! `ehr-portal-wasm`: `ehr-client`'s I/O-free core for the patient portal's browser app
//! (DESIGN.md §11). A thin export layer over [`api`]: JSON text in and out, every refusal a
//! JavaScript `Error` whose message names the problem and never quotes a key or a record.
//!
//! The secret key never leaves WebAssembly memory once given: [`PatientKey`] holds it (wiped
//! when JavaScript calls `free()`), and signer logins (NIP-07) pass a decrypt callback instead.

pub mod api;

use ehr_client::keys::Identity;
use ehr_client::nostr::prelude::{Event, PublicKey, UnsignedEvent};
use ehr_client::signer::{Nip44Decrypt, PatientSigner, SignerError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// A patient's secret key, held inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug)]
pub struct PatientKey {
    identity: Identity,
}

#[wasm_bindgen]
impl PatientKey {
    /// Take an `nsec` (or 64 hex digits).
    #[wasm_bindgen(constructor)]
    pub fn new(secret: &str) -> Result<PatientKey, JsError> {
        Ok(Self {
            identity: api::identity(secret)?,
        })
    }

    /// The patient's public key, hex.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.identity.public_key().to_hex()
    }

    /// A signed NIP-42 AUTH event (JSON) answering `challenge` from `relay`.
    #[wasm_bindgen(js_name = signAuth)]
    pub fn sign_auth(
        &self,
        relay: &str,
        challenge: &str,
        created_at: f64,
    ) -> Result<String, JsError> {
        Ok(api::sign_auth(
            &self.identity,
            relay,
            challenge,
            created_at,
        )?)
    }

    /// Sign a template `{kind, created_at, tags, content}` (JSON, NIP-07's shape): the signed
    /// event (JSON).
    #[wasm_bindgen(js_name = signEvent)]
    pub fn sign_event(&self, template: &str) -> Result<String, JsError> {
        Ok(api::sign_event(&self.identity, template)?)
    }

    /// NIP-44 v2: encrypt `plaintext` to `peer` (hex or npub).
    #[wasm_bindgen(js_name = nip44Encrypt)]
    pub fn nip44_encrypt(&self, peer: &str, plaintext: &str) -> Result<String, JsError> {
        Ok(api::nip44_encrypt(&self.identity, peer, plaintext)?)
    }

    /// NIP-44 v2: decrypt `payload` from `peer` (hex or npub).
    #[wasm_bindgen(js_name = nip44Decrypt)]
    pub fn nip44_decrypt(&self, peer: &str, payload: &str) -> Result<String, JsError> {
        Ok(api::nip44_decrypt(&self.identity, peer, payload)?)
    }

    /// Verify, open and fold the patient's chart from `events` (a JSON array of the events
    /// the relay served): `{"patient", "bundle", "refused"}`.
    #[wasm_bindgen(js_name = openChart)]
    pub fn open_chart(&self, practice: &str, events: &str) -> Result<String, JsError> {
        Ok(api::open_chart_with_key(practice, &self.identity, events)?)
    }
}

/// Parse a connection string: `{"practice": hex, "npub", "relay"}`.
#[wasm_bindgen(js_name = parseConnection)]
pub fn parse_connection(text: &str) -> Result<String, JsError> {
    Ok(api::parse_connection(text)?)
}

/// Check every event's id and signature: `{"events": [...], "invalid": [{"id", "reason"}]}`.
#[wasm_bindgen(js_name = verifyEvents)]
pub fn verify_events(events: &str) -> Result<String, JsError> {
    Ok(api::verify_events(events)?)
}

/// Follow the practice's roster chain: `{"current": roster or null, "rejected": [...]}`.
#[wasm_bindgen(js_name = verifyRoster)]
pub fn verify_roster(practice: &str, events: &str) -> Result<String, JsError> {
    Ok(api::verify_roster(practice, events)?)
}

/// [`PatientKey::open_chart`] through a NIP-44 signer: `decrypt(peerPubkeyHex, ciphertext)`
/// returns a promise of the plaintext, as `window.nostr.nip44.decrypt` (NIP-07) does.
#[wasm_bindgen(js_name = openChartWithSigner)]
pub async fn open_chart_with_signer(
    practice: String,
    patient: String,
    events: String,
    decrypt: js_sys::Function,
) -> Result<String, JsError> {
    let signer = JsSigner {
        public_key: api::public_key(&patient, "patient")?,
        decrypt,
    };
    Ok(api::open_chart_with_signer(&practice, &signer, &events).await?)
}

/// A JavaScript NIP-44 decrypt function standing in for the patient's key.
#[derive(Debug)]
struct JsSigner {
    public_key: PublicKey,
    decrypt: js_sys::Function,
}

impl Nip44Decrypt for JsSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    async fn nip44_decrypt(
        &self,
        counterparty: &PublicKey,
        payload: &str,
    ) -> Result<String, SignerError> {
        // A throw or a rejected promise is the signer (or the user) saying no; its message
        // could quote anything, so it is not passed on.
        let returned = self
            .decrypt
            .call2(
                &JsValue::NULL,
                &JsValue::from_str(&counterparty.to_hex()),
                &JsValue::from_str(payload),
            )
            .map_err(|_| SignerError::Rejected)?;
        let plaintext = JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map_err(|_| SignerError::Rejected)?;
        plaintext
            .as_string()
            .ok_or_else(|| SignerError::Unavailable("the signer returned no text".to_owned()))
    }
}

/// The portal's signer object (`portal/web/signers.js`: `{publicKey, signEvent(template),
/// nip44: {encrypt, decrypt}}`, every method returning a promise) as a [`PatientSigner`], so any
/// login (nsec, NIP-07, NIP-46, passkey) writes the same patient-authored events.
#[derive(Debug)]
struct JsPatientSigner {
    public_key: PublicKey,
    signer: JsValue,
    nip44: JsValue,
}

impl JsPatientSigner {
    fn new(signer: JsValue) -> Result<Self, JsError> {
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
