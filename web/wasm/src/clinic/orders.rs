//! The exports of [`crate::api::clinic::orders`].
