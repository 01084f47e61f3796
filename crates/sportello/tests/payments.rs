//! "Pagamenti OnLine" over HTTP against the real app: the cart, new spontaneous payments from
//! the catalog forms, and notices paid for someone else.

mod common;

use common::{TestApp, TestDb, browser};
use pagopa::{Cents, NoticeNumber, PersonalFiscalCode, SegregationCode};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};

/// An active citizen logged in on a fresh browser.
async fn citizen(app: &TestApp, n: usize) -> (reqwest::Client, String) {
    let first15 = format!("BNCLRA75D{:02}G535", n + 40);
    let cf = format!(
        "{first15}{}",
        PersonalFiscalCode::check_char_for(&first15).unwrap()
    );
    let (client, _) = common::citizen(
        app,
        &format!("cittadino{n}"),
        &cf,
        ("Laura", "Bianchi"),
        true,
    )
    .await;
    (client, cf)
}

/// A position of the municipality for `debtor`, as the GPD API or the import would create it.
async fn position_for(
    app: &TestApp,
    debtor: &str,
    name: &str,
    cents: i64,
    status: PositionStatus,
    due_in_days: i64,
    service_code: Option<&str>,
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
    store
        .insert_position(
            ente.id,
            &NewPosition {
                iupd: format!("TEST-{base}"),
                debtor: Debtor {
                    kind: SubjectType::F,
                    fiscal_code: debtor.into(),
                    full_name: name.into(),
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
                switch_to_expired: true,
                status,
                options: vec![PaymentOption {
                    iuv: nav.iuv(),
                    nav: nav.clone(),
                    amount: Cents::new(cents),
                    description: format!("TARI 2026 rata {base}"),
                    is_partial_payment: false,
                    due_date: Timestamp::now().plus(time::Duration::days(due_in_days)),
                    retention_date: None,
                    fee: Cents::new(0),
                    status: OptionStatus::Unpaid,
                    metadata: "[]".into(),
                    transfers: vec![Transfer {
                        id_transfer: 1,
                        amount: Cents::new(cents),
                        organization_fiscal_code: ente.fiscal_code.clone(),
                        remittance_information: "TARI".into(),
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
                created_by_account_id: None,
                abandon_at: None,
            },
        )
        .await
        .unwrap();
    nav
}

#[tokio::test]
async fn an_empty_cart_says_so_and_offers_the_manual_buttons() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, _) = citizen(&app, 1).await;
    let (status, page) = app.page(&client, "/pagamenti").await;
    assert_eq!(status, 200);
    assert!(page.contains("Carrello vuoto."));
    assert!(page.contains("Non sono presenti pagamenti in sospeso nel carrello"));
    for button in [
        "Nuovo Pagamento",
        "Pagamento per altri da Avviso",
        "Storico pagamenti",
        "Torna ai servizi",
    ] {
        assert!(page.contains(button), "missing {button}");
    }
    let r = browser()
        .get(format!("{}/pagamenti", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "only for logged-in citizens");
    app.stop().await;
}

#[tokio::test]
async fn the_cart_lists_what_the_municipality_created_for_my_fiscal_code_and_caps_at_five() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf) = citizen(&app, 2).await;
    let mut navs = Vec::new();
    for i in 0..6 {
        navs.push(
            position_for(
                &app,
                &cf,
                "Laura Bianchi",
                1000 + i,
                PositionStatus::Valid,
                10 + i,
                None,
            )
            .await,
        );
    }
    // Not mine, not payable: not listed.
    position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        500,
        PositionStatus::Valid,
        10,
        None,
    )
    .await;
    position_for(
        &app,
        &cf,
        "Laura Bianchi",
        500,
        PositionStatus::Draft,
        10,
        None,
    )
    .await;
    position_for(
        &app,
        &cf,
        "Laura Bianchi",
        500,
        PositionStatus::Invalid,
        10,
        None,
    )
    .await;
    let (_, page) = app.page(&client, "/pagamenti").await;
    assert_eq!(page.matches("name=\"opzione\"").count(), 6, "{page}");
    assert!(page.contains(&navs[0].grouped()));
    assert!(page.contains("10,00 €"));
    assert!(page.contains("Totale dei pagamenti in sospeso: 60,15 €"));

    let ids: Vec<String> = page
        .split("name=\"opzione\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    let (_, html) = app.page(&client, "/pagamenti").await;
    let token = common::csrf_of(&html);
    let post = |chosen: Vec<&String>| {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend(chosen.into_iter().map(|v| ("opzione", v.as_str())));
        client
            .post(format!("{}/pagamenti/procedi", app.base))
            .form(&form)
            .send()
    };
    let six = post(ids.iter().collect()).await.unwrap();
    assert_eq!(six.status(), 422);
    let body = six.text().await.unwrap();
    assert!(
        body.contains(
            "Puoi pagare al massimo 5 posizioni in una sola transazione: ne hai selezionate 6"
        ),
        "{body}"
    );
    assert_eq!(
        body.matches(" checked").count(),
        6,
        "the selection is kept so the citizen can fix it"
    );
    let none = post(vec![]).await.unwrap();
    assert_eq!(none.status(), 422);
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("Seleziona almeno un pagamento")
    );
    let two = post(ids.iter().take(2).collect()).await.unwrap();
    assert_eq!(two.status(), 303, "off to pagoPA Checkout");
    let location = two.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(app.sandbox.as_deref().unwrap())
            && location.contains("/checkout/carts/"),
        "{location}"
    );
    // Nothing was marked paid.
    let (_, page) = app.page(&client, "/pagamenti").await;
    assert_eq!(page.matches("name=\"opzione\"").count(), 6);
    // Someone else's option id cannot be smuggled in.
    let other = app
        .state
        .store()
        .option_by_nav(app.state.ente().id, &navs[0].as_str().replace('x', ""), 0)
        .await
        .unwrap()
        .unwrap();
    let foreign = (other.option_id + 1000).to_string();
    let r = post(vec![&foreign]).await.unwrap();
    assert_eq!(r.status(), 409);
    app.stop().await;
}

