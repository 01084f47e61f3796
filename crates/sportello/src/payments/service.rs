//! The payment use cases: see the module above.

use pagopa::{Cents, FiscalCode, NoticeNumber, SegregationCode};

use crate::checkout::{CheckoutError, Client};
use crate::clock::Timestamp;
use crate::domain::access::{self, ForOthersRefusal, Relation, Unpayable};
use crate::domain::catalog::{FilledForm, ServiceDef};
pub use crate::domain::checkout::MAX_CART;
use crate::domain::checkout::Return;
use crate::domain::identity::Viewer;
use crate::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, Position,
    PositionStatus, SubjectType, Transfer,
};
use crate::store::accounts::Account;
use crate::store::cart::PendingOption;
use crate::store::checkouts::Checkout;
use crate::store::ente::Ente;
use crate::store::events::{Direction, Exchange};
use crate::store::{Store, StoreError};

/// Notices one account may look up by code in an hour ("Pagamento per altri").
pub const LOOKUPS_PER_ACCOUNT_HOUR: i64 = 30;
/// Notices one client address may look up by code in an hour, whatever the account.
pub const LOOKUPS_PER_ADDRESS_HOUR: i64 = 100;

/// The end of the day `days` from today in Rome, as an instant: a due date printed as
/// "31/12" is payable all of that day.
pub fn due_date_in(days: u16, now: Timestamp) -> Timestamp {
    let rome = now.in_rome();
    let date = rome.date() + time::Duration::days(i64::from(days));
    Timestamp::from_rome(date.with_hms(23, 59, 59).expect("valid time"))
}

/// Creates the debt position of a spontaneous payment: its own aux-3 notice number, the debtor
/// as entered, the citizen as the one who started it (and its owner: the debtor typed is a
/// claim, `crate::domain::access`), removed if abandoned after `abandon_hours`.
async fn start_spontaneous(
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
    let base = store.mint_iuv_base(ente.id).await?;
    let nav = NoticeNumber::from_aux3(segregation, base)
        .map_err(|e| StoreError::Db(sqlx::Error::Protocol(format!("notice number: {e}"))))?;
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
    /// The citizen's own (verified debtor): it is already in their list.
    OwnNotice,
    /// The citizen created it: it is already in their list.
    Created,
    /// No notice with this code at this ente.
    Unknown,
    /// Not payable now.
    Unpayable(Unpayable),
    /// Its service does not allow paying for others.
    NotForOthers,
}

impl NoticeLookup {
    /// The Italian sentence for a refusal.
    pub fn message(&self) -> &'static str {
        match self {
            NoticeLookup::OwnNotice => {
                "Questo avviso è intestato a te: lo trovi già nel tuo Elenco Pagamenti."
            }
            NoticeLookup::Created => {
                "Questo avviso è già nel tuo Elenco Pagamenti: lo hai creato tu."
            }
            NoticeLookup::Unknown => {
                "Non risulta nessun avviso di questo ente con il codice indicato: controlla il codice sull'avviso di pagamento."
            }
            NoticeLookup::Unpayable(Unpayable::Paid | Unpayable::InstallmentsStarted) => {
                "L'avviso risulta già pagato: non è possibile pagarlo di nuovo."
            }
            NoticeLookup::Unpayable(Unpayable::Expired) => {
                "L'avviso è scaduto e non può più essere pagato: rivolgiti all'ufficio che lo ha emesso."
            }
            NoticeLookup::Unpayable(Unpayable::Cancelled) => {
                "L'avviso è stato annullato dall'ente e non può essere pagato."
            }
            NoticeLookup::Unpayable(Unpayable::NotPublished | Unpayable::NotYetValid) => {
                "L'avviso non è ancora pagabile: riprova dopo la data di validità indicata."
            }
            NoticeLookup::NotForOthers => {
                "Questo tipo di pagamento può essere effettuato solo dall'intestatario dell'avviso."
            }
        }
    }
}

