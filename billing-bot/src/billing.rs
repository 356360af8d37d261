//! The monthly run and the reminders.
//!
//! A run bills every household payer active in the period, one transaction per payer: the
//! address counter is advanced first (which takes the write lock), the invoice is inserted with
//! `ON CONFLICT (member_id, period) DO NOTHING`, and its lines, its visits and its messages
//! commit with it. A second run, a concurrent one, or a run after a crash halfway therefore
//! finds the invoices already made and makes only the missing ones. A total of zero makes no
//! invoice.

use ehr_client::dm;
use nostr::prelude::{PublicKey, Timestamp};
use serde::Serialize;

use crate::Bot;
use crate::error::BillingError;
use crate::messages;
use crate::money::{Period, format_date, parse_date, prorate, to_sats};
use crate::store::catalog::{HouseholdRole, MEMBER_COLUMNS, member_of};
use crate::store::ledger::{Line, invoice_in};
use crate::store::outbox::{Purpose, Regarding, queue_in};
use crate::store::{Bind, execute, fetch_all, fetch_optional, int, opt_text, text};

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The period billed.
    pub period: String,
    /// Invoices created by this run.
    pub created: Vec<i64>,
    /// Payers that had their invoice for the period already.
    pub already_billed: usize,
    /// Payers that owed nothing (no invoice of zero is made).
    pub nothing_owed: usize,
}

/// What billing one payer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billed {
    /// A new invoice.
    Created(i64),
    /// The payer has an invoice for the period already.
    AlreadyBilled,
    /// Nothing is owed.
    NothingOwed,
}

impl Bot {
    /// Bill every household payer active in `period`. Idempotent: the payers billed already are
    /// found by the same query that lists the payers, so a run that finds nothing to do costs
    /// one query.
    pub async fn run_billing(&self, period: Period) -> Result<RunReport, BillingError> {
        let period_text = period.to_string();
        let first = format_date(period.first_day());
        let last = format_date(period.last_day());
        let payers = self
            .store()
            .rows(
                "SELECT m.id, (SELECT COUNT(*) FROM invoices i WHERE i.member_id = m.id AND i.period = ?) AS billed FROM members m WHERE m.role = 'payer' AND m.joined_on <= ? AND (m.left_on IS NULL OR m.left_on >= ?) ORDER BY m.id",
                &[Bind::Text(&period_text), Bind::Text(&last), Bind::Text(&first)],
            )
            .await?;
        let mut report = RunReport {
            period: period_text,
            ..RunReport::default()
        };
        for payer in payers {
            let billed = if int(&payer, "billed")? > 0 {
                Billed::AlreadyBilled
            } else {
                self.bill_payer(int(&payer, "id")?, period).await?
            };
            match billed {
                Billed::Created(id) => report.created.push(id),
                Billed::AlreadyBilled => report.already_billed += 1,
                Billed::NothingOwed => report.nothing_owed += 1,
            }
        }
        if !report.created.is_empty() {
            tracing::info!(period = %period, invoices = report.created.len(), "billing run");
            self.wake();
        }
        Ok(report)
    }

    /// Bill one household payer for `period`: all or nothing, at most once.
    pub async fn bill_member(
        &self,
        member_id: i64,
        period: Period,
    ) -> Result<Billed, BillingError> {
        let existing = self
            .store()
            .rows(
                "SELECT id FROM invoices WHERE member_id = ? AND period = ?",
                &[Bind::Int(member_id), Bind::Text(&period.to_string())],
            )
            .await?;
        if !existing.is_empty() {
            return Ok(Billed::AlreadyBilled);
        }
        self.bill_payer(member_id, period).await
    }

