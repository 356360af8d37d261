//! Run the services in one process: bind every listener first (so each service knows the
//! others' URLs, ports `:0` included), start the relay and Blossom, then the services that read
//! the relay. A stop runs in reverse: the readers stop first, so what they still write (the
//! gateway's audit events) reaches the relay, and the relay stops last, after committing every
//! write in flight and closing its subscriptions.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::config::{Service, StackConfig};
use crate::error::StackError;

/// Where each running service answers.
#[derive(Debug, Clone, Default)]
pub struct Urls {
    /// The relay, `ws://...` (or its `public_url`).
    pub relay: String,
    /// Blossom's base URL.
    pub blossom: String,
    /// The FHIR base (`.../fhir`), if the gateway runs.
    pub fhir: Option<String>,
    /// The billing bot's admin API, if it runs.
    pub billing: Option<String>,
    /// The portal, if it runs.
    pub portal: Option<String>,
    /// The clinic app, if it runs.
    pub clinic: Option<String>,
    /// `/metrics`, if switched on.
    pub metrics: Option<String>,
}

impl Urls {
    /// One line per running service.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!("relay            {}", self.relay)];
        if !self.blossom.is_empty() {
            lines.push(format!("blossom          {}", self.blossom));
        }
        for (name, url) in [
            ("fhir gateway    ", &self.fhir),
            ("billing bot     ", &self.billing),
            ("portal          ", &self.portal),
            ("clinic app      ", &self.clinic),
            ("metrics         ", &self.metrics),
        ] {
            if let Some(url) = url {
                lines.push(format!("{name} {url}"));
            }
        }
        lines.join("\n")
    }
}

/// What a browser app (portal, clinic app) needs of this stack: the connection string to offer
/// (a configured, signed one is kept; the apps refuse unsigned ones, so the generated one only
/// says what to configure), and its Blossom and relay origins in the CSP (documents come from
/// that Blossom; the relay's NIP-11 document, its page size, over HTTP).
fn offer_stack(app: &mut ehr_web::AppConfig, connection: &str, urls: &Urls) {
    if app.connection.is_none() {
        app.connection = Some(connection.to_owned());
    }
    if !urls.blossom.is_empty() && !app.blossom.contains(&urls.blossom) {
        app.blossom.push(urls.blossom.clone());
    }
    let info = urls
        .relay
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    let info = info.trim_end_matches('/').to_owned();
    if info.starts_with("http") && !app.relays.contains(&info) {
        app.relays.push(info);
    }
}

