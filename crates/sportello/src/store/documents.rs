//! Queries behind the printable documents: who may download a notice, and the positions of a
//! service in pages for the bulk ZIP of notices.

use pagopa::{Cents, EcFiscalCode, NoticeNumber};

use super::ente::Ente;
use super::positions::{POSITION_COLUMNS, position_from_row};
use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::position::Position;
use crate::pdf::{ReceiptDocument, ReceiptParty, ReceiptTransfer};
use crate::with_db;

/// At most this many receipts in one printed PDF.
pub const MAX_RECEIPTS_PER_PDF: usize = 50;

/// Statuses whose notices are worth printing: published and not (fully) paid or cancelled.
const PRINTABLE: &str = "('PUBLISHED', 'VALID', 'PARTIALLY_PAID')";

impl Store {
    /// The position holding the option `iuv` of the ente, if it is payable (published, valid
    /// or partially paid) and the citizen (`account_id`, `fiscal_code`) may pay it: they are
    /// its debtor, they started it, or it is in their cart. `None` otherwise, so that callers
    /// cannot tell "not yours" from "does not exist" (nor see drafts or cancelled notices).
    pub async fn notice_position_for_citizen(
        &self,
        ente_id: i64,
        iuv: &str,
        account_id: i64,
        fiscal_code: &str,
    ) -> StoreResult<Option<Position>> {
        let sql = format!(
            "SELECT {cols} FROM debt_positions p
             WHERE p.ente_id = $1 AND p.status IN {PRINTABLE}
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

impl Store {
    /// The successful receipts `receipt_ids` of the ente, in the order asked, ready to print,
    /// if every one of them concerns the citizen (debtor or payer by fiscal code, or paid from
    /// their account). `None` when any is missing or not theirs: the caller answers 404
    /// without telling which. At most [`MAX_RECEIPTS_PER_PDF`] ids.
    pub async fn receipts_for_citizen(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
        account_id: i64,
        fiscal_code: &str,
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        self.receipt_documents(ente, receipt_ids, Some((account_id, fiscal_code)))
            .await
    }

    /// The successful receipts `receipt_ids` of the ente, ready to print, whoever they concern
    /// (the back office, which checks its operator's scope before asking).
    pub async fn receipts_for_office(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        self.receipt_documents(ente, receipt_ids, None).await
    }

    async fn receipt_documents(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
        citizen: Option<(i64, &str)>,
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        if receipt_ids.is_empty() || receipt_ids.len() > MAX_RECEIPTS_PER_PDF {
            return Ok(None);
        }
        let (first, whose) = match citizen {
            Some(_) => (
                4,
                "AND (upper(r.debtor_fiscal_code) = upper($2)
                    OR upper(r.payer_fiscal_code) = upper($2)
                    OR r.payer_account_id = $3)",
            ),
            None => (2, ""),
        };
        let list = (0..receipt_ids.len())
            .map(|i| format!("${}", i + first))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT r.id, r.receipt_id, r.notice_number, r.iuv, r.amount, r.description,
                    r.debtor_fiscal_code, r.debtor_name, r.payer_fiscal_code, r.payer_name,
                    r.id_psp, r.psp_company_name, r.id_channel, r.channel_description,
                    r.payment_method, r.fee, r.payment_date_time, s.name AS service_name
             FROM receipts r
             LEFT JOIN payment_options o ON o.id = r.payment_option_id
             LEFT JOIN debt_positions p ON p.id = o.position_id
             LEFT JOIN services s ON s.id = p.service_id
             WHERE r.ente_id = $1 AND r.outcome = 'OK' AND r.receipt_id IN ({list})
               {whose}"
        );
        let ec_fiscal_code = EcFiscalCode::parse(&ente.fiscal_code)
            .map_err(|e| sqlx::Error::Decode(format!("ente fiscal code: {e}").into()))?;
        let rows: Vec<(i64, ReceiptDocument)> = with_db!(self.db(), |pool| {
            let mut q = sqlx::query(&sql).bind(ente.id);
            if let Some((account_id, fiscal_code)) = citizen {
                q = q.bind(fiscal_code).bind(account_id);
            }
            for id in receipt_ids {
                q = q.bind(id);
            }
            q.fetch_all(pool)
                .await?
                .iter()
                .map(|r| receipt_from_row(r, ente, &ec_fiscal_code))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut unique = receipt_ids.to_vec();
        unique.sort();
        unique.dedup();
        if rows.len() != unique.len() {
            return Ok(None);
        }
        let pks: Vec<i64> = rows.iter().map(|(pk, _)| *pk).collect();
        let list = (0..pks.len())
            .map(|i| format!("${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT receipt_pk, id_transfer, amount, fiscal_code_pa, iban, remittance_information
             FROM receipt_transfers WHERE receipt_pk IN ({list}) ORDER BY receipt_pk, id_transfer"
        );
        let transfers: Vec<(i64, ReceiptTransfer)> = with_db!(self.db(), |pool| {
            let mut q = sqlx::query(&sql);
            for pk in &pks {
                q = q.bind(pk);
            }
            q.fetch_all(pool)
                .await?
                .iter()
                .map(|r| -> Result<_, sqlx::Error> {
                    let id: i32 = r.col("id_transfer")?;
                    Ok((
                        r.col::<i64>("receipt_pk")?,
                        ReceiptTransfer {
                            id_transfer: u8::try_from(id).unwrap_or(0),
                            fiscal_code: r.col("fiscal_code_pa")?,
                            iban: r.col("iban")?,
                            remittance_information: r.col("remittance_information")?,
                            amount: Cents::new(r.col("amount")?),
                        },
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        let mut by_id: std::collections::HashMap<String, ReceiptDocument> = rows
            .into_iter()
            .map(|(pk, mut doc)| {
                doc.transfers = transfers
                    .iter()
                    .filter(|(t_pk, _)| *t_pk == pk)
                    .map(|(_, t)| t.clone())
                    .collect();
                (doc.receipt_id.clone(), doc)
            })
            .collect();
        // In the order asked; an id asked twice prints once.
        Ok(Some(
            receipt_ids
                .iter()
                .filter_map(|id| by_id.remove(id))
                .collect(),
        ))
    }
}

fn receipt_from_row(
    r: &impl DbRow,
    ente: &Ente,
    ec_fiscal_code: &EcFiscalCode,
) -> Result<(i64, ReceiptDocument), sqlx::Error> {
    let nav: String = r.col("notice_number")?;
    let notice_number = NoticeNumber::parse(&nav)
        .map_err(|e| sqlx::Error::Decode(format!("receipt notice number {nav}: {e}").into()))?;
    let payer = match (
        r.col::<Option<String>>("payer_fiscal_code")?,
        r.col::<Option<String>>("payer_name")?,
    ) {
        (Some(fiscal_code), Some(full_name)) => Some(ReceiptParty {
            fiscal_code,
            full_name,
        }),
        _ => None,
    };
    let id_channel: String = r.col("id_channel")?;
    let channel = match r.col::<Option<String>>("channel_description")? {
        Some(d) if !d.is_empty() => format!(
            "{} ({id_channel})",
            crate::domain::payment_method::describe_channel(&d)
        ),
        _ => id_channel,
    };
    Ok((
        r.col("id")?,
        ReceiptDocument {
            ente_name: ente.name.clone(),
            ec_fiscal_code: ec_fiscal_code.clone(),
            receipt_id: r.col("receipt_id")?,
            notice_number,
            iuv: r.col("iuv")?,
            description: r.col("description")?,
            service_name: r.col("service_name")?,
            debtor: ReceiptParty {
                fiscal_code: r.col("debtor_fiscal_code")?,
                full_name: r.col("debtor_name")?,
            },
            payer,
            psp_id: r.col("id_psp")?,
            psp_name: r.col("psp_company_name")?,
            channel,
            payment_method: r.col("payment_method")?,
            fee: r.col::<Option<i64>>("fee")?.map(Cents::new),
            payment_date_time: r.col::<Timestamp>("payment_date_time")?,
            transfers: Vec::new(),
            amount: Cents::new(r.col("amount")?),
        },
    ))
}

/// `a, b` → `p.a, p.b`.
fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
