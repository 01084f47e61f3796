//! `Response`: written and signed by an identity provider; checked by the service provider.
//!
//! The checks of [`validate`], and who makes them. Ours (this module, against the SPID technical
//! rules, "Response", "Assertion" and "Processamento della Response"):
//! - the document: no DTD, bounded size and node count, a `samlp:Response` root;
//! - `Response`: `ID`, `Version="2.0"`, `IssueInstant` in UTC not before the request's nor after
//!   now (both with [`SKEW`]), `InResponseTo` equal to the stored request's ID, `Destination`
//!   equal to our assertion consumer service, `Issuer` equal to the identity provider's entityID
//!   with `Format` absent or `…:entity`, `Status`/`StatusCode` present; a status other than
//!   Success ends here with the identity provider's error code (19–25, 30);
//! - signatures, before any cryptography: every `ds:Signature` signs its own parent through one
//!   `Reference` to the parent's `ID`, with exclusive canonicalisation, RSA/ECDSA with SHA-2, and
//!   no transform but enveloped-signature and exclusive canonicalisation (no XPath, no XSLT); the
//!   assertion carries its own signature (a signed response alone is not enough); exactly one
//!   `Assertion`, a direct child of `Response`, and no `EncryptedAssertion`;
//! - the assertion, read only from what the signatures cover: `ID`, `Version`, `IssueInstant` as
//!   above, `Issuer` equal to the IdP with `Format` `…:entity` (optional for CIE), `NameID`
//!   transient with a `NameQualifier`, `SubjectConfirmation` bearer with `Recipient` equal to our
//!   ACS, `InResponseTo` equal to the request and `NotOnOrAfter` not passed, `Conditions` with
//!   `NotBefore` not in the future and `NotOnOrAfter` not passed, `Audience` equal to our
//!   entityID, `AuthnContextClassRef` one of SPID's levels and not below the one requested,
//!   an `AttributeStatement` (when present) with values, and the attributes we need.
//!
//! The library's (libxmlsec1 through samael): canonicalisation, digests and signature values
//! checked against the identity provider's certificates from its metadata, unique and well-formed
//! `ID`s, the algorithm allow-list enforced again inside xmlsec, and the reduction of the document
//! to the signed content (so a wrapped or injected element is never read).
//!
//! The caller's (Sportello): finding the stored request by `InResponseTo`, using it once, binding
//! it to the browser that started it, and the expiry of the request itself.

use std::collections::BTreeMap;

use roxmltree::Node;
use time::OffsetDateTime;

use crate::keys::Credentials;
use crate::metadata::IdpMetadata;
use crate::sign::{
    SignError, check_signature_shapes, sign_first_template, template, verify_and_reduce,
};
use crate::xml::{child, children, esc, is, parse, text};
use crate::{
    CM_BEARER, Federation, Level, NAMEID_ENTITY, NAMEID_TRANSIENT, NS_SAML, NS_SAMLP,
    STATUS_AUTHN_FAILED, STATUS_RESPONDER, STATUS_SUCCESS, error_code, format_instant,
    parse_instant,
};

/// The clock difference tolerated between the identity provider and us.
pub const SKEW: time::Duration = time::Duration::seconds(90);

/// What an identity provider asserts in a response.
#[derive(Debug, Clone)]
pub struct ResponseSpec<'a> {
    /// The identity provider's entityID.
    pub idp_entity_id: &'a str,
    /// The request answered.
    pub in_response_to: &'a str,
    /// The service provider's assertion consumer service.
    pub destination: &'a str,
    /// The service provider's entityID (the audience).
    pub audience: &'a str,
    /// When the response is issued.
    pub issue_instant: OffsetDateTime,
    /// Until when the assertion may be used.
    pub not_on_or_after: OffsetDateTime,
    /// The level of the authentication performed.
    pub level: Level,
    /// The transient NameID.
    pub name_id: &'a str,
    /// The session index (present at SpidL1).
    pub session_index: Option<&'a str>,
    /// Attributes released: name and value.
    pub attributes: &'a [(&'a str, String)],
}

