//! The back office's use cases. Each takes the [`Operator`] acting and checks, here and only
//! here, the role (admin), the right to write and the service scope: a position or receipt
//! outside the scope is [`BoError::NotFound`], never "forbidden", so its existence is not
//! disclosed; one in scope whose service the operator only reads is [`BoError::Forbidden`] for
//! every change ([`BackOffice::require_write_on`], the rule being
//! [`Operator::may_write_service`]). An anomaly is changed with the right on its position's
//! service; one without a position (or a position without a service) only by a read-write
//! admin, like the positions without a service.

use pagopa::{Cents, FiscalCode};
use serde_json::json;

use super::{Operator, Scope};
use crate::clock::Timestamp;
use crate::domain::identity::IdentitySource;
use crate::domain::position::{OptionStatus, Position};
use crate::gpd::service::{Caller, Gpd, GpdError};
use crate::store::audit::AuditEvent;
use crate::store::backoffice::{
    ANOMALY_KINDS, Anomaly, Attempt, AuditQuery, AuditRow, Dashboard, PositionQuery, PositionRow,
    ReceiptQuery, ReceiptRow,
};
use crate::store::ente::Ente;
use crate::store::events::Exchange;
use crate::store::services::Service;
use crate::store::{Store, StoreError};

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BoError {
    /// Missing, or outside the operator's scope.
    #[error("not found")]
    NotFound,
    /// The operator's role or read-only flag does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// The input is wrong: (field, Italian message).
    #[error("invalid: {1}")]
    Invalid(&'static str, String),
    /// The state does not allow it (already paid, already resolved…), in Italian.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for BoError {
    fn from(e: StoreError) -> BoError {
        BoError::Internal(e.into())
    }
}

impl From<GpdError> for BoError {
    fn from(e: GpdError) -> BoError {
        match e {
            GpdError::NotFound { .. } => BoError::NotFound,
            GpdError::Conflict { title, .. } => BoError::Conflict(conflict_text(title)),
            GpdError::Internal(e) => BoError::Internal(e.into()),
            GpdError::BadRequest { detail, .. } => {
                BoError::Invalid("", format!("Dati non validi: {detail}"))
            }
            other => BoError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// The Italian wording of the GPD conflicts an operator may meet.
fn conflict_text(title: &str) -> String {
    if title.contains("invalidable") {
        "La posizione non può essere annullata: è già pagata, annullata o scaduta, oppure un pagamento è in corso.".to_owned()
    } else if title.contains("publishable") {
        "La posizione non può essere pubblicata: non è in bozza.".to_owned()
    } else {
        format!("Operazione non consentita nello stato attuale ({title}).")
    }
}

/// Everything the detail page of a position shows.
#[derive(Debug)]
pub struct PositionDetail {
    /// The position, options and transfers.
    pub position: Position,
    /// Its service.
    pub service: Option<Service>,
    /// Activation attempts.
    pub attempts: Vec<Attempt>,
    /// Receipts.
    pub receipts: Vec<ReceiptRow>,
    /// Raw exchanges with pagoPA about its notices.
    pub exchanges: Vec<Exchange>,
    /// Its audit trail.
    pub audit: Vec<AuditRow>,
}

/// A position typed in the back office's form.
#[derive(Debug, Clone)]
pub struct NewPositionForm {
    /// Catalog code.
    pub service: String,
    /// IUPD, or empty for one made up.
    pub iupd: String,
    /// Debtor.
    pub fiscal_code: FiscalCode,
    /// Debtor's name.
    pub full_name: String,
    /// Debtor's e-mail.
    pub email: Option<String>,
    /// Causale.
    pub description: String,
    /// Amount.
    pub amount: Cents,
    /// Due date.
    pub due_date: time::Date,
    /// Publish at once.
    pub publish: bool,
}

/// The back office of one ente.
pub struct BackOffice<'a> {
    pub(super) store: &'a Store,
    pub(super) ente: &'a Ente,
    checkout_overdue_minutes: i64,
    public_url: &'a str,
}

impl<'a> BackOffice<'a> {
    /// The back office over `store` for `ente`.
    pub fn new(
        store: &'a Store,
        ente: &'a Ente,
        checkout_overdue_minutes: i64,
        public_url: &'a str,
    ) -> BackOffice<'a> {
        BackOffice {
            store,
            ente,
            checkout_overdue_minutes,
            public_url,
        }
    }

    /// The operator's scope, as service ids.
    pub async fn scope(&self, op: &Operator) -> Result<Scope, BoError> {
        if op.is_admin() {
            return Ok(Scope::All);
        }
        let services = self.store.services(self.ente.id).await?;
        Ok(Scope::Services(
            services
                .iter()
                .filter(|s| op.sees_service(Some(&s.def.code)))
                .map(|s| s.id)
                .collect(),
        ))
    }

    /// Refuses a page that only serves to change things to whoever may change nothing (no
    /// read-write service).
    pub fn require_write_page(&self, op: &Operator) -> Result<(), BoError> {
        Self::require_write(op)
    }

    fn require_write(op: &Operator) -> Result<(), BoError> {
        if op.may_write() {
            Ok(())
        } else {
            Err(BoError::Forbidden)
        }
    }

    /// Refuses a change to the records of the service `code` (None: no service) unless the
    /// operator may write on it.
    pub fn require_write_on(op: &Operator, code: Option<&str>) -> Result<(), BoError> {
        if op.may_write_service(code) {
            Ok(())
        } else {
            Err(BoError::Forbidden)
        }
    }

    /// The catalog code of the service with id `service_id`.
    async fn service_code(&self, service_id: Option<i64>) -> Result<Option<String>, BoError> {
        Ok(match service_id {
            Some(id) => self.store.service_by_id(id).await?.map(|s| s.def.code),
            None => None,
        })
    }

    /// Refuses a change to `position` unless the operator may write on its service.
    async fn require_write_on_position(
        &self,
        op: &Operator,
        position: &Position,
    ) -> Result<(), BoError> {
        let code = self.service_code(position.service_id).await?;
        Self::require_write_on(op, code.as_deref())
    }

    /// Whether the operator may resolve `anomaly` (one they see): with the right on its
    /// position's service; without a position, a read-write admin only.
    pub async fn may_resolve(&self, op: &Operator, anomaly: &Anomaly) -> Result<bool, BoError> {
        let code = match anomaly.position_id {
            Some(id) => {
                let position = self.position(op, id).await?;
                self.service_code(position.service_id).await?
            }
            None => None,
        };
        Ok(op.may_write_service(code.as_deref()))
    }

    pub(super) fn require_admin(op: &Operator) -> Result<(), BoError> {
        if op.is_admin() {
            Ok(())
        } else {
            Err(BoError::Forbidden)
        }
    }

    /// Refuses a change of the admins' own (reconciliation, records without a service) to
    /// whoever is not a read-write admin.
    pub(super) fn require_admin_write(op: &Operator) -> Result<(), BoError> {
        Self::require_admin(op)?;
        Self::require_write_on(op, None)
    }

    fn caller(op: &Operator, ip: &str, reason: Option<String>) -> Caller {
        Caller {
            ip: ip.to_owned(),
            actor: Some(op.actor()),
            reason,
        }
    }

    /// Records an operator's action.
    pub async fn audit(
        &self,
        op: &Operator,
        ip: &str,
        action: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<(), BoError> {
        self.store
            .audit(&AuditEvent {
                account_id: None,
                actor: op.actor(),
                action: action.to_owned(),
                outcome: outcome.to_owned(),
                ip: ip.to_owned(),
                detail: detail.to_string(),
            })
            .await?;
        Ok(())
    }

    /// The services visible to the operator.
    pub async fn services(&self, op: &Operator) -> Result<Vec<Service>, BoError> {
        Ok(self
            .store
            .services(self.ente.id)
            .await?
            .into_iter()
            .filter(|s| op.sees_service(Some(&s.def.code)))
            .collect())
    }

    /// The dashboard.
    pub async fn dashboard(
        &self,
        op: &Operator,
        now: Timestamp,
    ) -> Result<(Dashboard, usize), BoError> {
        let scope = self.scope(op).await?;
        let today = now.rome_local().date();
        let day = Timestamp::rome_day_start(today);
        let month = Timestamp::rome_day_start(today.replace_day(1).unwrap_or(today));
        let figures = self
            .store
            .dashboard(self.ente.id, &scope, day, month)
            .await?;
        let anomalies = self.anomalies(op, now).await?.len();
        Ok((figures, anomalies))
    }

    /// A page of positions (`limit` + 1 read, to know whether another page follows).
    pub async fn search_positions(
        &self,
        op: &Operator,
        q: &PositionQuery,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PositionRow>, BoError> {
        let scope = self.scope(op).await?;
        Ok(self
            .store
            .search_positions(self.ente.id, &scope, q, after, limit)
            .await?)
    }

    /// A position in the operator's scope.
    pub async fn position(&self, op: &Operator, id: i64) -> Result<Position, BoError> {
        let scope = self.scope(op).await?;
        self.store
            .position_in_scope(self.ente.id, &scope, id)
            .await?
            .ok_or(BoError::NotFound)
    }

    /// Everything about a position.
    pub async fn position_detail(&self, op: &Operator, id: i64) -> Result<PositionDetail, BoError> {
        let position = self.position(op, id).await?;
        let service = match position.service_id {
            Some(sid) => self.store.service_by_id(sid).await?,
            None => None,
        };
        let attempts = self.store.position_attempts(position.id).await?;
        let receipts = self
            .store
            .position_receipts(self.ente.id, position.id)
            .await?;
        let mut exchanges = Vec::new();
        for o in &position.options {
            exchanges.extend(self.store.exchanges_for(o.nav.as_str()).await?);
        }
        let audit = self
            .store
            .search_audit(
                &AuditQuery {
                    iupd: Some(position.iupd.clone()),
                    ..AuditQuery::default()
                },
                200,
            )
            .await?;
        Ok(PositionDetail {
            position,
            service,
            attempts,
            receipts,
            exchanges,
            audit,
        })
    }

    /// Creates a position from the form, in a service of the operator's scope.
    pub async fn create_position(
        &self,
        op: &Operator,
        ip: &str,
        form: &NewPositionForm,
    ) -> Result<Position, BoError> {
        Self::require_write(op)?;
        let service = self
            .services(op)
            .await?
            .into_iter()
            .find(|s| s.def.code == form.service)
            .ok_or_else(|| BoError::Invalid("servizio", "Scegli un servizio.".to_owned()))?;
        Self::require_write_on(op, Some(&service.def.code))?;
        let iupd = if form.iupd.trim().is_empty() {
            format!(
                "UFF-{}-{}",
                service.def.code.to_uppercase(),
                Timestamp::now().get().unix_timestamp_nanos() / 1000
            )
        } else {
            form.iupd.trim().to_owned()
        };
        let kind = match form.fiscal_code {
            FiscalCode::Personal(_) => "F",
            FiscalCode::Legal(_) => "G",
        };
        let transfers: Vec<serde_json::Value> = service
            .def
            .split(form.amount)
            .into_iter()
            .map(|(i, amount)| {
                let t = &service.def.transfers[i];
                json!({
                    "idTransfer": (i + 1).to_string(),
                    "amount": amount.get(),
                    "remittanceInformation": form.description,
                    "category": t.category,
                    "iban": t.iban,
                })
            })
            .collect();
        let model = json!({
            "iupd": iupd,
            "type": kind,
            "fiscalCode": form.fiscal_code.as_str(),
            "fullName": form.full_name,
            "email": form.email,
            "companyName": self.ente.name,
            "switchToExpired": false,
            "paymentOption": [{
                "amount": form.amount.get(),
                "description": form.description,
                "isPartialPayment": false,
                "dueDate": format!("{}T23:59:59", form.due_date),
                "fee": 0,
                "transfer": transfers,
            }],
        });
        let model = serde_json::from_value(model)
            .map_err(|e| BoError::Invalid("", format!("Dati non validi: {e}")))?;
        let gpd = Gpd::new(self.store, self.ente);
        Ok(gpd
            .create_in_service(
                &model,
                form.publish,
                Some(service.id),
                &Self::caller(op, ip, None),
            )
            .await?)
    }

    /// The services the operator may create positions in (those they write on).
    pub async fn creatable_services(&self, op: &Operator) -> Result<Vec<Service>, BoError> {
        Self::require_write(op)?;
        Ok(self
            .services(op)
            .await?
            .into_iter()
            .filter(|s| op.may_write_service(Some(&s.def.code)))
            .collect())
    }

    /// Sends the notice of a payable position to the debtor's e-mail with the notice PDF
    /// attached (through the outbox, in the transaction that audits it). The PDF is rendered
    /// now and stored with the message, so that every delivery attempt sends the same file.
    pub async fn email_notice(
        &self,
        op: &Operator,
        ip: &str,
        id: i64,
        fonts: std::sync::Arc<crate::pdf::Fonts>,
    ) -> Result<(), BoError> {
        let position = self.position(op, id).await?;
        self.require_write_on_position(op, &position).await?;
        let Some(email) = position.debtor.email.clone().filter(|e| e.contains('@')) else {
            return Err(BoError::Invalid(
                "email",
                "La posizione non ha l'indirizzo e-mail del debitore.".to_owned(),
            ));
        };
        let unpaid: Vec<_> = position
            .options
            .iter()
            .filter(|o| o.status == OptionStatus::Unpaid)
            .collect();
        if unpaid.is_empty()
            || !matches!(
                position.status.as_str(),
                "PUBLISHED" | "VALID" | "PARTIALLY_PAID"
            )
        {
            return Err(BoError::Conflict(
                "La posizione non ha rate da pagare: non c'è un avviso da inviare.".to_owned(),
            ));
        }
        let mut paragraphs = vec![format!(
            "{} ti invia l'avviso di pagamento pagoPA a te intestato ({}).",
            self.ente.name, position.debtor.fiscal_code
        )];
        for o in &unpaid {
            paragraphs.push(format!(
                "{}: {} entro il {}. Codice avviso {} — codice fiscale dell'ente {}.",
                o.description,
                o.amount,
                o.due_date.rome_date(),
                o.nav.as_str(),
                self.ente.fiscal_code
            ));
        }
        let mail = crate::mail::Mail {
            kind: "notice",
            to: email.clone(),
            subject: format!("Avviso di pagamento pagoPA - {}", self.ente.name),
            greeting: format!("Gentile {},", position.debtor.full_name),
            paragraphs,
            action: Some(crate::mail::Action {
                label: "Paga online".to_owned(),
                url: format!("{}/pagamenti", self.public_url),
            }),
            after: vec![
                "Puoi pagare anche presso banche, uffici postali, tabaccherie e con l'app IO, indicando il codice avviso e il codice fiscale dell'ente.".to_owned(),
            ],
        };
        let mut message = mail.render(&crate::mail::Sender {
            ente_name: self.ente.name.clone(),
            contact: self.ente.contact_email.clone(),
        })?;
        // Named by the notice code the debtor pays with (the first unpaid option's).
        let name = format!("avviso-{}.pdf", unpaid[0].nav.as_str());
        let iupd = position.iupd.clone();
        let ente = self.ente.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let doc = crate::pdf::NoticeDocument::from_position(&ente, &position)?;
            crate::pdf::render_notice(&fonts, &doc)
        })
        .await
        .map_err(|e| BoError::Internal(e.into()))?
        .map_err(|e| {
            BoError::Conflict(format!(
                "L'avviso di questa posizione non si può stampare: {e}"
            ))
        })?;
        message.attachment = Some(crate::store::outbox::Attachment {
            name,
            content_type: "application/pdf".to_owned(),
            bytes,
        });
        let audit = AuditEvent {
            account_id: None,
            actor: op.actor(),
            action: "ufficio.email_notice".to_owned(),
            outcome: "ok".to_owned(),
            ip: ip.to_owned(),
            detail: json!({ "iupd": iupd, "to": email }).to_string(),
        };
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        Store::enqueue_in(&mut tx, &message).await?;
        Store::audit_in(&mut tx, &audit).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Publishes a draft.
    pub async fn publish(&self, op: &Operator, ip: &str, id: i64) -> Result<Position, BoError> {
        let position = self.position(op, id).await?;
        self.require_write_on_position(op, &position).await?;
        Ok(Gpd::new(self.store, self.ente)
            .publish(&position.iupd, &Self::caller(op, ip, None))
            .await?)
    }

    /// Invalidates (cancels) a position, with a reason.
    pub async fn invalidate(
        &self,
        op: &Operator,
        ip: &str,
        id: i64,
        reason: &str,
    ) -> Result<Position, BoError> {
        let position = self.position(op, id).await?;
        self.require_write_on_position(op, &position).await?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(BoError::Invalid(
                "motivo",
                "Scrivi il motivo dell'annullamento (al massimo 500 caratteri).".to_owned(),
            ));
        }
        Ok(Gpd::new(self.store, self.ente)
            .invalidate(
                &position.iupd,
                &Self::caller(op, ip, Some(reason.to_owned())),
            )
            .await?)
    }

    /// Changes the due date and/or the amount of an unpaid option (by notice number). The
    /// amount may change only when the option has one transfer (the split is otherwise the
    /// creditor's decision, made through the API).
    pub async fn change_option(
        &self,
        op: &Operator,
        ip: &str,
        id: i64,
        nav: &str,
        due_date: Option<time::Date>,
        amount: Option<Cents>,
    ) -> Result<(), BoError> {
        let position = self.position(op, id).await?;
        self.require_write_on_position(op, &position).await?;
        let option = position
            .options
            .iter()
            .find(|o| o.nav.as_str() == nav)
            .ok_or_else(|| {
                BoError::Invalid("avviso", "Scegli una rata della posizione.".to_owned())
            })?;
        if option.status != OptionStatus::Unpaid
            || !matches!(
                position.status.as_str(),
                "DRAFT" | "PUBLISHED" | "VALID" | "EXPIRED"
            )
        {
            return Err(BoError::Conflict(
                "Si possono modificare solo le rate non pagate di una posizione non pagata né annullata.".to_owned(),
            ));
        }
        if amount.is_some() && option.transfers.len() != 1 {
            return Err(BoError::Invalid(
                "importo",
                "L'importo di una rata con più trasferimenti si modifica tramite l'API.".to_owned(),
            ));
        }
        if due_date.is_none() && amount.is_none() {
            return Err(BoError::Invalid(
                "scadenza",
                "Indica una nuova scadenza o un nuovo importo.".to_owned(),
            ));
        }
        let due = due_date.map(Timestamp::rome_day_end);
        if due.is_some_and(|d| d <= Timestamp::now()) {
            return Err(BoError::Invalid(
                "scadenza",
                "La nuova scadenza deve essere futura.".to_owned(),
            ));
        }
        let before = json!({
            "due_date": option.due_date.to_iso_rome(),
            "amount": option.amount.get(),
        });
        let after = json!({
            "due_date": due.unwrap_or(option.due_date).to_iso_rome(),
            "amount": amount.unwrap_or(option.amount).get(),
        });
        let audit = AuditEvent {
            account_id: None,
            actor: op.actor(),
            action: "ufficio.change_option".to_owned(),
            outcome: "ok".to_owned(),
            ip: ip.to_owned(),
            detail: json!({ "iupd": position.iupd, "nav": nav, "before": before, "after": after })
                .to_string(),
        };
        let changed = self
            .store
            .change_unpaid_option(position.id, nav, due, amount.map(Cents::get), &audit)
            .await?;
        if !changed {
            return Err(BoError::Conflict(
                "La rata è stata pagata o modificata nel frattempo.".to_owned(),
            ));
        }
        Ok(())
    }

    /// A page of receipts.
    pub async fn search_receipts(
        &self,
        op: &Operator,
        q: &ReceiptQuery,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReceiptRow>, BoError> {
        let scope = self.scope(op).await?;
        Ok(self
            .store
            .search_receipts(self.ente.id, &scope, q, after, limit)
            .await?)
    }

    /// A receipt and its raw XML.
    pub async fn receipt(&self, op: &Operator, id: i64) -> Result<(ReceiptRow, String), BoError> {
        let scope = self.scope(op).await?;
        self.store
            .receipt_in_scope(self.ente.id, &scope, id)
            .await?
            .ok_or(BoError::NotFound)
    }

    /// A successful receipt, ready to print.
    pub async fn receipt_document(
        &self,
        op: &Operator,
        id: i64,
    ) -> Result<crate::pdf::ReceiptDocument, BoError> {
        let (r, _) = self.receipt(op, id).await?;
        self.store
            .receipts_for_office(self.ente, &[r.receipt_id])
            .await?
            .and_then(|mut d| d.pop())
            .ok_or(BoError::NotFound)
    }

    /// The open anomalies the operator may see.
    pub async fn anomalies(&self, op: &Operator, now: Timestamp) -> Result<Vec<Anomaly>, BoError> {
        let scope = self.scope(op).await?;
        let overdue = now.plus(time::Duration::minutes(-self.checkout_overdue_minutes));
        Ok(self
            .store
            .open_anomalies(self.ente.id, &scope, overdue)
            .await?)
    }

    /// Resolves an open anomaly the operator may see, with a note.
    pub async fn resolve_anomaly(
        &self,
        op: &Operator,
        ip: &str,
        kind: &str,
        ref_id: &str,
        note: &str,
    ) -> Result<(), BoError> {
        Self::require_write(op)?;
        if !ANOMALY_KINDS.iter().any(|(k, _)| *k == kind) {
            return Err(BoError::NotFound);
        }
        let open = self.anomalies(op, Timestamp::now()).await?;
        let Some(anomaly) = open.iter().find(|a| a.kind == kind && a.ref_id == ref_id) else {
            return Err(BoError::NotFound);
        };
        if !self.may_resolve(op, anomaly).await? {
            return Err(BoError::Forbidden);
        }
        let note = note.trim();
        if note.is_empty() || note.chars().count() > 2000 {
            return Err(BoError::Invalid(
                "nota",
                "Scrivi una nota che spieghi come è stata risolta (al massimo 2000 caratteri)."
                    .to_owned(),
            ));
        }
        let audit = AuditEvent {
            account_id: None,
            actor: op.actor(),
            action: "ufficio.resolve_anomaly".to_owned(),
            outcome: "ok".to_owned(),
            ip: ip.to_owned(),
            detail: json!({ "kind": kind, "ref": ref_id, "note": note, "what": anomaly.summary })
                .to_string(),
        };
        if self
            .store
            .mark_anomaly_resolved(kind, ref_id, note, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(BoError::Conflict(
                "L'anomalia è già stata risolta.".to_owned(),
            ))
        }
    }

    /// The operators (admins only).
    pub async fn operators(&self, op: &Operator) -> Result<Vec<Operator>, BoError> {
        Self::require_admin(op)?;
        Ok(self.store.operators().await?)
    }

    /// The audit search (admins only: it names every operator and citizen).
    pub async fn audit_search(
        &self,
        op: &Operator,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRow>, BoError> {
        Self::require_admin(op)?;
        Ok(self.store.search_audit(q, 500).await?)
    }

    /// Confirms that a citizen account's fiscal code belongs to its holder (documents seen at
    /// the counter): the code becomes verified, by this operator.
    pub async fn confirm_identity(
        &self,
        op: &Operator,
        ip: &str,
        username: &str,
        fiscal_code: &FiscalCode,
    ) -> Result<(), BoError> {
        Self::require_write(op)?;
        let account = self
            .store
            .account_by_username(username.trim())
            .await?
            .ok_or_else(|| {
                BoError::Invalid(
                    "username",
                    "Nessun account con questo nome utente.".to_owned(),
                )
            })?;
        use crate::store::accounts::VerifyError;
        match self
            .store
            .verify_identity(
                account.id,
                fiscal_code,
                IdentitySource::Operator,
                &op.username,
            )
            .await
        {
            Ok(()) => {}
            Err(VerifyError::HeldByAnother(_)) => {
                return Err(BoError::Conflict(
                    "Il codice fiscale è già verificato per un altro account.".to_owned(),
                ));
            }
            Err(VerifyError::VerifiedOtherwise) => {
                return Err(BoError::Conflict(
                    "L'account è già verificato per un altro codice fiscale.".to_owned(),
                ));
            }
            Err(VerifyError::NoAccount(_)) => return Err(BoError::NotFound),
            Err(e) => return Err(BoError::Internal(anyhow::anyhow!("{e}"))),
        }
        self.audit(
            op,
            ip,
            "ufficio.confirm_identity",
            "ok",
            json!({ "username": account.username, "account_id": account.id }),
        )
        .await
    }
}
