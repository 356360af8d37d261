//! `ehr-web-wasm`: `ehr-client`'s I/O-free core for the browser apps, the patient portal and
//! the clinic app (DESIGN.md §11, §12). A thin export layer over [`api`]: JSON text in and out, every refusal a
//! JavaScript `Error` whose message names the problem and never quotes a key or a record.
//!
//! The secret key never leaves WebAssembly memory once given: [`HeldKey`] holds it (wiped
//! when JavaScript calls `free()`); the other logins pass the portal's signer object, which
//! `signer.rs` adapts to `ehr-client`'s signer traits.

pub mod api;
mod clinic;
mod login;
mod offline;
pub mod records;
mod signer;

use ehr_client::keys::Identity;
use wasm_bindgen::prelude::*;

use crate::signer::JsPatientSigner;

/// A secret key held inside WebAssembly: a patient's in the portal, a staff member's in the
/// clinic app (nsec, ncryptsec or passkey logins).
#[wasm_bindgen]
#[derive(Debug)]
pub struct HeldKey {
    identity: Identity,
}

#[wasm_bindgen]
impl HeldKey {
    /// The patient's public key, hex.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.identity.public_key().to_hex()
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

    /// Plan one of the practice's operations (`{"op": "enrol" | "add-member" |
    /// "revoke-member" | "grant-consent" | "withdraw-consent" | "guardianship" | "maintain",
    /// …}`) as this key, a staff member's, from `events` of the practice `practice` at `now`:
    /// the signed events to publish, in order (`ehr_client::practice`; the browser composes
    /// no step itself).
    #[wasm_bindgen(js_name = planPractice)]
    pub fn plan_practice(
        &self,
        practice: &str,
        events: &str,
        operation: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(api::practice::plan(
            &self.identity,
            practice,
            events,
            operation,
            now,
        )?)
    }

    /// Verify, open and fold the patient's chart from `events` (a JSON array of the events
    /// the relay served): `{"patient", "bundle", "refused"}`.
    #[wasm_bindgen(js_name = openChart)]
    pub fn open_chart(&self, practice: &str, events: &str) -> Result<String, JsError> {
        Ok(api::open_chart_with_key(practice, &self.identity, events)?)
    }
}

/// [`HeldKey::open_chart`] through the portal's signer object (`signer.nip44.decrypt`
/// returns a promise of the plaintext, as `window.nostr.nip44.decrypt` does).
#[wasm_bindgen(js_name = openChartWithSigner)]
pub async fn open_chart_with_signer(
    practice: String,
    signer: JsValue,
    events: String,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::open_chart_with_signer(&practice, &signer, &events).await?)
}

/// The NIP-42 AUTH template for `relay`'s `challenge`, for the signer whose key is `author`.
#[wasm_bindgen(js_name = authTemplate)]
pub fn auth_template(
    author: &str,
    relay: &str,
    challenge: &str,
    created_at: f64,
) -> Result<String, JsError> {
    Ok(api::auth_template(author, relay, challenge, created_at)?)
}

/// The filters the app fetches with, by name (`{"rosters", "chart", "audit", "guardianship",
/// "patient", "signer"}`), from `ehr_client::kinds`.
#[wasm_bindgen]
pub fn filters() -> String {
    api::filters()
}

/// The clinical kind numbers by name (`{"document": 2121, ...}`), from `ehr_client::kinds`.
#[wasm_bindgen(js_name = clinicalKinds)]
pub fn clinical_kinds() -> String {
    api::clinical_kinds()
}

/// The filter `name` of [`filters`], about `patients` (a JSON array of their keys) when given.
#[wasm_bindgen]
pub fn filter(name: &str, patients: Option<String>) -> Result<String, JsError> {
    Ok(api::filter(name, patients.as_deref())?)
}

