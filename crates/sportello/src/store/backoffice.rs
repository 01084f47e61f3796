//! The back office's reads: position and receipt searches (keyset pages, newest first), the
//! dashboard's figures, the anomalies queue and the audit search. Every query takes the
//! operator's [`Scope`]: what is outside it is never read.

use super::positions::{POSITION_COLUMNS, position_from_row};
use super::{Store, StoreResult};
use crate::backoffice::Scope;
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::domain::position::Position;
use crate::{with_db, with_tx};

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
enum Arg {
    Int(i64),
    Text(String),
    Ts(Timestamp),
}

/// A WHERE clause built one condition at a time, with numbered placeholders.
#[derive(Debug, Default)]
struct Where {
    conditions: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    fn new(first: &str, arg: Arg) -> Where {
        let mut w = Where::default();
        w.push(first, arg);
        w
    }

    /// Adds `condition`, where `?` stands for the new value.
    fn push(&mut self, condition: &str, arg: Arg) {
        self.args.push(arg);
        let n = self.args.len();
        self.conditions
            .push(condition.replace('?', &format!("${n}")));
    }

    /// Adds a condition with no value.
    fn raw(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    fn sql(&self) -> String {
        self.conditions.join(" AND ")
    }
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args.iter().cloned() {
            q = match a {
                Arg::Int(x) => q.bind(x),
                Arg::Text(x) => q.bind(x),
                Arg::Ts(x) => q.bind(x),
            };
        }
        q
    }};
}

/// `%text%` for LIKE, with LIKE's own characters taken literally (escape `\`).
fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Filters of the position search, already typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionQuery {
    /// Debtor's fiscal code (exact, upper case).
    pub fiscal_code: Option<String>,
    /// Part of the debtor's name.
    pub name: Option<String>,
    /// Notice number (18 digits) or IUV.
    pub notice: Option<String>,
    /// IUPD.
    pub iupd: Option<String>,
    /// Service id.
    pub service_id: Option<i64>,
    /// Status (stored name).
    pub status: Option<String>,
    /// Some option due from / to.
    pub due_from: Option<Timestamp>,
    /// See `due_from`.
    pub due_to: Option<Timestamp>,
    /// Paid from / to.
    pub paid_from: Option<Timestamp>,
    /// See `paid_from`.
    pub paid_to: Option<Timestamp>,
    /// Some option's amount at least / at most, cents.
    pub amount_min: Option<i64>,
    /// See `amount_min`.
    pub amount_max: Option<i64>,
}

/// One row of the position search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRow {
    /// Primary key (also the page key).
    pub id: i64,
    /// IUPD.
    pub iupd: String,
    /// Debtor's fiscal code.
    pub fiscal_code: String,
    /// Debtor's name.
    pub full_name: String,
    /// Status.
    pub status: String,
    /// Service name, if any.
    pub service: Option<String>,
    /// Total of the options, cents.
    pub amount: i64,
    /// Earliest due date.
    pub due_date: Option<Timestamp>,
    /// First notice number.
    pub notice: Option<String>,
    /// When it was paid.
    pub payment_date: Option<Timestamp>,
}

/// Filters of the receipt search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptQuery {
    /// Paid from / to.
    pub paid_from: Option<Timestamp>,
    /// See `paid_from`.
    pub paid_to: Option<Timestamp>,
    /// PSP id.
    pub psp: Option<String>,
    /// Service id.
    pub service_id: Option<i64>,
    /// Amount bounds, cents.
    pub amount_min: Option<i64>,
    /// See `amount_min`.
    pub amount_max: Option<i64>,
    /// Debtor's or payer's fiscal code.
    pub fiscal_code: Option<String>,
    /// Notice number.
    pub notice: Option<String>,
    /// receiptId.
    pub receipt_id: Option<String>,
}

