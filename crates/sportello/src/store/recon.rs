//! Reconciliation's storage: flows and their lines, anomalies, treasury credits, the FdR
//! watermark, and each receipt's reporting state. The rules live in [`crate::recon`].

use super::{Store, StoreError, StoreResult};
use crate::clock::Timestamp;
use crate::db::{DbRow, Tx};
use crate::recon::AnomalyKind;
use crate::recon::matching::{Candidate, LineKey};
use crate::{with_db, with_tx};
use pagopa::Cents;

/// A flow's header, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlow {
    /// Flow id.
    pub fdr: String,
    /// idPSP.
    pub psp_id: String,
    /// Revision.
    pub revision: i64,
    /// pagoPA's status (PUBLISHED).
    pub status: String,
    /// When pagoPA published it.
    pub published_at: Timestamp,
    /// The flow's date, as written.
    pub flow_date: Option<String>,
    /// The settlement's reference.
    pub regulation: String,
    /// The settlement's date.
    pub regulation_date: Option<String>,
    /// BIC of the receiving bank.
    pub bic: Option<String>,
    /// PSP name.
    pub psp_name: String,
    /// Declared number of payments.
    pub tot_payments: i64,
    /// Declared total, cents.
    pub sum_payments: i64,
}

/// A flow line, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    /// Index in the flow.
    pub idx: i64,
    /// IUV, IUR, idTransfer.
    pub key: LineKey,
    /// Cents.
    pub amount: i64,
    /// payStatus.
    pub pay_status: String,
    /// payDate as written.
    pub pay_date: String,
    /// The receipt it is linked to.
    pub receipt_pk: Option<i64>,
}

/// An anomaly to store with a flow (its line by position in the flow's lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    /// Which.
    pub kind: AnomalyKind,
    /// Position of the line in the lines stored with it; None for the header.
    pub line: Option<usize>,
    /// In Italian.
    pub detail: String,
}

impl From<&crate::recon::matching::Finding> for NewFinding {
    fn from(f: &crate::recon::matching::Finding) -> Self {
        NewFinding {
            kind: f.kind,
            line: f.line,
            detail: f.detail.clone(),
        }
    }
}

/// A recoverable anomaly whose turn has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRecovery {
    /// The anomaly.
    pub anomaly_pk: i64,
    /// The line.
    pub line_pk: i64,
    /// IUV, IUR, idTransfer.
    pub key: LineKey,
    /// The line's amount, cents.
    pub amount: i64,
    /// Attempts so far.
    pub attempts: i64,
}

/// A treasury movement to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit {
    /// Unique key of the movement in the bank's records.
    pub movement_key: String,
    /// `camt053` or `csv`.
    pub source: &'static str,
    /// The file it came from.
    pub file_name: String,
    /// Booking date.
    pub booking_date: Option<String>,
    /// Value date.
    pub value_date: Option<String>,
    /// Cents, positive.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// The bank's reference.
    pub reference: Option<String>,
    /// Who paid.
    pub debtor_name: Option<String>,
    /// Remittance.
    pub remittance: String,
    /// The flow id found in the remittance.
    pub fdr: Option<String>,
}