/// Plan sharing the folded chart `bundle` (read at practice `source`) with practice `target`,
/// whose rosters are among `targetEvents`: `{"epoch", "epoch_pubkey", "parts": [plaintext]}`.
#[wasm_bindgen(js_name = sharePlan)]
pub fn share_plan(
    source: &str,
    target: &str,
    target_events: &str,
    bundle: &str,
    batch: &str,
    max_bytes: usize,
) -> Result<String, JsError> {
    Ok(api::share::share_plan(
        source,
        target,
        target_events,
        bundle,
        batch,
        max_bytes,
    )?)
}

/// One shared part sealed through the portal's signer object (any login) as a kind 2108 event
/// for the new practice's epoch (`epoch`, `epochPubkey` from the plan): the signed event
/// (JSON), checked before it is returned.
#[wasm_bindgen(js_name = sealSharedPart)]
pub async fn seal_shared_part(
    signer: JsValue,
    epoch: u32,
    epoch_pubkey: String,
    part: String,
    created_at: f64,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(
        api::share::seal_shared_part(&signer, u64::from(epoch), &epoch_pubkey, &part, created_at)
            .await?,
    )
}

// Documents (api::documents): the BUD-11 token template for the signer, the Authorization
// header for the signed token, and the decryption of the downloaded blob.

/// How to fetch a DocumentReference's file (JSON): `{"url", "origin", "sha256", "contentType",
/// "title", "template"}`; `template` is the BUD-11 token for `patient`'s signer.
#[wasm_bindgen(js_name = documentRequest)]
pub fn document_request(document: &str, patient: &str, now: f64) -> Result<String, JsError> {
    Ok(api::documents::document_request(document, patient, now)?)
}

/// `Nostr <base64>` for a signed BUD-11 token (JSON).
#[wasm_bindgen(js_name = blossomAuthorization)]
pub fn blossom_authorization(event: &str) -> Result<String, JsError> {
    Ok(api::documents::blossom_authorization(event)?)
}

/// The decrypted file of `document` from the bytes Blossom served.
#[wasm_bindgen(js_name = openDocument)]
pub fn open_document(document: &str, blob: &[u8]) -> Result<Vec<u8>, JsError> {
    Ok(api::documents::open_document(document, blob)?)
}

/// The patient's access log (api::access_log) through her signer's `decrypt(peerHex,
/// payload)`: `{"entries": [...], "refused": [...]}`.
#[wasm_bindgen(js_name = openAccessLog)]
pub async fn open_access_log(
    practice: String,
    signer: JsValue,
    events: String,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(api::access_log::open_access_log(&practice, &signer, &events).await?)
}

/// A connection string signed by the practice root key it names (api::connections):
/// `{"practice", "npub", "relay", "blossom", "name", "connection"}`; a changed relay or
/// Blossom, another signer, or no signature is an Error saying so.
#[wasm_bindgen(js_name = verifyConnection)]
pub fn verify_connection(text: &str) -> Result<String, JsError> {
    Ok(api::connections::verify_connection(text)?)
}

/// A member's view of the practice (api::member::MemberSession), loaded once at login and kept
/// here with a copy of the key (`free()` drops both).
#[wasm_bindgen]
#[derive(Debug)]
pub struct MemberSession {
    session: std::rc::Rc<api::member::MemberSession>,
}

#[wasm_bindgen]
impl MemberSession {
    /// Who the member is now (JSON); an Error if the roster does not name the key.
    pub fn member(&self) -> Result<String, JsError> {
        Ok(self.session.member()?)
    }

    /// The guardians of `patient` in force now, with the guardianship records in `events`: a
    /// JSON array of hex keys.
    pub fn guardians(&self, patient: &str, events: &str) -> Result<String, JsError> {
        Ok(self.session.guardians(patient, events)?)
    }

    /// The verified roster's members (JSON), for the administration screen.
    pub fn roster(&self) -> Result<String, JsError> {
        Ok(self.session.roster()?)
    }

