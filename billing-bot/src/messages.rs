//! The texts of the bot's direct messages: a subject and a plain-text body for an invoice, a
//! reminder and a receipt. They carry amounts, dates, the payment URI and the invoice's lines,
//! which the bot wrote itself; nothing clinical.

use crate::config::Config;
use crate::money::{date_of, format_amount, format_date};
use crate::store::ledger::Invoice;
use crate::store::outbox::Purpose;

fn amount(config: &Config, minor: i64) -> String {
    format_amount(
        minor,
        config.invoices.minor_digits,
        &config.invoices.currency,
    )
}

fn due(invoice: &Invoice) -> String {
    format_date(date_of(invoice.due_at))
}

fn how_to_pay(invoice: &Invoice) -> String {
    let mut text = format!(
        "Pay with bitcoin ({} BTC): {}",
        bitcoin::Amount::from_sat(u64::try_from(invoice.amount_sat).unwrap_or(0))
            .display_in(bitcoin::Denomination::Bitcoin),
        invoice.bip21
    );
    if let Some(link) = &invoice.pay_link {
        text.push_str(&format!("\nOr pay online: {link}"));
    }
    text
}

/// The subject and text of the `purpose` message about `invoice`.
pub fn text(config: &Config, purpose: Purpose, invoice: &Invoice) -> (String, String) {
    match purpose {
        Purpose::Invoice => self::invoice(config, invoice),
        Purpose::Reminder => reminder(config, invoice),
        Purpose::Receipt => receipt(config, invoice),
    }
}

/// A new invoice.
pub fn invoice(config: &Config, invoice: &Invoice) -> (String, String) {
    let subject = format!("Invoice {} for {}", invoice.id, invoice.period);
    let mut text = format!("Invoice {} for {}\n\n", invoice.id, invoice.period);
    for line in &invoice.lines {
        text.push_str(&format!(
            "{}: {}\n",
            line.description,
            amount(config, line.amount_minor)
        ));
    }
    text.push_str(&format!(
        "\nTotal: {}\nDue: {}\n\n{}\n",
        amount(config, invoice.amount_minor),
        due(invoice),
        how_to_pay(invoice)
    ));
    (subject, text)
}

/// A reminder of an overdue invoice.
pub fn reminder(config: &Config, invoice: &Invoice) -> (String, String) {
    let open = invoice.amount_minor.saturating_sub(invoice.paid_minor);
    let subject = format!("Reminder: invoice {} is overdue", invoice.id);
    let text = format!(
        "Invoice {} for {} was due on {}. Still open: {}.\n\n{}\n",
        invoice.id,
        invoice.period,
        due(invoice),
        amount(config, open),
        how_to_pay(invoice)
    );
    (subject, text)
}

/// A receipt for a paid invoice.
pub fn receipt(config: &Config, invoice: &Invoice) -> (String, String) {
    let subject = format!("Receipt for invoice {}", invoice.id);
    let text = format!(
        "Thank you. Invoice {} for {} is paid: {} received.\n",
        invoice.id,
        invoice.period,
        amount(config, invoice.paid_minor.max(invoice.amount_minor))
    );
    (subject, text)
}
