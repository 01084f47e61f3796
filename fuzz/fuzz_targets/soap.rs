//! Feeds arbitrary input to the paForNode SOAP decoders (requests and responses). None may
//! panic; whatever decodes must encode to a document that decodes to the same value, and a
//! request decoded under a known SOAPAction must be that operation.
//!
//! An input whose first line is short and has no `<` is read as `SOAPAction` + newline + body,
//! so the dispatcher's choice between header and payload element is fuzzed too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pagopa::soap::{Operation, Request, Response};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
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
    }
});
