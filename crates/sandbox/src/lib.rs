//! The sandbox: Sportello's own simulation of pagoPA Checkout, the node and the PSPs.
//!
//! It speaks to a station over real HTTP with the real messages: Checkout's `POST /carts`
//! (JSON, 302 to the payment page), the payment pages a citizen sees on Checkout, a PSP counter
//! for paper notices, and — as the node — `paVerifyPaymentNotice`, `paGetPaymentV2` and
//! `paSendRTV2` to the station, retried with backoff. Everything it did is kept in memory
//! (bounded) and shown on `/messages`. Nothing here moves real money.

pub mod idp;
mod node;
mod pages;
pub mod reporting;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

pub use node::CallError;
pub use pagopa::checkout::{self, CartRequest, MAX_NOTICES, ValidCart};
pub use reporting::{FDR_BASE, RECEIPTS_BASE};

/// How many carts and log lines are kept: the sandbox simulates an external system, in memory.
pub const KEEP: usize = 1000;

/// A station the simulated node knows (pagoPA's registry of ECs and stations).
#[derive(Debug, Clone)]
pub struct StationLink {
    /// The EC's fiscal code (`idPA`).
    pub fiscal_code: String,
    /// The EC's name, for the pages.
    pub name: String,
    /// `idBrokerPA`.
    pub id_broker_pa: String,
    /// `idStation`.
    pub id_station: String,
    /// The station's paForNode endpoint.
    pub url: String,
    /// Sent as `Ocp-Apim-Subscription-Key` when set.
    pub key: Option<String>,
}

/// The sandbox's configuration.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The key Checkout's API wants in `Ocp-Apim-Subscription-Key`; `None` accepts any call.
    pub checkout_api_key: Option<String>,
    /// The sandbox's own base URL (for the `Location` of a new cart), without a trailing `/`.
    pub public_url: String,
    /// The stations it calls.
    pub stations: Vec<StationLink>,
    /// Waits between `paSendRT` attempts; attempts = waits + 1.
    pub retry_schedule: Vec<Duration>,
    /// How late a "delayed receipt" arrives.
    pub receipt_delay: Duration,
    /// Timeout of each SOAP call.
    pub http_timeout: Duration,
    /// The demo SPID identity provider, when it runs.
    pub idp: Option<idp::IdpConfig>,
    /// The key the FdR and receipts APIs want in `Ocp-Apim-Subscription-Key`; `None` accepts
    /// any call.
    pub fdr_api_key: Option<String>,
    /// The treasury account of the camt.053 statement.
    pub treasury_iban: Option<String>,
}

impl SandboxConfig {
    /// The node's usual schedule: 5 attempts, 1 s, 2 s, 4 s, 8 s apart; receipts delayed 10 s.
    pub fn new(public_url: impl Into<String>, stations: Vec<StationLink>) -> SandboxConfig {
        SandboxConfig {
            checkout_api_key: None,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            stations,
            retry_schedule: [1, 2, 4, 8].map(Duration::from_secs).to_vec(),
            receipt_delay: Duration::from_secs(10),
            http_timeout: Duration::from_secs(10),
            idp: None,
            fdr_api_key: None,
            treasury_iban: None,
        }
    }
}

/// One SOAP exchange (or a decision of the node), as the message log shows it.
#[derive(Debug, Clone)]
pub struct Message {
    /// When (UTC).
    pub at: String,
    /// `paVerifyPaymentNotice`, …
    pub operation: String,
    /// `idStation`.
    pub station: String,
    /// Where it was sent.
    pub url: String,
    /// Which cart or counter payment, which attempt.
    pub note: String,
    /// OK, KO, transport error, …
    pub outcome: String,
    /// Fault code or error.
    pub fault: String,
    /// HTTP status of the answer.
    pub http_status: Option<u16>,
    /// How long it took.
    pub duration: Duration,
    /// Raw request.
    pub request: String,
    /// Raw response.
    pub response: String,
}

/// Where a cart stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartState {
    /// Waiting for the citizen.
    Open,
    /// Paid: receipts sent (or being sent).
    Paid,
    /// The citizen gave up.
    Cancelled,
    /// The payment failed.
    Failed,
}

/// A cart Checkout received.
#[derive(Debug, Clone)]
pub struct Cart {
    /// The sandbox's id (the last part of the `Location`).
    pub id: String,
    /// What the EC sent.
    pub request: ValidCart,
    /// Where it stands.
    pub state: CartState,
}

struct Inner {
    idp: Option<idp::Idp>,
    config: SandboxConfig,
    http: reqwest::Client,
    carts: Mutex<VecDeque<Cart>>,
    log: Mutex<VecDeque<Message>>,
    seq: AtomicU64,
    ledger: Mutex<reporting::Ledger>,
}

