//! Checkouts: a cart of up to 5 payment options sent to pagoPA Checkout, and where it stands.
//!
//! States: `created` (row written, Checkout not yet answered) → `redirected` (the citizen is on
//! Checkout) → `waiting_receipt` (back on the portal through the ok URL) → `paid` /
//! `partially_paid` (set by the station when receipts arrive); or `cancelled` / `failed`.
//! Only receipts mark anything paid: the return pages move a checkout between waiting states.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::{with_db, with_tx};

/// How long a checkout waits for its receipt before its options are offered again: a receipt
/// that never came (the PSP gave up) must not hide a debt for ever.
pub const WAIT_LIMIT_MINUTES: i64 = 30;

/// One option of a checkout, with what the cart shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutItem {
    /// Payment option id.
    pub option_id: i64,
    /// 1..=5, the order in the cart.
    pub position: i64,
    /// Amount sent to Checkout, in cents.
    pub amount: i64,
    /// Notice number.
    pub nav: String,
    /// Causale.
    pub description: String,
    /// The option's status now (`PO_PAID` once its receipt is in).
    pub option_status: String,
    /// The receipt that paid it through this checkout (its row id), once it is in.
    pub receipt: Option<i64>,
}

/// A checkout with its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Id, also the `idCart` sent to Checkout and the payment note the node passes back.
    pub id: String,
    /// The account that started it.
    pub account_id: Option<i64>,
    /// See the module documentation.
    pub state: String,
    /// Sum of the items.
    pub total_amount: i64,
    /// E-mail given to Checkout.
    pub email_notice: Option<String>,
    /// Where Checkout sent the citizen.
    pub redirect_url: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// When.
    pub created_at: Timestamp,
    /// The options, in cart order.
    pub items: Vec<CheckoutItem>,
}

impl Checkout {
    /// Whether every option has been paid.
    pub fn all_paid(&self) -> bool {
        !self.items.is_empty() && self.items.iter().all(|i| i.option_status == "PO_PAID")
    }
}

/// How the citizen came back from Checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// `returnOkUrl`: paid on Checkout's side; the receipt is on its way.
    Ok,
    /// `returnCancelUrl`.
    Cancel,
    /// `returnErrorUrl`.
    Error,
}

