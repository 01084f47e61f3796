//! The debt-position API against the real app on a random port: every endpoint and every error,
//! with GPD's JSON, status codes and ProblemJson. Scenarios that depend on storage run on SQLite
//! and on PostgreSQL.

mod common;

use common::{TestApp, TestDb};
use pagopa::NoticeNumber;
use serde_json::{Value, json};
use sportello::clock::Timestamp;
use sportello::domain::position::{
    Debtor, Destination, NewPosition, OptionStatus, Origin, PaymentOption, PositionStatus,
    SubjectType, Transfer,
};

const KEY: &str = "sportello-demo-key";
const ORG: &str = "00229080338";
const IBAN: &str = "IT60X0542811101000000123456";

fn base(app: &TestApp) -> String {
    format!(
        "{}/gpd/debt-positions-service/v1/organizations/{ORG}/debtpositions",
        app.base
    )
}

/// A GPD body with one option per IUV given (None: let Sportello mint it).
fn body(iupd: &str, iuvs: &[Option<&str>]) -> Value {
    let options: Vec<Value> = iuvs
        .iter()
        .enumerate()
        .map(|(i, iuv)| {
            let mut o = json!({
                "amount": 10050,
                "description": format!("Rata {}", i + 1),
                "isPartialPayment": iuvs.len() > 1,
                // GPD's form: Rome's wall-clock time, no offset.
                "dueDate": format!("2030-0{}-28T23:59:59", i + 1),
                "fee": 0,
                "transfer": [
                    {"idTransfer": "1", "amount": 10000, "remittanceInformation": "TARI quota 1",
                     "category": "9/0101108TS/", "iban": IBAN},
                    {"idTransfer": "2", "amount": 50, "organizationFiscalCode": "00229080338",
                     "remittanceInformation": "Bollo", "category": "9/0101108TS/",
                     "stamp": {"hashDocument": "aGFzaA==", "stampType": "01", "provincialResidence": "PC"},
                     "transferMetadata": [{"key": "k", "value": "v"}]}
                ],
                "paymentOptionMetadata": [{"key": "anno", "value": "2030"}]
            });
            if let Some(iuv) = iuv {
                o["iuv"] = json!(iuv);
            }
            o
        })
        .collect();
    json!({
        "iupd": iupd,
        "type": "F",
        "fiscalCode": "RSSMRA80A01H501U",
        "fullName": "Mario Rossi",
        "streetName": "Via Roma",
        "civicNumber": "1",
        "postalCode": "29121",
        "city": "Piacenza",
        "province": "PC",
        "country": "IT",
        "email": "mario.rossi@example.it",
        "switchToExpired": false,
        "companyName": "Comune di Piacenza",
        "officeName": "Tributi",
        "paymentOption": options
    })
}

/// IUV `n` of the demo station (segregation code 01), with a valid check digit.
fn iuv(n: u64) -> String {
    NoticeNumber::from_aux3(pagopa::SegregationCode::parse("01").unwrap(), n)
        .unwrap()
        .iuv()
        .as_str()
        .to_owned()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, url)
        .header("Ocp-Apim-Subscription-Key", KEY);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_problem(v: &Value, status: u16, detail_contains: &str) {
    assert_eq!(v["status"], status, "{v}");
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(detail_contains),
        "detail {detail:?} lacks {detail_contains:?}"
    );
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::TestApp::spawn(super::TestDb::sqlite()).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$scenario(super::TestApp::spawn(db).await).await;
                }
            )*
        }
    };
}

on_both!(
    create_then_get_returns_gpd_models,
    missing_iuvs_are_minted_with_valid_check_digits,
    duplicate_iupd_or_iuv_is_409_and_writes_nothing,
    publish_and_invalidate_follow_the_lifecycle,
    update_replaces_and_delete_removes,
    a_paid_position_cannot_be_changed,
    list_pages_filters_and_orders,
    overdue_positions_read_as_expired,
    expiry_comes_when_the_due_second_ends_also_across_summer_time,
    transfer_ibans_change_on_unpaid_transfers_only,
    dates_are_answered_as_gpd_writes_them,
);