/// The sandbox's state, shared by its handlers.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    /// A sandbox with nothing in it yet.
    pub fn new(config: SandboxConfig) -> Sandbox {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .build()
            .expect("HTTP client");
        let idp = config
            .idp
            .clone()
            .map(|c| idp::Idp::new(c, &config.public_url));
        Sandbox {
            inner: Arc::new(Inner {
                idp,
                config,
                http,
                carts: Mutex::new(VecDeque::new()),
                log: Mutex::new(VecDeque::new()),
                seq: AtomicU64::new(1),
                ledger: Mutex::new(reporting::Ledger::default()),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// A fresh id, unique in this process and unlikely to repeat across restarts.
    pub(crate) fn fresh_id(&self) -> String {
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        format!("{nanos:016x}{n:08x}")
    }

    pub(crate) fn log(&self, m: Message) {
        let mut log = self.inner.log.lock().expect("log lock");
        if log.len() >= KEEP {
            log.pop_front();
        }
        log.push_back(m);
    }

    /// The message log, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.inner
            .log
            .lock()
            .expect("log lock")
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn add_cart(&self, cart: Cart) {
        let mut carts = self.inner.carts.lock().expect("carts lock");
        if carts.len() >= KEEP {
            carts.pop_front();
        }
        carts.push_back(cart);
    }

    /// A cart by id.
    pub fn cart(&self, id: &str) -> Option<Cart> {
        self.inner
            .carts
            .lock()
            .expect("carts lock")
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// Moves an open cart to `state`; false if it was no longer open.
    pub(crate) fn close_cart(&self, id: &str, state: CartState) -> bool {
        let mut carts = self.inner.carts.lock().expect("carts lock");
        match carts.iter_mut().find(|c| c.id == id) {
            Some(c) if c.state == CartState::Open => {
                c.state = state;
                true
            }
            _ => false,
        }
    }
}

/// The current UTC time, for the log.
pub(crate) fn now_text() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The sandbox's Content-Security-Policy: its own stylesheet, no script, no images, forms posted
/// only to itself, never framed. The Checkout page of a cart widens `form-action` to the origins
/// of the cart's return URLs (see [`pages::cart_policy`]): paying or cancelling answers a
/// redirect there, and browsers check `form-action` on every redirect of a form submission.
pub const POLICY: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the sandbox's security headers, keeping a policy a handler set for its own page.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The sandbox's routes.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/checkout/ec/v1/carts", post(pages::post_carts))
        .route("/checkout/carts/{id}", get(pages::cart_page))
        .route("/checkout/carts/{id}/paga", post(pages::pay))
        .route("/checkout/carts/{id}/annulla", post(pages::cancel))
        .route("/psp", get(pages::counter).post(pages::counter_post))
        .route("/messages", get(pages::messages))
        .route("/sandbox.css", get(pages::css))
        .route("/idp/metadata", get(idp::metadata))
        .route("/idp/sso", get(idp::sso))
        .route("/idp/sso/accedi", post(idp::login))
        .route("/idp/slo", get(idp::slo))
        .route("/idp/invio.js", get(idp::send_script))
        .route(
            &format!("{FDR_BASE}/organizations/{{organization}}/fdrs"),
            get(reporting::list),
        )
        .route(
            &format!("{FDR_BASE}/organizations/{{organization}}/fdrs/{{fdr}}/revisions/{{revision}}/psps/{{psp}}"),
            get(reporting::flow),
        )
        .route(
            &format!("{FDR_BASE}/organizations/{{organization}}/fdrs/{{fdr}}/revisions/{{revision}}/psps/{{psp}}/payments"),
            get(reporting::payments),
        )
        .route(
            &format!("{RECEIPTS_BASE}/organizations/{{organization}}/receipts/{{iur}}/paymentoptions/{{iuv}}"),
            get(reporting::receipt),
        )
        .route("/fdr/pubblica", post(reporting::publish))
        .route("/fdr/guasti", post(reporting::faults))
        .route("/tesoreria/camt053", get(reporting::statement))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(sandbox)
}

/// The signed metadata of the demo identity provider of a sandbox at `config.public_url`, as
/// `GET /idp/metadata` serves it (for a service provider in the same process), when it runs.
pub fn idp_metadata(config: &SandboxConfig) -> Option<Result<String, String>> {
    let idp = config.idp.as_ref()?;
    Some(
        spid::metadata::idp_metadata(&idp::description(&config.public_url), &idp.credentials)
            .map_err(|e| e.to_string()),
    )
}

/// Serves the sandbox on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SandboxConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(Sandbox::new(config));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
