//! Reconciliation pages: reporting flows (Rendicontazione), treasury credits (Tesoreria) and the
//! statement upload, reconciliation anomalies and receipts' reporting state, each list exported
//! as CSV and XLSX through [`Export`]. Admins only: the checks are in `crate::backoffice::recon`.

use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::export::{self, Export, XCell};
use super::positions::{Errors, parse_id};
use super::{Block, Cell, Ctx, Facts, Flash, FormBlock, Input, Table, error_response};
use crate::backoffice::{BackOffice, BoError, Operator};
use crate::recon::views::{
    self, AnomalyFilter, AnomalyView, CreditView, FlowFilter, FlowSummary, LineView, ReceiptPath,
    ReceiptState,
};
use crate::recon::{AnomalyKind, ReportingState};
use crate::web::AppState;

/// Rows shown on a page (the exports have them all).
const PAGE_ROWS: i64 = 500;

/// The export buttons of a list's filter form (they send its filters).
fn export_buttons(base: &str) -> Vec<(String, String)> {
    vec![
        (format!("{base}.csv"), "Esporta CSV".to_owned()),
        (format!("{base}.xlsx"), "Esporta XLSX".to_owned()),
    ]
}

fn text(s: &str) -> XCell {
    XCell::Text(s.to_owned())
}

fn opt_text(s: &Option<String>) -> XCell {
    XCell::Text(s.clone().unwrap_or_default())
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
    filters.extra_buttons = export_buttons("/ufficio/rendicontazione");
    page.blocks.push(Block::Form(filters));
    page.blocks.push(Block::Table(flows_table(
        "flussi",
        "Flussi di rendicontazione",
        &flows,
    )));
    // Changes of the admins' own (no service): not for a read-only admin.
    if ctx.op.may_write_service(None) {
        page.blocks.push(Block::Form(FormBlock::post(
            "sincronizza",
            "Sincronizzazione con pagoPA",
            "/ufficio/rendicontazione/sincronizza",
            "Sincronizza ora",
            Vec::new(),
        )));
    }
    page.render()
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
    page.blocks.push(Block::Links(vec![
        (
            format!("/ufficio/rendicontazione/{}/righe.csv", f.id),
            "Esporta le righe (CSV)".into(),
        ),
        (
            format!("/ufficio/rendicontazione/{}/righe.xlsx", f.id),
            "Esporta le righe (XLSX)".into(),
        ),
    ]));
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
    match parse_id(&id) {
        Ok(flow) => export::csv::<LineExport>(state, ctx, flow).await,
        Err(e) => error_response(&state, &ctx, e),
    }
}

/// `GET /ufficio/rendicontazione/{id}/righe.xlsx`.
pub async fn lines_xlsx(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    match parse_id(&id) {
        Ok(flow) => export::xlsx::<LineExport>(state, ctx, flow).await,
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
    filters.extra_buttons = export_buttons("/ufficio/tesoreria");
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
    if ctx.op.may_write_service(None) {
        page.blocks.push(Block::Form(FormBlock::post(
            "estratto",
            "Importa un estratto conto",
            "/ufficio/tesoreria/estratto",
            "Importa",
            vec![
                Input::text("estratto", "File dell'estratto conto", "")
                    .kind("file")
                    .help(&format!(
                        "camt.053 (XML) o CSV con le colonne importo e causale, al massimo {}. Un file già importato non cambia nulla.",
                        crate::web::pages::size_label(state.config().recon.treasury_max_upload_bytes)
                    ))
                    .required()
                    .width(12),
            ],
        )));
    }
    page.render()
}

/// The statement upload's file, from the multipart form: (its name, its bytes).
async fn statement_file(
    state: &AppState,
    req: Request,
) -> Result<(String, axum::body::Bytes), BoError> {
    let choose = || {
        BoError::Invalid(
            "estratto",
            "Scegli il file dell'estratto conto (camt.053 o CSV) da caricare.".to_owned(),
        )
    };
    let Some(boundary) = crate::web::multipart::boundary(req.headers()) else {
        return Err(choose());
    };
    // The session layer has read the body already (for its CSRF token), within this bound.
    let limit = state.config().recon.treasury_max_upload_bytes;
    let body = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| choose())?;
    let parts = crate::web::multipart::parts(&boundary, body)
        .await
        .map_err(|_| {
            BoError::Invalid(
                "estratto",
                "Il caricamento non è arrivato intero: riprova.".to_owned(),
            )
        })?;
    let file = parts
        .into_iter()
        .find(|p| p.name == "estratto" && p.file_name.as_deref().is_some_and(|n| !n.is_empty()))
        .ok_or_else(choose)?;
    // Only the name's last component: a browser may send a path.
    let name = file
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .unwrap_or("estratto")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>();
    Ok((name, file.bytes))
}

