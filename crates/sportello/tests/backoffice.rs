//! The back office (`/ufficio`): operators and their second factor, the permissions of every
//! route (generated from the route table), and the store functions on both databases.

mod common;

use common::office::{add_operator, operator_admin, operator_browser};
use common::smtp::SmtpSink;
use common::{TestApp, TestDb, browser, csrf_of};
use pagopa::{Cents, FiscalCode};
use sportello::backoffice::operators::{Access as OperatorAccess, Manager};
use sportello::backoffice::sealing::SealingKey;
use sportello::backoffice::service::NewPositionForm;
use sportello::backoffice::totp::Secret;
use sportello::backoffice::{BackOffice, BoError, Operator, Role, Scope};
use sportello::clock::Timestamp;
use sportello::config::Config;
use sportello::store::Store;
use sportello::store::audit::AuditEvent;
use sportello::store::backoffice::{AuditQuery, PositionQuery, ReceiptQuery};
use sportello::store::receipts::NewReceipt;
use sportello::web::ufficio::{Access, Entity, ROUTES};

fn demo_config() -> Config {
    Config::load(Some(std::path::Path::new("/dev/null")), Vec::new()).unwrap()
}

async fn operator(store: &Store, username: &str) -> Operator {
    store.operator_by_username(username).await.unwrap().unwrap()
}

fn position_form(service: &str, iupd: &str, cf: &str) -> NewPositionForm {
    NewPositionForm {
        service: service.into(),
        iupd: iupd.into(),
        fiscal_code: FiscalCode::parse(cf).unwrap(),
        full_name: "Mario Rossi".into(),
        email: Some("mario.rossi@example.org".into()),
        description: format!("Verbale {iupd}"),
        amount: Cents::new(4_250),
        due_date: time::macros::date!(2030 - 12 - 31),
        publish: true,
    }
}

/// An operator read-write on service `write` and read-only on `read`.
fn per_service(write: &str, read: &str) -> OperatorAccess {
    OperatorAccess {
        role: Role::Operator,
        services: vec![write.into()],
        read_only_services: vec![read.into()],
        read_only: false,
    }
}

