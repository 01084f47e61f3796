//! The sandbox's HTTP surface: Checkout's API, the pages a citizen sees on Checkout, the PSP
//! counter, and the message log. Pages are plain HTML in Italian, without JavaScript.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use pagopa::soap::{self, PaymentData, Receipt, TransferDestination, XsdDate, XsdDateTime};
use pagopa::{Cents, EcFiscalCode, NoticeNumber, QrPayload};

use crate::{Cart, CartState, Sandbox};
use pagopa::checkout::{self, CartRequest, is_email};

/// A simulated PSP.
pub struct Psp {
    /// `idPSP`.
    pub id: &'static str,
    /// Its fiscal code.
    pub fiscal_code: &'static str,
    /// `PSPCompanyName`.
    pub name: &'static str,
    /// `idChannel`.
    pub channel: &'static str,
    /// The fee per transaction.
    pub fee: Cents,
    /// `idBundle`.
    pub bundle: &'static str,
}

/// The PSPs a citizen can choose. Identifiers are the sandbox's own, shaped like pagoPA's.
pub const PSPS: [Psp; 3] = [
    Psp {
        id: "BCITITMM",
        fiscal_code: "00799960158",
        name: "Intesa Sanpaolo S.p.A.",
        channel: "00799960158_01",
        fee: Cents::new(150),
        bundle: "sandbox-bundle-intesa",
    },
    Psp {
        id: "PAYTITM1",
        fiscal_code: "08966780963",
        name: "Paytipper S.p.A.",
        channel: "08966780963_01",
        fee: Cents::new(99),
        bundle: "sandbox-bundle-paytipper",
    },
    Psp {
        id: "BPPIITRRXXX",
        fiscal_code: "97103880585",
        name: "Poste Italiane",
        channel: "97103880585_01",
        fee: Cents::new(200),
        bundle: "sandbox-bundle-poste",
    },
];

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    /// Paid, receipt delivered at once.
    Ok,
    /// Refused by the issuer: nothing activated, nothing paid.
    Declined,
    /// The receipt is delivered twice (the same receiptId).
    ReceiptTwice,
    /// The receipt arrives after the configured delay.
    ReceiptDelayed,
    /// The first delivery gets no answer (lost): the node retries with backoff.
    StationKoThenOk,
    /// The station cannot be reached for the receipt: every attempt fails.
    StationUnreachable,
}

/// The documented test cards.
pub const TEST_CARDS: [(&str, CardBehaviour, &str); 6] = [
    (
        "4242424242424242",
        CardBehaviour::Ok,
        "pagamento riuscito, ricevuta inviata subito",
    ),
    (
        "4000000000000002",
        CardBehaviour::Declined,
        "carta rifiutata: nessun pagamento",
    ),
    (
        "4000000000000259",
        CardBehaviour::ReceiptTwice,
        "ricevuta consegnata due volte (stesso receiptId)",
    ),
    (
        "4000000000009995",
        CardBehaviour::ReceiptDelayed,
        "ricevuta in ritardo (ritardo configurato)",
    ),
    (
        "4000000000000119",
        CardBehaviour::StationKoThenOk,
        "primo invio della ricevuta senza risposta, poi ripetuto con backoff",
    ),
    (
        "4000000000000044",
        CardBehaviour::StationUnreachable,
        "stazione irraggiungibile per la ricevuta: tentativi esauriti",
    ),
];

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="it">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} – pagoPA (sandbox)</title><link rel="stylesheet" href="/sandbox.css"></head>
<body>
<div class="banner" role="note"><strong>SANDBOX – nessun pagamento reale</strong></div>
<header><p class="brand"><a href="/">pagoPA <span>Checkout (simulato)</span></a></p>
<nav aria-label="Sandbox"><ul><li><a href="/psp">Sportello PSP</a></li><li><a href="/messages">Messaggi</a></li></ul></nav></header>
<main id="main">
<h1>{t}</h1>
{body}
</main>
</body></html>"#,
        t = esc(title),
    ))
}

fn status_page(status: StatusCode, title: &str, body: &str) -> Response {
    (status, page(title, body)).into_response()
}

