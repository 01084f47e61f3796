//! `AuthnRequest`: written by the service provider as the SPID rules describe it, read and
//! checked by an identity provider (the demo IdP makes the checks a real one makes).

use time::OffsetDateTime;

use crate::xml::{child, esc, is, parse, text};
use crate::{
    Level, NAMEID_ENTITY, NAMEID_TRANSIENT, NS_SAML, NS_SAMLP, format_instant, parse_instant,
};

/// A request to write.
#[derive(Debug, Clone)]
pub struct AuthnRequestSpec<'a> {
    /// Its ID (single use; the response must answer it).
    pub id: &'a str,
    /// When it is issued.
    pub issue_instant: OffsetDateTime,
    /// The identity provider's single sign-on URL.
    pub destination: &'a str,
    /// The service provider's entityID (Issuer and its NameQualifier).
    pub sp_entity_id: &'a str,
    /// The level asked for, with `Comparison="minimum"`.
    pub level: Level,
    /// Index of the AssertionConsumerService in the metadata.
    pub acs_index: u16,
    /// Index of the AttributeConsumingService in the metadata.
    pub attribute_index: u16,
}

/// The `AuthnRequest` XML (unsigned: the HTTP-Redirect binding signs the query string).
///
/// `ForceAuthn="true"` above SpidL1 as the rules require; `NameIDPolicy` transient without
/// `AllowCreate` (Avviso 5); no `IsPassive`.
pub fn authn_request(spec: &AuthnRequestSpec<'_>) -> String {
    let force = if spec.level > Level::L1 {
        " ForceAuthn=\"true\""
    } else {
        ""
    };
    format!(
        concat!(
            "<samlp:AuthnRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" ",
            "Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\"{force} ",
            "AssertionConsumerServiceIndex=\"{acs}\" AttributeConsumingServiceIndex=\"{attrs}\">",
            "<saml:Issuer Format=\"{entity_fmt}\" NameQualifier=\"{sp}\">{sp}</saml:Issuer>",
            "<samlp:NameIDPolicy Format=\"{transient}\"/>",
            "<samlp:RequestedAuthnContext Comparison=\"minimum\">",
            "<saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef>",
            "</samlp:RequestedAuthnContext>",
            "</samlp:AuthnRequest>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = esc(spec.id),
        instant = format_instant(spec.issue_instant),
        dest = esc(spec.destination),
        force = force,
        acs = spec.acs_index,
        attrs = spec.attribute_index,
        entity_fmt = NAMEID_ENTITY,
        sp = esc(spec.sp_entity_id),
        transient = NAMEID_TRANSIENT,
        level = spec.level.uri(),
    )
}

/// A received `AuthnRequest`, as an identity provider reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAuthnRequest {
    /// `ID`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`.
    pub destination: String,
    /// The Issuer (the service provider's entityID).
    pub issuer: String,
    /// `AssertionConsumerServiceIndex`, when given.
    pub acs_index: Option<u16>,
    /// `AssertionConsumerServiceURL`, when given.
    pub acs_url: Option<String>,
    /// `AttributeConsumingServiceIndex`, when given.
    pub attribute_index: Option<u16>,
    /// `ForceAuthn` is true.
    pub force_authn: bool,
    /// The requested level.
    pub level: Level,
    /// The `Comparison` of `RequestedAuthnContext`.
    pub comparison: String,
}

/// Why an identity provider refuses a request, with the SPID error code (rules, "Anomalie delle
/// richieste").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ErrorCode nr{code:02}: {reason}")]
pub struct RequestError {
    /// The SPID error code (8–18).
    pub code: u8,
    /// What is wrong.
    pub reason: String,
}

fn refuse(code: u8, reason: impl Into<String>) -> RequestError {
    RequestError {
        code,
        reason: reason.into(),
    }
}