    /// [`Bot::bill_member`] without the first look, which takes no lock: the look again under
    /// the lock is what makes it at most once.
    async fn bill_payer(&self, member_id: i64, period: Period) -> Result<Billed, BillingError> {
        let store = self.store();
        let period_text = period.to_string();
        let config = self.config();
        let now = self.now();
        let mut tx = store.begin().await?;
        // A write first: it takes the lock, so concurrent runs queue here instead of racing.
        let counter = fetch_optional(
            store,
            &mut tx,
            "UPDATE counters SET value = value + 1 WHERE name = 'address' RETURNING value",
            &[],
        )
        .await?
        .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
        let index = int(&counter, "value")? - 1;
        let again = fetch_optional(
            store,
            &mut tx,
            "SELECT id FROM invoices WHERE member_id = ? AND period = ?",
            &[Bind::Int(member_id), Bind::Text(&period_text)],
        )
        .await?;
        if again.is_some() {
            return Ok(Billed::AlreadyBilled);
        }
        let payer = fetch_optional(
            store,
            &mut tx,
            &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?"),
            &[Bind::Int(member_id)],
        )
        .await?
        .ok_or(BillingError::NotFound("no such member"))?;
        let payer = member_of(&payer)?;
        if payer.role != HouseholdRole::Payer {
            return Err(BillingError::Conflict(
                "dependants are billed to their household's payer",
            ));
        }
        let mut lines = self
            .membership_lines(&mut tx, payer.household_id, period)
            .await?;
        let visits = fetch_all(
            store,
            &mut tx,
            "SELECT v.id, v.visit_on, v.amount_minor FROM visits v JOIN members m ON m.id = v.member_id WHERE m.household_id = ? AND v.invoice_id IS NULL AND v.visit_on < ? ORDER BY v.visit_on, v.id",
            &[
                Bind::Int(payer.household_id),
                Bind::Text(&format_date(period.first_day())),
            ],
        )
        .await?;
        let mut visit_ids = Vec::new();
        for visit in &visits {
            visit_ids.push(int(visit, "id")?);
            lines.push(Line {
                description: format!("Visit on {}", text(visit, "visit_on")?),
                amount_minor: int(visit, "amount_minor")?,
            });
        }
        let total: i64 = lines.iter().map(|l| l.amount_minor).sum();
        if total <= 0 {
            return Ok(Billed::NothingOwed);
        }
        let index = u32::try_from(index)
            .map_err(|_| BillingError::Address("the receive index is out of range".into()))?;
        let address = config.bitcoin.account.receive_address(index)?.to_string();
        let sats = to_sats(total, config.bitcoin.minor_units_per_btc);
        let due_at = now + config.invoices.due_days * 86_400;
        let inserted = fetch_optional(
            store,
            &mut tx,
            "INSERT INTO invoices (member_id, period, amount_minor, amount_sat, address, address_index, status, issued_at, due_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?) ON CONFLICT (member_id, period) DO NOTHING RETURNING id",
            &[
                Bind::Int(member_id),
                Bind::Text(&period_text),
                Bind::Int(total),
                Bind::Int(i64::try_from(sats).unwrap_or(i64::MAX)),
                Bind::Text(&address),
                Bind::Int(i64::from(index)),
                Bind::Int(now),
                Bind::Int(due_at),
            ],
        )
        .await?;
        let Some(inserted) = inserted else {
            return Ok(Billed::AlreadyBilled);
        };
        let id = int(&inserted, "id")?;
        if let Some(template) = &config.invoices.pay_link {
            let link = template
                .replace("{invoice}", &id.to_string())
                .replace("{amount_minor}", &total.to_string())
                .replace("{currency}", &config.invoices.currency);
            execute(
                store,
                &mut tx,
                "UPDATE invoices SET pay_link = ? WHERE id = ?",
                &[Bind::Text(&link), Bind::Int(id)],
            )
            .await?;
        }
        for line in &lines {
            execute(
                store,
                &mut tx,
                "INSERT INTO invoice_lines (invoice_id, description, amount_minor) VALUES (?, ?, ?)",
                &[
                    Bind::Int(id),
                    Bind::Text(&line.description),
                    Bind::Int(line.amount_minor),
                ],
            )
            .await?;
        }
        for visit in visit_ids {
            execute(
                store,
                &mut tx,
                "UPDATE visits SET invoice_id = ? WHERE id = ?",
                &[Bind::Int(id), Bind::Int(visit)],
            )
            .await?;
        }
        self.queue_about(&mut tx, id, Purpose::Invoice).await?;
        tx.commit().await?;
        Ok(Billed::Created(id))
    }

