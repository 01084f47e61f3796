//! Shared test helpers: fresh databases of both kinds and the real app on a random port.
#![allow(dead_code)] // each test binary uses a different subset

pub mod office;
pub mod smtp;
pub mod spid;
pub mod station;

/// `store_suite!(scenario, …)`: each `async fn(Store)` scenario becomes a test on a fresh SQLite
/// database (`mod sqlite`) and one on a fresh PostgreSQL database (`mod postgres`). The test
/// file needs `TestDb` in scope.
#[macro_export]
macro_rules! store_suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let db = super::TestDb::sqlite();
                    super::$scenario(db.store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    let store = db.store().await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

use std::path::Path;

use sportello::app::App;
use sportello::config::Config;
use sportello::store::Store;

/// Runs each `async fn scenario(&TestApp)` named, as a test on a fresh SQLite database and one on
/// a fresh PostgreSQL database (modules `sqlite` and `postgres`).
#[macro_export]
macro_rules! scenarios_on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = super::TestApp::spawn(super::TestDb::sqlite()).await;
                    super::$scenario(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    let app = super::TestApp::spawn(db).await;
                    super::$scenario(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

/// A fresh database that removes itself when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The maintenance URL and the name of the PostgreSQL database to drop.
    pg_name: Option<(String, String)>,
}

impl TestDb {
    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/test.db", dir.path().display());
        TestDb {
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A new PostgreSQL database on the local server. An unreachable server fails the test;
    /// `None` only when `SPORTELLO_TEST_SKIP_POSTGRES=1` says, explicitly, that this run leaves
    /// PostgreSQL out (the test then passes without running its PostgreSQL half, and says so).
    pub async fn postgres() -> Option<TestDb> {
        TestDb::postgres_on(&admin_url(), skip_postgres()).await
    }

    /// [`TestDb::postgres`] with the server's maintenance URL and the skip decision given.
    pub async fn postgres_on(admin: &str, skip: bool) -> Option<TestDb> {
        if skip {
            eprintln!("SKIPPED: PostgreSQL half (SPORTELLO_TEST_SKIP_POSTGRES=1)");
            return None;
        }
        let pool = sqlx::PgPool::connect(admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is unreachable at {admin} ({e}): start it (see README, \"Run the whole \
                 test suite\"), point SPORTELLO_TEST_POSTGRES_URL at a server, or set \
                 SPORTELLO_TEST_SKIP_POSTGRES=1 to leave PostgreSQL out of this run"
            )
        });
        let name = format!(
            "sportello_test_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create test database");
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        Some(TestDb {
            url: format!("{base}/{name}"),
            _dir: None,
            pg_name: Some((admin.to_owned(), name)),
        })
    }

    /// Opens (and migrates) a store on this database.
    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.expect("open store")
    }
}

/// Whether this run leaves PostgreSQL out: `SPORTELLO_TEST_SKIP_POSTGRES=1` and nothing else
/// (any other value, or none, runs the PostgreSQL half and fails when no server answers).
pub fn skip_postgres() -> bool {
    skip_postgres_from(
        std::env::var("SPORTELLO_TEST_SKIP_POSTGRES")
            .ok()
            .as_deref(),
    )
}

/// [`skip_postgres`] for a given value of the variable.
pub fn skip_postgres_from(value: Option<&str>) -> bool {
    value == Some("1")
}

/// The maintenance connection for creating test databases.
pub fn admin_url() -> String {
    std::env::var("SPORTELLO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Drop runs outside any runtime guarantee: use a private one on a plain thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

/// A configuration for tests: demo ente, the given database, port 0, no config file.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut env = vec![
        ("SPORTELLO_DATABASE_URL".to_owned(), database_url.to_owned()),
        ("SPORTELLO_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "SPORTELLO_SHUTDOWN_GRACE_SECONDS".to_owned(),
            "5".to_owned(),
        ),
        // Each app gets its own sandbox on a random port, with a quick retry schedule.
        (
            "SPORTELLO_SANDBOX_LISTEN".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
        (
            "SPORTELLO_SANDBOX_RETRY_MS".to_owned(),
            "100,200,400".to_owned(),
        ),
        (
            "SPORTELLO_SANDBOX_RECEIPT_DELAY_MS".to_owned(),
            "2000".to_owned(),
        ),
    ];
    // The demo's SPID keys (service provider and sandbox IdP) are generated once and shared by
    // every test process, outside the source tree.
    env.push((
        "SPORTELLO_DATA_DIR".to_owned(),
        std::env::temp_dir()
            .join("sportello-test-data")
            .display()
            .to_string(),
    ));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load(Some(Path::new("/dev/null")), env).expect("test configuration")
}

/// The real application on a random port.
pub struct TestApp {
    pub base: String,
    /// The embedded sandbox (pagoPA simulated), when enabled.
    pub sandbox: Option<String>,
    pub client: reqwest::Client,
    pub state: sportello::web::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub db: TestDb,
}

impl TestApp {
    /// Starts the app on `db`.
    pub async fn spawn(db: TestDb) -> TestApp {
        TestApp::spawn_with(db, &[]).await
    }

    /// Starts the app on `db` with extra `SPORTELLO_*` settings.
    pub async fn spawn_with(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        let app = App::build(test_config(&db.url, extra))
            .await
            .expect("build app");
        let base = format!("http://{}", app.addr);
        let sandbox = app.sandbox_addr.map(|a| format!("http://{a}"));
        let state = app.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            sandbox,
            client: browser(),
            state,
            shutdown: Some(tx),
            handle: Some(handle),
            db,
        }
    }

    /// `GET` a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// Signals shutdown (as SIGTERM does) without waiting for the app to finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the app, waits for it to finish, and hands back its database (for another app
    /// to open).
    pub async fn stop_keeping_db(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("app task").expect("app run");
        }
        self.db
    }

    /// Stops the app and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("app task").expect("app run");
        }
    }
}

