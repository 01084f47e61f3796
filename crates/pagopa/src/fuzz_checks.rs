//! The properties the fuzz targets (`fuzz/fuzz_targets/`) check, as plain functions: the
//! targets call them on libFuzzer's inputs, and `tests/fuzz_seeds.rs` calls them on every seed
//! and past finding in `fuzz/seeds/`, so the checks compile with the workspace and what the
//! fuzzer once found stays fixed. Each function panics when a property fails.

use crate::soap::{Operation, Request, Response};
use crate::{
    Cents, EcFiscalCode, FiscalCode, Iban, NoticeNumber, PartitaIva, PersonalFiscalCode,
    PosteDataMatrixPayload, QrPayload, SegregationCode,
};

/// Feeds `data` to every parser: none may panic, and whatever parses comes back unchanged
/// through its canonical form. Returns the names of the parsers that accepted it.
pub fn parsers(data: &[u8]) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    let Ok(s) = std::str::from_utf8(data) else {
        return accepted;
    };

    if let Ok(c) = Cents::parse(s) {
        // Display without the euro sign is what a form pre-fills.
        assert_eq!(Cents::parse(&c.to_italian()), Ok(c));
        assert_eq!(Cents::parse(&c.to_string()), Ok(c));
        assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
        assert!(c.get() >= 0);
        accepted.push("Cents");
    }
    if let Ok(c) = Cents::parse_xml(s) {
        assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
        accepted.push("Cents::xml");
    }
    if let Ok(n) = NoticeNumber::parse(s) {
        assert_eq!(n.as_str().len(), 18);
        assert_eq!(NoticeNumber::parse(n.as_str()).as_ref(), Ok(&n));
        assert_eq!(NoticeNumber::parse(&n.grouped()).as_ref(), Ok(&n));
        assert_eq!(
            NoticeNumber::from_iuv(n.aux(), &n.iuv(), n.application_code()).as_ref(),
            Ok(&n)
        );
        accepted.push("NoticeNumber");
    }
    if let Ok(n) = NoticeNumber::parse_code_or_iuv(s, SegregationCode::new(1).unwrap()) {
        assert_eq!(NoticeNumber::parse(n.as_str()), Ok(n));
        accepted.push("NoticeNumber::code_or_iuv");
    }
    if let Ok(f) = FiscalCode::parse(s) {
        assert_eq!(FiscalCode::parse(f.as_str()).as_ref(), Ok(&f));
        if let FiscalCode::Personal(p) = &f {
            let base = p.without_omocodia();
            assert_eq!(PersonalFiscalCode::parse(base.as_str()).as_ref(), Ok(&base));
            assert_eq!(base.birth_date(), p.birth_date());
        }
        accepted.push("FiscalCode");
    }
    if let Ok(p) = PartitaIva::parse(s) {
        assert_eq!(PartitaIva::parse(p.as_str()), Ok(p));
        accepted.push("PartitaIva");
    }
    if let Ok(e) = EcFiscalCode::parse(s) {
        assert_eq!(e.as_str(), s);
        accepted.push("EcFiscalCode");
    }
    if let Ok(i) = Iban::parse(s) {
        assert_eq!(Iban::parse(i.as_str()).as_ref(), Ok(&i));
        assert_eq!(Iban::parse(&i.grouped()).as_ref(), Ok(&i));
        let (country, bban) = i.as_str().split_at(2);
        assert_eq!(Iban::from_bban(country, &bban[2..]), Ok(i));
        accepted.push("Iban");
    }
    if let Ok(q) = QrPayload::parse(s) {
        assert_eq!(q.to_string(), s);
        accepted.push("QrPayload");
    }
    if let Ok(d) = PosteDataMatrixPayload::parse(s) {
        assert_eq!(d.encode().as_deref(), Ok(s));
        accepted.push("PosteDataMatrixPayload");
    }
    accepted
}

/// What [`soap`] made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapOutcome {
    /// The operation of the request it decoded to, if any.
    pub request: Option<Operation>,
    /// The operation of the response it decoded to, if any.
    pub response: Option<Operation>,
}

/// Feeds `data` to the paForNode SOAP decoders (requests and responses): none may panic;
/// whatever decodes encodes to a document that decodes to the same value, and a request
/// decoded under a known SOAPAction is that operation.
///
/// An input whose first line is short and has no `<` is read as `SOAPAction` + newline + body,
/// so the dispatcher's choice between header and payload element is exercised too.
pub fn soap(data: &[u8]) -> SoapOutcome {
    let mut outcome = SoapOutcome {
        request: None,
        response: None,
    };
    let Ok(s) = std::str::from_utf8(data) else {
        return outcome;
    };
    let (action, xml) = match s.split_once('\n') {
        Some((a, x)) if a.len() <= 64 && !a.contains('<') => (Some(a), x),
        _ => (None, s),
    };
    match Request::decode(xml, action) {
        Ok(req) => {
            if let Some(op) = action.and_then(Operation::from_soap_action) {
                assert_eq!(req.operation(), op);
            }
            let again = req.encode();
            assert_eq!(Request::decode(&again, None).as_ref(), Ok(&req));
            outcome.request = Some(req.operation());
        }
        Err(e) => {
            // Every failure maps to a fault code; a known action is never forgotten.
            let _ = e.error.fault_code();
            if let Some(op) = action.and_then(Operation::from_soap_action) {
                assert_eq!(e.operation, Some(op));
            }
        }
    }
    if let Ok(res) = Response::decode(xml) {
        assert_eq!(Response::decode(&res.encode()).as_ref(), Ok(&res));
        outcome.response = Some(res.operation());
    }
    outcome
}
