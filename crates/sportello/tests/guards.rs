//! What guards the pages, over HTTP against the real app, on SQLite and on PostgreSQL:
//! every state-changing page route, walked from the router's own table, refuses a form without
//! its session's CSRF token and changes nothing; registrations from one address are throttled
//! with an Italian message; the development mailbox exists in the demo only.

mod common;

use common::office::operator_browser;
use common::smtp::SmtpSink;
use common::{TestApp, TestDb, browser, csrf_of};
use pagopa::PersonalFiscalCode;
use sportello::backoffice::Role;
use sportello::db::Db;
use sportello::store::Store;
use sportello::web::pages::routes::{Guard, PAGE_ROUTES, PageRoute};
use sportello::web::ufficio::{Access, ROUTES as OFFICE_ROUTES};
use sportello::with_db;

both_databases!(
    every_state_changing_page_refuses_a_form_without_its_token,
    every_state_changing_office_route_refuses_a_form_without_its_token,
    registrations_from_one_address_are_throttled,
    only_the_demo_has_a_development_mailbox,
);

/// The page the session layer answers a refused form with.
const REFUSED: &str = "Sessione scaduta";

// ------------------------------------------------------------------------------------------
// Citizens
// ------------------------------------------------------------------------------------------

struct Person {
    username: String,
    fiscal_code: String,
    birth: String,
    email: String,
}

const PASSWORD: &str = "cavallo batteria graffetta";

/// Person `n` (1–28): born on day n of April 1975, fiscal code to match.
fn person(n: usize) -> Person {
    let first15 = format!("BNCGLI75D{n:02}G337");
    Person {
        username: format!("guardia{n}"),
        fiscal_code: format!(
            "{first15}{}",
            PersonalFiscalCode::check_char_for(&first15).unwrap()
        ),
        birth: format!("{n:02}/04/1975"),
        email: format!("guardia{n}@example.it"),
    }
}

async fn register(app: &TestApp, client: &reqwest::Client, p: &Person) -> (u16, String) {
    let r = app
        .submit(
            client,
            "/registrazione",
            "/registrazione",
            &[
                ("nome", "Giulia"),
                ("cognome", "Bianchi"),
                ("codice_fiscale", &p.fiscal_code),
                ("data_nascita", &p.birth),
                ("indirizzo", "Via Roma 1"),
                ("cap", "29121"),
                ("comune", "Piacenza"),
                ("provincia", "PC"),
                ("telefono", "0523 123456"),
                ("fax", ""),
                ("email", &p.email),
                ("username", &p.username),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("privacy", "si"),
            ],
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Registers `p` and follows the activation link the outbox holds for them.
async fn activated(app: &TestApp, p: &Person) {
    let (status, page) = register(app, &browser(), p).await;
    assert_eq!(status, 200, "{page}");
    let mail = app
        .state
        .store()
        .outbox_for(Some(&p.email), 1)
        .await
        .unwrap()
        .pop()
        .expect("an activation message");
    let link = mail
        .message
        .body_text
        .split_whitespace()
        .find(|w| w.contains("/attiva?token="))
        .expect("an activation link")
        .to_owned();
    let path = &link[link.find("/attiva").unwrap()..];
    assert_eq!(app.page(&browser(), path).await.0, 200);
}

/// A browser logged in as `p`.
async fn logged_in(app: &TestApp, p: &Person) -> reqwest::Client {
    let client = app.log_in(&p.username, PASSWORD).await;
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);
    client
}

// ------------------------------------------------------------------------------------------
// CSRF on every state-changing route
// ------------------------------------------------------------------------------------------

/// The routes' path parameters, with values that reach a real handler.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(match &rest[open + 1..close] {
            "code" => "multe",
            "id" => "1",
            "file" => "avviso.pdf",
            other => panic!("give this test a value for {{{other}}} in {path}"),
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The unsafe methods of a route.
fn unsafe_methods(route: &PageRoute) -> Vec<reqwest::Method> {
    route
        .methods
        .iter()
        .filter(|m| !matches!(**m, "get" | "head" | "options"))
        .map(|m| reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap())
        .collect()
}

/// Valid personal data for the profile form.
fn personal_fields(p: &Person) -> Vec<(&'static str, String)> {
    [
        ("nome", "Mallory"),
        ("cognome", "Intrusa"),
        ("data_nascita", p.birth.as_str()),
        ("indirizzo", "Via Falsa 13"),
        ("cap", "29122"),
        ("comune", "Piacenza"),
        ("provincia", "PC"),
        ("telefono", ""),
        ("fax", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// A form that every page would act on if it got through: valid personal data, passwords,
/// an e-mail address, a notice, a service's fields.
fn tempting_form(p: &Person) -> Vec<(&'static str, String)> {
    let mut form = personal_fields(p);
    form.extend(
        [
            ("password_attuale", PASSWORD),
            ("password", "una password scelta da altri"),
            ("password2", "una password scelta da altri"),
            ("email", "mallory@example.it"),
            ("username", p.username.as_str()),
            ("chi", p.username.as_str()),
            ("codice", "301000000000000144"),
            ("opzione", "1"),
            ("targa", "AB123CD"),
            ("importo", "10,00"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned())),
    );
    form
}

/// Every row of every table (sessions by id and owner only: a visit may refresh their times),
/// in a form that compares equal exactly when nothing changed.
async fn everything(store: &Store) -> Vec<(String, String)> {
    // Sessions by id and owner only: a visit may refresh their times.
    let mut out = Vec::new();
    for (table, owner) in [
        ("sessions", "account_id"),
        ("operator_sessions", "operator_id"),
    ] {
        let sql = format!("SELECT id_hash, {owner} FROM {table} ORDER BY id_hash");
        let rows: Vec<(String, Option<i64>)> = with_db!(store.db(), |pool| {
            sqlx::query_as(&sql).fetch_all(pool).await.unwrap()
        });
        out.push((table.to_owned(), format!("{rows:?}")));
    }
    match store.db() {
        Db::Sqlite(pool, _) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for t in tables
                .into_iter()
                .filter(|t| !t.ends_with("sessions") || t == "spid_sessions")
            {
                let columns: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT name FROM pragma_table_info('{t}') ORDER BY cid"
                ))
                .fetch_all(pool)
                .await
                .unwrap();
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT {row} FROM \"{t}\" ORDER BY 1"))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                out.push((t, rows.join("\n")));
            }
        }
        Db::Postgres(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for t in tables
                .into_iter()
                .filter(|t| !t.ends_with("sessions") || t == "spid_sessions")
            {
                let rows: String = sqlx::query_scalar(&format!(
                    "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{t}\" t"
                ))
                .fetch_one(pool)
                .await
                .unwrap();
                out.push((t, rows));
            }
        }
    }
    out
}

