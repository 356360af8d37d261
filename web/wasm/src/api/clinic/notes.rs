//! Encounter notes (SOAP, templates, dot-phrases, addenda).
