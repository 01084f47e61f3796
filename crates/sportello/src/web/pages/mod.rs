//! Server-rendered pages, in Italian, in the Italian PA design system (Bootstrap Italia).
//! Every page works without JavaScript.

mod auth;
mod dev;
mod documents;
mod history;
mod payments;
mod private;
pub mod routes;
pub mod saml;

/// A CSV cell safe for spreadsheets (quoted, no formula), as the citizen history writes it.
pub(crate) use history::cell as csv_cell;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::session::Session;
use crate::accounts::FieldErrors;
use crate::config::Mode;

/// What the base layout needs on every page.
pub struct Layout {
    /// Page title.
    pub title: String,
    /// The ente's name.
    pub ente_name: String,
    /// "SITO UFFICIALE".
    pub website_url: String,
    /// "MANUALE".
    pub manual_url: String,
    /// Assistance address.
    pub contact: String,
    /// Logged-in user's name.
    pub user: Option<String>,
    /// CSRF token for the page's forms; rendering it keeps a new visitor's session.
    pub csrf: CsrfToken,
    /// Demo mode (shows the development mailbox link).
    pub demo: bool,
    /// Pages waiting for something: every this many seconds a script (static/attesa.js) asks
    /// the server again and reloads the page when its heading changes.
    pub refresh: Option<u32>,
}

impl Layout {
    /// The layout for a page titled `title`.
    pub fn new(state: &AppState, session: &Session, title: &str) -> Layout {
        let config = state.config();
        Layout {
            title: title.to_owned(),
            ente_name: state.ente().name.clone(),
            website_url: config.ente.website_url.clone(),
            manual_url: config.ente.manual_url.clone(),
            contact: config.ente.contact_email.clone(),
            user: session.account().map(|a| a.display_name()),
            csrf: CsrfToken(session.clone()),
            demo: config.mode == Mode::Demo,
            refresh: None,
        }
    }
}

/// The session's CSRF token, read only when a template prints it: a page without forms leaves
/// a new visitor without a stored session.
pub struct CsrfToken(Session);

impl std::fmt::Display for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.csrf())
    }
}

/// Renders a template, or a plain error page if rendering fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A generic page: heading, paragraphs (in an alert box when `alert` is a Bootstrap alert
/// kind), optional extra HTML and links.
#[derive(Template)]
#[template(path = "pages/message.html")]
pub struct MessagePage {
    /// Layout.
    pub l: Layout,
    /// Heading.
    pub heading: String,
    /// `success`, `danger`, `info`, or empty for plain text.
    pub alert: &'static str,
    /// Paragraphs.
    pub paragraphs: Vec<String>,
    /// Trusted HTML built by the server (forms).
    pub extra: String,
    /// (href, label) buttons.
    pub links: Vec<(String, String)>,
}

/// A page with one small form (recovery, reset…).
#[derive(Template)]
#[template(path = "pages/form.html")]
pub struct FormPage {
    /// Layout.
    pub l: Layout,
    /// Heading.
    pub heading: String,
    /// Paragraphs before the form.
    pub intro: Vec<String>,
    /// Error summary HTML.
    pub summary: String,
    /// Where the form posts.
    pub action: String,
    /// Hidden fields.
    pub hidden: Vec<(String, String)>,
    /// Field HTML.
    pub fields: String,
    /// Submit label.
    pub submit: String,
    /// "Torna indietro" target.
    pub back: String,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One labelled input with its error or help text, accessible: the error is tied to the
/// input with `aria-describedby` and marked `aria-invalid`.
pub struct Field<'a> {
    /// `name` and `id`.
    pub name: &'a str,
    /// Visible label.
    pub label: &'a str,
    /// Input type (`text`, `email`, `password`…).
    pub kind: &'a str,
    /// `autocomplete` token.
    pub autocomplete: &'a str,
    /// Required.
    pub required: bool,
    /// Help text.
    pub help: &'a str,
}

impl Field<'_> {
    /// The HTML of the field with `value` and the error from `errors`.
    pub fn html(&self, value: &str, errors: &FieldErrors) -> String {
        let error = errors.get(self.name);
        let describedby = match (error, self.help.is_empty()) {
            (Some(_), _) => format!(
                " aria-invalid=\"true\" aria-describedby=\"{}-errore\"",
                self.name
            ),
            (None, false) => format!(" aria-describedby=\"{}-aiuto\"", self.name),
            (None, true) => String::new(),
        };
        let note = match error {
            Some(m) => format!(
                "<div class=\"invalid-feedback d-block\" id=\"{}-errore\">{}</div>",
                self.name,
                escape(m)
            ),
            None if !self.help.is_empty() => format!(
                "<small class=\"form-text\" id=\"{}-aiuto\">{}</small>",
                self.name,
                escape(self.help)
            ),
            None => String::new(),
        };
        let value = if self.kind == "password" {
            String::new()
        } else {
            format!(" value=\"{}\"", escape(value))
        };
        format!(
            "<div class=\"form-group\"><label for=\"{name}\" class=\"active\">{label}{star}</label><input type=\"{kind}\" class=\"form-control{invalid}\" id=\"{name}\" name=\"{name}\"{value} autocomplete=\"{ac}\"{req}{describedby}>{note}</div>",
            name = self.name,
            label = escape(self.label),
            star = if self.required { " *" } else { "" },
            kind = self.kind,
            invalid = if error.is_some() { " is-invalid" } else { "" },
            ac = self.autocomplete,
            req = if self.required {
                " required aria-required=\"true\""
            } else {
                ""
            },
        )
    }
}