async fn create_then_get_returns_gpd_models(app: TestApp) {
    let iuv1 = iuv(900_001);
    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("IUPD-1", &[Some(&iuv1)])),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["iupd"], "IUPD-1");
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["type"], "F");
    assert_eq!(created["payStandIn"], true);
    let option = &created["paymentOption"][0];
    assert_eq!(option["iuv"], iuv1);
    assert_eq!(option["nav"], format!("3{iuv1}"));
    assert_eq!(option["amount"], 10050);
    assert_eq!(option["dueDate"], "2030-01-28T23:59:59");
    assert_eq!(option["transfer"][1]["stamp"]["stampType"], "01");
    assert_eq!(option["transfer"][1]["transferMetadata"][0]["key"], "k");
    assert_eq!(option["transfer"][0]["organizationFiscalCode"], ORG);
    assert_eq!(option["paymentOptionMetadata"][0]["value"], "2030");

    let (status, got) = send(
        &app,
        reqwest::Method::GET,
        &format!("{}/IUPD-1", base(&app)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["organizationFiscalCode"], ORG);
    assert_eq!(got["companyName"], "Comune di Piacenza");
    assert_eq!(got["status"], "DRAFT");
    assert!(got["insertedDate"].as_str().is_some());
    let option = &got["paymentOption"][0];
    assert_eq!(option["status"], "PO_UNPAID");
    assert_eq!(option["nav"], format!("3{iuv1}"));
    assert_eq!(option["transfer"][0]["iban"], IBAN);
    assert_eq!(option["transfer"][0]["status"], "T_UNREPORTED");
    assert_eq!(option["transfer"][1]["transferMetadata"][0]["value"], "v");

    // The change is in the audit log, by the API.
    let audit = app
        .state
        .store()
        .recent_audit(Some("gpd.create"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event.actor, "api");
    assert!(audit[0].event.detail.contains("IUPD-1"));
    app.stop().await;
}

async fn missing_iuvs_are_minted_with_valid_check_digits(app: TestApp) {
    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("IUPD-MINT", &[None, None])),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut navs = Vec::new();
    for o in created["paymentOption"].as_array().unwrap() {
        let iuv = o["iuv"].as_str().unwrap();
        let nav = o["nav"].as_str().unwrap();
        assert_eq!(iuv.len(), 17);
        assert!(
            iuv.starts_with("01"),
            "the station's segregation code: {iuv}"
        );
        assert_eq!(nav, format!("3{iuv}"));
        // Parsing checks the mod-93 check digit.
        let parsed = NoticeNumber::parse(nav).expect("a valid notice number");
        assert_eq!(parsed.iuv().as_str(), iuv);
        navs.push(nav.to_owned());
    }
    assert_ne!(navs[0], navs[1]);
    // A wrong check digit given by the client is refused, naming the field.
    let mut bad = iuv(5);
    bad.replace_range(15.., "99");
    let (status, problem) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("IUPD-BADCD", &[Some(&bad)])),
    )
    .await;
    assert_eq!(status, 400);
    assert_problem(&problem, 400, "paymentOption[0].iuv");
    app.stop().await;
}

async fn duplicate_iupd_or_iuv_is_409_and_writes_nothing(app: TestApp) {
    let iuv1 = iuv(910_001);
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("DUP-1", &[Some(&iuv1)])),
    )
    .await;
    assert_eq!(status, 201);
    let (status, problem) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("DUP-1", &[None])),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_problem(&problem, 409, ORG);
    assert_eq!(
        problem["title"],
        "The debt position violated constraints of uniqueness"
    );
    let (status, problem) = send(
        &app,
        reqwest::Method::POST,
        &base(&app),
        Some(&body("DUP-2", &[None, Some(&iuv1)])),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_problem(&problem, 409, "IUV");
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        &format!("{}/DUP-2", base(&app)),
        None,
    )
    .await;
    assert_eq!(status, 404, "nothing of the refused position was written");
    app.stop().await;
}

async fn publish_and_invalidate_follow_the_lifecycle(app: TestApp) {
    let url = base(&app);
    send(
        &app,
        reqwest::Method::POST,
        &url,
        Some(&body("LIFE-1", &[None])),
    )
    .await;
    // Invalidating a draft is refused.
    let (status, problem) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-1/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_problem(&problem, 409, "invalidable");
    let (status, published) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-1/publish"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(
        published["status"], "VALID",
        "no validity date: payable at once"
    );
    assert!(published["validityDate"].as_str().is_some());
    let (status, problem) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-1/publish"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_problem(&problem, 409, "publishable");
    let (status, invalid) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-1/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{invalid}");
    assert_eq!(invalid["status"], "INVALID");
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-1/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 409);

    // toPublish at creation; a future validity date waits as PUBLISHED.
    let (status, valid) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}?toPublish=true"),
        Some(&body("LIFE-2", &[None])),
    )
    .await;
    assert_eq!(
        (status, valid["status"].as_str()),
        (201, Some("VALID")),
        "{valid}"
    );
    let mut later = body("LIFE-3", &[None]);
    later["validityDate"] = json!("2029-06-01T00:00:00Z");
    let (status, published) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}?toPublish=true"),
        Some(&later),
    )
    .await;
    assert_eq!(
        (status, published["status"].as_str()),
        (201, Some("PUBLISHED")),
        "{published}"
    );
    let (status, invalid) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/LIFE-3/invalidate"),
        None,
    )
    .await;
    assert_eq!((status, invalid["status"].as_str()), (200, Some("INVALID")));
    // A validity date in the past is a 400 naming the field.
    let mut past = body("LIFE-4", &[None]);
    past["validityDate"] = json!("2020-01-01T00:00:00Z");
    let (status, problem) = send(&app, reqwest::Method::POST, &url, Some(&past)).await;
    assert_eq!(status, 400);
    assert_problem(&problem, 400, "validityDate");
    app.stop().await;
}

