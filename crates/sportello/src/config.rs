//! Configuration: built-in defaults (the demo), then a TOML file, then `SPORTELLO_*` variables.
//!
//! Every setting remembers where its value came from, so a bad value is reported naming the
//! file or the variable a person has to fix. Settings are a fixed list: a key in the file that
//! Sportello does not know is an error too (a typo would otherwise be silently ignored).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pagopa::{Iban, PartitaIva, SegregationCode};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Sportello's built-in default (the demo municipality).
    Default,
    /// A key of the configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the built-in default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(var) => write!(f, "the environment variable {var}"),
        }
    }
}

/// A configuration problem, naming the setting and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file names a setting Sportello does not have.
    #[error("{path}: unknown setting `{key}` (see README.md for the list of settings)")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
    },
    /// A value that does not fit its setting.
    #[error("{origin}: invalid value {value:?} for `{key}`: {reason}")]
    Invalid {
        /// The dotted key of the setting.
        key: &'static str,
        /// The value as written.
        value: String,
        /// Where it came from.
        origin: Source,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether this deployment is the self-contained demo or a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SQLite, the demo municipality, development conveniences (mailbox page, development API key).
    Demo,
    /// A real deployment: no development conveniences.
    Production,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The municipality (Ente Creditore) this deployment serves.
#[derive(Debug, Clone)]
pub struct EnteConfig {
    /// Fiscal code of the ente (11 digits).
    pub fiscal_code: PartitaIva,
    /// Name shown to citizens and printed on notices.
    pub name: String,
    /// Office or sector name (GPD `officeName`).
    pub office_name: String,
    /// pagoPA broker (intermediario) id.
    pub id_broker_pa: String,
    /// pagoPA station id.
    pub id_station: String,
    /// Segregation code assigned to the station, used for aux-3 notice numbers.
    pub segregation_code: SegregationCode,
    /// Default IBAN for transfers.
    pub iban: Iban,
    /// CBILL code printed on notices.
    pub cbill: String,
    /// Postal account (conto corrente postale), when the ente has one.
    pub postal_account: Option<String>,
    /// Address citizens write to for help.
    pub contact_email: String,
    /// The ente's official web site ("SITO UFFICIALE").
    pub website_url: String,
    /// The user manual ("MANUALE").
    pub manual_url: String,
}

/// The whole configuration, typed and validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Demo or production.
    pub mode: Mode,
    /// Address and port the web server listens on.
    pub listen: SocketAddr,
    /// The URL citizens and pagoPA reach Sportello at (used in links and return URLs).
    pub public_url: String,
    /// Whether `public_url` was derived from `listen` (then the bound address replaces it).
    pub public_url_is_derived: bool,
    /// `sqlite://…` or `postgres://…` (its password hidden when printed).
    pub database_url: SecretUrl,
    /// Directory for the demo database and other local files.
    pub data_dir: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`tracing` directives, e.g. `info,sqlx=warn`).
    pub log_level: String,
    /// Seconds requests in flight get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
    /// The municipality.
    pub ente: EnteConfig,
    /// SMTP server (`smtp://host:port`, `smtps://user:pass@host`), or None for the demo mailbox.
    pub smtp_url: Option<SecretUrl>,
    /// The From address of outgoing mail.
    pub mail_from: String,
    /// How often the outbox worker looks for due messages, in milliseconds.
    pub mail_poll_ms: u64,
    /// How long an outbox worker holds the messages it claimed: a worker that dies mid-delivery
    /// releases them after this, in seconds.
    pub mail_lease_seconds: u64,
    /// Minutes of inactivity after which a session ends.
    pub session_idle_minutes: i64,
    /// Hours after login after which a session ends whatever the activity.
    pub session_absolute_hours: i64,
    /// Minutes of inactivity after which an operator's back-office session ends.
    pub backoffice_idle_minutes: i64,
    /// Minutes a checkout may wait for its receipt before the back office lists it as an anomaly.
    pub backoffice_checkout_overdue_minutes: i64,
    /// The key that seals operators' TOTP secrets at rest.
    pub backoffice_secret_key: crate::backoffice::sealing::SealingKey,
    /// SPID and CIE login (Sportello's own SAML service provider).
    pub spid: SpidConfig,
    /// A copy of Bootstrap Italia's `dist/` folder that replaces the one built into the binary
    /// (pages' assets under /static/bi/, the PDFs' fonts). None: the embedded copy.
    pub assets_dir: Option<PathBuf>,
    /// The service catalog (tipi dovuto).
    pub catalog: crate::domain::catalog::Catalog,
    /// Hours after which a spontaneous position nobody paid is removed.
    pub spontaneous_abandon_hours: i64,
    /// Keys accepted in `Ocp-Apim-Subscription-Key` by the debt-position API (may be empty: see
    /// [`Config::effective_api_keys`]).
    pub api_keys: ApiKeys,
    /// Seconds between two runs of the background jobs (expiry of overdue positions).
    pub jobs_interval_seconds: u64,
    /// Largest CSV accepted by the import upload endpoint, in bytes.
    pub import_max_upload_bytes: usize,
    /// pagoPA Checkout's EC API base (`…/checkout/ec/v1`). None: the sandbox's, when it runs.
    pub checkout_url: Option<String>,
    /// The key sent to Checkout in `Ocp-Apim-Subscription-Key`.
    pub checkout_api_key: Option<Secret>,
    /// The origin of the Checkout pages citizens are sent to (the `Location` of `POST /carts`),
    /// which the pages' Content-Security-Policy lets forms reach. None: derived from
    /// `checkout_url` (see [`crate::checkout::page_origin_for_api`]).
    pub checkout_page_origin: Option<String>,
    /// Seconds Sportello waits for Checkout before telling the citizen it is unavailable.
    pub checkout_timeout_seconds: u64,
    /// Whether `serve` starts the sandbox (pagoPA simulated) beside the portal.
    pub sandbox_enabled: bool,
    /// Where the sandbox listens.
    pub sandbox_listen: SocketAddr,
    /// The station the stand-alone `sportello sandbox` calls (`…/pagopa/paForNode`).
    pub sandbox_station_url: Option<String>,
    /// The sandbox's waits between paSendRT attempts, in milliseconds.
    pub sandbox_retry_ms: Vec<u64>,
    /// How late the sandbox's "delayed receipt" test card delivers, in milliseconds.
    pub sandbox_receipt_delay_ms: u64,
    /// The pagoPA station endpoint (`/pagopa/paForNode`).
    pub station: StationConfig,
    /// Reconciliation: the FdR and receipts APIs, and when missing steps become anomalies.
    pub recon: crate::recon::ReconConfig,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`crate::web::client`]); empty:
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Days the event log keeps exchanges with pagoPA before the jobs delete them.
    pub event_log_retention_days: i64,
    /// The demo may listen on an address other than loopback (it has an open station, a
    /// development API key and a mailbox page anyone can read).
    pub demo_allow_non_loopback: bool,
}

/// SPID and CIE: the service provider's identity and keys, and the identity providers it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpidConfig {
    /// The entityID registered with AgID (and CIE); None: the public URL.
    pub entity_id: Option<String>,
    /// PEM private key of the service provider; None in the demo: generated under `data_dir`.
    pub key_file: Option<PathBuf>,
    /// PEM certificate of that key (self-signed, Avviso SPID n. 29 v3).
    pub cert_file: Option<PathBuf>,
    /// SPID identity providers' metadata: a file, or a directory of `*.xml` files.
    pub idp_metadata: Option<PathBuf>,
    /// CIE's identity provider metadata: a file, or a directory of `*.xml` files.
    pub cie_idp_metadata: Option<PathBuf>,
    /// The SPID level requested (1, 2 or 3).
    pub level: u8,
    /// The administration's IPA code (metadata and certificate).
    pub ipa_code: String,
    /// The ISTAT code of the municipality (CIE metadata).
    pub istat_code: String,
    /// A telephone number for the metadata's contact, international form.
    pub contact_phone: Option<String>,
}

