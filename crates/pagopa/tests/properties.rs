//! Property tests: round trips, detection of every single-character typo
//! that the check digits promise to catch, and parsers that never panic.

use pagopa::{
    AuxDigit, Cents, EcFiscalCode, FiscalCode, FiscalCodeError, Iban, NoticeError, NoticeNumber,
    PartitaIva, PersonalFiscalCode, PosteDataMatrixPayload, QrPayload, SegregationCode,
};
use proptest::prelude::*;

/// Independent oracle for the NAV check digit: the first 16 digits mod 93.
fn nav_check(first16: &str) -> String {
    format!("{:02}", first16.parse::<u64>().unwrap() % 93)
}

/// A valid NAV with a check digit (aux 0, 2 or 3).
fn checked_nav() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!['0', '2', '3']), "[0-9]{15}").prop_map(|(aux, rest)| {
        let first16 = format!("{aux}{rest}");
        let cd = nav_check(&first16);
        format!("{first16}{cd}")
    })
}

/// A valid NAV of any aux digit.
fn any_nav() -> impl Strategy<Value = String> {
    prop_oneof![checked_nav(), "1[0-9]{17}"]
}

/// A digit or its omocodia letter.
fn numeric_char(d: u8) -> impl Strategy<Value = char> {
    let letter = char::from(b"LMNPQRSTUV"[usize::from(d)]);
    prop::sample::select(vec![char::from(b'0' + d), letter])
}

/// The first 15 characters of a structurally valid personal fiscal code,
/// with omocodia substitutions anywhere.
fn personal_first15() -> impl Strategy<Value = String> {
    let day = prop_oneof![1u8..=31, 41u8..=71];
    (
        "[A-Z]{6}",
        (0u8..=9, 0u8..=9),
        prop::sample::select(b"ABCDEHLMPRST".to_vec()),
        day,
        "[A-Z]",
        (0u8..=9, 0u8..=9, 0u8..=9),
    )
        .prop_flat_map(
            |(names, (y1, y2), month, day, place_letter, (p1, p2, p3))| {
                (
                    Just(names),
                    (numeric_char(y1), numeric_char(y2)),
                    Just(char::from(month)),
                    (numeric_char(day / 10), numeric_char(day % 10)),
                    Just(place_letter),
                    (numeric_char(p1), numeric_char(p2), numeric_char(p3)),
                )
            },
        )
        .prop_map(|(names, (y1, y2), month, (d1, d2), place, (p1, p2, p3))| {
            format!("{names}{y1}{y2}{month}{d1}{d2}{place}{p1}{p2}{p3}")
        })
}

/// A valid partita IVA.
fn partita_iva() -> impl Strategy<Value = String> {
    "[0-9]{10}".prop_map(|first10| {
        let cd = PartitaIva::check_digit_for(&first10).unwrap();
        format!("{first10}{cd}")
    })
}

/// A valid Italian IBAN.
fn italian_iban() -> impl Strategy<Value = Iban> {
    "[A-Z][0-9]{10}[0-9A-Z]{12}".prop_map(|bban| Iban::from_bban("IT", &bban).unwrap())
}

