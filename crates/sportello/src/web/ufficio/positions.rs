//! Dashboard and positions: search, export, detail, and the read-write operators' actions.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pagopa::{Cents, FiscalCode};
use serde::{Deserialize, Serialize};

use super::export::{Export, XCell};
use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Pre, Table, error_response};
use crate::backoffice::service::NewPositionForm;
use crate::backoffice::{BackOffice, BoError, Operator};
use crate::clock::{Timestamp, parse_date};
use crate::store::backoffice::{PositionQuery, PositionRow};
use crate::store::events::Direction;
use crate::web::AppState;

/// Rows per page of a search.
pub const PAGE_SIZE: i64 = 50;

/// Amount as shown.
pub fn euro(cents: i64) -> String {
    Cents::new(cents).to_string()
}

/// A date and time in Rome, or a dash.
pub fn when(t: Option<Timestamp>) -> String {
    t.map(Timestamp::rome_date_time)
        .unwrap_or_else(|| "—".to_owned())
}

/// Italian names of the position statuses.
pub const STATUSES: [(&str, &str); 8] = [
    ("DRAFT", "Bozza"),
    ("PUBLISHED", "Pubblicata"),
    ("VALID", "Da pagare"),
    ("PARTIALLY_PAID", "Pagata in parte"),
    ("PAID", "Pagata"),
    ("REPORTED", "Rendicontata"),
    ("EXPIRED", "Scaduta"),
    ("INVALID", "Annullata"),
];

/// The Italian name of a status.
pub fn status_label(status: &str) -> String {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, l)| (*l).to_owned())
        .unwrap_or_else(|| status.to_owned())
}

/// `GET /ufficio`: the dashboard.
pub async fn dashboard(State(state): State<AppState>, ctx: Ctx) -> Response {
    let bo = ctx.bo(&state);
    let (d, anomalies) = match bo.dashboard(&ctx.op, Timestamp::now()).await {
        Ok(d) => d,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let today = Timestamp::now().rome_local().date();
    let first = format!("01/{:02}/{}", u8::from(today.month()), today.year());
    let day = crate::clock::format_date(today);
    let mut page = ctx.page(&state, "/ufficio", "Cruscotto");
    page.blocks.push(Block::Facts(Facts {
        id: "cruscotto".into(),
        title: "La situazione di oggi".into(),
        rows: vec![
            (
                "Incassato oggi".into(),
                format!("{} ({} ricevute)", euro(d.today.1), d.today.0),
                Some(format!("/ufficio/ricevute?pag_da={day}")),
            ),
            (
                "Incassato nel mese".into(),
                format!("{} ({} ricevute)", euro(d.month.1), d.month.0),
                Some(format!("/ufficio/ricevute?pag_da={first}")),
            ),
            (
                "Posizioni da pagare".into(),
                d.payable.to_string(),
                Some("/ufficio/posizioni?stato=VALID".into()),
            ),
            (
                "Posizioni scadute".into(),
                d.expired.to_string(),
                Some("/ufficio/posizioni?stato=EXPIRED".into()),
            ),
            (
                "Ricevute da abbinare".into(),
                d.unlinked.to_string(),
                Some("/ufficio/anomalie".into()),
            ),
            (
                "Anomalie aperte".into(),
                anomalies.to_string(),
                Some("/ufficio/anomalie".into()),
            ),
        ],
    }));
    page.render()
}

/// The search form as typed (kept to echo it and to build the next page's link).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchForm {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cf: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    nome: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    codice: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    iupd: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    servizio: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    stato: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scad_da: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scad_a: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pag_da: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pag_a: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    imp_min: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    imp_max: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dopo: Option<i64>,
}

/// Errors of a search form: (field, message).
pub type Errors = Vec<(&'static str, String)>;

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A `gg/mm/aaaa` bound: the day's first or last instant in Rome.
pub fn date_bound(
    errors: &mut Errors,
    field: &'static str,
    text: &str,
    end: bool,
) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match parse_date(text) {
        Ok(d) if end => Some(Timestamp::rome_day_end(d)),
        Ok(d) => Some(Timestamp::rome_day_start(d)),
        Err(m) => {
            errors.push((field, m.to_owned()));
            None
        }
    }
}

