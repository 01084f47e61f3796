//! The HTTP server: pages, JSON API, SOAP, and the operational endpoints.

pub mod client;
pub mod csp;
pub mod gpd;
pub mod gpd_documents;
pub mod limits;
pub mod metrics;
pub mod multipart;
pub mod ops;
pub mod pages;
pub mod session;
pub mod soap;
pub mod ufficio;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::store::Store;
use crate::store::ente::Ente;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Store,
    ente: Ente,
    metrics: metrics::Metrics,
    accounts: crate::accounts::Context,
    checkout: Option<crate::checkout::Client>,
    saml: Option<Arc<crate::saml::ServiceProvider>>,
    assets: Arc<crate::assets::Assets>,
    fonts: Arc<crate::pdf::Fonts>,
    security_headers: csp::SecurityHeaders,
}

impl AppState {
    /// Builds the state from a loaded configuration (its Checkout known: the sandbox's once
    /// bound), an open store, the stored ente, and the front-end assets and PDF fonts loaded at
    /// start-up.
    pub fn new(
        config: Config,
        store: Store,
        ente: Ente,
        nudge: Arc<tokio::sync::Notify>,
        assets: Arc<crate::assets::Assets>,
        fonts: Arc<crate::pdf::Fonts>,
    ) -> AppState {
        let accounts = crate::accounts::Context {
            store: store.clone(),
            sender: crate::mail::Sender {
                ente_name: ente.name.clone(),
                contact: config.ente.contact_email.clone(),
            },
            public_url: config.public_url.clone(),
            nudge,
        };
        let page_origin = config.checkout_page_origin.clone().or_else(|| {
            config
                .checkout_url
                .as_deref()
                .and_then(crate::checkout::page_origin_for_api)
        });
        let checkout = config.checkout_url.as_deref().map(|url| {
            crate::checkout::Client::new(
                url,
                config
                    .checkout_api_key
                    .as_ref()
                    .map(|k| k.expose().to_owned()),
                page_origin.clone(),
                std::time::Duration::from_secs(config.checkout_timeout_seconds),
            )
        });
        let security_headers = csp::SecurityHeaders::new(page_origin.as_deref());
        AppState {
            inner: Arc::new(Inner {
                checkout,
                assets,
                fonts,
                security_headers,
                config,
                store,
                ente,
                metrics: metrics::Metrics::default(),
                accounts,
                saml: None,
            }),
        }
    }

    /// Citizen account flows.
    pub fn accounts(&self) -> &crate::accounts::Context {
        &self.inner.accounts
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The ente this deployment serves.
    pub fn ente(&self) -> &Ente {
        &self.inner.ente
    }

    /// Request metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Adds the SPID/CIE service provider (right after [`AppState::new`]).
    pub fn with_service_provider(mut self, sp: Option<crate::saml::ServiceProvider>) -> AppState {
        Arc::get_mut(&mut self.inner)
            .expect("the state is not shared yet")
            .saml = sp.map(Arc::new);
        self
    }

    /// The SPID/CIE service provider, when identity providers are configured.
    pub fn saml(&self) -> Option<&crate::saml::ServiceProvider> {
        self.inner.saml.as_deref()
    }

    /// The same, shared.
    pub fn saml_arc(&self) -> Option<Arc<crate::saml::ServiceProvider>> {
        self.inner.saml.clone()
    }

    /// The Checkout client, when a Checkout (real or the sandbox) is configured.
    pub fn checkout(&self) -> Option<&crate::checkout::Client> {
        self.inner.checkout.as_ref()
    }

    /// Bootstrap Italia's files, in memory.
    pub fn assets(&self) -> &crate::assets::Assets {
        &self.inner.assets
    }

    /// The PDFs' fonts, parsed once.
    pub fn fonts(&self) -> Arc<crate::pdf::Fonts> {
        self.inner.fonts.clone()
    }

    /// The Content-Security-Policy and friends.
    pub fn security_headers(&self) -> &csp::SecurityHeaders {
        &self.inner.security_headers
    }
}

/// The header carrying the request id, set by us or by a proxy in front of us.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter, unique without a UUID dependency.
#[derive(Clone)]
struct MakeId {
    prefix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl MakeId {
    fn new() -> MakeId {
        MakeId {
            prefix: format!("{:08x}", rand::random::<u32>()).into(),
            counter: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:x}", self.prefix)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let pages = pages::routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        session::layer,
    ));
    // SPID/CIE: the binding endpoints take the session layer without CSRF (an identity
    // provider posts there); the metadata need no session at all.
    let saml_bindings = pages::saml::binding_routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        session::saml_layer,
    ));
    Router::new()
        .merge(ops::routes())
        .merge(gpd::routes())
        .merge(soap::routes())
        .merge(gpd_documents::routes())
        .merge(pages)
        .merge(saml_bindings)
        .merge(pages::saml::metadata_routes())
        .merge(ufficio::routes(state.clone()))
        .route("/static/app.css", axum::routing::get(app_css))
        .route("/static/history.js", axum::routing::get(history_js))
        .route("/static/spid-uscita.js", axum::routing::get(spid_logout_js))
        .route("/static/attesa.js", axum::routing::get(attesa_js))
        .route("/static/bi/{*path}", axum::routing::get(bootstrap_italia))
        .fallback(not_found)
        // Inside the security headers, so its refusals carry them too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csp::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        // Outermost first: the id is set before the span opens, so every log line of the
        // request carries it, and it is echoed back to the client.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(
                    |response: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_millis() as u64, "done");
                    },
                ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeId::new()))
        .with_state(state)
}

async fn app_css() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../static/app.css"),
    )
}

async fn history_js() -> impl axum::response::IntoResponse {
    script(include_str!("../../../../static/history.js"))
}

async fn attesa_js() -> impl axum::response::IntoResponse {
    script(include_str!("../../../../static/attesa.js"))
}

fn script(source: &'static str) -> impl axum::response::IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        source,
    )
}

async fn spid_logout_js() -> impl axum::response::IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../static/spid-uscita.js"),
    )
}

/// Bootstrap Italia's files from memory, revalidated with their ETag.
async fn bootstrap_italia(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let Some(asset) = state.assets().get(&path) else {
        return not_found().await;
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    let cache = [
        (header::ETAG, asset.etag.clone()),
        // An hour without asking, then a cheap revalidation: the URLs carry no version.
        (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.bytes.clone(),
    )
        .into_response()
}

async fn not_found() -> axum::response::Response {
    pages::error_page(axum::http::StatusCode::NOT_FOUND)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight finish
/// for up to `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(std::io::Error::other)?,
        _ = rx => {}
    }
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: finishing requests in flight"
    );
    match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => result.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!("requests still in flight after the grace period; stopping");
            server.abort();
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
