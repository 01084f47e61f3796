//! The private area, the profile and the (coming) payment pages.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Field, Layout, MessagePage, render, summary, to_login};
use crate::accounts::{FieldErrors, PersonalForm};
use crate::clock::format_date;
use crate::store::accounts::Account;
use crate::web::AppState;
use crate::web::session::Session;

#[derive(Template)]
#[template(path = "pages/private.html")]
struct Private {
    l: Layout,
    name: String,
}

pub(super) async fn private_area(State(state): State<AppState>, session: Session) -> Response {
    let Some(account) = session.account() else {
        return to_login("/area-privata");
    };
    render(&Private {
        l: Layout::new(&state, &session, "La tua Sezione Privata"),
        name: account.display_name(),
    })
}

#[derive(Template)]
#[template(path = "pages/profile.html")]
struct Profile {
    l: Layout,
    username: String,
    fiscal_code: String,
    email: String,
    notice: String,
    summary: String,
    personal: String,
    password: String,
    email_field: String,
}

fn personal_form_of(a: &Account) -> PersonalForm {
    let p = &a.personal;
    PersonalForm {
        nome: p.first_name.clone(),
        cognome: p.last_name.clone(),
        data_nascita: p.birth_date.map(format_date).unwrap_or_default(),
        indirizzo: p.address.clone(),
        cap: p.postal_code.clone(),
        comune: p.city.clone(),
        provincia: p.province.clone(),
        telefono: p.phone.clone(),
        fax: p.fax.clone(),
    }
}

fn profile_view(
    state: &AppState,
    session: &Session,
    a: &Account,
    form: &PersonalForm,
    errors: &FieldErrors,
    notice: &str,
) -> Profile {
    let f = |name, label, kind, ac, required: bool, value: &str, width: u8| {
        format!(
            "<div class=\"col-md-{width}\">{}</div>",
            Field {
                name,
                label,
                kind,
                autocomplete: ac,
                required,
                help: ""
            }
            .html(value, errors)
        )
    };
    let personal = [
        f("nome", "Nome", "text", "given-name", true, &form.nome, 6),
        f(
            "cognome",
            "Cognome",
            "text",
            "family-name",
            true,
            &form.cognome,
            6,
        ),
        f(
            "data_nascita",
            "Data di nascita (gg/mm/aaaa)",
            "text",
            "bday",
            true,
            &form.data_nascita,
            6,
        ),
        f(
            "indirizzo",
            "Indirizzo",
            "text",
            "street-address",
            true,
            &form.indirizzo,
            6,
        ),
        f("cap", "CAP", "text", "postal-code", true, &form.cap, 4),
        f(
            "comune",
            "Comune",
            "text",
            "address-level2",
            true,
            &form.comune,
            4,
        ),
        f(
            "provincia",
            "Provincia",
            "text",
            "address-level1",
            true,
            &form.provincia,
            4,
        ),
        f(
            "telefono",
            "Telefono",
            "tel",
            "tel",
            false,
            &form.telefono,
            6,
        ),
        f("fax", "Fax", "tel", "off", false, &form.fax, 6),
    ]
    .concat();
    let password = [
        Field {
            name: "password_attuale",
            label: "Password attuale",
            kind: "password",
            autocomplete: "current-password",
            required: true,
            help: "",
        },
        Field {
            name: "password",
            label: "Nuova password",
            kind: "password",
            autocomplete: "new-password",
            required: true,
            help: "Almeno 8 caratteri",
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
    let email_field = Field {
        name: "email",
        label: "Nuovo indirizzo e-mail",
        kind: "email",
        autocomplete: "email",
        required: true,
        help: "",
    }
    .html("", errors);
    Profile {
        l: Layout::new(state, session, "Il mio profilo"),
        username: a.username.clone(),
        fiscal_code: a.fiscal_code.clone(),
        email: a.email.clone(),
        notice: notice.to_owned(),
        summary: summary(errors),
        personal,
        password,
        email_field,
    }
}

#[derive(Deserialize, Default)]
pub(super) struct ProfileQuery {
    #[serde(default)]
    ok: String,
}

pub(super) async fn profile(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ProfileQuery>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/profilo");
    };
    let notice = match q.ok.as_str() {
        "dati" => "I dati personali sono stati salvati.",
        "password" => "La password è stata cambiata; le altre sessioni sono state chiuse.",
        "email" => "Ti abbiamo inviato un collegamento al nuovo indirizzo: aprilo per confermarlo.",
        _ => "",
    };
    render(&profile_view(
        &state,
        &session,
        &account,
        &personal_form_of(&account),
        &FieldErrors::default(),
        notice,
    ))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "profile handler failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) async fn update_personal(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<PersonalForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/profilo");
    };
    match state
        .accounts()
        .update_personal(&account, &form, &session.ip)
        .await
    {
        Ok(Ok(())) => Redirect::to("/profilo?ok=dati").into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&profile_view(
                &state, &session, &account, &form, &errors, "",
            )),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    password_attuale: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/profilo");
    };
    match state
        .accounts()
        .change_password(
            &account,
            &form.password_attuale,
            &form.password,
            &form.password2,
            &session.ip,
        )
        .await
    {
        Ok(Ok(())) => {
            // Every session ended with the change; this browser gets a fresh one.
            let fresh = match state.store().account_by_id(account.id).await {
                Ok(Some(a)) => a,
                Ok(None) => return to_login("/profilo"),
                Err(e) => return internal(e),
            };
            if let Err(e) = session.login(&state, fresh).await {
                return internal(e);
            }
            Redirect::to("/profilo?ok=password").into_response()
        }
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&profile_view(
                &state,
                &session,
                &account,
                &personal_form_of(&account),
                &errors,
                "",
            )),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn change_email(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<EmailForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/profilo");
    };
    match state
        .accounts()
        .request_email_change(&account, &form.email, &session.ip)
        .await
    {
        Ok(Ok(())) => Redirect::to("/profilo?ok=email").into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&profile_view(
                &state,
                &session,
                &account,
                &personal_form_of(&account),
                &errors,
                "",
            )),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub(super) async fn confirm_email(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (status, heading, alert, text) = match state
        .accounts()
        .confirm_email_change(q.token.trim(), &session.ip)
        .await
    {
        Ok(true) => (
            StatusCode::OK,
            "Indirizzo e-mail confermato",
            "success",
            "Il nuovo indirizzo e-mail è confermato e sostituisce il precedente.",
        ),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            "Collegamento non valido",
            "danger",
            "Il collegamento non è valido: potrebbe essere scaduto (vale 48 ore) o essere già stato usato. Puoi chiederne uno nuovo dal tuo profilo.",
        ),
        Err(e) => return internal(e),
    };
    (
        status,
        render(&MessagePage {
            l: Layout::new(&state, &session, heading),
            heading: heading.into(),
            alert,
            paragraphs: vec![text.into()],
            extra: String::new(),
            links: vec![("/profilo".into(), "Vai al profilo".into())],
        }),
    )
        .into_response()
}