/// What changed between two snapshots, by table.
fn changed(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    let mut tables: Vec<String> = before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.clone())
        .collect();
    if before.len() != after.len() {
        tables.push("(the list of tables)".into());
    }
    tables
}

/// A state-changing request: a method and a concrete path.
struct Target<'a> {
    method: reqwest::Method,
    path: &'a str,
}

impl Target<'_> {
    /// Sends `form` (plus `csrf_token` when given) with `client`: status and body (for a
    /// redirect, `Location: …`).
    async fn send(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        form: &[(&str, String)],
        token: Option<&str>,
    ) -> (u16, String) {
        let mut form = form.to_vec();
        if let Some(t) = token {
            form.push(("csrf_token", t.to_owned()));
        }
        let r = client
            .request(self.method.clone(), format!("{}{}", app.base, self.path))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        match r.headers().get("location") {
            Some(to) if r.status().is_redirection() => {
                (status, format!("Location: {}", to.to_str().unwrap()))
            }
            _ => (status, r.text().await.unwrap()),
        }
    }
}

/// Posts `form` to `target` without a session (refused as `visitor_refused` says) and with
/// `client`'s live session in every way that lacks its token (none, empty, `foreign`: another
/// session's, a forged one): each of those is answered with the "Sessione scaduta" page, the
/// database is as it was, and `home` still opens for `client`.
async fn refused_without_token(
    app: &TestApp,
    client: &reqwest::Client,
    foreign: &str,
    target: &Target<'_>,
    form: &[(&str, String)],
    home: &str,
    visitor_refused: impl Fn(u16, &str) -> bool,
) {
    let store = app.state.store();
    let before = everything(store).await;
    let (status, body) = target.send(app, &browser(), form, None).await;
    assert!(
        visitor_refused(status, &body),
        "{} {} without a session: {status}\n{body}",
        target.method,
        target.path
    );
    let forged = foreign.to_ascii_uppercase();
    for (what, token) in [
        ("no token", None),
        ("an empty token", Some("")),
        ("another session's token", Some(foreign)),
        ("a forged token", Some(forged.as_str())),
    ] {
        let (status, body) = target.send(app, client, form, token).await;
        assert!(
            status == 403 && body.contains(REFUSED),
            "{} {} with {what}: {status}\n{body}",
            target.method,
            target.path
        );
    }
    let after = everything(store).await;
    assert!(
        changed(&before, &after).is_empty(),
        "{} {}: a refused form changed {:?}",
        target.method,
        target.path,
        changed(&before, &after)
    );
    assert_eq!(
        app.page(client, home).await.0,
        200,
        "{} {}: still logged in",
        target.method,
        target.path
    );
}

