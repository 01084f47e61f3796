//! Single logout: `LogoutRequest` and `LogoutResponse`, written and read by both sides.

use time::OffsetDateTime;

use crate::xml::{child, esc, is, parse, text};
use crate::{
    NAMEID_ENTITY, NAMEID_TRANSIENT, NS_SAML, NS_SAMLP, STATUS_SUCCESS, format_instant,
    parse_instant,
};

/// A `LogoutRequest` to write.
#[derive(Debug, Clone)]
pub struct LogoutRequestSpec<'a> {
    /// Its ID.
    pub id: &'a str,
    /// When.
    pub issue_instant: OffsetDateTime,
    /// The other party's single logout URL.
    pub destination: &'a str,
    /// Our entityID.
    pub issuer: &'a str,
    /// The NameID of the session.
    pub name_id: &'a str,
    /// Its NameQualifier.
    pub name_qualifier: &'a str,
    /// The session index, when known.
    pub session_index: Option<&'a str>,
}

/// The `LogoutRequest` XML (unsigned: the redirect binding signs it).
pub fn logout_request(spec: &LogoutRequestSpec<'_>) -> String {
    let session_index = spec
        .session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", esc(s)))
        .unwrap_or_default();
    format!(
        concat!(
            "<samlp:LogoutRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
            "IssueInstant=\"{instant}\" Destination=\"{dest}\">",
            "<saml:Issuer Format=\"{entity}\" NameQualifier=\"{issuer}\">{issuer}</saml:Issuer>",
            "<saml:NameID Format=\"{transient}\" NameQualifier=\"{nq}\">{name_id}</saml:NameID>",
            "{session_index}",
            "</samlp:LogoutRequest>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = esc(spec.id),
        instant = format_instant(spec.issue_instant),
        dest = esc(spec.destination),
        entity = NAMEID_ENTITY,
        issuer = esc(spec.issuer),
        transient = NAMEID_TRANSIENT,
        nq = esc(spec.name_qualifier),
        name_id = esc(spec.name_id),
        session_index = session_index,
    )
}

/// The `LogoutResponse` XML (unsigned: the redirect binding signs it).
pub fn logout_response(
    id: &str,
    in_response_to: &str,
    destination: &str,
    issuer: &str,
    issue_instant: OffsetDateTime,
) -> String {
    format!(
        concat!(
            "<samlp:LogoutResponse xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" Version=\"2.0\" ",
            "IssueInstant=\"{instant}\" InResponseTo=\"{irt}\" Destination=\"{dest}\">",
            "<saml:Issuer Format=\"{entity}\" NameQualifier=\"{issuer}\">{issuer}</saml:Issuer>",
            "<samlp:Status><samlp:StatusCode Value=\"{success}\"/></samlp:Status>",
            "</samlp:LogoutResponse>"
        ),
        samlp = NS_SAMLP,
        saml = NS_SAML,
        id = esc(id),
        instant = format_instant(issue_instant),
        irt = esc(in_response_to),
        dest = esc(destination),
        entity = NAMEID_ENTITY,
        issuer = esc(issuer),
        success = STATUS_SUCCESS,
    )
}

/// A logout message read from the other party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutMessage {
    /// It asks us to end a session.
    Request {
        /// Its ID (our response answers it).
        id: String,
        /// Who sent it.
        issuer: String,
        /// The session's NameID.
        name_id: String,
        /// The session indexes named.
        session_indexes: Vec<String>,
    },
    /// It answers our request.
    Response {
        /// The request answered.
        in_response_to: String,
        /// Who sent it.
        issuer: String,
        /// Whether the logout succeeded.
        success: bool,
    },
}

impl LogoutMessage {
    /// Who sent it.
    pub fn issuer(&self) -> &str {
        match self {
            LogoutMessage::Request { issuer, .. } | LogoutMessage::Response { issuer, .. } => {
                issuer
            }
        }
    }
}

/// Reads a `LogoutRequest` or a `LogoutResponse`, checking its form and that it is meant for
/// `destination` and fresh at `now`.
pub fn parse_logout(
    xml: &str,
    destination: &str,
    now: OffsetDateTime,
) -> Result<LogoutMessage, String> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if root.attribute("Version") != Some("2.0") {
        return Err("Version diverso da 2.0".into());
    }
    if root
        .attribute("Destination")
        .is_some_and(|d| d != destination)
    {
        return Err("Destination non è il nostro SingleLogoutService".into());
    }
    let instant = root
        .attribute("IssueInstant")
        .and_then(parse_instant)
        .ok_or("IssueInstant mancante o malformato")?;
    let skew = time::Duration::minutes(5);
    if instant > now + skew || instant < now - skew {
        return Err("IssueInstant fuori dall'intervallo ammesso".into());
    }
    let issuer = child(root, NS_SAML, "Issuer")
        .map(|i| text(i).to_owned())
        .filter(|i| !i.is_empty())
        .ok_or("Issuer mancante")?;
    if is(root, NS_SAMLP, "LogoutRequest") {
        let id = root
            .attribute("ID")
            .filter(|s| !s.is_empty())
            .ok_or("ID mancante")?
            .to_owned();
        let name_id = child(root, NS_SAML, "NameID")
            .map(|n| text(n).to_owned())
            .filter(|n| !n.is_empty())
            .ok_or("NameID mancante")?;
        let session_indexes = root
            .children()
            .filter(|n| is(*n, NS_SAMLP, "SessionIndex"))
            .map(|n| text(n).to_owned())
            .collect();
        Ok(LogoutMessage::Request {
            id,
            issuer,
            name_id,
            session_indexes,
        })
    } else if is(root, NS_SAMLP, "LogoutResponse") {
        let in_response_to = root
            .attribute("InResponseTo")
            .filter(|s| !s.is_empty())
            .ok_or("InResponseTo mancante")?
            .to_owned();
        let success = child(root, NS_SAMLP, "Status")
            .and_then(|s| child(s, NS_SAMLP, "StatusCode"))
            .and_then(|c| c.attribute("Value"))
            == Some(STATUS_SUCCESS);
        Ok(LogoutMessage::Response {
            in_response_to,
            issuer,
            success,
        })
    } else {
        Err("né LogoutRequest né LogoutResponse".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let now = OffsetDateTime::now_utc();
        let req = logout_request(&LogoutRequestSpec {
            id: "_l1",
            issue_instant: now,
            destination: "https://idp/slo",
            issuer: "https://sp",
            name_id: "_n",
            name_qualifier: "https://idp",
            session_index: Some("_s"),
        });
        assert_eq!(
            parse_logout(&req, "https://idp/slo", now).unwrap(),
            LogoutMessage::Request {
                id: "_l1".into(),
                issuer: "https://sp".into(),
                name_id: "_n".into(),
                session_indexes: vec!["_s".into()],
            }
        );
        assert!(parse_logout(&req, "https://other/slo", now).is_err());
        assert!(parse_logout(&req, "https://idp/slo", now + time::Duration::hours(1)).is_err());
        let resp = logout_response("_r", "_l1", "https://sp/slo", "https://idp", now);
        assert_eq!(
            parse_logout(&resp, "https://sp/slo", now).unwrap(),
            LogoutMessage::Response {
                in_response_to: "_l1".into(),
                issuer: "https://idp".into(),
                success: true,
            }
        );
    }
}
