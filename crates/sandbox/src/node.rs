//! The sandbox as the pagoPA node: SOAP calls to a station over HTTP, each kept in the log.

use std::time::{Duration, Instant};

use pagopa::soap::{
    self, Fault, Outcome, PaGetPaymentReq, PaSendRtReq, PaVerifyPaymentNoticeReq, QrCode, Request,
    Response, StationIds, Version,
};
use pagopa::{Cents, EcFiscalCode};

use crate::{Message, Sandbox, StationLink};

/// Why a call gave no usable answer.
#[derive(Debug, Clone)]
pub enum CallError {
    /// Connection refused, timeout, HTTP error without a SOAP body.
    Transport(String),
    /// The answer was not a paForNode response.
    Decode(String),
    /// The station answered KO.
    Ko(Box<Fault>),
}

impl CallError {
    /// A message for the citizen, in Italian.
    pub fn italian(&self) -> String {
        match self {
            CallError::Transport(_) | CallError::Decode(_) => {
                "Il sistema dell'ente creditore non risponde in questo momento. Riprova più tardi."
                    .into()
            }
            CallError::Ko(f) => fault_italian(f),
        }
    }
}

/// What a citizen reads for a station's fault.
pub fn fault_italian(f: &Fault) -> String {
    use soap::FaultCode as F;
    let text = match f.fault_code {
        F::PaaPagamentoDuplicato => "Avviso già pagato.",
        F::PaaPagamentoSconosciuto => "Avviso sconosciuto all'ente creditore.",
        F::PaaPagamentoScaduto => "Avviso scaduto: non è più pagabile.",
        F::PaaPagamentoAnnullato => "Avviso annullato dall'ente creditore.",
        F::PaaPagamentoInCorso => "Pagamento dell'avviso già in corso.",
        _ => "L'ente creditore non ha accettato la richiesta.",
    };
    format!("{text} ({})", f.fault_code.as_str())
}

