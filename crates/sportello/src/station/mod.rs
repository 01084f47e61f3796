//! The pagoPA station (SANP 3): what Sportello answers when the node verifies a notice,
//! activates a payment, or delivers a receipt.
//!
//! This is the semantics only: requests arrive already decoded (see `pagopa::soap`), answers
//! leave as message values, and storage goes through [`Store`]. The rules:
//!
//! - every request must name this ente, its broker and its station;
//! - a notice is payable while its position is published and valid, the option is unpaid, and
//!   (installment plans) the single option is not chosen once an installment is paid;
//! - verification returns the *current* amount; activation returns the transfers and records
//!   the attempt;
//! - a receipt is never lost: the first OK receipt for an unpaid option closes it, any other is
//!   stored flagged for refund, and the same receiptId again is acknowledged without effect.

mod mail;

use pagopa::soap::{
    AmountOption, EntityType, Fault, FaultCode, MapEntry, MarcaDaBollo, Outcome,
    PaDemandPaymentNoticeRequest, PaGetPaymentReq, PaGetPaymentRes, PaSendRtReq, PaSendRtRes,
    PaVerifyPaymentNoticeReq, PaVerifyPaymentNoticeRes, PaymentData, PaymentOptionDescription,
    QrCode, Receipt, Request, Response, StationIds, Subject, Transfer, TransferDestination,
    TransferType, Version, XsdDate, XsdDateTime,
};
use pagopa::{Cents, EcFiscalCode, Iban, NoticeNumber};

use crate::clock::Timestamp;
use crate::db::batch::Batch;
use crate::domain::access::{self, NoticeState, Unpayable};
use crate::domain::position::{
    Debtor, Destination, OptionStatus, Origin, PositionStatus, SubjectType,
};
use crate::store::ente::Ente;
use crate::store::events::Exchange;
use crate::store::station::{
    LockedNotice, NewAttempt, NoticeOption, ReceiptTransferRow, StationReceipt, position_status,
    receipt_error,
};
use crate::store::{Store, StoreError};

/// What happened to a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptDisposition {
    /// It closed its option; the position is now in this status.
    Closed(PositionStatus),
    /// Stored, flagged for refund, for this reason.
    Refund(String),
    /// A KO receipt: stored, nothing closed.
    Recorded,
    /// This receiptId was already stored: nothing new.
    Duplicate,
}

/// Turns the station's answer into the event-log row of the exchange (the caller knows the
/// request, the channel and when it arrived).
pub type LogRow<'l> = &'l (dyn Fn(&Response) -> Exchange + Send + Sync);

/// Why a request is refused: the fault to answer with (boxed: it is large and rare).
pub type Refusal = Box<Fault>;

/// The station, over a store and the ente it serves.
pub struct Station<'a> {
    store: &'a Store,
    ente: &'a Ente,
}

/// Cuts `text` to at most `max` characters (the schema's lengths count characters).
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A text the schema requires non-empty.
fn clip_required(text: &str, max: usize) -> String {
    let t = clip(text.trim(), max);
    if t.is_empty() { "-".to_owned() } else { t }
}

/// An optional text, dropped when empty.
fn clip_optional(text: Option<&str>, max: usize) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| clip(t, max))
}

/// The Rome calendar date of an instant, as `xsd:date`.
fn rome_date(t: Timestamp) -> XsdDate {
    let d = t.in_rome().date();
    XsdDate::from_ymd(
        u32::try_from(d.year()).unwrap_or(1),
        u32::from(u8::from(d.month())),
        u32::from(d.day()),
    )
    .expect("a calendar date is a valid xsd:date")
}

