//! The FHIR R4 REST gateway for outside facilities, limited by consent and cryptography (issue 6).
//!
//! Not built yet: this crate only reserves its place in the workspace.