/// Why a payment use case did not go through; [`PaymentsError::Internal`] aside, each is said
/// to the citizen in Italian ([`PaymentsError::message`]) and nothing was paid.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Nothing selected in the cart.
    #[error("empty selection")]
    NothingSelected,
    /// More than [`MAX_CART`] selected.
    #[error("{0} notices selected")]
    TooMany(usize),
    /// A selected notice is not (or no longer) pending for this citizen.
    #[error("a selected notice is not pending for this citizen")]
    NotPending,
    /// No Checkout client is configured.
    #[error("pagoPA Checkout is not configured")]
    CheckoutUnavailable,
    /// Checkout answered with an error or not at all.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// A notice code that is not one.
    #[error("bad notice code: {0}")]
    BadCode(String),
    /// A notice looked up for someone else that cannot be added.
    #[error("notice lookup refused: {0:?}")]
    Lookup(NoticeLookup),
    /// Too many lookups by code: try again in this many seconds.
    #[error("too many notice lookups, retry in {0} s")]
    TooManyLookups(i64),
    /// No such checkout, or not this citizen's.
    #[error("no such checkout")]
    NoCheckout,
    /// Storage failed; the cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] StoreError),
}

impl PaymentsError {
    /// What the citizen reads.
    pub fn message(&self) -> String {
        match self {
            PaymentsError::NothingSelected => "Seleziona almeno un pagamento da effettuare.".into(),
            PaymentsError::TooMany(n) => format!(
                "Puoi pagare al massimo {MAX_CART} posizioni in una sola transazione: ne hai selezionate {n}. Togli la selezione da quelle in più e riprova."
            ),
            PaymentsError::NotPending => {
                "Uno dei pagamenti selezionati non è più in sospeso: aggiorna l'elenco e riprova.".into()
            }
            PaymentsError::CheckoutUnavailable => "Il pagamento con pagoPA non è disponibile in questo momento: nessun importo è stato addebitato. Puoi pagare anche presso banche, uffici postali, tabaccherie e con l'app IO usando il codice avviso.".into(),
            PaymentsError::Checkout(CheckoutError::Unreachable(_)) => "Il servizio di pagamento pagoPA non risponde in questo momento. Nessun importo è stato addebitato: riprova tra qualche minuto.".into(),
            PaymentsError::Checkout(CheckoutError::Refused { .. }) => "Il servizio di pagamento pagoPA ha rifiutato la richiesta. Nessun importo è stato addebitato: riprova più tardi o contatta l'assistenza.".into(),
            PaymentsError::Checkout(CheckoutError::Failed { .. }) => "Il servizio di pagamento pagoPA non è disponibile in questo momento. Nessun importo è stato addebitato: riprova tra qualche minuto.".into(),
            PaymentsError::BadCode(why) => why.clone(),
            PaymentsError::Lookup(l) => l.message().into(),
            PaymentsError::TooManyLookups(seconds) => format!(
                "Hai cercato troppi avvisi in poco tempo: per proteggere i dati delle persone la ricerca per codice avviso è sospesa. Riprova tra {} minuti.",
                (seconds + 59) / 60
            ),
            PaymentsError::NoCheckout => "Pagamento non trovato.".into(),
            PaymentsError::Internal(_) => "Si è verificato un errore interno: riprova più tardi.".into(),
        }
    }
}

/// One line of a citizen's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    /// The option.
    pub option: PendingOption,
    /// How the citizen stands to it.
    pub relation: Relation,
    /// In a checkout of theirs waiting for its receipt: shown, not offered.
    pub waiting: bool,
}

impl CartLine {
    /// The debtor as this citizen may read it ("Tu", as typed, or masked).
    pub fn debtor(&self) -> String {
        match self.relation.debtor_shown() {
            access::DebtorShown::Viewer => "Tu".to_owned(),
            shown => shown.name(&self.option.debtor_name),
        }
    }
}

/// The payment use cases over a store, the ente and (when configured) pagoPA Checkout.
pub struct Payments<'a> {
    store: &'a Store,
    ente: &'a Ente,
    checkout: Option<&'a Client>,
    public_url: &'a str,
}

