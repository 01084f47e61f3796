//! The payment receipt ("Stampa la ricevuta"): one A4 page per receipt.

use pagopa::{Cents, EcFiscalCode, NoticeNumber, QrPayload};

use super::{Doc, Fonts, MM, Modules, PAGE_H, PAGE_W, PdfError, Style};
use crate::clock::Timestamp;

/// A person or company named on a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptParty {
    /// Fiscal code or partita IVA.
    pub fiscal_code: String,
    /// Name.
    pub full_name: String,
}

/// One transfer of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptTransfer {
    /// 1 to 5.
    pub id_transfer: u8,
    /// Receiving ente's fiscal code.
    pub fiscal_code: String,
    /// Credited IBAN, when not a stamp.
    pub iban: Option<String>,
    /// Remittance information.
    pub remittance_information: String,
    /// Amount.
    pub amount: Cents,
}

/// A receipt as printed: plain data, filled from the receipts table or a paSendRT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDocument {
    /// Ente name (header).
    pub ente_name: String,
    /// Ente fiscal code (header and QR).
    pub ec_fiscal_code: EcFiscalCode,
    /// pagoPA receiptId.
    pub receipt_id: String,
    /// Notice number.
    pub notice_number: NoticeNumber,
    /// IUV (creditorReferenceId).
    pub iuv: String,
    /// Causale.
    pub description: String,
    /// Catalog service name, when known.
    pub service_name: Option<String>,
    /// The debtor.
    pub debtor: ReceiptParty,
    /// Who paid, when different or known.
    pub payer: Option<ReceiptParty>,
    /// PSP id.
    pub psp_id: String,
    /// PSP name.
    pub psp_name: String,
    /// Channel (idChannel, with its description when known).
    pub channel: String,
    /// Payment method.
    pub payment_method: Option<String>,
    /// Fee paid to the PSP, when known.
    pub fee: Option<Cents>,
    /// The legally binding payment time.
    pub payment_date_time: Timestamp,
    /// Transfers.
    pub transfers: Vec<ReceiptTransfer>,
    /// Amount paid (without fee).
    pub amount: Cents,
}

impl ReceiptDocument {
    /// The QR payload of the paid notice (printed so the receipt can be matched to it).
    pub fn qr_payload(&self) -> Result<QrPayload, PdfError> {
        QrPayload::new(
            self.notice_number.clone(),
            self.ec_fiscal_code.clone(),
            self.amount,
        )
        .map_err(|e| PdfError::Data(e.to_string()))
    }
}

const LEFT: f32 = 18.0 * MM;
const RIGHT: f32 = PAGE_W - 18.0 * MM;

/// One PDF with one receipt per page, in the order given.
pub fn render_receipts(fonts: &Fonts, receipts: &[ReceiptDocument]) -> Result<Vec<u8>, PdfError> {
    let title = match receipts {
        [one] => format!("Ricevuta di pagamento {}", one.notice_number.grouped()),
        _ => format!("Ricevute di pagamento ({})", receipts.len()),
    };
    let mut doc = Doc::new(fonts, title);
    for r in receipts {
        page(&mut doc, r)?;
    }
    if receipts.is_empty() {
        return Err(PdfError::Data("nessuna ricevuta da stampare".to_owned()));
    }
    Ok(doc.finish())
}

