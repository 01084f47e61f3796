//! The sandbox as pagoPA's reporting side: what the simulated PSPs paid is kept in a ledger;
//! "publishing" turns it into one flow (FdR) per PSP per day, served by the *FdR –
//! Organization* API's shape; the receipts API (biz-events) answers every receipt the node
//! made, delivered or not; and the simulated bank writes the credits of the flows as a
//! camt.053 statement.
//!
//! Fault choices at publication (form fields, `on`), applied to the first flow: `revisione`
//! (published twice: revision 1 with the other faults, revision 2 clean), `importo` (the first
//! line 1 cent more), `senza_rpt` (the second line NO_RPT), `revoca` (the last line REVOKED),
//! `duplicata` (the last-but-one line again), `sconosciuto` (a line for a payment nobody made),
//! `totale` (the header's total 1 € more), `conteggio` (the header counts one line more). A
//! payment taken at the PSP counter in stand-in, whose receipt never reached the station, is a
//! STAND_IN line; one whose `paSendRT` was lost is an EXECUTED line the station never heard of.

use std::collections::{BTreeMap, HashMap};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pagopa::Cents;
use pagopa::bizevents::OrgReceipt;
use pagopa::fdr::{
    ErrorMessage, ErrorResponse, Flow, FlowPayment, FlowRef, FlowStatus, FlowsPage, PageMetadata,
    PayStatus, PaymentsPage, Receiver, Sender, SenderType, flow_id,
};
use pagopa::soap::Receipt;

use crate::Sandbox;
use crate::pages::PSPS;

/// Where the FdR organization API is served (pagoPA: `https://api.platform.pagopa.it/fdr-org/service/v1`).
pub const FDR_BASE: &str = "/fdr-org/service/v1";
/// Where the receipts API is served (pagoPA: `https://api.platform.pagopa.it/bizevents/service/v1`).
pub const RECEIPTS_BASE: &str = "/bizevents/service/v1";

/// The faults a publication can simulate, with their labels.
pub const FAULTS: [(&str, &str); 8] = [
    ("revisione", "una seconda revisione corregge la prima"),
    ("importo", "la prima riga ha un centesimo in più"),
    (
        "senza_rpt",
        "la seconda riga è pagata senza ricevuta (NO_RPT)",
    ),
    ("revoca", "l'ultima riga è revocata (REVOKED)"),
    ("duplicata", "la penultima riga è ripetuta"),
    (
        "sconosciuto",
        "una riga per un pagamento che nessuno ha fatto",
    ),
    ("totale", "il totale dichiarato ha un euro in più"),
    (
        "conteggio",
        "il numero di pagamenti dichiarato ha una riga in più",
    ),
];

/// How many payments the ledger keeps.
pub const KEEP_PAID: usize = 200_000;

/// (organization, idPSP, day): one flow each.
type GroupKey = (String, String, (i32, u8, u8));

/// A payment the node made.
#[derive(Debug, Clone)]
pub(crate) struct Paid {
    pub receipt: Receipt,
    pub delivered: bool,
    pub stand_in: bool,
    pub reported: bool,
}

/// A published flow revision.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub organization: String,
    pub header: Flow,
    pub payments: Vec<FlowPayment>,
}

/// The reporting side's state.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub paid: Vec<Paid>,
    pub flows: Vec<Published>,
    /// Requests for this flow's lines fail (a test's fault).
    pub failing_flow: Option<String>,
    last_published: Option<time::OffsetDateTime>,
}

fn instant(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn parse_instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            // pagoPA also accepts a local date-time without an offset (read as UTC here).
            let fmt =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            time::PrimitiveDateTime::parse(text.get(..19)?, &fmt)
                .ok()
                .map(|t| t.assume_utc())
        })
}

/// The calendar date (YYYY, M, D) of a receipt's payment.
fn pay_day(r: &Receipt) -> (i32, u8, u8) {
    r.payment_date_time
        .as_ref()
        .map(|d| {
            let p = d.parts();
            (p.year as i32, p.month as u8, p.day as u8)
        })
        .unwrap_or((1970, 1, 1))
}

