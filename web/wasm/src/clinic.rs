//! The clinic app's exports (api::clinic), one module per form family.

mod notes;
mod orders;
mod vitals;
