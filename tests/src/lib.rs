//! Shared helpers for the cross-component tests and benchmarks.

pub mod bench;
pub mod database;
pub mod node;
pub mod practice;
