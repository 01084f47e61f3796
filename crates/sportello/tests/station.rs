//! The pagoPA station over HTTP, against the real app on a random port: every fault code, the
//! verify → activate → receipt path, duplicates, concurrency, installments, checkouts, access
//! restrictions. Scenarios run on SQLite and on PostgreSQL.

mod common;

use std::collections::HashSet;

use common::station::{activate, send_rt, station_ids, subject};
use common::{TestApp, TestDb};
use pagopa::soap::{
    FaultCode, Outcome, PaVerifyPaymentNoticeReq, QrCode, Receipt, Request, Response, StationIds,
    TransferDestination, Version,
};
use pagopa::{Cents, EcFiscalCode, NoticeNumber, SegregationCode};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer as DomainTransfer,
};

const EC: &str = "00229080338";
const DEBTOR_CF: &str = "RSSMRA80A01H501U";
const DEBTOR_EMAIL: &str = "mario.rossi@example.it";
const PAYER_EMAIL: &str = "anna.bianchi@example.it";

scenarios_on_both_databases!(
    verify_activate_and_receipt_close_the_position,
    every_semantic_fault_has_its_cause,
    wrong_identifiers_are_refused,
    a_receipt_is_never_lost_nor_stored_twice,
    concurrent_activations_and_receipts_close_once,
    installments_pay_part_then_all,
    a_checkout_is_settled_by_its_receipts,
    a_cart_paid_all_at_once_ends_paid,
    installments_paid_all_at_once_end_paid,
    gpd_due_dates_reach_the_station_as_the_municipality_wrote_them,
    gpd_put_and_delete_are_refused_after_an_activation,
    gpd_put_and_delete_are_refused_after_a_partial_payment,
    malformed_receipts_are_refused_and_write_nothing,
    a_ko_receipt_is_kept_and_closes_nothing,
    the_same_receipt_at_the_same_moment_is_stored_once,
);

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn nav(seq: u64) -> NoticeNumber {
    NoticeNumber::from_aux3(SegregationCode::parse("01").unwrap(), seq).unwrap()
}

fn option(seq: u64, amounts: &[i64], partial: bool) -> PaymentOption {
    let nav = nav(seq);
    PaymentOption {
        iuv: nav.iuv(),
        nav,
        amount: Cents::new(amounts.iter().sum()),
        description: format!("TARI 2030 rata {seq}"),
        is_partial_payment: partial,
        due_date: Timestamp::parse("2030-01-31T22:59:59.000000Z").unwrap(),
        retention_date: None,
        fee: Cents::new(0),
        status: OptionStatus::Unpaid,
        metadata: r#"[{"key":"anno","value":"2030"}]"#.into(),
        transfers: amounts
            .iter()
            .enumerate()
            .map(|(i, a)| DomainTransfer {
                id_transfer: i as u8 + 1,
                amount: Cents::new(*a),
                organization_fiscal_code: EC.into(),
                remittance_information: format!("quota {}", i + 1),
                category: "9/0101108TS/".into(),
                destination: Destination::Iban {
                    iban: sportello::config::DEMO_IBAN.into(),
                    postal_iban: None,
                },
                company_name: None,
            })
            .collect(),
    }
}

fn position(iupd: &str, status: PositionStatus, options: Vec<PaymentOption>) -> NewPosition {
    NewPosition {
        iupd: iupd.into(),
        debtor: Debtor {
            kind: SubjectType::F,
            fiscal_code: DEBTOR_CF.into(),
            full_name: "Mario Rossi".into(),
            street_name: Some("Via Roma".into()),
            civic_number: Some("1".into()),
            postal_code: Some("29121".into()),
            city: Some("Piacenza".into()),
            province: Some("PC".into()),
            region: None,
            country: Some("IT".into()),
            email: Some(DEBTOR_EMAIL.into()),
            phone: None,
        },
        company_name: "Comune di Piacenza".into(),
        office_name: Some("Servizio Entrate".into()),
        validity_date: None,
        switch_to_expired: false,
        status,
        options,
        service_id: None,
        origin: Origin::Api,
        created_by_account_id: None,
        abandon_at: None,
    }
}

async fn seed(app: &TestApp, p: &NewPosition) {
    app.state
        .store()
        .insert_position(app.state.ente().id, p)
        .await
        .unwrap();
}

fn qr(nav: &NoticeNumber) -> QrCode {
    QrCode {
        fiscal_code: EcFiscalCode::parse(EC).unwrap(),
        notice_number: nav.as_str().into(),
    }
}

fn verify(nav: &NoticeNumber) -> Request {
    Request::Verify(PaVerifyPaymentNoticeReq {
        ids: station_ids(),
        qr_code: qr(nav),
    })
}

/// A receipt as the node would send it, paid by `payer_cf` (the debtor when `None`).
fn receipt(nav: &NoticeNumber, receipt_id: &str, amount: i64, payer_cf: Option<&str>) -> Receipt {
    common::station::receipt(
        nav,
        receipt_id,
        amount,
        subject(DEBTOR_CF, "Mario Rossi", Some(DEBTOR_EMAIL)),
        match payer_cf {
            None => subject(DEBTOR_CF, "Mario Rossi", Some(DEBTOR_EMAIL)),
            Some(cf) => subject(cf, "Anna Bianchi", Some(PAYER_EMAIL)),
        },
        None,
    )
}

