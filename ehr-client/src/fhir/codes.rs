//! Required FHIR R4 value sets, as enums: a code outside the value set fails to parse.

use serde::{Deserialize, Serialize};

macro_rules! value_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            /// The FHIR code.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }
        }
    };
}

value_set!(
    /// `AdministrativeGender`.
    AdministrativeGender {
        /// male
        Male = "male",
        /// female
        Female = "female",
        /// other
        Other = "other",
        /// unknown
        #[default]
        Unknown = "unknown",
    }
);

value_set!(
    /// `EncounterStatus`.
    EncounterStatus {
        /// planned
        Planned = "planned",
        /// arrived
        Arrived = "arrived",
        /// triaged
        Triaged = "triaged",
        /// in-progress
        InProgress = "in-progress",
        /// onleave
        Onleave = "onleave",
        /// finished
        #[default]
        Finished = "finished",
        /// cancelled
        Cancelled = "cancelled",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `medicationrequest Status`.
    MedicationRequestStatus {
        /// active
        #[default]
        Active = "active",
        /// on-hold
        OnHold = "on-hold",
        /// cancelled
        Cancelled = "cancelled",
        /// completed
        Completed = "completed",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// stopped
        Stopped = "stopped",
        /// draft
        Draft = "draft",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `RequestIntent` (MedicationRequest and ServiceRequest).
    RequestIntent {
        /// proposal
        Proposal = "proposal",
        /// plan
        Plan = "plan",
        /// directive
        Directive = "directive",
        /// order
        #[default]
        Order = "order",
        /// original-order
        OriginalOrder = "original-order",
        /// reflex-order
        ReflexOrder = "reflex-order",
        /// filler-order
        FillerOrder = "filler-order",
        /// instance-order
        InstanceOrder = "instance-order",
        /// option
        Option = "option",
    }
);

value_set!(
    /// `RequestStatus` (ServiceRequest).
    RequestStatus {
        /// draft
        Draft = "draft",
        /// active
        #[default]
        Active = "active",
        /// on-hold
        OnHold = "on-hold",
        /// revoked
        Revoked = "revoked",
        /// completed
        Completed = "completed",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `ObservationStatus`.
    ObservationStatus {
        /// registered
        Registered = "registered",
        /// preliminary
        Preliminary = "preliminary",
        /// final
        #[default]
        Final = "final",
        /// amended
        Amended = "amended",
        /// corrected
        Corrected = "corrected",
        /// cancelled
        Cancelled = "cancelled",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `DiagnosticReportStatus`.
    DiagnosticReportStatus {
        /// registered
        Registered = "registered",
        /// partial
        Partial = "partial",
        /// preliminary
        Preliminary = "preliminary",
        /// final
        #[default]
        Final = "final",
        /// amended
        Amended = "amended",
        /// corrected
        Corrected = "corrected",
        /// appended
        Appended = "appended",
        /// cancelled
        Cancelled = "cancelled",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `ImmunizationStatusCodes`.
    ImmunizationStatus {
        /// completed
        #[default]
        Completed = "completed",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// not-done
        NotDone = "not-done",
    }
);

value_set!(
    /// `EventStatus` (Communication).
    EventStatus {
        /// preparation
        Preparation = "preparation",
        /// in-progress
        InProgress = "in-progress",
        /// not-done
        NotDone = "not-done",
        /// on-hold
        OnHold = "on-hold",
        /// stopped
        Stopped = "stopped",
        /// completed
        #[default]
        Completed = "completed",
        /// entered-in-error
        EnteredInError = "entered-in-error",
        /// unknown
        Unknown = "unknown",
    }
);

value_set!(
    /// `DocumentReferenceStatus`.
    DocumentReferenceStatus {
        /// current
        #[default]
        Current = "current",
        /// superseded
        Superseded = "superseded",
        /// entered-in-error
        EnteredInError = "entered-in-error",
    }
);

value_set!(
    /// `DocumentRelationshipType`.
    DocumentRelationshipType {
        /// replaces
        Replaces = "replaces",
        /// transforms
        Transforms = "transforms",
        /// signs
        Signs = "signs",
        /// appends: an addendum.
        #[default]
        Appends = "appends",
    }
);

value_set!(
    /// `AllergyIntoleranceType`.
    AllergyIntoleranceType {
        /// allergy
        #[default]
        Allergy = "allergy",
        /// intolerance
        Intolerance = "intolerance",
    }
);

value_set!(
    /// `AllergyIntoleranceCategory`.
    AllergyIntoleranceCategory {
        /// food
        Food = "food",
        /// medication
        #[default]
        Medication = "medication",
        /// environment
        Environment = "environment",
        /// biologic
        Biologic = "biologic",
    }
);

value_set!(
    /// `AllergyIntoleranceCriticality`.
    AllergyIntoleranceCriticality {
        /// low
        #[default]
        Low = "low",
        /// high
        High = "high",
        /// unable-to-assess
        UnableToAssess = "unable-to-assess",
    }
);

value_set!(
    /// `AllergyIntoleranceSeverity` (reaction).
    AllergyIntoleranceSeverity {
        /// mild
        #[default]
        Mild = "mild",
        /// moderate
        Moderate = "moderate",
        /// severe
        Severe = "severe",
    }
);

value_set!(
    /// `RequestPriority`.
    RequestPriority {
        /// routine
        #[default]
        Routine = "routine",
        /// urgent
        Urgent = "urgent",
        /// asap
        Asap = "asap",
        /// stat
        Stat = "stat",
    }
);

value_set!(
    /// `ConsentState` (Consent.status).
    ConsentState {
        /// draft
        Draft = "draft",
        /// proposed
        Proposed = "proposed",
        /// active: the consent is in force.
        #[default]
        Active = "active",
        /// rejected
        Rejected = "rejected",
        /// inactive: withdrawn or expired.
        Inactive = "inactive",
        /// entered-in-error
        EnteredInError = "entered-in-error",
    }
);

value_set!(
    /// `ConsentProvisionType` (Consent.provision.type).
    ConsentProvisionType {
        /// deny
        Deny = "deny",
        /// permit
        #[default]
        Permit = "permit",
    }
);

value_set!(
    /// `ConsentDataMeaning` (Consent.provision.data.meaning).
    ConsentDataMeaning {
        /// instance
        #[default]
        Instance = "instance",
        /// related
        Related = "related",
        /// dependents
        Dependents = "dependents",
        /// authoredby
        Authoredby = "authoredby",
    }
);
