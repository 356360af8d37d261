//! The practice's operations for the browser (the clinic app's administration): each is planned
//! by `ehr_client::practice`, so the browser composes no step of a revocation itself, and the
//! plan comes back as the signed events to publish, in order. JSON in, JSON out.

use ehr_client::grants::GuardianshipStatus;
use ehr_client::keys::Identity;
use ehr_client::practice::{self, Plan, State};
use ehr_client::roster::Role;
use ehr_client::rotation::RosterChange;
use serde::Deserialize;

use super::{ApiError, parse_events, public_key, seconds};

/// One operation, as the browser names it (`{"op": "enrol", "patient": "npub1…"}`).
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum Operation {
    /// Enrol a patient (a new key or her own npub).
    Enrol { patient: String },
    /// Add a staff member or agent.
    AddMember {
        pubkey: String,
        role: Role,
        name: Option<String>,
    },
    /// Revoke a staff member or agent.
    RevokeMember { pubkey: String },
    /// Record a consent to FHIR sharing with `facilities` (client ids), dated `date`, in force
    /// until `until` (a date, inclusive) when given.
    GrantConsent {
        patient: String,
        facilities: Vec<String>,
        date: String,
        #[serde(default)]
        until: Option<String>,
    },
    /// Withdraw the patient's newest consent.
    WithdrawConsent { patient: String },
    /// Record the patient's opt-in to emergency access, dated `date`.
    EmergencyOptIn { patient: String, date: String },
    /// Withdraw the patient's opt-in to emergency access.
    EmergencyWithdraw { patient: String },
    /// Start (`active`) or end a guardianship.
    Guardianship {
        ward: String,
        guardian: String,
        active: bool,
    },
    /// Rotate or resume maintenance (and migrate a practice to the two key domains).
    Maintain,
}

/// Plan `operation` (JSON) as `actor` from `events` (what the relay served: a JSON array) of
/// the practice whose root is `practice`, at `now` (seconds): the plan's signed events, a JSON
/// array in publication order (empty when nothing is to be done).
pub fn plan(
    actor: &Identity,
    practice: &str,
    events: &str,
    operation: &str,
    now: f64,
) -> Result<String, ApiError> {
    let root = public_key(practice, "practice")?;
    let (events, _) = parse_events(events)?;
    let operation: Operation =
        serde_json::from_str(operation).map_err(|_| ApiError::Operation("unknown shape"))?;
    let state = State {
        root,
        events: &events,
        actor,
        now: seconds(now)?,
    };
    let planned = run(&state, operation)?;
    let events: Vec<_> = planned.into_events();
    serde_json::to_string(&events).map_err(|_| ApiError::Signing)
}

fn run(state: &State<'_>, operation: Operation) -> Result<Plan, ApiError> {
    let refused = |error: ehr_client::rotation::PlanError| ApiError::Plan(error.to_string());
    match operation {
        Operation::Enrol { patient } => {
            practice::enrol_patient(state, &public_key(&patient, "patient")?).map_err(refused)
        }
        Operation::AddMember { pubkey, role, name } => {
            let change = RosterChange::Add {
                pubkey: public_key(&pubkey, "member")?,
                role,
                name,
            };
            practice::change_roster(state, &change).map_err(refused)
        }
        Operation::RevokeMember { pubkey } => {
            let change = RosterChange::Revoke {
                pubkey: public_key(&pubkey, "member")?,
            };
            practice::change_roster(state, &change).map_err(refused)
        }
        Operation::GrantConsent {
            patient,
            facilities,
            date,
            until,
        } => {
            let facilities: Vec<&str> = facilities.iter().map(String::as_str).collect();
            let patient = public_key(&patient, "patient")?;
            practice::grant_consent_until(state, &patient, &facilities, &date, until.as_deref())
                .map_err(refused)
        }
        Operation::WithdrawConsent { patient } => {
            practice::withdraw_consent(state, &public_key(&patient, "patient")?).map_err(refused)
        }
        Operation::EmergencyOptIn { patient, date } => {
            let patient = public_key(&patient, "patient")?;
            practice::opt_in_emergency_access(state, &patient, date.trim()).map_err(refused)
        }
        Operation::EmergencyWithdraw { patient } => {
            practice::withdraw_emergency_access(state, &public_key(&patient, "patient")?)
                .map_err(refused)
        }
        Operation::Guardianship {
            ward,
            guardian,
            active,
        } => {
            let status = if active {
                GuardianshipStatus::Active
            } else {
                GuardianshipStatus::Ended
            };
            let ward = public_key(&ward, "ward")?;
            let guardian = public_key(&guardian, "guardian")?;
            practice::set_guardianship(state, &ward, &guardian, status).map_err(refused)
        }
        Operation::Maintain => practice::maintain(state).map_err(refused),
    }
}

