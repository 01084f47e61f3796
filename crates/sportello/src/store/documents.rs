//! Queries behind the printable documents: who may download a notice, and the positions of a
//! service in pages for the bulk ZIP of notices.

use pagopa::{Cents, EcFiscalCode, NoticeNumber};

use super::ente::Ente;
use super::positions::{POSITION_COLUMNS, position_from_row};
use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::access::{self, NoticeFacts};
use crate::domain::identity::Viewer;
use crate::domain::position::Position;
use crate::pdf::{ReceiptDocument, ReceiptParty, ReceiptTransfer};
use crate::store::history::{FACTS, StoredFacts};
use crate::with_db;

/// At most this many receipts in one printed PDF.
pub const MAX_RECEIPTS_PER_PDF: usize = 50;

/// `('PUBLISHED', 'VALID', …)`: the statuses whose notices are worth printing
/// ([`access::PRINTABLE`]), for the bulk queries.
/// The id of the service with code `$2` of the ente `$1`, as a scalar subquery, so that the
/// positions are read by the index (ente_id, service_id, id), a page at a time from where the
/// last one ended. With `services` joined instead, the plan depended on which indexes happened
/// to exist: before migration 0009 SQLite took the status index and sorted every remaining row
/// for each page, and a bulk export's time grew with the square of its size.
const SERVICE_ID: &str = "(SELECT s.id FROM services s WHERE s.ente_id = $1 AND s.code = $2)";

fn printable() -> String {
    let list: Vec<String> = access::PRINTABLE
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", list.join(", "))
}

/// A position as a citizen asked to print its notice, with what the access rule needs besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeCandidate {
    /// The position, with its options.
    pub position: Position,
    /// Whether the asking account added the notice to its cart by its code.
    pub added_by_viewer: bool,
    /// Whether the position's service allows paying for others.
    pub pay_for_others: bool,
}

impl NoticeCandidate {
    /// What the access rule needs.
    pub fn facts(&self) -> NoticeFacts<'_> {
        NoticeFacts {
            origin: self.position.origin,
            debtor_fiscal_code: &self.position.debtor.fiscal_code,
            created_by_account_id: self.position.created_by_account_id,
            added_by_viewer: self.added_by_viewer,
            pay_for_others: self.pay_for_others,
        }
    }
}

