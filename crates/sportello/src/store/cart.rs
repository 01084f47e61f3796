//! The citizen's side of debt positions: what is pending for them (the cart), notices looked up
//! by code to pay for someone else, and the clean-up of abandoned spontaneous payments.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::access::{self, NoticeFacts, NoticeState, Relation};
use crate::domain::identity::Viewer;
use crate::domain::position::{OptionStatus, Origin, PositionStatus, due_cutoff};
use crate::with_db;

/// One option with what the cart, the notice lookup and the access rules need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOption {
    /// Payment option id.
    pub option_id: i64,
    /// Position id.
    pub position_id: i64,
    /// Notice number.
    pub nav: String,
    /// IUV.
    pub iuv: String,
    /// Amount in cents.
    pub amount: i64,
    /// Due date.
    pub due_date: Timestamp,
    /// Causale.
    pub description: String,
    /// The position's status.
    pub position_status: PositionStatus,
    /// When a published position becomes valid.
    pub validity_date: Option<Timestamp>,
    /// The option's status.
    pub option_status: OptionStatus,
    /// Whether the option is an installment.
    pub is_partial_payment: bool,
    /// Whether the position expires after its due date.
    pub switch_to_expired: bool,
    /// Debtor's name.
    pub debtor_name: String,
    /// Debtor's fiscal code.
    pub debtor_fiscal_code: String,
    /// The service ("Dovuto"), if the position belongs to one.
    pub service_name: Option<String>,
    /// Whether the service allows paying for others (true when there is no service).
    pub pay_for_others: bool,
    /// Where the position came from.
    pub origin: Origin,
    /// Who started it.
    pub created_by_account_id: Option<i64>,
    /// Whether the account asking added it to their cart by its code.
    pub added_by_viewer: bool,
}

impl PendingOption {
    /// What the access rules need to know about it.
    pub fn facts(&self) -> NoticeFacts<'_> {
        NoticeFacts {
            origin: self.origin,
            debtor_fiscal_code: &self.debtor_fiscal_code,
            created_by_account_id: self.created_by_account_id,
            added_by_viewer: self.added_by_viewer,
            pay_for_others: self.pay_for_others,
        }
    }

    /// Its state, for [`crate::domain::access::payability`].
    pub fn state(&self) -> NoticeState {
        NoticeState {
            position_status: self.position_status,
            validity_date: self.validity_date,
            switch_to_expired: self.switch_to_expired,
            option_status: self.option_status,
            is_partial_payment: self.is_partial_payment,
            due_date: self.due_date,
        }
    }
}

fn select(added: &str) -> String {
    format!(
        "SELECT o.id AS option_id, p.id AS position_id, o.nav, o.iuv, o.amount, o.due_date, o.description,
    p.status AS position_status, p.validity_date, o.status AS option_status, o.is_partial_payment, p.switch_to_expired,
    p.full_name, p.debtor_fiscal_code, s.name AS service_name, s.pay_for_others, p.origin, p.created_by_account_id,
    {added} AS added_by_viewer
    FROM payment_options o
    JOIN debt_positions p ON p.id = o.position_id
    LEFT JOIN services s ON s.id = p.service_id"
    )
}

fn from_row(r: &impl DbRow) -> Result<PendingOption, sqlx::Error> {
    let position_status: String = r.col("position_status")?;
    let option_status: String = r.col("option_status")?;
    let origin: String = r.col("origin")?;
    let bad = |what: &str, v: &str| sqlx::Error::Decode(format!("{what} {v}").into());
    Ok(PendingOption {
        option_id: r.col("option_id")?,
        position_id: r.col("position_id")?,
        nav: r.col("nav")?,
        iuv: r.col("iuv")?,
        amount: r.col("amount")?,
        due_date: r.col("due_date")?,
        description: r.col("description")?,
        position_status: PositionStatus::parse(&position_status)
            .ok_or_else(|| bad("position status", &position_status))?,
        validity_date: r.col("validity_date")?,
        option_status: OptionStatus::parse(&option_status)
            .ok_or_else(|| bad("option status", &option_status))?,
        is_partial_payment: r.col("is_partial_payment")?,
        switch_to_expired: r.col("switch_to_expired")?,
        debtor_name: r.col("full_name")?,
        debtor_fiscal_code: r.col("debtor_fiscal_code")?,
        service_name: r.col("service_name")?,
        pay_for_others: r.col::<Option<bool>>("pay_for_others")?.unwrap_or(true),
        origin: Origin::parse(&origin).ok_or_else(|| bad("origin", &origin))?,
        created_by_account_id: r.col("created_by_account_id")?,
        added_by_viewer: r.col("added_by_viewer")?,
    })
}

