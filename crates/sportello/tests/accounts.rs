//! Citizen access over HTTP against the real app: registration with e-mail confirmation through
//! a real SMTP sink, login, recovery, profile, and the security rules around them.

mod common;

use common::smtp::SmtpSink;
use common::{TestApp, TestDb, browser, csrf_of};
use pagopa::PersonalFiscalCode;
use sportello::clock::Timestamp;
use sportello::with_db;

/// A valid personal fiscal code from its first 15 characters.
fn cf(first15: &str) -> String {
    format!(
        "{first15}{}",
        PersonalFiscalCode::check_char_for(first15).unwrap()
    )
}

struct Person {
    username: String,
    fiscal_code: String,
    birth: &'static str,
    email: String,
    password: &'static str,
}

fn person(n: usize) -> Person {
    // Day n of March 1970: birth date and fiscal code agree.
    let first15 = format!("VRDLGU70C{:02}F205", n);
    Person {
        username: format!("utente{n}"),
        fiscal_code: cf(&first15),
        birth: Box::leak(format!("{n:02}/03/1970").into_boxed_str()),
        email: format!("utente{n}@example.it"),
        password: "cavallo batteria graffetta",
    }
}

async fn app_with_sink() -> (TestApp, SmtpSink) {
    app_with_sink_and(&[]).await
}

/// The same, with more settings.
async fn app_with_sink_and(extra: &[(&str, &str)]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mut settings = vec![
        ("SPORTELLO_SMTP_URL", url.as_str()),
        ("SPORTELLO_MAIL_POLL_MS", "100"),
    ];
    settings.extend_from_slice(extra);
    let app = TestApp::spawn_with(TestDb::sqlite(), &settings).await;
    (app, sink)
}

