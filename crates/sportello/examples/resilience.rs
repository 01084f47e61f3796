//! Resilience scenarios of issue 14, run by `./scripts/test-resilience`: the real `sportello`
//! binary on loopback, with the stand-alone sandbox playing the pagoPA node (it outlives the
//! portal and retries receipts as the node does) and an SMTP sink counting what is delivered.
//!
//! ```text
//! resilience crash           # serve on PostgreSQL, kill -9 at random moments, restart, check
//! resilience instances       # two serve behind HAProxy, sessions cross, one killed mid-load
//! resilience failover-sync   # primary + synchronous standby; primary stopped, standby promoted
//! resilience failover-async  # the same with asynchronous replication: counts what is lost
//! ```
//!
//! Each scenario creates its own PostgreSQL database on `SPORTELLO_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, loopback only), drops it at the end, is
//! bounded in time, and exits non-zero with the broken invariant when one fails. The binary
//! is the `sportello` beside this example in the target directory (or `SPORTELLO_BIN`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pagopa::soap::{FaultCode, Outcome, Request, Response};
use rand::Rng;
use sportello::store::Store;

#[allow(dead_code, reason = "each driver uses part of the fixtures")]
mod support;

#[allow(
    dead_code,
    reason = "the sink's helpers for reading bodies are not needed here"
)]
#[path = "../tests/common/smtp.rs"]
mod smtp;

const PASSWORD: &str = "cavallo batteria graffetta";
const OK_CARD: &str = "4242 4242 4242 4242";
/// How many times the portal is killed.
const KILLS: usize = 5;
/// The node's waits between paSendRT attempts: about 17 s in all, longer than a restart.
const NODE_RETRY_MS: &str = "250,500,1000,1000,2000,2000,3000,3000,4000";

fn main() -> anyhow::Result<()> {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let result = runtime.block_on(async {
        match scenario.as_str() {
            "crash" => on_scratch_db("crash", |db| Box::pin(crash_on(db))).await,
            "instances" => on_scratch_db("instances", |db| Box::pin(instances_on(db))).await,
            "failover-sync" => failover(true).await,
            "failover-async" => failover(false).await,
            other => bail!(
                "unknown scenario {other:?}: crash, instances, failover-sync or failover-async"
            ),
        }
    });
    eprintln!(
        "resilience {scenario}: {} in {:.0} s",
        if result.is_ok() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    result
}

// ---------------------------------------------------------------------------------------------
// Processes and databases

fn sportello_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("SPORTELLO_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("own path");
    // target/<profile>/examples/resilience → target/<profile>/sportello
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("sportello"))
        .expect("target directory")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn admin_url() -> anyhow::Result<String> {
    let url = std::env::var("SPORTELLO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    ensure!(
        url.contains("@127.0.0.1") || url.contains("@localhost"),
        "loopback PostgreSQL only: {url}"
    );
    Ok(url)
}

/// A scratch PostgreSQL database, dropped by [`ScratchDb::drop_now`].
struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create(tag: &str) -> anyhow::Result<ScratchDb> {
        ScratchDb::create_on(admin_url()?, tag).await
    }

    /// A new database on the server of the maintenance URL `admin`.
    async fn create_on(admin: String, tag: &str) -> anyhow::Result<ScratchDb> {
        let name = format!("sportello_resil_{tag}_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .context("PostgreSQL on loopback")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        let url = format!(
            "{}/{name}",
            admin.rsplit_once('/').map_or(&*admin, |(b, _)| b)
        );
        Ok(ScratchDb { admin, name, url })
    }

    async fn drop_now(self) {
        if let Ok(pool) = sqlx::PgPool::connect(&self.admin).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&pool)
            .await;
            pool.close().await;
        }
    }
}

/// Runs `scenario` on a scratch database, dropped afterwards whatever the outcome.
async fn on_scratch_db<F>(tag: &str, scenario: F) -> anyhow::Result<()>
where
    F: for<'a> FnOnce(
        &'a ScratchDb,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>,
{
    let db = ScratchDb::create(tag).await?;
    let result = scenario(&db).await;
    db.drop_now().await;
    result
}