impl Store {
    /// The position holding the option `iuv` of the ente, whoever it belongs to: the caller
    /// decides with `crate::domain::access::may_print_notice`.
    pub async fn notice_candidate(
        &self,
        ente_id: i64,
        iuv: &str,
        account_id: i64,
    ) -> StoreResult<Option<NoticeCandidate>> {
        let sql = format!(
            "SELECT {cols},
                    COALESCE(s.pay_for_others, TRUE) AS pay_for_others,
                    EXISTS (SELECT 1 FROM cart_entries c
                            JOIN payment_options o2 ON o2.id = c.payment_option_id
                            WHERE c.account_id = $3 AND o2.position_id = p.id AND o2.iuv = $2) AS added_by_viewer
             FROM debt_positions p
             LEFT JOIN services s ON s.id = p.service_id
             WHERE p.ente_id = $1
               AND p.id = (SELECT o.position_id FROM payment_options o
                           WHERE o.ente_id = $1 AND o.iuv = $2)",
            cols = prefixed(POSITION_COLUMNS, "p.")
        );
        let found = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(iuv)
                .bind(account_id)
                .fetch_optional(pool)
                .await?
                .map(|r| -> Result<_, sqlx::Error> {
                    Ok((
                        position_from_row(&r)?,
                        r.col::<bool>("added_by_viewer")?,
                        r.col::<bool>("pay_for_others")?,
                    ))
                })
                .transpose()?
        });
        let Some((position, added_by_viewer, pay_for_others)) = found else {
            return Ok(None);
        };
        let Some(position) = self.attach_options(vec![position]).await?.pop() else {
            return Ok(None);
        };
        Ok(Some(NoticeCandidate {
            position,
            added_by_viewer,
            pay_for_others,
        }))
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
             WHERE p.ente_id = $1 AND p.service_id = {service} AND p.id > $3 AND p.status IN {printable}
             ORDER BY p.id LIMIT $4",
            cols = prefixed(POSITION_COLUMNS, "p."),
            service = SERVICE_ID,
            printable = printable(),
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
            "SELECT COUNT(*) FROM debt_positions p
             WHERE p.ente_id = $1 AND p.service_id = {service} AND p.status IN {printable}",
            service = SERVICE_ID,
            printable = printable(),
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
    /// The receipts `receipt_ids` of the ente, in the order asked, ready to print, if the
    /// viewer may see every one of them (`crate::domain::access::receipt_access`, the rule of
    /// the history too), other people's names and codes masked. `None` when any is missing or
    /// not theirs: the caller answers 404 without telling which. At most
    /// [`MAX_RECEIPTS_PER_PDF`] ids.
    pub async fn receipts_for_viewer(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
        viewer: &Viewer,
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        self.receipt_documents(ente, receipt_ids, Some(viewer))
            .await
    }

    /// The successful receipts `receipt_ids` of the ente, ready to print, whoever they concern,
    /// unmasked (the back office, which checks its operator's scope before asking).
    pub async fn receipts_for_office(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        self.receipt_documents(ente, receipt_ids, None).await
    }

    /// `viewer` `None`: the office reads every successful receipt as it is.
    async fn receipt_documents(
        &self,
        ente: &Ente,
        receipt_ids: &[String],
        viewer: Option<&Viewer>,
    ) -> StoreResult<Option<Vec<ReceiptDocument>>> {
        if receipt_ids.is_empty() || receipt_ids.len() > MAX_RECEIPTS_PER_PDF {
            return Ok(None);
        }
        let list = (0..receipt_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT r.id, r.receipt_id, r.notice_number, r.iuv, r.amount, r.description,
                    r.debtor_name, r.payer_name,
                    r.id_psp, r.psp_company_name, r.id_channel, r.channel_description,
                    r.payment_method, r.fee, r.payment_date_time, s.name AS service_name, {FACTS}
             FROM receipts r
             LEFT JOIN payment_options o ON o.id = r.payment_option_id
             LEFT JOIN debt_positions p ON p.id = o.position_id
             LEFT JOIN services s ON s.id = p.service_id
             WHERE r.ente_id = $1 AND r.receipt_id IN ({list})"
        );
        let ec_fiscal_code = EcFiscalCode::parse(&ente.fiscal_code)
            .map_err(|e| sqlx::Error::Decode(format!("ente fiscal code: {e}").into()))?;
        let rows: Vec<Option<(i64, ReceiptDocument)>> = with_db!(self.db(), |pool| {
            let mut q = sqlx::query(&sql).bind(ente.id);
            for id in receipt_ids {
                q = q.bind(id);
            }
            q.fetch_all(pool)
                .await?
                .iter()
                .map(|r| receipt_from_row(r, ente, &ec_fiscal_code, viewer))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        // Every one must be the viewer's to see.
        let Some(rows) = rows.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
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

/// A receipt ready to print as `viewer` may read it; `None` when it is not theirs to see.
fn receipt_from_row(
    r: &impl DbRow,
    ente: &Ente,
    ec_fiscal_code: &EcFiscalCode,
    viewer: Option<&Viewer>,
) -> Result<Option<(i64, ReceiptDocument)>, sqlx::Error> {
    let facts = StoredFacts::from_row(r)?;
    let shown = match viewer {
        Some(viewer) => access::receipt_access(viewer, &facts.facts()),
        None => facts.facts().ok.then_some(access::ReceiptAccess {
            debtor: access::DebtorShown::Full,
            payer: access::DebtorShown::Full,
        }),
    };
    let Some(shown) = shown else {
        return Ok(None);
    };
    let nav: String = r.col("notice_number")?;
    let notice_number = NoticeNumber::parse(&nav)
        .map_err(|e| sqlx::Error::Decode(format!("receipt notice number {nav}: {e}").into()))?;
    let payer = match (
        facts.payer_fiscal_code.as_deref(),
        r.col::<Option<String>>("payer_name")?,
    ) {
        (Some(fiscal_code), Some(full_name)) => Some(ReceiptParty {
            fiscal_code: shown.payer.fiscal_code(fiscal_code),
            full_name: shown.payer.name(&full_name),
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
    Ok(Some((
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
                fiscal_code: shown.debtor.fiscal_code(&facts.debtor_fiscal_code),
                full_name: shown.debtor.name(&r.col::<String>("debtor_name")?),
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
    )))
}

/// `a, b` → `p.a, p.b`.
fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