/// A running service: its name, whether it holds data (stops last), and its task.
type Task = (&'static str, bool, JoinHandle<()>);

/// A service that stopped with an error.
type Failure = (&'static str, StackError);

/// The running stack.
#[derive(Debug)]
pub struct Stack {
    config: StackConfig,
    services: BTreeSet<Service>,
    listeners: Vec<(Service, TcpListener)>,
    metrics_listener: Option<TcpListener>,
    urls: Urls,
    stop_storage: watch::Sender<bool>,
    stop_readers: watch::Sender<bool>,
    tasks: Vec<Task>,
    gateway_snapshots: Option<watch::Receiver<Arc<ehr_fhir_gateway::sync::Snapshot>>>,
    failures: (
        mpsc::UnboundedSender<Failure>,
        mpsc::UnboundedReceiver<Failure>,
    ),
}

async fn bind(address: SocketAddr, what: &str) -> Result<TcpListener, StackError> {
    TcpListener::bind(address)
        .await
        .map_err(|e| StackError::io(format!("{what}: cannot listen on {address}"), e))
}

fn local(listener: &TcpListener, what: &str) -> Result<SocketAddr, StackError> {
    listener
        .local_addr()
        .map_err(|e| StackError::io(format!("{what}: no local address"), e))
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl Stack {
    /// Bind a listener for each of `services` and work out every URL; nothing runs yet.
    pub async fn bind(
        config: StackConfig,
        services: BTreeSet<Service>,
    ) -> Result<Self, StackError> {
        Self::with_listeners(config, services, Vec::new()).await
    }

    /// [`Stack::bind`], using `bound` listeners for their services instead of binding (for a
    /// caller that must know a URL before the configuration exists, as a test on port 0 does).
    pub async fn with_listeners(
        mut config: StackConfig,
        services: BTreeSet<Service>,
        mut bound: Vec<(Service, TcpListener)>,
    ) -> Result<Self, StackError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StackError::io(format!("cannot create {}", config.data_dir.display()), e)
        })?;
        let mut listeners = Vec::new();
        let mut urls = Urls::default();
        for service in &services {
            let listener = match bound.iter().position(|(s, _)| s == service) {
                Some(at) => bound.swap_remove(at).1,
                None => {
                    let address = config.listen(*service).ok_or_else(|| {
                        StackError::Config(format!("{} is disabled", service.name()))
                    })?;
                    bind(address, service.name()).await?
                }
            };
            let bound = local(&listener, service.name())?;
            match service {
                Service::Relay => {
                    urls.relay = config
                        .relay
                        .public_url
                        .clone()
                        .unwrap_or_else(|| format!("ws://{bound}"));
                }
                Service::Blossom => {
                    urls.blossom = config
                        .blossom
                        .public_url
                        .clone()
                        .unwrap_or_else(|| format!("http://{bound}"));
                }
                Service::FhirGateway => {
                    urls.fhir = config
                        .fhir_gateway
                        .as_ref()
                        .and_then(|c| c.public_base_url.clone())
                        .or_else(|| Some(format!("http://{bound}/fhir")));
                }
                Service::BillingBot => {
                    urls.billing = config
                        .billing_bot
                        .as_ref()
                        .and_then(|c| c.public_url.clone())
                        .or_else(|| Some(format!("http://{bound}")));
                }
                Service::Portal => urls.portal = Some(format!("http://{bound}")),
                Service::Clinic => urls.clinic = Some(format!("http://{bound}")),
            }
            listeners.push((*service, listener));
        }
        if urls.relay.is_empty() {
            // A split deployment without the relay: the readers use the configured URL.
            urls.relay = config
                .relay
                .public_url
                .clone()
                .unwrap_or_else(|| format!("ws://{}", config.relay.listen));
        }
        // Port 0, or no public URL: the readers connect where the relay really listens.
        if config.follow_relay_listener.contains(&Service::FhirGateway)
            && let Some(c) = config.fhir_gateway.as_mut()
        {
            c.relay_url.clone_from(&urls.relay);
        }
        if config.follow_relay_listener.contains(&Service::BillingBot)
            && let Some(c) = config.billing_bot.as_mut()
        {
            c.relay_url.clone_from(&urls.relay);
        }
        for app in [config.portal.as_mut(), config.clinic.as_mut()]
            .into_iter()
            .flatten()
        {
            let connection =
                ehr_client::connection::Connection::new(config.practice, urls.relay.clone())
                    .map_err(|e| StackError::Config(format!("[relay]: {e}")))?;
            offer_stack(app, &connection.to_string(), &urls);
        }
        // Both apps call their own stack's gateway: the clinic app's administration
        // (facilities, catch-up status, break-glass accesses), the portal's SMART Health Links.
        for app in [config.portal.as_mut(), config.clinic.as_mut()]
            .into_iter()
            .flatten()
            .filter(|app| app.gateway.is_none())
        {
            app.gateway.clone_from(&urls.fhir);
        }
        let metrics_listener = match config.metrics {
            Some(address) => {
                let listener = bind(address, "metrics").await?;
                urls.metrics = Some(format!("http://{}/metrics", local(&listener, "metrics")?));
                Some(listener)
            }
            None => None,
        };
        let (stop_storage, _) = watch::channel(false);
        let (stop_readers, _) = watch::channel(false);
        Ok(Self {
            config,
            services,
            listeners,
            metrics_listener,
            urls,
            stop_storage,
            stop_readers,
            tasks: Vec::new(),
            gateway_snapshots: None,
            failures: mpsc::unbounded_channel(),
        })
    }

    /// Where each service answers.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The configuration the stack runs.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    fn take_listener(&mut self, service: Service) -> Option<TcpListener> {
        let at = self.listeners.iter().position(|(s, _)| *s == service)?;
        Some(self.listeners.swap_remove(at).1)
    }

    /// Run `service` in a task inside its span; a failure is reported to [`Stack::run_until`].
    fn spawn<F>(&mut self, name: &'static str, holds_data: bool, run: F)
    where
        F: Future<Output = Result<(), StackError>> + Send + 'static,
    {
        let failures = self.failures.0.clone();
        let span = tracing::info_span!("service", name);
        let task = tokio::spawn(
            async move {
                if let Err(error) = run.await {
                    tracing::error!(%error, "service stopped with an error");
                    let _ = failures.send((name, error));
                }
            }
            .instrument(span),
        );
        self.tasks.push((name, holds_data, task));
    }

    /// Start the relay and Blossom (those of them this process runs).
    pub async fn start_storage(&mut self) -> Result<(), StackError> {
        // Blossom opens the relay's database too, and two migrators on one SQLite file race
        // ("table events already exists"): the relay's schema is brought up to date first.
        let runs = |service| self.listeners.iter().any(|(s, _)| *s == service);
        if runs(Service::Relay) && runs(Service::Blossom) {
            drop(ehr_relay::store::Store::open(&self.config.relay.database).await?);
        }
        if let Some(listener) = self.take_listener(Service::Relay) {
            let config = self.config.relay.clone();
            let stop = stopped(self.stop_storage.subscribe());
            self.spawn("relay", true, async move {
                Ok(ehr_relay::serve(listener, config, stop).await?)
            });
        }
        if let Some(listener) = self.take_listener(Service::Blossom) {
            let config = self.config.blossom.clone();
            let stop = stopped(self.stop_storage.subscribe());
            self.spawn("blossom", true, async move {
                Ok(ehr_blossom_server::serve(listener, config, stop).await?)
            });
        }
        if let Some(listener) = self.metrics_listener.take() {
            ehr_service::metrics::enable();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(ehr_service::metrics::handler),
            );
            let stop = stopped(self.stop_storage.subscribe());
            self.spawn("metrics", true, async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                    .map_err(|e| StackError::io("metrics", e))
            });
        }
        Ok(())
    }

    /// Offer `connection` (a signed connection string) on the login pages of the portal and the
    /// clinic app; call before [`Stack::start_readers`].
    pub fn set_app_connection(&mut self, connection: String) {
        let apps = [self.config.portal.as_mut(), self.config.clinic.as_mut()];
        for app in apps.into_iter().flatten() {
            app.connection = Some(connection.clone());
        }
    }

    /// Start the services that read the relay: the gateway (after its catch-up, so its URL
    /// answers at once), the billing bot, the portal and the clinic app.
    pub async fn start_readers(&mut self) -> Result<(), StackError> {
        if let (Some(listener), Some(config)) = (
            self.take_listener(Service::FhirGateway),
            self.config.fhir_gateway.clone(),
        ) {
            let span = tracing::info_span!("service", name = Service::FhirGateway.name());
            let gateway = ehr_fhir_gateway::Gateway::start(config)
                .instrument(span)
                .await?;
            self.gateway_snapshots = Some(gateway.snapshots());
            let stop = stopped(self.stop_readers.subscribe());
            self.spawn(Service::FhirGateway.name(), false, async move {
                Ok(gateway.serve(listener, stop).await?)
            });
        }
        if let (Some(listener), Some(config)) = (
            self.take_listener(Service::BillingBot),
            self.config.billing_bot.clone(),
        ) {
            let span = tracing::info_span!("service", name = Service::BillingBot.name());
            let bot = ehr_billing_bot::Bot::start(config, Arc::new(ehr_billing_bot::SystemClock))
                .instrument(span)
                .await?;
            let stop = stopped(self.stop_readers.subscribe());
            self.spawn(Service::BillingBot.name(), false, async move {
                Ok(bot.serve(listener, stop).await?)
            });
        }
        if let (Some(listener), Some(config)) = (
            self.take_listener(Service::Portal),
            self.config.portal.clone(),
        ) {
            let stop = stopped(self.stop_readers.subscribe());
            self.spawn(Service::Portal.name(), false, async move {
                Ok(ehr_portal::serve(listener, config, stop).await?)
            });
        }
        if let (Some(listener), Some(config)) = (
            self.take_listener(Service::Clinic),
            self.config.clinic.clone(),
        ) {
            let stop = stopped(self.stop_readers.subscribe());
            self.spawn(Service::Clinic.name(), false, async move {
                Ok(ehr_clinic::serve(listener, config, stop).await?)
            });
        }
        Ok(())
    }

    /// The patients the gateway serves, as they change (once it runs).
    pub fn gateway_snapshots(
        &self,
    ) -> Option<watch::Receiver<Arc<ehr_fhir_gateway::sync::Snapshot>>> {
        self.gateway_snapshots.clone()
    }

    /// The services this stack runs.
    pub fn services(&self) -> &BTreeSet<Service> {
        &self.services
    }

    /// Run until `shutdown` resolves or a service fails, then stop everything in order.
    /// Returns the first service failure, if any.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), StackError> {
        let failure = tokio::select! {
            () = shutdown => None,
            failed = self.failures.1.recv() => failed,
        };
        if let Some((service, _)) = &failure {
            tracing::error!(service, "stopping the stack after a failure");
        }
        self.stop().await;
        match failure {
            Some((_, error)) => Err(error),
            None => Ok(()),
        }
    }

    /// Stop the readers, then the relay and Blossom, and wait for each to finish.
    pub async fn stop(&mut self) {
        let _ = self.stop_readers.send(true);
        let (storage, readers): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition(|(_, holds_data, _)| *holds_data);
        for (_, _, task) in readers {
            let _ = task.await;
        }
        let _ = self.stop_storage.send(true);
        for (_, _, task) in storage {
            let _ = task.await;
        }
        tracing::info!("stack stopped");
    }
}