/// The sandbox's stylesheet: plain, readable, high contrast.
pub async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        r#"body{font-family:"Titillium Web",system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f5f7fa;line-height:1.5}
.banner{background:#a61919;color:#fff;text-align:center;padding:.4rem;font-size:1.05rem}
header{background:#0059b3;color:#fff;padding:.6rem 1.5rem;display:flex;justify-content:space-between;align-items:center;flex-wrap:wrap}
header a{color:#fff}.brand{font-weight:700;font-size:1.3rem;margin:0}.brand span{font-weight:400}
nav ul{list-style:none;margin:0;padding:0;display:flex;gap:1.2rem}
main{max-width:60rem;margin:1.5rem auto;background:#fff;padding:1.5rem 2rem;border-radius:4px}
h1{color:#003366;margin-top:0}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #c5c7c9;padding:.4rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}label{display:block;font-weight:600;margin-top:.8rem}
input[type=text],input[type=email],textarea,select{font:inherit;padding:.4rem;border:1px solid #5c6f82;border-radius:3px;width:100%;max-width:28rem;box-sizing:border-box}
fieldset{border:1px solid #c5c7c9;margin:1rem 0;padding:.6rem 1rem}legend{font-weight:700}
.choice label{display:inline;font-weight:400;margin:0}.choice div{margin:.3rem 0}
button{font:inherit;font-weight:700;padding:.5rem 1.4rem;border-radius:4px;border:2px solid #0059b3;background:#0059b3;color:#fff;margin:1rem .5rem 0 0;cursor:pointer}
button.secondary{background:#fff;color:#0059b3}a{color:#0059b3}
.alert{border-left:6px solid #a61919;background:#fbeaea;padding:.6rem 1rem;margin:1rem 0}
.ok{border-left:6px solid #00734a;background:#e6f4ee;padding:.6rem 1rem;margin:1rem 0}
pre{white-space:pre-wrap;word-break:break-all;background:#f2f2f2;padding:.5rem;font-size:.8rem;max-height:20rem;overflow:auto}
details{margin:.3rem 0}.total{font-size:1.2rem;font-weight:700}"#,
    )
        .into_response()
}

fn cards_table() -> String {
    let mut s = String::from(
        "<table><caption>Carte di prova (scadenza futura qualsiasi, CVV qualsiasi di 3 cifre)</caption><thead><tr><th scope=\"col\">Numero</th><th scope=\"col\">Effetto</th></tr></thead><tbody>",
    );
    for (n, _, what) in TEST_CARDS {
        let grouped: Vec<&str> = (0..4).map(|i| &n[i * 4..i * 4 + 4]).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            grouped.join(" "),
            esc(what)
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// `GET /`: what the sandbox is and how to use it.
pub async fn home(State(sb): State<Sandbox>) -> Response {
    let stations: String = sb
        .config()
        .stations
        .iter()
        .map(|s| {
            format!(
                "<li>{} ({}), stazione {} → <code>{}</code></li>",
                esc(&s.name),
                esc(&s.fiscal_code),
                esc(&s.id_station),
                esc(&s.url)
            )
        })
        .collect();
    page(
        "Sandbox pagoPA",
        &format!(
            "<p>Simulazione di pagoPA Checkout, del nodo dei pagamenti e dei PSP. Parla con la stazione dell'ente \
             con i messaggi reali (<code>paVerifyPaymentNotice</code>, <code>paGetPaymentV2</code>, <code>paSendRTV2</code>).</p>\
             <h2>Enti collegati</h2><ul>{stations}</ul>\
             <h2>Carte di prova</h2>{cards}\
             <h2>Strumenti</h2><ul><li><a href=\"/psp\">Sportello PSP: paga un avviso cartaceo</a></li>\
             <li><a href=\"/messages\">Registro dei messaggi scambiati</a></li>\
             <li><a href=\"/tesoreria/camt053\">Estratto conto della tesoreria (camt.053)</a></li></ul>\
             <h2>Rendicontazione</h2><p>Pubblica un flusso per PSP e giorno con i pagamenti non ancora rendicontati. \
             Guasti da simulare nel primo flusso:</p>\
             <form method=\"post\" action=\"/fdr/pubblica\">{faults}<button type=\"submit\">Pubblica i flussi</button></form>",
            cards = cards_table(),
            faults = crate::reporting::FAULTS
                .iter()
                .map(|(name, label)| format!(
                    "<p><input type=\"checkbox\" id=\"f-{name}\" name=\"{name}\" value=\"on\"> <label for=\"f-{name}\">{label}</label></p>"
                ))
                .collect::<String>()
        ),
    )
    .into_response()
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        })
        .to_string(),
    )
        .into_response()
}

/// `POST /checkout/ec/v1/carts`: Checkout's EC API.
pub async fn post_carts(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(key) = &sb.config().checkout_api_key {
        let given = headers
            .get("Ocp-Apim-Subscription-Key")
            .and_then(|v| v.to_str().ok());
        if given != Some(key.as_str()) {
            return problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "missing or invalid subscription key",
            );
        }
    }
    let req: CartRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &e.to_string()),
    };
    let valid = match checkout::validate(req) {
        Ok(v) => v,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &detail),
    };
    let id = sb.fresh_id();
    sb.add_cart(Cart {
        id: id.clone(),
        request: valid,
        state: CartState::Open,
    });
    let location = format!("{}/checkout/carts/{id}", sb.config().public_url);
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn not_found() -> Response {
    status_page(
        StatusCode::NOT_FOUND,
        "Carrello non trovato",
        "<p>Il carrello richiesto non esiste o è scaduto.</p>",
    )
}

fn closed_page(cart: &Cart) -> Response {
    let what = match cart.state {
        CartState::Paid => "Questo carrello è già stato pagato.",
        CartState::Cancelled => "Questo pagamento è stato annullato.",
        _ => "Questo pagamento non è andato a buon fine.",
    };
    status_page(
        StatusCode::CONFLICT,
        "Carrello chiuso",
        &format!(
            "<p>{what}</p><p><a href=\"{}\">Torna al sito dell'ente</a></p>",
            esc(&cart.request.return_error_url)
        ),
    )
}

/// `GET /checkout/carts/{id}`: verify every notice with its station, then the payment form.
pub async fn cart_page(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let Some(cart) = sb.cart(&id) else {
        return not_found();
    };
    if cart.state != CartState::Open {
        return closed_page(&cart);
    }
    let mut rows = String::new();
    let mut errors = Vec::new();
    let mut total = Cents::ZERO;
    for n in &cart.request.notices {
        let note = format!("carrello {id}");
        let verified = sb.verify(&n.fiscal_code, &n.notice_number, &note).await;
        let (amount, description) = match &verified {
            Ok(r) => (
                r.payment_list
                    .as_ref()
                    .map(|p| p.amount)
                    .unwrap_or(n.amount),
                r.payment_description
                    .clone()
                    .unwrap_or_else(|| n.description.clone()),
            ),
            Err(e) => {
                errors.push(format!(
                    "Avviso {}: {}",
                    grouped(&n.notice_number),
                    e.italian()
                ));
                (n.amount, n.description.clone())
            }
        };
        total = total.checked_add(amount).unwrap_or(total);
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&description),
            esc(&n.company_name),
            grouped(&n.notice_number),
            amount
        );
    }
    let table = format!(
        "<table><caption>Avvisi da pagare</caption><thead><tr><th scope=\"col\">Oggetto</th><th scope=\"col\">Ente creditore</th>\
         <th scope=\"col\">Codice avviso</th><th scope=\"col\" class=\"n\">Importo</th></tr></thead><tbody>{rows}</tbody>\
         <tfoot><tr><th scope=\"row\" colspan=\"3\">Totale</th><td class=\"n total\">{total}</td></tr></tfoot></table>"
    );
    if !errors.is_empty() {
        let list: String = errors
            .iter()
            .map(|e| format!("<li>{}</li>", esc(e)))
            .collect();
        return status_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Non è possibile pagare",
            &format!(
                "<div class=\"alert\" role=\"alert\"><ul>{list}</ul></div>{table}\
                 <p><a href=\"{}\">Torna al sito dell'ente</a></p>",
                esc(&cart.request.return_error_url)
            ),
        );
    }
    let psps: String = PSPS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "<div><input type=\"radio\" name=\"psp\" id=\"psp-{id}\" value=\"{id}\"{checked}> \
                 <label for=\"psp-{id}\">{name} – commissione {fee}</label></div>",
                id = p.id,
                name = esc(p.name),
                fee = p.fee,
                checked = if i == 0 { " checked" } else { "" }
            )
        })
        .collect();
    let email = cart.request.email_notice.clone().unwrap_or_default();
    let policy = cart_policy(&cart);
    let html = page(
        "Paga con pagoPA",
        &format!(
            "{table}\
             <form method=\"post\" action=\"/checkout/carts/{id}/paga\">\
             <label for=\"email\">Indirizzo e-mail per la ricevuta</label>\
             <input type=\"email\" id=\"email\" name=\"email\" value=\"{email}\" required autocomplete=\"email\">\
             <fieldset class=\"choice\"><legend>Scegli chi gestisce il pagamento</legend>{psps}</fieldset>\
             <fieldset><legend>Carta di pagamento</legend>\
             <label for=\"titolare\">Titolare della carta</label><input type=\"text\" id=\"titolare\" name=\"titolare\" autocomplete=\"cc-name\" required>\
             <label for=\"carta\">Numero della carta</label><input type=\"text\" id=\"carta\" name=\"carta\" inputmode=\"numeric\" autocomplete=\"cc-number\" required>\
             <label for=\"scadenza\">Scadenza (mm/aa)</label><input type=\"text\" id=\"scadenza\" name=\"scadenza\" autocomplete=\"cc-exp\" required>\
             <label for=\"cvv\">Codice di sicurezza (CVV)</label><input type=\"text\" id=\"cvv\" name=\"cvv\" inputmode=\"numeric\" autocomplete=\"cc-csc\" required>\
             </fieldset>\
             <p>La commissione del prestatore scelto si aggiunge al totale.</p>\
             <button type=\"submit\">Paga</button></form>\
             <form method=\"post\" action=\"/checkout/carts/{id}/annulla\"><button type=\"submit\" class=\"secondary\">Annulla e torna al sito dell'ente</button></form>\
             <details><summary>Carte di prova</summary>{cards}</details>",
            email = esc(&email),
            cards = cards_table()
        ),
    );
    ([(header::CONTENT_SECURITY_POLICY, policy)], html).into_response()
}

