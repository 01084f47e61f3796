//! Feeds arbitrary input to every pagopa parser. None may panic, and
//! whatever parses must come back unchanged through its canonical form.
//! The checks live in `pagopa::fuzz_checks`, where the seeds replay them as
//! ordinary tests (`crates/pagopa/tests/fuzz_seeds.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pagopa::fuzz_checks::parsers(data);
});
