//! Login (username, password, verification code), logout, and the change of the initial
//! password.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Block, Ctx, Flash, FormBlock, Input, OperatorSession, Page};
use crate::backoffice::operators::{LoginOutcome, authenticate};
use crate::clock::Timestamp;
use crate::store::audit::AuditEvent;
use crate::web::AppState;

fn login_form(username: &str, error: bool) -> Block {
    let err = |m: &str| error.then(|| m.to_owned());
    Block::Form(FormBlock::post(
        "accesso",
        "Accedi con le credenziali dell'ufficio",
        "/ufficio/login",
        "ENTRA",
        vec![
            Input::text("username", "Username", username)
                .required()
                .autocomplete("username")
                .width(12)
                .error(err("Username, password o codice di verifica non corretti.")),
            Input::text("password", "Password", "")
                .kind("password")
                .required()
                .autocomplete("current-password")
                .width(12),
            Input::text("codice", "Codice di verifica", "")
                .required()
                .autocomplete("one-time-code")
                .help("Le 6 cifre mostrate ora dall'app di autenticazione")
                .width(12),
        ],
    ))
}

fn login_view(state: &AppState, session: &OperatorSession, username: &str, error: bool) -> Page {
    let mut page = Page::new(state, session, None, "", "Accesso all'ufficio pagamenti");
    page.blocks.push(login_form(username, error));
    page
}

/// `GET /ufficio/login`.
pub async fn page(State(state): State<AppState>, session: OperatorSession) -> Response {
    if session.operator().is_some() {
        return Redirect::to("/ufficio").into_response();
    }
    login_view(&state, &session, "", false).render()
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    codice: String,
}

fn event(session: &OperatorSession, actor: &str, action: &str, outcome: &str) -> AuditEvent {
    AuditEvent {
        account_id: None,
        actor: actor.chars().take(100).collect(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ip: session.ip.clone(),
        detail: "{}".to_owned(),
    }
}

fn too_many(state: &AppState, session: &OperatorSession, seconds: i64) -> Response {
    let mut page = Page::new(state, session, None, "", "Troppi tentativi");
    page.flash = Some(Flash::danger(&format!(
        "Per proteggere l'accesso abbiamo sospeso i tentativi: riprova tra {} minuti.",
        (seconds + 59) / 60
    )));
    (StatusCode::TOO_MANY_REQUESTS, page.render()).into_response()
}

/// `POST /ufficio/login`: a window cap per address, growing delays (lock-out) per username
/// and per address after failures, every attempt audited.
pub async fn submit(
    State(state): State<AppState>,
    session: OperatorSession,
    Form(form): Form<LoginForm>,
) -> Response {
    match do_login(&state, &session, form).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "back-office login failed");
            crate::web::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn do_login(
    state: &AppState,
    session: &OperatorSession,
    form: LoginForm,
) -> anyhow::Result<Response> {
    let store = state.store();
    let name = form.username.trim().to_lowercase();
    let user_bucket = format!("ufficio-fail:user:{name}");
    let ip_bucket = format!("ufficio-fail:ip:{}", session.ip);
    let actor = format!("operatore:{}", form.username.trim());
    if let Err(wait) = store
        .rate_limit_hit(
            &format!("ufficio-login:{}", session.ip),
            time::Duration::minutes(5),
            20,
        )
        .await?
    {
        return Ok(too_many(state, session, wait));
    }
    for bucket in [&user_bucket, &ip_bucket] {
        if let Some(wait) = store.blocked_for(bucket).await? {
            store
                .audit(&event(session, &actor, "ufficio.login", "throttled"))
                .await?;
            return Ok(too_many(state, session, wait));
        }
    }
    let outcome = authenticate(
        store,
        &state.config().backoffice_secret_key,
        &form.username,
        &form.password,
        &form.codice,
        Timestamp::now(),
    )
    .await?;
    let why = match outcome {
        LoginOutcome::Ok(operator) => {
            store.clear_failures(&user_bucket).await?;
            store
                .audit(&event(session, &operator.actor(), "ufficio.login", "ok"))
                .await?;
            let must_change = operator.must_change_password;
            session.login(state, operator).await?;
            let to = if must_change {
                "/ufficio/password"
            } else {
                "/ufficio"
            };
            return Ok(Redirect::to(to).into_response());
        }
        LoginOutcome::BadCredentials => "bad_credentials",
        LoginOutcome::BadCode(_) => "bad_code",
    };
    // An operator gets three tries before the delays start; an address more.
    store.record_failure(&user_bucket, 3).await?;
    store.record_failure(&ip_bucket, 10).await?;
    store
        .audit(&event(session, &actor, "ufficio.login", why))
        .await?;
    Ok((
        StatusCode::UNAUTHORIZED,
        login_view(state, session, &form.username, true).render(),
    )
        .into_response())
}

/// `POST /ufficio/logout`.
pub async fn logout(State(state): State<AppState>, ctx: Ctx) -> Response {
    let _ = state
        .store()
        .audit(&event(
            &ctx.session,
            &ctx.op.actor(),
            "ufficio.logout",
            "ok",
        ))
        .await;
    if let Err(e) = ctx.session.logout(&state).await {
        tracing::error!(error = %e, "back-office logout failed");
    }
    Redirect::to("/ufficio/login").into_response()
}

fn password_view(state: &AppState, ctx: &Ctx, error: Option<String>) -> Page {
    let mut page = ctx.page(state, "", "Cambia la password");
    if ctx.op.must_change_password {
        page.blocks.push(Block::Text(
            "La password iniziale vale per il primo accesso: scegline una tua per continuare."
                .to_owned(),
        ));
    }
    page.blocks.push(Block::Form(FormBlock::post(
        "password",
        "Scegli una password tua",
        "/ufficio/password",
        "Salva la password",
        vec![
            Input::text("password", "Nuova password", "")
                .kind("password")
                .required()
                .autocomplete("new-password")
                .help("Almeno 8 caratteri; evita parole comuni e il tuo nome utente")
                .error(error)
                .width(6),
            Input::text("password2", "Ripeti la nuova password", "")
                .kind("password")
                .required()
                .autocomplete("new-password")
                .width(6),
        ],
    )));
    page
}

/// `GET /ufficio/password`.
pub async fn password_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    password_view(&state, &ctx, None).render()
}

/// The new-password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// `POST /ufficio/password`.
pub async fn password_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<PasswordForm>,
) -> Response {
    let error = if form.password != form.password2 {
        Some("Le due password non coincidono.".to_owned())
    } else {
        crate::auth::password::check_policy(&form.password, &[&ctx.op.username])
            .err()
            .map(|e| e.to_string())
    };
    if error.is_some() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            password_view(&state, &ctx, error).render(),
        )
            .into_response();
    }
    let result = async {
        let hash = crate::auth::password::hash(form.password).await?;
        state
            .store()
            .set_operator_password(ctx.op.id, &hash)
            .await?;
        state
            .store()
            .audit(&event(
                &ctx.session,
                &ctx.op.actor(),
                "ufficio.password",
                "ok",
            ))
            .await?;
        // A new session, without the "must change" flag.
        let mut op = ctx.op.clone();
        op.must_change_password = false;
        ctx.session.login(&state, op).await
    };
    match result.await {
        Ok(()) => Redirect::to("/ufficio").into_response(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "password change failed");
            crate::web::pages::error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
