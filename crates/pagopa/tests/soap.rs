//! Property tests of the paForNode codec: every message type, request and response, encodes to
//! an envelope that decodes back to the same value; decoding never panics on arbitrary input.
//!
//! Schema check outside the repository (the XSD cannot be committed): run with
//! `SOAP_SAMPLES_DIR=/some/dir` and every generated message is also written there, one file per
//! message, for `xmllint --schema paForNode.xsd` after cutting the payload out of the envelope.

use std::sync::atomic::{AtomicUsize, Ordering};

use pagopa::soap::{
    AmountOption, EntityType, Fault, FaultCode, MapEntry, MarcaDaBollo, Operation, Outcome,
    PaDemandPaymentNoticeRequest, PaDemandPaymentNoticeResponse, PaGetPaymentReq, PaGetPaymentRes,
    PaSendRtReq, PaSendRtRes, PaVerifyPaymentNoticeReq, PaVerifyPaymentNoticeRes, PaymentData,
    PaymentOptionDescription, QrCode, Receipt, Request, Response, StationIds, Subject, Transfer,
    TransferDestination, TransferType, Version, XsdDate, XsdDateTime,
};
use pagopa::{Cents, EcFiscalCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Characters that exercise escaping, non-ASCII and whitespace handling.
const CHARS: &[char] = &[
    'a', 'Z', '0', '9', ' ', '&', '<', '>', '"', '\'', ';', '#', 'à', 'è', '€', '\n', '\r', '\t',
    ']', '🙂', '/', '=',
];

fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), min..=max).prop_map(String::from_iter)
}

fn opt_text(max: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::of(text(1, max))
}

fn fiscal_code() -> impl Strategy<Value = EcFiscalCode> {
    "[0-9]{11}".prop_map(|s| EcFiscalCode::parse(&s).unwrap())
}

fn amount(min: i64) -> impl Strategy<Value = Cents> {
    prop_oneof![min..=99_999i64, min..=99_999_999_999i64].prop_map(Cents::new)
}

fn date() -> impl Strategy<Value = XsdDate> {
    (
        1900u32..2200,
        1u32..=12,
        1u32..=28,
        prop::sample::select(vec!["", "Z", "+01:00", "-05:30"]),
    )
        .prop_map(|(y, m, d, tz)| XsdDate::parse(&format!("{y:04}-{m:02}-{d:02}{tz}")).unwrap())
}

fn date_time() -> impl Strategy<Value = XsdDateTime> {
    (
        (2000u32..2100, 1u32..=12, 1u32..=28),
        (0u32..24, 0u32..60, 0u32..60),
        prop::sample::select(vec!["", ".5", ".123", ".1234567"]),
        prop::sample::select(vec!["", "Z", "+02:00"]),
    )
        .prop_map(|((y, mo, d), (h, mi, s), frac, tz)| {
            XsdDateTime::parse(&format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{tz}"
            ))
            .unwrap()
        })
}

fn ids() -> impl Strategy<Value = StationIds> {
    (text(1, 35), text(1, 35), text(1, 35)).prop_map(|(a, b, c)| StationIds {
        id_pa: a,
        id_broker_pa: b,
        id_station: c,
    })
}

fn qr_code() -> impl Strategy<Value = QrCode> {
    (fiscal_code(), "[0-9]{18}").prop_map(|(fiscal_code, notice_number)| QrCode {
        fiscal_code,
        notice_number,
    })
}

fn metadata() -> impl Strategy<Value = Vec<MapEntry>> {
    prop::collection::vec(
        (text(1, 140), text(1, 140)).prop_map(|(key, value)| MapEntry { key, value }),
        0..=15,
    )
}

