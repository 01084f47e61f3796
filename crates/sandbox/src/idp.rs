//! The demo SPID identity provider: a few test identities, signed responses, the checks a real
//! identity provider makes on an `AuthnRequest` (signature with the service provider's
//! certificate from its metadata, Destination, Issuer, indexes, level, freshness), and fault
//! choices to see how the service provider reacts: wrong signature, expired assertion, wrong
//! audience, level too low, user cancels. It publishes its metadata like any identity provider.
//! Nothing here is a real identity.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use spid::binding::{MessageKind, RedirectMessage};
use spid::logout::LogoutMessage;
use spid::metadata::{IdpDescription, SpMetadata};
use spid::{Credentials, Level};
use time::OffsetDateTime;

use crate::Sandbox;
use crate::pages::esc;

/// How long the login page waits for the citizen.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a service provider's metadata is kept before it is fetched again.
const SP_METADATA_TTL: Duration = Duration::from_secs(60);
/// Most logins waiting at once (the sandbox keeps them in memory).
const MAX_PENDING: usize = 1000;

/// The demo identity provider's configuration.
#[derive(Clone)]
pub struct IdpConfig {
    /// Its signing key and certificate.
    pub credentials: Credentials,
    /// Where the service provider publishes its metadata (fetched like a registry would).
    pub sp_metadata_url: String,
}

impl std::fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("sp_metadata_url", &self.sp_metadata_url)
            .finish_non_exhaustive()
    }
}

/// A test identity.
pub struct TestIdentity {
    /// Codice fiscale.
    pub fiscal_code: &'static str,
    /// Nome.
    pub name: &'static str,
    /// Cognome.
    pub family_name: &'static str,
    /// Data di nascita (AAAA-MM-GG).
    pub date_of_birth: &'static str,
    /// E-mail.
    pub email: &'static str,
}

/// The identities a citizen can enter as. Their fiscal codes are well formed (check character
/// included) and belong to no one we know of.
pub const TEST_IDENTITIES: [TestIdentity; 3] = [
    TestIdentity {
        fiscal_code: "RSSMRA80A01H501U",
        name: "Mario",
        family_name: "Rossi",
        date_of_birth: "1980-01-01",
        email: "mario.rossi@example.it",
    },
    TestIdentity {
        fiscal_code: "BNCGLI85M41G337L",
        name: "Giulia",
        family_name: "Bianchi",
        date_of_birth: "1985-08-01",
        email: "giulia.bianchi@example.it",
    },
    TestIdentity {
        fiscal_code: "VRDLCU90E50G535L",
        name: "Lucia",
        family_name: "Verdi",
        date_of_birth: "1990-05-10",
        email: "lucia.verdi@example.it",
    },
];

/// What the response does, by the citizen's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A correct response.
    Ok,
    /// Signed with a key the service provider does not know.
    WrongSignature,
    /// The assertion has already expired.
    Expired,
    /// Meant for another service provider.
    WrongAudience,
    /// A level below the one requested.
    LevelTooLow,
}

/// The fault choices shown on the login page.
pub const OUTCOMES: [(&str, Outcome, &str); 5] = [
    ("ok", Outcome::Ok, "Accesso riuscito"),
    (
        "firma",
        Outcome::WrongSignature,
        "Firma non valida (chiave sconosciuta al fornitore del servizio)",
    ),
    ("scaduta", Outcome::Expired, "Asserzione scaduta"),
    (
        "destinatario",
        Outcome::WrongAudience,
        "Destinatario errato (Audience di un altro ente)",
    ),
    (
        "livello",
        Outcome::LevelTooLow,
        "Livello di autenticazione inferiore a quello richiesto",
    ),
];

struct Pending {
    request_id: String,
    relay_state: Option<String>,
    acs_url: String,
    audience: String,
    level: Level,
    attributes: Vec<String>,
    created: Instant,
}

