//! The back office's reconciliation pages against the real app and its sandbox: pay at the
//! sandbox's PSP, publish flows with a fault, "Sincronizza ora", see the flow, its lines and
//! anomalies, resolve one with a note, paste the sandbox bank's camt.053 and see the flow
//! *riversato*, export CSV; the receipt's page shows its whole path.

mod common;

use common::office::operator_browser;
use common::{TestApp, TestDb, publish_position};
use sportello::backoffice::Role;
use sportello::recon::views::{self, AnomalyFilter, FlowFilter};

const EC: &str = "00229080338";

fn sandbox(app: &TestApp) -> String {
    app.sandbox.clone().expect("the demo runs its sandbox")
}

/// Pays a new position of `cents` at the sandbox's PSP counter; returns the receipt id.
async fn pay(app: &TestApp, iupd: &str, cents: i64) -> String {
    let nav = publish_position(&app.client, &app.base, iupd, cents).await;
    let page = app
        .client
        .post(format!("{}/psp", sandbox(app)))
        .form(&[
            ("azione", "paga"),
            ("codice", nav.as_str()),
            ("ente", EC),
            ("importo", &cents.to_string()),
            ("psp", "BCITITMM"),
            ("consegna", "normale"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("<code>").unwrap_or_else(|| panic!("{page}")) + 6;
    page[at..at + page[at..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn staff_reconcile_flows_anomalies_and_the_treasury() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let ente = app.state.ente().id;
    let receipt = pay(&app, "UFR-1", 1234).await;
    pay(&app, "UFR-2", 766).await;
    let r = app
        .client
        .post(format!("{}/fdr/pubblica", sandbox(&app)))
        .form(&[("importo", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let admin = operator_browser(&app, "ragioneria", Role::Admin, &[], false).await;
    let r = app
        .submit(
            &admin,
            "/ufficio/rendicontazione",
            "/ufficio/rendicontazione/sincronizza",
            &[],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let flows = views::list_flows(app.state.store(), ente, &FlowFilter::default())
        .await
        .unwrap();
    assert_eq!(flows.len(), 1);
    let flow = &flows[0];
    let (status, list) = app.page(&admin, "/ufficio/rendicontazione").await;
    assert_eq!(status, 200);
    assert!(list.contains(&flow.fdr), "{list}");
    assert!(list.contains(&format!("/ufficio/rendicontazione/{}", flow.id)));

    // The flow: its lines matched to the receipts, the anomaly, no credit yet.
    let detail_path = format!("/ufficio/rendicontazione/{}", flow.id);
    let (status, detail) = app.page(&admin, &detail_path).await;
    assert_eq!(status, 200);
    assert!(detail.contains(&receipt), "{detail}");
    assert!(detail.contains("Importo diverso"), "{detail}");
    assert!(detail.contains("Nessun accredito in tesoreria"));

    // The anomalies: listed, resolved with a note (a note is mandatory), audited.
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
    let anomaly = open.first().expect("an anomaly");
    let (_, page) = app.page(&admin, "/ufficio/riconciliazione/anomalie").await;
    assert!(page.contains("Importo diverso"), "{page}");
    let id = anomaly.id.to_string();
    let refused = app
        .submit(
            &admin,
            "/ufficio/riconciliazione/anomalie",
            "/ufficio/riconciliazione/anomalie/risolvi",
            &[("id", &id), ("nota", "  ")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let r = app
        .submit(
            &admin,
            "/ufficio/riconciliazione/anomalie",
            "/ufficio/riconciliazione/anomalie/risolvi",
            &[("id", &id), ("nota", "Centesimo restituito dal PSP")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app
        .page(&admin, "/ufficio/riconciliazione/anomalie?tutte=si")
        .await;
    assert!(
        page.contains("Risolta: Centesimo restituito dal PSP"),
        "{page}"
    );
    let csv = app
        .page(&admin, "/ufficio/riconciliazione/anomalie.csv?tutte=si")
        .await
        .1;
    assert!(csv.contains("Centesimo restituito dal PSP"), "{csv}");

    // The treasury: the sandbox bank's camt.053, pasted, marks the flow riversato.
    let xml = app
        .client
        .get(format!("{}/tesoreria/camt053", sandbox(&app)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = app
        .submit(
            &admin,
            "/ufficio/tesoreria",
            "/ufficio/tesoreria/estratto",
            &[("nome", "camt053.xml"), ("estratto", &xml)],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let (_, page) = app.page(&admin, "/ufficio/tesoreria").await;
    assert!(page.contains(&flow.fdr), "{page}");
    let (_, detail) = app.page(&admin, &detail_path).await;
    assert!(detail.contains("Accredito in tesoreria"), "{detail}");
    let csv = app.page(&admin, "/ufficio/rendicontazione.csv").await.1;
    let row = csv
        .lines()
        .find(|l| l.contains(&flow.fdr))
        .expect("flow row");
    // riversato, with the credit's date.
    assert_eq!(row.split(';').nth(14), Some("sì"), "{row}");
    let csv = app.page(&admin, "/ufficio/tesoreria.csv").await.1;
    assert!(csv.contains(&flow.fdr), "{csv}");
    let csv = app
        .page(&admin, &format!("{detail_path}/righe.csv"))
        .await
        .1;
    assert!(csv.contains(&receipt), "{csv}");

    // Each receipt's state, and the receipt's whole path on its page.
    let (_, page) = app.page(&admin, "/ufficio/riconciliazione/ricevute").await;
    assert!(page.contains(&receipt), "{page}");
    let csv = app
        .page(&admin, "/ufficio/riconciliazione/ricevute.csv")
        .await
        .1;
    assert!(csv.contains(&receipt));
    let pk = views::receipt_path(app.state.store(), ente, &receipt)
        .await
        .unwrap()
        .unwrap()
        .receipt
        .id;
    let (_, page) = app.page(&admin, &format!("/ufficio/ricevute/{pk}")).await;
    assert!(page.contains("Percorso: avviso"), "{page}");
    assert!(page.contains(&flow.fdr));

    // An operator sees neither the pages nor the path.
    let clerk = operator_browser(&app, "vigile", Role::Operator, &["multe"], false).await;
    let (status, _) = app.page(&clerk, "/ufficio/rendicontazione").await;
    assert_eq!(status, 403);
}