/// An amount typed in euro.
pub fn amount(errors: &mut Errors, field: &'static str, text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match Cents::parse(text) {
        Ok(c) => Some(c.get()),
        Err(_) => {
            errors.push((field, "Importo non valido: per esempio 12,50".to_owned()));
            None
        }
    }
}

/// The filters, typed; the service id is looked up among the services.
async fn query_of(
    bo: &BackOffice<'_>,
    op: &Operator,
    f: &SearchForm,
) -> Result<(PositionQuery, Errors), BoError> {
    let mut errors = Errors::new();
    let service_id = match opt(&f.servizio) {
        Some(code) => match bo
            .services(op)
            .await?
            .into_iter()
            .find(|s| s.def.code == code)
        {
            Some(s) => Some(s.id),
            None => {
                errors.push(("servizio", "Servizio sconosciuto.".to_owned()));
                None
            }
        },
        None => None,
    };
    let status = opt(&f.stato);
    if let Some(s) = &status {
        if !STATUSES.iter().any(|(k, _)| k == s) {
            errors.push(("stato", "Stato sconosciuto.".to_owned()));
        }
    }
    let q = PositionQuery {
        fiscal_code: opt(&f.cf).map(|s| s.to_uppercase()),
        name: opt(&f.nome),
        notice: opt(&f.codice).map(|s| s.replace([' ', '-'], "")),
        iupd: opt(&f.iupd),
        service_id,
        status,
        due_from: date_bound(&mut errors, "scad_da", &f.scad_da, false),
        due_to: date_bound(&mut errors, "scad_a", &f.scad_a, true),
        paid_from: date_bound(&mut errors, "pag_da", &f.pag_da, false),
        paid_to: date_bound(&mut errors, "pag_a", &f.pag_a, true),
        amount_min: amount(&mut errors, "imp_min", &f.imp_min),
        amount_max: amount(&mut errors, "imp_max", &f.imp_max),
    };
    Ok((q, errors))
}

fn err_of(errors: &Errors, field: &str) -> Option<String> {
    errors
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, m)| m.clone())
}

/// The services as select options, with an empty "all" first.
pub fn service_options(services: &[crate::store::services::Service]) -> Vec<(String, String)> {
    std::iter::once((String::new(), "Tutti".to_owned()))
        .chain(
            services
                .iter()
                .map(|s| (s.def.code.clone(), s.def.name.clone())),
        )
        .collect()
}

fn search_form(f: &SearchForm, errors: &Errors, services: Vec<(String, String)>) -> FormBlock {
    let field = |name: &'static str, label: &str, value: &str| {
        Input::text(name, label, value)
            .error(err_of(errors, name))
            .width(3)
    };
    let mut statuses = vec![(String::new(), "Tutti".to_owned())];
    statuses.extend(
        STATUSES
            .iter()
            .map(|(k, l)| ((*k).to_owned(), (*l).to_owned())),
    );
    FormBlock {
        id: "ricerca".into(),
        title: "Cerca".into(),
        method: "get",
        action: "/ufficio/posizioni".into(),
        hidden: Vec::new(),
        fields: vec![
            field("cf", "Codice fiscale del debitore", &f.cf),
            field("nome", "Nome del debitore (contiene)", &f.nome),
            field("codice", "Codice avviso o IUV", &f.codice),
            field("iupd", "IUPD", &f.iupd),
            Input::select("servizio", "Servizio", &f.servizio, services).width(3),
            Input::select("stato", "Stato", &f.stato, statuses).width(3),
            field("scad_da", "Scadenza dal (gg/mm/aaaa)", &f.scad_da),
            field("scad_a", "Scadenza al (gg/mm/aaaa)", &f.scad_a),
            field("pag_da", "Pagata dal (gg/mm/aaaa)", &f.pag_da),
            field("pag_a", "Pagata al (gg/mm/aaaa)", &f.pag_a),
            field("imp_min", "Importo da (€)", &f.imp_min),
            field("imp_max", "Importo fino a (€)", &f.imp_max),
        ],
        submit: "Cerca".into(),
        extra_buttons: vec![
            ("/ufficio/posizioni.csv".into(), "Esporta CSV".into()),
            ("/ufficio/posizioni.xlsx".into(), "Esporta XLSX".into()),
        ],
    }
}

