//! End to end over HTTP: the citizen's cart goes to Checkout (the sandbox), is paid there, the
//! sandbox acts as the node towards Sportello's station, and the citizen comes back to a paid
//! cart. Also the PSP counter (modello 3), the fault-injecting test cards and Checkout's errors.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, TestDb, browser};
use pagopa::{Cents, NoticeNumber, PersonalFiscalCode, SegregationCode};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};

const OK_CARD: &str = "4242 4242 4242 4242";

async fn citizen(app: &TestApp, n: usize) -> (reqwest::Client, String, String) {
    let first15 = format!("VRDGNN80A{:02}G535", n + 41);
    let cf = format!(
        "{first15}{}",
        PersonalFiscalCode::check_char_for(&first15).unwrap()
    );
    let email = format!("pagatore{n}@example.it");
    let (client, _) = common::citizen(
        app,
        &format!("pagatore{n}"),
        &cf,
        ("Giovanni", "Verdi"),
        true,
    )
    .await;
    (client, cf, email)
}

async fn position_for(app: &TestApp, debtor: &str, cents: i64) -> NoticeNumber {
    let store = app.state.store();
    let ente = app.state.ente();
    let base = store.mint_iuv_base(ente.id).await.unwrap();
    let nav = NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), base).unwrap();
    store
        .insert_position(
            ente.id,
            &NewPosition {
                iupd: format!("SBX-{base}"),
                debtor: Debtor {
                    kind: SubjectType::F,
                    fiscal_code: debtor.into(),
                    full_name: "Giovanni Verdi".into(),
                    street_name: None,
                    civic_number: None,
                    postal_code: None,
                    city: None,
                    province: None,
                    region: None,
                    country: None,
                    email: None,
                    phone: None,
                },
                company_name: ente.name.clone(),
                office_name: None,
                validity_date: None,
                switch_to_expired: false,
                status: PositionStatus::Valid,
                options: vec![PaymentOption {
                    iuv: nav.iuv(),
                    nav: nav.clone(),
                    amount: Cents::new(cents),
                    description: format!("Canone {base}"),
                    is_partial_payment: false,
                    due_date: Timestamp::now().plus(time::Duration::days(30)),
                    retention_date: None,
                    fee: Cents::new(0),
                    status: OptionStatus::Unpaid,
                    metadata: "[]".into(),
                    transfers: vec![Transfer {
                        id_transfer: 1,
                        amount: Cents::new(cents),
                        organization_fiscal_code: ente.fiscal_code.clone(),
                        remittance_information: "Canone".into(),
                        category: "9/0101101IM/".into(),
                        destination: Destination::Iban {
                            iban: ente.iban.clone(),
                            postal_iban: None,
                        },
                        company_name: None,
                    }],
                }],
                service_id: None,
                origin: Origin::Api,
                created_by_account_id: None,
                abandon_at: None,
            },
        )
        .await
        .unwrap();
    nav
}