/// The Checkout page's policy: [`crate::POLICY`] with `form-action` widened to the origins the
/// pay and cancel forms redirect to (the cart's `returnOkUrl` and `returnCancelUrl`).
pub fn cart_policy(cart: &Cart) -> String {
    let mut targets = vec!["'self'".to_owned()];
    for url in [&cart.request.return_ok_url, &cart.request.return_cancel_url] {
        // Validated as http(s) URLs when the cart was created; an origin is plain ASCII.
        if let Some(origin) = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(|u| u.origin().ascii_serialization())
        {
            if !targets.contains(&origin) {
                targets.push(origin);
            }
        }
    }
    crate::POLICY.replace(
        "form-action 'self'",
        &format!("form-action {}", targets.join(" ")),
    )
}

fn grouped(nav: &str) -> String {
    NoticeNumber::parse(nav)
        .map(|n| n.grouped())
        .unwrap_or_else(|_| esc(nav))
}

/// `POST /checkout/carts/{id}/annulla`: back to the EC's cancel URL.
pub async fn cancel(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let Some(cart) = sb.cart(&id) else {
        return not_found();
    };
    if !sb.close_cart(&id, CartState::Cancelled) {
        return closed_page(&cart);
    }
    Redirect::to(&cart.request.return_cancel_url).into_response()
}

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn card_error(form: &HashMap<String, String>) -> Option<&'static str> {
    let card: String = form
        .get("carta")
        .map(|c| {
            c.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect()
        })
        .unwrap_or_default();
    if !(13..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) || !luhn(&card)
    {
        return Some("Il numero della carta non è valido.");
    }
    let exp = form.get("scadenza").map(|s| s.trim()).unwrap_or("");
    let exp_ok = exp.len() == 5
        && exp.as_bytes()[2] == b'/'
        && exp[..2].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
        && exp[3..].parse::<u8>().is_ok();
    if !exp_ok {
        return Some("La scadenza deve essere nella forma mm/aa.");
    }
    let cvv = form.get("cvv").map(|s| s.trim()).unwrap_or("");
    if !(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Some("Il codice di sicurezza deve avere 3 o 4 cifre.");
    }
    if form.get("titolare").is_none_or(|t| t.trim().is_empty()) {
        return Some("Indica il titolare della carta.");
    }
    None
}

