//! SPID and CIE pages and endpoints: metadata, the login redirect, the assertion consumer
//! service, the password that links an existing account once, and single logout. Handlers parse,
//! call [`crate::saml`], render.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::seq::SliceRandom as _;
use serde::Deserialize;
use spid::Federation;

use super::{Field, Layout, MessagePage, render, safe_next, url_encode};
use crate::accounts::FieldErrors;
use crate::auth::tokens;
use crate::clock::Timestamp;
use crate::saml::{self, AcsError, ServiceProvider, SignIn, SloOutcome, VerifiedIdentity};
use crate::store::accounts::Account;
use crate::store::audit::AuditEvent;
use crate::web::AppState;
use crate::web::session::{Session, is_https, secret_cookie};

/// Largest body the binding endpoints read (a SPID response is a few kilobytes; base64 adds a
/// third).
const MAX_SAML_BODY: usize = 512 * 1024;
/// Logins a single address may start, and responses it may post, per window.
const SAML_PER_WINDOW: i64 = 200;
/// The window of those limits.
const SAML_WINDOW_MINUTES: i64 = 10;

/// The metadata (no session).
pub fn metadata_routes() -> Router<AppState> {
    super::routes::guarded(super::routes::Guard::Public)
}

/// The binding endpoints an identity provider sends the browser to (no CSRF token: see
/// [`crate::web::session::saml_layer`]).
pub fn binding_routes() -> Router<AppState> {
    super::routes::guarded(super::routes::Guard::IdentityProvider)
}

/// The "Entra con SPID" chooser and the "Entra con CIE" button.
#[derive(Debug, Clone, Default)]
pub struct Buttons {
    /// SPID identity providers: name and login link, in random order (AgID asks that no
    /// provider be favoured by position).
    pub spid: Vec<(String, String)>,
    /// CIE identity providers: name and login link.
    pub cie: Vec<(String, String)>,
}

impl Buttons {
    /// Whether there is any button to show.
    pub fn any(&self) -> bool {
        !self.spid.is_empty() || !self.cie.is_empty()
    }
}

/// The buttons for a login that should end at `next`.
pub fn buttons(state: &AppState, next: &str) -> Buttons {
    let Some(sp) = state.saml() else {
        return Buttons::default();
    };
    let link = |entity_id: &str| {
        let mut href = format!("/spid/login?idp={}", url_encode(entity_id));
        if !next.is_empty() {
            href.push_str("&next=");
            href.push_str(&url_encode(safe_next(next)));
        }
        href
    };
    let mut spid: Vec<(String, String)> = sp
        .idps(Federation::Spid)
        .map(|i| (i.meta.name.clone(), link(&i.meta.entity_id)))
        .collect();
    spid.shuffle(&mut rand::rng());
    let cie = sp
        .idps(Federation::Cie)
        .map(|i| (i.meta.name.clone(), link(&i.meta.entity_id)))
        .collect();
    Buttons { spid, cie }
}

fn xml(body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body.to_owned(),
    )
        .into_response()
}

pub(super) async fn spid_metadata(State(state): State<AppState>) -> Response {
    match state.saml() {
        Some(sp) => xml(sp.metadata(Federation::Spid)),
        None => super::error_page(StatusCode::NOT_FOUND),
    }
}

pub(super) async fn cie_metadata(State(state): State<AppState>) -> Response {
    match state.saml() {
        Some(sp) => xml(sp.metadata(Federation::Cie)),
        None => super::error_page(StatusCode::NOT_FOUND),
    }
}

fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
) -> Response {
    let page = MessagePage {
        l: Layout::new(state, session, heading),
        heading: heading.to_owned(),
        alert: "danger",
        paragraphs,
        extra: String::new(),
        links: vec![
            ("/login".into(), "Torna al login".into()),
            ("/".into(), "Pagina iniziale".into()),
        ],
    };
    (status, render(&page)).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "SPID handler failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The flow cookie binds a login to the browser that started it. An identity provider posts
/// its response from its own site: over https the cookie is `SameSite=None; Secure` so it comes
/// along; over http (the demo, whose identity provider is on the same host) `Lax` does.
fn flow_cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-sportello-spid"
    } else {
        "sportello-spid"
    }
}