/// One receipt (search row and detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    /// Primary key.
    pub id: i64,
    /// receiptId.
    pub receipt_id: String,
    /// Notice number.
    pub notice: String,
    /// IUV.
    pub iuv: String,
    /// OK / KO.
    pub outcome: String,
    /// Amount, cents.
    pub amount: i64,
    /// Causale.
    pub description: String,
    /// Debtor.
    pub debtor_fiscal_code: String,
    /// Debtor's name.
    pub debtor_name: String,
    /// Payer.
    pub payer_fiscal_code: Option<String>,
    /// Payer's name.
    pub payer_name: Option<String>,
    /// PSP id.
    pub psp: String,
    /// PSP name.
    pub psp_name: String,
    /// Payment method.
    pub method: Option<String>,
    /// Fee, cents.
    pub fee: Option<i64>,
    /// When it was paid.
    pub paid_at: Timestamp,
    /// Flagged for refund.
    pub refund_required: bool,
    /// The position it paid, if linked.
    pub position_id: Option<i64>,
    /// Service name.
    pub service: Option<String>,
}

const RECEIPT_COLUMNS: &str = "r.id, r.receipt_id, r.notice_number, r.iuv, r.outcome, r.amount, r.description, r.debtor_fiscal_code, r.debtor_name, r.payer_fiscal_code, r.payer_name, r.id_psp, r.psp_company_name, r.payment_method, r.fee, r.payment_date_time, r.refund_required, o.position_id, s.name AS service_name";
const RECEIPT_JOINS: &str = "FROM receipts r LEFT JOIN payment_options o ON o.id = r.payment_option_id LEFT JOIN debt_positions p ON p.id = o.position_id LEFT JOIN services s ON s.id = p.service_id";

fn receipt_from_row(r: &impl DbRow) -> Result<ReceiptRow, sqlx::Error> {
    Ok(ReceiptRow {
        id: r.col("id")?,
        receipt_id: r.col("receipt_id")?,
        notice: r.col("notice_number")?,
        iuv: r.col("iuv")?,
        outcome: r.col("outcome")?,
        amount: r.col("amount")?,
        description: r.col("description")?,
        debtor_fiscal_code: r.col("debtor_fiscal_code")?,
        debtor_name: r.col("debtor_name")?,
        payer_fiscal_code: r.col("payer_fiscal_code")?,
        payer_name: r.col("payer_name")?,
        psp: r.col("id_psp")?,
        psp_name: r.col("psp_company_name")?,
        method: r.col("payment_method")?,
        fee: r.col("fee")?,
        paid_at: r.col("payment_date_time")?,
        refund_required: r.col("refund_required")?,
        position_id: r.col("position_id")?,
        service: r.col("service_name")?,
    })
}

/// A payment attempt (activation) of an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Notice number.
    pub notice: String,
    /// Amount, cents.
    pub amount: i64,
    /// Payment note (cart id).
    pub note: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// Receipts today: count and cents.
    pub today: (i64, i64),
    /// Receipts this month.
    pub month: (i64, i64),
    /// Positions payable (VALID, PARTIALLY_PAID).
    pub payable: i64,
    /// Positions expired.
    pub expired: i64,
    /// Receipts not linked to a position.
    pub unlinked: i64,
}

/// Kinds of anomalies.
pub const ANOMALY_KINDS: [(&str, &str); 4] = [
    ("refund", "Ricevuta da rimborsare"),
    (
        "unknown_notice",
        "Ricevuta per avviso sconosciuto o annullato",
    ),
    (
        "checkout_overdue",
        "Pagamento in attesa della ricevuta oltre il limite",
    ),
    ("mail_failed", "E-mail non consegnata"),
];

/// One open anomaly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// `refund`, `unknown_notice`, `checkout_overdue`, `mail_failed`.
    pub kind: String,
    /// The id of its row (receipt pk, checkout id, outbox id).
    pub ref_id: String,
    /// When it happened.
    pub at: Timestamp,
    /// What to show.
    pub summary: String,
    /// The position concerned, when there is one.
    pub position_id: Option<i64>,
}

/// One audit entry as searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Outcome.
    pub outcome: String,
    /// From where.
    pub ip: String,
    /// JSON detail (before/after, iupd…).
    pub detail: String,
}

