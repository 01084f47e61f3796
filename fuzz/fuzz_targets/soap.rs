//! Feeds arbitrary input to the paForNode SOAP decoders (requests and responses). None may
//! panic; whatever decodes must encode to a document that decodes to the same value, and a
//! request decoded under a known SOAPAction must be that operation.
//!
//! An input whose first line is short and has no `<` is read as `SOAPAction` + newline + body,
//! so the dispatcher's choice between header and payload element is fuzzed too.
//! The checks live in `pagopa::fuzz_checks`, where the seeds replay them as ordinary tests
//! (`crates/pagopa/tests/fuzz_seeds.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pagopa::fuzz_checks::soap(data);
});
