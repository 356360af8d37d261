//! A staff member's side, for the clinic app: who the key is on the verified roster and what
//! its role may read and write, the patient list its keys reach, a patient's chart as it reads
//! it, and a new record signed under the right key. Every decision is `ehr-client`'s
//! (`PracticeView`, `patients::patient_list`, `PracticeView::sign_record`); the key domains
//! of shared DESIGN §2 decide what opens, and the app only follows the role it is told.

use ehr_client::access::{AccessError, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::nostr::prelude::PublicKey;
use ehr_client::patients;
use ehr_client::phrases;
use ehr_client::signer::{Nip44Decrypt, PatientSigner};
use serde_json::json;

use super::guardians::now;
use super::records::resource_of;
use super::{ApiError, chart_inputs, chart_json, public_key, seconds};

/// A member's view of the practice, loaded once from the key events (rosters, grants, wraps,
/// guardianships) at login and kept in WebAssembly: the patient list, each chart and each new
/// record use it, instead of verifying and opening every wrap again for each call.
pub struct MemberSession {
    key: MemberKey,
    view: PracticeView,
}

/// What a member signs: a record about a patient, or a phrase of the practice.
#[derive(Debug, Clone)]
pub enum Signing {
    /// A FHIR resource (JSON) about `patient`.
    Record {
        /// The patient (npub or hex).
        patient: String,
        /// The resource (FHIR JSON).
        resource: String,
    },
    /// A phrase definition `{"name", "text", "retired"?}`.
    Phrase {
        /// The definition (JSON).
        definition: String,
    },
}

/// Where the member's own key is: held in WebAssembly (ncryptsec, passkey), or in a signer
/// (NIP-07 extension, NIP-46 bunker) that signs each new record.
enum MemberKey {
    Held(Identity),
    Signer(PublicKey),
}

impl MemberSession {
    /// The member's view of the practice.
    pub(crate) fn view(&self) -> &PracticeView {
        &self.view
    }

    /// The member's key, when it is held here (not through a signer).
    pub(crate) fn held_key(&self) -> Option<&Identity> {
        match &self.key {
            MemberKey::Held(identity) => Some(identity),
            MemberKey::Signer(_) => None,
        }
    }
}

impl std::fmt::Debug for MemberSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberSession")
            .field("member", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl MemberSession {
    /// `identity`'s view of the practice `practice` from `json` (the events the relay served:
    /// the key events at least). No verified roster is an error.
    pub fn open(practice: &str, identity: &Identity, json: &str) -> Result<Self, ApiError> {
        let (practice, events, _) = chart_inputs(practice, json)?;
        Ok(Self {
            key: MemberKey::Held(identity.clone()),
            view: PracticeView::load(&practice, &events, identity),
        })
    }

    /// [`Self::open`] for a member whose key is in `signer`: it decrypts the few payloads
    /// sealed to that key (`PracticeView::load_with_signer`); everything after is done here.
    pub async fn open_with_signer<S: Nip44Decrypt>(
        practice: &str,
        signer: &S,
        json: &str,
    ) -> Result<Self, ApiError> {
        let (practice, events, _) = chart_inputs(practice, json)?;
        let view = PracticeView::load_with_signer(&practice, &events, signer)
            .await
            .map_err(|error| ApiError::Signer(error.to_string()))?;
        Ok(Self {
            key: MemberKey::Signer(signer.public_key()),
            view,
        })
    }

    fn public_key(&self) -> PublicKey {
        match &self.key {
            MemberKey::Held(identity) => identity.public_key(),
            MemberKey::Signer(public_key) => *public_key,
        }
    }

    /// Whether new records are signed through the login's signer ([`Self::sign_record_with`])
    /// rather than here.
    pub fn signs_through_signer(&self) -> bool {
        matches!(self.key, MemberKey::Signer(_))
    }

    /// Who the member is now: `{"pubkey", "role", "name", "reads": ["clinical", "office"],
    /// "writes": [kind numbers], "wrapsKeys"}`. A key the verified roster does not name now (never added,
    /// revoked, another practice's, an agent) is [`ApiError::NotMember`].
    pub fn member(&self) -> Result<String, ApiError> {
        let me = self.public_key();
        let entry = self
            .view
            .roster()
            .members_at(now())
            .into_iter()
            .find(|m| m.pubkey == me)
            .filter(|m| !m.role.is_agent())
            .ok_or(ApiError::NotMember)?;
        let split = self.view.roster().is_split();
        // Before the split every staff role holds the one epoch, which opens both domains.
        let reads: Vec<&str> = Domain::ALL
            .into_iter()
            .filter(|domain| !split || entry.role.holds(*domain))
            .map(Domain::as_str)
            .collect();
        let writes: Vec<u16> = ClinicalKind::ALL
            .into_iter()
            .filter(|kind| entry.role.may_write(*kind))
            .map(ClinicalKind::as_u16)
            .collect();
        Ok(json!({
            "pubkey": me.to_hex(),
            "role": entry.role.as_str(),
            "name": entry.name,
            "reads": reads,
            "writes": writes,
            // Wraps chart keys (`Role::may_wrap_chart_keys`): grants guardianships.
            "wrapsKeys": entry.role.may_wrap_chart_keys(),
        })
        .to_string())
    }

    /// The current roster, for the administration screen: `[{"pubkey", "npub", "role", "name",
    /// "active"}]`, every member the verified roster names (active now or ended).
    pub fn roster(&self) -> Result<String, ApiError> {
        use ehr_client::nostr::prelude::ToBech32;
        let roster = self.view.roster().current().ok_or(ApiError::NoRoster)?;
        let now = now();
        let members: Vec<serde_json::Value> = roster
            .content
            .members
            .iter()
            .map(|m| {
                json!({
                    "pubkey": m.pubkey.to_hex(),
                    "npub": m.pubkey.to_bech32().unwrap_or_default(),
                    "role": m.role.as_str(),
                    "name": m.name,
                    "active": m.is_valid_at(now),
                })
            })
            .collect();
        Ok(serde_json::Value::Array(members).to_string())
    }

    /// The verified roster's state, for the practice health view: `{"sequence", "since",
    /// "signed_by_root", "epochs": {"clinical", "office"}, "split", "rejected_rosters"}`.
    pub fn roster_state(&self, root: &str) -> Result<String, ApiError> {
        use ehr_client::kinds::Domain;
        let chain = self.view.roster();
        let roster = chain.current().ok_or(ApiError::NoRoster)?;
        let root = public_key(root, "practice")?;
        let epoch = |domain| chain.current_epoch_of(domain).map(|(epoch, _)| epoch);
        Ok(json!({
            "sequence": roster.content.sequence,
            "since": roster.created_at.as_secs(),
            "signed_by_root": roster.signer == root,
            "epochs": { "clinical": epoch(Domain::Clinical), "office": epoch(Domain::Office) },
            "split": chain.is_split(),
            "rejected_rosters": chain.rejected().len(),
        })
        .to_string())
    }

    /// The guardians of `patient` in force now (hex keys, `PracticeView::guardians_of`), with
    /// the guardianship records in `json` (fetched now: the session's own may be older).
    pub fn guardians(&self, patient: &str, json: &str) -> Result<String, ApiError> {
        let patient = public_key(patient, "patient")?;
        let (events, _) = super::parse_events(json)?;
        let mut view = self.view.clone();
        for event in events
            .iter()
            .filter(|e| e.kind.as_u16() == ehr_client::kinds::GUARDIANSHIP)
        {
            view.add_guardianship(event);
        }
        let guardians: Vec<String> = view
            .guardians_of(&patient, now())
            .iter()
            .map(|g| g.to_hex())
            .collect();
        serde_json::to_string(&guardians).map_err(|_| ApiError::Chart)
    }

    /// Every patient the member's keys reach, from `json` (demographics and visits):
    /// `[{"patient", "name", "birthDate", "gender", "identifiers", "lastVisit"}]`, by name.
    pub fn patient_list(&self, json: &str) -> Result<String, ApiError> {
        let (events, _) = super::parse_events(json)?;
        let list = patients::patient_list(&self.view, &events);
        serde_json::to_string(&list).map_err(|_| ApiError::Chart)
    }

    /// `patient`'s chart from `json` (her events), patient-reported entries included (marked):
    /// the portal's chart shape (`{"patient", "bundle", "entries", "refused"}`). What the
    /// member holds no key for is not listed as refused: it is not hers to see.
    pub fn chart(&self, patient: &str, json: &str) -> Result<String, ApiError> {
        let patient = public_key(patient, "patient")?;
        let (events, malformed) = super::parse_events(json)?;
        let options = FoldOptions {
            include_patient_reported: true,
        };
        let (chart, refused) = self.view.chart(&patient, &events, options);
        let refused: Vec<_> = refused
            .into_iter()
            .filter(|(_, error)| *error != AccessError::NoKey)
            .collect();
        Ok(chart_json(&patient, &chart, &refused, malformed))
    }

    /// A new record (`resource`, FHIR JSON) about `patient`, signed by the member at
    /// `created_at` under the key its kind takes (the office key for demographics and
    /// messages, the chart key otherwise): the signed event (JSON). A kind the role may not
    /// write, or a key the member does not hold, is refused.
    pub fn sign_record(
        &self,
        patient: &str,
        resource: &str,
        created_at: f64,
    ) -> Result<String, ApiError> {
        let MemberKey::Held(identity) = &self.key else {
            return Err(ApiError::Record(
                "this login signs through its signer".to_owned(),
            ));
        };
        let builder = self.record_builder(patient, resource, created_at)?;
        let event = self
            .view
            .sign_record(identity, builder)
            .map_err(|e| ApiError::Record(e.to_string()))?;
        Ok(event.to_json())
    }

    /// [`Self::sign_record`] through the login's signer (NIP-07, NIP-46), which encrypts the
    /// patient copy and signs; the event it returns is checked.
    pub async fn sign_record_with<S: PatientSigner>(
        &self,
        signer: &S,
        patient: &str,
        resource: &str,
        created_at: f64,
    ) -> Result<String, ApiError> {
        if signer.public_key() != self.public_key() {
            return Err(ApiError::Record(
                "the signer holds another key than the one logged in".to_owned(),
            ));
        }
        let builder = self.record_builder(patient, resource, created_at)?;
        let event = self
            .view
            .sign_record_with(signer, builder)
            .await
            .map_err(|e| ApiError::Record(e.to_string()))?;
        Ok(event.to_json())
    }

    /// The practice's own dot-phrases in `json` (kind 2122 events) as the member reads them:
    /// `[{"name", "text", "author", "updated_at"}]`, by name (`ehr_client::phrases`).
    pub fn practice_phrases(&self, json: &str) -> Result<String, ApiError> {
        let (events, _) = super::parse_events(json)?;
        let list = phrases::practice_phrases(&self.view, &events);
        serde_json::to_string(&list).map_err(|_| ApiError::Chart)
    }

    /// A phrase of the practice (`{"name", "text", "retired"?}`) defined, or retired, by the
    /// member at `created_at`: the signed event (JSON). A built-in name, a name or text outside
    /// the rules, or a role that does not write notes is refused.
    pub fn sign_phrase(&self, definition: &str, created_at: f64) -> Result<String, ApiError> {
        let MemberKey::Held(identity) = &self.key else {
            return Err(ApiError::Record(
                "this login signs through its signer".to_owned(),
            ));
        };
        let (definition, created_at) = phrase_input(definition, created_at)?;
        let event = phrases::seal(&self.view, identity, &definition, created_at)
            .map_err(|e| ApiError::Record(e.to_string()))?;
        Ok(event.as_json())
    }

    /// [`Self::sign_phrase`] through the login's signer (NIP-07, NIP-46).
    pub async fn sign_phrase_with<S: PatientSigner>(
        &self,
        signer: &S,
        definition: &str,
        created_at: f64,
    ) -> Result<String, ApiError> {
        if signer.public_key() != self.public_key() {
            return Err(ApiError::Record(
                "the signer holds another key than the one logged in".to_owned(),
            ));
        }
        let (definition, created_at) = phrase_input(definition, created_at)?;
        let event = phrases::seal_with(&self.view, signer, &definition, created_at)
            .await
            .map_err(|e| ApiError::Record(e.to_string()))?;
        Ok(event.as_json())
    }

    /// `request` signed with the key held here ([`Self::sign_record`], [`Self::sign_phrase`]).
    pub fn sign(&self, request: &Signing, created_at: f64) -> Result<String, ApiError> {
        match request {
            Signing::Record { patient, resource } => {
                self.sign_record(patient, resource, created_at)
            }
            Signing::Phrase { definition } => self.sign_phrase(definition, created_at),
        }
    }

    /// `request` signed through the login's signer ([`Self::sign_record_with`],
    /// [`Self::sign_phrase_with`]).
    pub async fn sign_with<S: PatientSigner>(
        &self,
        signer: &S,
        request: &Signing,
        created_at: f64,
    ) -> Result<String, ApiError> {
        match request {
            Signing::Record { patient, resource } => {
                self.sign_record_with(signer, patient, resource, created_at)
                    .await
            }
            Signing::Phrase { definition } => {
                self.sign_phrase_with(signer, definition, created_at).await
            }
        }
    }

    /// The builder of a new record, once the member's role may write its kind at `created_at`.
    fn record_builder(
        &self,
        patient: &str,
        resource: &str,
        created_at: f64,
    ) -> Result<ClinicalEventBuilder, ApiError> {
        let patient = public_key(patient, "patient")?;
        let resource = resource_of(resource)?;
        let kind = ClinicalKind::for_resource(&resource);
        let created_at = seconds(created_at)?;
        let may_write = self
            .view
            .roster()
            .role_at(&self.public_key(), created_at)
            .is_some_and(|role| role.may_write(kind));
        if !may_write {
            return Err(ApiError::Record(format!(
                "your role may not write kind {}",
                kind.as_u16()
            )));
        }
        Ok(ClinicalEventBuilder::new(kind, resource, patient)
            .map_err(|e| ApiError::Record(e.to_string()))?
            .created_at(created_at))
    }
}

/// A phrase definition from the form, refused when it would redefine a built-in phrase.
fn phrase_input(
    definition: &str,
    created_at: f64,
) -> Result<
    (
        phrases::PhraseDefinition,
        ehr_client::nostr::prelude::Timestamp,
    ),
    ApiError,
> {
    let definition: phrases::PhraseDefinition = serde_json::from_str(definition)
        .map_err(|_| ApiError::Record("a phrase is {\"name\", \"text\"}".to_owned()))?;
    if super::clinic::notes::is_built_in(&definition.name) {
        return Err(ApiError::Record(format!(
            ".{} is a built-in phrase; choose another name",
            definition.name
        )));
    }
    Ok((definition, seconds(created_at)?))
}

/// [`MemberSession::member`] from the events at hand.
pub fn member(practice: &str, identity: &Identity, json: &str) -> Result<String, ApiError> {
    MemberSession::open(practice, identity, json)?.member()
}

/// [`MemberSession::patient_list`] from the events at hand (key events and patient list).
pub fn patient_list(practice: &str, identity: &Identity, json: &str) -> Result<String, ApiError> {
    MemberSession::open(practice, identity, json)?.patient_list(json)
}

/// [`MemberSession::chart`] from the events at hand (key events and her events).
pub fn chart(
    practice: &str,
    identity: &Identity,
    patient: &str,
    json: &str,
) -> Result<String, ApiError> {
    MemberSession::open(practice, identity, json)?.chart(patient, json)
}

/// [`MemberSession::sign_record`] from the events at hand.
pub fn sign_record(
    practice: &str,
    identity: &Identity,
    json: &str,
    patient: &str,
    resource: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    MemberSession::open(practice, identity, json)?.sign_record(patient, resource, created_at)
}

#[cfg(test)]
mod tests;
