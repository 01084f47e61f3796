//! "Pagamenti OnLine": the cart (Elenco Pagamenti), new spontaneous payments from the catalog
//! forms, and notices paid for someone else.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pagopa::{Cents, NoticeNumber, SegregationCode};
use serde::Deserialize;

use super::{Field, Layout, MessagePage, escape, render, summary, to_login};
use crate::accounts::FieldErrors;
use crate::domain::catalog::{AmountRule, FieldType};
use crate::payments::{self, MAX_CART, NoticeLookup};
use crate::store::accounts::Account;
use crate::store::cart::CartReason;
use crate::store::services::Service;
use crate::web::AppState;
use crate::web::session::Session;

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "payments page failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

struct CartRow {
    option_id: i64,
    cents: i64,
    causale: String,
    nav: String,
    /// For the notice download link.
    iuv: String,
    service: String,
    debtor: String,
    amount: String,
    due: String,
    status: &'static str,
    removable: bool,
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
) -> Result<Cart, crate::store::StoreError> {
    let rows = state
        .store()
        .cart(
            state.ente().id,
            account.id,
            &account.fiscal_code,
            crate::clock::Timestamp::now(),
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|(o, _)| o.option_id).collect();
    let waiting = state
        .store()
        .options_awaiting_receipt(&ids, crate::clock::Timestamp::now())
        .await?;
    let total = Cents::checked_sum(
        rows.iter()
            .filter(|(o, _)| !waiting.contains(&o.option_id))
            .map(|(o, _)| Cents::new(o.amount)),
    )
    .unwrap_or(Cents::ZERO);
    Ok(Cart {
        l: Layout::new(state, session, "Pagamenti OnLine"),
        rows: rows
            .into_iter()
            .map(|(o, reason)| CartRow {
                option_id: o.option_id,
                cents: o.amount,
                causale: o.description.clone(),
                iuv: o.iuv.clone(),
                nav: NoticeNumber::parse(&o.nav)
                    .map(|n| n.grouped())
                    .unwrap_or(o.nav.clone()),
                service: o
                    .service_name
                    .clone()
                    .unwrap_or_else(|| "Avviso di pagamento".to_owned()),
                debtor: match reason {
                    CartReason::Debtor => "Tu".to_owned(),
                    CartReason::Started => o.debtor_name.clone(),
                    CartReason::ForOthers => payments::mask_name(&o.debtor_name),
                },
                amount: Cents::new(o.amount).to_string(),
                due: o.due_date.rome_date(),
                status: if waiting.contains(&o.option_id) {
                    "In attesa della ricevuta"
                } else if o.position_status == "PARTIALLY_PAID" {
                    "Parzialmente pagato"
                } else {
                    "Da pagare"
                },
                removable: reason == CartReason::ForOthers,
                checked: selected.contains(&o.option_id),
                waiting: waiting.contains(&o.option_id),
            })
            .collect(),
        total: total.to_string(),
        notice,
        error,
    })
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

pub(super) async fn proceed(
    State(state): State<AppState>,
    session: Session,
    body: String,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti");
    };
    let chosen = selected(&body);
    let error = if chosen.is_empty() {
        "Seleziona almeno un pagamento da effettuare.".to_owned()
    } else if chosen.len() > MAX_CART {
        format!(
            "Puoi pagare al massimo {MAX_CART} posizioni in una sola transazione: ne hai selezionate {}. Togli la selezione da quelle in più e riprova.",
            chosen.len()
        )
    } else {
        String::new()
    };
    let view = cart_view(
        &state,
        &session,
        &account,
        &chosen,
        String::new(),
        error.clone(),
    )
    .await;
    let view = match view {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    if !error.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, render(&view)).into_response();
    }
    // Every chosen option must be in this citizen's cart right now.
    if chosen
        .iter()
        .any(|id| !view.rows.iter().any(|r| r.option_id == *id && !r.waiting))
    {
        let view = match cart_view(
            &state,
            &session,
            &account,
            &[],
            String::new(),
            "Uno dei pagamenti selezionati non è più in sospeso: aggiorna l'elenco e riprova."
                .to_owned(),
        )
        .await
        {
            Ok(v) => v,
            Err(e) => return internal(e),
        };
        return (StatusCode::CONFLICT, render(&view)).into_response();
    }
    let rows: Vec<&CartRow> = chosen
        .iter()
        .filter_map(|id| view.rows.iter().find(|r| r.option_id == *id))
        .collect();
    start_checkout(&state, &session, &account, &rows).await
}