async fn register(app: &TestApp, client: &reqwest::Client, p: &Person) -> (u16, String) {
    let r = app
        .submit(
            client,
            "/registrazione",
            "/registrazione",
            &[
                ("nome", "Luigi"),
                ("cognome", "Verdi"),
                ("codice_fiscale", &p.fiscal_code),
                ("data_nascita", p.birth),
                ("indirizzo", "Via Roma 1"),
                ("cap", "29121"),
                ("comune", "Piacenza"),
                ("provincia", "PC"),
                ("telefono", "0523 123456"),
                ("fax", ""),
                ("email", &p.email),
                ("username", &p.username),
                ("password", p.password),
                ("password2", p.password),
                ("privacy", "si"),
            ],
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    login_then(app, client, username, password, "").await
}

/// Logs in through the form asking to go to `next` afterwards.
async fn login_then(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    app.submit(
        client,
        "/login",
        "/login",
        &[
            ("username", username),
            ("password", password),
            ("next", next),
        ],
    )
    .await
}

/// Registers and activates through the mail, returning a logged-out client.
async fn active_account(app: &TestApp, sink: &SmtpSink, p: &Person) {
    let client = browser();
    assert_eq!(register(app, &client, p).await.0, 200);
    let mail = sink.wait_for(&p.email, 1).await;
    let link = mail.link("/attiva?token=").expect("activation link");
    let (status, _) = app.page(&client, link.trim_start_matches(&app.base)).await;
    assert_eq!(status, 200);
}

/// Opens a reset link's form (for its CSRF token) and submits `password` twice, like a browser.
async fn submit_reset(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    token: &str,
    password: &str,
) -> reqwest::Response {
    let (_, form) = app.page(client, path).await;
    client
        .post(format!("{}/password/reimposta", app.base))
        .form(&[
            ("csrf_token", csrf_of(&form).as_str()),
            ("token", token),
            ("password", password),
            ("password2", password),
        ])
        .send()
        .await
        .unwrap()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sportello="))
}

#[tokio::test]
async fn register_activate_login_logout_through_real_smtp() {
    let (app, sink) = app_with_sink().await;
    let client = browser();
    let p = person(1);

    let (status, home) = app.page(&client, "/").await;
    assert_eq!(status, 200);
    for text in [
        "Comune di Piacenza",
        "MANUALE",
        "SITO UFFICIALE",
        "LOGIN",
        "REGISTRATI",
    ] {
        assert!(home.contains(text), "home lacks {text}");
    }
    let (_, login_page) = app.page(&client, "/login").await;
    for text in [
        "Username",
        "Password",
        "ENTRA",
        "Username dimenticato?",
        "Password dimenticata?",
    ] {
        assert!(login_page.contains(text), "login lacks {text}");
    }
    // The demo enters with SPID through the sandbox's identity provider (tests/spid.rs).
    assert!(
        login_page.contains("Entra con SPID") && login_page.contains("SPID di prova (sandbox)"),
        "the demo's SPID chooser"
    );

    let (status, done) = register(&app, &client, &p).await;
    assert_eq!(status, 200);
    assert!(done.contains("Grazie, Luigi: il tuo account è stato creato. Per attivare l&#39;account, è necessario confermare l&#39;indirizzo e-mail.") || done.contains("Grazie, Luigi: il tuo account è stato creato. Per attivare l'account, è necessario confermare l'indirizzo e-mail."), "{done}");
    assert!(done.contains("spam"));
    assert!(done.contains("utenti_pagopa@comune.piacenza.it"));

    // The activation mail arrives over SMTP, in Italian, plain text and HTML.
    let mail = sink.wait_for(&p.email, 1).await;
    assert!(
        mail.subject().contains("Conferma il tuo indirizzo e-mail"),
        "{}",
        mail.subject()
    );
    assert!(
        mail.text().contains("Gentile Luigi Verdi"),
        "{}",
        mail.text()
    );
    assert!(mail.html().contains("<a href="), "{}", mail.html());
    let link = mail.link("/attiva?token=").unwrap_or_else(|| {
        panic!(
            "activation link in the mail: {}\n---\n{}",
            mail.text(),
            mail.raw
        )
    });

    // Not active yet: login is refused with the reason and an offer to resend.
    let refused = login(&app, &client, &p.username, p.password).await;
    assert_eq!(refused.status(), 403);
    let body = refused.text().await.unwrap();
    assert!(body.contains("non è ancora attivo"), "{body}");
    assert!(
        body.contains("Invia di nuovo l&#39;e-mail di attivazione")
            || body.contains("Invia di nuovo l'e-mail di attivazione")
    );

    let (status, activated) = app.page(&client, link.trim_start_matches(&app.base)).await;
    assert_eq!(status, 200);
    assert!(activated.contains("Account attivato"));
    // Single use.
    let (status, _) = app.page(&client, link.trim_start_matches(&app.base)).await;
    assert_eq!(status, 400);

    let before = app.page(&client, "/login").await;
    let ok = login(&app, &client, &p.username, p.password).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/area-privata");
    let cookie = session_cookie(&ok).expect("a new session id at login");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http in tests");
    let _ = before;

    let (status, private) = app.page(&client, "/area-privata").await;
    assert_eq!(status, 200);
    for text in [
        "La tua Sezione Privata",
        "SERVIZI PUBBLICI",
        "SERVIZI PRIVATI",
        "Pagamenti OnLine",
    ] {
        assert!(private.contains(text), "private area lacks {text}");
    }
    let (status, payments) = app.page(&client, "/pagamenti").await;
    assert_eq!(status, 200);
    assert!(payments.contains("Pagamenti OnLine"));

    let out = app.submit(&client, "/area-privata", "/logout", &[]).await;
    assert_eq!(out.status(), 303);
    let r = client
        .get(format!("{}/area-privata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/area-privata");

    let audit = app.state.store().recent_audit(None, 50).await.unwrap();
    let actions: Vec<(String, String)> = audit
        .iter()
        .map(|a| (a.event.action.clone(), a.event.outcome.clone()))
        .collect();
    for expected in [
        ("register", "ok"),
        ("login", "not_activated"),
        ("activate", "ok"),
        ("login", "ok"),
        ("logout", "ok"),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1.into())),
            "audit lacks {expected:?}: {actions:?}"
        );
    }
    assert!(audit.iter().all(|a| a.event.ip == "127.0.0.1"));
    app.stop().await;
}

