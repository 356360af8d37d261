//! Event kinds (DESIGN.md §3). Every crate takes kind numbers from here.

use std::fmt;

use crate::fhir::{RequestIntent, Resource, ResourceType};

/// Chart-key wrap (kind 2100).
pub const CHART_KEY_WRAP: u16 = 2100;
/// Epoch grant (kind 2101).
pub const EPOCH_GRANT: u16 = 2101;
/// Roster (kind 2102).
pub const ROSTER: u16 = 2102;
/// Service-agent record (kind 2103).
pub const SERVICE_AGENT: u16 = 2103;
/// Guardian grant (kind 2104).
pub const GUARDIAN_GRANT: u16 = 2104;
/// Consent (kind 2105), a clinical kind: [`ClinicalKind::Consent`].
pub const CONSENT: u16 = 2105;
/// Guardianship record (kind 2106): who is guardian of which ward, in the clear for the relay.
pub const GUARDIANSHIP: u16 = 2106;
/// Audit event (kind 2107): the FHIR gateway's record of what it disclosed, to whom.
pub const AUDIT_EVENT: u16 = 2107;
/// Shared records (kind 2108): a part of a chart a patient re-encrypted for this practice
/// ([`crate::share`]).
pub const SHARED_RECORDS: u16 = 2108;
/// A practice phrase (kind 2122): a dot-phrase the practice defined, sealed to the clinical
/// epoch ([`crate::phrases`]).
pub const PRACTICE_PHRASE: u16 = 2122;
/// A clinician's schedule (kind 2123): availability, visit types and exceptions, in the clear
/// for every member (enrolled patients book from it; `ehr_client::schedule`).
pub const SCHEDULE: u16 = 2123;
/// Appointment (kind 2124), a clinical kind of the office domain: [`ClinicalKind::Appointment`].
pub const APPOINTMENT: u16 = 2124;
/// A slot hold (kind 2125): a time of a schedule held or released, in the clear and naming no
/// patient, so the relay keeps one booking per slot and patients see which times are free.
pub const SLOT_HOLD: u16 = 2125;
/// A reminder record (kind 2126): what the reminder agent needs of one appointment, sealed
/// with NIP-44 to the agent's key alone.
pub const REMINDER: u16 = 2126;

/// The range reserved for the practice's own kinds (2100–2199): every kind this module
/// defines is in it, and new ones are numbered in it. The relay never charges them against a
/// storage quota.
pub const PRACTICE_RANGE: std::ops::RangeInclusive<u16> = 2100..=2199;

/// The practice's kinds in use: every organisational and clinical kind, from the chart-key
/// wrap to the reminder record (2100–2126). Append-only and role-gated on the relay; the rest
/// of [`PRACTICE_RANGE`] is reserved, and the relay refuses it.
pub const PRACTICE_KINDS: std::ops::RangeInclusive<u16> = CHART_KEY_WRAP..=REMINDER;

/// Whether `kind` is one of [`PRACTICE_KINDS`].
pub fn is_practice_kind(kind: u16) -> bool {
    PRACTICE_KINDS.contains(&kind)
}

/// The kinds a practice client mirrors: [`PRACTICE_KINDS`].
pub fn practice_kinds() -> Vec<nostr::prelude::Kind> {
    PRACTICE_KINDS.map(nostr::prelude::Kind::from).collect()
}

/// The two key domains (shared DESIGN §2): what a role may decrypt is decided by which
/// domain's keys it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    /// Every clinical record: the clinical epoch `E_n` and the chart keys `K_{p,v}`. Held by
    /// admin, doctor, nurse and ma.
    Clinical,
    /// Demographics, messages and scheduling: the office epoch `F_n` and the office keys
    /// `O_{p,v}`. Held by every staff role, the front desk included.
    Office,
}

impl Domain {
    /// Both domains.
    pub const ALL: [Self; 2] = [Self::Clinical, Self::Office];