    /// The verified roster's sequence, date, epochs and rejected rosters (JSON) of the practice
    /// whose root is `practice`, for the practice health view.
    #[wasm_bindgen(js_name = rosterState)]
    pub fn roster_state(&self, practice: &str) -> Result<String, JsError> {
        Ok(self.session.roster_state(practice)?)
    }

    /// The appointments the member reads in `events` (kind 2124, with the slot holds), current
    /// versions with their patient, schedule, held time and requested time, by start (JSON).
    pub fn appointments(&self, events: &str) -> Result<String, JsError> {
        Ok(api::schedule::appointments(&self.session, events)?)
    }

    /// The desk's `operation` (JSON: book, move, decline, cancel, status, release) on `appointment`
    /// (FHIR JSON) of `patient`, for the practice `practice` (its name) whose clock is
    /// `utc_offset_minutes` from UTC, at `now`, with the patient's `email` (empty: none) for
    /// her reminders: the signed events to publish, in order.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = deskOperation)]
    pub fn desk_operation(
        &self,
        patient: &str,
        appointment: &str,
        operation: &str,
        practice: &str,
        utc_offset_minutes: i32,
        now: f64,
        email: &str,
    ) -> Result<String, JsError> {
        Ok(api::schedule::desk(
            &self.session,
            patient,
            appointment,
            operation,
            &api::schedule::DeskSetting {
                practice,
                utc_offset_minutes,
                now,
                email,
            },
        )?)
    }

    /// `definition` (a schedule's JSON: `ehr_client::schedule::ScheduleDefinition`) signed by
    /// the member's key held here at `now`: the kind 2123 event (JSON) to publish. An Error
    /// naming the rule when the definition breaks one, or when the member may not schedule.
    #[wasm_bindgen(js_name = signSchedule)]
    pub fn sign_schedule(&self, definition: &str, now: f64) -> Result<String, JsError> {
        Ok(api::schedule::sign_schedule(
            &self.session,
            definition,
            now,
        )?)
    }

    /// The patients the member's keys reach, from `events` (demographics and visits).
    #[wasm_bindgen(js_name = patientList)]
    pub fn patient_list(&self, events: &str) -> Result<String, JsError> {
        Ok(self.session.patient_list(events)?)
    }

    /// `patient`'s chart from `events` (her events), as the member reads it.
    #[wasm_bindgen(js_name = openChart)]
    pub fn open_chart(&self, patient: &str, events: &str) -> Result<String, JsError> {
        Ok(self.session.chart(patient, events)?)
    }

    /// A new record (FHIR JSON) about `patient`, signed by the member: a promise of the event
    /// (JSON). A key held here signs at once; a login through a signer (NIP-07, NIP-46) passes
    /// the login's signer object, which encrypts the patient copy and signs.
    #[wasm_bindgen(js_name = signRecord)]
    pub fn sign_record(
        &self,
        patient: String,
        resource: String,
        created_at: f64,
        signer: JsValue,
    ) -> js_sys::Promise {
        let request = api::member::Signing::Record { patient, resource };
        signed_promise(&self.session, request, created_at, signer)
    }
}

/// A promise of `request` signed by the member: at once with a key held here, else through the
/// login's `signer`; an Error with the core's reason when refused.
fn signed_promise(
    session: &std::rc::Rc<api::member::MemberSession>,
    request: api::member::Signing,
    created_at: f64,
    signer: JsValue,
) -> js_sys::Promise {
    let session = std::rc::Rc::clone(session);
    wasm_bindgen_futures::future_to_promise(async move {
        let signed = if session.signs_through_signer() {
            let signer = JsPatientSigner::new(signer)?;
            session.sign_with(&signer, &request, created_at).await
        } else {
            session.sign(&request, created_at)
        };
        signed
            .map(|event| JsValue::from_str(&event))
            .map_err(|error| JsError::from(error).into())
    })
}

