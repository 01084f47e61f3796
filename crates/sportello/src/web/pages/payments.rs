//! "Pagamenti OnLine": the cart (Elenco Pagamenti), new spontaneous payments from the catalog
//! forms, and notices paid for someone else.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pagopa::{Cents, NoticeNumber};
use serde::Deserialize;

use super::{Field, Layout, MessagePage, escape, render, summary, to_login};
use crate::accounts::FieldErrors;
use crate::domain::access;
use crate::domain::catalog::{AmountRule, FieldType};
use crate::domain::checkout::Return;
use crate::domain::position::PositionStatus;
use crate::payments::{Payments, PaymentsError};
use crate::store::accounts::Account;
use crate::store::checkouts::Checkout;
use crate::store::services::Service;
use crate::web::AppState;
use crate::web::session::Session;

/// The payment use cases of this app.
pub(super) fn payments(state: &AppState) -> Payments<'_> {
    Payments::new(
        state.store(),
        state.ente(),
        state.checkout(),
        &state.config().public_url,
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "payments page failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The HTTP status a refusal of the payment service is answered with (its page says why).
fn status_of(e: &PaymentsError) -> StatusCode {
    match e {
        PaymentsError::NothingSelected
        | PaymentsError::TooMany(_)
        | PaymentsError::BadCode(_)
        | PaymentsError::Lookup(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PaymentsError::NotPending => StatusCode::CONFLICT,
        PaymentsError::CheckoutUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        PaymentsError::Checkout(_) => StatusCode::BAD_GATEWAY,
        PaymentsError::TooManyLookups(_) => StatusCode::TOO_MANY_REQUESTS,
        PaymentsError::NoCheckout => StatusCode::NOT_FOUND,
        PaymentsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

struct CartRow {
    option_id: i64,
    causale: String,
    nav: String,
    /// For the notice download link.
    iuv: String,
    cents: i64,
    service: String,
    debtor: String,
    amount: String,
    due: String,
    status: &'static str,
    removable: bool,
    /// Whether the notice PDF is theirs to download.
    printable: bool,
    checked: bool,
    /// In a checkout waiting for its receipt: shown, not offered.
    waiting: bool,
}

#[derive(Template)]
#[template(path = "pages/cart.html")]
struct Cart {
    l: Layout,
    rows: Vec<CartRow>,
    total: String,
    notice: String,
    error: String,
}

#[derive(Deserialize, Default)]
pub(super) struct CartQuery {
    #[serde(default)]
    creato: String,
    #[serde(default)]
    aggiunto: String,
    #[serde(default)]
    annullato: String,
}

async fn cart_view(
    state: &AppState,
    session: &Session,
    account: &Account,
    selected: &[i64],
    notice: String,
    error: String,
) -> Result<Cart, PaymentsError> {
    let lines = payments(state).cart(&account.viewer()).await?;
    let total = Cents::checked_sum(
        lines
            .iter()
            .filter(|l| !l.waiting)
            .map(|l| Cents::new(l.option.amount)),
    )
    .unwrap_or(Cents::ZERO);
    Ok(Cart {
        l: Layout::new(state, session, "Pagamenti OnLine"),
        rows: lines
            .into_iter()
            .map(|l| {
                let debtor = l.debtor();
                let o = l.option;
                CartRow {
                    option_id: o.option_id,
                    cents: o.amount,
                    causale: o.description,
                    iuv: o.iuv,
                    nav: NoticeNumber::parse(&o.nav)
                        .map(|n| n.grouped())
                        .unwrap_or(o.nav),
                    service: o
                        .service_name
                        .unwrap_or_else(|| "Avviso di pagamento".to_owned()),
                    debtor,
                    amount: Cents::new(o.amount).to_string(),
                    due: o.due_date.rome_date(),
                    status: if l.waiting {
                        "In attesa della ricevuta"
                    } else if o.position_status == PositionStatus::PartiallyPaid {
                        "Parzialmente pagato"
                    } else {
                        "Da pagare"
                    },
                    removable: l.relation.removable(),
                    printable: l.relation.may_print_notice(),
                    checked: selected.contains(&o.option_id),
                    waiting: l.waiting,
                }
            })
            .collect(),
        total: total.to_string(),
        notice,
        error,
    })
}

/// The cart with `error` said on top, answered with `status`.
async fn cart_with_error(
    state: &AppState,
    session: &Session,
    account: &Account,
    selected: &[i64],
    e: &PaymentsError,
) -> Response {
    if let PaymentsError::Internal(cause) = e {
        return internal(cause);
    }
    match cart_view(
        state,
        session,
        account,
        selected,
        String::new(),
        e.message(),
    )
    .await
    {
        Ok(v) => (status_of(e), render(&v)).into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn cart(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CartQuery>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti");
    };
    let notice = if !q.creato.is_empty() {
        format!(
            "Il pagamento è stato aggiunto al tuo Elenco Pagamenti con il codice avviso {}.",
            escape_code(&q.creato)
        )
    } else if !q.aggiunto.is_empty() {
        "L'avviso è stato aggiunto al tuo Elenco Pagamenti.".to_owned()
    } else if !q.annullato.is_empty() {
        "Il pagamento è stato annullato: nessun importo è stato addebitato e le posizioni sono ancora da pagare.".to_owned()
    } else {
        String::new()
    };
    match cart_view(&state, &session, &account, &[], notice, String::new()).await {
        Ok(page) => render(&page),
        Err(e) => internal(e),
    }
}

/// Only digits and spaces of a notice code echoed from the query string.
fn escape_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_digit() || *c == ' ')
        .take(24)
        .collect()
}

/// The repeated `opzione` fields of the cart form.
fn selected(body: &str) -> Vec<i64> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
    pairs
        .into_iter()
        .filter(|(k, _)| k == "opzione")
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// "Procedi al pagamento": off to pagoPA Checkout, or back to the cart saying why not (the
/// selection kept when it only needs fixing).
pub(super) async fn proceed(
    State(state): State<AppState>,
    session: Session,
    body: String,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti");
    };
    let chosen = selected(&body);
    match payments(&state).start_checkout(&account, &chosen).await {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(e) => {
            let keep: &[i64] = match e {
                PaymentsError::NothingSelected | PaymentsError::TooMany(_) => &chosen,
                _ => &[],
            };
            cart_with_error(&state, &session, &account, keep, &e).await
        }
    }
}

fn checkout_items_html(c: &Checkout) -> String {
    let mut html = String::from(
        "<div class=\"table-responsive\"><table class=\"table\" id=\"esito\"><caption>Pagamenti di questa transazione</caption><thead><tr><th scope=\"col\">Causale</th><th scope=\"col\">Codice avviso</th><th scope=\"col\" class=\"text-end\">Importo</th><th scope=\"col\">Stato</th></tr></thead><tbody>",
    );
    for i in &c.items {
        let status = match (i.option_status.is_paid(), i.receipt) {
            (true, Some(id)) => {
                format!("Pagato – <a href=\"/pagamenti/storico/{id}\">ricevuta</a>")
            }
            (true, None) => "Pagato".to_owned(),
            (false, _) => "In attesa della ricevuta".to_owned(),
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"text-end text-nowrap\">{}</td><td>{status}</td></tr>",
            escape(&i.description),
            escape(
                &NoticeNumber::parse(&i.nav)
                    .map(|n| n.grouped())
                    .unwrap_or(i.nav.clone())
            ),
            Cents::new(i.amount)
        ));
    }
    html.push_str("</tbody></table></div>");
    html
}

/// A return from Checkout for the logged-in citizen's checkout `id`; anyone else's is 404.
async fn returned(
    state: &AppState,
    session: &Session,
    id: &str,
    path: &str,
    how: Return,
) -> Result<Checkout, Response> {
    let Some(account) = session.account() else {
        return Err(to_login(path));
    };
    payments(state)
        .returned(&account, id, how)
        .await
        .map_err(|e| match e {
            PaymentsError::NoCheckout => super::error_page(StatusCode::NOT_FOUND),
            e => internal(e),
        })
}

/// `returnOkUrl`: Checkout says it is paid; only the receipt makes it so. Until every receipt
/// is in, the page says so and reloads itself every 3 seconds (no JavaScript needed).
pub(super) async fn return_ok(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/pagamenti/esito/{id}/ok");
    let checkout = match returned(&state, &session, &id, &path, Return::Ok).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let total = Cents::new(checkout.total_amount);
    if checkout.all_paid() {
        return render(&MessagePage {
            l: Layout::new(&state, &session, "Pagamento eseguito"),
            heading: "Pagamento eseguito".into(),
            alert: "success",
            paragraphs: vec![format!(
                "Il pagamento di {total} è stato eseguito: l'ente ha ricevuto la ricevuta pagoPA."
            )],
            extra: checkout_items_html(&checkout),
            links: vec![
                (
                    "/pagamenti/storico".into(),
                    "Vai allo storico pagamenti (ricevute)".into(),
                ),
                ("/pagamenti".into(), "Torna all'Elenco Pagamenti".into()),
            ],
        });
    }
    if checkout.state.is_abandoned() {
        return render(&MessagePage {
            l: Layout::new(&state, &session, "Pagamento non eseguito"),
            heading: "Pagamento non eseguito".into(),
            alert: "danger",
            paragraphs: vec!["Questo pagamento è stato annullato o non è andato a buon fine: nessuna posizione risulta pagata.".into()],
            extra: String::new(),
            links: vec![("/pagamenti".into(), "Torna all'Elenco Pagamenti".into())],
        });
    }
    let mut l = Layout::new(&state, &session, "In attesa della ricevuta");
    l.refresh = Some(3);
    render(&MessagePage {
        l,
        heading: "Pagamento in attesa della ricevuta".into(),
        alert: "info",
        paragraphs: vec![
            format!("Il pagamento di {total} è stato autorizzato su pagoPA. Siamo in attesa della ricevuta: l'esito comparirà in questa pagina appena arriva (puoi anche usare «Aggiorna ora»)."),
            "Non ripetere il pagamento: le posizioni risultano pagate solo quando arriva la ricevuta.".into(),
        ],
        extra: checkout_items_html(&checkout),
        links: vec![(path, "Aggiorna ora".into())],
    })
}

/// `returnCancelUrl`: back to the cart, nothing changed.
pub(super) async fn return_cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/pagamenti/esito/{id}/annullato");
    match returned(&state, &session, &id, &path, Return::Cancel).await {
        Ok(_) => Redirect::to("/pagamenti?annullato=1").into_response(),
        Err(r) => r,
    }
}