fn flow_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    secret_cookie(headers, flow_cookie_name(state))
}

fn set_flow_cookie(state: &AppState, secret: &str) -> HeaderValue {
    let attributes = if is_https(state) {
        "; SameSite=None; Secure"
    } else {
        "; SameSite=Lax"
    };
    HeaderValue::from_str(&format!(
        "{}={secret}; Path=/; HttpOnly; Max-Age={}{attributes}",
        flow_cookie_name(state),
        saml::REQUEST_MINUTES * 60
    ))
    .expect("cookie header")
}

async fn limited(
    state: &AppState,
    session: &Session,
    kind: &str,
) -> anyhow::Result<Option<Response>> {
    let bucket = format!("{kind}:{}", session.ip);
    Ok(state
        .store()
        .rate_limit_hit(
            &bucket,
            time::Duration::minutes(SAML_WINDOW_MINUTES),
            SAML_PER_WINDOW,
        )
        .await?
        .err()
        .map(|wait| super::auth::too_many(state, session, wait)))
}

fn event(
    session: &Session,
    actor: &str,
    action: &str,
    outcome: &str,
    account: Option<i64>,
    detail: String,
) -> AuditEvent {
    AuditEvent {
        account_id: account,
        actor: actor.chars().take(100).collect(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ip: session.ip.clone(),
        detail,
    }
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    idp: String,
    #[serde(default)]
    next: String,
}

/// `GET /spid/login?idp=…`: a signed `AuthnRequest` to the chosen identity provider
/// (HTTP-Redirect binding, `302`).
pub(super) async fn login(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(sp) = state.saml_arc() else {
        return super::error_page(StatusCode::NOT_FOUND);
    };
    if session.account().is_some() {
        return Redirect::to(safe_next(&q.next)).into_response();
    }
    match limited(&state, &session, "spid-login").await {
        Ok(Some(r)) => return r,
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    let secret = flow_cookie(&state, &headers).unwrap_or_else(tokens::new_secret);
    let next = if q.next.is_empty() {
        String::new()
    } else {
        safe_next(&q.next).to_owned()
    };
    match saml::start_login(&sp, state.store(), &q.idp, &next, &tokens::hash_secret(&secret)).await {
        Ok(url) => {
            let mut r = (StatusCode::FOUND, [(header::LOCATION, url)]).into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, set_flow_cookie(&state, &secret));
            r
        }
        Err(saml::StartError::UnknownIdp) => page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            "Gestore dell'identità sconosciuto",
            vec!["Il gestore dell'identità scelto non è tra quelli riconosciuti da questo servizio: torna al login e scegline uno dall'elenco.".into()],
        ),
        Err(saml::StartError::Internal(e)) => internal(e),
    }
}

/// A form posted by an identity provider's page, at most [`MAX_SAML_BODY`] bytes.
async fn read_form<T: serde::de::DeserializeOwned>(body: axum::body::Body) -> Option<T> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_SAML_BODY).await.ok()?;
    serde_urlencoded::from_bytes(&bytes).ok()
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
}