fn behaviour(form: &HashMap<String, String>) -> CardBehaviour {
    let card: String = form
        .get("carta")
        .map(|c| c.chars().filter(|c| c.is_ascii_digit()).collect())
        .unwrap_or_default();
    TEST_CARDS
        .iter()
        .find(|(n, _, _)| *n == card)
        .map(|(_, b, _)| *b)
        .unwrap_or(CardBehaviour::Ok)
}

/// `POST /checkout/carts/{id}/paga`: authorise the card, activate every notice, send the
/// receipts (in the background, as the node does), and send the citizen back to the EC.
pub async fn pay(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(cart) = sb.cart(&id) else {
        return not_found();
    };
    if cart.state != CartState::Open {
        return closed_page(&cart);
    }
    let back = format!(
        "<p><a href=\"/checkout/carts/{}\">Torna al pagamento</a></p>",
        esc(&id)
    );
    let email = form.get("email").map(|s| s.trim()).unwrap_or("");
    if !is_email(email) {
        return status_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dati non validi",
            &format!(
                "<div class=\"alert\" role=\"alert\">Indica un indirizzo e-mail valido.</div>{back}"
            ),
        );
    }
    let Some(psp) = PSPS
        .iter()
        .find(|p| form.get("psp").map(String::as_str) == Some(p.id))
    else {
        return status_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dati non validi",
            &format!(
                "<div class=\"alert\" role=\"alert\">Scegli chi gestisce il pagamento.</div>{back}"
            ),
        );
    };
    if let Some(e) = card_error(&form) {
        return status_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dati non validi",
            &format!("<div class=\"alert\" role=\"alert\">{e}</div>{back}"),
        );
    }
    let behaviour = behaviour(&form);
    let error_link = format!(
        "<p><a href=\"{}\">Torna al sito dell'ente</a></p>",
        esc(&cart.request.return_error_url)
    );
    if behaviour == CardBehaviour::Declined {
        sb.close_cart(&id, CartState::Failed);
        sb.log_note(
            "autorizzazione",
            "",
            &format!("carrello {id}: carta rifiutata dall'emittente"),
        );
        return status_page(
            StatusCode::PAYMENT_REQUIRED,
            "Pagamento rifiutato",
            &format!(
                "<div class=\"alert\" role=\"alert\">La banca che ha emesso la carta ha rifiutato il pagamento. Nessun importo è stato addebitato.</div>{error_link}"
            ),
        );
    }
    // Activation of every notice first: a cart is paid whole or not at all.
    let mut activated = Vec::new();
    for n in &cart.request.notices {
        let note = format!("carrello {id}");
        match sb
            .activate(
                &n.fiscal_code,
                &n.notice_number,
                n.amount,
                cart.request.id_cart.as_deref(),
                &note,
            )
            .await
        {
            Ok(data) => activated.push((n.clone(), data)),
            Err(e) => {
                sb.close_cart(&id, CartState::Failed);
                return status_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Pagamento non riuscito",
                    &format!(
                        "<div class=\"alert\" role=\"alert\">Avviso {}: {} Nessun importo è stato addebitato.</div>{error_link}",
                        grouped(&n.notice_number),
                        esc(&e.italian())
                    ),
                );
            }
        }
    }
    if !sb.close_cart(&id, CartState::Paid) {
        return closed_page(&cart);
    }
    let receipts: Vec<(EcFiscalCode, Receipt)> = activated
        .iter()
        .enumerate()
        .map(|(i, (n, data))| {
            (
                n.fiscal_code.clone(),
                build_receipt(
                    &sb,
                    &n.notice_number,
                    &n.fiscal_code,
                    data,
                    psp,
                    "CP",
                    Some(email),
                    cart.request.id_cart.as_deref(),
                    // The fee is per transaction: the first receipt carries it.
                    if i == 0 { psp.fee } else { Cents::ZERO },
                ),
            )
        })
        .collect();
    let sender = sb.clone();
    let delay = sb.config().receipt_delay;
    tokio::spawn(async move {
        if behaviour == CardBehaviour::ReceiptDelayed {
            tokio::time::sleep(delay).await;
        }
        for (cf, receipt) in receipts {
            match behaviour {
                CardBehaviour::StationUnreachable => {
                    sender
                        .send_receipt(&cf, receipt, false, Some("http://127.0.0.1:9/".into()))
                        .await;
                }
                CardBehaviour::StationKoThenOk => {
                    sender.send_receipt(&cf, receipt, true, None).await;
                }
                CardBehaviour::ReceiptTwice => {
                    sender.send_receipt(&cf, receipt.clone(), false, None).await;
                    sender.send_receipt(&cf, receipt, false, None).await;
                }
                _ => {
                    sender.send_receipt(&cf, receipt, false, None).await;
                }
            }
        }
    });
    Redirect::to(&cart.request.return_ok_url).into_response()
}