fn option_ids(page: &str) -> Vec<String> {
    page.split("name=\"opzione\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// Selects `n` options in the cart and proceeds: returns the sandbox's cart page URL.
async fn proceed(app: &TestApp, client: &reqwest::Client, n: usize) -> String {
    let (_, page) = app.page(client, "/pagamenti").await;
    let ids = option_ids(&page);
    assert!(ids.len() >= n, "{page}");
    let token = common::csrf_of(&page);
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    form.extend(ids.iter().take(n).map(|v| ("opzione", v.as_str())));
    let r = client
        .post(format!("{}/pagamenti/procedi", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn checkout_id(return_url: &str) -> String {
    return_url
        .split("/pagamenti/esito/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Pays on the sandbox's page with `card`: returns the response (a redirect when it went through).
async fn pay(cart_url: &str, card: &str) -> reqwest::Response {
    let sbx = browser();
    let page = sbx.get(cart_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("SANDBOX – nessun pagamento reale"), "{html}");
    assert!(html.contains("Intesa Sanpaolo S.p.A."));
    assert!(html.contains("Paytipper S.p.A."));
    assert!(html.contains("Poste Italiane"));
    // The e-mail field comes filled with Checkout's emailNotice (the account's address).
    let email = html
        .split("name=\"email\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(email.starts_with("pagatore"), "{email}");
    sbx.post(format!("{cart_url}/paga"))
        .form(&[
            ("email", email.as_str()),
            ("psp", "BCITITMM"),
            ("titolare", "Giovanni Verdi"),
            ("carta", card),
            ("scadenza", "12/30"),
            ("cvv", "123"),
        ])
        .send()
        .await
        .unwrap()
}

/// Polls the ok page (as static/attesa.js does) until it says paid.
async fn wait_paid(app: &TestApp, client: &reqwest::Client, ok_url: &str) -> String {
    let path = ok_url.strip_prefix(&app.base).unwrap();
    let started = Instant::now();
    loop {
        let (status, html) = app.page(client, path).await;
        assert_eq!(status, 200, "{html}");
        if html.contains("Pagamento eseguito") {
            return html;
        }
        assert!(
            html.contains("in attesa della ricevuta")
                && html.contains("data-aggiorna=\"3\"")
                && html.contains("<script src=\"/static/attesa.js\" defer></script>")
                && !html.contains("http-equiv=\"refresh\""),
            "{html}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no receipt: {html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn option_status(app: &TestApp, nav: &NoticeNumber) -> String {
    app.state
        .store()
        .option_by_nav(app.state.ente().id, nav.as_str(), 0)
        .await
        .unwrap()
        .unwrap()
        .option_status
        .as_str()
        .to_owned()
}

async fn messages(app: &TestApp) -> String {
    browser()
        .get(format!("{}/messages", app.sandbox.as_deref().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn pays_a_cart_of(db: TestDb, n: usize) {
    let app = TestApp::spawn(db).await;
    let (client, cf, email) = citizen(&app, n).await;
    let mut navs = Vec::new();
    for i in 0..n {
        navs.push(position_for(&app, &cf, 1000 + i as i64).await);
    }
    let cart_url = proceed(&app, &client, n).await;
    let r = pay(&cart_url, OK_CARD).await;
    assert_eq!(r.status(), 303);
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(ok_url.ends_with("/ok"), "{ok_url}");
    let html = wait_paid(&app, &client, &ok_url).await;
    assert!(html.contains("/pagamenti/storico"), "{html}");
    // Each paid notice links to its receipt in the history.
    let links: Vec<&str> = html
        .split("href=\"/pagamenti/storico/")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(links.len(), n, "{html}");
    let (status, detail) = app
        .page(&client, &format!("/pagamenti/storico/{}", links[0]))
        .await;
    assert_eq!(status, 200, "{detail}");
    let id = checkout_id(&ok_url);
    assert_eq!(
        app.state
            .store()
            .checkout_state(&id)
            .await
            .unwrap()
            .as_deref(),
        Some("paid")
    );
    for nav in &navs {
        assert_eq!(option_status(&app, nav).await, "PO_PAID");
        let receipts = app
            .state
            .store()
            .receipts_for_notice(app.state.ente().id, nav.as_str())
            .await
            .unwrap();
        assert_eq!(receipts.len(), 1, "one receipt per notice");
        assert_eq!(receipts[0].checkout_id.as_deref(), Some(id.as_str()));
    }
    // Sportello's event log has the Checkout call, the station's the SOAP messages.
    let exchanges = app.state.store().exchanges_for(&id).await.unwrap();
    let post = exchanges
        .iter()
        .find(|e| e.channel == "checkout")
        .expect("POST /carts is logged");
    assert_eq!((post.outcome.as_str(), post.http_status), ("OK", Some(302)));
    assert!(post.request.contains("\"idCart\""), "{}", post.request);
    // The outcome e-mail to the payer is queued.
    let mail = app
        .state
        .store()
        .outbox_for(Some(&email), 20)
        .await
        .unwrap();
    assert!(!mail.is_empty(), "an e-mail to the payer is queued");
    // Nothing left to pay in the cart.
    let (_, page) = app.page(&client, "/pagamenti").await;
    assert!(option_ids(&page).is_empty(), "{page}");
    // Every message is in the sandbox's log.
    let log = messages(&app).await;
    assert_eq!(log.matches("<td>paVerifyPaymentNotice<br>").count(), n);
    assert_eq!(log.matches("<td>paGetPaymentV2<br>").count(), n);
    assert_eq!(log.matches("<td>paSendRTV2<br>").count(), n);
    assert!(
        log.contains("paymentNote"),
        "the cart id travels as payment note"
    );
    // The sandbox's cart is closed now.
    let again = browser().get(&cart_url).send().await.unwrap();
    assert_eq!(again.status(), 409);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_of_one_is_paid_end_to_end() {
    pays_a_cart_of(TestDb::sqlite(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_of_two_is_paid_end_to_end() {
    pays_a_cart_of(TestDb::sqlite(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_of_two_is_paid_end_to_end_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    pays_a_cart_of(db, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_of_five_is_paid_end_to_end() {
    pays_a_cart_of(TestDb::sqlite(), 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_payment_leaves_the_cart_as_it_was() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 6).await;
    let nav = position_for(&app, &cf, 2500).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = browser()
        .post(format!("{cart_url}/annulla"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cancel = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(cancel.ends_with("/annullato"), "{cancel}");
    let r = client.get(&cancel).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/pagamenti?annullato=1");
    let (_, page) = app.page(&client, "/pagamenti?annullato=1").await;
    assert!(page.contains("Il pagamento è stato annullato"), "{page}");
    assert_eq!(option_ids(&page).len(), 1, "offered again");
    assert_eq!(option_status(&app, &nav).await, "PO_UNPAID");
    assert_eq!(
        app.state
            .store()
            .checkout_state(&checkout_id(&cancel))
            .await
            .unwrap()
            .as_deref(),
        Some("cancelled")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_pays_nothing() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 7).await;
    let nav = position_for(&app, &cf, 2500).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, "4000 0000 0000 0002").await;
    assert_eq!(r.status(), 402);
    let html = r.text().await.unwrap();
    assert!(html.contains("rifiutato il pagamento"), "{html}");
    let error_url = html
        .split("href=\"")
        .find(|s| s.contains("/errore"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let r = client.get(&error_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Pagamento non riuscito"), "{page}");
    assert_eq!(option_status(&app, &nav).await, "PO_UNPAID");
    let log = messages(&app).await;
    assert!(!log.contains("<td>paGetPaymentV2<br>"), "nothing activated");
    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert_eq!(option_ids(&cart).len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_delivered_twice_is_stored_once() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 8).await;
    let nav = position_for(&app, &cf, 4200).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, "4000 0000 0000 0259").await;
    assert_eq!(r.status(), 303);
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    wait_paid(&app, &client, &ok_url).await;
    // Both deliveries must have been answered before counting.
    let started = Instant::now();
    while messages(&app).await.matches("<td>paSendRTV2<br>").count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let receipts = app
        .state
        .store()
        .receipts_for_notice(app.state.ente().id, nav.as_str())
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1, "paSendRT is idempotent on receiptId");
    assert_eq!(option_status(&app, &nav).await, "PO_PAID");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_receipt_keeps_the_citizen_waiting_then_shows_paid() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 9).await;
    let nav = position_for(&app, &cf, 1500).await;
    position_for(&app, &cf, 900).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, "4000 0000 0000 9995").await;
    assert_eq!(r.status(), 303);
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    let (status, html) = app
        .page(&client, ok_url.strip_prefix(&app.base).unwrap())
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Pagamento in attesa della ricevuta"),
        "the return alone pays nothing: {html}"
    );
    assert_eq!(option_status(&app, &nav).await, "PO_UNPAID");
    // The cart shows it as waiting and does not offer it; the other notice stays payable.
    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert!(cart.contains("In attesa della ricevuta"), "{cart}");
    assert_eq!(option_ids(&cart).len(), 1, "{cart}");
    wait_paid(&app, &client, &ok_url).await;
    assert_eq!(option_status(&app, &nav).await, "PO_PAID");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_receipt_answer_is_retried_with_backoff() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 10).await;
    let nav = position_for(&app, &cf, 1500).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, "4000 0000 0000 0119").await;
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    wait_paid(&app, &client, &ok_url).await;
    let started = Instant::now();
    while messages(&app).await.matches("<td>paSendRTV2<br>").count() < 3 {
        // two deliveries and the note about the lost answer
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = messages(&app).await;
    assert!(log.contains("tentativo 2/4"), "{log}");
    assert!(log.contains("risposta persa"), "{log}");
    let receipts = app
        .state
        .store()
        .receipts_for_notice(app.state.ente().id, nav.as_str())
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_notice_is_paid_at_the_psp_counter() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let nav = position_for(&app, "RSSMRA80A01H501U", 12345).await;
    let ente = app.state.ente().fiscal_code.clone();
    let psp = format!("{}/psp", app.sandbox.as_deref().unwrap());
    let counter = browser();
    let form = counter
        .get(&psp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("Codice avviso"), "{form}");
    // Verified from the QR code's payload.
    let qr = format!("PAGOPA|002|{}|{ente}|12345", nav.as_str());
    let r = counter
        .post(&psp)
        .form(&[("azione", "verifica"), ("qr", qr.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("123,45 €"), "{html}");
    // Paid by notice code and the ente's fiscal code.
    let r = counter
        .post(&psp)
        .form(&[
            ("azione", "paga"),
            ("codice", nav.as_str()),
            ("ente", ente.as_str()),
            ("importo", "12345"),
            ("psp", "BPPIITRRXXX"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Pagamento eseguito"), "{html}");
    assert_eq!(option_status(&app, &nav).await, "PO_PAID");
    // A second time: the station says it is already paid, and the counter says so clearly.
    let r = counter
        .post(&psp)
        .form(&[
            ("azione", "verifica"),
            ("codice", nav.as_str()),
            ("ente", ente.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Avviso già pagato"), "{html}");
    // A wrong check digit never reaches the station.
    let r = counter
        .post(&psp)
        .form(&[
            ("azione", "verifica"),
            ("codice", "301000000000000199"),
            ("ente", ente.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_api_answers_like_pagopa() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let nav = position_for(&app, "RSSMRA80A01H501U", 500).await;
    let ente = app.state.ente().fiscal_code.clone();
    let api = format!("{}/checkout/ec/v1/carts", app.sandbox.as_deref().unwrap());
    // Notice numbers that are not the position's: its own with another last digit (the one it
    // has is random: with it, a cart of "unknown" notices would now and then hold a real one).
    let unknown: Vec<String> = ('0'..='9')
        .filter(|d| !nav.as_str().ends_with(*d))
        .map(|d| format!("{}{d}", &nav.as_str()[..17]))
        .collect();
    let notice = |i: usize| {
        serde_json::json!({
            "noticeNumber": unknown[i],
            "fiscalCode": ente, "amount": 500, "companyName": "Comune", "description": "Canone"
        })
    };
    let body = |n: usize| {
        serde_json::json!({
            "paymentNotices": (0..n).map(notice).collect::<Vec<_>>(),
            "returnUrls": {"returnOkUrl": "http://x.it/ok", "returnCancelUrl": "http://x.it/c", "returnErrorUrl": "http://x.it/e"},
            "emailNotice": "a@example.it", "idCart": "abc"
        })
    };
    let c = browser();
    let r = c.post(&api).json(&body(5)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/checkout/carts/")
    );
    let r = c.post(&api).json(&body(6)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 5"),
        "{problem}"
    );
    let r = c
        .post(&api)
        .header("content-type", "application/json")
        .body("{\"paymentNotices\": []")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An unknown notice: the cart is accepted (Checkout does not call the EC first), and its
    // page shows the station's fault clearly.
    let r = c.post(&api).json(&body(1)).send().await.unwrap();
    let page_url = r.headers()["location"].to_str().unwrap().to_owned();
    let page = c.get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 422);
    let html = page.text().await.unwrap();
    assert!(html.contains("PAA_PAGAMENTO_SCONOSCIUTO"), "{html}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_down_keeps_the_cart_and_says_so() {
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[
            (
                "SPORTELLO_CHECKOUT_URL",
                "http://127.0.0.1:9/checkout/ec/v1",
            ),
            ("SPORTELLO_CHECKOUT_TIMEOUT_SECONDS", "2"),
        ],
    )
    .await;
    let (client, cf, _) = citizen(&app, 11).await;
    position_for(&app, &cf, 700).await;
    let (_, page) = app.page(&client, "/pagamenti").await;
    let ids = option_ids(&page);
    let token = common::csrf_of(&page);
    let r = client
        .post(format!("{}/pagamenti/procedi", app.base))
        .form(&[("csrf_token", token.as_str()), ("opzione", ids[0].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Il servizio di pagamento pagoPA non risponde"),
        "{html}"
    );
    assert_eq!(option_ids(&html).len(), 1, "the cart is as it was");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_sees_a_checkout_outcome() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 12).await;
    let (other, _, _) = citizen(&app, 13).await;
    position_for(&app, &cf, 700).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, OK_CARD).await;
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    let r = other.get(&ok_url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    wait_paid(&app, &client, &ok_url).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_station_leaves_the_payment_waiting_after_the_retries() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf, _) = citizen(&app, 14).await;
    let nav = position_for(&app, &cf, 800).await;
    let cart_url = proceed(&app, &client, 1).await;
    let r = pay(&cart_url, "4000 0000 0000 0044").await;
    assert_eq!(r.status(), 303);
    let ok_url = r.headers()["location"].to_str().unwrap().to_owned();
    let started = Instant::now();
    while !messages(&app).await.contains("tentativi esauriti") {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = messages(&app).await;
    assert_eq!(log.matches("ERRORE DI RETE").count(), 4, "{log}");
    let (_, html) = app
        .page(&client, ok_url.strip_prefix(&app.base).unwrap())
        .await;
    assert!(
        html.contains("Pagamento in attesa della ricevuta"),
        "{html}"
    );
    assert_eq!(option_status(&app, &nav).await, "PO_UNPAID");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_key_is_sent_and_required() {
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_CHECKOUT_API_KEY", "checkout-key-0123456789")],
    )
    .await;
    let (client, cf, _) = citizen(&app, 15).await;
    position_for(&app, &cf, 800).await;
    // Sportello sends the key: the cart is created.
    let cart_url = proceed(&app, &client, 1).await;
    assert!(cart_url.contains("/checkout/carts/"));
    // Without it, Checkout answers 401 with a ProblemJson.
    let r = browser()
        .post(format!(
            "{}/checkout/ec/v1/carts",
            app.sandbox.as_deref().unwrap()
        ))
        .json(&serde_json::json!({"paymentNotices": [], "returnUrls": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    app.stop().await;
}