impl Ledger {
    fn next_published(&mut self) -> String {
        let mut now = time::OffsetDateTime::now_utc();
        if let Some(last) = self.last_published {
            if now <= last {
                now = last + time::Duration::milliseconds(1);
            }
        }
        self.last_published = Some(now);
        instant(now)
    }
}

impl Sandbox {
    /// Notes a payment the node made (before it tries to deliver the receipt).
    pub(crate) fn record_paid(&self, receipt: &Receipt, stand_in: bool) {
        let mut l = self.inner.ledger.lock().expect("ledger lock");
        if l.paid
            .iter()
            .any(|p| p.receipt.receipt_id == receipt.receipt_id)
        {
            return;
        }
        if l.paid.len() >= KEEP_PAID {
            l.paid.remove(0);
        }
        l.paid.push(Paid {
            receipt: receipt.clone(),
            delivered: false,
            stand_in,
            reported: false,
        });
    }

    /// Notes that the station acknowledged a receipt.
    pub(crate) fn record_delivered(&self, receipt_id: &str) {
        let mut l = self.inner.ledger.lock().expect("ledger lock");
        if let Some(p) = l
            .paid
            .iter_mut()
            .find(|p| p.receipt.receipt_id == receipt_id)
        {
            p.delivered = true;
        }
    }

    /// Publishes one flow per PSP per day for every payment not yet reported, with the faults
    /// named in `faults` applied to the first flow. Returns (flow id, revision) of each
    /// revision published.
    pub fn publish_flows(&self, faults: &[&str]) -> Vec<(String, i64)> {
        let has = |f: &str| faults.contains(&f);
        let mut l = self.inner.ledger.lock().expect("ledger lock");
        let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
        for (i, p) in l.paid.iter().enumerate() {
            if !p.reported {
                groups
                    .entry((
                        p.receipt.fiscal_code.as_str().to_owned(),
                        p.receipt.id_psp.clone(),
                        pay_day(&p.receipt),
                    ))
                    .or_default()
                    .push(i);
            }
        }
        let mut out = Vec::new();
        for (n, ((organization, psp_id, day), members)) in groups.into_iter().enumerate() {
            let mut payments = Vec::new();
            for i in &members {
                let p = &l.paid[*i];
                for t in &p.receipt.transfers {
                    payments.push(FlowPayment {
                        index: 0,
                        iuv: p.receipt.creditor_reference_id.clone(),
                        iur: p.receipt.receipt_id.clone(),
                        id_transfer: i64::from(t.id_transfer),
                        pay: t.transfer_amount,
                        pay_status: if p.stand_in {
                            PayStatus::StandIn
                        } else {
                            PayStatus::Executed
                        },
                        pay_date: p
                            .receipt
                            .payment_date_time
                            .as_ref()
                            .map(|d| d.as_str().to_owned())
                            .unwrap_or_default(),
                    });
                }
            }
            for i in &members {
                l.paid[*i].reported = true;
            }
            let progressive = 1 + l
                .flows
                .iter()
                .filter(|f| {
                    f.header.sender.psp_id == psp_id
                        && f.header.fdr.starts_with(&flow_id(day, "", 0)[..10])
                })
                .map(|f| f.header.fdr.clone())
                .collect::<std::collections::HashSet<_>>()
                .len() as u32;
            let fdr = flow_id(day, &psp_id, progressive);
            let first = n == 0;
            let faulty = first && !faults.is_empty();
            let mut revision = 1;
            if faulty && has("revisione") {
                let (header, lines) = build(
                    &organization,
                    &psp_id,
                    &fdr,
                    1,
                    payments.clone(),
                    faults,
                    day,
                    l.next_published(),
                );
                l.flows.push(Published {
                    organization: organization.clone(),
                    header,
                    payments: lines,
                });
                out.push((fdr.clone(), 1));
                revision = 2;
            }
            let applied: &[&str] = if faulty && !has("revisione") {
                faults
            } else {
                &[]
            };
            let (header, lines) = build(
                &organization,
                &psp_id,
                &fdr,
                revision,
                payments,
                applied,
                day,
                l.next_published(),
            );
            l.flows.push(Published {
                organization,
                header,
                payments: lines,
            });
            out.push((fdr, revision));
        }
        out
    }
}

