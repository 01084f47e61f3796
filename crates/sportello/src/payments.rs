//! "Pagamenti OnLine" rules: spontaneous payments from the catalog, notices paid for others,
//! and the cart's limits.

use pagopa::{Cents, FiscalCode, NoticeNumber, SegregationCode};

use crate::clock::Timestamp;
use crate::domain::catalog::{FilledForm, ServiceDef};
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};
use crate::store::accounts::Account;
use crate::store::cart::PendingOption;
use crate::store::ente::Ente;
use crate::store::{Store, StoreError};

/// pagoPA's cap on notices paid in one transaction (Checkout cart).
pub const MAX_CART: usize = 5;

/// The end of the day `days` from today in Rome, as an instant: a due date printed as
/// "31/12" is payable all of that day.
pub fn due_date_in(days: u16, now: Timestamp) -> Timestamp {
    let rome = now.in_rome();
    let date = rome.date() + time::Duration::days(i64::from(days));
    Timestamp::from_rome(date.with_hms(23, 59, 59).expect("valid time"))
}

/// Creates the debt position of a spontaneous payment: its own aux-3 notice number, the debtor
/// as entered, the citizen as the one who started it, removed if abandoned after `abandon_hours`.
pub async fn start_spontaneous(
    store: &Store,
    ente: &Ente,
    service_id: i64,
    service: &ServiceDef,
    form: &FilledForm,
    account: &Account,
    abandon_hours: i64,
) -> Result<NoticeNumber, StoreError> {
    let segregation = SegregationCode::parse(&ente.segregation_code).map_err(|e| {
        StoreError::Db(sqlx::Error::Protocol(format!("ente segregation code: {e}")))
    })?;
    let base = store.next_iuv_base(ente.id).await?;
    let nav = NoticeNumber::from_aux3(segregation, base).map_err(|e| {
        StoreError::Db(sqlx::Error::Protocol(format!(
            "IUV sequence exhausted: {e}"
        )))
    })?;
    let now = Timestamp::now();
    let transfers = service
        .split(form.amount)
        .into_iter()
        .map(|(i, amount)| {
            let t = &service.transfers[i];
            Transfer {
                id_transfer: i as u8 + 1,
                amount,
                organization_fiscal_code: ente.fiscal_code.clone(),
                remittance_information: t
                    .remittance
                    .replace("{causale}", &form.causale)
                    .chars()
                    .take(140)
                    .collect(),
                category: t.category.clone(),
                destination: Destination::Iban {
                    iban: t.iban.clone(),
                    postal_iban: None,
                },
                company_name: None,
            }
        })
        .collect();
    let kind = match form.debtor_fiscal_code {
        FiscalCode::Personal(_) => SubjectType::F,
        FiscalCode::Legal(_) => SubjectType::G,
    };
    let position = NewPosition {
        iupd: format!("SPT-{}-{}", service.code.to_uppercase(), nav.iuv().as_str()),
        debtor: Debtor {
            kind,
            fiscal_code: form.debtor_fiscal_code.as_str().to_owned(),
            full_name: form.debtor_name.clone(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            province: None,
            region: None,
            country: None,
            email: form.email.clone(),
            phone: None,
        },
        company_name: ente.name.clone(),
        office_name: Some(ente.office_name.clone()).filter(|o| !o.is_empty()),
        validity_date: None,
        switch_to_expired: true,
        status: PositionStatus::Valid,
        options: vec![PaymentOption {
            iuv: nav.iuv(),
            nav: nav.clone(),
            amount: form.amount,
            description: form.causale.clone(),
            is_partial_payment: false,
            due_date: due_date_in(service.due_days, now),
            retention_date: None,
            fee: Cents::new(0),
            status: OptionStatus::Unpaid,
            metadata: "[]".to_owned(),
            transfers,
        }],
        service_id: Some(service_id),
        origin: Origin::Portal,
        created_by_account_id: Some(account.id),
        abandon_at: Some(now.plus(time::Duration::hours(abandon_hours))),
    };
    store.insert_position(ente.id, &position).await?;
    Ok(nav)
}

/// What a notice looked up for someone else turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeLookup {
    /// Payable by this citizen.
    Payable(Box<PendingOption>),
    /// The citizen is its debtor: it is already in their list.
    OwnNotice,
    /// No notice with this code at this ente.
    Unknown,
    /// Already paid.
    Paid,
    /// Past its due date.
    Expired,
    /// Cancelled by the ente.
    Cancelled,
    /// Not yet payable (draft or published for later).
    NotYetPayable,
    /// Its service does not allow paying for others.
    NotForOthers,
}

