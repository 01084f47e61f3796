//! "Storico pagamenti": the successful payments a citizen may see, filtered and keyset-paged.
//!
//! Who sees a receipt is [`access::receipt_access`], for the list, the selection, the CSV, the
//! detail (and the receipt PDF, `store::documents`) alike. The list reads the three sets that rule
//! can admit — what the viewer paid on the portal, what was paid outside the portal for a
//! municipality position of their *verified* fiscal code, and what was paid outside the portal
//! for a position they created — with index range scans joined by UNION ALL, so the page costs
//! the same with ten thousand or a million receipts in the table; every row read is then checked
//! by the rule.

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::access::{self, ReceiptAccess, ReceiptFacts};
use crate::domain::identity::Viewer;
use crate::domain::position::Origin;
use crate::with_db;

/// Filters of the history page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Paid at or after.
    pub from: Option<Timestamp>,
    /// Paid before.
    pub to: Option<Timestamp>,
    /// Service code.
    pub service: Option<String>,
    /// Words the causale contains (case-insensitive).
    pub causale: Option<String>,
    /// IUV or notice number, digits only.
    pub code: Option<String>,
    /// Minimum amount, cents.
    pub min_cents: Option<i64>,
    /// Maximum amount, cents.
    pub max_cents: Option<i64>,
}

/// Where a page starts: strictly after (older than) this key, or strictly before (newer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cursor {
    /// The newest page.
    #[default]
    First,
    /// Rows older than this key (next page).
    After(Timestamp, i64),
    /// Rows newer than this key (previous page).
    Before(Timestamp, i64),
    /// The oldest page.
    Last,
}

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Receipt primary key.
    pub id: i64,
    /// pagoPA receiptId.
    pub receipt_id: String,
    /// Causale.
    pub causale: String,
    /// Payment time.
    pub paid_at: Timestamp,
    /// Amount, cents.
    pub amount: i64,
    /// Service name ("Dovuto").
    pub service: Option<String>,
    /// IUV.
    pub iuv: String,
    /// Notice number.
    pub notice_number: String,
    /// PSP name.
    pub psp: String,
    /// What the access rule needs.
    pub facts: StoredFacts,
}

/// The stored facts of a receipt that [`access::receipt_access`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFacts {
    /// `OK` outcome.
    pub ok: bool,
    /// Flagged for refund.
    pub refund_required: bool,
    /// The account that paid on the portal.
    pub payer_account_id: Option<i64>,
    /// Debtor's fiscal code on the receipt.
    pub debtor_fiscal_code: String,
    /// Payer's fiscal code on the receipt.
    pub payer_fiscal_code: Option<String>,
    /// The paid position's origin and creator.
    pub position: Option<(Origin, Option<i64>)>,
}

impl StoredFacts {
    /// As the rule takes them.
    pub fn facts(&self) -> ReceiptFacts<'_> {
        ReceiptFacts {
            ok: self.ok,
            refund_required: self.refund_required,
            payer_account_id: self.payer_account_id,
            debtor_fiscal_code: &self.debtor_fiscal_code,
            payer_fiscal_code: self.payer_fiscal_code.as_deref(),
            position: self.position,
        }
    }

    /// Reads them from a row carrying [`FACTS`].
    pub(super) fn from_row(r: &impl DbRow) -> Result<StoredFacts, sqlx::Error> {
        let outcome: String = r.col("outcome")?;
        let origin: Option<String> = r.col("origin")?;
        let position = match origin {
            Some(o) => Some((
                Origin::parse(&o)
                    .ok_or_else(|| sqlx::Error::Decode(format!("origin {o}").into()))?,
                r.col("created_by_account_id")?,
            )),
            None => None,
        };
        Ok(StoredFacts {
            ok: outcome == "OK",
            refund_required: r.col("refund_required")?,
            payer_account_id: r.col("payer_account_id")?,
            debtor_fiscal_code: r.col("debtor_fiscal_code")?,
            payer_fiscal_code: r.col("payer_fiscal_code")?,
            position,
        })
    }
}

/// The columns [`StoredFacts::from_row`] reads (receipt `r`, position `p`).
pub(super) const FACTS: &str = "r.outcome, r.refund_required, r.payer_account_id, r.debtor_fiscal_code, r.payer_fiscal_code, p.origin, p.created_by_account_id";