/// `POST /spid/acs`: the identity provider's response (HTTP-POST binding).
pub(super) async fn acs(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(sp) = state.saml_arc() else {
        return super::error_page(StatusCode::NOT_FOUND);
    };
    match limited(&state, &session, "spid-acs").await {
        Ok(Some(r)) => return r,
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    let Some(form) = read_form::<AcsForm>(body).await else {
        return super::error_page(StatusCode::BAD_REQUEST);
    };
    // Without the flow cookie no request can match: the hash of nothing is never stored.
    let browser = flow_cookie(&state, &headers)
        .map(|s| tokens::hash_secret(&s))
        .unwrap_or_else(|| "-".to_owned());
    let store = state.store();
    match saml::finish_login(&sp, store, &form.saml_response, &browser).await {
        Ok((identity, next)) => sign_in(&state, &session, &sp, identity, &next).await,
        Err(e) => {
            let outcome = match &e {
                AcsError::Malformed => "malformed".to_owned(),
                AcsError::UnknownRequest => "unknown_request".to_owned(),
                AcsError::IdpReported(code) => format!("idp_error_{}", code.unwrap_or(0)),
                AcsError::Rejected(_) => "rejected".to_owned(),
                AcsError::Internal(_) => "error".to_owned(),
            };
            let detail = serde_json::json!({ "reason": e.to_string() }).to_string();
            if let Err(a) = store
                .audit(&event(&session, "", "login_spid", &outcome, None, detail))
                .await
            {
                return internal(a);
            }
            acs_error_page(&state, &session, e)
        }
    }
}

fn acs_error_page(state: &AppState, session: &Session, e: AcsError) -> Response {
    match e {
        AcsError::Malformed => page(
            state,
            session,
            StatusCode::BAD_REQUEST,
            "Accesso non riuscito",
            vec!["La risposta del gestore dell'identità è illeggibile. Riprova ad accedere.".into()],
        ),
        AcsError::UnknownRequest => page(
            state,
            session,
            StatusCode::FORBIDDEN,
            "Accesso non riuscito",
            vec!["La richiesta di accesso è scaduta, è già stata usata oppure è stata avviata da un altro browser. Torna al login e riprova.".into()],
        ),
        AcsError::IdpReported(code) => {
            let message = code
                .and_then(spid::user_anomaly_message)
                .unwrap_or("Il gestore dell'identità non ha completato l'autenticazione.");
            let mut paragraphs = vec![message.to_owned()];
            if let Some(code) = code {
                paragraphs.push(format!("Codice di errore SPID: {code}."));
            }
            page(state, session, StatusCode::UNAUTHORIZED, "Accesso non riuscito", paragraphs)
        }
        AcsError::Rejected(reason) => {
            tracing::warn!(reason = %reason, ip = %session.ip, "SPID response rejected");
            page(
                state,
                session,
                StatusCode::FORBIDDEN,
                "Accesso non riuscito",
                vec!["Non è stato possibile verificare la risposta del gestore dell'identità: l'accesso è stato rifiutato per sicurezza. Riprova; se il problema continua scrivi all'assistenza.".into()],
            )
        }
        AcsError::Internal(e) => internal(e),
    }
}

/// The account step, then a fresh session.
async fn sign_in(
    state: &AppState,
    session: &Session,
    sp: &ServiceProvider,
    identity: VerifiedIdentity,
    next: &str,
) -> Response {
    let _ = sp;
    let outcome = saml::sign_in_verified(state.store(), &identity, &session.ip).await;
    enter(state, session, outcome, &identity, next).await
}

/// Acts on the account step: log in, ask for the choice on the link page, or refuse a locked
/// account.
async fn enter(
    state: &AppState,
    session: &Session,
    outcome: anyhow::Result<SignIn>,
    identity: &VerifiedIdentity,
    next: &str,
) -> Response {
    let store = state.store();
    match outcome {
        Ok(SignIn::Ready(account)) => {
            let detail = saml::audit_detail(identity);
            complete(state, session, account, &identity.session, next, detail).await
        }
        Ok(SignIn::NeedsPassword(account)) => {
            let link = saml::pending_link(identity, &account, next);
            // The link is kept under the visitor's session: store it first.
            if let Err(e) = session.keep(state).await {
                return internal(e);
            }
            match store.put_pending_link(&session.id_hash(), &link).await {
                Ok(()) => Redirect::to("/spid/collega").into_response(),
                Err(e) => internal(e),
            }
        }
        Ok(SignIn::Locked(account)) => {
            let _ = store
                .audit(&event(
                    session,
                    &account.username,
                    "login",
                    "locked",
                    Some(account.id),
                    saml::audit_detail(identity),
                ))
                .await;
            page(
                state,
                session,
                StatusCode::FORBIDDEN,
                "Account bloccato",
                vec![format!(
                    "Il tuo account è bloccato. Per assistenza scrivi a {}.",
                    state.config().ente.contact_email
                )],
            )
        }
        Err(e) => internal(e),
    }
}

/// Logs `account` in with a new session (no fixation), remembers the identity provider's
/// session for single logout, and goes on.
async fn complete(
    state: &AppState,
    session: &Session,
    account: Account,
    idp_session: &crate::store::spid::SpidSession,
    next: &str,
    detail: String,
) -> Response {
    let store = state.store();
    let id = account.id;
    let username = account.username.clone();
    if let Err(e) = session.login(state, account).await {
        return internal(e);
    }
    if let Err(e) = store
        .insert_spid_session(&session.id_hash(), id, idp_session)
        .await
    {
        return internal(e);
    }
    if let Err(e) = store
        .audit(&event(session, &username, "login", "ok", Some(id), detail))
        .await
    {
        return internal(e);
    }
    Redirect::to(safe_next(if next.is_empty() {
        "/area-privata"
    } else {
        next
    }))
    .into_response()
}

/// `/spid/collega`: the two choices of a verified identity whose fiscal code a password
/// account claimed — link it with its password, or refuse it and enter with a new profile.
#[derive(askama::Template)]
#[template(path = "pages/spid_link.html")]
struct LinkPage {
    l: Layout,
    username: String,
    contact: String,
    summary: String,
    fields: String,
}

fn link_form(
    state: &AppState,
    session: &Session,
    account: &Account,
    errors: &FieldErrors,
) -> LinkPage {
    LinkPage {
        l: Layout::new(state, session, "Collega il tuo account"),
        username: account.username.clone(),
        contact: state.config().ente.contact_email.clone(),
        summary: super::summary(errors),
        fields: Field {
            name: "password",
            label: "Password dell'account",
            kind: "password",
            autocomplete: "current-password",
            required: true,
            help: "",
        }
        .html("", errors),
    }
}

pub(super) async fn link_page(State(state): State<AppState>, session: Session) -> Response {
    let store = state.store();
    let link = match store
        .pending_link(&session.id_hash(), Timestamp::now())
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return internal(e),
    };
    match store.account_by_id(link.account_id).await {
        Ok(Some(account)) => render(&link_form(
            &state,
            &session,
            &account,
            &FieldErrors::default(),
        )),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    #[serde(default)]
    password: String,
}

/// `POST /spid/collega`: the password of the existing account, once; throttled like the
/// password login (same per-user and per-address counters).
pub(super) async fn link(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LinkForm>,
) -> Response {
    let store = state.store();
    let link = match store
        .pending_link(&session.id_hash(), Timestamp::now())
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return internal(e),
    };
    let account = match store.account_by_id(link.account_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return internal(e),
    };
    let failures = super::auth::LoginFailures::new(&account.username, &session.ip);
    match failures.blocked_for(store).await {
        Ok(Some(wait)) => return super::auth::too_many(&state, &session, wait),
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    match saml::link_with_password(store, &link, &form.password, &session.ip).await {
        Ok(Some(account)) => {
            if let Err(e) = failures.clear(store).await {
                return internal(e);
            }
            if let Err(e) = store.drop_pending_link(&session.id_hash()).await {
                return internal(e);
            }
            let detail = serde_json::json!({ "via": link.federation, "idp": link.session.idp_entity_id, "linked": true }).to_string();
            complete(
                &state,
                &session,
                account,
                &link.session,
                &link.next_path,
                detail,
            )
            .await
        }
        Ok(None) => {
            if let Err(e) = failures.record(store).await {
                return internal(e);
            }
            let mut errors = FieldErrors::default();
            errors.add("password", "La password non è corretta.");
            (
                StatusCode::UNAUTHORIZED,
                render(&link_form(&state, &session, &account, &errors)),
            )
                .into_response()
        }
        Err(e) => internal(e),
    }
}

/// `POST /spid/collega/nuovo-profilo`: "Non è il mio account" — the owner of the verified
/// identity refuses the account that claimed its fiscal code and enters with a new profile.
/// The pending link is used once (taken atomically), only from the session that received the
/// assertion, and only before it expires; the login rotates the session.
pub(super) async fn link_new_profile(State(state): State<AppState>, session: Session) -> Response {
    let store = state.store();
    let link = match store
        .take_pending_link(&session.id_hash(), Timestamp::now())
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return internal(e),
    };
    let identity = match saml::identity_of(&link) {
        Ok(i) => i,
        Err(e) => return internal(e),
    };
    let outcome = saml::sign_in_new_profile(store, &link, &session.ip).await;
    enter(&state, &session, outcome, &identity, &link.next_path).await
}

