//! The front end over HTTP: the Content-Security-Policy the portal and the sandbox send (built
//! from the configuration), the Checkout origin the payment form may reach, and Bootstrap
//! Italia's assets served from the binary's own copy. The same policies are exercised in a real
//! browser by the e2e tests, which fail on any violation.

mod common;

use common::{TestApp, TestDb};
use pagopa::checkout::{CartRequest, PaymentNoticeJson, ReturnUrls};

/// What the portal's policy must be with forms allowed to reach `checkout`.
fn portal_policy(checkout: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; form-action 'self' {checkout}; \
         frame-ancestors 'none'; \
         base-uri 'none'"
    )
}

async fn policy_of(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let csp = r
        .headers()
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("no Content-Security-Policy on {url}"))
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{url}");
    (status, csp)
}

#[tokio::test]
async fn the_demo_lets_the_payment_form_reach_the_sandbox_checkout_on_every_response() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let sandbox = app.sandbox.clone().expect("the demo runs the sandbox");
    let expected = portal_policy(&sandbox);
    let client = common::browser();
    for (path, status) in [
        ("/", 200),
        ("/login", 200),
        ("/registrazione", 200),
        ("/pagamenti", 303),
        ("/non-esiste", 404),
        ("/static/bi/css/bootstrap-italia.min.css", 200),
        ("/static/bi/non-esiste.css", 404),
        ("/static/app.css", 200),
        ("/static/attesa.js", 200),
        ("/healthz", 200),
    ] {
        let (got, csp) = policy_of(&client, &format!("{}{path}", app.base)).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(csp, expected, "{path}");
    }
    let r = client.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    app.stop().await;
}

#[tokio::test]
async fn a_real_checkout_puts_its_page_origin_in_form_action() {
    // pagoPA's production API: citizens go to checkout.pagopa.it, not to the API host.
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[
            (
                "SPORTELLO_CHECKOUT_URL",
                "https://api.platform.pagopa.it/checkout/ec/v1",
            ),
            ("SPORTELLO_SANDBOX_ENABLED", "false"),
        ],
    )
    .await;
    assert!(app.sandbox.is_none());
    let client = reqwest::Client::new();
    let (_, csp) = policy_of(&client, &format!("{}/", app.base)).await;
    assert_eq!(csp, portal_policy("https://checkout.pagopa.it"));
    app.stop().await;

    // An explicit page origin wins; the sandbox running beside a real Checkout is not in it.
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[
            (
                "SPORTELLO_CHECKOUT_URL",
                "https://checkout-proxy.example.it/ec/v1",
            ),
            (
                "SPORTELLO_CHECKOUT_PAGE_ORIGIN",
                "https://pagamenti.example.it",
            ),
        ],
    )
    .await;
    let (_, csp) = policy_of(&client, &format!("{}/login", app.base)).await;
    assert_eq!(csp, portal_policy("https://pagamenti.example.it"));
    assert!(!csp.contains(app.sandbox.as_deref().unwrap()), "{csp}");
    app.stop().await;
}

fn cart(return_base: &str, notice_number: &str) -> CartRequest {
    CartRequest {
        email_notice: None,
        payment_notices: vec![PaymentNoticeJson {
            notice_number: notice_number.into(),
            fiscal_code: "00229080338".into(),
            amount: 100,
            company_name: "Comune di Piacenza".into(),
            description: "Prova".into(),
        }],
        return_urls: ReturnUrls {
            return_ok_url: format!("{return_base}/pagamenti/esito/1/ok"),
            return_cancel_url: format!("{return_base}/pagamenti/esito/1/annullato"),
            return_error_url: format!("{return_base}/pagamenti/esito/1/errore"),
        },
        id_cart: None,
        all_ccp: None,
    }
}

#[tokio::test]
async fn the_sandbox_sends_its_own_policy_and_its_checkout_page_lets_the_citizen_return() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let sandbox = app.sandbox.clone().unwrap();
    let client = reqwest::Client::new();
    let own = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    for path in [
        "/",
        "/psp",
        "/messages",
        "/sandbox.css",
        "/checkout/carts/nessuno",
    ] {
        let (_, csp) = policy_of(&client, &format!("{sandbox}{path}")).await;
        assert_eq!(csp, own, "{path}");
    }
    // A cart whose return URLs are on the portal: its Checkout page lets the pay and cancel
    // forms redirect there, and nowhere else.
    let nav = common::publish_position(&app.client, &app.base, "CSP-1", 100).await;
    let location = app
        .state
        .checkout()
        .expect("the sandbox is the Checkout")
        .create_cart(&cart(&app.base, &nav))
        .await
        .0
        .expect("a cart");
    assert!(location.starts_with(&sandbox), "{location}");
    let (status, csp) = policy_of(&client, &location).await;
    assert_eq!(status, 200, "the Checkout page, not an error");
    assert_eq!(
        csp,
        format!(
            "default-src 'none'; style-src 'self'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
            app.base
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn a_checkout_sending_citizens_elsewhere_than_the_policy_allows_is_refused_naming_the_setting()
 {
    // The sandbox is the Checkout, but the page origin says pagoPA's: the form would be blocked
    // by the browser, so the portal refuses the redirect itself, with a reason.
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[(
            "SPORTELLO_CHECKOUT_PAGE_ORIGIN",
            "https://checkout.pagopa.it",
        )],
    )
    .await;
    let client = app.state.checkout().unwrap();
    assert_eq!(client.page_origin(), Some("https://checkout.pagopa.it"));
    let (result, wire) = client
        .create_cart(&cart(&app.base, "301000000000000144"))
        .await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("checkout.page_origin"), "{err}");
    assert!(err.contains(app.sandbox.as_deref().unwrap()), "{err}");
    assert_eq!(wire.status, Some(302));
    app.stop().await;
}