async fn update_replaces_and_delete_removes(app: TestApp) {
    let url = base(&app);
    send(
        &app,
        reqwest::Method::POST,
        &format!("{url}?toPublish=true"),
        Some(&body("UPD-1", &[None])),
    )
    .await;
    let mut changed = body("UPD-1", &[None, None]);
    changed["fullName"] = json!("Maria Rossi");
    let (status, updated) = send(
        &app,
        reqwest::Method::PUT,
        &format!("{url}/UPD-1"),
        Some(&changed),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["fullName"], "Maria Rossi");
    assert_eq!(
        updated["status"], "DRAFT",
        "an update without toPublish goes back to draft"
    );
    assert_eq!(updated["paymentOption"].as_array().unwrap().len(), 2);
    let (status, republished) = send(
        &app,
        reqwest::Method::PUT,
        &format!("{url}/UPD-1?toPublish=true"),
        Some(&changed),
    )
    .await;
    assert_eq!(
        (status, republished["status"].as_str()),
        (200, Some("VALID"))
    );

    let (status, problem) = send(
        &app,
        reqwest::Method::PUT,
        &format!("{url}/OTHER"),
        Some(&changed),
    )
    .await;
    assert_eq!(status, 400);
    assert_problem(&problem, 400, "iupd");
    let (status, problem) = send(
        &app,
        reqwest::Method::PUT,
        &format!("{url}/NOPE"),
        Some(&body("NOPE", &[None])),
    )
    .await;
    assert_eq!(status, 404);
    assert_problem(&problem, 404, "NOPE");

    let res = app
        .client
        .delete(format!("{url}/UPD-1"))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    // As GPD sends it (and gpd.json declares it): a JSON string.
    assert_eq!(
        res.text().await.unwrap(),
        "\"The debt position was successfully deleted\""
    );
    let (status, _) = send(&app, reqwest::Method::GET, &format!("{url}/UPD-1"), None).await;
    assert_eq!(status, 404);
    let (status, _) = send(&app, reqwest::Method::DELETE, &format!("{url}/UPD-1"), None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn a_paid_position_cannot_be_changed(app: TestApp) {
    let url = base(&app);
    send(
        &app,
        reqwest::Method::POST,
        &format!("{url}?toPublish=true"),
        Some(&body("PAID-1", &[None])),
    )
    .await;
    // The station marks positions paid; here the row is changed directly.
    let sql = "UPDATE debt_positions SET status = 'PAID' WHERE iupd = 'PAID-1'";
    match app.state.store().db() {
        sportello::db::Db::Sqlite(p, _) => sqlx::query(sql).execute(p).await.map(|_| ()),
        sportello::db::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
    let (status, problem) = send(
        &app,
        reqwest::Method::PUT,
        &format!("{url}/PAID-1"),
        Some(&body("PAID-1", &[None])),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_problem(&problem, 409, "updatable");
    let (status, problem) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("{url}/PAID-1"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(problem["title"], "Existing related payment found");
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/PAID-1/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/PAID-1/publish"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (_, got) = send(&app, reqwest::Method::GET, &format!("{url}/PAID-1"), None).await;
    assert_eq!(got["status"], "PAID", "nothing changed");
    app.stop().await;
}

async fn list_pages_filters_and_orders(app: TestApp) {
    let url = base(&app);
    for (i, publish) in [false, true, false, true, false].iter().enumerate() {
        let mut b = body(&format!("LIST-{i}"), &[None]);
        b["paymentOption"][0]["dueDate"] = json!(format!("2030-03-{:02}T10:00:00Z", i + 1));
        let (status, _) = send(
            &app,
            reqwest::Method::POST,
            &format!("{url}?toPublish={publish}"),
            Some(&b),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, page) = send(&app, reqwest::Method::GET, &format!("{url}?limit=2"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["page_info"],
        json!({"page": 0, "limit": 2, "items_found": 2, "total_pages": 3})
    );
    // Default order: newest first.
    assert_eq!(page["payment_position_list"][0]["iupd"], "LIST-4");
    let (_, last) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?limit=2&page=2"),
        None,
    )
    .await;
    assert_eq!(last["page_info"]["items_found"], 1);
    assert_eq!(last["payment_position_list"][0]["iupd"], "LIST-0");
    let (_, valid) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?status=VALID&orderby=IUPD&ordering=ASC"),
        None,
    )
    .await;
    let iupds: Vec<&str> = valid["payment_position_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["iupd"].as_str().unwrap())
        .collect();
    assert_eq!(iupds, ["LIST-1", "LIST-3"]);
    let (_, due) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?due_date_from=2030-03-02&due_date_to=2030-03-03&orderby=IUPD&ordering=ASC"),
        None,
    )
    .await;
    let iupds: Vec<&str> = due["payment_position_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["iupd"].as_str().unwrap())
        .collect();
    assert_eq!(iupds, ["LIST-1", "LIST-2"]);
    let (_, none) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?payment_date_from=2030-03-01"),
        None,
    )
    .await;
    assert_eq!(none["page_info"]["items_found"], 0, "nothing is paid");

    for bad in [
        "limit=51",
        "limit=0",
        "page=-1",
        "status=NOPE",
        "orderby=AMOUNT",
        "due_date_from=01/03/2030",
        "due_date_from=2030-03-01&payment_date_to=2030-03-02",
    ] {
        let (status, problem) =
            send(&app, reqwest::Method::GET, &format!("{url}?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert_eq!(problem["status"], 400);
    }
    app.stop().await;
}

fn overdue(iupd: &str, seq: u64, due: Timestamp) -> NewPosition {
    let nav = NoticeNumber::from_aux3(pagopa::SegregationCode::parse("01").unwrap(), seq).unwrap();
    NewPosition {
        iupd: iupd.into(),
        debtor: Debtor {
            kind: SubjectType::F,
            fiscal_code: "RSSMRA80A01H501U".into(),
            full_name: "Mario Rossi".into(),
            street_name: None,
            civic_number: None,
            postal_code: None,
            city: None,
            province: None,
            region: None,
            country: None,
            email: None,
            phone: None,
        },
        company_name: "Comune di Piacenza".into(),
        office_name: None,
        validity_date: None,
        switch_to_expired: true,
        status: PositionStatus::Valid,
        options: vec![PaymentOption {
            iuv: nav.iuv(),
            nav,
            amount: pagopa::Cents::new(500),
            description: "Multa".into(),
            is_partial_payment: false,
            due_date: due,
            retention_date: None,
            fee: pagopa::Cents::ZERO,
            status: OptionStatus::Unpaid,
            metadata: "[]".into(),
            transfers: vec![Transfer {
                id_transfer: 1,
                amount: pagopa::Cents::new(500),
                organization_fiscal_code: ORG.into(),
                remittance_information: "Multa".into(),
                category: "9/0101108TS/".into(),
                destination: Destination::Iban {
                    iban: IBAN.into(),
                    postal_iban: None,
                },
                company_name: None,
            }],
        }],
        service_id: None,
        origin: Origin::Api,
        created_by_account_id: None,
        abandon_at: None,
    }
}

async fn overdue_positions_read_as_expired(app: TestApp) {
    let ente = app.state.ente().id;
    let past = Timestamp::now().plus(time::Duration::hours(-1));
    app.state
        .store()
        .insert_position(ente, &overdue("OLD-1", 920_001, past))
        .await
        .unwrap();
    let mut kept = overdue("OLD-2", 920_002, past);
    kept.switch_to_expired = false;
    app.state
        .store()
        .insert_position(ente, &kept)
        .await
        .unwrap();
    let url = base(&app);
    let (status, got) = send(&app, reqwest::Method::GET, &format!("{url}/OLD-1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["status"], "EXPIRED", "GET never shows a stale VALID");
    let (_, got) = send(&app, reqwest::Method::GET, &format!("{url}/OLD-2"), None).await;
    assert_eq!(
        got["status"], "VALID",
        "without switchToExpired it stays payable"
    );
    // An expired position cannot be invalidated but can be updated (GPD).
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/OLD-1/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_job_expires_without_any_read() {
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[("SPORTELLO_JOBS_INTERVAL_SECONDS", "1")],
    )
    .await;
    let ente = app.state.ente().id;
    let soon = Timestamp::now().plus(time::Duration::milliseconds(300));
    app.state
        .store()
        .insert_position(ente, &overdue("JOB-1", 930_001, soon))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let p = app
            .state
            .store()
            .position_by_iupd(ente, "JOB-1")
            .await
            .unwrap()
            .unwrap();
        if p.status == PositionStatus::Expired {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job did not expire the position"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_key_is_401() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let url = base(&app);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // pagoPA's gateway answers before GPD, in its own shape.
    assert_eq!(res.headers()["content-type"], "application/json");
    let answer = res.json::<Value>().await.unwrap();
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("missing subscription key")
    );
    let res = app
        .client
        .post(&url)
        .header("Ocp-Apim-Subscription-Key", "wrong")
        .json(&body("X", &[None]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let answer = res.json::<Value>().await.unwrap();
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("invalid subscription key")
    );
    let res = app
        .client
        .get(&url)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the demo key works in demo mode");
    app.stop().await;

    // Configured keys replace the demo key.
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[(
            "SPORTELLO_API_KEYS",
            "first-key-0123456789,second-key-0123456789",
        )],
    )
    .await;
    let url = base(&app);
    let with = |k: &'static str| {
        app.client
            .get(&url)
            .header("Ocp-Apim-Subscription-Key", k)
            .send()
    };
    assert_eq!(with(KEY).await.unwrap().status(), 401);
    assert_eq!(with("second-key-0123456789").await.unwrap().status(), 200);
    app.stop().await;

    // Production without keys refuses everything.
    let app = TestApp::spawn_with(
        TestDb::sqlite(),
        &[
            ("SPORTELLO_MODE", "production"),
            (
                "SPORTELLO_BACKOFFICE_SECRET_KEY",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25"),
            ("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it"),
            ("SPORTELLO_STATION_API_KEY", "station-key-0123456789"),
        ],
    )
    .await;
    let res = app
        .client
        .get(base(&app))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organization_is_403_and_an_unknown_iupd_404() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let url = base(&app);
    send(
        &app,
        reqwest::Method::POST,
        &url,
        Some(&body("MINE-1", &[None])),
    )
    .await;
    let other = format!(
        "{}/gpd/debt-positions-service/v1/organizations/01234567890/debtpositions",
        app.base
    );
    // Every operation: the key is not entitled to another organization (gpd.json: 403), even
    // for a position that exists under ours; the key is checked first.
    let forbidden =
        json!({"statusCode": 403, "message": "You are not allowed to access this resource."});
    for (method, path, payload) in [
        (reqwest::Method::GET, String::new(), None),
        (
            reqwest::Method::POST,
            String::new(),
            Some(body("X", &[None])),
        ),
        (reqwest::Method::GET, "/MINE-1".to_owned(), None),
        (
            reqwest::Method::PUT,
            "/MINE-1".to_owned(),
            Some(body("MINE-1", &[None])),
        ),
        (reqwest::Method::DELETE, "/MINE-1".to_owned(), None),
        (reqwest::Method::POST, "/MINE-1/publish".to_owned(), None),
        (reqwest::Method::POST, "/MINE-1/invalidate".to_owned(), None),
        (reqwest::Method::GET, "/MINE-1/notice.pdf".to_owned(), None),
        (
            reqwest::Method::PATCH,
            format!("/transfers?oldIban={IBAN}"),
            Some(json!({"newIban": IBAN})),
        ),
    ] {
        let (status, answer) = send(
            &app,
            method.clone(),
            &format!("{other}{path}"),
            payload.as_ref(),
        )
        .await;
        assert_eq!((status, &answer), (403, &forbidden), "{method} {path}");
        let res = app
            .client
            .request(method.clone(), format!("{other}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "no key: {method} {path}");
    }
    // A path parameter that is not UTF-8 once decoded names nothing that exists.
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        &format!(
            "{}/gpd/debt-positions-service/v1/organizations/%FF/debtpositions",
            app.base
        ),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, problem) = send(&app, reqwest::Method::GET, &format!("{url}/%FF%FE"), None).await;
    assert_eq!(status, 404);
    assert_eq!(problem["title"], "Not found the debt position");
    for (method, path) in [
        (reqwest::Method::GET, "/MISSING"),
        (reqwest::Method::DELETE, "/MISSING"),
        (reqwest::Method::POST, "/MISSING/publish"),
        (reqwest::Method::POST, "/MISSING/invalidate"),
        // Fixed names beside {iupd} are still positions for GET/PUT/DELETE, as in GPD.
        (reqwest::Method::GET, "/transfers"),
        (reqwest::Method::DELETE, "/import"),
    ] {
        let (status, problem) = send(&app, method, &format!("{url}{path}"), None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(problem["title"], "Not found the debt position");
    }
    let (_, got) = send(&app, reqwest::Method::GET, &format!("{url}/MINE-1"), None).await;
    assert_eq!(
        got["status"], "DRAFT",
        "nothing changed under our organization"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400_naming_the_field() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let url = base(&app);
    let post = |b: Value| {
        let url = url.clone();
        let app = &app;
        async move { send(app, reqwest::Method::POST, &url, Some(&b)).await }
    };
    // Not JSON at all.
    let res = app
        .client
        .post(&url)
        .header("Ocp-Apim-Subscription-Key", KEY)
        .header("content-type", "application/json")
        .body("{ nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_problem(&res.json::<Value>().await.unwrap(), 400, "JSON");

    let mut b = body("BAD", &[None]);
    b["paymentOption"][0]["amount"] = json!("cento");
    let (status, problem) = post(b).await;
    assert_eq!(status, 400);
    assert_problem(&problem, 400, "paymentOption[0].amount");

    let mut b = body("BAD", &[None]);
    b["paymentOption"][0]["transfer"][0]["iban"] = json!("IT60X0542811101000000123457");
    let (_, problem) = post(b).await;
    assert_problem(
        &problem,
        400,
        "paymentOption[0].transfer[0].iban: Le cifre di controllo dell'IBAN",
    );

    let mut b = body("BAD", &[None]);
    b["paymentOption"][0]["amount"] = json!(10051);
    let (_, problem) = post(b).await;
    assert_problem(&problem, 400, "somma dei versamenti");

    let mut b = body("BAD", &[None]);
    b["fiscalCode"] = json!("RSSMRA80A01H501X");
    let (_, problem) = post(b).await;
    assert_problem(&problem, 400, "fiscalCode: Il carattere di controllo");

    let mut b = body("BAD", &[None]);
    b.as_object_mut().unwrap().remove("switchToExpired");
    b["paymentOption"][0]["dueDate"] = json!("2020-01-01T00:00:00Z");
    let (_, problem) = post(b).await;
    assert_problem(&problem, 400, "switchToExpired");
    assert_problem(&problem, 400, "paymentOption[0].dueDate");

    let mut b = body("BAD", &[None]);
    let transfers = b["paymentOption"][0]["transfer"]
        .as_array()
        .unwrap()
        .clone();
    b["paymentOption"][0]["transfer"] = json!([
        transfers[0],
        transfers[0],
        transfers[0],
        transfers[0],
        transfers[0],
        transfers[0]
    ]);
    let (_, problem) = post(b).await;
    assert_problem(&problem, 400, "al massimo 5 versamenti");

    let mut b = body("BAD", &[None]);
    b["type"] = json!("X");
    let (status, problem) = post(b).await;
    assert_eq!(status, 400);
    assert_problem(&problem, 400, "type");
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}?toPublish=maybe"),
        Some(&body("BAD", &[None])),
    )
    .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let res = app.get("/gpd/debt-positions-service/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/organizations/{organizationfiscalcode}/debtpositions",
        "/organizations/{organizationfiscalcode}/debtpositions/{iupd}",
        "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/publish",
        "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/invalidate",
        "/organizations/{organizationfiscalcode}/debtpositions/import",
        "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/notice.pdf",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "PaymentPositionModel",
        "PaymentOptionModel",
        "TransferModel",
        "ProblemJson",
        "PaymentPositionsInfo",
    ] {
        assert!(schemas.get(s).is_some(), "{s} missing");
    }
    assert!(
        schemas["PaymentPositionModel"]["properties"]
            .get("switchToExpired")
            .is_some()
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKey"]["name"],
        "Ocp-Apim-Subscription-Key"
    );
    // Each GPD operation declares exactly the codes it sends (docs/gpd-api.md): those of
    // pagoPA's gpd.json, less 429, which Sportello never sends.
    let declared = |path: &str, method: &str| -> Vec<String> {
        let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
        responses.keys().cloned().collect()
    };
    let org = "/organizations/{organizationfiscalcode}/debtpositions";
    let one = format!("{org}/{{iupd}}");
    for (path, method, operation, codes) in [
        (
            org.to_owned(),
            "get",
            "getOrganizationDebtPositions",
            "200 400 401 403 500",
        ),
        (
            org.to_owned(),
            "post",
            "createPosition",
            "201 400 401 403 409 500",
        ),
        (
            format!("{org}/transfers"),
            "patch",
            "updateTransferIbanMassive",
            "200 400 401 403 500",
        ),
        (
            one.clone(),
            "get",
            "getOrganizationDebtPositionByIUPD",
            "200 401 403 404 500",
        ),
        (
            one.clone(),
            "put",
            "updatePosition",
            "200 400 401 403 404 409 500",
        ),
        (
            one.clone(),
            "delete",
            "deletePosition",
            "200 401 403 404 409 500",
        ),
        (
            format!("{one}/publish"),
            "post",
            "publishPosition",
            "200 401 403 404 409 500",
        ),
        (
            format!("{one}/invalidate"),
            "post",
            "invalidatePosition",
            "200 401 403 404 409 500",
        ),
    ] {
        assert_eq!(doc["paths"][&path][method]["operationId"], operation);
        assert_eq!(declared(&path, method).join(" "), codes, "{operation}");
        let forbidden = &doc["paths"][&path][method]["responses"]["403"]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            forbidden["$ref"], "#/components/schemas/GatewayError",
            "{operation}"
        );
    }
    // Date-times are local (no `date-time` format, which needs an offset).
    let due = &schemas["PaymentOptionModelResponse"]["properties"]["dueDate"];
    assert!(due.get("format").is_none(), "{due}");
    assert_eq!(
        due["pattern"],
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"
    );
    // The links from a created position, spelled as OpenAPI spells them.
    let links = &doc["paths"][org]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["GetCreatedPosition"]["operationId"],
        "getOrganizationDebtPositionByIUPD"
    );
    assert_eq!(
        links["GetCreatedPosition"]["parameters"]["iupd"],
        "$response.body#/iupd"
    );
    app.stop().await;
}

/// Runs `sql` on the app's database (to put a row in a state only the station reaches).
async fn execute(app: &TestApp, sql: &str) {
    match app.state.store().db() {
        sportello::db::Db::Sqlite(p, _) => sqlx::query(sql).execute(p).await.map(|_| ()),
        sportello::db::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn expiry_comes_when_the_due_second_ends_also_across_summer_time(app: TestApp) {
    let store = app.state.store();
    let ente = app.state.ente().id;
    // Due dates as the municipality writes them: an ordinary evening, the hour of October that
    // happens twice (the first one is meant), the hour of March that does not exist (read as
    // winter time, i.e. one hour later on the clock).
    for (i, (wall_clock, utc)) in [
        ("2027-05-31T23:59:59", "2027-05-31T21:59:59.000000Z"),
        ("2027-10-31T02:30:00", "2027-10-31T00:30:00.000000Z"),
        ("2027-03-28T02:30:00", "2027-03-28T01:30:00.000000Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let due = Timestamp::parse_iso_rome(wall_clock).unwrap();
        assert_eq!(due.to_utc_text(), utc);
        let iupd = format!("DST-{i}");
        store
            .insert_position(ente, &overdue(&iupd, 940_001 + i as u64, due))
            .await
            .unwrap();
        let status = |iupd: String| async move {
            store
                .position_by_iupd(ente, &iupd)
                .await
                .unwrap()
                .unwrap()
                .status
        };
        // The whole second is still payable, in the background job's query and in the cart's.
        let last_moment = due.plus(time::Duration::microseconds(999_999));
        let mario = sportello::domain::identity::Viewer::verified(0, "RSSMRA80A01H501U");
        store.expire_overdue(last_moment).await.unwrap();
        assert_eq!(
            status(iupd.clone()).await,
            PositionStatus::Valid,
            "{wall_clock}"
        );
        let cart = store.cart(ente, &mario, last_moment).await.unwrap();
        assert!(
            cart.iter().any(|(o, _)| o.due_date == due),
            "{wall_clock}: in the cart until the second ends"
        );
        let after = due.plus(time::Duration::SECOND);
        let cart = store.cart(ente, &mario, after).await.unwrap();
        assert!(
            !cart.iter().any(|(o, _)| o.due_date == due),
            "{wall_clock}: out of the cart once the second is over"
        );
        assert_eq!(
            store.expire_overdue(after).await.unwrap(),
            1,
            "{wall_clock}"
        );
        assert_eq!(status(iupd).await, PositionStatus::Expired, "{wall_clock}");
    }
    app.stop().await;
}

async fn transfer_ibans_change_on_unpaid_transfers_only(app: TestApp) {
    const NEW: &str = "IT07X0542811101000000654321";
    let url = base(&app);
    // A draft, a published position, one paid, one invalidated: each option's first transfer
    // goes to IBAN (the second is a stamp).
    for (iupd, publish) in [
        ("IBAN-DRAFT", false),
        ("IBAN-VALID", true),
        ("IBAN-PAID", true),
        ("IBAN-INVALID", true),
    ] {
        let (status, _) = send(
            &app,
            reqwest::Method::POST,
            &format!("{url}?toPublish={publish}"),
            Some(&body(iupd, &[None, None])),
        )
        .await;
        assert_eq!(status, 201);
    }
    execute(
        &app,
        "UPDATE debt_positions SET status = 'PAID' WHERE iupd = 'IBAN-PAID'",
    )
    .await;
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        &format!("{url}/IBAN-INVALID/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let before = |iupd: &'static str| {
        let app = &app;
        let url = url.clone();
        async move {
            let (_, got) = send(app, reqwest::Method::GET, &format!("{url}/{iupd}"), None).await;
            got
        }
    };
    let valid_before = before("IBAN-VALID").await;

    let patch = |query: String, payload: Value| {
        let app = &app;
        let url = url.clone();
        async move {
            send(
                app,
                reqwest::Method::PATCH,
                &format!("{url}/transfers?{query}"),
                Some(&payload),
            )
            .await
        }
    };
    let (status, answer) = patch(format!("oldIban={IBAN}"), json!({"newIban": NEW})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"description": "Updated IBAN on 4 Transfers", "updatedTransfers": 4})
    );
    let ibans = |got: &Value| -> Vec<String> {
        got["paymentOption"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["transfer"][0]["iban"].as_str().unwrap().to_owned())
            .collect()
    };
    for (iupd, expected) in [
        ("IBAN-DRAFT", NEW),
        ("IBAN-VALID", NEW),
        ("IBAN-PAID", IBAN),
        ("IBAN-INVALID", IBAN),
    ] {
        let got = before(iupd).await;
        assert_eq!(ibans(&got), [expected, expected], "{iupd}");
    }
    let valid_after = before("IBAN-VALID").await;
    assert_eq!(valid_after["status"], "VALID", "nothing else changes");
    assert_eq!(
        valid_after["paymentOption"][0]["transfer"][1]["stamp"],
        valid_before["paymentOption"][0]["transfer"][1]["stamp"],
        "the stamp is untouched"
    );
    assert_ne!(
        valid_after["lastUpdatedDate"], valid_before["lastUpdatedDate"],
        "the position records the change"
    );
    let audit = app
        .state
        .store()
        .recent_audit(Some("gpd.update_transfer_iban"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);

    // At most `limit` transfers; nothing left to change is a 200 with 0.
    let (status, answer) = patch(format!("oldIban={NEW}&limit=1"), json!({"newIban": IBAN})).await;
    assert_eq!(
        (status, answer["updatedTransfers"].clone()),
        (200, json!(1))
    );
    let (_, answer) = patch(
        "oldIban=IT60X0542811101000000123456".into(),
        json!({"newIban": NEW}),
    )
    .await;
    assert_eq!(answer["updatedTransfers"], 1, "the one moved back");
    let (_, answer) = patch(format!("oldIban={IBAN}"), json!({"newIban": NEW})).await;
    assert_eq!(answer["updatedTransfers"], 0);

    for (query, payload, field) in [
        (String::new(), json!({"newIban": NEW}), "oldIban"),
        (format!("oldIban={IBAN}"), json!({}), "newIban"),
        (
            format!("oldIban={IBAN}"),
            json!({"newIban": "IT00X0000000000000000000000"}),
            "newIban",
        ),
        ("oldIban=nope".into(), json!({"newIban": NEW}), "oldIban"),
        (
            format!("oldIban={IBAN}&limit=1001"),
            json!({"newIban": NEW}),
            "limit",
        ),
        (
            format!("oldIban={IBAN}&limit=-1"),
            json!({"newIban": NEW}),
            "limit",
        ),
        (format!("oldIban={IBAN}"), json!({"newIban": 7}), "newIban"),
    ] {
        let (status, problem) = patch(query.clone(), payload).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_problem(&problem, 400, field);
    }
    app.stop().await;
}

async fn dates_are_answered_as_gpd_writes_them(app: TestApp) {
    let url = base(&app);
    let mut b = body("DATES-1", &[None, None]);
    // Rome's wall clock, as GPD clients send it; and the same instant with an offset.
    b["paymentOption"][0]["dueDate"] = json!("2031-05-31T23:59:59");
    b["paymentOption"][1]["dueDate"] = json!("2031-06-30T21:59:59Z");
    b["paymentOption"][1]["retentionDate"] = json!("2031-12-31T23:59:59.5");
    b["validityDate"] = json!("2031-01-01T00:00");
    let (status, created) = send(&app, reqwest::Method::POST, &url, Some(&b)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["validityDate"], "2031-01-01T00:00:00");
    assert_eq!(
        created["paymentOption"][0]["dueDate"],
        "2031-05-31T23:59:59"
    );
    assert_eq!(
        created["paymentOption"][1]["dueDate"],
        "2031-06-30T23:59:59"
    );
    assert_eq!(
        created["paymentOption"][1]["retentionDate"],
        "2031-12-31T23:59:59.5"
    );
    // Stored as the instant it names.
    let stored = app
        .state
        .store()
        .position_by_iupd(app.state.ente().id, "DATES-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.options[0].due_date.to_utc_text(),
        "2031-05-31T21:59:59.000000Z"
    );
    assert_eq!(
        stored.validity_date.unwrap().to_utc_text(),
        "2030-12-31T23:00:00.000000Z"
    );
    let (_, got) = send(&app, reqwest::Method::GET, &format!("{url}/DATES-1"), None).await;
    assert_eq!(got["paymentOption"][0]["dueDate"], "2031-05-31T23:59:59");
    let pattern = |text: &str| {
        let b = text.as_bytes();
        b.len() >= 19 && b[10] == b'T' && !text.ends_with('Z') && !text[19..].contains(['+', '-'])
    };
    for field in ["insertedDate", "lastUpdatedDate"] {
        let text = got[field].as_str().unwrap();
        assert!(pattern(text), "{field}: {text} is a local date-time");
    }
    // Days in the list filters are days in Rome: 31 May holds the first option only.
    let iupds = |answer: &Value| -> Vec<String> {
        answer["payment_position_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["iupd"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, may) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?due_date_from=2031-05-31&due_date_to=2031-05-31"),
        None,
    )
    .await;
    assert_eq!(iupds(&may), ["DATES-1"]);
    let (_, june_first) = send(
        &app,
        reqwest::Method::GET,
        &format!("{url}?due_date_from=2031-06-01&due_date_to=2031-06-01"),
        None,
    )
    .await;
    assert!(iupds(&june_first).is_empty(), "{june_first}");
    for bad in [
        "31/05/2031",
        "2031-05-31",
        "2031-05-31T23:59:59+2",
        "2031-02-30T10:00:00",
    ] {
        let mut b = body("DATES-2", &[None]);
        b["paymentOption"][0]["dueDate"] = json!(bad);
        let (status, problem) = send(&app, reqwest::Method::POST, &url, Some(&b)).await;
        assert_eq!(status, 400, "{bad}");
        assert_problem(
            &problem,
            400,
            "paymentOption[0].dueDate: data e ora non valide",
        );
    }
    app.stop().await;
}
