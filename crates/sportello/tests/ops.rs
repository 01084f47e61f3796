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

/// A request in flight when shutdown begins still gets its whole answer; new connections after
/// the drain are refused.
#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = TestApp::spawn(TestDb::sqlite()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>not a message</soapenv:Body></soapenv:Envelope>";
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /pagopa/paForNode HTTP/1.1\r\nHost: {addr}\r\nSOAPAction: paVerifyPaymentNotice\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Headers and half of the body: the handler is now waiting for the rest.
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..20]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.begin_shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stream.write_all(&body.as_bytes()[20..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(
        answer.contains("PAA_SINTASSI_XSD"),
        "the station answered the request in flight: {answer}"
    );
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "no new connections after shutdown"
    );
}
