//! The Blossom (BUD) blob server for AES-encrypted documents (issue 5).
//!
//! Not built yet: this crate only reserves its place in the workspace.
