//! From GPD's JSON model to domain types, once, with every rule GPD applies (and a few more
//! that pagoPA's node would otherwise refuse later): required fields, amounts in cents with
//! option amount = sum of its 1–5 transfers, valid IBANs and fiscal codes, coherent dates.
//!
//! Errors name the JSON path of the field (`paymentOption[0].transfer[1].iban`) and say what is
//! wrong in Italian, with the codecs' own sentences where a codec refused the value.

use pagopa::{AuxDigit, Cents, EcFiscalCode, FiscalCode, Iban, Iuv, NoticeNumber, SegregationCode};

use super::model::{
    MetadataModel, PaymentOptionModel, PaymentPositionModel, SubjectKind, TransferModel,
};
use crate::clock::Timestamp;
use crate::config::looks_like_email;
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer, is_past_due,
};
use crate::store::positions::PositionExtras;

/// The largest amount pagoPA accepts for one payment: 999 999 999,99 €.
pub const MAX_AMOUNT: Cents = Cents::new(99_999_999_999);

/// The debtor code pagoPA accepts when the debtor is unknown.
pub const ANONYMOUS: &str = "ANONIMO";

/// One refused field: its JSON path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path, e.g. `paymentOption[0].amount`.
    pub field: String,
    /// Why, in Italian.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Everything wrong with a request body (at least one entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<FieldError>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

/// What validation needs to know besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The organization of the path (default `organizationFiscalCode` of the transfers).
    pub organization_fiscal_code: &'a str,
    /// The station's segregation code: every IUV must start with it.
    pub segregation_code: SegregationCode,
    /// The instant the request is judged at.
    pub now: Timestamp,
}

/// A valid position whose options may still lack an IUV: Sportello mints those
/// ([`Validated::with_notices`]).
#[derive(Debug, Clone)]
pub struct Validated {
    position: NewPosition,
    extras: PositionExtras,
    /// Indices of the options that came without an IUV.
    missing_iuv: Vec<usize>,
}

impl Validated {
    /// How many IUVs Sportello must mint.
    pub fn missing_iuvs(&self) -> usize {
        self.missing_iuv.len()
    }

    /// The earliest due date among the options.
    pub fn earliest_due_date(&self) -> Timestamp {
        self.position
            .options
            .iter()
            .map(|o| o.due_date)
            .min()
            .expect("validation requires at least one option")
    }

    /// The validity date asked for.
    pub fn validity_date(&self) -> Option<Timestamp> {
        self.position.validity_date
    }

    /// The position with the minted notice numbers (one per missing IUV, in order) and the
    /// given status and validity date.
    pub fn with_notices(
        mut self,
        minted: Vec<NoticeNumber>,
        status: PositionStatus,
        validity_date: Option<Timestamp>,
    ) -> (NewPosition, PositionExtras) {
        assert_eq!(
            minted.len(),
            self.missing_iuv.len(),
            "one notice per missing IUV"
        );
        for (i, nav) in self.missing_iuv.iter().zip(minted) {
            let o = &mut self.position.options[*i];
            o.iuv = nav.iuv();
            o.nav = nav;
        }
        self.position.status = status;
        self.position.validity_date = validity_date;
        (self.position, self.extras)
    }
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required, non-blank text of at most `max` characters; `missing` says what is missing.
    fn text(&mut self, field: &str, value: &Option<String>, missing: &str, max: usize) -> String {
        match value.as_deref().map(str::trim) {
            None | Some("") => {
                self.fail(field, missing);
                String::new()
            }
            Some(v) => {
                self.max_len(field, v, max);
                v.to_owned()
            }
        }
    }

    /// An optional text (blank counts as absent) of at most `max` characters.
    fn optional(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        self.max_len(field, v, max);
        Some(v.to_owned())
    }

    fn max_len(&mut self, field: &str, v: &str, max: usize) {
        let n = v.chars().count();
        if n > max {
            self.fail(field, format!("al massimo {max} caratteri (ne ha {n})"));
        }
        if v.chars().any(char::is_control) {
            self.fail(field, "contiene caratteri di controllo");
        }
    }