/// A receipt for the first option of `position_id`.
async fn pay(store: &Store, ente_id: i64, position_id: i64, receipt_id: &str, refund: bool) -> i64 {
    let (option_id, nav, iuv): (i64, String, String) = match store.db() {
        sportello::db::Db::Sqlite(p, _) => sqlx::query_as(
            "SELECT id, nav, iuv FROM payment_options WHERE position_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(position_id)
        .fetch_one(p)
        .await
        .unwrap(),
        sportello::db::Db::Postgres(p) => sqlx::query_as(
            "SELECT id, nav, iuv FROM payment_options WHERE position_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(position_id)
        .fetch_one(p)
        .await
        .unwrap(),
    };
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::insert_receipt_in(
        &mut tx,
        ente_id,
        &NewReceipt {
            receipt_id: receipt_id.into(),
            payment_option_id: Some(option_id),
            notice_number: nav,
            iuv,
            outcome: "OK".into(),
            amount: 4_250,
            description: "Verbale".into(),
            company_name: "Comune di Piacenza".into(),
            debtor_type: "F".into(),
            debtor_fiscal_code: "RSSMRA80A01H501U".into(),
            debtor_name: "Mario Rossi".into(),
            id_psp: "BCITITMM".into(),
            psp_company_name: "Intesa Sanpaolo S.p.A.".into(),
            id_channel: "BCITITMM_01".into(),
            payment_date_time: Timestamp::now(),
            refund_required: refund,
            raw_xml: "<receipt>prova</receipt>".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The path of a route with its `{id}` replaced.
fn path_of(path: &str, position: i64, receipt: i64, flow: i64, entity: Entity) -> String {
    match entity {
        Entity::Position => path.replace("{id}", &position.to_string()),
        Entity::Receipt => path.replace("{id}", &receipt.to_string()),
        Entity::Flow => path.replace("{id}", &flow.to_string()),
        Entity::None | Entity::Anomaly => path.to_owned(),
    }
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: &axum::http::Method,
    path: &str,
    csrf: Option<&str>,
    anomaly: &str,
) -> (u16, String, String) {
    let url = format!("{}{path}", app.base);
    let r = if *method == axum::http::Method::GET {
        client.get(url).send().await.unwrap()
    } else {
        let mut form = vec![
            ("motivo", "prova"),
            ("nota", "prova"),
            ("tipo", "refund"),
            ("rif", anomaly),
        ];
        if let Some(t) = csrf {
            form.push(("csrf_token", t));
        }
        client.post(url).form(&form).send().await.unwrap()
    };
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, r.text().await.unwrap_or_default())
}

/// Every `/ufficio` route, from the route table: anonymous and citizen → the login page;
/// an operator outside the service → 404 on its records; read-only → no writes; admin → in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_of_every_route() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let store = app.state.store().clone();
    let ente = app.state.ente().clone();
    let admin = operator_browser(&app, "admin", Role::Admin, &[], false).await;
    let outsider = operator_browser(&app, "nido", Role::Operator, &["asilo_nido"], false).await;
    let auditor = operator_browser(&app, "revisore", Role::Admin, &[], true).await;
    let reader = operator_browser(&app, "lettore", Role::Operator, &["multe"], true).await;
    // Read-write on another service, read-only on this one: sees it, changes nothing of it.
    let mixed = operator_browser(&app, "misto", Role::Operator, &["asilo_nido"], false).await;
    let key = SealingKey::demo();
    operator_admin(&store, &key)
        .change_access(
            Manager::CommandLine,
            "misto",
            &per_service("asilo_nido", "multe"),
        )
        .await
        .unwrap();
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let admin_op = operator(&store, "admin").await;
    let fine = bo
        .create_position(
            &admin_op,
            "127.0.0.1",
            &position_form("multe", "PERM-1", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let receipt = pay(&store, ente.id, fine.id, "perm-receipt-1", false).await;
    let refund = pay(&store, ente.id, fine.id, "perm-receipt-2", true)
        .await
        .to_string();

    // A reporting flow (with no lines) for the reconciliation pages.
    let flow = store
        .store_flow(
            ente.id,
            &sportello::store::recon::NewFlow {
                fdr: "2026-11-30PERMPSP-0001".into(),
                psp_id: "PERMPSP".into(),
                revision: 1,
                status: "PUBLISHED".into(),
                published_at: sportello::clock::Timestamp::now(),
                flow_date: None,
                regulation: "SCT-PERM".into(),
                regulation_date: None,
                bic: None,
                psp_name: "PSP di prova".into(),
                tot_payments: 0,
                sum_payments: 0,
            },
            &[],
            &[],
        )
        .await
        .unwrap();

    // A citizen with a session of their own.
    let citizen = browser();
    let (_, home) = app.page(&citizen, "/login").await;
    assert!(home.contains("csrf_token"));

    let csrf = |html: &str| csrf_of(html);
    let (_, admin_home) = app.page(&admin, "/ufficio").await;
    let (_, outsider_home) = app.page(&outsider, "/ufficio").await;
    let (_, reader_home) = app.page(&reader, "/ufficio").await;
    let (_, mixed_home) = app.page(&mixed, "/ufficio").await;
    let mixed_csrf = csrf(&mixed_home);
    let (_, auditor_home) = app.page(&auditor, "/ufficio").await;
    let auditor_csrf = csrf(&auditor_home);
    let (admin_csrf, outsider_csrf, reader_csrf) =
        (csrf(&admin_home), csrf(&outsider_home), csrf(&reader_home));

    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.access != Access::Public) {
        // Logout would end the sessions the next rows use: it is checked on its own below.
        if r.path == "/ufficio/logout" {
            continue;
        }
        let path = path_of(r.path, fine.id, receipt, flow, r.entity);
        let what = format!("{} {}", r.method, path);
        for client in [&browser(), &citizen] {
            let (status, location, _) = send(&app, client, &r.method, &path, None, &refund).await;
            assert_eq!(
                (status, location.as_str()),
                (303, "/ufficio/login"),
                "anonymous/citizen: {what}"
            );
        }
        // Outside the service: the records are not found; admin pages are forbidden.
        let (status, _, _) = send(
            &app,
            &outsider,
            &r.method,
            &path,
            Some(&outsider_csrf),
            &refund,
        )
        .await;
        match (r.entity, r.access) {
            (Entity::Position | Entity::Receipt | Entity::Anomaly, _) => {
                assert_eq!(status, 404, "outsider: {what}")
            }
            (_, Access::Admin | Access::AdminWrite) => assert_eq!(status, 403, "outsider: {what}"),
            _ => assert!(
                status != 404 && status != 403 && status < 500,
                "outsider: {what} → {status}"
            ),
        }
        // Read-only, in scope: reads work, writes are refused.
        let (status, _, _) =
            send(&app, &reader, &r.method, &path, Some(&reader_csrf), &refund).await;
        match r.access {
            Access::Write | Access::Admin | Access::AdminWrite => {
                assert_eq!(status, 403, "read-only: {what}")
            }
            _ => assert!(
                status < 400 || r.path == "/ufficio/password",
                "read-only: {what} → {status}"
            ),
        }
        // Read-only on this service, read-write on another: reads work, changes to this
        // service's records are refused, pages that only change things open.
        let (status, _, _) = send(&app, &mixed, &r.method, &path, Some(&mixed_csrf), &refund).await;
        match (r.entity, r.access) {
            (_, Access::Admin | Access::AdminWrite) => assert_eq!(status, 403, "mixed: {what}"),
            (Entity::Position | Entity::Receipt | Entity::Anomaly, Access::Write) => {
                assert_eq!(status, 403, "mixed: {what}")
            }
            (_, Access::Write) => {
                assert!(status != 403 && status < 500, "mixed: {what} → {status}")
            }
            _ => assert!(
                status < 400 || r.path == "/ufficio/password",
                "mixed: {what} → {status}"
            ),
        }
        // A read-only admin sees every page and changes nothing: every POST is refused, and
        // so are the pages that only serve to change things.
        let (status, _, _) = send(
            &app,
            &auditor,
            &r.method,
            &path,
            Some(&auditor_csrf),
            &refund,
        )
        .await;
        let is_post = r.method == axum::http::Method::POST;
        match r.access {
            _ if r.path == "/ufficio/password" => {}
            Access::Write | Access::AdminWrite => {
                assert_eq!(status, 403, "read-only admin: {what}")
            }
            Access::Admin if is_post => assert_eq!(status, 403, "read-only admin: {what}"),
            // As for the admin below, a page may be refused on its (missing) input: 422.
            _ => assert!(
                status < 400 || status == 422,
                "read-only admin: {what} → {status}"
            ),
        }
        // The admin gets in everywhere (a POST may still be refused on its content: 422).
        let (status, location, body) =
            send(&app, &admin, &r.method, &path, Some(&admin_csrf), &refund).await;
        assert!(
            (status < 400 || status == 422) && location != "/ufficio/login",
            "admin: {what} → {status} {location} {body:.300}"
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes checked");
    // The read-only admin sees the operators and no way to change them: no link to a new one,
    // no form on an operator's page (the admin sees both).
    for (client, forms) in [(&auditor, false), (&admin, true)] {
        let (status, list) = app.page(client, "/ufficio/operatori").await;
        assert_eq!(status, 200);
        assert_eq!(
            list.contains("/ufficio/operatori/nuovo"),
            forms,
            "{list:.300}"
        );
        let (status, one) = app
            .page(client, "/ufficio/operatori/modifica?username=admin")
            .await;
        assert_eq!(status, 200);
        assert!(one.contains("Profilo"));
        for action in [
            "/ufficio/operatori/accesso",
            "/ufficio/operatori/stato",
            "/ufficio/operatori/password",
            "/ufficio/operatori/totp",
        ] {
            assert_eq!(one.contains(action), forms, "{action}");
        }
    }
    // A post without the CSRF token is refused before any handler runs.
    let (status, _, _) = send(
        &app,
        &admin,
        &axum::http::Method::POST,
        "/ufficio/anomalie/risolvi",
        None,
        &refund,
    )
    .await;
    assert_eq!(status, 403);
    // Logout ends the operator's session.
    let (status, location, _) = send(
        &app,
        &reader,
        &axum::http::Method::POST,
        "/ufficio/logout",
        Some(&reader_csrf),
        &refund,
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/ufficio/login"));
    let (status, _) = app.page(&reader, "/ufficio").await;
    assert_eq!(status, 303);
    app.stop().await;
}

/// The second factor: a wrong code and a replayed code are refused, a code one step old is
/// accepted; failures are audited and lead to a lock-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_needs_a_fresh_totp_code() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let store = app.state.store().clone();
    let (password, secret) = add_operator(&store, "mario", Role::Operator, &["multe"], false).await;
    let login = |code: String, password: String| {
        let app = &app;
        async move {
            let client = browser();
            let r = app
                .submit(
                    &client,
                    "/ufficio/login",
                    "/ufficio/login",
                    &[
                        ("username", "mario"),
                        ("password", &password),
                        ("codice", &code),
                    ],
                )
                .await;
            r.status().as_u16()
        }
    };
    let now = Timestamp::now().unix();
    let right = secret.code_at(now);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(login(wrong, password.clone()).await, 401, "wrong code");
    assert_eq!(
        login(right.clone(), "sbagliata".into()).await,
        401,
        "wrong password"
    );
    // One step of clock skew (the phone is 30 s behind).
    assert_eq!(
        login(secret.code_at(now - 30), password.clone()).await,
        303,
        "skewed code"
    );
    // A later code still works once; the same code again is a replay.
    assert_eq!(
        login(right.clone(), password.clone()).await,
        303,
        "current code"
    );
    assert_eq!(login(right, password.clone()).await, 401, "replayed code");
    let audit = store.recent_audit(Some("ufficio.login"), 10).await.unwrap();
    let outcomes: Vec<&str> = audit.iter().map(|a| a.event.outcome.as_str()).collect();
    assert!(
        outcomes.contains(&"bad_code") && outcomes.contains(&"bad_credentials"),
        "{outcomes:?}"
    );
    // A disabled operator cannot log in, even with the right code.
    let key = SealingKey::demo();
    operator_admin(&store, &key)
        .set_disabled(Manager::CommandLine, "mario", true)
        .await
        .unwrap();
    assert_eq!(
        login(secret.code_at(now + 30), password.clone()).await,
        401,
        "disabled"
    );
    // After a streak of failures the username is locked out for a while.
    let mut last = 0;
    for _ in 0..4 {
        last = login("000000".into(), "sbagliata".into()).await;
    }
    assert_eq!(last, 429, "locked out");
    app.stop().await;
}

/// The idle timeout of the back office is its own (`backoffice.idle_minutes`), and a citizen's
/// cookie does not open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sessions_expire_and_are_apart_from_citizens() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = operator_browser(&app, "anna", Role::Admin, &[], false).await;
    let (status, html) = app.page(&client, "/ufficio").await;
    assert_eq!(status, 200);
    assert!(html.contains("Cruscotto") && html.contains("anna"));
    // The session's expiry is the idle timeout ahead.
    let store = app.state.store();
    let rows: Vec<(Timestamp, Timestamp)> = match store.db() {
        sportello::db::Db::Sqlite(p, _) => sqlx::query_as(
            "SELECT last_seen_at, expires_at FROM operator_sessions WHERE operator_id IS NOT NULL",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        sportello::db::Db::Postgres(_) => unreachable!(),
    };
    assert_eq!(rows.len(), 1);
    let idle = rows[0].1.unix() - rows[0].0.unix();
    assert_eq!(idle, 15 * 60, "default backoffice.idle_minutes");
    assert_eq!(app.state.config().backoffice_idle_minutes, 15);
    assert_eq!(app.state.config().backoffice_checkout_overdue_minutes, 60);
    // No sessions table of the citizens holds an operator.
    let citizens: i64 = match store.db() {
        sportello::db::Db::Sqlite(p, _) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE account_id IS NOT NULL")
                .fetch_one(p)
                .await
                .unwrap()
        }
        sportello::db::Db::Postgres(_) => unreachable!(),
    };
    assert_eq!(citizens, 0);
    app.stop().await;
}

/// Search, detail, actions, exports and anomalies through the pages, as a read-write operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_finds_acts_and_exports() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = operator_browser(&app, "multe1", Role::Operator, &["multe"], false).await;
    let store = app.state.store().clone();
    let ente = app.state.ente().clone();
    // Create a position by the form.
    let r = app
        .submit(
            &client,
            "/ufficio/posizioni/nuova",
            "/ufficio/posizioni/nuova",
            &[
                ("servizio", "multe"),
                ("iupd", "FORM-1"),
                ("cf", "RSSMRA80A01H501U"),
                ("nome", "Mario Rossi"),
                ("email", "mario.rossi@example.org"),
                ("causale", "Verbale 123"),
                ("importo", "42,50"),
                ("scadenza", "31/12/2030"),
                ("pubblica", "si"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let detail = r.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = detail
        .trim_start_matches("/ufficio/posizioni/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, html) = app.page(&client, &detail).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Posizione creata") && html.contains("Da pagare"),
        "{html}"
    );
    // Invalid form: Italian messages, nothing created.
    let r = app
        .submit(
            &client,
            "/ufficio/posizioni/nuova",
            "/ufficio/posizioni/nuova",
            &[
                ("servizio", "multe"),
                ("cf", "XX"),
                ("importo", "abc"),
                ("scadenza", "31-12"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Codice fiscale o partita IVA non valido")
    );
    // A paid receipt; search by fiscal code finds the position; the detail shows the receipt.
    pay(&store, ente.id, id, "rcpt-form-1", false).await;
    let (_, html) = app
        .page(&client, "/ufficio/posizioni?cf=rssmra80a01h501u")
        .await;
    assert!(html.contains("FORM-1"), "{html}");
    let (_, html) = app.page(&client, &format!("/ufficio/posizioni/{id}")).await;
    assert!(html.contains("rcpt-form-1"));
    // The receipt's page and PDF.
    let (_, list) = app
        .page(&client, "/ufficio/ricevute?ricevuta=rcpt-form-1")
        .await;
    assert!(list.contains("rcpt-form-1"));
    let receipt_href = list
        .split("href=\"/ufficio/ricevute/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let (status, xml) = app
        .page(&client, &format!("/ufficio/ricevute/{receipt_href}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        xml.contains("prova") && !xml.contains("<receipt>"),
        "raw XML shown escaped: {xml}"
    );
    let pdf = client
        .get(format!(
            "{}/ufficio/ricevute/{receipt_href}/ricevuta.pdf",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    // CSV and XLSX of the filtered rows.
    let csv = client
        .get(format!(
            "{}/ufficio/posizioni.csv?cf=RSSMRA80A01H501U",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("\u{feff}IUPD;Debitore"), "{text}");
    assert!(
        text.contains("FORM-1;Mario Rossi;RSSMRA80A01H501U") && text.contains("42,50"),
        "{text}"
    );
    let xlsx = client
        .get(format!("{}/ufficio/ricevute.xlsx", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
    // Another position: change its due date, then invalidate it with a reason (mandatory).
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let op = operator(&store, "multe1").await;
    let other = bo
        .create_position(
            &op,
            "127.0.0.1",
            &position_form("multe", "FORM-2", "VRDGPP80A01H501U"),
        )
        .await
        .unwrap();
    let nav = other.options[0].nav.as_str().to_owned();
    let page = format!("/ufficio/posizioni/{}", other.id);
    let r = app
        .submit(
            &client,
            &page,
            &format!("{page}/rata"),
            &[
                ("avviso", &nav),
                ("scadenza", "15/01/2031"),
                ("importo", "50"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let changed = bo.position(&op, other.id).await.unwrap();
    assert_eq!(changed.options[0].amount, Cents::new(5_000));
    assert_eq!(changed.options[0].transfers[0].amount, Cents::new(5_000));
    assert_eq!(changed.options[0].due_date.rome_date(), "15/01/2031");
    let r = app
        .submit(
            &client,
            &page,
            &format!("{page}/annulla"),
            &[("motivo", " ")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .submit(
            &client,
            &page,
            &format!("{page}/annulla"),
            &[("motivo", "Verbale annullato in autotutela")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = app.page(&client, &page).await;
    assert!(
        html.contains("Annullata") && html.contains("Verbale annullato in autotutela"),
        "audit trail with the reason"
    );
    // An invalidated position has no notice to send.
    let r = app
        .submit(&client, &page, &format!("{page}/invia-avviso"), &[])
        .await;
    assert_eq!(r.status(), 422, "nothing to pay, no notice to send");
    // E-mail the notice of a payable position: an outbox row.
    let third = bo
        .create_position(
            &op,
            "127.0.0.1",
            &position_form("multe", "FORM-3", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let page3 = format!("/ufficio/posizioni/{}", third.id);
    let r = app
        .submit(&client, &page3, &format!("{page3}/invia-avviso"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let mails = store
        .outbox_for(Some("mario.rossi@example.org"), 10)
        .await
        .unwrap();
    assert!(
        mails.iter().any(|m| m.message.kind == "notice"),
        "{mails:?}"
    );
    let notice = client
        .get(format!("{}{page3}/avviso.pdf", app.base))
        .send()
        .await
        .unwrap();
    assert!(notice.bytes().await.unwrap().starts_with(b"%PDF"));
    // A refund-flagged receipt is an anomaly; resolving needs a note and is audited.
    let refund = pay(&store, ente.id, third.id, "rcpt-refund", true).await;
    let (_, html) = app.page(&client, "/ufficio/anomalie").await;
    assert!(html.contains("Ricevuta da rimborsare"), "{html}");
    let form = [
        ("tipo", "refund"),
        ("rif", &refund.to_string()),
        ("nota", ""),
    ];
    let r = app
        .submit(
            &client,
            "/ufficio/anomalie",
            "/ufficio/anomalie/risolvi",
            &form,
        )
        .await;
    assert_eq!(r.status(), 422);
    let refund_id = refund.to_string();
    let form = [
        ("tipo", "refund"),
        ("rif", refund_id.as_str()),
        ("nota", "Rimborsato con bonifico"),
    ];
    let r = app
        .submit(
            &client,
            "/ufficio/anomalie",
            "/ufficio/anomalie/risolvi",
            &form,
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = app.page(&client, "/ufficio/anomalie").await;
    assert!(html.contains("Nessuna anomalia aperta"), "{html}");
    let audit = store
        .recent_audit(Some("ufficio.resolve_anomaly"), 5)
        .await
        .unwrap();
    assert!(audit[0].event.detail.contains("Rimborsato con bonifico"));
    assert_eq!(audit[0].event.actor, "operatore:multe1");
    app.stop().await;
}

/// An operator confirms a citizen's identity: the account's fiscal code becomes verified, by
/// that operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_confirms_a_citizens_identity() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = operator_browser(&app, "sportello1", Role::Operator, &["multe"], false).await;
    let store = app.state.store().clone();
    // A citizen account, created as registration does.
    let mut tx = store.db().begin().await.unwrap();
    let account_id = Store::insert_account_in(
        &mut tx,
        &sportello::store::accounts::NewAccount {
            username: "mrossi".into(),
            password_hash: "x".into(),
            fiscal_code: "RSSMRA80A01H501U".into(),
            email: "mario@example.org".into(),
            personal: sportello::store::accounts::PersonalData {
                first_name: "Mario".into(),
                last_name: "Rossi".into(),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    Store::activate_account_in(&mut tx, account_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r = app
        .submit(
            &client,
            "/ufficio/cittadini",
            "/ufficio/cittadini/conferma",
            &[("username", "mrossi"), ("cf", "RSSMRA80A01H501U")],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let account = store.account_by_id(account_id).await.unwrap().unwrap();
    let identity = account.identity.expect("verified");
    assert_eq!(
        identity.source,
        sportello::domain::identity::IdentitySource::Operator
    );
    assert_eq!(identity.verified_by, "sportello1");
    let r = app
        .submit(
            &client,
            "/ufficio/cittadini",
            "/ufficio/cittadini/conferma",
            &[("username", "nessuno"), ("cf", "RSSMRA80A01H501U")],
        )
        .await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}

store_suite!(
    operators_and_their_sessions_are_stored,
    operator_management_keeps_an_admin_and_audits,
    searches_respect_the_scope,
    anomalies_are_listed_and_resolved_once,
);

async fn operators_and_their_sessions_are_stored(store: Store) {
    let (_, secret) = add_operator(
        &store,
        "ufficio.uno",
        Role::Operator,
        &["multe", "asilo_nido"],
        true,
    )
    .await;
    let op = operator(&store, "ufficio.uno").await;
    assert_eq!(op.role, Role::Operator);
    // An operator's mode is per service: `read_only` makes every service of theirs read-only.
    assert!(!op.read_only && op.must_change_password && !op.disabled);
    assert_eq!(
        op.services,
        vec!["asilo_nido".to_owned(), "multe".to_owned()]
    );
    assert_eq!(op.read_only_services, op.services);
    assert!(!op.may_write() && !op.may_write_service(Some("multe")));
    // Read-write on one service, read-only on another (listed only there: in scope all the same).
    let key = SealingKey::demo();
    operator_admin(&store, &key)
        .create(
            Manager::CommandLine,
            "ufficio.misto",
            &per_service("multe", "asilo_nido"),
        )
        .await
        .unwrap();
    let mixed = operator(&store, "ufficio.misto").await;
    assert_eq!(mixed.services, op.services);
    assert_eq!(mixed.read_only_services, vec!["asilo_nido".to_owned()]);
    assert!(mixed.may_write() && mixed.may_write_service(Some("multe")));
    assert!(mixed.sees_service(Some("asilo_nido")) && !mixed.may_write_service(Some("asilo_nido")));
    assert!(!mixed.may_write_service(None) && !mixed.may_write_service(Some("tari")));
    // The secret is sealed: not in clear, and it opens only for this operator.
    assert!(!op.totp_secret.contains(&secret.to_base32()));
    assert_eq!(key.open("ufficio.uno", &op.totp_secret), Some(secret));
    assert_eq!(key.open("altro", &op.totp_secret), None);
    // A taken name, an unknown service, an operator without services are refused.
    let admin = operator_admin(&store, &key);
    let access = |role, services: &[&str]| OperatorAccess {
        role,
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        read_only_services: Vec::new(),
        read_only: false,
    };
    let err = admin
        .create(
            Manager::CommandLine,
            "ufficio.uno",
            &access(Role::Admin, &[]),
        )
        .await;
    assert!(
        matches!(&err, Err(BoError::Invalid("username", m)) if m.contains("Esiste già")),
        "{err:?}"
    );
    let err = admin
        .create(
            Manager::CommandLine,
            "altro",
            &access(Role::Operator, &["nessuno"]),
        )
        .await;
    assert!(
        matches!(&err, Err(BoError::Invalid("servizi", m)) if m.contains("nessuno")),
        "{err:?}"
    );
    let err = admin
        .create(Manager::CommandLine, "altro", &access(Role::Operator, &[]))
        .await;
    assert!(
        matches!(err, Err(BoError::Invalid("servizi", _))),
        "{err:?}"
    );
    let err = admin
        .create(Manager::CommandLine, "a b", &access(Role::Admin, &[]))
        .await;
    assert!(
        matches!(err, Err(BoError::Invalid("username", _))),
        "{err:?}"
    );
    // A time step is spent once, and never an older one.
    assert!(store.use_totp_step(op.id, 100).await.unwrap());
    assert!(!store.use_totp_step(op.id, 100).await.unwrap());
    assert!(!store.use_totp_step(op.id, 99).await.unwrap());
    assert!(store.use_totp_step(op.id, 101).await.unwrap());
    store.set_operator_password(op.id, "hash").await.unwrap();
    assert!(!operator(&store, "ufficio.uno").await.must_change_password);
    // Sessions.
    let now = Timestamp::now();
    let record = sportello::store::sessions::SessionRecord {
        id_hash: "h".repeat(64),
        account_id: Some(op.id),
        csrf_token: "c".into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus(time::Duration::minutes(15)),
    };
    store
        .create_operator_session(&record, "10.0.0.1", "test")
        .await
        .unwrap();
    assert_eq!(
        store.operator_session(&record.id_hash, now).await.unwrap(),
        Some(record.clone())
    );
    let later = now.plus(time::Duration::minutes(16));
    assert_eq!(
        store
            .operator_session(&record.id_hash, later)
            .await
            .unwrap(),
        None,
        "idle timeout"
    );
    store
        .touch_operator_session(&record.id_hash, now, now.plus(time::Duration::minutes(30)))
        .await
        .unwrap();
    assert!(
        store
            .operator_session(&record.id_hash, later)
            .await
            .unwrap()
            .is_some()
    );
    // Disabling ends the sessions; disabling twice is refused.
    admin
        .set_disabled(Manager::CommandLine, "ufficio.uno", true)
        .await
        .unwrap();
    assert!(matches!(
        admin
            .set_disabled(Manager::CommandLine, "ufficio.uno", true)
            .await,
        Err(BoError::Conflict(_))
    ));
    assert!(
        store
            .operator_session(&record.id_hash, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(operator(&store, "ufficio.uno").await.disabled);
    assert_eq!(
        store.operators().await.unwrap().len(),
        2,
        "ufficio.uno and ufficio.misto"
    );
}

async fn setup(store: &Store) -> sportello::store::ente::Ente {
    let config = demo_config();
    let ente = store.upsert_ente(&config.ente).await.unwrap();
    store.sync_services(ente.id, &config.catalog).await.unwrap();
    add_operator(store, "capo", Role::Admin, &[], false).await;
    add_operator(store, "vigile", Role::Operator, &["multe"], false).await;
    add_operator(store, "maestra", Role::Operator, &["asilo_nido"], true).await;
    ente
}

async fn searches_respect_the_scope(store: Store) {
    let ente = setup(&store).await;
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let (capo, vigile, maestra) = (
        operator(&store, "capo").await,
        operator(&store, "vigile").await,
        operator(&store, "maestra").await,
    );
    let fine = bo
        .create_position(
            &vigile,
            "1.2.3.4",
            &position_form("multe", "S-1", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let fee = bo
        .create_position(
            &capo,
            "1.2.3.4",
            &position_form("asilo_nido", "S-2", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    // Out of scope for writing: the nursery's operator is read-only, the traffic warden may
    // not create a nursery fee.
    assert!(matches!(
        bo.create_position(
            &maestra,
            "1",
            &position_form("asilo_nido", "S-3", "RSSMRA80A01H501U")
        )
        .await,
        Err(BoError::Forbidden)
    ));
    assert!(matches!(
        bo.create_position(
            &vigile,
            "1",
            &position_form("asilo_nido", "S-3", "RSSMRA80A01H501U")
        )
        .await,
        Err(BoError::Invalid(..))
    ));
    let by_cf = PositionQuery {
        fiscal_code: Some("RSSMRA80A01H501U".into()),
        ..PositionQuery::default()
    };
    let ids = |rows: Vec<sportello::store::backoffice::PositionRow>| {
        rows.iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(bo.search_positions(&capo, &by_cf, None, 10).await.unwrap()),
        vec![fee.id, fine.id]
    );
    assert_eq!(
        ids(bo
            .search_positions(&vigile, &by_cf, None, 10)
            .await
            .unwrap()),
        vec![fine.id]
    );
    assert_eq!(
        ids(bo
            .search_positions(&maestra, &by_cf, None, 10)
            .await
            .unwrap()),
        vec![fee.id]
    );
    // Keyset paging.
    assert_eq!(
        ids(bo
            .search_positions(&capo, &by_cf, Some(fee.id), 10)
            .await
            .unwrap()),
        vec![fine.id]
    );
    // Each filter.
    let nav = fine.options[0].nav.as_str().to_owned();
    let iuv = fine.options[0].iuv.as_str().to_owned();
    for q in [
        PositionQuery {
            notice: Some(nav.clone()),
            ..PositionQuery::default()
        },
        PositionQuery {
            notice: Some(iuv),
            ..PositionQuery::default()
        },
        PositionQuery {
            iupd: Some("S-1".into()),
            ..PositionQuery::default()
        },
        PositionQuery {
            name: Some("ROSSI".into()),
            service_id: fine.service_id,
            ..PositionQuery::default()
        },
        PositionQuery {
            status: Some("VALID".into()),
            service_id: fine.service_id,
            ..PositionQuery::default()
        },
        PositionQuery {
            amount_min: Some(4_250),
            amount_max: Some(4_250),
            due_from: Some(Timestamp::rome_day_start(time::macros::date!(
                2030 - 12 - 31
            ))),
            due_to: Some(Timestamp::rome_day_end(time::macros::date!(2030 - 12 - 31))),
            service_id: fine.service_id,
            ..PositionQuery::default()
        },
    ] {
        assert_eq!(
            ids(bo.search_positions(&capo, &q, None, 10).await.unwrap()),
            vec![fine.id],
            "{q:?}"
        );
    }
    assert!(
        bo.search_positions(
            &capo,
            &PositionQuery {
                amount_min: Some(4_251),
                ..PositionQuery::default()
            },
            None,
            10
        )
        .await
        .unwrap()
        .is_empty()
    );
    // A position of another service is not found, and its actions neither.
    assert!(matches!(
        bo.position(&maestra, fine.id).await,
        Err(BoError::NotFound)
    ));
    assert!(matches!(
        bo.invalidate(&maestra, "1", fine.id, "x").await,
        Err(BoError::NotFound)
    ));
    assert!(matches!(
        bo.invalidate(&vigile, "1", fine.id, "").await,
        Err(BoError::Invalid(..))
    ));
    // Receipts follow the position's service.
    let receipt = pay(&store, ente.id, fine.id, "scope-r-1", false).await;
    let by_cf = ReceiptQuery {
        fiscal_code: Some("RSSMRA80A01H501U".into()),
        ..ReceiptQuery::default()
    };
    assert_eq!(
        bo.search_receipts(&vigile, &by_cf, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        bo.search_receipts(&maestra, &by_cf, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        bo.receipt(&maestra, receipt).await,
        Err(BoError::NotFound)
    ));
    let (row, xml) = bo.receipt(&vigile, receipt).await.unwrap();
    assert_eq!(
        (row.receipt_id.as_str(), row.position_id),
        ("scope-r-1", Some(fine.id))
    );
    assert!(xml.contains("prova"));
    let doc = bo.receipt_document(&vigile, receipt).await.unwrap();
    assert_eq!(doc.receipt_id, "scope-r-1");
    // The dashboard counts in scope.
    let (d, _) = bo.dashboard(&vigile, Timestamp::now()).await.unwrap();
    assert_eq!((d.today, d.month), ((1, 4_250), (1, 4_250)));
    let (d, _) = bo.dashboard(&maestra, Timestamp::now()).await.unwrap();
    assert_eq!((d.today, d.payable), ((0, 0), 1));
    // An option paid cannot be changed; an unpaid one can, and the change is audited.
    assert!(
        matches!(
            bo.change_option(
                &vigile,
                "1",
                fine.id,
                &nav,
                Some(time::macros::date!(2031 - 01 - 01)),
                None
            )
            .await,
            Err(BoError::Conflict(_))
        ) || store
            .position_in_scope(ente.id, &Scope::All, fine.id)
            .await
            .unwrap()
            .unwrap()
            .options[0]
            .status
            .as_str()
            == "PO_UNPAID"
    );
    let fee_nav = fee.options[0].nav.as_str().to_owned();
    bo.change_option(&capo, "1", fee.id, &fee_nav, None, Some(Cents::new(9_900)))
        .await
        .unwrap();
    let audit = store
        .search_audit(
            &AuditQuery {
                iupd: Some("S-2".into()),
                ..AuditQuery::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "ufficio.change_option" && a.detail.contains("9900")),
        "{audit:?}"
    );
    let by_actor = store
        .search_audit(
            &AuditQuery {
                actor: Some("operatore:vigile".into()),
                ..AuditQuery::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(by_actor.iter().all(|a| a.actor == "operatore:vigile") && !by_actor.is_empty());
    let future = store
        .search_audit(
            &AuditQuery {
                from: Some(Timestamp::now().plus(time::Duration::days(1))),
                ..AuditQuery::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(future.is_empty());
}

async fn anomalies_are_listed_and_resolved_once(store: Store) {
    let ente = setup(&store).await;
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let (capo, vigile, maestra) = (
        operator(&store, "capo").await,
        operator(&store, "vigile").await,
        operator(&store, "maestra").await,
    );
    let fine = bo
        .create_position(
            &vigile,
            "1",
            &position_form("multe", "A-1", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let refund = pay(&store, ente.id, fine.id, "anom-r-1", true).await;
    // A receipt for a notice nobody knows: the admins'.
    let mut tx = store.db().begin().await.unwrap();
    let unknown = Store::insert_receipt_in(
        &mut tx,
        ente.id,
        &NewReceipt {
            receipt_id: "anom-r-2".into(),
            payment_option_id: None,
            notice_number: "301000000000099999".into(),
            iuv: "01000000000099999".into(),
            outcome: "OK".into(),
            amount: 100,
            description: "?".into(),
            company_name: "Comune".into(),
            debtor_type: "F".into(),
            debtor_fiscal_code: "RSSMRA80A01H501U".into(),
            debtor_name: "Mario Rossi".into(),
            id_psp: "P".into(),
            psp_company_name: "PSP".into(),
            id_channel: "C".into(),
            payment_date_time: Timestamp::now(),
            refund_required: false,
            raw_xml: "<x/>".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let kinds = |list: Vec<sportello::store::backoffice::Anomaly>| {
        list.into_iter()
            .map(|a| (a.kind, a.ref_id))
            .collect::<Vec<_>>()
    };
    let now = Timestamp::now();
    let all = kinds(bo.anomalies(&capo, now).await.unwrap());
    assert!(
        all.contains(&("refund".into(), refund.to_string())),
        "{all:?}"
    );
    assert!(
        all.contains(&("unknown_notice".into(), unknown.to_string())),
        "{all:?}"
    );
    assert_eq!(
        kinds(bo.anomalies(&vigile, now).await.unwrap()),
        vec![("refund".to_owned(), refund.to_string())]
    );
    assert!(bo.anomalies(&maestra, now).await.unwrap().is_empty());
    // Resolving: a note is mandatory, out of scope is not found, read-only may not, once only.
    assert!(matches!(
        bo.resolve_anomaly(&vigile, "1", "refund", &refund.to_string(), " ")
            .await,
        Err(BoError::Invalid(..))
    ));
    assert!(matches!(
        bo.resolve_anomaly(&vigile, "1", "unknown_notice", &unknown.to_string(), "x")
            .await,
        Err(BoError::NotFound)
    ));
    assert!(matches!(
        bo.resolve_anomaly(&maestra, "1", "refund", &refund.to_string(), "x")
            .await,
        Err(BoError::Forbidden)
    ));
    bo.resolve_anomaly(&vigile, "1", "refund", &refund.to_string(), "Rimborsato")
        .await
        .unwrap();
    assert!(matches!(
        bo.resolve_anomaly(&capo, "1", "refund", &refund.to_string(), "di nuovo")
            .await,
        Err(BoError::NotFound)
    ));
    assert_eq!(
        kinds(bo.anomalies(&capo, now).await.unwrap()),
        vec![("unknown_notice".to_owned(), unknown.to_string())]
    );
    let audit = store
        .recent_audit(Some("ufficio.resolve_anomaly"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    // The same row resolved twice at the store is refused the second time.
    let event = AuditEvent {
        account_id: None,
        actor: "operatore:capo".into(),
        action: "ufficio.resolve_anomaly".into(),
        outcome: "ok".into(),
        ip: String::new(),
        detail: "{}".into(),
    };
    assert!(
        store
            .mark_anomaly_resolved("unknown_notice", &unknown.to_string(), "ok", &event)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_anomaly_resolved("unknown_notice", &unknown.to_string(), "ok", &event)
            .await
            .unwrap()
    );
}

/// An HTTP scenario against the real app, as the tests `<scenario>::sqlite` and
/// `<scenario>::postgres`.
macro_rules! on_both_databases {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(super::TestDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = super::TestDb::postgres().await else {
                    return;
                };
                super::$scenario(db).await;
            }
        }
    };
}

/// The rules of operator management, on both databases: only admins (or the command line);
/// the last active admin can be neither disabled nor demoted; every change is audited with
/// before and after; resets end the sessions and force a new password.
async fn operator_management_keeps_an_admin_and_audits(store: Store) {
    let key = SealingKey::demo();
    let admin = operator_admin(&store, &key);
    let cli = Manager::CommandLine;
    let as_admin = OperatorAccess {
        role: Role::Admin,
        services: Vec::new(),
        read_only_services: Vec::new(),
        read_only: false,
    };
    let as_clerk = OperatorAccess {
        role: Role::Operator,
        services: vec!["multe".into()],
        read_only_services: Vec::new(),
        read_only: false,
    };
    admin.create(cli, "unico", &as_admin).await.unwrap();
    admin.create(cli, "impiegato", &as_clerk).await.unwrap();
    let last = |r: Result<(), BoError>| matches!(&r, Err(BoError::Conflict(m)) if m.contains("ultimo amministratore"));
    assert!(last(admin.set_disabled(cli, "unico", true).await));
    assert!(last(admin.change_access(cli, "unico", &as_clerk).await));
    assert!(!operator(&store, "unico").await.disabled);
    // An operator who is not an admin may do nothing here.
    let clerk = operator(&store, "impiegato").await;
    let by_clerk = Manager::Operator(&clerk, "10.0.0.2");
    assert!(matches!(
        admin.list(by_clerk).await,
        Err(BoError::Forbidden)
    ));
    assert!(matches!(
        admin.create(by_clerk, "altro", &as_admin).await,
        Err(BoError::Forbidden)
    ));
    assert!(matches!(
        admin.set_disabled(by_clerk, "unico", true).await,
        Err(BoError::Forbidden)
    ));
    // A read-only admin may look, not change.
    admin
        .create(
            cli,
            "revisore",
            &OperatorAccess {
                read_only: true,
                ..as_admin.clone()
            },
        )
        .await
        .unwrap();
    let auditor = operator(&store, "revisore").await;
    let by_auditor = Manager::Operator(&auditor, "10.0.0.3");
    assert!(admin.list(by_auditor).await.is_ok());
    assert!(matches!(
        admin.reset_password(by_auditor, "impiegato").await,
        Err(BoError::Forbidden)
    ));
    admin.set_disabled(cli, "revisore", true).await.unwrap();
    // An admin may not disable or demote themselves, even with another admin around.
    admin.create(cli, "secondo", &as_admin).await.unwrap();
    let unico = operator(&store, "unico").await;
    let by_unico = Manager::Operator(&unico, "10.0.0.1");
    assert!(matches!(
        admin.set_disabled(by_unico, "unico", true).await,
        Err(BoError::Conflict(m)) if m.contains("tuo stesso profilo")
    ));
    assert!(matches!(
        admin.change_access(by_unico, "unico", &as_clerk).await,
        Err(BoError::Conflict(m)) if m.contains("tuo stesso profilo")
    ));
    // With two admins one may go; then the other is the last.
    admin
        .change_access(by_unico, "secondo", &as_clerk)
        .await
        .unwrap();
    let secondo = operator(&store, "secondo").await;
    assert_eq!(
        (secondo.role, secondo.services.clone()),
        (Role::Operator, vec!["multe".to_owned()])
    );
    assert!(last(admin.change_access(cli, "unico", &as_clerk).await));
    admin
        .change_access(by_unico, "secondo", &as_admin)
        .await
        .unwrap();
    admin.set_disabled(by_unico, "secondo", true).await.unwrap();
    assert!(last(admin.set_disabled(cli, "unico", true).await));
    admin
        .set_disabled(by_unico, "secondo", false)
        .await
        .unwrap();
    assert!(!operator(&store, "secondo").await.disabled);
    // Validation, in Italian.
    let bad = OperatorAccess {
        role: Role::Operator,
        services: vec!["sconosciuto".into()],
        read_only_services: Vec::new(),
        read_only: true,
    };
    assert!(matches!(
        admin.change_access(by_unico, "impiegato", &bad).await,
        Err(BoError::Invalid("servizi", m)) if m.contains("Servizio sconosciuto")
    ));
    assert!(matches!(
        admin.set_disabled(by_unico, "nessuno", true).await,
        Err(BoError::Invalid("username", _))
    ));
    // The mode per service: read-write on multe, read-only on asilo_nido; audited before/after.
    admin
        .change_access(
            by_unico,
            "impiegato",
            &OperatorAccess {
                read_only_services: vec!["asilo_nido".into()],
                ..as_clerk.clone()
            },
        )
        .await
        .unwrap();
    let mixed = operator(&store, "impiegato").await;
    assert_eq!(
        (mixed.services.clone(), mixed.read_only_services.clone()),
        (
            vec!["asilo_nido".to_owned(), "multe".to_owned()],
            vec!["asilo_nido".to_owned()]
        )
    );
    let modes = store
        .search_audit(
            &AuditQuery {
                actor: Some("operatore:unico".into()),
                ..AuditQuery::default()
            },
            1,
        )
        .await
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&modes[0].detail).unwrap();
    assert_eq!(
        (
            detail["before"]["read_only_services"].clone(),
            detail["after"]["read_only_services"].clone()
        ),
        (serde_json::json!([]), serde_json::json!(["asilo_nido"])),
        "{detail}"
    );
    // Resets: a new one-time password (to be changed), a new TOTP secret (sealed, no step used).
    store.use_totp_step(clerk.id, 1_000).await.unwrap();
    store.set_operator_password(clerk.id, "hash").await.unwrap();
    let password = admin.reset_password(by_unico, "impiegato").await.unwrap();
    assert_eq!(password.len(), 23);
    let clerk = operator(&store, "impiegato").await;
    assert!(clerk.must_change_password);
    assert!(
        sportello::auth::password::verify(password, Some(clerk.password_hash.clone()))
            .await
            .unwrap()
    );
    let created = admin.reset_totp(by_unico, "impiegato").await.unwrap();
    let clerk = operator(&store, "impiegato").await;
    assert_eq!(clerk.totp_last_step, 0);
    assert_eq!(
        key.open("impiegato", &clerk.totp_secret),
        Secret::from_base32(&created.secret)
    );
    assert!(created.otpauth_uri.contains(&created.secret));
    // The audit trail: who, and before/after.
    let by_actor = |actor: &str| {
        let q = AuditQuery {
            actor: Some(actor.to_owned()),
            ..AuditQuery::default()
        };
        let store = store.clone();
        async move { store.search_audit(&q, 100).await.unwrap() }
    };
    let audit = by_actor("operatore:unico").await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "ufficio.operator_access",
        "ufficio.operator_disable",
        "ufficio.operator_enable",
        "ufficio.operator_reset_password",
        "ufficio.operator_reset_totp",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let demotion = audit
        .iter()
        .find(|a| a.action == "ufficio.operator_access" && a.detail.contains("secondo"))
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&demotion.detail).unwrap();
    assert!(
        detail["before"]["role"].is_string() && detail["after"]["role"].is_string(),
        "{detail}"
    );
    assert_eq!(audit[0].ip, "10.0.0.1");
    let created = by_actor("riga di comando").await;
    assert!(
        created
            .iter()
            .any(|a| a.action == "ufficio.operator_create" && a.detail.contains("\"impiegato\"")),
        "{created:?}"
    );
}

/// The value shown after `label` in a facts list (`<dt>label</dt><dd>value</dd>`).
fn fact(html: &str, label: &str) -> String {
    let at = html
        .find(&format!("{label}</dt>"))
        .unwrap_or_else(|| panic!("{label} not on the page"));
    let rest = &html[at..];
    let start = rest.find("<dd class=\"col-sm-8\">").unwrap() + "<dd class=\"col-sm-8\">".len();
    let end = rest[start..].find("</dd>").unwrap();
    rest[start..start + end].to_owned()
}

/// Logs in through the form; returns the status and where it leads.
async fn log_in(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    code: &str,
) -> (u16, String) {
    let r = app
        .submit(
            client,
            "/ufficio/login",
            "/ufficio/login",
            &[
                ("username", username),
                ("password", password),
                ("codice", code),
            ],
        )
        .await;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (r.status().as_u16(), location)
}

/// An admin manages operators in the pages: creates one (password, TOTP key and QR shown
/// once), who logs in with a code computed from the key and sees only their service; changes
/// their scope; cannot disable themselves; disables the operator, whose session stops.
async fn admin_manages_operators_in_the_pages(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = app.state.store().clone();
    let ente = app.state.ente().clone();
    let admin = operator_browser(&app, "capo", Role::Admin, &[], false).await;
    let (status, html) = app.page(&admin, "/ufficio/operatori/nuovo").await;
    assert_eq!(status, 200);
    assert!(html.contains("(codice asilo_nido)"), "a box per service");
    // Bad input: the form again, with the reason in Italian, nothing created.
    let r = app
        .submit(
            &admin,
            "/ufficio/operatori/nuovo",
            "/ufficio/operatori/nuovo",
            &[
                ("username", "a b"),
                ("ruolo", "operator"),
                ("modalita", "scrittura"),
                ("servizio_multe", "si"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Il nome utente deve avere")
    );
    let r = app
        .submit(
            &admin,
            "/ufficio/operatori/nuovo",
            "/ufficio/operatori/nuovo",
            &[
                ("username", "vigile"),
                ("ruolo", "operator"),
                ("modalita", "scrittura"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("almeno un servizio"));
    assert!(
        store
            .operator_by_username("vigile")
            .await
            .unwrap()
            .is_none()
    );
    // Created: the one-time password, the key, the URI and its QR, not to be cached.
    let r = app
        .submit(
            &admin,
            "/ufficio/operatori/nuovo",
            "/ufficio/operatori/nuovo",
            &[
                ("username", "vigile"),
                ("ruolo", "operator"),
                ("modalita", "scrittura"),
                ("servizio_multe", "si"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let password = fact(&html, "Password iniziale (da cambiare al primo accesso)");
    let secret = Secret::from_base32(&fact(&html, "Chiave TOTP")).expect("a base32 key");
    assert!(html.contains("otpauth://totp/"), "the URI");
    assert!(
        html.contains("src=\"data:image/svg+xml;base64,"),
        "the QR code"
    );
    // The list shows the new operator, their service and mode, never logged in.
    let (_, list) = app.page(&admin, "/ufficio/operatori").await;
    assert!(
        list.contains("vigile")
            && list.contains("multe (lettura e scrittura)")
            && list.contains("Mai"),
        "{list}"
    );
    // The new operator logs in with a code from the key, changes the password, sees only multe.
    let fine = BackOffice::new(&store, &ente, 60, "http://localhost")
        .create_position(
            &operator(&store, "capo").await,
            "127.0.0.1",
            &position_form("multe", "OPS-MULTA", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let nursery = BackOffice::new(&store, &ente, 60, "http://localhost")
        .create_position(
            &operator(&store, "capo").await,
            "127.0.0.1",
            &position_form("asilo_nido", "OPS-NIDO", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let vigile = browser();
    let code = secret.code_at(Timestamp::now().unix());
    assert_eq!(
        log_in(&app, &vigile, "vigile", &password, &code).await,
        (303, "/ufficio/password".to_owned())
    );
    let new_password = common::office::NEW_PASSWORD;
    let r = app
        .submit(
            &vigile,
            "/ufficio/password",
            "/ufficio/password",
            &[("password", new_password), ("password2", new_password)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, _) = app
        .page(&vigile, &format!("/ufficio/posizioni/{}", fine.id))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .page(&vigile, &format!("/ufficio/posizioni/{}", nursery.id))
        .await;
    assert_eq!(status, 404, "another service");
    let (status, _) = app.page(&vigile, "/ufficio/operatori").await;
    assert_eq!(status, 403, "not an admin");
    let (_, list) = app.page(&admin, "/ufficio/operatori").await;
    assert!(!list.contains("Mai"), "the last login is shown: {list}");
    // The admin widens the scope and makes it read-only: it applies at the next request.
    let edit = "/ufficio/operatori/modifica?username=vigile";
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/accesso",
            &[
                ("username", "vigile"),
                ("ruolo", "operator"),
                ("modalita", "lettura"),
                ("servizio_multe", "si"),
                ("servizio_asilo_nido", "si"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, _) = app
        .page(&vigile, &format!("/ufficio/posizioni/{}", nursery.id))
        .await;
    assert_eq!(status, 200, "now in scope");
    let (status, _) = app.page(&vigile, "/ufficio/posizioni/nuova").await;
    assert_eq!(status, 403, "read-only now");
    // The admin cannot disable or demote themselves.
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/stato",
            &[("username", "capo"), ("azione", "disattiva")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Non puoi disattivare il tuo stesso profilo")
    );
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/accesso",
            &[
                ("username", "capo"),
                ("ruolo", "operator"),
                ("modalita", "scrittura"),
                ("servizio_multe", "si"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    // A form without the CSRF token changes nothing.
    let r = admin
        .post(format!("{}/ufficio/operatori/stato", app.base))
        .form(&[("username", "vigile"), ("azione", "disattiva")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Disabled: the operator's session stops working at once.
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/stato",
            &[("username", "vigile"), ("azione", "disattiva")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let done = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(done, format!("{edit}&esito=disattivato"));
    let (_, page) = app.page(&admin, &done).await;
    assert!(
        page.contains("Operatore disattivato") && page.contains("Riattiva"),
        "{page}"
    );
    let (status, _) = app.page(&vigile, "/ufficio").await;
    assert_eq!(status, 303, "sent to the login page");
    // Enabled again, with a password reset: the new one-time password must be changed.
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/stato",
            &[("username", "vigile"), ("azione", "riattiva")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/password",
            &[("username", "vigile")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let reset = fact(&html, "Password iniziale (da cambiare al primo accesso)");
    let code = secret.code_at(Timestamp::now().unix() + 30);
    assert_eq!(
        log_in(&app, &browser(), "vigile", &reset, &code).await,
        (303, "/ufficio/password".to_owned())
    );
    // A second-factor reset: the old key no longer works, the new one does.
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/totp",
            &[("username", "vigile")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let fresh = Secret::from_base32(&fact(&html, "Chiave TOTP")).unwrap();
    let now = Timestamp::now().unix();
    assert_eq!(
        log_in(&app, &browser(), "vigile", &reset, &secret.code_at(now))
            .await
            .0,
        401
    );
    assert_eq!(
        log_in(&app, &browser(), "vigile", &reset, &fresh.code_at(now)).await,
        (303, "/ufficio/password".to_owned())
    );
    // The audit search shows the changes.
    let (_, registro) = app
        .page(&admin, "/ufficio/registro?chi=operatore%3Acapo")
        .await;
    for action in [
        "ufficio.operator_create",
        "ufficio.operator_access",
        "ufficio.operator_disable",
        "ufficio.operator_reset_totp",
    ] {
        assert!(registro.contains(action), "{action}");
    }
    app.stop().await;
}

on_both_databases!(admin_manages_operators_in_the_pages);

/// The mode per service, set in the pages: an operator read-write on multe and read-only on
/// asilo_nido changes a fine, sees a nursery position without its buttons and is refused its
/// changes, and cannot create a nursery position.
async fn the_mode_is_per_service(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = app.state.store().clone();
    let ente = app.state.ente().clone();
    let admin = operator_browser(&app, "capo", Role::Admin, &[], false).await;
    let clerk = operator_browser(&app, "impiegato", Role::Operator, &["multe"], false).await;
    let edit = "/ufficio/operatori/modifica?username=impiegato";
    let r = app
        .submit(
            &admin,
            edit,
            "/ufficio/operatori/accesso",
            &[
                ("username", "impiegato"),
                ("ruolo", "operator"),
                ("modalita", "scrittura"),
                ("servizio_multe", "scrittura"),
                ("servizio_asilo_nido", "lettura"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, list) = app.page(&admin, "/ufficio/operatori").await;
    assert!(
        list.contains("asilo_nido (sola lettura), multe (lettura e scrittura)"),
        "{list}"
    );
    let clerk_op = operator(&store, "impiegato").await;
    assert_eq!(clerk_op.read_only_services, vec!["asilo_nido".to_owned()]);
    let audit = store
        .search_audit(
            &AuditQuery {
                actor: Some("operatore:capo".into()),
                ..AuditQuery::default()
            },
            1,
        )
        .await
        .unwrap();
    assert!(
        audit[0].action == "ufficio.operator_access"
            && audit[0]
                .detail
                .contains("\"read_only_services\":[\"asilo_nido\"]"),
        "{audit:?}"
    );
    let bo = BackOffice::new(&store, &ente, 60, "http://localhost");
    let capo = operator(&store, "capo").await;
    let fine = bo
        .create_position(
            &capo,
            "127.0.0.1",
            &position_form("multe", "MODO-MULTA", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let nursery = bo
        .create_position(
            &capo,
            "127.0.0.1",
            &position_form("asilo_nido", "MODO-NIDO", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let nav = nursery.options[0].nav.as_str().to_owned();
    // The nursery position: seen, no buttons, every change refused.
    let page = format!("/ufficio/posizioni/{}", nursery.id);
    let (status, html) = app.page(&clerk, &page).await;
    assert_eq!(status, 200);
    assert!(html.contains("MODO-NIDO") && !html.contains(&format!("{page}/annulla")));
    for (action, fields) in [
        ("annulla", vec![("motivo", "prova")]),
        (
            "rata",
            vec![("avviso", nav.as_str()), ("scadenza", "15/01/2031")],
        ),
        ("pubblica", vec![]),
        ("invia-avviso", vec![]),
    ] {
        let r = app
            .submit(&clerk, "/ufficio", &format!("{page}/{action}"), &fields)
            .await;
        assert_eq!(r.status(), 403, "{action} on a read-only service");
    }
    assert_eq!(
        bo.position(&capo, nursery.id).await.unwrap().status,
        nursery.status,
        "unchanged"
    );
    // The fine: buttons, and the change is made.
    let page = format!("/ufficio/posizioni/{}", fine.id);
    let (_, html) = app.page(&clerk, &page).await;
    assert!(html.contains(&format!("{page}/annulla")));
    let r = app
        .submit(
            &clerk,
            &page,
            &format!("{page}/annulla"),
            &[("motivo", "Verbale annullato in autotutela")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        bo.position(&capo, fine.id).await.unwrap().status.as_str(),
        "INVALID"
    );
    // Creating: only multe is offered, a nursery position is refused.
    let (status, html) = app.page(&clerk, "/ufficio/posizioni/nuova").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("value=\"multe\"") && !html.contains("value=\"asilo_nido\""),
        "{html}"
    );
    let fields = |service| {
        vec![
            ("servizio", service),
            ("iupd", "MODO-NUOVA"),
            ("cf", "RSSMRA80A01H501U"),
            ("nome", "Mario Rossi"),
            ("causale", "Retta"),
            ("importo", "42,50"),
            ("scadenza", "31/12/2030"),
        ]
    };
    let r = app
        .submit(
            &clerk,
            "/ufficio/posizioni/nuova",
            "/ufficio/posizioni/nuova",
            &fields("asilo_nido"),
        )
        .await;
    assert_eq!(r.status(), 403, "read-only service");
    assert!(
        bo.search_positions(
            &capo,
            &PositionQuery {
                iupd: Some("MODO-NUOVA".into()),
                ..PositionQuery::default()
            },
            None,
            10,
        )
        .await
        .unwrap()
        .is_empty()
    );
    let r = app
        .submit(
            &clerk,
            "/ufficio/posizioni/nuova",
            "/ufficio/posizioni/nuova",
            &fields("multe"),
        )
        .await;
    assert_eq!(r.status(), 303, "read-write service");
    app.stop().await;
}

on_both_databases!(the_mode_is_per_service);

/// "E-mail the notice to the debtor": the message reaches the SMTP server with the notice PDF
/// attached, named by its notice code.
async fn the_notice_email_carries_the_pdf(db: TestDb) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(db, &[("SPORTELLO_SMTP_URL", &sink.url())]).await;
    let store = app.state.store().clone();
    let ente = app.state.ente().clone();
    let client = operator_browser(&app, "postino", Role::Operator, &["multe"], false).await;
    let position = BackOffice::new(&store, &ente, 60, "http://localhost")
        .create_position(
            &operator(&store, "postino").await,
            "127.0.0.1",
            &position_form("multe", "MAIL-1", "RSSMRA80A01H501U"),
        )
        .await
        .unwrap();
    let nav = position.options[0].nav.as_str().to_owned();
    let page = format!("/ufficio/posizioni/{}", position.id);
    let r = app
        .submit(&client, &page, &format!("{page}/invia-avviso"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let mail = sink.wait_for("mario.rossi@example.org", 1).await;
    assert!(mail.text().contains(&nav), "the body names the notice code");
    let (headers, pdf) = mail.part("application/pdf").expect("a PDF part");
    assert!(pdf.starts_with(b"%PDF"), "{headers}");
    assert!(headers.contains(&format!("avviso-{nav}.pdf")), "{headers}");
    // The stored row keeps the same bytes for every attempt (and its Message-ID is stable).
    let stored = store
        .outbox_for(Some("mario.rossi@example.org"), 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(stored.message.attachment.map(|a| a.bytes), Some(pdf));
    app.stop().await;
}

on_both_databases!(the_notice_email_carries_the_pdf);

/// Operators created before secrets were sealed (the base32 secret in clear) are sealed when
/// the app starts, and log in as before.
async fn clear_totp_secrets_are_sealed_at_start_up(db: TestDb) {
    let store = db.store().await;
    let secret = Secret::generate();
    let password = "una password di prima";
    store
        .insert_operator(
            &sportello::store::operators::NewOperator {
                username: "veterano".into(),
                password_hash: sportello::auth::password::hash(password.into())
                    .await
                    .unwrap(),
                totp_secret: secret.to_base32(),
                role: Role::Admin,
                read_only: false,
                services: Vec::new(),
                read_only_services: Vec::new(),
            },
            &AuditEvent {
                account_id: None,
                actor: "prova".into(),
                action: "prova".into(),
                outcome: "ok".into(),
                ip: String::new(),
                detail: "{}".into(),
            },
        )
        .await
        .unwrap();
    store.close().await;
    let app = TestApp::spawn(db).await;
    let stored = operator(app.state.store(), "veterano").await;
    assert!(!stored.totp_secret.contains(&secret.to_base32()));
    assert_eq!(
        SealingKey::demo().open("veterano", &stored.totp_secret),
        Some(secret.clone())
    );
    let code = secret.code_at(Timestamp::now().unix());
    assert_eq!(
        log_in(&app, &browser(), "veterano", password, &code).await,
        (303, "/ufficio/password".to_owned())
    );
    app.stop().await;
}

on_both_databases!(clear_totp_secrets_are_sealed_at_start_up);

/// Migration 0016: the operators of before keep their mode, now on each of their services;
/// a read-only admin stays read-only.
async fn migration_gives_each_service_the_operators_mode(db: TestDb) {
    use sportello::db::migrate;
    let store = Store::connect(&db.url).await.unwrap();
    migrate::run_until(store.db(), 13).await.unwrap();
    let now = Timestamp::now();
    for (name, role, read_only, services) in [
        ("lettore", "operator", true, &["multe", "asilo_nido"][..]),
        ("scrivano", "operator", false, &["multe"][..]),
        ("revisore", "admin", true, &[][..]),
    ] {
        sportello::with_db!(store.db(), |pool| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO operators (username, password_hash, totp_secret, role, read_only, created_at, updated_at)
                 VALUES ($1, 'h', 't', $2, $3, $4, $4) RETURNING id",
            )
            .bind(name)
            .bind(role)
            .bind(read_only)
            .bind(now)
            .fetch_one(pool)
            .await
            .unwrap();
            for code in services {
                sqlx::query(
                    "INSERT INTO operator_services (operator_id, service_code) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(code)
                .execute(pool)
                .await
                .unwrap();
            }
        });
    }
    migrate::run(store.db()).await.unwrap();
    let reader = operator(&store, "lettore").await;
    assert_eq!(reader.read_only_services, reader.services);
    assert!(reader.sees_service(Some("multe")) && !reader.may_write());
    let writer = operator(&store, "scrivano").await;
    assert!(writer.read_only_services.is_empty() && writer.may_write_service(Some("multe")));
    let auditor = operator(&store, "revisore").await;
    assert!(auditor.read_only && !auditor.may_write() && !auditor.may_write_service(Some("multe")));
}

on_both_databases!(migration_gives_each_service_the_operators_mode);
