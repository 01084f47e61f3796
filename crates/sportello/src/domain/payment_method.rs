//! How a person reads the payment method of a pagoPA receipt (`paymentMethod`): pagoPA sends a
//! code (`CP`, `BBT`, `PPAL`…), people read "Carta di pagamento". The history, the payment
//! detail, the receipt PDF and the e-mails all say it with [`describe`]; the channel
//! (`channelDescription`: `onLine`, `frontOffice`…) reads with [`describe_channel`].

/// The codes pagoPA uses for payment methods and their Italian names: the node's
/// `stPaymentMethodFee` (`BBT`…`PPAL`), the methods Checkout offers (`BPAY`, `APPL`, `SATY`…),
/// and the generic `stPaymentMethod` values PSPs report (`cash`, `creditCard`, `bancomat`,
/// `other`).
const METHODS: [(&str, &str); 23] = [
    ("CP", "Carta di pagamento"),
    ("BBT", "Bonifico bancario"),
    ("BP", "Bollettino postale"),
    ("AD", "Addebito diretto"),
    (
        "PO",
        "Pagamento presso un prestatore di servizi di pagamento",
    ),
    ("OBEP", "Online banking"),
    ("JIF", "BANCOMAT Pay"),
    ("BPAY", "BANCOMAT Pay"),
    ("MYBK", "MyBank"),
    ("PPAL", "PayPal"),
    ("APPL", "Apple Pay"),
    ("GOOG", "Google Pay"),
    ("SATY", "Satispay"),
    ("RBPR", "Conto BancoPosta"),
    ("RBPB", "Conto BancoPosta Impresa"),
    ("RBPP", "Paga con Postepay"),
    ("RPIC", "Pago in Conto Intesa Sanpaolo"),
    ("RICO", "Conto corrente (iConto)"),
    ("KLRN", "Klarna"),
    ("cash", "Contanti"),
    ("creditCard", "Carta di credito"),
    ("bancomat", "Carta di debito (Bancomat)"),
    ("other", "Altro strumento di pagamento"),
];

/// The Italian name of a pagoPA payment method code; a code pagoPA adds later reads
/// "Altro strumento di pagamento (CODE)", so nothing is ever shown as a bare code alone.
pub fn describe(code: &str) -> String {
    let code = code.trim();
    match METHODS.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => (*name).to_owned(),
        None if code.is_empty() => "Non indicato".to_owned(),
        None => format!("Altro strumento di pagamento ({code})"),
    }
}

/// The channel kinds PSPs report in `channelDescription` (the node's `stPaymentChannel`).
const CHANNELS: [(&str, &str); 5] = [
    ("frontOffice", "Sportello fisico"),
    ("atm", "ATM"),
    ("onLine", "Online"),
    ("app", "App"),
    ("other", "Altro canale"),
];

/// The Italian name of a receipt's `channelDescription` when it is one of pagoPA's kinds; any
/// other description is the PSP's own words and is shown as sent.
pub fn describe_channel(description: &str) -> String {
    let description = description.trim();
    CHANNELS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(description))
        .map_or_else(|| description.to_owned(), |(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_an_italian_name() {
        assert_eq!(describe("CP"), "Carta di pagamento");
        assert_eq!(describe(" PPAL "), "PayPal");
        assert_eq!(describe("cash"), "Contanti");
        for (code, name) in METHODS {
            assert_eq!(describe(code), name);
            assert_ne!(name, code, "{code} is named, not echoed");
        }
        let mut codes: Vec<_> = METHODS.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), METHODS.len(), "each code once");
    }

    #[test]
    fn channels_read_as_italian() {
        assert_eq!(describe_channel("frontOffice"), "Sportello fisico");
        assert_eq!(describe_channel("online"), "Online");
        assert_eq!(describe_channel("app"), "App");
        assert_eq!(
            describe_channel("Home banking Banca X"),
            "Home banking Banca X"
        );
    }

    #[test]
    fn unknown_or_missing_codes_still_read_as_italian() {
        assert_eq!(describe("XYZW"), "Altro strumento di pagamento (XYZW)");
        assert_eq!(describe(""), "Non indicato");
    }
}
