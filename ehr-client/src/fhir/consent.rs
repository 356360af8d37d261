//! FHIR R4 `Consent` (kind 2105): which outside facilities may receive the patient's chart
//! through the practice's FHIR gateway.
//!
//! A facility is named as a `provision.actor` with role v3-ParticipationType `IRCP`
//! (information recipient) and a logical reference whose identifier has the system
//! [`FHIR_CLIENT_SYSTEM`] and the facility's FHIR client id as value. Withdrawing consent is a
//! new version of the same Consent with status `inactive`, tagged as a status update
//! ([`Consent::withdrawal`]); the chart fold then shows the inactive version.

use nostr::prelude::Timestamp;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::codes::*;
use super::datatypes::*;
use super::resources::resource;
use super::{RecordAction, Resource, at_most_one, check_dates, concept_present, has_target};

/// Identifier system of a facility's FHIR client id in `Consent.provision.actor.reference`.
pub const FHIR_CLIENT_SYSTEM: &str = "urn:nostr-ehr:fhir-client";

/// HL7 v3 ParticipationType code system (the role of a consent actor).
pub const PARTICIPATION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

/// v3-ParticipationType `IRCP`: information recipient.
pub const INFORMATION_RECIPIENT: &str = "IRCP";

/// `Consent.policy`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentPolicy {
    /// Enforcement source for the policy.
    pub authority: Option<String>,
    /// Specific policy covered by this consent.
    pub uri: Option<String>,
}

/// `Consent.verification`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentVerification {
    /// Whether the consent was verified.
    pub verified: bool,
    /// Person who verified it.
    pub verified_with: Option<Reference>,
    /// When it was verified.
    pub verification_date: Option<String>,
}

/// `Consent.provision.actor`: who the rule applies to, in which role.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentActor {
    /// How the actor is involved (v3-ParticipationType `IRCP` for a recipient).
    pub role: CodeableConcept,
    /// The actor (a facility: identifier in [`FHIR_CLIENT_SYSTEM`]).
    pub reference: Reference,
}

/// `Consent.provision.data`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentData {
    /// instance | related | dependents | authoredby.
    pub meaning: ConsentDataMeaning,
    /// The resource the rule controls.
    pub reference: Reference,
}

/// `Consent.provision`: a rule, with nested exceptions.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentProvision {
    /// deny | permit.
    #[serde(rename = "type")]
    pub type_: Option<ConsentProvisionType>,
    /// When the rule is in force.
    pub period: Option<Period>,
    /// Who the rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor: Vec<ConsentActor>,
    /// Actions controlled (collect, access, use, disclose, correct).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action: Vec<CodeableConcept>,
    /// Security labels of the data covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_label: Vec<Coding>,
    /// Purposes of use (v3-ActReason `TREAT`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purpose: Vec<Coding>,
    /// Kinds of resources covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class: Vec<Coding>,
    /// Codes of the content covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<CodeableConcept>,
    /// Timeframe of the data covered.
    pub data_period: Option<Period>,
    /// Specific resources covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ConsentData>,
    /// Nested exceptions to this rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provision: Vec<ConsentProvision>,
}

resource!(
    /// `Consent` (kind 2105): the patient's choices, here which outside facilities may receive
    /// the chart through the FHIR gateway.
    pub struct Consent {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// draft | proposed | active | rejected | inactive | entered-in-error.
        pub status: ConsentState,
        /// Which of the four areas this consent covers (consentscope `patient-privacy`).
        pub scope: CodeableConcept,
        /// Classification (LOINC `59284-0` patient consent); at least one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// The patient (optional in R4, required here).
        pub patient: Reference,
        /// When this consent was issued.
        pub date_time: Option<String>,
        /// Who agrees to the policy and rules.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub performer: Vec<Reference>,
        /// Custodians of the consent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub organization: Vec<Reference>,
        /// The signed source document.
        pub source_attachment: Option<Attachment>,
        /// The source as a reference.
        pub source_reference: Option<Reference>,
        /// Policies covered by this consent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub policy: Vec<ConsentPolicy>,
        /// Regulation this consent is based on (v3-ActCode `OPTIN`).
        pub policy_rule: Option<CodeableConcept>,
        /// Verifications of the consent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub verification: Vec<ConsentVerification>,
        /// The root rule.
        pub provision: Option<ConsentProvision>,
    }
);

impl ConsentActor {
    /// The FHIR client id of a facility named as information recipient: role `IRCP` and an
    /// identifier in [`FHIR_CLIENT_SYSTEM`] with a non-empty value.
    pub fn fhir_recipient(&self) -> Option<&str> {
        if !self
            .role
            .has_code(Some(PARTICIPATION_TYPE_SYSTEM), INFORMATION_RECIPIENT)
        {
            return None;
        }
        self.fhir_client()
    }