proptest! {
    // ---- Cents ----

    #[test]
    fn cents_italian_display_parses_back(v in 0i64..=i64::MAX) {
        let c = Cents::new(v);
        let shown = c.to_string();
        let plain = shown.strip_suffix(" €").unwrap();
        prop_assert_eq!(plain, c.to_italian());
        prop_assert_eq!(Cents::parse(plain), Ok(c));
        prop_assert_eq!(Cents::parse(&shown), Ok(c));
    }

    #[test]
    fn cents_small_display_parses_back(v in 0i64..10_000_000) {
        let c = Cents::new(v);
        prop_assert_eq!(Cents::parse(&c.to_italian()), Ok(c));
    }

    #[test]
    fn cents_xml_round_trip(v in any::<i64>()) {
        let c = Cents::new(v);
        prop_assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
    }

    #[test]
    fn cents_typed_forms(euros in 0i64..1_000_000_000, frac in 0i64..100) {
        let expected = Ok(Cents::new(euros * 100 + frac));
        prop_assert_eq!(Cents::parse(&format!("{euros},{frac:02}")), expected);
        prop_assert_eq!(Cents::parse(&format!("{euros}.{frac:02}")), expected);
        prop_assert_eq!(Cents::parse(&format!("  {euros},{frac:02} € ")), expected);
        if frac % 10 == 0 {
            prop_assert_eq!(Cents::parse(&format!("{euros},{}", frac / 10)), expected);
        }
    }

    // ---- Notice numbers ----

    #[test]
    fn from_aux3_parses_back(seg in 0u8..=99, seq in 0u64..10_000_000_000_000) {
        let seg = SegregationCode::new(seg).unwrap();
        let n = NoticeNumber::from_aux3(seg, seq).unwrap();
        let back = NoticeNumber::parse(n.as_str()).unwrap();
        prop_assert_eq!(back.aux(), AuxDigit::Three);
        prop_assert_eq!(back.segregation_code(), Some(seg));
        let iuv = back.iuv();
        prop_assert_eq!(iuv.as_str()[2..15].parse::<u64>().unwrap(), seq);
        prop_assert_eq!(NoticeNumber::parse_code_or_iuv(iuv.as_str(), seg), Ok(n.clone()));
        prop_assert_eq!(back, n);
    }

    #[test]
    fn nav_grouped_parses_back(nav in any_nav()) {
        let n = NoticeNumber::parse(&nav).unwrap();
        prop_assert_eq!(n.as_str(), nav.as_str());
        prop_assert_eq!(NoticeNumber::parse(&n.grouped()), Ok(n.clone()));
        prop_assert_eq!(NoticeNumber::parse(&n.grouped().replace(' ', "-")), Ok(n.clone()));
        prop_assert_eq!(NoticeNumber::from_iuv(n.aux(), &n.iuv(), n.application_code()), Ok(n));
    }

    /// Every substitution of one digit by another is refused. The one
    /// exception is the aux digit turned into 1: aux 1 has no check digit,
    /// so `1` + any 17 digits is a legitimately valid (legacy) NAV.
    #[test]
    fn nav_single_digit_mutations_are_rejected(nav in checked_nav()) {
        prop_assert!(NoticeNumber::parse(&nav).is_ok());
        for pos in 0..18 {
            for d in b'0'..=b'9' {
                let mut m = nav.clone().into_bytes();
                if m[pos] == d {
                    continue;
                }
                m[pos] = d;
                let m = String::from_utf8(m).unwrap();
                let r = NoticeNumber::parse(&m);
                if pos == 0 && d == b'1' {
                    prop_assert!(r.is_ok(), "{} -> {}", nav, m);
                } else if pos == 0 && d > b'3' {
                    prop_assert_eq!(r, Err(NoticeError::InvalidAux));
                } else {
                    prop_assert_eq!(r, Err(NoticeError::BadCheckDigit), "{} -> {}", nav, m);
                }
            }
        }
    }

    // ---- Fiscal codes ----

    #[test]
    fn generated_personal_codes_parse(first15 in personal_first15()) {
        let cc = PersonalFiscalCode::check_char_for(&first15).unwrap();
        let code = format!("{first15}{cc}");
        let p = PersonalFiscalCode::parse(&code).unwrap();
        prop_assert_eq!(p.as_str(), code.as_str());
        let f = FiscalCode::parse(&code.to_lowercase()).unwrap();
        prop_assert!(!f.is_legal_person());
        prop_assert_eq!(f.as_str(), code.as_str());
        // Undoing omocodia gives a valid code with the same birth data.
        let base = p.without_omocodia();
        prop_assert_eq!(PersonalFiscalCode::parse(base.as_str()), Ok(base.clone()));
        prop_assert_eq!(base.birth_date(), p.birth_date());
        prop_assert_eq!(base.is_female(), p.is_female());
        prop_assert_eq!(base.place_code(), p.place_code());
        prop_assert!(!base.is_omocode());
        for other in b'A'..=b'Z' {
            if char::from(other) == cc {
                continue;
            }
            let m = format!("{first15}{}", char::from(other));
            prop_assert_eq!(PersonalFiscalCode::parse(&m), Err(FiscalCodeError::BadCheckChar));
            prop_assert_eq!(FiscalCode::parse(&m), Err(FiscalCodeError::BadCheckChar));
        }
    }

    #[test]
    fn partita_iva_single_digit_mutations_are_rejected(code in partita_iva()) {
        let p = PartitaIva::parse(&code).unwrap();
        prop_assert_eq!(p.as_str(), code.as_str());
        prop_assert!(FiscalCode::parse(&code).unwrap().is_legal_person());
        for pos in 0..11 {
            for d in b'0'..=b'9' {
                let mut m = code.clone().into_bytes();
                if m[pos] == d {
                    continue;
                }
                m[pos] = d;
                let m = String::from_utf8(m).unwrap();
                prop_assert_eq!(
                    PartitaIva::parse(&m),
                    Err(FiscalCodeError::PartitaIvaBadCheckDigit),
                    "{} -> {}", code, m
                );
            }
        }
    }

    // ---- IBAN ----

    #[test]
    fn iban_round_trips(iban in italian_iban()) {
        prop_assert_eq!(iban.as_str().len(), 27);
        prop_assert_eq!(Iban::parse(iban.as_str()), Ok(iban.clone()));
        prop_assert_eq!(Iban::parse(&iban.grouped()), Ok(iban.clone()));
        prop_assert_eq!(Iban::parse(&iban.grouped().to_lowercase()), Ok(iban.clone()));
        prop_assert_eq!(iban.to_string(), iban.as_str());
    }

    #[test]
    fn other_country_iban_round_trips(bban in "[0-9]{18}") {
        let iban = Iban::from_bban("DE", &bban).unwrap();
        prop_assert_eq!(Iban::parse(iban.as_str()), Ok(iban.clone()));
        prop_assert!(!iban.is_italian());
    }

    #[test]
    fn iban_single_digit_mutations_are_rejected(iban in italian_iban()) {
        let s = iban.as_str();
        for pos in 2..s.len() {
            if !s.as_bytes()[pos].is_ascii_digit() {
                continue;
            }
            for d in b'0'..=b'9' {
                let mut m = s.as_bytes().to_vec();
                if m[pos] == d {
                    continue;
                }
                m[pos] = d;
                let m = String::from_utf8(m).unwrap();
                prop_assert!(Iban::parse(&m).is_err(), "{} -> {}", s, m);
            }
        }
    }

    // ---- Payloads ----

    #[test]
    fn qr_payload_round_trip(
        seg in 0u8..=99,
        seq in 0u64..10_000_000_000_000,
        ec in "[0-9]{11}",
        cents in 1i64..=i64::MAX,
    ) {
        let p = QrPayload::new(
            NoticeNumber::from_aux3(SegregationCode::new(seg).unwrap(), seq).unwrap(),
            EcFiscalCode::parse(&ec).unwrap(),
            Cents::new(cents),
        ).unwrap();
        let s = p.to_string();
        prop_assert_eq!(QrPayload::parse(&s), Ok(p));
        prop_assert_eq!(QrPayload::parse(&s).unwrap().to_string(), s);
    }

    #[test]
    fn data_matrix_round_trip(
        nav in any_nav(),
        account in "[1-9][0-9]{0,11}",
        cents in 1i64..=9_999_999_999,
        ec in "[0-9]{11}",
        debtor in prop_oneof![
            personal_first15().prop_map(|f| {
                let cc = PersonalFiscalCode::check_char_for(&f).unwrap();
                format!("{f}{cc}")
            }),
            partita_iva(),
        ],
        name in "\\PC{0,60}",
        subject in "\\PC{0,130}",
    ) {
        let p = PosteDataMatrixPayload {
            notice: NoticeNumber::parse(&nav).unwrap(),
            postal_account: account,
            amount: Cents::new(cents),
            ec_fiscal_code: EcFiscalCode::parse(&ec).unwrap(),
            debtor_fiscal_code: FiscalCode::parse(&debtor).unwrap(),
            debtor_name: name,
            subject,
        };
        let s = p.encode().unwrap();
        prop_assert_eq!(s.len(), 256);
        prop_assert!(s.is_ascii());
        let back = PosteDataMatrixPayload::parse(&s).unwrap();
        prop_assert_eq!(&back.notice, &p.notice);
        prop_assert_eq!(&back.postal_account, &p.postal_account);
        prop_assert_eq!(back.amount, p.amount);
        prop_assert_eq!(&back.ec_fiscal_code, &p.ec_fiscal_code);
        prop_assert_eq!(&back.debtor_fiscal_code, &p.debtor_fiscal_code);
        prop_assert!(back.debtor_name.len() <= 40);
        prop_assert!(back.subject.len() <= 110);
        prop_assert_eq!(back.encode().unwrap(), s);
    }

    // ---- No parser panics ----

    #[test]
    fn parsers_never_panic(s in "\\PC*|[0-9 .,€-]{0,30}|[0-9A-Za-z|]{0,60}") {
        check_all_parsers(&s);
    }

    #[test]
    fn parsers_never_panic_on_near_misses(
        base in prop::sample::select(vec![
            "PAGOPA|002|301000000000000144|01234567890|12345".to_string(),
            "RSSMRA80A01H501U".to_string(),
            "IT60X0542811101000000123456".to_string(),
            "3010 0000 0000 0001 44".to_string(),
            "1.234,56".to_string(),
            data_matrix_sample(),
        ]),
        pos in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let mut chars: Vec<char> = base.chars().collect();
        let i = pos.index(chars.len());
        chars[i] = replacement;
        let s: String = chars.into_iter().collect();
        check_all_parsers(&s);
    }
}