pub(super) async fn slo_get(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    slo(state, session, query.as_deref(), None).await
}

#[derive(Deserialize)]
struct SloForm {
    #[serde(rename = "SAMLRequest")]
    request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    response: Option<String>,
}

pub(super) async fn slo_post(
    State(state): State<AppState>,
    session: Session,
    body: axum::body::Body,
) -> Response {
    let Some(form) = read_form::<SloForm>(body).await else {
        return super::error_page(StatusCode::BAD_REQUEST);
    };
    let message = form.request.or(form.response);
    slo(state, session, None, message.as_deref()).await
}

/// `/spid/slo`: a `LogoutRequest` from an identity provider (its citizen logged out there: our
/// sessions of that identity end) or the `LogoutResponse` to ours.
async fn slo(
    state: AppState,
    session: Session,
    query: Option<&str>,
    post: Option<&str>,
) -> Response {
    let Some(sp) = state.saml_arc() else {
        return super::error_page(StatusCode::NOT_FOUND);
    };
    match saml::handle_slo(&sp, state.store(), query, post).await {
        Ok(SloOutcome::IdpInitiated { redirect, ended }) => {
            tracing::info!(ended, "single logout from the identity provider");
            if let Err(e) = session.logout(&state).await {
                return internal(e);
            }
            (StatusCode::FOUND, [(header::LOCATION, redirect)]).into_response()
        }
        Ok(SloOutcome::Answered { success }) => {
            if let Err(e) = session.logout(&state).await {
                return internal(e);
            }
            if !success {
                tracing::warn!("the identity provider reports a failed single logout");
            }
            Redirect::to("/login?uscito=1").into_response()
        }
        Err(AcsError::Internal(e)) => internal(e),
        Err(e) => {
            tracing::warn!(error = %e, "single logout message refused");
            page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                "Uscita non riuscita",
                vec!["La richiesta di uscita del gestore dell'identità non è valida.".into()],
            )
        }
    }
}