/// What an import did, for the operator.
fn import_message(r: &crate::recon::treasury::TreasuryReport) -> String {
    if r.imported == 0 && r.already_imported > 0 {
        return format!(
            "Estratto già importato: nessun accredito nuovo, {} già presenti e lasciati come erano.",
            r.already_imported
        );
    }
    format!(
        "Estratto importato: {} accrediti nuovi, {} già presenti, {} flussi riversati, {} senza flusso, {} con importo diverso dal flusso, {} movimenti non di accredito ignorati.",
        r.imported,
        r.already_imported,
        r.flows_credited.len(),
        r.without_flow,
        r.amount_mismatch,
        r.skipped
    )
}

/// `POST /ufficio/tesoreria/estratto`: a camt.053 or CSV file (multipart, with its CSRF token
/// checked by the session layer before this runs), imported whole or not at all.
pub async fn import(State(state): State<AppState>, ctx: Ctx, req: Request) -> Response {
    let bo = ctx.bo(&state);
    let result = async {
        bo.may_import_statement(&ctx.op)?;
        let (name, bytes) = statement_file(&state, req).await?;
        bo.import_statement(&ctx.op, &ctx.session.ip, &name, &bytes)
            .await
    }
    .await;
    match result {
        Ok(r) => {
            let query =
                serde_urlencoded::to_string([("esito", import_message(&r))]).unwrap_or_default();
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
    filters.extra_buttons = export_buttons("/ufficio/riconciliazione/anomalie");
    page.blocks.push(Block::Form(filters));
    let shown: Vec<AnomalyView> = list
        .into_iter()
        .take(usize::try_from(PAGE_ROWS).unwrap_or(500))
        .collect();
    page.blocks
        .push(Block::Table(anomalies_table("elenco", "Anomalie", &shown)));
    let writable = ctx.op.may_write_service(None);
    for a in shown.iter().filter(|a| writable && a.closed_at.is_none()) {
        page.blocks.push(Block::Form(FormBlock::resolve(
            &format!("risolvi-{}", a.id),
            &format!("Risolvi la n. {}: {} — {}", a.id, a.kind.label(), a.detail),
            "/ufficio/riconciliazione/anomalie/risolvi",
            vec![("id".into(), a.id.to_string())],
        )));
    }
    page.render()
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
    filters.extra_buttons = export_buttons("/ufficio/riconciliazione/ricevute");
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

/// The receipt's path, as blocks for its detail page, or (`named`: several on one page, told
/// apart by the receipt's id) for its position's.
pub fn path_blocks(path: &ReceiptPath, named: bool) -> Vec<Block> {
    let suffix = if named {
        format!("-{}", path.receipt.id)
    } else {
        String::new()
    };
    let of = if named {
        format!(" della ricevuta {}", path.receipt.receipt_id)
    } else {
        String::new()
    };
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
        id: format!("percorso{suffix}"),
        title: format!("Percorso{of}: avviso → ricevuta → flusso → accredito"),
        rows,
    })];
    if !path.anomalies.is_empty() {
        blocks.push(Block::Table(anomalies_table(
            &format!("anomalie-riconciliazione{suffix}"),
            &format!("Anomalie di riconciliazione{of}"),
            &path.anomalies,
        )));
    }
    blocks
}

fn yes_no(b: bool) -> XCell {
    text(yes(b))
}

/// Rows of the flows' export.
pub struct FlowExport(FlowSummary);

