//! The citizen's side of debt positions: what is pending for them (the cart), notices looked up
//! by code to pay for someone else, and the clean-up of abandoned spontaneous payments.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::position::{due_cutoff, is_past_due};
use crate::with_db;

/// Why a pending option is in someone's cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartReason {
    /// The citizen is the debtor.
    Debtor,
    /// The citizen started it (a spontaneous payment).
    Started,
    /// The citizen added someone else's notice by its code.
    ForOthers,
}

/// One payable option, as the cart and the notice lookup show it.
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
    /// The position's status (GPD name).
    pub position_status: String,
    /// The option's status (GPD name).
    pub option_status: String,
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
    /// Who started it.
    pub created_by_account_id: Option<i64>,
}

impl PendingOption {
    /// Whether it is past its due date in a way that stops payment.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.position_status == "EXPIRED"
            || (self.switch_to_expired && is_past_due(self.due_date, now))
    }
}

const SELECT: &str = "SELECT o.id AS option_id, p.id AS position_id, o.nav, o.iuv, o.amount, o.due_date, o.description,
    p.status AS position_status, o.status AS option_status, p.switch_to_expired, p.full_name, p.debtor_fiscal_code,
    s.name AS service_name, s.pay_for_others, p.created_by_account_id
    FROM payment_options o
    JOIN debt_positions p ON p.id = o.position_id
    LEFT JOIN services s ON s.id = p.service_id";

fn from_row(r: &impl DbRow) -> Result<PendingOption, sqlx::Error> {
    Ok(PendingOption {
        option_id: r.col("option_id")?,
        position_id: r.col("position_id")?,
        nav: r.col("nav")?,
        iuv: r.col("iuv")?,
        amount: r.col("amount")?,
        due_date: r.col("due_date")?,
        description: r.col("description")?,
        position_status: r.col("position_status")?,
        option_status: r.col("option_status")?,
        switch_to_expired: r.col("switch_to_expired")?,
        debtor_name: r.col("full_name")?,
        debtor_fiscal_code: r.col("debtor_fiscal_code")?,
        service_name: r.col("service_name")?,
        pay_for_others: r.col::<Option<bool>>("pay_for_others")?.unwrap_or(true),
        created_by_account_id: r.col("created_by_account_id")?,
    })
}

impl Store {
    /// The payable options pending for a citizen: those whose debtor they are, those they
    /// started, and the notices of others they added; oldest due date first.
    pub async fn cart(
        &self,
        ente_id: i64,
        account_id: i64,
        fiscal_code: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<(PendingOption, CartReason)>> {
        let sql = format!(
            "{SELECT}
             LEFT JOIN cart_entries c ON c.payment_option_id = o.id AND c.account_id = $2
             WHERE p.ente_id = $1 AND o.status = 'PO_UNPAID' AND p.status IN ('VALID', 'PARTIALLY_PAID')
               AND (o.due_date >= $4 OR p.switch_to_expired = FALSE)
               AND (p.debtor_fiscal_code = $3 OR p.created_by_account_id = $2 OR c.account_id IS NOT NULL)
             ORDER BY o.due_date, o.id"
        );
        let rows = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(account_id)
                .bind(fiscal_code)
                .bind(due_cutoff(now))
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows
            .into_iter()
            .map(|o| {
                let reason = if o.debtor_fiscal_code == fiscal_code {
                    CartReason::Debtor
                } else if o.created_by_account_id == Some(account_id) {
                    CartReason::Started
                } else {
                    CartReason::ForOthers
                };
                (o, reason)
            })
            .collect())
    }

    /// The option with this notice number at this ente, whatever its state.
    pub async fn option_by_nav(
        &self,
        ente_id: i64,
        nav: &str,
    ) -> StoreResult<Option<PendingOption>> {
        let sql = format!("{SELECT} WHERE p.ente_id = $1 AND o.nav = $2");
        with_db!(self.db(), |pool| {
            Ok(sqlx::query(&sql)
                .bind(ente_id)
                .bind(nav)
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
