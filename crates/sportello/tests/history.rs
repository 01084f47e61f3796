//! "Storico pagamenti" over HTTP: who sees which payment, filters, totals, keyset pages, CSV.

mod common;

use common::{TestApp, TestDb, csrf_of};
use pagopa::{NoticeNumber, PersonalFiscalCode, SegregationCode};
use sportello::clock::Timestamp;
use sportello::with_db;

async fn citizen(app: &TestApp, n: usize) -> (reqwest::Client, i64, String) {
    let first15 = format!("VRDGNN60E{:02}F205", n + 10);
    let cf = format!(
        "{first15}{}",
        PersonalFiscalCode::check_char_for(&first15).unwrap()
    );
    let (client, id) =
        common::citizen(app, &format!("storico{n}"), &cf, ("Gianni", "Verdi"), true).await;
    (client, id, cf)
}

/// A receipt as the station stores it (raw row, so this test does not depend on the station).
#[allow(clippy::too_many_arguments)]
async fn receipt(
    app: &TestApp,
    n: i64,
    payer: Option<i64>,
    debtor: &str,
    cents: i64,
    paid: &str,
    causale: &str,
    psp: &str,
) -> i64 {
    let ente = app.state.ente().id;
    let paid = Timestamp::parse(paid).unwrap();
    let nav = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), n as u64).unwrap();
    let iuv = nav.iuv().as_str().to_owned();
    with_db!(app.state.store().db(), |pool| {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO receipts (ente_id, receipt_id, notice_number, iuv, outcome, amount, description, company_name, debtor_type, debtor_fiscal_code, debtor_name, payer_account_id, id_psp, psp_company_name, id_channel, payment_date_time, raw_xml, received_at)
             VALUES ($1, $2, $3, $4, 'OK', $5, $6, 'Comune di Piacenza', 'F', $7, 'Debitore', $8, 'PSP01', $9, 'PSP01_01', $10, '<r/>', $10) RETURNING id",
        )
        .bind(ente)
        .bind(format!("rcpt-{n}"))
        .bind(nav.as_str())
        .bind(&iuv)
        .bind(cents)
        .bind(causale)
        .bind(debtor)
        .bind(payer)
        .bind(psp)
        .bind(paid)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO receipt_transfers (receipt_pk, id_transfer, amount, fiscal_code_pa, iban, remittance_information, category) VALUES ($1, 1, $2, '00229080338', 'IT60X0542811101000000123456', 'quota', '9/0101108TS/')")
            .bind(id)
            .bind(cents)
            .execute(pool)
            .await
            .unwrap();
        id
    })
}