// The practice's own dot-phrases (api::member, ehr_client::phrases).
#[wasm_bindgen]
impl MemberSession {
    /// The practice's phrases in `events` (the `phrases` filter's), as the member reads them.
    #[wasm_bindgen(js_name = practicePhrases)]
    pub fn practice_phrases(&self, events: &str) -> Result<String, JsError> {
        Ok(self.session.practice_phrases(events)?)
    }

    /// A phrase (`{"name", "text", "retired"?}`) defined or retired by the member: a promise of
    /// the signed event (JSON), through the login's `signer` when the key is not held here.
    #[wasm_bindgen(js_name = signPhrase)]
    pub fn sign_phrase(
        &self,
        definition: String,
        created_at: f64,
        signer: JsValue,
    ) -> js_sys::Promise {
        let request = api::member::Signing::Phrase { definition };
        signed_promise(&self.session, request, created_at, signer)
    }
}

/// A member's view of the practice for a login through a signer (NIP-07, NIP-46; the signer
/// object of `web/shared/signers.js`): it decrypts the few grants sealed to the member's key,
/// everything else is opened here. A signer that refuses is an Error saying so.
#[wasm_bindgen(js_name = memberSessionWithSigner)]
pub async fn member_session_with_signer(
    practice: String,
    events: String,
    signer: JsValue,
) -> Result<MemberSession, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    let session = api::member::MemberSession::open_with_signer(&practice, &signer, &events).await?;
    Ok(MemberSession {
        session: std::rc::Rc::new(session),
    })
}

// A staff member's side (api::member), for the clinic app: the key is a member's.
#[wasm_bindgen]
impl HeldKey {
    /// This member's view of the practice from the key events (`events`), kept for the session.
    #[wasm_bindgen(js_name = memberSession)]
    pub fn member_session(&self, practice: &str, events: &str) -> Result<MemberSession, JsError> {
        Ok(MemberSession {
            session: std::rc::Rc::new(api::member::MemberSession::open(
                practice,
                &self.identity,
                events,
            )?),
        })
    }
}

// The relay's management API (NIP-86 over NIP-98), for the clinic app's administration.
#[wasm_bindgen]
impl HeldKey {
    /// A NIP-86 call `method` with `params` (a JSON array) to the relay at `relay` (ws:// or
    /// wss://) as this key at `now` (seconds): `{"url", "body", "authorization"}`, the POST.
    #[wasm_bindgen(js_name = relayCall)]
    pub fn relay_call(
        &self,
        relay: &str,
        method: &str,
        params: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(api::practice::relay_call(
            &self.identity,
            relay,
            method,
            params,
            now,
        )?)
    }

    /// Enrol a patient (`{"details": the details form, "npub": her own, or "" for a new key}`)
    /// as this key, a staff member's, from `events` (the `administration` filter's) of the
    /// practice `practice` whose signed connection string is `connection`, at `now`: `{"events",
    /// "patient", "npub", "handover"}`; for a new key, the handover sheet (its `ncryptsec`, the
    /// password to tell her, the QR codes). The plaintext key never leaves WebAssembly.
    #[wasm_bindgen(js_name = enrolPatient)]
    pub fn enrol_patient(
        &self,
        practice: &str,
        connection: &str,
        events: &str,
        form: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(api::enrolment::enrol(
            &self.identity,
            practice,
            connection,
            events,
            form,
            now,
        )?)
    }

    /// The NIP-98 `Authorization` header for a `method` request to `url` with `body`, signed
    /// by this key at `now` (seconds): the FHIR gateway's admin API, from the clinic app.
    #[wasm_bindgen(js_name = httpAuthorization)]
    pub fn http_authorization(
        &self,
        url: &str,
        method: &str,
        body: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(api::practice::http_authorization(
            &self.identity,
            url,
            method,
            body,
            now,
        )?)
    }
}

// A guardian's wards (api::guardians), for a key held in WebAssembly.
#[wasm_bindgen]
impl HeldKey {
    /// The wards this key may read as their guardian: `[{"ward": hex, "name"}]`.
    pub fn wards(&self, practice: &str, events: &str) -> Result<String, JsError> {
        Ok(api::guardians::wards(practice, &self.identity, events)?)
    }

