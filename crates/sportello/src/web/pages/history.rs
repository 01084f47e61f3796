//! "Storico pagamenti effettuati con esito positivo": filters, keyset pages, selection totals,
//! CSV export and the detail of each payment.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pagopa::{Cents, NoticeNumber};

use super::{Layout, render, to_login, url_encode};
use crate::clock::{Timestamp, parse_date};
use crate::domain::payment_method;
use crate::store::history::{Cursor, HistoryFilter, HistoryRow};
use crate::web::AppState;
use crate::web::session::Session;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pagamenti/storico", get(history))
        .route("/pagamenti/storico.csv", get(csv))
        .route("/pagamenti/storico/stampa", get(print_selected))
        .route("/pagamenti/storico/{id}", get(detail))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "history page failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The query string as typed, kept to rebuild links.
#[derive(Debug, Default, Clone)]
struct Params {
    da: String,
    a: String,
    servizio: String,
    causale: String,
    codice: String,
    importo_min: String,
    importo_max: String,
    dim: i64,
    cursor: Cursor,
    page: i64,
    selected: Vec<i64>,
}

fn key(t: Timestamp, id: i64) -> String {
    format!("{}_{id}", t.get().unix_timestamp_nanos() / 1000)
}

fn parse_key(s: &str) -> Option<(Timestamp, i64)> {
    let (micros, id) = s.split_once('_')?;
    let micros: i128 = micros.parse().ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).ok()?;
    Some((Timestamp::from(t), id.parse().ok()?))
}

fn parse_params(query: &str) -> Params {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut p = Params {
        dim: 10,
        page: 1,
        ..Default::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "da" => p.da = v,
            "a" => p.a = v,
            "servizio" => p.servizio = v,
            "causale" => p.causale = v,
            "codice" => p.codice = v,
            "importo_min" => p.importo_min = v,
            "importo_max" => p.importo_max = v,
            "dim" => {
                p.dim = v
                    .parse()
                    .ok()
                    .filter(|n| [10, 20, 50].contains(n))
                    .unwrap_or(10)
            }
            "dopo" => {
                p.cursor = parse_key(&v)
                    .map(|(t, i)| Cursor::After(t, i))
                    .unwrap_or(Cursor::First)
            }
            "prima" => {
                p.cursor = parse_key(&v)
                    .map(|(t, i)| Cursor::Before(t, i))
                    .unwrap_or(Cursor::First)
            }
            "ultima" => p.cursor = Cursor::Last,
            "pagina" => p.page = v.parse().ok().filter(|n| *n >= 1).unwrap_or(1),
            "sel" => p.selected.extend(v.parse::<i64>().ok()),
            _ => {}
        }
    }
    p
}

/// Filter errors, by field.
#[derive(Default)]
struct FilterErrors {
    da: String,
    a: String,
    min: String,
    max: String,
}

fn filter_of(p: &Params) -> (HistoryFilter, FilterErrors) {
    let mut e = FilterErrors::default();
    let day_start = Timestamp::rome_day_start;
    let from = match p.da.trim() {
        "" => None,
        s => match parse_date(s) {
            Ok(d) => Some(day_start(d)),
            Err(m) => {
                e.da = m.to_owned();
                None
            }
        },
    };
    let to = match p.a.trim() {
        "" => None,
        s => match parse_date(s) {
            Ok(d) => Some(day_start(d.next_day().unwrap_or(d))),
            Err(m) => {
                e.a = m.to_owned();
                None
            }
        },
    };
    let amount = |s: &str, err: &mut String| match s.trim() {
        "" => None,
        s => match Cents::parse(s) {
            Ok(c) => Some(c.get()),
            Err(m) => {
                *err = m.to_string();
                None
            }
        },
    };
    let min_cents = amount(&p.importo_min, &mut e.min);
    let max_cents = amount(&p.importo_max, &mut e.max);
    let digits: String = p.codice.chars().filter(char::is_ascii_digit).collect();
    let code = match digits.len() {
        0 => None,
        // A notice code is matched on the notice number, an IUV on the IUV.
        _ => Some(
            NoticeNumber::parse(&digits)
                .map(|n| n.as_str().to_owned())
                .unwrap_or(digits),
        ),
    };
    let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    (
        HistoryFilter {
            from,
            to,
            service: text(&p.servizio),
            causale: text(&p.causale),
            code,
            min_cents,
            max_cents,
        },
        e,
    )
}

struct Row {
    id: i64,
    cents: i64,
    causale: String,
    date: String,
    amount: String,
    service: String,
    iuv: String,
    psp: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "pages/history.html")]
