//! The SAML bindings SPID uses: HTTP-Redirect (DEFLATE, base64, a detached signature over the
//! query string) for requests and logout messages, HTTP-POST (base64 in a form field, signature
//! inside the XML) for responses.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::MessageDigest;

use crate::keys::{Credentials, KeyError, X509Certificate};

/// Largest message accepted after decoding (a SPID response is a few kilobytes).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The redirect binding's RSA-SHA256 `SigAlg`.
pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A binding problem: the message could not be decoded or its signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Not decodable: base64, DEFLATE, UTF-8, size, missing parameter.
    #[error("messaggio SAML non leggibile: {0}")]
    Malformed(String),
    /// The query signature is missing or does not verify.
    #[error("firma del messaggio SAML non valida")]
    BadSignature,
}

/// Percent-encodes as `application/x-www-form-urlencoded` does (and as Python's `quote_plus`,
/// which validators use to rebuild the signed string): letters, digits and `-._~` stay.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes a form-encoded value.
pub fn form_decode(s: &str) -> Result<String, BindingError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| BindingError::Malformed("codifica percentuale errata".into()))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| BindingError::Malformed("testo non UTF-8".into()))
}

fn deflate_base64(xml: &str) -> String {
    B64.encode(miniz_oxide::deflate::compress_to_vec(xml.as_bytes(), 6))
}

fn inflate_base64(b64: &str) -> Result<String, BindingError> {
    let raw = B64
        .decode(b64.trim())
        .map_err(|_| BindingError::Malformed("base64 non valido".into()))?;
    let xml = miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, MAX_MESSAGE_BYTES).map_err(
        |_| BindingError::Malformed("DEFLATE non valido o messaggio troppo grande".into()),
    )?;
    String::from_utf8(xml).map_err(|_| BindingError::Malformed("testo non UTF-8".into()))
}

/// Decodes the base64 of an HTTP-POST `SAMLRequest` or `SAMLResponse` field.
pub fn decode_post(b64: &str) -> Result<String, BindingError> {
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() > MAX_MESSAGE_BYTES * 4 / 3 + 4 {
        return Err(BindingError::Malformed("messaggio troppo grande".into()));
    }
    let raw = B64
        .decode(compact)
        .map_err(|_| BindingError::Malformed("base64 non valido".into()))?;
    String::from_utf8(raw).map_err(|_| BindingError::Malformed("testo non UTF-8".into()))
}

/// Encodes an XML message for an HTTP-POST form field.
pub fn encode_post(xml: &str) -> String {
    B64.encode(xml.as_bytes())
}

/// Whether a redirect carries a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `SAMLRequest`.
    Request,
    /// `SAMLResponse`.
    Response,
}

impl MessageKind {
    fn param(self) -> &'static str {
        match self {
            MessageKind::Request => "SAMLRequest",
            MessageKind::Response => "SAMLResponse",
        }
    }
}

/// The URL that carries `xml` to `endpoint` with the HTTP-Redirect binding, signed with
/// RSA-SHA256 over `SAMLRequest|SAMLResponse=…&RelayState=…&SigAlg=…` as the binding specifies.
pub fn redirect_url(
    endpoint: &str,
    kind: MessageKind,
    xml: &str,
    relay_state: Option<&str>,
    creds: &Credentials,
) -> Result<String, KeyError> {
    let mut query = format!("{}={}", kind.param(), form_encode(&deflate_base64(xml)));
    if let Some(rs) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&form_encode(rs));
    }
    query.push_str("&SigAlg=");
    query.push_str(&form_encode(SIG_RSA_SHA256));
    let signature = creds.sign_sha256(query.as_bytes())?;
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{endpoint}{sep}{query}&Signature={}",
        form_encode(&B64.encode(signature))
    ))
}

/// A message received with the HTTP-Redirect binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    /// Request or response.
    pub kind: MessageKind,
    /// The inflated XML.
    pub xml: String,
    /// `RelayState`, when sent.
    pub relay_state: Option<String>,
    /// `SigAlg`, when sent.
    pub sig_alg: Option<String>,
    raw_signed: String,
    signature: Option<Vec<u8>>,
}

