//! The clinic app's exports (api::clinic), one module per form family.

mod files;
mod notes;
mod orders;
mod vitals;
