//! Reconciliation end to end, over HTTP: the real app pays notices at its sandbox's PSP
//! counter, the sandbox publishes the flows (FdR), Sportello reads them through the FdR
//! organization API, matches them to its receipts, recovers the receipts it never got from
//! the receipts API, and imports the sandbox bank's camt.053 statement.

mod common;

use std::collections::BTreeSet;

use common::{TestApp, TestDb, publish_position};
use serde_json::Value;
use sportello::recon::sync::{SyncReport, sync_round};
use sportello::recon::views::{self, AnomalyFilter, FlowFilter};
use sportello::recon::{AnomalyKind, ReportingState};

const EC: &str = "00229080338";

async fn app(db: TestDb) -> TestApp {
    // Pages of two: every list and every flow's lines take several requests.
    TestApp::spawn_with(db, &[("SPORTELLO_FDR_PAGE_SIZE", "2")]).await
}

fn sandbox(app: &TestApp) -> String {
    app.sandbox.clone().expect("the demo runs its sandbox")
}

/// Publishes a position of `cents` and pays it at the sandbox's PSP counter through `psp`;
/// `delivery` is `normale`, `standin` or `persa`. Returns (notice number, receipt id).
async fn pay(app: &TestApp, iupd: &str, cents: i64, psp: &str, delivery: &str) -> (String, String) {
    let nav = publish_position(&app.client, &app.base, iupd, cents).await;
    let page = app
        .client
        .post(format!("{}/psp", sandbox(app)))
        .form(&[
            ("azione", "paga"),
            ("codice", nav.as_str()),
            ("ente", EC),
            ("importo", &cents.to_string()),
            ("psp", psp),
            ("consegna", delivery),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("<code>").unwrap_or_else(|| panic!("{page}")) + 6;
    let receipt_id = page[at..at + page[at..].find('<').unwrap()].to_owned();
    (nav, receipt_id)
}

async fn publish(app: &TestApp, faults: &[&str]) -> Vec<(String, i64)> {
    let form: Vec<(&str, &str)> = faults.iter().map(|f| (*f, "on")).collect();
    let v: Value = app
        .client
        .post(format!("{}/fdr/pubblica", sandbox(app)))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fdr"].as_str().unwrap().to_owned(),
                f["revision"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn sync(app: &TestApp) -> SyncReport {
    sync_round(
        app.state.store(),
        app.state.ente(),
        &app.state.config().recon,
    )
    .await
    .expect("the round completes")
}

fn kinds(report: &SyncReport, fdr: &str) -> Vec<AnomalyKind> {
    report
        .flows
        .iter()
        .filter(|f| f.fdr == fdr)
        .flat_map(|f| f.anomalies.iter().map(|a| a.kind))
        .collect()
}

async fn state_of(app: &TestApp, receipt_id: &str) -> ReportingState {
    views::receipt_path(app.state.store(), app.state.ente().id, receipt_id)
        .await
        .unwrap()
        .expect("the receipt is stored")
        .receipt
        .state
}

/// The position `iupd` as the debt-position API shows it: (status, its options' statuses,
/// their transfers' statuses).
async fn gpd_statuses(app: &TestApp, iupd: &str) -> (String, Vec<String>, Vec<String>) {
    let v: Value = app
        .client
        .get(format!(
            "{}/gpd/debt-positions-service/v1/organizations/{EC}/debtpositions/{iupd}",
            app.base
        ))
        .header("Ocp-Apim-Subscription-Key", "sportello-demo-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let options = v["paymentOption"].as_array().unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    (
        text(&v["status"]),
        options.iter().map(|o| text(&o["status"])).collect(),
        options
            .iter()
            .flat_map(|o| o["transfer"].as_array().unwrap().iter())
            .map(|t| text(&t["status"]))
            .collect(),
    )
}

async fn flows_match_receipts_page_by_page_and_the_watermark_moves_on(db: TestDb) {
    let app = app(db).await;
    let (_, r1) = pay(&app, "R1", 1000, "BCITITMM", "normale").await;
    let (_, r2) = pay(&app, "R2", 2550, "BCITITMM", "normale").await;
    let (_, r3) = pay(&app, "R3", 700, "PAYTITM1", "normale").await;
    let published = publish(&app, &[]).await;
    assert_eq!(published.len(), 2, "one flow per PSP per day");
    for (fdr, _) in &published {
        assert!(
            fdr.ends_with("BCITITMM-0001") || fdr.ends_with("PAYTITM1-0001"),
            "YYYY-MM-DD<idPSP>-<progressive>: {fdr}"
        );
        assert_eq!(&fdr[4..5], "-");
    }
    assert_eq!(state_of(&app, &r1).await, ReportingState::Pending);

    let report = sync(&app).await;
    assert_eq!(report.flows.len(), 2, "{report:#?}");
    for f in &report.flows {
        assert_eq!(f.status, "reconciled", "{f:#?}");
        assert!(f.anomalies.is_empty());
        assert_eq!(f.lines, f.matched);
    }
    assert_eq!(report.flows.iter().map(|f| f.lines).sum::<usize>(), 3);
    for r in [&r1, &r2, &r3] {
        assert_eq!(state_of(&app, r).await, ReportingState::Reported);
    }
    // GPD's lifecycle: reported by a flow, the option is PO_REPORTED and the position REPORTED.
    let reported = (
        "REPORTED".to_owned(),
        vec!["PO_REPORTED".to_owned()],
        vec!["T_REPORTED".to_owned()],
    );
    for iupd in ["R1", "R2", "R3"] {
        assert_eq!(gpd_statuses(&app, iupd).await, reported, "{iupd}");
    }

    // Nothing new: the watermark keeps the round short, and nothing is stored twice.
    let again = sync(&app).await;
    assert!(again.flows.is_empty(), "{again:#?}");
    let flows = views::list_flows(
        app.state.store(),
        app.state.ente().id,
        &FlowFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(flows.len(), 2);

    // A later payment: the PSP's second flow of the day.
    pay(&app, "R4", 400, "BCITITMM", "normale").await;
    assert_eq!(
        gpd_statuses(&app, "R4").await,
        (
            "PAID".to_owned(),
            vec!["PO_PAID".to_owned()],
            vec!["T_UNREPORTED".to_owned()]
        ),
        "paid, not yet reported"
    );
    let published = publish(&app, &[]).await;
    assert_eq!(published.len(), 1);
    assert!(published[0].0.ends_with("BCITITMM-0002"), "{published:?}");
    let third = sync(&app).await;
    assert_eq!(third.flows.len(), 1);
    assert_eq!(third.flows[0].matched, 1);
    assert!(
        app.state
            .store()
            .recon_watermark(app.state.ente().id)
            .await
            .unwrap()
            .is_some()
    );
    app.stop().await;
}

async fn every_anomaly_kind_is_found_and_exported(db: TestDb) {
    let app = app(db).await;
    let ente = app.state.ente().id;
    for (i, cents) in [1000, 1100, 1200, 1300, 1400].iter().enumerate() {
        pay(&app, &format!("A{i}"), *cents, "BCITITMM", "normale").await;
    }
    let (lost_nav, lost) = pay(&app, "LOST", 900, "BPPIITRRXXX", "persa").await;
    let (standin_nav, standin) = pay(&app, "STANDIN", 800, "PAYTITM1", "standin").await;
    let published = publish(
        &app,
        &[
            "importo",
            "senza_rpt",
            "revoca",
            "duplicata",
            "sconosciuto",
            "totale",
            "conteggio",
        ],
    )
    .await;
    assert_eq!(published.len(), 3);
    let faulty = published
        .iter()
        .find(|(f, _)| f.contains("BCITITMM"))
        .unwrap()
        .0
        .clone();
    let report = sync(&app).await;
    let mut found = kinds(&report, &faulty);
    found.sort();
    assert_eq!(
        found,
        vec![
            AnomalyKind::UnknownPayment,
            AnomalyKind::AmountMismatch,
            AnomalyKind::DuplicateLine,
            AnomalyKind::HeaderCountMismatch,
            AnomalyKind::HeaderSumMismatch,
            AnomalyKind::Revoked,
            AnomalyKind::NoRpt,
        ],
        "{report:#?}"
    );
    // The lost paSendRT and the stand-in payment: recovered from pagoPA's receipts API.
    assert_eq!(report.recovered, 2, "{report:#?}");
    for (psp, kind) in [
        ("BPPIITRRXXX", AnomalyKind::UnknownPayment),
        ("PAYTITM1", AnomalyKind::StandIn),
    ] {
        let f = report.flows.iter().find(|f| f.psp_id == psp).unwrap();
        assert_eq!(f.anomalies.len(), 1, "{f:#?}");
        assert_eq!(f.anomalies[0].kind, kind);
        assert!(f.anomalies[0].detail.contains("recuperata"), "{f:#?}");
        assert_eq!(f.matched, 1, "matched once recovered");
    }
    for (nav, receipt) in [(&lost_nav, &lost), (&standin_nav, &standin)] {
        let path = views::receipt_path(app.state.store(), ente, receipt)
            .await
            .unwrap()
            .unwrap();
        assert!(path.receipt.recovered);
        assert_eq!(path.receipt.state, ReportingState::Reported);
        let option = app
            .state
            .store()
            .notice_option(ente, nav)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            option.position.status,
            sportello::domain::position::PositionStatus::Reported,
            "the recovered receipt closed the position as paSendRT would, and the flow reports it"
        );
    }

    // After the configured days: a receipt no flow reports, flows no credit settles.
    pay(&app, "LATE", 300, "BCITITMM", "normale").await;
    let future = sportello::clock::Timestamp::now().plus(time::Duration::days(1));
    let opened = app
        .state
        .store()
        .raise_overdue(ente, future, future)
        .await
        .unwrap();
    assert_eq!(opened, 1 + 3);
    let again = app
        .state
        .store()
        .raise_overdue(ente, future, future)
        .await
        .unwrap();
    assert_eq!(again, 0, "an open anomaly is not repeated");

    // The treasury: a credit naming no known flow, and one for a flow with another total.
    let lost_flow = published
        .iter()
        .find(|(f, _)| f.contains("BPPIITRRXXX"))
        .unwrap()
        .0
        .clone();
    let csv = format!(
        "data_contabile;data_valuta;importo;causale;ordinante;riferimento\n\
         30/11/2026;30/11/2026;12,34;/PUR/LGPE-RIVERSAMENTO/URI/2026-01-01XXXXXX-0001;PSP;C1\n\
         30/11/2026;30/11/2026;9,01;/PUR/LGPE-RIVERSAMENTO/URI/{lost_flow};Poste;C2\n\
         30/11/2026;30/11/2026;-5,00;commissioni;;C3\n"
    );
    let imported = sportello::recon::treasury::import_statement(
        app.state.store(),
        app.state.ente(),
        "estratto.csv",
        csv.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!((imported.imported, imported.skipped), (2, 1));
    assert_eq!((imported.without_flow, imported.amount_mismatch), (1, 1));

    let all = views::list_anomalies(app.state.store(), ente, &AnomalyFilter::default())
        .await
        .unwrap();
    let every: BTreeSet<AnomalyKind> = all.iter().map(|a| a.kind).collect();
    assert_eq!(
        every,
        AnomalyKind::ALL.into_iter().collect::<BTreeSet<_>>(),
        "every documented kind"
    );
    // Exports (CSV and XLSX, web/ufficio/recon.rs) read the lists in batches by id: every
    // row once, whatever the batch size.
    let mut exported = Vec::new();
    let mut before = None;
    loop {
        let batch = views::anomalies_batch(
            app.state.store(),
            ente,
            &AnomalyFilter::default(),
            before,
            4,
        )
        .await
        .unwrap();
        before = batch.last().map(|a| a.id);
        let done = batch.len() < 4;
        exported.extend(batch.into_iter().map(|a| a.id));
        if done {
            break;
        }
    }
    assert!(exported.windows(2).all(|w| w[0] > w[1]), "{exported:?}");
    let mut listed: Vec<i64> = all.iter().map(|a| a.id).collect();
    listed.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(exported, listed);
    let flows = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    let faulty_flow = flows.iter().find(|f| f.fdr == faulty).unwrap();
    assert!(faulty_flow.open_anomalies >= 7);
    let first = views::flows_batch(app.state.store(), ente, &FlowFilter::default(), None, 1)
        .await
        .unwrap();
    let rest = views::flows_batch(
        app.state.store(),
        ente,
        &FlowFilter::default(),
        Some(first[0].id),
        1000,
    )
    .await
    .unwrap();
    assert_eq!(first.len() + rest.len(), flows.len());
    assert!(rest.iter().chain(&first).any(|f| f.fdr == faulty));
    let receipts = views::receipts_batch(
        app.state.store(),
        ente,
        Some(ReportingState::Anomaly),
        None,
        1000,
    )
    .await
    .unwrap();
    assert!(!receipts.is_empty());

    // An operator closes one with a note.
    let open = all.iter().find(|a| a.kind == AnomalyKind::NoRpt).unwrap();
    assert!(
        views::resolve_anomaly(app.state.store(), ente, open.id, "verificato con il PSP")
            .await
            .unwrap()
    );
    assert!(
        !views::resolve_anomaly(app.state.store(), ente, open.id, "ancora")
            .await
            .unwrap()
    );
    app.stop().await;
}

async fn a_newer_revision_replaces_lines_and_matches_keeping_history(db: TestDb) {
    let app = app(db).await;
    let ente = app.state.ente().id;
    let (_, r1) = pay(&app, "V1", 1000, "BCITITMM", "normale").await;
    pay(&app, "V2", 2000, "BCITITMM", "normale").await;
    let published = publish(&app, &["revisione", "importo"]).await;
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].0, published[1].0);
    assert_eq!((published[0].1, published[1].1), (1, 2));
    let report = sync(&app).await;
    assert_eq!(report.flows.len(), 2);
    assert_eq!(report.flows[0].revision, 1);
    assert_eq!(
        kinds(&report, &published[0].0)[0],
        AnomalyKind::AmountMismatch
    );
    assert_eq!(report.flows[1].status, "reconciled");

    let history = views::list_flows(
        app.state.store(),
        ente,
        &FlowFilter {
            include_history: true,
            ..FlowFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(history.len(), 2);
    let current: Vec<_> = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].revision, 2);
    assert_eq!(current[0].matched, 2);
    assert_eq!(current[0].open_anomalies, 0);

    let old = history.iter().find(|f| f.revision == 1).unwrap();
    let detail = views::flow_detail(app.state.store(), ente, old.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!detail.flow.current);
    assert_eq!(detail.revisions.len(), 2);
    assert_eq!(detail.lines.len(), 2, "the old revision's lines are kept");
    assert!(
        detail.lines.iter().all(|l| l.receipt_pk.is_some()),
        "and its matches, as history"
    );
    assert!(
        detail
            .anomalies
            .iter()
            .all(|a| a.closed_reason.as_deref() == Some("superseded")),
        "{:#?}",
        detail.anomalies
    );
    let path = views::receipt_path(app.state.store(), ente, &r1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(path.receipt.state, ReportingState::Reported);
    assert_eq!(path.lines.len(), 2, "one line per revision");
    assert_eq!(
        path.receipt.reported_fdr.as_deref(),
        Some(published[0].0.as_str())
    );
    for iupd in ["V1", "V2"] {
        assert_eq!(gpd_statuses(&app, iupd).await.0, "REPORTED", "{iupd}");
    }

    // A third revision that reports nothing any more: the receipts wait for a flow again, and
    // their options and positions are back to paid.
    let revision_2 = &current[0];
    app.state
        .store()
        .store_flow(
            ente,
            &sportello::store::recon::NewFlow {
                fdr: revision_2.fdr.clone(),
                psp_id: revision_2.psp_id.clone(),
                revision: 3,
                status: "PUBLISHED".into(),
                published_at: sportello::clock::Timestamp::now(),
                flow_date: None,
                regulation: revision_2.regulation.clone(),
                regulation_date: revision_2.regulation_date.clone(),
                bic: None,
                psp_name: revision_2.psp_name.clone(),
                tot_payments: 0,
                sum_payments: 0,
            },
            &[],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(state_of(&app, &r1).await, ReportingState::Pending);
    for iupd in ["V1", "V2"] {
        assert_eq!(
            gpd_statuses(&app, iupd).await,
            (
                "PAID".to_owned(),
                vec!["PO_PAID".to_owned()],
                vec!["T_UNREPORTED".to_owned()]
            ),
            "{iupd}"
        );
    }
    app.stop().await;
}

async fn recovery_is_idempotent(db: TestDb) {
    let app = app(db).await;
    let ente = app.state.ente().id;
    let (nav, receipt_id) = pay(&app, "S1", 1500, "PAYTITM1", "standin").await;
    assert!(
        app.state
            .store()
            .receipts_for_notice(ente, &nav)
            .await
            .unwrap()
            .is_empty(),
        "the station never got it"
    );
    publish(&app, &[]).await;
    let first = sync(&app).await;
    assert_eq!(first.recovered, 1);
    assert_eq!(
        app.state
            .store()
            .receipts_for_notice(ente, &nav)
            .await
            .unwrap()
            .len(),
        1
    );
    let second = sync(&app).await;
    assert_eq!(second.recovered, 0);
    assert!(second.flows.is_empty());

    // The same receipt fetched again (another instance, a retry): nothing changes.
    let client = sportello::recon::client::Client::from_config(&app.state.config().recon).unwrap();
    let iuv = &nav[1..];
    let sportello::recon::client::Recovered::Found(json, raw) =
        client.receipt(EC, &receipt_id, iuv).await.unwrap()
    else {
        panic!("the receipts API has it");
    };
    let soap = json.to_receipt().unwrap();
    let station = sportello::station::Station::new(app.state.store(), app.state.ente());
    assert_eq!(
        station.record_recovered(&soap, &raw).await.unwrap(),
        sportello::station::ReceiptDisposition::Duplicate
    );
    assert_eq!(
        app.state
            .store()
            .receipts_for_notice(ente, &nav)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        client.receipt(EC, "nessuna", iuv).await.unwrap(),
        sportello::recon::client::Recovered::NotFound
    ));
    app.stop().await;
}

async fn a_restart_mid_sync_resumes_without_duplicates(db: TestDb) {
    let app = app(db).await;
    let ente = app.state.ente().id;
    pay(&app, "M1", 100, "BCITITMM", "normale").await;
    pay(&app, "M2", 200, "BPPIITRRXXX", "normale").await;
    pay(&app, "M3", 300, "PAYTITM1", "normale").await;
    pay(&app, "M4", 400, "PAYTITM1", "normale").await;
    let published = publish(&app, &[]).await;
    assert_eq!(published.len(), 3);
    // The second flow's lines fail: the round stops after storing the first.
    let r = app
        .client
        .post(format!("{}/fdr/guasti", sandbox(&app)))
        .form(&[("flusso_in_errore", published[1].0.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let err = sync_round(
        app.state.store(),
        app.state.ente(),
        &app.state.config().recon,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    let stored = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fdr, published[0].0);

    app.client
        .post(format!("{}/fdr/guasti", sandbox(&app)))
        .form(&[("flusso_in_errore", "")])
        .send()
        .await
        .unwrap();
    let resumed = sync(&app).await;
    let names: Vec<&str> = resumed.flows.iter().map(|f| f.fdr.as_str()).collect();
    assert_eq!(
        names,
        vec![published[1].0.as_str(), published[2].0.as_str()]
    );
    let stored = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored.iter().map(|f| f.line_count).sum::<i64>(), 4);
    assert_eq!(stored.iter().map(|f| f.matched).sum::<i64>(), 4);
    let anomalies = views::list_anomalies(app.state.store(), ente, &AnomalyFilter::default())
        .await
        .unwrap();
    assert!(anomalies.is_empty(), "{anomalies:#?}");
    app.stop().await;
}

async fn the_treasury_statement_marks_flows_riversati(db: TestDb) {
    let app = app(db).await;
    let ente = app.state.ente().id;
    let (_, r1) = pay(&app, "T1", 1234, "BCITITMM", "normale").await;
    pay(&app, "T2", 766, "BCITITMM", "normale").await;
    pay(&app, "T3", 500, "PAYTITM1", "normale").await;
    let published = publish(&app, &[]).await;
    // The statement arrives before the flows are read: its credits wait for them.
    let statement = app
        .client
        .get(format!("{}/tesoreria/camt053", sandbox(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(statement.status(), 200);
    let xml = statement.bytes().await.unwrap();
    let early = sportello::recon::treasury::import_statement(
        app.state.store(),
        app.state.ente(),
        "camt053.xml",
        &xml,
    )
    .await
    .unwrap();
    assert_eq!((early.imported, early.without_flow), (2, 2));
    sync(&app).await;
    let flows = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert!(flows.iter().all(|f| f.credit_id.is_some()), "{flows:#?}");
    let credits = views::list_credits(app.state.store(), ente, true)
        .await
        .unwrap();
    assert!(
        credits.is_empty(),
        "every credit settles its flow: {credits:#?}"
    );
    let open = views::list_anomalies(
        app.state.store(),
        ente,
        &AnomalyFilter {
            open_only: true,
            ..AnomalyFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(open.is_empty(), "credit_without_flow settled: {open:#?}");

    // Notice → receipt → flow line → bank credit.
    let path = views::receipt_path(app.state.store(), ente, &r1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(path.receipt.state, ReportingState::Credited);
    assert_eq!(path.lines.len(), 1);
    assert_eq!(path.credits.len(), 1);
    let bcit = published
        .iter()
        .find(|(f, _)| f.contains("BCITITMM"))
        .unwrap();
    assert_eq!(path.credits[0].amount, pagopa::Cents::new(2000));
    assert_eq!(path.credits[0].fdr.as_deref(), Some(bcit.0.as_str()));

    // The same file again changes nothing.
    let again = sportello::recon::treasury::import_statement(
        app.state.store(),
        app.state.ente(),
        "camt053.xml",
        &xml,
    )
    .await
    .unwrap();
    assert_eq!((again.imported, again.already_imported), (0, 2));
    let all = views::list_credits(app.state.store(), ente, false)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let batch = views::credits_batch(app.state.store(), ente, false, None, 1000)
        .await
        .unwrap();
    let ids = |v: &[views::CreditView]| v.iter().map(|c| c.id).collect::<BTreeSet<_>>();
    assert_eq!(ids(&batch), ids(&all), "the export's rows");
    assert!(
        batch
            .iter()
            .any(|c| c.fdr.as_deref() == Some(bcit.0.as_str()))
    );
    app.stop().await;
}

both_databases!(
    flows_match_receipts_page_by_page_and_the_watermark_moves_on,
    every_anomaly_kind_is_found_and_exported,
    a_newer_revision_replaces_lines_and_matches_keeping_history,
    recovery_is_idempotent,
    a_restart_mid_sync_resumes_without_duplicates,
    the_treasury_statement_marks_flows_riversati,
);

// --- The sandbox's responses against fdr_organization.json and biz-events' receipt schema. ---
// Written by hand from pagopa/pagopa-api's openapi/fdr_organization.json (v1.1.x) and
// openapi/biz_events.json (CtReceiptModelResponse); the documents are not copied here.

fn string(v: &Value, field: &str, pattern: Option<fn(&str) -> bool>) {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} must be a string: {v}"));
    if let Some(p) = pattern {
        assert!(p(s), "{field} {s:?} does not match its pattern");
    }
}

fn integer(v: &Value, field: &str, min: i64) {
    let n = v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} must be an integer: {v}"));
    assert!(n >= min, "{field} = {n} < {min}");
}

/// `^\d{1,2147483647}[.]\d{1,2}?$` on the number as serialised (the schema's pattern on
/// `type: number`), and `type: number`.
fn decimal(v: &Value, field: &str) {
    let n = &v[field];
    assert!(n.is_number(), "{field} must be a number: {v}");
    let text = n.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    assert!(
        !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.len() <= 2,
        "{field} {text} does not match ^\\d+[.]\\d{{1,2}}?$"
    );
}

fn instant(v: &Value, field: &str) {
    let s = v[field].as_str().unwrap_or_else(|| panic!("{field}: {v}"));
    assert!(
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok(),
        "{field} {s:?} is not a date-time"
    );
}

fn metadata(v: &Value) {
    let m = &v["metadata"];
    for f in ["pageSize", "pageNumber", "totPage"] {
        integer(m, f, 0);
    }
    integer(v, "count", 0);
    assert!(v["data"].is_array());
}

fn check_flows_page(v: &Value) {
    metadata(v);
    for f in v["data"].as_array().unwrap() {
        string(f, "fdr", None);
        string(f, "pspId", None);
        integer(f, "revision", 1);
        instant(f, "published");
        instant(f, "flowDate");
    }
}

fn check_flow(v: &Value) {
    assert!(["CREATED", "INSERTED", "PUBLISHED"].contains(&v["status"].as_str().unwrap()));
    integer(v, "revision", 1);
    instant(v, "created");
    instant(v, "updated");
    string(
        v,
        "fdr",
        Some(|s| {
            (1..=35).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }),
    );
    instant(v, "fdrDate");
    string(v, "regulation", None);
    let date = v["regulationDate"].as_str().unwrap();
    assert!(time::Date::parse(date, &time::format_description::well_known::Iso8601::DATE).is_ok());
    string(v, "bicCodePouringBank", None);
    let s = &v["sender"];
    assert!(["LEGAL_PERSON", "ABI_CODE", "BIC_CODE"].contains(&s["type"].as_str().unwrap()));
    for f in ["id", "pspId", "pspBrokerId", "channelId"] {
        string(s, f, Some(|t| (1..=35).contains(&t.chars().count())));
    }
    string(
        s,
        "pspName",
        Some(|t| (3..=70).contains(&t.chars().count())),
    );
    let r = &v["receiver"];
    for f in ["id", "organizationId"] {
        string(r, f, Some(|t| (1..=35).contains(&t.chars().count())));
    }
    string(
        r,
        "organizationName",
        Some(|t| (1..=140).contains(&t.chars().count())),
    );
    instant(v, "published");
    integer(v, "computedTotPayments", 0);
    decimal(v, "computedSumPayments");
    integer(v, "totPayments", 0);
    decimal(v, "sumPayments");
}

fn check_payments_page(v: &Value) {
    metadata(v);
    for p in v["data"].as_array().unwrap() {
        integer(p, "index", 1);
        string(p, "iuv", Some(|t| (1..=35).contains(&t.chars().count())));
        string(p, "iur", Some(|t| (1..=35).contains(&t.chars().count())));
        let t = p["idTransfer"].as_i64().unwrap();
        assert!((1..=5).contains(&t));
        decimal(p, "pay");
        assert!(
            [
                "EXECUTED",
                "REVOKED",
                "STAND_IN",
                "STAND_IN_NO_RPT",
                "NO_RPT"
            ]
            .contains(&p["payStatus"].as_str().unwrap())
        );
        instant(p, "payDate");
    }
}

fn check_error(v: &Value) {
    integer(v, "httpStatusCode", 100);
    string(v, "httpStatusDescription", None);
    string(v, "appErrorCode", None);
    for e in v["errors"].as_array().unwrap() {
        string(e, "message", None);
    }
}

fn check_receipt(v: &Value) {
    for f in [
        "receiptId",
        "noticeNumber",
        "fiscalCode",
        "outcome",
        "creditorReferenceId",
        "description",
        "companyName",
        "idPSP",
        "pspCompanyName",
        "idChannel",
    ] {
        string(v, f, None);
    }
    assert!(v["paymentAmount"].is_number());
    for who in ["debtor", "payer"] {
        let d = &v[who];
        assert!(["F", "G"].contains(&d["entityUniqueIdentifierType"].as_str().unwrap()));
        string(d, "entityUniqueIdentifierValue", None);
        string(d, "fullName", None);
    }
    let transfers = v["transferList"].as_array().unwrap();
    assert!(!transfers.is_empty());
    for t in transfers {
        let id = t["idTransfer"].as_i64().unwrap();
        assert!((1..=5).contains(&id));
        assert!(t["transferAmount"].is_number());
        for f in [
            "fiscalCodePA",
            "iban",
            "mbdAttachment",
            "remittanceInformation",
            "transferCategory",
        ] {
            string(t, f, None);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sandbox_response_follows_the_published_schemas() {
    let app = app(TestDb::sqlite()).await;
    for i in 0..5 {
        pay(&app, &format!("Q{i}"), 100 + i, "BCITITMM", "normale").await;
    }
    let (nav, receipt_id) = pay(&app, "QS", 321, "PAYTITM1", "standin").await;
    publish(&app, &["revisione", "revoca", "duplicata", "senza_rpt"]).await;
    let base = format!("{}{}", sandbox(&app), sandbox::FDR_BASE);
    let get = |url: String| {
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let v: Value = r.json().await.unwrap();
            (status, ct, v)
        }
    };
    let mut flows = Vec::new();
    for page in 1..=2 {
        let (status, ct, v) =
            get(format!("{base}/organizations/{EC}/fdrs?page={page}&size=2")).await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("application/json"));
        check_flows_page(&v);
        flows.extend(v["data"].as_array().unwrap().clone());
    }
    assert_eq!(flows.len(), 3, "two revisions and a second PSP");
    for f in &flows {
        let url = format!(
            "{base}/organizations/{EC}/fdrs/{}/revisions/{}/psps/{}",
            f["fdr"].as_str().unwrap(),
            f["revision"],
            f["pspId"].as_str().unwrap()
        );
        let (status, _, v) = get(url.clone()).await;
        assert_eq!(status, 200);
        check_flow(&v);
        let (status, _, v) = get(format!("{url}/payments?page=1&size=3")).await;
        assert_eq!(status, 200);
        check_payments_page(&v);
    }
    let (status, _, v) = get(format!(
        "{base}/organizations/{EC}/fdrs/nessuno/revisions/1/psps/X"
    ))
    .await;
    assert_eq!(status, 404);
    check_error(&v);
    let (status, _, v) = get(format!("{base}/organizations/{EC}/fdrs?size=5000")).await;
    assert_eq!(status, 400);
    check_error(&v);
    let (status, _, v) = get(format!(
        "{}{}/organizations/{EC}/receipts/{receipt_id}/paymentoptions/{}",
        sandbox(&app),
        sandbox::RECEIPTS_BASE,
        &nav[1..]
    ))
    .await;
    assert_eq!(status, 200);
    check_receipt(&v);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_sync_and_import_from_the_terminal() {
    let db = TestDb::sqlite();
    let url = db.url.clone();
    let app = app(db).await;
    pay(&app, "C1", 1000, "BCITITMM", "normale").await;
    publish(&app, &["sconosciuto"]).await;
    let sb = sandbox(&app);
    let run = |args: Vec<String>| {
        let url = url.clone();
        let sb = sb.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
            for (key, _) in std::env::vars() {
                if key.starts_with("SPORTELLO_") {
                    cmd.env_remove(key);
                }
            }
            cmd.args(&args)
                .env("SPORTELLO_DATABASE_URL", &url)
                .env("SPORTELLO_FDR_URL", format!("{sb}{}", sandbox::FDR_BASE))
                .env(
                    "SPORTELLO_FDR_RECEIPTS_URL",
                    format!("{sb}{}", sandbox::RECEIPTS_BASE),
                )
                .env("SPORTELLO_LOG_LEVEL", "warn")
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["fdr".into(), "sync".into(), "--json".into()])
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one object per flow: {stdout}");
    let flow = &lines[0];
    for key in [
        "fdr",
        "pspId",
        "revision",
        "status",
        "lines",
        "matched",
        "anomalies",
    ] {
        assert!(!flow[key].is_null(), "{key} missing: {flow}");
    }
    assert_eq!(flow["lines"], 2);
    assert_eq!(flow["matched"], 1);
    let a = &flow["anomalies"][0];
    assert_eq!(a["kind"], "unknown_payment");
    for key in ["iuv", "iur", "idTransfer", "detail"] {
        assert!(!a[key].is_null(), "{key} missing: {a}");
    }

    let xml = app
        .client
        .get(format!("{sb}/tesoreria/camt053"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("camt053.xml");
    std::fs::write(&file, &xml).unwrap();
    let out = run(vec![
        "treasury".into(),
        "import".into(),
        file.display().to_string(),
        "--json".into(),
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(
        report["flows_credited"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    app.stop().await;
}