/// Sends the chosen options to pagoPA Checkout and the citizen after them. On any error the
/// citizen stays on the cart with a clear message, and the cart is as it was.
async fn start_checkout(
    state: &AppState,
    session: &Session,
    account: &Account,
    rows: &[&CartRow],
) -> Response {
    let cart_error = |status: StatusCode, message: &str| {
        let message = message.to_owned();
        async move {
            match cart_view(state, session, account, &[], String::new(), message).await {
                Ok(v) => (status, render(&v)).into_response(),
                Err(e) => internal(e),
            }
        }
    };
    let Some(client) = state.checkout() else {
        return cart_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Il pagamento con pagoPA non è disponibile in questo momento: nessun importo è stato addebitato. Puoi pagare anche presso banche, uffici postali, tabaccherie e con l'app IO usando il codice avviso.",
        )
        .await;
    };
    let id = format!("{:032x}", rand::random::<u128>());
    let ente = state.ente();
    let base = &state.config().public_url;
    let email = Some(account.email.clone()).filter(|e| pagopa::checkout::is_email(e));
    let request = pagopa::checkout::CartRequest {
        email_notice: email.clone(),
        payment_notices: rows
            .iter()
            .map(|r| pagopa::checkout::PaymentNoticeJson {
                notice_number: r.nav.chars().filter(char::is_ascii_digit).collect(),
                fiscal_code: ente.fiscal_code.clone(),
                amount: r.cents,
                company_name: ente.name.chars().take(140).collect(),
                description: r.causale.chars().take(140).collect(),
            })
            .collect(),
        return_urls: pagopa::checkout::ReturnUrls {
            return_ok_url: format!("{base}/pagamenti/esito/{id}/ok"),
            return_cancel_url: format!("{base}/pagamenti/esito/{id}/annullato"),
            return_error_url: format!("{base}/pagamenti/esito/{id}/errore"),
        },
        // The node passes it back as the payment note of activation and receipt: that is how
        // the station links a receipt to this checkout, hence to the account that paid.
        id_cart: Some(id.clone()),
        all_ccp: Some(false),
    };
    let items: Vec<(i64, i64)> = rows.iter().map(|r| (r.option_id, r.cents)).collect();
    if let Err(e) = state
        .store()
        .create_checkout(&id, account.id, email.as_deref(), &items)
        .await
    {
        return internal(e);
    }
    let (result, wire) = client.create_cart(&request).await;
    let exchange = crate::store::events::Exchange {
        direction: crate::store::events::Direction::Out,
        channel: "checkout".into(),
        operation: "POST /carts".into(),
        correlation: Some(id.clone()),
        request: wire.request,
        response: wire.response,
        outcome: match &result {
            Ok(_) => "OK".into(),
            Err(e) => e.to_string(),
        },
        fault_code: None,
        http_status: wire.status,
        duration_ms: wire.duration_ms,
    };
    if let Err(e) = state.store().log_exchange(&exchange).await {
        tracing::warn!(error = %e, "cannot log the Checkout exchange");
    }
    match result {
        Ok(location) => {
            if let Err(e) = state.store().checkout_redirected(&id, &location).await {
                return internal(e);
            }
            Redirect::to(&location).into_response()
        }
        Err(e) => {
            tracing::warn!(checkout = %id, error = %e, "Checkout refused or failed");
            let _ = state.store().checkout_failed(&id, &e.to_string()).await;
            let message = match e {
                crate::checkout::CheckoutError::Unreachable(_) => {
                    "Il servizio di pagamento pagoPA non risponde in questo momento. Nessun importo è stato addebitato: riprova tra qualche minuto."
                }
                crate::checkout::CheckoutError::Refused { .. } => {
                    "Il servizio di pagamento pagoPA ha rifiutato la richiesta. Nessun importo è stato addebitato: riprova più tardi o contatta l'assistenza."
                }
                crate::checkout::CheckoutError::Failed { .. } => {
                    "Il servizio di pagamento pagoPA non è disponibile in questo momento. Nessun importo è stato addebitato: riprova tra qualche minuto."
                }
            };
            cart_error(StatusCode::BAD_GATEWAY, message).await
        }
    }
}

