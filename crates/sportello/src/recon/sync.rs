//! One reconciliation round against pagoPA: new flows since the watermark (each stored with
//! its lines, matches and anomalies in one transaction, so a round cut short resumes where it
//! stopped), then receipts recovered for the anomalies that allow it, then the overdue checks.

use std::collections::HashMap;

use pagopa::fdr::FlowRef;
use serde::Serialize;

use super::client::{Client, ClientError, Recovered};
use super::matching::{self, LineIn, LineKey};
use super::{AnomalyKind, ReconConfig};
use crate::clock::Timestamp;
use crate::station::Station;
use crate::store::ente::Ente;
use crate::store::recon::{NewFinding, NewFlow, NewLine};
use crate::store::{Store, StoreError};

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    /// pagoPA's API failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reconciliation is not configured.
    #[error("riconciliazione non configurata: manca fdr.url (SPORTELLO_FDR_URL)")]
    NotConfigured,
}

/// An anomaly, as `sportello fdr sync --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnomalyReport {
    /// The kind's code.
    pub kind: AnomalyKind,
    /// IUV of the line, if any.
    pub iuv: Option<String>,
    /// IUR of the line, if any.
    pub iur: Option<String>,
    /// idTransfer of the line, if any.
    #[serde(rename = "idTransfer")]
    pub id_transfer: Option<i64>,
    /// In Italian.
    pub detail: String,
}

/// A flow processed in this round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowReport {
    /// Flow id.
    pub fdr: String,
    /// idPSP.
    #[serde(rename = "pspId")]
    pub psp_id: String,
    /// Revision.
    pub revision: i64,
    /// `reconciled` (every line matched, header consistent) or `anomalies`.
    pub status: &'static str,
    /// Lines in the flow.
    pub lines: usize,
    /// Lines matched to a receipt (recovered ones included).
    pub matched: usize,
    /// What did not add up (recovered receipts say so in `detail`).
    pub anomalies: Vec<AnomalyReport>,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Flows stored in this round.
    pub flows: Vec<FlowReport>,
    /// Flows listed but already stored (a resumed round).
    pub already_stored: usize,
    /// Receipts recovered from pagoPA.
    pub recovered: usize,
    /// `no_flow` and `no_credit` anomalies opened.
    pub overdue: u64,
}

/// Listing overlaps the watermark by this much: flows published in the same instant as the
/// last one processed are listed again and skipped as already stored.
const OVERLAP: time::Duration = time::Duration::hours(1);

fn instant(text: &str) -> Option<Timestamp> {
    Timestamp::parse(text)
        .ok()
        .or_else(|| Timestamp::parse_iso_rome(text).ok())
}

/// Runs one round for `ente`.
pub async fn sync_round(
    store: &Store,
    ente: &Ente,
    config: &ReconConfig,
) -> Result<SyncReport, ReconError> {
    let client = Client::from_config(config).ok_or(ReconError::NotConfigured)?;
    let result = run(store, ente, config, &client).await;
    let error = result.as_ref().err().map(ToString::to_string);
    store
        .advance_recon_watermark(ente.id, None, error.as_deref())
        .await?;
    result
}

async fn run(
    store: &Store,
    ente: &Ente,
    config: &ReconConfig,
    client: &Client,
) -> Result<SyncReport, ReconError> {
    let mut report = SyncReport::default();
    let watermark = store.recon_watermark(ente.id).await?;
    let since = watermark.map(|w| w.plus(-OVERLAP).to_utc_text());
    let mut listed = client
        .list_flows(&ente.fiscal_code, since.as_deref())
        .await?;
    let mut dated: Vec<(Timestamp, FlowRef)> = Vec::with_capacity(listed.len());
    for r in listed.drain(..) {
        let Some(at) = instant(&r.published) else {
            tracing::warn!(fdr = %r.fdr, published = %r.published, "FdR: publication time unreadable, flow skipped");
            continue;
        };
        dated.push((at, r));
    }
    dated.sort_by(|a, b| (a.0, &a.1.fdr, a.1.revision).cmp(&(b.0, &b.1.fdr, b.1.revision)));
    let mut where_reported: HashMap<LineKey, (usize, usize)> = HashMap::new();
    for (published, r) in dated {
        if store
            .flow_stored(ente.id, &r.fdr, &r.psp_id, r.revision)
            .await?
        {
            report.already_stored += 1;
        } else if let Some(flow) = load_flow(store, ente, client, &r, published).await? {
            for (i, a) in flow.anomalies.iter().enumerate() {
                if let (Some(iuv), Some(iur), Some(t)) = (&a.iuv, &a.iur, a.id_transfer) {
                    where_reported.insert(
                        LineKey {
                            iuv: iuv.clone(),
                            iur: iur.clone(),
                            id_transfer: t,
                        },
                        (report.flows.len(), i),
                    );
                }
            }
            report.flows.push(flow);
        }
        store
            .advance_recon_watermark(ente.id, Some(published), None)
            .await?;
    }
    report.recovered = recover(store, ente, client, &mut report.flows, &where_reported).await?;
    let now = Timestamp::now();
    report.overdue = store
        .raise_overdue(
            ente.id,
            now.plus(-time::Duration::days(config.no_flow_days)),
            now.plus(-time::Duration::days(config.no_credit_days)),
        )
        .await?;
    Ok(report)
}

