//! The notice and receipt PDFs, checked from the outside: text extracted with `pdftotext`,
//! pages rasterised with `pdftoppm -r 200`, QR codes decoded with `zbarimg` and Data Matrix
//! codes with `dmtxread` (Debian's poppler-utils, zbar-tools, dmtx-utils; scripts/test
//! installs them). Expected payloads are written out literally, not computed with our codecs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pagopa::{Cents, EcFiscalCode, NoticeNumber};
use sportello::clock::Timestamp;
use sportello::domain::position::{Debtor, SubjectType};
use sportello::pdf::{
    Fonts, NoticeDocument, NoticeOption, ReceiptDocument, ReceiptParty, ReceiptTransfer,
    render_notice, render_receipts,
};

/// Bootstrap Italia's dist folder in the repository's node_modules (`npm ci`).
pub fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/bootstrap-italia/dist")
}

fn fonts() -> Fonts {
    Fonts::load(&assets_dir()).expect("Titillium Web from node_modules (run npm ci)")
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("timestamp")
}

fn debtor() -> Debtor {
    Debtor {
        kind: SubjectType::F,
        fiscal_code: "RSSMRA80A01H501U".into(),
        full_name: "Mario Rossi".into(),
        street_name: Some("Via Roma".into()),
        civic_number: Some("10".into()),
        postal_code: Some("00100".into()),
        city: Some("Roma".into()),
        province: Some("RM".into()),
        region: None,
        country: Some("IT".into()),
        email: None,
        phone: None,
    }
}

fn option(nav: &str, cents: i64, due: &str, description: &str) -> NoticeOption {
    NoticeOption {
        nav: NoticeNumber::parse(nav).expect("nav"),
        amount: Cents::new(cents),
        due_date: ts(due),
        description: description.into(),
    }
}

fn notice(
    postal: bool,
    single: Option<NoticeOption>,
    installments: Vec<NoticeOption>,
) -> NoticeDocument {
    NoticeDocument {
        ente_name: "Comune di Prova".into(),
        office_name: "Servizio Tributi".into(),
        ec_fiscal_code: EcFiscalCode::parse("00229080338").unwrap(),
        cbill: "A1B2C".into(),
        postal_account: postal.then(|| "12345678".into()),
        subject: "TARI 2026 – tassa sui rifiuti, utenza domestica".into(),
        debtor: debtor(),
        single,
        installments,
    }
}