fn today() -> (XsdDate, XsdDateTime) {
    let t = time::OffsetDateTime::now_utc();
    let date = XsdDate::from_ymd(t.year() as u32, u8::from(t.month()).into(), t.day().into())
        .expect("today is a date");
    let dt = XsdDateTime::parse(&format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
    .expect("a valid date-time");
    (date, dt)
}

/// A complete `paSendRTV2` receipt for an activated notice.
#[expect(clippy::too_many_arguments, reason = "one receipt, many sources")]
fn build_receipt(
    sb: &Sandbox,
    notice_number: &str,
    fiscal_code: &EcFiscalCode,
    data: &PaymentData,
    psp: &Psp,
    method: &str,
    email: Option<&str>,
    payment_note: Option<&str>,
    fee: Cents,
) -> Receipt {
    let (date, date_time) = today();
    let transfers = data
        .transfers
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if let TransferDestination::MarcaDaBollo(_) = t.destination {
                // The PSP sold the stamp: the receipt carries its attachment (simulated).
                t.destination = TransferDestination::MbdAttachment("U0FOREJPWA==".into());
            }
            t
        })
        .collect();
    // pagoPA's payer is who paid; Checkout knows only the e-mail, so the debtor stands in.
    let mut payer = data.debtor.clone();
    if let Some(e) = email.filter(|e| is_email(e)) {
        payer.email = Some(e.to_owned());
    }
    Receipt {
        receipt_id: sb.fresh_id(),
        notice_number: notice_number.to_owned(),
        fiscal_code: fiscal_code.clone(),
        outcome: soap::Outcome::Ok,
        creditor_reference_id: data.creditor_reference_id.clone(),
        payment_amount: data.payment_amount,
        description: data.description.clone(),
        company_name: data
            .company_name
            .clone()
            .unwrap_or_else(|| "Ente creditore".into()),
        office_name: data.office_name.clone(),
        debtor: data.debtor.clone(),
        transfers,
        id_psp: psp.id.into(),
        psp_fiscal_code: Some(psp.fiscal_code.into()),
        psp_partita_iva: Some(psp.fiscal_code.into()),
        psp_company_name: psp.name.into(),
        id_channel: psp.channel.into(),
        // The kind of channel (the node's stPaymentChannel): cash at a counter, or Checkout.
        channel_description: if method == "cash" {
            "frontOffice"
        } else {
            "onLine"
        }
        .into(),
        payer: Some(payer),
        payment_method: Some(method.into()),
        payment_note: payment_note.map(|n| n.chars().take(210).collect()),
        fee: Some(fee),
        primary_ci_incurred_fee: Some(Cents::ZERO),
        id_bundle: Some(psp.bundle.into()),
        id_ci_bundle: None,
        payment_date_time: Some(date_time),
        application_date: Some(date.clone()),
        transfer_date: Some(date),
        metadata: Vec::new(),
        stand_in: Some(false),
    }
}