fn subject() -> BoxedStrategy<Subject> {
    (
        (
            prop::sample::select(vec![EntityType::F, EntityType::G]),
            text(2, 16),
            text(1, 70),
        ),
        (
            opt_text(70),
            opt_text(16),
            opt_text(16),
            opt_text(35),
            opt_text(35),
        ),
        prop::option::of("[A-Z]{2}"),
        prop::option::of("[a-zA-Z0-9_.+-]{1,12}@[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,6}){0,2}"),
    )
        .prop_map(
            |(
                (entity_type, entity_value, full_name),
                (street, civic, postal, city, region),
                country,
                email,
            )| {
                Subject {
                    entity_type,
                    entity_value,
                    full_name,
                    street_name: street,
                    civic_number: civic,
                    postal_code: postal,
                    city,
                    state_province_region: region,
                    country,
                    email,
                }
            },
        )
        .boxed()
}

fn iban() -> impl Strategy<Value = TransferDestination> {
    text(1, 35).prop_map(TransferDestination::Iban)
}

/// Standard base64 of `bytes` (an independent encoder, so the codec is not its own oracle).
fn to_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64(bytes: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), bytes).prop_map(|b| to_base64(&b))
}

fn stamp() -> impl Strategy<Value = TransferDestination> {
    (base64(1..=54), "[A-Z]{2}").prop_map(|(hash, prov)| {
        TransferDestination::MarcaDaBollo(MarcaDaBollo {
            hash_documento: hash,
            tipo_bollo: "01".into(),
            provincia_residenza: prov,
        })
    })
}

#[derive(Debug, Clone, Copy)]
enum Ctx {
    V1,
    PaymentV2,
    ReceiptV2,
}

fn transfers(ctx: Ctx) -> BoxedStrategy<Vec<Transfer>> {
    let destination = match ctx {
        Ctx::V1 => iban().boxed(),
        Ctx::PaymentV2 => prop_oneof![iban(), stamp()].boxed(),
        Ctx::ReceiptV2 => prop_oneof![
            iban(),
            base64(1..=120).prop_map(TransferDestination::MbdAttachment)
        ]
        .boxed(),
    };
    let company = match ctx {
        Ctx::V1 => Just(None).boxed(),
        _ => opt_text(140).boxed(),
    };
    prop::collection::vec(
        (
            1u8..=5,
            amount(1),
            fiscal_code(),
            company,
            destination,
            text(1, 140),
            text(1, 140),
            metadata(),
        )
            .prop_map(
                |(id, amount, fc, company_name, destination, rem, cat, metadata)| Transfer {
                    id_transfer: id,
                    transfer_amount: amount,
                    fiscal_code_pa: fc,
                    company_name,
                    destination,
                    remittance_information: rem,
                    transfer_category: cat,
                    metadata,
                },
            ),
        1..=5,
    )
    .boxed()
}

fn fault() -> impl Strategy<Value = Fault> {
    (
        prop_oneof![
            prop::sample::select(vec![
                FaultCode::PaaSintassiXsd,
                FaultCode::PaaSintassiExtraxsd,
                FaultCode::PaaSemantica,
                FaultCode::PaaPagamentoSconosciuto,
                FaultCode::PaaPagamentoDuplicato,
                FaultCode::PaaSystemError,
            ]),
            "PPT_[A-Z_]{1,20}".prop_map(|c| FaultCode::parse(&c)),
        ],
        (text(0, 50), text(0, 20)),
        (
            prop::option::of(text(0, 200)),
            prop::option::of(any::<i32>()),
            prop::option::of(text(0, 30)),
            prop::option::of(text(0, 30)),
            prop::option::of(text(0, 30)),
        ),
    )
        .prop_map(
            |(code, (string, id), (description, serial, ofc, ofs, od))| Fault {
                fault_code: code,
                fault_string: string,
                id,
                description,
                serial,
                original_fault_code: ofc,
                original_fault_string: ofs,
                original_description: od,
            },
        )
}

fn outcome_and_fault() -> impl Strategy<Value = (Outcome, Option<Fault>)> {
    prop_oneof![
        Just((Outcome::Ok, None)),
        fault().prop_map(|f| (Outcome::Ko, Some(f)))
    ]
}

