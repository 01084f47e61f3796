//! SPID and CIE on SAML 2.0, for both sides of the federation: the service provider (Sportello)
//! and an identity provider (the sandbox's demo IdP). Pure codecs and checks, no I/O: metadata,
//! `AuthnRequest`, `Response`, single logout, the HTTP-Redirect and HTTP-POST bindings.
//!
//! What is ours and what is the library's: XML signatures are made and verified by libxmlsec1
//! through `samael` (canonicalisation, digests, RSA); keys, certificates and the redirect
//! binding's detached signatures by OpenSSL. Everything SPID-specific — the shape of metadata
//! and requests, and every check of the technical rules on a response (see [`response`]) — is
//! written here, against the rules and AgID's notices, and exercised by `spid-sp-test`.

pub mod authn;
pub mod binding;
pub mod keys;
pub mod logout;
pub mod metadata;
pub mod response;
pub mod sign;
mod xml;

pub use keys::{CertificateSubject, Credentials, KeyError, X509Certificate};
pub use xml::{format_instant, new_id, parse_instant};

/// SAML 2.0 metadata.
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// SAML 2.0 assertions.
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol.
pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// XML digital signatures.
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// SPID's metadata extensions.
pub const NS_SPID: &str = "https://spid.gov.it/saml-extensions";
/// CIE's metadata extensions.
pub const NS_CIE: &str = "https://www.cartaidentita.interno.gov.it/saml-extensions";

/// The HTTP-POST binding.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Transient name identifiers, the only ones SPID uses.
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// The format of an entity's issuer.
pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// Bearer subject confirmation.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Top-level status: success.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Top-level status: the responder failed.
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
/// Top-level status: the requester's message was wrong.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// Second-level status: authentication failed.
pub const STATUS_AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";

/// Which federation an identity provider (and a metadata profile) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Federation {
    /// SPID, the public digital identity system.
    Spid,
    /// CIE, the electronic identity card (CieID, SAML profile).
    Cie,
}

impl Federation {
    /// `spid` or `cie`, for URLs and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Federation::Spid => "spid",
            Federation::Cie => "cie",
        }
    }
}

/// A SPID authentication level (CIE uses the same classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// SpidL1: a password.
    L1,
    /// SpidL2: a second factor.
    L2,
    /// SpidL3: a smart card or equivalent.
    L3,
}

impl Level {
    /// The authentication context class of this level.
    pub fn uri(self) -> &'static str {
        match self {
            Level::L1 => "https://www.spid.gov.it/SpidL1",
            Level::L2 => "https://www.spid.gov.it/SpidL2",
            Level::L3 => "https://www.spid.gov.it/SpidL3",
        }
    }

    /// The level of an authentication context class; only SPID's current URIs count (the old
    /// `urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL*` ones are refused, as the rules require).
    pub fn from_uri(uri: &str) -> Option<Level> {
        match uri.trim() {
            "https://www.spid.gov.it/SpidL1" => Some(Level::L1),
            "https://www.spid.gov.it/SpidL2" => Some(Level::L2),
            "https://www.spid.gov.it/SpidL3" => Some(Level::L3),
            _ => None,
        }
    }

    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            Level::L1 => 1,
            Level::L2 => 2,
            Level::L3 => 3,
        }
    }

    /// The level numbered 1, 2 or 3.
    pub fn from_number(n: u8) -> Option<Level> {
        match n {
            1 => Some(Level::L1),
            2 => Some(Level::L2),
            3 => Some(Level::L3),
            _ => None,
        }
    }
}

/// The messages AgID asks service providers to show for the user anomalies an identity
/// provider reports in `StatusMessage` as `ErrorCode nrNN` (SPID technical rules, "Messaggi di
/// errore", codes 19–25 and 30; 24 is reserved).
pub fn user_anomaly_message(code: u8) -> Option<&'static str> {
    Some(match code {
        19 => {
            "Autenticazione fallita per ripetuta sottomissione di credenziali errate (superato numero tentativi secondo le policy adottate)."
        }
        20 => {
            "Utente privo di credenziali compatibili con il livello richiesto dal fornitore del servizio."
        }
        21 => "Timeout durante l'autenticazione utente.",
        22 => "Utente nega il consenso all'invio di dati al fornitore del servizio.",
        23 => "Utente con identità sospesa/revocata o con credenziali bloccate.",
        25 => "Processo di autenticazione annullato dall'utente.",
        30 => {
            "Tentativo dell'utente di utilizzare una tipologia di identità digitale diversa da quanto richiesto dal fornitore del servizio."
        }
        _ => return None,
    })
}

/// The SPID error code in a `StatusMessage` such as `ErrorCode nr19`.
pub fn error_code(status_message: &str) -> Option<u8> {
    let rest = status_message.trim().strip_prefix("ErrorCode nr")?;
    rest.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_old_uris_are_refused() {
        for l in [Level::L1, Level::L2, Level::L3] {
            assert_eq!(Level::from_uri(l.uri()), Some(l));
            assert_eq!(Level::from_number(l.number()), Some(l));
        }
        assert_eq!(
            Level::from_uri("urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL1"),
            None
        );
        assert!(Level::L1 < Level::L2 && Level::L2 < Level::L3);
    }

    #[test]
    fn error_codes_and_their_messages() {
        assert_eq!(error_code("ErrorCode nr19"), Some(19));
        assert_eq!(error_code(" ErrorCode nr25 "), Some(25));
        assert_eq!(error_code("qualcosa"), None);
        for code in [19, 20, 21, 22, 23, 25, 30] {
            assert!(user_anomaly_message(code).is_some(), "{code}");
        }
        assert_eq!(user_anomaly_message(24), None, "24 is reserved");
    }
}
