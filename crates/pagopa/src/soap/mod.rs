//! The EC's SOAP interface to the pagoPA node (`paForNode`, SANP 3): message types and their
//! XML form, in both directions.
//!
//! Sportello decodes requests and encodes responses; the sandbox (a simulated node) does the
//! opposite with the same types, so both sides speak exactly one dialect. The types follow
//! `wsdl/xsd/paForNode.xsd` of pagoPA's public API repository element by element: the root
//! element is qualified with [`PAF_NS`], its children are unqualified, children come in the
//! schema's order, and lengths, patterns and cardinalities are checked on the way in.
//!
//! Decoding is strict on purpose: whatever [`Request::decode`] or [`Response::decode`] accepts is
//! valid against the schema (as far as this module checks it; see [`DecodeError`]), and whatever
//! they return encodes back to a document that decodes to the same value. Encoding trusts its
//! input: build messages from valid values (texts within their lengths, amounts with the right
//! sign); the round trip through the decoder is the check, and the tests run it on every type.
//!
//! Errors name the failing element by its path, in Italian, and map to the pagoPA fault code the
//! station must answer with ([`DecodeError::fault_code`]).

mod messages;
mod types;
pub(crate) mod xml;

pub use messages::{
    PaDemandPaymentNoticeRequest, PaDemandPaymentNoticeResponse, PaGetPaymentReq, PaGetPaymentRes,
    PaSendRtReq, PaSendRtRes, PaVerifyPaymentNoticeReq, PaVerifyPaymentNoticeRes, Request,
    RequestError, Response,
};
pub use types::{
    AmountOption, DateTimeParts, EntityType, Fault, FaultCode, MapEntry, MarcaDaBollo, Outcome,
    PaymentData, PaymentOptionDescription, QrCode, Receipt, StationIds, Subject, Transfer,
    TransferDestination, TransferType, Version, XsdDate, XsdDateTime, is_schema_email,
};