fn attribute_type(name: &str) -> &'static str {
    match name {
        "dateOfBirth" | "expirationDate" => "xs:date",
        _ => "xs:string",
    }
}

/// The assertion of `spec`, unsigned with its signature template, and its ID.
fn assertion(spec: &ResponseSpec<'_>, creds: &Credentials) -> (String, String) {
    let id = crate::new_id();
    let instant = format_instant(spec.issue_instant);
    let attributes: String = spec
        .attributes
        .iter()
        .map(|(name, value)| {
            format!(
                "<saml:Attribute Name=\"{n}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\"><saml:AttributeValue xsi:type=\"{t}\">{v}</saml:AttributeValue></saml:Attribute>",
                n = esc(name),
                t = attribute_type(name),
                v = esc(value)
            )
        })
        .collect();
    let session_index = spec
        .session_index
        .map(|s| format!(" SessionIndex=\"{}\"", esc(s)))
        .unwrap_or_default();
    let xml = format!(
        concat!(
            "<saml:Assertion xmlns:saml=\"{saml}\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" ",
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{instant}\">",
            "<saml:Issuer Format=\"{entity}\">{idp}</saml:Issuer>",
            "{signature}",
            "<saml:Subject>",
            "<saml:NameID Format=\"{transient}\" NameQualifier=\"{idp}\">{name_id}</saml:NameID>",
            "<saml:SubjectConfirmation Method=\"{bearer}\">",
            "<saml:SubjectConfirmationData InResponseTo=\"{irt}\" NotOnOrAfter=\"{until}\" Recipient=\"{dest}\"/>",
            "</saml:SubjectConfirmation>",
            "</saml:Subject>",
            "<saml:Conditions NotBefore=\"{instant}\" NotOnOrAfter=\"{until}\">",
            "<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>",
            "</saml:Conditions>",
            "<saml:AuthnStatement AuthnInstant=\"{instant}\"{session_index}>",
            "<saml:AuthnContext><saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef></saml:AuthnContext>",
            "</saml:AuthnStatement>",
            "<saml:AttributeStatement>{attributes}</saml:AttributeStatement>",
            "</saml:Assertion>"
        ),
        saml = NS_SAML,
        id = id,
        instant = instant,
        entity = NAMEID_ENTITY,
        idp = esc(spec.idp_entity_id),
        signature = template(&id, creds),
        transient = NAMEID_TRANSIENT,
        name_id = esc(spec.name_id),
        bearer = CM_BEARER,
        irt = esc(spec.in_response_to),
        until = format_instant(spec.not_on_or_after),
        dest = esc(spec.destination),
        audience = esc(spec.audience),
        session_index = session_index,
        level = spec.level.uri(),
        attributes = attributes,
    );
    (id, xml)
}

