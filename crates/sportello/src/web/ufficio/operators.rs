//! Operators' management (admins): the list, a new operator (one-time password and second
//! factor shown once, with a QR code), role and services, disable and enable, password and
//! second-factor resets. The rules are in `backoffice::operators::OperatorAdmin`; these
//! handlers parse, call and render.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Table, error_response};
use crate::backoffice::operators::{Access, Created, Manager, OperatorAdmin};
use crate::backoffice::{BoError, Operator, Role, totp};
use crate::web::AppState;
use crate::web::pages::url_encode;

/// The operators' use cases for this request.
fn admin<'a>(state: &'a AppState) -> OperatorAdmin<'a> {
    let config = state.config();
    OperatorAdmin::new(
        state.store(),
        format!("Sportello {}", state.ente().name),
        config
            .catalog
            .services
            .iter()
            .map(|s| s.code.clone())
            .collect(),
        &config.backoffice_secret_key,
    )
}

fn by(ctx: &Ctx) -> Manager<'_> {
    Manager::Operator(&ctx.op, &ctx.session.ip)
}

fn mode_label(o: &Operator) -> &'static str {
    if o.read_only {
        "sola lettura"
    } else {
        "lettura e scrittura"
    }
}

/// The mode of service `code` for `o`: (value in the form, label).
fn service_mode(o: &Operator, code: &str) -> (&'static str, &'static str) {
    if o.may_write_service(Some(code)) {
        ("scrittura", "lettura e scrittura")
    } else {
        ("lettura", "sola lettura")
    }
}

/// An operator's services with the mode of each; an admin's "all", with theirs.
fn services_label(o: &Operator) -> String {
    if o.is_admin() {
        return format!("Tutti ({})", mode_label(o));
    }
    o.services
        .iter()
        .map(|code| format!("{code} ({})", service_mode(o, code).1))
        .collect::<Vec<_>>()
        .join(", ")
}

fn edit_link(username: &str) -> String {
    format!(
        "/ufficio/operatori/modifica?username={}",
        url_encode(username)
    )
}

