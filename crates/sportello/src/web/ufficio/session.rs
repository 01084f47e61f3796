//! Operators' sessions: their own cookie and table (a citizen's session never opens the back
//! office), a short idle timeout (`backoffice.idle_minutes`), a new id at login, and CSRF
//! checked on every state-changing request before any handler runs. A request without an
//! operator is sent to the login page, whatever its method, unless its route is public.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::tokens;
use crate::backoffice::Operator;
use crate::clock::Timestamp;
use crate::store::sessions::SessionRecord;
use crate::web::AppState;
use crate::web::session::{client_ip, finish, is_https, secret_cookie, with_checked_csrf};

/// Lifetime of a session before login (the login form's CSRF token).
const ANONYMOUS_MINUTES: i64 = 30;

#[derive(Debug)]
struct Inner {
    record: SessionRecord,
    operator: Option<Operator>,
    new_cookie: Option<String>,
    cleared: bool,
}

/// The operator session of the current request.
#[derive(Clone, Debug)]
pub struct OperatorSession {
    inner: Arc<Mutex<Inner>>,
    /// Client address.
    pub ip: String,
    user_agent: String,
}

impl OperatorSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The CSRF token forms carry.
    pub fn csrf(&self) -> String {
        self.lock().record.csrf_token.clone()
    }

    /// The logged-in operator.
    pub fn operator(&self) -> Option<Operator> {
        self.lock().operator.clone()
    }

    /// Starts a fresh session for `operator` (new id, new CSRF token).
    pub async fn login(&self, state: &AppState, operator: Operator) -> anyhow::Result<()> {
        let old = self.lock().record.id_hash.clone();
        state.store().delete_operator_session(&old).await?;
        let (secret, record) = new_record(state, Some(operator.id));
        state
            .store()
            .create_operator_session(&record, &self.ip, &self.user_agent)
            .await?;
        let mut inner = self.lock();
        inner.record = record;
        inner.operator = Some(operator);
        inner.new_cookie = Some(secret);
        inner.cleared = false;
        Ok(())
    }

    /// Ends the session.
    pub async fn logout(&self, state: &AppState) -> anyhow::Result<()> {
        let old = self.lock().record.id_hash.clone();
        state.store().delete_operator_session(&old).await?;
        let mut inner = self.lock();
        inner.operator = None;
        inner.new_cookie = None;
        inner.cleared = true;
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorSession {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<OperatorSession>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The back office's cookie; over https the `__Host-` prefix pins it to this host.
pub fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-sportello-ufficio"
    } else {
        "sportello-ufficio"
    }
}

fn new_record(state: &AppState, operator_id: Option<i64>) -> (String, SessionRecord) {
    let now = Timestamp::now();
    let secret = tokens::new_secret();
    let minutes = match operator_id {
        Some(_) => state.config().backoffice_idle_minutes,
        None => ANONYMOUS_MINUTES,
    };
    let record = SessionRecord {
        id_hash: tokens::hash_secret(&secret),
        account_id: operator_id,
        csrf_token: tokens::new_secret(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus(time::Duration::minutes(minutes)),
    };
    (secret, record)
}

/// Loads a live session and its operator (still enabled), applying the timeouts. Activity
/// pushes the idle expiry forward on every request: the timeout is short.
async fn load(
    state: &AppState,
    secret: &str,
) -> anyhow::Result<Option<(SessionRecord, Option<Operator>)>> {
    let now = Timestamp::now();
    let hash = tokens::hash_secret(secret);
    let Some(mut record) = state.store().operator_session(&hash, now).await? else {
        return Ok(None);
    };
    let mut operator = None;
    if let Some(id) = record.account_id {
        let absolute = record
            .created_at
            .plus(time::Duration::hours(state.config().session_absolute_hours));
        operator = state
            .store()
            .operator_by_id(id)
            .await?
            .filter(|o| !o.disabled);
        if operator.is_none() || now >= absolute {
            state.store().delete_operator_session(&hash).await?;
            return Ok(None);
        }
        let idle = now.plus(time::Duration::minutes(
            state.config().backoffice_idle_minutes,
        ));
        let expires = idle.min(absolute);
        state
            .store()
            .touch_operator_session(&hash, now, expires)
            .await?;
        record.last_seen_at = now;
        record.expires_at = expires;
    }
    Ok(Some((record, operator)))
}

/// The middleware of every `/ufficio` route.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(state, req, next).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "back-office session layer failed");
            crate::web::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn run(state: AppState, req: Request, next: Next) -> anyhow::Result<Response> {
    let name = cookie_name(&state);
    let ip = client_ip(&state, &req);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let loaded = match secret_cookie(req.headers(), name) {
        Some(secret) => load(&state, &secret).await?,
        None => None,
    };
    let path = req.uri().path().to_owned();
    let public = super::is_public(req.method(), &path);
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let (record, operator, new_cookie) = match loaded {
        Some((record, operator)) => (record, operator, None),
        None if !public => return Ok(to_login(&state)),
        None if unsafe_method => return Ok(crate::web::pages::csrf_failure(&state)),
        None => {
            let (secret, record) = new_record(&state, None);
            state
                .store()
                .create_operator_session(&record, &ip, &user_agent)
                .await?;
            (record, None, Some(secret))
        }
    };
    if operator.is_none() && !public {
        return Ok(to_login(&state));
    }
    if let Some(op) = &operator {
        // The initial password is spent at first login: nothing else until it is changed.
        if op.must_change_password && !super::allowed_before_password_change(&path) {
            return Ok(Redirect::to("/ufficio/password").into_response());
        }
    }
    let mut req = req;
    if unsafe_method {
        req = match with_checked_csrf(&state, req, &record.csrf_token, &ip).await {
            Ok(req) => req,
            Err(refused) => return Ok(refused),
        };
    }
    let session = OperatorSession {
        inner: Arc::new(Mutex::new(Inner {
            record,
            operator,
            new_cookie,
            cleared: false,
        })),
        ip,
        user_agent,
    };
    req.extensions_mut().insert(session.clone());
    let mut response = next.run(req).await;
    let inner = session.lock();
    // SameSite=Strict: nothing of the back office is ever reached from another site.
    finish(
        &state,
        &mut response,
        name,
        inner.new_cookie.as_deref(),
        inner.cleared,
        "Strict",
    );
    Ok(response)
}

fn to_login(_state: &AppState) -> Response {
    Redirect::to("/ufficio/login").into_response()
}
