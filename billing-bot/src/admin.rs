//! The admin API, for the practice's staff only, over NIP-98 HTTP auth (no passwords): plans,
//! members and households, visits, invoices, payments, billing runs and reports. JSON in and
//! out; errors as `{"error": ...}` with the same reason in `X-Reason` (see [`BillingError`]).
//!
//! Every request carries `Authorization: Nostr <base64 kind 27235 event>` naming this URL, the
//! method and the body's sha256, signed within 60 s by the practice root or a staff member of
//! the current roster (agents, patients and strangers are refused), and used once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ehr_client::http_auth::{self, HttpAuthError};
use ehr_client::keys::parse_public_key;
use nostr::prelude::{PublicKey, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Bot;
use crate::error::BillingError;
use crate::money::{Period, date_of, parse_date};
use crate::store::catalog::NewPlan;
use crate::store::ledger::{Invoice, InvoiceFilter, NewPayment, PaymentOutcome};

/// Check the NIP-98 header of this request and who signed it: the staff member's key.
async fn staff_member(
    bot: &Bot,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PublicKey, BillingError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", bot.public_url());
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = Timestamp::now();
    let event = http_auth::verify(header, &[&url], method.as_str(), body, now)?;
    let config = bot.config();
    if event.pubkey != config.practice {
        let role = bot.relays().role_of(config, &event.pubkey).await?;
        if role.is_none_or(|r| r.is_agent()) {
            return Err(BillingError::Forbidden(
                "only the practice root and current staff may administer billing",
            ));
        }
    }
    let seconds = |t: Timestamp| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    if !bot
        .store()
        .claim_nip98(
            &event.id.to_hex(),
            seconds(http_auth::replay_expiry(&event)),
            seconds(now),
        )
        .await?
    {
        return Err(BillingError::AdminAuth(HttpAuthError::Replayed));
    }
    Ok(event.pubkey)
}

/// Parse a JSON body; refusals name the class of problem, never quote the input.
pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, BillingError> {
    serde_json::from_slice(body).map_err(|e| {
        let class = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => {
                "missing, unknown or mistyped fields (amounts are integers of minor units)"
            }
            serde_json::error::Category::Eof => "truncated",
        };
        BillingError::BadRequest(format!("the JSON body is not as documented: {class}"))
    })
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn id_of(text: &str) -> Result<i64, BillingError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| BillingError::BadRequest("ids are positive integers".to_owned()))
}

/// An admin request whose NIP-98 header was checked before the handler runs: the bot, who
/// signed it (the root or a current staff member), and the body it signed.
#[derive(Debug)]
pub struct Staff {
    bot: Arc<Bot>,
    by: PublicKey,
    body: Bytes,
}

impl FromRequest<Arc<Bot>> for Staff {
    type Rejection = BillingError;

    async fn from_request(
        request: axum::extract::Request,
        bot: &Arc<Bot>,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body =
            Bytes::from_request(axum::extract::Request::from_parts(parts.clone(), body), bot)
                .await
                .map_err(|_| BillingError::BadRequest("the body could not be read".to_owned()))?;
        let by = staff_member(bot, &parts.method, &parts.uri, &parts.headers, &body).await?;
        Ok(Self {
            bot: Arc::clone(bot),
            by,
            body,
        })
    }
}

/// `GET /admin/plans`.
pub async fn plans(staff: Staff) -> Result<Response, BillingError> {
    let plans = staff.bot.store().plans().await?;
    Ok(answer(StatusCode::OK, &json!({ "plans": plans })))
}