/// `GET /ufficio/operatori`: every operator, with a link to manage each.
pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Response {
    let all = match admin(&state).list(by(&ctx)).await {
        Ok(a) => a,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(&state, "/ufficio/operatori", "Operatori");
    // A read-only admin sees the operators, and no way to change them.
    if OperatorAdmin::authorize_change(by(&ctx)).is_ok() {
        page.blocks.push(Block::Links(vec![(
            "/ufficio/operatori/nuovo".to_owned(),
            "Nuovo operatore".to_owned(),
        )]));
    }
    let mut table = Table::new(
        "operatori",
        "Operatori",
        &["Username", "Ruolo", "Servizi", "Stato", "Ultimo accesso"],
        "Nessun operatore.",
    );
    for (o, last) in &all {
        table.rows.push(vec![
            Cell::link(o.username.clone(), edit_link(&o.username)),
            Cell::text(o.role.label()),
            Cell::text(services_label(o)),
            Cell::text(if o.disabled { "Disattivato" } else { "Attivo" }),
            Cell::text(last.map_or_else(|| "Mai".to_owned(), |t| t.rome_date_time())),
        ]);
    }
    page.blocks.push(Block::Table(table));
    page.render()
}

/// The role, the admin's mode and the services' fields; `services` are (catalog code, mode:
/// `lettura` or `scrittura`).
fn access_fields(
    state: &AppState,
    role: &str,
    mode: &str,
    services: &[(String, String)],
    error: Option<String>,
) -> Vec<Input> {
    let mut fields = vec![
        Input::select(
            "ruolo",
            "Ruolo",
            role,
            vec![
                ("operator".into(), "Operatore (i servizi indicati)".into()),
                ("admin".into(), "Amministratore (tutto)".into()),
            ],
        )
        .width(6),
        Input::select(
            "modalita",
            "Modalità dell'amministratore",
            mode,
            vec![
                ("scrittura".into(), "Lettura e scrittura".into()),
                ("lettura".into(), "Sola lettura".into()),
            ],
        )
        .width(6),
    ];
    for s in &state.config().catalog.services {
        let value = services
            .iter()
            .find(|(code, _)| *code == s.code)
            .map_or("", |(_, mode)| mode.as_str());
        let mut input = Input::select(
            &format!("servizio_{}", s.code),
            &format!("{} (codice {})", s.name, s.code),
            value,
            vec![
                (String::new(), "Nessun accesso".into()),
                ("lettura".into(), "Sola lettura".into()),
                ("scrittura".into(), "Lettura e scrittura".into()),
            ],
        )
        .width(6);
        if error.is_some() {
            input = input.error(error.clone());
        }
        fields.push(input);
    }
    fields
}

/// The fields posted by the role and services form.
struct AccessForm {
    username: String,
    role: String,
    mode: String,
    /// (catalog code, `lettura`, `scrittura` or `si`: the mode chosen above).
    services: Vec<(String, String)>,
}

impl AccessForm {
    fn parse(pairs: &[(String, String)]) -> AccessForm {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        AccessForm {
            username: get("username"),
            role: get("ruolo"),
            mode: get("modalita"),
            services: pairs
                .iter()
                .filter(|(_, v)| matches!(v.as_str(), "si" | "lettura" | "scrittura"))
                .filter_map(|(k, v)| {
                    k.strip_prefix("servizio_")
                        .map(|code| (code.to_owned(), v.clone()))
                })
                .collect(),
        }
    }

    /// The form posted by `ctx`'s operator: who is not an admin is refused before the input
    /// is looked at.
    fn posted(ctx: &Ctx, pairs: &[(String, String)]) -> (AccessForm, Result<Access, BoError>) {
        let form = AccessForm::parse(pairs);
        let access = OperatorAdmin::authorize_change(by(ctx)).and_then(|()| form.access());
        (form, access)
    }

    fn access(&self) -> Result<Access, BoError> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| BoError::Invalid("ruolo", "Scegli un ruolo.".to_owned()))?;
        let read_only = match self.mode.as_str() {
            "lettura" => true,
            "scrittura" => false,
            _ => {
                return Err(BoError::Invalid(
                    "modalita",
                    "Scegli una modalità.".to_owned(),
                ));
            }
        };
        if role == Role::Admin {
            // An admin's services are all of them: services left chosen do not count.
            return Ok(Access {
                role,
                services: Vec::new(),
                read_only_services: Vec::new(),
                read_only,
            });
        }
        // A service posted as `si` (a ticked box of old) takes the mode chosen above.
        let read_only_services = self
            .services
            .iter()
            .filter(|(_, mode)| mode == "lettura" || (mode == "si" && read_only))
            .map(|(code, _)| code.clone())
            .collect();
        Ok(Access {
            role,
            services: self.services.iter().map(|(code, _)| code.clone()).collect(),
            read_only_services,
            read_only: false,
        })
    }
}

fn new_view(
    state: &AppState,
    ctx: &Ctx,
    form: &AccessForm,
    error: Option<(&'static str, String)>,
) -> Response {
    let mut page = ctx.page(state, "/ufficio/operatori", "Nuovo operatore");
    let field_error = |name: &str| {
        error
            .as_ref()
            .filter(|(f, _)| *f == name)
            .map(|(_, m)| m.clone())
    };
    if let Some((_, message)) = &error {
        page.flash = Some(Flash::danger(message));
    }
    page.blocks.push(Block::Text(
        "La password iniziale e la chiave del codice di verifica sono mostrate una sola volta, dopo la creazione: consegnale all'operatore. Alla prima entrata l'operatore sceglie una password sua.".into(),
    ));
    let mut fields = vec![
        Input::text("username", "Username", &form.username)
            .required()
            .help("Da 3 a 64 caratteri tra lettere, cifre, «.», «-» e «_».")
            .error(field_error("username"))
            .width(12),
    ];
    fields.extend(access_fields(
        state,
        if form.role.is_empty() {
            "operator"
        } else {
            &form.role
        },
        &form.mode,
        &form.services,
        field_error("servizi"),
    ));
    page.blocks.push(Block::Form(FormBlock::post(
        "nuovo-operatore",
        "Dati dell'operatore",
        "/ufficio/operatori/nuovo",
        "Crea l'operatore",
        fields,
    )));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, page.render()).into_response()
}

