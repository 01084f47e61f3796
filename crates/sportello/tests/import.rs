//! Bulk import of debt positions from CSV: good files, refused rows (with line numbers and
//! Italian reasons), all-or-nothing versus --partial, idempotent re-runs, BOM and `;`, on both
//! databases; and the same through the upload endpoint and the command line.

mod common;

use common::{TestApp, TestDb};
use pagopa::NoticeNumber;
use sportello::domain::position::PositionStatus;
use sportello::import::{ImportOptions, ImportReport, import_positions};
use sportello::store::Store;
use sportello::store::ente::Ente;

const HEADER: &str =
    "iupd;codice_fiscale;nominativo;causale;importo;scadenza;tassonomia;rata;iuv;email";

/// A good Italian-Excel file: BOM, `;`, euro with comma, dd/mm/yyyy; position TARI-1 has three
/// installments, MULTA-1 one payment; an empty trailing row as Excel leaves it.
fn good_file() -> Vec<u8> {
    let mut f = b"\xEF\xBB\xBF".to_vec();
    f.extend_from_slice(
        format!(
            "{HEADER}\r\n\
             TARI-1;RSSMRA80A01H501U;Mario Rossi;TARI 2030 rata 1;100,50;31/01/2030;9/0101108TS/;1;;mario@example.it\r\n\
             TARI-1;RSSMRA80A01H501U;Mario Rossi;TARI 2030 rata 2;100,50;31/03/2030;9/0101108TS/;2;;mario@example.it\r\n\
             TARI-1;RSSMRA80A01H501U;Mario Rossi;TARI 2030 rata 3;1.000;31/05/2030;9/0101108TS/;3;;mario@example.it\r\n\
             MULTA-1;00229080338;Ditta Srl;Sanzione CdS;€ 42,00;15/02/2030;9/0101108TS/;;{};\r\n\
             ;;;;;;;;;\r\n",
            iuv(777)
        )
        .as_bytes(),
    );
    f
}

fn iuv(n: u64) -> String {
    NoticeNumber::from_aux3(pagopa::SegregationCode::parse("01").unwrap(), n)
        .unwrap()
        .iuv()
        .as_str()
        .to_owned()
}

/// Rows 2 and 4 are wrong (bad fiscal code; amount and date), row 3 is fine.
fn file_with_bad_rows() -> String {
    format!(
        "{HEADER}\n\
         BAD-1;RSSMRA80A01H501X;Mario Rossi;Causale;10,00;31/01/2030;9/0101108TS/;;;\n\
         OK-1;RSSMRA80A01H501U;Mario Rossi;Causale;10,00;31/01/2030;9/0101108TS/;;;\n\
         BAD-2;RSSMRA80A01H501U;Mario Rossi;Causale;dieci;31/02/2030;9/0101108TS/;;;\n"
    )
}

async fn setup(store: &Store) -> Ente {
    let config = common::test_config("sqlite::memory:", &[]);
    store.upsert_ente(&config.ente).await.unwrap()
}

async fn run(store: &Store, ente: &Ente, file: &[u8], partial: bool) -> ImportReport {
    import_positions(
        store,
        ente,
        std::io::Cursor::new(file.to_vec()),
        &ImportOptions {
            partial,
            publish: true,
            actor_ip: String::new(),
        },
    )
    .await
    .unwrap()
}