struct History {
    l: Layout,
    f: Params,
    filters_open: bool,
    err_da: String,
    err_a: String,
    err_min: String,
    err_max: String,
    services: Vec<(String, String)>,
    sizes: Vec<i64>,
    size: i64,
    keep: Vec<(String, String)>,
    rows: Vec<Row>,
    selected_count: usize,
    selected_total: String,
    has_older: bool,
    has_newer: bool,
    page_label: String,
    first_href: String,
    prev_href: String,
    next_href: String,
    last_href: String,
}

fn filter_query(p: &Params) -> Vec<(String, String)> {
    [
        ("da", &p.da),
        ("a", &p.a),
        ("servizio", &p.servizio),
        ("causale", &p.causale),
        ("codice", &p.codice),
        ("importo_min", &p.importo_min),
        ("importo_max", &p.importo_max),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .chain(std::iter::once(("dim".to_owned(), p.dim.to_string())))
    .collect()
}

fn href(base: &[(String, String)], extra: &[(&str, String)]) -> String {
    let q: Vec<String> = base
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .chain(extra.iter().map(|(k, v)| format!("{k}={}", url_encode(v))))
        .collect();
    format!("/pagamenti/storico?{}", q.join("&"))
}

async fn history(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/storico");
    };
    let p = parse_params(query.as_deref().unwrap_or_default());
    let (filter, errors) = filter_of(&p);
    let store = state.store();
    let ente = state.ente().id;
    let (rows, older, newer) = match store
        .history_page(ente, &account.viewer(), &filter, p.cursor, p.dim)
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let chosen = match store
        .history_rows(ente, &account.viewer(), &p.selected)
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let services = match store.services(ente).await {
        Ok(s) => s.into_iter().map(|s| (s.def.code, s.def.name)).collect(),
        Err(e) => return internal(e),
    };
    let selected_total =
        Cents::checked_sum(chosen.iter().map(|r| Cents::new(r.amount))).unwrap_or(Cents::ZERO);
    let base = filter_query(&p);
    let page = match p.cursor {
        Cursor::First => 1,
        _ => p.page,
    };
    let first_key = rows
        .first()
        .map(|r| key(r.paid_at, r.id))
        .unwrap_or_default();
    let last_key = rows
        .last()
        .map(|r| key(r.paid_at, r.id))
        .unwrap_or_default();
    let view = History {
        l: Layout::new(&state, &session, "Storico pagamenti"),
        filters_open: filter != HistoryFilter::default()
            || !errors.da.is_empty()
            || !errors.a.is_empty()
            || !errors.min.is_empty()
            || !errors.max.is_empty(),
        err_da: errors.da,
        err_a: errors.a,
        err_min: errors.min,
        err_max: errors.max,
        services,
        sizes: vec![10, 20, 50],
        size: p.dim,
        keep: base.clone(),
        rows: rows
            .iter()
            .map(|r: &HistoryRow| Row {
                id: r.id,
                cents: r.amount,
                causale: r.causale.clone(),
                date: r.paid_at.rome_date(),
                amount: Cents::new(r.amount).to_string(),
                service: r
                    .service
                    .clone()
                    .unwrap_or_else(|| "Avviso di pagamento".to_owned()),
                iuv: r.iuv.clone(),
                psp: r.psp.clone(),
                checked: p.selected.contains(&r.id),
            })
            .collect(),
        selected_count: chosen.len(),
        selected_total: selected_total.to_string(),
        has_older: older,
        has_newer: newer,
        page_label: if matches!(p.cursor, Cursor::Last) {
            "ultima".to_owned()
        } else {
            page.to_string()
        },
        first_href: href(&base, &[]),
        prev_href: href(
            &base,
            &[
                ("prima", first_key),
                ("pagina", (page - 1).max(1).to_string()),
            ],
        ),
        next_href: href(
            &base,
            &[("dopo", last_key), ("pagina", (page + 1).to_string())],
        ),
        last_href: href(&base, &[("ultima", "1".to_owned())]),
        f: p,
    };
    render(&view)
}