/// Everything stored about a receipt, for the detail page and the PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDetail {
    /// The row fields.
    pub row: HistoryRow,
    /// Ente name.
    pub company_name: String,
    /// Debtor fiscal code.
    pub debtor_fiscal_code: String,
    /// Debtor name.
    pub debtor_name: String,
    /// Payer fiscal code.
    pub payer_fiscal_code: Option<String>,
    /// Payer name.
    pub payer_name: Option<String>,
    /// PSP id.
    pub id_psp: String,
    /// Channel id.
    pub id_channel: String,
    /// Channel description.
    pub channel_description: Option<String>,
    /// Payment method.
    pub payment_method: Option<String>,
    /// Fee, cents.
    pub fee: Option<i64>,
    /// Transfers: (index, amount cents, beneficiary fiscal code, IBAN, remittance, category).
    pub transfers: Vec<(i32, i64, String, Option<String>, String, String)>,
}

const ROW: &str = "r.id, r.receipt_id, r.description, r.payment_date_time, r.amount, s.name AS service_name, r.iuv, r.notice_number, r.psp_company_name,
    r.outcome, r.refund_required, r.payer_account_id, r.debtor_fiscal_code, r.payer_fiscal_code, p.origin, p.created_by_account_id";
const FROM: &str = "FROM receipts r
    LEFT JOIN payment_options o ON o.id = r.payment_option_id
    LEFT JOIN debt_positions p ON p.id = o.position_id
    LEFT JOIN services s ON s.id = p.service_id";

fn row_from(r: &impl DbRow) -> Result<HistoryRow, sqlx::Error> {
    Ok(HistoryRow {
        id: r.col("id")?,
        receipt_id: r.col("receipt_id")?,
        causale: r.col("description")?,
        paid_at: r.col("payment_date_time")?,
        amount: r.col("amount")?,
        service: r.col("service_name")?,
        iuv: r.col("iuv")?,
        notice_number: r.col("notice_number")?,
        psp: r.col("psp_company_name")?,
        facts: StoredFacts::from_row(r)?,
    })
}

/// Escapes LIKE wildcards in user text.
fn like(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{}%", escaped.to_lowercase())
}

/// The WHERE clause shared by both halves; parameters from $4 on.
const FILTERS: &str = "r.outcome = 'OK' AND r.refund_required = FALSE
    AND ($4 IS NULL OR r.payment_date_time >= $4)
    AND ($5 IS NULL OR r.payment_date_time < $5)
    AND ($6 IS NULL OR s.code = $6)
    AND ($7 IS NULL OR lower(r.description) LIKE $7 ESCAPE '\\')
    AND ($8 IS NULL OR r.iuv = $8 OR r.notice_number = $8)
    AND ($9 IS NULL OR r.amount >= $9)
    AND ($10 IS NULL OR r.amount <= $10)";

