//! Delivering queued gift wraps (NIP-17): to the recipient's kind 10050 inbox relays when it
//! published a list, otherwise to the practice relay; the bot's own copy to the practice relay.
//!
//! Relays from a recipient's list that the bot will not contact ([`crate::relay_policy`]) are
//! recorded as refused and skipped; when none is left, the practice relay is the target.
//!
//! One round per due message: every target relay is tried once and every answer recorded.
//! Accepted by one relay: `sent`. Refused by every relay with `OK false` (other than
//! `rate-limited:` or `error:`): `rejected`, recorded and never retried. Otherwise the message
//! waits `backoff_seconds`, doubling each round up to `max_backoff_seconds`, and after
//! `max_attempts` rounds it is `failed`.

use std::collections::{HashMap, HashSet};

use ehr_client::net::{NetError, PublishOutcome};
use nostr::prelude::PublicKey;
use serde::Serialize;

use crate::Bot;
use crate::error::BillingError;
use crate::relay_policy;
use crate::store::outbox::{Attempt, Queued};

/// Most messages one round handles.
const BATCH: i64 = 200;

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Accepted by a relay.
    pub sent: usize,
    /// Refused by every target relay: recorded, not retried.
    pub rejected: usize,
    /// To be retried later.
    pub retrying: usize,
    /// Given up after the last attempt.
    pub failed: usize,
}

/// Whether a relay's `OK false` message is worth trying again (NIP-01 prefixes).
fn transient(message: &str) -> bool {
    message.starts_with("rate-limited:") || message.starts_with("error:")
}

impl Bot {
    /// Send every queued message that is due.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, BillingError> {
        let _turn = self.delivery_turn().await;
        let config = self.config();
        let now = self.now();
        let due = self.store().due_deliveries(now, BATCH).await?;
        let mut report = DeliveryReport::default();
        let mut others = HashMap::new();
        // Every recipient's inbox list of this round, in one request to each relay.
        let recipients: HashSet<PublicKey> = due
            .iter()
            .filter(|message| !message.copy)
            .filter_map(|message| PublicKey::from_hex(&message.recipient).ok())
            .collect();
        let inboxes = self.relays().inbox_relays(config, &recipients).await;
        let practice = vec![config.relay_url.clone()];
        let mut verdicts = HashMap::new();
        for message in due {
            let listed = match PublicKey::from_hex(&message.recipient) {
                Ok(key) if !message.copy => inboxes.get(&key),
                _ => None,
            };
            let (targets, refused) = match listed {
                Some(urls) => self.usable_relays(urls, &mut verdicts).await,
                None => (practice.clone(), Vec::new()),
            };
            let status = self
                .one_round(&message, &targets, &refused, &mut others)
                .await?;
            match status {
                "sent" => report.sent += 1,
                "rejected" => report.rejected += 1,
                "failed" => report.failed += 1,
                _ => report.retrying += 1,
            }
        }
        for (_, client) in others {
            client.disconnect().await;
        }
        Ok(report)
    }

    /// Split a recipient's inbox relays into those the bot may contact and those it refuses
    /// ([`relay_policy::refusal`], decided once per relay and round, before any connection).
    /// When every listed relay is refused, the practice relay is the target, as for a
    /// recipient without a list.
    async fn usable_relays(
        &self,
        urls: &[String],
        verdicts: &mut HashMap<String, Option<&'static str>>,
    ) -> (Vec<String>, Vec<(String, &'static str)>) {
        let config = self.config();
        let (mut usable, mut refused) = (Vec::new(), Vec::new());
        for url in urls {
            let verdict = match verdicts.get(url) {
                Some(verdict) => *verdict,
                None => {
                    let verdict = relay_policy::refusal(config, url).await;
                    if let Some(reason) = verdict {
                        tracing::warn!(relay = %url, reason, "an inbox relay was refused");
                    }
                    verdicts.insert(url.clone(), verdict);
                    verdict
                }
            };
            match verdict {
                None => usable.push(url.clone()),
                Some(reason) => refused.push((url.clone(), reason)),
            }
        }
        if usable.is_empty() {
            usable.push(config.relay_url.clone());
        }
        (usable, refused)
    }

    /// Try every target once, record the answers (and the refused relays, never contacted)
    /// and the message's new state.
    async fn one_round(
        &self,
        message: &Queued,
        targets: &[String],
        refused_relays: &[(String, &'static str)],
        others: &mut HashMap<String, ehr_client::net::RelayClient>,
    ) -> Result<&'static str, BillingError> {
        let config = self.config();
        let now = self.now();
        // A relay the bot would not contact is recorded as `rejected`, with the rule as its
        // `blocked:` message.
        let mut attempts: Vec<Attempt> = refused_relays
            .iter()
            .map(|(relay, reason)| Attempt {
                relay: relay.clone(),
                at: now,
                outcome: "rejected".to_owned(),
                message: (*reason).to_owned(),
            })
            .collect();
        let (mut accepted, mut refused) = (false, 0usize);
        for url in targets {
            let outcome = self
                .relays()
                .publish(config, url, &message.wrap, others)
                .await;
            let (kind, text) = match outcome {
                Ok(PublishOutcome::Accepted) => {
                    accepted = true;
                    ("accepted", String::new())
                }
                Ok(PublishOutcome::Refused { message }) if !transient(&message) => {
                    refused += 1;
                    ("rejected", message)
                }
                Ok(PublishOutcome::Refused { message }) => ("error", message),
                Err(error) => ("error", net_reason(&error)),
            };
            attempts.push(Attempt {
                relay: url.clone(),
                at: now,
                outcome: kind.to_owned(),
                message: text,
            });
        }
        let round = message.attempts + 1;
        let delay = config
            .delivery
            .backoff_seconds
            .saturating_mul(1i64 << (message.attempts.clamp(0, 30)))
            .min(config.delivery.max_backoff_seconds);
        let status = if accepted {
            "sent"
        } else if refused == targets.len() {
            "rejected"
        } else if round >= config.delivery.max_attempts {
            "failed"
        } else {
            "pending"
        };
        if status != "sent" {
            tracing::warn!(
                delivery = message.id,
                status,
                round,
                "a message was not delivered"
            );
        }
        self.store()
            .finish_round(message.id, &attempts, status, now + delay, now)
            .await?;
        Ok(status)
    }
}

fn net_reason(error: &NetError) -> String {
    // Transport errors name the failure, never the event.
    error.to_string()
}