fn rows_of(page: &str) -> Vec<String> {
    page.split("name=\"sel\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

async fn visibility_filters_totals_and_paging(app: TestApp) {
    let (me, my_id, my_cf) = citizen(&app, 1).await;
    let (other, other_id, _) = citizen(&app, 2).await;
    // Mine as payer (on the portal), mine as debtor paid at a PSP, mine as debtor paid by another
    // registered citizen (belongs to them), and someone else's.
    let paid_by_me = receipt(
        &app,
        1,
        Some(my_id),
        "RSSMRA80A01H501U",
        100,
        "2018-04-05T08:00:00Z",
        "Testo di test: richiesta sul modello 3",
        "Paytipper S.p.A.",
    )
    .await;
    let at_psp = receipt(
        &app,
        2,
        None,
        &my_cf,
        10,
        "2018-03-05T08:00:00Z",
        "pagamento di test",
        "Intesa Sanpaolo S.p.A.",
    )
    .await;
    let paid_for_me = receipt(
        &app,
        3,
        Some(other_id),
        &my_cf,
        999,
        "2018-03-06T08:00:00Z",
        "pagato da altri",
        "Poste Italiane",
    )
    .await;
    let strangers = receipt(
        &app,
        4,
        None,
        "RSSMRA80A01H501U",
        555,
        "2018-03-07T08:00:00Z",
        "di altri",
        "Poste Italiane",
    )
    .await;

    let (status, page) = app.page(&me, "/pagamenti/storico").await;
    assert_eq!(status, 200);
    assert!(page.contains("Storico pagamenti effettuati con esito positivo"));
    for column in [
        "Causale",
        "Data",
        "Importo",
        "Dovuto",
        "IUUV",
        "PSP",
        "Azioni",
        "Visualizza Filtri di Ricerca",
    ] {
        assert!(page.contains(column), "missing {column}");
    }
    assert_eq!(
        rows_of(&page),
        vec![paid_by_me.to_string(), at_psp.to_string()]
    );
    assert!(
        page.contains("05/04/2018") && page.contains("1,00 €") && page.contains("Paytipper S.p.A.")
    );

    // The other citizen sees what they paid for me, not my PSP payment.
    let (_, theirs) = app.page(&other, "/pagamenti/storico").await;
    assert_eq!(rows_of(&theirs), vec![paid_for_me.to_string()]);
    // Someone else's receipt is a 404, like a missing one.
    assert_eq!(
        app.page(&me, &format!("/pagamenti/storico/{paid_for_me}"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.page(&me, &format!("/pagamenti/storico/{strangers}"))
            .await
            .0,
        404
    );
    assert_eq!(app.page(&me, "/pagamenti/storico/999999").await.0, 404);

    // Selecting two rows: the server computes the manual's line.
    let (_, page) = app
        .page(
            &me,
            &format!("/pagamenti/storico?sel={paid_by_me}&sel={at_psp}&sel={strangers}"),
        )
        .await;
    assert!(page.contains("Pagamenti Selezionati: <span id=\"n-selezionati\">2</span> | Totale importi: <span id=\"totale-importi\">1,10 €</span>"), "someone else's id is ignored");

    // Filters.
    let only = |q: &str| {
        let me = &me;
        let app = &app;
        let q = q.to_owned();
        async move { rows_of(&app.page(me, &format!("/pagamenti/storico?{q}")).await.1) }
    };
    assert_eq!(
        only("da=01%2F04%2F2018").await,
        vec![paid_by_me.to_string()]
    );
    assert_eq!(only("a=05%2F03%2F2018").await, vec![at_psp.to_string()]);
    assert_eq!(only("causale=MODELLO").await, vec![paid_by_me.to_string()]);
    assert_eq!(
        only("causale=%25").await,
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    let iuv2 = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), 2).unwrap();
    assert_eq!(
        only(&format!("codice={}", iuv2.iuv().as_str())).await,
        vec![at_psp.to_string()]
    );
    assert_eq!(
        only(&format!("codice={}", iuv2.grouped().replace(' ', "+"))).await,
        vec![at_psp.to_string()]
    );
    assert_eq!(
        only("importo_min=0%2C50").await,
        vec![paid_by_me.to_string()]
    );
    assert_eq!(only("importo_max=0%2C50").await, vec![at_psp.to_string()]);
    let (_, bad) = app.page(&me, "/pagamenti/storico?da=31%2F02%2F2018").await;
    assert!(bad.contains("La data non esiste nel calendario"));

    // Detail: everything in the receipt.
    let (status, detail) = app
        .page(&me, &format!("/pagamenti/storico/{paid_by_me}"))
        .await;
    assert_eq!(status, 200);
    let nav1 = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), 1)
        .unwrap()
        .grouped();
    for text in [
        "rcpt-1",
        nav1.as_str(),
        "Testo di test: richiesta sul modello 3",
        "Paytipper S.p.A.",
        "PSP01_01",
        "05/04/2018 10:00",
        "1,00 €",
        "IT60X0542811101000000123456",
        "Torna indietro",
    ] {
        assert!(detail.contains(text), "detail lacks {text}");
    }

    // CSV of the selection, safe for Excel.
    let csv = me
        .get(format!(
            "{}/pagamenti/storico.csv?sel={paid_by_me}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("\u{feff}Causale;Data;Importo;"), "{body}");
    assert_eq!(body.lines().count(), 2);
    assert!(body.contains("Testo di test: richiesta sul modello 3;05/04/2018 10:00;1,00;"));
    let all = me
        .get(format!("{}/pagamenti/storico.csv", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        all.lines().count(),
        3,
        "all filtered rows when nothing is selected"
    );
    let _ = csrf_of; // forms of this page are GET: nothing changes state

    // "Stampa la ricevuta": from the detail, and for the selected rows (one PDF, a page each).
    assert!(
        detail.contains("href=\"/pagamenti/ricevute.pdf?id=rcpt-1\""),
        "{detail}"
    );
    let r = me
        .get(format!(
            "{}/pagamenti/storico/stampa?sel={paid_by_me}&sel={at_psp}&sel={strangers}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/pagamenti/ricevute.pdf?id=rcpt-1&id=rcpt-2",
        "someone else's row is dropped"
    );
    let pdf = me
        .get(format!(
            "{}/pagamenti/ricevute.pdf?id=rcpt-1&id=rcpt-2",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
}

async fn keyset_pages_at_their_boundaries(app: TestApp) {
    let (me, my_id, _) = citizen(&app, 3).await;
    // 25 payments, two of them at the same instant (the id breaks the tie).
    let mut ids = Vec::new();
    for i in 0..25 {
        let minute = if i == 11 { 10 } else { i };
        ids.push(
            receipt(
                &app,
                100 + i,
                Some(my_id),
                "RSSMRA80A01H501U",
                100 + i,
                &format!("2026-01-01T10:{minute:02}:00Z"),
                &format!("p{i}"),
                "PSP",
            )
            .await,
        );
    }
    let newest_first: Vec<String> = {
        let mut v: Vec<(i64, String, i64)> = (0..25)
            .map(|i| {
                (
                    if i == 11 { 10 } else { i },
                    ids[i as usize].to_string(),
                    ids[i as usize],
                )
            })
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse((x.0, x.2)));
        v.into_iter().map(|x| x.1).collect()
    };
    let (_, p1) = app.page(&me, "/pagamenti/storico?dim=10").await;
    assert_eq!(rows_of(&p1), newest_first[0..10]);
    let next = p1
        .split("href=\"")
        .find(|s| s.contains("dopo="))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let (_, p2) = app.page(&me, &next).await;
    assert_eq!(
        rows_of(&p2),
        newest_first[10..20],
        "the tie at 10:10 is split correctly"
    );
    let next = p2
        .split("href=\"")
        .find(|s| s.contains("dopo="))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let (_, p3) = app.page(&me, &next).await;
    assert_eq!(rows_of(&p3), newest_first[20..25]);
    assert!(!p3.contains("dopo="), "no next page after the last");
    let prev = p3
        .split("href=\"")
        .find(|s| s.contains("prima="))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let (_, back) = app.page(&me, &prev).await;
    assert_eq!(rows_of(&back), newest_first[10..20]);
    let (_, last) = app.page(&me, "/pagamenti/storico?dim=10&ultima=1").await;
    // ">>" is the oldest page of `dim` rows (keyset paging has no page numbers to count).
    assert_eq!(rows_of(&last), newest_first[15..25]);
    let (_, p50) = app.page(&me, "/pagamenti/storico?dim=50").await;
    assert_eq!(rows_of(&p50).len(), 25);
}

/// The app with the fonts of the npm package (the receipt PDF embeds Titillium Web).
async fn spawn(db: TestDb) -> TestApp {
    let assets = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../node_modules/bootstrap-italia/dist"
    );
    TestApp::spawn_with(db, &[("SPORTELLO_ASSETS_DIR", assets)]).await
}

#[tokio::test]
async fn history_on_sqlite() {
    visibility_filters_totals_and_paging(spawn(TestDb::sqlite()).await).await;
    keyset_pages_at_their_boundaries(TestApp::spawn(TestDb::sqlite()).await).await;
}

#[tokio::test]
async fn history_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    visibility_filters_totals_and_paging(spawn(db).await).await;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    keyset_pages_at_their_boundaries(TestApp::spawn(db).await).await;
}
