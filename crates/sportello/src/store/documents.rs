//! Queries behind the printable documents: who may download a notice, and the positions of a
//! service in pages for the bulk ZIP of notices.

use super::positions::{POSITION_COLUMNS, position_from_row};
use super::{Store, StoreResult};
use crate::domain::position::Position;
use crate::with_db;

/// Statuses whose notices are worth printing: published and not (fully) paid or cancelled.
const PRINTABLE: &str = "('PUBLISHED', 'VALID', 'PARTIALLY_PAID')";

impl Store {
    /// The position holding the option `iuv` of the ente, if the citizen (`account_id`,
    /// `fiscal_code`) may pay it: they are its debtor, they started it, or it is in their cart.
    /// `None` otherwise, so that callers cannot tell "not yours" from "does not exist".
    pub async fn notice_position_for_citizen(
        &self,
        ente_id: i64,
        iuv: &str,
        account_id: i64,
        fiscal_code: &str,
    ) -> StoreResult<Option<Position>> {
        let sql = format!(
            "SELECT {cols} FROM debt_positions p
             WHERE p.ente_id = $1
               AND p.id = (SELECT o.position_id FROM payment_options o
                           WHERE o.ente_id = $1 AND o.iuv = $2)
               AND (upper(p.debtor_fiscal_code) = upper($3)
                    OR p.created_by_account_id = $4
                    OR EXISTS (SELECT 1 FROM cart_entries c
                               JOIN payment_options o2 ON o2.id = c.payment_option_id
                               WHERE c.account_id = $4 AND o2.ente_id = $1 AND o2.iuv = $2))",
            cols = prefixed(POSITION_COLUMNS, "p.")
        );
        let position = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(iuv)
                .bind(fiscal_code)
                .bind(account_id)
                .fetch_optional(pool)
                .await?
                .map(|r| position_from_row(&r))
                .transpose()?
        });
        let Some(position) = position else {
            return Ok(None);
        };
        Ok(self.attach_options(vec![position]).await?.pop())
    }

    /// Up to `limit` printable positions of the service `service_code` with id greater than
    /// `after_id`, in id order, with options and transfers: keyset paging, so a bulk export
    /// holds one page in memory whatever the total.
    pub async fn service_positions_after(
        &self,
        ente_id: i64,
        service_code: &str,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<Position>> {
        let sql = format!(
            "SELECT {cols} FROM debt_positions p
             JOIN services s ON s.id = p.service_id
             WHERE p.ente_id = $1 AND s.code = $2 AND p.id > $3 AND p.status IN {PRINTABLE}
             ORDER BY p.id LIMIT $4",
            cols = prefixed(POSITION_COLUMNS, "p.")
        );
        let positions = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(service_code)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(position_from_row)
                .collect::<Result<Vec<_>, _>>()?
        });
        self.attach_options(positions).await
    }

    /// How many printable positions the service has (for the progress bar).
    pub async fn count_service_positions(
        &self,
        ente_id: i64,
        service_code: &str,
    ) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM debt_positions p JOIN services s ON s.id = p.service_id
             WHERE p.ente_id = $1 AND s.code = $2 AND p.status IN {PRINTABLE}"
        );
        Ok(with_db!(self.db(), |pool| {
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(ente_id)
                .bind(service_code)
                .fetch_one(pool)
                .await?
        }))
    }
}

/// `a, b` → `p.a, p.b`.
fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