/// Writes `pdf` to a temp dir and returns (dir, path).
fn save(pdf: &[u8]) -> (tempfile::TempDir, PathBuf) {
    assert!(pdf.starts_with(b"%PDF-1.7"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    (dir, path)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Lossy: `pdfinfo -struct-text` prints UTF-16 titles as raw bytes.
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of each page (pdftotext -layout splits pages with form feeds).
fn pages_text(path: &Path) -> Vec<String> {
    let text = run(Command::new("pdftotext").arg("-layout").arg(path).arg("-"));
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// Page PNGs at 200 dpi, in order.
fn rasterise(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().unwrap();
    run(Command::new("pdftoppm")
        .args(["-r", "200", "-png"])
        .arg(path)
        .arg(dir.join("page")));
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    pngs
}

/// Every QR payload zbarimg finds on one page, sorted.
fn qr_codes(png: &Path) -> Vec<String> {
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(png)
        .output()
        .expect("zbarimg (Debian zbar-tools)");
    // Exit status 4: no symbol found; that is an empty list, not an error.
    let mut codes: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes
}

/// Every Data Matrix payload dmtxread finds on one page, sorted.
fn data_matrices(png: &Path) -> Vec<String> {
    let out = Command::new("dmtxread")
        .args(["--newline", "--stop-after=1", "--milliseconds=20000"])
        .arg(png)
        .output()
        .expect("dmtxread (Debian dmtx-utils)");
    let mut codes: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes
}

/// Words of `needle` appear in order on one line-insensitive text (layout may add spaces).
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_has(text: &str, needles: &[&str]) {
    let t = squeeze(text);
    for n in needles {
        assert!(t.contains(n), "{n:?} missing from:\n{t}");
    }
}

#[test]
fn single_notice_prints_the_fields_and_a_qr_that_decodes_to_the_exact_payload() {
    let doc = notice(
        false,
        Some(option(
            "310000000000090203",
            110,
            "2026-12-31T12:00:00Z",
            "TARI 2026 rata unica",
        )),
        vec![],
    );
    let (_dir, path) = save(&render_notice(&fonts(), &doc).unwrap());
    let pages = pages_text(&path);
    assert_eq!(pages.len(), 1);
    assert_has(
        &pages[0],
        &[
            "AVVISO DI PAGAMENTO",
            "Comune di Prova",
            "Codice fiscale 00229080338",
            "Mario Rossi",
            "RSSMRA80A01H501U",
            "Via Roma 10, 00100 Roma RM",
            "1,10 € entro il 31/12/2026",
            "TARI 2026 – tassa sui rifiuti",
            "DOVE PAGARE?",
            "APP IO",
            "banche, uffici postali, tabaccherie, sportelli ATM",
            "3100 0000 0000 0902 03",
            "A1B2C",
            "Codice CBILL",
            "Cod. Fiscale Ente Creditore",
        ],
    );
    assert!(
        !pages[0].contains("BOLLETTINO POSTALE"),
        "no postal account, no Poste section"
    );
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[0]),
        ["PAGOPA|002|310000000000090203|00229080338|110"]
    );
}

#[test]
fn installments_come_three_per_page_each_with_its_own_qr() {
    let navs = [
        "301000000000000144",
        "310000000000090203",
        "347202400000012373",
    ];
    // 5 installments of 40,00 € and a single payment of 200,00 €.
    let mut installments = Vec::new();
    for i in 0..5u32 {
        let nav = NoticeNumber::from_aux3(
            pagopa::SegregationCode::parse("47").unwrap(),
            1000 + u64::from(i),
        )
        .unwrap();
        installments.push(option(
            nav.as_str(),
            4000,
            &format!("2027-0{}-28T10:00:00Z", i + 1),
            &format!("TARI 2026 rata {}", i + 1),
        ));
    }
    let all: Vec<String> = installments
        .iter()
        .map(|o| o.nav.as_str().to_owned())
        .collect();
    let doc = notice(
        false,
        Some(option(
            navs[2],
            20000,
            "2027-01-28T10:00:00Z",
            "TARI 2026 unica",
        )),
        installments,
    );
    let (_dir, path) = save(&render_notice(&fonts(), &doc).unwrap());
    let pages = pages_text(&path);
    let pngs = rasterise(&path);
    assert_eq!(pngs.len(), pages.len());
    assert_has(
        &pages[0],
        &["200,00 € entro il 28/01/2027", "oppure in 5 rate"],
    );
    let mut seen = Vec::new();
    for (i, png) in pngs.iter().enumerate() {
        let codes = qr_codes(png);
        // 2 or 3 options on every page but the last (page 1 also carries the header).
        assert!(!codes.is_empty() && codes.len() <= 3, "page {i}: {codes:?}");
        seen.extend(codes);
    }
    seen.sort();
    let mut expected: Vec<String> = all
        .iter()
        .map(|nav| format!("PAGOPA|002|{nav}|00229080338|4000"))
        .collect();
    expected.push("PAGOPA|002|347202400000012373|00229080338|20000".into());
    expected.sort();
    assert_eq!(seen, expected);
    let joined = pages.join("\n");
    assert_has(
        &joined,
        &["Rata 1 di 5", "Rata 5 di 5", "40,00 € entro il 28/05/2027"],
    );
    for nav in &all {
        let grouped = NoticeNumber::parse(nav).unwrap().grouped();
        assert_has(&joined, &[&grouped]);
    }
    // Page 1: the single payment; then 3 + 2 installments.
    assert_eq!(pages.len(), 3);
    let per_page: Vec<usize> = pages.iter().map(|p| p.matches("Rata ").count()).collect();
    assert_eq!(per_page, [1, 3, 2]);
    let qr_per_page: Vec<usize> = pngs.iter().map(|p| qr_codes(p).len()).collect();
    assert_eq!(qr_per_page, [1, 3, 2]);
}

#[test]
fn postal_section_carries_a_data_matrix_that_decodes_to_the_poste_payload() {
    let doc = notice(
        true,
        Some(option(
            "301000000000000144",
            12345,
            "2026-12-31T12:00:00Z",
            "TARI 2026 rata unica",
        )),
        vec![],
    );
    let (_dir, path) = save(&render_notice(&fonts(), &doc).unwrap());
    let pages = pages_text(&path);
    assert_has(
        &pages[0],
        &["BOLLETTINO POSTALE PA", "sul C/C n.", "12345678", "123,45"],
    );
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[0]),
        ["PAGOPA|002|301000000000000144|00229080338|12345"]
    );
    let expected = format!(
        "codfase=NBPA;18301000000000000144120000123456781000000123453896\
         1P100229080338RSSMRA80A01H501U{:<40}{:<110}{}A",
        "Mario Rossi",
        "TARI 2026 - tassa sui rifiuti, utenza domestica",
        " ".repeat(12)
    );
    assert_eq!(expected.len(), 256);
    assert_eq!(data_matrices(&pngs[0]), [expected]);
}

