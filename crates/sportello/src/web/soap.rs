//! `POST /pagopa/paForNode`: the station's SOAP endpoint, called by the pagoPA node.
//!
//! Whatever arrives, the answer is SOAP, never an HTML page: a request whose operation can be
//! told (from SOAPAction or the payload element) gets that operation's response with outcome KO
//! and a pagoPA fault, HTTP 200, as the node expects; anything else gets a SOAP 1.1 Fault with
//! HTTP 500, as SOAP 1.1 over HTTP prescribes. Every exchange is kept raw in the event log.

use std::net::IpAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pagopa::soap::{self, Fault, FaultCode, Operation, Outcome, RequestError};

use super::AppState;
use crate::config::STATION_KEY_HEADER;
use crate::station::Station;
use crate::store::events::{Direction, Exchange};

/// The path the node calls.
pub const PATH: &str = "/pagopa/paForNode";

/// The station's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, post(handle))
}

/// What the handler answered, for the response and the event log.
struct Answer {
    status: StatusCode,
    body: String,
    operation: String,
    outcome: String,
    fault_code: Option<String>,
}

impl Answer {
    fn response(response: &soap::Response) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: response.encode(),
            operation: response.operation().name().to_owned(),
            outcome: response.outcome().as_str().to_owned(),
            fault_code: response.fault().map(|f| f.fault_code.as_str().to_owned()),
        }
    }

    /// A SOAP Fault, for requests no operation can be told of, or refused before reading.
    fn soap_fault(status: StatusCode, code: &FaultCode, detail: &str) -> Answer {
        Answer {
            status,
            // Only an internal error is the server's fault; everything else is the caller's.
            body: soap::soap_fault(
                code != &FaultCode::PaaSystemError,
                code.as_str(),
                Some(detail),
            ),
            operation: "unknown".to_owned(),
            outcome: Outcome::Ko.as_str().to_owned(),
            fault_code: Some(code.as_str().to_owned()),
        }
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(soap::CONTENT_TYPE),
        );
        response
    }
}

