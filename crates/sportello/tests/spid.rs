//! SPID over real HTTP: Sportello's service provider against the sandbox's identity provider,
//! driven like a browser (cookies kept, redirects inspected). The official validator,
//! spid-sp-test, runs against the binary in `scripts/spid-sp-test`.

mod common;

use common::spid::{at_idp, location, logged_in, post_to_acs};
use common::{TestApp, TestDb, browser, csrf_of};
use spid::binding::{MessageKind, RedirectMessage};
use sportello::clock::Timestamp;
use sportello::store::Store;
use sportello::store::accounts::{AccountState, NewAccount, PersonalData};
use sportello::store::spid::{RequestKind, SpidRequest};

fn fc(code: &str) -> pagopa::FiscalCode {
    pagopa::FiscalCode::parse(code).unwrap()
}

async fn spid_app(db: TestDb) -> TestApp {
    TestApp::spawn(db).await
}

async fn journey(db: TestDb) {
    let app = spid_app(db).await;
    let store = app.state.store().clone();
    let client = browser();
    let answer = at_idp(&app, &client, "VRDLCU90E50G535L", "ok", "entra").await;
    assert_eq!(answer.acs, format!("{}/spid/acs", app.base));
    let r = post_to_acs(&client, &answer).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/area-privata");
    let (status, html) = app.page(&client, "/area-privata").await;
    assert_eq!(status, 200);
    assert!(html.contains("Lucia Verdi"), "{html}");

    let account = store
        .account_by_verified_fiscal_code(&fc("VRDLCU90E50G535L"))
        .await
        .unwrap()
        .expect("the first login creates the account");
    assert_eq!(account.state, AccountState::Active);
    assert_eq!(account.password_hash, None, "it enters with SPID only");
    assert_eq!(account.email, "lucia.verdi@example.it");
    let identity = account
        .identity
        .clone()
        .expect("its fiscal code is verified");
    assert_eq!(identity.source.as_str(), "spid");
    assert_eq!(
        identity.verified_by,
        format!("{}/idp", app.sandbox.as_deref().unwrap())
    );

    // The same response again (a replay) is refused: the request was used.
    let replay = post_to_acs(&browser_with_cookies_of(&client), &answer).await;
    assert_eq!(replay.status(), 403);
    let again = post_to_acs(&client, &answer).await;
    assert_eq!(again.status(), 403, "single use");
    assert!(again.text().await.unwrap().contains("è già stata usata"));

    // Another login of the same identity, in another browser: the same account.
    let other = browser();
    let answer = at_idp(&app, &other, "VRDLCU90E50G535L", "ok", "entra").await;
    assert_eq!(post_to_acs(&other, &answer).await.status(), 303);
    let same = store
        .account_by_verified_fiscal_code(&fc("VRDLCU90E50G535L"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .accounts_claiming(&fc("VRDLCU90E50G535L"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(same.id, account.id);
    app.stop().await;
}

/// A client with no cookies at all: another browser.
fn browser_with_cookies_of(_client: &reqwest::Client) -> reqwest::Client {
    browser()
}

#[tokio::test]
async fn the_first_spid_login_creates_a_verified_account_and_later_ones_reuse_it() {
    journey(TestDb::sqlite()).await;
}

#[tokio::test]
async fn the_spid_journey_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    journey(db).await;
}

#[tokio::test]
async fn a_response_counts_only_in_the_browser_that_started_the_login() {
    let app = spid_app(TestDb::sqlite()).await;
    let starter = browser();
    let answer = at_idp(&app, &starter, "RSSMRA80A01H501U", "ok", "entra").await;
    let stranger = browser();
    let r = post_to_acs(&stranger, &answer).await;
    assert_eq!(r.status(), 403, "no flow cookie, no login");
    assert_eq!(app.page(&stranger, "/area-privata").await.0, 303);
    // The stranger's attempt did not use the request up.
    assert_eq!(post_to_acs(&starter, &answer).await.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn an_existing_password_account_is_linked_once_by_its_password() {
    let app = spid_app(TestDb::sqlite()).await;
    let store = app.state.store().clone();
    let hash = sportello::auth::password::hash("cavallo batteria graffetta".into())
        .await
        .unwrap();
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::insert_account_in(
        &mut tx,
        &NewAccount {
            username: "mrossi".into(),
            password_hash: hash,
            fiscal_code: "RSSMRA80A01H501U".into(),
            email: "mario@example.it".into(),
            personal: PersonalData {
                first_name: "Mario".into(),
                last_name: "Rossi".into(),
                ..PersonalData::default()
            },
        },
    )
    .await
    .unwrap();
    Store::activate_account_in(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    let verified = |store: Store| async move {
        store
            .account_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .identity
            .map(|i| i.source.as_str())
    };
    assert_eq!(verified(store.clone()).await, None, "typed, so claimed");

    let client = browser();
    let answer = at_idp(&app, &client, "RSSMRA80A01H501U", "ok", "entra").await;
    let r = post_to_acs(&client, &answer).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/spid/collega");
    assert_eq!(
        app.page(&client, "/area-privata").await.0,
        303,
        "not logged in yet"
    );
    let (status, html) = app.page(&client, "/spid/collega").await;
    assert_eq!(status, 200);
    assert!(html.contains("mrossi"), "{html}");

    let wrong = app
        .submit(
            &client,
            "/spid/collega",
            "/spid/collega",
            &[("password", "sbagliata sbagliata")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(verified(store.clone()).await, None);

    let right = app
        .submit(
            &client,
            "/spid/collega",
            "/spid/collega",
            &[("password", "cavallo batteria graffetta")],
        )
        .await;
    assert_eq!(right.status(), 303);
    assert_eq!(location(&right), "/area-privata");
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);
    assert_eq!(verified(store.clone()).await, Some("spid"));

    // Linked: the next SPID login goes straight in, no password asked.
    let next = browser();
    let answer = at_idp(&app, &next, "RSSMRA80A01H501U", "ok", "entra").await;
    let r = post_to_acs(&next, &answer).await;
    assert_eq!(location(&r), "/area-privata");
    // And the password keeps working as the manual describes.
    let (_, html) = app.page(&browser(), "/login").await;
    assert!(html.contains("Entra con SPID"));
    let _ = csrf_of(&html);
    app.stop().await;
}

#[tokio::test]
async fn every_fault_of_the_identity_provider_is_refused_with_a_clear_page() {
    let app = spid_app(TestDb::sqlite()).await;
    for esito in ["firma", "scaduta", "destinatario", "livello"] {
        let client = browser();
        let answer = at_idp(&app, &client, "BNCGLI85M41G337L", esito, "entra").await;
        let r = post_to_acs(&client, &answer).await;
        assert_eq!(r.status(), 403, "{esito}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Non è stato possibile verificare la risposta"),
            "{esito}"
        );
        assert_eq!(
            app.page(&client, "/area-privata").await.0,
            303,
            "{esito}: no session"
        );
    }
    let client = browser();
    let answer = at_idp(&app, &client, "BNCGLI85M41G337L", "ok", "annulla").await;
    let r = post_to_acs(&client, &answer).await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Processo di autenticazione annullato dall&#39;utente.")
            || html.contains("Processo di autenticazione annullato dall'utente."),
        "{html}"
    );
    assert!(html.contains("Codice di errore SPID: 25"));
    assert!(
        app.state
            .store()
            .accounts_claiming(&fc("BNCGLI85M41G337L"))
            .await
            .unwrap()
            .is_empty(),
        "no account from a refused response"
    );
    app.stop().await;
}

#[tokio::test]
async fn single_logout_from_sportello_and_from_the_identity_provider() {
    let app = spid_app(TestDb::sqlite()).await;
    let sandbox = app.sandbox.clone().unwrap();

    // ESCI: the session ends here, then a signed LogoutRequest to the IdP, whose signed
    // LogoutResponse comes back to /spid/slo.
    let client = logged_in(&app, "VRDLCU90E50G535L").await;
    let r = app.submit(&client, "/area-privata", "/logout", &[]).await;
    // A page that goes on to the IdP (the logout form may only navigate within the site).
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("/static/spid-uscita.js"), "{html}");
    let to_idp = html
        .split("id=\"uscita-spid\" class=\"btn btn-primary\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        to_idp.starts_with(&format!("{sandbox}/idp/slo?SAMLRequest=")),
        "{to_idp}"
    );
    assert_eq!(
        app.page(&client, "/area-privata").await.0,
        303,
        "ended locally first"
    );
    let r = client.get(&to_idp).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let back = location(&r);
    assert!(
        back.starts_with(&format!("{}/spid/slo?SAMLResponse=", app.base)),
        "{back}"
    );
    let r = client.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?uscito=1");
    let r = client.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400, "a logout response is used once");

    // The IdP ends the citizen's session: a signed LogoutRequest to /spid/slo ends ours.
    let citizen = logged_in(&app, "VRDLCU90E50G535L").await;
    let name_id: String = sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query_scalar("SELECT name_id FROM spid_sessions")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let pem = std::fs::read(std::env::temp_dir().join("sportello-test-data/spid/sandbox-idp.pem"))
        .unwrap();
    let idp_key = spid::Credentials::from_pem(&pem, &pem).unwrap();
    let request = spid::logout::logout_request(&spid::logout::LogoutRequestSpec {
        id: &spid::new_id(),
        issue_instant: time::OffsetDateTime::now_utc(),
        destination: &format!("{}/spid/slo", app.base),
        issuer: &format!("{sandbox}/idp"),
        name_id: &name_id,
        name_qualifier: &format!("{sandbox}/idp"),
        session_index: None,
    });
    let url = spid::binding::redirect_url(
        &format!("{}/spid/slo", app.base),
        MessageKind::Request,
        &request,
        None,
        &idp_key,
    )
    .unwrap();
    // Forged by someone else: refused, the session lives on.
    let forged = spid::binding::redirect_url(
        &format!("{}/spid/slo", app.base),
        MessageKind::Request,
        &request,
        None,
        &spid::Credentials::generate(
            &spid::CertificateSubject {
                common_name: "x".into(),
                organization: "x".into(),
                ipa_code: "x".into(),
                locality: "x".into(),
                entity_id: "https://x".into(),
            },
            1,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(browser().get(&forged).send().await.unwrap().status(), 400);
    assert_eq!(app.page(&citizen, "/area-privata").await.0, 200);
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let response_url = location(&r);
    assert!(
        response_url.starts_with(&format!("{sandbox}/idp/slo?SAMLResponse=")),
        "{response_url}"
    );
    let m = RedirectMessage::parse(response_url.split_once('?').unwrap().1).unwrap();
    let sp_md =
        spid::metadata::parse_sp_metadata(&app.page(&browser(), "/spid/metadata").await.1).unwrap();
    m.verify(&sp_md.signing_certs)
        .expect("our LogoutResponse is signed");
    assert_eq!(
        app.page(&citizen, "/area-privata").await.0,
        303,
        "the IdP's logout ended our session"
    );
    app.stop().await;
}

#[tokio::test]
async fn metadata_and_authn_request_are_signed_and_shaped_by_the_rules() {
    let app = spid_app(TestDb::sqlite()).await;
    let sandbox = app.sandbox.clone().unwrap();
    let r = app.get("/spid/metadata").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("samlmetadata+xml")
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session for metadata"
    );
    let xml = r.text().await.unwrap();
    let md = spid::metadata::parse_sp_metadata(&xml).unwrap();
    assert_eq!(md.entity_id, app.base);
    assert_eq!(md.acs[0].location, format!("{}/spid/acs", app.base));
    spid::response::verify_enveloped(&xml, &md.signing_certs).expect("signed metadata");
    let tampered = xml.replace("/spid/acs", "/evil/acs");
    assert!(spid::response::verify_enveloped(&tampered, &md.signing_certs).is_err());
    assert!(xml.contains("<spid:IPACode>c_g535</spid:IPACode><spid:Public/>"));
    let cie = app.page(&browser(), "/spid/metadata/cie").await.1;
    let cie_md = spid::metadata::parse_sp_metadata(&cie).unwrap();
    assert_eq!(
        cie_md.attribute_services[0].1,
        ["fiscalNumber", "name", "familyName", "dateOfBirth"]
    );
    assert!(cie.contains("<cie:Municipality>033032</cie:Municipality>"));

    let client = browser();
    let r = client
        .get(format!("{}/spid/login?idp={}/idp", app.base, sandbox))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("sportello-spid=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let url = location(&r);
    let m = RedirectMessage::parse(url.split_once('?').unwrap().1).unwrap();
    m.verify(&md.signing_certs)
        .expect("signed with the metadata's key");
    let relay = m.relay_state.clone().unwrap();
    assert!(
        !relay.contains("http") && relay.len() >= 16,
        "opaque RelayState: {relay}"
    );
    let req = spid::authn::parse_authn_request(&m.xml, time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(req.issuer, app.base);
    assert_eq!(req.destination, format!("{sandbox}/idp/sso"));
    assert_eq!(req.level, spid::Level::L2);
    assert!(req.force_authn);
    assert_eq!((req.acs_index, req.attribute_index), (Some(0), Some(0)));
    assert!(m.xml.contains(&format!("NameQualifier=\"{}\"", app.base)));

    let r = app
        .get("/spid/login?idp=https://idp.sconosciuto.example")
        .await;
    assert_eq!(r.status(), 400);
    app.stop().await;
}

async fn requests_are_used_once(db: TestDb) {
    let store = db.store().await;
    let now = Timestamp::now();
    let request = |id: &str, expires: Timestamp| SpidRequest {
        id: id.into(),
        kind: RequestKind::Authn,
        idp_entity_id: "https://idp.example".into(),
        level: 2,
        browser_hash: "b".repeat(64),
        next_path: "/area-privata".into(),
        issue_instant: now,
        expires_at: expires,
    };
    let later = now.plus(time::Duration::minutes(15));
    store
        .insert_spid_request(&request("_a", later))
        .await
        .unwrap();
    assert!(
        store
            .take_spid_request("_a", RequestKind::Authn, Some(&"c".repeat(64)), now)
            .await
            .unwrap()
            .is_none(),
        "another browser"
    );
    assert!(
        store
            .take_spid_request("_a", RequestKind::Logout, Some(&"b".repeat(64)), now)
            .await
            .unwrap()
            .is_none(),
        "another kind"
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.take_spid_request(
                "_a",
                RequestKind::Authn,
                Some(&"b".repeat(64)),
                Timestamp::now(),
            )
            .await
            .unwrap()
        }));
    }
    let mut taken = 0;
    for t in tasks {
        if let Some(r) = t.await.unwrap() {
            assert_eq!(r.next_path, "/area-privata");
            assert_eq!(r.level, 2);
            taken += 1;
        }
    }
    assert_eq!(
        taken, 1,
        "exactly one of eight concurrent answers gets the request"
    );
    store
        .insert_spid_request(&request("_old", now.plus(time::Duration::seconds(1))))
        .await
        .unwrap();
    let after = now.plus(time::Duration::seconds(2));
    assert!(
        store
            .take_spid_request("_old", RequestKind::Authn, Some(&"b".repeat(64)), after)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // Only the expired one goes: a used request stays until its expiry, so its answer cannot be
    // replayed meanwhile.
    assert_eq!(store.purge_spid_requests(after).await.unwrap(), 1);
}

#[tokio::test]
async fn spid_requests_are_used_once_on_sqlite() {
    requests_are_used_once(TestDb::sqlite()).await;
}

#[tokio::test]
async fn spid_requests_are_used_once_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    requests_are_used_once(db).await;
}

/// Issue 10 finding 4: an impostor registered with Mario Rossi's fiscal code before Mario's
/// first SPID login. Mario refuses that account ("Non è il mio account") and enters with a new
/// verified profile that sees his positions; the impostor still sees none, and is never offered
/// for linking again.
async fn refusing_a_claimed_account(db: TestDb) {
    let app = spid_app(db).await;
    let store = app.state.store().clone();
    let nav = pagopa::NoticeNumber::parse(
        &common::publish_position(&app.client, &app.base, "SPID-IMPOSTORE", 4200).await,
    )
    .unwrap();
    let (impostor, impostor_id) = common::citizen(
        &app,
        "impostore",
        "RSSMRA80A01H501U",
        ("Mario", "Rossi"),
        false,
    )
    .await;

    let mario = browser();
    let answer = at_idp(&app, &mario, "RSSMRA80A01H501U", "ok", "entra").await;
    let r = post_to_acs(&mario, &answer).await;
    assert_eq!(location(&r), "/spid/collega");
    let (status, html) = app.page(&mario, "/spid/collega").await;
    assert_eq!(status, 200);
    assert!(html.contains("impostore"), "{html}");
    assert!(html.contains("action=\"/spid/collega\""), "{html}");
    assert!(
        html.contains("Non è il mio account: entra con un nuovo profilo"),
        "{html}"
    );
    assert!(
        html.contains("action=\"/spid/collega/nuovo-profilo\""),
        "{html}"
    );

    // Without its CSRF token the choice is refused, and nothing is created.
    let forged = mario
        .post(format!("{}/spid/collega/nuovo-profilo", app.base))
        .form(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        store
            .account_by_verified_fiscal_code(&fc("RSSMRA80A01H501U"))
            .await
            .unwrap()
            .is_none()
    );
    // Another browser cannot use Mario's pending choice.
    let stranger = browser();
    let r = app
        .submit(&stranger, "/login", "/spid/collega/nuovo-profilo", &[])
        .await;
    assert_eq!(location(&r), "/login");
    assert_eq!(app.page(&stranger, "/area-privata").await.0, 303);

    let r = app
        .submit(&mario, "/spid/collega", "/spid/collega/nuovo-profilo", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/area-privata");
    let (status, html) = app.page(&mario, "/area-privata").await;
    assert_eq!(status, 200);
    assert!(html.contains("Mario Rossi"), "{html}");
    let own = store
        .account_by_verified_fiscal_code(&fc("RSSMRA80A01H501U"))
        .await
        .unwrap()
        .expect("a new verified account");
    assert_ne!(own.id, impostor_id);
    assert_eq!(own.password_hash, None);
    let (_, cart) = app.page(&mario, "/pagamenti").await;
    assert!(cart.contains(&nav.grouped()), "{cart}");
    // The impostor's claim stays a claim: nothing linked to the code.
    let (_, cart) = app.page(&impostor, "/pagamenti").await;
    assert!(!cart.contains(&nav.grouped()), "{cart}");
    assert!(cart.contains("Carrello vuoto."), "{cart}");
    let claimant = store.account_by_id(impostor_id).await.unwrap().unwrap();
    assert!(claimant.identity.is_none());

    // The pending choice was used once: posting it again does not log in anyone new.
    let again = app
        .submit(&mario, "/area-privata", "/spid/collega/nuovo-profilo", &[])
        .await;
    assert_eq!(location(&again), "/login");

    // Next time Mario goes straight in: the impostor's account is no longer offered.
    let next = browser();
    let answer = at_idp(&app, &next, "RSSMRA80A01H501U", "ok", "entra").await;
    let r = post_to_acs(&next, &answer).await;
    assert_eq!(location(&r), "/area-privata");
    let (_, html) = app.page(&next, "/area-privata").await;
    assert!(html.contains("Mario Rossi"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn the_owner_refuses_an_impostors_account_and_enters_with_a_new_profile() {
    refusing_a_claimed_account(TestDb::sqlite()).await;
}

#[tokio::test]
async fn the_owner_refuses_an_impostors_account_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    refusing_a_claimed_account(db).await;
}
