//! `_include` and `_revinclude`: what a search brings beside its matches.
//!
//! `_include=[type]:[param]` follows a reference parameter of each match on the page
//! ([`crate::search::include_defs`]); `_revinclude=Provenance:target` brings each match's
//! Provenance ([`crate::provenance`]). Both reach one level (`:iterate` is a 400) and stay
//! within the match's own patient: a reference is followed only to a record of the same
//! patient's served chart, and that patient is one the consent names for the client, so an
//! include never crosses patients. A type an include would reach that the token's scopes do not
//! let it search is refused with 403 before anything is disclosed, rather than left out (a
//! client then knows its answer is not complete). Included resources are not counted in
//! `total` and are not paged: they follow the page's matches.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use ehr_client::fhir::ResourceType;

use crate::GatewayState;
use crate::bundle::{Entry as _, Listed};
use crate::error::GatewayError;
use crate::provenance::{PROVENANCE, Voucher, provenance};
use crate::routes::patient_for;
use crate::search::{IncludeDef, REVINCLUDE_PROVENANCE, Search, include_defs};
use crate::served::{ServedResource, patient_of};
use crate::store::{Client, Interaction};
use crate::sync::Snapshot;

/// The `_include` value `value` of a search of `resource_type`: `[type]:[param]`, or
/// `[type]:[param]:[target type]` naming the type it reaches.
pub fn parse_include(resource_type: ResourceType, value: &str) -> Option<&'static IncludeDef> {
    let mut parts = value.splitn(3, ':');
    let (source, param, target) = (parts.next()?, parts.next()?, parts.next());
    include_defs(resource_type).iter().find(|def| {
        def.name.split_once(':') == Some((source, param))
            && target.is_none_or(|t| def.target.is_some_and(|d| d.as_str() == t))
    })
}

/// Whether `value` is a `_revinclude` a search of `resource_type` supports:
/// `Provenance:target`, or `Provenance:target:[the searched type]`.
pub fn parse_revinclude(resource_type: ResourceType, value: &str) -> bool {
    match value.strip_prefix(REVINCLUDE_PROVENANCE) {
        Some("") => true,
        Some(rest) => rest.strip_prefix(':') == Some(resource_type.as_str()),
        None => false,
    }
}

/// Refuse (403) a search whose includes reach a type the client's scopes do not let it
/// search.
fn check_scopes(client: &Client, search: &Search) -> Result<(), GatewayError> {
    let reached = search.includes.iter().filter_map(|def| def.target);
    for resource_type in reached {
        if !client.may(resource_type.as_str(), Interaction::Search) {
            return Err(GatewayError::Forbidden(
                "the token's scopes do not allow a type this _include reaches",
            ));
        }
    }
    if search.revinclude_provenance && !client.may(PROVENANCE, Interaction::Search) {
        return Err(GatewayError::Forbidden(
            "the token's scopes do not allow Provenance (_revinclude)",
        ));
    }
    Ok(())
}

/// What `search`'s `_include` and `_revinclude` bring for `page` (its matches): each resource
/// once, none that is already a match, all of the match's own patient.
pub fn included(
    state: &GatewayState,
    snapshot: &Snapshot,
    client: &Client,
    search: &Search,
    page: &[Arc<ServedResource>],
) -> Result<Vec<Listed>, GatewayError> {
    check_scopes(client, search)?;
    let mut included = Vec::new();
    let mut seen: HashSet<(&str, &str)> = page
        .iter()
        .map(|r| (r.resource_type.as_str(), r.id.as_str()))
        .collect();
    for found in page {
        // The match's own patient, if she is still served to the client.
        let Some(patient) = patient_for(snapshot, client, patient_of(&found.id)) else {
            continue;
        };
        for def in &search.includes {
            let Some(target) = def.target else {
                continue;
            };
            for id in found.keys.references(def.param) {
                if patient_of(id) != patient.id {
                    continue;
                }
                if let Some(reached) = patient.get(target, id)
                    && seen.insert((target.as_str(), reached.id.as_str()))
                {
                    included.push(Listed::Served(Arc::clone(reached)));
                }
            }
        }
    }
    if search.revinclude_provenance {
        let voucher = Voucher::of(state, snapshot);
        included.extend(
            page.iter()
                .filter(|r| patient_for(snapshot, client, patient_of(&r.id)).is_some())
                .filter_map(|r| provenance(r, &voucher)),
        );
    }
    Ok(included)
}

/// The patients whose records `included` holds (the audit names them).
pub fn patients(included: &[Listed]) -> BTreeSet<String> {
    included
        .iter()
        .map(|r| patient_of(r.id()).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_values_name_a_reference_parameter_of_the_searched_type() {
        let observation = ResourceType::Observation;
        let found = |t, v| parse_include(t, v).map(|d| d.name);
        assert_eq!(
            found(observation, "Observation:patient"),
            Some("Observation:patient")
        );
        assert_eq!(
            found(observation, "Observation:subject:Patient"),
            Some("Observation:subject")
        );
        assert_eq!(found(observation, "Observation:subject:Group"), None);
        assert_eq!(found(observation, "Encounter:patient"), None);
        assert_eq!(found(observation, "Observation:performer"), None);
        assert_eq!(found(observation, "*"), None);
        assert_eq!(found(ResourceType::Patient, "Patient:organization"), None);
        assert_eq!(
            found(
                ResourceType::MedicationRequest,
                "MedicationRequest:medication"
            ),
            Some("MedicationRequest:medication")
        );
        assert!(parse_revinclude(observation, "Provenance:target"));
        assert!(parse_revinclude(
            observation,
            "Provenance:target:Observation"
        ));
        assert!(!parse_revinclude(
            observation,
            "Provenance:target:Encounter"
        ));
        assert!(!parse_revinclude(observation, "Provenance:agent"));
        assert!(!parse_revinclude(observation, "Provenance:targets"));
    }
}
