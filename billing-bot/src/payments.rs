//! Payments: recorded by staff, confirmed on chain through an Esplora-compatible API, or
//! announced by a payment provider's webhook signed with HMAC-SHA256. Whatever the source, the
//! payment, the invoice's new status and the receipt commit together, and a payment already
//! recorded (same method and reference) changes nothing.
//!
//! **Webhook.** `POST /webhook/payment` with `X-Billing-Timestamp: <unix seconds>` and
//! `X-Billing-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. The timestamp must be
//! within `webhook.tolerance_seconds` of now, the signature is compared in constant time
//! (`hmac`'s `verify_slice`), and the body's `id` is claimed once in the same transaction as the
//! payment: a replay, an unsigned or a stale request changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::Bot;
use crate::error::BillingError;
use crate::money::check_amount;
use crate::store::ledger::{NewPayment, PaymentOutcome};
use crate::store::outbox::Purpose;
use crate::store::{Bind, execute};

/// The webhook's timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-billing-timestamp";
/// The webhook's signature header.
pub const SIGNATURE_HEADER: &str = "x-billing-signature";

/// The signature header value of `body` sent at `timestamp` (for providers and tests).
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<String, BillingError> {
    let mac = webhook_mac(secret, timestamp, body)?;
    Ok(format!("v1={}", hex::encode(mac.finalize().into_bytes())))
}

fn webhook_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, BillingError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|_| BillingError::Config("the webhook secret is unusable".to_owned()))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// A provider's payment notice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    /// The notice's own id: claimed once.
    id: String,
    /// The invoice number.
    invoice: i64,
    /// Minor units received.
    amount_minor: i64,
    /// The provider's payment id (unique per payment).
    reference: String,
}

impl Bot {
    /// Record a payment, its effect on the invoice and, when it settles the invoice, the receipt.
    pub async fn record_payment(
        &self,
        payment: NewPayment<'_>,
    ) -> Result<PaymentOutcome, BillingError> {
        check_amount("amount_minor", payment.amount_minor, false)?;
        let mut tx = self.store().begin().await?;
        let outcome = self.payment_in(&mut tx, payment).await?;
        tx.commit().await?;
        if matches!(outcome, PaymentOutcome::Recorded { paid: true, .. }) {
            self.wake();
        }
        Ok(outcome)
    }

    async fn payment_in(
        &self,
        tx: &mut crate::store::Tx,
        payment: NewPayment<'_>,
    ) -> Result<PaymentOutcome, BillingError> {
        let now = self.now();
        let outcome = self.store().record_payment_in(tx, payment, now).await?;
        if let PaymentOutcome::Recorded { paid: true, .. } = outcome {
            self.queue_about(tx, payment.invoice_id, Purpose::Receipt)
                .await?;
            tracing::info!(
                invoice = payment.invoice_id,
                method = payment.method,
                "invoice paid"
            );
        }
        Ok(outcome)
    }

