//! What staff see of reconciliation, as services a screen calls and renders: flows with their
//! counts, a flow's detail (lines, matches, anomalies, revisions, credit), credits, anomalies,
//! receipts with their reporting state, a receipt's whole path, and each list in batches for
//! the back office's CSV and XLSX exports (`web/ufficio/recon.rs`).

use crate::store::recon_views::Slice;
pub use crate::store::recon_views::{
    AnomalyFilter, AnomalyView, CreditView, FlowFilter, FlowSummary, LineView, ReceiptState,
};

use super::{AnomalyKind, ReportingState};
use crate::store::{Store, StoreResult};

/// Largest list a screen or an export reads at once.
pub const MAX_ROWS: i64 = 10_000;

/// A flow with everything about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlowDetail {
    /// The flow.
    pub flow: FlowSummary,
    /// Its lines, each with the receipt it matched.
    pub lines: Vec<LineView>,
    /// Its anomalies (open and closed), the header's and the lines'.
    pub anomalies: Vec<AnomalyView>,
    /// Every revision of the same flow id, newest first (this one included).
    pub revisions: Vec<FlowSummary>,
    /// The bank credit that settles it.
    pub credit: Option<CreditView>,
}

/// A receipt's path: notice → receipt → flow lines → bank credits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceiptPath {
    /// The receipt and its state.
    pub receipt: ReceiptState,
    /// The flow lines that reported it (older revisions included, as history).
    pub lines: Vec<(FlowSummary, LineView)>,
    /// The credits that settled those flows.
    pub credits: Vec<CreditView>,
    /// Anomalies about it.
    pub anomalies: Vec<AnomalyView>,
}

/// Flows, newest first, with matched lines and open anomalies counted.
pub async fn list_flows(
    store: &Store,
    ente_id: i64,
    filter: &FlowFilter,
) -> StoreResult<Vec<FlowSummary>> {
    let mut f = filter.clone();
    f.limit = f.limit.clamp(1, MAX_ROWS);
    store.recon_flows(ente_id, &f).await
}

/// One flow with its lines, anomalies, revisions and credit; None if not this ente's.
pub async fn flow_detail(
    store: &Store,
    ente_id: i64,
    flow_id: i64,
) -> StoreResult<Option<FlowDetail>> {
    let Some(flow) = store.recon_flow(ente_id, flow_id).await? else {
        return Ok(None);
    };
    let lines = store.recon_lines(flow_id).await?;
    let anomalies = store
        .recon_anomalies(
            ente_id,
            &AnomalyFilter {
                flow_id: Some(flow_id),
                ..AnomalyFilter::default()
            },
            MAX_ROWS,
        )
        .await?;
    let revisions = store
        .recon_revisions(ente_id, &flow.fdr, &flow.psp_id)
        .await?;
    let credit = match flow.credit_id {
        Some(c) => store.recon_credit(ente_id, c).await?,
        None => None,
    };
    Ok(Some(FlowDetail {
        flow,
        lines,
        anomalies,
        revisions,
        credit,
    }))
}

/// Treasury credits, newest first; `unmatched`: only those that settle no flow.
pub async fn list_credits(
    store: &Store,
    ente_id: i64,
    unmatched: bool,
) -> StoreResult<Vec<CreditView>> {
    store.recon_credits(ente_id, unmatched, MAX_ROWS).await
}

/// Anomalies, newest first.
pub async fn list_anomalies(
    store: &Store,
    ente_id: i64,
    filter: &AnomalyFilter,
) -> StoreResult<Vec<AnomalyView>> {
    store.recon_anomalies(ente_id, filter, MAX_ROWS).await
}

/// Receipts with their reporting state, newest first.
pub async fn list_receipts(
    store: &Store,
    ente_id: i64,
    state: Option<ReportingState>,
) -> StoreResult<Vec<ReceiptState>> {
    store.recon_receipts(ente_id, state, MAX_ROWS).await
}

/// An export's batch of flows: at most `limit` with an id below `before`, highest first.
pub async fn flows_batch(
    store: &Store,
    ente_id: i64,
    filter: &FlowFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<FlowSummary>> {
    let f = FlowFilter {
        limit: limit.clamp(1, MAX_ROWS),
        offset: 0,
        ..filter.clone()
    };
    store
        .recon_flows_slice(ente_id, &f, Slice::Batch { before })
        .await
}

/// An export's batch of credits (see [`flows_batch`]).
pub async fn credits_batch(
    store: &Store,
    ente_id: i64,
    unmatched: bool,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<CreditView>> {
    store
        .recon_credits_slice(
            ente_id,
            unmatched,
            Slice::Batch { before },
            limit.clamp(1, MAX_ROWS),
        )
        .await
}

/// An export's batch of anomalies (see [`flows_batch`]).
pub async fn anomalies_batch(
    store: &Store,
    ente_id: i64,
    filter: &AnomalyFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<AnomalyView>> {
    store
        .recon_anomalies_slice(
            ente_id,
            filter,
            Slice::Batch { before },
            limit.clamp(1, MAX_ROWS),
        )
        .await
}

/// An export's batch of receipts with their reporting state (see [`flows_batch`]).
pub async fn receipts_batch(
    store: &Store,
    ente_id: i64,
    state: Option<ReportingState>,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<ReceiptState>> {
    store
        .recon_receipts_slice(
            ente_id,
            state,
            Slice::Batch { before },
            limit.clamp(1, MAX_ROWS),
        )
        .await
}

/// A receipt's reporting state and whole path, by receiptId.
pub async fn receipt_path(
    store: &Store,
    ente_id: i64,
    receipt_id: &str,
) -> StoreResult<Option<ReceiptPath>> {
    let Some(receipt) = store.recon_receipt(ente_id, receipt_id).await? else {
        return Ok(None);
    };
    let mut lines = Vec::new();
    let mut credits: Vec<CreditView> = Vec::new();
    for line in store.recon_lines_of_receipt(receipt.id).await? {
        let Some(flow) = store.recon_flow(ente_id, line.flow_id).await? else {
            continue;
        };
        if let Some(c) = flow.credit_id {
            if !credits.iter().any(|x| x.id == c) {
                if let Some(credit) = store.recon_credit(ente_id, c).await? {
                    credits.push(credit);
                }
            }
        }
        lines.push((flow, line));
    }
    let anomalies = store
        .recon_anomalies(
            ente_id,
            &AnomalyFilter {
                receipt_pk: Some(receipt.id),
                ..AnomalyFilter::default()
            },
            MAX_ROWS,
        )
        .await?;
    Ok(Some(ReceiptPath {
        receipt,
        lines,
        credits,
        anomalies,
    }))
}

/// Closes an anomaly by hand with the operator's note; false when it was not open.
pub async fn resolve_anomaly(
    store: &Store,
    ente_id: i64,
    anomaly_id: i64,
    note: &str,
) -> StoreResult<bool> {
    store
        .resolve_recon_anomaly(ente_id, anomaly_id, note.trim())
        .await
}

/// The kinds, for a filter's choices.
pub fn anomaly_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    AnomalyKind::ALL
        .into_iter()
        .map(|k| (k.as_str(), k.label()))
}