/// Posts a raw body with an optional SOAPAction; returns status, content type and body.
async fn post_raw(
    app: &TestApp,
    action: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let mut req = app
        .client
        .post(format!("{}/pagopa/paForNode", app.base))
        .header("content-type", "text/xml; charset=utf-8")
        .body(body);
    if let Some(action) = action {
        req = req.header("SOAPAction", format!("\"{action}\""));
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap();
    keep_response(&body);
    (status, ct, body)
}

/// With `STATION_RESPONSES_DIR` set, every answer the station gives is also written there, to
/// check it against the official XSD outside the repository (see docs/station.md).
fn keep_response(body: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    if let Ok(dir) = std::env::var("STATION_RESPONSES_DIR") {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = format!("{dir}/{}-{n:04}.xml", std::process::id());
        std::fs::write(path, body).expect("write response");
    }
}

/// Sends a request the way the node does and decodes the answer, checking it is SOAP over
/// HTTP 200 and valid for our own strict decoder (element order, required fields).
async fn call(app: &TestApp, request: &Request) -> Response {
    let (status, ct, body) =
        post_raw(app, Some(request.operation().name()), request.encode()).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/xml"), "{ct}");
    let response = Response::decode(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(response.operation(), request.operation());
    response
}

fn fault_code(response: &Response) -> Option<FaultCode> {
    response.fault().map(|f| f.fault_code.clone())
}

async fn expect_fault(app: &TestApp, request: &Request, code: FaultCode) {
    let response = call(app, request).await;
    assert_eq!(response.outcome(), Outcome::Ko, "{response:?}");
    let fault = response.fault().unwrap();
    assert_eq!(fault.fault_code, code, "{fault:?}");
    assert_eq!(fault.id, EC);
}

async fn expect_ok(app: &TestApp, request: &Request) -> Response {
    let response = call(app, request).await;
    assert_eq!(response.outcome(), Outcome::Ok, "{response:?}");
    response
}

async fn option_status(app: &TestApp, iupd: &str) -> (PositionStatus, Vec<OptionStatus>) {
    let p = app
        .state
        .store()
        .position_by_iupd(app.state.ente().id, iupd)
        .await
        .unwrap()
        .unwrap();
    (p.status, p.options.iter().map(|o| o.status).collect())
}

// ------------------------------------------------------------------------------------------
// Scenarios on both databases
// ------------------------------------------------------------------------------------------

async fn verify_activate_and_receipt_close_the_position(app: &TestApp) {
    let n = nav(1);
    seed(
        app,
        &position(
            "IUPD-1",
            PositionStatus::Valid,
            vec![option(1, &[1000, 1600], false)],
        ),
    )
    .await;
    let store = app.state.store();

    let Response::Verify(v) = expect_ok(app, &verify(&n)).await else {
        unreachable!()
    };
    let list = v.payment_list.unwrap();
    assert_eq!(list.amount, Cents::new(2600));
    assert_eq!(
        list.due_date.unwrap().as_str(),
        "2030-01-31",
        "the due date in Rome"
    );
    assert_eq!(v.fiscal_code_pa.unwrap().as_str(), EC);
    assert_eq!(v.company_name.as_deref(), Some("Comune di Piacenza"));

    for version in [Version::V1, Version::V2] {
        let Response::GetPayment(g) =
            expect_ok(app, &activate(version, &n, Some(2600), Some("cart-x"))).await
        else {
            unreachable!()
        };
        let data = g.data.unwrap();
        assert_eq!(data.creditor_reference_id, n.iuv().as_str());
        assert_eq!(data.payment_amount, Cents::new(2600));
        let sum = Cents::checked_sum(data.transfers.iter().map(|t| t.transfer_amount));
        assert_eq!(sum, Some(data.payment_amount));
        assert_eq!(data.transfers.len(), 2);
        assert_eq!(data.debtor.entity_value, DEBTOR_CF);
        assert_eq!(data.metadata[0].key, "anno");
    }
    let found = store
        .notice_option(app.state.ente().id, n.as_str())
        .await
        .unwrap()
        .unwrap();
    let attempts = store.attempts_for(found.option_id).await.unwrap();
    assert_eq!(attempts.len(), 2, "each activation is recorded");
    assert_eq!(attempts[1].attempt.payment_note.as_deref(), Some("cart-x"));

    expect_ok(
        app,
        &send_rt(
            Version::V2,
            receipt(&n, "R-1", 2600, Some("BNCNNA80A41H501X")),
        ),
    )
    .await;
    let (status, options) = option_status(app, "IUPD-1").await;
    assert_eq!(status, PositionStatus::Paid);
    assert_eq!(options, vec![OptionStatus::Paid]);
    let p = store
        .position_by_iupd(app.state.ente().id, "IUPD-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.payment_date.unwrap().to_utc_text(),
        "2030-01-10T10:30:00.000000Z",
        "the receipt's Italian time"
    );
    let receipts = store
        .receipts_for_notice(app.state.ente().id, n.as_str())
        .await
        .unwrap();
    assert_eq!(receipts.len(), 1);
    assert!(!receipts[0].refund_required);
    assert_eq!(receipts[0].transfer_count, 1);
    assert_eq!(receipts[0].payment_option_id, Some(found.option_id));

    // Someone else paid: both the payer and the debtor hear of it.
    let to_payer = store.outbox_for(Some(PAYER_EMAIL), 10).await.unwrap();
    assert_eq!(to_payer.len(), 1);
    assert_eq!(to_payer[0].message.kind, "receipt");
    assert!(
        to_payer[0].message.body_text.contains("26,00 €"),
        "{}",
        to_payer[0].message.body_text
    );
    // The method as a person reads it, not pagoPA's code.
    assert!(
        to_payer[0]
            .message
            .body_text
            .contains("Metodo di pagamento: Carta di credito"),
        "{}",
        to_payer[0].message.body_text
    );
    let to_debtor = store.outbox_for(Some(DEBTOR_EMAIL), 10).await.unwrap();
    assert_eq!(to_debtor.len(), 1);
    assert_eq!(to_debtor[0].message.kind, "receipt_debtor");
    assert!(
        to_debtor[0]
            .message
            .body_html
            .as_deref()
            .unwrap()
            .contains("Anna Bianchi")
    );

    // Once paid, the notice is no longer payable.
    expect_fault(app, &verify(&n), FaultCode::PaaPagamentoDuplicato).await;
    expect_fault(
        app,
        &activate(Version::V2, &n, None, None),
        FaultCode::PaaPagamentoDuplicato,
    )
    .await;

    // Every message in and out is in the event log, raw.
    let log = store.exchanges_for(n.as_str()).await.unwrap();
    let ops: Vec<&str> = log.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        ops,
        [
            "paVerifyPaymentNotice",
            "paGetPayment",
            "paGetPaymentV2",
            "paSendRTV2",
            "paVerifyPaymentNotice",
            "paGetPaymentV2"
        ]
    );
    assert!(log[3].request.contains("<receiptId>R-1</receiptId>"));
    assert!(
        log[3]
            .response
            .as_deref()
            .unwrap()
            .contains("<outcome>OK</outcome>")
    );
    assert_eq!(
        log[4].fault_code.as_deref(),
        Some("PAA_PAGAMENTO_DUPLICATO")
    );
    assert_eq!(log[4].outcome, "KO");
}

async fn every_semantic_fault_has_its_cause(app: &TestApp) {
    let yesterday = Timestamp::from(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    let mut expired_by_date = position(
        "IUPD-DUE",
        PositionStatus::Valid,
        vec![option(11, &[500], false)],
    );
    expired_by_date.switch_to_expired = true;
    expired_by_date.options[0].due_date = yesterday;
    seed(app, &expired_by_date).await;
    seed(
        app,
        &position(
            "IUPD-EXP",
            PositionStatus::Expired,
            vec![option(12, &[500], false)],
        ),
    )
    .await;
    seed(
        app,
        &position(
            "IUPD-INV",
            PositionStatus::Invalid,
            vec![option(13, &[500], false)],
        ),
    )
    .await;
    seed(
        app,
        &position(
            "IUPD-DRAFT",
            PositionStatus::Draft,
            vec![option(14, &[500], false)],
        ),
    )
    .await;
    seed(
        app,
        &position(
            "IUPD-OK",
            PositionStatus::Valid,
            vec![option(15, &[500], false)],
        ),
    )
    .await;
    let mut stamp = position(
        "IUPD-STAMP",
        PositionStatus::Valid,
        vec![option(16, &[500, 1600], false)],
    );
    stamp.options[0].transfers[1].destination = Destination::Stamp {
        hash_document: "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=".into(),
        stamp_type: "01".into(),
        provincial_residence: "PC".into(),
    };
    seed(app, &stamp).await;

    for r in [
        verify(&nav(99)),
        activate(Version::V2, &nav(99), None, None),
    ] {
        expect_fault(app, &r, FaultCode::PaaPagamentoSconosciuto).await;
    }
    expect_fault(app, &verify(&nav(14)), FaultCode::PaaPagamentoSconosciuto).await;
    // A notice number with a wrong check digit cannot be one of ours.
    let mut bad = verify(&nav(15));
    if let Request::Verify(v) = &mut bad {
        let last = v.qr_code.notice_number.pop().unwrap();
        v.qr_code
            .notice_number
            .push(if last == '0' { '1' } else { '0' });
    }
    expect_fault(app, &bad, FaultCode::PaaPagamentoSconosciuto).await;
    expect_fault(app, &verify(&nav(11)), FaultCode::PaaPagamentoScaduto).await;
    expect_fault(
        app,
        &activate(Version::V1, &nav(12), None, None),
        FaultCode::PaaPagamentoScaduto,
    )
    .await;
    expect_fault(app, &verify(&nav(13)), FaultCode::PaaPagamentoAnnullato).await;
    expect_fault(
        app,
        &activate(Version::V2, &nav(13), None, None),
        FaultCode::PaaPagamentoAnnullato,
    )
    .await;
    expect_fault(
        app,
        &activate(Version::V2, &nav(15), Some(499), None),
        FaultCode::PaaSemantica,
    )
    .await;
    // A stamp cannot travel in a V1 activation; V2 carries it.
    expect_fault(
        app,
        &activate(Version::V1, &nav(16), None, None),
        FaultCode::PaaSemantica,
    )
    .await;
    let Response::GetPayment(g) =
        expect_ok(app, &activate(Version::V2, &nav(16), None, None)).await
    else {
        unreachable!()
    };
    assert!(matches!(
        g.data.unwrap().transfers[1].destination,
        TransferDestination::MarcaDaBollo(_)
    ));
    // Already paid (see also the happy path).
    expect_ok(
        app,
        &send_rt(Version::V1, receipt(&nav(15), "R-15", 500, None)),
    )
    .await;
    expect_fault(app, &verify(&nav(15)), FaultCode::PaaPagamentoDuplicato).await;
    // Nothing was activated by a refused request.
    let store = app.state.store();
    for seq in [11, 12, 13, 14] {
        let o = store
            .notice_option(app.state.ente().id, nav(seq).as_str())
            .await
            .unwrap()
            .unwrap();
        assert!(store.attempts_for(o.option_id).await.unwrap().is_empty());
    }
}

async fn wrong_identifiers_are_refused(app: &TestApp) {
    seed(
        app,
        &position(
            "IUPD-ID",
            PositionStatus::Valid,
            vec![option(21, &[700], false)],
        ),
    )
    .await;
    let n = nav(21);
    type Spoil = fn(&mut StationIds);
    let cases: [(Spoil, FaultCode); 3] = [
        (
            |ids| ids.id_pa = "01234567890".into(),
            FaultCode::PaaIdDominioErrato,
        ),
        (
            |ids| ids.id_broker_pa = "99999999999".into(),
            FaultCode::PaaIdIntermediarioErrato,
        ),
        (
            |ids| ids.id_station = "00229080338_99".into(),
            FaultCode::PaaStazioneIntErrata,
        ),
    ];
    for (spoil, code) in cases {
        let mut requests = vec![
            verify(&n),
            activate(Version::V1, &n, None, None),
            activate(Version::V2, &n, None, None),
            send_rt(Version::V1, receipt(&n, "R-ID", 700, None)),
            send_rt(Version::V2, receipt(&n, "R-ID", 700, None)),
        ];
        for r in &mut requests {
            match r {
                Request::Verify(v) => spoil(&mut v.ids),
                Request::GetPayment(g) => spoil(&mut g.ids),
                Request::SendRt(s) => spoil(&mut s.ids),
                Request::Demand(d) => spoil(&mut d.ids),
            }
            expect_fault(app, r, code.clone()).await;
        }
    }
    // A QR code or a receipt of another ente is not ours either.
    let mut other = verify(&n);
    if let Request::Verify(v) = &mut other {
        v.qr_code.fiscal_code = EcFiscalCode::parse("01234567890").unwrap();
    }
    expect_fault(app, &other, FaultCode::PaaIdDominioErrato).await;
    let (status, _) = option_status(app, "IUPD-ID").await;
    assert_eq!(status, PositionStatus::Valid, "nothing was paid");
    assert!(
        app.state
            .store()
            .receipts_for_notice(app.state.ente().id, n.as_str())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_receipt_is_never_lost_nor_stored_twice(app: &TestApp) {
    seed(
        app,
        &position(
            "IUPD-DUP",
            PositionStatus::Valid,
            vec![option(31, &[900], false)],
        ),
    )
    .await;
    let n = nav(31);
    let store = app.state.store();
    let ente = app.state.ente().id;
    let first = send_rt(Version::V2, receipt(&n, "R-A", 900, None));
    expect_ok(app, &first).await;
    let outbox_after_first = store.outbox_for(None, 100).await.unwrap().len();
    // The node retries until it gets OK: the same receipt again is OK, and nothing new.
    expect_ok(app, &first).await;
    expect_ok(app, &first).await;
    assert_eq!(
        store
            .receipts_for_notice(ente, n.as_str())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.outbox_for(None, 100).await.unwrap().len(),
        outbox_after_first
    );
    // A different receipt for the paid notice: stored, flagged for refund, payer told.
    expect_ok(
        app,
        &send_rt(
            Version::V1,
            receipt(&n, "R-B", 900, Some("BNCNNA80A41H501X")),
        ),
    )
    .await;
    // A receipt for a notice nobody knows, and one with the wrong amount: kept, flagged.
    seed(
        app,
        &position(
            "IUPD-AMT",
            PositionStatus::Valid,
            vec![option(32, &[900], false)],
        ),
    )
    .await;
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(33), "R-C", 900, None)),
    )
    .await;
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(32), "R-D", 800, None)),
    )
    .await;
    let receipts = store.receipts_for_notice(ente, n.as_str()).await.unwrap();
    let flags: Vec<(&str, bool)> = receipts
        .iter()
        .map(|r| (r.receipt_id.as_str(), r.refund_required))
        .collect();
    assert_eq!(flags, [("R-A", false), ("R-B", true)]);
    let unknown = store
        .receipts_for_notice(ente, nav(33).as_str())
        .await
        .unwrap();
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].refund_required && unknown[0].payment_option_id.is_none());
    let mismatch = store
        .receipts_for_notice(ente, nav(32).as_str())
        .await
        .unwrap();
    assert!(mismatch[0].refund_required);
    assert_eq!(
        option_status(app, "IUPD-AMT").await.0,
        PositionStatus::Valid
    );
    let refunds = store.outbox_for(Some(PAYER_EMAIL), 10).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].message.kind, "receipt_refund");
    assert_eq!(
        store.receipt_counts(ente, n.as_str()).await.unwrap(),
        (2, 1)
    );
}