/// The envelope of a response around `inner` (an assertion, or nothing), with a signature
/// template for the response itself.
fn envelope(
    idp_entity_id: &str,
    in_response_to: &str,
    destination: &str,
    issue_instant: OffsetDateTime,
    status: &str,
    inner: &str,
    creds: &Credentials,
) -> String {
    let id = crate::new_id();
    format!(
        concat!(
            "<samlp:Response xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
            "IssueInstant=\"{instant}\" InResponseTo=\"{irt}\" Destination=\"{dest}\">",
            "<saml:Issuer Format=\"{entity}\">{idp}</saml:Issuer>",
            "{signature}{status}{inner}",
            "</samlp:Response>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = id,
        instant = format_instant(issue_instant),
        irt = esc(in_response_to),
        dest = esc(destination),
        entity = NAMEID_ENTITY,
        idp = esc(idp_entity_id),
        signature = template(&id, creds),
        status = status,
        inner = inner,
    )
}

/// A successful response: the assertion signed, then the response signed around it.
pub fn signed_response(spec: &ResponseSpec<'_>, creds: &Credentials) -> Result<String, SignError> {
    let (_, assertion) = assertion(spec, creds);
    let signed_assertion = sign_first_template(&assertion, creds)?;
    let status =
        format!("<samlp:Status><samlp:StatusCode Value=\"{STATUS_SUCCESS}\"/></samlp:Status>");
    let xml = envelope(
        spec.idp_entity_id,
        spec.in_response_to,
        spec.destination,
        spec.issue_instant,
        &status,
        &signed_assertion,
        creds,
    );
    sign_first_template(&xml, creds)
}

/// A signed response reporting a user anomaly (`ErrorCode nrNN`, e.g. 25 when the user
/// cancels), without an assertion.
pub fn error_response(
    idp_entity_id: &str,
    in_response_to: &str,
    destination: &str,
    issue_instant: OffsetDateTime,
    code: u8,
    creds: &Credentials,
) -> Result<String, SignError> {
    let status = format!(
        concat!(
            "<samlp:Status><samlp:StatusCode Value=\"{responder}\">",
            "<samlp:StatusCode Value=\"{failed}\"/></samlp:StatusCode>",
            "<samlp:StatusMessage>ErrorCode nr{code:02}</samlp:StatusMessage></samlp:Status>"
        ),
        responder = STATUS_RESPONDER,
        failed = STATUS_AUTHN_FAILED,
        code = code,
    );
    let xml = envelope(
        idp_entity_id,
        in_response_to,
        destination,
        issue_instant,
        &status,
        "",
        creds,
    );
    sign_first_template(&xml, creds)
}

/// What the service provider expects of the response to one of its requests.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    /// The request's ID.
    pub request_id: &'a str,
    /// The request's IssueInstant.
    pub request_instant: OffsetDateTime,
    /// The identity provider the request went to.
    pub idp: &'a IdpMetadata,
    /// Our assertion consumer service URL.
    pub acs_url: &'a str,
    /// Our entityID.
    pub sp_entity_id: &'a str,
    /// The level requested (`Comparison="minimum"`).
    pub level: Level,
    /// SPID or CIE (CIE's assertions may omit the Issuer's Format).
    pub federation: Federation,
    /// Attributes that must be present.
    pub required_attributes: &'a [&'a str],
    /// Now.
    pub now: OffsetDateTime,
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The transient NameID (for single logout).
    pub name_id: String,
    /// Its NameQualifier.
    pub name_qualifier: String,
    /// The identity provider's session index, when given.
    pub session_index: Option<String>,
    /// The level actually used.
    pub level: Level,
    /// The attributes, by name (first value).
    pub attributes: BTreeMap<String, String>,
    /// Until when the assertion is valid.
    pub not_on_or_after: OffsetDateTime,
}

/// Why a response is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// It fails a check (the reason is for the log; the user sees a generic message).
    #[error("risposta SAML rifiutata: {0}")]
    Rejected(String),
    /// The identity provider reports that authentication did not happen.
    #[error("l'identity provider segnala: {status} {message}")]
    Status {
        /// The SPID error code from `StatusMessage`, when there is one.
        code: Option<u8>,
        /// The status code(s).
        status: String,
        /// The status message.
        message: String,
    },
}

fn reject(s: impl Into<String>) -> ResponseError {
    ResponseError::Rejected(s.into())
}