/// How a credit was linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditLink {
    /// It settles this flow.
    Flow(String),
    /// Its remittance names no flow, or a flow not (yet) known.
    NoFlow,
    /// The flow is known but its total differs.
    AmountMismatch(String),
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Recomputes the reporting state of receipts (those of `scope`: a subquery yielding receipt
/// primary keys, over `$1`): anomaly when an open anomaly names it, credited when every
/// transfer is on a line of a current flow settled by a credit, reported when on lines of
/// current flows, pending otherwise. Reported receipts' open `no_flow` anomalies are settled.
/// Then their options and positions follow GPD's lifecycle (see [`refresh_gpd_statuses_in`]).
async fn refresh_states_in(tx: &mut Tx, scope: &str, arg: i64) -> StoreResult<()> {
    let now = Timestamp::now();
    let on_current =
        "SELECT COUNT(DISTINCT l.id_transfer) FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk
                      WHERE l.receipt_pk = receipts.id AND f.current = $2";
    let settle = format!(
        "UPDATE recon_anomalies SET closed_at = $3, closed_reason = 'settled'
         WHERE kind = 'no_flow' AND closed_at IS NULL AND receipt_pk IN ({scope})
           AND EXISTS (SELECT 1 FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk
                       WHERE l.receipt_pk = recon_anomalies.receipt_pk AND f.current = $2)"
    );
    let update = format!(
        "UPDATE receipts SET
           reporting_state = CASE
             WHEN EXISTS (SELECT 1 FROM recon_anomalies a WHERE a.receipt_pk = receipts.id AND a.closed_at IS NULL) THEN 'anomaly'
             WHEN ({on_current}) >= (SELECT COUNT(*) FROM receipt_transfers t WHERE t.receipt_pk = receipts.id) AND ({on_current}) > 0 THEN
               CASE WHEN EXISTS (SELECT 1 FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk
                                 WHERE l.receipt_pk = receipts.id AND f.current = $2 AND f.credit_pk IS NULL)
                    THEN 'reported' ELSE 'credited' END
             ELSE 'pending' END,
           reported_fdr = (SELECT MIN(f.fdr) FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk
                           WHERE l.receipt_pk = receipts.id AND f.current = $2)
         WHERE id IN ({scope})"
    );
    with_tx!(tx, |conn| {
        sqlx::query(&settle)
            .bind(arg)
            .bind(true)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&update)
            .bind(arg)
            .bind(true)
            .execute(&mut *conn)
            .await?;
    });
    refresh_gpd_statuses_in(tx, scope, arg).await
}

