//! What staff see of reconciliation, as services a screen calls and renders: flows with their
//! counts, a flow's detail (lines, matches, anomalies, revisions, credit), credits, anomalies,
//! receipts with their reporting state, a receipt's whole path, and a CSV export of each list.

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
        .resolve_anomaly(ente_id, anomaly_id, note.trim())
        .await
}

fn csv_of<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(row.iter().map(|f| neutralise(f)));
    }
    let bytes = w.into_inner().unwrap_or_default();
    format!("\u{FEFF}{}", String::from_utf8_lossy(&bytes))
}

/// A cell a spreadsheet would take for a formula is prefixed with `'`.
fn neutralise(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@']) && field.parse::<f64>().is_err() {
        format!("'{field}")
    } else {
        field.to_owned()
    }
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The flows list as CSV (`;`, UTF-8 with BOM, amounts in euro with a comma).
pub fn flows_csv(flows: &[FlowSummary]) -> String {
    csv_of(
        [
            "flusso",
            "psp",
            "nome_psp",
            "revisione",
            "in_vigore",
            "pubblicato",
            "regolamento",
            "data_regolamento",
            "pagamenti_dichiarati",
            "totale_dichiarato",
            "righe",
            "totale_righe",
            "abbinate",
            "anomalie_aperte",
            "riversato",
            "data_accredito",
        ],
        flows.iter().map(|f| {
            [
                f.fdr.clone(),
                f.psp_id.clone(),
                f.psp_name.clone(),
                f.revision.to_string(),
                yes(f.current),
                f.published_at.rome_date_time(),
                f.regulation.clone(),
                opt(&f.regulation_date),
                f.tot_payments.to_string(),
                f.sum_payments.to_italian(),
                f.line_count.to_string(),
                f.line_sum.to_italian(),
                f.matched.to_string(),
                f.open_anomalies.to_string(),
                yes(f.credit_id.is_some()),
                opt(&f.credit_date),
            ]
        }),
    )
}

/// A flow's lines as CSV.
pub fn lines_csv(lines: &[LineView]) -> String {
    csv_of(
        [
            "indice",
            "iuv",
            "iur",
            "id_versamento",
            "importo",
            "esito",
            "data_pagamento",
            "ricevuta",
            "codice_avviso",
        ],
        lines.iter().map(|l| {
            [
                l.idx.to_string(),
                l.iuv.clone(),
                l.iur.clone(),
                l.id_transfer.to_string(),
                l.amount.to_italian(),
                l.pay_status.clone(),
                l.pay_date.clone(),
                opt(&l.receipt_id),
                opt(&l.notice_number),
            ]
        }),
    )
}

/// Credits as CSV.
pub fn credits_csv(credits: &[CreditView]) -> String {
    csv_of(
        [
            "data_contabile",
            "data_valuta",
            "importo",
            "ordinante",
            "causale",
            "riferimento",
            "flusso",
            "riversamento_abbinato",
            "origine",
            "file",
        ],
        credits.iter().map(|c| {
            [
                opt(&c.booking_date),
                opt(&c.value_date),
                c.amount.to_italian(),
                opt(&c.debtor_name),
                c.remittance.clone(),
                opt(&c.reference),
                opt(&c.fdr),
                yes(c.flow_id.is_some()),
                c.source.clone(),
                c.file_name.clone(),
            ]
        }),
    )
}

/// Anomalies as CSV.
pub fn anomalies_csv(anomalies: &[AnomalyView]) -> String {
    csv_of(
        [
            "tipo",
            "descrizione_tipo",
            "flusso",
            "iuv",
            "iur",
            "id_versamento",
            "ricevuta",
            "dettaglio",
            "aperta_il",
            "chiusa_il",
            "motivo_chiusura",
            "nota",
        ],
        anomalies.iter().map(|a| {
            [
                a.kind.as_str().to_owned(),
                a.kind.label().to_owned(),
                opt(&a.fdr),
                opt(&a.iuv),
                opt(&a.iur),
                a.id_transfer.map(|t| t.to_string()).unwrap_or_default(),
                opt(&a.receipt_id),
                a.detail.clone(),
                a.created_at.rome_date_time(),
                a.closed_at.map(|t| t.rome_date_time()).unwrap_or_default(),
                opt(&a.closed_reason),
                opt(&a.note),
            ]
        }),
    )
}

/// Receipts with their reporting state as CSV.
pub fn receipts_csv(receipts: &[ReceiptState]) -> String {
    csv_of(
        [
            "ricevuta",
            "codice_avviso",
            "iuv",
            "importo",
            "pagato_il",
            "psp",
            "recuperata",
            "stato_rendicontazione",
            "flusso",
            "posizione",
        ],
        receipts.iter().map(|r| {
            [
                r.receipt_id.clone(),
                r.notice_number.clone(),
                r.iuv.clone(),
                r.amount.to_italian(),
                r.paid_at.rome_date_time(),
                r.id_psp.clone(),
                yes(r.recovered),
                r.state.label().to_owned(),
                opt(&r.reported_fdr),
                opt(&r.iupd),
            ]
        }),
    )
}

fn yes(b: bool) -> String {
    if b { "sì" } else { "no" }.to_owned()
}

/// The kinds, for a filter's choices.
pub fn anomaly_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    AnomalyKind::ALL
        .into_iter()
        .map(|k| (k.as_str(), k.label()))
}
