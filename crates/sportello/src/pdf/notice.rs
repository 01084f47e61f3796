//! The paper payment notice (avviso di pagamento, pagoPA layout 3.x).

use pagopa::{Cents, EcFiscalCode, FiscalCode, NoticeNumber, PosteDataMatrixPayload, QrPayload};

use super::{Doc, Fonts, MM, Modules, PAGE_H, PAGE_W, PdfError, Style};
use crate::clock::Timestamp;
use crate::domain::position::{Debtor, OptionStatus, Position};
use crate::store::ente::Ente;

/// pagoPA caps the printed subject at 90 characters.
const SUBJECT_MAX: usize = 90;

/// One payable option as printed: the single payment or one installment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeOption {
    /// Notice number (NAV).
    pub nav: NoticeNumber,
    /// Amount due.
    pub amount: Cents,
    /// Due date.
    pub due_date: Timestamp,
    /// What it is for.
    pub description: String,
}

/// Everything a notice prints, checked once when built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDocument {
    /// Ente name.
    pub ente_name: String,
    /// Ente office / sector.
    pub office_name: String,
    /// Ente fiscal code (the QR's EC code).
    pub ec_fiscal_code: EcFiscalCode,
    /// CBILL code of the ente.
    pub cbill: String,
    /// Postal account, when the ente has one: adds the Poste section and its Data Matrix.
    pub postal_account: Option<String>,
    /// Subject, at most 90 characters.
    pub subject: String,
    /// The debtor.
    pub debtor: Debtor,
    /// The single payment, if the position offers one.
    pub single: Option<NoticeOption>,
    /// Installments, in due-date order.
    pub installments: Vec<NoticeOption>,
}

impl NoticeDocument {
    /// The notice of `position` for `ente`: its unpaid options, single payment first.
    pub fn from_position(ente: &Ente, position: &Position) -> Result<NoticeDocument, PdfError> {
        let ec_fiscal_code = EcFiscalCode::parse(&ente.fiscal_code)
            .map_err(|e| PdfError::Data(format!("codice fiscale dell'ente: {e}")))?;
        let unpaid = || {
            position
                .options
                .iter()
                .filter(|o| o.status == OptionStatus::Unpaid)
        };
        let to_option = |o: &crate::domain::position::PaymentOption| NoticeOption {
            nav: o.nav.clone(),
            amount: o.amount,
            due_date: o.due_date,
            description: o.description.clone(),
        };
        let single = unpaid().find(|o| !o.is_partial_payment).map(to_option);
        let mut installments: Vec<NoticeOption> = unpaid()
            .filter(|o| o.is_partial_payment)
            .map(to_option)
            .collect();
        installments.sort_by_key(|o| o.due_date);
        let Some(first) = single.as_ref().or(installments.first()) else {
            return Err(PdfError::Data(
                "la posizione non ha importi da pagare".to_owned(),
            ));
        };
        let subject = cut(&first.description, SUBJECT_MAX);
        Ok(NoticeDocument {
            ente_name: ente.name.clone(),
            office_name: position
                .office_name
                .clone()
                .unwrap_or_else(|| ente.office_name.clone()),
            ec_fiscal_code,
            cbill: ente.cbill.clone(),
            postal_account: ente.postal_account.clone().filter(|a| !a.is_empty()),
            subject,
            debtor: position.debtor.clone(),
            single,
            installments,
        })
    }

    /// The QR payload of one option.
    pub fn qr_payload(&self, option: &NoticeOption) -> Result<QrPayload, PdfError> {
        QrPayload::new(
            option.nav.clone(),
            self.ec_fiscal_code.clone(),
            option.amount,
        )
        .map_err(|e| PdfError::Data(e.to_string()))
    }

