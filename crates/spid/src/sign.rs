//! Enveloped XML signatures (metadata, assertions, responses, POST-bound messages): we write the
//! `ds:Signature` template as SPID wants it (exclusive canonicalisation, RSA-SHA256, SHA-256,
//! the certificate in `KeyInfo`); libxmlsec1, through samael, computes digest and signature.

use samael::crypto::{CryptoProvider, XmlSec};

use crate::keys::{Credentials, KeyError};
use crate::xml::esc;

/// RSA-SHA256.
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// SHA-256.
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// Exclusive canonicalisation without comments.
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform.
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// The `ds:Signature` template for the element whose `ID` is `id`.
pub(crate) fn template(id: &str, creds: &Credentials) -> String {
    format!(
        concat!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
            "<ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>",
            "<ds:SignatureMethod Algorithm=\"{alg}\"/>",
            "<ds:Reference URI=\"#{id}\">",
            "<ds:Transforms>",
            "<ds:Transform Algorithm=\"{env}\"/>",
            "<ds:Transform Algorithm=\"{c14n}\"/>",
            "</ds:Transforms>",
            "<ds:DigestMethod Algorithm=\"{digest}\"/>",
            "<ds:DigestValue></ds:DigestValue>",
            "</ds:Reference>",
            "</ds:SignedInfo>",
            "<ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            "</ds:Signature>"
        ),
        c14n = EXC_C14N,
        alg = RSA_SHA256,
        env = ENVELOPED,
        digest = SHA256,
        id = esc(id),
        cert = creds.certificate().base64(),
    )
}

/// A signing failure.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key could not be exported.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// libxmlsec1 refused.
    #[error("XML signature failed: {0}")]
    Xmlsec(String),
}

/// Signs the first `ds:Signature` template in `xml` (document order) and returns the document
/// without its XML declaration, ready to be served or embedded.
pub(crate) fn sign_first_template(xml: &str, creds: &Credentials) -> Result<String, SignError> {
    let key = creds.key_der()?;
    let signed = XmlSec::sign_xml(xml, &key).map_err(|e| SignError::Xmlsec(e.to_string()))?;
    Ok(strip_declaration(&signed).to_owned())
}

/// The document without a leading `<?xml …?>` declaration and whitespace.
pub(crate) fn strip_declaration(xml: &str) -> &str {
    let t = xml.trim_start();
    match t.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(t, |(_, after)| after.trim_start()),
        None => t,
    }
}

/// Signature algorithms accepted on received messages: RSA or ECDSA with SHA-2 (SHA-256 or
/// stronger, as the rules require).
const ACCEPTED_SIGNATURES: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const ACCEPTED_DIGESTS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Checks the shape of every `ds:Signature` in a received document before any cryptography:
/// each signs exactly its parent element (one `Reference` to the parent's `ID`), with exclusive
/// canonicalisation, an accepted algorithm and digest, and only the enveloped-signature and
/// exclusive-canonicalisation transforms (no XPath, no XSLT: the "XSLT attack" never reaches
/// libxmlsec1). Returns the IDs of the signed elements.
pub(crate) fn check_signature_shapes(doc: &roxmltree::Document<'_>) -> Result<Vec<String>, String> {
    use crate::NS_DS;
    use crate::xml::{child, children, is};
    let mut signed = Vec::new();
    for sig in doc.descendants().filter(|n| is(*n, NS_DS, "Signature")) {
        let parent = sig.parent_element().ok_or("firma senza elemento firmato")?;
        let id = parent
            .attribute("ID")
            .filter(|id| !id.is_empty())
            .ok_or("l'elemento firmato non ha ID")?;
        let info = child(sig, NS_DS, "SignedInfo").ok_or("firma senza SignedInfo")?;
        let c14n =
            child(info, NS_DS, "CanonicalizationMethod").and_then(|n| n.attribute("Algorithm"));
        if c14n != Some(EXC_C14N) {
            return Err("canonicalizzazione della firma non ammessa".into());
        }
        let alg = child(info, NS_DS, "SignatureMethod").and_then(|n| n.attribute("Algorithm"));
        if !alg.is_some_and(|a| ACCEPTED_SIGNATURES.contains(&a)) {
            return Err("algoritmo di firma non ammesso".into());
        }
        let refs: Vec<_> = children(info, NS_DS, "Reference").collect();
        let [reference] = refs.as_slice() else {
            return Err("la firma deve avere un solo riferimento".into());
        };
        if reference.attribute("URI") != Some(format!("#{id}").as_str()) {
            return Err("la firma non si riferisce all'elemento che la contiene".into());
        }
        if let Some(transforms) = child(*reference, NS_DS, "Transforms") {
            for t in transforms.children().filter(|n| n.is_element()) {
                let a = t.attribute("Algorithm");
                if !is(t, NS_DS, "Transform") || !matches!(a, Some(ENVELOPED) | Some(EXC_C14N)) {
                    return Err("trasformazione della firma non ammessa".into());
                }
            }
        }
        let digest =
            child(*reference, NS_DS, "DigestMethod").and_then(|n| n.attribute("Algorithm"));
        if !digest.is_some_and(|d| ACCEPTED_DIGESTS.contains(&d)) {
            return Err("algoritmo di digest non ammesso".into());
        }
        if sig.children().any(|n| is(n, NS_DS, "Object")) {
            return Err("la firma contiene elementi non ammessi".into());
        }
        signed.push(id.to_owned());
    }
    Ok(signed)
}

/// Verifies every signature of `xml` with one of `certs` (libxmlsec1, through samael) and
/// returns the document reduced to what the signatures cover: anything unsigned — a wrapped,
/// injected or moved element — is not in it.
pub(crate) fn verify_and_reduce(
    xml: &str,
    certs: &[crate::keys::X509Certificate],
) -> Result<String, String> {
    use samael::crypto::{AllowedSignatureAlgorithm as A, CertificateDer, ReduceMode};
    let ders: Vec<CertificateDer> = certs
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    if ders.is_empty() {
        return Err("nessun certificato per verificare la firma".into());
    }
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &ders,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[
            A::RsaSha256,
            A::RsaSha384,
            A::RsaSha512,
            A::EcdsaSha256,
            A::EcdsaSha384,
            A::EcdsaSha512,
        ]),
    )
    .map_err(|e| format!("firma non valida: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declaration_is_dropped() {
        assert_eq!(strip_declaration("<?xml version=\"1.0\"?>\n<a/>"), "<a/>");
        assert_eq!(strip_declaration("  <a/>"), "<a/>");
    }
}
