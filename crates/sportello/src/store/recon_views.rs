//! Reconciliation read for people: flows with their counts, a flow's lines, credits,
//! anomalies, and a receipt's path. The back office and the exports read these (see
//! [`crate::recon::views`]).

use super::{Store, StoreResult};
use crate::clock::Timestamp;
use crate::db::DbRow;
use crate::recon::{AnomalyKind, ReportingState};
use crate::with_db;
use pagopa::Cents;

/// Which flows to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFilter {
    /// Published at or after.
    pub from: Option<Timestamp>,
    /// Published before.
    pub to: Option<Timestamp>,
    /// One PSP.
    pub psp_id: Option<String>,
    /// Also older revisions.
    pub include_history: bool,
    /// Only flows with open anomalies.
    pub only_with_anomalies: bool,
    /// Page size.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

impl Default for FlowFilter {
    fn default() -> Self {
        FlowFilter {
            from: None,
            to: None,
            psp_id: None,
            include_history: false,
            only_with_anomalies: false,
            limit: 100,
            offset: 0,
        }
    }
}

/// A flow in a list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlowSummary {
    /// Key.
    pub id: i64,
    /// Flow id.
    pub fdr: String,
    /// idPSP.
    pub psp_id: String,
    /// PSP name.
    pub psp_name: String,
    /// Revision.
    pub revision: i64,
    /// Whether this is the revision in force.
    pub current: bool,
    /// Published.
    pub published_at: Timestamp,
    /// Settlement reference.
    pub regulation: String,
    /// Settlement date.
    pub regulation_date: Option<String>,
    /// Declared payments.
    pub tot_payments: i64,
    /// Declared total.
    pub sum_payments: Cents,
    /// Lines.
    pub line_count: i64,
    /// Sum of lines.
    pub line_sum: Cents,
    /// Lines matched cleanly.
    pub matched: i64,
    /// Open anomalies.
    pub open_anomalies: i64,
    /// The credit that settles it.
    pub credit_id: Option<i64>,
    /// Its value date.
    pub credit_date: Option<String>,
}

/// An anomaly for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnomalyView {
    /// Key.
    pub id: i64,
    /// Kind.
    pub kind: AnomalyKind,
    /// Flow key.
    pub flow_id: Option<i64>,
    /// Flow id.
    pub fdr: Option<String>,
    /// Line key.
    pub line_id: Option<i64>,
    /// Receipt key.
    pub receipt_pk: Option<i64>,
    /// Receipt id.
    pub receipt_id: Option<String>,
    /// Credit key.
    pub credit_id: Option<i64>,
    /// IUV.
    pub iuv: Option<String>,
    /// IUR.
    pub iur: Option<String>,
    /// idTransfer.
    pub id_transfer: Option<i64>,
    /// What.
    pub detail: String,
    /// Recovery attempts.
    pub attempts: i64,
    /// Opened.
    pub created_at: Timestamp,
    /// Closed.
    pub closed_at: Option<Timestamp>,
    /// `superseded`, `recovered`, `resolved`, `settled`.
    pub closed_reason: Option<String>,
    /// An operator's note, or the last recovery outcome.
    pub note: Option<String>,
}

/// Which anomalies to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnomalyFilter {
    /// Only open ones.
    pub open_only: bool,
    /// One kind.
    pub kind: Option<AnomalyKind>,
    /// One flow.
    pub flow_id: Option<i64>,
    /// One receipt.
    pub receipt_pk: Option<i64>,
}

/// A line of a flow for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineView {
    /// Key.
    pub id: i64,
    /// Flow key.
    pub flow_id: i64,
    /// Index.
    pub idx: i64,
    /// IUV.
    pub iuv: String,
    /// IUR.
    pub iur: String,
    /// idTransfer.
    pub id_transfer: i64,
    /// Amount.
    pub amount: Cents,
    /// payStatus.
    pub pay_status: String,
    /// payDate.
    pub pay_date: String,
    /// The matched receipt's key.
    pub receipt_pk: Option<i64>,
    /// Its receiptId.
    pub receipt_id: Option<String>,
    /// Its notice number.
    pub notice_number: Option<String>,
}