/// GPD's reporting statuses of the options and positions the receipts of `scope` paid. A paid
/// option is PO_REPORTED when every one of its transfers is on a line of a current flow (for
/// any of its OK receipts), PO_PARTIALLY_REPORTED when some are, PO_PAID otherwise; a PAID
/// position is REPORTED when every paid option is PO_REPORTED, and back to PAID when a newer
/// revision of a flow no longer reports it. An unpaid option, and a position in any other
/// status (PARTIALLY_PAID included), is left as it is.
async fn refresh_gpd_statuses_in(tx: &mut Tx, scope: &str, arg: i64) -> StoreResult<()> {
    let now = Timestamp::now();
    let options = format!(
        "SELECT r.payment_option_id FROM receipts r WHERE r.payment_option_id IS NOT NULL AND r.id IN ({scope})"
    );
    let reported = "(SELECT COUNT(DISTINCT l.id_transfer) FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk
                       JOIN receipts r ON r.id = l.receipt_pk
                     WHERE r.payment_option_id = payment_options.id AND r.outcome = 'OK' AND f.current = $2)";
    let status = format!(
        "CASE WHEN {reported} >= (SELECT COUNT(*) FROM transfers t WHERE t.payment_option_id = payment_options.id)
                   AND {reported} > 0 THEN 'PO_REPORTED'
              WHEN {reported} > 0 THEN 'PO_PARTIALLY_REPORTED'
              ELSE 'PO_PAID' END"
    );
    let update_options = format!(
        "UPDATE payment_options SET status = {status}
         WHERE status <> 'PO_UNPAID' AND status <> {status} AND id IN ({options})"
    );
    let positions =
        format!("SELECT o.position_id FROM payment_options o WHERE o.id IN ({options})");
    let all_reported =
        "NOT EXISTS (SELECT 1 FROM payment_options o WHERE o.position_id = debt_positions.id
                          AND o.status IN ('PO_PAID', 'PO_PARTIALLY_REPORTED'))";
    let update_positions = format!(
        "UPDATE debt_positions SET
           status = CASE WHEN status = 'PAID' THEN 'REPORTED' ELSE 'PAID' END,
           updated_at = $2, version = version + 1
         WHERE id IN ({positions})
           AND ((status = 'PAID' AND {all_reported}) OR (status = 'REPORTED' AND NOT {all_reported}))"
    );
    with_tx!(tx, |conn| {
        sqlx::query(&update_options)
            .bind(arg)
            .bind(true)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&update_positions)
            .bind(arg)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

const FLOW_RECEIPTS: &str = "SELECT receipt_pk FROM fdr_lines WHERE flow_pk = $1 AND receipt_pk IS NOT NULL UNION SELECT receipt_pk FROM recon_anomalies WHERE flow_pk = $1 AND receipt_pk IS NOT NULL";

impl Store {
    /// The FdR watermark: the latest publication fully processed.
    pub async fn recon_watermark(&self, ente_id: i64) -> StoreResult<Option<Timestamp>> {
        with_db!(self.db(), |pool| {
            let found: Option<Option<Timestamp>> =
                sqlx::query_scalar("SELECT fdr_watermark FROM recon_state WHERE ente_id = $1")
                    .bind(ente_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(found.flatten())
        })
    }

    /// Moves the watermark forward to `published` (never back), and notes the round.
    pub async fn advance_recon_watermark(
        &self,
        ente_id: i64,
        published: Option<Timestamp>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let now = Timestamp::now();
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO recon_state (ente_id, fdr_watermark, last_sync_at, last_error) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (ente_id) DO UPDATE SET
                   fdr_watermark = CASE WHEN recon_state.fdr_watermark IS NULL OR (excluded.fdr_watermark IS NOT NULL AND excluded.fdr_watermark > recon_state.fdr_watermark)
                                        THEN COALESCE(excluded.fdr_watermark, recon_state.fdr_watermark) ELSE recon_state.fdr_watermark END,
                   last_sync_at = excluded.last_sync_at, last_error = excluded.last_error",
            )
            .bind(ente_id)
            .bind(published)
            .bind(now)
            .bind(error)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether this revision of a flow is stored.
    pub async fn flow_stored(
        &self,
        ente_id: i64,
        fdr: &str,
        psp_id: &str,
        revision: i64,
    ) -> StoreResult<bool> {
        with_db!(self.db(), |pool| {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM fdr_flows WHERE ente_id = $1 AND fdr = $2 AND psp_id = $3 AND revision = $4",
            )
            .bind(ente_id)
            .bind(fdr)
            .bind(psp_id)
            .bind(revision)
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// The OK receipts' transfers with these receiptIds (IURs), for matching.
    pub async fn receipt_candidates(
        &self,
        ente_id: i64,
        iurs: &[&str],
    ) -> StoreResult<Vec<(LineKey, Candidate)>> {
        let mut out = Vec::new();
        for chunk in iurs.chunks(500) {
            let sql = format!(
                "SELECT r.id, r.iuv, r.receipt_id, t.id_transfer, t.amount FROM receipts r
                 JOIN receipt_transfers t ON t.receipt_pk = r.id
                 WHERE r.ente_id = $1 AND r.outcome = 'OK' AND r.receipt_id IN ({})",
                placeholders(2, chunk.len())
            );
            with_db!(self.db(), |pool| {
                let mut q = sqlx::query(&sql).bind(ente_id);
                for iur in chunk {
                    q = q.bind(*iur);
                }
                for r in q.fetch_all(pool).await? {
                    let id_transfer: i32 = r.col("id_transfer")?;
                    out.push((
                        LineKey {
                            iuv: r.col("iuv")?,
                            iur: r.col("receipt_id")?,
                            id_transfer: i64::from(id_transfer),
                        },
                        Candidate {
                            receipt_pk: r.col("id")?,
                            amount: Cents::new(r.col("amount")?),
                        },
                    ));
                }
            });
        }
        Ok(out)
    }

    /// Stores a flow revision with its lines and anomalies, in one transaction. The newest
    /// revision of (fdr, PSP) becomes current: older ones stay, their open anomalies closed as
    /// superseded. Returns the flow's key, or [`StoreError::Conflict`] if this revision is
    /// already stored (a resumed round).
    pub async fn store_flow(
        &self,
        ente_id: i64,
        flow: &NewFlow,
        lines: &[NewLine],
        findings: &[NewFinding],
    ) -> StoreResult<i64> {
        let now = Timestamp::now();
        let line_sum: i64 = lines.iter().map(|l| l.amount).sum();
        let mut tx = self.db().begin().await?;
        let newest: Option<i64> = with_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT MAX(revision) FROM fdr_flows WHERE ente_id = $1 AND fdr = $2 AND psp_id = $3",
            )
            .bind(ente_id)
            .bind(&flow.fdr)
            .bind(&flow.psp_id)
            .fetch_one(&mut *conn)
            .await?
        });
        let current = newest.is_none_or(|n| flow.revision > n);
        let superseded: Vec<i64> = if current && newest.is_some() {
            with_tx!(&mut tx, |conn| {
                let old: Vec<i64> = sqlx::query_scalar(
                    "SELECT id FROM fdr_flows WHERE ente_id = $1 AND fdr = $2 AND psp_id = $3 AND current = $4",
                )
                .bind(ente_id)
                .bind(&flow.fdr)
                .bind(&flow.psp_id)
                .bind(true)
                .fetch_all(&mut *conn)
                .await?;
                for id in &old {
                    sqlx::query("UPDATE fdr_flows SET current = $2 WHERE id = $1")
                        .bind(id)
                        .bind(false)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "UPDATE recon_anomalies SET closed_at = $2, closed_reason = 'superseded'
                         WHERE flow_pk = $1 AND closed_at IS NULL",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                old
            })
        } else {
            Vec::new()
        };
        let flow_pk: i64 = with_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO fdr_flows (ente_id, fdr, psp_id, revision, current, status, published_at, flow_date, regulation, regulation_date, bic, psp_name,
                    tot_payments, sum_payments, line_count, line_sum, loaded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
            )
            .bind(ente_id)
            .bind(&flow.fdr)
            .bind(&flow.psp_id)
            .bind(flow.revision)
            .bind(current)
            .bind(&flow.status)
            .bind(flow.published_at)
            .bind(&flow.flow_date)
            .bind(&flow.regulation)
            .bind(&flow.regulation_date)
            .bind(&flow.bic)
            .bind(&flow.psp_name)
            .bind(flow.tot_payments)
            .bind(flow.sum_payments)
            .bind(i64::try_from(lines.len()).unwrap_or(i64::MAX))
            .bind(line_sum)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| {
                StoreError::from_insert(e, format!("flusso {} revisione {}", flow.fdr, flow.revision))
            })?
        });
        // Several rows per statement: a flow may hold thousands of lines.
        for chunk in lines.chunks(200) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * 9, 9)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO fdr_lines (flow_pk, idx, iuv, iur, id_transfer, amount, pay_status, pay_date, receipt_pk) VALUES {values}"
            );
            with_tx!(&mut tx, |conn| {
                let mut q = sqlx::query(&sql);
                for l in chunk {
                    q = q
                        .bind(flow_pk)
                        .bind(l.idx)
                        .bind(&l.key.iuv)
                        .bind(&l.key.iur)
                        .bind(l.key.id_transfer)
                        .bind(l.amount)
                        .bind(&l.pay_status)
                        .bind(&l.pay_date)
                        .bind(l.receipt_pk);
                }
                q.execute(&mut *conn).await?;
            });
        }
        let line_pks: Vec<(i64, i64)> = with_tx!(&mut tx, |conn| {
            sqlx::query_as("SELECT idx, id FROM fdr_lines WHERE flow_pk = $1 ORDER BY idx, id")
                .bind(flow_pk)
                .fetch_all(&mut *conn)
                .await?
        });
        let pk_of_idx: std::collections::HashMap<i64, i64> = line_pks.into_iter().collect();
        for f in findings {
            let line = f.line.and_then(|i| lines.get(i));
            let line_pk = line.and_then(|l| pk_of_idx.get(&l.idx).copied());
            let next = f.kind.recoverable().then_some(now);
            Store::insert_anomaly_in(
                &mut tx,
                ente_id,
                f.kind,
                Some(flow_pk),
                line_pk,
                line.and_then(|l| l.receipt_pk),
                None,
                line.map(|l| &l.key),
                &f.detail,
                next,
            )
            .await?;
        }
        refresh_states_in(&mut tx, FLOW_RECEIPTS, flow_pk).await?;
        for old in superseded {
            refresh_states_in(&mut tx, FLOW_RECEIPTS, old).await?;
        }
        tx.commit().await?;
        Ok(flow_pk)
    }

    #[expect(clippy::too_many_arguments, reason = "one row, many optional links")]
    async fn insert_anomaly_in(
        tx: &mut Tx,
        ente_id: i64,
        kind: AnomalyKind,
        flow_pk: Option<i64>,
        line_pk: Option<i64>,
        receipt_pk: Option<i64>,
        credit_pk: Option<i64>,
        key: Option<&LineKey>,
        detail: &str,
        next_attempt_at: Option<Timestamp>,
    ) -> StoreResult<i64> {
        Ok(with_tx!(tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO recon_anomalies (ente_id, kind, flow_pk, line_pk, receipt_pk, credit_pk, iuv, iur, id_transfer, detail, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(ente_id)
            .bind(kind.as_str())
            .bind(flow_pk)
            .bind(line_pk)
            .bind(receipt_pk)
            .bind(credit_pk)
            .bind(key.map(|k| k.iuv.clone()))
            .bind(key.map(|k| k.iur.clone()))
            .bind(key.map(|k| k.id_transfer))
            .bind(detail)
            .bind(next_attempt_at)
            .bind(Timestamp::now())
            .fetch_one(&mut *conn)
            .await?
        }))
    }

    /// Open recoverable anomalies (unknown payment, stand-in) of current flows whose next
    /// attempt is due, oldest first.
    pub async fn due_recoveries(
        &self,
        ente_id: i64,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<DueRecovery>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT a.id, a.line_pk, l.iuv, l.iur, l.id_transfer, l.amount, a.attempts
                 FROM recon_anomalies a JOIN fdr_lines l ON l.id = a.line_pk
                 WHERE a.ente_id = $1 AND a.closed_at IS NULL AND a.kind IN ('unknown_payment', 'stand_in')
                   AND a.next_attempt_at IS NOT NULL AND a.next_attempt_at <= $2
                 ORDER BY a.next_attempt_at, a.id LIMIT $3",
            )
            .bind(ente_id)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(DueRecovery {
                        anomaly_pk: r.col("id")?,
                        line_pk: r.col("line_pk")?,
                        key: LineKey {
                            iuv: r.col("iuv")?,
                            iur: r.col("iur")?,
                            id_transfer: r.col("id_transfer")?,
                        },
                        amount: r.col("amount")?,
                        attempts: r.col("attempts")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// A recovery attempt that found nothing (or was refused): try again at `next` (None: never).
    pub async fn recovery_postponed(
        &self,
        anomaly_pk: i64,
        next: Option<Timestamp>,
        note: &str,
    ) -> StoreResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE recon_anomalies SET attempts = attempts + 1, next_attempt_at = $2, closed_note = $3 WHERE id = $1",
            )
            .bind(anomaly_pk)
            .bind(next)
            .bind(note)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The receipt of a recoverable anomaly is now stored: link its line, close the anomaly as
    /// recovered (an amount that differs opens `amount_mismatch`), refresh the receipt's state.
    /// Returns whether the line is now matched cleanly.
    pub async fn recovery_done(
        &self,
        ente_id: i64,
        due: &DueRecovery,
        candidate: Candidate,
    ) -> StoreResult<bool> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        let flow_pk: i64 = with_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE fdr_lines SET receipt_pk = $2 WHERE id = $1")
                .bind(due.line_pk)
                .bind(candidate.receipt_pk)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE recon_anomalies SET closed_at = $2, closed_reason = 'recovered', receipt_pk = $3,
                    detail = detail || ' — ricevuta recuperata da pagoPA'
                 WHERE id = $1 AND closed_at IS NULL",
            )
            .bind(due.anomaly_pk)
            .bind(now)
            .bind(candidate.receipt_pk)
            .execute(&mut *conn)
            .await?;
            sqlx::query_scalar("SELECT flow_pk FROM fdr_lines WHERE id = $1")
                .bind(due.line_pk)
                .fetch_one(&mut *conn)
                .await?
        });
        let clean = candidate.amount.get() == due.amount;
        if !clean {
            Store::insert_anomaly_in(
                &mut tx,
                ente_id,
                AnomalyKind::AmountMismatch,
                Some(flow_pk),
                Some(due.line_pk),
                Some(candidate.receipt_pk),
                None,
                Some(&due.key),
                &format!(
                    "importo nel flusso {}, nella ricevuta recuperata {}",
                    Cents::new(due.amount),
                    candidate.amount
                ),
                None,
            )
            .await?;
        }
        refresh_states_in(&mut tx, "SELECT $1", candidate.receipt_pk).await?;
        tx.commit().await?;
        Ok(clean)
    }

    /// Opens `no_flow` for OK receipts paid before `before` that no current flow reports, and
    /// `no_credit` for current flows published before `flows_before` that no credit settles.
    /// Returns how many were opened.
    pub async fn raise_overdue(
        &self,
        ente_id: i64,
        before: Timestamp,
        flows_before: Timestamp,
    ) -> StoreResult<u64> {
        let now = Timestamp::now();
        let mut tx = self.db().begin().await?;
        let opened = with_tx!(&mut tx, |conn| {
            let receipts = sqlx::query(
                "INSERT INTO recon_anomalies (ente_id, kind, receipt_pk, iuv, iur, detail, created_at)
                 SELECT r.ente_id, 'no_flow', r.id, r.iuv, r.receipt_id, 'nessun flusso di rendicontazione riporta questa ricevuta', $3
                 FROM receipts r
                 WHERE r.ente_id = $1 AND r.outcome = 'OK' AND r.payment_date_time < $2
                   AND NOT EXISTS (SELECT 1 FROM fdr_lines l JOIN fdr_flows f ON f.id = l.flow_pk WHERE l.receipt_pk = r.id AND f.current = $4)
                   AND NOT EXISTS (SELECT 1 FROM recon_anomalies a WHERE a.receipt_pk = r.id AND a.kind = 'no_flow' AND a.closed_at IS NULL)",
            )
            .bind(ente_id)
            .bind(before)
            .bind(now)
            .bind(true)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let flows = sqlx::query(
                "INSERT INTO recon_anomalies (ente_id, kind, flow_pk, detail, created_at)
                 SELECT f.ente_id, 'no_credit', f.id, 'nessun accredito in tesoreria per questo flusso', $3
                 FROM fdr_flows f
                 WHERE f.ente_id = $1 AND f.current = $4 AND f.credit_pk IS NULL AND f.published_at < $2
                   AND NOT EXISTS (SELECT 1 FROM recon_anomalies a WHERE a.flow_pk = f.id AND a.kind = 'no_credit' AND a.closed_at IS NULL)",
            )
            .bind(ente_id)
            .bind(flows_before)
            .bind(now)
            .bind(true)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            receipts + flows
        });
        if opened > 0 {
            refresh_states_in(
                &mut tx,
                "SELECT receipt_pk FROM recon_anomalies WHERE ente_id = $1 AND kind = 'no_flow' AND closed_at IS NULL",
                ente_id,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(opened)
    }

    /// Links a credit to the current flow its remittance names, when the amounts are equal
    /// (the flow becomes *riversato*); otherwise records why not. Idempotent: an open anomaly
    /// of the same kind for the credit is not repeated.
    pub async fn link_credit(&self, ente_id: i64, credit_pk: i64) -> StoreResult<CreditLink> {
        let mut tx = self.db().begin().await?;
        let link = self.link_credit_in(&mut tx, ente_id, credit_pk).await?;
        tx.commit().await?;
        Ok(link)
    }

    /// Stores a statement's credits and links each new one to its flow, all in one transaction:
    /// a failure stores none of them. A credit already stored (same `movement_key`) is left as
    /// it is: `None` in its place.
    pub async fn import_credits(
        &self,
        ente_id: i64,
        credits: &[NewCredit],
    ) -> StoreResult<Vec<Option<CreditLink>>> {
        let mut tx = self.db().begin().await?;
        let mut links = Vec::with_capacity(credits.len());
        for c in credits {
            let pk: Option<i64> = with_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "INSERT INTO treasury_credits (ente_id, movement_key, source, file_name, booking_date, value_date, amount, currency, reference, debtor_name, remittance, fdr, imported_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (ente_id, movement_key) DO NOTHING RETURNING id",
                )
                .bind(ente_id)
                .bind(&c.movement_key)
                .bind(c.source)
                .bind(&c.file_name)
                .bind(&c.booking_date)
                .bind(&c.value_date)
                .bind(c.amount)
                .bind(&c.currency)
                .bind(&c.reference)
                .bind(&c.debtor_name)
                .bind(&c.remittance)
                .bind(&c.fdr)
                .bind(Timestamp::now())
                .fetch_optional(&mut *conn)
                .await?
            });
            links.push(match pk {
                Some(pk) => Some(self.link_credit_in(&mut tx, ente_id, pk).await?),
                None => None,
            });
        }
        tx.commit().await?;
        Ok(links)
    }

    async fn link_credit_in(
        &self,
        tx: &mut Tx,
        ente_id: i64,
        credit_pk: i64,
    ) -> StoreResult<CreditLink> {
        let now = Timestamp::now();
        let (fdr, amount): (Option<String>, i64) = with_tx!(&mut *tx, |conn| {
            sqlx::query_as(
                "SELECT fdr, amount FROM treasury_credits WHERE id = $1 AND ente_id = $2",
            )
            .bind(credit_pk)
            .bind(ente_id)
            .fetch_one(&mut *conn)
            .await?
        });
        let flows: Vec<(i64, i64, Option<i64>)> = match &fdr {
            None => Vec::new(),
            Some(fdr) => with_tx!(&mut *tx, |conn| {
                sqlx::query_as(
                    "SELECT id, sum_payments, credit_pk FROM fdr_flows WHERE ente_id = $1 AND fdr = $2 AND current = $3 ORDER BY id",
                )
                .bind(ente_id)
                .bind(fdr)
                .bind(true)
                .fetch_all(&mut *conn)
                .await?
            }),
        };
        let link = match (&fdr, flows.iter().find(|(_, sum, _)| *sum == amount)) {
            (Some(fdr), Some((flow_pk, _, _))) => {
                with_tx!(&mut *tx, |conn| {
                    sqlx::query("UPDATE fdr_flows SET credit_pk = $2 WHERE id = $1")
                        .bind(flow_pk)
                        .bind(credit_pk)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "UPDATE recon_anomalies SET closed_at = $3, closed_reason = 'settled'
                         WHERE closed_at IS NULL AND ((kind = 'no_credit' AND flow_pk = $1)
                            OR (kind IN ('credit_without_flow', 'credit_amount_mismatch') AND credit_pk = $2))",
                    )
                    .bind(flow_pk)
                    .bind(credit_pk)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                });
                refresh_states_in(tx, FLOW_RECEIPTS, *flow_pk).await?;
                CreditLink::Flow(fdr.clone())
            }
            (Some(fdr), None) if !flows.is_empty() => {
                let (flow_pk, sum, _) = flows[0];
                let detail = format!(
                    "accredito di {} per il flusso {fdr}, il cui totale è {}",
                    Cents::new(amount),
                    Cents::new(sum)
                );
                self.open_credit_anomaly_in(
                    tx,
                    ente_id,
                    AnomalyKind::CreditAmountMismatch,
                    Some(flow_pk),
                    credit_pk,
                    &detail,
                )
                .await?;
                CreditLink::AmountMismatch(fdr.clone())
            }
            _ => {
                let detail = match &fdr {
                    Some(fdr) => format!("la causale indica il flusso {fdr}, non ancora ricevuto"),
                    None => "la causale non indica un flusso di rendicontazione".to_owned(),
                };
                self.open_credit_anomaly_in(
                    tx,
                    ente_id,
                    AnomalyKind::CreditWithoutFlow,
                    None,
                    credit_pk,
                    &detail,
                )
                .await?;
                CreditLink::NoFlow
            }
        };
        Ok(link)
    }

    async fn open_credit_anomaly_in(
        &self,
        tx: &mut Tx,
        ente_id: i64,
        kind: AnomalyKind,
        flow_pk: Option<i64>,
        credit_pk: i64,
        detail: &str,
    ) -> StoreResult<()> {
        let open: i64 = with_tx!(&mut *tx, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM recon_anomalies WHERE credit_pk = $1 AND kind = $2 AND closed_at IS NULL",
            )
            .bind(credit_pk)
            .bind(kind.as_str())
            .fetch_one(&mut *conn)
            .await?
        });
        if open == 0 {
            Store::insert_anomaly_in(
                tx,
                ente_id,
                kind,
                flow_pk,
                None,
                None,
                Some(credit_pk),
                None,
                detail,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Credits waiting for the flow `fdr` (imported before it arrived), to link again.
    pub async fn credits_naming(&self, ente_id: i64, fdr: &str) -> StoreResult<Vec<i64>> {
        with_db!(self.db(), |pool| {
            Ok(sqlx::query_scalar(
                "SELECT c.id FROM treasury_credits c WHERE c.ente_id = $1 AND c.fdr = $2
                   AND NOT EXISTS (SELECT 1 FROM fdr_flows f WHERE f.credit_pk = c.id AND f.current = $3)
                 ORDER BY c.id",
            )
            .bind(ente_id)
            .bind(fdr)
            .bind(true)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Closes an anomaly by hand, with the operator's note. False when it was not open.
    pub async fn resolve_recon_anomaly(
        &self,
        ente_id: i64,
        anomaly_pk: i64,
        note: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let (done, receipt): (u64, Option<i64>) = with_tx!(&mut tx, |conn| {
            let done = sqlx::query(
                "UPDATE recon_anomalies SET closed_at = $3, closed_reason = 'resolved', closed_note = $4
                 WHERE id = $1 AND ente_id = $2 AND closed_at IS NULL",
            )
            .bind(anomaly_pk)
            .bind(ente_id)
            .bind(Timestamp::now())
            .bind(note)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let receipt: Option<Option<i64>> =
                sqlx::query_scalar("SELECT receipt_pk FROM recon_anomalies WHERE id = $1")
                    .bind(anomaly_pk)
                    .fetch_optional(&mut *conn)
                    .await?;
            (done, receipt.flatten())
        });
        if let Some(r) = receipt {
            refresh_states_in(&mut tx, "SELECT $1", r).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }
}