fn option_description() -> impl Strategy<Value = PaymentOptionDescription> {
    (
        amount(1),
        prop::sample::select(vec![
            AmountOption::Eq,
            AmountOption::Ls,
            AmountOption::Gt,
            AmountOption::Any,
        ]),
        prop::option::of(date()),
        opt_text(140),
        any::<bool>(),
    )
        .prop_map(
            |(amount, options, due_date, detail, all_ccp)| PaymentOptionDescription {
                amount,
                options,
                due_date,
                detail_description: detail,
                all_ccp,
            },
        )
}

fn payment_data(version: Version) -> BoxedStrategy<PaymentData> {
    let company = match version {
        Version::V1 => opt_text(140).boxed(),
        Version::V2 => text(1, 140).prop_map(Some).boxed(),
    };
    let ctx = match version {
        Version::V1 => Ctx::V1,
        Version::V2 => Ctx::PaymentV2,
    };
    (
        (
            text(1, 35),
            amount(1),
            date(),
            prop::option::of(date_time()),
        ),
        (
            prop::option::of(any::<bool>()),
            text(1, 140),
            company,
            opt_text(140),
        ),
        (subject(), transfers(ctx), metadata()),
    )
        .prop_map(
            |(
                (iuv, amount, due, retention),
                (last, description, company_name, office_name),
                (debtor, transfers, metadata),
            )| {
                PaymentData {
                    creditor_reference_id: iuv,
                    payment_amount: amount,
                    due_date: due,
                    retention_date: retention,
                    last_payment: last,
                    description,
                    company_name,
                    office_name,
                    debtor,
                    transfers,
                    metadata,
                }
            },
        )
        .boxed()
}

fn receipt(version: Version) -> BoxedStrategy<Receipt> {
    let v2 = matches!(version, Version::V2);
    let v2_only = if v2 {
        (
            opt_text(210),
            prop::option::of(amount(0)),
            opt_text(70),
            opt_text(70),
        )
            .boxed()
    } else {
        Just((None, None, None, None)).boxed()
    };
    (
        (
            text(0, 40),
            "[0-9]{18}",
            fiscal_code(),
            prop::sample::select(vec![Outcome::Ok, Outcome::Ko]),
            text(1, 35),
            amount(0),
        ),
        (text(1, 140), text(1, 140), opt_text(140), subject()),
        transfers(if v2 { Ctx::ReceiptV2 } else { Ctx::V1 }),
        (
            text(1, 35),
            opt_text(70),
            opt_text(20),
            text(1, 70),
            text(1, 35),
            text(1, 35),
        ),
        (
            prop::option::of(subject()),
            opt_text(35),
            prop::option::of(amount(0)),
        ),
        v2_only,
        (
            prop::option::of(date_time()),
            prop::option::of(date()),
            prop::option::of(date()),
            metadata(),
            prop::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (receipt_id, notice_number, fiscal_code, outcome, iuv, payment_amount),
                (description, company_name, office_name, debtor),
                transfers,
                (id_psp, psp_fc, psp_piva, psp_name, id_channel, channel_description),
                (payer, payment_method, fee),
                (payment_note, primary_fee, id_bundle, id_ci_bundle),
                (payment_date_time, application_date, transfer_date, metadata, stand_in),
            )| Receipt {
                receipt_id,
                notice_number,
                fiscal_code,
                outcome,
                creditor_reference_id: iuv,
                payment_amount,
                description,
                company_name,
                office_name,
                debtor,
                transfers,
                id_psp,
                psp_fiscal_code: psp_fc,
                psp_partita_iva: psp_piva,
                psp_company_name: psp_name,
                id_channel,
                channel_description,
                payer,
                payment_method,
                payment_note,
                fee,
                primary_ci_incurred_fee: primary_fee,
                id_bundle,
                id_ci_bundle,
                payment_date_time,
                application_date,
                transfer_date,
                metadata,
                stand_in,
            },
        )
        .boxed()
}

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(vec![Version::V1, Version::V2])
}