async fn concurrent_activations_and_receipts_close_once(app: &TestApp) {
    seed(
        app,
        &position(
            "IUPD-RACE",
            PositionStatus::Valid,
            vec![option(41, &[1234], false)],
        ),
    )
    .await;
    let n = nav(41);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/pagopa/paForNode", app.base);
        let activation = activate(Version::V2, &n, Some(1234), None).encode();
        let rt = send_rt(
            Version::V2,
            receipt(&n, &format!("R-RACE-{i:02}"), 1234, None),
        )
        .encode();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for (action, body) in [("paGetPaymentV2", activation), ("paSendRTV2", rt)] {
                let res = client
                    .post(&url)
                    .header("SOAPAction", action)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                outcomes.push(Response::decode(&res.text().await.unwrap()).unwrap());
            }
            outcomes
        }));
    }
    let mut receipt_outcomes = Vec::new();
    let mut activation_outcomes = Vec::new();
    for t in tasks {
        let mut o = t.await.unwrap();
        receipt_outcomes.push(o.pop().unwrap());
        activation_outcomes.push(o.pop().unwrap());
    }
    // Every receipt is acknowledged: the node must never retry a stored receipt.
    assert!(receipt_outcomes.iter().all(|r| r.outcome() == Outcome::Ok));
    // An activation racing with the first receipt either succeeds or finds the notice paid.
    assert!(
        activation_outcomes
            .iter()
            .all(|r| r.outcome() == Outcome::Ok
                || fault_code(r) == Some(FaultCode::PaaPagamentoDuplicato))
    );
    let store = app.state.store();
    let receipts = store
        .receipts_for_notice(app.state.ente().id, n.as_str())
        .await
        .unwrap();
    assert_eq!(receipts.len(), 50, "nothing lost");
    let ids: HashSet<&str> = receipts.iter().map(|r| r.receipt_id.as_str()).collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(
        receipts.iter().filter(|r| !r.refund_required).count(),
        1,
        "exactly one closes it"
    );
    assert_eq!(
        option_status(app, "IUPD-RACE").await,
        (PositionStatus::Paid, vec![OptionStatus::Paid])
    );
    let option = store
        .notice_option(app.state.ente().id, n.as_str())
        .await
        .unwrap()
        .unwrap();
    let ok_activations = activation_outcomes
        .iter()
        .filter(|r| r.outcome() == Outcome::Ok)
        .count();
    assert_eq!(
        store.attempts_for(option.option_id).await.unwrap().len(),
        ok_activations
    );
    // The same fifty receipts again, concurrently: all OK, still fifty rows.
    let mut again = Vec::new();
    for i in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/pagopa/paForNode", app.base);
        let rt = send_rt(
            Version::V2,
            receipt(&n, &format!("R-RACE-{i:02}"), 1234, None),
        )
        .encode();
        again.push(tokio::spawn(async move {
            let res = client
                .post(&url)
                .header("SOAPAction", "paSendRTV2")
                .body(rt)
                .send()
                .await
                .unwrap();
            Response::decode(&res.text().await.unwrap())
                .unwrap()
                .outcome()
        }));
    }
    for t in again {
        assert_eq!(t.await.unwrap(), Outcome::Ok);
    }
    assert_eq!(
        store
            .receipts_for_notice(app.state.ente().id, n.as_str())
            .await
            .unwrap()
            .len(),
        50
    );
}