/// The summary of errors at the top of a form, each linking to its field.
pub fn summary(errors: &FieldErrors) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let n = errors.0.len();
    let items: String = errors
        .0
        .iter()
        .map(|(f, m)| format!("<li><a href=\"#{f}\">{}</a></li>", escape(m)))
        .collect();
    format!(
        "<div class=\"alert alert-danger\" role=\"alert\" id=\"riepilogo-errori\"><h2 class=\"h5\">Il modulo contiene {n} {}: correggi i campi indicati</h2><ul class=\"mb-0\">{items}</ul></div>",
        if n == 1 { "errore" } else { "errori" }
    )
}

/// A page without the state-dependent layout (used when the state may be broken): the portal's
/// header band, a heading, one paragraph, and the way back home.
fn bare_page(status: StatusCode, heading: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{heading}</title><link rel=\"stylesheet\" href=\"/static/bi/css/bootstrap-italia.min.css\"><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><header class=\"it-header-wrapper\"><div class=\"it-header-center-wrapper\"><div class=\"container\"><div class=\"it-header-center-content-wrapper\"><div class=\"it-brand-wrapper\"><a href=\"/\"><div class=\"it-brand-text\"><div class=\"it-brand-title\">Piattaforma dei Pagamenti Elettronici PagoPA</div></div></a></div></div></div></div></header><main id=\"contenuto\" class=\"container my-5\"><h1 class=\"h2\">{heading}</h1><p>{text}</p><p><a href=\"/\">Torna alla pagina iniziale</a></p></main></body></html>"
    );
    (status, Html(html)).into_response()
}

/// The error page for `status`.
pub fn error_page(status: StatusCode) -> Response {
    let (heading, text) = match status {
        StatusCode::NOT_FOUND => (
            "Pagina non trovata",
            "La pagina richiesta non esiste o non è più disponibile. Controlla l'indirizzo, oppure riparti dalla pagina iniziale.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Dati troppo grandi",
            "I dati inviati sono troppo grandi: riduci la dimensione e riprova.",
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "Troppe richieste",
            "Troppe richieste in poco tempo: riprova tra qualche minuto.",
        ),
        _ => (
            "Servizio momentaneamente non disponibile",
            "Si è verificato un errore imprevisto. Riprova tra qualche minuto; se il problema continua, scrivi all'assistenza.",
        ),
    };
    bare_page(status, heading, text)
}

/// A size for people: `10 MB`, `512 kB`.
pub fn size_label(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} kB", bytes.div_ceil(1024))
    }
}

/// The answer (413) to a file over the `limit` of `setting`.
pub fn file_too_large(limit: usize, setting: &str) -> Response {
    let size = size_label(limit);
    bare_page(
        StatusCode::PAYLOAD_TOO_LARGE,
        "File troppo grande",
        &format!(
            "Il file supera la dimensione massima di {size} (impostazione {setting}): nulla è stato importato. Dividilo in più file, o chiedi all'amministratore di alzare il limite."
        ),
    )
}

/// The answer to a form posted with a missing or wrong CSRF token.
pub fn csrf_failure(_state: &AppState) -> Response {
    bare_page(
        StatusCode::FORBIDDEN,
        "Sessione scaduta",
        "La sessione è scaduta o il modulo non è più valido. Torna alla pagina precedente, ricaricala e riprova.",
    )
}

/// Sends a visitor to the login page, remembering where they wanted to go.
pub fn to_login(next: &str) -> Response {
    let next: String = url_encode(next);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after a login: `next` when it is a path of this site, else the private area.
/// Every `next=` (the login form, SPID/CIE's login and its RelayState) goes through here.
///
/// A browser reads a `Location` loosely: it drops tabs and newlines (`/\t/evil.example` becomes
/// `//evil.example`, another site) and takes `\` for `/`. So a path is accepted only when it
/// has no control character, no whitespace and no backslash, does not start with `//`, and,
/// resolved against this site, stays on it.
pub fn safe_next(next: &str) -> &str {
    const HOME: &str = "/area-privata";
    const SITE: &str = "https://sportello.invalid";
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    let stays = plain
        && url::Url::parse(SITE)
            .and_then(|site| site.join(next))
            .is_ok_and(|u| u.origin() == url::Url::parse(SITE).expect("a URL").origin());
    if stays { next } else { HOME }
}

/// The page routes behind the session layer with CSRF (see [`routes::PAGE_ROUTES`]).
pub fn routes() -> Router<AppState> {
    routes::guarded(routes::Guard::Csrf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_paths_of_this_site_are_followed() {
        for good in [
            "/area-privata",
            "/pagamenti?x=1&y=%2F%2F",
            "/a/b#c",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(super::safe_next(good), good);
        }
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:evil.example",
            "evil.example",
            "/ /evil.example",
            "/\u{3000}/evil.example",
            "",
        ] {
            assert_eq!(super::safe_next(bad), "/area-privata", "{bad:?}");
        }
    }
}