fn page(doc: &mut Doc, r: &ReceiptDocument) -> Result<(), PdfError> {
    doc.new_page();
    let mut y = PAGE_H - 18.0 * MM;
    doc.fill_rect(0.0, y - 14.0, PAGE_W, 46.0, 0.0 + 0.9);
    doc.text(LEFT, y + 10.0, Style::H2.sized(14.0), &r.ente_name);
    doc.text(
        LEFT,
        y - 4.0,
        Style::BODY,
        &format!("Codice fiscale {}", r.ec_fiscal_code),
    );
    y -= 44.0;
    doc.text(LEFT, y, Style::H1, "RICEVUTA DI PAGAMENTO");
    y -= 16.0;
    doc.text(
        LEFT,
        y,
        Style::BODY,
        &format!(
            "Pagamento eseguito il {} tramite pagoPA",
            r.payment_date_time.rome_date_time()
        ),
    );
    y -= 22.0;

    let label_w = 150.0;
    let row = |doc: &mut Doc, y: &mut f32, label: &str, value: &str| {
        doc.text(LEFT, *y, Style::LABEL.sized(8.5), label);
        *y = doc.paragraph(
            LEFT + label_w,
            *y,
            RIGHT - LEFT - label_w,
            Style::BODY,
            value,
            3,
        );
        *y -= 3.0;
    };
    doc.text(LEFT, y, Style::H2, "Dati del pagamento");
    y -= 16.0;
    row(doc, &mut y, "Importo pagato", &r.amount.to_string());
    if let Some(fee) = r.fee {
        row(doc, &mut y, "Commissione", &fee.to_string());
        if let Some(total) = Cents::checked_sum([r.amount, fee]) {
            row(doc, &mut y, "Totale addebitato", &total.to_string());
        }
    }
    row(
        doc,
        &mut y,
        "Data e ora del pagamento",
        &r.payment_date_time.rome_date_time(),
    );
    row(doc, &mut y, "Causale", &r.description);
    if let Some(service) = &r.service_name {
        row(doc, &mut y, "Servizio", service);
    }
    row(doc, &mut y, "Codice avviso", &r.notice_number.grouped());
    row(doc, &mut y, "IUV", &r.iuv);
    row(doc, &mut y, "Identificativo ricevuta", &r.receipt_id);
    y -= 8.0;

    doc.text(LEFT, y, Style::H2, "Soggetti");
    y -= 16.0;
    row(
        doc,
        &mut y,
        "Debitore",
        &format!("{} – {}", r.debtor.full_name, r.debtor.fiscal_code),
    );
    if let Some(payer) = &r.payer {
        row(
            doc,
            &mut y,
            "Pagatore",
            &format!("{} – {}", payer.full_name, payer.fiscal_code),
        );
    }
    row(
        doc,
        &mut y,
        "Ente creditore",
        &format!("{} – {}", r.ente_name, r.ec_fiscal_code),
    );
    y -= 8.0;

    doc.text(LEFT, y, Style::H2, "Prestatore del servizio di pagamento");
    y -= 16.0;
    row(
        doc,
        &mut y,
        "PSP",
        &format!("{} ({})", r.psp_name, r.psp_id),
    );
    row(doc, &mut y, "Canale", &r.channel);
    if let Some(method) = &r.payment_method {
        row(
            doc,
            &mut y,
            "Metodo di pagamento",
            &crate::domain::payment_method::describe(method),
        );
    }
    y -= 8.0;

    if !r.transfers.is_empty() {
        doc.text(LEFT, y, Style::H2, "Ripartizione dell'importo");
        y -= 16.0;
        for t in &r.transfers {
            let dest = t.iban.as_deref().map_or_else(
                || "marca da bollo digitale".to_owned(),
                |i| format!("IBAN {i}"),
            );
            row(
                doc,
                &mut y,
                &format!("Versamento {}", t.id_transfer),
                &format!(
                    "{} – ente {} – {} – {}",
                    t.amount, t.fiscal_code, dest, t.remittance_information
                ),
            );
        }
    }

    let qr = r.qr_payload()?.to_string();
    let size = 30.0 * MM;
    let top = (18.0 * MM + size).min(y - 10.0);
    doc.matrix(
        RIGHT - size,
        top,
        size,
        &Modules::qr(&qr)?,
        &format!("Codice QR dell'avviso pagato {}", r.notice_number.grouped()),
    );
    doc.paragraph(
        LEFT,
        top - 10.0,
        RIGHT - LEFT - size - 20.0,
        Style::LABEL.sized(8.0),
        "La ricevuta attesta il pagamento eseguito tramite la piattaforma pagoPA. \
         La data e l'ora del pagamento sono quelle comunicate dal prestatore del servizio \
         di pagamento (ora di Roma).",
        4,
    );
    Ok(())
}