    /// Check a webhook and record its payment; see the module documentation.
    pub async fn accept_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PaymentOutcome, BillingError> {
        let secret = self
            .config()
            .webhook_secret
            .as_ref()
            .ok_or(BillingError::NotFound("no webhook is configured"))?;
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(timestamp), Some(signature)) =
            (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER))
        else {
            return Err(BillingError::Unsigned("the webhook is not signed"));
        };
        let timestamp: i64 = timestamp
            .parse()
            .map_err(|_| BillingError::Unsigned("the webhook timestamp is not a number"))?;
        if timestamp.abs_diff(self.now()) > self.config().webhook_tolerance.unsigned_abs() {
            return Err(BillingError::Unsigned(
                "the webhook timestamp is too old or too new",
            ));
        }
        let signature = signature
            .strip_prefix("v1=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(BillingError::Unsigned("the webhook signature is malformed"))?;
        webhook_mac(&secret.0, timestamp, body)?
            .verify_slice(&signature)
            .map_err(|_| BillingError::Unsigned("the webhook signature does not verify"))?;
        let notice: Notice = crate::admin::json_body(body)?;
        check_amount("amount_minor", notice.amount_minor, false)?;
        if notice.id.is_empty()
            || notice.id.len() > 200
            || notice.reference.is_empty()
            || notice.reference.len() > 200
        {
            return Err(BillingError::BadRequest(
                "id and reference must have 1 to 200 characters".to_owned(),
            ));
        }
        let mut tx = self.store().begin().await?;
        let claimed = execute(
            self.store(),
            &mut tx,
            "INSERT INTO webhook_events (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            &[Bind::Text(&notice.id), Bind::Int(self.now())],
        )
        .await?;
        if claimed == 0 {
            return Ok(PaymentOutcome::Duplicate);
        }
        let outcome = self
            .payment_in(
                &mut tx,
                NewPayment {
                    invoice_id: notice.invoice,
                    amount_minor: notice.amount_minor,
                    method: "webhook",
                    reference: &notice.reference,
                    recorded_by: "webhook",
                },
            )
            .await?;
        tx.commit().await?;
        self.wake();
        Ok(outcome)
    }

    /// Look at every open invoice's address through the Esplora API; an address that received
    /// at least the invoice's satoshis, confirmed `min_confirmations` times, pays it. Returns
    /// the invoices paid.
    pub async fn poll_chain(&self) -> Result<Vec<i64>, BillingError> {
        let config = self.config();
        let Some(base) = &config.bitcoin.esplora_url else {
            return Ok(Vec::new());
        };
        let tip: u64 = self
            .esplora(&format!("{base}/blocks/tip/height"))
            .await?
            .text()
            .await
            .map_err(chain_error)?
            .trim()
            .parse()
            .map_err(|_| BillingError::Chain("the tip height is not a number".into()))?;
        let mut paid = Vec::new();
        for invoice in self.store().open_invoices().await? {
            let txs: Vec<EsploraTx> = self
                .esplora(&format!("{base}/address/{}/txs", invoice.address))
                .await?
                .json()
                .await
                .map_err(chain_error)?;
            let received: u64 = txs
                .iter()
                .filter(|tx| {
                    tx.status.confirmed
                        && tx.status.block_height.is_some_and(|h| {
                            tip.saturating_sub(h) + 1 >= u64::from(config.bitcoin.min_confirmations)
                        })
                })
                .flat_map(|tx| &tx.vout)
                .filter(|out| out.scriptpubkey_address.as_deref() == Some(invoice.address.as_str()))
                .map(|out| out.value)
                .sum();
            if received < u64::try_from(invoice.amount_sat).unwrap_or(u64::MAX) {
                continue;
            }
            let outcome = self
                .record_payment(NewPayment {
                    invoice_id: invoice.id,
                    amount_minor: invoice
                        .amount_minor
                        .saturating_sub(invoice.paid_minor)
                        .max(1),
                    method: "bitcoin",
                    reference: &invoice.address,
                    recorded_by: "esplora",
                })
                .await;
            match outcome {
                Ok(PaymentOutcome::Recorded { .. }) => paid.push(invoice.id),
                Ok(PaymentOutcome::Duplicate) | Err(BillingError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(paid)
    }

    /// A successful answer of the Esplora API to `GET url`.
    async fn esplora(&self, url: &str) -> Result<reqwest::Response, BillingError> {
        self.http()
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(chain_error)
    }
}

/// A chain API failure, without the URL (it names an invoice's address).
fn chain_error(error: reqwest::Error) -> BillingError {
    BillingError::Chain(error.without_url().to_string())
}

#[derive(Debug, Deserialize)]
struct EsploraTx {
    status: EsploraStatus,
    #[serde(default)]
    vout: Vec<EsploraOut>,
}

#[derive(Debug, Deserialize)]
struct EsploraStatus {
    confirmed: bool,
    #[serde(default)]
    block_height: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct EsploraOut {
    #[serde(default)]
    scriptpubkey_address: Option<String>,
    value: u64,
}

/// `POST /webhook/payment`.
pub async fn webhook(State(bot): State<Arc<Bot>>, headers: HeaderMap, body: Bytes) -> Response {
    match bot.accept_webhook(&headers, &body).await {
        Ok(PaymentOutcome::Recorded { payment_id, paid }) => (
            StatusCode::OK,
            axum::Json(
                json!({"status": "recorded", "payment_id": payment_id, "invoice_paid": paid}),
            ),
        )
            .into_response(),
        Ok(PaymentOutcome::Duplicate) => {
            (StatusCode::OK, axum::Json(json!({"status": "duplicate"}))).into_response()
        }
        Err(e) => e.into_response(),
    }
}
