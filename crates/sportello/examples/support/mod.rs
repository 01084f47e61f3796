//! Station fixtures shared by the load and resilience drivers: a payable notice per sequence
//! number, and the three requests of a payment cycle on it, as the pagoPA node sends them.

use pagopa::soap::{
    EntityType, Outcome, PaGetPaymentReq, PaSendRtReq, PaVerifyPaymentNoticeReq, QrCode, Receipt,
    Request, StationIds, Subject, Transfer, TransferDestination, Version, XsdDateTime,
};
use pagopa::{Cents, EcFiscalCode, NoticeNumber, SegregationCode};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer as DomainTransfer,
};

/// The demo ente's fiscal code (and broker).
pub const EC: &str = "00229080338";

/// The notice number of sequence `seq`.
pub fn nav(seq: u64) -> NoticeNumber {
    NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), seq).unwrap()
}

/// A published notice of 26,00 € (two transfers) for Mario Rossi.
pub fn position(seq: u64) -> NewPosition {
    position_of(seq, "RSSMRA80A01H501U")
}

/// A published notice of 26,00 € (two transfers) whose debtor has the fiscal code `debtor`.
pub fn position_of(seq: u64, debtor: &str) -> NewPosition {
    let nav = nav(seq);
    NewPosition {
        iupd: format!("LOAD-{seq}"),
        debtor: Debtor {
            kind: SubjectType::F,
            fiscal_code: debtor.into(),
            full_name: "Mario Rossi".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            province: None,
            region: None,
            country: None,
            email: Some("mario.rossi@example.it".into()),
            phone: None,
        },
        company_name: "Comune di Piacenza".into(),
        office_name: None,
        validity_date: None,
        switch_to_expired: false,
        status: PositionStatus::Valid,
        options: vec![PaymentOption {
            iuv: nav.iuv(),
            nav,
            amount: Cents::new(2600),
            description: "TARI".into(),
            is_partial_payment: false,
            due_date: Timestamp::parse("2030-01-31T22:59:59.000000Z").unwrap(),
            retention_date: None,
            fee: Cents::new(0),
            status: OptionStatus::Unpaid,
            metadata: "[]".into(),
            transfers: [1000, 1600]
                .iter()
                .enumerate()
                .map(|(i, a)| DomainTransfer {
                    id_transfer: i as u8 + 1,
                    amount: Cents::new(*a),
                    organization_fiscal_code: EC.into(),
                    remittance_information: "quota".into(),
                    category: "9/0101108TS/".into(),
                    destination: Destination::Iban {
                        iban: sportello::config::DEMO_IBAN.into(),
                        postal_iban: None,
                    },
                    company_name: None,
                })
                .collect(),
        }],
        service_id: None,
        origin: Origin::Api,
        created_by_account_id: None,
        abandon_at: None,
    }
}

fn ids() -> StationIds {
    StationIds {
        id_pa: EC.into(),
        id_broker_pa: EC.into(),
        id_station: "00229080338_01".into(),
    }
}

/// Verify, activate (V2) and receipt (V2, id `LOAD-R-<seq>`) for notice `seq`.
pub fn requests(seq: u64) -> [Request; 3] {
    let n = nav(seq);
    let qr = QrCode {
        fiscal_code: EcFiscalCode::parse(EC).unwrap(),
        notice_number: n.as_str().into(),
    };
    let subject = Subject {
        entity_type: EntityType::F,
        entity_value: "RSSMRA80A01H501U".into(),
        full_name: "Mario Rossi".into(),
        street_name: None,
        civic_number: None,
        postal_code: None,
        city: None,
        state_province_region: None,
        country: None,
        email: Some("mario.rossi@example.it".into()),
    };
    [
        Request::Verify(PaVerifyPaymentNoticeReq {
            ids: ids(),
            qr_code: qr.clone(),
        }),
        Request::GetPayment(PaGetPaymentReq {
            version: Version::V2,
            ids: ids(),
            qr_code: qr,
            amount: Some(Cents::new(2600)),
            payment_note: None,
            transfer_type: None,
            due_date: None,
        }),
        Request::SendRt(PaSendRtReq {
            version: Version::V2,
            ids: ids(),
            receipt: Receipt {
                receipt_id: format!("LOAD-R-{seq}"),
                notice_number: n.as_str().into(),
                fiscal_code: EcFiscalCode::parse(EC).unwrap(),
                outcome: Outcome::Ok,
                creditor_reference_id: n.iuv().as_str().into(),
                payment_amount: Cents::new(2600),
                description: "TARI".into(),
                company_name: "Comune di Piacenza".into(),
                office_name: None,
                debtor: subject.clone(),
                transfers: vec![Transfer {
                    id_transfer: 1,
                    transfer_amount: Cents::new(2600),
                    fiscal_code_pa: EcFiscalCode::parse(EC).unwrap(),
                    company_name: None,
                    destination: TransferDestination::Iban(sportello::config::DEMO_IBAN.into()),
                    remittance_information: "quota".into(),
                    transfer_category: "9/0101108TS/".into(),
                    metadata: Vec::new(),
                }],
                id_psp: "BCITITMM".into(),
                psp_fiscal_code: None,
                psp_partita_iva: None,
                psp_company_name: "PSP".into(),
                id_channel: "BCITITMM_01".into(),
                channel_description: "app".into(),
                payer: Some(subject),
                payment_method: None,
                payment_note: None,
                fee: None,
                primary_ci_incurred_fee: None,
                id_bundle: None,
                id_ci_bundle: None,
                payment_date_time: XsdDateTime::parse("2030-01-10T11:30:00"),
                application_date: None,
                transfer_date: None,
                metadata: Vec::new(),
                stand_in: None,
            },
        }),
    ]
}