/// `returnErrorUrl`: a clear message; nothing was paid.
pub(super) async fn return_error(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/pagamenti/esito/{id}/errore");
    let checkout = match returned(&state, &session, &id, &path, Return::Error).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render(&MessagePage {
        l: Layout::new(&state, &session, "Pagamento non riuscito"),
        heading: "Pagamento non riuscito".into(),
        alert: "danger",
        paragraphs: vec![
            "Il pagamento non è andato a buon fine e nessun importo risulta pagato. Le posizioni sono ancora nel tuo Elenco Pagamenti: puoi riprovare, anche con un altro metodo di pagamento.".into(),
        ],
        extra: checkout_items_html(&checkout),
        links: vec![("/pagamenti".into(), "Torna all'Elenco Pagamenti".into())],
    })
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    rimuovi: i64,
}

pub(super) async fn remove(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti");
    };
    match payments(&state)
        .remove_from_cart(&account.viewer(), form.rimuovi)
        .await
    {
        Ok(()) => Redirect::to("/pagamenti").into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "pages/services.html")]
struct Services {
    l: Layout,
    services: Vec<(String, String, String)>,
}

pub(super) async fn choose_service(State(state): State<AppState>, session: Session) -> Response {
    if session.account().is_none() {
        return to_login("/pagamenti/nuovo");
    }
    match state.store().services(state.ente().id).await {
        Ok(list) => render(&Services {
            l: Layout::new(&state, &session, "Nuovo Pagamento"),
            services: list
                .into_iter()
                .filter(|s| s.def.spontaneous)
                .map(|s| (s.def.code, s.def.name, s.def.description))
                .collect(),
        }),
        Err(e) => internal(e),
    }
}