/// The e-mails queued for the debtor of the seeded positions.
async fn debtor_mail(app: &TestApp) -> Vec<sportello::store::outbox::OutboxMessage> {
    app.state
        .store()
        .outbox_for(Some(DEBTOR_EMAIL), 10)
        .await
        .unwrap()
}

async fn installments_pay_part_then_all(app: &TestApp) {
    // A single payment (option 51) or two installments (52, 53).
    seed(
        app,
        &position(
            "IUPD-RATE",
            PositionStatus::Valid,
            vec![
                option(51, &[2000], false),
                option(52, &[1000], true),
                option(53, &[1000], true),
            ],
        ),
    )
    .await;
    expect_ok(app, &verify(&nav(52))).await;
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(52), "R-RATA-1", 1000, None)),
    )
    .await;
    let (status, options) = option_status(app, "IUPD-RATE").await;
    assert_eq!(status, PositionStatus::PartiallyPaid);
    assert_eq!(
        options.iter().filter(|o| **o == OptionStatus::Paid).count(),
        1
    );
    // The single payment is no longer an option; the other installment is.
    expect_fault(app, &verify(&nav(51)), FaultCode::PaaPagamentoDuplicato).await;
    expect_fault(app, &verify(&nav(52)), FaultCode::PaaPagamentoDuplicato).await;
    expect_ok(app, &verify(&nav(53))).await;
    // The debtor paid: one receipt mail, none about someone else paying.
    let mail = debtor_mail(app).await;
    let kinds: Vec<&str> = mail.iter().map(|m| m.message.kind.as_str()).collect();
    assert_eq!(kinds, ["receipt"]);
    assert!(
        mail[0].message.body_text.contains("altre rate"),
        "{}",
        mail[0].message.body_text
    );
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(53), "R-RATA-2", 1000, None)),
    )
    .await;
    assert_eq!(
        option_status(app, "IUPD-RATE").await.0,
        PositionStatus::Paid
    );
    // The last installment's mail says the debt is settled: one mail per receipt, each in the
    // wording of the status its receipt left the position in.
    let mail = debtor_mail(app).await;
    let bodies: Vec<&str> = mail.iter().map(|m| m.message.body_text.as_str()).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(
        bodies.iter().filter(|b| b.contains("altre rate")).count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.contains("Il debito è saldato"))
            .count(),
        1,
        "{bodies:?}"
    );
    expect_fault(app, &verify(&nav(53)), FaultCode::PaaPagamentoDuplicato).await;
}

