//! Home, login/logout, registration, activation and recovery pages.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Field, FormPage, Layout, MessagePage, escape, render, safe_next, summary};
use crate::accounts::{self, FieldErrors, Registered, RegistrationError, RegistrationForm};
use crate::config::Mode;
use crate::store::accounts::{AccountState, username_key};
use crate::store::audit::AuditEvent;
use crate::web::AppState;
use crate::web::session::Session;

#[derive(Template)]
#[template(path = "pages/home.html")]
struct Home {
    l: Layout,
    ente_fiscal_code: String,
    spid: super::saml::Buttons,
}

pub async fn home(State(state): State<AppState>, session: Session) -> Response {
    render(&Home {
        l: Layout::new(&state, &session, "Pagamenti online"),
        ente_fiscal_code: state.ente().fiscal_code.clone(),
        spid: super::saml::buttons(&state, ""),
    })
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct Login {
    l: Layout,
    error: String,
    notice: String,
    username: String,
    next: String,
    show_resend: bool,
    spid: super::saml::Buttons,
}

#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    #[serde(default)]
    next: String,
}

fn login_view(state: &AppState, session: &Session, username: &str, next: &str) -> Login {
    Login {
        l: Layout::new(state, session, "Login"),
        error: String::new(),
        notice: String::new(),
        username: username.to_owned(),
        next: next.to_owned(),
        show_resend: false,
        spid: super::saml::buttons(state, next),
    }
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Response {
    if session.account().is_some() {
        return Redirect::to("/area-privata").into_response();
    }
    render(&login_view(&state, &session, "", &q.next))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn event(
    session: &Session,
    actor: &str,
    action: &str,
    outcome: &str,
    account_id: Option<i64>,
) -> AuditEvent {
    AuditEvent {
        account_id,
        actor: actor.chars().take(100).collect(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ip: session.ip.clone(),
        detail: "{}".to_owned(),
    }
}

pub(super) fn too_many(state: &AppState, session: &Session, seconds: i64) -> Response {
    let wait = if seconds >= 120 {
        format!("{} minuti", (seconds + 59) / 60)
    } else {
        format!("{seconds} secondi")
    };
    let page = MessagePage {
        l: Layout::new(state, session, "Troppi tentativi"),
        heading: "Troppi tentativi".into(),
        alert: "danger",
        paragraphs: vec![format!(
            "Per proteggere gli account abbiamo sospeso temporaneamente le richieste da questa connessione. Riprova tra {wait}."
        )],
        extra: String::new(),
        links: vec![("/".into(), "Torna alla pagina iniziale".into())],
    };
    (StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response()
}

/// Counts a request of `kind` from this address: a fixed window cap plus a delay that grows
/// with every request past the first few in an hour. `Some(response)` when refused.
async fn throttle(
    state: &AppState,
    session: &Session,
    kind: &str,
    per_hour: i64,
) -> anyhow::Result<Option<Response>> {
    let ip = &session.ip;
    if let Some(wait) = state
        .store()
        .blocked_for(&format!("delay:{kind}:{ip}"))
        .await?
    {
        return Ok(Some(too_many(state, session, wait)));
    }
    if let Err(wait) = state
        .store()
        .rate_limit_hit(&format!("{kind}:{ip}"), time::Duration::hours(1), per_hour)
        .await?
    {
        return Ok(Some(too_many(state, session, wait)));
    }
    state
        .store()
        .record_failure(&format!("delay:{kind}:{ip}"), 3)
        .await?;
    Ok(None)
}

/// The counters of wrong passwords behind a login: one for this user *from this address* (a
/// few tries, then a growing delay) and one for the address (more tries: a whole office may sit
/// behind one NAT). Keyed on user and address, so nobody elsewhere can lock a user out by
/// failing on purpose; the address counter still slows one source guessing many users.
pub(super) struct LoginFailures {
    user: String,
    address: String,
}

impl LoginFailures {
    /// The counters for `username` tried from `ip`.
    pub(super) fn new(username: &str, ip: &str) -> LoginFailures {
        LoginFailures {
            user: format!("login-fail:user:{}:ip:{ip}", username_key(username)),
            address: format!("login-fail:ip:{ip}"),
        }
    }

    /// Seconds left of a delay imposed by earlier failures, if any.
    pub(super) async fn blocked_for(
        &self,
        store: &crate::store::Store,
    ) -> crate::store::StoreResult<Option<i64>> {
        for bucket in [&self.user, &self.address] {
            if let Some(wait) = store.blocked_for(bucket).await? {
                return Ok(Some(wait));
            }
        }
        Ok(None)
    }

    /// Counts a wrong password.
    pub(super) async fn record(
        &self,
        store: &crate::store::Store,
    ) -> crate::store::StoreResult<()> {
        store.record_failure(&self.user, 3).await?;
        store.record_failure(&self.address, 20).await?;
        Ok(())
    }

    /// Forgets the user's failures after a right password.
    pub(super) async fn clear(&self, store: &crate::store::Store) -> crate::store::StoreResult<()> {
        store.clear_failures(&self.user).await
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page handler failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) async fn login(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    match do_login(&state, &session, form).await {
        Ok(r) => r,
        Err(e) => internal(format!("{e:#}")),
    }
}

async fn do_login(
    state: &AppState,
    session: &Session,
    form: LoginForm,
) -> anyhow::Result<Response> {
    let store = state.store();
    let failures = LoginFailures::new(&form.username, &session.ip);
    if let Err(wait) = store
        .rate_limit_hit(
            &format!("login:{}", session.ip),
            time::Duration::minutes(5),
            30,
        )
        .await?
    {
        return Ok(too_many(state, session, wait));
    }
    if let Some(wait) = failures.blocked_for(store).await? {
        store
            .audit(&event(session, &form.username, "login", "throttled", None))
            .await?;
        return Ok(too_many(state, session, wait));
    }
    let ctx = state.accounts();
    let mut view = login_view(state, session, &form.username, &form.next);
    let Some(account) = ctx
        .check_credentials(&form.username, &form.password)
        .await?
    else {
        failures.record(store).await?;
        store
            .audit(&event(
                session,
                &form.username,
                "login",
                "bad_credentials",
                None,
            ))
            .await?;
        view.error = "Nome utente o password non corretti.".into();
        return Ok((StatusCode::UNAUTHORIZED, render(&view)).into_response());
    };
    match account.state {
        AccountState::Pending => {
            store
                .audit(&event(
                    session,
                    &account.username,
                    "login",
                    "not_activated",
                    Some(account.id),
                ))
                .await?;
            view.error = "Il tuo account non è ancora attivo: per attivarlo apri il collegamento che ti abbiamo inviato per e-mail (controlla anche la cartella «spam»). Se non lo trovi o è scaduto, puoi riceverne uno nuovo.".into();
            view.show_resend = true;
            Ok((StatusCode::FORBIDDEN, render(&view)).into_response())
        }
        AccountState::Locked => {
            store
                .audit(&event(
                    session,
                    &account.username,
                    "login",
                    "locked",
                    Some(account.id),
                ))
                .await?;
            view.error = format!(
                "Il tuo account è bloccato. Per assistenza scrivi a {}.",
                state.config().ente.contact_email
            );
            Ok((StatusCode::FORBIDDEN, render(&view)).into_response())
        }
        AccountState::Active => {
            failures.clear(store).await?;
            store
                .audit(&event(
                    session,
                    &account.username,
                    "login",
                    "ok",
                    Some(account.id),
                ))
                .await?;
            session.login(state, account).await?;
            Ok(Redirect::to(safe_next(&form.next)).into_response())
        }
    }
}

pub(super) async fn logout(State(state): State<AppState>, session: Session) -> Response {
    let account = session.account();
    // A session that came from SPID/CIE also ends at the identity provider (single logout).
    let idp_logout = super::saml::logout_redirect(&state, &session).await;
    if let Err(e) = session.logout(&state).await {
        return internal(e);
    }
    if let Some(a) = account {
        let _ = state
            .store()
            .audit(&event(&session, &a.username, "logout", "ok", Some(a.id)))
            .await;
    }
    match idp_logout {
        // A page, not a redirect: the logout form's navigation may only end on this site
        // (CSP form-action); the identity provider is reached from the page itself.
        Some(url) => super::saml::leaving_page(&state, &session, &url),
        None => Redirect::to("/login?uscito=1").into_response(),
    }
}

#[derive(Template)]
#[template(path = "pages/register.html")]
struct Register {
    l: Layout,
    summary: String,
    f: RegisterFields,
}

struct RegisterFields {
    nome: String,
    cognome: String,
    codice_fiscale: String,
    data_nascita: String,
    indirizzo: String,
    cap: String,
    comune: String,
    provincia: String,
    telefono: String,
    fax: String,
    email: String,
    username: String,
    password: String,
    password2: String,
    privacy: String,
}

fn register_view(
    state: &AppState,
    session: &Session,
    form: &RegistrationForm,
    errors: &FieldErrors,
) -> Register {
    let v = accounts::echo(form);
    let get = |k: &str| v.get(k).cloned().unwrap_or_default();
    let field = |name, label, kind, ac, required, help| {
        Field {
            name,
            label,
            kind,
            autocomplete: ac,
            required,
            help,
        }
        .html(&get(name), errors)
    };
    let privacy_error = errors.get("privacy");
    let privacy = format!(
        "<div class=\"form-check\"><input class=\"form-check-input{inv}\" type=\"checkbox\" id=\"privacy\" name=\"privacy\" value=\"si\"{checked} required aria-required=\"true\"{desc}><label class=\"form-check-label\" for=\"privacy\">Ho letto l'<a href=\"/privacy\">informativa sul trattamento dei dati personali</a> e acconsento al trattamento dei miei dati per la registrazione *</label>{err}</div>",
        inv = if privacy_error.is_some() {
            " is-invalid"
        } else {
            ""
        },
        checked = if form.privacy.is_some() {
            " checked"
        } else {
            ""
        },
        desc = if privacy_error.is_some() {
            " aria-invalid=\"true\" aria-describedby=\"privacy-errore\""
        } else {
            ""
        },
        err = privacy_error
            .map(|m| format!(
                "<div class=\"invalid-feedback d-block\" id=\"privacy-errore\">{}</div>",
                escape(m)
            ))
            .unwrap_or_default(),
    );
    Register {
        l: Layout::new(state, session, "Registrazione"),
        summary: summary(errors),
        f: RegisterFields {
            nome: field("nome", "Nome", "text", "given-name", true, ""),
            cognome: field("cognome", "Cognome", "text", "family-name", true, ""),
            codice_fiscale: field(
                "codice_fiscale",
                "Codice fiscale",
                "text",
                "off",
                true,
                "16 caratteri, per esempio RSSMRA80A01H501U",
            ),
            data_nascita: field(
                "data_nascita",
                "Data di nascita",
                "text",
                "bday",
                true,
                "Nel formato gg/mm/aaaa",
            ),
            indirizzo: field("indirizzo", "Indirizzo", "text", "street-address", true, ""),
            cap: field("cap", "CAP", "text", "postal-code", true, ""),
            comune: field("comune", "Comune", "text", "address-level2", true, ""),
            provincia: field(
                "provincia",
                "Provincia",
                "text",
                "address-level1",
                true,
                "Sigla, per esempio PC",
            ),
            telefono: field("telefono", "Telefono", "tel", "tel", false, ""),
            fax: field("fax", "Fax", "tel", "off", false, ""),
            email: field(
                "email",
                "E-mail",
                "email",
                "email",
                true,
                "Riceverai qui il collegamento per attivare l'account",
            ),
            username: field(
                "username",
                "Scegli un nome utente",
                "text",
                "username",
                true,
                "Da 3 a 50 caratteri: lettere, cifre, punto, trattino e trattino basso",
            ),
            password: field(
                "password",
                "Scegli una password",
                "password",
                "new-password",
                true,
                "Almeno 8 caratteri; una frase lunga è più sicura di una parola complicata",
            ),
            password2: field(
                "password2",
                "Ripeti la password",
                "password",
                "new-password",
                true,
                "",
            ),
            privacy,
        },
    }
}

pub(super) async fn register_page(State(state): State<AppState>, session: Session) -> Response {
    if session.account().is_some() {
        return Redirect::to("/area-privata").into_response();
    }
    render(&register_view(
        &state,
        &session,
        &RegistrationForm::default(),
        &FieldErrors::default(),
    ))
}

pub(super) async fn register(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<RegistrationForm>,
) -> Response {
    match throttle(&state, &session, "register", 10).await {
        Ok(Some(refused)) => return refused,
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    match state.accounts().register(&form, &session.ip).await {
        Ok(Registered::Created { first_name }) => render(&MessagePage {
            l: Layout::new(&state, &session, "Registrazione completata"),
            heading: "Registrazione completata".into(),
            alert: "success",
            paragraphs: vec![
                format!(
                    "Grazie, {first_name}: il tuo account è stato creato. Per attivare l'account, è necessario confermare l'indirizzo e-mail."
                ),
                format!(
                    "Riceverai a breve un'e-mail contenente le istruzioni per confermare l'indirizzo. Se non dovessi ricevere l'e-mail di attivazione entro breve, ti preghiamo di controllare nella cartella «spam», o contattare l'amministratore scrivendo a {}.",
                    state.config().ente.contact_email
                ),
            ],
            extra: String::new(),
            links: if state.config().mode == Mode::Demo {
                // The demo keeps mail in its own mailbox: say where the message is.
                vec![
                    ("/dev/mailbox".into(), "Apri la POSTA (DEMO)".into()),
                    ("/login".into(), "Vai al login".into()),
                ]
            } else {
                vec![("/login".into(), "Vai al login".into())]
            },
        }),
        Err(RegistrationError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&register_view(&state, &session, &form, &errors)),
        )
            .into_response(),
        Err(RegistrationError::Internal(e)) => internal(format!("{e:#}")),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn resend_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/attivazione/reinvia\" class=\"mt-3\" novalidate><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">{}<button type=\"submit\" class=\"btn btn-primary\">Invia un nuovo collegamento</button></form>",
        Field {
            name: "chi",
            label: "Nome utente o e-mail",
            kind: "text",
            autocomplete: "username",
            required: true,
            help: ""
        }
        .html("", &FieldErrors::default())
    )
}

pub(super) async fn activate(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TokenQuery>,
) -> Response {
    match state.accounts().activate(q.token.trim(), &session.ip).await {
        Ok(true) => render(&MessagePage {
            l: Layout::new(&state, &session, "Account attivato"),
            heading: "Account attivato".into(),
            alert: "success",
            paragraphs: vec!["Il tuo indirizzo e-mail è confermato e l'account è attivo: ora puoi accedere alla tua Sezione Privata e ai Pagamenti OnLine.".into()],
            extra: String::new(),
            links: vec![("/login".into(), "Accedi".into())],
        }),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            render(&MessagePage {
                l: Layout::new(&state, &session, "Collegamento non valido"),
                heading: "Collegamento non valido".into(),
                alert: "danger",
                paragraphs: vec!["Il collegamento di attivazione non è valido: potrebbe essere scaduto (vale 48 ore), già usato o copiato in modo incompleto. Se l'account è già attivo puoi accedere; altrimenti chiedi un nuovo collegamento.".into()],
                extra: resend_form(&session.csrf()),
                links: vec![("/login".into(), "Vai al login".into())],
            }),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

fn simple_form(
    state: &AppState,
    session: &Session,
    title: &str,
    intro: Vec<String>,
    action: &str,
    field: Field<'_>,
    submit: &str,
) -> FormPage {
    FormPage {
        l: Layout::new(state, session, title),
        heading: title.to_owned(),
        intro,
        summary: String::new(),
        action: action.to_owned(),
        hidden: Vec::new(),
        fields: field.html("", &FieldErrors::default()),
        submit: submit.to_owned(),
        back: "/login".to_owned(),
    }
}

/// The same answer for every recovery request, whether the account exists or not.
fn recovery_answer(state: &AppState, session: &Session, title: &str, text: String) -> Response {
    render(&MessagePage {
        l: Layout::new(state, session, title),
        heading: title.to_owned(),
        alert: "info",
        paragraphs: vec![
            text,
            format!(
                "Se non ricevi nulla entro qualche minuto, controlla la cartella «spam» o scrivi a {}.",
                state.config().ente.contact_email
            ),
        ],
        extra: String::new(),
        links: vec![("/login".into(), "Torna al login".into())],
    })
}

/// A recovery request (resend activation, forgotten username or password): throttled per
/// address, then answered the same way whether or not an account matched.
async fn recovery_request(
    state: &AppState,
    session: &Session,
    title: &str,
    text: &str,
    request: impl std::future::Future<Output = anyhow::Result<()>>,
) -> Response {
    match throttle(state, session, "recovery", 10).await {
        Ok(Some(refused)) => return refused,
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    if let Err(e) = request.await {
        return internal(e);
    }
    recovery_answer(state, session, title, text.to_owned())
}

pub(super) async fn resend_page(State(state): State<AppState>, session: Session) -> Response {
    render(&simple_form(
        &state,
        &session,
        "Nuovo collegamento di attivazione",
        vec!["Indica il nome utente o l'indirizzo e-mail con cui ti sei registrato: se l'account non è ancora attivo, ti invieremo un nuovo collegamento di attivazione.".into()],
        "/attivazione/reinvia",
        Field { name: "chi", label: "Nome utente o e-mail", kind: "text", autocomplete: "username", required: true, help: "" },
        "Invia",
    ))
}

#[derive(Deserialize)]
pub(super) struct WhoForm {
    #[serde(default)]
    chi: String,
}

pub(super) async fn resend(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<WhoForm>,
) -> Response {
    let request = state.accounts().resend_activation(&form.chi, &session.ip);
    recovery_request(&state, &session, "Nuovo collegamento di attivazione", "Se esiste un account da attivare con questi dati, abbiamo inviato un nuovo collegamento di attivazione all'indirizzo e-mail registrato. Il collegamento vale 48 ore; quelli inviati prima non valgono più.", request).await
}

pub(super) async fn forgot_username_page(
    State(state): State<AppState>,
    session: Session,
) -> Response {
    render(&simple_form(
        &state,
        &session,
        "Username dimenticato?",
        vec![
            "Indica l'indirizzo e-mail con cui ti sei registrato: ti invieremo il tuo nome utente."
                .into(),
        ],
        "/username-dimenticato",
        Field {
            name: "email",
            label: "E-mail",
            kind: "email",
            autocomplete: "email",
            required: true,
            help: "",
        },
        "Invia",
    ))
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn forgot_username(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<EmailForm>,
) -> Response {
    let request = state.accounts().remind_username(&form.email, &session.ip);
    recovery_request(
        &state,
        &session,
        "Username dimenticato?",
        "Se l'indirizzo è registrato, riceverai a breve un'e-mail con il tuo nome utente.",
        request,
    )
    .await
}

pub(super) async fn forgot_password_page(
    State(state): State<AppState>,
    session: Session,
) -> Response {
    render(&simple_form(
        &state,
        &session,
        "Password dimenticata?",
        vec!["Indica il tuo nome utente: ti invieremo all'indirizzo e-mail registrato un collegamento per scegliere una nuova password.".into()],
        "/password-dimenticata",
        Field { name: "username", label: "Username", kind: "text", autocomplete: "username", required: true, help: "" },
        "Invia",
    ))
}

#[derive(Deserialize)]
pub(super) struct UsernameForm {
    #[serde(default)]
    username: String,
}

pub(super) async fn forgot_password(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<UsernameForm>,
) -> Response {
    let request = state
        .accounts()
        .request_password_reset(&form.username, &session.ip);
    recovery_request(&state, &session, "Password dimenticata?", "Se il nome utente è registrato, riceverai a breve un'e-mail con un collegamento per scegliere una nuova password. Il collegamento vale 1 ora.", request).await
}

fn reset_view(state: &AppState, session: &Session, token: &str, errors: &FieldErrors) -> FormPage {
    let fields = [
        Field {
            name: "password",
            label: "Nuova password",
            kind: "password",
            autocomplete: "new-password",
            required: true,
            help: "Almeno 8 caratteri; una frase lunga è più sicura di una parola complicata",
        },
        Field {
            name: "password2",
            label: "Ripeti la nuova password",
            kind: "password",
            autocomplete: "new-password",
            required: true,
            help: "",
        },
    ]
    .iter()
    .map(|f| f.html("", errors))
    .collect();
    FormPage {
        l: Layout::new(state, session, "Scegli una nuova password"),
        heading: "Scegli una nuova password".into(),
        intro: vec!["Quando salvi la nuova password, tutte le sessioni aperte con il tuo account vengono chiuse.".into()],
        summary: summary(errors),
        action: "/password/reimposta".into(),
        hidden: vec![("token".into(), token.to_owned())],
        fields,
        submit: "Salva la nuova password".into(),
        back: "/login".into(),
    }
}

pub(super) async fn reset_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TokenQuery>,
) -> Response {
    // The link is not consumed on GET: mail scanners open links, people submit forms.
    render(&reset_view(
        &state,
        &session,
        q.token.trim(),
        &FieldErrors::default(),
    ))
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

pub(super) async fn reset(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ResetForm>,
) -> Response {
    match state.accounts().reset_password(form.token.trim(), &form.password, &form.password2, &session.ip).await {
        Ok(Some(_)) => {
            // Whatever session this browser had ends too.
            let _ = session.logout(&state).await;
            render(&MessagePage {
                l: Layout::new(&state, &session, "Password modificata"),
                heading: "Password modificata".into(),
                alert: "success",
                paragraphs: vec!["La nuova password è salvata e tutte le sessioni aperte sono state chiuse. Ora puoi accedere con la nuova password.".into()],
                extra: String::new(),
                links: vec![("/login".into(), "Accedi".into())],
            })
        }
        Ok(None) => (
            StatusCode::BAD_REQUEST,
            render(&MessagePage {
                l: Layout::new(&state, &session, "Collegamento non valido"),
                heading: "Collegamento non valido".into(),
                alert: "danger",
                paragraphs: vec!["Il collegamento per reimpostare la password non è valido: potrebbe essere scaduto (vale 1 ora) o essere già stato usato. Chiedine uno nuovo.".into()],
                extra: String::new(),
                links: vec![("/password-dimenticata".into(), "Password dimenticata?".into())],
            }),
        )
            .into_response(),
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, render(&reset_view(&state, &session, form.token.trim(), &errors))).into_response(),
    }
}