async fn find_service(
    state: &AppState,
    code: &str,
) -> Result<Option<Service>, crate::store::StoreError> {
    Ok(state
        .store()
        .services(state.ente().id)
        .await?
        .into_iter()
        .find(|s| s.def.code == code && s.def.spontaneous))
}

#[derive(Template)]
#[template(path = "pages/service_form.html")]
struct ServiceForm {
    l: Layout,
    code: String,
    name: String,
    description: String,
    fixed_amount: String,
    summary: String,
    fields: String,
}

fn form_html(service: &Service, values: &BTreeMap<String, String>, errors: &FieldErrors) -> String {
    service
        .def
        .fields
        .iter()
        .map(|f| {
            let value = values.get(&f.key).map(String::as_str).unwrap_or_default();
            match f.kind {
                FieldType::Choice => {
                    let error = errors.get(&f.key);
                    let options: String = std::iter::once("<option value=\"\">Scegli…</option>".to_string())
                        .chain(f.options.iter().map(|o| {
                            format!("<option value=\"{v}\"{sel}>{v}</option>", v = escape(o), sel = if o == value { " selected" } else { "" })
                        }))
                        .collect();
                    format!(
                        "<div class=\"select-wrapper form-group\"><label for=\"{k}\">{label}{star}</label><select id=\"{k}\" name=\"{k}\"{req}{inv}>{options}</select>{err}</div>",
                        k = f.key,
                        label = escape(&f.label),
                        star = if f.required { " *" } else { "" },
                        req = if f.required { " required aria-required=\"true\"" } else { "" },
                        inv = if error.is_some() { format!(" aria-invalid=\"true\" aria-describedby=\"{}-errore\"", f.key) } else { String::new() },
                        err = error.map(|m| format!("<div class=\"invalid-feedback d-block\" id=\"{}-errore\">{}</div>", f.key, escape(m))).unwrap_or_default(),
                    )
                }
                _ => {
                    let (kind, ac) = match f.kind {
                        FieldType::Email => ("email", "email"),
                        FieldType::Integer | FieldType::Month => ("text", "off"),
                        _ => ("text", "off"),
                    };
                    Field { name: &f.key, label: &f.label, kind, autocomplete: ac, required: f.required, help: &f.help }.html(value, errors)
                }
            }
        })
        .collect()
}