/// Fetches, matches and stores one flow revision. None when another instance stored it first.
async fn load_flow(
    store: &Store,
    ente: &Ente,
    client: &Client,
    r: &FlowRef,
    published: Timestamp,
) -> Result<Option<FlowReport>, ReconError> {
    let header = client.flow(&ente.fiscal_code, r).await?;
    let payments = client.payments(&ente.fiscal_code, r).await?;
    let lines_in: Vec<LineIn> = payments
        .iter()
        .map(|p| LineIn {
            key: LineKey {
                iuv: p.iuv.clone(),
                iur: p.iur.clone(),
                id_transfer: p.id_transfer,
            },
            amount: p.pay,
            pay_status: p.pay_status,
        })
        .collect();
    let mut iurs: Vec<&str> = payments.iter().map(|p| p.iur.as_str()).collect();
    iurs.sort_unstable();
    iurs.dedup();
    let candidates = matching::index(store.receipt_candidates(ente.id, &iurs).await?);
    let outcome =
        matching::match_flow((header.tot_payments, header.sum_payments), &lines_in, |k| {
            candidates.get(k).copied()
        });
    let lines: Vec<NewLine> = payments
        .iter()
        .zip(&outcome.links)
        .map(|(p, link)| NewLine {
            idx: p.index,
            key: LineKey {
                iuv: p.iuv.clone(),
                iur: p.iur.clone(),
                id_transfer: p.id_transfer,
            },
            amount: p.pay.get(),
            pay_status: p.pay_status.as_str().to_owned(),
            pay_date: p.pay_date.clone(),
            receipt_pk: *link,
        })
        .collect();
    let findings: Vec<NewFinding> = outcome.findings.iter().map(NewFinding::from).collect();
    let flow = NewFlow {
        fdr: r.fdr.clone(),
        psp_id: r.psp_id.clone(),
        revision: r.revision,
        status: header.status.as_str().to_owned(),
        published_at: published,
        flow_date: header.fdr_date.clone().or_else(|| r.flow_date.clone()),
        regulation: header.regulation.clone(),
        regulation_date: header.regulation_date.clone(),
        bic: header.bic_code_pouring_bank.clone(),
        psp_name: header.sender.psp_name.clone(),
        tot_payments: header.tot_payments,
        sum_payments: header.sum_payments.get(),
    };
    match store.store_flow(ente.id, &flow, &lines, &findings).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    for credit in store.credits_naming(ente.id, &r.fdr).await? {
        store.link_credit(ente.id, credit).await?;
    }
    tracing::info!(fdr = %r.fdr, revision = r.revision, lines = lines.len(), matched = outcome.matched, anomalies = findings.len(), "FdR: flow reconciled");
    Ok(Some(FlowReport {
        fdr: r.fdr.clone(),
        psp_id: r.psp_id.clone(),
        revision: r.revision,
        status: if findings.is_empty() {
            "reconciled"
        } else {
            "anomalies"
        },
        lines: lines.len(),
        matched: outcome.matched,
        anomalies: outcome
            .findings
            .iter()
            .map(|f| {
                let line = f.line.and_then(|i| lines.get(i));
                AnomalyReport {
                    kind: f.kind,
                    iuv: line.map(|l| l.key.iuv.clone()),
                    iur: line.map(|l| l.key.iur.clone()),
                    id_transfer: line.map(|l| l.key.id_transfer),
                    detail: f.detail.clone(),
                }
            })
            .collect(),
    }))
}