    /// The FHIR client id of the actor, whatever its role.
    fn fhir_client(&self) -> Option<&str> {
        self.reference
            .identifier
            .as_ref()
            .filter(|i| i.system.as_deref() == Some(FHIR_CLIENT_SYSTEM))
            .and_then(|i| i.value.as_deref())
            .filter(|v| !v.is_empty())
    }
}

impl Consent {
    /// Whether this consent lets the FHIR gateway share the chart at `now`: at least one
    /// facility in [`Consent::fhir_recipients`].
    pub fn permits_fhir_sharing(&self, now: Timestamp) -> bool {
        !self.fhir_recipients(now).is_empty()
    }

    /// The FHIR client ids of the facilities this consent lets receive the chart at `now`, in
    /// order of appearance without repeats. Empty unless the consent is active, its root
    /// provision is a `permit` in force at `now` (`provision.period`), and the gateway can
    /// honour every rule as written.
    ///
    /// The gateway shares whole charts, by disclosure, for treatment (what
    /// [`Consent::fhir_sharing`] writes), so it fails closed: a root provision that limits the
    /// data (`class`, `code`, `data`, `dataPeriod`, `securityLabel`) or names another action or
    /// purpose shares nothing. Recipients are the root provision's `IRCP` actors with a
    /// [`FHIR_CLIENT_SYSTEM`] identifier. A nested `deny` removes the facilities it names, and
    /// every facility if it names none or one without a client id; it is applied whole, so what
    /// narrows it only denies more. Any other nested rule shares nothing.
    pub fn fhir_recipients(&self, now: Timestamp) -> Vec<String> {
        let Some(root) = self.provision.as_ref() else {
            return Vec::new();
        };
        if self.status != ConsentState::Active
            || root.type_ != Some(ConsentProvisionType::Permit)
            || !in_force(root.period.as_ref(), now)
            || !root.gateway_honours()
        {
            return Vec::new();
        }
        let mut denied: Vec<&str> = Vec::new();
        if !collect_denied(&root.provision, &mut denied) {
            return Vec::new();
        }
        let mut recipients: Vec<String> = Vec::new();
        for id in root.actor.iter().filter_map(ConsentActor::fhir_recipient) {
            if !denied.contains(&id) && !recipients.iter().any(|r| r == id) {
                recipients.push(id.to_owned());
            }
        }
        recipients
    }

    /// Whether this consent is a decision about emergency access (its root provision's
    /// purpose names [`EMERGENCY_TREATMENT`]) rather than about sharing: each kind of decision
    /// has its own newest consent ([`crate::chart::Chart::newest_consent`] and
    /// [`crate::chart::Chart::newest_emergency_consent`]), and a withdrawal keeps the purpose.
    pub fn is_emergency_access(&self) -> bool {
        self.provision.as_ref().is_some_and(|root| {
            root.purpose.iter().any(|p| {
                p.system.as_deref() == Some(ACT_REASON_SYSTEM)
                    && p.code.as_deref() == Some(EMERGENCY_TREATMENT)
            })
        })
    }

    /// Whether this consent opts the patient in to emergency access at `now`: a facility the
    /// practice registered with the emergency permission may then have her patient summary
    /// without her consent naming it, stating a reason, and she is told. It fails closed like
    /// [`Self::fhir_recipients`]: active, a root `permit` in force whose only purpose is
    /// `ETREAT`, any action only `disclose`, no actor (the facility is not known in advance),
    /// nothing limiting the data and no nested rule.
    pub fn permits_emergency_access(&self, now: Timestamp) -> bool {
        let Some(root) = self.provision.as_ref() else {
            return false;
        };
        self.status == ConsentState::Active
            && root.type_ == Some(ConsentProvisionType::Permit)
            && in_force(root.period.as_ref(), now)
            && root.actor.is_empty()
            && root.provision.is_empty()
            && root.class.is_empty()
            && root.code.is_empty()
            && root.data.is_empty()
            && root.data_period.is_none()
            && root.security_label.is_empty()
            && root
                .action
                .iter()
                .all(|a| a.has_code(Some(CONSENT_ACTION_SYSTEM), DISCLOSE))
            && !root.purpose.is_empty()
            && root.purpose.iter().all(|p| {
                p.system.as_deref() == Some(ACT_REASON_SYSTEM)
                    && p.code.as_deref() == Some(EMERGENCY_TREATMENT)
            })
    }

    /// The next version of this consent, withdrawn: status `inactive`, `meta.versionId` one
    /// higher, tagged [`RecordAction::StatusUpdate`]. Publish it under the same kind (2105).
    pub fn withdrawal(&self) -> Resource {
        let mut next = self.clone();
        next.status = ConsentState::Inactive;
        let mut resource = Resource::Consent(next);
        let version = resource.version().saturating_add(1);
        resource.set_version(version, RecordAction::StatusUpdate);
        resource
    }