async fn fill_service(
    app: &TestApp,
    client: &reqwest::Client,
    code: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.submit(
        client,
        &format!("/pagamenti/nuovo/{code}"),
        &format!("/pagamenti/nuovo/{code}"),
        fields,
    )
    .await
}

#[tokio::test]
async fn a_traffic_fine_and_a_nursery_fee_become_positions_with_their_own_notice_numbers() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, _) = citizen(&app, 3).await;
    let (_, choose) = app.page(&client, "/pagamenti/nuovo").await;
    assert!(choose.contains("Sanzioni al Codice della Strada (multe)"));
    assert!(choose.contains("Retta asilo nido"));

    let (_, form) = app.page(&client, "/pagamenti/nuovo/multe").await;
    for label in [
        "Importo da pagare",
        "Cognome / nome o ragione sociale",
        "Codice fiscale o partita IVA",
        "Numero verbale",
        "Data del verbale",
        "Numero di targa",
        "Indirizzo e-mail",
    ] {
        assert!(form.contains(label), "multe form lacks {label}");
    }
    assert!(
        form.contains("value=\"cittadino3@example.it\""),
        "the citizen's e-mail is offered"
    );

    let bad = fill_service(
        &app,
        &client,
        "multe",
        &[
            ("importo", "abc"),
            ("debitore", ""),
            ("codice_fiscale", "RSSMRA80A01H501X"),
            ("numero_verbale", "123"),
            ("data_verbale", "2026-04-05"),
            ("targa", "??"),
            ("email", "x@"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(html.contains("Il modulo contiene 6 errori"), "{html}");
    assert!(html.contains("value=\"123\""), "typed values kept");

    let fine = [
        ("importo", "41,00"),
        ("debitore", "Rossi Mario"),
        ("codice_fiscale", "RSSMRA80A01H501U"),
        ("numero_verbale", "A-7781"),
        ("data_verbale", "05/04/2026"),
        ("targa", "ab123cd"),
        ("email", "mario.rossi@example.it"),
    ];
    let summary = fill_service(&app, &client, "multe", &fine).await;
    assert_eq!(summary.status(), 200);
    let html = summary.text().await.unwrap();
    assert!(html.contains("Riepilogo del pagamento"));
    assert!(html.contains("Verbale n. A-7781 del 05/04/2026 - targa AB123CD"));
    assert!(html.contains("41,00 €"));
    let confirmed = app
        .submit(
            &client,
            "/pagamenti/nuovo/multe",
            "/pagamenti/nuovo/multe/conferma",
            &fine,
        )
        .await;
    assert_eq!(confirmed.status(), 303);
    let location = confirmed.headers()["location"].to_str().unwrap().to_owned();
    let grouped = location.split("creato=").nth(1).unwrap().replace('+', " ");
    let nav = NoticeNumber::parse(&grouped).unwrap();
    assert_eq!(nav.as_str().chars().next(), Some('3'), "aux digit 3");
    assert_eq!(&nav.as_str()[1..3], "01", "the ente's segregation code");

    let nido = [
        ("importo", "250"),
        ("debitore", "Bianchi Laura"),
        ("codice_fiscale", "00229080338"),
        ("numero_rata", "3"),
        ("data_scadenza", "31/03/2026"),
        ("email", "laura@example.it"),
    ];
    assert_eq!(
        fill_service(&app, &client, "asilo_nido", &nido)
            .await
            .status(),
        200
    );
    let r = app
        .submit(
            &client,
            "/pagamenti/nuovo/asilo_nido",
            "/pagamenti/nuovo/asilo_nido/conferma",
            &nido,
        )
        .await;
    assert_eq!(r.status(), 303);

    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert!(cart.contains("Verbale n. A-7781 del 05/04/2026 - targa AB123CD"));
    assert!(cart.contains("Retta asilo nido - rata 03 scadenza 31/03/2026"));
    assert!(cart.contains(&nav.grouped()));
    assert!(
        cart.contains(&format!("/pagamenti/avviso/{}.pdf", nav.iuv().as_str())),
        "the notice can be downloaded from the cart"
    );
    assert!(cart.contains("Rossi Mario"), "the debtor as entered");

    let ente = app.state.ente().id;
    let option = app
        .state
        .store()
        .option_by_nav(ente, nav.as_str(), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(option.amount, 4100);
    assert_eq!(option.debtor_fiscal_code, "RSSMRA80A01H501U");
    assert!(option.created_by_account_id.is_some());
    let position = app
        .state
        .store()
        .position_by_iupd(ente, &format!("SPT-MULTE-{}", nav.iuv().as_str()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        position.options[0].is_consistent(),
        "amount = sum of transfers"
    );
    assert_eq!(position.options[0].transfers[0].category, "9/0101108TS/");
    // The citizen's page for a service that does not exist.
    assert_eq!(
        app.page(&client, "/pagamenti/nuovo/inesistente").await.0,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn paying_someone_elses_notice_by_its_code() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let (client, cf) = citizen(&app, 4).await;
    let payable = position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        8950,
        PositionStatus::Valid,
        20,
        Some("multe"),
    )
    .await;
    let expired = position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        100,
        PositionStatus::Valid,
        -1,
        None,
    )
    .await;
    let cancelled = position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        100,
        PositionStatus::Invalid,
        5,
        None,
    )
    .await;
    let paid = position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        100,
        PositionStatus::Paid,
        5,
        None,
    )
    .await;
    let only_debtor = position_for(
        &app,
        "RSSMRA80A01H501U",
        "Mario Rossi",
        100,
        PositionStatus::Valid,
        5,
        Some("diritti_segreteria"),
    )
    .await;
    let mine = position_for(
        &app,
        &cf,
        "Laura Bianchi",
        100,
        PositionStatus::Valid,
        5,
        None,
    )
    .await;

    let (_, page) = app.page(&client, "/pagamenti/per-altri").await;
    assert!(page.contains("Pagamento avviso intestato ad altre persone"));
    assert!(page.contains("Il pagamento così effettuato sarà associato alla tua posizione e tolto dalla posizione debitoria originaria."));

    let lookup = |code: String| {
        let app = &app;
        let client = &client;
        async move {
            let r = app
                .submit(
                    client,
                    "/pagamenti/per-altri",
                    "/pagamenti/per-altri",
                    &[("codice", &code)],
                )
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // A wrong check digit is refused before any lookup, with its own message.
    let mut wrong = payable.as_str().to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    let (status, html) = lookup(wrong).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("La cifra di controllo del codice avviso non è corretta"),
        "{html}"
    );
    let (_, html) = lookup("12345".into()).await;
    assert!(html.contains("18 cifre"), "{html}");
    let unknown =
        NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), 9_999_999).unwrap();
    assert!(
        lookup(unknown.as_str().into())
            .await
            .1
            .contains("Non risulta nessun avviso")
    );
    assert!(lookup(expired.as_str().into()).await.1.contains("scaduto"));
    assert!(
        lookup(cancelled.as_str().into())
            .await
            .1
            .contains("annullato")
    );
    assert!(lookup(paid.as_str().into()).await.1.contains("già pagato"));
    assert!(
        lookup(only_debtor.as_str().into())
            .await
            .1
            .contains("solo dall&#39;intestatario")
            || lookup(only_debtor.as_str().into())
                .await
                .1
                .contains("solo dall'intestatario")
    );
    assert!(
        lookup(mine.as_str().into())
            .await
            .1
            .contains("intestato a te")
    );

    // The printed code with spaces, and the IUV alone, both work.
    let (status, html) = lookup(payable.grouped()).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("M**** R****"),
        "the debtor's name is masked: {html}"
    );
    assert!(!html.contains("Mario Rossi"));
    assert!(html.contains("89,50 €"));
    assert!(html.contains("Sanzioni al Codice della Strada"));
    let (status, _) = lookup(payable.iuv().as_str().into()).await;
    assert_eq!(status, 200);

    let added = app
        .submit(
            &client,
            "/pagamenti/per-altri",
            "/pagamenti/per-altri/aggiungi",
            &[("codice", payable.as_str())],
        )
        .await;
    assert_eq!(added.status(), 303);
    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert!(cart.contains(&payable.grouped()));
    assert!(cart.contains("M**** R****"));
    assert!(cart.contains("Rimuovi"));
    // Added twice: still once.
    app.submit(
        &client,
        "/pagamenti/per-altri",
        "/pagamenti/per-altri/aggiungi",
        &[("codice", payable.as_str())],
    )
    .await;
    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert_eq!(cart.matches(&payable.grouped()).count(), 1);

    let option = app
        .state
        .store()
        .option_by_nav(app.state.ente().id, payable.as_str(), 0)
        .await
        .unwrap()
        .unwrap();
    let removed = app
        .submit(
            &client,
            "/pagamenti",
            "/pagamenti/rimuovi",
            &[("rimuovi", &option.option_id.to_string())],
        )
        .await;
    assert_eq!(removed.status(), 303);
    let (_, cart) = app.page(&client, "/pagamenti").await;
    assert!(!cart.contains(&payable.grouped()));
    app.stop().await;
}

