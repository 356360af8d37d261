//! Invoices, payments and reports. Invoices are created by the billing run
//! ([`crate::billing`]); payments are recorded here, inside the caller's transaction so that the
//! receipt commits with them.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;

use super::{Bind, Store, Tx, execute, fetch_all, fetch_optional, int, opt_int, opt_text, text};
use crate::address::bip21;
use crate::error::BillingError;
use crate::money::Period;

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// What it is for (written by the bot, never free text from a request).
    pub description: String,
    /// Minor units.
    pub amount_minor: i64,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    /// The invoice number.
    pub id: i64,
    /// The household payer it is addressed to.
    pub member_id: i64,
    /// The payer's public key (hex): where its messages go.
    pub recipient: String,
    /// `YYYY-MM`.
    pub period: String,
    /// The total, in minor units.
    pub amount_minor: i64,
    /// The total in satoshis at the rate it was issued at.
    pub amount_sat: i64,
    /// Paid so far, in minor units.
    pub paid_minor: i64,
    /// `open` or `paid`.
    pub status: String,
    /// Its own receive address.
    pub address: String,
    /// Its BIP84 receive index.
    pub address_index: i64,
    /// `bitcoin:<address>?amount=...&label=...`.
    pub bip21: String,
    /// The optional pay link.
    pub pay_link: Option<String>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub due_at: i64,
    /// Reminders sent so far.
    pub reminders_sent: i64,
    /// Unix seconds, once paid.
    pub paid_at: Option<i64>,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// What recording a payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Recorded; `paid` when it settled the invoice.
    Recorded {
        /// The payment's id.
        payment_id: i64,
        /// Whether the invoice is now paid.
        paid: bool,
    },
    /// The same (method, reference) was recorded before: nothing changed.
    Duplicate,
}

/// A payment to record.
#[derive(Debug, Clone, Copy)]
pub struct NewPayment<'a> {
    /// The invoice.
    pub invoice_id: i64,
    /// Minor units.
    pub amount_minor: i64,
    /// `bitcoin`, `webhook`, `cash`, `card`, `check`, `transfer` or `other`.
    pub method: &'a str,
    /// The payment's unique reference within its method (txid, provider id, receipt number).
    pub reference: &'a str,
    /// Who recorded it (a staff key, `esplora`, `webhook`).
    pub recorded_by: &'a str,
}

const INVOICE_COLUMNS: &str = "i.id, i.member_id, m.pubkey, i.period, i.amount_minor, i.amount_sat, i.status, i.address, i.address_index, i.pay_link, i.issued_at, i.due_at, i.reminders_sent, i.paid_at, (SELECT CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) FROM payments p WHERE p.invoice_id = i.id) AS paid_minor";

fn invoice_of(row: &AnyRow, lines: Vec<Line>) -> Result<Invoice, BillingError> {
    let id = int(row, "id")?;
    let address = text(row, "address")?;
    let amount_sat = int(row, "amount_sat")?;
    Ok(Invoice {
        id,
        member_id: int(row, "member_id")?,
        recipient: text(row, "pubkey")?,
        period: text(row, "period")?,
        amount_minor: int(row, "amount_minor")?,
        amount_sat,
        paid_minor: int(row, "paid_minor")?,
        status: text(row, "status")?,
        bip21: bip21(
            &address,
            u64::try_from(amount_sat).unwrap_or(0),
            &format!("Invoice {id}"),
        ),
        address,
        address_index: int(row, "address_index")?,
        pay_link: opt_text(row, "pay_link")?,
        issued_at: int(row, "issued_at")?,
        due_at: int(row, "due_at")?,
        reminders_sent: int(row, "reminders_sent")?,
        paid_at: opt_int(row, "paid_at")?,
        lines,
    })
}

fn lines_of(rows: &[AnyRow]) -> Result<Vec<(i64, Line)>, BillingError> {
    rows.iter()
        .map(|row| {
            Ok((
                int(row, "invoice_id")?,
                Line {
                    description: text(row, "description")?,
                    amount_minor: int(row, "amount_minor")?,
                },
            ))
        })
        .collect()
}

/// Which invoices to list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this member's.
    pub member_id: Option<i64>,
    /// Only this period's.
    pub period: Option<Period>,
}

