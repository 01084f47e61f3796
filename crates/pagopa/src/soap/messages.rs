//! The paForNode requests and responses, and their SOAP envelopes.

use super::types::{
    self, Fault, Outcome, PaymentData, PaymentOptionDescription, QrCode, Receipt, StationIds,
    TransferType, Version, XsdDate, decode_response_head, encode_response_head, fiscal_code_pa,
    text,
};
use super::xml::{self, Children, Element, Writer};
use super::{DecodeError, Operation, PAF_NS, SOAP_ENV_NS};
use crate::{Cents, EcFiscalCode};

/// `paVerifyPaymentNoticeReq`: what is owed for this notice?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaVerifyPaymentNoticeReq {
    /// Who is asking whom.
    pub ids: StationIds,
    /// The notice.
    pub qr_code: QrCode,
}

/// `paVerifyPaymentNoticeRes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaVerifyPaymentNoticeRes {
    /// OK or KO.
    pub outcome: Outcome,
    /// Why, on KO.
    pub fault: Option<Fault>,
    /// The one payment option, on OK.
    pub payment_list: Option<PaymentOptionDescription>,
    /// Description, 1–140.
    pub payment_description: Option<String>,
    /// The EC's fiscal code.
    pub fiscal_code_pa: Option<EcFiscalCode>,
    /// The EC's name, 1–140.
    pub company_name: Option<String>,
    /// Office, 1–140.
    pub office_name: Option<String>,
}

/// `paGetPaymentReq` (V1) or `paGetPaymentV2Request` (V2): activation. Both have this shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaGetPaymentReq {
    /// Which root element.
    pub version: Version,
    /// Who is asking whom.
    pub ids: StationIds,
    /// The notice.
    pub qr_code: QrCode,
    /// The amount the PSP is about to collect.
    pub amount: Option<Cents>,
    /// Free note, 1–210: Checkout's cart id.
    pub payment_note: Option<String>,
    /// Whether the PSP can credit postal accounts.
    pub transfer_type: Option<TransferType>,
    /// Due date.
    pub due_date: Option<XsdDate>,
}

/// `paGetPaymentRes` (V1) or `paGetPaymentV2Response` (V2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaGetPaymentRes {
    /// Which root element.
    pub version: Version,
    /// OK or KO.
    pub outcome: Outcome,
    /// Why, on KO.
    pub fault: Option<Fault>,
    /// The payment, on OK.
    pub data: Option<PaymentData>,
}

/// `paSendRTReq` (V1) or `paSendRTV2Request` (V2): the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaSendRtReq {
    /// Which root element.
    pub version: Version,
    /// Who is telling whom.
    pub ids: StationIds,
    /// The receipt.
    pub receipt: Receipt,
}

/// `paSendRTRes` (V1) or `paSendRTV2Response` (V2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaSendRtRes {
    /// Which root element.
    pub version: Version,
    /// OK (stored) or KO.
    pub outcome: Outcome,
    /// Why, on KO.
    pub fault: Option<Fault>,
}

/// `paDemandPaymentNoticeRequest`: a spontaneous payment started at a PSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaDemandPaymentNoticeRequest {
    /// Who is asking whom.
    pub ids: StationIds,
    /// Service code, 5 characters.
    pub id_servizio: String,
    /// Service subject code, 5 characters.
    pub id_soggetto_servizio: String,
    /// Service-specific data: base64 of an XML document.
    pub dati_specifici_servizio_request: String,
}

/// `paDemandPaymentNoticeResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaDemandPaymentNoticeResponse {
    /// OK or KO.
    pub outcome: Outcome,
    /// Why, on KO.
    pub fault: Option<Fault>,
    /// The notice created, on OK.
    pub qr_code: Option<QrCode>,
    /// Its payment option.
    pub payment_list: Option<PaymentOptionDescription>,
    /// Description.
    pub payment_description: Option<String>,
    /// The EC's fiscal code.
    pub fiscal_code_pa: Option<EcFiscalCode>,
    /// The EC's name.
    pub company_name: Option<String>,
    /// Office.
    pub office_name: Option<String>,
}

