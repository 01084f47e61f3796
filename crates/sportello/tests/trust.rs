//! Issue 10, findings 3–7: who may see, pay and print what. Each scenario replays over HTTP,
//! against the real app, an attack the security review reproduced, and checks it no longer
//! works; storage is involved in all of them, so each runs on SQLite and on PostgreSQL.

mod common;

use common::station::{activate, node_ok, receipt, send_rt, subject};
use common::{TestApp, TestDb, csrf_of};
use pagopa::NoticeNumber;
use pagopa::soap::Version;
/// The debtor of the municipality's positions in these scenarios (`common::publish_position`).
const MARIO: &str = "RSSMRA80A01H501U";
const LAURA: &str = "BNCLRA75D41G535B";
const GIULIA: &str = "BNCGLI85M41G337L";

scenarios_on_both_databases!(
    minted_notice_numbers_cannot_be_guessed_from_one_another,
    lookups_by_notice_code_are_limited_per_account_and_per_address,
    a_notice_found_by_its_code_gives_no_pdf_and_no_unmasked_debtor,
    a_typed_fiscal_code_shows_nothing_linked_to_it,
    a_receipt_without_payment_note_does_not_join_a_strangers_checkout,
    receipts_follow_one_rule_in_list_detail_csv_and_pdf,
    a_spontaneous_payment_naming_someone_else_stays_with_its_creator,
    a_strangers_checkout_does_not_hide_my_notice,
    paid_for_you_mail_goes_only_to_an_address_the_municipality_recorded,
);

/// A password account claiming `fiscal_code`, logged in; `verified`: an operator confirmed it.
async fn citizen(
    app: &TestApp,
    username: &str,
    fiscal_code: &str,
    verified: bool,
) -> (reqwest::Client, i64) {
    common::citizen(app, username, fiscal_code, ("Nome", "Cognome"), verified).await
}

/// A position of the municipality for Mario Rossi, through the debt-position API.
async fn for_mario(app: &TestApp, iupd: &str, cents: i64) -> NoticeNumber {
    let nav = common::publish_position(&app.client, &app.base, iupd, cents).await;
    NoticeNumber::parse(&nav).unwrap()
}

