//! Errors, and the one place they become protocol answers: [`Reject::wire`] for NIP-01 `OK`,
//! `CLOSED` and `NOTICE` messages; the NIP-86 handler maps [`crate::nip86::ManagementError`]
//! to HTTP. Messages never carry PHI: they name rules, not content.

use std::fmt;

/// Failures of the relay library.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Socket or file trouble.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A stored or imported event is not valid Nostr JSON.
    #[error("line {line}: {reason}")]
    BadEvent {
        /// 1-based line of the JSONL file (0 when not from a file).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer task is gone (the relay is shutting down).
    #[error("the relay is shutting down")]
    ShuttingDown,
}

/// The machine-readable prefixes of NIP-01 (and NIP-42's `auth-required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// Already have it.
    Duplicate,
    /// Malformed, forged or expired.
    Invalid,
    /// The author or key is barred.
    Blocked,
    /// Too many messages.
    RateLimited,
    /// Authenticated, but the role does not allow it.
    Restricted,
    /// Authenticate first (NIP-42).
    AuthRequired,
    /// The relay failed.
    Error,
}

impl Prefix {
    fn as_str(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Invalid => "invalid",
            Self::Blocked => "blocked",
            Self::RateLimited => "rate-limited",
            Self::Restricted => "restricted",
            Self::AuthRequired => "auth-required",
            Self::Error => "error",
        }
    }
}

/// A refusal: a prefix and a short reason free of PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Which NIP-01 prefix.
    pub prefix: Prefix,
    /// Why, for people.
    pub reason: &'static str,
}

impl Reject {
    /// `invalid:`
    pub const fn invalid(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::Invalid,
            reason,
        }
    }
    /// `restricted:`
    pub const fn restricted(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::Restricted,
            reason,
        }
    }
    /// `blocked:`
    pub const fn blocked(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::Blocked,
            reason,
        }
    }
    /// `auth-required:`
    pub const fn auth_required(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::AuthRequired,
            reason,
        }
    }
    /// `rate-limited:`
    pub const fn rate_limited(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::RateLimited,
            reason,
        }
    }
    /// `error:`
    pub const fn error(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::Error,
            reason,
        }
    }
    /// `duplicate:`
    pub const fn duplicate(reason: &'static str) -> Self {
        Self {
            prefix: Prefix::Duplicate,
            reason,
        }
    }

    /// The message text of an `OK`, `CLOSED` or `NOTICE`: `prefix: reason`.
    pub fn wire(&self) -> String {
        format!("{}: {}", self.prefix.as_str(), self.reason)
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wire())
    }
}

impl From<&RelayError> for Reject {
    /// Internal failures reach clients as `error:` without details; the details go to the log.
    fn from(error: &RelayError) -> Self {
        match error {
            RelayError::ShuttingDown => Self::error("the relay is shutting down"),
            _ => Self::error("the relay could not complete the request"),
        }
    }
}