/// `GET /ufficio/posizioni`.
pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<SearchForm>,
) -> Response {
    let bo = ctx.bo(&state);
    let result = async {
        let services = bo.services(&ctx.op).await?;
        let (q, errors) = query_of(&bo, &ctx.op, &f).await?;
        let rows = if errors.is_empty() {
            bo.search_positions(&ctx.op, &q, f.dopo, PAGE_SIZE + 1)
                .await?
        } else {
            Vec::new()
        };
        Ok::<_, BoError>((services, errors, rows))
    };
    let (services, errors, mut rows) = match result.await {
        Ok(r) => r,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let more = super::views::trim_page(&mut rows, PAGE_SIZE);
    let mut page = ctx.page(&state, "/ufficio/posizioni", "Posizioni debitorie");
    if !errors.is_empty() {
        page.flash = Some(Flash::danger("Correggi i filtri indicati."));
    }
    if ctx.op.may_write() {
        page.blocks.push(Block::Links(vec![(
            "/ufficio/posizioni/nuova".into(),
            "Nuova posizione".into(),
        )]));
    }
    page.blocks.push(Block::Form(search_form(
        &f,
        &errors,
        service_options(&services),
    )));
    let mut table = Table::new(
        "risultati",
        "Risultati",
        &[
            "Debitore",
            "Codice fiscale",
            "Codice avviso",
            "IUPD",
            "Servizio",
            "Importo",
            "Scadenza",
            "Stato",
        ],
        "Nessuna posizione corrisponde ai filtri.",
    );
    for r in &rows {
        table.rows.push(vec![
            Cell::link(r.full_name.clone(), format!("/ufficio/posizioni/{}", r.id)),
            Cell::text(r.fiscal_code.clone()),
            Cell::text(r.notice.clone().unwrap_or_default()),
            Cell::text(r.iupd.clone()),
            Cell::text(r.service.clone().unwrap_or_else(|| "—".into())),
            Cell::amount(r.amount),
            Cell::text(r.due_date.map(|d| d.rome_date()).unwrap_or_default()),
            Cell::text(status_label(&r.status)),
        ]);
    }
    table.keyset_links(
        "/ufficio/posizioni",
        &f,
        f.dopo,
        more.then(|| rows.last().map(|r| r.id)).flatten(),
    );
    page.blocks.push(Block::Table(table));
    page.render()
}

/// Rows of the position export.
pub struct PositionExport(PositionRow);

impl Export for PositionExport {
    type Form = SearchForm;
    type Query = PositionQuery;
    const HEADERS: &'static [&'static str] = &[
        "IUPD",
        "Debitore",
        "Codice fiscale",
        "Codice avviso",
        "Servizio",
        "Importo",
        "Scadenza",
        "Stato",
        "Data pagamento",
    ];
    const NAME: &'static str = "posizioni";

    fn cells(&self) -> Vec<XCell> {
        let r = &self.0;
        vec![
            XCell::Text(r.iupd.clone()),
            XCell::Text(r.full_name.clone()),
            XCell::Text(r.fiscal_code.clone()),
            XCell::Text(r.notice.clone().unwrap_or_default()),
            XCell::Text(r.service.clone().unwrap_or_default()),
            XCell::Amount(r.amount),
            XCell::Text(r.due_date.map(|d| d.rome_date()).unwrap_or_default()),
            XCell::Text(status_label(&r.status)),
            XCell::Text(
                r.payment_date
                    .map(|d| d.rome_date_time())
                    .unwrap_or_default(),
            ),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        form: &'a SearchForm,
    ) -> Result<(PositionQuery, Errors), BoError> {
        query_of(bo, op, form).await
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        q: &'a PositionQuery,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        Ok(bo
            .search_positions(op, q, after, limit)
            .await?
            .into_iter()
            .map(PositionExport)
            .collect())
    }
}

/// Parses the `{id}` of a path; anything else is a 404.
pub fn parse_id(id: &str) -> Result<i64, BoError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(BoError::NotFound)
}

/// The outcome of an action, shown after its redirect.
#[derive(Deserialize)]
pub struct Outcome {
    #[serde(default)]
    esito: String,
}

/// `GET /ufficio/posizioni/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(outcome): Query<Outcome>,
) -> Response {
    let flash = match outcome.esito.as_str() {
        "creata" => Some("Posizione creata."),
        "pubblicata" => Some("Posizione pubblicata."),
        "annullata" => Some("Posizione annullata."),
        "rata-modificata" => Some("Rata modificata."),
        "avviso-inviato" => Some("Avviso inviato: l'e-mail parte entro pochi minuti."),
        _ => None,
    };
    detail_with(&state, &ctx, &id, flash.map(Flash::success)).await
}