/// One CSV cell: quoted when needed, and defused when a spreadsheet would read it as a formula.
pub(crate) fn cell(value: &str) -> String {
    let mut v = value.replace(['\r', '\n'], " ");
    if v.starts_with(['=', '+', '-', '@', '\t']) {
        v.insert(0, '\'');
    }
    if v.contains([';', '"']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

async fn csv(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/storico");
    };
    let p = parse_params(query.as_deref().unwrap_or_default());
    let store = state.store();
    let ente = state.ente().id;
    let rows = if p.selected.is_empty() {
        let (filter, _) = filter_of(&p);
        store.history_all(ente, &account.viewer(), &filter).await
    } else {
        store
            .history_rows(ente, &account.viewer(), &p.selected)
            .await
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    // BOM and ';': what an Italian Excel opens correctly with a double click.
    let mut out =
        String::from("\u{feff}Causale;Data;Importo;Dovuto;IUUV;Codice avviso;PSP;Id ricevuta\r\n");
    for r in rows {
        let line = [
            cell(&r.causale),
            r.paid_at.rome_date_time(),
            Cents::new(r.amount).to_italian(),
            cell(&r.service.unwrap_or_default()),
            cell(&r.iuv),
            cell(&r.notice_number),
            cell(&r.psp),
            cell(&r.receipt_id),
        ]
        .join(";");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"storico-pagamenti.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "pages/receipt_detail.html")]
struct Detail {
    l: Layout,
    fields: Vec<(&'static str, String)>,
    transfers: Vec<(i32, String, String, String, String, String)>,
    pdf_href: String,
}

async fn detail(State(state): State<AppState>, session: Session, Path(id): Path<i64>) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/storico");
    };
    let d = match state
        .store()
        .receipt_detail(state.ente().id, &account.viewer(), id)
        .await
    {
        Ok(Some(d)) => d,
        // Someone else's receipt and a missing one look the same.
        Ok(None) => return super::error_page(StatusCode::NOT_FOUND),
        Err(e) => return internal(e),
    };
    let notice = NoticeNumber::parse(&d.row.notice_number)
        .map(|n| n.grouped())
        .unwrap_or(d.row.notice_number.clone());
    let payer = match (&d.payer_name, &d.payer_fiscal_code) {
        (Some(n), Some(cf)) => format!("{n} ({cf})"),
        (Some(n), None) => n.clone(),
        (None, Some(cf)) => cf.clone(),
        (None, None) => "—".to_owned(),
    };
    let fields = vec![
        ("Id ricevuta (receiptId)", d.row.receipt_id.clone()),
        ("Codice avviso", notice),
        ("IUUV", d.row.iuv.clone()),
        ("Causale", d.row.causale.clone()),
        (
            "Dovuto",
            d.row
                .service
                .clone()
                .unwrap_or_else(|| "Avviso di pagamento".to_owned()),
        ),
        ("Ente", d.company_name.clone()),
        ("Importo", Cents::new(d.row.amount).to_string()),
        (
            "Commissione",
            d.fee
                .map(|f| Cents::new(f).to_string())
                .unwrap_or_else(|| "—".to_owned()),
        ),
        ("Data e ora del pagamento", d.row.paid_at.rome_date_time()),
        (
            "Debitore",
            format!("{} ({})", d.debtor_name, d.debtor_fiscal_code),
        ),
        ("Pagatore", payer),
        ("PSP", format!("{} ({})", d.row.psp, d.id_psp)),
        (
            "Canale",
            d.channel_description
                .as_deref()
                .map(|c| format!("{} ({})", payment_method::describe_channel(c), d.id_channel))
                .unwrap_or(d.id_channel.clone()),
        ),
        (
            "Metodo di pagamento",
            d.payment_method
                .as_deref()
                .map_or_else(|| "—".to_owned(), payment_method::describe),
        ),
    ];
    render(&Detail {
        l: Layout::new(&state, &session, "Dettaglio pagamento"),
        fields,
        transfers: d
            .transfers
            .iter()
            .map(|(i, cents, cf, iban, remittance, category)| {
                let ente = state.ente();
                (
                    *i,
                    // The municipality by name; another beneficiary by its fiscal code.
                    if *cf == ente.fiscal_code {
                        format!("{} ({cf})", ente.name)
                    } else {
                        cf.clone()
                    },
                    iban.clone().unwrap_or_else(|| "marca da bollo".to_owned()),
                    remittance.clone(),
                    category.clone(),
                    Cents::new(*cents).to_string(),
                )
            })
            .collect(),
        pdf_href: format!(
            "/pagamenti/ricevute.pdf?id={}",
            url_encode(&d.row.receipt_id)
        ),
    })
}

/// "Stampa la ricevuta" for the selected rows: one PDF, one receipt per page.
async fn print_selected(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(account) = session.account() else {
        return to_login("/pagamenti/storico");
    };
    let p = parse_params(query.as_deref().unwrap_or_default());
    let rows = match state
        .store()
        .history_rows(state.ente().id, &account.viewer(), &p.selected)
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    if rows.is_empty() {
        return axum::response::Redirect::to("/pagamenti/storico").into_response();
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| format!("id={}", url_encode(&r.receipt_id)))
        .collect();
    axum::response::Redirect::to(&format!("/pagamenti/ricevute.pdf?{}", ids.join("&")))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_safe_for_spreadsheets() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+39 0523"), "'+39 0523");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a;b"), "\"a;b\"");
        assert_eq!(cell("riga\nnuova"), "riga nuova");
        assert_eq!(cell("Multa"), "Multa");
    }

    #[test]
    fn cursor_keys_round_trip() {
        let t = Timestamp::parse("2026-11-27T10:15:00.123456Z").unwrap();
        assert_eq!(parse_key(&key(t, 42)), Some((t, 42)));
        assert_eq!(parse_key("garbage"), None);
    }
}