impl Export for FlowExport {
    type Form = FlowQuery;
    type Query = FlowFilter;
    const HEADERS: &'static [&'static str] = &[
        "Flusso",
        "PSP",
        "Nome PSP",
        "Revisione",
        "In vigore",
        "Pubblicato",
        "Regolamento",
        "Data regolamento",
        "Pagamenti dichiarati",
        "Totale dichiarato",
        "Righe",
        "Totale righe",
        "Abbinate",
        "Anomalie aperte",
        "Riversato",
        "Data accredito",
    ];
    const NAME: &'static str = "flussi";

    fn cells(&self) -> Vec<XCell> {
        let f = &self.0;
        vec![
            text(&f.fdr),
            text(&f.psp_id),
            text(&f.psp_name),
            text(&f.revision.to_string()),
            yes_no(f.current),
            text(&f.published_at.rome_date_time()),
            text(&f.regulation),
            opt_text(&f.regulation_date),
            text(&f.tot_payments.to_string()),
            XCell::Amount(f.sum_payments.get()),
            text(&f.line_count.to_string()),
            XCell::Amount(f.line_sum.get()),
            text(&f.matched.to_string()),
            text(&f.open_anomalies.to_string()),
            yes_no(f.credit_id.is_some()),
            opt_text(&f.credit_date),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        _bo: &'a BackOffice<'a>,
        _op: &'a Operator,
        form: &'a FlowQuery,
    ) -> Result<(FlowFilter, Errors), BoError> {
        Ok((form.filter(views::MAX_ROWS), Errors::new()))
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        q: &'a FlowFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        let rows = bo.recon_flows_batch(op, q, after, limit).await?;
        Ok(rows.into_iter().map(FlowExport).collect())
    }
}

/// The lines' export names its flow in the path, not in a form.
#[derive(Deserialize)]
pub struct NoForm {}

/// Rows of a flow's lines export, in the flow's order (the key counts down).
pub struct LineExport {
    line: LineView,
    position: i64,
}

impl Export for LineExport {
    type Form = NoForm;
    /// The flow.
    type Query = i64;
    const HEADERS: &'static [&'static str] = &[
        "Indice",
        "IUV",
        "IUR",
        "Id versamento",
        "Importo",
        "Esito",
        "Data pagamento",
        "Ricevuta",
        "Codice avviso",
    ];
    const NAME: &'static str = "righe-flusso";

    fn cells(&self) -> Vec<XCell> {
        let l = &self.line;
        vec![
            text(&l.idx.to_string()),
            text(&l.iuv),
            text(&l.iur),
            text(&l.id_transfer.to_string()),
            XCell::Amount(l.amount.get()),
            text(&l.pay_status),
            text(&l.pay_date),
            opt_text(&l.receipt_id),
            opt_text(&l.notice_number),
        ]
    }

    fn key(&self) -> i64 {
        -self.position
    }

    async fn parse<'a>(
        _bo: &'a BackOffice<'a>,
        _op: &'a Operator,
        _form: &'a NoForm,
    ) -> Result<(i64, Errors), BoError> {
        Err(BoError::NotFound)
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        flow: &'a i64,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        // A flow's lines are read whole by its page too; the export slices them.
        let detail = bo.recon_flow(op, *flow).await?;
        let first = after.map_or(1, |k| 1 - k);
        Ok(detail
            .lines
            .into_iter()
            .zip(1..)
            .filter(|(_, position)| *position >= first)
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|(line, position)| LineExport { line, position })
            .collect())
    }
}

/// Rows of the credits' export.
pub struct CreditExport(CreditView);

