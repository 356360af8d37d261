//! The exports of [`crate::api::clinic::vitals`].