async fn every_state_changing_page_refuses_a_form_without_its_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = app.state.store().clone();
    let guarded: Vec<&PageRoute> = PAGE_ROUTES
        .iter()
        .filter(|r| r.guard == Guard::Csrf && r.changes_state())
        .collect();
    // The table is the router's: it lists the forms everybody knows about.
    for known in [
        "/login",
        "/logout",
        "/registrazione",
        "/attivazione/reinvia",
        "/username-dimenticato",
        "/password-dimenticata",
        "/password/reimposta",
        "/profilo/dati",
        "/profilo/password",
        "/profilo/email",
        "/pagamenti/procedi",
        "/pagamenti/rimuovi",
        "/pagamenti/nuovo/{code}",
        "/pagamenti/nuovo/{code}/conferma",
        "/pagamenti/per-altri",
        "/pagamenti/per-altri/aggiungi",
        "/spid/collega",
    ] {
        assert!(
            guarded.iter().any(|r| r.path == known),
            "{known} is missing from the table of CSRF-guarded routes"
        );
    }
    // The only state-changing routes without the token are the identity provider's bindings;
    // a new exemption has to be argued here.
    let exempt: Vec<&str> = PAGE_ROUTES
        .iter()
        .filter(|r| r.guard != Guard::Csrf && r.changes_state())
        .map(|r| r.path)
        .collect();
    assert_eq!(exempt, ["/spid/acs", "/spid/slo"]);

    let p = person(1);
    activated(&app, &p).await;
    let citizen = logged_in(&app, &p).await;
    // A token that is real, but another session's.
    let (_, other) = app.page(&browser(), "/login").await;
    let foreign = csrf_of(&other);
    let form = tempting_form(&p);

    for route in &guarded {
        let path = concrete(route.path);
        for method in unsafe_methods(route) {
            let target = Target {
                method,
                path: &path,
            };
            refused_without_token(
                &app,
                &citizen,
                &foreign,
                &target,
                &form,
                "/area-privata",
                |status, body| status == 403 && body.contains(REFUSED),
            )
            .await;
        }
    }

    // The same routes with the session's own token reach their handlers: the refusals above
    // were the token's doing. Only the token goes (a full form would change the password and
    // lock the next login out), but for the personal data, where the snapshot must see the
    // change a form makes.
    for route in &guarded {
        let path = concrete(route.path);
        for method in unsafe_methods(route) {
            let client = logged_in(&app, &p).await;
            let (_, page) = app.page(&client, "/area-privata").await;
            let mut with = if route.path == "/profilo/dati" {
                personal_fields(&p)
            } else {
                Vec::new()
            };
            with.push(("csrf_token", csrf_of(&page)));
            let before = everything(&store).await;
            let r = client
                .request(method.clone(), format!("{}{path}", app.base))
                .form(&with)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                !(status == 403 && body.contains(REFUSED)) && status != 405 && status != 404,
                "{method} {path} with the right token: {status}\n{body}"
            );
            if route.path == "/profilo/dati" {
                let after = everything(&store).await;
                assert!(
                    changed(&before, &after).contains(&"accounts".to_owned()),
                    "the accepted form changed the personal data"
                );
            }
        }
    }
    app.stop().await;
}

async fn every_state_changing_office_route_refuses_a_form_without_its_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let posts: Vec<_> = OFFICE_ROUTES
        .iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
        .collect();
    for known in [
        "/ufficio/login",
        "/ufficio/logout",
        "/ufficio/password",
        "/ufficio/posizioni/nuova",
        "/ufficio/posizioni/{id}/pubblica",
        "/ufficio/posizioni/{id}/annulla",
        "/ufficio/anomalie/risolvi",
        "/ufficio/cittadini/conferma",
    ] {
        assert!(
            posts.iter().any(|r| r.path == known),
            "{known} is missing from the back office's table"
        );
    }
    let admin = operator_browser(&app, "guardiano", Role::Admin, &[], false).await;
    let (_, other) = app.page(&browser(), "/ufficio/login").await;
    let foreign = csrf_of(&other);
    let mut form = tempting_form(&person(2));
    form.extend(
        [
            ("codice", "123456"),
            ("servizio", "multe"),
            ("iupd", "GUARDIA-1"),
            ("nota", "risolta da chi non doveva"),
        ]
        .map(|(k, v)| (k, v.to_owned())),
    );
    for route in &posts {
        let path = concrete(route.path);
        let target = Target {
            method: reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap(),
            path: &path,
        };
        // Without a session: the login form's token is missing, any other route sends to login.
        let public = route.access == Access::Public;
        refused_without_token(
            &app,
            &admin,
            &foreign,
            &target,
            &form,
            "/ufficio",
            |status, body| {
                (status == 403 && body.contains(REFUSED))
                    || (!public && status == 303 && body == "Location: /ufficio/login")
            },
        )
        .await;
    }
    // The token was what was missing: with the session's own, logging out goes through.
    let (_, page) = app.page(&admin, "/ufficio").await;
    let logout = Target {
        method: reqwest::Method::POST,
        path: "/ufficio/logout",
    };
    let (status, _) = logout.send(&app, &admin, &[], Some(&csrf_of(&page))).await;
    assert_eq!(status, 303);
    assert_ne!(app.page(&admin, "/ufficio").await.0, 200, "logged out");
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Registration throttle
// ------------------------------------------------------------------------------------------

