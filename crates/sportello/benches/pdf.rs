//! Throughput of the printable documents on one core: notices (single payment, and five
//! installments with the Poste section) and receipts per second. A plain timing loop, no
//! harness: `cargo bench -p sportello --bench pdf`.
//!
//! With `PDF_BENCH_SEED_DB=<database url>` and `PDF_BENCH_SEED_N=<n>` it instead fills that
//! database with n payable positions of the demo service `multe`, for measuring
//! `sportello notices` (see benches/README.md, "## PDF").

use std::path::Path;
use std::time::{Duration, Instant};

use pagopa::{Cents, EcFiscalCode, NoticeNumber, SegregationCode};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};
use sportello::pdf::{
    Fonts, NoticeDocument, NoticeOption, ReceiptDocument, ReceiptParty, ReceiptTransfer,
    render_notice, render_receipts,
};

fn debtor() -> Debtor {
    Debtor {
        kind: SubjectType::F,
        fiscal_code: "RSSMRA80A01H501U".into(),
        full_name: "Mario Rossi".into(),
        street_name: Some("Via Roma".into()),
        civic_number: Some("10".into()),
        postal_code: Some("29121".into()),
        city: Some("Piacenza".into()),
        province: Some("PC".into()),
        region: None,
        country: Some("IT".into()),
        email: None,
        phone: None,
    }
}

fn nav(n: u64) -> NoticeNumber {
    NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), n).unwrap()
}

fn option(n: u64, cents: i64) -> NoticeOption {
    NoticeOption {
        nav: nav(n),
        amount: Cents::new(cents),
        due_date: Timestamp::now(),
        description: format!("TARI 2026 rata {n}"),
    }
}

fn notice(postal: bool, installments: usize) -> NoticeDocument {
    NoticeDocument {
        ente_name: "Comune di Piacenza".into(),
        office_name: "Servizio Tributi".into(),
        ec_fiscal_code: EcFiscalCode::parse("00229080338").unwrap(),
        cbill: "A1B2C".into(),
        postal_account: postal.then(|| "12345678".into()),
        subject: "TARI 2026 – tassa sui rifiuti".into(),
        debtor: debtor(),
        single: Some(option(1, 20000)),
        installments: (0..installments as u64)
            .map(|i| option(10 + i, 4000))
            .collect(),
    }
}

fn receipt() -> ReceiptDocument {
    ReceiptDocument {
        ente_name: "Comune di Piacenza".into(),
        ec_fiscal_code: EcFiscalCode::parse("00229080338").unwrap(),
        receipt_id: "c8f1a2b3d4e5f6a7b8c9d0e1f2a3b4c5".into(),
        notice_number: nav(1),
        iuv: nav(1).iuv().as_str().to_owned(),
        description: "Mensa scolastica".into(),
        service_name: Some("Refezione scolastica".into()),
        debtor: ReceiptParty {
            fiscal_code: "RSSMRA80A01H501U".into(),
            full_name: "Mario Rossi".into(),
        },
        payer: None,
        psp_id: "BCITITMM".into(),
        psp_name: "Intesa Sanpaolo S.p.A.".into(),
        channel: "00799960158_01".into(),
        payment_method: Some("Carta di pagamento".into()),
        fee: Some(Cents::new(150)),
        payment_date_time: Timestamp::now(),
        transfers: vec![ReceiptTransfer {
            id_transfer: 1,
            fiscal_code: "00229080338".into(),
            iban: Some("IT60X0542811101000000123456".into()),
            remittance_information: "Mensa".into(),
            amount: Cents::new(110),
        }],
        amount: Cents::new(110),
    }
}

/// One way of producing a document.
type Render<'a> = Box<dyn FnMut() -> Vec<u8> + 'a>;

/// Runs `f` for about 3 seconds after a short warm-up; returns (documents per second, bytes).
fn measure(mut f: impl FnMut() -> Vec<u8>) -> (f64, usize) {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        std::hint::black_box(f());
    }
    let start = Instant::now();
    let mut n = 0u64;
    let mut size = 0;
    while start.elapsed() < Duration::from_secs(3) {
        size = std::hint::black_box(f()).len();
        n += 1;
    }
    (n as f64 / start.elapsed().as_secs_f64(), size)
}

