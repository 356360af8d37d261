//! Email for appointment reminders (`[reminders.email]`): one plain-text message per reminder
//! through the practice's SMTP server (lettre over tokio; STARTTLS or TLS with rustls and the
//! Web PKI roots, or a plain connection to a server on this host).
//!
//! Nothing here logs an address or a server's reply: a reply may quote the address. A failure
//! is described by its kind and SMTP code alone ([`SendError::kind`]).

use std::time::Duration;

use ehr_client::schedule::reminder::ReminderEmail;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailReminders, SmtpTls};
use crate::error::BillingError;

/// The SMTP client of the reminder emails.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

/// Why an email was not sent.
#[derive(Debug)]
pub enum SendError {
    /// The record's address is not an email address: it never will be sent.
    Address,
    /// The message could not be built.
    Message,
    /// The server could not be reached, or refused it.
    Smtp(lettre::transport::smtp::Error),
}

impl SendError {
    /// Whether trying again cannot help (the address is not one).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Address)
    }

    /// What went wrong, without the address or the server's words: a kind, and the SMTP reply
    /// code when there was one.
    pub fn kind(&self) -> (&'static str, Option<String>) {
        match self {
            Self::Address => ("invalid address", None),
            Self::Message => ("message", None),
            Self::Smtp(e) => {
                let kind = if e.is_permanent() {
                    "refused (permanent)"
                } else if e.is_transient() {
                    "refused (transient)"
                } else if e.is_timeout() {
                    "timeout"
                } else if e.is_tls() {
                    "tls"
                } else if e.is_response() {
                    "unexpected reply"
                } else if e.is_client() {
                    "client"
                } else {
                    "connection"
                };
                (kind, e.status().map(|code| code.to_string()))
            }
        }
    }
}

impl Mailer {
    /// The client for `config`, each connection bounded by `timeout`. Connects to nothing yet.
    pub fn new(config: &EmailReminders, timeout: Duration) -> Result<Self, BillingError> {
        let host = config.smtp_host.trim();
        let smtp = |e: lettre::transport::smtp::Error| {
            BillingError::Config(format!("reminders.email: {e}"))
        };
        let builder = match config.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(smtp)?,
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(smtp)?
            }
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(config.smtp_port).timeout(Some(timeout));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.0.clone()));
        }
        let from = config.from.parse::<Mailbox>().map_err(|_| {
            BillingError::Config("reminders.email.from must be an email address".to_owned())
        })?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Send `mail` to `to`, dated `at` (Unix seconds).
    pub async fn send(&self, to: &str, mail: &ReminderEmail, at: u64) -> Result<(), SendError> {
        let to = to
            .trim()
            .parse::<Mailbox>()
            .map_err(|_| SendError::Address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .date(std::time::UNIX_EPOCH + Duration::from_secs(at))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|_| SendError::Message)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(SendError::Smtp)
    }
}