    /// The R4 rules serde cannot express, plus this project's: scope, a category and the
    /// patient are required, and so is a policy or policy rule (R4 `ppc-1`).
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if !concept_present(&self.scope) {
            return Err("scope is required");
        }
        if self.category.is_empty() || !self.category.iter().all(concept_present) {
            return Err("at least one category is required");
        }
        if !has_target(&self.patient) {
            return Err("patient is required");
        }
        if self.policy.is_empty() && self.policy_rule.is_none() {
            return Err("policy or policyRule is required");
        }
        if self
            .policy
            .iter()
            .any(|p| p.authority.is_none() && p.uri.is_none())
        {
            return Err("every policy needs an authority or a uri");
        }
        at_most_one(
            usize::from(self.source_attachment.is_some())
                + usize::from(self.source_reference.is_some()),
            "at most one source[x]",
        )?;
        let mut dates: Vec<Option<&String>> = vec![self.date_time.as_ref()];
        dates.extend(
            self.verification
                .iter()
                .map(|v| v.verification_date.as_ref()),
        );
        if let Some(root) = &self.provision {
            check_provision(root, &mut dates, false)?;
        }
        check_dates(dates)
    }
}

/// consentaction code system (`Consent.provision.action`).
pub const CONSENT_ACTION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/consentaction";

/// consentaction `disclose`: what the FHIR gateway does with a chart.
pub const DISCLOSE: &str = "disclose";

/// HL7 v3 ActReason code system (`Consent.provision.purpose`).
pub const ACT_REASON_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

/// v3-ActReason `TREAT`: the purpose the gateway shares for.
pub const TREATMENT: &str = "TREAT";

/// v3-ActReason `ETREAT`, emergency treatment: the purpose of a patient's opt-in to
/// break-glass access ([`Consent::emergency_access`]).
pub const EMERGENCY_TREATMENT: &str = "ETREAT";

impl ConsentProvision {
    /// Whether the gateway, which discloses whole charts for treatment, can honour this root
    /// rule as written: nothing limits the data, and any action or purpose named is its own.
    fn gateway_honours(&self) -> bool {
        self.class.is_empty()
            && self.code.is_empty()
            && self.data.is_empty()
            && self.data_period.is_none()
            && self.security_label.is_empty()
            && self
                .action
                .iter()
                .all(|a| a.has_code(Some(CONSENT_ACTION_SYSTEM), DISCLOSE))
            && self.purpose.iter().all(|p| {
                p.system.as_deref() == Some(ACT_REASON_SYSTEM)
                    && p.code.as_deref() == Some(TREATMENT)
            })
    }
}

impl ConsentProvision {
    /// Whether this rule holds nothing but its type and nested rules.
    fn only_groups(&self) -> bool {
        // Every field named, so a field added later is considered here.
        let Self {
            type_: _,
            period,
            actor,
            action,
            security_label,
            purpose,
            class,
            code,
            data_period,
            data,
            provision: _,
        } = self;
        period.is_none()
            && data_period.is_none()
            && actor.is_empty()
            && action.is_empty()
            && security_label.is_empty()
            && purpose.is_empty()
            && class.is_empty()
            && code.is_empty()
            && data.is_empty()
    }
}

/// Whether `now` falls within `period` (no period: always). A start or end that is not a valid
/// date means never: the consent cannot be read as written.
fn in_force(period: Option<&Period>, now: Timestamp) -> bool {
    let Some(period) = period else {
        return true;
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let started = period
        .start
        .as_deref()
        .is_none_or(|start| super::date_time_range(start).is_some_and(|(first, _)| first <= now));
    let not_ended = period
        .end
        .as_deref()
        .is_none_or(|end| super::date_time_range(end).is_some_and(|(_, after)| now < after));
    started && not_ended
}

/// Collect the facilities that nested `provisions` deny; false if one of them cannot be honoured
/// by removing facilities (then nothing is shared). A `deny` counts whole, whatever narrows it;
/// it must name facilities by client id and carry no exceptions of its own. A nested `permit`
/// may only group further rules: anything else in it could narrow the root in ways the gateway
/// cannot apply.
fn collect_denied<'a>(provisions: &'a [ConsentProvision], denied: &mut Vec<&'a str>) -> bool {
    for provision in provisions {
        match provision.type_ {
            Some(ConsentProvisionType::Deny) => {
                if provision.actor.is_empty() || !provision.provision.is_empty() {
                    return false;
                }
                for actor in &provision.actor {
                    match actor.fhir_client() {
                        Some(id) => denied.push(id),
                        None => return false,
                    }
                }
            }
            Some(ConsentProvisionType::Permit) => {
                if !provision.only_groups() || !collect_denied(&provision.provision, denied) {
                    return false;
                }
            }
            None => return false,
        }
    }
    true
}

