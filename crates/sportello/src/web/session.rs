//! Sessions for the pages: a random cookie, server-side state, idle and absolute timeouts,
//! rotation at login, and CSRF checked on every state-changing request before any handler runs.
//!
//! A visitor without a cookie gets a session only when it is needed: when a page renders a
//! form (its CSRF token), at login, or when a flow stores something under the session. A
//! cookieless GET of any other page writes nothing, so crawlers and floods do not fill the
//! sessions table.

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::tokens;
use crate::clock::Timestamp;
use crate::store::accounts::{Account, AccountState};
use crate::store::sessions::{CITIZENS, SessionRecord, SessionTable};

use super::limits::MAX_FORM_BYTES;
/// Lifetime of a visitor's (not logged-in) session.
const ANONYMOUS_MINUTES: i64 = 120;
/// Activity is written back at most this often, to spare the database a write per request.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// Whose sessions: the citizens' ([`Account`]) or the back office's operators' (their own table,
/// cookie and idle timeout). The handle, its rotation at login and its end are one piece for both.
pub trait SessionKind: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The table its sessions live in.
    const TABLE: SessionTable;
    /// Lifetime of a session before login.
    const ANONYMOUS_MINUTES: i64;
    /// Minutes of inactivity after which a logged-in session ends.
    fn idle_minutes(state: &AppState) -> i64;
    /// The id the session row is owned by.
    fn id(&self) -> i64;
}

impl SessionKind for Account {
    const TABLE: SessionTable = CITIZENS;
    const ANONYMOUS_MINUTES: i64 = ANONYMOUS_MINUTES;

    fn idle_minutes(state: &AppState) -> i64 {
        state.config().session_idle_minutes
    }

    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Debug)]
pub(crate) struct Inner<U> {
    pub(crate) record: SessionRecord,
    user: Option<U>,
    /// A new secret to send to the browser (new or rotated session).
    pub(crate) new_cookie: Option<String>,
    /// The session ended: tell the browser to forget the cookie.
    pub(crate) cleared: bool,
    /// The record is in the database.
    stored: bool,
    /// Something handed out needs the record kept (a CSRF token in a form).
    wanted: bool,
}

/// The session of the current request, of a citizen or an operator. Cheap to clone; changes
/// are written to the response by the middleware.
#[derive(Debug)]
pub struct SessionOf<U> {
    inner: Arc<Mutex<Inner<U>>>,
    /// Client address.
    pub ip: String,
    user_agent: String,
}

