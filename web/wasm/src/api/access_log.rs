//! The patient's access log (DESIGN.md §6, §11): the FHIR gateway's kind 2107 audit events
//! about her, verified (`ehr_client::audit`), authorised by the practice's roster chain (the
//! gateway agent, or the root, at the time it was written) and opened through her signer; each
//! summarised as who (the facility) read what, when, and with what outcome.

use ehr_client::audit::AuditRecord;
use ehr_client::kinds::AUDIT_EVENT;
use ehr_client::nostr::prelude::Kind;
use ehr_client::roster::{Role, verify_roster_chain};
use ehr_client::signer::Nip44Decrypt;
use serde_json::{Value, json};

use super::{ApiError, chart_inputs, refusal};

/// `{"entries": [{"id", "created_at", "recorded", "facility", "interaction", "action",
/// "outcome", "parameters"}], "refused": [{"id", "reason"}]}`, newest first. Events of other
/// kinds in `json` (rosters) are used for authorisation only.
pub async fn open_access_log<S: Nip44Decrypt>(
    practice: &str,
    signer: &S,
    json: &str,
) -> Result<String, ApiError> {
    let (practice, events, mut refused) = chart_inputs(practice, json)?;
    let chain = verify_roster_chain(&practice, &events);
    let mut entries = Vec::new();
    for event in events {
        if event.kind != Kind::Custom(AUDIT_EVENT) {
            continue;
        }
        let (id, author, at) = (event.id, event.pubkey, event.created_at);
        let record = match AuditRecord::parse(event) {
            Ok(record) => record,
            Err(error) => {
                refused.push(refusal(Some(id), &error));
                continue;
            }
        };
        // Only the practice's gateway (or its root) speaks for the practice about accesses.
        if author != practice && chain.role_at(&author, at) != Some(Role::FhirGateway) {
            refused.push(json!({ "id": id.to_hex(), "reason": "not written by the practice's FHIR gateway" }));
            continue;
        }
        match record.open_as_patient(signer).await {
            Ok(audit) => entries.push(summary(&audit, id.to_hex(), at.as_secs())),
            Err(error) => refused.push(refusal(Some(id), &error)),
        }
    }
    entries.sort_by(|a, b| b["created_at"].as_u64().cmp(&a["created_at"].as_u64()));
    Ok(json!({ "entries": entries, "refused": refused }).to_string())
}

/// What a patient reads in one AuditEvent (the gateway's layout, `fhir-gateway/src/audit.rs`).
fn summary(audit: &Value, id: String, created_at: u64) -> Value {
    let text = |path: &str| audit.pointer(path).and_then(Value::as_str);
    let facility = text("/agent/0/who/display")
        .or_else(|| text("/agent/0/who/identifier/value"))
        .unwrap_or("an unnamed facility");
    let parameters: Vec<String> = audit
        .get("entity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("query").and_then(Value::as_str))
        .filter_map(|q| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(q).ok()
        })
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect();
    json!({
        "id": id,
        "created_at": created_at,
        "recorded": text("/recorded"),
        "facility": facility,
        "interaction": text("/subtype/0/code"),
        "action": text("/action"),
        "outcome": text("/outcome"),
        "parameters": parameters.join(","),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use ehr_client::keys::Identity;
    use ehr_client::nostr::prelude::{PublicKey, Timestamp};
    use ehr_client::rotation;

    use super::*;

    const AUDIT: &str = r#"{"resourceType":"AuditEvent","subtype":[{"code":"operation"}],"action":"E",
        "recorded":"2026-11-21T10:00:00Z","outcome":"0",
        "agent":[{"who":{"identifier":{"system":"urn:x","value":"hospital-a"}},"requestor":true}],
        "entity":[{"what":{"reference":"Patient/p"}},{"query":"X2NvdW50LF9zaW5jZQ=="}]}"#;

    fn sealed(by: &Identity, patient: &PublicKey, epoch: PublicKey) -> Value {
        let record = AuditRecord::seal(by, patient, (1, epoch), AUDIT, Timestamp::now()).unwrap();
        serde_json::to_value(record.event()).unwrap()
    }

    #[test]
    fn she_reads_the_gateways_entries_and_no_forger_is_believed() {
        let root = Identity::generate();
        let admin = Identity::generate();
        let patient = Identity::generate();
        let stranger = Identity::generate();
        let (rosters, _) =
            rotation::genesis(&root, Some((admin.public_key(), None)), Timestamp::now()).unwrap();
        let epoch = Identity::generate().public_key();
        let mut events: Vec<Value> = rosters
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        events.push(sealed(&root, &patient.public_key(), epoch));
        // Signed by a key that is not the practice's gateway: refused, not shown.
        events.push(sealed(&stranger, &patient.public_key(), epoch));
        let json = serde_json::to_string(&events).unwrap();
        let log: Value = serde_json::from_str(
            &pollster::block_on(open_access_log(
                &root.public_key().to_hex(),
                &patient,
                &json,
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(log["entries"].as_array().unwrap().len(), 1, "{log}");
        let entry = &log["entries"][0];
        assert_eq!(entry["facility"], "hospital-a");
        assert_eq!(entry["interaction"], "operation");
        assert_eq!(entry["parameters"], "_count,_since");
        assert_eq!(
            log["refused"][0]["reason"],
            "not written by the practice's FHIR gateway"
        );
        // Another patient's key opens none of them.
        let other = Identity::generate();
        let theirs: Value = serde_json::from_str(
            &pollster::block_on(open_access_log(&root.public_key().to_hex(), &other, &json))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(theirs["entries"], json!([]));
    }
}
