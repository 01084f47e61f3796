//! Checkouts: a cart of up to 5 payment options sent to pagoPA Checkout, and where it stands
//! (the states and their transitions are `crate::domain::checkout`).

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::checkout::{CheckoutState, Return, WAIT_LIMIT_MINUTES};
use crate::domain::identity::Viewer;
use crate::domain::position::OptionStatus;
use crate::{with_db, with_tx};

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
    /// The option's status now (paid once its receipt is in).
    pub option_status: OptionStatus,
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
    /// Where it stands.
    pub state: CheckoutState,
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
        !self.items.is_empty() && self.items.iter().all(|i| i.option_status.is_paid())
    }
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
        from: &[CheckoutState],
        to: CheckoutState,
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
                .bind(to.as_str())
                .bind(Timestamp::now())
                .bind(redirect_url)
                .bind(failure_reason);
            for f in from {
                q = q.bind(f.as_str());
            }
            Ok(q.execute(pool).await?.rows_affected() == 1)
        })
    }

    /// Checkout accepted the cart: the citizen goes to `url`.
    pub async fn checkout_redirected(&self, id: &str, url: &str) -> StoreResult<bool> {
        use CheckoutState as S;
        self.move_checkout(id, &[S::Created], S::Redirected, Some(url), None)
            .await
    }

    /// Checkout refused the cart or could not be reached.
    pub async fn checkout_failed(&self, id: &str, reason: &str) -> StoreResult<bool> {
        use CheckoutState as S;
        self.move_checkout(
            id,
            &[S::Created, S::Redirected],
            S::Failed,
            None,
            Some(reason),
        )
        .await
    }

    /// The citizen came back from Checkout: an open checkout moves as
    /// [`CheckoutState::on_return`] says; one that receipts (or an earlier return) moved on
    /// stays as it is (false).
    pub async fn checkout_returned(&self, id: &str, how: Return) -> StoreResult<bool> {
        use CheckoutState as S;
        let open: Vec<S> = S::ALL.into_iter().filter(|s| s.is_open()).collect();
        let Some(to) = S::Redirected.on_return(how) else {
            return Ok(false);
        };
        let reason = (how == Return::Error).then_some("Checkout returned to the error URL");
        self.move_checkout(id, &open, to, None, reason).await
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
                let state: String = r.col("state")?;
                Ok(Checkout {
                    id: r.col("id")?,
                    account_id: r.col("account_id")?,
                    state: CheckoutState::parse(&state).ok_or_else(|| {
                        sqlx::Error::Decode(format!("checkout state {state}").into())
                    })?,
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
                let status: String = r.col("status")?;
                Ok(CheckoutItem {
                    option_id: r.col("payment_option_id")?,
                    position: i64::from(r.col::<i32>("position")?),
                    amount: r.col("amount")?,
                    nav: r.col("nav")?,
                    description: r.col("description")?,
                    option_status: OptionStatus::parse(&status).ok_or_else(|| {
                        sqlx::Error::Decode(format!("option status {status}").into())
                    })?,
                    receipt: r.col("receipt")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        Ok(Some(checkout))
    }

    /// Of `option_ids`, those still unpaid in a checkout of the viewer waiting for its receipt
    /// (for less than [`WAIT_LIMIT_MINUTES`]): the viewer's cart shows them as waiting and does
    /// not offer them. Someone else's checkout hides nothing from this viewer
    /// (`crate::domain::access::waiting_hides`).
    pub async fn options_awaiting_receipt(
        &self,
        viewer: &Viewer,
        option_ids: &[i64],
        now: Timestamp,
    ) -> StoreResult<Vec<i64>> {
        if option_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..option_ids.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "SELECT DISTINCT i.payment_option_id, c.account_id FROM checkout_items i
             JOIN checkouts c ON c.id = i.checkout_id
             JOIN payment_options o ON o.id = i.payment_option_id
             WHERE c.state = 'waiting_receipt' AND c.updated_at > $1 AND o.status = 'PO_UNPAID'
               AND c.account_id = $2 AND i.payment_option_id IN ({})",
            placeholders.join(", ")
        );
        let since = now.plus(time::Duration::minutes(-WAIT_LIMIT_MINUTES));
        with_db!(self.db(), |pool| {
            let mut q = sqlx::query_as::<_, (i64, Option<i64>)>(&sql)
                .bind(since)
                .bind(viewer.account_id());
            for id in option_ids {
                q = q.bind(*id);
            }
            Ok(q.fetch_all(pool)
                .await?
                .into_iter()
                .filter(|(_, owner)| crate::domain::access::waiting_hides(viewer, *owner))
                .map(|(id, _)| id)
                .collect())
        })
    }
}
