//! The back office's reconciliation pages against the real app and its sandbox, on SQLite and
//! PostgreSQL: pay at the sandbox's PSP, publish flows with a fault, "Sincronizza ora", see the
//! flow, its lines and anomalies, resolve one with a note, upload the sandbox bank's camt.053
//! as a file and see the flow *riversato*, export CSV and XLSX; the receipt's page shows its
//! whole path. And the upload's refusals: no CSRF token, a file too big, bad XML, an unknown
//! format — each in Italian, with nothing imported.

mod common;

use std::io::Read;

use common::office::operator_browser;
use common::{TestApp, TestDb, csrf_of, publish_position};
use sportello::backoffice::Role;
use sportello::recon::views::{self, AnomalyFilter, FlowFilter};

const EC: &str = "00229080338";

fn sandbox(app: &TestApp) -> String {
    app.sandbox.clone().expect("the demo runs its sandbox")
}

/// Pays a new position of `cents` at the sandbox's PSP counter; returns (notice, receipt id).
async fn pay(app: &TestApp, iupd: &str, cents: i64) -> (String, String) {
    let nav = publish_position(&app.client, &app.base, iupd, cents).await;
    let page = app
        .client
        .post(format!("{}/psp", sandbox(app)))
        .form(&[
            ("azione", "paga"),
            ("codice", nav.as_str()),
            ("ente", EC),
            ("importo", &cents.to_string()),
            ("psp", "BCITITMM"),
            ("consegna", "normale"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("<code>").unwrap_or_else(|| panic!("{page}")) + 6;
    (nav, page[at..at + page[at..].find('<').unwrap()].to_owned())
}

const BOUNDARY: &str = "----sportello-test-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as a browser sends it: the CSRF token (when given), then the
/// file in the field `estratto`.
fn multipart(csrf: Option<&str>, file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(token) = csrf {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"estratto\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Uploads a statement from the Tesoreria page's form (its CSRF token, unless `with_csrf` is
/// false).
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    file_name: &str,
    bytes: &[u8],
    with_csrf: bool,
) -> reqwest::Response {
    let (status, html) = app.page(client, "/ufficio/tesoreria").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("enctype=\"multipart/form-data\"") && html.contains("type=\"file\""),
        "the page has a file upload: {html}"
    );
    let token = csrf_of(&html);
    client
        .post(format!("{}/ufficio/tesoreria/estratto", app.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(
            with_csrf.then_some(token.as_str()),
            file_name,
            bytes,
        ))
        .send()
        .await
        .unwrap()
}

/// The text of an XLSX export's sheet.
async fn xlsx_sheet(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let r = client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    sheet
}

async fn credits_count(app: &TestApp) -> usize {
    views::list_credits(app.state.store(), app.state.ente().id, false)
        .await
        .unwrap()
        .len()
}

async fn staff_reconcile_flows_anomalies_and_the_treasury(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ente = app.state.ente().id;
    let (nav, receipt) = pay(&app, "UFR-1", 1234).await;
    pay(&app, "UFR-2", 766).await;
    let r = app
        .client
        .post(format!("{}/fdr/pubblica", sandbox(&app)))
        .form(&[("importo", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let admin = operator_browser(&app, "ragioneria", Role::Admin, &[], false).await;
    let r = app
        .submit(
            &admin,
            "/ufficio/rendicontazione",
            "/ufficio/rendicontazione/sincronizza",
            &[],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let flows = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert_eq!(flows.len(), 1);
    let flow = &flows[0];
    let (status, list) = app.page(&admin, "/ufficio/rendicontazione").await;
    assert_eq!(status, 200);
    assert!(list.contains(&flow.fdr), "{list}");
    assert!(list.contains(&format!("/ufficio/rendicontazione/{}", flow.id)));
    assert!(list.contains("formaction=\"/ufficio/rendicontazione.xlsx\""));

    // The flow: its lines matched to the receipts, the anomaly, no credit yet.
    let detail_path = format!("/ufficio/rendicontazione/{}", flow.id);
    let (status, detail) = app.page(&admin, &detail_path).await;
    assert_eq!(status, 200);
    assert!(detail.contains(&receipt), "{detail}");
    assert!(detail.contains("Importo diverso"), "{detail}");
    assert!(detail.contains("Nessun accredito in tesoreria"));
    assert!(detail.contains(&format!("{detail_path}/righe.xlsx")));

    // The anomalies: listed, resolved with a note (a note is mandatory), audited.
    let open = views::list_anomalies(
        app.state.store(),
        ente,
        &AnomalyFilter {
            open_only: true,
            ..AnomalyFilter::default()
        },
    )
    .await
    .unwrap();
    let anomaly = open.first().expect("an anomaly");
    let (_, page) = app.page(&admin, "/ufficio/riconciliazione/anomalie").await;
    assert!(page.contains("Importo diverso"), "{page}");
    let id = anomaly.id.to_string();
    let refused = app
        .submit(
            &admin,
            "/ufficio/riconciliazione/anomalie",
            "/ufficio/riconciliazione/anomalie/risolvi",
            &[("id", &id), ("nota", "  ")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let r = app
        .submit(
            &admin,
            "/ufficio/riconciliazione/anomalie",
            "/ufficio/riconciliazione/anomalie/risolvi",
            &[("id", &id), ("nota", "Centesimo restituito dal PSP")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app
        .page(&admin, "/ufficio/riconciliazione/anomalie?tutte=si")
        .await;
    assert!(
        page.contains("Risolta: Centesimo restituito dal PSP"),
        "{page}"
    );
    let csv = app
        .page(&admin, "/ufficio/riconciliazione/anomalie.csv?tutte=si")
        .await
        .1;
    assert!(csv.contains("Centesimo restituito dal PSP"), "{csv}");
    assert!(csv.contains("amount_mismatch"), "{csv}");
    let sheet = xlsx_sheet(
        &app,
        &admin,
        "/ufficio/riconciliazione/anomalie.xlsx?tutte=si",
    )
    .await;
    assert!(sheet.contains("Centesimo restituito dal PSP"), "{sheet}");
    // The filters travel to the export: only open ones, and this one is closed.
    let sheet = xlsx_sheet(&app, &admin, "/ufficio/riconciliazione/anomalie.xlsx").await;
    assert!(!sheet.contains("Centesimo restituito dal PSP"), "{sheet}");

    // The treasury: the sandbox bank's camt.053, uploaded as a file, marks the flow riversato.
    let xml = app
        .client
        .get(format!("{}/tesoreria/camt053", sandbox(&app)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = upload(&app, &admin, "camt053.xml", &xml, true).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = app.page(&admin, &location).await;
    assert!(
        page.contains("Estratto importato: 1 accrediti nuovi"),
        "{page}"
    );
    assert!(page.contains(&flow.fdr), "{page}");
    let (_, detail) = app.page(&admin, &detail_path).await;
    assert!(detail.contains("Accredito in tesoreria"), "{detail}");
    assert!(detail.contains("camt053.xml"), "{detail}");

    // The same file again: nothing new, and the page says so.
    let r = upload(&app, &admin, "camt053.xml", &xml, true).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = app.page(&admin, &location).await;
    assert!(
        page.contains("Estratto già importato: nessun accredito nuovo, 1 già presenti"),
        "{page}"
    );
    assert_eq!(credits_count(&app).await, 1);

    // Exports, CSV and XLSX, from the same rows.
    let csv = app.page(&admin, "/ufficio/rendicontazione.csv").await.1;
    let row = csv
        .lines()
        .find(|l| l.contains(&flow.fdr))
        .expect("flow row");
    // Riversato, with the credit's date.
    assert_eq!(row.split(';').nth(14), Some("Sì"), "{row}");
    let sheet = xlsx_sheet(&app, &admin, "/ufficio/rendicontazione.xlsx").await;
    assert!(sheet.contains(&flow.fdr), "{sheet}");
    assert!(
        sheet.contains("s=\"1\"><v>"),
        "amounts are numbers: {sheet}"
    );
    let csv = app.page(&admin, "/ufficio/tesoreria.csv").await.1;
    assert!(csv.contains(&flow.fdr), "{csv}");
    let sheet = xlsx_sheet(&app, &admin, "/ufficio/tesoreria.xlsx").await;
    assert!(sheet.contains(&flow.fdr), "{sheet}");
    let csv = app
        .page(&admin, &format!("{detail_path}/righe.csv"))
        .await
        .1;
    assert!(csv.contains(&receipt), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 2, "header and two lines: {csv}");
    let sheet = xlsx_sheet(&app, &admin, &format!("{detail_path}/righe.xlsx")).await;
    assert!(sheet.contains(&receipt), "{sheet}");

    // Each receipt's state, and the receipt's whole path on its page.
    let (_, page) = app.page(&admin, "/ufficio/riconciliazione/ricevute").await;
    assert!(page.contains(&receipt), "{page}");
    let csv = app
        .page(&admin, "/ufficio/riconciliazione/ricevute.csv")
        .await
        .1;
    assert!(csv.contains(&receipt));
    let sheet = xlsx_sheet(&app, &admin, "/ufficio/riconciliazione/ricevute.xlsx").await;
    assert!(sheet.contains(&receipt), "{sheet}");
    let pk = views::receipt_path(app.state.store(), ente, &receipt)
        .await
        .unwrap()
        .unwrap()
        .receipt
        .id;
    let (_, page) = app.page(&admin, &format!("/ufficio/ricevute/{pk}")).await;
    assert!(page.contains("Percorso: avviso"), "{page}");
    assert!(page.contains(&flow.fdr));
    assert!(page.contains("Accredito in tesoreria"), "{page}");
    // …and on its position's page, the whole path: notice → receipt → flow line → credit.
    let position = app
        .state
        .store()
        .notice_option(ente, &nav)
        .await
        .unwrap()
        .unwrap()
        .position
        .id;
    let (_, page) = app
        .page(&admin, &format!("/ufficio/posizioni/{position}"))
        .await;
    assert!(
        page.contains(&format!("Percorso della ricevuta {receipt}")),
        "{page}"
    );
    assert!(page.contains(&nav) && page.contains(&flow.fdr), "{page}");
    assert!(page.contains("Accredito in tesoreria"), "{page}");

    // An operator sees neither the pages, nor the exports, nor the upload.
    let clerk = operator_browser(&app, "vigile", Role::Operator, &["multe"], false).await;
    let (status, _) = app.page(&clerk, "/ufficio/rendicontazione").await;
    assert_eq!(status, 403);
    let (status, _) = app.page(&clerk, "/ufficio/tesoreria.xlsx").await;
    assert_eq!(status, 403);
    app.stop().await;
}

async fn the_upload_refuses_bad_files_whole_and_in_italian(db: TestDb) {
    let app = TestApp::spawn_with(db, &[("SPORTELLO_TREASURY_MAX_UPLOAD_BYTES", "4096")]).await;
    let admin = operator_browser(&app, "ragioneria", Role::Admin, &[], false).await;
    let csv = "data_contabile;importo;causale;riferimento\n\
               30/11/2026;10,00;/PUR/LGPE-RIVERSAMENTO/URI/2026-11-30BCITITMM-0001;R1\n";

    // No CSRF token in the multipart form: refused before the file is read.
    let r = upload(&app, &admin, "estratto.csv", csv.as_bytes(), false).await;
    assert_eq!(r.status(), 403);
    assert_eq!(credits_count(&app).await, 0);

    // Over treasury.max_upload_bytes: 413, in Italian, naming the limit.
    let big = format!("{csv}{}", "x".repeat(5000));
    let r = upload(&app, &admin, "estratto.csv", big.as_bytes(), true).await;
    assert_eq!(r.status(), 413);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("File troppo grande") && page.contains("4 kB"),
        "{page}"
    );
    assert_eq!(credits_count(&app).await, 0);

    // The same file sent without a length (chunked, as a streaming client does): cut at the
    // bound, the same page.
    let (_, html) = app.page(&admin, "/ufficio/tesoreria").await;
    let form = multipart(Some(&csrf_of(&html)), "estratto.csv", big.as_bytes());
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        form.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    let r = admin
        .post(format!("{}/ufficio/tesoreria/estratto", app.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("File troppo grande") && page.contains("4 kB"),
        "{page}"
    );
    assert_eq!(credits_count(&app).await, 0);

    // Bad XML: refused whole, naming the line.
    let xml = "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n<Stmt><Id>1</Stmt>\n</BkToCstmrStmt></Document>\n";
    let r = upload(&app, &admin, "camt053.xml", xml.as_bytes(), true).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("estratto conto camt.053 non valido: riga 4"),
        "{page}"
    );

    // A file of another kind, and a file named .xml that is not XML.
    let r = upload(&app, &admin, "foto.png", b"\x89PNG\r\n\x1a\n\0\0", true).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("formato non riconosciuto"));
    let r = upload(&app, &admin, "estratto.xml", csv.as_bytes(), true).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("non è un documento XML"));

    // A CSV whose second row is wrong: nothing of the first row is stored.
    let half = format!("{csv}01/12/2026;dieci;altro;R2\n");
    let r = upload(&app, &admin, "estratto.csv", half.as_bytes(), true).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("riga 3"));
    assert_eq!(credits_count(&app).await, 0, "nothing half-imported");

    // No file chosen.
    let r = upload(&app, &admin, "", b"", true).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Scegli il file dell"));

    // The good CSV, at last: one credit, waiting for its flow.
    let r = upload(&app, &admin, "estratto.csv", csv.as_bytes(), true).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(credits_count(&app).await, 1);
    let (_, page) = app.page(&admin, "/ufficio/tesoreria?senza_flusso=si").await;
    assert!(page.contains("2026-11-30BCITITMM-0001"), "{page}");
    app.stop().await;
}

both_databases!(
    staff_reconcile_flows_anomalies_and_the_treasury,
    the_upload_refuses_bad_files_whole_and_in_italian,
);