impl Store {
    /// Invoices, newest first, with their lines (two queries: the invoices, and the lines of
    /// those invoices only).
    pub async fn invoices(&self, filter: &InvoiceFilter) -> Result<Vec<Invoice>, BillingError> {
        let period = filter.period.map(|p| p.to_string());
        let mut only = String::from("1 = 1");
        let mut binds = Vec::new();
        if let Some(status) = &filter.status {
            only.push_str(" AND i.status = ?");
            binds.push(Bind::Text(status));
        }
        if let Some(member) = filter.member_id {
            only.push_str(" AND i.member_id = ?");
            binds.push(Bind::Int(member));
        }
        if let Some(period) = &period {
            only.push_str(" AND i.period = ?");
            binds.push(Bind::Text(period));
        }
        let rows = self
            .rows(
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices i JOIN members m ON m.id = i.member_id WHERE {only} ORDER BY i.id DESC"
                ),
                &binds,
            )
            .await?;
        let line_rows = self
            .rows(
                &format!(
                    "SELECT l.invoice_id, l.description, l.amount_minor FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE {only} ORDER BY l.id"
                ),
                &binds,
            )
            .await?;
        let mut lines: HashMap<i64, Vec<Line>> = HashMap::new();
        for (invoice, line) in lines_of(&line_rows)? {
            lines.entry(invoice).or_default().push(line);
        }
        rows.iter()
            .map(|row| {
                let mine = lines.remove(&int(row, "id")?).unwrap_or_default();
                invoice_of(row, mine)
            })
            .collect()
    }

    /// One invoice.
    pub async fn invoice(&self, id: i64) -> Result<Option<Invoice>, BillingError> {
        let mut tx = self.begin().await?;
        let invoice = invoice_in(self, &mut tx, id).await?;
        tx.commit().await?;
        Ok(invoice)
    }

    /// Open invoices: the outstanding report's rows (amount still due per invoice).
    pub async fn open_invoices(&self) -> Result<Vec<Invoice>, BillingError> {
        self.invoices(&InvoiceFilter {
            status: Some("open".to_owned()),
            ..InvoiceFilter::default()
        })
        .await
    }

    /// Payments received in `[from, to)`: (count, total minor units, per method totals).
    pub async fn payments_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64, i64)>, BillingError> {
        let rows = self
            .rows(
                "SELECT method, COUNT(*) AS n, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM payments WHERE received_at >= ? AND received_at < ? GROUP BY method ORDER BY method",
                &[Bind::Int(from), Bind::Int(to)],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((text(row, "method")?, int(row, "n")?, int(row, "total")?)))
            .collect()
    }

    /// Record a payment inside `tx`. The invoice is locked first (its row, or the SQLite
    /// database); an unknown invoice is not found, a paid one a conflict, a (method, reference)
    /// seen before a [`PaymentOutcome::Duplicate`] that changes nothing. The invoice turns paid
    /// when its payments reach its amount. The caller commits.
    pub async fn record_payment_in(
        &self,
        tx: &mut Tx,
        payment: NewPayment<'_>,
        now: i64,
    ) -> Result<PaymentOutcome, BillingError> {
        let locked = execute(
            self,
            tx,
            "UPDATE invoices SET reminders_sent = reminders_sent WHERE id = ?",
            &[Bind::Int(payment.invoice_id)],
        )
        .await?;
        if locked == 0 {
            return Err(BillingError::NotFound("no such invoice"));
        }
        let seen = fetch_optional(
            self,
            tx,
            "SELECT id FROM payments WHERE method = ? AND reference = ?",
            &[Bind::Text(payment.method), Bind::Text(payment.reference)],
        )
        .await?;
        if seen.is_some() {
            return Ok(PaymentOutcome::Duplicate);
        }
        let invoice = invoice_in(self, tx, payment.invoice_id)
            .await?
            .ok_or(BillingError::NotFound("no such invoice"))?;
        if invoice.status == "paid" {
            return Err(BillingError::Conflict("the invoice is paid already"));
        }
        let row = fetch_optional(
            self,
            tx,
            "INSERT INTO payments (invoice_id, amount_minor, method, reference, received_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            &[
                Bind::Int(payment.invoice_id),
                Bind::Int(payment.amount_minor),
                Bind::Text(payment.method),
                Bind::Text(payment.reference),
                Bind::Int(now),
                Bind::Text(payment.recorded_by),
            ],
        )
        .await?
        .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
        let payment_id = int(&row, "id")?;
        let paid = invoice.paid_minor.saturating_add(payment.amount_minor) >= invoice.amount_minor;
        if paid {
            execute(
                self,
                tx,
                "UPDATE invoices SET status = 'paid', paid_at = ? WHERE id = ?",
                &[Bind::Int(now), Bind::Int(payment.invoice_id)],
            )
            .await?;
        }
        Ok(PaymentOutcome::Recorded { payment_id, paid })
    }
}

/// One invoice, read inside `tx`.
pub(crate) async fn invoice_in(
    store: &Store,
    tx: &mut Tx,
    id: i64,
) -> Result<Option<Invoice>, BillingError> {
    let Some(row) = fetch_optional(
        store,
        tx,
        &format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices i JOIN members m ON m.id = i.member_id WHERE i.id = ?"
        ),
        &[Bind::Int(id)],
    )
    .await?
    else {
        return Ok(None);
    };
    let line_rows = fetch_all(
        store,
        tx,
        "SELECT invoice_id, description, amount_minor FROM invoice_lines WHERE invoice_id = ? ORDER BY id",
        &[Bind::Int(id)],
    )
    .await?;
    let lines = lines_of(&line_rows)?.into_iter().map(|(_, l)| l).collect();
    invoice_of(&row, lines).map(Some)
}