    /// The household's membership fees for `period`: every member active in it, by plan,
    /// prorated from the day it joined.
    async fn membership_lines(
        &self,
        tx: &mut crate::store::Tx,
        household: i64,
        period: Period,
    ) -> Result<Vec<Line>, BillingError> {
        let rows = fetch_all(
            self.store(),
            tx,
            "SELECT m.role, m.joined_on, p.name, p.kind, p.amount_minor, p.per_dependant_minor FROM members m LEFT JOIN plans p ON p.id = m.plan_id WHERE m.household_id = ? AND m.joined_on <= ? AND (m.left_on IS NULL OR m.left_on >= ?) ORDER BY m.role DESC, m.id",
            &[
                Bind::Int(household),
                Bind::Text(&format_date(period.last_day())),
                Bind::Text(&format_date(period.first_day())),
            ],
        )
        .await?;
        let mut lines = Vec::new();
        let mut family: Option<(String, i64)> = None;
        for row in &rows {
            let joined = parse_date("joined_on", &text(row, "joined_on")?)?;
            let kind = opt_text(row, "kind")?;
            let is_payer = text(row, "role")? == "payer";
            let mut add = |description: String, amount: i64| {
                let (share, days) = prorate(amount, period, joined);
                if share > 0 {
                    let label = if days < period.days() {
                        format!("{description}, {period} ({days} of {} days)", period.days())
                    } else {
                        format!("{description}, {period}")
                    };
                    lines.push(Line {
                        description: label,
                        amount_minor: share,
                    });
                }
            };
            match kind.as_deref() {
                Some("family") if is_payer => {
                    let name = text(row, "name")?;
                    add(format!("{name} (household)"), int(row, "amount_minor")?);
                    family = Some((name, int(row, "per_dependant_minor")?));
                    continue;
                }
                Some("monthly") => add(text(row, "name")?, int(row, "amount_minor")?),
                _ => {}
            }
            // Every dependant of a family household counts, whatever its own plan.
            if !is_payer
                && let Some((name, each)) = &family
                && *each > 0
            {
                add(format!("{name}, dependant"), *each);
            }
        }
        Ok(lines)
    }

    /// Queue the `purpose` message about invoice `id` to its payer, and the bot's own copy,
    /// inside `tx`: the text is written from the invoice as `tx` sees it.
    pub(crate) async fn queue_about(
        &self,
        tx: &mut crate::store::Tx,
        id: i64,
        purpose: Purpose,
    ) -> Result<(), BillingError> {
        let invoice = invoice_in(self.store(), tx, id)
            .await?
            .ok_or(BillingError::NotFound("no such invoice"))?;
        let (subject, body) = messages::text(self.config(), purpose, &invoice);
        let to = PublicKey::from_hex(&invoice.recipient)
            .map_err(|_| BillingError::Database(sqlx::Error::Decode("bad member key".into())))?;
        let now = self.now();
        let at = Timestamp::from_secs(u64::try_from(now).unwrap_or(0));
        let wrapped = dm::wrap(&self.config().key, &to, &subject, &body, at)?;
        queue_in(
            self.store(),
            tx,
            Regarding::Invoice(id, purpose),
            &wrapped,
            now,
        )
        .await
    }

    /// Queue a reminder for every open invoice whose next scheduled reminder is due. One
    /// message per invoice and round, however many reminders were missed. Idempotent.
    pub async fn send_reminders(&self) -> Result<usize, BillingError> {
        let store = self.store();
        let config = self.config();
        let now = self.now();
        let rows = store
            .rows(
                "SELECT id, due_at, reminders_sent FROM invoices WHERE status = 'open' AND due_at <= ? ORDER BY id",
                &[Bind::Int(now)],
            )
            .await?;
        let mut sent = 0;
        for row in rows {
            let (id, due_at, done) = (
                int(&row, "id")?,
                int(&row, "due_at")?,
                int(&row, "reminders_sent")?,
            );
            let elapsed = config
                .invoices
                .reminder_days
                .iter()
                .filter(|days| due_at + *days * 86_400 <= now)
                .count();
            let elapsed = i64::try_from(elapsed).unwrap_or(0);
            if elapsed <= done {
                continue;
            }
            let mut tx = store.begin().await?;
            let claimed = execute(
                store,
                &mut tx,
                "UPDATE invoices SET reminders_sent = ? WHERE id = ? AND reminders_sent = ? AND status = 'open'",
                &[Bind::Int(elapsed), Bind::Int(id), Bind::Int(done)],
            )
            .await?;
            if claimed == 0 {
                continue;
            }
            self.queue_about(&mut tx, id, Purpose::Reminder).await?;
            tx.commit().await?;
            sent += 1;
        }
        if sent > 0 {
            self.wake();
        }
        Ok(sent)
    }
}