#[test]
fn installments_only_with_postal_account_come_two_per_page_with_their_data_matrix() {
    let seg = pagopa::SegregationCode::parse("47").unwrap();
    let installments: Vec<NoticeOption> = (0..3u64)
        .map(|i| {
            let nav = NoticeNumber::from_aux3(seg, 2000 + i).unwrap();
            option(
                nav.as_str(),
                3333,
                "2027-06-30T10:00:00Z",
                "Retta asilo nido",
            )
        })
        .collect();
    let last_nav = installments[2].nav.as_str().to_owned();
    let doc = notice(true, None, installments);
    let (_dir, path) = save(&render_notice(&fonts(), &doc).unwrap());
    let pages = pages_text(&path);
    assert_has(&pages[0], &["In 3 rate", "Nelle pagine seguenti"]);
    let rate: Vec<usize> = pages.iter().map(|p| p.matches("Rata ").count()).collect();
    assert_eq!(rate, [0, 2, 1]);
    let poste: Vec<usize> = pages
        .iter()
        .map(|p| p.matches("BOLLETTINO POSTALE PA").count())
        .collect();
    assert_eq!(poste, [0, 2, 1]);
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[2]),
        [format!("PAGOPA|002|{last_nav}|00229080338|3333")]
    );
    let dm = data_matrices(&pngs[2]);
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].len(), 256);
    assert!(
        dm[0].starts_with(&format!(
            "codfase=NBPA;18{last_nav}120000123456781000000033333896"
        )),
        "{dm:?}"
    );
    // The notice's subject, in ASCII (the en dash becomes a hyphen), and the closing `A`.
    assert!(dm[0].contains("Mario Rossi"), "{dm:?}");
    assert!(dm[0].contains("TARI 2026 - tassa sui rifiuti"), "{dm:?}");
    assert!(dm[0].ends_with('A'));
}

fn receipt(n: u32) -> ReceiptDocument {
    ReceiptDocument {
        ente_name: "Comune di Prova".into(),
        ec_fiscal_code: EcFiscalCode::parse("00229080338").unwrap(),
        receipt_id: format!("c8f1a2b3d4e5f6a7b8c9d0e1f2a3b4c{n}"),
        notice_number: NoticeNumber::parse("310000000000090203").unwrap(),
        iuv: "10000000000090203".into(),
        description: format!("Mensa scolastica, ricarica {n}"),
        service_name: Some("Refezione scolastica".into()),
        debtor: ReceiptParty {
            fiscal_code: "RSSMRA80A01H501U".into(),
            full_name: "Mario Rossi".into(),
        },
        payer: Some(ReceiptParty {
            fiscal_code: "BNCGLI85M41G337L".into(),
            full_name: "Giulia Bianchi".into(),
        }),
        psp_id: "BCITITMM".into(),
        psp_name: "Intesa Sanpaolo S.p.A.".into(),
        channel: "00799960158_01".into(),
        payment_method: Some("CP".into()),
        fee: Some(Cents::new(150)),
        payment_date_time: ts("2026-07-15T08:05:00Z"),
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

#[test]
fn receipts_print_one_per_page_with_italian_dates_and_amounts_and_the_notice_qr() {
    let docs = [receipt(1), receipt(2), receipt(3)];
    let (_dir, path) = save(&render_receipts(&fonts(), &docs).unwrap());
    let pages = pages_text(&path);
    assert_eq!(pages.len(), 3);
    for (i, page) in pages.iter().enumerate() {
        assert_has(
            page,
            &[
                "RICEVUTA DI PAGAMENTO",
                "Comune di Prova",
                "Codice fiscale 00229080338",
                "1,10 €",
                "1,50 €",
                "2,60 €",
                // 08:05 UTC in July is 10:05 in Rome (CEST).
                "15/07/2026 10:05",
                &format!("Mensa scolastica, ricarica {}", i + 1),
                "Refezione scolastica",
                "3100 0000 0000 0902 03",
                "10000000000090203",
                &format!("c8f1a2b3d4e5f6a7b8c9d0e1f2a3b4c{}", i + 1),
                "Mario Rossi – RSSMRA80A01H501U",
                "Giulia Bianchi – BNCGLI85M41G337L",
                "Intesa Sanpaolo S.p.A. (BCITITMM)",
                "00799960158_01",
                "Carta di pagamento",
                "IT60X0542811101000000123456",
            ],
        );
    }
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[1]),
        ["PAGOPA|002|310000000000090203|00229080338|110"]
    );
}

