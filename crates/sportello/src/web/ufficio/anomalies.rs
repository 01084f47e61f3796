//! The anomalies queue: what needs a person, each resolved with a mandatory note.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Block, Cell, Ctx, Flash, FormBlock, Table, error_response};
use crate::backoffice::BoError;
use crate::clock::Timestamp;
use crate::store::backoffice::ANOMALY_KINDS;
use crate::web::AppState;

/// The outcome shown after resolving.
#[derive(Deserialize)]
pub struct Outcome {
    #[serde(default)]
    esito: String,
}

fn kind_label(kind: &str) -> &'static str {
    ANOMALY_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, l)| *l)
        .unwrap_or("Anomalia")
}

/// `GET /ufficio/anomalie`.
pub async fn list(State(state): State<AppState>, ctx: Ctx, Query(o): Query<Outcome>) -> Response {
    let bo = ctx.bo(&state);
    let result = async {
        let open = bo.anomalies(&ctx.op, Timestamp::now()).await?;
        let mut writable = Vec::with_capacity(open.len());
        for a in &open {
            writable.push(bo.may_resolve(&ctx.op, a).await?);
        }
        Ok::<_, BoError>((open, writable))
    };
    let (open, writable) = match result.await {
        Ok(r) => r,
        Err(e) => return error_response(&state, &ctx, e),
    };
    let mut page = ctx.page(&state, "/ufficio/anomalie", "Anomalie da risolvere");
    if o.esito == "risolta" {
        page.flash = Some(Flash::success("Anomalia risolta."));
    }
    let mut table = Table::new(
        "aperte",
        "Anomalie aperte",
        &["Tipo", "Quando", "Riferimento", "Posizione"],
        "Nessuna anomalia aperta.",
    );
    for a in &open {
        table.rows.push(vec![
            Cell::text(kind_label(&a.kind)),
            Cell::text(a.at.rome_date_time()),
            Cell::text(a.summary.clone()),
            match a.position_id {
                Some(p) => Cell::link("Apri", format!("/ufficio/posizioni/{p}")),
                None => Cell::text("—"),
            },
        ]);
    }
    page.blocks.push(Block::Table(table));
    for ((i, a), _) in open.iter().enumerate().zip(&writable).filter(|(_, w)| **w) {
        page.blocks.push(Block::Form(FormBlock::resolve(
            &format!("risolvi-{i}"),
            &format!("Risolvi: {} — {}", kind_label(&a.kind), a.summary),
            "/ufficio/anomalie/risolvi",
            vec![
                ("tipo".into(), a.kind.clone()),
                ("rif".into(), a.ref_id.clone()),
            ],
        )));
    }
    page.render()
}

/// The resolution form.
#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    tipo: String,
    #[serde(default)]
    rif: String,
    #[serde(default)]
    nota: String,
}

/// `POST /ufficio/anomalie/risolvi`.
pub async fn resolve(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ResolveForm>,
) -> Response {
    let bo = ctx.bo(&state);
    match bo
        .resolve_anomaly(&ctx.op, &ctx.session.ip, &f.tipo, &f.rif, &f.nota)
        .await
    {
        Ok(()) => Redirect::to("/ufficio/anomalie?esito=risolta").into_response(),
        Err(e) => error_response(&state, &ctx, e),
    }
}
