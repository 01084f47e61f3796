//! Start-up: configuration → store (migrated) → ente → server.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::config::{Config, Mode};
use crate::mail::{self, worker::Delivery};
use crate::store::Store;
use crate::web::{self, AppState};

/// A running application, for tests and the `serve` command.
pub struct App {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// Application state (store, configuration).
    pub state: AppState,
    /// Where the embedded sandbox listens, when it runs (demo mode).
    pub sandbox_addr: Option<SocketAddr>,
    listener: tokio::net::TcpListener,
    sandbox_listener: Option<tokio::net::TcpListener>,
    sandbox_idp: Option<sandbox::idp::IdpConfig>,
    delivery: Delivery,
    nudge: Arc<Notify>,
}

impl App {
    /// Opens the database, applies migrations, loads the ente from the configuration, and binds
    /// the listener. Nothing is served until [`App::run`].
    pub async fn build(mut config: Config) -> anyhow::Result<App> {
        // Before anything else: a binary that cannot draw its pages or print its PDFs must not
        // report itself ready.
        let assets = crate::assets::Assets::load(config.assets_dir.as_deref())?;
        let fonts = crate::pdf::Fonts::from_assets(&assets).map_err(|e| {
            anyhow::anyhow!("assets_dir (SPORTELLO_ASSETS_DIR): the PDF fonts are unusable: {e}")
        })?;
        match assets.source() {
            crate::assets::AssetsSource::Embedded(version) => {
                tracing::info!(%version, "Bootstrap Italia assets built into the binary")
            }
            crate::assets::AssetsSource::Directory(dir) => {
                tracing::info!(dir = %dir.display(), "Bootstrap Italia assets read from assets_dir")
            }
        }
        let store = Store::open(config.database_url.expose())
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot open the database {}: {e}", config.database_url)
            })?;
        let ente = store.upsert_ente(&config.ente).await?;
        store.sync_services(ente.id, &config.catalog).await?;
        // Operators created before TOTP secrets were sealed: seal theirs now (docs/backoffice.md).
        let sealed =
            crate::backoffice::sealing::reseal_plain_secrets(&store, &config.backoffice_secret_key)
                .await?;
        if sealed > 0 {
            tracing::info!(
                operators = sealed,
                "TOTP secrets sealed with backoffice.secret_key"
            );
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        if config.mode == Mode::Demo && !addr.ip().is_loopback() {
            // Allowed only by demo.allow_non_loopback: say it where nobody can miss it.
            tracing::warn!(
                %addr,
                "DEMO MODE ON A NON-LOOPBACK ADDRESS: the station is open to anyone, the development API key is accepted and the mailbox page shows every e-mail. Never use the demo with real data."
            );
        }
        if config.public_url_is_derived {
            // Port 0 (tests) or 0.0.0.0: links must name the address actually bound.
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                addr.ip().to_string()
            };
            config.public_url = format!("http://{host}:{}", addr.port());
        }
        // The sandbox stands in for pagoPA Checkout unless a real one is configured.
        let mut sandbox_listener = None;
        let mut sandbox_idp = None;
        let mut extra_idps = Vec::new();
        if config.sandbox_enabled {
            let l = tokio::net::TcpListener::bind(config.sandbox_listen)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot listen on {} (sandbox): {e}", config.sandbox_listen)
                })?;
            let sandbox_url = url_of(l.local_addr()?);
            if config.checkout_url.is_none() {
                config.checkout_url = Some(format!("{sandbox_url}/checkout/ec/v1"));
            }
            config.recon.use_sandbox(&sandbox_url);
            // The demo enters with SPID through the sandbox's identity provider; it is never
            // trusted outside the demo, nor when real identity providers are configured.
            if config.mode == Mode::Demo && !config.spid.has_idp_files() {
                let (idp, trusted) = sandbox_identity_provider(&config, &sandbox_url)?;
                sandbox_idp = Some(idp);
                extra_idps = trusted;
            }
            sandbox_listener = Some(l);
        }
        let service_provider = crate::saml::from_config(&config, extra_idps)?;
        if config.mode == Mode::Demo {
            tracing::info!(
                ente = %ente.name,
                database = %config.database_url,
                "demo mode"
            );
        }
        if config.api_keys.is_empty() {
            if config.mode == Mode::Demo {
                // Documented in README and docs/import.md; never accepted in production.
                tracing::info!(
                    header = crate::web::gpd::KEY_HEADER,
                    key = crate::config::DEMO_API_KEY,
                    "debt-position API: development key accepted (demo mode, no api_keys configured)"
                );
            } else {
                tracing::warn!(
                    "debt-position API: no api_keys configured, every call will be refused (401)"
                );
            }
        }
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::smtp(url.expose(), &config.mail_from)?,
            None => {
                tracing::info!(
                    "no SMTP server configured: mail is kept in the development mailbox at /dev/mailbox"
                );
                Delivery::DevMailbox
            }
        };
        let nudge = Arc::new(Notify::new());
        let state = AppState::new(
            config,
            store,
            ente,
            nudge.clone(),
            Arc::new(assets),
            Arc::new(fonts),
        )
        .with_service_provider(service_provider);
        Ok(App {
            addr,
            sandbox_addr: sandbox_listener.as_ref().and_then(|l| l.local_addr().ok()),
            state,
            listener,
            sandbox_listener,
            sandbox_idp,
            delivery,
            nudge,
        })
    }

    /// Serves until `shutdown` completes, then drains requests in flight and closes the pool.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.config().shutdown_grace_seconds);
        let router = web::router(self.state.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(mail::worker::run(
            self.state.store().clone(),
            self.delivery,
            self.nudge,
            (
                Duration::from_millis(self.state.config().mail_poll_ms),
                time::Duration::seconds(
                    i64::try_from(self.state.config().mail_lease_seconds).unwrap_or(i64::MAX),
                ),
            ),
            stop_rx,
        ));
        tracing::info!(addr = %self.addr, public_url = %self.state.config().public_url, "Sportello is listening");
        let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
        let jobs = crate::jobs::spawn_jobs(self.state.clone(), jobs_stopped);
        let sandbox = self.sandbox_listener.map(|listener| {
            let config = self.state.config();
            let station_url = format!("{}/pagopa/paForNode", config.public_url);
            let mut sandbox_config = sandbox_config(
                config,
                &url_of(listener.local_addr().expect("bound")),
                &station_url,
            );
            sandbox_config.idp = self.sandbox_idp;
            tracing::info!(url = %sandbox_config.public_url, "sandbox (pagoPA simulated) is listening");
            let mut stopped = stop_tx.subscribe();
            tokio::spawn(sandbox::serve(listener, sandbox_config, async move {
                let _ = stopped.changed().await;
            }))
        });
        let served = web::serve(self.listener, router, shutdown, grace).await;
        let _ = stop_tx.send(true);
        let _ = stop_jobs.send(true);
        let _ = worker.await;
        let _ = jobs.await;
        if let Some(sandbox) = sandbox {
            let _ = sandbox.await;
        }
        served?;
        self.state.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The sandbox's demo identity provider at `sandbox_url`: its key (kept under `data_dir`, like
/// the service provider's) and its metadata, read back as any identity provider's.
fn sandbox_identity_provider(
    config: &Config,
    sandbox_url: &str,
) -> anyhow::Result<(sandbox::idp::IdpConfig, Vec<crate::saml::TrustedIdp>)> {
    let dir = config.data_dir.join("spid");
    let credentials = crate::saml::load_or_generate_pair(
        &dir.join("sandbox-idp.pem"),
        &spid::CertificateSubject {
            common_name: "SPID di prova (sandbox)".into(),
            organization: "Sandbox Sportello".into(),
            ipa_code: "sandbox".into(),
            locality: "Roma".into(),
            entity_id: format!("{sandbox_url}/idp"),
        },
    )?;
    let idp = sandbox::idp::IdpConfig {
        credentials,
        sp_metadata_url: format!("{}/spid/metadata", config.public_url),
    };
    let mut probe = sandbox::SandboxConfig::new(sandbox_url, Vec::new());
    probe.idp = Some(idp.clone());
    let xml = sandbox::idp_metadata(&probe)
        .expect("the identity provider is configured")
        .map_err(|e| anyhow::anyhow!("sandbox identity provider metadata: {e}"))?;
    let parsed = spid::metadata::parse_idp_metadata(&xml)?;
    Ok((
        idp,
        crate::saml::trusted(parsed, spid::Federation::Spid, "sandbox"),
    ))
}

/// `http://host:port` for a bound address (127.0.0.1 for an unspecified one).
pub fn url_of(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// The sandbox's configuration for this deployment: the ente's station at `station_url`.
pub fn sandbox_config(
    config: &Config,
    sandbox_url: &str,
    station_url: &str,
) -> sandbox::SandboxConfig {
    let mut c = sandbox::SandboxConfig::new(
        sandbox_url,
        vec![sandbox::StationLink {
            fiscal_code: config.ente.fiscal_code.as_str().to_owned(),
            name: config.ente.name.clone(),
            id_broker_pa: config.ente.id_broker_pa.clone(),
            id_station: config.ente.id_station.clone(),
            url: station_url.to_owned(),
            key: config
                .station
                .api_key
                .as_ref()
                .map(|k| k.expose().to_owned()),
        }],
    );
    c.checkout_api_key = config
        .checkout_api_key
        .as_ref()
        .map(|k| k.expose().to_owned());
    c.retry_schedule = config
        .sandbox_retry_ms
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    c.receipt_delay = Duration::from_millis(config.sandbox_receipt_delay_ms);
    c
}
