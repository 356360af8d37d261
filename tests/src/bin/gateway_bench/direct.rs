//! Connect-per-request: `$everything` answered the reference's way, with `ehr-client`, for
//! comparison with the warm gateway. It leaves out the gateway's API-key check, its audit
//! commit and the HTTP round trip, so the ratio it gives is a lower bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ehr_client::access::PracticeView;
use ehr_client::fhir as f;
use ehr_client::keys::ChartKey;
use ehr_client::kinds;
use ehr_client::net::RelayClient;
use ehr_fhir_gateway::routes;
use ehr_fhir_gateway::served::{PatientIndex, ServedResource};
use ehr_tests::bench::Rng;
use nostr::prelude::{Filter, Kind, PublicKey};

use crate::serve::Answers;
use crate::{CLIENT_ID, Cli, PAGE, Practice, clinical_filter};

/// `--direct-requests` whole charts for random patients, each timed from connecting to the
/// Bundle's JSON.
pub async fn direct_figures(
    cli: &Cli,
    practice: &Practice,
    relay_url: &str,
    base: &str,
) -> anyhow::Result<Answers> {
    let mut rng = Rng::new(4);
    // One untimed run, which also checks the answer against the chart size.
    let first = practice.patients.first().context("no patients")?;
    let (_, entries) = direct_everything(practice, relay_url, first, base).await?;
    ensure!(
        entries == cli.events_per_patient - 1,
        "connect-per-request built {entries} entries, expected {}",
        cli.events_per_patient - 1
    );
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..cli.direct_requests.max(1) {
        let patient = rng.pick(&practice.patients).context("no patients")?;
        let started = Instant::now();
        let (body, _) = direct_everything(practice, relay_url, patient, base).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        bytes += body.len();
    }
    Ok(Answers::of(times, bytes))
}

/// `$everything` as the reference answers it: a new authenticated WebSocket, one REQ for the
/// rosters, the patient's wraps and chart, the chart key unwrapped, every event verified and
/// decrypted, the chart folded and served as the gateway would, the connection closed.
/// Returns the Bundle as sent, and its number of entries.
async fn direct_everything(
    practice: &Practice,
    relay_url: &str,
    patient: &PublicKey,
    base: &str,
) -> anyhow::Result<(String, usize)> {
    let gateway = &practice.gateway;
    let client = RelayClient::connect(relay_url, gateway, Duration::from_secs(60)).await?;
    let fetched = client
        .fetch(vec![
            Filter::new().kind(Kind::Custom(kinds::ROSTER)),
            Filter::new()
                .kind(Kind::Custom(kinds::CHART_KEY_WRAP))
                .pubkey(*patient),
            clinical_filter().pubkey(*patient).limit(PAGE),
        ])
        .await;
    client.disconnect().await;
    let events = fetched?;
    let view = PracticeView::load(&practice.root.public_key(), events.iter(), gateway);
    let opened = view.open(events.iter(), Some(patient));
    let index = PatientIndex::build(patient, &opened.records);
    let newest = view.newest_version(patient);
    let held = view.latest_chart_key(patient).map(ChartKey::version);
    ensure!(
        held.is_some() && held == newest && index.sharing.allows(CLIENT_ID),
        "connect-per-request: the patient is not served"
    );
    // The Patient first, then the rest newest first, as routes.rs answers.
    let is_patient = |r: &&Arc<ServedResource>| r.resource_type == f::ResourceType::Patient;
    let everything = (index.resources.iter().filter(is_patient))
        .chain(index.resources.iter().filter(|r| !is_patient(r)));
    let entries: Vec<Arc<ServedResource>> = everything.cloned().collect();
    let count = entries.len();
    let links = vec![("self", format!("{base}/Patient/{}/$everything", index.id))];
    let bundle = routes::bundle(base, count, links, &entries, &[]);
    Ok((serde_json::to_string(&bundle)?, count))
}
