//! Plans, households and members, and the visits of per-visit members. Members are public keys
//! only: the billing database holds no names and nothing clinical.

use nostr::prelude::PublicKey;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use time::Date;

use super::{Bind, Store, fetch_optional, int, opt_int, opt_text, text};
use crate::error::BillingError;
use crate::money::{check_amount, format_date};

/// What a plan charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanKind {
    /// A monthly membership fee, prorated in the month the member joins.
    Monthly,
    /// A fee per recorded visit, billed on the next month's invoice.
    PerVisit,
    /// A monthly fee for a household, plus `per_dependant_minor` for each dependant.
    Family,
}

impl PlanKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::PerVisit => "per-visit",
            Self::Family => "family",
        }
    }

    fn parse(text: &str) -> Result<Self, BillingError> {
        match text {
            "monthly" => Ok(Self::Monthly),
            "per-visit" => Ok(Self::PerVisit),
            "family" => Ok(Self::Family),
            _ => Err(BillingError::Database(sqlx::Error::Decode(
                "unknown plan kind".into(),
            ))),
        }
    }
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Its id.
    pub id: i64,
    /// A name for staff and the invoice (`Adult membership`).
    pub name: String,
    /// What it charges for.
    pub kind: PlanKind,
    /// Minor units per month (monthly, family) or per visit.
    pub amount_minor: i64,
    /// Minor units per dependant per month (family plans).
    pub per_dependant_minor: i64,
}

/// A member's place in its household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HouseholdRole {
    /// Receives the household's invoices: the patient, or a guardian.
    Payer,
    /// Billed to the household's payer (a child).
    Dependant,
}

/// A member: a patient or guardian, by public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Its id.
    pub id: i64,
    /// The public key (hex).
    pub pubkey: String,
    /// The household.
    pub household_id: i64,
    /// Payer or dependant.
    pub role: HouseholdRole,
    /// Its plan, if any (a dependant is often covered by the payer's family plan).
    pub plan_id: Option<i64>,
    /// `YYYY-MM-DD`.
    pub joined_on: String,
    /// `YYYY-MM-DD`, when the membership ended.
    pub left_on: Option<String>,
}

/// A new plan, as the admin API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// A name.
    pub name: String,
    /// What it charges for.
    pub kind: PlanKind,
    /// Minor units per month or per visit.
    pub amount_minor: i64,
    /// Minor units per dependant (family plans).
    #[serde(default)]
    pub per_dependant_minor: i64,
}

fn plan_of(row: &AnyRow) -> Result<Plan, BillingError> {
    Ok(Plan {
        id: int(row, "id")?,
        name: text(row, "name")?,
        kind: PlanKind::parse(&text(row, "kind")?)?,
        amount_minor: int(row, "amount_minor")?,
        per_dependant_minor: int(row, "per_dependant_minor")?,
    })
}

pub(crate) fn member_of(row: &AnyRow) -> Result<Member, BillingError> {
    Ok(Member {
        id: int(row, "id")?,
        pubkey: text(row, "pubkey")?,
        household_id: int(row, "household_id")?,
        role: if text(row, "role")? == "payer" {
            HouseholdRole::Payer
        } else {
            HouseholdRole::Dependant
        },
        plan_id: opt_int(row, "plan_id")?,
        joined_on: text(row, "joined_on")?,
        left_on: opt_text(row, "left_on")?,
    })
}

const PLAN_COLUMNS: &str = "id, name, kind, amount_minor, per_dependant_minor";
pub(crate) const MEMBER_COLUMNS: &str =
    "id, pubkey, household_id, role, plan_id, joined_on, left_on";