/// A bank credit for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreditView {
    /// Key.
    pub id: i64,
    /// camt053 or csv.
    pub source: String,
    /// File.
    pub file_name: String,
    /// Booking date.
    pub booking_date: Option<String>,
    /// Value date.
    pub value_date: Option<String>,
    /// Amount.
    pub amount: Cents,
    /// Bank reference.
    pub reference: Option<String>,
    /// Who paid.
    pub debtor_name: Option<String>,
    /// Remittance.
    pub remittance: String,
    /// Flow id named by the remittance.
    pub fdr: Option<String>,
    /// The flow it settles.
    pub flow_id: Option<i64>,
    /// Imported.
    pub imported_at: Timestamp,
}

/// A receipt and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceiptState {
    /// Key.
    pub id: i64,
    /// receiptId.
    pub receipt_id: String,
    /// Notice number.
    pub notice_number: String,
    /// IUV.
    pub iuv: String,
    /// Amount.
    pub amount: Cents,
    /// Paid.
    pub paid_at: Timestamp,
    /// PSP.
    pub id_psp: String,
    /// Fetched from pagoPA rather than delivered by paSendRT.
    pub recovered: bool,
    /// Reporting state.
    pub state: ReportingState,
    /// The flow that reports it.
    pub reported_fdr: Option<String>,
    /// The position it closed.
    pub iupd: Option<String>,
}

fn anomaly_from(r: &impl DbRow) -> Result<AnomalyView, sqlx::Error> {
    let kind: String = r.col("kind")?;
    Ok(AnomalyView {
        id: r.col("id")?,
        kind: AnomalyKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("anomaly kind {kind:?}").into()))?,
        flow_id: r.col("flow_pk")?,
        fdr: r.col("fdr")?,
        line_id: r.col("line_pk")?,
        receipt_pk: r.col("receipt_pk")?,
        receipt_id: r.col("receipt_id")?,
        credit_id: r.col("credit_pk")?,
        iuv: r.col("iuv")?,
        iur: r.col("iur")?,
        id_transfer: r.col("id_transfer")?,
        detail: r.col("detail")?,
        attempts: r.col("attempts")?,
        created_at: r.col("created_at")?,
        closed_at: r.col("closed_at")?,
        closed_reason: r.col("closed_reason")?,
        note: r.col("closed_note")?,
    })
}

fn flow_from(r: &impl DbRow) -> Result<FlowSummary, sqlx::Error> {
    Ok(FlowSummary {
        id: r.col("id")?,
        fdr: r.col("fdr")?,
        psp_id: r.col("psp_id")?,
        psp_name: r.col("psp_name")?,
        revision: r.col("revision")?,
        current: r.col("current")?,
        published_at: r.col("published_at")?,
        regulation: r.col("regulation")?,
        regulation_date: r.col("regulation_date")?,
        tot_payments: r.col("tot_payments")?,
        sum_payments: Cents::new(r.col("sum_payments")?),
        line_count: r.col("line_count")?,
        line_sum: Cents::new(r.col("line_sum")?),
        matched: r.col("matched")?,
        open_anomalies: r.col("open_anomalies")?,
        credit_id: r.col("credit_pk")?,
        credit_date: r.col("credit_date")?,
    })
}

fn credit_from(r: &impl DbRow) -> Result<CreditView, sqlx::Error> {
    Ok(CreditView {
        id: r.col("id")?,
        source: r.col("source")?,
        file_name: r.col("file_name")?,
        booking_date: r.col("booking_date")?,
        value_date: r.col("value_date")?,
        amount: Cents::new(r.col("amount")?),
        reference: r.col("reference")?,
        debtor_name: r.col("debtor_name")?,
        remittance: r.col("remittance")?,
        fdr: r.col("fdr")?,
        flow_id: r.col("flow_pk")?,
        imported_at: r.col("imported_at")?,
    })
}