impl Store {
    /// Writes a new checkout in state `created` with its items (option id, amount), in order.
    pub async fn create_checkout(
        &self,
        id: &str,
        account_id: i64,
        email_notice: Option<&str>,
        items: &[(i64, i64)],
    ) -> StoreResult<()> {
        let total: i64 = items.iter().map(|(_, a)| a).sum();
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        with_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO checkouts (id, account_id, state, total_amount, email_notice, created_at, updated_at)
                 VALUES ($1, $2, 'created', $3, $4, $5, $5)",
            )
            .bind(id)
            .bind(account_id)
            .bind(total)
            .bind(email_notice)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        });
        for (i, (option_id, amount)) in items.iter().enumerate() {
            with_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO checkout_items (checkout_id, payment_option_id, position, amount) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(option_id)
                .bind(i as i64 + 1)
                .bind(amount)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves a checkout from `from` states to `to`; false when it was in none of them.
    async fn move_checkout(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        redirect_url: Option<&str>,
        failure_reason: Option<&str>,
    ) -> StoreResult<bool> {
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 6)).collect();
        let sql = format!(
            "UPDATE checkouts SET state = $2, updated_at = $3,
                 redirect_url = COALESCE($4, redirect_url), failure_reason = COALESCE($5, failure_reason)
             WHERE id = $1 AND state IN ({})",
            placeholders.join(", ")
        );
        with_db!(self.db(), |pool| {
            let mut q = sqlx::query(&sql)
                .bind(id)
                .bind(to)
                .bind(Timestamp::now())
                .bind(redirect_url)
                .bind(failure_reason);
            for f in from {
                q = q.bind(*f);
            }
            Ok(q.execute(pool).await?.rows_affected() == 1)
        })
    }

    /// Checkout accepted the cart: the citizen goes to `url`.
    pub async fn checkout_redirected(&self, id: &str, url: &str) -> StoreResult<bool> {
        self.move_checkout(id, &["created"], "redirected", Some(url), None)
            .await
    }

    /// Checkout refused the cart or could not be reached.
    pub async fn checkout_failed(&self, id: &str, reason: &str) -> StoreResult<bool> {
        self.move_checkout(id, &["created", "redirected"], "failed", None, Some(reason))
            .await
    }

    /// The citizen came back from Checkout. Receipts may have arrived already (then the
    /// checkout is `paid` and stays so): only the waiting states move.
    pub async fn checkout_returned(&self, id: &str, how: Return) -> StoreResult<bool> {
        let (to, reason) = match how {
            Return::Ok => ("waiting_receipt", None),
            Return::Cancel => ("cancelled", None),
            Return::Error => ("failed", Some("Checkout returned to the error URL")),
        };
        self.move_checkout(id, &["created", "redirected"], to, None, reason)
            .await
    }

    /// A checkout with its items, if it belongs to `account_id` (anyone else gets None).
    pub async fn checkout_for_account(
        &self,
        id: &str,
        account_id: i64,
    ) -> StoreResult<Option<Checkout>> {
        let head = with_db!(self.db(), |pool| {
            sqlx::query(
                "SELECT id, account_id, state, total_amount, email_notice, redirect_url, failure_reason, created_at
                 FROM checkouts WHERE id = $1 AND account_id = $2",
            )
            .bind(id)
            .bind(account_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<Checkout, sqlx::Error> {
                Ok(Checkout {
                    id: r.col("id")?,
                    account_id: r.col("account_id")?,
                    state: r.col("state")?,
                    total_amount: r.col("total_amount")?,
                    email_notice: r.col("email_notice")?,
                    redirect_url: r.col("redirect_url")?,
                    failure_reason: r.col("failure_reason")?,
                    created_at: r.col("created_at")?,
                    items: Vec::new(),
                })
            })
            .transpose()?
        });
        let Some(mut checkout) = head else {
            return Ok(None);
        };
        checkout.items = with_db!(self.db(), |pool| {
            sqlx::query(
                "SELECT i.payment_option_id, i.position, i.amount, o.nav, o.description, o.status,
                        (SELECT MIN(r.id) FROM receipts r WHERE r.payment_option_id = i.payment_option_id
                           AND r.checkout_id = i.checkout_id AND r.outcome = 'OK') AS receipt
                 FROM checkout_items i JOIN payment_options o ON o.id = i.payment_option_id
                 WHERE i.checkout_id = $1 ORDER BY i.position",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| -> Result<CheckoutItem, sqlx::Error> {
                Ok(CheckoutItem {
                    option_id: r.col("payment_option_id")?,
                    position: i64::from(r.col::<i32>("position")?),
                    amount: r.col("amount")?,
                    nav: r.col("nav")?,
                    description: r.col("description")?,
                    option_status: r.col("status")?,
                    receipt: r.col("receipt")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(Some(checkout))
    }

    /// Of `option_ids`, those still unpaid in a checkout waiting for its receipt (for less than
    /// [`WAIT_LIMIT_MINUTES`]): the cart shows them as waiting and does not offer them.
    pub async fn options_awaiting_receipt(
        &self,
        option_ids: &[i64],
        now: Timestamp,
    ) -> StoreResult<Vec<i64>> {
        if option_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..option_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT DISTINCT i.payment_option_id FROM checkout_items i
             JOIN checkouts c ON c.id = i.checkout_id
             JOIN payment_options o ON o.id = i.payment_option_id
             WHERE c.state = 'waiting_receipt' AND c.updated_at > $1 AND o.status = 'PO_UNPAID'
               AND i.payment_option_id IN ({})",
            placeholders.join(", ")
        );
        let since = now.plus(time::Duration::minutes(-WAIT_LIMIT_MINUTES));
        with_db!(self.db(), |pool| {
            let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(since);
            for id in option_ids {
                q = q.bind(*id);
            }
            Ok(q.fetch_all(pool).await?)
        })
    }
}
