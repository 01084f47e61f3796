//! The client of pagoPA Checkout's EC API (`POST {checkout}/carts`, v1).
//!
//! Checkout answers a good cart with a 302 whose `Location` is the page to send the citizen to,
//! and a bad one with a ProblemJson; either way nothing is paid until the node sends the receipt.

use std::time::Duration;

use pagopa::checkout::CartRequest;

/// The header carrying the subscription key.
pub const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// Why a cart could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Checkout refused the cart (4xx): our request is wrong or the key is.
    #[error("Checkout refused the cart: HTTP {status}: {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// ProblemJson `detail` (or the body).
        detail: String,
    },
    /// Checkout failed (5xx) or answered something unexpected.
    #[error("Checkout failed: HTTP {status}: {detail}")]
    Failed {
        /// HTTP status.
        status: u16,
        /// ProblemJson `detail` (or the body).
        detail: String,
    },
    /// No answer in time, or no connection.
    #[error("Checkout unreachable: {0}")]
    Unreachable(String),
}

/// What went over the wire, for the event log.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    /// The JSON sent.
    pub request: String,
    /// Status line and `Location`, or the body of an error.
    pub response: Option<String>,
    /// HTTP status, when an answer came.
    pub status: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
}

/// pagoPA's EC API hosts and the hosts of the Checkout pages they send citizens to
/// (`POST https://api.uat.platform.pagopa.it/checkout/ec/v1/carts` answers
/// `Location: https://uat.checkout.pagopa.it/…`).
const PAGOPA_PAGE_ORIGINS: [(&str, &str); 3] = [
    ("api.platform.pagopa.it", "https://checkout.pagopa.it"),
    (
        "api.uat.platform.pagopa.it",
        "https://uat.checkout.pagopa.it",
    ),
    (
        "api.dev.platform.pagopa.it",
        "https://dev.checkout.pagopa.it",
    ),
];

/// The origin of the pages a Checkout EC API at `api_base` sends citizens to: pagoPA's own
/// page host for its API hosts, the API's own origin for any other Checkout (the sandbox serves
/// both). `checkout.page_origin` overrides it.
pub fn page_origin_for_api(api_base: &str) -> Option<String> {
    let api = url::Url::parse(api_base).ok()?;
    let host = api.host_str()?;
    match PAGOPA_PAGE_ORIGINS.iter().find(|(h, _)| *h == host) {
        Some((_, pages)) if api.scheme() == "https" => Some((*pages).to_owned()),
        _ => crate::web::csp::origin_of(api_base),
    }
}

/// A Checkout client.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    key: Option<String>,
    page_origin: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for the API at `base` (e.g. `https://api.platform.pagopa.it/checkout/ec/v1`)
    /// whose carts must send citizens to `page_origin` (the origin the pages'
    /// Content-Security-Policy lets forms reach): any other `Location` is a failure, logged
    /// naming the setting, rather than a form the browser silently blocks.
    pub fn new(
        base: &str,
        key: Option<String>,
        page_origin: Option<String>,
        timeout: Duration,
    ) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            key,
            page_origin,
            // Checkout's answer is the redirect itself: it must not be followed.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .build()
                .expect("HTTP client"),
        }
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The origin of the pages citizens are sent to.
    pub fn page_origin(&self) -> Option<&str> {
        self.page_origin.as_deref()
    }

    /// `POST /carts`: the URL to send the citizen to, and what went over the wire.
    pub async fn create_cart(&self, cart: &CartRequest) -> (Result<String, CheckoutError>, Wire) {
        let started = std::time::Instant::now();
        let body = serde_json::to_string(cart).expect("a cart serialises");
        let mut wire = Wire {
            request: body.clone(),
            ..Wire::default()
        };
        let mut req = self
            .http
            .post(format!("{}/carts", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.key {
            req = req.header(KEY_HEADER, key);
        }
        let result = async {
            let res = req
                .send()
                .await
                .map_err(|e| CheckoutError::Unreachable(e.to_string()))?;
            let status = res.status();
            wire.status = Some(status.as_u16());
            if status == reqwest::StatusCode::FOUND || status == reqwest::StatusCode::SEE_OTHER {
                let location = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_owned);
                wire.response = Some(format!(
                    "HTTP {} Location: {}",
                    status.as_u16(),
                    location.as_deref().unwrap_or("-")
                ));
                let Some((location, origin)) = location
                    .and_then(|l| crate::web::csp::origin_of(&l).map(|origin| (l, origin)))
                else {
                    return Err(CheckoutError::Failed {
                        status: status.as_u16(),
                        detail: "redirect without a valid Location".into(),
                    });
                };
                return match &self.page_origin {
                    Some(expected) if *expected != origin => Err(CheckoutError::Failed {
                        status: status.as_u16(),
                        detail: format!(
                            "Checkout sends citizens to {origin}, but the pages' Content-Security-Policy lets forms reach only {expected}: set checkout.page_origin (SPORTELLO_CHECKOUT_PAGE_ORIGIN) to {origin}"
                        ),
                    }),
                    _ => Ok(location),
                };
            }
            let body = res.text().await.unwrap_or_default();
            wire.response = Some(body.chars().take(10_000).collect());
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(500).collect());
            if status.is_client_error() {
                Err(CheckoutError::Refused {
                    status: status.as_u16(),
                    detail,
                })
            } else {
                Err(CheckoutError::Failed {
                    status: status.as_u16(),
                    detail,
                })
            }
        }
        .await;
        wire.duration_ms = started.elapsed().as_millis() as u64;
        (result, wire)
    }
}

#[cfg(test)]
mod tests {
    use super::page_origin_for_api;

    #[test]
    fn pagopa_api_hosts_send_citizens_to_their_checkout_host() {
        for (api, pages) in [
            (
                "https://api.platform.pagopa.it/checkout/ec/v1",
                "https://checkout.pagopa.it",
            ),
            (
                "https://api.uat.platform.pagopa.it/checkout/ec/v1/",
                "https://uat.checkout.pagopa.it",
            ),
            (
                "https://api.dev.platform.pagopa.it/checkout/ec/v1",
                "https://dev.checkout.pagopa.it",
            ),
            // Any other Checkout serves its pages on its own origin: the sandbox does.
            (
                "http://127.0.0.1:8081/checkout/ec/v1",
                "http://127.0.0.1:8081",
            ),
            (
                "https://checkout.example.it:8443/ec/v1",
                "https://checkout.example.it:8443",
            ),
        ] {
            assert_eq!(page_origin_for_api(api).as_deref(), Some(pages), "{api}");
        }
        assert_eq!(page_origin_for_api("not a url"), None);
    }
}