fn service_form_view(
    state: &AppState,
    session: &Session,
    service: &Service,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
) -> ServiceForm {
    ServiceForm {
        l: Layout::new(state, session, &service.def.name),
        code: service.def.code.clone(),
        name: service.def.name.clone(),
        description: service.def.description.clone(),
        fixed_amount: match service.def.amount {
            AmountRule::Fixed { cents } => Cents::new(cents).to_string(),
            AmountRule::Entered { .. } => String::new(),
        },
        summary: summary(errors),
        fields: form_html(service, values, errors),
    }
}

pub(super) async fn service_form(
    State(state): State<AppState>,
    session: Session,
    Path(code): Path<String>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/nuovo");
    };
    let service = match find_service(&state, &code).await {
        Ok(Some(s)) => s,
        Ok(None) => return super::error_page(StatusCode::NOT_FOUND),
        Err(e) => return internal(e),
    };
    // The citizen's own e-mail is a sensible default for the outcome message.
    let mut values = BTreeMap::new();
    for f in &service.def.fields {
        if f.kind == FieldType::Email {
            values.insert(f.key.clone(), account.email.clone());
        }
    }
    render(&service_form_view(
        &state,
        &session,
        &service,
        &values,
        &FieldErrors::default(),
    ))
}

fn form_values(body: &str) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
    pairs
        .into_iter()
        .filter(|(k, _)| k != "csrf_token" && k != "modifica")
        .collect()
}

#[derive(Template)]
#[template(path = "pages/service_summary.html")]
struct ServiceSummary {
    l: Layout,
    code: String,
    name: String,
    causale: String,
    amount: String,
    rows: Vec<(String, String)>,
    hidden: Vec<(String, String)>,
}

pub(super) async fn service_submit(
    State(state): State<AppState>,
    session: Session,
    Path(code): Path<String>,
    body: String,
) -> Response {
    if session.account().is_none() {
        return to_login("/pagamenti/nuovo");
    }
    let service = match find_service(&state, &code).await {
        Ok(Some(s)) => s,
        Ok(None) => return super::error_page(StatusCode::NOT_FOUND),
        Err(e) => return internal(e),
    };
    let values = form_values(&body);
    if body.contains("modifica=1") {
        return render(&service_form_view(
            &state,
            &session,
            &service,
            &values,
            &FieldErrors::default(),
        ));
    }
    match service.def.validate(&values) {
        Ok(filled) => render(&ServiceSummary {
            l: Layout::new(&state, &session, "Riepilogo del pagamento"),
            code: service.def.code.clone(),
            name: service.def.name.clone(),
            causale: filled.causale.clone(),
            amount: filled.amount.to_string(),
            rows: service
                .def
                .fields
                .iter()
                .filter_map(|f| {
                    filled
                        .values
                        .get(&f.key)
                        .map(|v| (f.label.clone(), v.clone()))
                })
                .collect(),
            hidden: values.into_iter().collect(),
        }),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&service_form_view(
                &state, &session, &service, &values, &errors,
            )),
        )
            .into_response(),
    }
}

