//! Operators' sessions: their own cookie and table (a citizen's session never opens the back
//! office), a short idle timeout (`backoffice.idle_minutes`), a new id at login, and CSRF
//! checked on every state-changing request before any handler runs. A request without an
//! operator is sent to the login page, whatever its method, unless its route is public.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::tokens;
use crate::backoffice::Operator;
use crate::clock::Timestamp;
use crate::store::sessions::{OPERATORS, SessionRecord, SessionTable};
use crate::web::AppState;
use crate::web::session::{
    SessionKind, SessionOf, client_ip, finish, is_https, new_record, secret_cookie,
    with_checked_csrf,
};

/// Lifetime of a session before login (the login form's CSRF token).
const ANONYMOUS_MINUTES: i64 = 30;

impl SessionKind for Operator {
    const TABLE: SessionTable = OPERATORS;
    const ANONYMOUS_MINUTES: i64 = ANONYMOUS_MINUTES;

    fn idle_minutes(state: &AppState) -> i64 {
        state.config().backoffice_idle_minutes
    }

    fn id(&self) -> i64 {
        self.id
    }
}

/// The operator session of the current request (the citizens' handle, on the operators' table).
pub type OperatorSession = SessionOf<Operator>;

impl OperatorSession {
    /// The logged-in operator.
    pub fn operator(&self) -> Option<Operator> {
        self.user()
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
            let (secret, record) = new_record::<Operator>(&state, None);
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
    let session = OperatorSession::start(record, operator, new_cookie, true, ip, user_agent);
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