const COUNTER_FORM: &str = "<p>Paga un avviso cartaceo come in banca, alla posta o in tabaccheria (modello 3): \
    indica il codice avviso e il codice fiscale dell'ente, oppure incolla il contenuto del codice QR.</p>\
    <form method=\"post\" action=\"/psp\"><input type=\"hidden\" name=\"azione\" value=\"verifica\">\
    <label for=\"codice\">Codice avviso</label><input type=\"text\" id=\"codice\" name=\"codice\" inputmode=\"numeric\">\
    <label for=\"ente\">Codice fiscale dell'ente creditore</label><input type=\"text\" id=\"ente\" name=\"ente\" inputmode=\"numeric\">\
    <label for=\"qr\">Oppure: contenuto del codice QR (PAGOPA|002|…)</label><textarea id=\"qr\" name=\"qr\" rows=\"2\"></textarea>\
    <button type=\"submit\">Verifica l'avviso</button></form>";

/// `GET /psp`: the PSP counter.
pub async fn counter() -> Response {
    page("Sportello PSP", COUNTER_FORM).into_response()
}

fn counter_error(msg: &str) -> Response {
    status_page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Sportello PSP",
        &format!(
            "<div class=\"alert\" role=\"alert\">{}</div>{COUNTER_FORM}",
            esc(msg)
        ),
    )
}

