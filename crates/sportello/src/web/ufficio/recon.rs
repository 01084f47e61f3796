//! Reconciliation pages: reporting flows (Rendicontazione), treasury credits (Tesoreria),
//! reconciliation anomalies and receipts' reporting state, with CSV exports. Admins only: the
//! checks are in `crate::backoffice::recon`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::positions::parse_id;
use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Table, error_response};
use crate::recon::views::{
    self, AnomalyFilter, AnomalyView, CreditView, FlowFilter, FlowSummary, LineView, ReceiptPath,
};
use crate::recon::{AnomalyKind, ReportingState};
use crate::web::AppState;

/// Rows shown on a page (the CSV has them all).
const PAGE_ROWS: i64 = 500;

fn csv(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn euro(c: pagopa::Cents) -> String {
    super::positions::euro(c.get())
}

fn yes(b: bool) -> &'static str {
    if b { "Sì" } else { "No" }
}

/// The flows' filters.
#[derive(Deserialize, Default)]
pub struct FlowQuery {
    #[serde(default)]
    psp: String,
    #[serde(default)]
    anomalie: String,
    #[serde(default)]
    storico: String,
    #[serde(default)]
    esito: String,
}

impl FlowQuery {
    fn filter(&self, limit: i64) -> FlowFilter {
        FlowFilter {
            psp_id: Some(self.psp.trim().to_owned()).filter(|p| !p.is_empty()),
            only_with_anomalies: !self.anomalie.is_empty(),
            include_history: !self.storico.is_empty(),
            limit,
            ..FlowFilter::default()
        }
    }
}

fn flows_table(id: &str, title: &str, flows: &[FlowSummary]) -> Table {
    let mut table = Table::new(
        id,
        title,
        &[
            "Flusso",
            "PSP",
            "Revisione",
            "Pubblicato",
            "Pagamenti",
            "Totale",
            "Abbinate",
            "Anomalie aperte",
            "Riversato",
        ],
        "Nessun flusso di rendicontazione.",
    );
    for f in flows {
        table.rows.push(vec![
            Cell::link(f.fdr.clone(), format!("/ufficio/rendicontazione/{}", f.id)),
            Cell::text(format!("{} ({})", f.psp_name, f.psp_id)),
            Cell::text(format!(
                "{}{}",
                f.revision,
                if f.current { "" } else { " (superata)" }
            )),
            Cell::text(f.published_at.rome_date_time()),
            Cell::text(format!("{} di {}", f.line_count, f.tot_payments)),
            Cell::amount(f.sum_payments.get()),
            Cell::text(f.matched.to_string()),
            Cell::text(f.open_anomalies.to_string()),
            Cell::text(match &f.credit_date {
                Some(d) => format!("Sì, {d}"),
                None if f.credit_id.is_some() => "Sì".to_owned(),
                None => "No".to_owned(),
            }),
        ]);
    }
    table
}

