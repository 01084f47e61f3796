//! Services and who works on them, citizens' identity confirmation, and the audit search.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use pagopa::FiscalCode;
use serde::Deserialize;

use super::positions::{Errors, date_bound};
use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Table, error_response};
use crate::backoffice::BoError;
use crate::store::backoffice::AuditQuery;
use crate::web::AppState;

/// `GET /ufficio/servizi`: the catalog (read-only) and the operators of each service.
pub async fn services(State(state): State<AppState>, ctx: Ctx) -> Response {
    let bo = ctx.bo(&state);
    let services = match bo.services(&ctx.op).await {
        Ok(s) => s,
        Err(e) => return error_response(&state, &ctx, e),
    };
    // Who works on what is visible to admins; an operator sees their own services.
    let operators = bo.operators(&ctx.op).await.unwrap_or_default();
    let mut page = ctx.page(&state, "/ufficio/servizi", "Servizi (tipi dovuto)");
    page.blocks.push(Block::Text(
        "Il catalogo si modifica nel file di configurazione; qui è in sola lettura.".into(),
    ));
    for s in &services {
        let d = &s.def;
        let who: Vec<String> = operators
            .iter()
            .filter(|o| o.sees_service(Some(&d.code)))
            .map(|o| {
                if o.may_write_service(Some(&d.code)) {
                    o.username.clone()
                } else {
                    format!("{} (sola lettura)", o.username)
                }
            })
            .collect();
        page.blocks.push(Block::Facts(Facts {
            id: format!("servizio-{}", d.code),
            title: d.name.clone(),
            rows: vec![
                ("Codice".into(), d.code.clone(), None),
                ("Descrizione".into(), d.description.clone(), None),
                (
                    "Pagamento spontaneo".into(),
                    if d.spontaneous { "Sì" } else { "No" }.into(),
                    None,
                ),
                (
                    "Pagabile da altri".into(),
                    if d.pay_for_others { "Sì" } else { "No" }.into(),
                    None,
                ),
                ("Causale".into(), d.causale.clone(), None),
                (
                    "Campi del modulo".into(),
                    d.fields
                        .iter()
                        .map(|f| f.label.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    None,
                ),
                (
                    "Trasferimenti".into(),
                    d.transfers
                        .iter()
                        .map(|t| format!("{}% su {} ({})", t.percent, t.iban, t.category))
                        .collect::<Vec<_>>()
                        .join("; "),
                    None,
                ),
                (
                    "Operatori".into(),
                    if ctx.op.is_admin() {
                        if who.is_empty() {
                            "Solo amministratori".into()
                        } else {
                            who.join(", ")
                        }
                    } else {
                        ctx.op.username.clone()
                    },
                    None,
                ),
            ],
        }));
    }
    page.render()
}

/// The outcome shown after confirming.
#[derive(Deserialize)]
pub struct Outcome {
    #[serde(default)]
    esito: String,
}

fn citizens_view(
    state: &AppState,
    ctx: &Ctx,
    flash: Option<Flash>,
    errors: &Errors,
    username: &str,
    cf: &str,
) -> Response {
    let err = |name: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.clone())
    };
    let mut page = ctx.page(
        state,
        "/ufficio/cittadini",
        "Cittadini: conferma dell'identità",
    );
    page.flash = flash;
    page.blocks.push(Block::Text(
        "Conferma il codice fiscale di un account dopo aver visto di persona un documento d'identità del titolare: l'account vedrà le posizioni e le ricevute intestate a quel codice fiscale.".into(),
    ));
    page.blocks.push(Block::Form(FormBlock::post(
        "conferma",
        "Conferma identità",
        "/ufficio/cittadini/conferma",
        "Conferma identità",
        vec![
            Input::text("username", "Nome utente dell'account", username)
                .required()
                .error(err("username"))
                .width(6),
            Input::text("cf", "Codice fiscale verificato sul documento", cf)
                .required()
                .error(err("cf"))
                .width(6),
        ],
    )));
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, page.render()).into_response()
}