#[test]
fn pdfs_are_tagged_in_italian_with_a_title_and_embedded_fonts() {
    let pdf = render_receipts(&fonts(), &[receipt(1)]).unwrap();
    let (_dir, path) = save(&pdf);
    let info = run(Command::new("pdfinfo").arg(&path));
    assert_has(
        &info,
        &[
            "Title: Ricevuta di pagamento 3100 0000 0000 0902 03",
            "Tagged: yes",
            "Page size: 595.28 x 841.89 pts (A4)",
        ],
    );
    let font_list = run(Command::new("pdffonts").arg(&path));
    let embedded: Vec<&str> = font_list
        .lines()
        .filter(|l| l.contains("TitilliumWeb"))
        .collect();
    assert_eq!(embedded.len(), 2, "{font_list}");
    for line in embedded {
        // Columns: name type encoding emb sub uni ...
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[3], "yes", "not embedded: {line}");
    }
    // The structure tree as poppler reads it: headings, paragraphs and the QR as a figure.
    let tree = run(Command::new("pdfinfo").arg("-struct-text").arg(&path));
    assert_has(
        &tree,
        &[
            "H1 (block) \"RICEVUTA DI PAGAMENTO\"",
            "H2 (block) \"Dati del pagamento\"",
            "P (block) \"Importo pagato\"",
            "Figure",
        ],
    );
    let notice_pdf = render_notice(
        &fonts(),
        &notice(
            true,
            Some(option(
                "310000000000090203",
                110,
                "2026-12-31T12:00:00Z",
                "TARI 2026",
            )),
            vec![],
        ),
    )
    .unwrap();
    let (_dir2, notice_path) = save(&notice_pdf);
    let tree = run(Command::new("pdfinfo")
        .arg("-struct-text")
        .arg(&notice_path));
    assert_has(
        &tree,
        &[
            "H1 (block) \"AVVISO DI PAGAMENTO\"",
            "H2 (block) \"DOVE PAGARE?\"",
        ],
    );
    assert_eq!(
        tree.matches("Figure").count(),
        2,
        "QR and Data Matrix: {tree}"
    );
    let raw_notice = String::from_utf8_lossy(&notice_pdf);
    assert!(
        raw_notice.contains("/Alt (Codice QR per il pagamento dell'avviso 3100 0000 0000 0902 03)")
    );
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("/Lang (it-IT)"));
    assert!(raw.contains("/StructTreeRoot"));
    assert!(raw.contains("/S /Figure"));
    assert!(raw.contains("/Alt (Codice QR dell'avviso pagato 3100 0000 0000 0902 03)"));
}

// ---------------------------------------------------------------------------------------------
// Through the application: the citizen's download, the API route, the store queries behind them
// and the bulk ZIP, on both databases.

use common::{TestApp, TestDb, browser};
use pagopa::{PersonalFiscalCode, SegregationCode};
use sportello::domain::position::{
    Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus, Transfer,
};
use sportello::store::Store;

const KEY: &str = "sportello-demo-key";

async fn spawn(db: TestDb) -> TestApp {
    let assets = assets_dir().display().to_string();
    TestApp::spawn_with(
        db,
        &[
            ("SPORTELLO_ASSETS_DIR", &assets),
            ("SPORTELLO_ENTE_POSTAL_ACCOUNT", "1234567"),
        ],
    )
    .await
}