macro_rules! suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let db = super::TestDb::sqlite();
                    super::$scenario(db.store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    let store = db.store().await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

suite!(
    a_good_file_creates_positions_with_installments,
    bad_rows_are_reported_and_nothing_is_written,
    partial_writes_the_good_rows,
    a_rerun_changes_nothing,
    comma_separated_files_and_conflicting_reimports,
    large_batches_cross_statement_limits,
    a_write_failure_refuses_the_file_or_only_its_position,
);

async fn a_good_file_creates_positions_with_installments(store: Store) {
    let ente = setup(&store).await;
    let report = run(&store, &ente, &good_file(), false).await;
    assert_eq!(report.errors, vec![], "{report:?}");
    assert_eq!(
        (report.rows_read, report.positions_created, report.committed),
        (4, 2, true)
    );
    let tari = store
        .position_by_iupd(ente.id, "TARI-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tari.status, PositionStatus::Valid);
    assert_eq!(tari.options.len(), 3);
    assert!(tari.options.iter().all(|o| o.is_partial_payment));
    assert_eq!(tari.options[0].amount.get(), 10_050);
    assert_eq!(
        tari.options[2].amount.get(),
        100_000,
        "1.000 is a thousand euro"
    );
    assert_eq!(
        tari.options[0].due_date.to_utc_text(),
        "2030-01-31T22:59:59.000000Z",
        "the last second of the day in Rome"
    );
    assert_eq!(
        tari.options[0].due_date.to_iso_rome(),
        "2030-01-31T23:59:59",
        "what the API answers, as GPD would"
    );
    assert!(
        tari.options
            .iter()
            .all(|o| NoticeNumber::parse(o.nav.as_str()).is_ok())
    );
    assert_eq!(tari.debtor.email.as_deref(), Some("mario@example.it"));
    let multa = store
        .position_by_iupd(ente.id, "MULTA-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        multa.options[0].iuv.as_str(),
        iuv(777),
        "the IUV of the file is kept"
    );
    assert_eq!(
        multa.debtor.kind.as_str(),
        "G",
        "an 11-digit code is a legal person"
    );
    assert!(!multa.options[0].is_partial_payment);
    assert_eq!(multa.options[0].transfers[0].amount.get(), 4200);
    let audit = store.recent_audit(Some("gpd.import"), 5).await.unwrap();
    assert_eq!(audit.len(), 1);
}

async fn bad_rows_are_reported_and_nothing_is_written(store: Store) {
    let ente = setup(&store).await;
    let report = run(&store, &ente, file_with_bad_rows().as_bytes(), false).await;
    assert!(!report.committed);
    assert_eq!(report.positions_created, 0);
    assert_eq!(report.rows_refused, 2);
    let rows: Vec<(u64, Option<&str>)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            (2, Some("codice_fiscale")),
            (4, Some("importo")),
            (4, Some("scadenza"))
        ]
    );
    assert!(
        report.errors[0].message.contains("carattere di controllo"),
        "{:?}",
        report.errors[0]
    );
    assert!(
        report.errors[1].message.starts_with("L'importo"),
        "{:?}",
        report.errors[1]
    );
    assert!(
        report.errors[2].message.contains("non esiste"),
        "{:?}",
        report.errors[2]
    );
    assert_eq!(
        store.count_positions(ente.id).await.unwrap(),
        0,
        "all or nothing"
    );
}