/// The instant of an `xsd:dateTime`: with its zone when it has one, else as Italian local time
/// (what the node sends).
pub fn instant_of(t: &XsdDateTime) -> Option<Timestamp> {
    let p = t.parts();
    let month = time::Month::try_from(u8::try_from(p.month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(p.year).ok()?,
        month,
        u8::try_from(p.day).ok()?,
    )
    .ok()?;
    let local = date
        .with_hms_micro(
            u8::try_from(p.hour).ok()?,
            u8::try_from(p.minute).ok()?,
            u8::try_from(p.second).ok()?,
            p.micros,
        )
        .ok()?;
    Some(match p.offset_minutes {
        Some(minutes) => Timestamp::from(
            local.assume_offset(time::UtcOffset::from_whole_seconds(minutes * 60).ok()?),
        ),
        None => Timestamp::from_rome(local),
    })
}

fn xsd_to_date(d: &XsdDate) -> Option<time::Date> {
    let (y, m, day) = d.ymd();
    time::Date::from_calendar_date(
        i32::try_from(y).ok()?,
        time::Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()
}

/// The fault the node gets for a notice that cannot be paid (the rule is
/// [`access::payability`], shared with the portal).
fn unpayable_fault(why: Unpayable) -> FaultCode {
    match why {
        Unpayable::NotPublished | Unpayable::NotYetValid => FaultCode::PaaPagamentoSconosciuto,
        Unpayable::Cancelled => FaultCode::PaaPagamentoAnnullato,
        Unpayable::Paid | Unpayable::InstallmentsStarted => FaultCode::PaaPagamentoDuplicato,
        Unpayable::Expired => FaultCode::PaaPagamentoScaduto,
    }
}

fn subject_from_debtor(d: &Debtor) -> Subject {
    Subject {
        entity_type: match d.kind {
            SubjectType::F => EntityType::F,
            SubjectType::G => EntityType::G,
        },
        entity_value: {
            let v = clip(d.fiscal_code.trim(), 16);
            if v.chars().count() < 2 {
                "ANONIMO".to_owned()
            } else {
                v
            }
        },
        full_name: clip_required(&d.full_name, 70),
        street_name: clip_optional(d.street_name.as_deref(), 70),
        civic_number: clip_optional(d.civic_number.as_deref(), 16),
        postal_code: clip_optional(d.postal_code.as_deref(), 16),
        city: clip_optional(d.city.as_deref(), 35),
        state_province_region: clip_optional(d.province.as_deref(), 35),
        country: d
            .country
            .as_deref()
            .map(str::trim)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
            .map(str::to_owned),
        email: d
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| pagopa::soap::is_schema_email(e))
            .map(str::to_owned),
    }
}

/// Option metadata is stored as a JSON list of `{"key": …, "value": …}`.
fn metadata_of(json: &str) -> Vec<MapEntry> {
    #[derive(serde::Deserialize)]
    struct Entry {
        key: String,
        value: String,
    }
    serde_json::from_str::<Vec<Entry>>(json)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.key.trim().is_empty() && !e.value.trim().is_empty())
        .take(15)
        .map(|e| MapEntry {
            key: clip(&e.key, 140),
            value: clip(&e.value, 140),
        })
        .collect()
}

