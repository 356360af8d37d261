//! The launcher's errors. Messages name the service and the setting, never patient data.

/// Why the stack could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The configuration is unusable; the message names the table and key.
    #[error("configuration: {0}")]
    Config(String),
    /// A socket or file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The relay failed.
    #[error("relay: {0}")]
    Relay(#[from] ehr_relay::RelayError),
    /// Blossom failed.
    #[error("blossom: {0}")]
    Blossom(#[from] ehr_blossom_server::BlossomError),
    /// The FHIR gateway failed.
    #[error("fhir-gateway: {0}")]
    Gateway(#[from] ehr_fhir_gateway::GatewayError),
    /// The billing bot failed.
    #[error("billing-bot: {0}")]
    Billing(#[from] ehr_billing_bot::BillingError),
    /// The portal failed.
    #[error("portal: {0}")]
    Portal(#[from] ehr_portal::PortalError),
    /// The clinic app's server failed.
    #[error("clinic app: {0}")]
    Clinic(#[from] ehr_clinic::ClinicError),
    /// Seeding the demo practice failed.
    #[error("demo: {0}")]
    Demo(String),
}

impl StackError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