    fn date(&mut self, field: &str, value: &Option<String>) -> Option<Timestamp> {
        let v = value.as_deref()?;
        Timestamp::parse_iso_rome(v)
            .map_err(|e| self.fail(field, e.to_string()))
            .ok()
    }

    fn metadata(&mut self, field: &str, value: &Option<Vec<MetadataModel>>) -> String {
        let list = value.clone().unwrap_or_default();
        if list.len() > 10 {
            self.fail(field, "al massimo 10 coppie chiave/valore");
        }
        for (i, m) in list.iter().enumerate() {
            match m.key.as_deref() {
                Some(k) if !k.trim().is_empty() => {
                    self.max_len(&format!("{field}[{i}].key"), k, 140)
                }
                _ => self.fail(format!("{field}[{i}].key"), "la chiave è obbligatoria"),
            }
            if let Some(v) = m.value.as_deref() {
                self.max_len(&format!("{field}[{i}].value"), v, 140);
            }
        }
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
    }
}

/// A debtor code: a valid codice fiscale or partita IVA (normalised), or `ANONIMO`.
pub fn debtor_fiscal_code(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case(ANONYMOUS) {
        return Ok(ANONYMOUS.to_owned());
    }
    FiscalCode::parse(v)
        .map(|c| c.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// An IUV given by the ente, checked against the station's aux-3 layout, and its NAV.
pub fn iuv_for_station(value: &str, seg: SegregationCode) -> Result<NoticeNumber, String> {
    let iuv = Iuv::parse(value.trim()).map_err(|e| e.to_string())?;
    if iuv.as_str().len() != 17 || !iuv.as_str().starts_with(&seg.to_string()) {
        return Err(format!(
            "lo IUV deve avere 17 cifre e iniziare con il codice di segregazione {seg} della stazione"
        ));
    }
    NoticeNumber::from_iuv(AuxDigit::Three, &iuv, None).map_err(|e| e.to_string())
}

/// GPD's date rules for one option, with Italian messages: the due date not before the
/// validity date (or, without one, not before now), the retention date not before the due date.
pub fn option_dates(
    due: Timestamp,
    retention: Option<Timestamp>,
    validity: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), (&'static str, &'static str)> {
    match validity {
        Some(v) if due < v => {
            return Err((
                "dueDate",
                "la scadenza non può precedere la data di inizio validità",
            ));
        }
        None if is_past_due(due, now) => return Err(("dueDate", "la scadenza è già passata")),
        _ => {}
    }
    if retention.is_some_and(|r| r < due) {
        return Err((
            "retentionDate",
            "la data di conservazione non può precedere la scadenza",
        ));
    }
    Ok(())
}

/// Validates a GPD body and turns it into a domain position (status DRAFT, origin API).
pub fn position(model: &PaymentPositionModel, ctx: &Context<'_>) -> Result<Validated, Invalid> {
    let mut c = Checker { errors: Vec::new() };
    let iupd = c.text("iupd", &model.iupd, "iupd è obbligatorio", 140);
    if iupd.contains('/') {
        c.fail("iupd", "non può contenere il carattere /");
    }
    let kind = match model.kind {
        Some(SubjectKind::F) => SubjectType::F,
        Some(SubjectKind::G) => SubjectType::G,
        None => {
            c.fail("type", "il tipo di soggetto (F o G) è obbligatorio");
            SubjectType::F
        }
    };
    let fiscal_code = match model.fiscal_code.as_deref().map(str::trim) {
        None | Some("") => {
            c.fail(
                "fiscalCode",
                "il codice fiscale del debitore è obbligatorio",
            );
            String::new()
        }
        Some(v) => debtor_fiscal_code(v).unwrap_or_else(|e| {
            c.fail("fiscalCode", e);
            String::new()
        }),
    };
    let full_name = c.text(
        "fullName",
        &model.full_name,
        "il nominativo del debitore è obbligatorio",
        140,
    );
    let country = c.optional("country", &model.country, 2);
    if let Some(country) = &country {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            c.fail(
                "country",
                "il paese va indicato con due lettere maiuscole, per esempio IT",
            );
        }
    }
    let email = c.optional("email", &model.email, 256);
    if email.as_deref().is_some_and(|e| !looks_like_email(e)) {
        c.fail("email", "l'indirizzo e-mail non è valido");
    }
    let debtor = Debtor {
        kind,
        fiscal_code,
        full_name,
        street_name: c.optional("streetName", &model.street_name, 140),
        civic_number: c.optional("civicNumber", &model.civic_number, 16),
        postal_code: c.optional("postalCode", &model.postal_code, 16),
        city: c.optional("city", &model.city, 140),
        province: c.optional("province", &model.province, 140),
        region: c.optional("region", &model.region, 140),
        country,
        email,
        phone: c.optional("phone", &model.phone, 32),
    };
    let switch_to_expired = model.switch_to_expired.unwrap_or_else(|| {
        c.fail("switchToExpired", "switchToExpired è obbligatorio");
        false
    });
    let company_name = c.text(
        "companyName",
        &model.company_name,
        "companyName è obbligatorio",
        140,
    );
    let office_name = c.optional("officeName", &model.office_name, 140);
    let validity_date = c.date("validityDate", &model.validity_date);
    if validity_date.is_some_and(|v| v < ctx.now) {
        c.fail("validityDate", "la data di inizio validità è già passata");
    }

    let mut options = Vec::new();
    let mut transfer_metadata = Vec::new();
    let mut missing_iuv = Vec::new();
    match model.payment_option.as_deref() {
        None | Some([]) => c.fail("paymentOption", "serve almeno un'opzione di pagamento"),
        Some(list) => {
            for (i, o) in list.iter().enumerate() {
                let field = format!("paymentOption[{i}]");
                let nav = match o.iuv.as_deref().map(str::trim) {
                    None | Some("") => {
                        missing_iuv.push(i);
                        None
                    }
                    Some(v) => match iuv_for_station(v, ctx.segregation_code) {
                        Ok(nav) => Some(nav),
                        Err(e) => {
                            c.fail(format!("{field}.iuv"), e);
                            None
                        }
                    },
                };
                if let Some((option, metas)) =
                    payment_option(&mut c, &field, o, nav, validity_date, ctx)
                {
                    options.push(option);
                    transfer_metadata.push(metas);
                }
            }
            let mut iuvs: Vec<&str> = options
                .iter()
                .enumerate()
                .filter(|(i, _)| !missing_iuv.contains(i))
                .map(|(_, o)| o.iuv.as_str())
                .collect();
            iuvs.sort_unstable();
            if iuvs.windows(2).any(|w| w[0] == w[1]) {
                c.fail(
                    "paymentOption",
                    "lo stesso IUV compare in più opzioni di pagamento",
                );
            }
        }
    }
    if !c.errors.is_empty() {
        return Err(Invalid(c.errors));
    }
    Ok(Validated {
        position: NewPosition {
            iupd,
            debtor,
            company_name,
            office_name,
            validity_date,
            switch_to_expired,
            status: PositionStatus::Draft,
            options,
            service_id: None,
            origin: Origin::Api,
            created_by_account_id: None,
            abandon_at: None,
        },
        extras: PositionExtras {
            pay_stand_in: model.pay_stand_in.unwrap_or(true),
            content_hash: None,
            transfer_metadata,
        },
        missing_iuv,
    })
}

/// A placeholder notice for an option whose IUV is still to be minted; replaced by
/// [`Validated::with_notices`] before anything is stored.
fn placeholder_notice(seg: SegregationCode) -> NoticeNumber {
    NoticeNumber::from_aux3(seg, 0).expect("zero fits the IUV base")
}

fn payment_option(
    c: &mut Checker,
    field: &str,
    o: &PaymentOptionModel,
    nav: Option<NoticeNumber>,
    validity: Option<Timestamp>,
    ctx: &Context<'_>,
) -> Option<(PaymentOption, Vec<String>)> {
    let errors_before = c.errors.len();
    let amount = match o.amount {
        None => {
            c.fail(
                format!("{field}.amount"),
                "l'importo (in centesimi) è obbligatorio",
            );
            Cents::ZERO
        }
        Some(a) if a <= 0 => {
            c.fail(
                format!("{field}.amount"),
                "l'importo deve essere maggiore di zero",
            );
            Cents::ZERO
        }
        Some(a) if Cents::new(a) > MAX_AMOUNT => {
            c.fail(
                format!("{field}.amount"),
                "l'importo supera 999.999.999,99 €",
            );
            Cents::ZERO
        }
        Some(a) => Cents::new(a),
    };
    let description = c.text(
        &format!("{field}.description"),
        &o.description,
        "la descrizione è obbligatoria",
        140,
    );
    let is_partial_payment = o.is_partial_payment.unwrap_or_else(|| {
        c.fail(
            format!("{field}.isPartialPayment"),
            "isPartialPayment è obbligatorio",
        );
        false
    });
    let due_date = match c.date(&format!("{field}.dueDate"), &o.due_date) {
        Some(d) => Some(d),
        None if o.due_date.is_none() => {
            c.fail(format!("{field}.dueDate"), "la scadenza è obbligatoria");
            None
        }
        None => None,
    };
    let retention_date = c.date(&format!("{field}.retentionDate"), &o.retention_date);
    if let Some(due) = due_date {
        if let Err((name, message)) = option_dates(due, retention_date, validity, ctx.now) {
            c.fail(format!("{field}.{name}"), message);
        }
    }
    let fee = match o.fee {
        Some(f) if f < 0 => {
            c.fail(
                format!("{field}.fee"),
                "la commissione non può essere negativa",
            );
            Cents::ZERO
        }
        Some(f) => Cents::new(f),
        None => Cents::ZERO,
    };
    let metadata = c.metadata(
        &format!("{field}.paymentOptionMetadata"),
        &o.payment_option_metadata,
    );

    let mut transfers = Vec::new();
    let mut metas = Vec::new();
    match o.transfer.as_deref() {
        None | Some([]) => c.fail(format!("{field}.transfer"), "serve almeno un versamento"),
        Some(list) if list.len() > 5 => c.fail(
            format!("{field}.transfer"),
            format!("al massimo 5 versamenti per opzione (ne ha {})", list.len()),
        ),
        Some(list) => {
            for (j, t) in list.iter().enumerate() {
                let tf = format!("{field}.transfer[{j}]");
                if let Some((transfer, meta)) = transfer(c, &tf, t, ctx) {
                    transfers.push(transfer);
                    metas.push(meta);
                }
            }
            let mut ids: Vec<u8> = transfers.iter().map(|t| t.id_transfer).collect();
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                c.fail(
                    format!("{field}.transfer"),
                    "idTransfer ripetuto nella stessa opzione",
                );
            }
            if transfers.len() == list.len() && amount.is_positive() {
                let sum = Cents::checked_sum(transfers.iter().map(|t| t.amount));
                if sum != Some(amount) {
                    c.fail(
                        format!("{field}.amount"),
                        format!(
                            "l'importo dell'opzione ({}) deve essere la somma dei versamenti ({})",
                            amount.get(),
                            sum.map_or_else(|| "troppo grande".to_owned(), |s| s.get().to_string())
                        ),
                    );
                }
            }
        }
    }
    if c.errors.len() > errors_before {
        return None;
    }
    let nav = nav.unwrap_or_else(|| placeholder_notice(ctx.segregation_code));
    Some((
        PaymentOption {
            iuv: nav.iuv(),
            nav,
            amount,
            description,
            is_partial_payment,
            due_date: due_date?,
            retention_date,
            fee,
            status: OptionStatus::Unpaid,
            metadata,
            transfers,
        },
        metas,
    ))
}