pub(super) async fn service_confirm(
    State(state): State<AppState>,
    session: Session,
    Path(code): Path<String>,
    body: String,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/nuovo");
    };
    let service = match find_service(&state, &code).await {
        Ok(Some(s)) => s,
        Ok(None) => return super::error_page(StatusCode::NOT_FOUND),
        Err(e) => return internal(e),
    };
    let values = form_values(&body);
    // Validated again: the summary's hidden fields come back from the browser.
    let filled = match service.def.validate(&values) {
        Ok(f) => f,
        Err(errors) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&service_form_view(
                    &state, &session, &service, &values, &errors,
                )),
            )
                .into_response();
        }
    };
    match payments(&state)
        .start_spontaneous(
            service.id,
            &service.def,
            &filled,
            &account,
            state.config().spontaneous_abandon_hours,
        )
        .await
    {
        Ok(nav) => {
            let _ = state
                .store()
                .audit(&crate::store::audit::AuditEvent {
                    account_id: Some(account.id),
                    actor: account.username.clone(),
                    action: "spontaneous_payment".into(),
                    outcome: "ok".into(),
                    ip: session.ip.clone(),
                    detail: serde_json::json!({ "service": service.def.code, "nav": nav.as_str() })
                        .to_string(),
                })
                .await;
            Redirect::to(&format!(
                "/pagamenti?creato={}",
                nav.grouped().replace(' ', "+")
            ))
            .into_response()
        }
        Err(e) => internal(e),
    }
}

struct Found {
    causale: String,
    service: String,
    debtor: String,
    amount: String,
    due: String,
    nav: String,
    nav_raw: String,
}

#[derive(Template)]
#[template(path = "pages/for_others.html")]
struct ForOthers {
    l: Layout,
    code: String,
    error: String,
    found: Option<Found>,
}

pub(super) async fn for_others_page(State(state): State<AppState>, session: Session) -> Response {
    if session.account().is_none() {
        return to_login("/pagamenti/per-altri");
    }
    render(&ForOthers {
        l: Layout::new(&state, &session, "Pagamento per altri da Avviso"),
        code: String::new(),
        error: String::new(),
        found: None,
    })
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    codice: String,
}

/// The lookup page again, saying why the code was refused.
fn for_others_refused(
    state: &AppState,
    session: &Session,
    code: &str,
    e: &PaymentsError,
) -> Response {
    if let PaymentsError::Internal(cause) = e {
        return internal(cause);
    }
    (
        status_of(e),
        render(&ForOthers {
            l: Layout::new(state, session, "Pagamento per altri da Avviso"),
            code: code.to_owned(),
            error: e.message(),
            found: None,
        }),
    )
        .into_response()
}

pub(super) async fn for_others_lookup(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/per-altri");
    };
    let option = match payments(&state)
        .lookup_for_others(&account.viewer(), &session.ip, &form.codice)
        .await
    {
        Ok(o) => o,
        Err(e) => return for_others_refused(&state, &session, &form.codice, &e),
    };
    render(&ForOthers {
        l: Layout::new(&state, &session, "Pagamento per altri da Avviso"),
        code: form.codice.clone(),
        error: String::new(),
        found: Some(Found {
            causale: option.description.clone(),
            service: option
                .service_name
                .clone()
                .unwrap_or_else(|| "Avviso di pagamento".into()),
            debtor: access::mask_name(&option.debtor_name),
            amount: Cents::new(option.amount).to_string(),
            due: option.due_date.rome_date(),
            nav: NoticeNumber::parse(&option.nav)
                .map(|n| n.grouped())
                .unwrap_or(option.nav.clone()),
            nav_raw: option.nav.clone(),
        }),
    })
}

pub(super) async fn for_others_add(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/per-altri");
    };
    match payments(&state)
        .add_for_others(&account.viewer(), &session.ip, &form.codice)
        .await
    {
        Ok(()) => Redirect::to("/pagamenti?aggiunto=1").into_response(),
        Err(e) => for_others_refused(&state, &session, &form.codice, &e),
    }
}