/// `GET /ufficio/operatori/nuovo`.
pub async fn new_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    if let Err(e) = OperatorAdmin::authorize_change(by(&ctx)) {
        return error_response(&state, &ctx, e);
    }
    let form = AccessForm::parse(&[]);
    new_view(&state, &ctx, &form, None)
}

/// The page showing, once, what the operator needs to log in.
fn credentials_page(
    state: &AppState,
    ctx: &Ctx,
    title: &str,
    username: &str,
    created: &Created,
) -> Response {
    let mut page = ctx.page(state, "/ufficio/operatori", title);
    page.flash = Some(Flash::success(
        "Queste informazioni sono mostrate solo ora: consegnale all'operatore in modo riservato.",
    ));
    let mut rows = vec![("Username".to_owned(), username.to_owned(), None)];
    if !created.password.is_empty() {
        rows.push((
            "Password iniziale (da cambiare al primo accesso)".to_owned(),
            created.password.clone(),
            None,
        ));
    }
    rows.push(("Chiave TOTP".to_owned(), created.secret.clone(), None));
    rows.push((
        "Indirizzo per l'app di autenticazione".to_owned(),
        created.otpauth_uri.clone(),
        None,
    ));
    page.blocks.push(Block::Facts(Facts {
        id: "credenziali".into(),
        title: "Credenziali".into(),
        rows,
    }));
    page.blocks.push(Block::Text(
        "Inquadra il codice QR con un'app di autenticazione (RFC 6238), oppure inserisci la chiave TOTP a mano.".into(),
    ));
    if let Some(src) = totp::svg_qr_data_uri(&created.otpauth_uri) {
        page.blocks.push(Block::Image(
            src,
            format!("Codice QR del codice di verifica di {username}"),
        ));
    }
    page.blocks.push(Block::Links(vec![
        (edit_link(username), "Gestisci l'operatore".to_owned()),
        (
            "/ufficio/operatori".to_owned(),
            "Torna agli operatori".to_owned(),
        ),
    ]));
    no_store(page.render())
}