impl NoticeLookup {
    /// The Italian sentence for a refusal.
    pub fn message(&self) -> &'static str {
        match self {
            NoticeLookup::Payable(_) => "",
            NoticeLookup::OwnNotice => {
                "Questo avviso è intestato a te: lo trovi già nel tuo Elenco Pagamenti."
            }
            NoticeLookup::Unknown => {
                "Non risulta nessun avviso di questo ente con il codice indicato: controlla il codice sull'avviso di pagamento."
            }
            NoticeLookup::Paid => "L'avviso risulta già pagato: non è possibile pagarlo di nuovo.",
            NoticeLookup::Expired => {
                "L'avviso è scaduto e non può più essere pagato: rivolgiti all'ufficio che lo ha emesso."
            }
            NoticeLookup::Cancelled => {
                "L'avviso è stato annullato dall'ente e non può essere pagato."
            }
            NoticeLookup::NotYetPayable => {
                "L'avviso non è ancora pagabile: riprova dopo la data di validità indicata."
            }
            NoticeLookup::NotForOthers => {
                "Questo tipo di pagamento può essere effettuato solo dall'intestatario dell'avviso."
            }
        }
    }
}

/// Looks up a notice for a citizen who wants to pay it for someone else.
pub async fn lookup_for_others(
    store: &Store,
    ente: &Ente,
    account: &Account,
    nav: &NoticeNumber,
) -> Result<NoticeLookup, StoreError> {
    let Some(option) = store.option_by_nav(ente.id, nav.as_str()).await? else {
        return Ok(NoticeLookup::Unknown);
    };
    let now = Timestamp::now();
    Ok(
        match (
            option.position_status.as_str(),
            option.option_status.as_str(),
        ) {
            (_, "PO_PAID" | "PO_REPORTED" | "PO_PARTIALLY_REPORTED") | ("PAID" | "REPORTED", _) => {
                NoticeLookup::Paid
            }
            ("INVALID", _) => NoticeLookup::Cancelled,
            ("DRAFT" | "PUBLISHED", _) => NoticeLookup::NotYetPayable,
            _ if option.is_expired(now) => NoticeLookup::Expired,
            _ if option.debtor_fiscal_code == account.fiscal_code => NoticeLookup::OwnNotice,
            _ if !option.pay_for_others => NoticeLookup::NotForOthers,
            _ => NoticeLookup::Payable(Box::new(option)),
        },
    )
}

/// "Mario Rossi" → "M**** R****": enough for the payer to recognise the debtor, not enough to
/// learn a stranger's name from a notice code.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked() {
        assert_eq!(mask_name("Mario Rossi"), "M**** R****");
        assert_eq!(mask_name("  Lù  De Santis "), "L* D* S*****");
        assert_eq!(mask_name("X"), "X*");
    }

    #[test]
    fn due_dates_end_at_midnight_in_rome() {
        let now = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
        let due = due_date_in(30, now);
        assert_eq!(due.rome_date_time(), "27/12/2026 23:59");
        // Across the summer-time change the Rome offset of the due day is used.
        let march = Timestamp::parse("2026-03-20T10:00:00Z").unwrap();
        assert_eq!(due_date_in(10, march).rome_date_time(), "30/03/2026 23:59");
    }
}
