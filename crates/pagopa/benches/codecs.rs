//! Cost of the validations done on every request: parsing a NAV as a person
//! types it, fiscal codes, an IBAN, and building a QR payload.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pagopa::{Cents, EcFiscalCode, FiscalCode, Iban, NoticeNumber, QrPayload};

fn codecs(c: &mut Criterion) {
    c.bench_function("nav_parse_grouped", |b| {
        b.iter(|| NoticeNumber::parse(black_box("3010 0000 0000 0001 44")))
    });
    c.bench_function("fiscal_code_personal", |b| {
        b.iter(|| FiscalCode::parse(black_box("RSSMRA80A01H501U")))
    });
    c.bench_function("fiscal_code_legal", |b| {
        b.iter(|| FiscalCode::parse(black_box("00229080338")))
    });
    c.bench_function("iban_parse", |b| {
        b.iter(|| Iban::parse(black_box("IT60 X054 2811 1010 0000 0123 456")))
    });
    let payload = QrPayload::new(
        NoticeNumber::parse("301000000000000144").unwrap(),
        EcFiscalCode::parse("00229080338").unwrap(),
        Cents::new(12_345),
    )
    .unwrap();
    c.bench_function("qr_payload_build", |b| {
        b.iter(|| black_box(&payload).to_string())
    });
}

criterion_group!(benches, codecs);
criterion_main!(benches);