/// A request from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one message lives per exchange; boxing would only make matching clumsier"
)]
pub enum Request {
    /// `paVerifyPaymentNotice`.
    Verify(PaVerifyPaymentNoticeReq),
    /// `paGetPayment[V2]`.
    GetPayment(PaGetPaymentReq),
    /// `paSendRT[V2]`.
    SendRt(PaSendRtReq),
    /// `paDemandPaymentNotice`.
    Demand(PaDemandPaymentNoticeRequest),
}

/// A response from the EC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one message lives per exchange; boxing would only make matching clumsier"
)]
pub enum Response {
    /// `paVerifyPaymentNotice`.
    Verify(PaVerifyPaymentNoticeRes),
    /// `paGetPayment[V2]`.
    GetPayment(PaGetPaymentRes),
    /// `paSendRT[V2]`.
    SendRt(PaSendRtRes),
    /// `paDemandPaymentNotice`.
    Demand(PaDemandPaymentNoticeResponse),
}

/// A request that could not be decoded, with the operation when it could be told (from the
/// SOAPAction or the payload element), so that the answer can be that operation's KO response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct RequestError {
    /// The operation, if known.
    pub operation: Option<Operation>,
    /// What is wrong.
    pub error: DecodeError,
}

fn envelope(root: &str, body: impl FnOnce(&mut Writer)) -> String {
    let mut w = Writer::with(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.raw(r#"<soapenv:Envelope xmlns:soapenv=""#);
    w.raw(SOAP_ENV_NS);
    w.raw(r#""><soapenv:Body>"#);
    // The payload namespace is declared on the payload root itself so that the element can be
    // cut out of the envelope and still stand alone (for logs and schema checks).
    w.raw("<paf:");
    w.raw(root);
    w.raw(r#" xmlns:paf=""#);
    w.raw(PAF_NS);
    w.raw(r#"">"#);
    body(&mut w);
    w.raw("</paf:");
    w.raw(root);
    w.raw("></soapenv:Body></soapenv:Envelope>");
    w.finish()
}

/// The payload element of a SOAP 1.1 envelope.
fn payload(doc: &Element) -> Result<&Element, DecodeError> {
    if !doc.is(Some(SOAP_ENV_NS), "Envelope") {
        return Err(DecodeError::Envelope(format!(
            "l'elemento radice è {} invece di soapenv:Envelope (SOAP 1.1)",
            doc.display_name()
        )));
    }
    if !doc.text.trim().is_empty() {
        return Err(DecodeError::Envelope("testo nella busta".into()));
    }
    let mut parts = doc.children.iter();
    let mut part = parts.next();
    if part.is_some_and(|p| p.is(Some(SOAP_ENV_NS), "Header")) {
        part = parts.next();
    }
    let body = match part {
        Some(b) if b.is(Some(SOAP_ENV_NS), "Body") => b,
        _ => return Err(DecodeError::Envelope("manca soapenv:Body".into())),
    };
    if let Some(extra) = parts.next() {
        return Err(DecodeError::Envelope(format!(
            "elemento inatteso dopo soapenv:Body: {}",
            extra.display_name()
        )));
    }
    if !body.text.trim().is_empty() {
        return Err(DecodeError::Envelope("testo in soapenv:Body".into()));
    }
    match body.children.as_slice() {
        [one] => Ok(one),
        [] => Err(DecodeError::Envelope("soapenv:Body è vuoto".into())),
        _ => Err(DecodeError::Envelope(
            "soapenv:Body contiene più di un elemento".into(),
        )),
    }
}

fn qr_code(c: &mut Children<'_>) -> Result<QrCode, DecodeError> {
    let path = c.path_of("qrCode");
    QrCode::decode(c.required("qrCode")?, &path)
}

fn opt_text(c: &mut Children<'_>, name: &str, max: usize) -> Result<Option<String>, DecodeError> {
    c.optional(name)?
        .map(|e| text(e, &c.path_of(name), 1, max))
        .transpose()
}

impl PaVerifyPaymentNoticeReq {
    fn decode(el: &Element) -> Result<Self, DecodeError> {
        let path = Operation::VerifyPaymentNotice.request_element();
        let mut c = Children::new(el, path, &["idPA", "idBrokerPA", "idStation", "qrCode"])?;
        let ids = StationIds::decode(&mut c)?;
        let qr_code = qr_code(&mut c)?;
        c.finish()?;
        Ok(PaVerifyPaymentNoticeReq { ids, qr_code })
    }

    fn body(&self, w: &mut Writer) {
        self.ids.encode(w);
        self.qr_code.encode(w);
    }
}

impl PaVerifyPaymentNoticeRes {
    /// A KO answer.
    pub fn ko(fault: Fault) -> Self {
        PaVerifyPaymentNoticeRes {
            outcome: Outcome::Ko,
            fault: Some(fault),
            payment_list: None,
            payment_description: None,
            fiscal_code_pa: None,
            company_name: None,
            office_name: None,
        }
    }

    fn decode(el: &Element) -> Result<Self, DecodeError> {
        let path = Operation::VerifyPaymentNotice.response_element();
        let mut c = Children::new(
            el,
            path,
            &[
                "outcome",
                "fault",
                "paymentList",
                "paymentDescription",
                "fiscalCodePA",
                "companyName",
                "officeName",
            ],
        )?;
        let (outcome, fault) = decode_response_head(&mut c, path)?;
        let payment_list = c
            .optional("paymentList")?
            .map(|e| PaymentOptionDescription::decode_list(e, &c.path_of("paymentList")))
            .transpose()?;
        let payment_description = opt_text(&mut c, "paymentDescription", 140)?;
        let fiscal_code_pa = c
            .optional("fiscalCodePA")?
            .map(|e| fiscal_code_pa(e, &c.path_of("fiscalCodePA")))
            .transpose()?;
        let company_name = opt_text(&mut c, "companyName", 140)?;
        let office_name = opt_text(&mut c, "officeName", 140)?;
        c.finish()?;
        Ok(PaVerifyPaymentNoticeRes {
            outcome,
            fault,
            payment_list,
            payment_description,
            fiscal_code_pa,
            company_name,
            office_name,
        })
    }

    fn body(&self, w: &mut Writer) {
        encode_response_head(w, self.outcome, self.fault.as_ref());
        if let Some(list) = &self.payment_list {
            list.encode_list(w);
        }
        w.opt_leaf("paymentDescription", self.payment_description.as_deref());
        w.opt_leaf(
            "fiscalCodePA",
            self.fiscal_code_pa.as_ref().map(EcFiscalCode::as_str),
        );
        w.opt_leaf("companyName", self.company_name.as_deref());
        w.opt_leaf("officeName", self.office_name.as_deref());
    }
}

impl PaGetPaymentReq {
    fn operation(&self) -> Operation {
        match self.version {
            Version::V1 => Operation::GetPayment,
            Version::V2 => Operation::GetPaymentV2,
        }
    }

    fn decode(el: &Element, version: Version) -> Result<Self, DecodeError> {
        let path = match version {
            Version::V1 => Operation::GetPayment,
            Version::V2 => Operation::GetPaymentV2,
        }
        .request_element();
        let mut c = Children::new(
            el,
            path,
            &[
                "idPA",
                "idBrokerPA",
                "idStation",
                "qrCode",
                "amount",
                "paymentNote",
                "transferType",
                "dueDate",
            ],
        )?;
        let ids = StationIds::decode(&mut c)?;
        let qr_code = qr_code(&mut c)?;
        let amount = c
            .optional("amount")?
            .map(|e| types::amount(e, &c.path_of("amount"), false))
            .transpose()?;
        let payment_note = opt_text(&mut c, "paymentNote", 210)?;
        let transfer_type = c
            .optional("transferType")?
            .map(|e| TransferType::decode(e, &c.path_of("transferType")))
            .transpose()?;
        let due_date = c
            .optional("dueDate")?
            .map(|e| {
                let p = c.path_of("dueDate");
                let v = types::leaf(e, &p)?.trim();
                XsdDate::parse(v).ok_or_else(|| DecodeError::schema(&p, "data non valida"))
            })
            .transpose()?;
        c.finish()?;
        Ok(PaGetPaymentReq {
            version,
            ids,
            qr_code,
            amount,
            payment_note,
            transfer_type,
            due_date,
        })
    }

    fn body(&self, w: &mut Writer) {
        self.ids.encode(w);
        self.qr_code.encode(w);
        w.opt_leaf("amount", self.amount.map(Cents::to_xml).as_deref());
        w.opt_leaf("paymentNote", self.payment_note.as_deref());
        w.opt_leaf("transferType", self.transfer_type.map(TransferType::as_str));
        w.opt_leaf("dueDate", self.due_date.as_ref().map(XsdDate::as_str));
    }
}

impl PaGetPaymentRes {
    /// A KO answer.
    pub fn ko(version: Version, fault: Fault) -> Self {
        PaGetPaymentRes {
            version,
            outcome: Outcome::Ko,
            fault: Some(fault),
            data: None,
        }
    }

    fn decode(el: &Element, version: Version) -> Result<Self, DecodeError> {
        let path = match version {
            Version::V1 => Operation::GetPayment,
            Version::V2 => Operation::GetPaymentV2,
        }
        .response_element();
        let mut c = Children::new(el, path, &["outcome", "fault", "data"])?;
        let (outcome, fault) = decode_response_head(&mut c, path)?;
        let data = c
            .optional("data")?
            .map(|e| PaymentData::decode(e, &c.path_of("data"), version))
            .transpose()?;
        c.finish()?;
        Ok(PaGetPaymentRes {
            version,
            outcome,
            fault,
            data,
        })
    }

    fn body(&self, w: &mut Writer) {
        encode_response_head(w, self.outcome, self.fault.as_ref());
        if let Some(data) = &self.data {
            data.encode(w);
        }
    }
}

impl PaSendRtReq {
    fn operation(&self) -> Operation {
        match self.version {
            Version::V1 => Operation::SendRt,
            Version::V2 => Operation::SendRtV2,
        }
    }

    fn decode(el: &Element, version: Version) -> Result<Self, DecodeError> {
        let path = match version {
            Version::V1 => Operation::SendRt,
            Version::V2 => Operation::SendRtV2,
        }
        .request_element();
        let mut c = Children::new(el, path, &["idPA", "idBrokerPA", "idStation", "receipt"])?;
        let ids = StationIds::decode(&mut c)?;
        let receipt = Receipt::decode(c.required("receipt")?, &c.path_of("receipt"), version)?;
        c.finish()?;
        Ok(PaSendRtReq {
            version,
            ids,
            receipt,
        })
    }

    fn body(&self, w: &mut Writer) {
        self.ids.encode(w);
        self.receipt.encode(w);
    }
}

impl PaSendRtRes {
    /// An OK answer.
    pub fn ok(version: Version) -> Self {
        PaSendRtRes {
            version,
            outcome: Outcome::Ok,
            fault: None,
        }
    }

    /// A KO answer.
    pub fn ko(version: Version, fault: Fault) -> Self {
        PaSendRtRes {
            version,
            outcome: Outcome::Ko,
            fault: Some(fault),
        }
    }

    fn decode(el: &Element, version: Version) -> Result<Self, DecodeError> {
        let path = match version {
            Version::V1 => Operation::SendRt,
            Version::V2 => Operation::SendRtV2,
        }
        .response_element();
        let mut c = Children::new(el, path, &["outcome", "fault"])?;
        let (outcome, fault) = decode_response_head(&mut c, path)?;
        c.finish()?;
        Ok(PaSendRtRes {
            version,
            outcome,
            fault,
        })
    }

    fn body(&self, w: &mut Writer) {
        encode_response_head(w, self.outcome, self.fault.as_ref());
    }
}

impl PaDemandPaymentNoticeRequest {
    fn decode(el: &Element) -> Result<Self, DecodeError> {
        let path = Operation::DemandPaymentNotice.request_element();
        let mut c = Children::new(
            el,
            path,
            &[
                "idPA",
                "idBrokerPA",
                "idStation",
                "idServizio",
                "idSoggettoServizio",
                "datiSpecificiServizioRequest",
            ],
        )?;
        let ids = StationIds::decode(&mut c)?;
        let id_servizio = text(c.required("idServizio")?, &c.path_of("idServizio"), 5, 5)?;
        let id_soggetto_servizio = text(
            c.required("idSoggettoServizio")?,
            &c.path_of("idSoggettoServizio"),
            5,
            5,
        )?;
        let dati_specifici_servizio_request = types::base64(
            c.required("datiSpecificiServizioRequest")?,
            &c.path_of("datiSpecificiServizioRequest"),
            false,
        )?;
        c.finish()?;
        Ok(PaDemandPaymentNoticeRequest {
            ids,
            id_servizio,
            id_soggetto_servizio,
            dati_specifici_servizio_request,
        })
    }

    fn body(&self, w: &mut Writer) {
        self.ids.encode(w);
        w.leaf("idServizio", &self.id_servizio);
        w.leaf("idSoggettoServizio", &self.id_soggetto_servizio);
        w.leaf(
            "datiSpecificiServizioRequest",
            &self.dati_specifici_servizio_request,
        );
    }
}

impl PaDemandPaymentNoticeResponse {
    /// A KO answer.
    pub fn ko(fault: Fault) -> Self {
        PaDemandPaymentNoticeResponse {
            outcome: Outcome::Ko,
            fault: Some(fault),
            qr_code: None,
            payment_list: None,
            payment_description: None,
            fiscal_code_pa: None,
            company_name: None,
            office_name: None,
        }
    }

    fn decode(el: &Element) -> Result<Self, DecodeError> {
        let path = Operation::DemandPaymentNotice.response_element();
        let mut c = Children::new(
            el,
            path,
            &[
                "outcome",
                "fault",
                "qrCode",
                "paymentList",
                "paymentDescription",
                "fiscalCodePA",
                "companyName",
                "officeName",
            ],
        )?;
        let (outcome, fault) = decode_response_head(&mut c, path)?;
        let qr_code = c
            .optional("qrCode")?
            .map(|e| QrCode::decode(e, &c.path_of("qrCode")))
            .transpose()?;
        let payment_list = c
            .optional("paymentList")?
            .map(|e| PaymentOptionDescription::decode_list(e, &c.path_of("paymentList")))
            .transpose()?;
        let payment_description = opt_text(&mut c, "paymentDescription", 140)?;
        let fiscal_code_pa = c
            .optional("fiscalCodePA")?
            .map(|e| fiscal_code_pa(e, &c.path_of("fiscalCodePA")))
            .transpose()?;
        let company_name = opt_text(&mut c, "companyName", 140)?;
        let office_name = opt_text(&mut c, "officeName", 140)?;
        c.finish()?;
        Ok(PaDemandPaymentNoticeResponse {
            outcome,
            fault,
            qr_code,
            payment_list,
            payment_description,
            fiscal_code_pa,
            company_name,
            office_name,
        })
    }

    fn body(&self, w: &mut Writer) {
        encode_response_head(w, self.outcome, self.fault.as_ref());
        if let Some(qr) = &self.qr_code {
            qr.encode(w);
        }
        if let Some(list) = &self.payment_list {
            list.encode_list(w);
        }
        w.opt_leaf("paymentDescription", self.payment_description.as_deref());
        w.opt_leaf(
            "fiscalCodePA",
            self.fiscal_code_pa.as_ref().map(EcFiscalCode::as_str),
        );
        w.opt_leaf("companyName", self.company_name.as_deref());
        w.opt_leaf("officeName", self.office_name.as_deref());
    }
}

impl Request {
    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            Request::Verify(_) => Operation::VerifyPaymentNotice,
            Request::GetPayment(r) => r.operation(),
            Request::SendRt(r) => r.operation(),
            Request::Demand(_) => Operation::DemandPaymentNotice,
        }
    }

    /// The identifiers the request carries.
    pub fn ids(&self) -> &StationIds {
        match self {
            Request::Verify(r) => &r.ids,
            Request::GetPayment(r) => &r.ids,
            Request::SendRt(r) => &r.ids,
            Request::Demand(r) => &r.ids,
        }
    }

    /// The SOAP envelope.
    pub fn encode(&self) -> String {
        let root = self.operation().request_element();
        match self {
            Request::Verify(r) => envelope(root, |w| r.body(w)),
            Request::GetPayment(r) => envelope(root, |w| r.body(w)),
            Request::SendRt(r) => envelope(root, |w| r.body(w)),
            Request::Demand(r) => envelope(root, |w| r.body(w)),
        }
    }

    /// Decodes a request envelope. The operation is the one `soap_action` names, or, when the
    /// header is missing or names nothing known, the one of the payload element; the payload
    /// must then be that operation's request element.
    pub fn decode(xml: &str, soap_action: Option<&str>) -> Result<Request, RequestError> {
        let from_action = soap_action.and_then(Operation::from_soap_action);
        let fail = |operation, error| RequestError { operation, error };
        let doc = xml::parse_document(xml).map_err(|e| fail(from_action, e))?;
        let root = payload(&doc).map_err(|e| fail(from_action, e))?;
        let from_root = match root.ns.as_deref() {
            Some(PAF_NS) => Operation::from_request_element(&root.name),
            _ => None,
        };
        let Some(operation) = from_action.or(from_root) else {
            return Err(fail(
                None,
                DecodeError::UnknownOperation(root.display_name()),
            ));
        };
        if !root.is(Some(PAF_NS), operation.request_element()) {
            return Err(fail(
                Some(operation),
                DecodeError::schema(
                    operation.request_element(),
                    format!(
                        "atteso {{{PAF_NS}}}{} per l'operazione {operation}, trovato {}",
                        operation.request_element(),
                        root.display_name()
                    ),
                ),
            ));
        }
        let decoded = match operation {
            Operation::VerifyPaymentNotice => {
                PaVerifyPaymentNoticeReq::decode(root).map(Request::Verify)
            }
            Operation::GetPayment => {
                PaGetPaymentReq::decode(root, Version::V1).map(Request::GetPayment)
            }
            Operation::GetPaymentV2 => {
                PaGetPaymentReq::decode(root, Version::V2).map(Request::GetPayment)
            }
            Operation::SendRt => PaSendRtReq::decode(root, Version::V1).map(Request::SendRt),
            Operation::SendRtV2 => PaSendRtReq::decode(root, Version::V2).map(Request::SendRt),
            Operation::DemandPaymentNotice => {
                PaDemandPaymentNoticeRequest::decode(root).map(Request::Demand)
            }
        };
        decoded.map_err(|e| fail(Some(operation), e))
    }
}

impl Response {
    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            Response::Verify(_) => Operation::VerifyPaymentNotice,
            Response::GetPayment(r) => match r.version {
                Version::V1 => Operation::GetPayment,
                Version::V2 => Operation::GetPaymentV2,
            },
            Response::SendRt(r) => match r.version {
                Version::V1 => Operation::SendRt,
                Version::V2 => Operation::SendRtV2,
            },
            Response::Demand(_) => Operation::DemandPaymentNotice,
        }
    }

    /// The KO response of `operation` carrying `fault`.
    pub fn ko(operation: Operation, fault: Fault) -> Response {
        match operation {
            Operation::VerifyPaymentNotice => Response::Verify(PaVerifyPaymentNoticeRes::ko(fault)),
            Operation::GetPayment => Response::GetPayment(PaGetPaymentRes::ko(Version::V1, fault)),
            Operation::GetPaymentV2 => {
                Response::GetPayment(PaGetPaymentRes::ko(Version::V2, fault))
            }
            Operation::SendRt => Response::SendRt(PaSendRtRes::ko(Version::V1, fault)),
            Operation::SendRtV2 => Response::SendRt(PaSendRtRes::ko(Version::V2, fault)),
            Operation::DemandPaymentNotice => {
                Response::Demand(PaDemandPaymentNoticeResponse::ko(fault))
            }
        }
    }

    /// `OK` or `KO`.
    pub fn outcome(&self) -> Outcome {
        match self {
            Response::Verify(r) => r.outcome,
            Response::GetPayment(r) => r.outcome,
            Response::SendRt(r) => r.outcome,
            Response::Demand(r) => r.outcome,
        }
    }

    /// The fault, on KO.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Response::Verify(r) => r.fault.as_ref(),
            Response::GetPayment(r) => r.fault.as_ref(),
            Response::SendRt(r) => r.fault.as_ref(),
            Response::Demand(r) => r.fault.as_ref(),
        }
    }

    /// The SOAP envelope.
    pub fn encode(&self) -> String {
        let root = self.operation().response_element();
        match self {
            Response::Verify(r) => envelope(root, |w| r.body(w)),
            Response::GetPayment(r) => envelope(root, |w| r.body(w)),
            Response::SendRt(r) => envelope(root, |w| r.body(w)),
            Response::Demand(r) => envelope(root, |w| r.body(w)),
        }
    }

    /// Decodes a response envelope; the payload element tells the operation. A SOAP Fault is
    /// [`DecodeError::SoapFault`].
    pub fn decode(xml: &str) -> Result<Response, DecodeError> {
        let doc = xml::parse_document(xml)?;
        let root = payload(&doc)?;
        if root.is(Some(SOAP_ENV_NS), "Fault") {
            let field = |name: &str| {
                root.children
                    .iter()
                    .find(|c| c.is(None, name))
                    .map(|c| c.text.clone())
                    .unwrap_or_default()
            };
            return Err(DecodeError::SoapFault {
                code: field("faultcode"),
                string: field("faultstring"),
            });
        }
        let operation = match root.ns.as_deref() {
            Some(PAF_NS) => Operation::from_response_element(&root.name),
            _ => None,
        }
        .ok_or_else(|| DecodeError::UnknownOperation(root.display_name()))?;
        Ok(match operation {
            Operation::VerifyPaymentNotice => {
                Response::Verify(PaVerifyPaymentNoticeRes::decode(root)?)
            }
            Operation::GetPayment => {
                Response::GetPayment(PaGetPaymentRes::decode(root, Version::V1)?)
            }
            Operation::GetPaymentV2 => {
                Response::GetPayment(PaGetPaymentRes::decode(root, Version::V2)?)
            }
            Operation::SendRt => Response::SendRt(PaSendRtRes::decode(root, Version::V1)?),
            Operation::SendRtV2 => Response::SendRt(PaSendRtRes::decode(root, Version::V2)?),
            Operation::DemandPaymentNotice => {
                Response::Demand(PaDemandPaymentNoticeResponse::decode(root)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::FaultCode;

    const VERIFY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:nod="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">
  <soapenv:Header/>
  <soapenv:Body>
    <nod:paVerifyPaymentNoticeReq>
      <idPA>00229080338</idPA>
      <idBrokerPA>00229080338</idBrokerPA>
      <idStation>00229080338_01</idStation>
      <qrCode>
        <fiscalCode>00229080338</fiscalCode>
        <noticeNumber>301000000000000144</noticeNumber>
      </qrCode>
    </nod:paVerifyPaymentNoticeReq>
  </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn decodes_a_verify_request_with_any_prefix() {
        let req = Request::decode(VERIFY, None).unwrap();
        let Request::Verify(v) = &req else {
            panic!("{req:?}")
        };
        assert_eq!(v.ids.id_station, "00229080338_01");
        assert_eq!(v.qr_code.notice_number, "301000000000000144");
        assert_eq!(Request::decode(&req.encode(), None).unwrap(), req);
        // A default namespace on the root would make the children qualified: refused.
        let qualified = VERIFY
            .replace("nod:paVerifyPaymentNoticeReq>", "paVerifyPaymentNoticeReq>")
            .replace(
                "<paVerifyPaymentNoticeReq>",
                r#"<paVerifyPaymentNoticeReq xmlns="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">"#,
            );
        let err = Request::decode(&qualified, None).unwrap_err();
        assert_eq!(err.error.fault_code(), FaultCode::PaaSintassiXsd, "{err}");
    }

    #[test]
    fn schema_errors_name_the_element_and_pick_the_fault() {
        let missing = VERIFY.replace("<idBrokerPA>00229080338</idBrokerPA>", "");
        let err = Request::decode(&missing, Some("paVerifyPaymentNotice")).unwrap_err();
        assert_eq!(err.operation, Some(Operation::VerifyPaymentNotice));
        assert_eq!(err.error.fault_code(), FaultCode::PaaSintassiXsd);
        assert!(err.to_string().contains("idBrokerPA"), "{err}");

        let extra = VERIFY.replace("</qrCode>", "</qrCode><bonus>1</bonus>");
        let err = Request::decode(&extra, None).unwrap_err();
        assert_eq!(
            err.error.fault_code(),
            FaultCode::PaaSintassiExtraxsd,
            "{err}"
        );

        let swapped = VERIFY
            .replace("<idPA>00229080338</idPA>", "<idX/>")
            .replace(
                "<idBrokerPA>00229080338</idBrokerPA>",
                "<idPA>00229080338</idPA>",
            )
            .replace("<idX/>", "<idBrokerPA>00229080338</idBrokerPA>");
        let err = Request::decode(&swapped, None).unwrap_err();
        assert_eq!(err.error.fault_code(), FaultCode::PaaSintassiXsd, "{err}");

        let short = VERIFY.replace("301000000000000144", "30100000000000014");
        let err = Request::decode(&short, None).unwrap_err();
        assert!(err.to_string().contains("noticeNumber"), "{err}");

        let long_station = VERIFY.replace("00229080338_01", &"x".repeat(36));
        assert!(Request::decode(&long_station, None).is_err());
    }

    #[test]
    fn the_soap_action_wins_and_must_match_the_payload() {
        let err = Request::decode(VERIFY, Some("\"paSendRT\"")).unwrap_err();
        assert_eq!(err.operation, Some(Operation::SendRt));
        let err = Request::decode("<nope", Some("paGetPaymentV2")).unwrap_err();
        assert_eq!(err.operation, Some(Operation::GetPaymentV2));
        let err = Request::decode("<nope", None).unwrap_err();
        assert_eq!(err.operation, None);
        let unknown = VERIFY.replace("paVerifyPaymentNoticeReq", "paSomethingElse");
        let err = Request::decode(&unknown, None).unwrap_err();
        assert!(
            matches!(err.error, DecodeError::UnknownOperation(_)),
            "{err}"
        );
    }

    #[test]
    fn a_ko_response_round_trips() {
        let fault = Fault::new(
            FaultCode::PaaPagamentoSconosciuto,
            "00229080338",
            "non trovato",
        );
        for op in Operation::ALL {
            let res = Response::ko(op, fault.clone());
            assert_eq!(res.operation(), op);
            let xml = res.encode();
            assert!(
                xml.contains(&format!("<paf:{}", op.response_element())),
                "{xml}"
            );
            assert_eq!(Response::decode(&xml).unwrap(), res);
        }
    }
}