/// The identity provider's state.
pub(crate) struct Idp {
    config: IdpConfig,
    entity_id: String,
    sso_url: String,
    slo_url: String,
    public_url: String,
    /// A key no one registered: "wrong signature" signs with it (made on first use).
    stranger: std::sync::OnceLock<Credentials>,
    pending: Mutex<HashMap<String, Pending>>,
    sp_cache: Mutex<Option<(Instant, Arc<SpMetadata>)>>,
}

impl Idp {
    pub(crate) fn new(config: IdpConfig, public_url: &str) -> Idp {
        Idp {
            config,
            public_url: public_url.to_owned(),
            entity_id: format!("{public_url}/idp"),
            sso_url: format!("{public_url}/idp/sso"),
            slo_url: format!("{public_url}/idp/slo"),
            stranger: std::sync::OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            sp_cache: Mutex::new(None),
        }
    }

    /// The signed metadata.
    pub(crate) fn metadata(&self) -> Result<String, spid::sign::SignError> {
        spid::metadata::idp_metadata(&description(&self.public_url), &self.config.credentials)
    }

    async fn sp_metadata(&self, http: &reqwest::Client) -> Result<Arc<SpMetadata>, String> {
        if let Some((at, md)) = self.sp_cache.lock().expect("sp cache").as_ref() {
            if at.elapsed() < SP_METADATA_TTL {
                return Ok(md.clone());
            }
        }
        let body = http
            .get(&self.config.sp_metadata_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("metadata del fornitore del servizio non raggiungibili: {e}"))?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let md = Arc::new(spid::metadata::parse_sp_metadata(&body).map_err(|e| e.to_string())?);
        *self.sp_cache.lock().expect("sp cache") = Some((Instant::now(), md.clone()));
        Ok(md)
    }
}

/// What the demo identity provider's metadata says, for a sandbox at `public_url`.
pub fn description(public_url: &str) -> IdpDescription {
    IdpDescription {
        entity_id: format!("{public_url}/idp"),
        sso_url: format!("{public_url}/idp/sso"),
        slo_url: format!("{public_url}/idp/slo"),
        name: "SPID di prova (sandbox)".into(),
        url: format!("{public_url}/"),
    }
}

