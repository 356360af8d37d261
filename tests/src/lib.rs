//! Shared helpers for the cross-component tests and benchmarks.

pub mod practice;
