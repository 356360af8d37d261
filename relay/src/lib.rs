//! The practice relay: NIP-01/11/42/86 whitelisting relay with role-based reads and writes (issue 4).
//!
//! Not built yet: this crate only reserves its place in the workspace.