fn main() {
    if let (Ok(url), Ok(n)) = (
        std::env::var("PDF_BENCH_SEED_DB"),
        std::env::var("PDF_BENCH_SEED_N"),
    ) {
        let n: u64 = n.parse().expect("PDF_BENCH_SEED_N");
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(seed(&url, n));
        return;
    }
    let assets =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/bootstrap-italia/dist");
    let fonts = Fonts::load(&assets).expect("fonts (npm ci)");
    let cases: [(&str, Render); 4] = [
        ("notice, single payment", {
            let d = notice(false, 0);
            let fonts = &fonts;
            Box::new(move || render_notice(fonts, &d).unwrap())
        }),
        ("notice, single + 5 installments + Poste (4 pages)", {
            let d = notice(true, 5);
            let fonts = &fonts;
            Box::new(move || render_notice(fonts, &d).unwrap())
        }),
        ("receipt, 1 page", {
            let r = [receipt()];
            let fonts = &fonts;
            Box::new(move || render_receipts(fonts, &r).unwrap())
        }),
        ("receipts, 10 in one PDF", {
            let r = vec![receipt(); 10];
            let fonts = &fonts;
            Box::new(move || render_receipts(fonts, &r).unwrap())
        }),
    ];
    println!("| document | per second, one core | size |");
    println!("|---|---|---|");
    for (name, f) in cases {
        let (per_second, size) = measure(f);
        println!("| {name} | {per_second:.0} | {} KB |", size / 1024);
    }
}

async fn seed(url: &str, n: u64) {
    let config = sportello::config::Config::load(
        Some(Path::new("/dev/null")),
        vec![("SPORTELLO_DATABASE_URL".to_owned(), url.to_owned())],
    )
    .unwrap();
    let store = sportello::store::Store::open(url).await.unwrap();
    let ente = store.upsert_ente(&config.ente).await.unwrap();
    store.sync_services(ente.id, &config.catalog).await.unwrap();
    let service_id = store
        .services(ente.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.def.code == "multe")
        .unwrap()
        .id;
    let bases = store.mint_iuv_bases(ente.id, n).await.unwrap();
    for (i, base) in (0..n).zip(bases) {
        let nav = NoticeNumber::from_aux3(config.ente.segregation_code, base).unwrap();
        let amount = Cents::new(1000 + i64::try_from(i % 500).unwrap());
        store
            .insert_position(
                ente.id,
                &NewPosition {
                    iupd: format!("BENCH-{}", nav.as_str()),
                    debtor: debtor(),
                    company_name: ente.name.clone(),
                    office_name: None,
                    validity_date: None,
                    switch_to_expired: false,
                    status: PositionStatus::Valid,
                    options: vec![PaymentOption {
                        iuv: nav.iuv(),
                        nav: nav.clone(),
                        amount,
                        description: "Sanzione codice della strada".into(),
                        is_partial_payment: false,
                        due_date: Timestamp::now().plus(time::Duration::days(60)),
                        retention_date: None,
                        fee: Cents::new(0),
                        status: OptionStatus::Unpaid,
                        metadata: "[]".into(),
                        transfers: vec![Transfer {
                            id_transfer: 1,
                            amount,
                            organization_fiscal_code: ente.fiscal_code.clone(),
                            remittance_information: "Sanzione".into(),
                            category: "9/0101101IM/".into(),
                            destination: Destination::Iban {
                                iban: ente.iban.clone(),
                                postal_iban: None,
                            },
                            company_name: None,
                        }],
                    }],
                    service_id: Some(service_id),
                    origin: Origin::Import,
                    created_by_account_id: None,
                    abandon_at: None,
                },
            )
            .await
            .unwrap();
    }
    store.close().await;
    println!("seeded {n} positions of service multe in {url}");
}