#[expect(clippy::too_many_arguments, reason = "one flow, many parts")]
fn build(
    organization: &str,
    psp_id: &str,
    fdr: &str,
    revision: i64,
    mut lines: Vec<FlowPayment>,
    faults: &[&str],
    day: (i32, u8, u8),
    published: String,
) -> (Flow, Vec<FlowPayment>) {
    let has = |f: &str| faults.contains(&f);
    let n = lines.len();
    if has("importo") {
        if let Some(first) = lines.first_mut() {
            first.pay = Cents::new(first.pay.get() + 1);
        }
    }
    if has("senza_rpt") && n >= 2 {
        lines[1].pay_status = PayStatus::NoRpt;
    }
    if has("revoca") {
        if let Some(last) = lines.last_mut() {
            last.pay_status = PayStatus::Revoked;
        }
    }
    if has("duplicata") && n >= 3 {
        let copy = lines[n - 2].clone();
        lines.push(copy);
    }
    if has("sconosciuto") {
        lines.push(FlowPayment {
            index: 0,
            iuv: "99000000000000042".into(),
            iur: format!("sconosciuto-{fdr}"),
            id_transfer: 1,
            pay: Cents::new(1234),
            pay_status: PayStatus::Executed,
            pay_date: published.clone(),
        });
    }
    for (i, l) in lines.iter_mut().enumerate() {
        l.index = i as i64 + 1;
    }
    let sum = Cents::checked_sum(lines.iter().map(|l| l.pay)).unwrap_or(Cents::ZERO);
    let count = lines.len() as i64;
    let psp = PSPS.iter().find(|p| p.id == psp_id);
    let date = format!("{:04}-{:02}-{:02}", day.0, day.1, day.2);
    let header = Flow {
        status: FlowStatus::Published,
        revision,
        created: Some(published.clone()),
        updated: Some(published.clone()),
        fdr: fdr.to_owned(),
        fdr_date: Some(format!("{date}T23:59:59.000000Z")),
        regulation: format!("SCT-{fdr}"),
        regulation_date: Some(date),
        bic_code_pouring_bank: Some("UNCRITMMXXX".into()),
        sender: Sender {
            kind: SenderType::AbiCode,
            id: psp.map_or_else(|| psp_id.to_owned(), |p| p.fiscal_code.to_owned()),
            psp_id: psp_id.to_owned(),
            psp_name: psp.map_or("PSP sandbox", |p| p.name).to_owned(),
            psp_broker_id: psp.map_or_else(|| psp_id.to_owned(), |p| p.fiscal_code.to_owned()),
            channel_id: psp.map_or_else(|| psp_id.to_owned(), |p| p.channel.to_owned()),
        },
        receiver: Receiver {
            id: organization.to_owned(),
            organization_id: organization.to_owned(),
            organization_name: "Ente creditore".into(),
        },
        published: Some(published),
        computed_tot_payments: Some(count),
        computed_sum_payments: Some(sum),
        tot_payments: count + i64::from(has("conteggio")),
        sum_payments: if has("totale") {
            Cents::new(sum.get() + 100)
        } else {
            sum
        },
    };
    (header, lines)
}

fn fdr_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(ErrorResponse {
            error_id: None,
            http_status_code: i32::from(status.as_u16()),
            http_status_description: status.canonical_reason().unwrap_or("").to_owned(),
            app_error_code: code.to_owned(),
            errors: vec![ErrorMessage {
                path: None,
                message: message.to_owned(),
            }],
        }),
    )
        .into_response()
}

fn key_ok(sb: &Sandbox, headers: &HeaderMap) -> bool {
    match &sb.config().fdr_api_key {
        None => true,
        Some(k) => headers
            .get("Ocp-Apim-Subscription-Key")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == k),
    }
}

/// `page` and `size` (at most 1000), or why not.
fn paging(q: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let num = |k: &str, default: usize, max: usize| -> Result<usize, String> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("{k}: valore non valido")),
        }
    };
    Ok((num("page", 1, usize::MAX)?, num("size", 1000, 1000)?))
}

fn page_meta(total: usize, page: usize, size: usize) -> PageMetadata {
    PageMetadata {
        page_size: size as i64,
        page_number: page as i64,
        tot_page: total.div_ceil(size).max(1) as i64,
    }
}