    /// The name in logs and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinical => "clinical",
            Self::Office => "office",
        }
    }

    /// The `["domain", …]` tag value, `None` for clinical (no tag).
    pub fn tag_value(self) -> Option<&'static str> {
        match self {
            Self::Clinical => None,
            Self::Office => Some(crate::tags::DOMAIN_OFFICE),
        }
    }

    /// The domain a `["domain", …]` tag names (`None`: no tag, clinical); `None` for any
    /// other value.
    pub fn from_tag(value: Option<&str>) -> Option<Self> {
        match value {
            None => Some(Self::Clinical),
            Some(crate::tags::DOMAIN_OFFICE) => Some(Self::Office),
            Some(_) => None,
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fourteen clinical kinds, 2105, 2110–2121 and 2124, and the FHIR resource each carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClinicalKind {
    /// 2105 Consent (which outside facilities may receive the chart through the FHIR gateway).
    Consent,
    /// 2110 Patient.
    Patient,
    /// 2111 Encounter.
    Encounter,
    /// 2112 MedicationRequest (medication list).
    Medication,
    /// 2113 Observation.
    Observation,
    /// 2114 Condition.
    Condition,
    /// 2115 AllergyIntolerance.
    AllergyIntolerance,
    /// 2116 Immunization.
    Immunization,
    /// 2117 Communication (message thread).
    Message,
    /// 2118 ServiceRequest.
    ServiceRequest,
    /// 2119 DiagnosticReport.
    DiagnosticReport,
    /// 2120 MedicationRequest (prescription order).
    Prescription,
    /// 2121 DocumentReference.
    Document,
    /// 2124 Appointment (office domain).
    Appointment,
}

impl ClinicalKind {
    /// Every clinical kind, in kind order.
    pub const ALL: [Self; 14] = [
        Self::Consent,
        Self::Patient,
        Self::Encounter,
        Self::Medication,
        Self::Observation,
        Self::Condition,
        Self::AllergyIntolerance,
        Self::Immunization,
        Self::Message,
        Self::ServiceRequest,
        Self::DiagnosticReport,
        Self::Prescription,
        Self::Document,
        Self::Appointment,
    ];

    /// The kind number.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::Consent => CONSENT,
            Self::Patient => 2110,
            Self::Encounter => 2111,
            Self::Medication => 2112,
            Self::Observation => 2113,
            Self::Condition => 2114,
            Self::AllergyIntolerance => 2115,
            Self::Immunization => 2116,
            Self::Message => 2117,
            Self::ServiceRequest => 2118,
            Self::DiagnosticReport => 2119,
            Self::Prescription => 2120,
            Self::Document => 2121,
            Self::Appointment => APPOINTMENT,
        }
    }

    /// A stable name for the kind (what the browser apps look kinds up by).
    pub fn name(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Patient => "patient",
            Self::Encounter => "encounter",
            Self::Medication => "medication",
            Self::Observation => "observation",
            Self::Condition => "condition",
            Self::AllergyIntolerance => "allergy",
            Self::Immunization => "immunization",
            Self::Message => "message",
            Self::ServiceRequest => "order",
            Self::DiagnosticReport => "report",
            Self::Prescription => "prescription",
            Self::Document => "document",
            Self::Appointment => "appointment",
        }
    }

    /// The clinical kind of a kind number, if it is one.
    pub fn from_u16(kind: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_u16() == kind)
    }

    /// As a `nostr` kind.
    pub fn to_nostr(self) -> nostr::prelude::Kind {
        nostr::prelude::Kind::from_u16(self.as_u16())
    }

    /// The key domain of this kind: office for demographics (2110), messages (2117) and
    /// appointments (2124), clinical for everything else.
    pub fn domain(self) -> Domain {
        match self {
            Self::Patient | Self::Message | Self::Appointment => Domain::Office,
            _ => Domain::Clinical,
        }
    }

    /// The FHIR resource type this kind carries.
    pub fn resource_type(self) -> ResourceType {
        match self {
            Self::Patient => ResourceType::Patient,
            Self::Encounter => ResourceType::Encounter,
            Self::Medication | Self::Prescription => ResourceType::MedicationRequest,
            Self::Observation => ResourceType::Observation,
            Self::Condition => ResourceType::Condition,
            Self::AllergyIntolerance => ResourceType::AllergyIntolerance,
            Self::Immunization => ResourceType::Immunization,
            Self::Message => ResourceType::Communication,
            Self::ServiceRequest => ResourceType::ServiceRequest,
            Self::DiagnosticReport => ResourceType::DiagnosticReport,
            Self::Document => ResourceType::DocumentReference,
            Self::Consent => ResourceType::Consent,
            Self::Appointment => ResourceType::Appointment,
        }
    }

    /// The usual kind for a resource: a MedicationRequest is a prescription (2120) when it is an
    /// order with dispensing details, and a medication-list entry (2112) otherwise.
    pub fn for_resource(resource: &Resource) -> Self {
        match resource {
            Resource::MedicationRequest(m) if is_prescription(m) => Self::Prescription,
            other => Self::ALL
                .into_iter()
                .find(|k| k.resource_type() == other.resource_type() && *k != Self::Prescription)
                .unwrap_or(Self::Medication),
        }
    }

    /// Whether `resource` may travel in this kind: the type must match, and a prescription must
    /// be an order with dispensing details.
    pub fn check_resource(self, resource: &Resource) -> Result<(), crate::fhir::FhirError> {
        let found = resource.resource_type();
        if found != self.resource_type() {
            return Err(crate::fhir::FhirError::WrongResourceType {
                expected: self.resource_type(),
                found,
            });
        }
        if let (Self::Prescription, Resource::MedicationRequest(m)) = (self, resource)
            && !is_prescription(m)
        {
            return Err(crate::fhir::FhirError::Invalid {
                resource: found,
                reason: "a prescription (kind 2120) needs intent order and a dispenseRequest",
            });
        }
        Ok(())
    }
}