impl<U> Clone for SessionOf<U> {
    fn clone(&self) -> Self {
        SessionOf {
            inner: self.inner.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// A citizen's session.
pub type Session = SessionOf<Account>;

impl<U: SessionKind> SessionOf<U> {
    /// The handle the middleware gives the request: `stored` when the record is in the
    /// database, `new_cookie` when the browser must be told a new secret.
    pub(crate) fn start(
        record: SessionRecord,
        user: Option<U>,
        new_cookie: Option<String>,
        stored: bool,
        ip: String,
        user_agent: String,
    ) -> Self {
        SessionOf {
            inner: Arc::new(Mutex::new(Inner {
                record,
                user,
                new_cookie,
                cleared: false,
                stored,
                wanted: false,
            })),
            ip,
            user_agent,
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner<U>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token forms must carry in `csrf_token`. Asking for it keeps a new visitor's session
    /// (stored after the handler, before the response leaves).
    pub fn csrf(&self) -> String {
        let mut inner = self.lock();
        inner.wanted = true;
        inner.record.csrf_token.clone()
    }

    /// Stores a new visitor's session now, for a flow that writes rows under its id.
    pub async fn keep(&self, state: &AppState) -> anyhow::Result<()> {
        let record = {
            let mut inner = self.lock();
            inner.wanted = true;
            if inner.stored || inner.cleared {
                return Ok(());
            }
            inner.record.clone()
        };
        state
            .store()
            .create_session_in(U::TABLE, &record, &self.ip, &self.user_agent)
            .await?;
        self.lock().stored = true;
        Ok(())
    }

    /// The hash of this session's id (the key of what is stored about the session).
    pub fn id_hash(&self) -> String {
        self.lock().record.id_hash.clone()
    }

    /// Who is logged in.
    pub fn user(&self) -> Option<U> {
        self.lock().user.clone()
    }

    /// Starts a fresh session for `user`: a new id and a new CSRF token (no fixation),
    /// and the old session row is deleted.
    pub async fn login(&self, state: &AppState, user: U) -> anyhow::Result<()> {
        let old = self.lock().record.id_hash.clone();
        state.store().delete_session_in(U::TABLE, &old).await?;
        let (secret, record) = new_record::<U>(state, Some(user.id()));
        state
            .store()
            .create_session_in(U::TABLE, &record, &self.ip, &self.user_agent)
            .await?;
        let mut inner = self.lock();
        inner.record = record;
        inner.user = Some(user);
        inner.new_cookie = Some(secret);
        inner.cleared = false;
        inner.stored = true;
        Ok(())
    }

    /// Ends the session; the next request starts a new visitor session.
    pub async fn logout(&self, state: &AppState) -> anyhow::Result<()> {
        let old = self.lock().record.id_hash.clone();
        state.store().delete_session_in(U::TABLE, &old).await?;
        let mut inner = self.lock();
        inner.user = None;
        inner.new_cookie = None;
        inner.cleared = true;
        inner.stored = false;
        inner.wanted = false;
        Ok(())
    }
}

impl Session {
    /// The logged-in account.
    pub fn account(&self) -> Option<Account> {
        self.user()
    }
}

impl<U: SessionKind, S: Send + Sync> FromRequestParts<S> for SessionOf<U> {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SessionOf<U>>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The name of the session cookie. Over https the `__Host-` prefix pins it to this host and
/// path and requires Secure.
pub fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-sportello"
    } else {
        "sportello"
    }
}

/// Whether the public URL is https (cookies become `Secure`).
pub fn is_https(state: &AppState) -> bool {
    state.config().public_url.starts_with("https://")
}

/// A new session record (and the secret for the cookie) of kind `U`: a visitor's, or after
/// login `user_id`'s.
pub(crate) fn new_record<U: SessionKind>(
    state: &AppState,
    user_id: Option<i64>,
) -> (String, SessionRecord) {
    let now = Timestamp::now();
    let secret = tokens::new_secret();
    let minutes = match user_id {
        Some(_) => U::idle_minutes(state),
        None => U::ANONYMOUS_MINUTES,
    };
    let record = SessionRecord {
        id_hash: tokens::hash_secret(&secret),
        account_id: user_id,
        csrf_token: tokens::new_secret(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus(time::Duration::minutes(minutes)),
    };
    (secret, record)
}

fn read_cookie(req: &Request, name: &str) -> Option<String> {
    secret_cookie(req.headers(), name)
}

/// The value of cookie `name` when it is one of our secrets (64 hexadecimal characters).
pub fn secret_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Loads a live session and its account, applying the idle and absolute timeouts.
async fn load(
    state: &AppState,
    secret: &str,
) -> anyhow::Result<Option<(SessionRecord, Option<Account>)>> {
    let now = Timestamp::now();
    let hash = tokens::hash_secret(secret);
    let Some(mut record) = state.store().session(&hash, now).await? else {
        return Ok(None);
    };
    let mut account = None;
    if let Some(id) = record.account_id {
        let absolute = record
            .created_at
            .plus(time::Duration::hours(state.config().session_absolute_hours));
        account = state
            .store()
            .account_by_id(id)
            .await?
            .filter(|a| a.state == AccountState::Active);
        if account.is_none() || now >= absolute {
            state.store().delete_session(&hash).await?;
            return Ok(None);
        }
        if now.unix() - record.last_seen_at.unix() >= TOUCH_EVERY_SECONDS {
            let idle = now.plus(time::Duration::minutes(state.config().session_idle_minutes));
            let expires = idle.min(absolute);
            state.store().touch_session(&hash, now, expires).await?;
            record.last_seen_at = now;
            record.expires_at = expires;
        }
    }
    Ok(Some((record, account)))
}

/// The value of one field of an `application/x-www-form-urlencoded` body.
pub(crate) fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

pub(crate) fn client_ip(state: &AppState, req: &Request) -> String {
    super::client::of_request(
        req.extensions(),
        req.headers(),
        &state.config().trusted_proxies,
    )
    .map(|ip| ip.to_string())
    .unwrap_or_default()
}

/// Middleware for the page routes: attaches a [`Session`], enforces CSRF on unsafe methods,
/// and writes the cookie back.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    layer_with(state, req, next, true).await
}

/// The session layer for SAML binding endpoints (`/spid/acs`, `/spid/slo`): an identity
/// provider posts there from its own site, with no CSRF token and usually without our cookie.
/// The message's own checks (signature, single-use request bound to the browser) stand in for
/// the token.
pub async fn saml_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    layer_with(state, req, next, false).await
}

async fn layer_with(state: AppState, req: Request, next: Next, csrf: bool) -> Response {
    match run(state, req, next, csrf).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "session layer failed");
            super::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn run(state: AppState, req: Request, next: Next, csrf: bool) -> anyhow::Result<Response> {
    let name = cookie_name(&state);
    let ip = client_ip(&state, &req);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let loaded = match read_cookie(&req, name) {
        Some(secret) => load(&state, &secret).await?,
        None => None,
    };
    let unsafe_method =
        csrf && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let (record, account, new_cookie, stored) = match loaded {
        Some((record, account)) => (record, account, None, true),
        None => {
            if unsafe_method {
                // A form posted without a live session cannot carry a valid CSRF token.
                return Ok(super::pages::csrf_failure(&state));
            }
            // Kept only if the request turns out to need it (see the module comment).
            let (secret, record) = new_record::<Account>(&state, None);
            (record, None, Some(secret), false)
        }
    };
    let mut req = req;
    if unsafe_method {
        req = match with_checked_csrf(&state, req, &record.csrf_token, &ip).await {
            Ok(req) => req,
            Err(refused) => return Ok(refused),
        };
    }
    let session = Session::start(record, account, new_cookie, stored, ip, user_agent);
    req.extensions_mut().insert(session.clone());
    let mut response = next.run(req).await;
    let wanted = {
        let inner = session.lock();
        inner.wanted && !inner.stored && !inner.cleared
    };
    if wanted {
        // The page handed out this session's CSRF token: the form will come back with it.
        session.keep(&state).await?;
    }
    let inner = session.lock();
    finish(
        &state,
        &mut response,
        name,
        inner.new_cookie.as_deref().filter(|_| inner.stored),
        inner.cleared,
        "Lax",
    );
    Ok(response.into_response())
}

/// Reads a state-changing request's form body (bounded) and checks its `csrf_token` against the
/// session's; the request comes back whole, or the refusal to send. A `multipart/form-data`
/// body (a file upload) is bounded by its route's limit and carries the token as a field of
/// its own; it is checked here, before any handler reads the file.
pub(crate) async fn with_checked_csrf(
    state: &AppState,
    req: Request,
    expected: &str,
    ip: &str,
) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let boundary = super::multipart::boundary(&parts.headers);
    let surface = super::limits::Surface::of(parts.uri.path());
    let limit = match boundary {
        Some(_) => surface.limit(state),
        None => MAX_FORM_BYTES,
    };
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Err(surface
                .too_large(limit)
                .unwrap_or_else(|| super::pages::error_page(StatusCode::PAYLOAD_TOO_LARGE)));
        }
    };
    let sent = match &boundary {
        Some(b) => super::multipart::text_field(b, bytes.clone(), "csrf_token").await,
        None => form_field(&bytes, "csrf_token"),
    }
    .unwrap_or_default();
    if !tokens::constant_time_eq(&sent, expected) {
        tracing::warn!(ip = %ip, "CSRF token missing or wrong");
        return Err(super::pages::csrf_failure(state));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Writes the session cookie `name` (a new secret, or its removal) and forbids caching: pages
/// carry personal data and CSRF tokens.
pub(crate) fn finish(
    state: &AppState,
    response: &mut Response,
    name: &str,
    new_secret: Option<&str>,
    cleared: bool,
    same_site: &str,
) {
    let secure = if is_https(state) { "; Secure" } else { "" };
    let cookie = match (new_secret, cleared) {
        (Some(secret), _) => Some(format!(
            "{name}={secret}; Path=/; HttpOnly; SameSite={same_site}{secure}"
        )),
        (None, true) => Some(format!(
            "{name}=; Path=/; HttpOnly; SameSite={same_site}; Max-Age=0{secure}"
        )),
        (None, false) => None,
    };
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