/// An active citizen, logged in: (client, account id, fiscal code).
async fn citizen(app: &TestApp, n: usize) -> (reqwest::Client, i64, String) {
    let first15 = format!("VRDLCA70A{:02}F205", n + 1);
    let cf = format!(
        "{first15}{}",
        PersonalFiscalCode::check_char_for(&first15).unwrap()
    );
    let (client, id) =
        common::citizen(app, &format!("utente{n}"), &cf, ("Luca", "Verdi"), true).await;
    (client, id, cf)
}

/// A position with a single option of `cents` for `debtor`; returns its NAV.
async fn position(
    app: &TestApp,
    debtor_cf: &str,
    cents: i64,
    status: PositionStatus,
    service_code: Option<&str>,
    created_by: Option<i64>,
) -> NoticeNumber {
    let store = app.state.store();
    let ente = app.state.ente();
    let base = store.mint_iuv_base(ente.id).await.unwrap();
    let nav = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), base).unwrap();
    let service_id = match service_code {
        Some(code) => Some(
            store
                .services(ente.id)
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.def.code == code)
                .unwrap()
                .id,
        ),
        None => None,
    };
    let mut d = debtor();
    d.fiscal_code = debtor_cf.into();
    store
        .insert_position(
            ente.id,
            &NewPosition {
                iupd: format!("PDF-{}", nav.as_str()),
                debtor: d,
                company_name: ente.name.clone(),
                office_name: None,
                validity_date: None,
                switch_to_expired: false,
                status,
                options: vec![PaymentOption {
                    iuv: nav.iuv(),
                    nav: nav.clone(),
                    amount: Cents::new(cents),
                    description: format!("Sanzione verbale {base}"),
                    is_partial_payment: false,
                    due_date: ts("2027-03-31T10:00:00Z"),
                    retention_date: None,
                    fee: Cents::new(0),
                    status: OptionStatus::Unpaid,
                    metadata: "[]".into(),
                    transfers: vec![Transfer {
                        id_transfer: 1,
                        amount: Cents::new(cents),
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
                service_id,
                origin: Origin::Api,
                created_by_account_id: created_by,
                abandon_at: None,
            },
        )
        .await
        .unwrap();
    nav
}

async fn download(client: &reqwest::Client, app: &TestApp, iuv: &str) -> reqwest::Response {
    client
        .get(format!("{}/pagamenti/avviso/{iuv}.pdf", app.base))
        .send()
        .await
        .unwrap()
}

async fn citizen_downloads_only_their_own_notices(app: TestApp) {
    let (client, id, cf) = citizen(&app, 1).await;
    let ente_cf = app.state.ente().fiscal_code.clone();
    let mine = position(&app, &cf, 2550, PositionStatus::Valid, None, None).await;
    let started = position(
        &app,
        "RSSMRA80A01H501U",
        700,
        PositionStatus::Valid,
        None,
        Some(id),
    )
    .await;
    let in_cart = position(
        &app,
        "BNCGLI85M41G337L",
        900,
        PositionStatus::Valid,
        None,
        None,
    )
    .await;
    let draft = position(&app, &cf, 800, PositionStatus::Draft, None, None).await;
    let cancelled = position(&app, &cf, 800, PositionStatus::Invalid, None, None).await;
    let someone_elses = position(
        &app,
        "BNCGLI85M41G337L",
        1000,
        PositionStatus::Valid,
        None,
        None,
    )
    .await;
    let store = app.state.store();
    let option = store
        .option_by_nav(app.state.ente().id, in_cart.as_str(), 0)
        .await
        .unwrap()
        .unwrap();
    store.add_to_cart(id, option.option_id).await.unwrap();

    let r = download(&client, &app, mine.iuv().as_str()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let (_dir, path) = save(&r.bytes().await.unwrap());
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[0]),
        [format!("PAGOPA|002|{}|{ente_cf}|2550", mine.as_str())]
    );
    // The ente has a postal account: the Poste section and its Data Matrix are there.
    let text = pages_text(&path).join("\n");
    assert_has(
        &text,
        &["BOLLETTINO POSTALE PA", "1234567", &mine.grouped(), &cf],
    );
    let dm = data_matrices(&pngs[0]);
    assert_eq!(dm.len(), 1);
    assert!(
        dm[0].starts_with(&format!(
            "codfase=NBPA;18{}12000001234567100000002550{}",
            mine.as_str(),
            "38961P1"
        )),
        "{dm:?}"
    );

    let r = download(&client, &app, started.iuv().as_str()).await;
    assert_eq!(r.status(), 200, "{started}");
    // Not theirs (even one they may pay for its debtor: the notice carries the debtor's name,
    // fiscal code and address), a draft or cancelled one of theirs, not existing, not a IUV:
    // all 404.
    for iuv in [
        in_cart.iuv().as_str(),
        someone_elses.iuv().as_str(),
        draft.iuv().as_str(),
        cancelled.iuv().as_str(),
        "01000000099999999",
        "abc",
    ] {
        let r = download(&client, &app, iuv).await;
        assert_eq!(r.status(), 404, "{iuv}");
    }
    // Anonymous: to the login page.
    let r = download(&browser(), &app, mine.iuv().as_str()).await;
    assert_eq!(r.status(), 303);
    app.stop().await;
}

async fn the_api_serves_the_notice_behind_the_key(app: TestApp) {
    let ente_cf = app.state.ente().fiscal_code.clone();
    let nav = position(
        &app,
        "RSSMRA80A01H501U",
        4321,
        PositionStatus::Valid,
        None,
        None,
    )
    .await;
    let iupd = format!("PDF-{}", nav.as_str());
    let url = format!(
        "{}/gpd/debt-positions-service/v1/organizations/{ente_cf}/debtpositions/{iupd}/notice.pdf",
        app.base
    );
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(&url)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let (_dir, path) = save(&r.bytes().await.unwrap());
    assert_eq!(
        qr_codes(&rasterise(&path)[0]),
        [format!("PAGOPA|002|{}|{ente_cf}|4321", nav.as_str())]
    );
    let r = app
        .client
        .get(url.replace(&iupd, "NOPE"))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

async fn bulk_zip_holds_one_notice_per_printable_position_of_the_service(app: TestApp) {
    let mut expected = Vec::new();
    for _ in 0..5 {
        let nav = position(
            &app,
            "RSSMRA80A01H501U",
            1500,
            PositionStatus::Valid,
            Some("multe"),
            None,
        )
        .await;
        expected.push(format!("avviso-{}.pdf", nav.as_str()));
    }
    // Left out: another service, a draft, a paid position.
    position(
        &app,
        "RSSMRA80A01H501U",
        1500,
        PositionStatus::Valid,
        Some("asilo_nido"),
        None,
    )
    .await;
    position(
        &app,
        "RSSMRA80A01H501U",
        1500,
        PositionStatus::Draft,
        Some("multe"),
        None,
    )
    .await;
    position(
        &app,
        "RSSMRA80A01H501U",
        1500,
        PositionStatus::Paid,
        Some("multe"),
        None,
    )
    .await;
    let store = app.state.store();
    let ente = app.state.ente();
    assert_eq!(
        store
            .count_service_positions(ente.id, "multe")
            .await
            .unwrap(),
        5
    );
    let page = store
        .service_positions_after(ente.id, "multe", 0, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = store
        .service_positions_after(ente.id, "multe", page[1].id, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert!(
        rest.iter()
            .all(|p| p.id > page[1].id && p.options.len() == 1)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("avvisi.zip")).unwrap();
    let mut seen = 0;
    let (report, _) =
        sportello::pdf::bulk::write_notices_zip(store, ente, &fonts(), "multe", file, |n| seen = n)
            .await
            .unwrap();
    assert_eq!((report.written, report.skipped.len(), seen), (5, 0, 5));
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(dir.path().join("avvisi.zip")).unwrap()).unwrap();
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    // Every entry is a whole PDF.
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        assert!(bytes.starts_with(b"%PDF-1.7") && bytes.trim_ascii_end().ends_with(b"%%EOF"));
    }
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    app.stop().await;
}

/// A successful receipt for `nav` with `debtor_cf` as debtor; returns its row id.
async fn receipt_row(
    app: &TestApp,
    receipt_id: &str,
    nav: &NoticeNumber,
    debtor_cf: &str,
    cents: i64,
) -> i64 {
    let store = app.state.store();
    let ente = app.state.ente();
    let option = store
        .option_by_nav(ente.id, nav.as_str(), 0)
        .await
        .unwrap()
        .unwrap();
    let mut tx = store.db().begin().await.unwrap();
    let pk = Store::insert_receipt_in(
        &mut tx,
        ente.id,
        &sportello::store::receipts::NewReceipt {
            receipt_id: receipt_id.into(),
            payment_option_id: Some(option.option_id),
            notice_number: nav.as_str().into(),
            iuv: nav.iuv().as_str().into(),
            outcome: "OK".into(),
            amount: cents,
            description: format!("Sanzione pagata {receipt_id}"),
            company_name: ente.name.clone(),
            debtor_type: "F".into(),
            debtor_fiscal_code: debtor_cf.into(),
            debtor_name: "Luca Verdi".into(),
            id_psp: "BCITITMM".into(),
            psp_company_name: "Intesa Sanpaolo S.p.A.".into(),
            id_channel: "00799960158_01".into(),
            payment_date_time: ts("2026-01-15T09:30:00Z"),
            refund_required: false,
            raw_xml: "<receipt/>".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    pk
}

async fn citizen_prints_their_receipts_one_per_page(app: TestApp) {
    let (client, _id, cf) = citizen(&app, 2).await;
    let ente_cf = app.state.ente().fiscal_code.clone();
    let first = position(&app, &cf, 2550, PositionStatus::Paid, Some("multe"), None).await;
    let second = position(&app, &cf, 990, PositionStatus::Paid, None, None).await;
    let other = position(
        &app,
        "BNCGLI85M41G337L",
        700,
        PositionStatus::Paid,
        None,
        None,
    )
    .await;
    let pk = receipt_row(&app, "R-ONE", &first, &cf, 2550).await;
    receipt_row(&app, "R-TWO", &second, &cf, 990).await;
    receipt_row(&app, "R-OTHER", &other, "BNCGLI85M41G337L", 700).await;
    let iban = app.state.ente().iban.clone();
    sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query(
            "INSERT INTO receipt_transfers (receipt_pk, id_transfer, amount, fiscal_code_pa, iban, remittance_information, category)
             VALUES ($1, 1, 2550, $2, $3, 'Sanzione art. 7', '9/0101101IM/')",
        )
        .bind(pk)
        .bind(&ente_cf)
        .bind(&iban)
        .execute(pool)
        .await
        .unwrap();
    });
    let get = |q: &str| {
        client
            .get(format!("{}/pagamenti/ricevute.pdf{q}", app.base))
            .send()
    };
    let r = get("?id=R-TWO&id=R-ONE").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let (_dir, path) = save(&r.bytes().await.unwrap());
    let pages = pages_text(&path);
    assert_eq!(pages.len(), 2);
    // 09:30 UTC in January is 10:30 in Rome (CET).
    assert_has(
        &pages[0],
        &[
            "R-TWO",
            "9,90 €",
            "15/01/2026 10:30",
            &second.grouped(),
            &cf,
        ],
    );
    assert_has(
        &pages[1],
        &[
            "R-ONE",
            "25,50 €",
            &first.grouped(),
            &iban,
            "Sanzione art. 7",
            "Versamento 1",
        ],
    );
    let pngs = rasterise(&path);
    assert_eq!(
        qr_codes(&pngs[0]),
        [format!("PAGOPA|002|{}|{ente_cf}|990", second.as_str())]
    );
    assert_eq!(
        qr_codes(&pngs[1]),
        [format!("PAGOPA|002|{}|{ente_cf}|2550", first.as_str())]
    );
    // Someone else's among them, unknown, or none asked: 404, nothing printed.
    for q in ["?id=R-ONE&id=R-OTHER", "?id=R-NONE", "", "?id="] {
        assert_eq!(get(q).await.unwrap().status(), 404, "{q}");
    }
    app.stop().await;
}

macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::spawn(super::TestDb::sqlite()).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$scenario(super::spawn(db).await).await;
                }
            )*
        }
    };
}

on_both_databases!(
    citizen_downloads_only_their_own_notices,
    the_api_serves_the_notice_behind_the_key,
    bulk_zip_holds_one_notice_per_printable_position_of_the_service,
    citizen_prints_their_receipts_one_per_page,
);