fn idp_page(status: StatusCode, title: &str, body: &str, form_target: Option<&str>) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="it">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} – SPID di prova (sandbox)</title><link rel="stylesheet" href="/sandbox.css"></head>
<body>
<div class="banner" role="note"><strong>SANDBOX – identità di prova, nessuna identità reale</strong></div>
<header><p class="brand">SPID <span>identity provider di prova</span></p></header>
<main id="main">
<h1>{t}</h1>
{body}
</main>
</body></html>"#,
        t = esc(title),
    );
    let mut response = (status, Html(html)).into_response();
    // The identity provider's own policy: nothing from elsewhere, forms only to itself and to
    // the service provider's assertion consumer service.
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The origin (`scheme://host:port`) of a URL, for the policy's `form-action`.
fn origin(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

fn refused(code: u8, what: &str) -> Response {
    idp_page(
        StatusCode::FORBIDDEN,
        "Richiesta non accettata",
        &format!(
            "<div class=\"alert\" role=\"alert\"><p>{}</p><p>Codice SPID {code}. Contatta il gestore del servizio.</p></div>",
            esc(what)
        ),
        None,
    )
}

fn idp_of(sb: &Sandbox) -> Option<&Idp> {
    sb.inner.idp.as_ref()
}

/// `GET /idp/metadata`.
pub async fn metadata(State(sb): State<Sandbox>) -> Response {
    let Some(idp) = idp_of(&sb) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match idp.metadata() {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox IdP metadata");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A request over HTTP-Redirect whose signature verifies with the service provider's
/// certificate (its metadata fetched as a registry would), or the refusal page.
async fn signed_request(
    sb: &Sandbox,
    idp: &Idp,
    query: Option<&str>,
) -> Result<(RedirectMessage, Arc<SpMetadata>), Response> {
    let message = match RedirectMessage::parse(query.unwrap_or_default()) {
        Ok(m) if m.kind == MessageKind::Request => m,
        _ => return Err(refused(4, "Formato della richiesta non corretto.")),
    };
    let sp = idp
        .sp_metadata(&sb.inner.http)
        .await
        .map_err(|e| refused(3, &e))?;
    if message.verify(&sp.signing_certs).is_err() {
        return Err(refused(
            5,
            "Impossibile stabilire l'autenticità della richiesta.",
        ));
    }
    Ok((message, sp))
}

/// `GET /idp/sso`: an `AuthnRequest` with the HTTP-Redirect binding. Checked as a real identity
/// provider checks it; then the login page.
pub async fn sso(State(sb): State<Sandbox>, RawQuery(query): RawQuery) -> Response {
    let Some(idp) = idp_of(&sb) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (message, sp) = match signed_request(&sb, idp, query.as_deref()).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let now = OffsetDateTime::now_utc();
    let req = match spid::authn::parse_authn_request(&message.xml, now) {
        Ok(r) => r,
        Err(e) => return refused(e.code, &e.reason),
    };
    if req.issuer != sp.entity_id {
        return refused(10, "Issuer diverso dal fornitore del servizio registrato.");
    }
    if req.destination != idp.sso_url && req.destination != idp.entity_id {
        return refused(
            14,
            "Destination non corrisponde a questo identity provider.",
        );
    }
    let acs = match (req.acs_index, &req.acs_url) {
        (Some(i), _) => sp.acs.iter().find(|a| a.index == i),
        (None, Some(url)) => sp.acs.iter().find(|a| &a.location == url),
        _ => None,
    };
    let Some(acs) = acs.filter(|a| a.binding == spid::BINDING_POST) else {
        return refused(16, "AssertionConsumerService non presente nei metadata.");
    };
    let attributes = match req.attribute_index {
        Some(i) => match sp.attribute_services.iter().find(|(idx, _)| *idx == i) {
            Some((_, names)) => names.clone(),
            None => {
                return refused(
                    18,
                    "AttributeConsumingServiceIndex non presente nei metadata.",
                );
            }
        },
        None => Vec::new(),
    };
    let token = spid::new_id();
    {
        let mut pending = idp.pending.lock().expect("pending");
        pending.retain(|_, p| p.created.elapsed() < LOGIN_TIMEOUT);
        if pending.len() >= MAX_PENDING {
            return refused(
                2,
                "Sistema momentaneamente non disponibile: riprova più tardi.",
            );
        }
        pending.insert(
            token.clone(),
            Pending {
                request_id: req.id.clone(),
                relay_state: message.relay_state.clone(),
                acs_url: acs.location.clone(),
                audience: sp.entity_id.clone(),
                level: req.level,
                attributes,
                created: Instant::now(),
            },
        );
    }
    let mut identities = String::new();
    for (i, who) in TEST_IDENTITIES.iter().enumerate() {
        let _ = write!(
            identities,
            "<div><input type=\"radio\" name=\"identita\" id=\"identita-{i}\" value=\"{cf}\"{checked}> <label for=\"identita-{i}\">{n} {f} – {cf}</label></div>",
            cf = who.fiscal_code,
            n = esc(who.name),
            f = esc(who.family_name),
            checked = if i == 0 { " checked" } else { "" },
        );
    }
    let mut outcomes = String::new();
    for (i, (key, _, label)) in OUTCOMES.iter().enumerate() {
        let _ = write!(
            outcomes,
            "<div><input type=\"radio\" name=\"esito\" id=\"esito-{key}\" value=\"{key}\"{checked}> <label for=\"esito-{key}\">{label}</label></div>",
            checked = if i == 0 { " checked" } else { "" },
            label = esc(label),
        );
    }
    idp_page(
        StatusCode::OK,
        "Entra con SPID",
        &format!(
            "<p><strong>{sp}</strong> chiede di verificare la tua identità con livello SPID {level}.</p>\
             <form method=\"post\" action=\"/idp/sso/accedi\">\
             <input type=\"hidden\" name=\"richiesta\" value=\"{token}\">\
             <fieldset class=\"choice\"><legend>Identità di prova</legend>{identities}</fieldset>\
             <fieldset class=\"choice\"><legend>Esito da simulare</legend>{outcomes}</fieldset>\
             <button type=\"submit\" name=\"azione\" value=\"entra\">Entra</button>\
             <button type=\"submit\" name=\"azione\" value=\"annulla\" class=\"secondary\">Annulla</button>\
             </form>",
            sp = esc(&sp.entity_id),
            level = req.level.number(),
        ),
        None,
    )
}

/// The login form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    richiesta: String,
    #[serde(default)]
    identita: String,
    #[serde(default)]
    esito: String,
    #[serde(default)]
    azione: String,
}

/// `POST /idp/sso/accedi`: builds the response and hands it to the browser for the service
/// provider (HTTP-POST binding).
pub async fn login(State(sb): State<Sandbox>, Form(form): Form<LoginForm>) -> Response {
    let Some(idp) = idp_of(&sb) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(p) = idp
        .pending
        .lock()
        .expect("pending")
        .remove(&form.richiesta)
        .filter(|p| p.created.elapsed() < LOGIN_TIMEOUT)
    else {
        return idp_page(
            StatusCode::GONE,
            "Richiesta scaduta",
            "<p>La richiesta di accesso è scaduta o è già stata usata: torna al sito del servizio e riprova.</p>",
            None,
        );
    };
    let now = OffsetDateTime::now_utc();
    let creds = &idp.config.credentials;
    let signed = if form.azione == "annulla" {
        spid::response::error_response(&idp.entity_id, &p.request_id, &p.acs_url, now, 25, creds)
    } else {
        let Some(who) = TEST_IDENTITIES
            .iter()
            .find(|i| i.fiscal_code == form.identita)
        else {
            return idp_page(
                StatusCode::BAD_REQUEST,
                "Identità sconosciuta",
                "<p>Scegli una delle identità di prova.</p>",
                None,
            );
        };
        let outcome = OUTCOMES
            .iter()
            .find(|(k, _, _)| *k == form.esito)
            .map_or(Outcome::Ok, |(_, o, _)| *o);
        let all = [
            ("fiscalNumber", format!("TINIT-{}", who.fiscal_code)),
            ("name", who.name.to_owned()),
            ("familyName", who.family_name.to_owned()),
            ("email", who.email.to_owned()),
            ("dateOfBirth", who.date_of_birth.to_owned()),
        ];
        let attributes: Vec<(&str, String)> = all
            .into_iter()
            .filter(|(n, _)| p.attributes.iter().any(|a| a == n))
            .collect();
        let name_id = spid::new_id();
        let level = match outcome {
            Outcome::LevelTooLow => {
                Level::from_number(p.level.number().saturating_sub(1).max(1)).unwrap_or(Level::L1)
            }
            _ => p.level,
        };
        let session_index = (level == Level::L1).then(spid::new_id);
        let spec = spid::response::ResponseSpec {
            idp_entity_id: &idp.entity_id,
            in_response_to: &p.request_id,
            destination: &p.acs_url,
            audience: if outcome == Outcome::WrongAudience {
                "https://altro-ente.example/spid"
            } else {
                &p.audience
            },
            issue_instant: now,
            not_on_or_after: if outcome == Outcome::Expired {
                now - time::Duration::minutes(10)
            } else {
                now + time::Duration::minutes(5)
            },
            level,
            name_id: &name_id,
            session_index: session_index.as_deref(),
            attributes: &attributes,
        };
        let key = if outcome == Outcome::WrongSignature {
            idp.stranger.get_or_init(|| {
                Credentials::generate(
                    &spid::CertificateSubject {
                        common_name: "Chiave estranea".into(),
                        organization: "Sandbox".into(),
                        ipa_code: "sandbox".into(),
                        locality: "Roma".into(),
                        entity_id: format!("{}/estraneo", idp.public_url),
                    },
                    3650,
                )
                .expect("key generation")
            })
        } else {
            creds
        };
        spid::response::signed_response(&spec, key)
    };
    let xml = match signed {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "sandbox IdP could not sign");
            return refused(3, "Errore di sistema.");
        }
    };
    let relay = p
        .relay_state
        .as_deref()
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
                esc(r)
            )
        })
        .unwrap_or_default();
    idp_page(
        StatusCode::OK,
        "Ritorno al servizio",
        &format!(
            "<form method=\"post\" action=\"{acs}\" id=\"risposta-saml\">\
             <input type=\"hidden\" name=\"SAMLResponse\" value=\"{response}\">{relay}\
             <p>Stai per tornare al sito del servizio.</p>\
             <button type=\"submit\">Prosegui</button></form>\
             <script src=\"/idp/invio.js\"></script>",
            acs = esc(&p.acs_url),
            response = spid::binding::encode_post(&xml),
        ),
        origin(&p.acs_url),
    )
}

