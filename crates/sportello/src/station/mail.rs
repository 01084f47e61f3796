//! The e-mails a receipt causes, queued in the receipt's own transaction: to the payer, and to
//! the debtor when someone else paid for them. Italian, plain text with a simple HTML twin.

use pagopa::NoticeNumber;
use pagopa::soap::Receipt;

use super::ReceiptDisposition;
use crate::domain::position::PositionStatus;
use crate::store::ente::Ente;
use crate::store::outbox::NewMessage;
use crate::store::station::StationReceipt;

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// Paragraphs of plain text as a minimal HTML document.
fn html(paragraphs: &[String]) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", html_escape(p).replace('\n', "<br>")))
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"></head><body>{body}</body></html>"
    )
}

fn message(kind: &str, recipient: &str, subject: String, paragraphs: Vec<String>) -> NewMessage {
    NewMessage {
        kind: kind.to_owned(),
        recipient: recipient.to_owned(),
        subject,
        body_text: paragraphs.join("\n\n") + "\n",
        body_html: Some(html(&paragraphs)),
        attachment: None,
    }
}

/// The messages to queue for a stored receipt.
pub(super) fn receipt_messages(
    ente: &Ente,
    rc: &Receipt,
    row: &StationReceipt,
    debtor_email: Option<&str>,
    disposition: &ReceiptDisposition,
) -> Vec<NewMessage> {
    let notice = NoticeNumber::parse(&rc.notice_number)
        .map(|n| n.grouped())
        .unwrap_or_else(|_| rc.notice_number.clone());
    let amount = rc.payment_amount.to_string();
    let when = row.payment_date_time.rome_date_time();
    let mut details = format!(
        "Avviso: {notice}\nIUV: {iuv}\nCausale: {causale}\nImporto: {amount}\nData del pagamento: {when}\nPrestatore di servizi di pagamento: {psp}",
        iuv = rc.creditor_reference_id,
        causale = rc.description,
        psp = rc.psp_company_name,
    );
    if let Some(method) = &rc.payment_method {
        details.push_str("\nMetodo di pagamento: ");
        details.push_str(&crate::domain::payment_method::describe(method));
    }
    details.push_str("\nIdentificativo della ricevuta: ");
    details.push_str(&rc.receipt_id);
    let signature = format!("{}\nPer informazioni: {}", ente.name, ente.contact_email);
    let payer = rc.payer.as_ref();
    let payer_email = payer.and_then(|p| p.email.as_deref());
    let mut out = Vec::new();
    match disposition {
        ReceiptDisposition::Closed(status) => {
            let installment = *status == PositionStatus::PartiallyPaid;
            if let Some(to) = payer_email {
                let name = payer.map_or("", |p| p.full_name.as_str());
                out.push(message(
                    "receipt",
                    to,
                    format!("Pagamento ricevuto – avviso {notice}"),
                    vec![
                        format!("Gentile {name},"),
                        format!(
                            "{} ha ricevuto il tuo pagamento di {amount} a favore di {}.",
                            ente.name, rc.company_name
                        ),
                        details.clone(),
                        if installment {
                            "Restano da pagare altre rate dello stesso piano.".to_owned()
                        } else {
                            "Il debito è saldato.".to_owned()
                        },
                        signature.clone(),
                    ],
                ));
            }
            let someone_else_paid = payer.is_some_and(|p| {
                !p.entity_value
                    .trim()
                    .eq_ignore_ascii_case(rc.debtor.entity_value.trim())
            });
            if let Some(to) = debtor_email.filter(|_| someone_else_paid) {
                if payer_email.is_none_or(|p| !p.eq_ignore_ascii_case(to)) {
                    let payer_name = payer.map_or("", |p| p.full_name.as_str());
                    out.push(message(
                        "receipt_debtor",
                        to,
                        format!("Il tuo avviso {notice} è stato pagato"),
                        vec![
                            format!("Gentile {},", rc.debtor.full_name),
                            format!(
                                "l'avviso intestato a te è stato pagato da {payer_name}: non devi pagarlo di nuovo."
                            ),
                            details.clone(),
                            signature.clone(),
                        ],
                    ));
                }
            }
        }
        ReceiptDisposition::Refund(_) => {
            if let Some(to) = payer_email {
                let name = payer.map_or("", |p| p.full_name.as_str());
                out.push(message(
                    "receipt_refund",
                    to,
                    format!("Pagamento da rimborsare – avviso {notice}"),
                    vec![
                        format!("Gentile {name},"),
                        format!(
                            "abbiamo ricevuto un pagamento di {amount}, ma l'avviso risultava già pagato o non più pagabile. {} ti rimborserà l'importo: non serve che tu faccia nulla.",
                            ente.name
                        ),
                        details,
                        signature,
                    ],
                ));
            }
        }
        ReceiptDisposition::Recorded | ReceiptDisposition::Duplicate => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped() {
        let html = super::html(&["a <b> & \"c\"\nd".to_owned()]);
        assert!(
            html.contains("<p>a &lt;b&gt; &amp; &quot;c&quot;<br>d</p>"),
            "{html}"
        );
    }
}
