//! The billing bot: memberships, invoices and NIP-17 invoice DMs, with a key that reads nothing clinical (issue 7).
//!
//! Not built yet: this crate only reserves its place in the workspace.