async fn partial_writes_the_good_rows(store: Store) {
    let ente = setup(&store).await;
    let report = run(&store, &ente, file_with_bad_rows().as_bytes(), true).await;
    assert!(report.committed);
    assert_eq!((report.positions_created, report.positions_refused), (1, 2));
    assert_eq!(store.count_positions(ente.id).await.unwrap(), 1);
    assert!(
        store
            .position_by_iupd(ente.id, "OK-1")
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_rerun_changes_nothing(store: Store) {
    let ente = setup(&store).await;
    run(&store, &ente, &good_file(), false).await;
    let before = store
        .position_by_iupd(ente.id, "TARI-1")
        .await
        .unwrap()
        .unwrap();
    let report = run(&store, &ente, &good_file(), false).await;
    assert_eq!(report.errors, vec![]);
    assert_eq!(
        (
            report.positions_created,
            report.positions_unchanged,
            report.committed
        ),
        (0, 2, false)
    );
    let after = store
        .position_by_iupd(ente.id, "TARI-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, after, "not even a new IUV");
    assert_eq!(store.count_positions(ente.id).await.unwrap(), 2);
}

async fn comma_separated_files_and_conflicting_reimports(store: Store) {
    let ente = setup(&store).await;
    let file = "IUPD,Codice Fiscale,Nominativo,Causale,Importo,Scadenza,Tassonomia\n\
                C-1,RSSMRA80A01H501U,Mario Rossi,\"Causale, con virgola\",\"12,50\",31/01/2030,9/0101108TS/\n";
    let report = run(&store, &ente, file.as_bytes(), false).await;
    assert_eq!(report.errors, vec![], "{report:?}");
    let p = store
        .position_by_iupd(ente.id, "C-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.options[0].description, "Causale, con virgola");
    assert_eq!(p.options[0].amount.get(), 1250);
    // The same iupd with other content is refused, not overwritten.
    let changed = file.replace("12,50", "13,50");
    let report = run(&store, &ente, changed.as_bytes(), false).await;
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].message.contains("dati diversi"),
        "{:?}",
        report.errors
    );
    let p = store
        .position_by_iupd(ente.id, "C-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.options[0].amount.get(), 1250);
    // A file without the required columns is refused as a whole.
    let err = import_positions(
        &store,
        &ente,
        std::io::Cursor::new(b"iupd;importo\nX;1\n".to_vec()),
        &ImportOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("codice_fiscale"), "{err}");
}

async fn large_batches_cross_statement_limits(store: Store) {
    let ente = setup(&store).await;
    let mut file = format!("{HEADER}\n");
    for i in 0..1_200 {
        for rata in 1..=2 {
            file.push_str(&format!(
                "L-{i};RSSMRA80A01H501U;Mario Rossi;Rata {rata};5,00;{rata:02}/01/2030;9/0101108TS/;{rata};;\n"
            ));
        }
    }
    let report = run(&store, &ente, file.as_bytes(), false).await;
    assert_eq!(report.errors, vec![]);
    assert_eq!(report.positions_created, 1_200);
    assert_eq!(store.count_positions(ente.id).await.unwrap(), 1_200);
    let p = store
        .position_by_iupd(ente.id, "L-1199")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.options.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_endpoint_answers_a_report() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let url = format!(
        "{}/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions/import",
        app.base
    );
    let post = |body: Vec<u8>, query: &str, key: &str| {
        app.client
            .post(format!("{url}{query}"))
            .header("Ocp-Apim-Subscription-Key", key)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let res = post(good_file(), "", "wrong").await.unwrap();
    assert_eq!(res.status(), 401);
    let res = post(good_file(), "?toPublish=true", "sportello-demo-key")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["positions_created"], 2, "{report}");
    let res = post(file_with_bad_rows().into_bytes(), "", "sportello-demo-key")
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["errors"][0]["row"], 2);
    assert_eq!(report["committed"], false);
    let res = post(
        file_with_bad_rows().into_bytes(),
        "?partial=true",
        "sportello-demo-key",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let audit = app
        .state
        .store()
        .recent_audit(Some("gpd.import"), 5)
        .await
        .unwrap();
    assert!(audit.iter().all(|a| a.event.actor == "api"));
    assert_eq!(audit.len(), 2);
    app.stop().await;
}

#[test]
fn the_command_line_imports_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("posizioni.csv");
    std::fs::write(&csv, good_file()).unwrap();
    let bad = dir.path().join("errata.csv");
    std::fs::write(&bad, file_with_bad_rows()).unwrap();
    let sportello = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
        for (key, _) in std::env::vars() {
            if key.starts_with("SPORTELLO_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(dir.path()).env(
            "SPORTELLO_DATABASE_URL",
            format!("sqlite://{}/cli.db", dir.path().display()),
        );
        cmd
    };
    let out = sportello()
        .args(["import", "positions"])
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("posizioni create: 2"), "{stdout}");
    let out = sportello()
        .args(["import", "positions"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("invariate: 2"));
    let out = sportello()
        .args(["import", "positions", "--json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "refused rows fail the command");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_refused"], 2);
    let out = sportello()
        .args(["import", "positions", "--partial"])
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("riga 2 [BAD-1] colonna codice_fiscale"),
        "{stdout}"
    );
    assert!(stdout.contains("posizioni create: 1"), "{stdout}");
}

/// Leaves exactly one base for minting to draw (the last one: minting draws above the old
/// sequence) and forgets it was minted, so that the test knows the number the import will mint.
async fn force_next_base(store: &Store, ente: i64) -> u64 {
    const LAST: u64 = 9_999_999_999_999;
    sportello::with_db!(store.db(), |pool| {
        sqlx::query("UPDATE iuv_sequence SET next_value = $2 WHERE ente_id = $1")
            .bind(ente)
            .bind(LAST as i64)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM iuv_minted WHERE ente_id = $1 AND base = $2")
            .bind(ente)
            .bind(LAST as i64)
            .execute(pool)
            .await
            .unwrap();
    });
    LAST
}

/// A given IUV that minting hands out again for another row of the same batch slips past the
/// checks and makes the batch insert fail: the file is refused (all or nothing), or only the
/// position that cannot be saved (--partial).
async fn a_write_failure_refuses_the_file_or_only_its_position(store: Store) {
    let ente = setup(&store).await;
    let clashing = |next: u64| {
        format!(
            "{HEADER}\n\
             A-1;RSSMRA80A01H501U;Mario Rossi;Causale;10,00;31/01/2030;9/0101108TS/;;{};\n\
             B-1;RSSMRA80A01H501U;Mario Rossi;Causale;10,00;31/01/2030;9/0101108TS/;;;\n",
            iuv(next)
        )
    };
    let file = clashing(force_next_base(&store, ente.id).await);
    let report = run(&store, &ente, file.as_bytes(), false).await;
    assert!(!report.committed);
    assert_eq!(report.positions_created, 0);
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].message.contains("nulla è stato salvato"),
        "{report:?}"
    );
    assert_eq!(store.count_positions(ente.id).await.unwrap(), 0);

    let file = clashing(force_next_base(&store, ente.id).await);
    let report = run(&store, &ente, file.as_bytes(), true).await;
    assert!(report.committed, "{report:?}");
    assert_eq!(
        (report.positions_created, report.positions_refused),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(report.errors[0].iupd.as_deref(), Some("B-1"));
    assert!(
        report.errors[0].message.contains("non può essere salvata"),
        "{report:?}"
    );
    assert!(
        store
            .position_by_iupd(ente.id, "A-1")
            .await
            .unwrap()
            .is_some()
    );
}
