//! FdR and biz-events JSON: amounts in decimal euro read exactly, documents of the published
//! shape read, a receipt from the receipts API turned back into the SOAP receipt.

use pagopa::Cents;
use pagopa::bizevents::OrgReceipt;
use pagopa::fdr::{Flow, FlowPayment, FlowsPage, PayStatus, PaymentsPage};
use proptest::prelude::*;

proptest! {
    /// Any amount a flow can carry survives JSON (written by us or by a sender printing it
    /// with one or two decimals) and comes back to the cent.
    #[test]
    fn euro_amounts_round_trip_exactly(cents in -99_999_999_999i64..100_000_000_000_000) {
        let line = FlowPayment {
            index: 1,
            iuv: "01000000000000001".into(),
            iur: "r".into(),
            id_transfer: 1,
            pay: Cents::new(cents),
            pay_status: PayStatus::Executed,
            pay_date: "2026-11-30T10:00:00Z".into(),
        };
        let json = serde_json::to_string(&line).unwrap();
        let back: FlowPayment = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.pay, Cents::new(cents));
        let text = Cents::new(cents).to_xml();
        let by_hand = json.replace(&format!("\"pay\":{}", serde_json::to_value(&line).unwrap()["pay"]), &format!("\"pay\":{text}"));
        let back: FlowPayment = serde_json::from_str(&by_hand).unwrap();
        prop_assert_eq!(back.pay, Cents::new(cents));
    }
}

#[test]
fn amounts_with_three_decimals_are_refused() {
    let json = r#"{"index":1,"iuv":"1","iur":"2","idTransfer":1,"pay":1.234,"payStatus":"EXECUTED","payDate":"2026-11-30T10:00:00Z"}"#;
    assert!(serde_json::from_str::<FlowPayment>(json).is_err());
    let json = json.replace("1.234", "12");
    assert_eq!(
        serde_json::from_str::<FlowPayment>(&json).unwrap().pay,
        Cents::new(1200)
    );
}

#[test]
fn documents_of_the_published_shape_are_read() {
    let list: FlowsPage = serde_json::from_str(
        r#"{"metadata":{"pageSize":25,"pageNumber":1,"totPage":3},"count":1,
            "data":[{"fdr":"2025-01-0188888888888-0000001","pspId":"88888888888","revision":1,
                     "published":"2025-01-02T10:00:00.123Z","flowDate":"2025-01-01T23:59:59Z"}]}"#,
    )
    .unwrap();
    assert_eq!(list.metadata.tot_page, 3);
    assert_eq!(list.data[0].psp_id, "88888888888");
    let flow: Flow = serde_json::from_str(
        r#"{"status":"PUBLISHED","revision":4,"created":"2025-01-02T09:00:00Z","updated":"2025-01-02T10:00:00Z",
            "fdr":"2025-01-0188888888888-0000001","fdrDate":"2025-01-01T23:59:59Z","regulation":"SEPA - Bonifico X",
            "regulationDate":"2025-01-03","bicCodePouringBank":"UNCRITMMXXX",
            "sender":{"type":"LEGAL_PERSON","id":"SELBIT2B","pspId":"60000000001","pspName":"PSP Name","pspBrokerId":"70000000001","channelId":"80000000001"},
            "receiver":{"id":"APPBIT2B","organizationId":"20000000001","organizationName":"Comune di Roma"},
            "published":"2025-01-02T10:00:00Z","computedTotPayments":100,"computedSumPayments":100.95,
            "totPayments":100,"sumPayments":100.95}"#,
    )
    .unwrap();
    assert_eq!(flow.sum_payments, Cents::new(10095));
    assert_eq!(flow.computed_sum_payments, Some(Cents::new(10095)));
    let lines: PaymentsPage = serde_json::from_str(
        r#"{"metadata":{"pageSize":25,"pageNumber":1,"totPage":1},"count":2,"data":[
            {"index":1,"iuv":"17854456582215","iur":"3354426511008","idTransfer":1,"pay":0.01,"payStatus":"EXECUTED","payDate":"2025-01-01T10:00:00Z"},
            {"index":2,"iuv":"17854456582216","iur":"3354426511009","idTransfer":2,"pay":-5.5,"payStatus":"STAND_IN_NO_RPT","payDate":"2025-01-01T10:00:00Z"}]}"#,
    )
    .unwrap();
    assert_eq!(lines.data[0].pay, Cents::new(1));
    assert_eq!(lines.data[1].pay, Cents::new(-550));
    assert_eq!(lines.data[1].pay_status, PayStatus::StandInNoRpt);
}

#[test]
fn a_receipt_from_the_receipts_api_becomes_the_soap_receipt() {
    let json = r#"{"receiptId":"c3a2e1","noticeNumber":"301000000000000144","fiscalCode":"00229080338","outcome":"OK",
        "creditorReferenceId":"01000000000000144","paymentAmount":12.5,"description":"TARI","companyName":"Comune di Piacenza",
        "debtor":{"entityUniqueIdentifierType":"F","entityUniqueIdentifierValue":"RSSMRA80A01H501U","fullName":"Mario Rossi"},
        "transferList":[{"idTransfer":1,"transferAmount":10,"fiscalCodePA":"00229080338","iban":"IT60X0542811101000000123456","mbdAttachment":"","remittanceInformation":"TARI","transferCategory":"9/0101108TS/"},
                        {"idTransfer":2,"transferAmount":2.5,"fiscalCodePA":"00229080338","iban":"","mbdAttachment":"U0FOREJPWA==","remittanceInformation":"bollo","transferCategory":"9/0201133IM/"}],
        "idPSP":"BCITITMM","pspCompanyName":"Intesa Sanpaolo S.p.A.","idChannel":"00799960158_01",
        "paymentDateTime":"2026-11-30T10:15:00","paymentDateTimeFormatted":"2026-11-30T10:15:00","fee":1.5}"#;
    let r: OrgReceipt = serde_json::from_str(json).unwrap();
    let soap = r.to_receipt().unwrap();
    assert_eq!(soap.payment_amount, Cents::new(1250));
    assert_eq!(soap.transfers.len(), 2);
    assert_eq!(soap.fee, Some(Cents::new(150)));
    assert!(matches!(
        soap.transfers[1].destination,
        pagopa::soap::TransferDestination::MbdAttachment(_)
    ));
    assert_eq!(
        soap.payment_date_time.as_ref().map(|d| d.as_str()),
        Some("2026-11-30T10:15:00")
    );
    // Back to JSON and again: the same receipt.
    let again = OrgReceipt::from_receipt(&soap).to_receipt().unwrap();
    assert_eq!(again, soap);
    // Amounts that do not add up are refused.
    let bad = json.replace("\"paymentAmount\":12.5", "\"paymentAmount\":12.6");
    let r: OrgReceipt = serde_json::from_str(&bad).unwrap();
    assert!(r.to_receipt().is_err());
}