fn receipt_state_from(r: &impl DbRow) -> Result<ReceiptState, sqlx::Error> {
    let state: String = r.col("reporting_state")?;
    Ok(ReceiptState {
        id: r.col("id")?,
        receipt_id: r.col("receipt_id")?,
        notice_number: r.col("notice_number")?,
        iuv: r.col("iuv")?,
        amount: Cents::new(r.col("amount")?),
        paid_at: r.col("payment_date_time")?,
        id_psp: r.col("id_psp")?,
        recovered: r.col("recovered")?,
        state: ReportingState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("reporting state {state:?}").into()))?,
        reported_fdr: r.col("reported_fdr")?,
        iupd: r.col("iupd")?,
    })
}

const FLOW_COLUMNS: &str = "f.id, f.fdr, f.psp_id, f.psp_name, f.revision, f.current, f.published_at, f.regulation, f.regulation_date,
    f.tot_payments, f.sum_payments, f.line_count, f.line_sum, f.credit_pk, c.value_date AS credit_date,
    (SELECT COUNT(*) FROM fdr_lines l WHERE l.flow_pk = f.id AND l.receipt_pk IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM recon_anomalies a WHERE a.line_pk = l.id AND a.closed_at IS NULL)) AS matched,
    (SELECT COUNT(*) FROM recon_anomalies a WHERE a.flow_pk = f.id AND a.closed_at IS NULL) AS open_anomalies
    FROM fdr_flows f LEFT JOIN treasury_credits c ON c.id = f.credit_pk";

const ANOMALY_COLUMNS: &str = "a.id, a.kind, a.flow_pk, f.fdr, a.line_pk, a.receipt_pk, r.receipt_id, a.credit_pk, a.iuv, a.iur, a.id_transfer,
    a.detail, a.attempts, a.created_at, a.closed_at, a.closed_reason, a.closed_note
    FROM recon_anomalies a LEFT JOIN fdr_flows f ON f.id = a.flow_pk LEFT JOIN receipts r ON r.id = a.receipt_pk";

const CREDIT_COLUMNS: &str = "c.id, c.source, c.file_name, c.booking_date, c.value_date, c.amount, c.reference, c.debtor_name, c.remittance, c.fdr, c.imported_at,
    (SELECT MIN(f.id) FROM fdr_flows f WHERE f.credit_pk = c.id AND f.current = $2) AS flow_pk
    FROM treasury_credits c";

const RECEIPT_COLUMNS: &str = "r.id, r.receipt_id, r.notice_number, r.iuv, r.amount, r.payment_date_time, r.id_psp, r.recovered, r.reporting_state, r.reported_fdr, p.iupd
    FROM receipts r LEFT JOIN payment_options o ON o.id = r.payment_option_id LEFT JOIN debt_positions p ON p.id = o.position_id";

/// Which rows of a list: a screen's (newest first by their date), or an export's batch (by id,
/// descending, below a key: a keyset that holds while rows are added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    /// Ordered by the list's date, newest first.
    Newest,
    /// Ids below `before` (all when None), highest first.
    Batch {
        /// The last id of the previous batch.
        before: Option<i64>,
    },
}

impl Slice {
    /// The id bound to bind, and the `AND … ORDER BY …` tail: `$n` is the bound's placeholder.
    fn sql(self, date: &str, id: &str, n: usize) -> (Option<i64>, String) {
        let (before, order) = match self {
            Slice::Newest => (None, format!("{date} DESC, {id} DESC")),
            Slice::Batch { before } => (before, format!("{id} DESC")),
        };
        (
            before,
            format!("AND (${n} IS NULL OR {id} < ${n}) ORDER BY {order}"),
        )
    }
}

impl Store {
    /// Flows, newest first, with how many lines are matched and anomalies open.
    pub async fn recon_flows(&self, ente_id: i64, f: &FlowFilter) -> StoreResult<Vec<FlowSummary>> {
        self.recon_flows_slice(ente_id, f, Slice::Newest).await
    }