async fn registrations_from_one_address_are_throttled(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let store = app.state.store();
    let mut accepted = Vec::new();
    let mut refused = None;
    // The limit is ten an hour, with growing pauses after the first three: the eleventh is
    // refused at the latest.
    for n in 1..=11 {
        let p = person(n);
        let (status, page) = register(&app, &browser(), &p).await;
        match status {
            200 => {
                assert!(page.contains("Registrazione completata"), "{page}");
                accepted.push(p);
            }
            429 => {
                refused = Some((p, page));
                break;
            }
            other => panic!("registration {n}: {other}\n{page}"),
        }
    }
    assert!(
        accepted.len() >= 3,
        "the first registrations go through: {}",
        accepted.len()
    );
    let (p, page) = refused.expect("an address cannot register without limit");
    assert!(page.contains("Troppi tentativi"), "{page}");
    assert!(
        page.contains("Per proteggere gli account abbiamo sospeso temporaneamente le richieste da questa connessione. Riprova tra"),
        "{page}"
    );
    assert!(page.contains("lang=\"it\""));
    // The refused registration left nothing: no account, no message.
    assert!(
        store
            .account_by_username(&p.username)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .outbox_for(Some(&p.email), 10)
            .await
            .unwrap()
            .is_empty()
    );
    for a in &accepted {
        assert!(
            store
                .account_by_username(&a.username)
                .await
                .unwrap()
                .is_some()
        );
    }
    // And it stays refused for this address.
    let (status, _) = register(&app, &browser(), &person(12)).await;
    assert_eq!(status, 429);
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Development mailbox
// ------------------------------------------------------------------------------------------

/// The id of the newest message in the outbox.
async fn newest_message(app: &TestApp) -> i64 {
    app.state
        .store()
        .outbox_for(None, 1)
        .await
        .unwrap()
        .pop()
        .expect("a message")
        .id
}

async fn only_the_demo_has_a_development_mailbox(db: TestDb) {
    // Production: mail leaves through SMTP, and no page shows it, even for a message that
    // exists. (The worker may have delivered it already: the row stays.)
    let sink = SmtpSink::start().await;
    let production = TestApp::spawn_with(
        db,
        &[
            ("SPORTELLO_MODE", "production"),
            (
                "SPORTELLO_BACKOFFICE_SECRET_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("SPORTELLO_SMTP_URL", &sink.url()),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_API_KEY", "station-key-0123456789"),
        ],
    )
    .await;
    let p = person(20);
    assert_eq!(register(&production, &browser(), &p).await.0, 200);
    let id = newest_message(&production).await;
    for path in ["/dev/mailbox".to_owned(), format!("/dev/mailbox/{id}")] {
        let (status, page) = production.page(&browser(), &path).await;
        assert_eq!(status, 404, "{path} in production");
        assert!(!page.contains(&p.email), "{path}");
    }
    let (_, home) = production.page(&browser(), "/").await;
    assert!(!home.contains("/dev/mailbox"), "no link to it either");
    let db = production.stop_keeping_db().await;

    // The demo, on the same database, shows the very same message.
    let demo = TestApp::spawn(db).await;
    let (status, list) = demo.page(&browser(), "/dev/mailbox").await;
    assert_eq!(status, 200);
    assert!(list.contains(&p.email), "{list}");
    let (status, message) = demo.page(&browser(), &format!("/dev/mailbox/{id}")).await;
    assert_eq!(status, 200);
    assert!(message.contains("/attiva?token="));
    let (_, home) = demo.page(&browser(), "/").await;
    assert!(home.contains("/dev/mailbox"));
    demo.stop().await;
}