/// `GET …/organizations/{organizationId}/fdrs`.
pub async fn list(
    State(sb): State<Sandbox>,
    Path(organization): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !key_ok(&sb, &headers) {
        return fdr_error(StatusCode::UNAUTHORIZED, "FDR-0401", "chiave non valida");
    }
    let (page, size) = match paging(&q) {
        Ok(p) => p,
        Err(why) => return fdr_error(StatusCode::BAD_REQUEST, "FDR-0702", &why),
    };
    let after = match q.get("publishedGt").map(|v| parse_instant(v)) {
        Some(None) => {
            return fdr_error(
                StatusCode::BAD_REQUEST,
                "FDR-0702",
                "publishedGt non valido",
            );
        }
        Some(Some(t)) => Some(t),
        None => None,
    };
    let l = sb.inner.ledger.lock().expect("ledger lock");
    let all: Vec<FlowRef> = l
        .flows
        .iter()
        .filter(|f| f.organization == organization)
        .filter(|f| q.get("pspId").is_none_or(|p| *p == f.header.sender.psp_id))
        .filter(|f| {
            let published = f.header.published.as_deref().and_then(parse_instant);
            after.is_none_or(|a| published.is_some_and(|p| p > a))
        })
        .map(|f| FlowRef {
            fdr: f.header.fdr.clone(),
            psp_id: f.header.sender.psp_id.clone(),
            revision: f.header.revision,
            published: f.header.published.clone().unwrap_or_default(),
            flow_date: f.header.fdr_date.clone(),
        })
        .collect();
    let data: Vec<FlowRef> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    axum::Json(FlowsPage {
        metadata: page_meta(all.len(), page, size),
        count: data.len() as i64,
        data,
    })
    .into_response()
}

fn find<'a>(
    l: &'a Ledger,
    organization: &str,
    fdr: &str,
    revision: i64,
    psp: &str,
) -> Option<&'a Published> {
    l.flows.iter().find(|f| {
        f.organization == organization
            && f.header.fdr == fdr
            && f.header.revision == revision
            && f.header.sender.psp_id == psp
    })
}

/// `GET …/fdrs/{fdr}/revisions/{revision}/psps/{pspId}`.
pub async fn flow(
    State(sb): State<Sandbox>,
    Path((organization, fdr, revision, psp)): Path<(String, String, i64, String)>,
    headers: HeaderMap,
) -> Response {
    if !key_ok(&sb, &headers) {
        return fdr_error(StatusCode::UNAUTHORIZED, "FDR-0401", "chiave non valida");
    }
    let l = sb.inner.ledger.lock().expect("ledger lock");
    match find(&l, &organization, &fdr, revision, &psp) {
        Some(f) => axum::Json(f.header.clone()).into_response(),
        None => fdr_error(StatusCode::NOT_FOUND, "FDR-0701", "flusso non trovato"),
    }
}

/// `GET …/fdrs/{fdr}/revisions/{revision}/psps/{pspId}/payments`.
pub async fn payments(
    State(sb): State<Sandbox>,
    Path((organization, fdr, revision, psp)): Path<(String, String, i64, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !key_ok(&sb, &headers) {
        return fdr_error(StatusCode::UNAUTHORIZED, "FDR-0401", "chiave non valida");
    }
    let (page, size) = match paging(&q) {
        Ok(p) => p,
        Err(why) => return fdr_error(StatusCode::BAD_REQUEST, "FDR-0702", &why),
    };
    let l = sb.inner.ledger.lock().expect("ledger lock");
    if l.failing_flow.as_deref() == Some(fdr.as_str()) {
        return fdr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FDR-0500",
            "errore simulato",
        );
    }
    let Some(f) = find(&l, &organization, &fdr, revision, &psp) else {
        return fdr_error(StatusCode::NOT_FOUND, "FDR-0701", "flusso non trovato");
    };
    let data: Vec<FlowPayment> = f
        .payments
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    axum::Json(PaymentsPage {
        metadata: page_meta(f.payments.len(), page, size),
        count: data.len() as i64,
        data,
    })
    .into_response()
}