impl<'a> Station<'a> {
    /// The station of `ente` over `store`.
    pub fn new(store: &'a Store, ente: &'a Ente) -> Station<'a> {
        Station { store, ente }
    }

    fn fault(&self, code: FaultCode, description: impl Into<String>) -> Refusal {
        Box::new(Fault::new(code, &self.ente.fiscal_code, description))
    }

    fn system_error(&self, err: &StoreError) -> Refusal {
        tracing::error!(error = %err, "station: storage failure");
        self.fault(
            FaultCode::PaaSystemError,
            "errore interno dell'ente creditore, riprovare",
        )
    }

    /// Answers a request and writes the exchange to the event log: `log` turns the answer into
    /// the log row. Every failure becomes the operation's KO response with its fault.
    ///
    /// An activation or a receipt is logged in the transaction that records it (one commit, and
    /// an exchange answered OK is in the log whenever its effect is); anything else is logged
    /// after the answer is decided, and a failure to log does not change the answer.
    pub async fn handle(&self, request: &Request, raw: &str, log: LogRow<'_>) -> Response {
        let operation = request.operation();
        let result = match request {
            Request::Verify(r) => self
                .verify(r)
                .await
                .map(|res| (Response::Verify(res), false)),
            Request::GetPayment(r) => self.activate(r, log).await,
            Request::SendRt(r) => self
                .send_rt(r, raw, log)
                .await
                .map(|(res, _, logged)| (res, logged)),
            Request::Demand(r) => self.demand(r).map(|res| (Response::Demand(res), false)),
        };
        let (response, logged) =
            result.unwrap_or_else(|fault| (Response::ko(operation, *fault), false));
        if !logged {
            if let Err(e) = self.store.log_exchange(&log(&response)).await {
                tracing::warn!(error = %e, "station: cannot write the event log");
            }
        }
        response
    }

    /// The three identifiers must be this ente's.
    fn check_ids(&self, ids: &StationIds) -> Result<(), Refusal> {
        if ids.id_pa != self.ente.fiscal_code {
            return Err(self.fault(
                FaultCode::PaaIdDominioErrato,
                format!("idPA {} non è servito da questa stazione", ids.id_pa),
            ));
        }
        if ids.id_broker_pa != self.ente.id_broker_pa {
            return Err(self.fault(
                FaultCode::PaaIdIntermediarioErrato,
                format!("idBrokerPA {} non corrisponde", ids.id_broker_pa),
            ));
        }
        if ids.id_station != self.ente.id_station {
            return Err(self.fault(
                FaultCode::PaaStazioneIntErrata,
                format!("idStation {} non corrisponde", ids.id_station),
            ));
        }
        Ok(())
    }

    /// Finds the payable option a QR code points to.
    async fn payable(&self, qr: &QrCode) -> Result<NoticeOption, Refusal> {
        if qr.fiscal_code.as_str() != self.ente.fiscal_code {
            return Err(self.fault(
                FaultCode::PaaIdDominioErrato,
                format!("l'avviso è dell'ente {}, non di questo", qr.fiscal_code),
            ));
        }
        let nav = NoticeNumber::parse(&qr.notice_number).map_err(|e| {
            self.fault(
                FaultCode::PaaPagamentoSconosciuto,
                format!("numero avviso {} non valido: {e}", qr.notice_number),
            )
        })?;
        let found = self
            .store
            .notice_option(self.ente.id, nav.as_str())
            .await
            .map_err(|e| self.system_error(&e))?
            .ok_or_else(|| {
                self.fault(
                    FaultCode::PaaPagamentoSconosciuto,
                    format!("nessun avviso con numero {nav}"),
                )
            })?;
        access::payability(
            &NoticeState::of(&found.position, found.option()),
            Timestamp::now(),
        )
        .map_err(|why| self.fault(unpayable_fault(why), why.reason()))?;
        Ok(found)
    }

    /// `paVerifyPaymentNotice`.
    pub async fn verify(
        &self,
        r: &PaVerifyPaymentNoticeReq,
    ) -> Result<PaVerifyPaymentNoticeRes, Refusal> {
        self.check_ids(&r.ids)?;
        let found = self.payable(&r.qr_code).await?;
        let option = found.option();
        let all_ccp = option.transfers.iter().all(|t| match &t.destination {
            Destination::Iban { iban, postal_iban } => {
                postal_iban.is_some() || Iban::parse(iban).is_ok_and(|i| i.is_postal())
            }
            Destination::Stamp { .. } => false,
        });
        Ok(PaVerifyPaymentNoticeRes {
            outcome: Outcome::Ok,
            fault: None,
            payment_list: Some(PaymentOptionDescription {
                amount: option.amount,
                options: AmountOption::Eq,
                due_date: Some(rome_date(option.due_date)),
                detail_description: Some(clip_required(&option.description, 140)),
                all_ccp,
            }),
            payment_description: Some(clip_required(&option.description, 140)),
            fiscal_code_pa: EcFiscalCode::parse(&self.ente.fiscal_code).ok(),
            company_name: Some(clip_required(&found.position.company_name, 140)),
            office_name: clip_optional(found.position.office_name.as_deref(), 140),
        })
    }

    /// `paGetPayment[V2]`: the transfers, and a record of the attempt written with the
    /// exchange's log row in one transaction. Returns the answer and whether it was logged.
    pub async fn activate(
        &self,
        r: &PaGetPaymentReq,
        log: LogRow<'_>,
    ) -> Result<(Response, bool), Refusal> {
        self.check_ids(&r.ids)?;
        let found = self.payable(&r.qr_code).await?;
        let option = found.option();
        if let Some(amount) = r.amount {
            if amount != option.amount {
                return Err(self.fault(
                    FaultCode::PaaSemantica,
                    format!(
                        "importo {} diverso dall'importo dovuto {}",
                        amount.to_xml(),
                        option.amount.to_xml()
                    ),
                ));
            }
        }
        if !option.is_consistent() {
            tracing::error!(nav = %option.nav, "station: option amount is not the sum of its transfers");
            return Err(self.fault(FaultCode::PaaSystemError, "dati dell'avviso incoerenti"));
        }
        let postal = r.transfer_type == Some(TransferType::Postal);
        let mut transfers = Vec::with_capacity(option.transfers.len());
        for t in &option.transfers {
            let destination = match &t.destination {
                Destination::Iban { iban, postal_iban } => {
                    TransferDestination::Iban(match (postal, postal_iban) {
                        (true, Some(p)) => p.clone(),
                        _ => iban.clone(),
                    })
                }
                Destination::Stamp {
                    hash_document,
                    stamp_type,
                    provincial_residence,
                } => {
                    if r.version == Version::V1 {
                        return Err(self.fault(
                            FaultCode::PaaSemantica,
                            "l'avviso comprende una marca da bollo digitale: usare paGetPaymentV2",
                        ));
                    }
                    TransferDestination::MarcaDaBollo(MarcaDaBollo {
                        hash_documento: hash_document.clone(),
                        tipo_bollo: stamp_type.clone(),
                        provincia_residenza: provincial_residence.clone(),
                    })
                }
            };
            let fiscal_code_pa =
                EcFiscalCode::parse(&t.organization_fiscal_code).map_err(|_| {
                    self.fault(
                        FaultCode::PaaSystemError,
                        "codice fiscale del beneficiario non valido",
                    )
                })?;
            transfers.push(Transfer {
                id_transfer: t.id_transfer,
                transfer_amount: t.amount,
                fiscal_code_pa,
                company_name: match r.version {
                    Version::V1 => None,
                    Version::V2 => clip_optional(t.company_name.as_deref(), 140),
                },
                destination,
                remittance_information: clip_required(&t.remittance_information, 140),
                transfer_category: clip_required(&t.category, 140),
                metadata: Vec::new(),
            });
        }
        let attempt = NewAttempt {
            payment_option_id: found.option_id,
            amount: option.amount.get(),
            payment_note: r.payment_note.clone(),
            transfer_type: r.transfer_type.map(|t| t.as_str().to_owned()),
        };
        let position = &found.position;
        let response = Response::GetPayment(PaGetPaymentRes {
            version: r.version,
            outcome: Outcome::Ok,
            fault: None,
            data: Some(PaymentData {
                creditor_reference_id: option.iuv.as_str().to_owned(),
                payment_amount: option.amount,
                due_date: rome_date(option.due_date),
                retention_date: None,
                last_payment: None,
                description: clip_required(&option.description, 140),
                company_name: Some(clip_required(&position.company_name, 140)),
                office_name: clip_optional(position.office_name.as_deref(), 140),
                debtor: subject_from_debtor(&position.debtor),
                transfers,
                metadata: metadata_of(&option.metadata),
            }),
        });
        let mut batch = Batch::independent();
        Store::push_attempt(&mut batch, &attempt);
        Store::push_exchange(&mut batch, &log(&response));
        self.store
            .commit_grouped(batch)
            .await
            .map_err(|e| self.system_error(&e))?;
        Ok((response, true))
    }

    /// `paDemandPaymentNotice`: not offered (no spontaneous service is published at the node).
    fn demand(
        &self,
        r: &PaDemandPaymentNoticeRequest,
    ) -> Result<pagopa::soap::PaDemandPaymentNoticeResponse, Refusal> {
        self.check_ids(&r.ids)?;
        Err(self.fault(
            FaultCode::PaaSemantica,
            format!(
                "paDemandPaymentNotice non è supportato: il servizio {} non è attivo presso questo ente",
                r.id_servizio
            ),
        ))
    }

    /// `paSendRT[V2]`: stores the receipt, closes what it pays and logs the exchange, in one
    /// transaction. Returns the answer, what became of the receipt, and whether it was logged
    /// (not for a receiptId already stored: nothing is committed then).
    pub async fn send_rt(
        &self,
        r: &PaSendRtReq,
        raw: &str,
        log: LogRow<'_>,
    ) -> Result<(Response, ReceiptDisposition, bool), Refusal> {
        self.check_ids(&r.ids)?;
        let rc = &r.receipt;
        if rc.fiscal_code.as_str() != self.ente.fiscal_code {
            return Err(self.fault(
                FaultCode::PaaIdDominioErrato,
                format!(
                    "la ricevuta è per l'ente {}, non per questo",
                    rc.fiscal_code
                ),
            ));
        }
        if rc.receipt_id.trim().is_empty() {
            return Err(self.fault(FaultCode::PaaSemantica, "receiptId vuoto"));
        }
        if !rc.payment_amount.is_positive() {
            return Err(self.fault(FaultCode::PaaSemantica, "la ricevuta non ha un importo"));
        }
        let mut ids: Vec<u8> = rc.transfers.iter().map(|t| t.id_transfer).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != rc.transfers.len() {
            return Err(self.fault(
                FaultCode::PaaSemantica,
                "idTransfer ripetuto nella ricevuta",
            ));
        }
        let row = self.receipt_row(rc, raw);
        let response = Response::SendRt(PaSendRtRes::ok(r.version));
        let disposition = self
            .store_receipt(row, rc, false, Some(&log(&response)))
            .await
            .map_err(|e| self.system_error(&e))?;
        tracing::info!(receipt_id = %rc.receipt_id, notice = %rc.notice_number, ?disposition, "receipt");
        let logged = disposition != ReceiptDisposition::Duplicate;
        Ok((response, disposition, logged))
    }

    fn receipt_row(&self, rc: &Receipt, raw: &str) -> StationReceipt {
        let payer = rc.payer.as_ref();
        StationReceipt {
            receipt_id: rc.receipt_id.clone(),
            payment_option_id: None,
            notice_number: rc.notice_number.clone(),
            iuv: rc.creditor_reference_id.clone(),
            outcome: rc.outcome.as_str().to_owned(),
            amount: rc.payment_amount.get(),
            description: rc.description.clone(),
            company_name: rc.company_name.clone(),
            office_name: rc.office_name.clone(),
            debtor_type: rc.debtor.entity_type.as_str().to_owned(),
            debtor_fiscal_code: rc.debtor.entity_value.clone(),
            debtor_name: rc.debtor.full_name.clone(),
            payer_type: payer.map(|p| p.entity_type.as_str().to_owned()),
            payer_fiscal_code: payer.map(|p| p.entity_value.clone()),
            payer_name: payer.map(|p| p.full_name.clone()),
            payer_account_id: None,
            checkout_id: None,
            id_psp: rc.id_psp.clone(),
            psp_fiscal_code: rc.psp_fiscal_code.clone(),
            psp_partita_iva: rc.psp_partita_iva.clone(),
            psp_company_name: rc.psp_company_name.clone(),
            id_channel: rc.id_channel.clone(),
            channel_description: Some(rc.channel_description.clone()),
            payment_method: rc.payment_method.clone(),
            fee: rc.fee.map(Cents::get),
            primary_ci_incurred_fee: rc.primary_ci_incurred_fee.map(Cents::get),
            id_bundle: rc.id_bundle.clone(),
            id_ci_bundle: rc.id_ci_bundle.clone(),
            payment_note: rc.payment_note.clone(),
            payment_date_time: rc
                .payment_date_time
                .as_ref()
                .and_then(instant_of)
                .unwrap_or_else(Timestamp::now),
            application_date: rc.application_date.as_ref().and_then(xsd_to_date),
            transfer_date: rc.transfer_date.as_ref().and_then(xsd_to_date),
            stand_in: rc.stand_in.unwrap_or(false),
            refund_required: false,
            raw_xml: raw.to_owned(),
            transfers: rc
                .transfers
                .iter()
                .map(|t| ReceiptTransferRow {
                    id_transfer: i32::from(t.id_transfer),
                    amount: t.transfer_amount.get(),
                    fiscal_code_pa: t.fiscal_code_pa.as_str().to_owned(),
                    iban: match &t.destination {
                        TransferDestination::Iban(iban) => Some(iban.clone()),
                        _ => None,
                    },
                    stamp: !matches!(t.destination, TransferDestination::Iban(_)),
                    remittance_information: t.remittance_information.clone(),
                    category: t.transfer_category.clone(),
                })
                .collect(),
        }
    }

    /// A receipt fetched from pagoPA's receipts API because the node never delivered it (a
    /// stand-in, a lost `paSendRT`): stored and applied exactly as `paSendRT` would, marked
    /// recovered. The same receiptId again changes nothing.
    pub async fn record_recovered(
        &self,
        rc: &Receipt,
        raw: &str,
    ) -> Result<ReceiptDisposition, StoreError> {
        if rc.fiscal_code.as_str() != self.ente.fiscal_code
            || rc.receipt_id.trim().is_empty()
            || !rc.payment_amount.is_positive()
        {
            return Err(StoreError::Conflict(format!(
                "ricevuta recuperata {} non valida per questo ente",
                rc.receipt_id
            )));
        }
        let row = self.receipt_row(rc, raw);
        self.store_receipt(row, rc, true, None).await
    }

    async fn store_receipt(
        &self,
        mut row: StationReceipt,
        rc: &Receipt,
        recovered: bool,
        exchange: Option<&Exchange>,
    ) -> Result<ReceiptDisposition, StoreError> {
        let ente_id = self.ente.id;
        let mut tx = self.store.db().begin().await?;
        // A receiptId already stored is found by the insert below (the unique constraint), not
        // by a query first: retries are rare, every receipt would pay for that query.
        let locked = Store::lock_notice_in(&mut tx, ente_id, &row.notice_number).await?;
        let disposition = decide(rc.outcome, row.amount, locked.as_ref());
        row.payment_option_id = locked.as_ref().map(|l| l.option_id);
        row.refund_required = matches!(disposition, ReceiptDisposition::Refund(_));
        let checkout =
            Store::checkout_for_receipt_in(&mut tx, row.payment_note.as_deref(), locked.as_ref())
                .await?;
        if let Some(c) = &checkout {
            row.checkout_id = Some(c.id.clone());
            row.payer_account_id = c.account_id;
        }
        // "Your notice was paid" (with the payer's name) goes only to an address the
        // municipality recorded for its debtor: on a position created on the portal the debtor's
        // name and address were typed by whoever created it, who may be anyone.
        let debtor_email = match &locked {
            Some(l) if l.origin != Origin::Portal => {
                l.debtor_email.clone().or_else(|| rc.debtor.email.clone())
            }
            _ => None,
        };
        // The writes: the receipt, the e-mails and the log row, then what the receipt closes.
        // On SQLite they are one command with the COMMIT (with the read above, which carried
        // the BEGIN, two commands under the write lock: see `db::batch`); on PostgreSQL one
        // statement (the checkout's settling, when there is one, two more).
        let mut writes = Batch::new();
        Store::push_station_receipt(&mut writes, ente_id, &row, recovered);
        let mut mails = Batch::independent();
        let message_for = |disposition: &ReceiptDisposition| {
            mail::receipt_messages(self.ente, rc, &row, debtor_email.as_deref(), disposition)
        };
        let closes = match (&disposition, &locked) {
            (ReceiptDisposition::Closed(_), Some(l)) => Some(l),
            _ => None,
        };
        match closes {
            Some(l) => {
                // The e-mails' wording depends on the position's new status (are installments
                // left?), which the settling statements decide: each wording is queued on the
                // condition that paying the option brings the position to its status, a
                // message the same in both unconditionally.
                let statuses = [PositionStatus::Paid, PositionStatus::PartiallyPaid];
                let wordings = statuses.map(|s| message_for(&ReceiptDisposition::Closed(s)));
                for (status, messages) in statuses.iter().zip(&wordings) {
                    let other = &wordings[usize::from(*status == PositionStatus::Paid)];
                    for message in messages {
                        if !other.contains(message) {
                            Store::push_enqueue_if_settles_to(
                                &mut mails,
                                message,
                                l.option_id,
                                l.position_id,
                                *status,
                            );
                        } else if *status == PositionStatus::Paid {
                            Store::push_enqueue(&mut mails, message);
                        }
                    }
                }
            }
            None => {
                for message in message_for(&disposition) {
                    Store::push_enqueue(&mut mails, &message);
                }
            }
        }
        if let Some(exchange) = exchange {
            Store::push_exchange(&mut mails, exchange);
        }
        writes.append_joined(mails);
        if let Some(l) = closes {
            Store::push_settle_option(
                &mut writes,
                l.option_id,
                l.position_id,
                row.payment_date_time,
            );
            if let Some(c) = &checkout {
                Store::push_settle_checkout(&mut writes, &c.id);
            }
        }
        let returned = match tx.commit_with(writes, Batch::new()).await {
            Ok(returned) => returned,
            Err(e) => match receipt_error(e, &row.receipt_id) {
                // The same receipt delivered twice at once: the other delivery stored it (the
                // transaction is rolled back as it is dropped).
                StoreError::Conflict(_) => return Ok(ReceiptDisposition::Duplicate),
                other => return Err(other),
            },
        };
        let disposition = match disposition {
            ReceiptDisposition::Closed(_) if locked.is_some() => {
                ReceiptDisposition::Closed(position_status(returned)?)
            }
            other => other,
        };
        Ok(disposition)
    }
}

