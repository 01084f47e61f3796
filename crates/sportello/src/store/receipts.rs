//! Receipts from `paSendRT[V2]`: stored once, never overwritten, never deleted.

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::{with_db, with_tx};

/// The columns of a receipt this layer needs to store (the full model grows with the connector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// pagoPA receiptId (unique per ente).
    pub receipt_id: String,
    /// The option it pays, when Sportello knows it.
    pub payment_option_id: Option<i64>,
    /// Notice number.
    pub notice_number: String,
    /// IUV.
    pub iuv: String,
    /// `OK` or `KO`.
    pub outcome: String,
    /// Amount in cents.
    pub amount: i64,
    /// Description.
    pub description: String,
    /// Ente name.
    pub company_name: String,
    /// Debtor type F/G.
    pub debtor_type: String,
    /// Debtor fiscal code.
    pub debtor_fiscal_code: String,
    /// Debtor name.
    pub debtor_name: String,
    /// PSP id.
    pub id_psp: String,
    /// PSP name.
    pub psp_company_name: String,
    /// Channel id.
    pub id_channel: String,
    /// Legally binding payment time.
    pub payment_date_time: Timestamp,
    /// Whether it must be refunded (a second receipt for a notice already paid).
    pub refund_required: bool,
    /// The raw XML as received.
    pub raw_xml: String,
}

impl Store {
    /// Stores a receipt in the caller's transaction. A receiptId already stored is a
    /// [`StoreError::Conflict`]; the caller decides whether that is an idempotent retry.
    pub async fn insert_receipt_in(tx: &mut Tx, ente_id: i64, r: &NewReceipt) -> StoreResult<i64> {
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO receipts (ente_id, receipt_id, payment_option_id, notice_number, iuv, outcome, amount, description, company_name, debtor_type, debtor_fiscal_code, debtor_name, id_psp, psp_company_name, id_channel, payment_date_time, refund_required, raw_xml, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
            )
            .bind(ente_id)
            .bind(&r.receipt_id)
            .bind(r.payment_option_id)
            .bind(&r.notice_number)
            .bind(&r.iuv)
            .bind(&r.outcome)
            .bind(r.amount)
            .bind(&r.description)
            .bind(&r.company_name)
            .bind(&r.debtor_type)
            .bind(&r.debtor_fiscal_code)
            .bind(&r.debtor_name)
            .bind(&r.id_psp)
            .bind(&r.psp_company_name)
            .bind(&r.id_channel)
            .bind(r.payment_date_time)
            .bind(r.refund_required)
            .bind(&r.raw_xml)
            .bind(Timestamp::now())
            .fetch_one(conn)
            .await
            .map_err(|e| StoreError::from_insert(e, format!("receiptId {}", r.receipt_id)))?
        }))
    }

    /// Number of receipts stored for a notice, and how many are flagged for refund.
    pub async fn receipt_counts(
        &self,
        ente_id: i64,
        notice_number: &str,
    ) -> StoreResult<(i64, i64)> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN refund_required THEN 1 ELSE 0 END), 0) AS refunds
                 FROM receipts WHERE ente_id = $1 AND notice_number = $2",
            )
            .bind(ente_id)
            .bind(notice_number)
            .fetch_one(pool)
            .await?;
            Ok((row.col("total")?, row.col("refunds")?))
        })
    }
}