fn data_matrix_sample() -> String {
    PosteDataMatrixPayload {
        notice: NoticeNumber::parse("301000000000000144").unwrap(),
        postal_account: "12345678".into(),
        amount: Cents::new(12_345),
        ec_fiscal_code: EcFiscalCode::parse("01234567890").unwrap(),
        debtor_fiscal_code: FiscalCode::parse("RSSMRA80A01H501U").unwrap(),
        debtor_name: "Mario Rossi".into(),
        subject: "TARI 2025".into(),
    }
    .encode()
    .unwrap()
}

/// Runs every parser; where one succeeds, its canonical output must parse
/// back to the same value.
fn check_all_parsers(s: &str) {
    if let Ok(c) = Cents::parse(s) {
        assert_eq!(Cents::parse(&c.to_italian()), Ok(c));
    }
    if let Ok(c) = Cents::parse_xml(s) {
        assert_eq!(Cents::parse_xml(&c.to_xml()), Ok(c));
    }
    if let Ok(n) = NoticeNumber::parse(s) {
        assert_eq!(NoticeNumber::parse(n.as_str()).as_ref(), Ok(&n));
        assert_eq!(NoticeNumber::parse(&n.grouped()), Ok(n));
    }
    if let Ok(n) = NoticeNumber::parse_code_or_iuv(s, SegregationCode::new(1).unwrap()) {
        assert_eq!(NoticeNumber::parse(n.as_str()), Ok(n));
    }
    if let Ok(f) = FiscalCode::parse(s) {
        assert_eq!(FiscalCode::parse(f.as_str()), Ok(f));
    }
    if let Ok(p) = PartitaIva::parse(s) {
        assert_eq!(PartitaIva::parse(p.as_str()), Ok(p));
    }
    if let Ok(e) = EcFiscalCode::parse(s) {
        assert_eq!(e.as_str(), s);
    }
    if let Ok(i) = Iban::parse(s) {
        assert_eq!(Iban::parse(i.as_str()).as_ref(), Ok(&i));
        assert_eq!(Iban::parse(&i.grouped()), Ok(i));
    }
    if let Ok(q) = QrPayload::parse(s) {
        assert_eq!(q.to_string(), s);
    }
    if let Ok(d) = PosteDataMatrixPayload::parse(s) {
        assert_eq!(d.encode().as_deref(), Ok(s));
    }
}

/// Why the NAV mutation property holds for every input, not just sampled
/// ones: a substitution in the first 16 digits changes the number by
/// d × 10^k with 1 ≤ |d| ≤ 9, and none of these is a multiple of 93.
/// A substitution in the last two digits changes the check value itself.
#[test]
fn mod_93_catches_every_single_digit_change() {
    for k in 0..16u32 {
        for d in 1..=9u64 {
            assert_ne!((d * 10u64.pow(k)) % 93, 0, "d={d} k={k}");
        }
    }
}
