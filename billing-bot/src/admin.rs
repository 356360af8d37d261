//! The admin API, for the practice's staff only, over NIP-98 HTTP auth (no passwords): plans,
//! members and households, visits, invoices, payments, billing runs and reports. JSON in and
//! out; errors as `{"error": ...}` with the same reason in `X-Reason` (see [`BillingError`]).
//!
//! Every request carries `Authorization: Nostr <base64 kind 27235 event>` naming this URL, the
//! method and the body's sha256, signed within 60 s by the practice root or a staff member of
//! the current roster (agents, patients and strangers are refused), and used once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
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
use crate::store::ledger::{InvoiceFilter, NewPayment, PaymentOutcome};

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

/// The parts of a request every handler needs.
#[derive(Debug)]
pub struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Request {
    type Rejection = BillingError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|_| BillingError::BadRequest("the body could not be read".to_owned()))?;
        Ok(Self {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

impl Request {
    async fn staff(&self, bot: &Bot) -> Result<PublicKey, BillingError> {
        staff_member(bot, &self.method, &self.uri, &self.headers, &self.body).await
    }
}

/// `GET /admin/plans`.
pub async fn plans(
    State(bot): State<Arc<Bot>>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    Ok(answer(
        StatusCode::OK,
        &json!({"plans": bot.store().plans().await?}),
    ))
}

/// `POST /admin/plans`.
pub async fn create_plan(
    State(bot): State<Arc<Bot>>,
    request: Request,
) -> Result<Response, BillingError> {
    let by = request.staff(&bot).await?;
    let plan: NewPlan = json_body(&request.body)?;
    let plan = bot.store().create_plan(&plan, bot.now()).await?;
    tracing::info!(plan = plan.id, by = %by, "created a plan");
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
pub async fn members(
    State(bot): State<Arc<Bot>>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    Ok(answer(
        StatusCode::OK,
        &json!({"members": bot.store().members().await?}),
    ))
}

/// `POST /admin/members`: a payer with a new household, or a dependant of `household`.
pub async fn add_member(
    State(bot): State<Arc<Bot>>,
    request: Request,
) -> Result<Response, BillingError> {
    let by = request.staff(&bot).await?;
    let new: NewMember = json_body(&request.body)?;
    let pubkey = parse_public_key(&new.npub).map_err(|_| {
        BillingError::BadRequest("npub is not an npub or hex public key".to_owned())
    })?;
    let joined = match &new.joined_on {
        Some(day) => parse_date("joined_on", day)?,
        None => date_of(bot.now()),
    };
    let member = bot
        .store()
        .add_member(&pubkey, new.plan_id, new.household, joined, bot.now())
        .await?;
    tracing::info!(member = member.id, by = %by, "added a member");
    Ok(answer(StatusCode::CREATED, &json!(member)))
}

/// `GET /admin/members/{id}`.
pub async fn member(
    State(bot): State<Arc<Bot>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    let member = bot
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
pub async fn leave(
    State(bot): State<Arc<Bot>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    let id = id_of(&id)?;
    let leave: Leave = json_body(&request.body)?;
    let member = bot
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
pub async fn add_visit(
    State(bot): State<Arc<Bot>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    let id = id_of(&id)?;
    let visit: NewVisit = json_body(&request.body)?;
    let day = match &visit.visit_on {
        Some(day) => parse_date("visit_on", day)?,
        None => date_of(bot.now()),
    };
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
pub async fn invoices(
    State(bot): State<Arc<Bot>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
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
    Ok(answer(
        StatusCode::OK,
        &json!({"invoices": bot.store().invoices(&filter).await?}),
    ))
}

/// `GET /admin/invoices/{id}`: the invoice, its messages and their delivery attempts.
pub async fn invoice(
    State(bot): State<Arc<Bot>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    let id = id_of(&id)?;
    let invoice = bot
        .store()
        .invoice(id)
        .await?
        .ok_or(BillingError::NotFound("no such invoice"))?;
    let mut messages = Vec::new();
    for delivery in bot.store().deliveries(Some(id)).await? {
        let attempts = bot.store().attempts(delivery.id).await?;
        messages.push(json!({"delivery": delivery, "attempts": attempts}));
    }
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
pub async fn mark_payment(
    State(bot): State<Arc<Bot>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, BillingError> {
    let by = request.staff(&bot).await?;
    let id = id_of(&id)?;
    let mark: MarkPayment = json_body(&request.body)?;
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
    let by_hex = by.to_hex();
    let outcome = bot
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
/// reminders and a delivery round. Idempotent.
pub async fn run(State(bot): State<Arc<Bot>>, request: Request) -> Result<Response, BillingError> {
    let by = request.staff(&bot).await?;
    let run: Run = if request.body.is_empty() {
        Run::default()
    } else {
        json_body(&request.body)?
    };
    let period = match &run.period {
        Some(text) => text.parse()?,
        None => Period::containing(bot.now()),
    };
    let report = bot.run_billing(period).await?;
    let reminders = bot.send_reminders().await?;
    let delivery = bot.deliver_due().await?;
    tracing::info!(by = %by, period = %period, "billing run requested");
    Ok(answer(
        StatusCode::OK,
        &json!({"run": report, "reminders": reminders, "delivery": delivery}),
    ))
}

/// `GET /admin/reports/outstanding`: open invoices, what is still due, what is overdue.
pub async fn outstanding(
    State(bot): State<Arc<Bot>>,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
    let now = bot.now();
    let open = bot.store().open_invoices().await?;
    let rows: Vec<Value> = open
        .iter()
        .map(|i| {
            json!({
                "invoice": i.id, "member_id": i.member_id, "period": i.period,
                "due_minor": i.amount_minor - i.paid_minor, "due_at": i.due_at,
                "overdue": i.due_at <= now,
            })
        })
        .collect();
    let total: i64 = open.iter().map(|i| i.amount_minor - i.paid_minor).sum();
    let overdue: i64 = open
        .iter()
        .filter(|i| i.due_at <= now)
        .map(|i| i.amount_minor - i.paid_minor)
        .sum();
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
pub async fn paid(
    State(bot): State<Arc<Bot>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, BillingError> {
    request.staff(&bot).await?;
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