/// A `sportello` child process with its settings, restartable after a kill.
struct Proc {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Proc {
    fn new(name: &str, args: &[&str], env: Vec<(String, String)>, dir: &Path) -> Proc {
        Proc {
            name: name.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(sportello_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("SPORTELLO_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child =
            Some(cmd.spawn().with_context(|| {
                format!("starting {} ({})", self.name, sportello_bin().display())
            })?);
        self.starts += 1;
        Ok(())
    }

    /// `kill -9`: no shutdown code runs.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The end of the log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A child process that is not a `sportello` (HAProxy), killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200 (bounded).
async fn wait_ok(client: &reqwest::Client, url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == 200 {
                return Ok(());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "{url} not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

fn kv(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// The demo's SPID keys are generated once and shared with the test suite, outside the tree.
fn data_dir() -> (String, String) {
    kv(
        "SPORTELLO_DATA_DIR",
        std::env::temp_dir()
            .join("sportello-test-data")
            .display()
            .to_string(),
    )
}

/// The settings of a portal on `port` whose pagoPA is the sandbox on `sandbox_port`.
fn serve_env(
    database_url: &str,
    port: u16,
    sandbox_port: u16,
    smtp_url: &str,
) -> Vec<(String, String)> {
    vec![
        kv("SPORTELLO_DATABASE_URL", database_url),
        kv("SPORTELLO_LISTEN", format!("127.0.0.1:{port}")),
        kv("SPORTELLO_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        data_dir(),
        kv("SPORTELLO_SANDBOX_ENABLED", "false"),
        kv(
            "SPORTELLO_CHECKOUT_URL",
            format!("http://127.0.0.1:{sandbox_port}/checkout/ec/v1"),
        ),
        kv("SPORTELLO_SMTP_URL", smtp_url),
        kv("SPORTELLO_MAIL_POLL_MS", "200"),
        kv("SPORTELLO_MAIL_LEASE_SECONDS", "3"),
        kv("SPORTELLO_SHUTDOWN_GRACE_SECONDS", "2"),
        kv("SPORTELLO_LOG_LEVEL", "warn"),
    ]
}

/// The stand-alone sandbox on `sandbox_port`, calling the station at `station_base`.
fn sandbox_env(sandbox_port: u16, station_base: &str) -> Vec<(String, String)> {
    vec![
        kv(
            "SPORTELLO_SANDBOX_LISTEN",
            format!("127.0.0.1:{sandbox_port}"),
        ),
        kv(
            "SPORTELLO_SANDBOX_STATION_URL",
            format!("{station_base}/pagopa/paForNode"),
        ),
        kv("SPORTELLO_SANDBOX_RETRY_MS", NODE_RETRY_MS),
        data_dir(),
        kv("SPORTELLO_LOG_LEVEL", "warn"),
    ]
}

/// Starts the stand-alone sandbox (pagoPA) on `sandbox_port`, calling the station at
/// `station_base`, and waits for it.
async fn start_node(sandbox_port: u16, station_base: &str, dir: &Path) -> anyhow::Result<Proc> {
    let mut node = Proc::new(
        "sandbox",
        &["sandbox"],
        sandbox_env(sandbox_port, station_base),
        dir,
    );
    node.start()?;
    wait_ok(
        &client(),
        &format!("http://127.0.0.1:{sandbox_port}/psp"),
        Duration::from_secs(30),
    )
    .await
    .with_context(|| node.log_tail())?;
    Ok(node)
}

// ---------------------------------------------------------------------------------------------
// Load: what the node and the citizens do

/// What the load saw acknowledged.
#[derive(Default)]
struct Acks {
    /// receiptIds whose paSendRT was answered OK.
    receipts: Mutex<BTreeSet<String>>,
    soap_cycles: AtomicU64,
    counter_payments: AtomicU64,
    carts_paid: AtomicU64,
    /// Calls repeated because the portal or its database was down.
    transport_errors: AtomicU64,
}

/// Posts one SOAP request until an answer arrives (the node retries on a dead connection).
async fn soap_until_answered(
    client: &reqwest::Client,
    station: &str,
    request: &Request,
    acks: &Acks,
    deadline: Instant,
) -> anyhow::Result<Response> {
    loop {
        let sent = client
            .post(station)
            .header("SOAPAction", request.operation().name())
            .header("content-type", "text/xml; charset=utf-8")
            .body(request.encode())
            .send()
            .await;
        if let Ok(r) = sent {
            if let Ok(body) = r.text().await {
                if let Ok(answer) = Response::decode(&body) {
                    return Ok(answer);
                }
            }
        }
        acks.transport_errors.fetch_add(1, Ordering::Relaxed);
        ensure!(Instant::now() < deadline, "the station never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Direct SOAP: verify, activate and deliver the receipt of notices `next..=last`.
async fn soap_worker(
    station: String,
    next: Arc<AtomicU64>,
    last: u64,
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let client = client();
    while !stop.load(Ordering::Relaxed) {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq > last {
            break;
        }
        let [verify, activate, send_rt] = support::requests(seq);
        // The node repeats a call until it is answered, and one answered with a system error
        // (the database unreachable) later; any other refusal is a bug.
        for request in [&verify, &activate, &send_rt] {
            loop {
                let answer =
                    soap_until_answered(&client, &station, request, &acks, deadline).await?;
                if answer.outcome() == Outcome::Ok {
                    break;
                }
                let fault = answer.fault().map(|f| f.fault_code.clone());
                ensure!(
                    fault == Some(FaultCode::PaaSystemError),
                    "{} of notice {seq}: {:?}",
                    request.operation().name(),
                    answer.fault()
                );
                acks.transport_errors.fetch_add(1, Ordering::Relaxed);
                ensure!(Instant::now() < deadline, "notice {seq} never went through");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if let Request::SendRt(r) = &send_rt {
            acks.receipts
                .lock()
                .unwrap()
                .insert(r.receipt.receipt_id.clone());
        }
        acks.soap_cycles.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// The sandbox's PSP counter (modello 3): cash payments of notices `next..=last`. A payment
/// refused because the station was down is tried again, as a cashier would.
async fn counter_worker(
    sandbox: String,
    next: Arc<AtomicU64>,
    last: u64,
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let client = client();
    while !stop.load(Ordering::Relaxed) {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq > last {
            break;
        }
        let nav = support::nav(seq);
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let r = client
                .post(format!("{sandbox}/psp"))
                .form(&[
                    ("azione", "paga"),
                    ("codice", nav.as_str()),
                    ("ente", support::EC),
                    ("importo", "2600"),
                    ("psp", "BCITITMM"),
                ])
                .send()
                .await;
            let Ok(r) = r else {
                acks.transport_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let status = r.status();
            let html = r.text().await.unwrap_or_default();
            if status == 200 && html.contains("Pagamento eseguito") {
                let id = html
                    .split("<code>")
                    .nth(1)
                    .and_then(|s| s.split("</code>").next())
                    .context("receipt id on the counter's page")?;
                acks.receipts.lock().unwrap().insert(id.to_owned());
                acks.counter_payments.fetch_add(1, Ordering::Relaxed);
                break;
            }
            // 422: not activated (the station was down, or the notice is already paid by an
            // attempt whose answer was lost); 502: paid, receipt still with the node.
            if html.contains("già pagat") || status == 502 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(())
}

/// Seeds citizen `n` (active account) and returns its fiscal code.
async fn seed_citizen(store: &Store, n: u64) -> anyhow::Result<String> {
    use sportello::store::accounts::{NewAccount, PersonalData};
    let first15 = format!("VRDGNN80A{:02}G535", n + 41);
    let cf = format!(
        "{first15}{}",
        pagopa::PersonalFiscalCode::check_char_for(&first15).context("check character")?
    );
    let hash = sportello::auth::password::hash(PASSWORD.into()).await?;
    let mut tx = store.db().begin().await?;
    let id = Store::insert_account_in(
        &mut tx,
        &NewAccount {
            username: format!("resil{n}"),
            password_hash: hash,
            fiscal_code: cf.clone(),
            email: format!("resil{n}@example.it"),
            personal: PersonalData {
                first_name: "Giovanni".into(),
                last_name: "Verdi".into(),
                ..Default::default()
            },
        },
    )
    .await?;
    Store::activate_account_in(&mut tx, id).await?;
    // Pending notices are shown only to a verified identity (a typed fiscal code is a claim):
    // an operator confirmed this one, as at the municipality's desk.
    Store::verify_identity_in(
        &mut tx,
        id,
        &pagopa::FiscalCode::parse(&cf).context("fiscal code")?,
        sportello::domain::identity::IdentitySource::Operator,
        "resilience",
    )
    .await?;
    tx.commit().await?;
    Ok(cf)
}

fn csrf_of(html: &str) -> Option<String> {
    let needle = "name=\"csrf_token\" value=\"";
    let rest = &html[html.find(needle)? + needle.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Loads the login form from `form_base` and posts it to `post_base`; returns the status.
async fn login(
    browser: &reqwest::Client,
    form_base: &str,
    post_base: &str,
    username: &str,
) -> anyhow::Result<u16> {
    let form = browser
        .get(format!("{form_base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let token = csrf_of(&form).context("login form")?;
    let r = browser
        .post(format!("{post_base}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", PASSWORD),
            ("next", ""),
        ])
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// One step of a citizen's session; an error means "the portal is down, try again".
async fn cart_round(
    portal: &str,
    browser: &reqwest::Client,
    username: &str,
) -> anyhow::Result<bool> {
    let page = browser.get(format!("{portal}/pagamenti")).send().await?;
    if page.status() == 303 {
        // Not (or no longer) logged in.
        let r = login(browser, portal, portal, username).await?;
        ensure!(r == 303, "login: {r}");
        return Ok(true);
    }
    let html = page.text().await?;
    let options: Vec<&str> = html
        .split("name=\"opzione\" value=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .take(2)
        .collect();
    if options.is_empty() {
        return Ok(false);
    }
    let token = csrf_of(&html).context("cart form")?;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend(options.iter().map(|o| ("opzione", *o)));
    let r = browser
        .post(format!("{portal}/pagamenti/procedi"))
        .form(&form)
        .send()
        .await?;
    ensure!(r.status() == 303, "procedi: {}", r.status());
    let cart_url = r.headers()["location"].to_str()?.to_owned();
    // Checkout's page, then the card.
    let checkout = client();
    let cart = checkout.get(&cart_url).send().await?.text().await?;
    let email = cart
        .split("name=\"email\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("resil@example.it")
        .to_owned();
    checkout
        .post(format!("{cart_url}/paga"))
        .form(&[
            ("email", email.as_str()),
            ("psp", "BCITITMM"),
            ("titolare", "Giovanni Verdi"),
            ("carta", OK_CARD),
            ("scadenza", "12/30"),
            ("cvv", "123"),
        ])
        .send()
        .await?;
    Ok(true)
}

/// A citizen paying their pending notices two at a time until none is left.
async fn citizen_worker(
    portal: String,
    n: u64,
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let browser = client();
    let username = format!("resil{n}");
    while !stop.load(Ordering::Relaxed) {
        match cart_round(&portal, &browser, &username).await {
            Ok(true) => {
                acks.carts_paid.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => break,
            Err(_) => {
                acks.transport_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Invariants

/// Checks the issue's invariants on the database; returns a summary line.
async fn check_invariants(
    pool: &sqlx::PgPool,
    acked: &BTreeSet<String>,
    sink: &smtp::SmtpSink,
    crashes: usize,
) -> anyhow::Result<String> {
    // Every receipt answered OK is stored, exactly once.
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT receipt_id, COUNT(*) FROM receipts GROUP BY receipt_id")
            .fetch_all(pool)
            .await?;
    let stored_ids: BTreeMap<String, i64> = stored.into_iter().collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stored_ids.contains_key(*id))
        .collect();
    ensure!(
        missing.is_empty(),
        "receipts answered OK but not stored: {missing:?}"
    );
    let twice: Vec<(&String, &i64)> = stored_ids.iter().filter(|(_, n)| **n > 1).collect();
    ensure!(
        twice.is_empty(),
        "receipts stored more than once: {twice:?}"
    );

    // Every paid option has its receipt, every receipt's option is closed, one each.
    for (what, sql) in [
        (
            "paid options without a receipt",
            "SELECT COUNT(*) FROM payment_options o WHERE o.status = 'PO_PAID' AND NOT EXISTS
             (SELECT 1 FROM receipts r WHERE r.payment_option_id = o.id AND r.outcome = 'OK'
              AND NOT r.refund_required)",
        ),
        (
            "receipts whose option is not closed",
            "SELECT COUNT(*) FROM receipts r JOIN payment_options o ON o.id = r.payment_option_id
             WHERE r.outcome = 'OK' AND NOT r.refund_required AND o.status <> 'PO_PAID'",
        ),
        (
            "options closed by two receipts",
            "SELECT COUNT(*) FROM (SELECT payment_option_id FROM receipts
             WHERE outcome = 'OK' AND NOT refund_required GROUP BY payment_option_id
             HAVING COUNT(*) > 1) d",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        ensure!(n == 0, "{n} {what}");
    }

    // The money adds up.
    let (receipts_sum, receipts_n): (Option<i64>, i64) = sqlx::query_as(
        "SELECT SUM(amount)::BIGINT, COUNT(*) FROM receipts WHERE outcome = 'OK' AND NOT refund_required",
    )
    .fetch_one(pool)
    .await?;
    let (options_sum, options_n): (Option<i64>, i64) = sqlx::query_as(
        "SELECT SUM(amount)::BIGINT, COUNT(*) FROM payment_options WHERE status = 'PO_PAID'",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        receipts_sum == options_sum,
        "receipts sum {receipts_sum:?} ≠ paid options sum {options_sum:?}"
    );
    let refunds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts WHERE refund_required")
        .fetch_one(pool)
        .await?;
    // The citizens' carts are part of the load: a run where none was paid did not test them.
    let through_carts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM receipts WHERE checkout_id IS NOT NULL")
            .fetch_one(pool)
            .await?;
    ensure!(
        through_carts > 0,
        "no receipt came through a citizen's cart: the cart load did not run"
    );

    // Every outcome e-mail delivered; at least once, and a copy only after a crash.
    let outbox: Vec<(i64, String)> = sqlx::query_as("SELECT id, state FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await?;
    let unsent: Vec<&(i64, String)> = outbox.iter().filter(|(_, s)| s != "sent").collect();
    ensure!(unsent.is_empty(), "outbox rows not sent: {unsent:?}");
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for m in sink.messages.lock().unwrap().iter() {
        let id = m
            .raw
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .and_then(|l| l.split("<sportello.").nth(1))
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.parse::<i64>().ok())
            .context("a delivered message without Sportello's Message-ID")?;
        *seen.entry(id).or_default() += 1;
    }
    let never: Vec<i64> = outbox
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !seen.contains_key(id))
        .collect();
    ensure!(
        never.is_empty(),
        "outbox rows marked sent but never received: {never:?}"
    );
    let copies: usize = seen.values().map(|n| n - 1).sum();
    // A crash can interrupt at most one batch of claimed messages per worker.
    ensure!(
        copies <= sportello::mail::worker::CLAIM_BATCH * crashes,
        "{copies} duplicate e-mails for {crashes} crashes"
    );
    Ok(format!(
        "{} receipts ({receipts_n} closing {options_n} options, {refunds} flagged for refund, \
         {through_carts} through citizens' carts), {} acknowledged to the node, sums {} = {} cents; {} e-mails, {copies} sent twice (same Message-ID)",
        stored_ids.len(),
        acked.len(),
        receipts_sum.unwrap_or(0),
        options_sum.unwrap_or(0),
        outbox.len(),
    ))
}

/// Waits for the node's retries and the outbox, then checks the invariants.
async fn settle_and_check(
    url: &str,
    acked: &BTreeSet<String>,
    sink: &smtp::SmtpSink,
    crashes: usize,
) -> anyhow::Result<String> {
    let pool = sqlx::PgPool::connect(url).await?;
    let result = match settle(&pool, Duration::from_secs(90)).await {
        Ok(()) => check_invariants(&pool, acked, sink, crashes).await,
        Err(e) => Err(e),
    };
    pool.close().await;
    result
}

/// Waits until the node has nothing left to deliver and the outbox is drained (bounded).
async fn settle(pool: &sqlx::PgPool, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut last = (-1, -1);
    let mut stable_since = Instant::now();
    loop {
        let receipts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts")
            .fetch_one(pool)
            .await?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
            .fetch_one(pool)
            .await?;
        if (receipts, pending) != last {
            last = (receipts, pending);
            stable_since = Instant::now();
        }
        // Quiet for longer than the node's whole retry schedule, and nothing left to send.
        if pending == 0 && stable_since.elapsed() > Duration::from_secs(20) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            // Say what kept moving: receipts still arriving, or e-mails waiting (and why).
            let waiting: Vec<(i64, String, i32, Option<String>)> = sqlx::query_as(
                "SELECT id, state, attempts, last_error FROM outbox WHERE state <> 'sent'
                 ORDER BY id LIMIT 5",
            )
            .fetch_all(pool)
            .await?;
            anyhow::bail!(
                "not settled within {within:?}: {receipts} receipts, {pending} e-mails pending \
                 (first: {waiting:?}), last change {:.1} s ago",
                stable_since.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding and driving the load

/// How many notices each kind of payer has: direct SOAP cycles (the node), the PSP counter
/// through the sandbox, and citizens' carts through Checkout (the sandbox).
#[derive(Clone, Copy)]
struct Plan {
    soap: u64,
    counter: u64,
    citizens: u64,
    cart_each: u64,
}

/// Migrates the database at `url` and seeds the plan's notices and citizens.
async fn seed(url: &str, plan: Plan) -> anyhow::Result<()> {
    let store = Store::open(url).await?;
    let config = sportello::config::Config::load(
        Some(Path::new("/dev/null")),
        vec![kv("SPORTELLO_DATABASE_URL", url)],
    )?;
    let ente = store.upsert_ente(&config.ente).await?;
    for seq in 1..=plan.soap + plan.counter {
        store
            .insert_position(ente.id, &support::position(seq))
            .await?;
    }
    let mut seq = plan.soap + plan.counter;
    for n in 0..plan.citizens {
        let cf = seed_citizen(&store, n).await?;
        for _ in 0..plan.cart_each {
            seq += 1;
            store
                .insert_position(ente.id, &support::position_of(seq, &cf))
                .await?;
        }
    }
    store.close().await;
    Ok(())
}

/// The load running against the portal at `portal` (and the sandbox at `sandbox`, if any).
struct Load {
    acks: Arc<Acks>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Load {
    fn start(plan: Plan, portal: &str, sandbox: Option<&str>, within: Duration) -> Load {
        let acks = Arc::new(Acks::default());
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + within;
        let station = format!("{portal}/pagopa/paForNode");
        let mut tasks = Vec::new();
        let soap_next = Arc::new(AtomicU64::new(1));
        for _ in 0..4 {
            tasks.push(tokio::spawn(soap_worker(
                station.clone(),
                soap_next.clone(),
                plan.soap,
                acks.clone(),
                stop.clone(),
                deadline,
            )));
        }
        if let Some(sandbox) = sandbox {
            let counter_next = Arc::new(AtomicU64::new(plan.soap + 1));
            for _ in 0..2 {
                tasks.push(tokio::spawn(counter_worker(
                    sandbox.to_owned(),
                    counter_next.clone(),
                    plan.soap + plan.counter,
                    acks.clone(),
                    stop.clone(),
                )));
            }
            for n in 0..plan.citizens {
                tasks.push(tokio::spawn(citizen_worker(
                    portal.to_owned(),
                    n,
                    acks.clone(),
                    stop.clone(),
                )));
            }
        }
        Load { acks, stop, tasks }
    }

    fn progress(&self) -> String {
        format!(
            "{} SOAP cycles, {} counter payments, {} cart rounds, {} calls repeated (portal or database down)",
            self.acks.soap_cycles.load(Ordering::Relaxed),
            self.acks.counter_payments.load(Ordering::Relaxed),
            self.acks.carts_paid.load(Ordering::Relaxed),
            self.acks.transport_errors.load(Ordering::Relaxed)
        )
    }

    /// Stops the load, waits for the workers; returns the receipts acknowledged OK.
    async fn finish(mut self) -> anyhow::Result<BTreeSet<String>> {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            task.await??;
        }
        eprintln!("load done: {}", self.progress());
        Ok(self.acks.receipts.lock().unwrap().clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario: crash

/// More notices than the load gets through while the portal is killed five times (it stops
/// when the kills are over), so that every kill lands mid-load on a quick machine too.
const CRASH_PLAN: Plan = Plan {
    soap: 1500,
    counter: 500,
    citizens: 3,
    cart_each: 20,
};

async fn crash_on(db: &ScratchDb) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    seed(&db.url, CRASH_PLAN).await?;
    let sink = smtp::SmtpSink::start().await;
    let (port, sandbox_port) = (free_port(), free_port());
    let portal = format!("http://127.0.0.1:{port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let mut serve = Proc::new(
        "serve",
        &["serve"],
        serve_env(&db.url, port, sandbox_port, &sink.url()),
        dir.path(),
    );
    let mut node = start_node(sandbox_port, &portal, dir.path()).await?;
    let http = client();
    serve.start()?;
    wait_ok(&http, &format!("{portal}/readyz"), Duration::from_secs(60))
        .await
        .with_context(|| serve.log_tail())?;

    let load = Load::start(
        CRASH_PLAN,
        &portal,
        Some(&sandbox),
        Duration::from_secs(150),
    );
    // kill -9 at random moments, restart at once.
    for k in 1..=KILLS {
        let wait = rand::rng().random_range(1500..4000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        serve.kill9();
        eprintln!("kill -9 #{k} after {wait} ms: {}", load.progress());
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..500))).await;
        serve.start()?;
        wait_ok(&http, &format!("{portal}/healthz"), Duration::from_secs(60))
            .await
            .with_context(|| serve.log_tail())?;
    }
    // Some load after the last restart, then the node finishes its retries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked = load.finish().await?;
    let summary = settle_and_check(&db.url, &acked, &sink, KILLS)
        .await
        .with_context(|| serve.log_tail());
    serve.kill9();
    node.kill9();
    println!("crash: {KILLS} kill -9 and restarts; {}", summary?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenario: two instances behind HAProxy

/// Likewise more than the load gets through before it stops.
const INSTANCES_PLAN: Plan = Plan {
    soap: 800,
    counter: 250,
    citizens: 3,
    cart_each: 16,
};

/// HAProxy in front of the portals on `ports`: round robin, no stickiness (every request may
/// land on either instance), health checks on `/healthz`, a refused connection retried on the
/// other instance.
fn haproxy_config(listen: u16, ports: &[u16]) -> String {
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server s{i} 127.0.0.1:{p} check\n"))
        .collect();
    format!(
        "global\n    maxconn 1024\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n    \
         retries 3\n    option redispatch\n    retry-on conn-failure\n\
         frontend portal\n    bind 127.0.0.1:{listen}\n    default_backend sportello\n\
         backend sportello\n    balance roundrobin\n    option httpchk GET /healthz\n    \
         http-check expect status 200\n    default-server inter 300ms fall 2 rise 2\n{servers}"
    )
}

/// A citizen logs in on one instance and uses the session and its CSRF token on the other.
async fn session_crosses_instances(a: &str, b: &str) -> anyhow::Result<()> {
    let browser = client();
    let r = login(&browser, a, b, "resil0").await?;
    ensure!(r == 303, "login on instance b with a's form: {r}");
    let page = browser.get(format!("{a}/pagamenti")).send().await?;
    ensure!(
        page.status() == 200,
        "instance a does not know b's session: {}",
        page.status()
    );
    let html = page.text().await?;
    let token = csrf_of(&html).context("cart form on instance a")?;
    let option = html
        .split("name=\"opzione\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("an option in the cart")?;
    // Remove nothing in the end: an unknown option is refused after the CSRF check passes.
    let r = browser
        .post(format!("{b}/pagamenti/procedi"))
        .form(&[("csrf_token", token.as_str()), ("opzione", option)])
        .send()
        .await?;
    ensure!(
        r.status() == 303,
        "instance b refused a's CSRF token: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    Ok(())
}

async fn instances_on(db: &ScratchDb) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    seed(&db.url, INSTANCES_PLAN).await?;
    let sink = smtp::SmtpSink::start().await;
    let (lb_port, sandbox_port) = (free_port(), free_port());
    let ports = [free_port(), free_port()];
    let lb = format!("http://127.0.0.1:{lb_port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let mut portals = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut env = serve_env(&db.url, *port, sandbox_port, &sink.url());
        // Citizens and Checkout come back through the load balancer.
        env.retain(|(k, _)| k != "SPORTELLO_PUBLIC_URL");
        env.push(kv("SPORTELLO_PUBLIC_URL", lb.clone()));
        env.push(kv("SPORTELLO_JOBS_INTERVAL_SECONDS", "1"));
        portals.push(Proc::new(
            &format!("serve-{i}"),
            &["serve"],
            env,
            dir.path(),
        ));
    }
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(&config, haproxy_config(lb_port, &ports))?;
    let haproxy = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("haproxy.log"))?)
        .spawn()
        .context("haproxy (apt-get install haproxy)")?;
    // Stopped however the scenario ends (a failed check returns early).
    let _haproxy = KillOnDrop(haproxy);
    let mut node = start_node(sandbox_port, &lb, dir.path()).await?;
    let http = client();
    // One after the other: the second finds the schema migrated.
    for (p, port) in portals.iter_mut().zip(ports) {
        p.start()?;
        wait_ok(
            &http,
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
        )
        .await
        .with_context(|| p.log_tail())?;
    }
    wait_ok(&http, &format!("{lb}/healthz"), Duration::from_secs(30)).await?;
    session_crosses_instances(
        &format!("http://127.0.0.1:{}", ports[0]),
        &format!("http://127.0.0.1:{}", ports[1]),
    )
    .await?;
    eprintln!("session and CSRF token cross instances");

    let load = Load::start(
        INSTANCES_PLAN,
        &lb,
        Some(&sandbox),
        Duration::from_secs(150),
    );
    let wait = rand::rng().random_range(3000..6000);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    portals[0].kill9();
    eprintln!("kill -9 of instance 0 after {wait} ms: {}", load.progress());
    // The load goes on through the surviving instance.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let acked = load.finish().await?;
    let summary = settle_and_check(&db.url, &acked, &sink, 1).await;
    node.kill9();
    portals[1].kill9();
    println!(
        "instances: 2 behind HAProxy, one killed mid-load; {}",
        summary?
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenario: losing the primary

/// Debian's PostgreSQL 15 server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a PostgreSQL tool; as root, as the `postgres` user (initdb refuses root).
fn pg_tool(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let path = format!("{PG_BIN}/{tool}");
    let root = nix_is_root();
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {path}"))?;
    ensure!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A primary and a streaming standby in a temporary directory, on loopback ports.
struct Cluster {
    dir: tempfile::TempDir,
    primary_port: u16,
    standby_port: u16,
}

impl Cluster {
    fn data(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn create(synchronous: bool) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("sportello-pg-").tempdir()?;
        if nix_is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres", &dir.path().display().to_string()])
                .status()?
                .success();
            ensure!(ok, "chown of the cluster directory to postgres");
        }
        let c = Cluster {
            dir,
            primary_port: free_port(),
            standby_port: free_port(),
        };
        let (primary, standby) = (c.data("primary"), c.data("standby"));
        let sockets = c.dir.path().display().to_string();
        pg_tool(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{sockets}'\n\
             wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = '{}'\n",
            c.primary_port,
            if synchronous { "standby1" } else { "" }
        );
        append(&format!("{primary}/postgresql.conf"), &conf)?;
        pg_tool(
            "pg_ctl",
            &["-D", &primary, "-l", &c.data("primary.log"), "-w", "start"],
        )?;
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres application_name=standby1",
            c.primary_port
        );
        pg_tool(
            "pg_basebackup",
            &["-d", &conninfo, "-D", &standby, "-R", "-X", "stream"],
        )?;
        // The name the primary's synchronous_standby_names waits for, whatever -R wrote; once
        // promoted, the standby has no standby of its own to wait for (the copied setting
        // would make every commit wait forever).
        append(
            &format!("{standby}/postgresql.conf"),
            &format!(
                "port = {}\ncluster_name = 'standby1'\nprimary_conninfo = '{conninfo}'\n\
                 synchronous_standby_names = ''\n",
                c.standby_port
            ),
        )?;
        pg_tool(
            "pg_ctl",
            &["-D", &standby, "-l", &c.data("standby.log"), "-w", "start"],
        )?;
        Ok(c)
    }

    /// Waits until the standby streams from the primary in the wanted mode (bounded).
    async fn wait_streaming(&self, synchronous: bool) -> anyhow::Result<()> {
        let pool = sqlx::PgPool::connect(&self.admin(self.primary_port)).await?;
        let wanted = if synchronous { "sync" } else { "async" };
        let mut state = None;
        for _ in 0..100 {
            state = sqlx::query_scalar::<_, String>(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
            )
            .fetch_optional(&pool)
            .await?;
            if state.as_deref() == Some(wanted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        pool.close().await;
        ensure!(
            state.as_deref() == Some(wanted),
            "standby not streaming ({wanted}): {state:?}"
        );
        Ok(())
    }

    fn admin(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    fn stop(&self, name: &str) {
        let _ = pg_tool(
            "pg_ctl",
            &["-D", &self.data(name), "-m", "immediate", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("primary");
        self.stop("standby");
    }
}

fn append(path: &str, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// More than the load gets through: it must still be running after the promotion.
const FAILOVER_PLAN: Plan = Plan {
    soap: 2000,
    counter: 0,
    citizens: 0,
    cart_each: 0,
};

async fn failover(synchronous: bool) -> anyhow::Result<()> {
    ensure!(
        Path::new(PG_BIN).join("initdb").exists(),
        "{PG_BIN}/initdb missing (apt-get install postgresql-15)"
    );
    let mode = if synchronous { "sync" } else { "async" };
    let cluster = Cluster::create(synchronous)?;
    cluster.wait_streaming(synchronous).await?;
    let db = ScratchDb::create_on(cluster.admin(cluster.primary_port), "failover").await?;
    let name = &db.name;
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{name}?target_session_attrs=read-write",
        cluster.primary_port, cluster.standby_port
    );
    seed(&db.url, FAILOVER_PLAN).await?;

    let sink = smtp::SmtpSink::start().await;
    let port = free_port();
    let portal = format!("http://127.0.0.1:{port}");
    let mut serve = Proc::new(
        "serve",
        &["serve"],
        serve_env(&url, port, free_port(), &sink.url()),
        cluster.dir.path(),
    );
    let http = client();
    serve.start()?;
    wait_ok(&http, &format!("{portal}/readyz"), Duration::from_secs(60))
        .await
        .with_context(|| serve.log_tail())?;

    // /readyz watched every 100 ms: its transitions are the outage as operators see it.
    let ready_log = Arc::new(Mutex::new(Vec::<(Duration, u16)>::new()));
    let watching = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let watcher = {
        let (log, watching, url) = (
            ready_log.clone(),
            watching.clone(),
            format!("{portal}/readyz"),
        );
        tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            while watching.load(Ordering::Relaxed) {
                let status = c.get(&url).send().await.map_or(0, |r| r.status().as_u16());
                {
                    let mut log = log.lock().unwrap();
                    if log.last().is_none_or(|(_, s)| *s != status) {
                        log.push((started.elapsed(), status));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let load = Load::start(FAILOVER_PLAN, &portal, None, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(rand::rng().random_range(2000..4000))).await;
    let before = load.progress();
    cluster.stop("primary");
    let stopped_at = started.elapsed();
    eprintln!("primary stopped (immediate) at {stopped_at:?}: {before}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg_tool("pg_ctl", &["-D", &cluster.data("standby"), "-w", "promote"])?;
    eprintln!("standby promoted at {:?}", started.elapsed());
    let at_promotion = load.acks.receipts.lock().unwrap().len();
    // The load goes on against the new primary.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let finished = load.finish().await;
    if finished.is_err() {
        let _ = std::fs::copy(
            &serve.log,
            std::env::temp_dir().join("resilience-failover-serve.log"),
        );
    }
    let acked = finished.with_context(|| serve.log_tail())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    watching.store(false, Ordering::Relaxed);
    watcher.await?;
    let transitions = ready_log.lock().unwrap().clone();

    let pool = sqlx::PgPool::connect(&format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        cluster.standby_port
    ))
    .await?;
    let stored: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT receipt_id FROM receipts")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .collect();
    pool.close().await;
    serve.kill9();
    let lost: Vec<&String> = acked.difference(&stored).collect();
    let shown: Vec<String> = transitions
        .iter()
        .map(|(t, s)| format!("{:.1}s→{s}", t.as_secs_f64()))
        .collect();
    println!(
        "failover-{mode}: {} receipts acknowledged, {} on the promoted standby, {} lost; /readyz: {}",
        acked.len(),
        stored.len(),
        lost.len(),
        shown.join(", ")
    );
    // A check in flight when the primary stopped may answer just before or after the stop.
    let saw_outage = transitions
        .iter()
        .any(|(t, s)| *t + Duration::from_secs(1) >= stopped_at && *s == 503);
    let recovered = transitions.last().is_some_and(|(_, s)| *s == 200);
    ensure!(saw_outage, "/readyz never reported the outage");
    ensure!(recovered, "/readyz did not report the recovery");
    ensure!(
        acked.len() > at_promotion,
        "no receipt went through after the promotion"
    );
    if synchronous {
        ensure!(
            lost.is_empty(),
            "synchronous replication lost acknowledged receipts: {lost:?}"
        );
    }
    Ok(())
}