impl Sandbox {
    /// Sends one request to a station, logs it, and decodes the answer.
    pub(crate) async fn call(
        &self,
        station: &StationLink,
        url: &str,
        request: &Request,
        note: &str,
    ) -> Result<Response, CallError> {
        let body = request.encode();
        let op = request.operation();
        let started = Instant::now();
        let mut http = self
            .inner
            .http
            .post(url)
            .header("content-type", soap::CONTENT_TYPE)
            .header("SOAPAction", format!("\"{}\"", op.name()))
            .body(body.clone());
        if let Some(key) = &station.key {
            http = http.header("Ocp-Apim-Subscription-Key", key);
        }
        let sent = http.send().await;
        let (status, text) = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(t) => (Some(status), Ok(t)),
                    Err(e) => (Some(status), Err(e.to_string())),
                }
            }
            Err(e) => (None, Err(e.to_string())),
        };
        let duration = started.elapsed();
        let result = match &text {
            Err(e) => Err(CallError::Transport(e.clone())),
            Ok(t) => match Response::decode(t) {
                Err(e) => Err(CallError::Decode(format!(
                    "HTTP {}: {e}",
                    status.unwrap_or(0)
                ))),
                Ok(r) if r.operation() != op => Err(CallError::Decode(format!(
                    "risposta {} a una richiesta {op}",
                    r.operation()
                ))),
                Ok(r) => match (r.outcome(), r.fault()) {
                    (Outcome::Ok, _) => Ok(r),
                    (Outcome::Ko, Some(f)) => Err(CallError::Ko(Box::new(f.clone()))),
                    (Outcome::Ko, None) => Err(CallError::Decode("KO senza fault".into())),
                },
            },
        };
        let (outcome, fault) = match &result {
            Ok(_) => ("OK".to_owned(), String::new()),
            Err(CallError::Ko(f)) => ("KO".to_owned(), f.fault_code.as_str().to_owned()),
            Err(CallError::Transport(e)) => ("ERRORE DI RETE".to_owned(), e.clone()),
            Err(CallError::Decode(e)) => ("RISPOSTA NON VALIDA".to_owned(), e.clone()),
        };
        self.log(Message {
            at: crate::now_text(),
            operation: op.name().to_owned(),
            station: station.id_station.clone(),
            url: url.to_owned(),
            note: note.to_owned(),
            outcome,
            fault,
            http_status: status,
            duration,
            request: body,
            response: text.unwrap_or_default(),
        });
        result
    }

    fn ids(station: &StationLink) -> StationIds {
        StationIds {
            id_pa: station.fiscal_code.clone(),
            id_broker_pa: station.id_broker_pa.clone(),
            id_station: station.id_station.clone(),
        }
    }

    /// `paVerifyPaymentNotice`.
    pub(crate) async fn verify(
        &self,
        fiscal_code: &EcFiscalCode,
        notice_number: &str,
        note: &str,
    ) -> Result<soap::PaVerifyPaymentNoticeRes, CallError> {
        let station = self.station_for(fiscal_code)?;
        let req = Request::Verify(PaVerifyPaymentNoticeReq {
            ids: Self::ids(&station),
            qr_code: QrCode {
                fiscal_code: fiscal_code.clone(),
                notice_number: notice_number.to_owned(),
            },
        });
        match self.call(&station, &station.url, &req, note).await? {
            Response::Verify(r) => Ok(r),
            _ => Err(CallError::Decode("risposta inattesa".into())),
        }
    }

    /// `paGetPaymentV2`: activation, with the cart id as the payment note.
    pub(crate) async fn activate(
        &self,
        fiscal_code: &EcFiscalCode,
        notice_number: &str,
        amount: Cents,
        payment_note: Option<&str>,
        note: &str,
    ) -> Result<soap::PaymentData, CallError> {
        let station = self.station_for(fiscal_code)?;
        let req = Request::GetPayment(PaGetPaymentReq {
            version: Version::V2,
            ids: Self::ids(&station),
            qr_code: QrCode {
                fiscal_code: fiscal_code.clone(),
                notice_number: notice_number.to_owned(),
            },
            amount: Some(amount),
            payment_note: payment_note.map(|n| n.chars().take(210).collect()),
            transfer_type: None,
            due_date: None,
        });
        match self.call(&station, &station.url, &req, note).await? {
            Response::GetPayment(r) => r
                .data
                .ok_or_else(|| CallError::Decode("paGetPaymentV2 OK senza data".into())),
            _ => Err(CallError::Decode("risposta inattesa".into())),
        }
    }

    /// `paSendRTV2`, retried on the schedule until the station answers OK (or says the receipt
    /// is a duplicate, which means it already has it). `lose_first` simulates a first attempt
    /// whose answer never arrives; `url` overrides the station's (to simulate it unreachable).
    pub(crate) async fn send_receipt(
        &self,
        fiscal_code: &EcFiscalCode,
        receipt: soap::Receipt,
        lose_first: bool,
        url: Option<String>,
    ) -> bool {
        let Ok(station) = self.station_for(fiscal_code) else {
            return false;
        };
        let url = url.unwrap_or_else(|| station.url.clone());
        self.record_paid(&receipt, false);
        let receipt_id = receipt.receipt_id.clone();
        let req = Request::SendRt(PaSendRtReq {
            version: Version::V2,
            ids: Self::ids(&station),
            receipt,
        });
        let schedule = self.inner.config.retry_schedule.clone();
        let attempts = schedule.len() + 1;
        for attempt in 0..attempts {
            let note = format!("tentativo {}/{attempts}", attempt + 1);
            let result = self.call(&station, &url, &req, &note).await;
            let delivered = match &result {
                Ok(_) => true,
                Err(CallError::Ko(f)) => f.fault_code == soap::FaultCode::PaaReceiptDuplicata,
                Err(_) => false,
            };
            let lost = lose_first && attempt == 0;
            if lost {
                self.log_note(
                    "paSendRTV2",
                    &station.id_station,
                    "risposta persa (simulata): il nodo ripete l'invio",
                );
            }
            if delivered && !lost {
                self.record_delivered(&receipt_id);
                return true;
            }
            if let Some(wait) = schedule.get(attempt) {
                tokio::time::sleep(*wait).await;
            }
        }
        self.log_note(
            "paSendRTV2",
            &station.id_station,
            "ricevuta non consegnata: tentativi esauriti",
        );
        false
    }

    fn station_for(&self, fiscal_code: &EcFiscalCode) -> Result<StationLink, CallError> {
        self.inner
            .config
            .stations
            .iter()
            .find(|s| s.fiscal_code == fiscal_code.as_str())
            .cloned()
            .ok_or_else(|| {
                CallError::Ko(Box::new(Fault::new(
                    soap::FaultCode::parse("PPT_STAZIONE_INT_PA_SCONOSCIUTA"),
                    "sandbox",
                    "nessuna stazione registrata nella sandbox per questo ente",
                )))
            })
    }

    /// A line in the log that is not a message (a decision of the simulated node).
    pub(crate) fn log_note(&self, operation: &str, station: &str, note: &str) {
        self.log(Message {
            at: crate::now_text(),
            operation: operation.to_owned(),
            station: station.to_owned(),
            url: String::new(),
            note: note.to_owned(),
            outcome: "NOTA".into(),
            fault: String::new(),
            http_status: None,
            duration: Duration::ZERO,
            request: String::new(),
            response: String::new(),
        });
    }
}