/// How long to wait before asking pagoPA again for a receipt it did not have: 15 minutes,
/// doubling, at most a day; after 10 attempts, no more (the anomaly stays for a person).
fn backoff(attempts: i64) -> Option<time::Duration> {
    (attempts < 10).then(|| {
        time::Duration::minutes(15 * (1i64 << attempts.clamp(0, 7))).min(time::Duration::days(1))
    })
}

/// Receipts of recoverable anomalies fetched from the receipts API, stored as `paSendRT` would
/// store them, and their lines matched. The API is throttled: only anomalies ask, each at its
/// own pace, and a 429 ends the recovery for this round.
async fn recover(
    store: &Store,
    ente: &Ente,
    client: &Client,
    reports: &mut [FlowReport],
    where_reported: &HashMap<LineKey, (usize, usize)>,
) -> Result<usize, ReconError> {
    if !client.can_recover() {
        return Ok(0);
    }
    let now = Timestamp::now();
    let station = Station::new(store, ente);
    let mut recovered = 0;
    for due in store.due_recoveries(ente.id, now, 200).await? {
        let later = |attempts: i64| backoff(attempts).map(|d| now.plus(d));
        let answer = client
            .receipt(&ente.fiscal_code, &due.key.iur, &due.key.iuv)
            .await;
        let (receipt, raw) = match answer {
            Ok(Recovered::Found(r, raw)) => (r, raw),
            Ok(Recovered::NotFound) => {
                store
                    .recovery_postponed(
                        due.anomaly_pk,
                        later(due.attempts),
                        "pagoPA non ha questa ricevuta",
                    )
                    .await?;
                continue;
            }
            Err(ClientError::Throttled(_)) => {
                store
                    .recovery_postponed(due.anomaly_pk, later(due.attempts), "HTTP 429")
                    .await?;
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, iuv = %due.key.iuv, "receipt recovery failed");
                store
                    .recovery_postponed(due.anomaly_pk, later(due.attempts), &e.to_string())
                    .await?;
                continue;
            }
        };
        let soap = match receipt.to_receipt() {
            Ok(s) if s.creditor_reference_id == due.key.iuv && s.receipt_id == due.key.iur => s,
            Ok(_) => {
                store
                    .recovery_postponed(
                        due.anomaly_pk,
                        None,
                        "la ricevuta ricevuta è di un altro pagamento",
                    )
                    .await?;
                continue;
            }
            Err(e) => {
                store
                    .recovery_postponed(due.anomaly_pk, None, &e.to_string())
                    .await?;
                continue;
            }
        };
        let disposition = match station.record_recovered(&soap, &raw).await {
            Ok(d) => d,
            Err(StoreError::Conflict(why)) => {
                store.recovery_postponed(due.anomaly_pk, None, &why).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(iuv = %due.key.iuv, iur = %due.key.iur, ?disposition, "receipt recovered from pagoPA");
        let candidates = store
            .receipt_candidates(ente.id, &[due.key.iur.as_str()])
            .await?;
        let Some((_, candidate)) = candidates.into_iter().find(|(k, _)| *k == due.key) else {
            store
                .recovery_postponed(
                    due.anomaly_pk,
                    None,
                    "la ricevuta recuperata non ha il versamento indicato dal flusso",
                )
                .await?;
            continue;
        };
        let clean = store.recovery_done(ente.id, &due, candidate).await?;
        recovered += 1;
        if let Some((f, a)) = where_reported.get(&due.key) {
            if let Some(flow) = reports.get_mut(*f) {
                if clean {
                    flow.matched += 1;
                }
                if let Some(anomaly) = flow.anomalies.get_mut(*a) {
                    anomaly.detail.push_str(" — ricevuta recuperata da pagoPA");
                }
            }
        }
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_backs_off_then_gives_up() {
        assert_eq!(backoff(0), Some(time::Duration::minutes(15)));
        assert_eq!(backoff(1), Some(time::Duration::minutes(30)));
        assert_eq!(backoff(6), Some(time::Duration::hours(16)));
        assert_eq!(backoff(7), Some(time::Duration::days(1)), "at most a day");
        assert_eq!(backoff(9), Some(time::Duration::days(1)));
        assert_eq!(backoff(10), None, "then a person looks at it");
    }

    #[test]
    fn publication_times_are_read_with_or_without_a_zone() {
        assert!(instant("2026-11-30T10:15:00.123456Z").is_some());
        assert!(instant("2026-11-30T10:15:00+01:00").is_some());
        assert!(instant("2026-11-30T10:15:00").is_some());
        assert!(instant("ieri").is_none());
    }
}