impl SpidConfig {
    /// Whether identity providers are configured from files (otherwise the demo uses the
    /// sandbox's, when it runs).
    pub fn has_idp_files(&self) -> bool {
        self.idp_metadata.is_some() || self.cie_idp_metadata.is_some()
    }
}

/// The header carrying the station's access key, when one is configured: the one pagoPA's API
/// gateway uses for subscription keys, so a node-side proxy can set it as for any other API.
pub const STATION_KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// Who may call the station endpoint, and how much they may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationConfig {
    /// Largest request body accepted, in bytes; larger ones get `PAA_SINTASSI_XSD`.
    pub max_body_bytes: usize,
    /// When set, requests must carry it in [`STATION_KEY_HEADER`].
    pub api_key: Option<Secret>,
    /// When not empty, only these addresses (or networks) may call.
    pub allowed_ips: Vec<IpNetwork>,
}

/// An IP address or a CIDR network (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `address` or `address/prefix`.
    pub fn parse(text: &str) -> Result<IpNetwork, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?,
        };
        Ok(IpNetwork { addr, prefix })
    }

    /// Whether `ip` is inside this network. IPv4 addresses mapped into IPv6 (`::ffff:a.b.c.d`,
    /// as a dual-stack listener reports them) count as IPv4.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One known setting: its dotted key, its default, and its environment variable name.
struct Setting {
    key: &'static str,
    default: Option<&'static str>,
}

impl Setting {
    fn env_var(&self) -> String {
        format!(
            "SPORTELLO_{}",
            self.key.replace('.', "_").to_ascii_uppercase()
        )
    }
}

/// The configured API keys. Their `Debug` shows only how many there are, so that
/// `sportello check-config` and logs never print a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKeys(Vec<String>);

impl ApiKeys {
    /// The keys.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many are configured.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} configured, hidden)", self.0.len())
    }
}

/// A secret setting (a key, a password): its `Debug` and `Display` print `[redatto]`, so that
/// `sportello check-config` and the logs never show it; [`Secret::expose`] gives the value to
/// the code that must use it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redatto]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redatto]")
    }
}

/// A URL that may carry a password (`postgres://user:pass@host/db`, `smtps://user:pass@host`):
/// `Debug` and `Display` show it with the password replaced by `[redatto]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(value: impl Into<String>) -> SecretUrl {
        SecretUrl(value.into())
    }

    /// The URL, password included, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password hidden.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `scheme://user:password@rest` → `scheme://user:[redatto]@rest`; anything else unchanged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:[redatto]{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The development API key accepted in demo mode when no key is configured. It is documented
/// (README, docs/import.md) and printed at start-up; production never accepts it.
pub const DEMO_API_KEY: &str = "sportello-demo-key";

/// The IBAN of the demo municipality: a syntactically valid Italian IBAN of no real account.
pub const DEMO_IBAN: &str = "IT60X0542811101000000123456";

const SETTINGS: &[Setting] = &[
    Setting {
        key: "mode",
        default: Some("demo"),
    },
    Setting {
        key: "listen",
        default: Some("127.0.0.1:8080"),
    },
    // Default derived from `listen` when absent.
    Setting {
        key: "public_url",
        default: None,
    },
    Setting {
        key: "database_url",
        default: None,
    },
    Setting {
        key: "data_dir",
        default: Some("data"),
    },
    Setting {
        key: "log.format",
        default: Some("text"),
    },
    Setting {
        key: "log.level",
        default: Some("info,sqlx=warn,tower_http=warn"),
    },
    Setting {
        key: "shutdown_grace_seconds",
        default: Some("20"),
    },
    Setting {
        key: "ente.fiscal_code",
        default: Some("00229080338"),
    },
    Setting {
        key: "ente.name",
        default: Some("Comune di Piacenza"),
    },
    Setting {
        key: "ente.office_name",
        default: Some("Servizio Entrate"),
    },
    Setting {
        key: "ente.id_broker_pa",
        default: Some("00229080338"),
    },
    Setting {
        key: "ente.id_station",
        default: Some("00229080338_01"),
    },
    Setting {
        key: "ente.segregation_code",
        default: Some("01"),
    },
    Setting {
        key: "ente.iban",
        default: Some(DEMO_IBAN),
    },
    Setting {
        key: "ente.cbill",
        default: Some("A1B2C"),
    },
    Setting {
        key: "ente.postal_account",
        default: None,
    },
    Setting {
        key: "ente.contact_email",
        default: Some("utenti_pagopa@comune.piacenza.it"),
    },
    Setting {
        key: "ente.website_url",
        default: Some("https://www.comune.piacenza.it"),
    },
    Setting {
        key: "ente.manual_url",
        default: Some("/manuale"),
    },
    Setting {
        key: "smtp_url",
        default: None,
    },
    Setting {
        key: "mail_from",
        default: Some("Pagamenti pagoPA <noreply@sportello.localhost>"),
    },
    Setting {
        key: "mail_poll_ms",
        default: Some("1000"),
    },
    Setting {
        key: "mail_lease_seconds",
        default: Some("120"),
    },
    Setting {
        key: "session.idle_minutes",
        default: Some("30"),
    },
    Setting {
        key: "session.absolute_hours",
        default: Some("12"),
    },
    // The back office (issue 12).
    Setting {
        key: "backoffice.idle_minutes",
        default: Some("15"),
    },
    Setting {
        key: "backoffice.checkout_overdue_minutes",
        default: Some("60"),
    },
    // Seals operators' TOTP secrets. Default: the demo's public key in demo mode; production
    // requires its own.
    Setting {
        key: "backoffice.secret_key",
        default: None,
    },
    // SPID and CIE (issue 11).
    Setting {
        key: "spid.entity_id",
        default: None,
    },
    Setting {
        key: "spid.key_file",
        default: None,
    },
    Setting {
        key: "spid.cert_file",
        default: None,
    },
    Setting {
        key: "spid.idp_metadata",
        default: None,
    },
    Setting {
        key: "cie.idp_metadata",
        default: None,
    },
    Setting {
        key: "spid.level",
        default: Some("2"),
    },
    Setting {
        key: "spid.ipa_code",
        default: Some("c_g535"),
    },
    Setting {
        key: "spid.istat_code",
        default: Some("033032"),
    },
    Setting {
        key: "spid.contact_phone",
        default: None,
    },
    // Default: the copy of Bootstrap Italia built into the binary.
    Setting {
        key: "assets_dir",
        default: None,
    },
    Setting {
        key: "catalog_file",
        default: None,
    },
    Setting {
        key: "spontaneous_abandon_hours",
        default: Some("72"),
    },
    // Comma-separated (or a TOML array). None: the demo key in demo mode, nothing in production.
    Setting {
        key: "api_keys",
        default: None,
    },
    Setting {
        key: "jobs.interval_seconds",
        default: Some("60"),
    },
    Setting {
        key: "import.max_upload_bytes",
        default: Some("104857600"),
    },
    Setting {
        key: "checkout.url",
        default: None,
    },
    Setting {
        key: "checkout.api_key",
        default: None,
    },
    // Default: derived from checkout.url (pagoPA's API host → its Checkout host).
    Setting {
        key: "checkout.page_origin",
        default: None,
    },
    Setting {
        key: "checkout.timeout_seconds",
        default: Some("15"),
    },
    // Default: on in demo mode, off in production.
    Setting {
        key: "sandbox.enabled",
        default: None,
    },
    Setting {
        key: "sandbox.listen",
        default: Some("127.0.0.1:8081"),
    },
    Setting {
        key: "sandbox.station_url",
        default: None,
    },
    Setting {
        key: "sandbox.retry_ms",
        default: Some("1000,2000,4000,8000"),
    },
    Setting {
        key: "sandbox.receipt_delay_ms",
        default: Some("10000"),
    },
    Setting {
        key: "station.max_body_bytes",
        default: Some("1048576"),
    },
    Setting {
        key: "station.api_key",
        default: None,
    },
    Setting {
        key: "station.allowed_ips",
        default: None,
    },
    // Reconciliation (docs/reconciliation.md). fdr.url default: the sandbox's in the demo,
    // none (reconciliation off) in production.
    Setting {
        key: "fdr.url",
        default: None,
    },
    Setting {
        key: "fdr.api_key",
        default: None,
    },
    Setting {
        key: "fdr.receipts_url",
        default: None,
    },
    Setting {
        key: "fdr.receipts_api_key",
        default: None,
    },
    Setting {
        key: "fdr.page_size",
        default: Some("1000"),
    },
    Setting {
        key: "fdr.interval_seconds",
        default: Some("3600"),
    },
    Setting {
        key: "fdr.no_flow_days",
        default: Some("5"),
    },
    Setting {
        key: "fdr.no_credit_days",
        default: Some("3"),
    },
    Setting {
        key: "fdr.timeout_seconds",
        default: Some("30"),
    },
    Setting {
        key: "treasury.max_upload_bytes",
        default: Some("10485760"),
    },
    // Comma-separated addresses or CIDR networks. None: X-Forwarded-For is never read.
    Setting {
        key: "trusted_proxies",
        default: None,
    },
    Setting {
        key: "event_log.retention_days",
        default: Some("365"),
    },
    Setting {
        key: "demo.allow_non_loopback",
        default: Some("false"),
    },
];