    /// Flows as [`Store::recon_flows`], in `slice` order.
    pub async fn recon_flows_slice(
        &self,
        ente_id: i64,
        f: &FlowFilter,
        slice: Slice,
    ) -> StoreResult<Vec<FlowSummary>> {
        let (before, tail) = slice.sql("f.published_at", "f.id", 10);
        let sql = format!(
            "SELECT {FLOW_COLUMNS}
             WHERE f.ente_id = $1 AND ($2 OR f.current = $3)
               AND ($4 IS NULL OR f.published_at >= $4) AND ($5 IS NULL OR f.published_at < $5)
               AND ($6 IS NULL OR f.psp_id = $6)
               AND (NOT $7 OR EXISTS (SELECT 1 FROM recon_anomalies a WHERE a.flow_pk = f.id AND a.closed_at IS NULL))
               {tail} LIMIT $8 OFFSET $9"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(ente_id)
                .bind(f.include_history)
                .bind(true)
                .bind(f.from)
                .bind(f.to)
                .bind(&f.psp_id)
                .bind(f.only_with_anomalies)
                .bind(f.limit)
                .bind(f.offset)
                .bind(before)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(flow_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// One flow (any revision).
    pub async fn recon_flow(&self, ente_id: i64, flow_id: i64) -> StoreResult<Option<FlowSummary>> {
        let sql = format!("SELECT {FLOW_COLUMNS} WHERE f.ente_id = $1 AND f.id = $2");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(ente_id)
                .bind(flow_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.as_ref().map(flow_from).transpose()?)
        })
    }

    /// Every revision of a flow id, newest first.
    pub async fn recon_revisions(
        &self,
        ente_id: i64,
        fdr: &str,
        psp_id: &str,
    ) -> StoreResult<Vec<FlowSummary>> {
        let sql = format!(
            "SELECT {FLOW_COLUMNS} WHERE f.ente_id = $1 AND f.fdr = $2 AND f.psp_id = $3 ORDER BY f.revision DESC"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(ente_id)
                .bind(fdr)
                .bind(psp_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(flow_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// A flow's lines with the receipts they match, in flow order.
    pub async fn recon_lines(&self, flow_id: i64) -> StoreResult<Vec<LineView>> {
        self.lines_where("l.flow_pk = $1", flow_id).await
    }

    /// The lines (of any revision) that matched a receipt.
    pub async fn recon_lines_of_receipt(&self, receipt_pk: i64) -> StoreResult<Vec<LineView>> {
        self.lines_where("l.receipt_pk = $1", receipt_pk).await
    }

    async fn lines_where(&self, condition: &str, arg: i64) -> StoreResult<Vec<LineView>> {
        let sql = format!(
            "SELECT l.id, l.flow_pk, l.idx, l.iuv, l.iur, l.id_transfer, l.amount, l.pay_status, l.pay_date, l.receipt_pk,
                    r.receipt_id, r.notice_number
             FROM fdr_lines l LEFT JOIN receipts r ON r.id = l.receipt_pk
             WHERE {condition} ORDER BY l.flow_pk, l.idx, l.id"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql).bind(arg).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(LineView {
                        id: r.col("id")?,
                        flow_id: r.col("flow_pk")?,
                        idx: r.col("idx")?,
                        iuv: r.col("iuv")?,
                        iur: r.col("iur")?,
                        id_transfer: r.col("id_transfer")?,
                        amount: Cents::new(r.col("amount")?),
                        pay_status: r.col("pay_status")?,
                        pay_date: r.col("pay_date")?,
                        receipt_pk: r.col("receipt_pk")?,
                        receipt_id: r.col("receipt_id")?,
                        notice_number: r.col("notice_number")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Anomalies, newest first (at most `limit`).
    pub async fn recon_anomalies(
        &self,
        ente_id: i64,
        f: &AnomalyFilter,
        limit: i64,
    ) -> StoreResult<Vec<AnomalyView>> {
        self.recon_anomalies_slice(ente_id, f, Slice::Newest, limit)
            .await
    }

    /// Anomalies as [`Store::recon_anomalies`], in `slice` order.
    pub async fn recon_anomalies_slice(
        &self,
        ente_id: i64,
        f: &AnomalyFilter,
        slice: Slice,
        limit: i64,
    ) -> StoreResult<Vec<AnomalyView>> {
        let (before, tail) = slice.sql("a.created_at", "a.id", 7);
        let sql = format!(
            "SELECT {ANOMALY_COLUMNS}
             WHERE a.ente_id = $1 AND (NOT $2 OR a.closed_at IS NULL) AND ($3 IS NULL OR a.kind = $3)
               AND ($4 IS NULL OR a.flow_pk = $4) AND ($5 IS NULL OR a.receipt_pk = $5)
             {tail} LIMIT $6"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(ente_id)
                .bind(f.open_only)
                .bind(f.kind.map(AnomalyKind::as_str))
                .bind(f.flow_id)
                .bind(f.receipt_pk)
                .bind(limit)
                .bind(before)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(anomaly_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// Treasury credits, newest first; `unmatched`: only those settling no flow.
    pub async fn recon_credits(
        &self,
        ente_id: i64,
        unmatched: bool,
        limit: i64,
    ) -> StoreResult<Vec<CreditView>> {
        self.recon_credits_slice(ente_id, unmatched, Slice::Newest, limit)
            .await
    }

    /// Credits as [`Store::recon_credits`], in `slice` order.
    pub async fn recon_credits_slice(
        &self,
        ente_id: i64,
        unmatched: bool,
        slice: Slice,
        limit: i64,
    ) -> StoreResult<Vec<CreditView>> {
        let (before, tail) = slice.sql("c.value_date", "c.id", 5);
        let sql = format!(
            "SELECT {CREDIT_COLUMNS}
             WHERE c.ente_id = $1
               AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM fdr_flows f WHERE f.credit_pk = c.id AND f.current = $2))
             {tail} LIMIT $4"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(ente_id)
                .bind(true)
                .bind(unmatched)
                .bind(limit)
                .bind(before)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(credit_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// One credit.
    pub async fn recon_credit(
        &self,
        ente_id: i64,
        credit_id: i64,
    ) -> StoreResult<Option<CreditView>> {
        let sql = format!("SELECT {CREDIT_COLUMNS} WHERE c.ente_id = $1 AND c.id = $3");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(ente_id)
                .bind(true)
                .bind(credit_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.as_ref().map(credit_from).transpose()?)
        })
    }

    /// Receipts with their reporting state, newest first; optionally one state only.
    pub async fn recon_receipts(
        &self,
        ente_id: i64,
        state: Option<ReportingState>,
        limit: i64,
    ) -> StoreResult<Vec<ReceiptState>> {
        self.recon_receipts_slice(ente_id, state, Slice::Newest, limit)
            .await
    }

    /// Receipts as [`Store::recon_receipts`], in `slice` order.
    pub async fn recon_receipts_slice(
        &self,
        ente_id: i64,
        state: Option<ReportingState>,
        slice: Slice,
        limit: i64,
    ) -> StoreResult<Vec<ReceiptState>> {
        let (before, tail) = slice.sql("r.payment_date_time", "r.id", 4);
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}
             WHERE r.ente_id = $1 AND r.outcome = 'OK' AND ($2 IS NULL OR r.reporting_state = $2)
             {tail} LIMIT $3"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(ente_id)
                .bind(state.map(ReportingState::as_str))
                .bind(limit)
                .bind(before)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(receipt_state_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// A receipt's reporting state by receiptId.
    pub async fn recon_receipt(
        &self,
        ente_id: i64,
        receipt_id: &str,
    ) -> StoreResult<Option<ReceiptState>> {
        let sql = format!("SELECT {RECEIPT_COLUMNS} WHERE r.ente_id = $1 AND r.receipt_id = $2");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(ente_id)
                .bind(receipt_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.as_ref().map(receipt_state_from).transpose()?)
        })
    }
}
