//! Back-office operators for tests: created in the store, logged in through the form with
//! their second factor.

use sportello::backoffice::Role;
use sportello::backoffice::operators::{Access, Manager, OperatorAdmin};
use sportello::backoffice::sealing::SealingKey;
use sportello::backoffice::totp::Secret;
use sportello::clock::Timestamp;
use sportello::config::Config;
use sportello::store::Store;

use super::{TestApp, browser};

pub const NEW_PASSWORD: &str = "una frase lunga per l'ufficio";

pub fn catalog_codes() -> Vec<String> {
    Config::load(Some(std::path::Path::new("/dev/null")), Vec::new())
        .unwrap()
        .catalog
        .services
        .iter()
        .map(|s| s.code.clone())
        .collect()
}

/// The operators' use cases over `store`, as the demo configures them (the demo's key).
pub fn operator_admin<'a>(store: &'a Store, key: &'a SealingKey) -> OperatorAdmin<'a> {
    OperatorAdmin::new(store, "Sportello".to_owned(), catalog_codes(), key)
}

/// Creates an operator in the app's store; returns (initial password, TOTP secret).
pub async fn add_operator(
    store: &Store,
    username: &str,
    role: Role,
    services: &[&str],
    read_only: bool,
) -> (String, Secret) {
    let services: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
    let key = SealingKey::demo();
    let created = operator_admin(store, &key)
        .create(
            Manager::CommandLine,
            username,
            &Access {
                role,
                services,
                read_only_services: Vec::new(),
                read_only,
            },
        )
        .await
        .expect("operator created");
    (
        created.password,
        Secret::from_base32(&created.secret).expect("base32 secret"),
    )
}

/// Logs in through the form (password, TOTP code of now), changes the initial password, and
/// returns the browser.
pub async fn operator_browser(
    app: &TestApp,
    username: &str,
    role: Role,
    services: &[&str],
    read_only: bool,
) -> reqwest::Client {
    let (password, secret) =
        add_operator(app.state.store(), username, role, services, read_only).await;
    let client = browser();
    let code = secret.code_at(Timestamp::now().unix());
    let r = app
        .submit(
            &client,
            "/ufficio/login",
            "/ufficio/login",
            &[
                ("username", username),
                ("password", &password),
                ("codice", &code),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/ufficio/password");
    // Nothing else opens before the initial password is changed.
    let (status, _) = app.page(&client, "/ufficio").await;
    assert_eq!(status, 303);
    let r = app
        .submit(
            &client,
            "/ufficio/password",
            "/ufficio/password",
            &[("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/ufficio");
    client
}