/// Raw values with their provenance, before typing.
#[derive(Debug, Default)]
struct RawValues {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl RawValues {
    fn get(&self, key: &'static str) -> Option<(&str, &Source)> {
        self.values.get(key).map(|(v, s)| (v.as_str(), s))
    }

    /// A value that has a default in [`SETTINGS`], so it is always present.
    fn required(&self, key: &'static str) -> (&str, &Source) {
        self.get(key)
            .unwrap_or_else(|| panic!("setting {key} has no default"))
    }

    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (value, source) = self.required(key);
        parse(value).map_err(|reason| invalid(key, value, source, reason))
    }

    fn text(&self, key: &'static str) -> Result<String, ConfigError> {
        self.parse(key, |v| {
            let v = v.trim();
            if v.is_empty() {
                Err("it must not be empty".into())
            } else {
                Ok(v.to_owned())
            }
        })
    }
}

fn invalid(
    key: &'static str,
    value: &str,
    source: &Source,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_owned(),
        origin: source.clone(),
        reason: reason.into(),
    }
}

/// The default configuration file, read when present and no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "sportello.toml";

impl Config {
    /// Loads the configuration: defaults, then `file` (or `sportello.toml` when it exists), then
    /// `SPORTELLO_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut raw = RawValues::default();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                raw.values
                    .insert(setting.key, (default.to_owned(), Source::Default));
            }
        }
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            apply_file(&mut raw, &path, &text)?;
        }
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SPORTELLO_"))
            .collect();
        for setting in SETTINGS {
            let var = setting.env_var();
            if let Some(value) = env.get(&var) {
                raw.values
                    .insert(setting.key, (value.clone(), Source::Env(var)));
            }
        }
        Config::from_raw(&raw)
    }

    /// Loads from the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(file, std::env::vars())
    }

    fn from_raw(raw: &RawValues) -> Result<Config, ConfigError> {
        let mode = raw.parse("mode", |v| match v.trim() {
            "demo" => Ok(Mode::Demo),
            "production" => Ok(Mode::Production),
            _ => Err("expected `demo` or `production`".into()),
        })?;
        let listen: SocketAddr = raw.parse("listen", |v| {
            v.trim()
                .parse()
                .map_err(|_| "expected address:port, for example 127.0.0.1:8080".into())
        })?;
        let data_dir = PathBuf::from(raw.text("data_dir")?);
        let public_url_is_derived = raw.get("public_url").is_none();
        let public_url = match raw.get("public_url") {
            Some((value, source)) => parse_public_url(value)
                .map_err(|reason| invalid("public_url", value, source, reason))?,
            None => format!("http://{listen}"),
        };
        let database_url = match raw.get("database_url") {
            Some((value, source)) => SecretUrl::new(
                parse_database_url(value)
                    .map_err(|reason| invalid("database_url", value, source, reason))?,
            ),
            None => {
                if mode == Mode::Production {
                    return Err(invalid(
                        "database_url",
                        "",
                        &Source::Default,
                        "a production deployment must name its database (SPORTELLO_DATABASE_URL)",
                    ));
                }
                SecretUrl::new(format!("sqlite://{}/sportello.db", data_dir.display()))
            }
        };
        let log_format = raw.parse("log.format", |v| match v.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected `text` or `json`".into()),
        })?;
        let log_level = raw.text("log.level")?;
        let shutdown_grace_seconds = raw.parse("shutdown_grace_seconds", |v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 3600)
                .ok_or_else(|| "expected a number of seconds between 0 and 3600".into())
        })?;
        let ente = EnteConfig {
            fiscal_code: raw.parse("ente.fiscal_code", |v| {
                PartitaIva::parse(v).map_err(|e| e.to_string())
            })?,
            name: raw.text("ente.name")?,
            office_name: raw.text("ente.office_name")?,
            id_broker_pa: raw.text("ente.id_broker_pa")?,
            id_station: raw.text("ente.id_station")?,
            segregation_code: raw.parse("ente.segregation_code", |v| {
                SegregationCode::parse(v).map_err(|e| e.to_string())
            })?,
            iban: raw.parse("ente.iban", |v| Iban::parse(v).map_err(|e| e.to_string()))?,
            cbill: raw.parse("ente.cbill", |v| {
                let v = v.trim();
                if v.len() == 5 && v.chars().all(|c| c.is_ascii_alphanumeric()) {
                    Ok(v.to_ascii_uppercase())
                } else {
                    Err("a CBILL code has 5 letters and digits".into())
                }
            })?,
            postal_account: match raw.get("ente.postal_account") {
                None => None,
                Some((v, source)) => {
                    let digits: String = v.chars().filter(|c| !c.is_whitespace()).collect();
                    if digits.is_empty() {
                        None
                    } else if digits.len() <= 12 && digits.chars().all(|c| c.is_ascii_digit()) {
                        Some(digits)
                    } else {
                        return Err(invalid(
                            "ente.postal_account",
                            v,
                            source,
                            "a postal account number has at most 12 digits",
                        ));
                    }
                }
            },
            contact_email: raw.parse("ente.contact_email", |v| {
                let v = v.trim();
                if looks_like_email(v) {
                    Ok(v.to_owned())
                } else {
                    Err("expected an e-mail address".into())
                }
            })?,
            website_url: raw.text("ente.website_url")?,
            manual_url: raw.text("ente.manual_url")?,
        };
        let positive = |key: &'static str, max: i64| {
            raw.parse(key, move |v| {
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| format!("expected a whole number between 1 and {max}"))
            })
        };
        let smtp_url = match raw.get("smtp_url") {
            Some((v, source)) if !v.trim().is_empty() => {
                let v = v.trim();
                if v.starts_with("smtp://") || v.starts_with("smtps://") {
                    Some(SecretUrl::new(v))
                } else {
                    return Err(invalid(
                        "smtp_url",
                        &redact_url(v),
                        source,
                        "expected smtp://host:port or smtps://host",
                    ));
                }
            }
            _ => None,
        };
        if mode == Mode::Production && smtp_url.is_none() {
            return Err(invalid(
                "smtp_url",
                "",
                &Source::Default,
                "a production deployment must send mail (SPORTELLO_SMTP_URL)",
            ));
        }
        let mail_from = raw.parse("mail_from", |v| {
            let address = v
                .rsplit_once('<')
                .map(|(_, a)| a.trim_end_matches('>'))
                .unwrap_or(v)
                .trim();
            if looks_like_email(address) {
                Ok(v.trim().to_owned())
            } else {
                Err("expected an address like `Name <user@example.it>`".into())
            }
        })?;
        let spid = spid_settings(raw, mode)?;
        let catalog = match raw.get("catalog_file") {
            Some((path, source)) if !path.trim().is_empty() => {
                let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                    invalid("catalog_file", path, source, format!("cannot read it: {e}"))
                })?;
                crate::domain::catalog::Catalog::parse(&text)
                    .map_err(|e| invalid("catalog_file", path, source, e))?
            }
            _ => crate::domain::catalog::Catalog::parse(crate::domain::catalog::DEMO_CATALOG)
                .expect("the demo catalog is valid"),
        };
        let api_keys = ApiKeys(match raw.get("api_keys") {
            None => Vec::new(),
            Some((value, source)) => {
                let keys: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                // A short key can be guessed; the value is never echoed back in the error.
                if mode == Mode::Production && keys.iter().any(|k| k.len() < 16) {
                    return Err(invalid(
                        "api_keys",
                        "***",
                        source,
                        "every API key must be at least 16 characters long",
                    ));
                }
                keys
            }
        });
        let jobs_interval_seconds = raw.parse("jobs.interval_seconds", |v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .ok_or_else(|| "expected a number of seconds between 1 and 86400".into())
        })?;
        let import_max_upload_bytes = raw.parse("import.max_upload_bytes", |v| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|s| *s >= 1024)
                .ok_or_else(|| "expected a number of bytes, at least 1024".into())
        })?;
        let optional_url = |key: &'static str| -> Result<Option<String>, ConfigError> {
            match raw.get(key) {
                Some((v, source)) if !v.trim().is_empty() => Ok(Some(
                    parse_public_url(v).map_err(|reason| invalid(key, v, source, reason))?,
                )),
                _ => Ok(None),
            }
        };
        let checkout_url = optional_url("checkout.url")?;
        let sandbox_station_url = optional_url("sandbox.station_url")?;
        let checkout_page_origin = match raw.get("checkout.page_origin") {
            Some((v, source)) if !v.trim().is_empty() => Some(
                parse_origin(v)
                    .map_err(|reason| invalid("checkout.page_origin", v, source, reason))?,
            ),
            _ => None,
        };
        let checkout_api_key = raw
            .get("checkout.api_key")
            .map(|(v, _)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        let sandbox_enabled = match raw.get("sandbox.enabled") {
            None => mode == Mode::Demo,
            Some((v, source)) => match v.trim() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(
                        "sandbox.enabled",
                        v,
                        source,
                        "expected true or false",
                    ));
                }
            },
        };
        let sandbox_listen: SocketAddr = raw.parse("sandbox.listen", |v| {
            v.trim()
                .parse()
                .map_err(|_| "expected address:port, for example 127.0.0.1:8081".into())
        })?;
        let sandbox_retry_ms = raw.parse("sandbox.retry_ms", |v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<u64>().ok().filter(|n| *n <= 3_600_000))
                .collect::<Option<Vec<u64>>>()
                .filter(|list| list.len() <= 20)
                .ok_or_else(|| "expected up to 20 comma-separated waits in milliseconds".into())
        })?;
        let sandbox_receipt_delay_ms = raw.parse("sandbox.receipt_delay_ms", |v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 3_600_000)
                .ok_or_else(|| "expected milliseconds, at most 3600000".into())
        })?;
        let station = StationConfig {
            max_body_bytes: raw.parse("station.max_body_bytes", |v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1024..=64 * 1024 * 1024).contains(n))
                    .ok_or_else(|| "expected a number of bytes between 1024 and 67108864".into())
            })?,
            api_key: match raw.get("station.api_key") {
                None => None,
                Some((v, source)) => {
                    let v = v.trim();
                    if v.is_empty() {
                        None
                    } else if v.len() < 16 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(invalid(
                            "station.api_key",
                            "***",
                            source,
                            "the key must be at least 16 printable characters without spaces",
                        ));
                    } else {
                        Some(Secret::new(v))
                    }
                }
            },
            allowed_ips: networks(raw, "station.allowed_ips")?,
        };
        let recon = recon_settings(raw, mode, sandbox_enabled, sandbox_listen)?;
        if mode == Mode::Production && station.api_key.is_none() && station.allowed_ips.is_empty() {
            // Open, the station lets anyone mark positions paid (paSendRT) and read debtors'
            // personal data (paGetPayment).
            return Err(invalid(
                "station.api_key",
                "",
                &Source::Default,
                "a production station must be restricted: set station.api_key (SPORTELLO_STATION_API_KEY) or station.allowed_ips (SPORTELLO_STATION_ALLOWED_IPS), or both",
            ));
        }
        if mode == Mode::Production && !public_url.starts_with("https://") {
            let (value, source) = raw
                .get("public_url")
                .unwrap_or((public_url.as_str(), &Source::Default));
            return Err(invalid(
                "public_url",
                value,
                source,
                "a production deployment is reached over https: set public_url (SPORTELLO_PUBLIC_URL) to its https:// address",
            ));
        }
        let backoffice_secret_key = backoffice_secret_key(raw, mode)?;
        let demo_allow_non_loopback = raw.parse("demo.allow_non_loopback", parse_bool)?;
        if mode == Mode::Demo && !demo_allow_non_loopback {
            for key in ["listen", "sandbox.listen"] {
                let (value, source) = raw.required(key);
                let addr = if key == "listen" {
                    listen
                } else {
                    sandbox_listen
                };
                if !addr.ip().is_loopback() {
                    return Err(invalid(
                        key,
                        value,
                        source,
                        "the demo listens only on a loopback address (127.0.0.1, ::1): it has an open station, a development API key and a mailbox anyone could read. Set demo.allow_non_loopback = true (SPORTELLO_DEMO_ALLOW_NON_LOOPBACK) to expose it anyway",
                    ));
                }
            }
        }
        let trusted_proxies = networks(raw, "trusted_proxies")?;
        let event_log_retention_days = positive("event_log.retention_days", 36_500)?;
        Ok(Config {
            recon,
            checkout_url,
            checkout_api_key,
            checkout_page_origin,
            checkout_timeout_seconds: positive("checkout.timeout_seconds", 300)? as u64,
            sandbox_enabled,
            sandbox_listen,
            sandbox_station_url,
            sandbox_retry_ms,
            sandbox_receipt_delay_ms,
            catalog,
            spontaneous_abandon_hours: positive("spontaneous_abandon_hours", 24 * 365)?,
            smtp_url,
            mail_from,
            mail_poll_ms: positive("mail_poll_ms", 600_000)? as u64,
            mail_lease_seconds: positive("mail_lease_seconds", 86_400)? as u64,
            session_idle_minutes: positive("session.idle_minutes", 24 * 60)?,
            session_absolute_hours: positive("session.absolute_hours", 24 * 30)?,
            backoffice_idle_minutes: positive("backoffice.idle_minutes", 24 * 60)?,
            backoffice_secret_key,
            // 0 lists every checkout still waiting at once (the browser test uses it).
            backoffice_checkout_overdue_minutes: raw.parse(
                "backoffice.checkout_overdue_minutes",
                |v| {
                    v.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (0..=7 * 24 * 60).contains(n))
                        .ok_or_else(|| {
                            "expected a whole number of minutes between 0 and 10080".into()
                        })
                },
            )?,
            spid,
            assets_dir: raw
                .get("assets_dir")
                .map(|(v, _)| v.trim())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            mode,
            listen,
            public_url,
            public_url_is_derived,
            database_url,
            data_dir,
            log_format,
            log_level,
            shutdown_grace_seconds,
            ente,
            api_keys,
            jobs_interval_seconds,
            import_max_upload_bytes,
            station,
            trusted_proxies,
            event_log_retention_days,
            demo_allow_non_loopback,
        })
    }

    /// The API keys actually accepted: the configured ones; with none configured, the documented
    /// development key in demo mode and nothing at all in production (every call is a 401).
    pub fn effective_api_keys(&self) -> Vec<String> {
        if !self.api_keys.is_empty() {
            self.api_keys.0.clone()
        } else if self.mode == Mode::Demo {
            vec![DEMO_API_KEY.to_owned()]
        } else {
            Vec::new()
        }
    }

    /// The table of settings, for `sportello config` and the README: key, variable, default.
    pub fn settings_table() -> Vec<(&'static str, String, Option<&'static str>)> {
        SETTINGS
            .iter()
            .map(|s| (s.key, s.env_var(), s.default))
            .collect()
    }
}

