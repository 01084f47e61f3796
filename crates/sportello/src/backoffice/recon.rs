//! Reconciliation in the back office: flows, treasury credits, their anomalies, receipts'
//! reporting state and path. It is the finance office's work and covers every service at once
//! (a flow mixes the payments of all of them), so only admins see it: an operator gets
//! [`BoError::Forbidden`] from every use case here, and no path on a receipt's page.

use serde_json::json;

use super::{BackOffice, BoError, Operator};
use crate::recon::ReconConfig;
use crate::recon::ReportingState;
use crate::recon::sync::{SyncReport, sync_round};
use crate::recon::treasury::{TreasuryError, TreasuryReport, import_statement};
use crate::recon::views::{
    self, AnomalyFilter, AnomalyView, CreditView, FlowDetail, FlowFilter, FlowSummary, ReceiptPath,
    ReceiptState,
};

/// Largest note on a resolved anomaly.
const MAX_NOTE_CHARS: usize = 2000;

impl BackOffice<'_> {
    /// Flows, newest first.
    pub async fn recon_flows(
        &self,
        op: &Operator,
        filter: &FlowFilter,
    ) -> Result<Vec<FlowSummary>, BoError> {
        Self::require_admin(op)?;
        Ok(views::list_flows(self.store, self.ente.id, filter).await?)
    }

    /// An export's batch of flows (ids below `before`, highest first).
    pub async fn recon_flows_batch(
        &self,
        op: &Operator,
        filter: &FlowFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<FlowSummary>, BoError> {
        Self::require_admin(op)?;
        Ok(views::flows_batch(self.store, self.ente.id, filter, before, limit).await?)
    }

    /// One flow with its lines, anomalies, revisions and credit.
    pub async fn recon_flow(&self, op: &Operator, flow_id: i64) -> Result<FlowDetail, BoError> {
        Self::require_admin(op)?;
        views::flow_detail(self.store, self.ente.id, flow_id)
            .await?
            .ok_or(BoError::NotFound)
    }

    /// Treasury credits; `unmatched`: only those settling no flow.
    pub async fn recon_credits(
        &self,
        op: &Operator,
        unmatched: bool,
    ) -> Result<Vec<CreditView>, BoError> {
        Self::require_admin(op)?;
        Ok(views::list_credits(self.store, self.ente.id, unmatched).await?)
    }

    /// An export's batch of credits.
    pub async fn recon_credits_batch(
        &self,
        op: &Operator,
        unmatched: bool,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CreditView>, BoError> {
        Self::require_admin(op)?;
        Ok(views::credits_batch(self.store, self.ente.id, unmatched, before, limit).await?)
    }

    /// Reconciliation anomalies.
    pub async fn recon_anomalies(
        &self,
        op: &Operator,
        filter: &AnomalyFilter,
    ) -> Result<Vec<AnomalyView>, BoError> {
        Self::require_admin(op)?;
        Ok(views::list_anomalies(self.store, self.ente.id, filter).await?)
    }

    /// An export's batch of anomalies.
    pub async fn recon_anomalies_batch(
        &self,
        op: &Operator,
        filter: &AnomalyFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AnomalyView>, BoError> {
        Self::require_admin(op)?;
        Ok(views::anomalies_batch(self.store, self.ente.id, filter, before, limit).await?)
    }

    /// Closes an open reconciliation anomaly (its number, as typed) with a mandatory note,
    /// audited.
    pub async fn recon_resolve(
        &self,
        op: &Operator,
        ip: &str,
        anomaly_id: &str,
        note: &str,
    ) -> Result<(), BoError> {
        Self::require_admin_write(op)?;
        let anomaly_id = anomaly_id
            .trim()
            .parse::<i64>()
            .map_err(|_| BoError::Invalid("id", "Anomalia non indicata.".to_owned()))?;
        let note = note.trim();
        if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
            return Err(BoError::Invalid(
                "nota",
                "Scrivi una nota che spieghi come è stata risolta (al massimo 2000 caratteri)."
                    .to_owned(),
            ));
        }
        if !views::resolve_anomaly(self.store, self.ente.id, anomaly_id, note).await? {
            return Err(BoError::Conflict(
                "L'anomalia non è aperta: è già stata risolta o non esiste.".to_owned(),
            ));
        }
        self.audit(
            op,
            ip,
            "ufficio.recon_resolve",
            "ok",
            json!({ "anomaly": anomaly_id, "note": note }),
        )
        .await
    }

    /// Receipts with their reporting state.
    pub async fn recon_receipts(
        &self,
        op: &Operator,
        state: Option<ReportingState>,
    ) -> Result<Vec<ReceiptState>, BoError> {
        Self::require_admin(op)?;
        Ok(views::list_receipts(self.store, self.ente.id, state).await?)
    }

    /// An export's batch of receipts with their reporting state.
    pub async fn recon_receipts_batch(
        &self,
        op: &Operator,
        state: Option<ReportingState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReceiptState>, BoError> {
        Self::require_admin(op)?;
        Ok(views::receipts_batch(self.store, self.ente.id, state, before, limit).await?)
    }

    /// A receipt's path (notice → receipt → flow lines → credits) for an admin; None for
    /// anybody else (the receipt's page shows it only to those who may see reconciliation).
    pub async fn receipt_path(
        &self,
        op: &Operator,
        receipt_id: &str,
    ) -> Result<Option<ReceiptPath>, BoError> {
        if !op.is_admin() {
            return Ok(None);
        }
        Ok(views::receipt_path(self.store, self.ente.id, receipt_id).await?)
    }

    /// Whether `op` may import a statement: asked before an upload is read.
    pub fn may_import_statement(&self, op: &Operator) -> Result<(), BoError> {
        Self::require_admin_write(op)
    }

    /// Imports a treasury statement (camt.053 or CSV) whole or not at all, audited: the same
    /// service as `sportello treasury import`.
    pub async fn import_statement(
        &self,
        op: &Operator,
        ip: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<TreasuryReport, BoError> {
        Self::require_admin_write(op)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BoError::Invalid(
                "estratto",
                "Il file è vuoto: scegli l'estratto conto (camt.053 o CSV) da caricare.".to_owned(),
            ));
        }
        let report = match import_statement(self.store, self.ente, file_name, bytes).await {
            Ok(r) => r,
            Err(TreasuryError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(BoError::Invalid("estratto", e.to_string())),
        };
        self.audit(
            op,
            ip,
            "ufficio.treasury_import",
            "ok",
            json!({ "file": file_name, "imported": report.imported, "flows": report.flows_credited }),
        )
        .await?;
        Ok(report)
    }

    /// One synchronisation round with pagoPA's FdR API now, audited.
    pub async fn sync_now(
        &self,
        op: &Operator,
        ip: &str,
        config: &ReconConfig,
    ) -> Result<SyncReport, BoError> {
        Self::require_admin_write(op)?;
        let result = sync_round(self.store, self.ente, config).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        self.audit(op, ip, "ufficio.recon_sync", outcome, json!({}))
            .await?;
        result.map_err(|e| BoError::Conflict(format!("Sincronizzazione non riuscita: {e}.")))
    }
}