async fn detail_with(state: &AppState, ctx: &Ctx, id: &str, flash: Option<Flash>) -> Response {
    let bo = ctx.bo(state);
    let d = match async { bo.position_detail(&ctx.op, parse_id(id)?).await }.await {
        Ok(d) => d,
        Err(e) => return error_response(state, ctx, e),
    };
    let p = &d.position;
    let mut page = ctx.page(
        state,
        "/ufficio/posizioni",
        &format!("Posizione {}", p.iupd),
    );
    page.flash = flash;
    page.blocks.push(Block::Facts(Facts {
        id: "posizione".into(),
        title: "Posizione".into(),
        rows: vec![
            ("IUPD".into(), p.iupd.clone(), None),
            ("Stato".into(), status_label(p.status.as_str()), None),
            (
                "Servizio".into(),
                d.service
                    .as_ref()
                    .map(|s| s.def.name.clone())
                    .unwrap_or_else(|| "—".into()),
                None,
            ),
            ("Creata il".into(), p.created_at.rome_date_time(), None),
            ("Pubblicata il".into(), when(p.published_at), None),
            ("Pagata il".into(), when(p.payment_date), None),
        ],
    }));
    page.blocks.push(Block::Facts(Facts {
        id: "debitore".into(),
        title: "Debitore".into(),
        rows: vec![
            ("Nome".into(), p.debtor.full_name.clone(), None),
            ("Codice fiscale".into(), p.debtor.fiscal_code.clone(), None),
            (
                "E-mail".into(),
                p.debtor.email.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
        ],
    }));
    let mut options = Table::new(
        "rate",
        "Rate (opzioni di pagamento)",
        &[
            "Codice avviso",
            "IUV",
            "Causale",
            "Importo",
            "Scadenza",
            "Stato",
        ],
        "Nessuna rata.",
    );
    let mut transfers = Table::new(
        "trasferimenti",
        "Trasferimenti",
        &[
            "Codice avviso",
            "N.",
            "Importo",
            "Beneficiario",
            "IBAN",
            "Tassonomia",
            "Causale",
        ],
        "Nessun trasferimento.",
    );
    for o in &p.options {
        options.rows.push(vec![
            Cell::text(o.nav.as_str()),
            Cell::text(o.iuv.as_str()),
            Cell::text(o.description.clone()),
            Cell::amount(o.amount.get()),
            Cell::text(o.due_date.rome_date()),
            Cell::text(if o.status.as_str() == "PO_UNPAID" {
                "Da pagare"
            } else {
                "Pagata"
            }),
        ]);
        for t in &o.transfers {
            let iban = match &t.destination {
                crate::domain::position::Destination::Iban { iban, .. } => iban.clone(),
                crate::domain::position::Destination::Stamp { .. } => "Marca da bollo".into(),
            };
            transfers.rows.push(vec![
                Cell::text(o.nav.as_str()),
                Cell::text(t.id_transfer.to_string()),
                Cell::amount(t.amount.get()),
                Cell::text(t.organization_fiscal_code.clone()),
                Cell::text(iban),
                Cell::text(t.category.clone()),
                Cell::text(t.remittance_information.clone()),
            ]);
        }
    }
    page.blocks.push(Block::Table(options));
    page.blocks.push(Block::Table(transfers));
    let mut attempts = Table::new(
        "attivazioni",
        "Tentativi di pagamento (attivazioni)",
        &["Quando", "Codice avviso", "Importo", "Nota"],
        "Nessun tentativo di pagamento.",
    );
    for a in &d.attempts {
        attempts.rows.push(vec![
            Cell::text(a.at.rome_date_time()),
            Cell::text(a.notice.clone()),
            Cell::amount(a.amount),
            Cell::text(a.note.clone().unwrap_or_default()),
        ]);
    }
    page.blocks.push(Block::Table(attempts));
    let mut receipts = Table::new(
        "ricevute",
        "Ricevute",
        &[
            "Id ricevuta",
            "Pagata il",
            "Importo",
            "PSP",
            "Esito",
            "Da rimborsare",
        ],
        "Nessuna ricevuta.",
    );
    for r in &d.receipts {
        receipts.rows.push(vec![
            Cell::link(r.receipt_id.clone(), format!("/ufficio/ricevute/{}", r.id)),
            Cell::text(r.paid_at.rome_date_time()),
            Cell::amount(r.amount),
            Cell::text(r.psp_name.clone()),
            Cell::text(r.outcome.clone()),
            Cell::text(if r.refund_required { "Sì" } else { "No" }),
        ]);
    }
    page.blocks.push(Block::Table(receipts));
    // Each receipt's path to the bank (admins only: reconciliation is theirs).
    for r in &d.receipts {
        match bo.receipt_path(&ctx.op, &r.receipt_id).await {
            Ok(Some(path)) => page.blocks.extend(super::recon::path_blocks(&path, true)),
            Ok(None) => {}
            Err(e) => return error_response(state, ctx, e),
        }
    }
    page.blocks.push(Block::Text(format!(
        "Scambi con pagoPA registrati: {}.",
        d.exchanges.len()
    )));
    for x in &d.exchanges {
        let dir = match x.direction {
            Direction::In => "ricevuto",
            Direction::Out => "inviato",
        };
        page.blocks.push(Block::Pre(Pre {
            title: format!("{} ({dir}, esito {}) — richiesta", x.operation, x.outcome),
            text: x.request.clone(),
        }));
        if let Some(resp) = &x.response {
            page.blocks.push(Block::Pre(Pre {
                title: format!("{} — risposta", x.operation),
                text: resp.clone(),
            }));
        }
    }
    let mut audit = Table::new(
        "registro",
        "Registro delle attività",
        &["Quando", "Chi", "Azione", "Esito", "Da", "Dettagli"],
        "Nessuna attività registrata.",
    );
    for a in &d.audit {
        audit.rows.push(vec![
            Cell::text(a.at.rome_date_time()),
            Cell::text(a.actor.clone()),
            Cell::text(a.action.clone()),
            Cell::text(a.outcome.clone()),
            Cell::text(a.ip.clone()),
            Cell::text(a.detail.clone()),
        ]);
    }
    page.blocks.push(Block::Table(audit));
    let base = format!("/ufficio/posizioni/{}", p.id);
    page.blocks.push(Block::Links(vec![(
        format!("{base}/avviso.pdf"),
        "Stampa l'avviso (PDF)".into(),
    )]));
    if ctx
        .op
        .may_write_service(d.service.as_ref().map(|s| s.def.code.as_str()))
    {
        if p.status.as_str() == "DRAFT" {
            page.blocks.push(Block::Form(FormBlock::post(
                "pubblica",
                "Pubblica",
                &format!("{base}/pubblica"),
                "Pubblica la posizione",
                Vec::new(),
            )));
        }
        if p.status.is_invalidable() {
            page.blocks.push(Block::Form(FormBlock::post(
                "annulla",
                "Annulla la posizione",
                &format!("{base}/annulla"),
                "Annulla la posizione",
                vec![
                    Input::text("motivo", "Motivo dell'annullamento", "")
                        .kind("textarea")
                        .required()
                        .width(12),
                ],
            )));
        }
        let unpaid: Vec<(String, String)> = p
            .options
            .iter()
            .filter(|o| o.status.as_str() == "PO_UNPAID")
            .map(|o| {
                (
                    o.nav.as_str().to_owned(),
                    format!("{} ({})", o.nav.as_str(), o.amount),
                )
            })
            .collect();
        if !unpaid.is_empty() {
            let first = unpaid[0].0.clone();
            page.blocks.push(Block::Form(FormBlock::post(
                "rata",
                "Modifica scadenza o importo di una rata non pagata",
                &format!("{base}/rata"),
                "Salva la modifica",
                vec![
                    Input::select("avviso", "Rata", &first, unpaid),
                    Input::text("scadenza", "Nuova scadenza (gg/mm/aaaa)", ""),
                    Input::text("importo", "Nuovo importo (€)", ""),
                ],
            )));
        }
        if matches!(p.status.as_str(), "PUBLISHED" | "VALID" | "PARTIALLY_PAID") {
            page.blocks.push(Block::Form(FormBlock::post(
                "invia",
                "Invia l'avviso per e-mail al debitore",
                &format!("{base}/invia-avviso"),
                "Invia l'avviso",
                Vec::new(),
            )));
        }
    }
    page.render()
}

/// `GET /ufficio/posizioni/{id}/avviso.pdf`.
pub async fn notice_pdf(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let bo = ctx.bo(&state);
    let position = match async { bo.position(&ctx.op, parse_id(&id)?).await }.await {
        Ok(p) => p,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let ente = state.ente().clone();
    let fonts = state.fonts();
    let name = format!(
        "avviso-{}.pdf",
        position
            .iupd
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    let rendered = tokio::task::spawn_blocking(move || {
        let doc = crate::pdf::NoticeDocument::from_position(&ente, &position)?;
        crate::pdf::render_notice(&fonts, &doc)
    })
    .await;
    match rendered {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => error_response(
            &state,
            &ctx,
            BoError::Conflict(format!(
                "L'avviso di questa posizione non si può stampare: {e}"
            )),
        ),
        Err(e) => error_response(&state, &ctx, BoError::Internal(e.into())),
    }
}

fn done(id: i64, what: &str) -> Response {
    Redirect::to(&format!(
        "/ufficio/posizioni/{id}?esito={}",
        crate::web::pages::url_encode(what)
    ))
    .into_response()
}

/// `POST /ufficio/posizioni/{id}/pubblica`.
pub async fn publish(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let bo = ctx.bo(&state);
    match async {
        let id = parse_id(&id)?;
        bo.publish(&ctx.op, &ctx.session.ip, id).await?;
        Ok::<_, BoError>(id)
    }
    .await
    {
        Ok(id) => done(id, "pubblicata"),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The invalidation form.
#[derive(Deserialize)]
pub struct InvalidateForm {
    #[serde(default)]
    motivo: String,
}

/// `POST /ufficio/posizioni/{id}/annulla`.
pub async fn invalidate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<InvalidateForm>,
) -> Response {
    let bo = ctx.bo(&state);
    match async {
        let id = parse_id(&id)?;
        bo.invalidate(&ctx.op, &ctx.session.ip, id, &form.motivo)
            .await?;
        Ok::<_, BoError>(id)
    }
    .await
    {
        Ok(id) => done(id, "annullata"),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The option-change form.
#[derive(Deserialize)]
pub struct OptionForm {
    #[serde(default)]
    avviso: String,
    #[serde(default)]
    scadenza: String,
    #[serde(default)]
    importo: String,
}

/// `POST /ufficio/posizioni/{id}/rata`.
pub async fn change_option(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<OptionForm>,
) -> Response {
    let bo = ctx.bo(&state);
    match async {
        let id = parse_id(&id)?;
        let due = match form.scadenza.trim() {
            "" => None,
            t => Some(parse_date(t).map_err(|m| BoError::Invalid("scadenza", m.to_owned()))?),
        };
        let amount = match form.importo.trim() {
            "" => None,
            t => Some(Cents::parse(t).map_err(|_| {
                BoError::Invalid(
                    "importo",
                    "Importo non valido: per esempio 12,50".to_owned(),
                )
            })?),
        };
        bo.change_option(
            &ctx.op,
            &ctx.session.ip,
            id,
            form.avviso.trim(),
            due,
            amount,
        )
        .await?;
        Ok::<_, BoError>(id)
    }
    .await
    {
        Ok(id) => done(id, "rata-modificata"),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// `POST /ufficio/posizioni/{id}/invia-avviso`.
pub async fn email_notice(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let bo = ctx.bo(&state);
    match async {
        let id = parse_id(&id)?;
        bo.email_notice(&ctx.op, &ctx.session.ip, id, state.fonts())
            .await?;
        Ok::<_, BoError>(id)
    }
    .await
    {
        Ok(id) => done(id, "avviso-inviato"),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The new-position form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    servizio: String,
    #[serde(default)]
    iupd: String,
    #[serde(default)]
    cf: String,
    #[serde(default)]
    nome: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    causale: String,
    #[serde(default)]
    importo: String,
    #[serde(default)]
    scadenza: String,
    #[serde(default)]
    pubblica: String,
}

fn new_view(
    state: &AppState,
    ctx: &Ctx,
    f: &NewForm,
    errors: &Errors,
    services: Vec<(String, String)>,
) -> Response {
    let field = |name: &'static str, label: &str, value: &str| {
        Input::text(name, label, value)
            .error(err_of(errors, name))
            .width(6)
    };
    let mut page = ctx.page(state, "/ufficio/posizioni", "Nuova posizione debitoria");
    if !errors.is_empty() {
        page.flash = Some(Flash::danger(
            "Il modulo contiene errori: correggi i campi indicati.",
        ));
    }
    page.blocks.push(Block::Form(FormBlock::post(
        "nuova",
        "Dati della posizione",
        "/ufficio/posizioni/nuova",
        "Crea la posizione",
        vec![
            Input::select("servizio", "Servizio", &f.servizio, services)
                .required()
                .error(err_of(errors, "servizio"))
                .width(6),
            field("iupd", "IUPD (vuoto: generato)", &f.iupd),
            field("cf", "Codice fiscale o partita IVA del debitore", &f.cf).required(),
            field("nome", "Nome e cognome o ragione sociale", &f.nome).required(),
            field("email", "E-mail del debitore", &f.email).kind("email"),
            field("causale", "Causale", &f.causale).required(),
            field("importo", "Importo (€)", &f.importo).required(),
            field("scadenza", "Scadenza (gg/mm/aaaa)", &f.scadenza).required(),
            Input::text(
                "pubblica",
                "Pubblica subito (altrimenti resta in bozza)",
                &f.pubblica,
            )
            .kind("checkbox")
            .width(12),
        ],
    )));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, page.render()).into_response()
}

/// `GET /ufficio/posizioni/nuova`.
pub async fn new_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let bo = ctx.bo(&state);
    match bo.creatable_services(&ctx.op).await {
        Ok(services) => {
            let mut options = vec![(String::new(), "Scegli…".to_owned())];
            options.extend(service_options(&services).into_iter().skip(1));
            new_view(&state, &ctx, &NewForm::default(), &Errors::new(), options)
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// `POST /ufficio/posizioni/nuova`.
pub async fn create(State(state): State<AppState>, ctx: Ctx, Form(f): Form<NewForm>) -> Response {
    let bo = ctx.bo(&state);
    let services = match bo.creatable_services(&ctx.op).await {
        Ok(s) => s,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut options = vec![(String::new(), "Scegli…".to_owned())];
    options.extend(service_options(&services).into_iter().skip(1));
    let mut errors = Errors::new();
    let fiscal_code = FiscalCode::parse(f.cf.trim())
        .map_err(|_| errors.push(("cf", "Codice fiscale o partita IVA non valido.".to_owned())))
        .ok();
    if f.nome.trim().is_empty() || f.nome.chars().count() > 140 {
        errors.push((
            "nome",
            "Scrivi il nome del debitore (al massimo 140 caratteri).".to_owned(),
        ));
    }
    if f.causale.trim().is_empty() || f.causale.chars().count() > 140 {
        errors.push((
            "causale",
            "Scrivi la causale (al massimo 140 caratteri).".to_owned(),
        ));
    }
    let cents = match Cents::parse(f.importo.trim()) {
        Ok(c) if c.get() > 0 => Some(c),
        _ => {
            errors.push((
                "importo",
                "Importo non valido: per esempio 12,50".to_owned(),
            ));
            None
        }
    };
    let due = parse_date(&f.scadenza)
        .map_err(|m| errors.push(("scadenza", m.to_owned())))
        .ok();
    if f.servizio.trim().is_empty() {
        errors.push(("servizio", "Scegli un servizio.".to_owned()));
    }
    let (Some(fiscal_code), Some(amount), Some(due_date), true) =
        (fiscal_code, cents, due, errors.is_empty())
    else {
        return new_view(&state, &ctx, &f, &errors, options);
    };
    let form = NewPositionForm {
        service: f.servizio.trim().to_owned(),
        iupd: f.iupd.trim().to_owned(),
        fiscal_code,
        full_name: f.nome.trim().to_owned(),
        email: opt(&f.email),
        description: f.causale.trim().to_owned(),
        amount,
        due_date,
        publish: f.pubblica == "si",
    };
    match bo.create_position(&ctx.op, &ctx.session.ip, &form).await {
        Ok(p) => done(p.id, "creata"),
        Err(BoError::Invalid(field, message)) => {
            errors.push((if field.is_empty() { "iupd" } else { field }, message));
            new_view(&state, &ctx, &f, &errors, options)
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}