/// `POST /psp`: verify a paper notice, then (second step) take the cash and pay it.
pub async fn counter_post(
    State(sb): State<Sandbox>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(|s| s.trim()).unwrap_or("").to_owned();
    let qr = field("qr");
    let (nav, cf) = if !qr.is_empty() {
        match QrPayload::parse(&qr) {
            Ok(p) => (p.notice, p.ec_fiscal_code),
            Err(e) => return counter_error(&format!("Codice QR non valido: {e}")),
        }
    } else {
        let nav = match NoticeNumber::parse(&field("codice")) {
            Ok(n) => n,
            Err(e) => return counter_error(&format!("Codice avviso non valido: {e}")),
        };
        match EcFiscalCode::parse(&field("ente")) {
            Ok(cf) => (nav, cf),
            Err(e) => return counter_error(&format!("Codice fiscale dell'ente non valido: {e}")),
        }
    };
    let note = "sportello PSP";
    if field("azione") != "paga" {
        let verified = match sb.verify(&cf, nav.as_str(), note).await {
            Ok(v) => v,
            Err(e) => return counter_error(&e.italian()),
        };
        let Some(option) = verified.payment_list else {
            return counter_error("Risposta dell'ente senza importo.");
        };
        let psps: String = PSPS
            .iter()
            .map(|p| format!("<option value=\"{}\">{}</option>", p.id, esc(p.name)))
            .collect();
        return page(
            "Sportello PSP",
            &format!(
                "<table><tbody><tr><th scope=\"row\">Ente creditore</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Oggetto</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Codice avviso</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Importo</th><td class=\"total\">{}</td></tr></tbody></table>\
                 <form method=\"post\" action=\"/psp\"><input type=\"hidden\" name=\"azione\" value=\"paga\">\
                 <input type=\"hidden\" name=\"codice\" value=\"{}\"><input type=\"hidden\" name=\"ente\" value=\"{}\">\
                 <input type=\"hidden\" name=\"importo\" value=\"{}\">\
                 <label for=\"psp\">Prestatore</label><select id=\"psp\" name=\"psp\">{psps}</select>\
                 <label for=\"consegna\">Ricevuta all'ente (simulazione)</label><select id=\"consegna\" name=\"consegna\">\
                 <option value=\"normale\">consegnata subito</option>\
                 <option value=\"standin\">stand-in: la stazione non risponde, la ricevuta non arriva</option>\
                 <option value=\"persa\">persa: paSendRT non arriva mai alla stazione</option></select>\
                 <button type=\"submit\">Incassa in contanti e paga</button></form>",
                esc(verified.company_name.as_deref().unwrap_or("")),
                esc(verified.payment_description.as_deref().unwrap_or("")),
                nav.grouped(),
                option.amount,
                nav.as_str(),
                cf.as_str(),
                option.amount.get()
            ),
        )
        .into_response();
    }
    let psp = PSPS
        .iter()
        .find(|p| field("psp") == p.id)
        .unwrap_or(&PSPS[2]);
    let Ok(amount) = field("importo").parse::<i64>().map(Cents::new) else {
        return counter_error("Importo mancante: verifica di nuovo l'avviso.");
    };
    let data = match sb.activate(&cf, nav.as_str(), amount, None, note).await {
        Ok(d) => d,
        Err(e) => return counter_error(&e.italian()),
    };
    let receipt = build_receipt(
        &sb,
        nav.as_str(),
        &cf,
        &data,
        psp,
        "cash",
        None,
        None,
        psp.fee,
    );
    let receipt_id = receipt.receipt_id.clone();
    if field("consegna") == "persa" {
        sb.send_receipt(&cf, receipt, false, Some("http://127.0.0.1:9/".into()))
            .await;
        return page(
            "Pagamento eseguito (ricevuta persa)",
            &format!(
                "<div class=\"ok\" role=\"status\">Avviso {} pagato: la ricevuta non è arrivata all'ente.</div>\
                 <p>Identificativo della ricevuta: <code>{}</code></p><p><a href=\"/psp\">Nuovo pagamento</a></p>",
                nav.grouped(),
                esc(&receipt_id)
            ),
        )
        .into_response();
    }
    if field("consegna") == "standin" {
        // The node took the payment in stand-in: the station never hears of it until the
        // reporting flow lists it (and the EC recovers the receipt from pagoPA).
        let mut receipt = receipt;
        receipt.stand_in = Some(true);
        sb.record_paid(&receipt, true);
        sb.log_note(
            "paSendRTV2",
            "",
            &format!(
                "avviso {}: pagato in stand-in, ricevuta non inviata all'ente",
                nav.as_str()
            ),
        );
        return page(
            "Pagamento eseguito (stand-in)",
            &format!(
                "<div class=\"ok\" role=\"status\">Avviso {} pagato in stand-in: l'ente non ha ricevuto la ricevuta.</div>\
                 <p>Identificativo della ricevuta: <code>{}</code></p><p><a href=\"/psp\">Nuovo pagamento</a></p>",
                nav.grouped(),
                esc(&receipt_id)
            ),
        )
        .into_response();
    }
    if sb.send_receipt(&cf, receipt, false, None).await {
        page(
            "Pagamento eseguito",
            &format!(
                "<div class=\"ok\" role=\"status\">Avviso {} pagato: {} più {} di commissione.</div>\
                 <p>Identificativo della ricevuta: <code>{}</code></p><p><a href=\"/psp\">Nuovo pagamento</a></p>",
                nav.grouped(),
                data.payment_amount,
                psp.fee,
                esc(&receipt_id)
            ),
        )
        .into_response()
    } else {
        status_page(
            StatusCode::BAD_GATEWAY,
            "Ricevuta non consegnata",
            "<div class=\"alert\" role=\"alert\">Il pagamento è stato incassato ma l'ente non ha ancora ricevuto la ricevuta: il nodo riproverà.</div><p><a href=\"/messages\">Vedi i messaggi</a></p>",
        )
    }
}