    /// `resource` (FHIR JSON) about `ward`, signed by this key as her guardian at `now` (an
    /// appointment request or cancellation, or what else the patient may write): the event.
    #[wasm_bindgen(js_name = signWardRecord)]
    pub fn sign_ward_record(
        &self,
        practice: &str,
        ward: &str,
        events: &str,
        resource: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(api::guardians::sign_ward_record(
            practice,
            &self.identity,
            ward,
            events,
            resource,
            now,
        )?)
    }

    /// A ward's chart, read as their guardian: `{"patient", "bundle", "refused"}`.
    #[wasm_bindgen(js_name = openWardChart)]
    pub fn open_ward_chart(
        &self,
        practice: &str,
        ward: &str,
        events: &str,
    ) -> Result<String, JsError> {
        Ok(api::guardians::ward_chart(
            practice,
            &self.identity,
            ward,
            events,
        )?)
    }
}

/// The free slots of the practice `practice` from `from` to `to` (seconds) in `events` (the
/// `schedule` filter's): `{"schedules", "slots"}`, the visit types patients may request, or
/// every type for `staff`.
#[wasm_bindgen(js_name = freeSlots)]
pub fn free_slots(
    practice: &str,
    events: &str,
    from: f64,
    to: f64,
    staff: bool,
) -> Result<String, JsError> {
    Ok(api::schedule::free_slots(
        practice, events, from, to, staff,
    )?)
}

/// The schedules in force of the practice `practice` in `events` (rosters and schedules): the
/// newest version of each, active or not, as full definitions (a JSON list).
#[wasm_bindgen(js_name = practiceSchedules)]
pub fn practice_schedules(practice: &str, events: &str) -> Result<String, JsError> {
    Ok(api::schedule::practice_schedules(practice, events)?)
}

/// Her request for `slot` of visit type `visit` (JSON, from [`free_slots`]) with `comment`, in
/// her opened `chart`: FHIR JSON to sign (`signPatientEvent`).
#[wasm_bindgen(js_name = appointmentRequest)]
pub fn appointment_request(
    chart: &str,
    slot: &str,
    visit: &str,
    comment: &str,
    now: f64,
) -> Result<String, JsError> {
    Ok(api::schedule::request(chart, slot, visit, comment, now)?)
}

/// Her request to move `appointment` (current FHIR JSON, booked) to `slot` (a free slot of its
/// schedule, JSON) with `comment`: its next version, to sign.
#[wasm_bindgen(js_name = appointmentReschedule)]
pub fn appointment_reschedule(
    appointment: &str,
    slot: &str,
    comment: &str,
) -> Result<String, JsError> {
    Ok(api::schedule::reschedule(appointment, slot, comment)?)
}

/// What booking reads for the days `from`..`to` (seconds): rosters, schedules and those days'
/// holds (a list of filters, JSON).
#[wasm_bindgen(js_name = scheduleFilters)]
pub fn schedule_filters(from: f64, to: f64) -> Result<String, JsError> {
    Ok(api::schedule::schedule_filters(from, to)?)
}

/// The desk's filters for the days `from`..`to` (seconds) and the requests since `since`:
/// `{"days": [filters], "requests": filter}` (DESIGN.md §13, "Scale").
#[wasm_bindgen(js_name = appointmentFilters)]
pub fn appointment_filters(from: f64, to: f64, since: f64) -> Result<String, JsError> {
    Ok(api::schedule::appointment_filters(from, to, since)?)
}

/// Her cancellation of `appointment` (current FHIR JSON): its next version, to sign.
#[wasm_bindgen(js_name = appointmentCancellation)]
pub fn appointment_cancellation(appointment: &str) -> Result<String, JsError> {
    Ok(api::schedule::cancellation(appointment)?)
}

// Her summary, SMART Health Links and emergency access; the link viewer (DESIGN.md §11).
mod emergency;
