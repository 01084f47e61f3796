//! Feeds arbitrary input to every pagopa parser. None may panic, and
//! whatever parses must come back unchanged through its canonical form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pagopa::{
    Cents, EcFiscalCode, FiscalCode, Iban, NoticeNumber, PartitaIva, PersonalFiscalCode,
    PosteDataMatrixPayload, QrPayload, SegregationCode,
};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(c) = Cents::parse(s) {
        // Display without the euro sign is what a form pre-fills.
        assert_eq!(Cents::parse(&c.to_italian()), Ok(c));
        assert_eq!(Cents::parse(&c.to_string()), Ok(c));
        assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
        assert!(c.get() >= 0);
    }
    if let Ok(c) = Cents::parse_xml(s) {
        assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
    }
    if let Ok(n) = NoticeNumber::parse(s) {
        assert_eq!(n.as_str().len(), 18);
        assert_eq!(NoticeNumber::parse(n.as_str()).as_ref(), Ok(&n));
        assert_eq!(NoticeNumber::parse(&n.grouped()).as_ref(), Ok(&n));
        assert_eq!(
            NoticeNumber::from_iuv(n.aux(), &n.iuv(), n.application_code()).as_ref(),
            Ok(&n)
        );
    }
    if let Ok(n) = NoticeNumber::parse_code_or_iuv(s, SegregationCode::new(1).unwrap()) {
        assert_eq!(NoticeNumber::parse(n.as_str()), Ok(n));
    }
    if let Ok(f) = FiscalCode::parse(s) {
        assert_eq!(FiscalCode::parse(f.as_str()).as_ref(), Ok(&f));
        if let FiscalCode::Personal(p) = &f {
            let base = p.without_omocodia();
            assert_eq!(PersonalFiscalCode::parse(base.as_str()).as_ref(), Ok(&base));
            assert_eq!(base.birth_date(), p.birth_date());
        }
    }
    if let Ok(p) = PartitaIva::parse(s) {
        assert_eq!(PartitaIva::parse(p.as_str()), Ok(p));
    }
    if let Ok(e) = EcFiscalCode::parse(s) {
        assert_eq!(e.as_str(), s);
    }
    if let Ok(i) = Iban::parse(s) {
        assert_eq!(Iban::parse(i.as_str()).as_ref(), Ok(&i));
        assert_eq!(Iban::parse(&i.grouped()).as_ref(), Ok(&i));
        let (country, bban) = i.as_str().split_at(2);
        assert_eq!(Iban::from_bban(country, &bban[2..]), Ok(i));
    }
    if let Ok(q) = QrPayload::parse(s) {
        assert_eq!(q.to_string(), s);
    }
    if let Ok(d) = PosteDataMatrixPayload::parse(s) {
        assert_eq!(d.encode().as_deref(), Ok(s));
    }
});