fn request() -> BoxedStrategy<Request> {
    prop_oneof![
        (ids(), qr_code())
            .prop_map(|(ids, qr_code)| Request::Verify(PaVerifyPaymentNoticeReq { ids, qr_code })),
        (
            version(),
            ids(),
            qr_code(),
            prop::option::of(amount(0)),
            opt_text(210),
            prop::option::of(prop::sample::select(vec![
                TransferType::Postal,
                TransferType::Pagopa
            ])),
            prop::option::of(date()),
        )
            .prop_map(
                |(version, ids, qr_code, amount, payment_note, transfer_type, due_date)| {
                    Request::GetPayment(PaGetPaymentReq {
                        version,
                        ids,
                        qr_code,
                        amount,
                        payment_note,
                        transfer_type,
                        due_date,
                    })
                }
            ),
        version()
            .prop_flat_map(|v| (Just(v), ids(), receipt(v)))
            .prop_map(|(version, ids, receipt)| Request::SendRt(PaSendRtReq {
                version,
                ids,
                receipt
            })),
        (ids(), text(5, 5), text(5, 5), base64(0..=60)).prop_map(|(ids, s, ss, dati)| {
            Request::Demand(PaDemandPaymentNoticeRequest {
                ids,
                id_servizio: s,
                id_soggetto_servizio: ss,
                dati_specifici_servizio_request: dati,
            })
        }),
    ]
    .boxed()
}

fn response() -> BoxedStrategy<Response> {
    prop_oneof![
        (
            outcome_and_fault(),
            prop::option::of(option_description()),
            opt_text(140),
            prop::option::of(fiscal_code()),
            opt_text(140),
            opt_text(140),
        )
            .prop_map(|((outcome, fault), list, desc, fc, company, office)| {
                Response::Verify(PaVerifyPaymentNoticeRes {
                    outcome,
                    fault,
                    payment_list: list,
                    payment_description: desc,
                    fiscal_code_pa: fc,
                    company_name: company,
                    office_name: office,
                })
            }),
        version()
            .prop_flat_map(|v| (
                Just(v),
                outcome_and_fault(),
                prop::option::of(payment_data(v))
            ))
            .prop_map(|(version, (outcome, fault), data)| {
                Response::GetPayment(PaGetPaymentRes {
                    version,
                    outcome,
                    fault,
                    data,
                })
            }),
        (version(), outcome_and_fault()).prop_map(|(version, (outcome, fault))| {
            Response::SendRt(PaSendRtRes {
                version,
                outcome,
                fault,
            })
        }),
        (
            outcome_and_fault(),
            prop::option::of(qr_code()),
            prop::option::of(option_description()),
            opt_text(140),
            prop::option::of(fiscal_code()),
            opt_text(140),
            opt_text(140),
        )
            .prop_map(|((outcome, fault), qr, list, desc, fc, company, office)| {
                Response::Demand(PaDemandPaymentNoticeResponse {
                    outcome,
                    fault,
                    qr_code: qr,
                    payment_list: list,
                    payment_description: desc,
                    fiscal_code_pa: fc,
                    company_name: company,
                    office_name: office,
                })
            }),
    ]
    .boxed()
}

static SAMPLE: AtomicUsize = AtomicUsize::new(0);

