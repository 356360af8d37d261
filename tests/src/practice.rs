//! A practice on a real relay, built with `ehr-client`'s library (no CLI): a root key, a doctor,
//! the FHIR gateway agent, and patients whose charts the doctor writes. For the end-to-end
//! tests and benchmarks of the services that read the relay.

use std::time::Duration;

use anyhow::{Context, bail};
use ehr_client::access::PracticeView;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::Resource;
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::practice;
use ehr_client::roster::Role;
use ehr_client::rotation::{self, PlanError, RosterChange};
use nostr::prelude::{Event, Filter, PublicKey, Timestamp};

/// A relay serving a practice, in this process, on 127.0.0.1.
pub struct TestPractice {
    /// The practice root key.
    pub root: Identity,
    /// A doctor on the roster.
    pub doctor: Identity,
    /// The FHIR gateway agent on the roster.
    pub gateway: Identity,
    /// `ws://127.0.0.1:port`.
    pub relay_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ehr_relay::RelayError>>,
    connection: RelayClient,
    _data: tempfile::TempDir,
}

impl std::fmt::Debug for TestPractice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPractice")
            .field("relay_url", &self.relay_url)
            .finish_non_exhaustive()
    }
}

impl TestPractice {
    /// Start a relay, publish the genesis roster and a roster with the doctor and the gateway,
    /// and the epoch grants.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// [`TestPractice::start`] with the relay's configuration changed by `configure`.
    pub async fn start_with(
        configure: impl FnOnce(&mut ehr_relay::RelayConfig),
    ) -> anyhow::Result<Self> {
        let root = Identity::generate();
        let doctor = Identity::generate();
        let gateway = Identity::generate();
        let data = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let relay_url = format!("ws://{}", listener.local_addr()?);
        let mut config = ehr_relay::RelayConfig::new(
            root.public_key(),
            format!("sqlite://{}", data.path().join("relay.db").display()),
        );
        configure(&mut config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(ehr_relay::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        let connection = RelayClient::connect(&relay_url, &root, Duration::from_secs(30)).await?;
        let practice = Self {
            root,
            doctor,
            gateway,
            relay_url,
            stop: Some(stop),
            task,
            connection,
            _data: data,
        };
        let now = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
        let (genesis, _) = rotation::genesis(&practice.root, None, now)?;
        practice.publish(&genesis).await?;
        for (who, role) in [
            (practice.doctor.public_key(), Role::Doctor),
            (practice.gateway.public_key(), Role::FhirGateway),
        ] {
            let change = RosterChange::Add {
                pubkey: who,
                role,
                name: None,
            };
            practice
                .operate(&practice.root, now, |state| {
                    practice::change_roster(state, &change)
                })
                .await?;
        }
        Ok(practice)
    }

    /// Publish events as the root; every one must be accepted.
    pub async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        for (event, outcome) in events.iter().zip(self.connection.publish(events).await?) {
            if let PublishOutcome::Refused { message } = outcome {
                bail!("the relay refused kind {}: {message}", event.kind.as_u16());
            }
        }
        Ok(())
    }

    /// The relay's database URL (for a Blossom server that reads the practice's members).
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self._data.path().join("relay.db").display())
    }

    /// The root's own relay connection.
    pub fn connection(&self) -> &RelayClient {
        &self.connection
    }

    /// Everything on the relay (the root reads all).
    pub async fn events(&self) -> anyhow::Result<Vec<Event>> {
        Ok(self.connection.fetch_all(Filter::new(), 5000).await?)
    }

    /// Plan one practice operation as `actor` from everything on the relay, and publish it.
    async fn operate(
        &self,
        actor: &Identity,
        now: Timestamp,
        operation: impl FnOnce(&practice::State<'_>) -> Result<practice::Plan, PlanError>,
    ) -> anyhow::Result<()> {
        let events = self.events().await?;
        let state = practice::State {
            root: self.root.public_key(),
            events: &events,
            actor,
            now,
        };
        self.publish(operation(&state)?.events()).await
    }

    /// The doctor's view, and the events it was built from.
    pub async fn doctor_view(&self) -> anyhow::Result<(PracticeView, Vec<Event>)> {
        let events = self.events().await?;
        let view = PracticeView::load(&self.root.public_key(), events.iter(), &self.doctor);
        Ok((view, events))
    }

    /// Put a service agent (or staff member) on the roster, signed by the root.
    pub async fn add_member(&self, who: &PublicKey, role: Role) -> anyhow::Result<()> {
        let change = RosterChange::Add {
            pubkey: *who,
            role,
            name: None,
        };
        let now = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(60));
        self.operate(&self.root, now, |state| {
            practice::change_roster(state, &change)
        })
        .await
    }

    /// End a member's authority now, signed by the root (a staff revocation starts a new epoch,
    /// whose grants follow, and every chart key rotates).
    pub async fn revoke_member(&self, who: &PublicKey) -> anyhow::Result<()> {
        let change = RosterChange::Revoke { pubkey: *who };
        self.operate(&self.root, Timestamp::now(), |state| {
            practice::change_roster(state, &change)
        })
        .await
    }

    /// Enrol a new patient (a first chart key under the current epoch).
    pub async fn enrol(&self, patient: &PublicKey) -> anyhow::Result<()> {
        self.operate(&self.doctor, Timestamp::now(), |state| {
            practice::enrol_patient(state, patient)
        })
        .await
    }

    /// Admit a patient to the relay (NIP-86 `allowpubkey`, by the doctor), so she can read her
    /// own records with her key.
    pub async fn admit(&self, patient: &PublicKey) -> anyhow::Result<()> {
        ehr_client::management::ManagementClient::for_relay(&self.relay_url)?
            .call(
                &self.doctor,
                "allowpubkey",
                vec![serde_json::Value::String(patient.to_hex())],
            )
            .await?;
        Ok(())
    }

    /// The doctor writes `resource` into `patient`'s chart.
    pub async fn write(
        &self,
        patient: &PublicKey,
        kind: ClinicalKind,
        resource: Resource,
    ) -> anyhow::Result<Event> {
        let (view, _) = self.doctor_view().await?;
        let builder = ClinicalEventBuilder::new(kind, resource, *patient)?;
        let event = view
            .sign_record(&self.doctor, builder)
            .context("no write key")?
            .event()
            .clone();
        self.publish(std::slice::from_ref(&event)).await?;
        Ok(event)
    }

    /// Bring every chart key in line with the consents on record (wraps to the gateway for
    /// consenting patients, a rotation away from it after a withdrawal).
    pub async fn maintain_keys(&self) -> anyhow::Result<()> {
        self.operate(&self.doctor, Timestamp::now(), practice::maintain)
            .await
    }

    /// Stop the relay.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}