impl Store {
    /// The options pending for a viewer, oldest due date first, each with how the viewer stands
    /// to it: what the access rules ([`access::relation`], [`access::payability`]) allow, and
    /// nothing else. The query only narrows the rows to read (the viewer's *verified* code on
    /// positions of the municipality, what they created, what they added).
    pub async fn cart(
        &self,
        ente_id: i64,
        viewer: &Viewer,
        now: Timestamp,
    ) -> StoreResult<Vec<(PendingOption, Relation)>> {
        let sql = format!(
            "{select}
             WHERE p.ente_id = $1 AND o.status = 'PO_UNPAID' AND p.status IN ('PUBLISHED', 'VALID', 'PARTIALLY_PAID')
               AND (o.due_date >= $4 OR p.switch_to_expired = FALSE)
               AND ((p.debtor_fiscal_code = $3 AND p.origin <> 'portal') OR p.created_by_account_id = $2 OR c.account_id IS NOT NULL)
             ORDER BY o.due_date, o.id",
            select = select("c.account_id IS NOT NULL")
                + " LEFT JOIN cart_entries c ON c.payment_option_id = o.id AND c.account_id = $2"
        );
        let rows = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(viewer.account_id())
                .bind(viewer.verified_fiscal_code())
                .bind(due_cutoff(now))
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows
            .into_iter()
            .filter(|o| access::payability(&o.state(), now).is_ok())
            .filter_map(|o| access::relation(viewer, &o.facts()).map(|r| (o, r)))
            .collect())
    }

    /// The option with this notice number at this ente, whatever its state; `added_by_viewer`
    /// says whether `account_id` has it in their cart.
    pub async fn option_by_nav(
        &self,
        ente_id: i64,
        nav: &str,
        account_id: i64,
    ) -> StoreResult<Option<PendingOption>> {
        let sql = format!(
            "{} WHERE p.ente_id = $1 AND o.nav = $2",
            select(
                "EXISTS (SELECT 1 FROM cart_entries c WHERE c.payment_option_id = o.id AND c.account_id = $3)"
            )
        );
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(ente_id)
                .bind(nav)
                .bind(account_id)
                .fetch_optional(pool)
                .await?
                .map(|r| from_row(&r))
                .transpose()?)
        })
    }

    /// Adds someone else's notice to a citizen's cart (idempotent).
    pub async fn add_to_cart(&self, account_id: i64, option_id: i64) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO cart_entries (account_id, payment_option_id, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, payment_option_id) DO NOTHING",
            )
            .bind(account_id)
            .bind(option_id)
            .bind(Timestamp::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes a notice added for someone else from the cart.
    pub async fn remove_from_cart(&self, account_id: i64, option_id: i64) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(
                "DELETE FROM cart_entries WHERE account_id = $1 AND payment_option_id = $2",
            )
            .bind(account_id)
            .bind(option_id)
            .execute(pool)
            .await?
            .rows_affected()
                > 0)
        })
    }

    /// Deletes spontaneous positions started on the portal and abandoned: past their
    /// `abandon_at`, still unpaid, never activated at a PSP and never sent to Checkout.
    pub async fn purge_abandoned(&self, now: Timestamp) -> StoreResult<u64> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(
                "DELETE FROM debt_positions WHERE origin = 'portal' AND abandon_at IS NOT NULL AND abandon_at < $1
                   AND status IN ('VALID', 'EXPIRED', 'DRAFT')
                   AND NOT EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = debt_positions.id AND o.status <> 'PO_UNPAID')
                   AND NOT EXISTS (SELECT 1 FROM payment_options o JOIN payment_attempts a ON a.payment_option_id = o.id WHERE o.position_id = debt_positions.id)
                   AND NOT EXISTS (SELECT 1 FROM payment_options o JOIN checkout_items ci ON ci.payment_option_id = o.id WHERE o.position_id = debt_positions.id)
                   AND NOT EXISTS (SELECT 1 FROM payment_options o JOIN receipts r ON r.payment_option_id = o.id WHERE o.position_id = debt_positions.id)",
            )
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }
}