/// Writes `xml` to `$SOAP_SAMPLES_DIR` when set (see the module documentation).
fn keep_sample(kind: &str, operation: Operation, xml: &str) {
    if let Ok(dir) = std::env::var("SOAP_SAMPLES_DIR") {
        let n = SAMPLE.fetch_add(1, Ordering::Relaxed);
        let path = format!("{dir}/{kind}-{operation}-{n:05}.xml");
        std::fs::write(path, xml).expect("write sample");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn requests_round_trip(req in request()) {
        let xml = req.encode();
        keep_sample("req", req.operation(), &xml);
        prop_assert_eq!(Request::decode(&xml, None), Ok(req.clone()));
        prop_assert_eq!(Request::decode(&xml, Some(req.operation().name())), Ok(req));
    }

    #[test]
    fn responses_round_trip(res in response()) {
        let xml = res.encode();
        keep_sample("res", res.operation(), &xml);
        prop_assert_eq!(Response::decode(&xml), Ok(res));
    }

    #[test]
    fn decoding_never_panics(
        s in prop_oneof![".{0,300}", "<[a-zA-Z:]{1,10}( xmlns(:[a-z]{1,3})?=\"[a-z:/.]{0,20}\")?>.{0,50}"],
        action in prop::option::of("[a-zA-Z\"]{0,25}")
    ) {
        let _ = Request::decode(&s, action.as_deref());
        let _ = Response::decode(&s);
    }

    /// A valid request with one element removed, or one unknown element added, is refused with
    /// the fault the station must answer.
    #[test]
    fn tampered_requests_are_refused(req in request(), pick in any::<prop::sample::Index>()) {
        let xml = req.encode();
        let closes: Vec<usize> = xml.match_indices("</").map(|(i, _)| i).collect();
        let at = closes[pick.index(closes.len())];
        let with_extra = format!("{}<sportelloExtra>1</sportelloExtra>{}", &xml[..at], &xml[at..]);
        let err = Request::decode(&with_extra, None).unwrap_err();
        prop_assert!(
            matches!(err.error.fault_code(), FaultCode::PaaSintassiExtraxsd | FaultCode::PaaSintassiXsd),
            "{}", err
        );
        if !with_extra[at..].starts_with("<sportelloExtra>1</sportelloExtra></soapenv:") {
            prop_assert_eq!(err.error.fault_code(), FaultCode::PaaSintassiExtraxsd, "{}", err);
        }
    }
}

#[test]
fn the_test_encoder_is_standard_base64() {
    assert_eq!(to_base64(b""), "");
    assert_eq!(to_base64(b"f"), "Zg==");
    assert_eq!(to_base64(b"fo"), "Zm8=");
    assert_eq!(to_base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn a_full_v2_receipt_and_payment_keep_their_order() {
    // One hand-built message with every optional field present, checked against the element
    // order of the schema, so that a reordering in the encoder cannot go unnoticed even if the
    // decoder were changed the same way.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let receipt = receipt(Version::V2)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let mut receipt = receipt;
    receipt.payment_method = Some("carta".into());
    receipt.payment_note = Some("cart".into());
    receipt.fee = Some(Cents::new(0));
    receipt.primary_ci_incurred_fee = Some(Cents::new(100));
    receipt.id_bundle = Some("b".into());
    receipt.id_ci_bundle = Some("c".into());
    receipt.payment_date_time = XsdDateTime::parse("2024-01-31T10:00:00");
    receipt.application_date = XsdDate::parse("2024-01-31");
    receipt.transfer_date = XsdDate::parse("2024-02-01");
    receipt.stand_in = Some(false);
    receipt.metadata = vec![MapEntry {
        key: "k".into(),
        value: "v".into(),
    }];
    let req = Request::SendRt(PaSendRtReq {
        version: Version::V2,
        ids: StationIds {
            id_pa: "00229080338".into(),
            id_broker_pa: "00229080338".into(),
            id_station: "00229080338_01".into(),
        },
        receipt,
    });
    let xml = req.encode();
    let order = [
        "<paymentMethod>",
        "<paymentNote>",
        "<fee>0.00</fee>",
        "<primaryCiIncurredFee>1.00</primaryCiIncurredFee>",
        "<idBundle>",
        "<idCiBundle>",
        "<paymentDateTime>",
        "<applicationDate>",
        "<transferDate>",
        "<metadata><mapEntry><key>k</key>",
        "<standIn>false</standIn>",
    ];
    let mut last = 0;
    for tag in order {
        last += xml[last..]
            .find(tag)
            .unwrap_or_else(|| panic!("{tag} missing or out of order in {xml}"));
    }
    assert_eq!(Request::decode(&xml, Some("paSendRTV2")), Ok(req));
}