impl Store {
    /// One page of a citizen's history, newest first, and whether there are rows beyond it in
    /// each direction (older, newer).
    pub async fn history_page(
        &self,
        ente_id: i64,
        viewer: &Viewer,
        filter: &HistoryFilter,
        cursor: Cursor,
        size: i64,
    ) -> StoreResult<(Vec<HistoryRow>, bool, bool)> {
        // Key condition and order for each half; $11/$12 is the cursor key.
        let (key, order, reverse) = match cursor {
            Cursor::First => ("TRUE", "DESC", false),
            Cursor::After(..) => (
                "(r.payment_date_time < $11 OR (r.payment_date_time = $11 AND r.id < $12))",
                "DESC",
                false,
            ),
            Cursor::Before(..) => (
                "(r.payment_date_time > $11 OR (r.payment_date_time = $11 AND r.id > $12))",
                "ASC",
                true,
            ),
            Cursor::Last => ("TRUE", "ASC", true),
        };
        let (kt, ki) = match cursor {
            Cursor::After(t, i) | Cursor::Before(t, i) => (Some(t), Some(i)),
            _ => (None, None),
        };
        let half = |who: &str| {
            format!(
                "SELECT {ROW} {FROM} WHERE r.ente_id = $1 AND {who} AND {FILTERS} AND ($11 IS NULL OR {key})
                 ORDER BY r.payment_date_time {order}, r.id {order} LIMIT $13"
            )
        };
        let sql = format!(
            // Each part is a subquery of its own: SQLite does not accept parenthesised members
            // of a compound SELECT, and both databases accept this form.
            "SELECT * FROM (SELECT * FROM ({mine}) a UNION ALL SELECT * FROM ({debtor}) b
                            UNION ALL SELECT * FROM ({created}) c) h
             ORDER BY payment_date_time {order}, id {order} LIMIT $13",
            mine = half("r.payer_account_id = $2"),
            // $3 is the viewer's verified fiscal code: NULL (nothing) for a mere claim.
            debtor = half(
                "r.payer_account_id IS NULL AND r.debtor_fiscal_code = $3 AND (p.origin IS NULL OR p.origin <> 'portal')"
            ),
            created = half(
                "r.payer_account_id IS NULL AND p.created_by_account_id = $2 AND p.origin = 'portal'"
            ),
        );
        let fetch = size + 1;
        let mut rows: Vec<HistoryRow> = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(viewer.account_id())
                .bind(viewer.verified_fiscal_code())
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.service.as_deref())
                .bind(filter.causale.as_deref().map(like))
                .bind(filter.code.as_deref())
                .bind(filter.min_cents)
                .bind(filter.max_cents)
                .bind(kt)
                .bind(ki)
                .bind(fetch)
                .fetch_all(pool)
                .await?
                .iter()
                .map(row_from)
                .collect::<Result<Vec<_>, _>>()?
        });
        let more = rows.len() as i64 > size;
        rows.truncate(size as usize);
        rows.retain(|r| access::receipt_access(viewer, &r.facts.facts()).is_some());
        if reverse {
            rows.reverse();
        }
        // (older rows exist, newer rows exist), seen from the page we return.
        let (older, newer) = match cursor {
            Cursor::First => (more, false),
            Cursor::After(..) => (more, true),
            Cursor::Before(..) => (true, more),
            Cursor::Last => (false, more),
        };
        Ok((rows, older, newer))
    }

    /// Rows of the history with these ids that the citizen may see (for selections and CSV).
    pub async fn history_rows(
        &self,
        ente_id: i64,
        viewer: &Viewer,
        ids: &[i64],
    ) -> StoreResult<Vec<HistoryRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Integers parsed from the request: safe to inline, and one SQL text for both dialects.
        let list = ids
            .iter()
            .take(1000)
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT {ROW} {FROM} WHERE r.ente_id = $1 AND r.id IN ({list})
             ORDER BY r.payment_date_time DESC, r.id DESC"
        );
        let mut rows = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(row_from)
                .collect::<Result<Vec<_>, _>>()?
        });
        rows.retain(|r| access::receipt_access(viewer, &r.facts.facts()).is_some());
        Ok(rows)
    }

    /// Every row matching the filter (CSV export of "all filtered"), newest first, at most 10 000.
    pub async fn history_all(
        &self,
        ente_id: i64,
        viewer: &Viewer,
        filter: &HistoryFilter,
    ) -> StoreResult<Vec<HistoryRow>> {
        Ok(self
            .history_page(ente_id, viewer, filter, Cursor::First, 10_000)
            .await?
            .0)
    }

    /// A receipt with everything stored about it, if the viewer may see it
    /// ([`access::receipt_access`]); other people's names and codes come masked.
    pub async fn receipt_detail(
        &self,
        ente_id: i64,
        viewer: &Viewer,
        id: i64,
    ) -> StoreResult<Option<ReceiptDetail>> {
        let sql = format!(
            "SELECT {ROW}, r.company_name, r.debtor_name, r.payer_name, r.id_psp, r.id_channel,
                    r.channel_description, r.payment_method, r.fee
             {FROM} WHERE r.ente_id = $1 AND r.id = $2"
        );
        with_db!(self.db(), |pool| {
            let Some(r) = sqlx::query(&sql)
                .bind(ente_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let row = row_from(&r)?;
            let Some(shown) = access::receipt_access(viewer, &row.facts.facts()) else {
                return Ok(None);
            };
            let transfers = sqlx::query(
                "SELECT id_transfer, amount, fiscal_code_pa, iban, remittance_information, category FROM receipt_transfers WHERE receipt_pk = $1 ORDER BY id_transfer",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|t| -> Result<_, sqlx::Error> {
                Ok((t.col("id_transfer")?, t.col("amount")?, t.col("fiscal_code_pa")?, t.col("iban")?, t.col("remittance_information")?, t.col("category")?))
            })
            .collect::<Result<Vec<_>, _>>()?;
            let ReceiptAccess { debtor, payer } = shown;
            Ok(Some(ReceiptDetail {
                company_name: r.col("company_name")?,
                debtor_fiscal_code: debtor.fiscal_code(&row.facts.debtor_fiscal_code),
                debtor_name: debtor.name(&r.col::<String>("debtor_name")?),
                payer_fiscal_code: row
                    .facts
                    .payer_fiscal_code
                    .as_deref()
                    .map(|c| payer.fiscal_code(c)),
                payer_name: r
                    .col::<Option<String>>("payer_name")?
                    .map(|n| payer.name(&n)),
                row,
                id_psp: r.col("id_psp")?,
                id_channel: r.col("id_channel")?,
                channel_description: r.col("channel_description")?,
                payment_method: r.col("payment_method")?,
                fee: r.col("fee")?,
                transfers,
            }))
        })
    }
}