/// `GET /ufficio/cittadini`.
pub async fn citizens(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(o): Query<Outcome>,
) -> Response {
    if let Err(e) = ctx.bo(&state).require_write_page(&ctx.op) {
        return error_response(&state, &ctx, e);
    }
    let flash = (o.esito == "confermata").then(|| Flash::success("Identità confermata."));
    citizens_view(&state, &ctx, flash, &Errors::new(), "", "")
}

/// The confirmation form.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    cf: String,
}

/// `POST /ufficio/cittadini/conferma`.
pub async fn confirm_identity(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ConfirmForm>,
) -> Response {
    if let Err(e) = ctx.bo(&state).require_write_page(&ctx.op) {
        return error_response(&state, &ctx, e);
    }
    let Ok(code) = FiscalCode::parse(f.cf.trim()) else {
        let errors = vec![("cf", "Codice fiscale non valido.".to_owned())];
        return citizens_view(&state, &ctx, None, &errors, &f.username, &f.cf);
    };
    let bo = ctx.bo(&state);
    match bo
        .confirm_identity(&ctx.op, &ctx.session.ip, &f.username, &code)
        .await
    {
        Ok(()) => Redirect::to("/ufficio/cittadini?esito=confermata").into_response(),
        Err(BoError::Invalid(field, message)) => {
            let errors = vec![(field, message)];
            citizens_view(&state, &ctx, None, &errors, &f.username, &f.cf)
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The audit search form.
#[derive(Deserialize, Default)]
pub struct AuditForm {
    #[serde(default)]
    chi: String,
    #[serde(default)]
    iupd: String,
    #[serde(default)]
    dal: String,
    #[serde(default)]
    al: String,
}

/// `GET /ufficio/registro` (admins).
pub async fn audit(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<AuditForm>,
) -> Response {
    let mut errors = Errors::new();
    let q = AuditQuery {
        actor: Some(f.chi.trim().to_owned()).filter(|s| !s.is_empty()),
        iupd: Some(f.iupd.trim().to_owned()).filter(|s| !s.is_empty()),
        from: date_bound(&mut errors, "dal", &f.dal, false),
        to: date_bound(&mut errors, "al", &f.al, true),
    };
    let bo = ctx.bo(&state);
    let rows = if errors.is_empty() {
        match bo.audit_search(&ctx.op, &q).await {
            Ok(r) => r,
            Err(e) => return error_response(&state, &ctx, e),
        }
    } else {
        if let Err(e) = bo.audit_search(&ctx.op, &AuditQuery::default()).await {
            return error_response(&state, &ctx, e);
        }
        Vec::new()
    };
    let err = |name: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.clone())
    };
    let mut page = ctx.page(&state, "/ufficio/registro", "Registro delle attività");
    page.blocks.push(Block::Form(FormBlock {
        id: "ricerca".into(),
        title: "Cerca".into(),
        method: "get",
        action: "/ufficio/registro".into(),
        hidden: Vec::new(),
        fields: vec![
            Input::text(
                "chi",
                "Chi (es. operatore:mrossi, api, un nome utente)",
                &f.chi,
            )
            .width(3),
            Input::text("iupd", "Posizione (IUPD)", &f.iupd).width(3),
            Input::text("dal", "Dal (gg/mm/aaaa)", &f.dal)
                .error(err("dal"))
                .width(3),
            Input::text("al", "Al (gg/mm/aaaa)", &f.al)
                .error(err("al"))
                .width(3),
        ],
        submit: "Cerca".into(),
        extra_buttons: Vec::new(),
    }));
    let mut table = Table::new(
        "attivita",
        "Attività (le più recenti, al massimo 500)",
        &[
            "Quando",
            "Chi",
            "Azione",
            "Esito",
            "Da",
            "Dettagli (prima/dopo)",
        ],
        "Nessuna attività trovata.",
    );
    for a in &rows {
        table.rows.push(vec![
            Cell::text(a.at.rome_date_time()),
            Cell::text(a.actor.clone()),
            Cell::text(a.action.clone()),
            Cell::text(a.outcome.clone()),
            Cell::text(a.ip.clone()),
            Cell::text(a.detail.clone()),
        ]);
    }
    page.blocks.push(Block::Table(table));
    page.render()
}