/// "Pagamento per altri": adds the notice `nav` to the cart of `client`'s account.
async fn add_for_others(app: &TestApp, client: &reqwest::Client, nav: &NoticeNumber) {
    let r = app
        .submit(
            client,
            "/pagamenti/per-altri",
            "/pagamenti/per-altri/aggiungi",
            &[("codice", nav.as_str())],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// The option ids offered for payment (a checkbox) in a cart page.
fn offered(cart: &str) -> Vec<String> {
    cart.split("name=\"opzione\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// "Procedi al pagamento" with `options`: the checkout id (from the return URLs Checkout got).
async fn pay(app: &TestApp, client: &reqwest::Client, options: &[String]) -> String {
    let (_, html) = app.page(client, "/pagamenti").await;
    let token = csrf_of(&html);
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    form.extend(options.iter().map(|o| ("opzione", o.as_str())));
    let r = client
        .post(format!("{}/pagamenti/procedi", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "off to Checkout");
    checkout_of(app, options[0].parse().unwrap()).await
}

/// "Pagamento per altri" for `nav`, then "Procedi al pagamento": the checkout id.
async fn pay_for_others(app: &TestApp, client: &reqwest::Client, nav: &NoticeNumber) -> String {
    add_for_others(app, client, nav).await;
    let (_, cart) = app.page(client, "/pagamenti").await;
    pay(app, client, &offered(&cart)).await
}

/// The receipt stored for `nav` (the first one).
async fn stored_receipt(
    app: &TestApp,
    nav: &NoticeNumber,
) -> sportello::store::station::StoredReceipt {
    app.state
        .store()
        .receipts_for_notice(app.state.ente().id, nav.as_str())
        .await
        .unwrap()
        .remove(0)
}

/// The id of the latest checkout holding `option_id`.
async fn checkout_of(app: &TestApp, option_id: i64) -> String {
    sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query_scalar::<_, String>(
            "SELECT c.id FROM checkouts c JOIN checkout_items i ON i.checkout_id = c.id
             WHERE i.payment_option_id = $1 ORDER BY c.created_at DESC LIMIT 1",
        )
        .bind(option_id)
        .fetch_one(pool)
        .await
        .unwrap()
    })
}

/// The history page's receipt rows (their ids).
async fn history(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let (status, page) = app.page(client, "/pagamenti/storico").await;
    assert_eq!(status, 200);
    page.split("name=\"sel\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// The stored row id of receipt `receipt_id`.
async fn receipt_pk(app: &TestApp, receipt_id: &str) -> i64 {
    sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query_scalar::<_, i64>("SELECT id FROM receipts WHERE receipt_id = $1")
            .bind(receipt_id)
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

/// A traffic fine through the catalog form, naming `debtor` (name, code) and `email`: its
/// notice number.
async fn traffic_fine(
    app: &TestApp,
    client: &reqwest::Client,
    debtor: (&str, &str),
    email: &str,
) -> NoticeNumber {
    let fine = [
        ("importo", "41,00"),
        ("debitore", debtor.0),
        ("codice_fiscale", debtor.1),
        ("numero_verbale", "A-7781"),
        ("data_verbale", "05/04/2026"),
        ("targa", "ab123cd"),
        ("email", email),
    ];
    let r = app
        .submit(
            client,
            "/pagamenti/nuovo/multe",
            "/pagamenti/nuovo/multe/conferma",
            &fine,
        )
        .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    NoticeNumber::parse(&location.split("creato=").nth(1).unwrap().replace('+', " ")).unwrap()
}

/// Finding 3: notice numbers were a sequence, so one code gave away the next ones. Now two
/// notices minted one after the other are far apart, and every base drawn is recorded.
async fn minted_notice_numbers_cannot_be_guessed_from_one_another(app: &TestApp) {
    let (laura, _) = citizen(app, "laura", LAURA, false).await;
    let a = traffic_fine(app, &laura, ("Bianchi Laura", LAURA), "laura@example.it").await;
    let b = traffic_fine(app, &laura, ("Bianchi Laura", LAURA), "laura@example.it").await;
    let base = |n: &NoticeNumber| n.as_str()[3..16].parse::<i64>().unwrap();
    assert!(
        (base(&a) - base(&b)).abs() > 1_000,
        "{} and {} are neighbours",
        a.as_str(),
        b.as_str()
    );
    let api = for_mario(app, "TRUST-MINT", 1000).await;
    let recorded: Vec<i64> = sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query_scalar("SELECT base FROM iuv_minted ORDER BY base")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    for n in [&a, &b, &api] {
        assert!(recorded.contains(&base(n)), "{} not recorded", n.as_str());
    }
}

/// Finding 3: 300 lookups in 0.9 s harvested debtors' names. Now an account gets 30 an hour,
/// an address 100, then a clear Italian refusal.
async fn lookups_by_notice_code_are_limited_per_account_and_per_address(app: &TestApp) {
    let nav = for_mario(app, "TRUST-LOOKUP", 1000).await;
    let lookup = |client: reqwest::Client| {
        let nav = nav.clone();
        async move {
            app.submit(
                &client,
                "/pagamenti/per-altri",
                "/pagamenti/per-altri",
                &[("codice", nav.as_str())],
            )
            .await
        }
    };
    let (first, _) = citizen(app, "cercatore0", LAURA, false).await;
    for _ in 0..30 {
        assert_eq!(lookup(first.clone()).await.status(), 200);
    }
    let refused = lookup(first.clone()).await;
    assert_eq!(refused.status(), 429);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("Hai cercato troppi avvisi in poco tempo"),
        "{page}"
    );
    assert!(!page.contains("M**** R****"), "nothing found is shown");
    // Other accounts from the same address: 100 lookups in all (the refused one did not
    // count), then none.
    let mut done = 30;
    let mut n = 1;
    while done < 100 {
        let (client, _) = citizen(app, &format!("cercatore{n}"), LAURA, false).await;
        for _ in 0..25.min(100 - done) {
            assert_eq!(lookup(client.clone()).await.status(), 200, "lookup {done}");
            done += 1;
        }
        n += 1;
    }
    let (fresh, _) = citizen(app, "cercatore-nuovo", LAURA, false).await;
    assert_eq!(lookup(fresh).await.status(), 429, "the address is spent");
}

/// Finding 3: adding a found notice to one's cart unlocked its PDF, with the debtor's name,
/// fiscal code and address. Now the PDF is not theirs, and no page shows the debtor unmasked.
async fn a_notice_found_by_its_code_gives_no_pdf_and_no_unmasked_debtor(app: &TestApp) {
    let nav = for_mario(app, "TRUST-PDF", 1500).await;
    let (laura, _) = citizen(app, "laura", LAURA, false).await;
    add_for_others(app, &laura, &nav).await;
    let (_, cart) = app.page(&laura, "/pagamenti").await;
    assert_eq!(offered(&cart).len(), 1, "she may pay it");
    assert!(cart.contains("M**** R****"), "{cart}");
    assert!(
        !cart.contains("Mario Rossi") && !cart.contains(MARIO),
        "{cart}"
    );
    let pdf = format!("/pagamenti/avviso/{}.pdf", nav.iuv().as_str());
    assert!(!cart.contains(&pdf), "no download link");
    assert_eq!(app.page(&laura, &pdf).await.0, 404);
    // Mario, verified, prints his own notice.
    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    let r = mario
        .get(format!("{}{pdf}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
}

/// Finding 4: registering with someone else's fiscal code showed that person's debts, notices
/// and receipts. Now a claimed code shows nothing linked to it; the verified owner sees it all.
async fn a_typed_fiscal_code_shows_nothing_linked_to_it(app: &TestApp) {
    let nav = for_mario(app, "TRUST-CLAIM", 2000).await;
    let paid = for_mario(app, "TRUST-CLAIM-PAID", 700).await;
    // Paid by Mario at a bank with the paper notice: no paying account.
    node_ok(
        app,
        send_rt(
            Version::V2,
            receipt(
                &paid,
                "R-CLAIM",
                700,
                subject(MARIO, "Mario Rossi", None),
                subject(MARIO, "Mario Rossi", None),
                None,
            ),
        ),
    )
    .await;
    let pk = receipt_pk(app, "R-CLAIM").await;
    let (impostor, _) = citizen(app, "impostore", MARIO, false).await;
    let (_, cart) = app.page(&impostor, "/pagamenti").await;
    assert!(offered(&cart).is_empty(), "{cart}");
    assert!(cart.contains("Carrello vuoto."));
    let pdf = format!("/pagamenti/avviso/{}.pdf", nav.iuv().as_str());
    assert_eq!(app.page(&impostor, &pdf).await.0, 404);
    assert!(history(app, &impostor).await.is_empty());
    assert_eq!(
        app.page(&impostor, &format!("/pagamenti/storico/{pk}"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.page(&impostor, "/pagamenti/ricevute.pdf?id=R-CLAIM")
            .await
            .0,
        404
    );
    // The real Mario, once an operator confirmed his code, sees his notice and his receipt.
    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    let (_, cart) = app.page(&mario, "/pagamenti").await;
    assert_eq!(offered(&cart).len(), 1, "{cart}");
    assert!(cart.contains("Tu"));
    assert_eq!(history(app, &mario).await, vec![pk.to_string()]);
    assert_eq!(app.page(&mario, &pdf).await.0, 200);
}

/// Finding 5: a receipt without payment note joined the newest unfinished checkout for its
/// notice, even a stranger's abandoned one, and the payment moved into the stranger's history.
async fn a_receipt_without_payment_note_does_not_join_a_strangers_checkout(app: &TestApp) {
    let nav = for_mario(app, "TRUST-LINK", 900).await;
    let (laura, laura_id) = citizen(app, "laura", LAURA, false).await;
    let checkout = pay_for_others(app, &laura, &nav).await;
    // Laura leaves Checkout; Mario pays at a bank (an activation without note, then the receipt).
    node_ok(app, activate(Version::V2, &nav, Some(900), None)).await;
    node_ok(
        app,
        send_rt(
            Version::V2,
            receipt(
                &nav,
                "R-LINK",
                900,
                subject(MARIO, "Mario Rossi", None),
                subject(MARIO, "Mario Rossi", None),
                None,
            ),
        ),
    )
    .await;
    let stored = stored_receipt(app, &nav).await;
    assert_eq!(stored.checkout_id, None, "not Laura's checkout {checkout}");
    assert_ne!(stored.payer_account_id, Some(laura_id));
    assert!(history(app, &laura).await.is_empty());
    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    assert_eq!(history(app, &mario).await.len(), 1);

    // A matching activation still links a receipt that lacks the note (a V1 receipt has none:
    // the cart id comes with the activation).
    let other = for_mario(app, "TRUST-LINK-2", 800).await;
    let checkout = pay_for_others(app, &laura, &other).await;
    node_ok(
        app,
        activate(Version::V2, &other, Some(800), Some(&checkout)),
    )
    .await;
    node_ok(
        app,
        send_rt(
            Version::V2,
            receipt(
                &other,
                "R-LINK-2",
                800,
                subject(MARIO, "Mario Rossi", None),
                subject(LAURA, "Laura Bianchi", None),
                None,
            ),
        ),
    )
    .await;
    let stored = stored_receipt(app, &other).await;
    assert_eq!(stored.checkout_id.as_deref(), Some(checkout.as_str()));
    assert_eq!(stored.payer_account_id, Some(laura_id));
    assert_eq!(history(app, &laura).await.len(), 1);
}

/// Finding 6: the receipt PDF let a debtor print a receipt another citizen paid (which the
/// history hides), and the detail showed refund-flagged receipts the list leaves out. One rule
/// now answers list, detail, CSV and PDF.
async fn receipts_follow_one_rule_in_list_detail_csv_and_pdf(app: &TestApp) {
    let nav = for_mario(app, "TRUST-RCPT", 1200).await;
    let (laura, _) = citizen(app, "laura", LAURA, false).await;
    let checkout = pay_for_others(app, &laura, &nav).await;
    let paid_by_laura = receipt(
        &nav,
        "R-FOR-MARIO",
        1200,
        subject(MARIO, "Mario Rossi", None),
        subject(LAURA, "Laura Bianchi", None),
        Some(&checkout),
    );
    node_ok(app, send_rt(Version::V2, paid_by_laura.clone())).await;
    // The same notice paid again at a bank: stored, flagged for refund.
    let mut again = paid_by_laura;
    again.receipt_id = "R-AGAIN".into();
    again.payment_note = None;
    again.payer = Some(subject(MARIO, "Mario Rossi", None));
    node_ok(app, send_rt(Version::V2, again)).await;
    let (paid_pk, refund_pk) = (
        receipt_pk(app, "R-FOR-MARIO").await,
        receipt_pk(app, "R-AGAIN").await,
    );

    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    // Laura paid it on the portal: hers in every form.
    assert_eq!(history(app, &laura).await, vec![paid_pk.to_string()]);
    let detail = |client: &reqwest::Client, pk: i64| {
        let client = client.clone();
        async move {
            app.page(&client, &format!("/pagamenti/storico/{pk}"))
                .await
                .0
        }
    };
    let pdf = |client: &reqwest::Client, id: &'static str| {
        let client = client.clone();
        async move {
            app.page(&client, &format!("/pagamenti/ricevute.pdf?id={id}"))
                .await
                .0
        }
    };
    let csv = |client: &reqwest::Client, pk: i64| {
        let client = client.clone();
        async move {
            app.page(&client, &format!("/pagamenti/storico.csv?sel={pk}"))
                .await
                .1
        }
    };
    assert_eq!(detail(&laura, paid_pk).await, 200);
    assert_eq!(pdf(&laura, "R-FOR-MARIO").await, 200);
    assert!(csv(&laura, paid_pk).await.contains("R-FOR-MARIO"));
    // The receipt to refund is nobody's, in no form.
    for client in [&laura, &mario] {
        assert_eq!(detail(client, refund_pk).await, 404);
        assert_eq!(pdf(client, "R-AGAIN").await, 404);
        assert!(!csv(client, refund_pk).await.contains("R-AGAIN"));
    }
    // Mario, the debtor, sees the history hide Laura's payment, and so do the other forms.
    assert!(history(app, &mario).await.is_empty());
    assert_eq!(detail(&mario, paid_pk).await, 404);
    assert_eq!(pdf(&mario, "R-FOR-MARIO").await, 404);
    assert!(!csv(&mario, paid_pk).await.contains("R-FOR-MARIO"));
    // Laura's detail shows Mario masked.
    let (status, detail) = app
        .page(&laura, &format!("/pagamenti/storico/{paid_pk}"))
        .await;
    assert_eq!(status, 200);
    assert!(detail.contains("M**** R****"), "{detail}");
    assert!(
        !detail.contains(MARIO) && !detail.contains("Mario Rossi"),
        "{detail}"
    );
}

/// Finding 7: naming someone's fiscal code in a spontaneous payment put it in their cart, as
/// theirs, with any amount. Now it stays with whoever created it.
async fn a_spontaneous_payment_naming_someone_else_stays_with_its_creator(app: &TestApp) {
    let (laura, _) = citizen(app, "laura", LAURA, false).await;
    let nav = traffic_fine(app, &laura, ("Rossi Mario", MARIO), "laura@example.it").await;
    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    let (_, cart) = app.page(&mario, "/pagamenti").await;
    assert!(!cart.contains(&nav.grouped()), "{cart}");
    assert!(offered(&cart).is_empty());
    let pdf = format!("/pagamenti/avviso/{}.pdf", nav.iuv().as_str());
    assert_eq!(app.page(&mario, &pdf).await.0, 404);
    // Laura, who created it, has it (and its notice).
    let (_, cart) = app.page(&laura, "/pagamenti").await;
    assert!(cart.contains(&nav.grouped()));
    assert_eq!(app.page(&laura, &pdf).await.0, 200);
}

/// Finding 7: starting a checkout for someone else's notice and opening the return URL hid
/// the notice from its debtor for 30 minutes. Now it is hidden only from whoever started it.
async fn a_strangers_checkout_does_not_hide_my_notice(app: &TestApp) {
    let nav = for_mario(app, "TRUST-HOLD", 1100).await;
    let (laura, _) = citizen(app, "laura", LAURA, false).await;
    let checkout = pay_for_others(app, &laura, &nav).await;
    let (status, _) = app
        .page(&laura, &format!("/pagamenti/esito/{checkout}/ok"))
        .await;
    assert_eq!(status, 200);
    let (_, cart) = app.page(&laura, "/pagamenti").await;
    assert!(cart.contains("In attesa della ricevuta"));
    assert!(offered(&cart).is_empty(), "Laura waits for her receipt");
    let (mario, _) = citizen(app, "mario", MARIO, true).await;
    let (_, cart) = app.page(&mario, "/pagamenti").await;
    assert_eq!(offered(&cart).len(), 1, "Mario may still pay: {cart}");
    assert!(!cart.contains("In attesa della ricevuta"));
}

/// A spontaneous payment's debtor e-mail is typed by whoever created it: the "your notice was
/// paid" message, with the payer's name, never goes there.
async fn paid_for_you_mail_goes_only_to_an_address_the_municipality_recorded(app: &TestApp) {
    let (stranger, _) = citizen(app, "estraneo", LAURA, false).await;
    let nav = traffic_fine(app, &stranger, ("Rossi Mario", MARIO), "spia@example.it").await;
    node_ok(
        app,
        send_rt(
            Version::V2,
            receipt(
                &nav,
                "R-MAIL",
                4100,
                subject(MARIO, "Rossi Mario", Some("spia@example.it")),
                subject(GIULIA, "Giulia Bianchi", Some("giulia@example.it")),
                None,
            ),
        ),
    )
    .await;
    let to_typed = app
        .state
        .store()
        .outbox_for(Some("spia@example.it"), 10)
        .await
        .unwrap();
    assert!(to_typed.is_empty(), "{to_typed:?}");
    assert_eq!(
        app.state
            .store()
            .outbox_for(Some("giulia@example.it"), 10)
            .await
            .unwrap()
            .len(),
        1,
        "the payer is told"
    );
}

/// A SPID login proves the fiscal code: that account sees the positions addressed to it; a
/// password account that typed the same code does not.
#[tokio::test]
async fn a_spid_verified_account_sees_its_positions_and_a_typed_code_does_not() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let nav = for_mario(&app, "TRUST-SPID", 3000).await;
    let spid = common::spid::logged_in(&app, MARIO).await;
    let (_, cart) = app.page(&spid, "/pagamenti").await;
    assert!(cart.contains(&nav.grouped()), "{cart}");
    assert_eq!(offered(&cart).len(), 1);
    // Someone registers with a password and Mario's code: a claim, which shows nothing.
    let (typed, _) = citizen(&app, "mario-digitato", MARIO, false).await;
    let (_, cart) = app.page(&typed, "/pagamenti").await;
    assert!(!cart.contains(&nav.grouped()), "{cart}");
    assert!(cart.contains("Carrello vuoto."));
    app.stop().await;
}