/// Compares two byte strings in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the optional access restrictions: an address allow-list and a key header.
fn access_refusal(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<Answer> {
    let config = &state.config().station;
    if !config.allowed_ips.is_empty() {
        let allowed = peer.is_some_and(|p| config.allowed_ips.iter().any(|n| n.contains(p)));
        if !allowed {
            return Some(Answer::soap_fault(
                StatusCode::FORBIDDEN,
                &FaultCode::Other("ACCESSO_NEGATO".into()),
                "indirizzo non autorizzato a chiamare la stazione",
            ));
        }
    }
    if let Some(key) = &config.api_key {
        let given = headers
            .get(STATION_KEY_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !same_secret(given, key.expose().as_bytes()) {
            return Some(Answer::soap_fault(
                StatusCode::UNAUTHORIZED,
                &FaultCode::Other("ACCESSO_NEGATO".into()),
                "chiave di accesso mancante o errata",
            ));
        }
    }
    None
}

/// Longest fault description sent back.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// A KO answer for a request that could not be decoded.
fn undecodable(
    state: &AppState,
    operation: Option<Operation>,
    code: FaultCode,
    description: String,
) -> Answer {
    // The reason may quote the request (a name, a value): a few hundred characters of it.
    let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
    match operation {
        Some(op) => {
            let fault = Fault::new(code, &state.ente().fiscal_code, description);
            Answer::response(&soap::Response::ko(op, fault))
        }
        None => Answer::soap_fault(StatusCode::INTERNAL_SERVER_ERROR, &code, &description),
    }
}

/// The notice number of a request, to correlate exchanges in the event log.
fn correlation(request: &soap::Request) -> Option<String> {
    Some(match request {
        soap::Request::Verify(r) => r.qr_code.notice_number.clone(),
        soap::Request::GetPayment(r) => r.qr_code.notice_number.clone(),
        soap::Request::SendRt(r) => r.receipt.notice_number.clone(),
        soap::Request::Demand(_) => return None,
    })
}

/// The event-log row of an exchange.
fn exchange(
    answer: &Answer,
    request: String,
    correlation: Option<String>,
    started: Instant,
) -> Exchange {
    Exchange {
        direction: Direction::In,
        channel: "soap".to_owned(),
        operation: answer.operation.clone(),
        correlation,
        request,
        response: Some(answer.body.clone()),
        outcome: answer.outcome.clone(),
        fault_code: answer.fault_code.clone(),
        http_status: Some(answer.status.as_u16()),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let peer = super::client::of_request(
        request.extensions(),
        request.headers(),
        &state.config().trusted_proxies,
    );
    let (parts, body) = request.into_parts();
    let action = parts
        .headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (raw, answer, correlation, logged) = answer(
        &state,
        peer,
        &parts.headers,
        action.as_deref(),
        body,
        started,
    )
    .await;
    if logged {
        return answer.into_response();
    }
    let exchange = exchange(&answer, raw, correlation, started);
    // The answer stands whatever happens to the log: a lost log line must not turn a stored
    // receipt into a failure the node would retry.
    if let Err(e) = state.store().log_exchange(&exchange).await {
        tracing::warn!(error = %e, "station: cannot write the event log");
    }
    answer.into_response()
}

/// Reads, decodes and answers; returns the raw request as logged, the answer and the
/// correlation key.
/// The raw request, the answer, the correlation key, and whether the station already wrote the
/// exchange to the event log (requests it handled: see [`Station::handle`]).
async fn answer(
    state: &AppState,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    action: Option<&str>,
    body: Body,
    started: Instant,
) -> (String, Answer, Option<String>, bool) {
    let from_action = action.and_then(Operation::from_soap_action);
    if let Some(refusal) = access_refusal(state, peer, headers) {
        return (String::new(), refusal, None, false);
    }
    let limit = state.config().station.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |state| {
        (
            format!("<corpo oltre {limit} byte, non letto>"),
            undecodable(
                state,
                from_action,
                FaultCode::PaaSintassiXsd,
                format!("richiesta oltre il limite di {limit} byte"),
            ),
            None,
            false,
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        super::limits::linger(body, declared).await;
        return too_large(state);
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(state);
    };
    let text = match String::from_utf8(Vec::from(bytes)) {
        Ok(text) => text,
        Err(e) => {
            return (
                Exchange::excerpt(&String::from_utf8_lossy(e.as_bytes())),
                undecodable(
                    state,
                    from_action,
                    FaultCode::PaaSintassiXsd,
                    "la richiesta non è testo UTF-8".to_owned(),
                ),
                None,
                false,
            );
        }
    };
    let Some((text, decoded)) = decode(text, action).await else {
        return (
            String::new(),
            undecodable(
                state,
                from_action,
                FaultCode::PaaSystemError,
                "decodifica interrotta".to_owned(),
            ),
            None,
            false,
        );
    };
    match decoded {
        Err(RequestError { operation, error }) => {
            let code = error.fault_code();
            // A refused request is kept as an excerpt: junk must not fill the database.
            (
                Exchange::excerpt(&text),
                undecodable(state, operation, code, error.to_string()),
                None,
                false,
            )
        }
        Ok(request) => {
            let station = Station::new(state.store(), state.ente());
            let correlation = correlation(&request);
            let log = |response: &soap::Response| {
                exchange(
                    &Answer::response(response),
                    text.clone(),
                    correlation.clone(),
                    started,
                )
            };
            let response = station.handle(&request, &text, &log).await;
            (text, Answer::response(&response), correlation, true)
        }
    }
}

/// Requests decoded at once; more wait their turn. Decoding is CPU work bounded by the body
/// limit and the XML reader's limits; a large body is decoded on the blocking pool, so however
/// many requests arrive, the async threads keep serving the portal and `/healthz`.
const DECODERS: usize = 4;

/// Bodies up to this size (a verification is under 1 KiB, a receipt with five transfers a few)
/// are decoded in place: tens of microseconds, less than handing them to another thread and
/// back costs.
const DECODE_IN_PLACE_BYTES: usize = 16 * 1024;

static DECODING: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(DECODERS));

/// Decodes `text` off the async executor; `None` if the blocking task died.
async fn decode(
    text: String,
    action: Option<&str>,
) -> Option<(String, Result<soap::Request, RequestError>)> {
    if text.len() <= DECODE_IN_PLACE_BYTES {
        let decoded = soap::Request::decode(&text, action);
        return Some((text, decoded));
    }
    let _permit = DECODING.acquire().await.ok()?;
    let action = action.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let decoded = soap::Request::decode(&text, action.as_deref());
        (text, decoded)
    })
    .await
    .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret(b"abc", b"abc"));
        assert!(!super::same_secret(b"abc", b"abd"));
        assert!(!super::same_secret(b"abc", b"abcd"));
        assert!(!super::same_secret(b"", b"a"));
    }
}