/// The reconciliation settings. The demo reads flows and receipts from its sandbox; in
/// production reconciliation is off until `fdr.url` is set, and then it must be https with its
/// key (and so must the receipts API, when set).
fn recon_settings(
    raw: &RawValues,
    mode: Mode,
    sandbox_enabled: bool,
    sandbox_listen: SocketAddr,
) -> Result<crate::recon::ReconConfig, ConfigError> {
    let text = |key: &'static str| {
        raw.get(key)
            .map(|(v, s)| (v.trim().to_owned(), s.clone()))
            .filter(|(v, _)| !v.is_empty())
    };
    let url = |key: &'static str| -> Result<Option<String>, ConfigError> {
        let Some((v, source)) = text(key) else {
            return Ok(None);
        };
        let parsed = parse_public_url(&v).map_err(|reason| invalid(key, &v, &source, reason))?;
        if mode == Mode::Production && !parsed.starts_with("https://") {
            return Err(invalid(
                key,
                &v,
                &source,
                "in production pagoPA's APIs are reached over https",
            ));
        }
        Ok(Some(parsed))
    };
    let fdr_url = url("fdr.url")?;
    let receipts_url = url("fdr.receipts_url")?;
    let fdr_api_key = text("fdr.api_key").map(|(v, _)| v);
    let receipts_api_key = text("fdr.receipts_api_key").map(|(v, _)| v);
    if mode == Mode::Production {
        if fdr_url.is_some() && fdr_api_key.is_none() {
            return Err(invalid(
                "fdr.api_key",
                "",
                &Source::Default,
                "fdr.url is set: pagoPA's FdR API needs its subscription key (SPORTELLO_FDR_API_KEY)",
            ));
        }
        if receipts_url.is_some() && receipts_api_key.is_none() {
            return Err(invalid(
                "fdr.receipts_api_key",
                "",
                &Source::Default,
                "fdr.receipts_url is set: pagoPA's receipts API needs its subscription key (SPORTELLO_FDR_RECEIPTS_API_KEY)",
            ));
        }
    }
    let derived = fdr_url.is_none() && mode == Mode::Demo && sandbox_enabled;
    let sandbox = crate::app::url_of(sandbox_listen);
    let number = |key: &'static str, min: i64, max: i64| {
        raw.parse(key, move |v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("expected a whole number between {min} and {max}"))
        })
    };
    Ok(crate::recon::ReconConfig {
        fdr_url: if derived {
            Some(format!("{sandbox}{}", sandbox::FDR_BASE))
        } else {
            fdr_url
        },
        receipts_url: match receipts_url {
            None if derived => Some(format!("{sandbox}{}", sandbox::RECEIPTS_BASE)),
            other => other,
        },
        fdr_url_is_derived: derived,
        fdr_api_key,
        receipts_api_key,
        page_size: number("fdr.page_size", 1, 1000)? as u32,
        interval_seconds: number("fdr.interval_seconds", 10, 7 * 86_400)? as u64,
        no_flow_days: number("fdr.no_flow_days", 1, 365)?,
        no_credit_days: number("fdr.no_credit_days", 1, 365)?,
        timeout_seconds: number("fdr.timeout_seconds", 1, 600)? as u64,
        treasury_max_upload_bytes: number("treasury.max_upload_bytes", 1024, 1 << 30)? as usize,
    })
}