/// Filters of the audit search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Actor (exact).
    pub actor: Option<String>,
    /// IUPD mentioned in the detail.
    pub iupd: Option<String>,
    /// From / to.
    pub from: Option<Timestamp>,
    /// See `from`.
    pub to: Option<Timestamp>,
}

impl Store {
    /// A page of positions matching `q` in `scope`, newest first, after the position `after`.
    pub async fn search_positions(
        &self,
        ente_id: i64,
        scope: &Scope,
        q: &PositionQuery,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<PositionRow>> {
        let mut w = Where::new("p.ente_id = ?", Arg::Int(ente_id));
        w.raw(scope.condition("p.service_id"));
        if let Some(v) = &q.fiscal_code {
            w.push("p.debtor_fiscal_code = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.name {
            w.push(
                "lower(p.full_name) LIKE ? ESCAPE '\\'",
                Arg::Text(contains_pattern(&v.to_lowercase())),
            );
        }
        if let Some(v) = &q.notice {
            let n = w.args.len() + 2;
            w.push(
                &format!("p.id IN (SELECT position_id FROM payment_options WHERE ente_id = $1 AND (nav = ? OR iuv = ${n}))"),
                Arg::Text(v.clone()),
            );
            w.args.push(Arg::Text(v.clone()));
        }
        if let Some(v) = &q.iupd {
            w.push("p.iupd = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = q.service_id {
            w.push("p.service_id = ?", Arg::Int(v));
        }
        if let Some(v) = &q.status {
            w.push("p.status = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = q.due_from {
            w.push("EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = p.id AND o.due_date >= ?)", Arg::Ts(v));
        }
        if let Some(v) = q.due_to {
            w.push("EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = p.id AND o.due_date <= ?)", Arg::Ts(v));
        }
        if let Some(v) = q.paid_from {
            w.push("p.payment_date >= ?", Arg::Ts(v));
        }
        if let Some(v) = q.paid_to {
            w.push("p.payment_date <= ?", Arg::Ts(v));
        }
        if let Some(v) = q.amount_min {
            w.push("EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = p.id AND o.amount >= ?)", Arg::Int(v));
        }
        if let Some(v) = q.amount_max {
            w.push("EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = p.id AND o.amount <= ?)", Arg::Int(v));
        }
        if let Some(v) = after {
            w.push("p.id < ?", Arg::Int(v));
        }
        let sql = format!(
            "SELECT p.id, p.iupd, p.debtor_fiscal_code, p.full_name, p.status, p.payment_date, s.name AS service_name,
                    (SELECT CAST(COALESCE(SUM(o.amount), 0) AS BIGINT) FROM payment_options o WHERE o.position_id = p.id) AS amount,
                    (SELECT MIN(o.due_date) FROM payment_options o WHERE o.position_id = p.id) AS due_date,
                    (SELECT MIN(o.nav) FROM payment_options o WHERE o.position_id = p.id) AS notice
             FROM debt_positions p LEFT JOIN services s ON s.id = p.service_id
             WHERE {} ORDER BY p.id DESC LIMIT {}",
            w.sql(),
            limit.clamp(1, 10_000)
        );
        with_db!(self.db(), |pool| {
            bind_args!(sqlx::query(&sql), w.args)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(PositionRow {
                        id: r.col("id")?,
                        iupd: r.col("iupd")?,
                        fiscal_code: r.col("debtor_fiscal_code")?,
                        full_name: r.col("full_name")?,
                        status: r.col("status")?,
                        service: r.col("service_name")?,
                        amount: r.col("amount")?,
                        due_date: r.col("due_date")?,
                        notice: r.col("notice")?,
                        payment_date: r.col("payment_date")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// One position with options and transfers, if it is in `scope`.
    pub async fn position_in_scope(
        &self,
        ente_id: i64,
        scope: &Scope,
        id: i64,
    ) -> StoreResult<Option<Position>> {
        let sql = format!(
            "SELECT {POSITION_COLUMNS} FROM debt_positions WHERE ente_id = $1 AND id = $2 AND {}",
            scope.condition("service_id")
        );
        let found = with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| position_from_row(&r))
                .transpose()?
        });
        match found {
            Some(p) => Ok(self.attach_options(vec![p]).await?.pop()),
            None => Ok(None),
        }
    }

    /// The payment attempts (activations) of a position's options, newest first.
    pub async fn position_attempts(&self, position_id: i64) -> StoreResult<Vec<Attempt>> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "SELECT o.nav, a.amount, a.payment_note, a.created_at FROM payment_attempts a
                 JOIN payment_options o ON o.id = a.payment_option_id
                 WHERE o.position_id = $1 ORDER BY a.id DESC LIMIT 200",
            )
            .bind(position_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Attempt {
                    notice: r.col("nav")?,
                    amount: r.col("amount")?,
                    note: r.col("payment_note")?,
                    at: r.col("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
        })
    }

    /// The receipts of a position's options (linked, or for one of its notice numbers).
    pub async fn position_receipts(
        &self,
        ente_id: i64,
        position_id: i64,
    ) -> StoreResult<Vec<ReceiptRow>> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} {RECEIPT_JOINS}
             WHERE r.ente_id = $1 AND (o.position_id = $2 OR r.notice_number IN (SELECT nav FROM payment_options WHERE position_id = $2))
             ORDER BY r.id"
        );
        with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(position_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(receipt_from_row)
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// A page of receipts matching `q` in `scope` (unlinked receipts are in an admin's scope
    /// only), newest first, after receipt `after`.
    pub async fn search_receipts(
        &self,
        ente_id: i64,
        scope: &Scope,
        q: &ReceiptQuery,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ReceiptRow>> {
        let mut w = Where::new("r.ente_id = ?", Arg::Int(ente_id));
        w.raw(scope.condition("p.service_id"));
        if let Some(v) = q.paid_from {
            w.push("r.payment_date_time >= ?", Arg::Ts(v));
        }
        if let Some(v) = q.paid_to {
            w.push("r.payment_date_time <= ?", Arg::Ts(v));
        }
        if let Some(v) = &q.psp {
            w.push("r.id_psp = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = q.service_id {
            w.push("p.service_id = ?", Arg::Int(v));
        }
        if let Some(v) = q.amount_min {
            w.push("r.amount >= ?", Arg::Int(v));
        }
        if let Some(v) = q.amount_max {
            w.push("r.amount <= ?", Arg::Int(v));
        }
        if let Some(v) = &q.fiscal_code {
            let n = w.args.len() + 2;
            w.push(
                &format!("(r.debtor_fiscal_code = ? OR r.payer_fiscal_code = ${n})"),
                Arg::Text(v.clone()),
            );
            w.args.push(Arg::Text(v.clone()));
        }
        if let Some(v) = &q.notice {
            w.push("r.notice_number = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.receipt_id {
            w.push("r.receipt_id = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = after {
            w.push("r.id < ?", Arg::Int(v));
        }
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} {RECEIPT_JOINS} WHERE {} ORDER BY r.id DESC LIMIT {}",
            w.sql(),
            limit.clamp(1, 10_000)
        );
        with_db!(self.db(), |pool| {
            bind_args!(sqlx::query(&sql), w.args)
                .fetch_all(pool)
                .await?
                .iter()
                .map(receipt_from_row)
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// One receipt in `scope`, with its raw XML.
    pub async fn receipt_in_scope(
        &self,
        ente_id: i64,
        scope: &Scope,
        id: i64,
    ) -> StoreResult<Option<(ReceiptRow, String)>> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, r.raw_xml {RECEIPT_JOINS} WHERE r.ente_id = $1 AND r.id = $2 AND {}",
            scope.condition("p.service_id")
        );
        with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| Ok((receipt_from_row(&r)?, r.col("raw_xml")?)))
                .transpose()
                .map_err(|e: sqlx::Error| e.into())
        })
    }

    /// The dashboard's figures in `scope`; `day` and `month` are the starts of today and of
    /// this month.
    pub async fn dashboard(
        &self,
        ente_id: i64,
        scope: &Scope,
        day: Timestamp,
        month: Timestamp,
    ) -> StoreResult<Dashboard> {
        let in_scope = scope.condition("p.service_id");
        let collected = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(r.amount), 0) AS BIGINT) {RECEIPT_JOINS}
             WHERE r.ente_id = $1 AND r.outcome = 'OK' AND r.payment_date_time >= $2 AND {in_scope}"
        );
        let positions = format!(
            "SELECT COUNT(*) FROM debt_positions p WHERE p.ente_id = $1 AND p.status IN ('VALID', 'PARTIALLY_PAID') AND {in_scope}"
        );
        let expired = format!(
            "SELECT COUNT(*) FROM debt_positions p WHERE p.ente_id = $1 AND p.status = 'EXPIRED' AND {in_scope}"
        );
        let unlinked = format!(
            "SELECT COUNT(*) {RECEIPT_JOINS} WHERE r.ente_id = $1 AND r.payment_option_id IS NULL AND {in_scope}"
        );
        with_db!(self.db(), |pool| {
            let today: (i64, i64) = sqlx::query_as(&collected)
                .bind(ente_id)
                .bind(day)
                .fetch_one(pool)
                .await?;
            let month: (i64, i64) = sqlx::query_as(&collected)
                .bind(ente_id)
                .bind(month)
                .fetch_one(pool)
                .await?;
            let count = |sql: String| async move {
                sqlx::query_scalar::<_, i64>(&sql)
                    .bind(ente_id)
                    .fetch_one(pool)
                    .await
            };
            Ok(Dashboard {
                today,
                month,
                payable: count(positions).await?,
                expired: count(expired).await?,
                unlinked: count(unlinked).await?,
            })
        })
    }

    /// The open anomalies in `scope` (those without a service are an admin's), oldest first.
    /// `overdue_before`: checkouts waiting for a receipt since before this instant.
    pub async fn open_anomalies(
        &self,
        ente_id: i64,
        scope: &Scope,
        overdue_before: Timestamp,
    ) -> StoreResult<Vec<Anomaly>> {
        let in_scope = scope.condition("p.service_id");
        let unresolved = |kind: &str, key: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM anomaly_resolutions a WHERE a.kind = '{kind}' AND a.ref_id = {key})"
            )
        };
        let receipt_key = "CAST(r.id AS TEXT)";
        let refunds = format!(
            "SELECT 'refund' AS kind, {receipt_key} AS ref_id, r.received_at AS at, r.notice_number AS what, o.position_id AS position_id {RECEIPT_JOINS}
             WHERE r.ente_id = $1 AND r.refund_required AND {in_scope} AND {}",
            unresolved("refund", receipt_key)
        );
        let unknown = format!(
            "SELECT 'unknown_notice' AS kind, {receipt_key} AS ref_id, r.received_at AS at, r.notice_number AS what, o.position_id AS position_id {RECEIPT_JOINS}
             WHERE r.ente_id = $1 AND NOT r.refund_required AND (r.payment_option_id IS NULL OR p.status = 'INVALID') AND {in_scope} AND {}",
            unresolved("unknown_notice", receipt_key)
        );
        let mut sql = format!("{refunds} UNION ALL {unknown}");
        if *scope == Scope::All {
            sql.push_str(&format!(
                " UNION ALL SELECT 'checkout_overdue', c.id, c.updated_at, c.id, NULL FROM checkouts c
                  WHERE c.state IN ('redirected', 'waiting_receipt') AND c.updated_at < $2 AND {}
                  UNION ALL SELECT 'mail_failed', CAST(m.id AS TEXT), m.created_at, m.recipient, NULL FROM outbox m
                  WHERE m.state = 'failed' AND {}",
                unresolved("checkout_overdue", "c.id"),
                unresolved("mail_failed", "CAST(m.id AS TEXT)")
            ));
        } else {
            // Keep $2 bound in both shapes of the statement.
            sql.push_str(" UNION ALL SELECT 'none', '', $2, '', NULL WHERE 1 = 0");
        }
        let sql = format!(
            "SELECT kind, ref_id, at, what, position_id FROM ({sql}) x ORDER BY at, ref_id LIMIT 1000"
        );
        with_db!(self.db(), |pool| {
            sqlx::query(&sql)
                .bind(ente_id)
                .bind(overdue_before)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(Anomaly {
                        kind: r.col("kind")?,
                        ref_id: r.col("ref_id")?,
                        at: r.col("at")?,
                        summary: r.col("what")?,
                        position_id: r.col("position_id")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Marks an anomaly resolved with a note, and audits it in the same transaction; false when
    /// it was already resolved.
    pub async fn mark_anomaly_resolved(
        &self,
        kind: &str,
        ref_id: &str,
        note: &str,
        audit: &super::audit::AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let inserted = with_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO anomaly_resolutions (kind, ref_id, note, resolved_by, resolved_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(ref_id)
            .bind(note)
            .bind(&audit.actor)
            .bind(Timestamp::now())
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            return Ok(false);
        }
        Store::audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Audit entries matching `q`, newest first, at most `limit`.
    pub async fn search_audit(&self, q: &AuditQuery, limit: i64) -> StoreResult<Vec<AuditRow>> {
        let mut w = Where::default();
        w.raw("1 = 1".to_owned());
        if let Some(v) = &q.actor {
            w.push("actor = ?", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.iupd {
            // serde_json writes `"iupd":"…"` with no spaces; the IUPD is escaped as JSON is.
            let json = serde_json::to_string(v).unwrap_or_default();
            w.push(
                "detail LIKE ? ESCAPE '\\'",
                Arg::Text(contains_pattern(&format!("\"iupd\":{json}"))),
            );
        }
        if let Some(v) = q.from {
            w.push("occurred_at >= ?", Arg::Ts(v));
        }
        if let Some(v) = q.to {
            w.push("occurred_at <= ?", Arg::Ts(v));
        }
        let sql = format!(
            "SELECT occurred_at, actor, action, outcome, ip, detail FROM audit_log WHERE {} ORDER BY id DESC LIMIT {}",
            w.sql(),
            limit.clamp(1, 1000)
        );
        with_db!(self.db(), |pool| {
            bind_args!(sqlx::query(&sql), w.args)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(AuditRow {
                        at: r.col("occurred_at")?,
                        actor: r.col("actor")?,
                        action: r.col("action")?,
                        outcome: r.col("outcome")?,
                        ip: r.col("ip")?,
                        detail: r.col("detail")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Changes the due date and/or amount of an unpaid option of a position (its only
    /// transfer follows the amount), bumps the position's version, gives an expired position
    /// with a new due date back its validity, and audits, in one transaction. False when the
    /// option is no longer unpaid.
    pub async fn change_unpaid_option(
        &self,
        position_id: i64,
        nav: &str,
        due: Option<Timestamp>,
        amount: Option<i64>,
        audit: &super::audit::AuditEvent,
    ) -> StoreResult<bool> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        let changed = with_tx!(&mut tx, |conn| {
            let changed = sqlx::query(
                "UPDATE payment_options SET due_date = COALESCE($3, due_date), amount = COALESCE($4, amount)
                 WHERE position_id = $1 AND nav = $2 AND status = 'PO_UNPAID'",
            )
            .bind(position_id)
            .bind(nav)
            .bind(due)
            .bind(amount)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if changed == 1 {
                if let Some(amount) = amount {
                    sqlx::query(
                        "UPDATE transfers SET amount = $3 WHERE payment_option_id =
                           (SELECT id FROM payment_options WHERE position_id = $1 AND nav = $2)",
                    )
                    .bind(position_id)
                    .bind(nav)
                    .bind(amount)
                    .execute(&mut *conn)
                    .await?;
                }
                let revive = if due.is_some() { "VALID" } else { "EXPIRED" };
                sqlx::query(
                    "UPDATE debt_positions SET version = version + 1, updated_at = $2,
                       status = CASE WHEN status = 'EXPIRED' THEN $3 ELSE status END
                     WHERE id = $1",
                )
                .bind(position_id)
                .bind(now)
                .bind(revive)
                .execute(&mut *conn)
                .await?;
            }
            changed
        });
        if changed != 1 {
            return Ok(false);
        }
        Store::audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