/// `GET /messages`: every message exchanged, newest first.
pub async fn messages(State(sb): State<Sandbox>) -> Response {
    let mut body = String::from(
        "<p>Ogni messaggio SOAP scambiato con le stazioni, con il testo integrale, dal più recente.</p>\
         <table><thead><tr><th scope=\"col\">Ora (UTC)</th><th scope=\"col\">Operazione</th><th scope=\"col\">Esito</th>\
         <th scope=\"col\">Fault / errore</th><th scope=\"col\" class=\"n\">Durata</th><th scope=\"col\">Dettagli</th></tr></thead><tbody>",
    );
    for m in sb.messages().iter().rev() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td class=\"n\">{} ms</td><td>",
            esc(&m.at),
            esc(&m.operation),
            esc(&m.note),
            esc(&m.outcome),
            esc(&m.fault),
            m.duration.as_millis()
        );
        if !m.request.is_empty() {
            let _ = write!(
                body,
                "<details><summary>Richiesta a {}</summary><pre>{}</pre></details>\
                 <details><summary>Risposta (HTTP {})</summary><pre>{}</pre></details>",
                esc(&m.url),
                esc(&m.request),
                m.http_status.map(|s| s.to_string()).unwrap_or("—".into()),
                esc(&m.response)
            );
        }
        body.push_str("</td></tr>");
    }
    body.push_str("</tbody></table>");
    page("Messaggi scambiati", &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(card: &str, exp: &str, cvv: &str) -> HashMap<String, String> {
        [
            ("carta", card),
            ("scadenza", exp),
            ("cvv", cvv),
            ("titolare", "Mario Rossi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn every_documented_test_card_is_a_valid_number_with_its_behaviour() {
        for (number, expected, _) in TEST_CARDS {
            let f = form(number, "12/30", "123");
            assert_eq!(card_error(&f), None, "{number}");
            assert_eq!(behaviour(&f), expected, "{number}");
        }
        // Grouped with spaces, as people type it.
        let f = form("4000 0000 0000 0002", "12/30", "123");
        assert_eq!(behaviour(&f), CardBehaviour::Declined);
        // Any other valid number pays.
        assert_eq!(
            behaviour(&form("5555555555554444", "12/30", "123")),
            CardBehaviour::Ok
        );
    }

    #[test]
    fn bad_card_data_is_refused_in_italian() {
        assert!(card_error(&form("4242424242424241", "12/30", "123")).is_some());
        assert!(card_error(&form("4242", "12/30", "123")).is_some());
        assert!(card_error(&form("4242424242424242", "13/30", "123")).is_some());
        assert!(card_error(&form("4242424242424242", "1230", "123")).is_some());
        assert!(card_error(&form("4242424242424242", "12/30", "12")).is_some());
        let mut f = form("4242424242424242", "12/30", "123");
        f.insert("titolare".into(), " ".into());
        assert_eq!(card_error(&f), Some("Indica il titolare della carta."));
    }

    #[test]
    fn receipts_are_complete_and_valid_against_the_schema() {
        use pagopa::soap::{EntityType, Request, Subject, Transfer};
        let sb = Sandbox::new(crate::SandboxConfig::new("http://127.0.0.1:1", Vec::new()));
        let ec = EcFiscalCode::parse("00229080338").unwrap();
        let debtor = Subject {
            entity_type: EntityType::F,
            entity_value: "RSSMRA80A01H501U".into(),
            full_name: "Mario Rossi".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            state_province_region: None,
            country: None,
            email: None,
        };
        let data = PaymentData {
            creditor_reference_id: "01000000000000144".into(),
            payment_amount: Cents::new(12345),
            due_date: XsdDate::from_ymd(2030, 1, 31).unwrap(),
            retention_date: None,
            last_payment: None,
            description: "TARI".into(),
            company_name: Some("Comune di Piacenza".into()),
            office_name: None,
            debtor,
            transfers: vec![Transfer {
                id_transfer: 1,
                transfer_amount: Cents::new(12345),
                fiscal_code_pa: ec.clone(),
                company_name: None,
                destination: TransferDestination::Iban("IT60X0542811101000000123456".into()),
                remittance_information: "TARI".into(),
                transfer_category: "9/0101101IM/".into(),
                metadata: Vec::new(),
            }],
            metadata: Vec::new(),
        };
        let nav = "301000000000000144";
        let a = build_receipt(
            &sb,
            nav,
            &ec,
            &data,
            &PSPS[0],
            "CP",
            Some("p@example.it"),
            Some("cart-1"),
            PSPS[0].fee,
        );
        let b = build_receipt(
            &sb,
            nav,
            &ec,
            &data,
            &PSPS[0],
            "CP",
            None,
            None,
            Cents::ZERO,
        );
        assert_ne!(a.receipt_id, b.receipt_id, "receipt ids are unique");
        assert_eq!(a.payment_note.as_deref(), Some("cart-1"));
        assert_eq!(
            a.payer.as_ref().unwrap().email.as_deref(),
            Some("p@example.it")
        );
        assert_eq!(a.fee, Some(Cents::new(150)));
        assert_eq!(a.stand_in, Some(false));
        assert!(a.payment_date_time.is_some() && a.application_date.is_some());
        let req = Request::SendRt(pagopa::soap::PaSendRtReq {
            version: pagopa::soap::Version::V2,
            ids: pagopa::soap::StationIds {
                id_pa: "00229080338".into(),
                id_broker_pa: "00229080338".into(),
                id_station: "00229080338_01".into(),
            },
            receipt: a,
        });
        let xml = req.encode();
        assert_eq!(Request::decode(&xml, Some("paSendRTV2")).unwrap(), req);
    }

    #[test]
    fn the_checkout_page_lets_its_forms_return_to_the_ec_and_nowhere_else() {
        let request = checkout::validate(
            serde_json::from_str(
                r#"{"paymentNotices":[{"noticeNumber":"301000000000000144","fiscalCode":"00229080338","amount":100,"companyName":"C","description":"D"}],
                "returnUrls":{"returnOkUrl":"http://127.0.0.1:8080/pagamenti/esito/1/ok","returnCancelUrl":"http://127.0.0.1:8080/pagamenti/esito/1/annullato","returnErrorUrl":"https://errors.example.it/x"}}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let cart = Cart {
            id: "c1".into(),
            request,
            state: CartState::Open,
        };
        assert_eq!(
            cart_policy(&cart),
            "default-src 'none'; style-src 'self'; form-action 'self' http://127.0.0.1:8080; frame-ancestors 'none'; base-uri 'none'"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
    }
}