/// A NIP-86 call to the relay at `relay` as `actor` (`ehr_client::http_auth::management_call`):
/// `{"url", "body", "authorization"}`.
pub fn relay_call(
    actor: &Identity,
    relay: &str,
    method: &str,
    params: &str,
    now: f64,
) -> Result<String, ApiError> {
    let params: Vec<serde_json::Value> = serde_json::from_str(params)
        .map_err(|_| ApiError::Operation("params must be a JSON array"))?;
    let (url, body, authorization) =
        ehr_client::http_auth::management_call(actor, relay, method, &params, seconds(now)?)
            .map_err(|_| ApiError::RelayUrl)?;
    Ok(serde_json::json!({ "url": url, "body": body, "authorization": authorization }).to_string())
}

/// The NIP-98 `Authorization` header for a `method` request to `url` with `body`, by `actor`
/// at `now` (`ehr_client::http_auth::authorization_at`).
pub fn http_authorization(
    actor: &Identity,
    url: &str,
    method: &str,
    body: &str,
    now: f64,
) -> Result<String, ApiError> {
    ehr_client::http_auth::authorization_at(actor, url, method, body.as_bytes(), seconds(now)?)
        .map_err(|_| ApiError::Signing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use ehr_client::access::PracticeView;
    use ehr_client::kinds::Domain;
    use ehr_client::nostr::prelude::{Event, Timestamp};
    use ehr_client::rotation;
    use serde_json::json;

    use super::*;

    fn practice() -> (Identity, Identity, Vec<Event>) {
        let (root, admin) = (Identity::generate(), Identity::generate());
        let now = Timestamp::from_secs(1_800_000_000);
        let (events, _) = rotation::genesis(&root, Some((admin.public_key(), None)), now).unwrap();
        (root, admin, events)
    }

    fn planned(
        root: &Identity,
        admin: &Identity,
        events: &[Event],
        op: serde_json::Value,
    ) -> Vec<Event> {
        let json = plan(
            admin,
            &root.public_key().to_hex(),
            &serde_json::to_string(events).unwrap(),
            &op.to_string(),
            1_800_000_100.0,
        )
        .unwrap();
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_browser_enrols_a_patient_through_the_practice_module() {
        let (root, admin, mut events) = practice();
        let patient = Identity::generate().public_key();
        let op = json!({"op": "enrol", "patient": patient.to_hex()});
        events.extend(planned(&root, &admin, &events, op));
        let view = PracticeView::load(&root.public_key(), &events, &admin);
        assert!(view.write_key_in(&patient, Domain::Clinical).is_ok());
        assert!(view.write_key_in(&patient, Domain::Office).is_ok());
        assert!(planned(&root, &admin, &events, json!({"op": "maintain"})).is_empty());
    }

    #[test]
    fn an_operation_of_unknown_shape_or_one_the_actor_may_not_make_is_refused() {
        let (root, admin, events) = practice();
        let events_json = serde_json::to_string(&events).unwrap();
        let root_hex = root.public_key().to_hex();
        let unknown = plan(
            &admin,
            &root_hex,
            &events_json,
            r#"{"op":"drop-table"}"#,
            1.0,
        );
        assert_eq!(unknown.unwrap_err(), ApiError::Operation("unknown shape"));
        // An admin may not add an admin (the root only).
        let op = json!({"op": "add-member", "pubkey": Identity::generate().public_key().to_hex(), "role": "admin"});
        let refused = plan(
            &admin,
            &root_hex,
            &events_json,
            &op.to_string(),
            1_800_000_100.0,
        );
        assert!(matches!(refused, Err(ApiError::Plan(_))));
    }
}