async fn owned_checkout(
    state: &AppState,
    session: &Session,
    id: &str,
    path: &str,
) -> Result<(Account, crate::store::checkouts::Checkout), Response> {
    let Some(account) = session.account() else {
        return Err(to_login(path));
    };
    match state.store().checkout_for_account(id, account.id).await {
        Ok(Some(c)) => Ok((account, c)),
        Ok(None) => Err(super::error_page(StatusCode::NOT_FOUND)),
        Err(e) => Err(internal(e)),
    }
}

fn checkout_items_html(c: &crate::store::checkouts::Checkout) -> String {
    let mut html = String::from(
        "<div class=\"table-responsive\"><table class=\"table\" id=\"esito\"><caption>Pagamenti di questa transazione</caption><thead><tr><th scope=\"col\">Causale</th><th scope=\"col\">Codice avviso</th><th scope=\"col\" class=\"text-end\">Importo</th><th scope=\"col\">Stato</th></tr></thead><tbody>",
    );
    for i in &c.items {
        let status = match (i.option_status.as_str(), i.receipt) {
            ("PO_PAID", Some(id)) => {
                format!("Pagato – <a href=\"/pagamenti/storico/{id}\">ricevuta</a>")
            }
            ("PO_PAID", None) => "Pagato".to_owned(),
            _ => "In attesa della ricevuta".to_owned(),
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

/// `returnOkUrl`: Checkout says it is paid; only the receipt makes it so. Until every receipt
/// is in, the page says so and reloads itself every 3 seconds (no JavaScript needed).
pub(super) async fn return_ok(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/pagamenti/esito/{id}/ok");
    let (_, mut checkout) = match owned_checkout(&state, &session, &id, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if matches!(checkout.state.as_str(), "created" | "redirected") {
        if let Err(e) = state
            .store()
            .checkout_returned(&id, crate::store::checkouts::Return::Ok)
            .await
        {
            return internal(e);
        }
        checkout.state = "waiting_receipt".into();
    }
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
    if matches!(checkout.state.as_str(), "cancelled" | "failed") {
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
    if let Err(r) = owned_checkout(&state, &session, &id, &path).await {
        return r;
    }
    if let Err(e) = state
        .store()
        .checkout_returned(&id, crate::store::checkouts::Return::Cancel)
        .await
    {
        return internal(e);
    }
    Redirect::to("/pagamenti?annullato=1").into_response()
}

/// `returnErrorUrl`: a clear message; nothing was paid.
pub(super) async fn return_error(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/pagamenti/esito/{id}/errore");
    let (_, checkout) = match owned_checkout(&state, &session, &id, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = state
        .store()
        .checkout_returned(&id, crate::store::checkouts::Return::Error)
        .await
    {
        return internal(e);
    }
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
    match state
        .store()
        .remove_from_cart(account.id, form.rimuovi)
        .await
    {
        Ok(_) => Redirect::to("/pagamenti").into_response(),
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
    match payments::start_spontaneous(
        state.store(),
        state.ente(),
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

/// Parses and looks up a code; `Err` is the page to show.
async fn resolve(
    state: &AppState,
    session: &Session,
    account: &Account,
    code: &str,
) -> Result<crate::store::cart::PendingOption, Response> {
    let page = |error: String, status: StatusCode| {
        (
            status,
            render(&ForOthers {
                l: Layout::new(state, session, "Pagamento per altri da Avviso"),
                code: code.to_owned(),
                error,
                found: None,
            }),
        )
            .into_response()
    };
    let segregation = SegregationCode::parse(&state.ente().segregation_code).map_err(internal)?;
    // A wrong check digit is refused here, before anything is looked up.
    let nav = NoticeNumber::parse_code_or_iuv(code, segregation)
        .map_err(|e| page(e.to_string(), StatusCode::UNPROCESSABLE_ENTITY))?;
    match payments::lookup_for_others(state.store(), state.ente(), account, &nav).await {
        Ok(NoticeLookup::Payable(option)) => Ok(*option),
        Ok(refusal) => Err(page(
            refusal.message().to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(e) => Err(internal(e)),
    }
}

pub(super) async fn for_others_lookup(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/per-altri");
    };
    let option = match resolve(&state, &session, &account, &form.codice).await {
        Ok(o) => o,
        Err(r) => return r,
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
            debtor: payments::mask_name(&option.debtor_name),
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
    let option = match resolve(&state, &session, &account, &form.codice).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    match state
        .store()
        .add_to_cart(account.id, option.option_id)
        .await
    {
        Ok(()) => Redirect::to("/pagamenti?aggiunto=1").into_response(),
        Err(e) => internal(e),
    }
}
