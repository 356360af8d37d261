//! The library's error type: one enum over the typed errors of each module.

use crate::crypto::CryptoError;
use crate::event::EventError;
use crate::fhir::FhirError;
use crate::keys::KeyError;
use crate::signer::SignerError;

/// Any error of `ehr-client`. No variant's message contains PHI or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A key could not be parsed, printed or generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// NIP-44 failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A FHIR payload was rejected.
    #[error(transparent)]
    Fhir(#[from] FhirError),
    /// A clinical event was rejected.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}