/// The SPID/CIE settings. In production, identity providers from files need the service
/// provider's own key and certificate (never generated there: they are registered with AgID)
/// and an https entityID.
fn spid_settings(raw: &RawValues, mode: Mode) -> Result<SpidConfig, ConfigError> {
    let path = |key: &'static str| {
        raw.get(key)
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let entity_id = match raw.get("spid.entity_id") {
        Some((v, source)) if !v.trim().is_empty() => {
            let v = v.trim();
            let ok = (v.starts_with("https://") || v.starts_with("http://"))
                && !v.contains(char::is_whitespace)
                && !v.contains('?')
                && v.len() <= 1024;
            if !ok {
                return Err(invalid(
                    "spid.entity_id",
                    v,
                    source,
                    "expected an http(s) URI without query string",
                ));
            }
            Some(v.to_owned())
        }
        _ => None,
    };
    let level = raw.parse("spid.level", |v| match v.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        "3" => Ok(3),
        _ => Err("expected 1, 2 or 3 (SpidL1, SpidL2, SpidL3)".into()),
    })?;
    let contact_phone = match raw.get("spid.contact_phone") {
        Some((v, source)) if !v.trim().is_empty() => {
            let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            let digits = compact.strip_prefix('+').unwrap_or_default();
            if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "spid.contact_phone",
                    v,
                    source,
                    "expected an international number such as +390523492111",
                ));
            }
            Some(compact)
        }
        _ => None,
    };
    let config = SpidConfig {
        entity_id,
        key_file: path("spid.key_file"),
        cert_file: path("spid.cert_file"),
        idp_metadata: path("spid.idp_metadata"),
        cie_idp_metadata: path("cie.idp_metadata"),
        level,
        ipa_code: raw.text("spid.ipa_code")?,
        istat_code: raw.parse("spid.istat_code", |v| {
            let v = v.trim();
            if v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(v.to_owned())
            } else {
                Err("an ISTAT municipality code has 6 digits".into())
            }
        })?,
        contact_phone,
    };
    if config.key_file.is_some() != config.cert_file.is_some() {
        return Err(invalid(
            "spid.key_file",
            "",
            &Source::Default,
            "spid.key_file and spid.cert_file go together",
        ));
    }
    if mode == Mode::Production && config.has_idp_files() {
        if config.key_file.is_none() {
            return Err(invalid(
                "spid.key_file",
                "",
                &Source::Default,
                "SPID/CIE in production need the service provider's key and certificate registered with AgID (spid.key_file and spid.cert_file)",
            ));
        }
        if let Some(e) = config
            .entity_id
            .as_deref()
            .filter(|e| !e.starts_with("https://"))
        {
            return Err(invalid(
                "spid.entity_id",
                e,
                &Source::Default,
                "SPID/CIE in production need an https entityID",
            ));
        }
    }
    Ok(config)
}

