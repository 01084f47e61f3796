//! The fuzz targets' seeds and past findings (`fuzz/seeds/`), replayed through the targets'
//! own checks (`pagopa::fuzz_checks`) as ordinary tests: the checks compile and run in every
//! test run, and an input the fuzzer once broke the code with stays fixed.
//!
//! Seeds are valid samples, so each must also be *accepted* (by the parser it is a sample of,
//! or as the request or response its name says): a check that silently rejected everything
//! would otherwise pass. Files named `regression-*` are findings: they only have to pass.

use std::path::{Path, PathBuf};

use pagopa::fuzz_checks;
use pagopa::soap::Operation;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Runs `check` on `data`, naming the seed when a property fails.
fn replay<T>(target: &str, name: &str, data: &[u8], check: fn(&[u8]) -> T) -> T {
    std::panic::catch_unwind(|| check(data))
        .unwrap_or_else(|_| panic!("fuzz/seeds/{target}/{name} breaks a property (see above)"))
}

#[test]
fn parser_seeds_pass_the_parsers_target() {
    // What each known seed is a sample of.
    let expected: &[(&str, &str)] = &[
        ("cents_it", "Cents"),
        ("cents_xml", "Cents::xml"),
        ("cf_lower", "FiscalCode"),
        ("cf_omocode", "FiscalCode"),
        ("datamatrix", "PosteDataMatrixPayload"),
        ("iban", "Iban"),
        ("iban_de", "Iban"),
        ("iuv", "NoticeNumber::code_or_iuv"),
        ("nav_aux0", "NoticeNumber"),
        ("nav_grouped", "NoticeNumber"),
        ("piva", "PartitaIva"),
        ("qr", "QrPayload"),
    ];
    let all = seeds("parsers");
    for (name, _) in expected {
        assert!(
            all.iter().any(|(n, _)| n == name),
            "the seed {name} is gone from fuzz/seeds/parsers"
        );
    }
    for (name, data) in &all {
        let accepted = replay("parsers", name, data, fuzz_checks::parsers);
        if name.starts_with("regression-") {
            continue;
        }
        assert!(
            !accepted.is_empty(),
            "the seed {name} is accepted by no parser: it no longer exercises the round trips"
        );
        if let Some((_, parser)) = expected.iter().find(|(n, _)| n == name) {
            assert!(
                accepted.contains(parser),
                "the seed {name} is a sample of {parser}, accepted by {accepted:?}"
            );
        }
    }
}

#[test]
fn soap_seeds_pass_the_soap_target() {
    let operation = |name: &str| {
        Operation::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .unwrap_or_else(|| panic!("no operation {name}"))
    };
    let all = seeds("soap");
    for prefix in ["req-", "res-", "action-"] {
        assert!(
            all.iter().any(|(n, _)| n.starts_with(prefix)),
            "no {prefix}* seed in fuzz/seeds/soap"
        );
    }
    for (name, data) in &all {
        let outcome = replay("soap", name, data, fuzz_checks::soap);
        // `req-paSendRTV2.xml`, `res-paGetPaymentV2-data.xml`: the operation is the name's
        // second part.
        let stem = name.trim_end_matches(".xml");
        let op_of = |rest: &str| operation(rest.split('-').next().unwrap());
        if let Some(rest) = stem.strip_prefix("req-") {
            assert_eq!(outcome.request, Some(op_of(rest)), "{name}");
        } else if let Some(rest) = stem.strip_prefix("res-") {
            assert_eq!(outcome.response, Some(op_of(rest)), "{name}");
        } else if stem.starts_with("action-") {
            // The first line is the SOAPAction: the request decodes as that operation.
            let first = String::from_utf8_lossy(data);
            let action = first.lines().next().unwrap_or_default();
            assert_eq!(
                outcome.request,
                Operation::from_soap_action(action),
                "{name}"
            );
            assert!(outcome.request.is_some(), "{name}");
        }
    }
}