impl<'a> Payments<'a> {
    /// The use cases of `ente`; `public_url` is where Checkout sends the citizen back.
    pub fn new(
        store: &'a Store,
        ente: &'a Ente,
        checkout: Option<&'a Client>,
        public_url: &'a str,
    ) -> Payments<'a> {
        Payments {
            store,
            ente,
            checkout,
            public_url,
        }
    }

    /// What is pending for the citizen, oldest due date first.
    pub async fn cart(&self, viewer: &Viewer) -> Result<Vec<CartLine>, PaymentsError> {
        let now = Timestamp::now();
        let rows = self.store.cart(self.ente.id, viewer, now).await?;
        let ids: Vec<i64> = rows.iter().map(|(o, _)| o.option_id).collect();
        let waiting = self
            .store
            .options_awaiting_receipt(viewer, &ids, now)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(option, relation)| CartLine {
                waiting: waiting.contains(&option.option_id),
                option,
                relation,
            })
            .collect())
    }

    /// Sends the chosen options (ids from the cart form) to pagoPA Checkout; the answer is the
    /// page to send the citizen to. Every chosen option must be pending for the citizen now
    /// and not waiting for a receipt of theirs.
    pub async fn start_checkout(
        &self,
        account: &Account,
        chosen: &[i64],
    ) -> Result<String, PaymentsError> {
        if chosen.is_empty() {
            return Err(PaymentsError::NothingSelected);
        }
        if chosen.len() > MAX_CART {
            return Err(PaymentsError::TooMany(chosen.len()));
        }
        let cart = self.cart(&account.viewer()).await?;
        let mut lines = Vec::with_capacity(chosen.len());
        for id in chosen {
            match cart
                .iter()
                .find(|l| l.option.option_id == *id && !l.waiting)
            {
                Some(l) if !lines.iter().any(|x: &&CartLine| x.option.option_id == *id) => {
                    lines.push(l)
                }
                _ => return Err(PaymentsError::NotPending),
            }
        }
        let Some(client) = self.checkout else {
            return Err(PaymentsError::CheckoutUnavailable);
        };
        let id = format!("{:032x}", rand::random::<u128>());
        let base = self.public_url;
        let email = Some(account.email.clone()).filter(|e| pagopa::checkout::is_email(e));
        let request = pagopa::checkout::CartRequest {
            email_notice: email.clone(),
            payment_notices: lines
                .iter()
                .map(|l| pagopa::checkout::PaymentNoticeJson {
                    notice_number: l.option.nav.clone(),
                    fiscal_code: self.ente.fiscal_code.clone(),
                    amount: l.option.amount,
                    company_name: self.ente.name.chars().take(140).collect(),
                    description: l.option.description.chars().take(140).collect(),
                })
                .collect(),
            return_urls: pagopa::checkout::ReturnUrls {
                return_ok_url: format!("{base}/pagamenti/esito/{id}/ok"),
                return_cancel_url: format!("{base}/pagamenti/esito/{id}/annullato"),
                return_error_url: format!("{base}/pagamenti/esito/{id}/errore"),
            },
            // The node passes it back as the payment note of activation and receipt: that is
            // how the station links a receipt to this checkout, hence to the account that paid.
            id_cart: Some(id.clone()),
            all_ccp: Some(false),
        };
        let items: Vec<(i64, i64)> = lines
            .iter()
            .map(|l| (l.option.option_id, l.option.amount))
            .collect();
        self.store
            .create_checkout(&id, account.id, email.as_deref(), &items)
            .await?;
        let (result, wire) = client.create_cart(&request).await;
        let exchange = Exchange {
            direction: Direction::Out,
            channel: "checkout".into(),
            operation: "POST /carts".into(),
            correlation: Some(id.clone()),
            request: wire.request,
            response: wire.response,
            outcome: match &result {
                Ok(_) => "OK".into(),
                Err(e) => e.to_string(),
            },
            fault_code: None,
            http_status: wire.status,
            duration_ms: wire.duration_ms,
        };
        if let Err(e) = self.store.log_exchange(&exchange).await {
            tracing::warn!(error = %e, "cannot log the Checkout exchange");
        }
        match result {
            Ok(location) => {
                self.store.checkout_redirected(&id, &location).await?;
                Ok(location)
            }
            Err(e) => {
                tracing::warn!(checkout = %id, error = %e, "Checkout refused or failed");
                if let Err(store) = self.store.checkout_failed(&id, &e.to_string()).await {
                    tracing::warn!(checkout = %id, error = %store, "cannot mark the checkout failed");
                }
                Err(e.into())
            }
        }
    }

    /// The citizen came back from Checkout through one of the return URLs: the checkout (theirs
    /// only) as it stands after the return ([`CheckoutState::on_return`]).
    pub async fn returned(
        &self,
        account: &Account,
        id: &str,
        how: Return,
    ) -> Result<Checkout, PaymentsError> {
        let mut checkout = self
            .store
            .checkout_for_account(id, account.id)
            .await?
            .ok_or(PaymentsError::NoCheckout)?;
        if let Some(to) = checkout.state.on_return(how) {
            if self.store.checkout_returned(id, how).await? {
                checkout.state = to;
            } else if let Some(now) = self.store.checkout_for_account(id, account.id).await? {
                // Receipts moved it meanwhile.
                checkout = now;
            }
        }
        Ok(checkout)
    }

    /// Creates the position of a spontaneous payment (see [`start_spontaneous`]).
    pub async fn start_spontaneous(
        &self,
        service_id: i64,
        service: &ServiceDef,
        form: &FilledForm,
        account: &Account,
        abandon_hours: i64,
    ) -> Result<NoticeNumber, PaymentsError> {
        Ok(start_spontaneous(
            self.store,
            self.ente,
            service_id,
            service,
            form,
            account,
            abandon_hours,
        )
        .await?)
    }

    /// Looks up a notice by the code a citizen typed, to pay it for someone else. Lookups are
    /// limited per account and per client address ([`LOOKUPS_PER_ACCOUNT_HOUR`],
    /// [`LOOKUPS_PER_ADDRESS_HOUR`]): a notice code must not be a key to try by the thousand.
    pub async fn lookup_for_others(
        &self,
        viewer: &Viewer,
        client_address: &str,
        code: &str,
    ) -> Result<PendingOption, PaymentsError> {
        let segregation = SegregationCode::parse(&self.ente.segregation_code).map_err(|e| {
            StoreError::Db(sqlx::Error::Protocol(format!("ente segregation code: {e}")))
        })?;
        // A wrong check digit is refused here, before anything is looked up or counted.
        let nav = NoticeNumber::parse_code_or_iuv(code, segregation)
            .map_err(|e| PaymentsError::BadCode(e.to_string()))?;
        let hour = time::Duration::hours(1);
        for (bucket, max) in [
            (
                format!("lookup:account:{}", viewer.account_id()),
                LOOKUPS_PER_ACCOUNT_HOUR,
            ),
            (
                format!("lookup:address:{client_address}"),
                LOOKUPS_PER_ADDRESS_HOUR,
            ),
        ] {
            if let Err(wait) = self.store.rate_limit_hit(&bucket, hour, max).await? {
                return Err(PaymentsError::TooManyLookups(wait));
            }
        }
        let Some(option) = self
            .store
            .option_by_nav(self.ente.id, nav.as_str(), viewer.account_id())
            .await?
        else {
            return Err(PaymentsError::Lookup(NoticeLookup::Unknown));
        };
        access::payability(&option.state(), Timestamp::now())
            .map_err(|why| PaymentsError::Lookup(NoticeLookup::Unpayable(why)))?;
        access::may_add_for_others(viewer, &option.facts()).map_err(|why| {
            PaymentsError::Lookup(match why {
                ForOthersRefusal::Own => NoticeLookup::OwnNotice,
                ForOthersRefusal::Created => NoticeLookup::Created,
                ForOthersRefusal::NotForOthers => NoticeLookup::NotForOthers,
            })
        })?;
        Ok(option)
    }

    /// Adds a notice found by its code to the citizen's cart (same checks and limits as the
    /// lookup).
    pub async fn add_for_others(
        &self,
        viewer: &Viewer,
        client_address: &str,
        code: &str,
    ) -> Result<(), PaymentsError> {
        let option = self.lookup_for_others(viewer, client_address, code).await?;
        self.store
            .add_to_cart(viewer.account_id(), option.option_id)
            .await?;
        Ok(())
    }

    /// The position whose paper notice (option `iuv`) the viewer may download
    /// ([`access::may_print_notice`]): theirs as verified debtor or as creator, never one found
    /// by its code. `None` for anything else, whether it exists or not.
    pub async fn notice_to_print(
        &self,
        viewer: &Viewer,
        iuv: &str,
    ) -> Result<Option<Position>, PaymentsError> {
        let Some(found) = self
            .store
            .notice_candidate(self.ente.id, iuv, viewer.account_id())
            .await?
        else {
            return Ok(None);
        };
        Ok(
            access::may_print_notice(viewer, &found.facts(), found.position.status)
                .then_some(found.position),
        )
    }

    /// Takes a notice added by code out of the citizen's cart.
    pub async fn remove_from_cart(
        &self,
        viewer: &Viewer,
        option_id: i64,
    ) -> Result<(), PaymentsError> {
        self.store
            .remove_from_cart(viewer.account_id(), option_id)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
