//! Shared helpers for the cross-component tests (none yet).