impl Export for CreditExport {
    type Form = CreditQuery;
    /// Only credits settling no flow.
    type Query = bool;
    const HEADERS: &'static [&'static str] = &[
        "Data contabile",
        "Data valuta",
        "Importo",
        "Ordinante",
        "Causale",
        "Riferimento banca",
        "Flusso",
        "Riversamento abbinato",
        "Origine",
        "File",
    ];
    const NAME: &'static str = "accrediti";

    fn cells(&self) -> Vec<XCell> {
        let c = &self.0;
        vec![
            opt_text(&c.booking_date),
            opt_text(&c.value_date),
            XCell::Amount(c.amount.get()),
            opt_text(&c.debtor_name),
            text(&c.remittance),
            opt_text(&c.reference),
            opt_text(&c.fdr),
            yes_no(c.flow_id.is_some()),
            text(&c.source),
            text(&c.file_name),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        _bo: &'a BackOffice<'a>,
        _op: &'a Operator,
        form: &'a CreditQuery,
    ) -> Result<(bool, Errors), BoError> {
        Ok((!form.senza_flusso.is_empty(), Errors::new()))
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        unmatched: &'a bool,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        let rows = bo.recon_credits_batch(op, *unmatched, after, limit).await?;
        Ok(rows.into_iter().map(CreditExport).collect())
    }
}

/// Rows of the reconciliation anomalies' export.
pub struct AnomalyExport(AnomalyView);

impl Export for AnomalyExport {
    type Form = AnomalyQuery;
    type Query = AnomalyFilter;
    const HEADERS: &'static [&'static str] = &[
        "N.",
        "Tipo",
        "Descrizione tipo",
        "Flusso",
        "IUV",
        "IUR",
        "Id versamento",
        "Ricevuta",
        "Dettaglio",
        "Aperta il",
        "Chiusa il",
        "Motivo chiusura",
        "Nota",
    ];
    const NAME: &'static str = "anomalie-riconciliazione";

    fn cells(&self) -> Vec<XCell> {
        let a = &self.0;
        vec![
            text(&a.id.to_string()),
            text(a.kind.as_str()),
            text(a.kind.label()),
            opt_text(&a.fdr),
            opt_text(&a.iuv),
            opt_text(&a.iur),
            XCell::Text(a.id_transfer.map(|t| t.to_string()).unwrap_or_default()),
            opt_text(&a.receipt_id),
            text(&a.detail),
            text(&a.created_at.rome_date_time()),
            XCell::Text(a.closed_at.map(|t| t.rome_date_time()).unwrap_or_default()),
            opt_text(&a.closed_reason),
            opt_text(&a.note),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        _bo: &'a BackOffice<'a>,
        _op: &'a Operator,
        form: &'a AnomalyQuery,
    ) -> Result<(AnomalyFilter, Errors), BoError> {
        Ok((form.filter(), Errors::new()))
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        q: &'a AnomalyFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        let rows = bo.recon_anomalies_batch(op, q, after, limit).await?;
        Ok(rows.into_iter().map(AnomalyExport).collect())
    }
}

/// Rows of the receipts' reporting state export.
pub struct ReceiptStateExport(ReceiptState);

impl Export for ReceiptStateExport {
    type Form = ReceiptQuery;
    type Query = Option<ReportingState>;
    const HEADERS: &'static [&'static str] = &[
        "Id ricevuta",
        "Codice avviso",
        "IUV",
        "Importo",
        "Pagata il",
        "PSP",
        "Recuperata",
        "Stato della riconciliazione",
        "Flusso",
        "Posizione",
    ];
    const NAME: &'static str = "ricevute-rendicontazione";

    fn cells(&self) -> Vec<XCell> {
        let r = &self.0;
        vec![
            text(&r.receipt_id),
            text(&r.notice_number),
            text(&r.iuv),
            XCell::Amount(r.amount.get()),
            text(&r.paid_at.rome_date_time()),
            text(&r.id_psp),
            yes_no(r.recovered),
            text(r.state.label()),
            opt_text(&r.reported_fdr),
            opt_text(&r.iupd),
        ]
    }

    fn key(&self) -> i64 {
        self.0.id
    }

    async fn parse<'a>(
        _bo: &'a BackOffice<'a>,
        _op: &'a Operator,
        form: &'a ReceiptQuery,
    ) -> Result<(Option<ReportingState>, Errors), BoError> {
        Ok((ReportingState::parse(&form.stato), Errors::new()))
    }

    async fn fetch<'a>(
        bo: &'a BackOffice<'a>,
        op: &'a Operator,
        state: &'a Option<ReportingState>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, BoError> {
        let rows = bo.recon_receipts_batch(op, *state, after, limit).await?;
        Ok(rows.into_iter().map(ReceiptStateExport).collect())
    }
}
