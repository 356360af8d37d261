//! SMART system scopes, one grammar for every use: what a credential allows ([`Client::may`]),
//! what a token request may be granted ([`covered`]), and what may be registered
//! ([`check_scopes`]), with the one client-id rule ([`check_client_id`]).
//!
//! A scope is `system/<type or *>.<permissions>`: SMART v1 `read` (read and search) or `*`, or
//! v2 letters from `cruds`, of which this read-only gateway honours `r` (read) and `s` (search).
//! v2 query filters (`?category=...`) are refused at registration: the gateway does not
//! enforce them, so it must not accept them.
//!
//! One more scope is the gateway's own: [`EMERGENCY_SCOPE`], the emergency (break-glass)
//! permission. A facility registered with it may ask for a token with it, alone; such a token
//! reads nothing but `Patient/[id]/$summary` of patients who opted in (DESIGN.md §15).

use crate::error::GatewayError;
use crate::store::{Client, Interaction};

/// The emergency permission: `$summary` of an opted-in patient, with a stated reason.
pub const EMERGENCY_SCOPE: &str = "emergency/Patient.$summary";

/// One parsed scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope<'a> {
    /// A resource type, or `*`.
    kind: &'a str,
    read: bool,
    search: bool,
}

impl<'a> Scope<'a> {
    fn parse(scope: &'a str) -> Option<Self> {
        let (kind, permissions) = scope.strip_prefix("system/")?.split_once('.')?;
        if kind.is_empty() || permissions.contains('?') {
            return None;
        }
        let (read, search) = match permissions {
            "read" | "*" => (true, true),
            letters if !letters.is_empty() && letters.chars().all(|c| "cruds".contains(c)) => {
                (letters.contains('r'), letters.contains('s'))
            }
            _ => return None,
        };
        Some(Self { kind, read, search })
    }

    fn reaches(&self, kind: &str) -> bool {
        self.kind == "*" || self.kind == kind
    }
}

impl Client {
    /// Whether this credential is an emergency one ([`EMERGENCY_SCOPE`], which is always
    /// alone in a credential).
    pub fn is_emergency(&self) -> bool {
        self.scopes.iter().any(|s| s == EMERGENCY_SCOPE)
    }

    /// Whether the scopes allow `interaction` on resources of type `name`.
    pub fn may(&self, name: &str, interaction: Interaction) -> bool {
        self.scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .any(|scope| {
                scope.reaches(name)
                    && match interaction {
                        Interaction::Read => scope.read,
                        Interaction::Search => scope.search,
                    }
            })
    }
}

/// Whether `requested` (one scope of a token request) is within the `registered` ones: each
/// permission it asks for, on each type it names, is granted by some registered scope.
pub fn covered(registered: &[String], requested: &str) -> bool {
    if requested == EMERGENCY_SCOPE {
        return registered.iter().any(|s| s == EMERGENCY_SCOPE);
    }
    let Some(wanted) = Scope::parse(requested) else {
        return false;
    };
    let granted: Vec<Scope<'_>> = registered.iter().filter_map(|s| Scope::parse(s)).collect();
    let grants = |read: bool, search: bool| {
        granted.iter().any(|g| {
            (g.kind == "*" || g.kind == wanted.kind) && (!read || g.read) && (!search || g.search)
        })
    };
    (wanted.read || wanted.search) && grants(wanted.read, false) && grants(false, wanted.search)
}

/// Scopes a client may be registered with: well formed, no filters, and reading or searching
/// at least one type, or the emergency permission.
pub fn check_scopes(scopes: &[String]) -> Result<(), GatewayError> {
    let well_formed = scopes
        .iter()
        .all(|s| s == EMERGENCY_SCOPE || Scope::parse(s).is_some());
    let grants = scopes.iter().any(|s| {
        s == EMERGENCY_SCOPE || Scope::parse(s).is_some_and(|parsed| parsed.read || parsed.search)
    });
    if well_formed && grants {
        Ok(())
    } else {
        Err(GatewayError::Unprocessable(
            "scopes: system/<type or *>.read (v1) or .rs (v2), or emergency/Patient.$summary, are required; filters (?...) are not supported"
                .into(),
        ))
    }
}

