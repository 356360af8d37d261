//! FHIR R4 `Appointment` (kind 2124, the office key domain): a patient's request for a slot,
//! and the practice's booking, check-in, room, completion, cancellation or no-show of it. Each
//! change is the next version of the same record (`ehr_client::schedule` folds them).

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::datatypes::*;
use super::resources::resource;
use super::{check_dates, has_target};

macro_rules! appointment_status {
    ($($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)?) => {
        /// `AppointmentStatus` (required binding).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum AppointmentStatus {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl AppointmentStatus {
            /// The FHIR code.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            /// The status of a FHIR code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

appointment_status!(
    /// Requested by the patient, not yet answered.
    #[default]
    Proposed = "proposed",
    /// Pending.
    Pending = "pending",
    /// Booked: the slot is held for her.
    Booked = "booked",
    /// She has arrived at the desk.
    Arrived = "arrived",
    /// Fulfilled: the visit took place.
    Fulfilled = "fulfilled",
    /// Cancelled (by her or the practice), or declined.
    Cancelled = "cancelled",
    /// She did not come.
    Noshow = "noshow",
    /// Entered in error.
    EnteredInError = "entered-in-error",
    /// Checked in: in a room, the visit about to begin.
    CheckedIn = "checked-in",
    /// Waitlist.
    Waitlist = "waitlist",
);

impl AppointmentStatus {
    /// Whether the appointment still holds (or asks for) a time: proposed, booked, arrived,
    /// checked in.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Proposed | Self::Pending | Self::Booked | Self::Arrived | Self::CheckedIn
        )
    }
}

/// `Appointment.participant`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentParticipant {
    /// Role of the participant.
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "type")]
    pub type_: Vec<CodeableConcept>,
    /// The patient or the clinician.
    pub actor: Option<Reference>,
    /// required | optional | information-only.
    pub required: Option<String>,
    /// accepted | declined | tentative | needs-action (required).
    pub status: String,
}

resource!(
    /// `Appointment` (kind 2124).
    pub struct Appointment {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// Status.
        pub status: AppointmentStatus,
        /// Why it was cancelled or declined.
        pub cancelation_reason: Option<CodeableConcept>,
        /// The kind of visit (well-child, sick visit…).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub service_type: Vec<CodeableConcept>,
        /// The visit type as booked.
        pub appointment_type: Option<CodeableConcept>,
        /// Why (clinical; never given to the reminder agent).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_code: Vec<CodeableConcept>,
        /// Short description.
        pub description: Option<String>,
        /// Start (instant).
        pub start: Option<String>,
        /// End (instant).
        pub end: Option<String>,
        /// Length in minutes.
        pub minutes_duration: Option<u32>,
        /// The slots it takes (`Slot/<slot id>`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub slot: Vec<Reference>,
        /// When first requested.
        pub created: Option<String>,
        /// Notes from the patient or the desk.
        pub comment: Option<String>,
        /// Instructions for the patient (the desk's word on a reschedule it could not make).
        pub patient_instruction: Option<String>,
        /// The patient and the clinician.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub participant: Vec<AppointmentParticipant>,
        /// The time she asked to move to (a reschedule request; the booking holds meanwhile).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub requested_period: Vec<Period>,
    }
);

impl Appointment {
    /// R4's invariants: a participant at least (each with an actor or a type); start and end
    /// together, required unless proposed, cancelled or waitlisted (app-2, app-3); a
    /// cancellation reason only when cancelled or a no-show (app-4).
    pub(super) fn check(&self) -> Result<(), &'static str> {
        if self.participant.is_empty() {
            return Err("at least one participant is required");
        }
        if self
            .participant
            .iter()
            .any(|p| p.type_.is_empty() && !p.actor.as_ref().is_some_and(has_target))
        {
            return Err("a participant needs an actor or a type");
        }
        if self.start.is_some() != self.end.is_some() {
            return Err("start and end go together");
        }
        let timeless = matches!(
            self.status,
            AppointmentStatus::Proposed
                | AppointmentStatus::Cancelled
                | AppointmentStatus::Waitlist
        );
        if self.start.is_none() && !timeless {
            return Err("start and end are required unless proposed, cancelled or waitlisted");
        }
        if self.cancelation_reason.is_some()
            && !matches!(
                self.status,
                AppointmentStatus::Cancelled | AppointmentStatus::Noshow
            )
        {
            return Err("cancelationReason only when cancelled or a no-show");
        }
        for period in &self.requested_period {
            check_dates([period.start.as_ref(), period.end.as_ref()])?;
        }
        check_dates([
            self.start.as_ref(),
            self.end.as_ref(),
            self.created.as_ref(),
        ])
    }

    /// The patient participant's reference, if any.
    pub fn patient(&self) -> Option<&Reference> {
        self.participant
            .iter()
            .filter_map(|p| p.actor.as_ref())
            .find(|a| {
                a.reference
                    .as_deref()
                    .is_some_and(|r| r.starts_with("Patient/"))
            })
    }
}