/// `POST /admin/plans`.
pub async fn create_plan(staff: Staff) -> Result<Response, BillingError> {
    let plan: NewPlan = json_body(&staff.body)?;
    let plan = staff
        .bot
        .store()
        .create_plan(&plan, staff.bot.now())
        .await?;
    tracing::info!(plan = plan.id, by = %staff.by, "created a plan");
    Ok(answer(StatusCode::CREATED, &json!(plan)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    npub: String,
    #[serde(default)]
    plan_id: Option<i64>,
    #[serde(default)]
    household: Option<i64>,
    #[serde(default)]
    joined_on: Option<String>,
}

/// `GET /admin/members`.
pub async fn members(staff: Staff) -> Result<Response, BillingError> {
    let members = staff.bot.store().members().await?;
    Ok(answer(StatusCode::OK, &json!({ "members": members })))
}

/// `POST /admin/members`: a payer with a new household, or a dependant of `household`.
pub async fn add_member(staff: Staff) -> Result<Response, BillingError> {
    let bot = &staff.bot;
    let new: NewMember = json_body(&staff.body)?;
    let pubkey = parse_public_key(&new.npub).map_err(|_| {
        BillingError::BadRequest("npub is not an npub or hex public key".to_owned())
    })?;
    let joined = day_or_today(bot, "joined_on", new.joined_on.as_deref())?;
    let member = bot
        .store()
        .add_member(&pubkey, new.plan_id, new.household, joined, bot.now())
        .await?;
    tracing::info!(member = member.id, by = %staff.by, "added a member");
    Ok(answer(StatusCode::CREATED, &json!(member)))
}

/// `field` as a date, or the bot's today when absent.
fn day_or_today(bot: &Bot, field: &str, day: Option<&str>) -> Result<time::Date, BillingError> {
    match day {
        Some(day) => parse_date(field, day),
        None => Ok(date_of(bot.now())),
    }
}

/// `GET /admin/members/{id}`.
pub async fn member(Path(id): Path<String>, staff: Staff) -> Result<Response, BillingError> {
    let member = staff
        .bot
        .store()
        .member(id_of(&id)?)
        .await?
        .ok_or(BillingError::NotFound("no such member"))?;
    Ok(answer(StatusCode::OK, &json!(member)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Leave {
    left_on: String,
}

/// `POST /admin/members/{id}/leave`.
pub async fn leave(Path(id): Path<String>, staff: Staff) -> Result<Response, BillingError> {
    let id = id_of(&id)?;
    let leave: Leave = json_body(&staff.body)?;
    let member = staff
        .bot
        .store()
        .end_membership(id, parse_date("left_on", &leave.left_on)?)
        .await?;
    Ok(answer(StatusCode::OK, &json!(member)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVisit {
    #[serde(default)]
    visit_on: Option<String>,
    #[serde(default)]
    amount_minor: Option<i64>,
}

/// `POST /admin/members/{id}/visits`.
pub async fn add_visit(Path(id): Path<String>, staff: Staff) -> Result<Response, BillingError> {
    let bot = &staff.bot;
    let id = id_of(&id)?;
    let visit: NewVisit = json_body(&staff.body)?;
    let day = day_or_today(bot, "visit_on", visit.visit_on.as_deref())?;
    let (visit_id, amount) = bot
        .store()
        .add_visit(id, day, visit.amount_minor, bot.now())
        .await?;
    Ok(answer(
        StatusCode::CREATED,
        &json!({"id": visit_id, "member_id": id, "amount_minor": amount}),
    ))
}

/// `GET /admin/invoices?status=&member=&period=`.
pub async fn invoices(RawQuery(query): RawQuery, staff: Staff) -> Result<Response, BillingError> {
    let mut filter = InvoiceFilter::default();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "status" if matches!(value, "open" | "paid") => filter.status = Some(value.to_owned()),
            "member" => filter.member_id = Some(id_of(value)?),
            "period" => filter.period = Some(value.parse()?),
            _ => {
                return Err(BillingError::BadRequest(
                    "parameters are status (open, paid), member and period".to_owned(),
                ));
            }
        }
    }
    let invoices = staff.bot.store().invoices(&filter).await?;
    Ok(answer(StatusCode::OK, &json!({ "invoices": invoices })))
}

/// `GET /admin/invoices/{id}`: the invoice, its messages and their delivery attempts.
pub async fn invoice(Path(id): Path<String>, staff: Staff) -> Result<Response, BillingError> {
    let store = staff.bot.store();
    let id = id_of(&id)?;
    let invoice = store
        .invoice(id)
        .await?
        .ok_or(BillingError::NotFound("no such invoice"))?;
    let messages: Vec<Value> = store
        .messages(id)
        .await?
        .into_iter()
        .map(|(delivery, attempts)| json!({"delivery": delivery, "attempts": attempts}))
        .collect();
    Ok(answer(
        StatusCode::OK,
        &json!({"invoice": invoice, "messages": messages}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkPayment {
    amount_minor: i64,
    method: String,
    reference: String,
}

/// `POST /admin/invoices/{id}/payments`: record a payment received outside the bot.
pub async fn mark_payment(Path(id): Path<String>, staff: Staff) -> Result<Response, BillingError> {
    let id = id_of(&id)?;
    let mark: MarkPayment = json_body(&staff.body)?;
    if !matches!(
        mark.method.as_str(),
        "cash" | "card" | "check" | "transfer" | "bitcoin" | "other"
    ) {
        return Err(BillingError::BadRequest(
            "method is one of cash, card, check, transfer, bitcoin, other".to_owned(),
        ));
    }
    if mark.reference.is_empty() || mark.reference.len() > 200 {
        return Err(BillingError::BadRequest(
            "reference must have 1 to 200 characters".to_owned(),
        ));
    }
    let by_hex = staff.by.to_hex();
    let outcome = staff
        .bot
        .record_payment(NewPayment {
            invoice_id: id,
            amount_minor: mark.amount_minor,
            method: &mark.method,
            reference: &mark.reference,
            recorded_by: &by_hex,
        })
        .await?;
    match outcome {
        PaymentOutcome::Recorded { payment_id, paid } => Ok(answer(
            StatusCode::CREATED,
            &json!({"payment_id": payment_id, "invoice_paid": paid}),
        )),
        PaymentOutcome::Duplicate => Err(BillingError::Conflict(
            "a payment with this method and reference is recorded already",
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Run {
    #[serde(default)]
    period: Option<String>,
}

/// `POST /admin/runs`: run billing for a period (default: the current month), then the
/// invoice and appointment reminders and a delivery round. Idempotent.
pub async fn run(staff: Staff) -> Result<Response, BillingError> {
    let bot = &staff.bot;
    let run: Run = if staff.body.is_empty() {
        Run::default()
    } else {
        json_body(&staff.body)?
    };
    let period = match &run.period {
        Some(text) => text.parse()?,
        None => Period::containing(bot.now()),
    };
    let report = bot.run_billing(period).await?;
    let reminders = bot.send_reminders().await?;
    let appointments = bot.send_appointment_reminders().await?;
    let delivery = bot.deliver_due().await?;
    tracing::info!(by = %staff.by, period = %period, "billing run requested");
    Ok(answer(
        StatusCode::OK,
        &json!({
            "run": report, "reminders": reminders,
            "appointment_reminders": appointments, "delivery": delivery,
        }),
    ))
}

/// `GET /admin/reports/outstanding`: open invoices, what is still due, what is overdue.
pub async fn outstanding(staff: Staff) -> Result<Response, BillingError> {
    let bot = &staff.bot;
    let now = bot.now();
    let open = bot.store().open_invoices().await?;
    let due = |i: &Invoice| i.amount_minor - i.paid_minor;
    let rows: Vec<Value> = open
        .iter()
        .map(|i| {
            json!({
                "invoice": i.id, "member_id": i.member_id, "period": i.period,
                "due_minor": due(i), "due_at": i.due_at, "overdue": i.due_at <= now,
            })
        })
        .collect();
    let total: i64 = open.iter().map(due).sum();
    let overdue: i64 = open.iter().filter(|i| i.due_at <= now).map(due).sum();
    Ok(answer(
        StatusCode::OK,
        &json!({
            "currency": bot.config().invoices.currency,
            "open_invoices": open.len(), "outstanding_minor": total,
            "overdue_minor": overdue, "invoices": rows,
        }),
    ))
}

/// `GET /admin/reports/paid?month=YYYY-MM`: payments received in a month (default: this one).
pub async fn paid(RawQuery(query): RawQuery, staff: Staff) -> Result<Response, BillingError> {
    let bot = &staff.bot;
    let month = match query.as_deref().unwrap_or_default() {
        "" => Period::containing(bot.now()),
        q => match q.strip_prefix("month=") {
            Some(m) => m.parse()?,
            None => {
                return Err(BillingError::BadRequest(
                    "the one parameter is month".to_owned(),
                ));
            }
        },
    };
    let seconds = |d: time::Date| d.midnight().assume_utc().unix_timestamp();
    let from = seconds(month.first_day());
    let to = seconds(month.last_day()) + 86_400;
    let methods = bot.store().payments_between(from, to).await?;
    let total: i64 = methods.iter().map(|(_, _, t)| t).sum();
    let count: i64 = methods.iter().map(|(_, n, _)| n).sum();
    let by_method: Vec<Value> = methods
        .iter()
        .map(|(m, n, t)| json!({"method": m, "payments": n, "total_minor": t}))
        .collect();
    Ok(answer(
        StatusCode::OK,
        &json!({
            "month": month.to_string(), "currency": bot.config().invoices.currency,
            "payments": count, "paid_minor": total, "by_method": by_method,
        }),
    ))
}