#[tokio::test]
async fn abandoned_spontaneous_payments_are_removed_on_postgres_too() {
    for db in [Some(TestDb::sqlite()), TestDb::postgres().await]
        .into_iter()
        .flatten()
    {
        let app = TestApp::spawn_with(db, &[("SPORTELLO_SPONTANEOUS_ABANDON_HOURS", "1")]).await;
        let (client, _) = citizen(&app, 5).await;
        let fine = [
            ("importo", "10"),
            ("debitore", "Rossi Mario"),
            ("codice_fiscale", "RSSMRA80A01H501U"),
            ("numero_verbale", "1"),
            ("data_verbale", "01/01/2026"),
            ("targa", "AB123CD"),
            ("email", "m@example.it"),
        ];
        app.submit(
            &client,
            "/pagamenti/nuovo/multe",
            "/pagamenti/nuovo/multe/conferma",
            &fine,
        )
        .await;
        let api = position_for(
            &app,
            "RSSMRA80A01H501U",
            "Mario Rossi",
            100,
            PositionStatus::Valid,
            5,
            None,
        )
        .await;
        let store = app.state.store();
        assert_eq!(
            store.purge_abandoned(Timestamp::now()).await.unwrap(),
            0,
            "not yet"
        );
        assert_eq!(
            store
                .purge_abandoned(Timestamp::now().plus(time::Duration::hours(2)))
                .await
                .unwrap(),
            1
        );
        assert!(
            store
                .option_by_nav(app.state.ente().id, api.as_str(), 0)
                .await
                .unwrap()
                .is_some(),
            "positions of the municipality stay"
        );
        let (_, cart) = app.page(&client, "/pagamenti").await;
        assert!(cart.contains("Carrello vuoto."));
        app.stop().await;
    }
}
