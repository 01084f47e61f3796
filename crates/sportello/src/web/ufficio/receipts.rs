//! Receipts: search, export, detail (with the raw XML) and the PDF.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::export::{Export, XCell};
use super::positions::{Errors, PAGE_SIZE, amount, date_bound, parse_id, service_options};
use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Pre, Table, error_response};
use crate::backoffice::{BackOffice, BoError, Operator};
use crate::store::backoffice::{ReceiptQuery, ReceiptRow};
use crate::web::AppState;

/// The search form as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchForm {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pag_da: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pag_a: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    psp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    servizio: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    imp_min: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    imp_max: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cf: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    codice: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ricevuta: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dopo: Option<i64>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn query_of(
    bo: &BackOffice<'_>,
    op: &Operator,
    f: &SearchForm,
) -> Result<(ReceiptQuery, Errors), BoError> {
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
    let q = ReceiptQuery {
        paid_from: date_bound(&mut errors, "pag_da", &f.pag_da, false),
        paid_to: date_bound(&mut errors, "pag_a", &f.pag_a, true),
        psp: opt(&f.psp),
        service_id,
        amount_min: amount(&mut errors, "imp_min", &f.imp_min),
        amount_max: amount(&mut errors, "imp_max", &f.imp_max),
        fiscal_code: opt(&f.cf).map(|s| s.to_uppercase()),
        notice: opt(&f.codice).map(|s| s.replace([' ', '-'], "")),
        receipt_id: opt(&f.ricevuta),
    };
    Ok((q, errors))
}

/// `GET /ufficio/ricevute`.
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
            bo.search_receipts(&ctx.op, &q, f.dopo, PAGE_SIZE + 1)
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
    let err = |name: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.clone())
    };
    let field = |name: &'static str, label: &str, value: &str| {
        Input::text(name, label, value).error(err(name)).width(3)
    };
    let mut page = ctx.page(&state, "/ufficio/ricevute", "Ricevute");
    if !errors.is_empty() {
        page.flash = Some(Flash::danger("Correggi i filtri indicati."));
    }
    page.blocks.push(Block::Form(FormBlock {
        id: "ricerca".into(),
        title: "Cerca".into(),
        method: "get",
        action: "/ufficio/ricevute".into(),
        hidden: Vec::new(),
        fields: vec![
            field("pag_da", "Pagate dal (gg/mm/aaaa)", &f.pag_da),
            field("pag_a", "Pagate al (gg/mm/aaaa)", &f.pag_a),
            field("psp", "PSP (identificativo)", &f.psp),
            Input::select(
                "servizio",
                "Servizio",
                &f.servizio,
                service_options(&services),
            )
            .width(3),
            field("imp_min", "Importo da (€)", &f.imp_min),
            field("imp_max", "Importo fino a (€)", &f.imp_max),
            field("cf", "Codice fiscale debitore o pagatore", &f.cf),
            field("codice", "Codice avviso", &f.codice),
            field("ricevuta", "Id ricevuta", &f.ricevuta),
        ],
        submit: "Cerca".into(),
        extra_buttons: vec![
            ("/ufficio/ricevute.csv".into(), "Esporta CSV".into()),
            ("/ufficio/ricevute.xlsx".into(), "Esporta XLSX".into()),
        ],
    }));
    let mut table = Table::new(
        "risultati",
        "Risultati",
        &[
            "Id ricevuta",
            "Pagata il",
            "Codice avviso",
            "Debitore",
            "Importo",
            "PSP",
            "Servizio",
            "Esito",
        ],
        "Nessuna ricevuta corrisponde ai filtri.",
    );
    for r in &rows {
        table.rows.push(vec![
            Cell::link(r.receipt_id.clone(), format!("/ufficio/ricevute/{}", r.id)),
            Cell::text(r.paid_at.rome_date_time()),
            Cell::text(r.notice.clone()),
            Cell::text(format!("{} ({})", r.debtor_name, r.debtor_fiscal_code)),
            Cell::amount(r.amount),
            Cell::text(r.psp_name.clone()),
            Cell::text(r.service.clone().unwrap_or_else(|| "—".into())),
            Cell::text(r.outcome.clone()),
        ]);
    }
    table.keyset_links(
        "/ufficio/ricevute",
        &f,
        f.dopo,
        more.then(|| rows.last().map(|r| r.id)).flatten(),
    );
    page.blocks.push(Block::Table(table));
    page.render()
}

/// Rows of the receipt export.
pub struct ReceiptExport(ReceiptRow);

