//! FHIR R4 (4.0.1) general-purpose data types, with the standard elements this project uses.
//!
//! Every struct denies unknown fields, so a payload with a non-standard element (the reference's
//! `Encounter.note`, a top-level `fileKey`, DiagnosticReport `analytes`) fails to parse instead of
//! being carried along silently.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// `Coding`: a code from a code system.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Coding {
    /// Identity of the terminology system.
    pub system: Option<String>,
    /// Version of the system.
    pub version: Option<String>,
    /// Symbol in the system's syntax.
    pub code: Option<String>,
    /// Representation defined by the system.
    pub display: Option<String>,
    /// Whether the user chose this coding directly.
    pub user_selected: Option<bool>,
}

impl Coding {
    /// A coding with system, code and display.
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Self {
            system: Some(system.to_owned()),
            code: Some(code.to_owned()),
            display: Some(display.to_owned()),
            ..Self::default()
        }
    }
}

/// `CodeableConcept`: codings plus text.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeableConcept {
    /// Codes defined by terminology systems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain-text representation.
    pub text: Option<String>,
}

impl CodeableConcept {
    /// A concept with a single coding; the display doubles as text.
    pub fn coded(system: &str, code: &str, display: &str) -> Self {
        Self {
            coding: vec![Coding::new(system, code, display)],
            text: Some(display.to_owned()),
        }
    }

    /// Whether any coding matches `system` (if given) and `code`.
    pub fn has_code(&self, system: Option<&str>, code: &str) -> bool {
        self.coding.iter().any(|c| {
            c.code.as_deref() == Some(code) && system.is_none_or(|s| c.system.as_deref() == Some(s))
        })
    }
}

/// `Identifier`: a business identifier.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identifier {
    /// usual | official | temp | secondary | old.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Description of the identifier.
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
    /// The namespace for the value.
    pub system: Option<String>,
    /// The value that is unique.
    pub value: Option<String>,
    /// When the identifier was valid.
    pub period: Option<Period>,
}

/// `Reference`: a link to another resource.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reference {
    /// Literal reference, `Type/id`.
    pub reference: Option<String>,
    /// Type the reference refers to.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Logical reference when the literal one is unknown.
    pub identifier: Option<Identifier>,
    /// Text alternative.
    pub display: Option<String>,
}

impl Reference {
    /// A literal reference `Type/id`.
    pub fn to(resource_type: &str, id: &str) -> Self {
        Self {
            reference: Some(format!("{resource_type}/{id}")),
            ..Self::default()
        }
    }

    /// The `(type, id)` of a relative literal reference, if it is one.
    pub fn target(&self) -> Option<(&str, &str)> {
        let reference = self.reference.as_deref()?;
        let (resource_type, id) = reference.split_once('/')?;
        (!id.contains('/')).then_some((resource_type, id))
    }
}

/// `Period`: a time range.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Period {
    /// Start time, inclusive.
    pub start: Option<String>,
    /// End time, inclusive; absent while ongoing.
    pub end: Option<String>,
}

/// `Quantity` (also `Duration`, `SimpleQuantity`, `Age`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quantity {
    /// Numerical value.
    pub value: Option<f64>,
    /// < | <= | >= | >.
    pub comparator: Option<String>,
    /// Unit representation.
    pub unit: Option<String>,
    /// System of the coded unit (UCUM).
    pub system: Option<String>,
    /// Coded unit.
    pub code: Option<String>,
}

impl Quantity {
    /// A UCUM quantity.
    pub fn ucum(value: f64, unit: &str, code: &str) -> Self {
        Self {
            value: Some(value),
            unit: Some(unit.to_owned()),
            system: Some("http://unitsofmeasure.org".to_owned()),
            code: Some(code.to_owned()),
            ..Self::default()
        }
    }
}

/// `Range`: low and high quantities.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Range {
    /// Low limit.
    pub low: Option<Quantity>,
    /// High limit.
    pub high: Option<Quantity>,
}

/// `HumanName`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HumanName {
    /// usual | official | temp | nickname | anonymous | old | maiden.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Full text.
    pub text: Option<String>,
    /// Family name.
    pub family: Option<String>,
    /// Given names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Parts before the name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
    /// Parts after the name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suffix: Vec<String>,
}

/// `ContactPoint`: phone, email and the like.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPoint {
    /// phone | fax | email | pager | url | sms | other.
    pub system: Option<String>,
    /// The actual contact point details.
    pub value: Option<String>,
    /// home | work | temp | old | mobile.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Preference order.
    pub rank: Option<u32>,
}