fn transfer(
    c: &mut Checker,
    field: &str,
    t: &TransferModel,
    ctx: &Context<'_>,
) -> Option<(Transfer, String)> {
    let errors_before = c.errors.len();
    let id_transfer = match t.id_transfer.as_deref().map(str::trim) {
        Some(v @ ("1" | "2" | "3" | "4" | "5")) => v.parse::<u8>().ok(),
        Some(_) => {
            c.fail(
                format!("{field}.idTransfer"),
                "idTransfer deve essere tra \"1\" e \"5\"",
            );
            None
        }
        None => {
            c.fail(format!("{field}.idTransfer"), "idTransfer è obbligatorio");
            None
        }
    };
    let amount = match t.amount {
        Some(a) if a > 0 => Some(Cents::new(a)),
        Some(_) => {
            c.fail(
                format!("{field}.amount"),
                "l'importo deve essere maggiore di zero",
            );
            None
        }
        None => {
            c.fail(
                format!("{field}.amount"),
                "l'importo (in centesimi) è obbligatorio",
            );
            None
        }
    };
    let organization_fiscal_code = match t.organization_fiscal_code.as_deref().map(str::trim) {
        None | Some("") => ctx.organization_fiscal_code.to_owned(),
        Some(v) => match EcFiscalCode::parse(v) {
            Ok(code) => code.as_str().to_owned(),
            Err(e) => {
                c.fail(format!("{field}.organizationFiscalCode"), e.to_string());
                String::new()
            }
        },
    };
    let remittance_information = c.text(
        &format!("{field}.remittanceInformation"),
        &t.remittance_information,
        "la causale del versamento è obbligatoria",
        140,
    );
    let category = c.text(
        &format!("{field}.category"),
        &t.category,
        "la tassonomia è obbligatoria",
        140,
    );
    let company_name = c.optional(&format!("{field}.companyName"), &t.company_name, 140);
    let iban = t.iban.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let postal_iban = t
        .postal_iban
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let destination = match (&t.stamp, iban) {
        (Some(_), _) if postal_iban.is_some() || iban.is_some() => {
            c.fail(
                field.to_owned(),
                "iban e stamp sono alternativi: indicane uno solo",
            );
            None
        }
        (Some(stamp), _) => {
            let hash = c.text(
                &format!("{field}.stamp.hashDocument"),
                &stamp.hash_document,
                "hashDocument è obbligatorio",
                72,
            );
            let kind = c.text(
                &format!("{field}.stamp.stampType"),
                &stamp.stamp_type,
                "stampType è obbligatorio",
                2,
            );
            if !kind.is_empty() && kind.chars().count() != 2 {
                c.fail(
                    format!("{field}.stamp.stampType"),
                    "stampType ha 2 caratteri",
                );
            }
            let province = c.text(
                &format!("{field}.stamp.provincialResidence"),
                &stamp.provincial_residence,
                "provincialResidence è obbligatorio",
                2,
            );
            if !province.is_empty()
                && (province.len() != 2 || !province.bytes().all(|b| b.is_ascii_uppercase()))
            {
                c.fail(
                    format!("{field}.stamp.provincialResidence"),
                    "la provincia va indicata con due lettere maiuscole, per esempio PC",
                );
            }
            Some(Destination::Stamp {
                hash_document: hash,
                stamp_type: kind,
                provincial_residence: province,
            })
        }
        (None, Some(iban)) => {
            let iban = Iban::parse(iban)
                .map(|i| i.as_str().to_owned())
                .map_err(|e| c.fail(format!("{field}.iban"), e.to_string()))
                .ok();
            let postal = match postal_iban {
                None => None,
                Some(p) => Iban::parse(p)
                    .map(|i| Some(i.as_str().to_owned()))
                    .map_err(|e| c.fail(format!("{field}.postalIban"), e.to_string()))
                    .ok()
                    .flatten(),
            };
            iban.map(|iban| Destination::Iban {
                iban,
                postal_iban: postal,
            })
        }
        (None, None) => {
            c.fail(
                format!("{field}.iban"),
                "indica l'IBAN di accredito (o una marca da bollo in stamp)",
            );
            None
        }
    };
    let meta = c.metadata(&format!("{field}.transferMetadata"), &t.transfer_metadata);
    if c.errors.len() > errors_before {
        return None;
    }
    Some((
        Transfer {
            id_transfer: id_transfer?,
            amount: amount?,
            organization_fiscal_code,
            remittance_information,
            category,
            destination: destination?,
            company_name,
        },
        meta,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_are_rome_wall_clock_times() {
        let ctx = Context {
            organization_fiscal_code: "00229080338",
            segregation_code: SegregationCode::parse("01").unwrap(),
            now: Timestamp::parse("2031-05-31T21:59:59.500Z").unwrap(),
        };
        let mut c = Checker { errors: Vec::new() };
        let due = c
            .date("dueDate", &Some("2031-05-31T23:59:59".into()))
            .unwrap();
        assert_eq!(due.to_utc_text(), "2031-05-31T21:59:59.000000Z");
        // Still within that second in Rome: not past due.
        assert_eq!(option_dates(due, None, None, ctx.now), Ok(()));
        let after = Timestamp::parse("2031-05-31T22:00:00Z").unwrap();
        assert!(option_dates(due, None, None, after).is_err());
        assert!(c.date("dueDate", &Some("31/05/2031".into())).is_none());
        assert_eq!(c.errors.len(), 1);
        assert!(
            c.errors[0].message.contains("ora di Roma"),
            "{}",
            c.errors[0]
        );
    }

    #[test]
    fn station_iuvs() {
        let seg = SegregationCode::parse("01").unwrap();
        let nav = iuv_for_station("01000000000000144", seg).unwrap();
        assert_eq!(nav.as_str(), "301000000000000144");
        assert!(
            iuv_for_station("01000000000000145", seg)
                .unwrap_err()
                .contains("controllo")
        );
        assert!(
            iuv_for_station("02000000000000144", seg)
                .unwrap_err()
                .contains("segregazione")
        );
        assert!(iuv_for_station("123", seg).is_err());
    }

    #[test]
    fn an_empty_body_names_every_required_field() {
        let ctx = Context {
            organization_fiscal_code: "00229080338",
            segregation_code: SegregationCode::parse("01").unwrap(),
            now: Timestamp::now(),
        };
        let Invalid(errors) = position(&PaymentPositionModel::default(), &ctx).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "iupd",
                "type",
                "fiscalCode",
                "fullName",
                "switchToExpired",
                "companyName",
                "paymentOption"
            ]
        );
        assert_eq!(
            errors[3].message,
            "il nominativo del debitore è obbligatorio"
        );
        let mut model = PaymentPositionModel {
            payment_option: Some(vec![PaymentOptionModel::default()]),
            ..Default::default()
        };
        model.iupd = Some("X".into());
        let Invalid(errors) = position(&model, &ctx).unwrap_err();
        let option_fields: Vec<&str> = errors
            .iter()
            .map(|e| e.field.as_str())
            .filter(|f| f.starts_with("paymentOption"))
            .collect();
        assert_eq!(
            option_fields,
            [
                "paymentOption[0].amount",
                "paymentOption[0].description",
                "paymentOption[0].isPartialPayment",
                "paymentOption[0].dueDate",
                "paymentOption[0].transfer"
            ]
        );
    }

    #[test]
    fn debtors() {
        assert_eq!(debtor_fiscal_code(" anonimo ").unwrap(), "ANONIMO");
        assert_eq!(
            debtor_fiscal_code("rssmra80a01h501u").unwrap(),
            "RSSMRA80A01H501U"
        );
        assert!(debtor_fiscal_code("RSSMRA80A01H501X").is_err());
        assert_eq!(debtor_fiscal_code("00229080338").unwrap(), "00229080338");
    }
}