/// Whether a receipt closes its notice, given the notice as locked.
fn decide(outcome: Outcome, amount: i64, locked: Option<&LockedNotice>) -> ReceiptDisposition {
    use PositionStatus as S;
    if outcome == Outcome::Ko {
        return ReceiptDisposition::Recorded;
    }
    let refund = |why: &str| ReceiptDisposition::Refund(why.to_owned());
    let Some(l) = locked else {
        return refund("avviso sconosciuto");
    };
    match l.position_status {
        S::Draft | S::Invalid => return refund("posizione annullata o non pubblicata"),
        S::Paid | S::Reported => return refund("posizione già pagata"),
        _ => {}
    }
    if l.option_status != OptionStatus::Unpaid {
        return refund("avviso già pagato");
    }
    if l.position_status == S::PartiallyPaid && !l.is_partial_payment {
        return refund("pagamento a rate già iniziato");
    }
    if amount != l.amount {
        return refund("importo diverso da quello dovuto");
    }
    // The status is decided when the option is settled.
    ReceiptDisposition::Closed(S::Paid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_times_without_a_zone_are_italian() {
        let winter = instant_of(&XsdDateTime::parse("2024-01-15T10:00:00").unwrap()).unwrap();
        assert_eq!(winter.to_utc_text(), "2024-01-15T09:00:00.000000Z");
        let summer = instant_of(&XsdDateTime::parse("2024-07-15T10:00:00.25").unwrap()).unwrap();
        assert_eq!(summer.to_utc_text(), "2024-07-15T08:00:00.250000Z");
        // Just after the spring change (02:00 → 03:00 local on 31 March 2024).
        let after = instant_of(&XsdDateTime::parse("2024-03-31T03:30:00").unwrap()).unwrap();
        assert_eq!(after.to_utc_text(), "2024-03-31T01:30:00.000000Z");
        let zoned = instant_of(&XsdDateTime::parse("2024-07-15T10:00:00Z").unwrap()).unwrap();
        assert_eq!(zoned.to_utc_text(), "2024-07-15T10:00:00.000000Z");
    }

    #[test]
    fn texts_are_cut_to_the_schema_lengths() {
        assert_eq!(clip("àèìòù", 3), "àèì");
        assert_eq!(clip_required("  ", 10), "-");
        assert_eq!(clip_optional(Some(" "), 10), None);
        assert_eq!(
            metadata_of(r#"[{"key":"a","value":"b"},{"key":"","value":"x"}]"#),
            vec![MapEntry {
                key: "a".into(),
                value: "b".into()
            }]
        );
        assert!(metadata_of("not json").is_empty());
    }

    fn locked(option: OptionStatus, position: PositionStatus, partial: bool) -> LockedNotice {
        LockedNotice {
            option_id: 1,
            option_status: option,
            amount: 1000,
            is_partial_payment: partial,
            position_id: 1,
            position_status: position,
            debtor_email: None,
            origin: Origin::Api,
            latest_note: None,
        }
    }

    #[test]
    fn only_a_matching_receipt_for_an_unpaid_notice_closes_it() {
        use OptionStatus as O;
        use PositionStatus as P;
        let closes = |d: ReceiptDisposition| matches!(d, ReceiptDisposition::Closed(_));
        assert!(closes(decide(
            Outcome::Ok,
            1000,
            Some(&locked(O::Unpaid, P::Valid, false))
        )));
        assert!(closes(decide(
            Outcome::Ok,
            1000,
            Some(&locked(O::Unpaid, P::Expired, false))
        )));
        assert!(closes(decide(
            Outcome::Ok,
            1000,
            Some(&locked(O::Unpaid, P::PartiallyPaid, true))
        )));
        for (amount, l) in [
            (1000, None),
            (999, Some(locked(O::Unpaid, P::Valid, false))),
            (1000, Some(locked(O::Paid, P::PartiallyPaid, true))),
            (1000, Some(locked(O::Unpaid, P::PartiallyPaid, false))),
            (1000, Some(locked(O::Unpaid, P::Invalid, false))),
            (1000, Some(locked(O::Unpaid, P::Paid, false))),
        ] {
            assert!(
                matches!(
                    decide(Outcome::Ok, amount, l.as_ref()),
                    ReceiptDisposition::Refund(_)
                ),
                "{amount} {l:?}"
            );
        }
        assert_eq!(
            decide(Outcome::Ko, 1000, None),
            ReceiptDisposition::Recorded
        );
    }
}