async fn a_checkout_is_settled_by_its_receipts(app: &TestApp) {
    seed(
        app,
        &position(
            "IUPD-C1",
            PositionStatus::Valid,
            vec![option(61, &[500], false)],
        ),
    )
    .await;
    seed(
        app,
        &position(
            "IUPD-C2",
            PositionStatus::Valid,
            vec![option(62, &[700], false)],
        ),
    )
    .await;
    let store = app.state.store();
    let ente = app.state.ente().id;
    let o1 = store
        .notice_option(ente, nav(61).as_str())
        .await
        .unwrap()
        .unwrap()
        .option_id;
    let o2 = store
        .notice_option(ente, nav(62).as_str())
        .await
        .unwrap()
        .unwrap()
        .option_id;
    let now = Timestamp::now();
    sportello::with_db!(store.db(), |pool| {
        let account: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (username, username_key, first_name, last_name, fiscal_code, email, state, created_at, updated_at)
             VALUES ('anna', 'anna', 'Anna', 'Bianchi', 'BNCNNA80A41H501X', $1, 'active', $2, $2) RETURNING id",
        )
        .bind(PAYER_EMAIL)
        .bind(now)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO checkouts (id, account_id, state, total_amount, created_at, updated_at) VALUES ('cart-1', $1, 'waiting_receipt', 1200, $2, $2)",
        )
        .bind(account)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
        for (pos, (o, amount)) in [(o1, 500i64), (o2, 700)].into_iter().enumerate() {
            sqlx::query("INSERT INTO checkout_items (checkout_id, payment_option_id, position, amount) VALUES ('cart-1', $1, $2, $3)")
                .bind(o)
                .bind(pos as i32 + 1)
                .bind(amount)
                .execute(pool)
                .await
                .unwrap();
        }
    });
    // V2 carries the cart id as payment note; a V1 receipt has none, and is linked through
    // the note of its notice's activation (never by guessing among the carts holding it).
    let mut r1 = receipt(&nav(61), "R-CART-1", 500, Some("BNCNNA80A41H501X"));
    r1.payment_note = Some("cart-1".into());
    expect_ok(app, &send_rt(Version::V2, r1)).await;
    assert_eq!(
        store.checkout_state("cart-1").await.unwrap().as_deref(),
        Some("partially_paid")
    );
    expect_ok(
        app,
        &activate(Version::V1, &nav(62), Some(700), Some("cart-1")),
    )
    .await;
    expect_ok(
        app,
        &send_rt(
            Version::V1,
            receipt(&nav(62), "R-CART-2", 700, Some("BNCNNA80A41H501X")),
        ),
    )
    .await;
    assert_eq!(
        store.checkout_state("cart-1").await.unwrap().as_deref(),
        Some("paid")
    );
    for seq in [61, 62] {
        let r = &store
            .receipts_for_notice(ente, nav(seq).as_str())
            .await
            .unwrap()[0];
        assert_eq!(r.checkout_id.as_deref(), Some("cart-1"));
        assert!(r.payer_account_id.is_some());
    }
}

async fn installments_paid_all_at_once_end_paid(app: &TestApp) {
    let rates: Vec<PaymentOption> = (201..=204).map(|seq| option(seq, &[250], true)).collect();
    seed(
        app,
        &position("IUPD-RATE-RACE", PositionStatus::Valid, rates),
    )
    .await;
    let mut tasks = Vec::new();
    for seq in 201..=204u64 {
        let body = send_rt(
            Version::V2,
            receipt(&nav(seq), &format!("R-RR-{seq}"), 250, None),
        )
        .encode();
        let (client, url) = (app.client.clone(), format!("{}/pagopa/paForNode", app.base));
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(&url)
                .header("SOAPAction", "paSendRTV2")
                .body(body)
                .send()
                .await
                .unwrap();
            Response::decode(&res.text().await.unwrap())
                .unwrap()
                .outcome()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Outcome::Ok);
    }
    assert_eq!(
        option_status(app, "IUPD-RATE-RACE").await,
        (PositionStatus::Paid, vec![OptionStatus::Paid; 4])
    );
}

