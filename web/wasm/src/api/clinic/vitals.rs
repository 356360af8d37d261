//! Vital signs and growth.