/// A comma-separated list of addresses or CIDR networks (empty when unset).
/// The key sealing TOTP secrets: the demo's own key in demo mode when none is set; production
/// needs one of its own (the demo key is public).
fn backoffice_secret_key(
    raw: &RawValues,
    mode: Mode,
) -> Result<crate::backoffice::sealing::SealingKey, ConfigError> {
    use crate::backoffice::sealing::SealingKey;
    const KEY: &str = "backoffice.secret_key";
    let key = match raw.get(KEY) {
        Some((v, source)) if !v.trim().is_empty() => {
            SealingKey::parse(v).map_err(|reason| invalid(KEY, "[redatto]", source, reason))?
        }
        _ if mode == Mode::Demo => SealingKey::demo(),
        _ => {
            return Err(invalid(
                KEY,
                "",
                &Source::Default,
                "a production deployment seals the operators' TOTP secrets with a key of its own: set backoffice.secret_key (SPORTELLO_BACKOFFICE_SECRET_KEY) to 64 hexadecimal digits (openssl rand -hex 32)",
            ));
        }
    };
    if mode == Mode::Production && key.is_demo() {
        let source = raw.get(KEY).map_or(Source::Default, |(_, s)| s.clone());
        return Err(invalid(
            KEY,
            "[redatto]",
            &source,
            "this is the demo's public key: set backoffice.secret_key (SPORTELLO_BACKOFFICE_SECRET_KEY) to a key of your own (openssl rand -hex 32)",
        ));
    }
    Ok(key)
}

fn networks(raw: &RawValues, key: &'static str) -> Result<Vec<IpNetwork>, ConfigError> {
    match raw.get(key) {
        None => Ok(Vec::new()),
        Some((v, source)) => v
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(IpNetwork::parse)
            .collect::<Result<_, _>>()
            .map_err(|reason| invalid(key, v, source, reason)),
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A minimal structural check; real confirmation happens by sending mail.
pub fn looks_like_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn parse_public_url(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("expected an http:// or https:// URL")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("the URL has no host".into());
    }
    Ok(v.to_owned())
}

/// `scheme://host[:port]`, nothing after it: what a Content-Security-Policy names.
fn parse_origin(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    let origin = crate::web::csp::origin_of(v).ok_or("expected an http:// or https:// origin")?;
    if origin != v.to_ascii_lowercase() {
        return Err(format!(
            "expected only scheme, host and port, e.g. {origin}"
        ));
    }
    Ok(origin)
}

fn parse_database_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://") {
        Ok(v.to_owned())
    } else {
        Err("expected a sqlite://… or postgres://… URL".into())
    }
}

