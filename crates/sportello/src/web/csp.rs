//! The portal's Content-Security-Policy and the other security headers, built once at start-up
//! from the configuration and sent with every response.
//!
//! The policy allows exactly what the pages use: their own scripts and stylesheets (no inline
//! code, no inline styles), their own fonts and images plus the `data:` images and the one `data:`
//! font Bootstrap Italia's stylesheet carries, script requests only to Sportello, no frames, no
//! plugins.
//! Forms may be sent to Sportello and to the origin of the Checkout pages: "Procedi al pagamento"
//! posts to Sportello, which answers 302 to Checkout on another origin, and browsers check
//! `form-action` on every redirect of a form submission.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// A Content-Security-Policy: directives in the order they are sent, each with its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    directives: Vec<(&'static str, Vec<String>)>,
}

impl Policy {
    /// The portal's policy; `form_targets` are the origins forms may reach besides Sportello
    /// (the Checkout pages' origin).
    pub fn portal(form_targets: &[String]) -> Policy {
        let own = |extra: &[&str]| -> Vec<String> {
            std::iter::once("'self'")
                .chain(extra.iter().copied())
                .map(str::to_owned)
                .collect()
        };
        let mut form_action = own(&[]);
        for target in form_targets {
            if !form_action.contains(target) {
                form_action.push(target.clone());
            }
        }
        Policy {
            directives: vec![
                ("default-src", vec!["'none'".to_owned()]),
                ("script-src", own(&[])),
                ("style-src", own(&[])),
                // Bootstrap Italia's stylesheet draws checkboxes, selects and icons with
                // `data:` SVG images and carries one `data:` web font.
                ("img-src", own(&["data:"])),
                ("font-src", own(&["data:"])),
                // A page waiting for a receipt asks for itself again (static/attesa.js).
                ("connect-src", own(&[])),
                ("form-action", form_action),
                ("frame-ancestors", vec!["'none'".to_owned()]),
                ("base-uri", vec!["'none'".to_owned()]),
            ],
        }
    }

    /// The sources of `directive`, if the policy has it.
    pub fn sources(&self, directive: &str) -> Option<&[String]> {
        self.directives
            .iter()
            .find(|(d, _)| *d == directive)
            .map(|(_, s)| s.as_slice())
    }

    /// The header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string())
            .expect("sources are origins and keywords: visible ASCII")
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (directive, sources)) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{directive} {}", sources.join(" "))?;
        }
        Ok(())
    }
}

/// The origin (`scheme://host[:port]`) of an absolute `http`/`https` URL, as a CSP source.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

/// The security headers of every response, computed once.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    policy: Policy,
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// The headers for a portal whose forms may also reach `checkout_page_origin`.
    pub fn new(checkout_page_origin: Option<&str>) -> SecurityHeaders {
        let targets: Vec<String> = checkout_page_origin
            .into_iter()
            .map(str::to_owned)
            .collect();
        let policy = Policy::portal(&targets);
        SecurityHeaders {
            csp: policy.header_value(),
            policy,
        }
    }

    /// The Content-Security-Policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// Adds the security headers to every response (pages, errors, assets, API).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        state.security_headers().csp.clone(),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_lets_forms_reach_the_sandbox_checkout_and_nothing_else() {
        let headers = SecurityHeaders::new(Some("http://127.0.0.1:8081"));
        assert_eq!(
            headers.policy().to_string(),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self' data:; connect-src 'self'; form-action 'self' http://127.0.0.1:8081; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(headers.csp.to_str().unwrap(), headers.policy().to_string());
    }

    #[test]
    fn production_lets_forms_reach_pagopa_checkout() {
        let p = SecurityHeaders::new(Some("https://checkout.pagopa.it"));
        assert_eq!(
            p.policy().sources("form-action").unwrap(),
            ["'self'", "https://checkout.pagopa.it"]
        );
    }

    #[test]
    fn without_checkout_forms_stay_on_sportello() {
        let p = Policy::portal(&[]);
        assert_eq!(p.sources("form-action").unwrap(), ["'self'"]);
        let same = Policy::portal(&["https://a.example".into(), "https://a.example".into()]);
        assert_eq!(
            same.sources("form-action").unwrap(),
            ["'self'", "https://a.example"]
        );
    }

    #[test]
    fn nothing_wider_than_needed() {
        let p = Policy::portal(&["https://checkout.pagopa.it".into()]);
        let text = p.to_string();
        for wide in [
            "*",
            "'unsafe-inline'",
            "'unsafe-eval'",
            "http:",
            "https:",
            "blob:",
        ] {
            assert!(
                !text.split([' ', ';']).any(|s| s == wide),
                "{wide} in {text}"
            );
        }
        assert_eq!(p.sources("default-src").unwrap(), ["'none'"]);
        assert_eq!(p.sources("frame-ancestors").unwrap(), ["'none'"]);
        // Only images and fonts take data: URIs (Bootstrap Italia's stylesheet).
        for d in ["script-src", "style-src", "connect-src", "form-action"] {
            assert!(!p.sources(d).unwrap().contains(&"data:".to_owned()), "{d}");
        }
        // Scripts talk only to Sportello.
        assert_eq!(p.sources("connect-src").unwrap(), ["'self'"]);
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://api.platform.pagopa.it/checkout/ec/v1").as_deref(),
            Some("https://api.platform.pagopa.it")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8081/checkout/carts/1").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(
            origin_of("https://Checkout.PagoPA.it:443/c/1?x=1").as_deref(),
            Some("https://checkout.pagopa.it")
        );
        assert_eq!(
            origin_of("http://[::1]:8081/").as_deref(),
            Some("http://[::1]:8081")
        );
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "data:text/html,x",
            "ftp://x/",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }
}
