//! Every request body is bounded, by route: small for the pages' forms, the JSON of the
//! debt-position API, the station's SOAP (`station.max_body_bytes`), the CSV import
//! (`import.max_upload_bytes`) and the back office's statement upload
//! (`treasury.max_upload_bytes`). One table, applied to every request before any handler reads a
//! byte: a declared length over the bound is refused at once, in the shape of its surface (an
//! Italian page, a ProblemJson, a SOAP fault); a body streamed without a length is cut at the
//! bound, and the handler that reads it answers the same way.
//!
//! A refused body is still read and thrown away, up to [`LINGER_BYTES`] and [`LINGER_TIME`],
//! before the refusal is sent (what nginx calls a lingering close): a client still sending would
//! otherwise meet a closed connection ("broken pipe") and never read the answer that says why.
//! Nothing of it is kept; past either bound the connection is closed.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::gpd::model::ProblemJson;

/// Largest form a page accepts (registration, profile, cart; SPID's posted responses).
pub const MAX_FORM_BYTES: usize = 256 * 1024;
/// Largest JSON body of the debt-position API.
pub const MAX_JSON_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Any other route (GETs, operational endpoints): nothing worth reading.
pub const MAX_OTHER_BYTES: usize = 16 * 1024;

/// Most bytes of a refused body read (and discarded) so its sender can read the refusal.
pub const LINGER_BYTES: u64 = 8 * 1024 * 1024;
/// Longest time spent reading a refused body.
pub const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The back office's statement upload.
pub const STATEMENT_PATH: &str = "/ufficio/tesoreria/estratto";

/// Who answers a route, which decides the bound and the shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The citizens' pages (HTML forms).
    Pages,
    /// The debt-position API (JSON).
    Api,
    /// The CSV import of the API.
    Import,
    /// The pagoPA station (SOAP).
    Station,
    /// The back office's treasury statement, a file upload (bound: `treasury.max_upload_bytes`).
    Statement,
    /// Everything else.
    Other,
}

impl Surface {
    /// The surface of a request path.
    pub fn of(path: &str) -> Surface {
        if path == super::soap::PATH {
            Surface::Station
        } else if path == STATEMENT_PATH {
            Surface::Statement
        } else if path.starts_with(super::gpd::BASE) {
            if path.ends_with("/debtpositions/import") {
                Surface::Import
            } else {
                Surface::Api
            }
        } else if path.starts_with("/static/")
            || matches!(path, "/healthz" | "/readyz" | "/metrics")
        {
            Surface::Other
        } else {
            Surface::Pages
        }
    }

    /// The largest body accepted.
    pub fn limit(self, state: &AppState) -> usize {
        match self {
            Surface::Pages => MAX_FORM_BYTES,
            Surface::Api => MAX_JSON_BODY_BYTES,
            Surface::Import => state.config().import_max_upload_bytes,
            Surface::Statement => state.config().recon.treasury_max_upload_bytes,
            Surface::Station => state.config().station.max_body_bytes,
            Surface::Other => MAX_OTHER_BYTES,
        }
    }

    /// The refusal of a body over `limit`, in this surface's shape.
    pub(crate) fn too_large(self, limit: usize) -> Option<Response> {
        match self {
            // The station answers in SOAP with the operation's KO: its handler does it.
            Surface::Station => None,
            // GPD declares 400 for a request it cannot take, and no 413.
            Surface::Api => Some(problem(
                StatusCode::BAD_REQUEST,
                "BAD REQUEST",
                format!("the request body exceeds {limit} bytes"),
            )),
            Surface::Import => Some(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                format!("the file exceeds {limit} bytes (setting import.max_upload_bytes)"),
            )),
            Surface::Statement => Some(super::pages::file_too_large(
                limit,
                "treasury.max_upload_bytes",
            )),
            Surface::Pages | Surface::Other => {
                Some(super::pages::error_page(StatusCode::PAYLOAD_TOO_LARGE))
            }
        }
    }
}

fn problem(status: StatusCode, title: &str, detail: String) -> Response {
    let body = ProblemJson {
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
    };
    (status, Json(body)).into_response()
}

/// The middleware: refuses a declared length over the route's bound, and cuts any body there.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let surface = Surface::of(req.uri().path());
    let limit = surface.limit(&state);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        if let Some(refusal) = surface.too_large(limit) {
            linger(req.into_body(), declared).await;
            return refusal;
        }
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// Reads a refused body to its end and drops it, when its declared length is at most
/// [`LINGER_BYTES`] and it arrives within [`LINGER_TIME`]; whether it was read whole (if not,
/// the server closes the connection after the answer, as it would have anyway).
pub async fn linger(body: Body, declared: Option<u64>) -> bool {
    use http_body_util::BodyExt;
    if declared.is_none_or(|n| n > LINGER_BYTES) {
        return false;
    }
    let mut body = body;
    let mut read = 0u64;
    let drain = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                read += data.len() as u64;
                if read > LINGER_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(LINGER_TIME, drain)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::Surface;

    #[test]
    fn every_route_has_its_surface() {
        assert_eq!(Surface::of("/pagopa/paForNode"), Surface::Station);
        let api = "/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions";
        assert_eq!(Surface::of(api), Surface::Api);
        assert_eq!(Surface::of(&format!("{api}/import")), Surface::Import);
        assert_eq!(Surface::of(&format!("{api}/X-1")), Surface::Api);
        assert_eq!(Surface::of("/login"), Surface::Pages);
        assert_eq!(
            Surface::of("/ufficio/tesoreria/estratto"),
            Surface::Statement
        );
        assert_eq!(Surface::of("/spid/acs"), Surface::Pages);
        assert_eq!(Surface::of("/healthz"), Surface::Other);
        assert_eq!(Surface::of("/static/app.css"), Surface::Other);
    }
}