async fn insert_checkout(app: &TestApp, id: &str, options: &[i64]) {
    let now = Timestamp::now();
    sportello::with_db!(app.state.store().db(), |pool| {
        sqlx::query(
            "INSERT INTO checkouts (id, state, total_amount, created_at, updated_at) VALUES ($1, 'waiting_receipt', 100, $2, $2)",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
        for (i, o) in options.iter().enumerate() {
            sqlx::query("INSERT INTO checkout_items (checkout_id, payment_option_id, position, amount) VALUES ($1, $2, $3, 100)")
                .bind(id)
                .bind(o)
                .bind(i as i32 + 1)
                .execute(pool)
                .await
                .unwrap();
        }
    });
}

async fn a_cart_paid_all_at_once_ends_paid(app: &TestApp) {
    // Five notices of one cart whose receipts arrive together: whichever commits last must see
    // the others paid, so the cart ends paid, never stuck at partially paid.
    let ente = app.state.ente().id;
    for cart in 0..3u64 {
        let mut options = Vec::new();
        for k in 0..5u64 {
            let seq = 100 + cart * 10 + k;
            seed(
                app,
                &position(
                    &format!("IUPD-CART-{seq}"),
                    PositionStatus::Valid,
                    vec![option(seq, &[100], false)],
                ),
            )
            .await;
            options.push(
                app.state
                    .store()
                    .notice_option(ente, nav(seq).as_str())
                    .await
                    .unwrap()
                    .unwrap()
                    .option_id,
            );
        }
        let id = format!("cart-{cart}");
        insert_checkout(app, &id, &options).await;
        // Each notice activated with the cart id as payment note (V1 receipts carry none).
        for k in 0..5u64 {
            let seq = 100 + cart * 10 + k;
            expect_ok(app, &activate(Version::V1, &nav(seq), Some(100), Some(&id))).await;
        }
        let mut tasks = Vec::new();
        for k in 0..5u64 {
            let seq = 100 + cart * 10 + k;
            let body = send_rt(
                Version::V1,
                receipt(&nav(seq), &format!("R-CART-{seq}"), 100, None),
            )
            .encode();
            let (client, url) = (app.client.clone(), format!("{}/pagopa/paForNode", app.base));
            tasks.push(tokio::spawn(async move {
                let res = client
                    .post(&url)
                    .header("SOAPAction", "paSendRT")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                Response::decode(&res.text().await.unwrap())
                    .unwrap()
                    .outcome()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Outcome::Ok);
        }
        assert_eq!(
            app.state
                .store()
                .checkout_state(&id)
                .await
                .unwrap()
                .as_deref(),
            Some("paid")
        );
    }
}

// ------------------------------------------------------------------------------------------
// Transport: malformed input, limits, access (SQLite only: nothing here touches SQL dialects)
// ------------------------------------------------------------------------------------------

const VERIFY_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:n="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">
<s:Body><n:paVerifyPaymentNoticeReq><idPA>00229080338</idPA><idBrokerPA>00229080338</idBrokerPA><idStation>00229080338_01</idStation>
<qrCode><fiscalCode>00229080338</fiscalCode><noticeNumber>NAV</noticeNumber></qrCode></n:paVerifyPaymentNoticeReq></s:Body></s:Envelope>"#;

async fn ko_code(
    app: &TestApp,
    action: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let (status, ct, body) = post_raw(app, action, body).await;
    assert!(
        ct.starts_with("text/xml"),
        "always SOAP, never HTML: {ct} {body}"
    );
    match Response::decode(&body) {
        Ok(r) => {
            assert_eq!(status, 200);
            assert_eq!(r.outcome(), Outcome::Ko);
            (status, r.fault().unwrap().fault_code.as_str().to_owned())
        }
        Err(pagopa::soap::DecodeError::SoapFault { string, .. }) => (status, string),
        Err(e) => panic!("{e}: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_syntax_faults_never_html() {
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_STATION_MAX_BODY_BYTES", "4096")],
    )
    .await;
    seed(
        &app,
        &position(
            "IUPD-X",
            PositionStatus::Valid,
            vec![option(71, &[100], false)],
        ),
    )
    .await;
    let good = VERIFY_XML.replace("NAV", nav(71).as_str());
    let action = Some("paVerifyPaymentNotice");
    assert_eq!(
        ko_code(&app, action, "<not xml").await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    // Without a SOAPAction and an unreadable body, no operation can be told: SOAP Fault.
    assert_eq!(
        ko_code(&app, None, "<not xml").await,
        (500, "PAA_SINTASSI_XSD".into())
    );
    let dtd = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        good.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
    );
    assert_eq!(
        ko_code(&app, action, dtd).await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    let entity = good.replace("00229080338_01", "&x;");
    assert_eq!(
        ko_code(&app, action, entity).await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    let oversized = good.replace(
        "<s:Body>",
        &format!("<s:Header>{}</s:Header><s:Body>", " ".repeat(5000)),
    );
    assert_eq!(
        ko_code(&app, action, oversized.clone()).await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    assert_eq!(
        ko_code(&app, None, oversized).await,
        (500, "PAA_SINTASSI_XSD".into())
    );
    let missing = good.replace("<idStation>00229080338_01</idStation>", "");
    assert_eq!(
        ko_code(&app, None, missing).await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    let extra = good.replace("</qrCode>", "</qrCode><amount>1.00</amount>");
    assert_eq!(
        ko_code(&app, None, extra).await,
        (200, "PAA_SINTASSI_EXTRAXSD".into())
    );
    let not_utf8 = good
        .replace("Body>", "Body>\u{e9}")
        .replace('\u{e9}', "\u{0}");
    let mut latin1 = good.clone().into_bytes();
    latin1.insert(latin1.len() - 20, 0xe9);
    assert_eq!(
        ko_code(&app, action, latin1).await,
        (200, "PAA_SINTASSI_XSD".into())
    );
    assert_eq!(ko_code(&app, action, not_utf8).await.1, "PAA_SINTASSI_XSD");
    // paDemandPaymentNotice is answered with a proper fault.
    let demand = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><n:paDemandPaymentNoticeRequest xmlns:n="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA>00229080338</idPA><idBrokerPA>00229080338</idBrokerPA><idStation>00229080338_01</idStation><idServizio>00001</idServizio><idSoggettoServizio>00001</idSoggettoServizio><datiSpecificiServizioRequest>PHg+PC94Pg==</datiSpecificiServizioRequest></n:paDemandPaymentNoticeRequest></s:Body></s:Envelope>"#;
    assert_eq!(
        ko_code(&app, None, demand).await,
        (200, "PAA_SEMANTICA".into())
    );
    // The good request still works, with any prefixes and no SOAPAction.
    let Response::Verify(v) = Response::decode(&post_raw(&app, None, good).await.2).unwrap() else {
        panic!()
    };
    assert_eq!(v.outcome, Outcome::Ok);
    // Failures are logged too, with their fault.
    let refused = app
        .state
        .store()
        .exchanges_for(nav(71).as_str())
        .await
        .unwrap();
    assert_eq!(refused.len(), 1, "correlated once decoded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_can_be_restricted_by_key_and_address() {
    let key = "0123456789abcdef0123";
    let app = TestApp::spawn_with(TestDb::sqlite(), &[("SPORTELLO_STATION_API_KEY", key)]).await;
    seed(
        &app,
        &position(
            "IUPD-K",
            PositionStatus::Valid,
            vec![option(81, &[100], false)],
        ),
    )
    .await;
    let body = verify(&nav(81)).encode();
    let send = |key: Option<&str>| {
        let mut req = app
            .client
            .post(format!("{}/pagopa/paForNode", app.base))
            .header("SOAPAction", "paVerifyPaymentNotice")
            .body(body.clone());
        if let Some(key) = key {
            req = req.header("Ocp-Apim-Subscription-Key", key);
        }
        req.send()
    };
    let refused = send(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("Fault"));
    assert_eq!(
        send(Some("wrong-key-wrong-key")).await.unwrap().status(),
        401
    );
    let ok = send(Some(key)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        Response::decode(&ok.text().await.unwrap())
            .unwrap()
            .outcome(),
        Outcome::Ok
    );
    app.stop().await;

    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_STATION_ALLOWED_IPS", "10.0.0.0/8")],
    )
    .await;
    let res = app
        .client
        .post(format!("{}/pagopa/paForNode", app.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    app.stop().await;
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_STATION_ALLOWED_IPS", "10.0.0.0/8,127.0.0.1")],
    )
    .await;
    let res = app
        .client
        .post(format!("{}/pagopa/paForNode", app.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// The debt-position API and the station together
// ------------------------------------------------------------------------------------------

const API_KEY: &str = "sportello-demo-key";

/// Calls the debt-position API on position `iupd` (or the collection when empty).
async fn gpd(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!(
        "{}/gpd/debt-positions-service/v1/organizations/{EC}/debtpositions{path}",
        app.base
    );
    let mut req = app
        .client
        .request(method, url)
        .header("Ocp-Apim-Subscription-Key", API_KEY);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON answer"))
}

/// A GPD body: one option per (IUV sequence, due date), 10,00 € each, to the demo IBAN.
fn gpd_body(iupd: &str, options: &[(u64, &str)]) -> serde_json::Value {
    let options: Vec<serde_json::Value> = options
        .iter()
        .map(|(seq, due)| {
            serde_json::json!({
                "iuv": nav(*seq).iuv().as_str(),
                "amount": 1000,
                "description": "TARI 2031",
                "isPartialPayment": options.len() > 1,
                "dueDate": due,
                "transfer": [{"idTransfer": "1", "amount": 1000, "remittanceInformation": "TARI",
                              "category": "9/0101108TS/", "iban": sportello::config::DEMO_IBAN}]
            })
        })
        .collect();
    serde_json::json!({
        "iupd": iupd, "type": "F", "fiscalCode": DEBTOR_CF, "fullName": "Mario Rossi",
        "switchToExpired": true, "companyName": "Comune di Piacenza", "paymentOption": options
    })
}

async fn stored(app: &TestApp, iupd: &str) -> sportello::domain::position::Position {
    app.state
        .store()
        .position_by_iupd(app.state.ente().id, iupd)
        .await
        .unwrap()
        .unwrap()
}

async fn gpd_due_dates_reach_the_station_as_the_municipality_wrote_them(app: &TestApp) {
    // The last second of 31 May in Rome (21:59:59 UTC): read as UTC it would be 1 June.
    let (status, created) = gpd(
        app,
        reqwest::Method::POST,
        "?toPublish=true",
        Some(&gpd_body("GPD-DATE", &[(71, "2031-05-31T23:59:59")])),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let Response::Verify(verified) = expect_ok(app, &verify(&nav(71))).await else {
        unreachable!()
    };
    let due = verified.payment_list.unwrap().due_date.unwrap();
    assert_eq!(due.as_str(), "2031-05-31", "paVerifyPaymentNotice dueDate");
    for version in [Version::V1, Version::V2] {
        let Response::GetPayment(activated) =
            expect_ok(app, &activate(version, &nav(71), Some(1000), None)).await
        else {
            unreachable!()
        };
        assert_eq!(
            activated.data.unwrap().due_date.as_str(),
            "2031-05-31",
            "paGetPayment {version:?} dueDate"
        );
    }
    // The citizen sees the same day (cart, notice and history show `rome_date`).
    let position = stored(app, "GPD-DATE").await;
    assert_eq!(position.options[0].due_date.rome_date(), "31/05/2031");
    let document = sportello::pdf::NoticeDocument::from_position(app.state.ente(), &position)
        .expect("a printable notice");
    let single = document.single.expect("a single payment");
    assert_eq!(single.due_date.rome_date(), "31/05/2031");
}

/// The 409 of GPD for a PUT and a DELETE, with nothing changed (row, options, activations).
async fn refused_put_and_delete(app: &TestApp, iupd: &str, body: &serde_json::Value) {
    let before = stored(app, iupd).await;
    let (status, problem) = gpd(app, reqwest::Method::PUT, &format!("/{iupd}"), Some(body)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["title"],
        "Existing related payment found or not in updatable state"
    );
    assert_eq!(problem["status"], 409);
    let (status, problem) = gpd(app, reqwest::Method::DELETE, &format!("/{iupd}"), None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["title"], "Existing related payment found");
    let (status, problem) = gpd(
        app,
        reqwest::Method::POST,
        &format!("/{iupd}/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(stored(app, iupd).await, before, "nothing changed");
}

async fn gpd_put_and_delete_are_refused_after_an_activation(app: &TestApp) {
    let body = gpd_body("GPD-ACTIVE", &[(72, "2031-05-31T23:59:59")]);
    let (status, _) = gpd(app, reqwest::Method::POST, "?toPublish=true", Some(&body)).await;
    assert_eq!(status, 201);
    // Before any activation the municipality may still change it.
    let (status, _) = gpd(
        app,
        reqwest::Method::PUT,
        "/GPD-ACTIVE?toPublish=true",
        Some(&body),
    )
    .await;
    assert_eq!(status, 200);
    expect_ok(app, &activate(Version::V2, &nav(72), Some(1000), None)).await;
    let mut changed = body.clone();
    changed["paymentOption"][0]["amount"] = serde_json::json!(2000);
    changed["paymentOption"][0]["transfer"][0]["amount"] = serde_json::json!(2000);
    refused_put_and_delete(app, "GPD-ACTIVE", &changed).await;
    let notice = app
        .state
        .store()
        .notice_option(app.state.ente().id, nav(72).as_str())
        .await
        .unwrap()
        .unwrap();
    let attempts = app
        .state
        .store()
        .attempts_for(notice.option_id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "the activation is still on record");
    // The payment the node started still goes through.
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(72), "R-GPD-ACTIVE", 1000, None)),
    )
    .await;
    assert_eq!(
        option_status(app, "GPD-ACTIVE").await.0,
        PositionStatus::Paid
    );
}

async fn gpd_put_and_delete_are_refused_after_a_partial_payment(app: &TestApp) {
    let body = gpd_body(
        "GPD-PARTIAL",
        &[(73, "2031-05-31T23:59:59"), (74, "2031-06-30T23:59:59")],
    );
    let (status, _) = gpd(app, reqwest::Method::POST, "?toPublish=true", Some(&body)).await;
    assert_eq!(status, 201);
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&nav(73), "R-GPD-PARTIAL", 1000, None)),
    )
    .await;
    assert_eq!(
        option_status(app, "GPD-PARTIAL").await.0,
        PositionStatus::PartiallyPaid
    );
    refused_put_and_delete(app, "GPD-PARTIAL", &body).await;
}

// ------------------------------------------------------------------------------------------
// paSendRT edge cases
// ------------------------------------------------------------------------------------------

/// Seeds a published position `iupd` with one single-payment option `seq` of `cents`.
async fn seed_one(app: &TestApp, iupd: &str, seq: u64, cents: i64) {
    seed(
        app,
        &position(
            iupd,
            PositionStatus::Valid,
            vec![option(seq, &[cents], false)],
        ),
    )
    .await;
}

/// Everything a receipt can leave behind: the receipts of the notice, the outbox, the
/// position's and options' states.
async fn traces(
    app: &TestApp,
    iupd: &str,
    n: &NoticeNumber,
) -> (usize, usize, (PositionStatus, Vec<OptionStatus>)) {
    let store = app.state.store();
    (
        store
            .receipts_for_notice(app.state.ente().id, n.as_str())
            .await
            .unwrap()
            .len(),
        store.outbox_for(None, 1000).await.unwrap().len(),
        option_status(app, iupd).await,
    )
}

async fn malformed_receipts_are_refused_and_write_nothing(app: &TestApp) {
    seed_one(app, "IUPD-BADRT", 101, 500).await;
    let n = nav(101);
    let untouched = traces(app, "IUPD-BADRT", &n).await;
    assert_eq!(
        untouched,
        (0, 0, (PositionStatus::Valid, vec![OptionStatus::Unpaid]))
    );
    type Spoil = fn(&mut Receipt);
    let cases: [(&str, Spoil); 5] = [
        ("empty receiptId", |r| r.receipt_id = String::new()),
        ("blank receiptId", |r| r.receipt_id = "   ".into()),
        // The transfers still add up to 5 euro (a transfer may not be zero in the schema):
        // only the amount paid is zero.
        ("zero amount", |r| r.payment_amount = Cents::new(0)),
        ("repeated idTransfer", |r| {
            let mut second = r.transfers[0].clone();
            r.transfers[0].transfer_amount = Cents::new(300);
            second.transfer_amount = Cents::new(200);
            r.transfers.push(second);
        }),
        ("repeated idTransfer among three", |r| {
            let mut second = r.transfers[0].clone();
            let mut third = r.transfers[0].clone();
            r.transfers[0].transfer_amount = Cents::new(100);
            second.id_transfer = 2;
            second.transfer_amount = Cents::new(200);
            third.id_transfer = 1;
            third.transfer_amount = Cents::new(200);
            r.transfers.extend([second, third]);
        }),
    ];
    for version in [Version::V1, Version::V2] {
        for (what, spoil) in cases {
            let mut rc = receipt(&n, &format!("R-BAD-{what}"), 500, None);
            spoil(&mut rc);
            let response = call(app, &send_rt(version, rc)).await;
            assert_eq!(response.outcome(), Outcome::Ko, "{what} ({version:?})");
            let fault = response.fault().unwrap();
            assert_eq!(
                fault.fault_code,
                FaultCode::PaaSemantica,
                "{what} ({version:?}): {fault:?}"
            );
            assert_eq!(fault.id, EC);
            assert_eq!(
                traces(app, "IUPD-BADRT", &n).await,
                untouched,
                "{what} ({version:?}) left something behind"
            );
        }
    }
    // The notice was payable all along: the well-formed receipt closes it.
    expect_ok(
        app,
        &send_rt(Version::V2, receipt(&n, "R-GOOD-101", 500, None)),
    )
    .await;
    let (receipts, mails, status) = traces(app, "IUPD-BADRT", &n).await;
    assert_eq!(receipts, 1);
    assert!(mails >= 1, "the payer is told");
    assert_eq!(status, (PositionStatus::Paid, vec![OptionStatus::Paid]));
}

async fn a_ko_receipt_is_kept_and_closes_nothing(app: &TestApp) {
    seed_one(app, "IUPD-KO", 102, 500).await;
    let n = nav(102);
    let store = app.state.store();
    let ente = app.state.ente().id;
    for version in [Version::V1, Version::V2] {
        let mut ko = receipt(&n, "R-KO-1", 500, Some("BNCNNA80A41H501X"));
        ko.outcome = Outcome::Ko;
        // Acknowledged (the node must not retry it), the first time and every time after.
        expect_ok(app, &send_rt(version, ko)).await;
        let receipts = store.receipts_for_notice(ente, n.as_str()).await.unwrap();
        assert_eq!(receipts.len(), 1, "{version:?}");
        assert_eq!(receipts[0].outcome, "KO");
        assert!(!receipts[0].refund_required, "nothing was paid to refund");
        assert_eq!(
            option_status(app, "IUPD-KO").await,
            (PositionStatus::Valid, vec![OptionStatus::Unpaid]),
            "a failed payment pays nothing"
        );
        assert!(
            store.outbox_for(None, 100).await.unwrap().is_empty(),
            "nobody is told of a payment that did not happen"
        );
        expect_ok(app, &verify(&n)).await;
    }
    // The payment is tried again and succeeds: that receipt closes the notice.
    expect_ok(
        app,
        &send_rt(
            Version::V2,
            receipt(&n, "R-OK-1", 500, Some("BNCNNA80A41H501X")),
        ),
    )
    .await;
    assert_eq!(
        option_status(app, "IUPD-KO").await,
        (PositionStatus::Paid, vec![OptionStatus::Paid])
    );
    let receipts = store.receipts_for_notice(ente, n.as_str()).await.unwrap();
    let kept: Vec<(&str, &str, bool)> = receipts
        .iter()
        .map(|r| (r.receipt_id.as_str(), r.outcome.as_str(), r.refund_required))
        .collect();
    assert_eq!(kept, [("R-KO-1", "KO", false), ("R-OK-1", "OK", false)]);
}

/// Sends `request` `copies` times at once (every copy waits at a barrier, then all go).
async fn all_at_once(app: &TestApp, request: &Request, copies: usize) -> Vec<Response> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(copies));
    let mut tasks = Vec::new();
    for _ in 0..copies {
        let client = reqwest::Client::new();
        let url = format!("{}/pagopa/paForNode", app.base);
        let action = request.operation().name();
        let body = request.encode();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let res = client
                .post(&url)
                .header("SOAPAction", action)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            Response::decode(&res.text().await.unwrap()).unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn the_same_receipt_at_the_same_moment_is_stored_once(app: &TestApp) {
    let store = app.state.store();
    let ente = app.state.ente().id;
    // A notice of ours, the same receipt delivered twice (and more) at the same moment, in
    // both versions: every delivery is acknowledged, one receipt is stored, the notice is
    // closed once and the payer and the debtor are told once.
    let rounds = [
        (103, Version::V2, 2),
        (104, Version::V2, 12),
        (105, Version::V1, 12),
    ];
    for (i, (seq, version, copies)) in rounds.into_iter().enumerate() {
        let iupd = format!("IUPD-TWICE-{seq}");
        seed_one(app, &iupd, seq, 800).await;
        let n = nav(seq);
        let rt = send_rt(
            version,
            receipt(&n, &format!("R-TWICE-{seq}"), 800, Some("BNCNNA80A41H501X")),
        );
        let answers = all_at_once(app, &rt, copies).await;
        for a in &answers {
            assert_eq!(a.outcome(), Outcome::Ok, "{a:?}");
        }
        let receipts = store.receipts_for_notice(ente, n.as_str()).await.unwrap();
        assert_eq!(receipts.len(), 1, "{version:?} × {copies}");
        assert!(!receipts[0].refund_required, "it is not a second payment");
        assert_eq!(
            option_status(app, &iupd).await,
            (PositionStatus::Paid, vec![OptionStatus::Paid])
        );
        assert_eq!(
            store
                .outbox_for(Some(PAYER_EMAIL), 100)
                .await
                .unwrap()
                .len(),
            i + 1,
            "the payer is told once"
        );
        assert_eq!(
            store
                .outbox_for(Some(DEBTOR_EMAIL), 100)
                .await
                .unwrap()
                .len(),
            i + 1,
            "the debtor is told once"
        );
    }
    // A notice nobody knows (no row to lock): the same receipt at once is kept once, flagged
    // for refund once.
    let unknown = nav(106);
    let rt = send_rt(
        Version::V2,
        receipt(&unknown, "R-STRAY", 800, Some("BNCNNA80A41H501X")),
    );
    for a in all_at_once(app, &rt, 12).await {
        assert_eq!(a.outcome(), Outcome::Ok, "{a:?}");
    }
    let stray = store
        .receipts_for_notice(ente, unknown.as_str())
        .await
        .unwrap();
    assert_eq!(stray.len(), 1);
    assert!(stray[0].refund_required);
    let refunds: Vec<_> = store
        .outbox_for(Some(PAYER_EMAIL), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.kind == "receipt_refund")
        .collect();
    assert_eq!(refunds.len(), 1, "one refund notice");
}
