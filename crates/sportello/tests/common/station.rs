//! Talking to the station as the pagoPA node does: identifiers, subjects, receipts, requests.

use pagopa::soap::{
    EntityType, Outcome, PaGetPaymentReq, PaSendRtReq, QrCode, Receipt, Request, Response,
    StationIds, Subject, Transfer, TransferDestination, Version, XsdDateTime,
};
use pagopa::{Cents, EcFiscalCode, NoticeNumber};

use super::TestApp;

/// The demo ente (also its broker).
pub const EC: &str = "00229080338";

/// The demo station's identifiers.
pub fn station_ids() -> StationIds {
    StationIds {
        id_pa: EC.into(),
        id_broker_pa: EC.into(),
        id_station: format!("{EC}_01"),
    }
}

/// A natural person as the node names one.
pub fn subject(cf: &str, name: &str, email: Option<&str>) -> Subject {
    Subject {
        entity_type: EntityType::F,
        entity_value: cf.into(),
        full_name: name.into(),
        street_name: None,
        civic_number: None,
        postal_code: None,
        city: None,
        state_province_region: None,
        country: None,
        email: email.map(str::to_owned),
    }
}

/// A receipt as the node sends it: `nav` paid in full (`cents`, one transfer to the demo IBAN)
/// by `payer`, with `note` as payment note.
pub fn receipt(
    nav: &NoticeNumber,
    receipt_id: &str,
    cents: i64,
    debtor: Subject,
    payer: Subject,
    note: Option<&str>,
) -> Receipt {
    Receipt {
        receipt_id: receipt_id.into(),
        notice_number: nav.as_str().into(),
        fiscal_code: EcFiscalCode::parse(EC).unwrap(),
        outcome: Outcome::Ok,
        creditor_reference_id: nav.iuv().as_str().into(),
        payment_amount: Cents::new(cents),
        description: "TARI 2030".into(),
        company_name: "Comune di Piacenza".into(),
        office_name: None,
        debtor,
        transfers: vec![Transfer {
            id_transfer: 1,
            transfer_amount: Cents::new(cents),
            fiscal_code_pa: EcFiscalCode::parse(EC).unwrap(),
            company_name: None,
            destination: TransferDestination::Iban(sportello::config::DEMO_IBAN.into()),
            remittance_information: "quota 1".into(),
            transfer_category: "9/0101108TS/".into(),
            metadata: Vec::new(),
        }],
        id_psp: "BCITITMM".into(),
        psp_fiscal_code: Some("00799960158".into()),
        psp_partita_iva: Some("10810700152".into()),
        psp_company_name: "Intesa Sanpaolo".into(),
        id_channel: "00799960158_01".into(),
        channel_description: "app".into(),
        payer: Some(payer),
        payment_method: Some("creditCard".into()),
        payment_note: note.map(str::to_owned),
        fee: Some(Cents::new(100)),
        primary_ci_incurred_fee: None,
        id_bundle: None,
        id_ci_bundle: None,
        payment_date_time: XsdDateTime::parse("2030-01-10T11:30:00"),
        application_date: None,
        transfer_date: None,
        metadata: Vec::new(),
        stand_in: Some(false),
    }
}

/// `paSendRT[V2]` carrying `receipt`.
pub fn send_rt(version: Version, receipt: Receipt) -> Request {
    Request::SendRt(PaSendRtReq {
        version,
        ids: station_ids(),
        receipt,
    })
}

/// `paGetPayment[V2]` for `nav`, with the amount and payment note given.
pub fn activate(
    version: Version,
    nav: &NoticeNumber,
    amount: Option<i64>,
    note: Option<&str>,
) -> Request {
    Request::GetPayment(PaGetPaymentReq {
        version,
        ids: station_ids(),
        qr_code: QrCode {
            fiscal_code: EcFiscalCode::parse(EC).unwrap(),
            notice_number: nav.as_str().into(),
        },
        amount: amount.map(Cents::new),
        payment_note: note.map(str::to_owned),
        transfer_type: None,
        due_date: None,
    })
}

/// Sends `request` to the station as the node does; its answer must be OK.
pub async fn node_ok(app: &TestApp, request: Request) {
    let res = app
        .client
        .post(format!("{}/pagopa/paForNode", app.base))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", format!("\"{}\"", request.operation().name()))
        .body(request.encode())
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    let response = Response::decode(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(response.outcome(), Outcome::Ok, "{body}");
}