    /// The Poste Data Matrix payload of one option, when the ente has a postal account.
    pub fn data_matrix_payload(&self, option: &NoticeOption) -> Result<Option<String>, PdfError> {
        let Some(account) = &self.postal_account else {
            return Ok(None);
        };
        let debtor_fiscal_code = FiscalCode::parse(&self.debtor.fiscal_code)
            .map_err(|e| PdfError::Data(format!("codice fiscale del debitore: {e}")))?;
        PosteDataMatrixPayload {
            notice: option.nav.clone(),
            postal_account: account.clone(),
            amount: option.amount,
            ec_fiscal_code: self.ec_fiscal_code.clone(),
            debtor_fiscal_code,
            debtor_name: self.debtor.full_name.clone(),
            subject: self.subject.clone(),
        }
        .encode()
        .map(Some)
        .map_err(|e| PdfError::Data(e.to_string()))
    }

    fn address(&self) -> String {
        let d = &self.debtor;
        let street = [d.street_name.as_deref(), d.civic_number.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let city = [
            d.postal_code.as_deref(),
            d.city.as_deref(),
            d.province.as_deref().map(|p| p.trim()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        [street, city]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

const LEFT: f32 = 14.0 * MM;
const RIGHT: f32 = PAGE_W - 14.0 * MM;
const CODE_SIZE: f32 = 32.0 * MM;
const DM_SIZE: f32 = 30.0 * MM;

/// The notice as a PDF: page 1 the notice and the single payment, then the installments
/// 3 per page (2 with the Poste section), each with its own NAV and codes.
pub fn render_notice(fonts: &Fonts, notice: &NoticeDocument) -> Result<Vec<u8>, PdfError> {
    let mut doc = Doc::new(
        fonts,
        format!(
            "Avviso di pagamento {} – {}",
            notice
                .single
                .as_ref()
                .or(notice.installments.first())
                .map(|o| o.nav.grouped())
                .unwrap_or_default(),
            notice.ente_name
        ),
    );
    doc.new_page();
    let y = header(&mut doc, notice);
    // pagoPA's layout: installments on their own pages, 3 to a page, 2 when each also
    // carries the Poste bollettino.
    let per_page = if notice.postal_account.is_some() {
        2
    } else {
        3
    };
    if let Some(single) = &notice.single {
        payment_slot(&mut doc, notice, single, None, y)?;
    } else {
        payment_hint(&mut doc, y);
    }
    let total = notice.installments.len();
    for (chunk_no, chunk) in notice.installments.chunks(per_page).enumerate() {
        doc.new_page();
        let mut y = PAGE_H - 14.0 * MM;
        doc.text(LEFT, y, Style::STRONG, &notice.ente_name);
        doc.text_right(
            RIGHT,
            y,
            Style::LABEL,
            &format!("Avviso di pagamento – {}", cut(&notice.subject, 60)),
        );
        y -= 16.0;
        for (i, inst) in chunk.iter().enumerate() {
            let number = chunk_no * per_page + i + 1;
            y = payment_slot(&mut doc, notice, inst, Some((number, total)), y)?;
        }
    }
    Ok(doc.finish())
}

/// Page 1's upper half: ente, title, subject, recipient, amounts, where to pay.
fn header(doc: &mut Doc, n: &NoticeDocument) -> f32 {
    let mut y = PAGE_H - 16.0 * MM;
    doc.text(LEFT, y, Style::H1, "AVVISO DI PAGAMENTO");
    doc.text_right(RIGHT, y, Style::H2.sized(12.0), "pagoPA");
    y -= 20.0;
    y = doc.paragraph(
        LEFT,
        y,
        RIGHT - LEFT,
        Style::STRONG.sized(11.0),
        &n.subject,
        2,
    );
    y -= 6.0;
    doc.rule(LEFT, y, RIGHT - LEFT, 0.6);
    y -= 16.0;

    let mid = LEFT + (RIGHT - LEFT) / 2.0 + 6.0;
    let top = y;
    doc.text(LEFT, y, Style::H2.sized(9.0), "ENTE CREDITORE");
    y -= 13.0;
    y = doc.paragraph(LEFT, y, mid - LEFT - 12.0, Style::STRONG, &n.ente_name, 2);
    y = doc.paragraph(LEFT, y, mid - LEFT - 12.0, Style::BODY, &n.office_name, 2);
    doc.text(
        LEFT,
        y,
        Style::BODY,
        &format!("Codice fiscale {}", n.ec_fiscal_code),
    );
    let left_end = y - 12.0;

    y = top;
    doc.text(mid, y, Style::H2.sized(9.0), "DESTINATARIO AVVISO");
    y -= 13.0;
    y = doc.paragraph(mid, y, RIGHT - mid, Style::STRONG, &n.debtor.full_name, 2);
    doc.text(
        mid,
        y,
        Style::BODY,
        &format!("Codice fiscale {}", n.debtor.fiscal_code),
    );
    y -= 12.0;
    let address = n.address();
    if !address.is_empty() {
        y = doc.paragraph(mid, y, RIGHT - mid, Style::BODY, &address, 2);
    }
    y = y.min(left_end) - 6.0;
    doc.rule(LEFT, y, RIGHT - LEFT, 0.6);
    y -= 16.0;

    doc.text(LEFT, y, Style::H2, "QUANTO E QUANDO PAGARE?");
    y -= 15.0;
    if let Some(s) = &n.single {
        doc.text(
            LEFT,
            y,
            Style::STRONG.sized(12.0),
            &format!("{} entro il {}", s.amount, s.due_date.rome_date()),
        );
        y -= 14.0;
    }
    if let (Some(first), Some(last)) = (n.installments.first(), n.installments.last()) {
        let text = if n.single.is_some() {
            format!(
                "oppure in {} rate, la prima di {} entro il {}, l'ultima entro il {}.",
                n.installments.len(),
                first.amount,
                first.due_date.rome_date(),
                last.due_date.rome_date()
            )
        } else {
            format!(
                "In {} rate, la prima di {} entro il {}, l'ultima entro il {}.",
                n.installments.len(),
                first.amount,
                first.due_date.rome_date(),
                last.due_date.rome_date()
            )
        };
        y = doc.paragraph(LEFT, y, RIGHT - LEFT, Style::BODY, &text, 2);
    }
    y = doc.paragraph(
        LEFT,
        y,
        RIGHT - LEFT,
        Style::LABEL,
        "Se paghi dopo la scadenza, l'importo potrebbe essere aggiornato automaticamente: \
         potresti pagare un importo diverso da quello indicato.",
        2,
    );
    y -= 10.0;

    doc.text(LEFT, y, Style::H2, "DOVE PAGARE?");
    doc.text_right(
        RIGHT,
        y,
        Style::LABEL,
        "Lista dei canali di pagamento su www.pagopa.gov.it",
    );
    y -= 14.0;
    let col = (RIGHT - LEFT - 12.0) / 2.0;
    doc.text(LEFT, y, Style::STRONG, "PAGA CON L'APP IO");
    doc.text(LEFT + col + 12.0, y, Style::STRONG, "PAGA SUL TERRITORIO");
    let y2 = y - 12.0;
    let a = doc.paragraph(
        LEFT,
        y2,
        col,
        Style::BODY,
        "oppure sul sito e con le app della tua banca o degli altri canali di pagamento \
         (PSP). Potrai pagare con carte, conto corrente, CBILL.",
        3,
    );
    let b = doc.paragraph(
        LEFT + col + 12.0,
        y2,
        col,
        Style::BODY,
        "in banche, uffici postali, tabaccherie, sportelli ATM, ricevitorie e \
         supermercati: inquadra il codice QR o comunica il codice avviso.",
        3,
    );
    y = a.min(b) - 2.0;
    y = doc.paragraph(
        LEFT,
        y,
        RIGHT - LEFT,
        Style::LABEL,
        "Utilizza la porzione di avviso relativa alla rata e al canale di pagamento che \
         preferisci. Non pagare più volte lo stesso importo.",
        2,
    );
    y - 4.0
}

/// Page 1 of a notice in installments only: where the payment data is.
fn payment_hint(doc: &mut Doc, y: f32) {
    doc.paragraph(
        LEFT,
        y - 6.0,
        RIGHT - LEFT,
        Style::STRONG,
        "Nelle pagine seguenti trovi i dati per il pagamento di ciascuna rata.",
        2,
    );
}

/// One option's payment data: the banks/other channels block with QR, then the Poste
/// bollettino with its Data Matrix when the ente has a postal account. Returns the new `y`.
fn payment_slot(
    doc: &mut Doc,
    n: &NoticeDocument,
    option: &NoticeOption,
    rata: Option<(usize, usize)>,
    mut y: f32,
) -> Result<f32, PdfError> {
    let qr = n.qr_payload(option)?.to_string();
    let nav = option.nav.grouped();
    doc.fill_rect(LEFT, y - 18.0, RIGHT - LEFT, 18.0, 0.88);
    let heading = match rata {
        None => "Rata unica".to_owned(),
        Some((i, total)) => format!("Rata {i} di {total}"),
    };
    doc.text(LEFT + 6.0, y - 12.5, Style::H2, &heading);
    doc.text_right(
        RIGHT - 6.0,
        y - 12.5,
        Style::STRONG.sized(11.0),
        &format!("{} entro il {}", option.amount, option.due_date.rome_date()),
    );
    y -= 30.0;

    doc.text(LEFT, y, Style::H2.sized(9.5), "BANCHE E ALTRI CANALI");
    let top = y - 6.0;
    doc.matrix(
        LEFT,
        top,
        CODE_SIZE,
        &Modules::qr(&qr)?,
        &format!("Codice QR per il pagamento dell'avviso {nav}"),
    );
    let x = LEFT + CODE_SIZE + 14.0;
    let x2 = x + 190.0;
    let mut ly = top - 8.0;
    let field = |doc: &mut Doc, x: f32, y: f32, label: &str, value: &str| {
        doc.text(x, y, Style::LABEL, label);
        doc.text(x, y - 11.0, Style::STRONG, value);
    };
    field(doc, x, ly, "Destinatario", &n.debtor.full_name);
    field(doc, x2, ly, "Euro", &option.amount.to_italian());
    ly -= 28.0;
    field(doc, x, ly, "Ente Creditore", &n.ente_name);
    field(doc, x2, ly, "Codice CBILL", &n.cbill);
    ly -= 28.0;
    field(doc, x, ly, "Codice Avviso", &nav);
    field(
        doc,
        x2,
        ly,
        "Cod. Fiscale Ente Creditore",
        n.ec_fiscal_code.as_str(),
    );
    ly -= 28.0;
    doc.text(x, ly, Style::LABEL, "Oggetto del pagamento");
    doc.paragraph(x, ly - 11.0, RIGHT - x, Style::BODY, &option.description, 1);
    y = (top - CODE_SIZE).min(ly - 14.0) - 10.0;

    if let Some(dm) = n.data_matrix_payload(option)? {
        let account = n.postal_account.as_deref().unwrap_or_default();
        doc.rule(LEFT, y + 4.0, RIGHT - LEFT, 0.6);
        y -= 10.0;
        doc.text(LEFT, y, Style::H2.sized(9.5), "BOLLETTINO POSTALE PA");
        doc.text_right(RIGHT, y, Style::LABEL, "Poste Italiane");
        let top = y - 6.0;
        doc.matrix(
            LEFT,
            top,
            DM_SIZE,
            &Modules::data_matrix(&dm)?,
            &format!("Codice Data Matrix del bollettino postale per l'avviso {nav}"),
        );
        let mut ly = top - 8.0;
        field(doc, x, ly, "sul C/C n.", account);
        field(doc, x2, ly, "Euro", &option.amount.to_italian());
        ly -= 28.0;
        field(doc, x, ly, "Intestato a", &n.ente_name);
        field(doc, x2, ly, "Tipo", "P1");
        ly -= 28.0;
        field(doc, x, ly, "Codice Avviso", &nav);
        field(
            doc,
            x2,
            ly,
            "Cod. Fiscale Ente Creditore",
            n.ec_fiscal_code.as_str(),
        );
        ly -= 28.0;
        field(doc, x, ly, "Destinatario", &n.debtor.full_name);
        y = (top - DM_SIZE).min(ly - 14.0) - 10.0;
    }
    doc.rule(LEFT, y + 4.0, RIGHT - LEFT, 0.3);
    Ok(y - 8.0)
}
