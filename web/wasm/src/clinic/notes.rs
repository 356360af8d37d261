//! The exports of [`crate::api::clinic::notes`].