/// `GET /ufficio/rendicontazione`.
pub async fn flows(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<FlowQuery>,
) -> Response {
    let bo = ctx.bo(&state);
    let flows = match bo.recon_flows(&ctx.op, &q.filter(PAGE_ROWS)).await {
        Ok(f) => f,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(&state, "/ufficio/rendicontazione", "Rendicontazione");
    page.flash = match q.esito.as_str() {
        "sincronizzato" => Some(Flash::success("Sincronizzazione con pagoPA completata.")),
        _ => None,
    };
    let mut filters = FormBlock::post(
        "filtri",
        "Filtra i flussi",
        "/ufficio/rendicontazione",
        "Cerca",
        vec![
            Input::text("psp", "Codice PSP", &q.psp).width(4),
            Input::text("anomalie", "Solo con anomalie aperte", &q.anomalie)
                .kind("checkbox")
                .width(4),
            Input::text("storico", "Anche le revisioni superate", &q.storico)
                .kind("checkbox")
                .width(4),
        ],
    );
    filters.method = "get";
    filters.extra_buttons = vec![(
        "/ufficio/rendicontazione.csv".to_owned(),
        "Esporta CSV".to_owned(),
    )];
    page.blocks.push(Block::Form(filters));
    page.blocks.push(Block::Table(flows_table(
        "flussi",
        "Flussi di rendicontazione",
        &flows,
    )));
    page.blocks.push(Block::Form(FormBlock::post(
        "sincronizza",
        "Sincronizzazione con pagoPA",
        "/ufficio/rendicontazione/sincronizza",
        "Sincronizza ora",
        Vec::new(),
    )));
    page.render()
}

/// `GET /ufficio/rendicontazione.csv`.
pub async fn flows_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<FlowQuery>,
) -> Response {
    match ctx
        .bo(&state)
        .recon_flows(&ctx.op, &q.filter(views::MAX_ROWS))
        .await
    {
        Ok(f) => csv("flussi", views::flows_csv(&f)),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// `POST /ufficio/rendicontazione/sincronizza`.
pub async fn sync_now(State(state): State<AppState>, ctx: Ctx) -> Response {
    match ctx
        .bo(&state)
        .sync_now(&ctx.op, &ctx.session.ip, &state.config().recon)
        .await
    {
        Ok(_) => Redirect::to("/ufficio/rendicontazione?esito=sincronizzato").into_response(),
        Err(e) => error_response(&state, &ctx, e),
    }
}

fn lines_table(lines: &[LineView]) -> Table {
    let mut table = Table::new(
        "righe",
        "Pagamenti del flusso",
        &[
            "#",
            "IUV",
            "IUR",
            "Versamento",
            "Importo",
            "Esito",
            "Data",
            "Ricevuta",
        ],
        "Il flusso non ha pagamenti.",
    );
    for l in lines {
        table.rows.push(vec![
            Cell::text(l.idx.to_string()),
            Cell::text(l.iuv.clone()),
            Cell::text(l.iur.clone()),
            Cell::text(l.id_transfer.to_string()),
            Cell::amount(l.amount.get()),
            Cell::text(l.pay_status.clone()),
            Cell::text(l.pay_date.clone()),
            match (l.receipt_pk, &l.receipt_id) {
                (Some(pk), Some(r)) => Cell::link(r.clone(), format!("/ufficio/ricevute/{pk}")),
                _ => Cell::text("Non abbinata"),
            },
        ]);
    }
    table
}

fn anomalies_table(id: &str, title: &str, anomalies: &[AnomalyView]) -> Table {
    let mut table = Table::new(
        id,
        title,
        &[
            "N.",
            "Tipo",
            "Flusso",
            "IUV",
            "IUR",
            "Dettaglio",
            "Aperta il",
            "Stato",
        ],
        "Nessuna anomalia.",
    );
    for a in anomalies {
        table.rows.push(vec![
            Cell::text(a.id.to_string()),
            Cell::text(a.kind.label()),
            match (a.flow_id, &a.fdr) {
                (Some(f), Some(fdr)) => {
                    Cell::link(fdr.clone(), format!("/ufficio/rendicontazione/{f}"))
                }
                _ => Cell::text("—"),
            },
            Cell::text(a.iuv.clone().unwrap_or_else(|| "—".into())),
            Cell::text(a.iur.clone().unwrap_or_else(|| "—".into())),
            Cell::text(a.detail.clone()),
            Cell::text(a.created_at.rome_date_time()),
            Cell::text(match (&a.closed_at, &a.note) {
                (None, _) => "Aperta".to_owned(),
                (Some(_), Some(n)) => format!("Risolta: {n}"),
                (Some(_), None) => format!(
                    "Chiusa{}",
                    a.closed_reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            }),
        ]);
    }
    table
}

fn credit_facts(id: &str, title: &str, c: &CreditView) -> Facts {
    Facts {
        id: id.into(),
        title: title.into(),
        rows: vec![
            ("Importo".into(), euro(c.amount), None),
            (
                "Data contabile".into(),
                c.booking_date.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Data valuta".into(),
                c.value_date.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Riferimento banca".into(),
                c.reference.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            ("Causale".into(), c.remittance.clone(), None),
            (
                "Estratto".into(),
                format!("{} ({})", c.file_name, c.source),
                None,
            ),
        ],
    }
}

/// `GET /ufficio/rendicontazione/{id}`.
pub async fn flow(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let bo = ctx.bo(&state);
    let d = match async { bo.recon_flow(&ctx.op, parse_id(&id)?).await }.await {
        Ok(d) => d,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let f = &d.flow;
    let mut page = ctx.page(
        &state,
        "/ufficio/rendicontazione",
        &format!("Flusso {}", f.fdr),
    );
    page.blocks.push(Block::Facts(Facts {
        id: "flusso".into(),
        title: "Flusso di rendicontazione".into(),
        rows: vec![
            ("Identificativo".into(), f.fdr.clone(), None),
            ("PSP".into(), format!("{} ({})", f.psp_name, f.psp_id), None),
            (
                "Revisione".into(),
                format!(
                    "{} — {}",
                    f.revision,
                    if f.current { "in vigore" } else { "superata" }
                ),
                None,
            ),
            ("Pubblicato".into(), f.published_at.rome_date_time(), None),
            ("Regolamento".into(), f.regulation.clone(), None),
            (
                "Data regolamento".into(),
                f.regulation_date.clone().unwrap_or_else(|| "—".into()),
                None,
            ),
            (
                "Dichiarati".into(),
                format!("{} pagamenti, {}", f.tot_payments, euro(f.sum_payments)),
                None,
            ),
            (
                "Righe".into(),
                format!("{} righe, {}", f.line_count, euro(f.line_sum)),
                None,
            ),
            ("Abbinate".into(), f.matched.to_string(), None),
            ("Anomalie aperte".into(), f.open_anomalies.to_string(), None),
            ("Riversato".into(), yes(f.credit_id.is_some()).into(), None),
        ],
    }));
    page.blocks.push(Block::Links(vec![(
        format!("/ufficio/rendicontazione/{}/righe.csv", f.id),
        "Esporta le righe (CSV)".into(),
    )]));
    page.blocks.push(Block::Table(lines_table(&d.lines)));
    page.blocks.push(Block::Table(anomalies_table(
        "anomalie",
        "Anomalie del flusso",
        &d.anomalies,
    )));
    page.blocks.push(Block::Table(flows_table(
        "revisioni",
        "Revisioni",
        &d.revisions,
    )));
    match &d.credit {
        Some(c) => page.blocks.push(Block::Facts(credit_facts(
            "accredito",
            "Accredito in tesoreria",
            c,
        ))),
        None => page.blocks.push(Block::Text(
            "Nessun accredito in tesoreria per questo flusso.".into(),
        )),
    }
    page.render()
}

/// `GET /ufficio/rendicontazione/{id}/righe.csv`.
pub async fn lines_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let bo = ctx.bo(&state);
    match async { bo.recon_flow(&ctx.op, parse_id(&id)?).await }.await {
        Ok(d) => csv(&format!("righe-{}", d.flow.fdr), views::lines_csv(&d.lines)),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The credits' filter.
#[derive(Deserialize, Default)]
pub struct CreditQuery {
    #[serde(default)]
    senza_flusso: String,
    #[serde(default)]
    esito: String,
}

/// `GET /ufficio/tesoreria`.
pub async fn credits(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CreditQuery>,
) -> Response {
    let bo = ctx.bo(&state);
    let credits = match bo.recon_credits(&ctx.op, !q.senza_flusso.is_empty()).await {
        Ok(c) => c,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(&state, "/ufficio/tesoreria", "Tesoreria");
    if !q.esito.is_empty() {
        page.flash = Some(Flash::success(&q.esito));
    }
    let mut filters = FormBlock::post(
        "filtri",
        "Filtra gli accrediti",
        "/ufficio/tesoreria",
        "Cerca",
        vec![
            Input::text(
                "senza_flusso",
                "Solo accrediti senza flusso",
                &q.senza_flusso,
            )
            .kind("checkbox")
            .width(6),
        ],
    );
    filters.method = "get";
    filters.extra_buttons = vec![(
        "/ufficio/tesoreria.csv".to_owned(),
        "Esporta CSV".to_owned(),
    )];
    page.blocks.push(Block::Form(filters));
    let mut table = Table::new(
        "accrediti",
        "Accrediti",
        &[
            "Data contabile",
            "Importo",
            "Ordinante",
            "Causale",
            "Flusso",
            "Estratto",
        ],
        "Nessun accredito importato.",
    );
    for c in credits
        .iter()
        .take(usize::try_from(PAGE_ROWS).unwrap_or(500))
    {
        table.rows.push(vec![
            Cell::text(c.booking_date.clone().unwrap_or_else(|| "—".into())),
            Cell::amount(c.amount.get()),
            Cell::text(c.debtor_name.clone().unwrap_or_else(|| "—".into())),
            Cell::text(c.remittance.clone()),
            match (c.flow_id, &c.fdr) {
                (Some(f), Some(fdr)) => {
                    Cell::link(fdr.clone(), format!("/ufficio/rendicontazione/{f}"))
                }
                (None, Some(fdr)) => Cell::text(format!("{fdr} (non abbinato)")),
                _ => Cell::text("—"),
            },
            Cell::text(c.file_name.clone()),
        ]);
    }
    page.blocks.push(Block::Table(table));
    page.blocks.push(Block::Form(FormBlock::post(
        "estratto",
        "Importa un estratto conto",
        "/ufficio/tesoreria/estratto",
        "Importa",
        vec![
            Input::text("nome", "Nome del file", "estratto.xml")
                .help("Finisce con .xml per un camt.053, .csv per il CSV.")
                .required()
                .width(12),
            Input::text(
                "estratto",
                "Contenuto dell'estratto conto (camt.053 o CSV)",
                "",
            )
            .kind("textarea")
            .required()
            .width(12),
        ],
    )));
    page.render()
}

/// `GET /ufficio/tesoreria.csv`.
pub async fn credits_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CreditQuery>,
) -> Response {
    match ctx
        .bo(&state)
        .recon_credits(&ctx.op, !q.senza_flusso.is_empty())
        .await
    {
        Ok(c) => csv("accrediti", views::credits_csv(&c)),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The statement upload.
#[derive(Deserialize)]
pub struct StatementForm {
    #[serde(default)]
    nome: String,
    #[serde(default)]
    estratto: String,
}

/// `POST /ufficio/tesoreria/estratto`.
pub async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<StatementForm>,
) -> Response {
    let name = f.nome.trim();
    let name = if name.is_empty() { "estratto" } else { name };
    match ctx
        .bo(&state)
        .import_statement(&ctx.op, &ctx.session.ip, name, f.estratto.as_bytes())
        .await
    {
        Ok(r) => {
            let message = format!(
                "Estratto importato: {} accrediti nuovi, {} già presenti, {} flussi riversati, {} senza flusso.",
                r.imported,
                r.already_imported,
                r.flows_credited.len(),
                r.without_flow
            );
            let query = serde_urlencoded::to_string([("esito", message)]).unwrap_or_default();
            Redirect::to(&format!("/ufficio/tesoreria?{query}")).into_response()
        }
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The anomalies' filter.
#[derive(Deserialize, Default)]
pub struct AnomalyQuery {
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    tutte: String,
    #[serde(default)]
    esito: String,
}

impl AnomalyQuery {
    fn filter(&self) -> AnomalyFilter {
        AnomalyFilter {
            open_only: self.tutte.is_empty(),
            kind: AnomalyKind::parse(&self.tipo),
            ..AnomalyFilter::default()
        }
    }
}

/// `GET /ufficio/riconciliazione/anomalie`.
pub async fn anomalies(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<AnomalyQuery>,
) -> Response {
    let bo = ctx.bo(&state);
    let list = match bo.recon_anomalies(&ctx.op, &q.filter()).await {
        Ok(a) => a,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(
        &state,
        "/ufficio/riconciliazione/anomalie",
        "Anomalie di riconciliazione",
    );
    if q.esito == "risolta" {
        page.flash = Some(Flash::success("Anomalia risolta."));
    }
    let mut kinds = vec![(String::new(), "Tutti i tipi".to_owned())];
    kinds.extend(views::anomaly_kinds().map(|(k, l)| (k.to_owned(), l.to_owned())));
    let mut filters = FormBlock::post(
        "filtri",
        "Filtra le anomalie",
        "/ufficio/riconciliazione/anomalie",
        "Cerca",
        vec![
            Input::select("tipo", "Tipo", &q.tipo, kinds).width(6),
            Input::text("tutte", "Anche quelle chiuse", &q.tutte)
                .kind("checkbox")
                .width(6),
        ],
    );
    filters.method = "get";
    filters.extra_buttons = vec![(
        "/ufficio/riconciliazione/anomalie.csv".to_owned(),
        "Esporta CSV".to_owned(),
    )];
    page.blocks.push(Block::Form(filters));
    let shown: Vec<AnomalyView> = list
        .into_iter()
        .take(usize::try_from(PAGE_ROWS).unwrap_or(500))
        .collect();
    page.blocks
        .push(Block::Table(anomalies_table("elenco", "Anomalie", &shown)));
    for a in shown.iter().filter(|a| a.closed_at.is_none()) {
        let mut form = FormBlock::post(
            &format!("risolvi-{}", a.id),
            &format!("Risolvi la n. {}: {} — {}", a.id, a.kind.label(), a.detail),
            "/ufficio/riconciliazione/anomalie/risolvi",
            "Segna come risolta",
            vec![
                Input::text("nota", "Nota (come è stata risolta)", "")
                    .kind("textarea")
                    .required()
                    .width(12),
            ],
        );
        form.hidden = vec![("id".into(), a.id.to_string())];
        page.blocks.push(Block::Form(form));
    }
    page.render()
}

/// `GET /ufficio/riconciliazione/anomalie.csv`.
pub async fn anomalies_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<AnomalyQuery>,
) -> Response {
    match ctx.bo(&state).recon_anomalies(&ctx.op, &q.filter()).await {
        Ok(a) => csv("anomalie-riconciliazione", views::anomalies_csv(&a)),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The resolution form.
#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    nota: String,
}

/// `POST /ufficio/riconciliazione/anomalie/risolvi`.
pub async fn resolve(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ResolveForm>,
) -> Response {
    let result = ctx
        .bo(&state)
        .recon_resolve(&ctx.op, &ctx.session.ip, &f.id, &f.nota)
        .await;
    match result {
        Ok(()) => Redirect::to("/ufficio/riconciliazione/anomalie?esito=risolta").into_response(),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The receipts' filter.
#[derive(Deserialize, Default)]
pub struct ReceiptQuery {
    #[serde(default)]
    stato: String,
}

/// `GET /ufficio/riconciliazione/ricevute`.
pub async fn receipts(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ReceiptQuery>,
) -> Response {
    let bo = ctx.bo(&state);
    let list = match bo
        .recon_receipts(&ctx.op, ReportingState::parse(&q.stato))
        .await
    {
        Ok(r) => r,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(
        &state,
        "/ufficio/riconciliazione/ricevute",
        "Ricevute e rendicontazione",
    );
    let mut states = vec![(String::new(), "Tutti gli stati".to_owned())];
    for s in [
        ReportingState::Pending,
        ReportingState::Reported,
        ReportingState::Credited,
        ReportingState::Anomaly,
    ] {
        states.push((s.as_str().to_owned(), s.label().to_owned()));
    }
    let mut filters = FormBlock::post(
        "filtri",
        "Filtra le ricevute",
        "/ufficio/riconciliazione/ricevute",
        "Cerca",
        vec![Input::select("stato", "Stato della riconciliazione", &q.stato, states).width(6)],
    );
    filters.method = "get";
    filters.extra_buttons = vec![(
        "/ufficio/riconciliazione/ricevute.csv".to_owned(),
        "Esporta CSV".to_owned(),
    )];
    page.blocks.push(Block::Form(filters));
    let mut table = Table::new(
        "ricevute",
        "Ricevute",
        &[
            "Ricevuta",
            "Codice avviso",
            "Importo",
            "Pagata il",
            "PSP",
            "Stato",
            "Flusso",
        ],
        "Nessuna ricevuta.",
    );
    for r in list.iter().take(usize::try_from(PAGE_ROWS).unwrap_or(500)) {
        table.rows.push(vec![
            Cell::link(r.receipt_id.clone(), format!("/ufficio/ricevute/{}", r.id)),
            Cell::text(r.notice_number.clone()),
            Cell::amount(r.amount.get()),
            Cell::text(r.paid_at.rome_date_time()),
            Cell::text(r.id_psp.clone()),
            Cell::text(format!(
                "{}{}",
                r.state.label(),
                if r.recovered { " (recuperata)" } else { "" }
            )),
            Cell::text(r.reported_fdr.clone().unwrap_or_else(|| "—".into())),
        ]);
    }
    page.blocks.push(Block::Table(table));
    page.render()
}

/// `GET /ufficio/riconciliazione/ricevute.csv`.
pub async fn receipts_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ReceiptQuery>,
) -> Response {
    match ctx
        .bo(&state)
        .recon_receipts(&ctx.op, ReportingState::parse(&q.stato))
        .await
    {
        Ok(r) => csv("ricevute-rendicontazione", views::receipts_csv(&r)),
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// The receipt's path, as blocks for its detail page.
pub fn path_blocks(path: &ReceiptPath) -> Vec<Block> {
    let mut rows = vec![(
        "Stato della riconciliazione".to_owned(),
        format!(
            "{}{}",
            path.receipt.state.label(),
            if path.receipt.recovered {
                " (ricevuta recuperata da pagoPA)"
            } else {
                ""
            }
        ),
        None,
    )];
    rows.push((
        "Avviso".to_owned(),
        path.receipt.notice_number.clone(),
        None,
    ));
    for (flow, line) in &path.lines {
        rows.push((
            format!(
                "Flusso{}",
                if flow.current {
                    ""
                } else {
                    " (revisione superata)"
                }
            ),
            format!(
                "{} rev. {}, riga {}: {}",
                flow.fdr,
                flow.revision,
                line.idx,
                euro(line.amount)
            ),
            Some(format!("/ufficio/rendicontazione/{}", flow.id)),
        ));
    }
    for c in &path.credits {
        rows.push((
            "Accredito in tesoreria".to_owned(),
            format!(
                "{} del {}",
                euro(c.amount),
                c.booking_date.clone().unwrap_or_else(|| "—".into())
            ),
            Some("/ufficio/tesoreria".to_owned()),
        ));
    }
    let mut blocks = vec![Block::Facts(Facts {
        id: "percorso".into(),
        title: "Percorso: avviso → ricevuta → flusso → accredito".into(),
        rows,
    })];
    if !path.anomalies.is_empty() {
        blocks.push(Block::Table(anomalies_table(
            "anomalie-riconciliazione",
            "Anomalie di riconciliazione",
            &path.anomalies,
        )));
    }
    blocks
}