/// Namespace of the paForNode payload (the root element only).
pub const PAF_NS: &str = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd";
/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The media type of SOAP 1.1 messages.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The operations of `paForNode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `paVerifyPaymentNotice`: what is owed for a notice.
    VerifyPaymentNotice,
    /// `paGetPayment`: activation, transfers with IBANs only.
    GetPayment,
    /// `paGetPaymentV2`: activation, transfers may be a digital stamp.
    GetPaymentV2,
    /// `paSendRT`: the receipt.
    SendRt,
    /// `paSendRTV2`: the receipt, with payment note, bundles and stamps.
    SendRtV2,
    /// `paDemandPaymentNotice`: a spontaneous payment started at a PSP.
    DemandPaymentNotice,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Operation::VerifyPaymentNotice,
        Operation::GetPayment,
        Operation::GetPaymentV2,
        Operation::SendRt,
        Operation::SendRtV2,
        Operation::DemandPaymentNotice,
    ];

    /// The WSDL operation name, which is also its SOAPAction.
    pub fn name(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNotice",
            Operation::GetPayment => "paGetPayment",
            Operation::GetPaymentV2 => "paGetPaymentV2",
            Operation::SendRt => "paSendRT",
            Operation::SendRtV2 => "paSendRTV2",
            Operation::DemandPaymentNotice => "paDemandPaymentNotice",
        }
    }

    /// The request's root element.
    pub fn request_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeReq",
            Operation::GetPayment => "paGetPaymentReq",
            Operation::GetPaymentV2 => "paGetPaymentV2Request",
            Operation::SendRt => "paSendRTReq",
            Operation::SendRtV2 => "paSendRTV2Request",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeRequest",
        }
    }

    /// The response's root element.
    pub fn response_element(self) -> &'static str {
        match self {
            Operation::VerifyPaymentNotice => "paVerifyPaymentNoticeRes",
            Operation::GetPayment => "paGetPaymentRes",
            Operation::GetPaymentV2 => "paGetPaymentV2Response",
            Operation::SendRt => "paSendRTRes",
            Operation::SendRtV2 => "paSendRTV2Response",
            Operation::DemandPaymentNotice => "paDemandPaymentNoticeResponse",
        }
    }

    /// The operation a SOAPAction header names. SOAP 1.1 quotes the value, and some clients
    /// send a URI ending in the operation name: both are accepted.
    pub fn from_soap_action(action: &str) -> Option<Operation> {
        let action = action.trim().trim_matches('"').trim();
        let name = action.rsplit(['/', '#']).next().unwrap_or(action);
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The operation whose request root element is `name`.
    pub fn from_request_element(name: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|op| op.request_element() == name)
    }

    /// The operation whose response root element is `name`.
    pub fn from_response_element(name: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|op| op.response_element() == name)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message could not be decoded.
///
/// The split between [`FaultCode::PaaSintassiXsd`] and [`FaultCode::PaaSintassiExtraxsd`]
/// follows pagoPA's wording ("errore di sintassi XSD" / "errore di sintassi extra XSD"): a
/// message that is not XML, not a SOAP envelope, or breaks a rule of the schema is an XSD error;
/// an element the schema does not define at all is *extra* XSD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not well-formed XML (or not UTF-8).
    #[error("XML non ben formato: {0}")]
    Malformed(String),
    /// A DTD or an entity: refused outright, whatever it declares.
    #[error("contenuto XML non ammesso: {0}")]
    Forbidden(String),
    /// Well-formed, but not a SOAP 1.1 envelope with one payload element.
    #[error("busta SOAP non valida: {0}")]
    Envelope(String),
    /// The payload element is no paForNode operation.
    #[error("operazione sconosciuta: {0}")]
    UnknownOperation(String),
    /// An element breaks the schema: missing, out of order, too many, or a bad value.
    #[error("{path}: {reason}")]
    Schema {
        /// Where, e.g. `paVerifyPaymentNoticeReq/qrCode/noticeNumber`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An element the schema does not define.
    #[error("{path}: elemento non previsto dallo schema")]
    Extra {
        /// Where.
        path: String,
    },
    /// The peer answered with a SOAP Fault instead of a paForNode response.
    #[error("SOAP Fault {code}: {string}")]
    SoapFault {
        /// `faultcode`.
        code: String,
        /// `faultstring`.
        string: String,
    },
}

impl DecodeError {
    pub(crate) fn schema(path: &str, reason: impl Into<String>) -> DecodeError {
        DecodeError::Schema {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The fault code a station answers this error with.
    pub fn fault_code(&self) -> FaultCode {
        match self {
            DecodeError::Extra { .. } => FaultCode::PaaSintassiExtraxsd,
            _ => FaultCode::PaaSintassiXsd,
        }
    }
}

/// A SOAP 1.1 Fault envelope, for requests so broken that no paForNode response element can
/// be chosen (no operation could be identified). `client` tells whether the sender is to blame.
pub fn soap_fault(client: bool, fault_string: &str, detail: Option<&str>) -> String {
    let mut w = xml::Writer::with(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.raw(r#"<soapenv:Envelope xmlns:soapenv=""#);
    w.raw(SOAP_ENV_NS);
    w.raw(r#""><soapenv:Body><soapenv:Fault>"#);
    w.leaf(
        "faultcode",
        if client {
            "soapenv:Client"
        } else {
            "soapenv:Server"
        },
    );
    w.leaf("faultstring", fault_string);
    if let Some(detail) = detail {
        w.open("detail");
        w.leaf("description", detail);
        w.close("detail");
    }
    w.raw("</soapenv:Fault></soapenv:Body></soapenv:Envelope>");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap_actions_are_read_quoted_bare_or_as_uris() {
        for (action, op) in [
            (
                "\"paVerifyPaymentNotice\"",
                Some(Operation::VerifyPaymentNotice),
            ),
            ("paSendRTV2", Some(Operation::SendRtV2)),
            (
                "http://pagopa-api.pagopa.gov.it/paForNode/paGetPaymentV2",
                Some(Operation::GetPaymentV2),
            ),
            ("urn:x#paSendRT", Some(Operation::SendRt)),
            ("\"\"", None),
            ("paSendRt", None),
        ] {
            assert_eq!(Operation::from_soap_action(action), op, "{action}");
        }
        for op in Operation::ALL {
            assert_eq!(
                Operation::from_request_element(op.request_element()),
                Some(op)
            );
            assert_eq!(
                Operation::from_response_element(op.response_element()),
                Some(op)
            );
        }
    }

    #[test]
    fn soap_faults_are_envelopes_the_decoder_recognises() {
        let fault = soap_fault(true, "PAA_SINTASSI_XSD", Some("a < b"));
        match Response::decode(&fault) {
            Err(DecodeError::SoapFault { code, string }) => {
                assert_eq!(code, "soapenv:Client");
                assert_eq!(string, "PAA_SINTASSI_XSD");
            }
            other => panic!("{other:?}"),
        }
    }
}