/// A client that keeps cookies and does not follow redirects, like a browser tab we inspect.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_of(html: &str) -> String {
    let needle = "name=\"csrf_token\" value=\"";
    let at = html.find(needle).expect("page has a CSRF field");
    let rest = &html[at + needle.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl TestApp {
    /// GETs `path` with `client` and returns (status, body).
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let r = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A new browser logged in as `username` through the login form.
    pub async fn log_in(&self, username: &str, password: &str) -> reqwest::Client {
        let client = browser();
        let r = self
            .submit(
                &client,
                "/login",
                "/login",
                &[("username", username), ("password", password), ("next", "")],
            )
            .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        client
    }

    /// Loads `form_page` to get its CSRF token, then posts `fields` to `action` like a browser.
    pub async fn submit(
        &self,
        client: &reqwest::Client,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (_, html) = self.page(client, form_page).await;
        let token = csrf_of(&html);
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        client
            .post(format!("{}{action}", self.base))
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

/// Publishes, through the debt-position API of the portal at `base` (the demo key), a position
/// `iupd` with one payment option of `cents` for Mario Rossi, and returns its notice number.
pub async fn publish_position(
    client: &reqwest::Client,
    base: &str,
    iupd: &str,
    cents: i64,
) -> String {
    let created = client
        .post(format!(
            "{base}/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions?toPublish=true"
        ))
        .header("Ocp-Apim-Subscription-Key", "sportello-demo-key")
        .json(&serde_json::json!({
            "iupd": iupd, "type": "F", "fiscalCode": "RSSMRA80A01H501U",
            "fullName": "Mario Rossi", "companyName": "Comune di Piacenza",
            "switchToExpired": false,
            "paymentOption": [{
                "amount": cents, "description": format!("Posizione {iupd}"),
                "isPartialPayment": false, "dueDate": "2030-12-31T23:59:59", "fee": 0,
                "transfer": [{"idTransfer": "1", "amount": cents,
                    "remittanceInformation": format!("Posizione {iupd}"),
                    "category": "9/0101108TS/", "iban": "IT60X0542811101000000123456"}]
            }]
        }))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let created: serde_json::Value = created.json().await.unwrap();
    created["paymentOption"][0]["nav"]
        .as_str()
        .expect("a notice number")
        .to_owned()
}

/// The password of the accounts [`citizen`] creates.
pub const CITIZEN_PASSWORD: &str = "cavallo batteria graffetta";

/// A confirmed password account `username` (e-mail `{username}@example.it`, `name` as first and
/// last name) claiming `fiscal_code`, logged in on a fresh browser; returns the browser and the
/// account id. With `verified` an operator has confirmed the code (documents seen at the
/// counter): positions and receipts linked to a person by fiscal code are shown only then
/// (docs/identity.md).
pub async fn citizen(
    app: &TestApp,
    username: &str,
    fiscal_code: &str,
    name: (&str, &str),
    verified: bool,
) -> (reqwest::Client, i64) {
    use sportello::store::accounts::{NewAccount, PersonalData};
    let store = app.state.store();
    let hash = sportello::auth::password::hash(CITIZEN_PASSWORD.into())
        .await
        .unwrap();
    let mut tx = store.db().begin().await.unwrap();
    let id = Store::insert_account_in(
        &mut tx,
        &NewAccount {
            username: username.into(),
            password_hash: hash,
            fiscal_code: fiscal_code.into(),
            email: format!("{username}@example.it"),
            personal: PersonalData {
                first_name: name.0.into(),
                last_name: name.1.into(),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    Store::activate_account_in(&mut tx, id).await.unwrap();
    if verified {
        Store::verify_identity_in(
            &mut tx,
            id,
            &pagopa::FiscalCode::parse(fiscal_code).unwrap(),
            sportello::domain::identity::IdentitySource::Operator,
            "operatore.test",
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let client = browser();
    let r = app
        .submit(
            &client,
            "/login",
            "/login",
            &[
                ("username", username),
                ("password", CITIZEN_PASSWORD),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{username} logs in");
    (client, id)
}

/// One test per scenario and database: `both_databases!(a, b)` makes `sqlite::a`,
/// `postgres::a`, … each calling the scenario `async fn a(db: TestDb)` of the invoking file
/// with a fresh database (the PostgreSQL half is left out only when
/// `SPORTELLO_TEST_SKIP_POSTGRES=1` says so, see [`TestDb::postgres`]).
#[macro_export]
macro_rules! both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::common::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = $crate::common::TestDb::postgres().await else { return };
                    super::$scenario(db).await;
                }
            )*
        }
    };
}