#[tokio::test]
async fn every_wrong_field_is_reported_and_typed_values_are_kept() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = browser();
    let r = app
        .submit(
            &client,
            "/registrazione",
            "/registrazione",
            &[
                ("nome", ""),
                ("cognome", "V3rdi"),
                ("codice_fiscale", "RSSMRA80A01H501X"),
                ("data_nascita", "31/02/1980"),
                ("indirizzo", ""),
                ("cap", "291"),
                ("comune", ""),
                ("provincia", "Piacenza"),
                ("telefono", "telefono"),
                ("fax", "1"),
                ("email", "luigi@"),
                ("username", "l v"),
                ("password", "corta"),
                ("password2", "diversa"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Il modulo contiene 15 errori"), "{html}");
    for field in [
        "nome",
        "cognome",
        "codice_fiscale",
        "data_nascita",
        "indirizzo",
        "cap",
        "comune",
        "provincia",
        "telefono",
        "fax",
        "email",
        "username",
        "password",
        "password2",
        "privacy",
    ] {
        assert!(
            html.contains(&format!("id=\"{field}-errore\"")),
            "no error next to {field}"
        );
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "no summary link to {field}"
        );
    }
    assert!(
        html.contains("value=\"RSSMRA80A01H501X\""),
        "typed values are kept"
    );
    assert!(html.contains("value=\"V3rdi\""));
    assert!(
        !html.contains("value=\"corta\""),
        "passwords are never echoed"
    );
    assert!(html.contains("Il carattere di controllo del codice fiscale non è corretto"));
    assert!(
        app.state
            .store()
            .account_by_username("l v")
            .await
            .unwrap()
            .is_none()
    );
}

/// A fiscal code typed at registration is a claim (issue 10, finding 4): a second registration
/// with a code already registered takes the very same path as a new one — an account is
/// created, the newcomer gets the activation link, nobody else is told — so the answer reveals
/// nothing and the real owner can always register. Until then this test asserted the opposite
/// (one account per fiscal code, the first registrant warned by mail), which let whoever
/// registered first lock the real owner out.
#[tokio::test]
async fn a_registered_fiscal_code_is_a_claim_anyone_may_make() {
    let (app, sink) = app_with_sink().await;
    let first = person(2);
    active_account(&app, &sink, &first).await;
    let mut second = person(2);
    second.username = "altro".into();
    second.email = "intruso@example.it".into();
    let (status, page) = register(&app, &browser(), &second).await;
    assert_eq!(status, 200, "the same answer as a new registration");
    assert!(page.contains("il tuo account è stato creato"));
    let created = app
        .state
        .store()
        .account_by_username("altro")
        .await
        .unwrap()
        .expect("a claim is an account like any other");
    assert_eq!(created.fiscal_code, first.fiscal_code);
    assert_eq!(created.identity, None, "a claim, not an identity");
    // The newcomer confirms their own address; the first registrant hears nothing.
    let activation = sink.wait_for("intruso@example.it", 1).await;
    assert!(activation.link("/attiva?token=").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.count_for(&first.email), 1, "only their own activation");

    // A taken username is a field error (usernames are chosen, so this reveals nothing private).
    let mut third = person(3);
    third.username = first.username.to_uppercase();
    let (status, page) = register(&app, &browser(), &third).await;
    assert_eq!(status, 422);
    assert!(page.contains("Questo nome utente non è disponibile"));
    app.stop().await;
}

/// An account that never confirmed its e-mail reserves nothing: once its activation links have
/// expired, its username goes to the next person who asks for it.
#[tokio::test]
async fn an_unconfirmed_account_reserves_nothing() {
    let (app, sink) = app_with_sink().await;
    let squatter = Person {
        email: "squatter@example.it".into(),
        ..person(4)
    };
    assert_eq!(register(&app, &browser(), &squatter).await.0, 200);
    sink.wait_for("squatter@example.it", 1).await;
    let owner = Person {
        email: "owner@example.it".into(),
        ..person(4)
    };
    // Still within its 48 hours: the name is taken.
    assert_eq!(register(&app, &browser(), &owner).await.0, 422);
    let store = app.state.store();
    let stale = Timestamp::now().plus(time::Duration::hours(-49));
    with_db!(store.db(), |pool| {
        sqlx::query("UPDATE accounts SET created_at = $1 WHERE username_key = 'utente4'")
            .bind(stale)
            .execute(pool)
            .await
            .unwrap();
    });
    let (status, page) = register(&app, &browser(), &owner).await;
    assert_eq!(status, 200, "{page}");
    let account = store.account_by_username("utente4").await.unwrap().unwrap();
    assert_eq!(account.email, "owner@example.it");
    let mail = sink.wait_for("owner@example.it", 1).await;
    let link = mail.link("/attiva?token=").unwrap();
    let client = browser();
    assert_eq!(
        app.page(&client, link.trim_start_matches(&app.base))
            .await
            .0,
        200
    );
    assert_eq!(
        login(&app, &client, "utente4", owner.password)
            .await
            .status(),
        303
    );
    // The squatter's old link opens nothing.
    let old = sink
        .wait_for("squatter@example.it", 1)
        .await
        .link("/attiva?token=")
        .unwrap();
    let (_, page) = app
        .page(&browser(), old.trim_start_matches(&app.base))
        .await;
    assert!(!page.contains("Account attivato"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn activation_links_expire_and_can_be_sent_again() {
    let (app, sink) = app_with_sink().await;
    let client = browser();
    let p = person(4);
    register(&app, &client, &p).await;
    let first = sink
        .wait_for(&p.email, 1)
        .await
        .link("/attiva?token=")
        .unwrap();
    // Age the link past its 48 hours.
    with_db!(app.state.store().db(), |pool| sqlx::query(
        "UPDATE account_tokens SET expires_at = $1"
    )
    .bind(Timestamp::now().plus(time::Duration::minutes(-1)))
    .execute(pool)
    .await
    .unwrap()
    .rows_affected());
    let (status, page) = app.page(&client, first.trim_start_matches(&app.base)).await;
    assert_eq!(status, 400);
    assert!(page.contains("scaduto"));
    // Ask again (same answer whether or not the account exists).
    let r = app
        .submit(
            &client,
            "/attivazione/reinvia",
            "/attivazione/reinvia",
            &[("chi", &p.email)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let unknown = app
        .submit(
            &client,
            "/attivazione/reinvia",
            "/attivazione/reinvia",
            &[("chi", "nessuno@example.it")],
        )
        .await;
    assert_eq!(r_text_core(r).await, r_text_core(unknown).await);
    let second = sink
        .wait_for(&p.email, 2)
        .await
        .link("/attiva?token=")
        .unwrap();
    assert_ne!(first, second);
    let (status, _) = app
        .page(&client, second.trim_start_matches(&app.base))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        login(&app, &client, &p.username, p.password).await.status(),
        303
    );
    app.stop().await;
}

/// The main text of a page, without the per-session CSRF token.
async fn r_text_core(r: reqwest::Response) -> String {
    let html = r.text().await.unwrap();
    let start = html.find("<main").unwrap();
    let end = html.find("</main>").unwrap();
    html[start..end].to_owned()
}

#[tokio::test]
async fn forgotten_username_and_password_reset_end_every_session() {
    let (app, sink) = app_with_sink().await;
    let p = person(5);
    active_account(&app, &sink, &p).await;

    let client = browser();
    let known = app
        .submit(
            &client,
            "/username-dimenticato",
            "/username-dimenticato",
            &[("email", &p.email)],
        )
        .await;
    let unknown = app
        .submit(
            &client,
            "/username-dimenticato",
            "/username-dimenticato",
            &[("email", "ignoto@example.it")],
        )
        .await;
    assert_eq!(
        (known.status(), unknown.status()),
        (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
    );
    assert_eq!(
        r_text_core(known).await,
        r_text_core(unknown).await,
        "no account enumeration"
    );
    let reminder = sink.wait_for(&p.email, 2).await;
    assert!(reminder.text().contains(&p.username), "{}", reminder.text());

    // Two open sessions.
    let other = browser();
    assert_eq!(
        login(&app, &other, &p.username, p.password).await.status(),
        303
    );
    let account = app
        .state
        .store()
        .account_by_username(&p.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.state
            .store()
            .session_count(account.id, Timestamp::now())
            .await
            .unwrap(),
        1
    );

    let known = app
        .submit(
            &client,
            "/password-dimenticata",
            "/password-dimenticata",
            &[("username", &p.username)],
        )
        .await;
    let unknown = app
        .submit(
            &client,
            "/password-dimenticata",
            "/password-dimenticata",
            &[("username", "ignoto")],
        )
        .await;
    assert_eq!(
        r_text_core(known).await,
        r_text_core(unknown).await,
        "no account enumeration"
    );
    let reset = sink.wait_for(&p.email, 3).await;
    assert!(reset.text().contains("1 ora"));
    let link = reset.link("/password/reimposta?token=").unwrap();
    let path = link.trim_start_matches(&app.base);
    let token = path.split("token=").nth(1).unwrap().to_owned();

    // Opening the link does not use it up (mail scanners open links).
    let (status, _) = app.page(&client, path).await;
    assert_eq!(status, 200);
    let weak = submit_reset(&app, &client, path, &token, "password").await;
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("tra le più usate"));
    let done = submit_reset(&app, &client, path, &token, "una nuova frase segreta").await;
    assert_eq!(done.status(), 200);
    assert_eq!(
        app.state
            .store()
            .session_count(account.id, Timestamp::now())
            .await
            .unwrap(),
        0,
        "every session ended"
    );
    let r = other
        .get(format!("{}/area-privata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the other browser is logged out");
    assert!(
        sink.wait_for(&p.email, 4)
            .await
            .subject()
            .contains("Password modificata")
    );

    assert_eq!(
        login(&app, &browser(), &p.username, p.password)
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&app, &browser(), &p.username, "una nuova frase segreta")
            .await
            .status(),
        303
    );
    // The link worked once.
    let again = submit_reset(&app, &client, path, &token, "ancora un'altra frase").await;
    assert_eq!(again.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn reset_links_expire_after_an_hour() {
    let (app, sink) = app_with_sink().await;
    let p = person(6);
    active_account(&app, &sink, &p).await;
    let client = browser();
    app.submit(
        &client,
        "/password-dimenticata",
        "/password-dimenticata",
        &[("username", &p.username)],
    )
    .await;
    let link = sink
        .wait_for(&p.email, 2)
        .await
        .link("/password/reimposta?token=")
        .unwrap();
    let expires: Timestamp = with_db!(app.state.store().db(), |pool| sqlx::query_scalar(
        "SELECT expires_at FROM account_tokens WHERE purpose = 'password_reset'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    let minutes = (expires.unix() - Timestamp::now().unix()) / 60;
    assert!((58..=60).contains(&minutes), "{minutes}");
    with_db!(app.state.store().db(), |pool| sqlx::query(
        "UPDATE account_tokens SET expires_at = $1 WHERE purpose = 'password_reset'"
    )
    .bind(Timestamp::now().plus(time::Duration::seconds(-1)))
    .execute(pool)
    .await
    .unwrap()
    .rows_affected());
    let path = link.trim_start_matches(&app.base);
    let token = path.split("token=").nth(1).unwrap();
    let r = submit_reset(&app, &client, path, token, "una nuova frase segreta").await;
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn every_form_needs_its_csrf_token() {
    let (app, sink) = app_with_sink().await;
    let p = person(7);
    active_account(&app, &sink, &p).await;
    let client = browser();
    // No session at all.
    let r = client
        .post(format!("{}/login", app.base))
        .form(&[("username", p.username.as_str()), ("password", p.password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A session, but no token, or a token of another session.
    let _ = app.page(&client, "/login").await;
    let r = client
        .post(format!("{}/login", app.base))
        .form(&[("username", p.username.as_str()), ("password", p.password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, other_page) = app.page(&browser(), "/login").await;
    let foreign = csrf_of(&other_page);
    let r = client
        .post(format!("{}/login", app.base))
        .form(&[
            ("csrf_token", foreign.as_str()),
            ("username", p.username.as_str()),
            ("password", p.password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Sessione scaduta"));
    for action in [
        "/registrazione",
        "/logout",
        "/username-dimenticato",
        "/password-dimenticata",
        "/password/reimposta",
        "/attivazione/reinvia",
        "/profilo/dati",
        "/profilo/password",
        "/profilo/email",
    ] {
        let r = client
            .post(format!("{}{action}", app.base))
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            403,
            "{action} accepted a form without CSRF token"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_timeouts_end_sessions() {
    let (app, sink) = app_with_sink().await;
    let p = person(8);
    active_account(&app, &sink, &p).await;
    let client = browser();
    let r = client
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    let visitor = session_cookie(&r).unwrap();
    let ok = login(&app, &client, &p.username, p.password).await;
    let logged = session_cookie(&ok).unwrap();
    assert_ne!(
        visitor.split(';').next(),
        logged.split(';').next(),
        "no session fixation"
    );
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);

    // Idle: the session expired in the database.
    with_db!(app.state.store().db(), |pool| sqlx::query(
        "UPDATE sessions SET expires_at = $1 WHERE account_id IS NOT NULL"
    )
    .bind(Timestamp::now().plus(time::Duration::seconds(-1)))
    .execute(pool)
    .await
    .unwrap()
    .rows_affected());
    assert_eq!(app.page(&client, "/area-privata").await.0, 303);

    // Absolute: logged in longer ago than the absolute lifetime, however active.
    login(&app, &client, &p.username, p.password).await;
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);
    with_db!(app.state.store().db(), |pool| sqlx::query(
        "UPDATE sessions SET created_at = $1 WHERE account_id IS NOT NULL"
    )
    .bind(Timestamp::now().plus(time::Duration::hours(-13)))
    .execute(pool)
    .await
    .unwrap()
    .rows_affected());
    assert_eq!(app.page(&client, "/area-privata").await.0, 303);
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_slow_down_and_are_audited() {
    let (app, sink) = app_with_sink().await;
    let p = person(9);
    active_account(&app, &sink, &p).await;
    let client = browser();
    for _ in 0..3 {
        let r = login(&app, &client, &p.username, "sbagliata sbagliata").await;
        assert_eq!(r.status(), 401);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Nome utente o password non corretti.")
        );
    }
    // The same message for a user that does not exist.
    let r = login(&app, &browser(), "nessuno", "sbagliata sbagliata").await;
    assert_eq!(r.status(), 401);
    // The fourth failure imposes a delay; even the right password waits.
    assert_eq!(
        login(&app, &client, &p.username, "sbagliata sbagliata")
            .await
            .status(),
        401
    );
    let r = login(&app, &client, &p.username, p.password).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Riprova tra"));
    let audit = app
        .state
        .store()
        .recent_audit(Some("login"), 50)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .filter(|a| a.event.outcome == "bad_credentials")
            .count()
            >= 5
    );
    assert!(audit.iter().any(|a| a.event.outcome == "throttled"));
    app.stop().await;
}

#[tokio::test]
async fn registration_and_recovery_are_rate_limited_per_address() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = browser();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = app
            .submit(
                &client,
                "/username-dimenticato",
                "/username-dimenticato",
                &[("email", &format!("x{i}@example.it"))],
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(
        statuses[3..].contains(&429),
        "a growing delay after the first requests: {statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn profile_changes_personal_data_password_and_email() {
    let (app, sink) = app_with_sink().await;
    let p = person(10);
    active_account(&app, &sink, &p).await;
    let client = browser();
    login(&app, &client, &p.username, p.password).await;
    let other = browser();
    login(&app, &other, &p.username, p.password).await;

    let r = app
        .submit(
            &client,
            "/profilo",
            "/profilo/dati",
            &[
                ("nome", "Luigi"),
                ("cognome", "Verdi Bianchi"),
                ("data_nascita", p.birth),
                ("indirizzo", "Via Emilia 2"),
                ("cap", "29122"),
                ("comune", "Piacenza"),
                ("provincia", "PC"),
                ("telefono", ""),
                ("fax", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.page(&client, "/profilo?ok=dati").await;
    assert!(page.contains("I dati personali sono stati salvati"));
    assert!(page.contains("Verdi Bianchi"));

    let wrong = app
        .submit(
            &client,
            "/profilo",
            "/profilo/password",
            &[
                ("password_attuale", "non è questa"),
                ("password", "una frase tutta nuova"),
                ("password2", "una frase tutta nuova"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("La password attuale non è corretta")
    );
    let r = app
        .submit(
            &client,
            "/profilo",
            "/profilo/password",
            &[
                ("password_attuale", p.password),
                ("password", "una frase tutta nuova"),
                ("password2", "una frase tutta nuova"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.page(&client, "/profilo").await.0,
        200,
        "this browser stays in"
    );
    assert_eq!(
        app.page(&other, "/profilo").await.0,
        303,
        "other sessions end"
    );

    let r = app
        .submit(
            &client,
            "/profilo",
            "/profilo/email",
            &[("email", "nuovo@example.it")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let account = app
        .state
        .store()
        .account_by_username(&p.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        account.email, p.email,
        "the old address stays until the new one is confirmed"
    );
    let confirm = sink
        .wait_for("nuovo@example.it", 1)
        .await
        .link("/email/conferma?token=")
        .unwrap();
    let (status, _) = app
        .page(&client, confirm.trim_start_matches(&app.base))
        .await;
    assert_eq!(status, 200);
    let account = app
        .state
        .store()
        .account_by_username(&p.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.email, "nuovo@example.it");
    app.stop().await;
}

#[tokio::test]
async fn only_local_paths_are_followed_after_login_and_pages_are_hardened() {
    let (app, sink) = app_with_sink().await;
    let p = person(11);
    active_account(&app, &sink, &p).await;
    let client = browser();
    let r = login_then(&app, &client, &p.username, p.password, "//evil.example/x").await;
    assert_eq!(r.headers()["location"], "/area-privata");
    let r = client
        .get(format!("{}/profilo", app.base))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    app.stop().await;
}

/// The review's open redirect (`next=/%09/evil.example` gave `Location: /\t/evil…`, which
/// browsers follow off-site) and its relatives, through the login form and SPID's login.
#[tokio::test]
async fn no_next_leads_off_site_after_login() {
    let (app, sink) = app_with_sink().await;
    let p = person(12);
    active_account(&app, &sink, &p).await;
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example",
        "http:/evil.example",
        "/ /evil.example",
        "/\u{0}/evil.example",
    ];
    for next in hostile {
        let client = browser();
        let r = login_then(&app, &client, &p.username, p.password, next).await;
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], "/area-privata", "{next:?}");
        // The same `next`, percent-encoded in a link, to SPID's login of a signed-in user.
        let query = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
        let r = client
            .get(format!("{}/spid/login?idp=x&next={query}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/area-privata", "{next:?}");
    }
    // A path of the site is still followed.
    let client = browser();
    let r = login_then(&app, &client, &p.username, p.password, "/storico?anno=2030").await;
    assert_eq!(r.headers()["location"], "/storico?anno=2030");
    app.stop().await;
}

/// Wrong passwords slow down the address they come from, not the user everywhere: an attacker
/// elsewhere cannot lock the owner out. Behind a trusted proxy the address is the one it
/// forwards; from anyone else `X-Forwarded-For` is ignored.
#[tokio::test]
async fn failures_elsewhere_do_not_lock_the_owner_out() {
    let (app, sink) = app_with_sink_and(&[("SPORTELLO_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let p = person(13);
    active_account(&app, &sink, &p).await;
    let from = |address: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap()
    };
    let attacker = from("198.51.100.66");
    let statuses = wrong_passwords(&app, &p, |_| attacker.clone()).await;
    assert!(
        statuses.contains(&429),
        "the attacker is slowed: {statuses:?}"
    );
    assert_eq!(
        login(&app, &attacker, &p.username, p.password)
            .await
            .status(),
        429,
        "even with the right password, from there"
    );
    let owner = from("203.0.113.7");
    let r = login(&app, &owner, &p.username, p.password).await;
    assert_eq!(r.status(), 303, "the owner, elsewhere, gets in");
    assert!(
        login_addresses(&app)
            .await
            .contains(&("bad_credentials".to_owned(), "198.51.100.66".to_owned())),
        "the forwarded address is the one audited"
    );
    app.stop().await;

    // No trusted proxy: the header is the client's own claim, and changes nothing.
    let (app, sink) = app_with_sink().await;
    active_account(&app, &sink, &p).await;
    let statuses = wrong_passwords(&app, &p, |i| from(&format!("198.51.100.{i}"))).await;
    assert!(
        statuses.contains(&429),
        "a forged header escapes nothing: {statuses:?}"
    );
    assert!(
        login_addresses(&app)
            .await
            .iter()
            .all(|(_, ip)| ip == "127.0.0.1")
    );
    app.stop().await;
}

/// Six logins of `p` with a wrong password, the i-th through `client(i)`: their statuses.
async fn wrong_passwords(
    app: &TestApp,
    p: &Person,
    client: impl Fn(usize) -> reqwest::Client,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = login(app, &client(i), &p.username, "indovino indovino").await;
        statuses.push(r.status().as_u16());
    }
    statuses
}

/// (outcome, address) of the audited logins.
async fn login_addresses(app: &TestApp) -> Vec<(String, String)> {
    let audit = app
        .state
        .store()
        .recent_audit(Some("login"), 50)
        .await
        .unwrap();
    audit
        .into_iter()
        .map(|a| (a.event.outcome, a.event.ip))
        .collect()
}

#[tokio::test]
async fn the_demo_keeps_mail_in_a_development_mailbox() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = browser();
    let p = person(12);
    register(&app, &client, &p).await;
    let (status, mailbox) = app.page(&client, "/dev/mailbox").await;
    assert_eq!(status, 200);
    assert!(mailbox.contains(&p.email));
    let id = mailbox
        .split("/dev/mailbox/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (_, message) = app.page(&client, &format!("/dev/mailbox/{id}")).await;
    let link = message
        .split("href=\"")
        .map(|s| s.split('"').next().unwrap())
        .find(|s| s.starts_with("http") && s.contains("/attiva?token="))
        .expect("the activation link is clickable in the mailbox");
    let (status, page) = app.page(&client, link.trim_start_matches(&app.base)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Account attivato"), "{link}: {page}");
    let r = login(&app, &client, &p.username, p.password).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn the_whole_journey_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(
        db,
        &[
            ("SPORTELLO_SMTP_URL", &url),
            ("SPORTELLO_MAIL_POLL_MS", "100"),
        ],
    )
    .await;
    let p = person(13);
    active_account(&app, &sink, &p).await;
    let client = browser();
    assert_eq!(
        login(&app, &client, &p.username, p.password).await.status(),
        303
    );
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);
    app.stop().await;
}