fn check_provision<'a>(
    provision: &'a ConsentProvision,
    dates: &mut Vec<Option<&'a String>>,
    nested: bool,
) -> Result<(), &'static str> {
    if nested && provision.type_.is_none() {
        return Err("a nested provision needs a type");
    }
    if provision
        .actor
        .iter()
        .any(|a| !concept_present(&a.role) || !has_target(&a.reference))
    {
        return Err("every provision.actor needs a role and a reference");
    }
    if provision.data.iter().any(|d| !has_target(&d.reference)) {
        return Err("every provision.data needs a reference");
    }
    for period in [&provision.period, &provision.data_period]
        .into_iter()
        .flatten()
    {
        dates.extend([period.start.as_ref(), period.end.as_ref()]);
    }
    for child in &provision.provision {
        check_provision(child, dates, true)?;
    }
    Ok(())
}

impl Consent {
    /// An active consent of the patient `patient_id` to share the chart through the FHIR
    /// gateway with the facilities whose FHIR client ids are `facilities` (each an `IRCP` actor
    /// identified in [`FHIR_CLIENT_SYSTEM`]), for treatment, dated `date_time`.
    pub fn fhir_sharing(patient_id: &str, facilities: &[&str], date_time: &str) -> Resource {
        Self::fhir_sharing_until(patient_id, facilities, date_time, None)
    }

    /// [`Self::fhir_sharing`] in force until `until` (a FHIR date or dateTime, inclusive:
    /// `provision.period.end`), or with no end.
    pub fn fhir_sharing_until(
        patient_id: &str,
        facilities: &[&str],
        date_time: &str,
        until: Option<&str>,
    ) -> Resource {
        let recipient = |client_id: &&str| ConsentActor {
            role: CodeableConcept::coded(
                PARTICIPATION_TYPE_SYSTEM,
                INFORMATION_RECIPIENT,
                "information recipient",
            ),
            reference: Reference {
                type_: Some("Organization".to_owned()),
                identifier: Some(Identifier {
                    system: Some(FHIR_CLIENT_SYSTEM.to_owned()),
                    value: Some((*client_id).to_owned()),
                    ..Identifier::default()
                }),
                ..Reference::default()
            },
        };
        let provision = ConsentProvision {
            type_: Some(ConsentProvisionType::Permit),
            actor: facilities.iter().map(recipient).collect(),
            action: vec![CodeableConcept::coded(
                CONSENT_ACTION_SYSTEM,
                DISCLOSE,
                "Disclose",
            )],
            purpose: vec![Coding::new(ACT_REASON_SYSTEM, TREATMENT, "treatment")],
            period: until.map(|end| Period {
                start: None,
                end: Some(end.to_owned()),
            }),
            ..ConsentProvision::default()
        };
        opt_in(patient_id, date_time, provision)
    }

    /// An active opt-in of the patient `patient_id` to emergency access (purpose `ETREAT`, no
    /// facility named: [`Self::permits_emergency_access`]), dated `date_time`.
    pub fn emergency_access(patient_id: &str, date_time: &str) -> Resource {
        let provision = ConsentProvision {
            type_: Some(ConsentProvisionType::Permit),
            action: vec![CodeableConcept::coded(
                CONSENT_ACTION_SYSTEM,
                DISCLOSE,
                "Disclose",
            )],
            purpose: vec![Coding::new(
                ACT_REASON_SYSTEM,
                EMERGENCY_TREATMENT,
                "emergency treatment",
            )],
            ..ConsentProvision::default()
        };
        opt_in(patient_id, date_time, provision)
    }
}

/// A patient's privacy consent (an opt-in) with root rule `provision`, version 1.
fn opt_in(patient_id: &str, date_time: &str, provision: ConsentProvision) -> Resource {
    Consent {
        id: Some(uuid::Uuid::new_v4().to_string()),
        meta: Some(Meta {
            version_id: Some("1".to_owned()),
            ..Meta::default()
        }),
        status: ConsentState::Active,
        scope: CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            "Privacy Consent",
        ),
        category: vec![CodeableConcept::coded(
            "http://loinc.org",
            "59284-0",
            "Patient Consent",
        )],
        patient: Reference::to("Patient", patient_id),
        date_time: Some(date_time.to_owned()),
        performer: vec![Reference::to("Patient", patient_id)],
        policy_rule: Some(CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "OPTIN",
            "opt-in",
        )),
        provision: Some(provision),
        ..Consent::default()
    }
    .into()
}
