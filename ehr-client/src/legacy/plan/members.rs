//! Members and guardianships from the legacy roster (2102), service-agent grants (2103) and
//! guardian grants (2104).

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventId, PublicKey};
use serde::Deserialize;

use super::{Analysis, Fate, LegacyMember};
use crate::legacy::keyring::LegacyKeyring;
use crate::legacy::source::{self, LegacyTags, other_tag};
use crate::roster::Role;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RosterPayload {
    staff: Vec<StaffEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaffEntry {
    pk_hex: String,
    name: Option<String>,
    role: String,
    revoked_at: Option<u64>,
}

/// A staff member of the latest legacy roster.
pub(super) struct Staff {
    pub(super) role: Option<Role>,
    pub(super) revoked_at: Option<u64>,
}

impl Analysis {
    /// The latest roster wins; its staff (not revoked) become members.
    pub(super) fn read_rosters(
        &mut self,
        rosters: &mut [&Event],
        keyring: &LegacyKeyring,
    ) -> BTreeMap<PublicKey, Staff> {
        rosters.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
        let mut staff = BTreeMap::new();
        let Some((latest, older)) = rosters.split_first() else {
            return staff;
        };
        for event in older {
            self.set(
                event,
                Fate::Skipped("superseded by a later roster (the latest wins)".into()),
            );
        }
        let payload = keyring
            .with(&self.practice)
            .ok_or_else(|| "no practice secret (X₁) to open it".to_owned())
            .and_then(|key| key.decrypt(&latest.content).map_err(|e| e.to_string()))
            .and_then(|plain| {
                serde_json::from_str::<RosterPayload>(&plain)
                    .map_err(|_| "the roster payload is not the reference's roster".to_owned())
            });
        let payload = match payload {
            Ok(p) => p,
            Err(reason) => {
                self.set(latest, Fate::Unreadable(reason));
                return staff;
            }
        };
        let mut members = Vec::new();
        for entry in payload.staff {
            let Ok(pubkey) = crate::keys::parse_hex_public_key(&entry.pk_hex) else {
                continue;
            };
            let role = match entry.role.as_str() {
                "doctor" => Some(Role::Doctor),
                "nurse" => Some(Role::Nurse),
                "ma" => Some(Role::Ma),
                "frontdesk" => Some(Role::Frontdesk),
                _ => None,
            };
            if let (Some(role), None) = (role, entry.revoked_at) {
                self.members.push(LegacyMember {
                    pubkey,
                    role,
                    name: entry.name.clone(),
                });
                members.push(pubkey);
            }
            staff.insert(
                pubkey,
                Staff {
                    role,
                    revoked_at: entry.revoked_at,
                },
            );
        }
        self.set(latest, Fate::Members(members));
        staff
    }

    /// The tags of a grant, or `None` with the event marked unreadable.
    fn tags_of(&mut self, event: &Event) -> Option<LegacyTags> {
        match source::read_tags(event) {
            Ok(tags) => Some(tags),
            Err(reason) => {
                self.set(event, Fate::Unreadable(reason));
                None
            }
        }
    }

    /// One member per agent key; repeated grants (2103 is a regular kind) are duplicates.
    pub(super) fn read_agents(&mut self, agents: &mut [&Event]) {
        agents.sort_by_key(|e| (e.created_at, e.id));
        let mut first: BTreeMap<(PublicKey, String), EventId> = BTreeMap::new();
        for event in agents.iter() {
            let Some(tags) = self.tags_of(event) else {
                continue;
            };
            let service = other_tag(&tags, "service").unwrap_or_default().to_owned();
            let Some(agent) = tags.p.first().copied() else {
                self.set(
                    event,
                    Fate::Unreadable("service-agent grant without a `p` tag".into()),
                );
                continue;
            };
            if service != "fhir-reader" {
                self.set(
                    event,
                    Fate::Skipped("a service this project has no agent role for".into()),
                );
                continue;
            }
            if let Some(earlier) = first.get(&(agent, service.clone())) {
                self.set(
                    event,
                    Fate::Skipped(format!(
                        "duplicate service-agent grant (same agent and service as {earlier})"
                    )),
                );
                continue;
            }
            first.insert((agent, service), event.id);
            if !self.members.iter().any(|m| m.pubkey == agent) {
                self.members.push(LegacyMember {
                    pubkey: agent,
                    role: Role::FhirGateway,
                    name: None,
                });
            }
            self.set(event, Fate::Members(vec![agent]));
        }
    }

    pub(super) fn read_guardian_grants(&mut self, grants: &mut [&Event]) {
        grants.sort_by_key(|e| (e.created_at, e.id));
        for event in grants.iter() {
            let Some(tags) = self.tags_of(event) else {
                continue;
            };
            let child =
                other_tag(&tags, "child-p").and_then(|c| crate::keys::parse_hex_public_key(c).ok());
            match (tags.p.first().copied(), child) {
                (Some(guardian), Some(ward)) if guardian != ward => {
                    self.guardianships.insert((ward, guardian));
                    self.set(event, Fate::Guardianship(ward, guardian));
                }
                _ => self.set(
                    event,
                    Fate::Unreadable(
                        "guardian grant without a guardian (`p`) and child (`child-p`)".into(),
                    ),
                ),
            }
        }
    }
}