/// A page showing a one-time secret: it must not stay in a cache or the history's copy.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `POST /ufficio/operatori/nuovo`.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (form, access) = AccessForm::posted(&ctx, &pairs);
    let result = async {
        admin(&state)
            .create(by(&ctx), &form.username, &access?)
            .await
    };
    match result.await {
        Ok(created) => credentials_page(
            &state,
            &ctx,
            "Operatore creato",
            form.username.trim(),
            &created,
        ),
        Err(BoError::Invalid(field, message)) => {
            new_view(&state, &ctx, &form, Some((field, message)))
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The operator named in the query, and the outcome of the last action.
#[derive(Deserialize)]
pub struct Which {
    #[serde(default)]
    username: String,
    #[serde(default)]
    esito: String,
}

/// `GET /ufficio/operatori/modifica?username=…`: one operator and what an admin may do.
pub async fn edit(State(state): State<AppState>, ctx: Ctx, Query(w): Query<Which>) -> Response {
    let o = match admin(&state).get(by(&ctx), &w.username).await {
        Ok(o) => o,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(
        &state,
        "/ufficio/operatori",
        &format!("Operatore {}", o.username),
    );
    page.flash = match w.esito.as_str() {
        "accesso" => Some(Flash::success("Ruolo e servizi aggiornati.")),
        "disattivato" => Some(Flash::success(
            "Operatore disattivato: le sue sessioni sono terminate.",
        )),
        "riattivato" => Some(Flash::success("Operatore riattivato.")),
        _ => None,
    };
    page.blocks.push(Block::Facts(Facts {
        id: "profilo".into(),
        title: "Profilo".into(),
        rows: vec![
            ("Ruolo".into(), o.role.label().into(), None),
            (
                "Modalità".into(),
                if o.is_admin() {
                    mode_label(&o)
                } else {
                    "Per servizio"
                }
                .into(),
                None,
            ),
            ("Servizi".into(), services_label(&o), None),
            (
                "Stato".into(),
                if o.disabled { "Disattivato" } else { "Attivo" }.into(),
                None,
            ),
        ],
    }));
    // The forms only for an admin who may change operators: a read-only admin sees the profile.
    if OperatorAdmin::authorize_change(by(&ctx)).is_err() {
        return page.render();
    }
    let hidden = vec![("username".to_owned(), o.username.clone())];
    let mut access = FormBlock::post(
        "accesso",
        "Ruolo e servizi",
        "/ufficio/operatori/accesso",
        "Salva ruolo e servizi",
        access_fields(
            &state,
            o.role.as_str(),
            if o.read_only { "lettura" } else { "scrittura" },
            &o.services
                .iter()
                .map(|code| (code.clone(), service_mode(&o, code).0.to_owned()))
                .collect::<Vec<_>>(),
            None,
        ),
    );
    access.hidden = hidden.clone();
    page.blocks.push(Block::Form(access));
    let (action, title, submit) = if o.disabled {
        ("riattiva", "Riattiva", "Riattiva l'operatore")
    } else {
        ("disattiva", "Disattiva", "Disattiva l'operatore")
    };
    let mut state_form = FormBlock::post(
        "stato",
        title,
        "/ufficio/operatori/stato",
        submit,
        Vec::new(),
    );
    state_form.hidden = vec![
        ("username".to_owned(), o.username.clone()),
        ("azione".to_owned(), action.to_owned()),
    ];
    page.blocks.push(Block::Form(state_form));
    for (id, title, action, submit) in [
        (
            "reimposta-password",
            "Password",
            "/ufficio/operatori/password",
            "Reimposta la password",
        ),
        (
            "reimposta-totp",
            "Codice di verifica",
            "/ufficio/operatori/totp",
            "Reimposta il codice di verifica",
        ),
    ] {
        let mut form = FormBlock::post(id, title, action, submit, Vec::new());
        form.hidden = hidden.clone();
        page.blocks.push(Block::Form(form));
    }
    page.render()
}

/// `POST /ufficio/operatori/accesso`.
pub async fn change_access(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (form, access) = AccessForm::posted(&ctx, &pairs);
    let result = async {
        (admin(&state))
            .change_access(by(&ctx), &form.username, &access?)
            .await
    };
    match result.await {
        Ok(()) => {
            Redirect::to(&format!("{}&esito=accesso", edit_link(&form.username))).into_response()
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The state form.
#[derive(Deserialize)]
pub struct StateForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    azione: String,
}

/// `POST /ufficio/operatori/stato`: disable or enable again.
pub async fn set_state(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<StateForm>,
) -> Response {
    let disabled = f.azione != "riattiva";
    match admin(&state)
        .set_disabled(by(&ctx), &f.username, disabled)
        .await
    {
        Ok(()) => Redirect::to(&format!(
            "{}&esito={}",
            edit_link(&f.username),
            if disabled {
                "disattivato"
            } else {
                "riattivato"
            }
        ))
        .into_response(),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The reset forms.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    username: String,
}

/// `POST /ufficio/operatori/password`: a new one-time password, shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ResetForm>,
) -> Response {
    match admin(&state).reset_password(by(&ctx), &f.username).await {
        Ok(password) => {
            let mut page = ctx.page(&state, "/ufficio/operatori", "Password reimpostata");
            page.flash = Some(Flash::success(
                "La nuova password è mostrata solo ora; l'operatore la cambierà al primo accesso. Le sue sessioni sono terminate.",
            ));
            page.blocks.push(Block::Facts(Facts {
                id: "credenziali".into(),
                title: "Credenziali".into(),
                rows: vec![
                    ("Username".into(), f.username.trim().to_owned(), None),
                    (
                        "Password iniziale (da cambiare al primo accesso)".into(),
                        password,
                        None,
                    ),
                ],
            }));
            page.blocks.push(Block::Links(vec![(
                edit_link(f.username.trim()),
                "Torna all'operatore".to_owned(),
            )]));
            no_store(page.render())
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// `POST /ufficio/operatori/totp`: a new second-factor key, shown once.
pub async fn reset_totp(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ResetForm>,
) -> Response {
    match admin(&state).reset_totp(by(&ctx), &f.username).await {
        Ok(created) => credentials_page(
            &state,
            &ctx,
            "Codice di verifica reimpostato",
            f.username.trim(),
            &created,
        ),
        Err(e) => error_response(&state, &ctx, e),
    }
}
