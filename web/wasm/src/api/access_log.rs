//! The patient's access log (DESIGN.md §6, §11): the FHIR gateway's kind 2107 audit events
//! about her, verified (`ehr_client::audit`), authorised by the practice's roster chain (the
//! gateway agent, or the root, at the time it was written) and opened through her signer; each
//! summarised as who (the facility) read what, when, and with what outcome.

use ehr_client::audit::{AUDIT_SUBTYPE_SYSTEM, AuditRecord, SHL_MANIFEST};
use ehr_client::fhir::EMERGENCY_TREATMENT;
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
    let subtypes: Vec<&Value> = audit
        .get("subtype")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    // A SMART Health Link's manifest opened (the gateway's link service): who the recipient
    // said she was, and the link's label.
    let link_opened = subtypes.iter().any(|s| {
        s.get("system").and_then(Value::as_str) == Some(AUDIT_SUBTYPE_SYSTEM)
            && s.get("code").and_then(Value::as_str) == Some(SHL_MANIFEST)
    });
    // Break-glass: a facility read her summary for emergency treatment, with its reason.
    let emergency = text("/purposeOfEvent/0/coding/0/code") == Some(EMERGENCY_TREATMENT);
    let kind = if link_opened {
        "shl"
    } else if emergency {
        "emergency"
    } else {
        "fhir"
    };
    let label = audit
        .get("entity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|e| e.get("name").and_then(Value::as_str));
    let interaction = subtypes
        .iter()
        .filter(|s| s.get("system").and_then(Value::as_str) != Some(AUDIT_SUBTYPE_SYSTEM))
        .find_map(|s| s.get("code").and_then(Value::as_str))
        .or_else(|| text("/subtype/0/code"));
    json!({
        "id": id,
        "created_at": created_at,
        "recorded": text("/recorded"),
        "kind": kind,
        "facility": facility,
        "client": text("/agent/0/who/identifier/value"),
        "recipient": if link_opened { text("/agent/0/who/display") } else { None },
        "label": label,
        "reason": if emergency { text("/purposeOfEvent/0/text") } else { None },
        "interaction": interaction,
        "action": text("/action"),
        "outcome": text("/outcome"),
        "outcome_text": text("/outcomeDesc"),
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

    #[test]
    fn an_opened_link_and_a_break_glass_access_say_what_they_were() {
        let link = json!({"resourceType":"AuditEvent","action":"R","recorded":"2026-12-07T10:00:00Z",
            "subtype":[{"system":"urn:nostr-ehr:audit","code":"shl-manifest"}],"outcome":"4",
            "outcomeDesc":"wrong passcode",
            "agent":[{"who":{"display":"Dr A, City ER"},"requestor":true}],
            "entity":[{"what":{"reference":"Patient/p"}},{"name":"Emergency health summary"}]});
        let entry = summary(&link, "a".into(), 1);
        assert_eq!(entry["kind"], "shl");
        assert_eq!(entry["recipient"], "Dr A, City ER");
        assert_eq!(entry["label"], "Emergency health summary");
        assert_eq!(entry["outcome_text"], "wrong passcode");
        let glass = json!({"resourceType":"AuditEvent","action":"E","recorded":"2026-12-07T10:00:00Z",
            "subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"operation"},
                {"system":"http://hl7.org/fhir/uv/ips/OperationDefinition/summary","code":"summary"}],
            "purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"ETREAT"}],
                "text":"unconscious on arrival"}],
            "outcome":"0","agent":[{"who":{"identifier":{"system":"urn:x","value":"city-er"}},"requestor":true}]});
        let entry = summary(&glass, "b".into(), 2);
        assert_eq!(entry["kind"], "emergency");
        assert_eq!(entry["facility"], "city-er");
        assert_eq!(entry["reason"], "unconscious on arrival");
        assert_eq!(entry["interaction"], "operation");
    }
}
