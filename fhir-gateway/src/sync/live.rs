//! Following the relay: the live subscription, read between audit batches; live events taken
//! together, each patient rebuilt once per batch; rosters and wraps as they come.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::event::VerifiedEvent;
use ehr_client::kinds::{self, ClinicalKind, Domain};
use ehr_client::net::{Followed, RelayClient};
use nostr::prelude::{PublicKey, Timestamp};

use super::{Follower, clinical_filter, organisation_filter, patient_of};
use crate::error::GatewayError;

impl Follower {
    /// Follow the relay until the connection fails (then the caller reconnects).
    pub async fn follow(
        &mut self,
        client: &RelayClient,
        since: Timestamp,
    ) -> Result<(), GatewayError> {
        let since = Timestamp::from_secs(since.as_secs().saturating_sub(120));
        let mut live = client.follow(vec![
            organisation_filter().since(since),
            clinical_filter().since(since),
        ])?;
        // Audit events go out one batch per turn, so the live subscription is read between
        // batches (a long queue must not delay a withdrawal, nor overflow the notifications).
        let mut retry: Option<tokio::time::Instant> = None;
        self.outbox.notify_one();
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                // `Following::next` only awaits its notification channel: cancel-safe.
                followed = live.next() => match followed? {
                    Followed::Caught => {}
                    Followed::Event(event) => {
                        let batch = drain(&mut live, *event).await?;
                        self.add_live_batch(client, batch).await?;
                    }
                },
                () = self.outbox.notified(), if retry.is_none() => {
                    retry = self.publish_audit(client).await?;
                }
                () = tokio::time::sleep_until(retry.unwrap_or(far)), if retry.is_some() => {
                    retry = self.publish_audit(client).await?;
                }
            }
        }
    }

    /// Live events in order; runs of clinical events are taken together
    /// ([`Self::add_live_clinical`]), so a burst rebuilds each patient once.
    async fn add_live_batch(
        &mut self,
        client: &RelayClient,
        batch: Vec<VerifiedEvent>,
    ) -> Result<(), GatewayError> {
        let mut clinical = Vec::new();
        for verified in batch {
            if ClinicalKind::from_u16(verified.event().kind.as_u16()).is_some() {
                clinical.push(verified);
                continue;
            }
            if !clinical.is_empty() {
                self.add_live_clinical(client, std::mem::take(&mut clinical))
                    .await?;
            }
            self.add_live(client, verified).await?;
        }
        if !clinical.is_empty() {
            self.add_live_clinical(client, clinical).await?;
        }
        Ok(())
    }

    async fn add_live(
        &mut self,
        client: &RelayClient,
        verified: VerifiedEvent,
    ) -> Result<(), GatewayError> {
        let kind = verified.event().kind.as_u16();
        if ClinicalKind::from_u16(kind).is_some() {
            return self.add_live_clinical(client, vec![verified]).await;
        }
        let event = verified.into_event();
        if kind == kinds::ROSTER || kind == kinds::CHART_KEY_WRAP {
            if self.organisation.contains_key(&event.id) {
                return Ok(());
            }
            // Both of a patient's keys (chart and office): either, newly held, opens events.
            let held = |view: &PracticeView, patient: &PublicKey| {
                Domain::ALL.map(|domain| view.latest_key_in(patient, domain).map(|k| k.version()))
            };
            // A wrap concerns one patient and is added as it comes; a roster reloads the view.
            let concerned: Vec<PublicKey> = if kind == kinds::ROSTER {
                self.view.patients().into_iter().collect()
            } else {
                patient_of(&event).into_iter().collect()
            };
            let before: Vec<_> = concerned.iter().map(|p| held(&self.view, p)).collect();
            // `add` takes wraps; a roster (or anything it cannot add) reloads the view.
            let added = Arc::make_mut(&mut self.view).add(&event, &self.config.key);
            self.organisation.insert(event.id, event);
            if !added {
                self.reload_view();
                if !self.named_in_roster() {
                    // Whatever it still holds may no longer be disclosed: stop at once.
                    self.link.refused();
                    return Err(GatewayError::Unavailable(
                        "the practice's roster no longer names this gateway",
                    ));
                }
            }
            let touched: BTreeSet<PublicKey> = concerned
                .iter()
                .zip(before)
                .filter(|(p, was)| held(&self.view, p) != *was)
                .map(|(p, _)| *p)
                .collect();
            // A key newly held opens events that arrived before it: their indexes are built
            // again, from their events read again. Any patient may have gained or lost a newer
            // version: judge all again.
            let all: BTreeSet<PublicKey> = self.records.keys().chain(&touched).copied().collect();
            self.regate(client, &all, &touched, false).await?;
        }
        Ok(())
    }

    /// Live clinical events, taken together: each patient they concern is rebuilt once. A
    /// consent among them (a withdrawal, or one she signed herself) takes her out of the
    /// served snapshot before her events are read again, so it is honoured at once.
    async fn add_live_clinical(
        &mut self,
        client: &RelayClient,
        events: Vec<VerifiedEvent>,
    ) -> Result<(), GatewayError> {
        let consent = events
            .iter()
            .any(|e| e.event().kind.as_u16() == ClinicalKind::Consent.as_u16());
        let patients = self.add_verified(events);
        if !patients.is_empty() {
            self.regate(client, &patients, &patients, consent).await?;
        }
        Ok(())
    }
}

/// Most live events taken together.
const LIVE_BATCH: usize = 1000;

/// `first` and whatever else the live subscription has already delivered (never waiting), up
/// to [`LIVE_BATCH`] events.
async fn drain(
    live: &mut ehr_client::net::Following,
    first: VerifiedEvent,
) -> Result<Vec<VerifiedEvent>, GatewayError> {
    let mut batch = vec![first];
    while batch.len() < LIVE_BATCH {
        // A zero timeout polls once: an event already received, or nothing.
        match tokio::time::timeout(Duration::ZERO, live.next()).await {
            Ok(followed) => {
                if let Followed::Event(event) = followed? {
                    batch.push(*event);
                }
            }
            Err(_) => break,
        }
    }
    Ok(batch)
}