/// Reads the TOML file into `raw`, refusing unknown keys.
fn apply_file(raw: &mut RawValues, path: &Path, text: &str) -> Result<(), ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.message().to_owned(),
        })?;
    let mut flat = Vec::new();
    flatten("", &toml::Value::Table(table), &mut flat);
    for (key, value) in flat {
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key,
            });
        };
        raw.values
            .insert(setting.key, (value, Source::File(path.to_path_buf())));
    }
    Ok(())
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        toml::Value::Array(items) => {
            let joined: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_owned(), joined.join(",")));
        }
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_configuration_is_the_demo() {
        let config = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(config.mode, Mode::Demo);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.database_url.expose(), "sqlite://data/sportello.db");
        assert_eq!(config.ente.fiscal_code.as_str(), "00229080338");
        assert_eq!(config.ente.id_station, "00229080338_01");
        assert_eq!(config.ente.segregation_code.to_string(), "01");
        assert_eq!(
            config.ente.contact_email,
            "utenti_pagopa@comune.piacenza.it"
        );
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://pagamenti.example.it/\"\n[ente]\nname = \"Comune di Prova\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&path),
            env(&[("SPORTELLO_LISTEN", "127.0.0.1:7000"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.public_url, "https://pagamenti.example.it");
        assert_eq!(config.ente.name, "Comune di Prova");
    }

    #[test]
    fn a_bad_variable_is_named() {
        let err = Config::load(
            Some(Path::new("/dev/null")),
            env(&[("SPORTELLO_LISTEN", "localhost")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_LISTEN"), "{err}");
        assert!(err.contains("address:port"), "{err}");

        let err = Config::load(
            Some(Path::new("/dev/null")),
            env(&[("SPORTELLO_DATABASE_URL", "mysql://x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_DATABASE_URL"), "{err}");
    }

    #[test]
    fn a_bad_file_value_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf.toml");
        std::fs::write(&path, "[ente]\niban = \"IT00X0000000000000000000000\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("conf.toml"), "{err}");
        assert!(err.contains("ente.iban"), "{err}");

        std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown setting `lisen`"), "{err}");

        std::fs::write(&path, "listen = [\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
    }

    /// Production seals the operators' TOTP secrets with a key of its own: none, the demo's, or
    /// a malformed one is refused, naming the setting and never echoing the value.
    #[test]
    fn production_needs_its_own_backoffice_key() {
        let base = [
            ("SPORTELLO_MODE", "production"),
            ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
            ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_ALLOWED_IPS", "10.0.0.0/8"),
        ];
        let with = |key: Option<&str>| {
            let mut pairs = base.to_vec();
            if let Some(k) = key {
                pairs.push(("SPORTELLO_BACKOFFICE_SECRET_KEY", k));
            }
            Config::load(Some(Path::new("/dev/null")), env(&pairs))
        };
        let err = with(None).unwrap_err().to_string();
        assert!(
            err.contains("backoffice.secret_key")
                && err.contains("SPORTELLO_BACKOFFICE_SECRET_KEY"),
            "{err}"
        );
        let demo = crate::backoffice::sealing::demo_key_hex();
        let err = with(Some(&demo)).unwrap_err().to_string();
        assert!(
            err.contains("demo") && err.contains("backoffice.secret_key"),
            "{err}"
        );
        assert!(!err.contains(&demo), "the key is not echoed: {err}");
        let err = with(Some("not-a-key-secret")).unwrap_err().to_string();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
        assert!(!err.contains("not-a-key-secret"), "{err}");
        let own = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let config = with(Some(own)).unwrap();
        assert!(!config.backoffice_secret_key.is_demo());
        assert!(
            !format!("{config:?}").contains(own),
            "redacted in check-config"
        );
        // The demo needs nothing: its own public key.
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert!(demo.backoffice_secret_key.is_demo());
    }

    #[test]
    fn production_needs_a_database() {
        let err = Config::load(
            Some(Path::new("/dev/null")),
            env(&[("SPORTELLO_MODE", "production")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("database"), "{err}");
    }

    #[test]
    fn api_keys_come_from_the_environment_or_the_demo() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert!(demo.api_keys.is_empty());
        assert_eq!(demo.effective_api_keys(), vec![DEMO_API_KEY.to_owned()]);

        let configured = Config::load(
            Some(Path::new("/dev/null")),
            env(&[(
                "SPORTELLO_API_KEYS",
                " key-one-0123456789 , key-two-0123456789,",
            )]),
        )
        .unwrap();
        assert_eq!(
            configured.effective_api_keys(),
            vec![
                "key-one-0123456789".to_owned(),
                "key-two-0123456789".to_owned()
            ],
            "configured keys replace the demo key"
        );

        let production = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_MODE", "production"),
                (
                    "SPORTELLO_BACKOFFICE_SECRET_KEY",
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ),
                ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
                ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
                ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
                ("SPORTELLO_STATION_ALLOWED_IPS", "10.0.0.0/8"),
            ]),
        )
        .unwrap();
        assert!(production.effective_api_keys().is_empty());

        let err = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_MODE", "production"),
                (
                    "SPORTELLO_BACKOFFICE_SECRET_KEY",
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ),
                ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
                ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
                ("SPORTELLO_API_KEYS", "short"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_API_KEYS"), "{err}");
        assert!(!err.contains("short"), "a key is never echoed: {err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "api_keys = [\"file-key-0123456789\", \"other-key-0123456789\"]\n",
        )
        .unwrap();
        let from_file = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(from_file.api_keys.len(), 2);
        let printed = format!("{from_file:?}");
        assert!(
            !printed.contains("file-key"),
            "keys are never printed: {printed}"
        );
    }

    #[test]
    fn station_access_settings() {
        let config = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(config.station.max_body_bytes, 1024 * 1024);
        assert_eq!(config.station.api_key, None);
        assert!(config.station.allowed_ips.is_empty());

        let config = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_STATION_API_KEY", "0123456789abcdef0123"),
                (
                    "SPORTELLO_STATION_ALLOWED_IPS",
                    "10.1.0.0/16, 192.0.2.7,2001:db8::/32",
                ),
                ("SPORTELLO_STATION_MAX_BODY_BYTES", "65536"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.station.api_key.as_ref().map(Secret::expose),
            Some("0123456789abcdef0123")
        );
        assert_eq!(config.station.max_body_bytes, 65536);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let allowed = |s: &str| config.station.allowed_ips.iter().any(|n| n.contains(ip(s)));
        assert!(allowed("10.1.200.3"));
        assert!(allowed("::ffff:10.1.0.1"));
        assert!(!allowed("10.2.0.1"));
        assert!(allowed("192.0.2.7"));
        assert!(!allowed("192.0.2.8"));
        assert!(allowed("2001:db8:1::1"));
        assert!(!allowed("2001:db9::1"));
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );

        for (var, value) in [
            ("SPORTELLO_STATION_API_KEY", "short"),
            ("SPORTELLO_STATION_ALLOWED_IPS", "10.0.0.0/33"),
            ("SPORTELLO_STATION_ALLOWED_IPS", "example.org"),
            ("SPORTELLO_STATION_MAX_BODY_BYTES", "10"),
        ] {
            let err = Config::load(Some(Path::new("/dev/null")), env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
            assert!(!err.contains("short\""), "the key is never echoed: {err}");
        }
    }

    #[test]
    fn checkout_and_sandbox_settings() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert!(demo.sandbox_enabled, "the demo runs the sandbox");
        assert_eq!(demo.checkout_url, None, "the sandbox's, once bound");
        assert_eq!(demo.sandbox_listen.to_string(), "127.0.0.1:8081");
        assert_eq!(demo.sandbox_retry_ms, vec![1000, 2000, 4000, 8000]);
        let production = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_MODE", "production"),
                (
                    "SPORTELLO_BACKOFFICE_SECRET_KEY",
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ),
                ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
                ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
                (
                    "SPORTELLO_CHECKOUT_URL",
                    "https://api.platform.pagopa.it/checkout/ec/v1/",
                ),
                ("SPORTELLO_CHECKOUT_API_KEY", "k"),
                ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
                ("SPORTELLO_STATION_API_KEY", "0123456789abcdef0123"),
            ]),
        )
        .unwrap();
        assert!(!production.sandbox_enabled);
        assert_eq!(
            production.checkout_url.as_deref(),
            Some("https://api.platform.pagopa.it/checkout/ec/v1")
        );
        assert_eq!(
            production.checkout_api_key.as_ref().map(Secret::expose),
            Some("k")
        );
        for (var, value) in [
            ("SPORTELLO_CHECKOUT_URL", "ftp://x"),
            ("SPORTELLO_SANDBOX_ENABLED", "yes"),
            ("SPORTELLO_SANDBOX_LISTEN", "8081"),
            ("SPORTELLO_SANDBOX_RETRY_MS", "1,two"),
            ("SPORTELLO_CHECKOUT_TIMEOUT_SECONDS", "0"),
        ] {
            let err = Config::load(Some(Path::new("/dev/null")), env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn fdr_settings_and_their_production_rules() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(
            demo.recon.fdr_url.as_deref(),
            Some("http://127.0.0.1:8081/fdr-org/service/v1"),
            "the demo reads its sandbox"
        );
        assert!(demo.recon.receipts_url.is_some());
        let base = [
            ("SPORTELLO_MODE", "production"),
            (
                "SPORTELLO_BACKOFFICE_SECRET_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
            ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_API_KEY", "station-key-0123456789"),
        ];
        let off = Config::load(Some(Path::new("/dev/null")), env(&base)).unwrap();
        assert_eq!(off.recon.fdr_url, None, "off until configured");
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::load(Some(Path::new("/dev/null")), env(&all))
        };
        let err = with(&[(
            "SPORTELLO_FDR_URL",
            "https://api.platform.pagopa.it/fdr-org/service/v1",
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_FDR_API_KEY"), "{err}");
        let err = with(&[
            ("SPORTELLO_FDR_URL", "http://fdr.example.it"),
            ("SPORTELLO_FDR_API_KEY", "k"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("SPORTELLO_FDR_URL") && err.contains("https"),
            "{err}"
        );
        let err = with(&[
            ("SPORTELLO_FDR_URL", "https://fdr.example.it"),
            ("SPORTELLO_FDR_API_KEY", "k"),
            ("SPORTELLO_FDR_RECEIPTS_URL", "https://biz.example.it"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_FDR_RECEIPTS_API_KEY"), "{err}");
        let ok = with(&[
            ("SPORTELLO_FDR_URL", "https://fdr.example.it/"),
            ("SPORTELLO_FDR_API_KEY", "k"),
        ])
        .unwrap();
        assert_eq!(ok.recon.fdr_url.as_deref(), Some("https://fdr.example.it"));
        assert!(
            !format!("{:?}", ok.recon).contains("\"k\""),
            "keys are not printed"
        );
        let err = Config::load(
            Some(Path::new("/dev/null")),
            env(&[("SPORTELLO_FDR_PAGE_SIZE", "5000")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SPORTELLO_FDR_PAGE_SIZE"), "{err}");
    }

    #[test]
    fn spid_settings_and_their_production_rules() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(demo.spid.level, 2);
        assert_eq!(demo.spid.entity_id, None, "the public URL");
        assert!(
            !demo.spid.has_idp_files(),
            "the demo uses the sandbox's IdP"
        );
        let configured = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                (
                    "SPORTELLO_SPID_ENTITY_ID",
                    "https://pagamenti.comune.example.it",
                ),
                ("SPORTELLO_SPID_LEVEL", "3"),
                ("SPORTELLO_SPID_CONTACT_PHONE", "+39 0523 492111"),
                ("SPORTELLO_CIE_IDP_METADATA", "/etc/sportello/cie"),
            ]),
        )
        .unwrap();
        assert_eq!(configured.spid.level, 3);
        assert_eq!(
            configured.spid.contact_phone.as_deref(),
            Some("+390523492111")
        );
        assert!(configured.spid.has_idp_files());
        let production = [
            ("SPORTELLO_MODE", "production"),
            (
                "SPORTELLO_BACKOFFICE_SECRET_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("SPORTELLO_DATABASE_URL", "postgres://db/x"),
            ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
            ("SPORTELLO_SPID_IDP_METADATA", "/etc/sportello/spid"),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_API_KEY", "0123456789abcdef0123"),
        ];
        let err = Config::load(Some(Path::new("/dev/null")), env(&production))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spid.key_file"),
            "no generated keys in production: {err}"
        );
        let mut with_keys = production.to_vec();
        with_keys.extend([
            ("SPORTELLO_SPID_KEY_FILE", "/etc/sportello/sp.key"),
            ("SPORTELLO_SPID_CERT_FILE", "/etc/sportello/sp.crt"),
            ("SPORTELLO_SPID_ENTITY_ID", "http://pagamenti.example.it"),
        ]);
        let err = Config::load(Some(Path::new("/dev/null")), env(&with_keys))
            .unwrap_err()
            .to_string();
        assert!(err.contains("https"), "{err}");
        for (var, value) in [
            ("SPORTELLO_SPID_LEVEL", "4"),
            ("SPORTELLO_SPID_ENTITY_ID", "https://x.example/?a=b"),
            ("SPORTELLO_SPID_ISTAT_CODE", "33032"),
            ("SPORTELLO_SPID_CONTACT_PHONE", "0523 abc"),
            ("SPORTELLO_SPID_KEY_FILE", "/only/the/key.pem"),
        ] {
            let err = Config::load(Some(Path::new("/dev/null")), env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("spid."), "{var}: {err}");
        }
    }

    #[test]
    fn checkout_page_origin_and_assets_dir() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert_eq!(demo.checkout_page_origin, None, "derived from checkout.url");
        assert_eq!(demo.assets_dir, None, "the copy built into the binary");
        let set = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                (
                    "SPORTELLO_CHECKOUT_PAGE_ORIGIN",
                    "https://Checkout.Example.it/",
                ),
                ("SPORTELLO_ASSETS_DIR", "/srv/bootstrap-italia/dist"),
            ]),
        )
        .unwrap();
        assert_eq!(
            set.checkout_page_origin.as_deref(),
            Some("https://checkout.example.it")
        );
        assert_eq!(
            set.assets_dir.as_deref(),
            Some(Path::new("/srv/bootstrap-italia/dist"))
        );
        for bad in [
            "checkout.example.it",
            "https://checkout.example.it/c/1",
            "javascript:alert(1)",
            "https://checkout.example.it; script-src *",
        ] {
            let err = Config::load(
                Some(Path::new("/dev/null")),
                env(&[("SPORTELLO_CHECKOUT_PAGE_ORIGIN", bad)]),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("SPORTELLO_CHECKOUT_PAGE_ORIGIN"),
                "{bad}: {err}"
            );
        }
    }

    /// A production deployment that passes every check; tests remove or change one setting.
    fn production() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SPORTELLO_MODE", "production"),
            (
                "SPORTELLO_BACKOFFICE_SECRET_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            (
                "SPORTELLO_DATABASE_URL",
                "postgres://sportello:db-password@db/x",
            ),
            (
                "SPORTELLO_SMTP_URL",
                "smtps://mailer:smtp-password@mail.example.it",
            ),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_API_KEY", "station-key-0123456789"),
            ("SPORTELLO_API_KEYS", "api-key-0123456789abc"),
            ("SPORTELLO_CHECKOUT_API_KEY", "checkout-key-0123456789"),
        ]
    }

    fn without(
        base: Vec<(&'static str, &'static str)>,
        var: &str,
    ) -> Vec<(&'static str, &'static str)> {
        base.into_iter().filter(|(k, _)| *k != var).collect()
    }

    #[test]
    fn a_production_station_must_be_restricted() {
        let open = without(production(), "SPORTELLO_STATION_API_KEY");
        let err = Config::load(Some(Path::new("/dev/null")), env(&open))
            .unwrap_err()
            .to_string();
        assert!(err.contains("station.api_key"), "{err}");
        assert!(err.contains("station.allowed_ips"), "{err}");
        assert!(err.contains("SPORTELLO_STATION_API_KEY"), "{err}");
        assert!(err.contains("SPORTELLO_STATION_ALLOWED_IPS"), "{err}");
        // Either restriction is enough.
        let mut by_address = open.clone();
        by_address.push(("SPORTELLO_STATION_ALLOWED_IPS", "192.0.2.0/24"));
        Config::load(Some(Path::new("/dev/null")), env(&by_address)).unwrap();
        Config::load(Some(Path::new("/dev/null")), env(&production())).unwrap();
        // The demo keeps its open station, on loopback.
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert!(demo.station.api_key.is_none() && demo.station.allowed_ips.is_empty());
    }

    #[test]
    fn production_refuses_an_http_public_url() {
        let mut http = without(production(), "SPORTELLO_PUBLIC_URL");
        let err = Config::load(Some(Path::new("/dev/null")), env(&http))
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_url"), "derived http:// URL: {err}");
        http.push(("SPORTELLO_PUBLIC_URL", "http://pagamenti.example.it"));
        let err = Config::load(Some(Path::new("/dev/null")), env(&http))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SPORTELLO_PUBLIC_URL"), "{err}");
        assert!(err.contains("https://"), "{err}");
    }

    #[test]
    fn the_demo_stays_on_loopback_unless_told() {
        for (var, value) in [
            ("SPORTELLO_LISTEN", "0.0.0.0:8080"),
            ("SPORTELLO_LISTEN", "192.0.2.1:8080"),
            ("SPORTELLO_SANDBOX_LISTEN", "[::]:8081"),
        ] {
            let err = Config::load(Some(Path::new("/dev/null")), env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
            assert!(err.contains("SPORTELLO_DEMO_ALLOW_NON_LOOPBACK"), "{err}");
        }
        let told = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_LISTEN", "0.0.0.0:8080"),
                ("SPORTELLO_DEMO_ALLOW_NON_LOOPBACK", "true"),
            ]),
        )
        .unwrap();
        assert!(told.demo_allow_non_loopback);
        let ipv6 = Config::load(
            Some(Path::new("/dev/null")),
            env(&[("SPORTELLO_LISTEN", "[::1]:8080")]),
        )
        .unwrap();
        assert!(ipv6.listen.ip().is_loopback());
    }

    #[test]
    fn secrets_are_never_printed() {
        let config = Config::load(Some(Path::new("/dev/null")), env(&production())).unwrap();
        let printed = format!("{config:#?}");
        for secret in [
            "db-password",
            "smtp-password",
            "station-key-0123456789",
            "api-key-0123456789abc",
            "checkout-key-0123456789",
        ] {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        }
        assert!(
            printed.contains("postgres://sportello:[redatto]@db/x"),
            "{printed}"
        );
        assert!(printed.contains("[redatto]"));
        assert_eq!(
            config.station.api_key.as_ref().map(Secret::expose),
            Some("station-key-0123456789"),
            "the code still gets the value"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn trusted_proxies_and_retention() {
        let demo = Config::load(Some(Path::new("/dev/null")), env(&[])).unwrap();
        assert!(demo.trusted_proxies.is_empty());
        assert_eq!(demo.event_log_retention_days, 365);
        let set = Config::load(
            Some(Path::new("/dev/null")),
            env(&[
                ("SPORTELLO_TRUSTED_PROXIES", "10.0.0.1, 172.16.0.0/12"),
                ("SPORTELLO_EVENT_LOG_RETENTION_DAYS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(set.trusted_proxies.len(), 2);
        assert_eq!(set.event_log_retention_days, 30);
        for (var, value) in [
            ("SPORTELLO_TRUSTED_PROXIES", "proxy.example"),
            ("SPORTELLO_EVENT_LOG_RETENTION_DAYS", "0"),
        ] {
            let err = Config::load(Some(Path::new("/dev/null")), env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn every_setting_has_a_distinct_variable() {
        let table = Config::settings_table();
        let mut vars: Vec<_> = table.iter().map(|(_, v, _)| v.clone()).collect();
        vars.sort();
        vars.dedup();
        assert_eq!(vars.len(), table.len());
        assert!(vars.contains(&"SPORTELLO_ENTE_SEGREGATION_CODE".to_string()));
    }
}