/// `GET {RECEIPTS_BASE}/organizations/{cf}/receipts/{iur}/paymentoptions/{iuv}`.
pub async fn receipt(
    State(sb): State<Sandbox>,
    Path((organization, iur, iuv)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !key_ok(&sb, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let l = sb.inner.ledger.lock().expect("ledger lock");
    let found = l.paid.iter().find(|p| {
        p.receipt.receipt_id == iur
            && p.receipt.creditor_reference_id == iuv
            && p.receipt.fiscal_code.as_str() == organization
    });
    match found {
        Some(p) => axum::Json(OrgReceipt::from_receipt(&p.receipt)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"title": "Not Found", "status": 404, "detail": "ricevuta non trovata"})
                .to_string(),
        )
            .into_response(),
    }
}

/// `POST /fdr/pubblica`: publishes the flows of every payment not yet reported (form fields
/// name the faults); answers JSON `{"flows": [{"fdr", "revision"}]}`.
pub async fn publish(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let faults: Vec<&str> = form
        .iter()
        .filter(|(_, v)| v.as_str() == "on")
        .map(|(k, _)| k.as_str())
        .collect();
    let published = sb.publish_flows(&faults);
    for (fdr, revision) in &published {
        sb.log_note(
            "FdR",
            "",
            &format!("flusso {fdr} revisione {revision} pubblicato"),
        );
    }
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        let items: String = published
            .iter()
            .map(|(f, r)| {
                format!(
                    "<li><code>{}</code> revisione {r}</li>",
                    crate::pages::esc(f)
                )
            })
            .collect();
        let body = if items.is_empty() {
            "<p>Nessun pagamento da rendicontare.</p>".to_owned()
        } else {
            format!("<ul>{items}</ul>")
        };
        return crate::pages::page(
            "Flussi pubblicati",
            &format!("{body}<p><a href=\"/\">Torna alla sandbox</a> · <a href=\"/tesoreria/camt053\">Estratto conto camt.053</a></p>"),
        )
        .into_response();
    }
    axum::Json(serde_json::json!({
        "flows": published.iter().map(|(f, r)| serde_json::json!({"fdr": f, "revision": r})).collect::<Vec<_>>()
    }))
    .into_response()
}

/// `POST /fdr/guasti`: `flusso_in_errore` = a flow id whose lines answer 500 (empty: none).
pub async fn faults(
    State(sb): State<Sandbox>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut l = sb.inner.ledger.lock().expect("ledger lock");
    l.failing_flow = form
        .get("flusso_in_errore")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /tesoreria/camt053`: the treasury's statement (camt.053.001.02) with one credit per
/// published flow (its latest revision), for the money its lines carry, with pagoPA's
/// remittance `/PUR/LGPE-RIVERSAMENTO/URI/<flow id>`.
pub async fn statement(State(sb): State<Sandbox>) -> Response {
    let l = sb.inner.ledger.lock().expect("ledger lock");
    let mut latest: BTreeMap<(String, String), &Published> = BTreeMap::new();
    for f in &l.flows {
        let k = (f.header.fdr.clone(), f.header.sender.psp_id.clone());
        if latest
            .get(&k)
            .is_none_or(|g| g.header.revision < f.header.revision)
        {
            latest.insert(k, f);
        }
    }
    let credits: Vec<pagopa::camt053::NewCredit> = latest
        .values()
        .enumerate()
        .map(|(i, f)| pagopa::camt053::NewCredit {
            reference: format!("SBX{:08}", i + 1),
            amount: Cents::checked_sum(f.payments.iter().map(|p| p.pay)).unwrap_or(Cents::ZERO),
            date: f.header.regulation_date.clone().unwrap_or_default(),
            debtor_name: f.header.sender.psp_name.clone(),
            remittance: format!("/PUR/LGPE-RIVERSAMENTO/URI/{}", f.header.fdr),
        })
        .filter(|c| c.amount.is_positive())
        .collect();
    let iban = sb
        .config()
        .treasury_iban
        .clone()
        .unwrap_or_else(|| "IT60X0542811101000000123456".into());
    let now = instant(time::OffsetDateTime::now_utc());
    let id = format!("SBX-{}", &now[..10]);
    let xml = pagopa::camt053::write_statement(&id, &now, &iban, &credits);
    (
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"estratto-conto-camt053.xml\"",
            ),
        ],
        xml,
    )
        .into_response()
}