/// The `InResponseTo` of a response, read before anything is verified: only to find the stored
/// request, whose identity provider's certificates then verify it.
pub fn peek_in_response_to(xml: &str) -> Option<String> {
    let doc = parse(xml).ok()?;
    let root = doc.root_element();
    if !is(root, NS_SAMLP, "Response") {
        return None;
    }
    root.attribute("InResponseTo")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn instant_between(
    node: Node<'_, '_>,
    attr: &str,
    earliest: OffsetDateTime,
    latest: OffsetDateTime,
    what: &str,
) -> Result<OffsetDateTime, ResponseError> {
    let t = node
        .attribute(attr)
        .and_then(parse_instant)
        .ok_or_else(|| reject(format!("{what}: {attr} mancante o malformato")))?;
    if t < earliest || t > latest {
        return Err(reject(format!(
            "{what}: {attr} fuori dall'intervallo ammesso"
        )));
    }
    Ok(t)
}

fn issuer_is(
    node: Node<'_, '_>,
    idp: &str,
    format_required: bool,
    what: &str,
) -> Result<(), ResponseError> {
    let issuer =
        child(node, NS_SAML, "Issuer").ok_or_else(|| reject(format!("{what}: Issuer mancante")))?;
    if text(issuer) != idp {
        return Err(reject(format!(
            "{what}: Issuer diverso dall'identity provider"
        )));
    }
    match issuer.attribute("Format") {
        Some(NAMEID_ENTITY) => Ok(()),
        None if !format_required => Ok(()),
        _ => Err(reject(format!("{what}: Format dell'Issuer non valido"))),
    }
}

/// Checks a response (the XML of `SAMLResponse`) against the request it answers; see the
/// module's documentation for the list of checks and who makes each.
pub fn validate(xml: &str, e: &Expectation<'_>) -> Result<Authenticated, ResponseError> {
    let doc = parse(xml).map_err(reject)?;
    let response = doc.root_element();
    if !is(response, NS_SAMLP, "Response") {
        return Err(reject("l'elemento radice non è samlp:Response"));
    }
    let earliest = e.request_instant - SKEW;
    let latest = e.now + SKEW;
    let response_id = response
        .attribute("ID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| reject("Response: ID mancante"))?;
    if response.attribute("Version") != Some("2.0") {
        return Err(reject("Response: Version diverso da 2.0"));
    }
    instant_between(response, "IssueInstant", earliest, latest, "Response")?;
    if response.attribute("InResponseTo") != Some(e.request_id) {
        return Err(reject(
            "Response: InResponseTo non corrisponde alla richiesta",
        ));
    }
    if response.attribute("Destination") != Some(e.acs_url) {
        return Err(reject(
            "Response: Destination diverso dall'AssertionConsumerService",
        ));
    }
    issuer_is(response, &e.idp.entity_id, false, "Response")?;
    let status = child(response, NS_SAMLP, "Status").ok_or_else(|| reject("Status mancante"))?;
    let code = child(status, NS_SAMLP, "StatusCode")
        .and_then(|c| c.attribute("Value").map(|v| (c, v)))
        .filter(|(_, v)| !v.is_empty())
        .ok_or_else(|| reject("StatusCode mancante"))?;
    if code.1 != STATUS_SUCCESS {
        let mut codes = vec![code.1.to_owned()];
        codes.extend(
            children(code.0, NS_SAMLP, "StatusCode")
                .filter_map(|c| c.attribute("Value").map(str::to_owned)),
        );
        let message = child(status, NS_SAMLP, "StatusMessage")
            .map(|m| text(m).to_owned())
            .unwrap_or_default();
        return Err(ResponseError::Status {
            code: error_code(&message),
            status: codes.join(" "),
            message,
        });
    }
    if response
        .descendants()
        .any(|n| is(n, NS_SAML, "EncryptedAssertion"))
    {
        return Err(reject("asserzioni cifrate non previste"));
    }
    let assertions: Vec<_> = response
        .descendants()
        .filter(|n| is(*n, NS_SAML, "Assertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(reject("la Response deve contenere una sola Assertion"));
    };
    if assertion.parent_element() != Some(response) {
        return Err(reject("l'Assertion non è figlia della Response"));
    }
    let assertion_id = assertion
        .attribute("ID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| reject("Assertion: ID mancante"))?
        .to_owned();
    let signed = check_signature_shapes(&doc).map_err(reject)?;
    if !signed.contains(&assertion_id) {
        return Err(reject("l'Assertion non è firmata"));
    }
    if signed
        .iter()
        .any(|id| id != &assertion_id && id != response_id)
    {
        return Err(reject("firma su un elemento inatteso"));
    }
    let reduced = verify_and_reduce(xml, &e.idp.signing_certs).map_err(reject)?;
    let reduced_doc = parse(&reduced).map_err(reject)?;
    let root = reduced_doc.root_element();
    let verified = if is(root, NS_SAML, "Assertion") {
        root
    } else if is(root, NS_SAMLP, "Response") && root.attribute("ID") == Some(response_id) {
        children(root, NS_SAML, "Assertion")
            .find(|a| a.attribute("ID") == Some(assertion_id.as_str()))
            .ok_or_else(|| reject("l'Assertion firmata non è nella Response"))?
    } else {
        return Err(reject("contenuto firmato inatteso"));
    };
    if verified.attribute("ID") != Some(assertion_id.as_str()) {
        return Err(reject("l'Assertion firmata non è quella della Response"));
    }
    check_assertion(verified, e)
}

fn check_assertion(a: Node<'_, '_>, e: &Expectation<'_>) -> Result<Authenticated, ResponseError> {
    let earliest = e.request_instant - SKEW;
    let latest = e.now + SKEW;
    if a.attribute("Version") != Some("2.0") {
        return Err(reject("Assertion: Version diverso da 2.0"));
    }
    instant_between(a, "IssueInstant", earliest, latest, "Assertion")?;
    issuer_is(
        a,
        &e.idp.entity_id,
        e.federation == Federation::Spid,
        "Assertion",
    )?;

    let subject = child(a, NS_SAML, "Subject").ok_or_else(|| reject("Subject mancante"))?;
    let name_id = child(subject, NS_SAML, "NameID").ok_or_else(|| reject("NameID mancante"))?;
    if text(name_id).is_empty() {
        return Err(reject("NameID vuoto"));
    }
    if name_id.attribute("Format") != Some(NAMEID_TRANSIENT) {
        return Err(reject("NameID: Format non transient"));
    }
    let name_qualifier = name_id
        .attribute("NameQualifier")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| reject("NameID: NameQualifier mancante"))?;
    let confirmation = child(subject, NS_SAML, "SubjectConfirmation")
        .ok_or_else(|| reject("SubjectConfirmation mancante"))?;
    if confirmation.attribute("Method") != Some(CM_BEARER) {
        return Err(reject("SubjectConfirmation: Method non bearer"));
    }
    let data = child(confirmation, NS_SAML, "SubjectConfirmationData")
        .ok_or_else(|| reject("SubjectConfirmationData mancante"))?;
    if data.attribute("Recipient") != Some(e.acs_url) {
        return Err(reject(
            "SubjectConfirmationData: Recipient diverso dall'AssertionConsumerService",
        ));
    }
    if data.attribute("InResponseTo") != Some(e.request_id) {
        return Err(reject(
            "SubjectConfirmationData: InResponseTo non corrisponde alla richiesta",
        ));
    }
    let confirmation_until = instant_between(
        data,
        "NotOnOrAfter",
        e.now - SKEW,
        OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("year 9999"),
        "SubjectConfirmationData",
    )?;

    let conditions =
        child(a, NS_SAML, "Conditions").ok_or_else(|| reject("Conditions mancante"))?;
    instant_between(
        conditions,
        "NotBefore",
        OffsetDateTime::UNIX_EPOCH,
        latest,
        "Conditions",
    )?;
    let conditions_until = instant_between(
        conditions,
        "NotOnOrAfter",
        e.now - SKEW,
        OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("year 9999"),
        "Conditions",
    )?;
    let audiences: Vec<_> = children(conditions, NS_SAML, "AudienceRestriction")
        .flat_map(|r| children(r, NS_SAML, "Audience"))
        .map(text)
        .collect();
    if audiences.is_empty() {
        return Err(reject("Audience mancante"));
    }
    if !audiences.contains(&e.sp_entity_id) {
        return Err(reject("Audience diverso dal nostro entityID"));
    }

    let statement =
        child(a, NS_SAML, "AuthnStatement").ok_or_else(|| reject("AuthnStatement mancante"))?;
    let class = child(statement, NS_SAML, "AuthnContext")
        .and_then(|c| child(c, NS_SAML, "AuthnContextClassRef"))
        .ok_or_else(|| reject("AuthnContextClassRef mancante"))?;
    let level = Level::from_uri(text(class)).ok_or_else(|| reject("livello SPID non previsto"))?;
    if level < e.level {
        return Err(reject(format!(
            "livello SpidL{} inferiore a quello richiesto (SpidL{})",
            level.number(),
            e.level.number()
        )));
    }

    let mut attributes = BTreeMap::new();
    if let Some(statement) = child(a, NS_SAML, "AttributeStatement") {
        let list: Vec<_> = children(statement, NS_SAML, "Attribute").collect();
        if list.is_empty() {
            return Err(reject("AttributeStatement senza attributi"));
        }
        for attr in list {
            let name = attr.attribute("Name").unwrap_or_default();
            let value = child(attr, NS_SAML, "AttributeValue")
                .map(text)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| reject(format!("attributo {name} senza valore")))?;
            attributes
                .entry(name.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    }
    if let Some(missing) = e
        .required_attributes
        .iter()
        .find(|n| !attributes.contains_key(**n))
    {
        return Err(reject(format!("attributo {missing} mancante")));
    }
    Ok(Authenticated {
        name_id: text(name_id).to_owned(),
        name_qualifier: name_qualifier.to_owned(),
        session_index: statement.attribute("SessionIndex").map(str::to_owned),
        level,
        attributes,
        not_on_or_after: confirmation_until.min(conditions_until),
    })
}

/// Verifies a message whose signature is inside its XML (a logout message over HTTP-POST): the
/// root element must be signed, every signature well shaped and valid with one of `certs`.
pub fn verify_enveloped(xml: &str, certs: &[crate::keys::X509Certificate]) -> Result<(), String> {
    let doc = parse(xml)?;
    let signed = check_signature_shapes(&doc)?;
    let root_id = doc.root_element().attribute("ID").unwrap_or_default();
    if root_id.is_empty() || !signed.iter().any(|id| id == root_id) {
        return Err("messaggio non firmato".into());
    }
    verify_and_reduce(xml, certs).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::tests::creds;
    use crate::metadata::{IdpDescription, idp_metadata, parse_idp_metadata};

    struct Fixture {
        idp_creds: Credentials,
        idp: IdpMetadata,
        now: OffsetDateTime,
    }

    fn fixture() -> Fixture {
        let idp_creds = creds();
        let md = idp_metadata(
            &IdpDescription {
                entity_id: "https://idp.example".into(),
                sso_url: "https://idp.example/sso".into(),
                slo_url: "https://idp.example/slo".into(),
                name: "IdP".into(),
                url: "https://idp.example".into(),
            },
            &idp_creds,
        )
        .unwrap();
        Fixture {
            idp: parse_idp_metadata(&md).unwrap().remove(0),
            idp_creds,
            now: OffsetDateTime::now_utc(),
        }
    }

    fn attrs() -> Vec<(&'static str, String)> {
        vec![
            ("fiscalNumber", "TINIT-RSSMRA80A01H501U".into()),
            ("name", "Mario".into()),
            ("familyName", "Rossi".into()),
            ("dateOfBirth", "1980-01-01".into()),
        ]
    }

    fn spec<'a>(f: &'a Fixture, attributes: &'a [(&'a str, String)]) -> ResponseSpec<'a> {
        ResponseSpec {
            idp_entity_id: "https://idp.example",
            in_response_to: "_req",
            destination: "https://sp.example.it/spid/acs",
            audience: "https://sp.example.it",
            issue_instant: f.now,
            not_on_or_after: f.now + time::Duration::minutes(5),
            level: Level::L2,
            name_id: "_nameid",
            session_index: Some("_s1"),
            attributes,
        }
    }

    fn expect(f: &Fixture) -> Expectation<'_> {
        Expectation {
            request_id: "_req",
            request_instant: f.now,
            idp: &f.idp,
            acs_url: "https://sp.example.it/spid/acs",
            sp_entity_id: "https://sp.example.it",
            level: Level::L2,
            federation: Federation::Spid,
            required_attributes: &["fiscalNumber", "name", "familyName"],
            now: f.now,
        }
    }

    #[test]
    fn a_good_response_is_accepted() {
        let f = fixture();
        let a = attrs();
        let xml = signed_response(&spec(&f, &a), &f.idp_creds).unwrap();
        assert_eq!(peek_in_response_to(&xml).as_deref(), Some("_req"));
        let ok = validate(&xml, &expect(&f)).unwrap();
        assert_eq!(ok.attributes["fiscalNumber"], "TINIT-RSSMRA80A01H501U");
        assert_eq!(ok.level, Level::L2);
        assert_eq!(ok.name_id, "_nameid");
        assert_eq!(ok.session_index.as_deref(), Some("_s1"));
    }

    #[test]
    fn every_deviation_is_rejected() {
        let f = fixture();
        let a = attrs();
        let base = spec(&f, &a);
        let rejected = |s: ResponseSpec<'_>, creds: &Credentials| {
            let xml = signed_response(&s, creds).unwrap();
            matches!(validate(&xml, &expect(&f)), Err(ResponseError::Rejected(_)))
        };
        let other = creds();
        assert!(rejected(base.clone(), &other), "signed by another key");
        assert!(rejected(
            ResponseSpec {
                audience: "https://evil",
                ..base.clone()
            },
            &f.idp_creds
        ));
        assert!(rejected(
            ResponseSpec {
                level: Level::L1,
                ..base.clone()
            },
            &f.idp_creds
        ));
        assert!(rejected(
            ResponseSpec {
                not_on_or_after: f.now - time::Duration::minutes(10),
                ..base.clone()
            },
            &f.idp_creds
        ));
        assert!(rejected(
            ResponseSpec {
                in_response_to: "_other",
                ..base.clone()
            },
            &f.idp_creds
        ));
        assert!(rejected(
            ResponseSpec {
                destination: "https://evil/acs",
                ..base.clone()
            },
            &f.idp_creds
        ));
        assert!(rejected(
            ResponseSpec {
                idp_entity_id: "https://evil",
                ..base.clone()
            },
            &f.idp_creds
        ));
        let few = [("name", "Mario".to_owned())];
        assert!(rejected(
            ResponseSpec {
                attributes: &few,
                ..base.clone()
            },
            &f.idp_creds
        ));
    }

    #[test]
    fn tampering_and_wrapping_are_rejected() {
        let f = fixture();
        let a = attrs();
        let xml = signed_response(&spec(&f, &a), &f.idp_creds).unwrap();
        let tampered = xml.replace("RSSMRA80A01H501U", "BNCGLI85M41G337L");
        assert!(
            validate(&tampered, &expect(&f)).is_err(),
            "altered attribute"
        );
        // An unsigned copy of the assertion beside the signed one.
        let start = xml.find("<saml:Assertion").unwrap();
        let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        let copy = xml[start..end].replace("RSSMRA80A01H501U", "BNCGLI85M41G337L");
        let wrapped = format!("{}{}{}", &xml[..start], copy, &xml[start..]);
        assert!(validate(&wrapped, &expect(&f)).is_err(), "two assertions");
        // An XSLT transform is refused before xmlsec sees it.
        let xslt = xml.replacen(
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            1,
        );
        assert!(validate(&xslt, &expect(&f)).is_err());
    }

    #[test]
    fn an_error_status_carries_the_spid_code() {
        let f = fixture();
        let xml = error_response(
            "https://idp.example",
            "_req",
            "https://sp.example.it/spid/acs",
            f.now,
            25,
            &f.idp_creds,
        )
        .unwrap();
        match validate(&xml, &expect(&f)) {
            Err(ResponseError::Status { code, .. }) => assert_eq!(code, Some(25)),
            other => panic!("{other:?}"),
        }
    }
}
