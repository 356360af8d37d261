//! The clinic app's exports (api::clinic), one module per form family.

mod emergency;
mod files;
mod notes;
mod orders;
mod summary;
mod vitals;