/// `Address`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// home | work | temp | old | billing.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Text representation.
    pub text: Option<String>,
    /// Street lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// `Annotation`: a note with author and time.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Annotation {
    /// Individual responsible for the annotation.
    pub author_reference: Option<Reference>,
    /// Author as text.
    pub author_string: Option<String>,
    /// When the annotation was made.
    pub time: Option<String>,
    /// The annotation (markdown).
    pub text: String,
}

/// `Attachment`: content inline (`data`) or by `url`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attachment {
    /// MIME type of the content.
    pub content_type: Option<String>,
    /// Human language of the content.
    pub language: Option<String>,
    /// Data inline, base64.
    pub data: Option<String>,
    /// Where the data can be accessed.
    pub url: Option<String>,
    /// Number of bytes of content.
    pub size: Option<u64>,
    /// SHA-1 hash of the data, base64 (FHIR R4 fixes SHA-1 here).
    pub hash: Option<String>,
    /// Label to display.
    pub title: Option<String>,
    /// Date the attachment was first created.
    pub creation: Option<String>,
}

/// `Meta`: version, tags and profiles of a resource.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Meta {
    /// Version of this resource; this project uses 1, 2, 3, ... per logical id.
    pub version_id: Option<String>,
    /// When this version was written.
    pub last_updated: Option<String>,
    /// Where the resource came from (a URI).
    pub source: Option<String>,
    /// Profiles this resource claims to conform to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    /// Security labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Coding>,
    /// Tags; this project records the action of a version here (see `chart`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Coding>,
}

/// `Narrative`: human-readable XHTML summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Narrative {
    /// generated | extensions | additional | empty.
    pub status: String,
    /// Limited XHTML content.
    pub div: String,
}

/// `Extension` with the value types this project uses.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Extension {
    /// Identifies the meaning of the extension.
    pub url: String,
    /// String value.
    pub value_string: Option<String>,
    /// Code value.
    pub value_code: Option<String>,
    /// Boolean value.
    pub value_boolean: Option<bool>,
    /// Integer value.
    pub value_integer: Option<i64>,
    /// URI value.
    pub value_uri: Option<String>,
    /// Date-time value.
    pub value_date_time: Option<String>,
    /// base64Binary value.
    pub value_base64_binary: Option<String>,
    /// Coding value.
    pub value_coding: Option<Coding>,
    /// CodeableConcept value.
    pub value_codeable_concept: Option<CodeableConcept>,
    /// Reference value.
    pub value_reference: Option<Reference>,
    /// Quantity value.
    pub value_quantity: Option<Quantity>,
}

/// `Timing.repeat`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimingRepeat {
    /// Length or range of the whole course.
    pub bounds_period: Option<Period>,
    /// Number of times to repeat.
    pub count: Option<u32>,
    /// Event occurs `frequency` times per period.
    pub frequency: Option<u32>,
    /// Event occurs frequency times per `period`.
    pub period: Option<f64>,
    /// s | min | h | d | wk | mo | a.
    pub period_unit: Option<String>,
    /// Time of day for the action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_of_day: Vec<String>,
    /// Code for the time period of occurrence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
}

/// `Timing`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timing {
    /// When the event occurs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event: Vec<String>,
    /// When the event is to occur.
    pub repeat: Option<TimingRepeat>,
    /// BID | TID | QID | ...
    pub code: Option<CodeableConcept>,
}

/// `Dosage.doseAndRate`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DoseAndRate {
    /// The kind of dose or rate specified.
    #[serde(rename = "type")]
    pub type_: Option<CodeableConcept>,
    /// Amount of medication per dose.
    pub dose_quantity: Option<Quantity>,
    /// Range of medication per dose.
    pub dose_range: Option<Range>,
}

/// `Dosage`: how a medication is to be taken.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dosage {
    /// Order of the dosage instructions.
    pub sequence: Option<i64>,
    /// Free-text dosage instructions ("1 tablet by mouth twice daily").
    pub text: Option<String>,
    /// Instructions for the patient.
    pub patient_instruction: Option<String>,
    /// When medication should be administered.
    pub timing: Option<Timing>,
    /// Take "as needed".
    pub as_needed_boolean: Option<bool>,
    /// How the drug should enter the body.
    pub route: Option<CodeableConcept>,
    /// Amount of medication administered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dose_and_rate: Vec<DoseAndRate>,
}