impl RedirectMessage {
    /// Reads a raw query string (as received, still encoded: the signature covers the encoded
    /// form).
    pub fn parse(raw_query: &str) -> Result<RedirectMessage, BindingError> {
        if raw_query.len() > MAX_MESSAGE_BYTES * 2 {
            return Err(BindingError::Malformed("richiesta troppo grande".into()));
        }
        let mut message: Option<(MessageKind, &str)> = None;
        let (mut relay, mut alg, mut sig) = (None, None, None);
        for pair in raw_query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "SAMLRequest" | "SAMLResponse" => {
                    if message.is_some() {
                        return Err(BindingError::Malformed("messaggio ripetuto".into()));
                    }
                    let kind = if k == "SAMLRequest" {
                        MessageKind::Request
                    } else {
                        MessageKind::Response
                    };
                    message = Some((kind, v));
                    continue;
                }
                "RelayState" => &mut relay,
                "SigAlg" => &mut alg,
                "Signature" => &mut sig,
                _ => continue,
            };
            if slot.replace(v).is_some() {
                return Err(BindingError::Malformed(format!("{k} ripetuto")));
            }
        }
        let (kind, raw_message) =
            message.ok_or_else(|| BindingError::Malformed("SAMLRequest mancante".into()))?;
        let mut raw_signed = format!("{}={raw_message}", kind.param());
        if let Some(rs) = relay {
            raw_signed.push_str("&RelayState=");
            raw_signed.push_str(rs);
        }
        if let Some(a) = alg {
            raw_signed.push_str("&SigAlg=");
            raw_signed.push_str(a);
        }
        let signature = match sig {
            Some(s) => Some(
                B64.decode(form_decode(s)?.trim())
                    .map_err(|_| BindingError::Malformed("firma non in base64".into()))?,
            ),
            None => None,
        };
        Ok(RedirectMessage {
            kind,
            xml: inflate_base64(&form_decode(raw_message)?)?,
            relay_state: relay.map(form_decode).transpose()?,
            sig_alg: alg.map(form_decode).transpose()?,
            raw_signed,
            signature,
        })
    }

    /// Verifies the detached signature with one of `certs`.
    pub fn verify(&self, certs: &[X509Certificate]) -> Result<(), BindingError> {
        let digest = match self.sig_alg.as_deref() {
            Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
            | Some("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256") => {
                MessageDigest::sha256()
            }
            Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha384")
            | Some("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384") => {
                MessageDigest::sha384()
            }
            Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512")
            | Some("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512") => {
                MessageDigest::sha512()
            }
            _ => return Err(BindingError::BadSignature),
        };
        let sig = self.signature.as_ref().ok_or(BindingError::BadSignature)?;
        if certs
            .iter()
            .any(|c| c.verify(digest, self.raw_signed.as_bytes(), sig))
        {
            Ok(())
        } else {
            Err(BindingError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::CertificateSubject;

    fn creds() -> Credentials {
        Credentials::generate(
            &CertificateSubject {
                common_name: "t".into(),
                organization: "t".into(),
                ipa_code: "t".into(),
                locality: "t".into(),
                entity_id: "https://t".into(),
            },
            1,
        )
        .unwrap()
    }

    #[test]
    fn form_encoding_matches_quote_plus() {
        assert_eq!(form_encode("a+b/c=d e~"), "a%2Bb%2Fc%3Dd+e~");
        assert_eq!(
            form_encode(SIG_RSA_SHA256),
            "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
        );
        assert_eq!(form_decode("a%2Bb+c").unwrap(), "a+b c");
        assert!(form_decode("%zz").is_err());
    }

    #[test]
    fn a_signed_redirect_round_trips_and_tampering_is_caught() {
        let c = creds();
        let url = redirect_url(
            "https://idp.example/sso",
            MessageKind::Request,
            "<samlp:AuthnRequest ID=\"_1\"/>",
            Some("abc123"),
            &c,
        )
        .unwrap();
        let query = url.split_once('?').unwrap().1;
        let m = RedirectMessage::parse(query).unwrap();
        assert_eq!(m.kind, MessageKind::Request);
        assert_eq!(m.xml, "<samlp:AuthnRequest ID=\"_1\"/>");
        assert_eq!(m.relay_state.as_deref(), Some("abc123"));
        m.verify(std::slice::from_ref(c.certificate())).unwrap();
        assert_eq!(
            m.verify(std::slice::from_ref(creds().certificate())),
            Err(BindingError::BadSignature),
            "another key"
        );
        let tampered = query.replace("RelayState=abc123", "RelayState=abc124");
        assert_eq!(
            RedirectMessage::parse(&tampered)
                .unwrap()
                .verify(std::slice::from_ref(c.certificate())),
            Err(BindingError::BadSignature)
        );
        let unsigned = query.split("&Signature=").next().unwrap();
        assert_eq!(
            RedirectMessage::parse(unsigned)
                .unwrap()
                .verify(std::slice::from_ref(c.certificate())),
            Err(BindingError::BadSignature)
        );
    }

    #[test]
    fn oversized_and_garbage_messages_are_refused() {
        assert!(RedirectMessage::parse("RelayState=x").is_err());
        assert!(RedirectMessage::parse("SAMLRequest=%%%").is_err());
        let bomb = B64.encode(miniz_oxide::deflate::compress_to_vec(
            &vec![b'a'; MAX_MESSAGE_BYTES + 10],
            6,
        ));
        assert!(RedirectMessage::parse(&format!("SAMLRequest={}", form_encode(&bomb))).is_err());
        assert!(decode_post("!!!").is_err());
        assert_eq!(decode_post(&encode_post("<a/>")).unwrap(), "<a/>");
    }
}
