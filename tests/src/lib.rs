//! Shared helpers for the cross-component tests and benchmarks.

pub mod bench;
pub mod cli;
pub mod database;
pub mod inbox;
pub mod node;
pub mod practice;
pub mod proxy;
pub mod python;