/// Scopes a credential (an API key or a token) may carry: [`check_scopes`], and the
/// emergency permission only alone, so an emergency credential can do nothing else.
pub fn check_credential_scopes(scopes: &[String]) -> Result<(), GatewayError> {
    check_scopes(scopes)?;
    if scopes.len() > 1 && scopes.iter().any(|s| s == EMERGENCY_SCOPE) {
        return Err(GatewayError::Unprocessable(
            "scopes: emergency/Patient.$summary is issued alone, in a credential of its own".into(),
        ));
    }
    Ok(())
}

/// A facility's client id: 1 to 128 letters, digits and `-._:` (consents name it).
pub fn check_client_id(client_id: &str) -> Result<(), GatewayError> {
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
    {
        return Err(GatewayError::BadRequest(
            "a client id is 1 to 128 characters of letters, digits and - . _ :".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str]) -> Client {
        Client {
            client_id: "lab".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn scopes_follow_smart_v1_and_v2() {
        assert!(client(&["system/*.read"]).may("Observation", Interaction::Search));
        assert!(client(&["system/Observation.rs"]).may("Observation", Interaction::Read));
        assert!(!client(&["system/Observation.rs"]).may("Patient", Interaction::Read));
        assert!(!client(&["system/*.r"]).may("Patient", Interaction::Search));
        assert!(!client(&["patient/*.read"]).may("Patient", Interaction::Read));
        assert!(!client(&["system/*.write"]).may("Patient", Interaction::Read));
        assert!(
            !client(&["system/Observation.rs?category=laboratory"])
                .may("Observation", Interaction::Read)
        );
        assert!(!client(&[]).may("Patient", Interaction::Read));
        assert!(!client(&[EMERGENCY_SCOPE]).may("Patient", Interaction::Read));
        assert!(!client(&[EMERGENCY_SCOPE]).may("Patient", Interaction::Search));
        assert!(client(&[EMERGENCY_SCOPE]).is_emergency());
    }

    #[test]
    fn granted_scopes_stay_within_the_registered_ones() {
        let registered = vec!["system/*.read".to_owned()];
        assert!(covered(&registered, "system/Observation.read"));
        assert!(covered(&registered, "system/*.rs"));
        assert!(covered(&registered, "system/Patient.r"));
        assert!(!covered(&registered, "system/*.write"));
        assert!(!covered(&registered, "patient/*.read"));
        assert!(!covered(&registered, "launch/patient"));
        assert!(!covered(&registered, EMERGENCY_SCOPE));
        assert!(covered(&[EMERGENCY_SCOPE.to_owned()], EMERGENCY_SCOPE));
        let narrow = vec!["system/Observation.rs".to_owned()];
        assert!(covered(&narrow, "system/Observation.rs"));
        assert!(!covered(&narrow, "system/Patient.rs"));
        assert!(!covered(&narrow, "system/*.rs"));
        let split = vec!["system/*.r".to_owned(), "system/Observation.s".to_owned()];
        assert!(covered(&split, "system/Observation.rs"));
        assert!(!covered(&split, "system/Patient.rs"));
    }

    #[test]
    fn filters_and_malformed_scopes_cannot_be_registered() {
        let scopes = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(check_scopes(&scopes(&["system/*.read"])).is_ok());
        assert!(check_scopes(&scopes(&["system/Observation.rs?category=laboratory"])).is_err());
        assert!(
            check_scopes(&scopes(&["system/*.cud"])).is_err(),
            "no read or search"
        );
        assert!(check_scopes(&scopes(&["user/*.read"])).is_err());
        assert!(check_scopes(&scopes(&[])).is_err());
        assert!(check_scopes(&scopes(&[EMERGENCY_SCOPE, "system/*.read"])).is_ok());
        assert!(check_credential_scopes(&scopes(&[EMERGENCY_SCOPE])).is_ok());
        assert!(
            check_credential_scopes(&scopes(&[EMERGENCY_SCOPE, "system/*.read"])).is_err(),
            "an emergency credential reads nothing else"
        );
        assert!(check_client_id("hie-east.1:a").is_ok());
        assert!(check_client_id("hie east").is_err());
        assert!(check_client_id("").is_err());
    }
}
