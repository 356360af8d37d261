//! `ehr-billing-bot`: membership plans, monthly invoices, reminders and receipts delivered as
//! NIP-17 direct messages, on-chain payment addresses from a watch-only BIP84 account, and
//! payment confirmation by an Esplora-compatible API or a signed webhook (DESIGN.md §7).
//!
//! The bot runs with its own agent key (`billing-bot` in the roster). It holds no chart key and
//! no epoch key, so it can read nothing clinical; the relay lets it read rosters, inbox relay
//! lists and what is addressed to it, and publish gift wraps only.
//!
//! [`Bot::start`] opens the database and checks the relay; [`Bot::serve`] serves the admin API
//! ([`admin`]) and the payment webhook ([`payments`]) and runs the scheduler: every `tick` the
//! month's billing ([`billing`], idempotent), invoice reminders, appointment reminders
//! ([`appointments`]), chain polling and a delivery round ([`delivery`]).

pub mod address;
pub mod admin;
pub mod appointments;
pub mod billing;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod error;
pub mod mailer;
pub mod messages;
pub mod money;
pub mod payments;
pub mod relay_policy;
pub mod relays;
pub mod store;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::{get, post};
use ehr_client::roster::Role;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::BillingError;

/// The billing bot: configuration, database, clock and relay connection.
#[derive(Debug)]
pub struct Bot {
    config: Config,
    store: store::Store,
    clock: Arc<dyn Clock>,
    relays: relays::Relays,
    http: reqwest::Client,
    /// The SMTP client of reminder emails, when `[reminders.email]` is configured.
    mailer: Option<mailer::Mailer>,
    wake: Notify,
    /// One delivery round at a time (the scheduler, `POST /admin/runs`).
    delivering: tokio::sync::Mutex<()>,
    public_url: OnceLock<String>,
}

impl Bot {
    /// Validate the configuration, open and migrate the database, connect to the relay and
    /// read the roster. A key that is not the roster's billing bot is reported, not refused
    /// (the roster may name it later), but the relay will accept nothing from it until then.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Arc<Self>, BillingError> {
        config.validate()?;
        let store = store::Store::open(&config.database_url, config.bitcoin.first_index).await?;
        let http = reqwest::Client::builder()
            .timeout(config.relay_timeout)
            .build()
            .map_err(|e| BillingError::Config(format!("HTTP client: {e}")))?;
        let mailer = config
            .reminders
            .email
            .as_ref()
            .map(|email| mailer::Mailer::new(email, config.relay_timeout))
            .transpose()?;
        let bot = Arc::new(Self {
            config,
            store,
            clock,
            relays: relays::Relays::new(),
            http,
            mailer,
            wake: Notify::new(),
            delivering: tokio::sync::Mutex::new(()),
            public_url: OnceLock::new(),
        });
        let own = bot.config.key.public_key();
        match bot.relays.role_of(&bot.config, &own).await? {
            Some(Role::BillingBot) => {}
            _ => tracing::warn!("the roster does not name this key as the billing bot"),
        }
        Ok(bot)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database.
    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// Now, by the bot's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The relay connections.
    pub fn relays(&self) -> &relays::Relays {
        &self.relays
    }

    pub(crate) async fn delivery_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.delivering.lock().await
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn mailer(&self) -> Option<&mailer::Mailer> {
        self.mailer.as_ref()
    }

    /// Ask the scheduler for a delivery round now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The URL the admin API is reached at (NIP-98 `u` tags start with it).
    pub fn public_url(&self) -> &str {
        self.public_url
            .get()
            .map(String::as_str)
            .or(self.config.public_url.as_deref())
            .unwrap_or_default()
    }

    /// One round of everything: the current month's billing, invoice and appointment
    /// reminders, chain polling and deliveries. Each part's failure is logged and the others still run.
    pub async fn tick(&self) {
        let period = money::Period::containing(self.now());
        if let Err(e) = self.run_billing(period).await {
            tracing::error!(error = %e, "billing run failed");
        }
        if let Err(e) = self.send_reminders().await {
            tracing::error!(error = %e, "reminders failed");
        }
        if let Err(e) = self.send_appointment_reminders().await {
            tracing::error!(error = %e, "appointment reminders failed");
        }
        if let Err(e) = self.poll_chain().await {
            tracing::warn!(error = %e, "chain polling failed");
        }
        self.deliver_logged().await;
    }

    /// A delivery round whose failure is logged.
    async fn deliver_logged(&self) {
        if let Err(e) = self.deliver_due().await {
            tracing::warn!(error = %e, "delivery round failed");
        }
    }

    /// The HTTP routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/admin/plans", get(admin::plans).post(admin::create_plan))
            .route(
                "/admin/members",
                get(admin::members).post(admin::add_member),
            )
            .route("/admin/members/{id}", get(admin::member))
            .route("/admin/members/{id}/leave", post(admin::leave))
            .route("/admin/members/{id}/visits", post(admin::add_visit))
            .route("/admin/invoices", get(admin::invoices))
            .route("/admin/invoices/{id}", get(admin::invoice))
            .route("/admin/invoices/{id}/payments", post(admin::mark_payment))
            .route("/admin/runs", post(admin::run))
            .route("/admin/reports/outstanding", get(admin::outstanding))
            .route("/admin/reports/paid", get(admin::paid))
            .route("/webhook/payment", post(payments::webhook))
            .fallback(|| async { BillingError::NotFound("no such endpoint") })
            .method_not_allowed_fallback(|| async {
                BillingError::BadRequest("this endpoint does not take this method".to_owned())
            })
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(axum::middleware::from_fn_with_state(
                "billing-bot",
                ehr_service::metrics::observe,
            ))
            .with_state(Arc::clone(self))
    }

    /// Serve the admin API and the webhook on `listener`, and run the scheduler, until
    /// `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BillingError> {
        let bound = format!("http://{}", listener.local_addr()?);
        let _ = self
            .public_url
            .set(self.config.public_url.clone().unwrap_or(bound));
        let scheduler = tokio::spawn(tracing::Instrument::in_current_span(
            Arc::clone(&self).schedule(),
        ));
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        scheduler.abort();
        self.relays.close().await;
        result.map_err(BillingError::from)
    }

    /// Every `tick` a full round; between ticks, a delivery round whenever woken.
    async fn schedule(self: Arc<Self>) {
        let tick = self.config.tick;
        loop {
            if tick.is_zero() {
                self.wake.notified().await;
                self.deliver_logged().await;
                continue;
            }
            self.tick().await;
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                () = self.wake.notified() => self.deliver_logged().await,
            }
        }
    }
}

/// Start the bot with the system clock and serve on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    Bot::start(config, Arc::new(SystemClock))
        .await?
        .serve(listener, shutdown)
        .await
}