/// `GET /idp/invio.js`: sends the response form on its own (the button does it without
/// JavaScript).
pub async fn send_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        "document.getElementById('risposta-saml').submit();\n",
    )
        .into_response()
}

/// `GET /idp/slo`: a `LogoutRequest` from the service provider (HTTP-Redirect); answered with a
/// signed `LogoutResponse` to its single logout service.
pub async fn slo(State(sb): State<Sandbox>, RawQuery(query): RawQuery) -> Response {
    let Some(idp) = idp_of(&sb) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let message = match RedirectMessage::parse(query.as_deref().unwrap_or_default()) {
        Ok(m) if m.kind == MessageKind::Request => m,
        _ => return refused(4, "Formato della richiesta non corretto."),
    };
    let sp = match idp.sp_metadata(&sb.inner.http).await {
        Ok(sp) => sp,
        Err(e) => return refused(3, &e),
    };
    if message.verify(&sp.signing_certs).is_err() {
        return refused(
            5,
            "Impossibile stabilire l'autenticità della richiesta di logout.",
        );
    }
    let now = OffsetDateTime::now_utc();
    let id = match spid::logout::parse_logout(&message.xml, &idp.slo_url, now) {
        Ok(LogoutMessage::Request { id, issuer, .. }) if issuer == sp.entity_id => id,
        _ => return refused(8, "Richiesta di logout non conforme."),
    };
    let Some(target) = sp.slo.iter().find(|e| e.binding == spid::BINDING_REDIRECT) else {
        return refused(
            8,
            "Il fornitore del servizio non ha un SingleLogoutService HTTP-Redirect.",
        );
    };
    let destination = target
        .response_location
        .as_deref()
        .unwrap_or(&target.location);
    let xml = spid::logout::logout_response(&spid::new_id(), &id, destination, &idp.entity_id, now);
    match spid::binding::redirect_url(
        destination,
        MessageKind::Response,
        &xml,
        message.relay_state.as_deref(),
        &idp.config.credentials,
    ) {
        Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox IdP could not sign the logout response");
            refused(3, "Errore di sistema.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_identities_have_valid_fiscal_codes() {
        for who in TEST_IDENTITIES {
            let cf = pagopa::FiscalCode::parse(who.fiscal_code).unwrap();
            assert_eq!(cf.as_str(), who.fiscal_code);
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:8080/spid/acs"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("https://a.example"), Some("https://a.example"));
        assert_eq!(origin("nope"), None);
    }
}