/// "Uscita in corso": the local session has ended; the browser goes on to the identity provider
/// with our signed `LogoutRequest` (a small script follows the link at once; without
/// JavaScript the citizen clicks it).
pub fn leaving_page(state: &AppState, session: &Session, url: &str) -> Response {
    let page = MessagePage {
        l: Layout::new(state, session, "Uscita in corso"),
        heading: "Uscita in corso".into(),
        alert: "info",
        paragraphs: vec![
            "Sei uscito da questo servizio. Ora chiudiamo anche la sessione presso il tuo gestore dell'identità SPID.".into(),
        ],
        extra: format!(
            "<p class=\"mt-3\"><a id=\"uscita-spid\" class=\"btn btn-primary\" href=\"{}\">Prosegui</a></p><script src=\"/static/spid-uscita.js\"></script>",
            super::escape(url)
        ),
        links: Vec::new(),
    };
    render(&page)
}

/// Starts single logout for `session` when it came from SPID/CIE: the redirect to the identity
/// provider, to send after the local logout. Call before [`Session::logout`].
pub async fn logout_redirect(state: &AppState, session: &Session) -> Option<String> {
    let sp: Arc<ServiceProvider> = state.saml_arc()?;
    let idp_session = match state.store().spid_session(&session.id_hash()).await {
        Ok(s) => s?,
        Err(e) => {
            tracing::error!(error = %e, "SPID session lookup failed");
            return None;
        }
    };
    match saml::start_logout(&sp, state.store(), &idp_session).await {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "SPID single logout could not start");
            None
        }
    }
}