fn is_prescription(m: &crate::fhir::MedicationRequest) -> bool {
    matches!(
        m.intent,
        RequestIntent::Order | RequestIntent::OriginalOrder | RequestIntent::InstanceOrder
    ) && m.dispense_request.is_some()
}

impl fmt::Display for ClinicalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u16(), self.resource_type())
    }
}

/// The kinds a patient may author about themselves (practice copy under the epoch key):
/// messages, consent, documents, and patient-reported observations, problems, allergies and
/// medications she takes (2112, the medication list, as US Core records a reported medication:
/// a MedicationRequest with `reportedBoolean`; never 2120, a prescription).
pub fn patient_may_write(kind: ClinicalKind) -> bool {
    matches!(
        kind,
        ClinicalKind::Message
            | ClinicalKind::Appointment
            | ClinicalKind::Medication
            | ClinicalKind::Observation
            | ClinicalKind::Condition
            | ClinicalKind::AllergyIntolerance
            | ClinicalKind::Document
            | ClinicalKind::Consent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_practice_kinds_run_from_the_first_organisational_kind_to_the_reminder_record() {
        let clinical = ClinicalKind::ALL.iter().map(|k| k.as_u16());
        let organisational = [
            CHART_KEY_WRAP,
            EPOCH_GRANT,
            ROSTER,
            SERVICE_AGENT,
            GUARDIAN_GRANT,
            CONSENT,
            GUARDIANSHIP,
            AUDIT_EVENT,
            SHARED_RECORDS,
            PRACTICE_PHRASE,
            SCHEDULE,
            SLOT_HOLD,
            REMINDER,
        ];
        let all: Vec<u16> = organisational.into_iter().chain(clinical).collect();
        assert!(all.iter().all(|kind| is_practice_kind(*kind)));
        assert_eq!(all.iter().min(), Some(PRACTICE_KINDS.start()));
        assert_eq!(all.iter().max(), Some(PRACTICE_KINDS.end()));
        assert!(PRACTICE_RANGE.contains(PRACTICE_KINDS.start()));
        assert!(PRACTICE_RANGE.contains(PRACTICE_KINDS.end()));
    }
}
