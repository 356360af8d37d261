//! The clinic app's forms and clinical rules for the browser (DESIGN.md §12): each builds
//! validated FHIR from a form (JSON in, FHIR JSON out) or runs one of `ehr-client`'s clinical
//! rules (growth percentiles, the immunization forecast, allergy alerts) on the opened chart.

pub mod details;
pub mod files;
pub mod notes;
pub mod orders;
pub mod vitals;