/// Reads an `AuthnRequest` and checks what the SPID rules require of its form (the signature and
/// the service provider's metadata are the caller's to check).
pub fn parse_authn_request(
    xml: &str,
    now: OffsetDateTime,
) -> Result<ReceivedAuthnRequest, RequestError> {
    let doc = parse(xml).map_err(|e| refuse(8, e))?;
    let req = doc.root_element();
    if !is(req, NS_SAMLP, "AuthnRequest") {
        return Err(refuse(8, "non è una AuthnRequest"));
    }
    if req.attribute("Version") != Some("2.0") {
        return Err(refuse(9, "Version diverso da 2.0"));
    }
    let id = req
        .attribute("ID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| refuse(11, "ID mancante"))?
        .to_owned();
    let issue_instant = req
        .attribute("IssueInstant")
        .and_then(parse_instant)
        .ok_or_else(|| refuse(13, "IssueInstant mancante o malformato"))?;
    let skew = time::Duration::minutes(5);
    if issue_instant > now + skew || issue_instant < now - skew {
        return Err(refuse(
            13,
            "IssueInstant non coerente con l'orario di arrivo",
        ));
    }
    let destination = req
        .attribute("Destination")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| refuse(14, "Destination mancante"))?
        .to_owned();
    if req
        .attribute("IsPassive")
        .is_some_and(|v| v == "true" || v == "1")
    {
        return Err(refuse(15, "IsPassive presente"));
    }
    let issuer_node = child(req, NS_SAML, "Issuer").ok_or_else(|| refuse(10, "Issuer mancante"))?;
    let issuer = text(issuer_node).to_owned();
    if issuer.is_empty()
        || issuer_node
            .attribute("Format")
            .is_some_and(|f| f != NAMEID_ENTITY)
        || issuer_node.attribute("NameQualifier").is_none()
    {
        return Err(refuse(10, "Issuer malformato"));
    }
    let index = |name: &str, code: u8| -> Result<Option<u16>, RequestError> {
        req.attribute(name)
            .map(|v| {
                v.parse::<u16>()
                    .map_err(|_| refuse(code, format!("{name} malformato")))
            })
            .transpose()
    };
    let acs_index = index("AssertionConsumerServiceIndex", 16)?;
    let acs_url = req
        .attribute("AssertionConsumerServiceURL")
        .map(str::to_owned);
    let binding = req.attribute("ProtocolBinding");
    match (acs_index, &acs_url, binding) {
        (Some(_), None, None) => {}
        (None, Some(_), Some(crate::BINDING_POST)) => {}
        _ => {
            return Err(refuse(
                16,
                "AssertionConsumerService non correttamente valorizzato",
            ));
        }
    }
    let attribute_index = index("AttributeConsumingServiceIndex", 18)?;
    let policy = child(req, NS_SAMLP, "NameIDPolicy")
        .and_then(|p| p.attribute("Format"))
        .ok_or_else(|| refuse(17, "NameIDPolicy mancante"))?;
    if policy != NAMEID_TRANSIENT {
        return Err(refuse(17, "NameIDPolicy non transient"));
    }
    let context = child(req, NS_SAMLP, "RequestedAuthnContext")
        .ok_or_else(|| refuse(12, "RequestedAuthnContext mancante"))?;
    let comparison = context
        .attribute("Comparison")
        .unwrap_or("exact")
        .to_owned();
    if !matches!(
        comparison.as_str(),
        "exact" | "minimum" | "better" | "maximum"
    ) {
        return Err(refuse(12, "Comparison non valido"));
    }
    let level = child(context, NS_SAML, "AuthnContextClassRef")
        .and_then(|n| Level::from_uri(text(n)))
        .ok_or_else(|| refuse(12, "livello SPID non previsto"))?;
    let force_authn = matches!(req.attribute("ForceAuthn"), Some("true") | Some("1"));
    if level > Level::L1 && !force_authn {
        return Err(refuse(8, "ForceAuthn obbligatorio oltre SpidL1"));
    }
    Ok(ReceivedAuthnRequest {
        id,
        issue_instant,
        destination,
        issuer,
        acs_index,
        acs_url,
        attribute_index,
        force_authn,
        level,
        comparison,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(now: OffsetDateTime) -> String {
        authn_request(&AuthnRequestSpec {
            id: "_abc",
            issue_instant: now,
            destination: "https://idp.example/sso",
            sp_entity_id: "https://sp.example.it",
            level: Level::L2,
            acs_index: 0,
            attribute_index: 0,
        })
    }

    #[test]
    fn a_written_request_reads_back() {
        let now = OffsetDateTime::now_utc();
        let r = parse_authn_request(&spec(now), now).unwrap();
        assert_eq!(r.id, "_abc");
        assert_eq!(r.issuer, "https://sp.example.it");
        assert_eq!(r.level, Level::L2);
        assert!(r.force_authn);
        assert_eq!(r.acs_index, Some(0));
        assert_eq!(r.comparison, "minimum");
        let l1 = authn_request(&AuthnRequestSpec {
            level: Level::L1,
            ..AuthnRequestSpec {
                id: "_x",
                issue_instant: now,
                destination: "d",
                sp_entity_id: "s",
                level: Level::L1,
                acs_index: 0,
                attribute_index: 0,
            }
        });
        assert!(!l1.contains("ForceAuthn"));
    }

    #[test]
    fn the_checks_of_a_real_idp_give_spid_error_codes() {
        let now = OffsetDateTime::now_utc();
        let good = spec(now);
        let code = |xml: &str| parse_authn_request(xml, now).unwrap_err().code;
        assert_eq!(code(&good.replace("Version=\"2.0\"", "Version=\"1.0\"")), 9);
        assert_eq!(code(&good.replace("ID=\"_abc\"", "ID=\"\"")), 11);
        assert_eq!(
            code(&good.replace(
                "https://www.spid.gov.it/SpidL2",
                "urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL2"
            )),
            12
        );
        assert_eq!(
            parse_authn_request(&good, now + time::Duration::hours(1))
                .unwrap_err()
                .code,
            13
        );
        assert_eq!(code(&good.replace(" ForceAuthn=\"true\"", "")), 8);
        assert_eq!(code(&good.replace("transient", "persistent")), 17);
        assert_eq!(
            code(&good.replace("AssertionConsumerServiceIndex=\"0\"", "")),
            16
        );
        assert_eq!(code("<x/>"), 8);
    }
}