#[tokio::test]
async fn assets_are_served_from_memory_with_validators() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/static/bi/fonts/Lora/lora-v20-latin-ext_latin-regular.woff2",
        app.base
    );
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "font/woff2");
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(r.bytes().await.unwrap().starts_with(b"wOF2"));
    let again = client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    let other = client
        .get(&url)
        .header("If-None-Match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let sprite = client
        .get(format!("{}/static/bi/svg/sprites.svg", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sprite.headers()["content-type"], "image/svg+xml");
    // Only the files Sportello uses, and nothing outside them.
    for path in [
        "/static/bi/js/bootstrap-italia.bundle.min.js",
        "/static/bi/../../Cargo.toml",
        "/static/bi/%2e%2e/%2e%2e/Cargo.toml",
    ] {
        let r = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let ready: serde_json::Value = client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["assets"]["status"], "ok", "{ready}");
    app.stop().await;
}

/// The `url(…)` references of a stylesheet.
fn urls_in(css: &str) -> Vec<String> {
    css.split("url(")
        .skip(1)
        .filter_map(|rest| rest.find(')').map(|end| &rest[..end]))
        .map(|u| u.trim().trim_matches(['"', '\'']).to_owned())
        .collect()
}

/// Every resource the stylesheets name is either inline (`data:`, which the policy allows for
/// images and fonts only) or served by the portal itself: nothing a page could ask for is a 404
/// or lives on another origin.
#[tokio::test]
async fn every_url_the_stylesheets_name_is_inline_or_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let client = reqwest::Client::new();
    let mut checked = 0;
    for (sheet, base) in [
        ("/static/bi/css/bootstrap-italia.min.css", "/static/bi/css/"),
        ("/static/app.css", "/static/"),
    ] {
        let css = client
            .get(format!("{}{sheet}", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for u in urls_in(&css) {
            if let Some(data) = u.strip_prefix("data:") {
                assert!(
                    data.starts_with("image/") || data.starts_with("application/font-woff"),
                    "{sheet}: a data: URI that is neither an image nor a font: {u:.60}"
                );
                continue;
            }
            if u.starts_with('#') {
                continue; // A fragment of the document itself (SVG filters).
            }
            assert!(!u.contains("://") && !u.starts_with("//"), "{sheet}: {u}");
            let path = if u.starts_with('/') {
                u.clone()
            } else {
                format!("{base}{u}")
            };
            let r = client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{sheet} names {u}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "app.css declares the web fonts ({checked})");
    app.stop().await;
}

/// `assets_dir` replaces the copy built into the binary: pages and readiness use the directory's
/// files, read once at start-up.
#[tokio::test]
async fn an_assets_dir_replaces_the_embedded_copy() {
    let npm = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/bootstrap-italia/dist");
    let dir = tempfile::tempdir().unwrap();
    for f in sportello::assets::FILES {
        let to = dir.path().join(f.path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(npm.join(f.path), &to).expect("npm ci");
    }
    let css = dir.path().join("css/bootstrap-italia.min.css");
    let mut text = std::fs::read_to_string(&css).unwrap();
    text.push_str("\n/* copia locale dell'ente */\n");
    std::fs::write(&css, text).unwrap();

    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_ASSETS_DIR", dir.path().to_str().unwrap())],
    )
    .await;
    // Changed on disk after start-up: what is served was read at start-up.
    std::fs::write(&css, "changed later").unwrap();
    let served = app
        .get("/static/bi/css/bootstrap-italia.min.css")
        .await
        .text()
        .await
        .unwrap();
    assert!(served.ends_with("/* copia locale dell'ente */\n"));
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["assets"]["status"], "ok", "{ready}");
    assert_eq!(
        ready["assets"]["source"],
        dir.path().display().to_string(),
        "{ready}"
    );
    app.stop().await;
}
