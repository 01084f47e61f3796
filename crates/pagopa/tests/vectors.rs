//! Every row of the shared CSV test vectors, as assertions.

use pagopa::{AuxDigit, Cents, EcFiscalCode, FiscalCode, NoticeNumber, QrPayload};

/// Reads a vector file: header skipped, rows split on commas (the files
/// hold no quoted fields).
fn rows(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(!rows.is_empty(), "{path} has no rows");
    rows
}

fn aux(s: &str) -> AuxDigit {
    AuxDigit::from_digit(s.parse().unwrap()).unwrap()
}

#[test]
fn notice_numbers() {
    let rows = rows("notice-numbers.csv");
    assert_eq!(rows.len(), 17);
    for r in rows {
        let (nav, valid, note) = (&r[0], &r[1], &r[4]);
        match valid.as_str() {
            "true" => {
                let n = NoticeNumber::parse(nav).unwrap_or_else(|e| panic!("{nav} ({note}): {e}"));
                assert_eq!(n.as_str(), nav);
                assert_eq!(n.aux(), aux(&r[2]), "{nav}");
                assert_eq!(n.iuv().as_str(), r[3], "{nav}");
                // The grouped form people see parses back to the same NAV.
                assert_eq!(NoticeNumber::parse(&n.grouped()).as_ref(), Ok(&n));
                // And the IUV alone rebuilds it.
                let app = n.application_code();
                assert_eq!(
                    NoticeNumber::from_iuv(n.aux(), &n.iuv(), app).as_ref(),
                    Ok(&n)
                );
                if let Some(seg) = n.segregation_code() {
                    assert_eq!(
                        NoticeNumber::parse_code_or_iuv(n.iuv().as_str(), seg).as_ref(),
                        Ok(&n)
                    );
                }
            }
            "false" => {
                assert!(NoticeNumber::parse(nav).is_err(), "{nav} ({note}) accepted");
            }
            other => panic!("bad valid column {other:?}"),
        }
    }
}

#[test]
fn fiscal_codes() {
    let rows = rows("fiscal-codes.csv");
    assert_eq!(rows.len(), 10);
    for r in rows {
        let (code, valid, note) = (&r[0], &r[1], &r[2]);
        match valid.as_str() {
            "true" => {
                let c = FiscalCode::parse(code).unwrap_or_else(|e| panic!("{code} ({note}): {e}"));
                assert_eq!(c.as_str(), code.to_ascii_uppercase());
                assert_eq!(c.is_legal_person(), code.len() == 11);
            }
            "false" => {
                assert!(FiscalCode::parse(code).is_err(), "{code} ({note}) accepted");
            }
            other => panic!("bad valid column {other:?}"),
        }
    }
}

#[test]
fn qr_payloads() {
    let rows = rows("qr-payloads.csv");
    assert_eq!(rows.len(), 3);
    for r in rows {
        let payload = QrPayload::new(
            NoticeNumber::parse(&r[0]).unwrap(),
            EcFiscalCode::parse(&r[1]).unwrap(),
            Cents::new(r[2].parse().unwrap()),
        )
        .unwrap();
        assert_eq!(payload.to_string(), r[3]);
        assert_eq!(QrPayload::parse(&r[3]), Ok(payload));
    }
}
