//! The patient web portal: axum server plus a browser app that decrypts in the browser (issue 9).
//!
//! Not built yet: this crate only reserves its place in the workspace.
