//! The operational endpoints, against the real app on a random port, on both databases.

mod common;

use common::{TestApp, TestDb};

async fn health_readiness_and_metrics(app: TestApp, dialect: &str) {
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every response carries its request id"
    );
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["database"]["dialect"], dialect);
    assert_eq!(body["migrations"]["status"], "current");

    // A request id sent by a proxy is kept.
    let traced = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "proxy-abc-123");

    assert_eq!(app.get("/no/such/page").await.status(), 404);

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"sportello_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"sportello_http_requests_total{method="GET",route="/readyz",status="200"} 1"#
        )
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "unknown paths share one series"
    );
    assert!(text.contains("sportello_http_request_duration_seconds_bucket"));
    app.stop().await;
}

#[tokio::test]
async fn operational_endpoints_on_sqlite() {
    health_readiness_and_metrics(TestApp::spawn(TestDb::sqlite()).await, "sqlite").await;
}

#[tokio::test]
async fn operational_endpoints_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    health_readiness_and_metrics(TestApp::spawn(db).await, "postgres").await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    app.state.store().close().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["database"]["status"], "unreachable");
}
