//! Problems, medications, allergies, immunizations, orders and results.