impl Export for ReceiptExport {
    type Form = SearchForm;
    type Query = ReceiptQuery;
    const HEADERS: &'static [&'static str] = &[
        "Id ricevuta",
        "Pagata il",
        "Codice avviso",
        "IUV",
        "Causale",
        "Debitore",
        "Codice fiscale debitore",
        "Pagatore",
        "Importo",
        "Commissione",
        "PSP",
        "Metodo",
        "Servizio",
        "Esito",
        "Da rimborsare",
    ];
    const NAME: &'static str = "ricevute";

    fn cells(&self) -> Vec<XCell> {
        let r = &self.0;
        vec![
            XCell::Text(r.receipt_id.clone()),
            XCell::Text(r.paid_at.rome_date_time()),
            XCell::Text(r.notice.clone()),
            XCell::Text(r.iuv.clone()),
            XCell::Text(r.description.clone()),
            XCell::Text(r.debtor_name.clone()),
            XCell::Text(r.debtor_fiscal_code.clone()),
            XCell::Text(r.payer_fiscal_code.clone().unwrap_or_default()),
            XCell::Amount(r.amount),
            XCell::Amount(r.fee.unwrap_or(0)),
            XCell::Text(r.psp_name.clone()),
            XCell::Text(r.method.clone().unwrap_or_default()),
            XCell::Text(r.service.clone().unwrap_or_default()),
            XCell::Text(r.outcome.clone()),
            XCell::Text(if r.refund_required { "Sì" } else { "No" }.to_owned()),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        form: &'a SearchForm,
    ) -> Result<(ReceiptQuery, Errors), BoError> {
        query_of(bo, op, form).await
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        q: &'a ReceiptQuery,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        Ok(bo
            .search_receipts(op, q, after, limit)
            .await?
            .into_iter()
            .map(ReceiptExport)
            .collect())
    }
}

/// `GET /ufficio/ricevute/{id}`.
pub async fn detail(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let bo = ctx.bo(&state);
    let (r, xml) = match async { bo.receipt(&ctx.op, parse_id(&id)?).await }.await {
        Ok(r) => r,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(
        &state,
        "/ufficio/ricevute",
        &format!("Ricevuta {}", r.receipt_id),
    );
    page.blocks.push(Block::Facts(Facts {
        id: "ricevuta".into(),
        title: "Ricevuta".into(),
        rows: vec![
            ("Id ricevuta".into(), r.receipt_id.clone(), None),
            ("Esito".into(), r.outcome.clone(), None),
            ("Pagata il".into(), r.paid_at.rome_date_time(), None),
            ("Codice avviso".into(), r.notice.clone(), None),
            ("IUV".into(), r.iuv.clone(), None),
            ("Causale".into(), r.description.clone(), None),
            ("Importo".into(), super::positions::euro(r.amount), None),
            (
                "Commissione".into(),
                r.fee
                    .map(super::positions::euro)
                    .unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Debitore".into(),
                format!("{} ({})", r.debtor_name, r.debtor_fiscal_code),
                None,
            ),
            (
                "Pagatore".into(),
                match (&r.payer_name, &r.payer_fiscal_code) {
                    (Some(n), Some(c)) => format!("{n} ({c})"),
                    _ => "—".into(),
                },
                None,
            ),
            ("PSP".into(), format!("{} ({})", r.psp_name, r.psp), None),
            (
                "Metodo".into(),
                r.method.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Servizio".into(),
                r.service.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Da rimborsare".into(),
                if r.refund_required { "Sì" } else { "No" }.into(),
                None,
            ),
            (
                "Posizione".into(),
                r.position_id
                    .map(|_| "Apri la posizione".to_owned())
                    .unwrap_or_else(|| "Non abbinata".into()),
                r.position_id.map(|p| format!("/ufficio/posizioni/{p}")),
            ),
        ],
    }));
    if r.outcome == "OK" {
        page.blocks.push(Block::Links(vec![(
            format!("/ufficio/ricevute/{}/ricevuta.pdf", r.id),
            "Scarica la ricevuta (PDF)".into(),
        )]));
    }
    match bo.receipt_path(&ctx.op, &r.receipt_id).await {
        Ok(Some(path)) => page.blocks.extend(super::recon::path_blocks(&path, false)),
        Ok(None) => {}
        Err(e) => return error_response(&state, &ctx, e),
    }
    page.blocks.push(Block::Pre(Pre {
        title: "Ricevuta originale (XML paSendRT)".into(),
        text: xml,
    }));
    page.render()
}

/// `GET /ufficio/ricevute/{id}/ricevuta.pdf`.
pub async fn pdf(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let bo = ctx.bo(&state);
    let document = match async { bo.receipt_document(&ctx.op, parse_id(&id)?).await }.await {
        Ok(d) => d,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let name = format!("ricevuta-{}.pdf", document.notice_number.as_str());
    let fonts = state.fonts();
    let rendered =
        tokio::task::spawn_blocking(move || crate::pdf::render_receipts(&fonts, &[document])).await;
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
        Ok(Err(e)) => error_response(&state, &ctx, BoError::Internal(anyhow::anyhow!("{e}"))),
        Err(e) => error_response(&state, &ctx, BoError::Internal(e.into())),
    }
}