impl Store {
    /// Create a plan.
    pub async fn create_plan(&self, plan: &NewPlan, now: i64) -> Result<Plan, BillingError> {
        let name = plan.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(BillingError::BadRequest(
                "name must have 1 to 100 characters".to_owned(),
            ));
        }
        check_amount("amount_minor", plan.amount_minor, false)?;
        check_amount("per_dependant_minor", plan.per_dependant_minor, true)?;
        if plan.kind != PlanKind::Family && plan.per_dependant_minor != 0 {
            return Err(BillingError::Unprocessable(
                "per_dependant_minor is for family plans only".to_owned(),
            ));
        }
        let mut tx = self.begin().await?;
        let row = fetch_optional(
            self,
            &mut tx,
            &format!(
                "INSERT INTO plans (name, kind, amount_minor, per_dependant_minor, created_at) VALUES (?, ?, ?, ?, ?) RETURNING {PLAN_COLUMNS}"
            ),
            &[
                Bind::Text(name),
                Bind::Text(plan.kind.as_str()),
                Bind::Int(plan.amount_minor),
                Bind::Int(plan.per_dependant_minor),
                Bind::Int(now),
            ],
        )
        .await?
        .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
        let plan = plan_of(&row)?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Every plan.
    pub async fn plans(&self) -> Result<Vec<Plan>, BillingError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM plans ORDER BY id");
        self.all(&sql, &[], plan_of).await
    }

    /// One plan.
    pub async fn plan(&self, id: i64) -> Result<Option<Plan>, BillingError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?");
        Ok(self.all(&sql, &[Bind::Int(id)], plan_of).await?.pop())
    }

    /// Add a member: a payer in a new household, or (with `household`) a dependant of an
    /// existing one. A key already a member is a conflict; an unknown plan or household is
    /// not found. All or nothing.
    pub async fn add_member(
        &self,
        pubkey: &PublicKey,
        plan_id: Option<i64>,
        household: Option<i64>,
        joined_on: Date,
        now: i64,
    ) -> Result<Member, BillingError> {
        let mut tx = self.begin().await?;
        let pubkey = pubkey.to_hex();
        let exists = fetch_optional(
            self,
            &mut tx,
            "SELECT id FROM members WHERE pubkey = ?",
            &[Bind::Text(&pubkey)],
        )
        .await?;
        if exists.is_some() {
            return Err(BillingError::Conflict("this key is a member already"));
        }
        if let Some(plan_id) = plan_id {
            let plan = fetch_optional(
                self,
                &mut tx,
                "SELECT kind FROM plans WHERE id = ?",
                &[Bind::Int(plan_id)],
            )
            .await?
            .ok_or(BillingError::NotFound("no such plan"))?;
            if household.is_some() && text(&plan, "kind")? == "family" {
                return Err(BillingError::Unprocessable(
                    "a dependant cannot hold a family plan; its payer does".to_owned(),
                ));
            }
        }
        let (household_id, role) = match household {
            Some(id) => {
                fetch_optional(
                    self,
                    &mut tx,
                    "SELECT id FROM households WHERE id = ?",
                    &[Bind::Int(id)],
                )
                .await?
                .ok_or(BillingError::NotFound("no such household"))?;
                (id, "dependant")
            }
            None => {
                let row = fetch_optional(
                    self,
                    &mut tx,
                    "INSERT INTO households (created_at) VALUES (?) RETURNING id",
                    &[Bind::Int(now)],
                )
                .await?
                .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
                (int(&row, "id")?, "payer")
            }
        };
        let joined = format_date(joined_on);
        let sql = format!(
            "INSERT INTO members (pubkey, household_id, role, plan_id, joined_on, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING {MEMBER_COLUMNS}"
        );
        let binds = [
            Bind::Text(&pubkey),
            Bind::Int(household_id),
            Bind::Text(role),
            Bind::OptInt(plan_id),
            Bind::Text(&joined),
            Bind::Int(now),
        ];
        let row = fetch_optional(self, &mut tx, &sql, &binds)
            .await?
            .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
        let member = member_of(&row)?;
        tx.commit().await?;
        Ok(member)
    }

    /// End a membership on `left_on` (billing stops after that month).
    pub async fn end_membership(&self, id: i64, left_on: Date) -> Result<Member, BillingError> {
        let mut tx = self.begin().await?;
        let left = format_date(left_on);
        let row = fetch_optional(
            self,
            &mut tx,
            &format!("UPDATE members SET left_on = ? WHERE id = ? RETURNING {MEMBER_COLUMNS}"),
            &[Bind::Text(&left), Bind::Int(id)],
        )
        .await?
        .ok_or(BillingError::NotFound("no such member"))?;
        let member = member_of(&row)?;
        if member.joined_on > left {
            return Err(BillingError::Unprocessable(
                "left_on is before joined_on".to_owned(),
            ));
        }
        tx.commit().await?;
        Ok(member)
    }

    /// Every member.
    pub async fn members(&self) -> Result<Vec<Member>, BillingError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members ORDER BY id");
        self.all(&sql, &[], member_of).await
    }

    /// One member.
    pub async fn member(&self, id: i64) -> Result<Option<Member>, BillingError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?");
        Ok(self.all(&sql, &[Bind::Int(id)], member_of).await?.pop())
    }

    /// Record a visit of a member on a per-visit plan; `amount` defaults to the plan's fee.
    /// It is billed on its household payer's next invoice.
    pub async fn add_visit(
        &self,
        member_id: i64,
        visit_on: Date,
        amount: Option<i64>,
        now: i64,
    ) -> Result<(i64, i64), BillingError> {
        let mut tx = self.begin().await?;
        let row = fetch_optional(
            self,
            &mut tx,
            "SELECT m.joined_on, p.kind, p.amount_minor FROM members m LEFT JOIN plans p ON p.id = m.plan_id WHERE m.id = ?",
            &[Bind::Int(member_id)],
        )
        .await?
        .ok_or(BillingError::NotFound("no such member"))?;
        if opt_text(&row, "kind")?.as_deref() != Some("per-visit") {
            return Err(BillingError::Conflict(
                "the member is not on a per-visit plan",
            ));
        }
        let amount = match amount {
            Some(amount) => check_amount("amount_minor", amount, false)?,
            None => int(&row, "amount_minor")?,
        };
        let day = format_date(visit_on);
        let inserted = fetch_optional(
            self,
            &mut tx,
            "INSERT INTO visits (member_id, visit_on, amount_minor, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            &[Bind::Int(member_id), Bind::Text(&day), Bind::Int(amount), Bind::Int(now)],
        )
        .await?
        .ok_or(BillingError::Database(sqlx::Error::RowNotFound))?;
        let id = int(&inserted, "id")?;
        tx.commit().await?;
        Ok((id, amount))
    }
}
