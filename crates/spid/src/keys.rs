//! Keys and certificates: loading a service provider's pair, reading an identity provider's
//! certificates from metadata, detached RSA signatures, and a self-signed certificate shaped as
//! AgID's Avviso SPID n. 29 v3 asks of a public-sector service provider.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};
use time::OffsetDateTime;

/// Smallest RSA key the rules admit for signatures.
pub const MIN_RSA_BITS: u32 = 2048;
/// The size of keys Sportello generates (Avviso 29 admits 2048, 3072 and 4096).
pub const GENERATED_RSA_BITS: u32 = 3072;

/// A problem with a key or a certificate.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM private key or certificate, or not base64 DER.
    #[error("{0}")]
    Unreadable(String),
    /// The certificate's public key is not the private key's.
    #[error("the certificate does not belong to the private key")]
    Mismatch,
    /// Not RSA, or too short.
    #[error("{0}")]
    Weak(String),
    /// OpenSSL failed.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// A service provider's (or the demo identity provider's) signing key and certificate.
#[derive(Clone)]
pub struct Credentials {
    key: PKey<Private>,
    cert: X509Certificate,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("cert", &self.cert.subject())
            .finish_non_exhaustive()
    }
}

fn check_rsa(key: &PKey<impl openssl::pkey::HasPublic>) -> Result<(), KeyError> {
    if key.id() != Id::RSA {
        return Err(KeyError::Weak("the key must be RSA".into()));
    }
    if key.bits() < MIN_RSA_BITS {
        return Err(KeyError::Weak(format!(
            "the RSA key has {} bits, at least {MIN_RSA_BITS} are required",
            key.bits()
        )));
    }
    Ok(())
}

impl Credentials {
    /// Loads a PEM private key and its PEM certificate.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Credentials, KeyError> {
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|_| KeyError::Unreadable("not a PEM private key".into()))?;
        let x509 = X509::from_pem(cert_pem)
            .map_err(|_| KeyError::Unreadable("not a PEM certificate".into()))?;
        if !x509.public_key()?.public_eq(&key) {
            return Err(KeyError::Mismatch);
        }
        check_rsa(&key)?;
        Ok(Credentials {
            key,
            cert: X509Certificate::from_x509(x509)?,
        })
    }

    /// The certificate.
    pub fn certificate(&self) -> &X509Certificate {
        &self.cert
    }

    /// The private key as PEM (PKCS#8), to keep on disk.
    pub fn key_pem(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.key.private_key_to_pem_pkcs8()?)
    }

    /// The private key as DER, for libxmlsec1.
    pub(crate) fn key_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.key.private_key_to_der()?)
    }

    /// An RSA-SHA256 (PKCS#1 v1.5) signature of `data`.
    pub fn sign_sha256(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(data)?;
        Ok(signer.sign_to_vec()?)
    }

    /// A fresh RSA key and a self-signed certificate for a public-sector service provider, as
    /// Avviso SPID n. 29 v3 describes it: the subject names the organisation, its IPA code
    /// (`organizationIdentifier` `PA:IT-…`), its locality and the entityID (`uri`);
    /// `certificatePolicies` carries agIDcert and spid-publicsector-SP; `keyUsage` is critical
    /// with digitalSignature and nonRepudiation only; `basicConstraints` says it is no CA.
    pub fn generate(subject: &CertificateSubject, days: u32) -> Result<Credentials, KeyError> {
        let key = PKey::from_rsa(Rsa::generate(GENERATED_RSA_BITS)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("C", "IT")?;
        name.append_entry_by_text("L", &subject.locality)?;
        name.append_entry_by_text("O", &subject.organization)?;
        name.append_entry_by_text("CN", &subject.common_name)?;
        // organizationIdentifier (2.5.4.97) and uri (2.5.4.83), by number.
        name.append_entry_by_text("2.5.4.97", &format!("PA:IT-{}", subject.ipa_code))?;
        name.append_entry_by_text("2.5.4.83", &subject.entity_id)?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        let serial: [u8; 16] = rand::random();
        let mut serial = BigNum::from_slice(&serial)?;
        serial.set_bit(126)?; // positive and full-length
        serial.clear_bit(127)?;
        let serial = Asn1Integer::from_bn(&serial)?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (start, end) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
        b.set_not_before(&start)?;
        b.set_not_after(&end)?;
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()?,
        )?;
        let policies_oid = Asn1Object::from_str("2.5.29.32")?;
        let policies = Asn1OctetString::new_from_bytes(&spid_public_policies())?;
        b.append_extension(X509Extension::new_from_der(
            &policies_oid,
            false,
            &policies,
        )?)?;
        b.sign(&key, MessageDigest::sha256())?;
        Ok(Credentials {
            key,
            cert: X509Certificate::from_x509(b.build())?,
        })
    }
}

/// What goes into a generated certificate's subject.
#[derive(Debug, Clone)]
pub struct CertificateSubject {
    /// commonName: the service's name.
    pub common_name: String,
    /// organizationName: the administration's full name.
    pub organization: String,
    /// The administration's code in IPA (indicepa.gov.it), e.g. `c_g535`.
    pub ipa_code: String,
    /// localityName: the seat's municipality.
    pub locality: String,
    /// The service provider's entityID.
    pub entity_id: String,
}

/// An X.509 certificate, as metadata carry it.
#[derive(Clone)]
pub struct X509Certificate {
    x509: X509,
    der: Vec<u8>,
}

impl std::fmt::Debug for X509Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X509Certificate({})", self.subject())
    }
}

impl PartialEq for X509Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl X509Certificate {
    fn from_x509(x509: X509) -> Result<X509Certificate, KeyError> {
        let der = x509.to_der()?;
        Ok(X509Certificate { x509, der })
    }

    /// Reads the base64 DER of a `ds:X509Certificate` element (whitespace ignored).
    pub fn from_base64(text: &str) -> Result<X509Certificate, KeyError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = B64
            .decode(compact)
            .map_err(|_| KeyError::Unreadable("the certificate is not base64".into()))?;
        let x509 = X509::from_der(&der)
            .map_err(|_| KeyError::Unreadable("not an X.509 certificate".into()))?;
        Ok(X509Certificate { x509, der })
    }

    /// Reads a PEM certificate.
    pub fn from_pem(pem: &[u8]) -> Result<X509Certificate, KeyError> {
        X509Certificate::from_x509(
            X509::from_pem(pem)
                .map_err(|_| KeyError::Unreadable("not a PEM certificate".into()))?,
        )
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The base64 DER, as a `ds:X509Certificate` element holds it.
    pub fn base64(&self) -> String {
        B64.encode(&self.der)
    }

    /// The PEM encoding.
    pub fn pem(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.x509.to_pem()?)
    }

    /// The subject, one line.
    pub fn subject(&self) -> String {
        self.x509
            .subject_name()
            .entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the certificate has expired (or is not yet valid) at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        let Ok(t) = Asn1Time::from_unix(now.unix_timestamp() as _) else {
            return false;
        };
        let after_start = matches!(
            self.x509.not_before().compare(&t),
            Ok(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        );
        let before_end = matches!(
            self.x509.not_after().compare(&t),
            Ok(std::cmp::Ordering::Greater)
        );
        after_start && before_end
    }

    /// The end of validity, as OpenSSL prints it.
    pub fn not_after(&self) -> String {
        self.x509.not_after().to_string()
    }

    /// Whether `signature` is a valid RSA (or ECDSA) signature of `data` with `digest`.
    pub fn verify(&self, digest: MessageDigest, data: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = self.x509.public_key() else {
            return false;
        };
        let Ok(mut v) = Verifier::new(digest, &key) else {
            return false;
        };
        v.update(data).is_ok() && v.verify(signature).unwrap_or(false)
    }
}

/// DER of a tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// DER of an OBJECT IDENTIFIER in dotted form.
fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().expect("OID")).collect();
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut chunk = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    tlv(0x06, &body)
}

/// `certificatePolicies` with agIDcert (1.3.76.16.6) and spid-publicsector-SP (1.3.76.16.4.2.1),
/// each with the user notice AgID's notice gives it.
fn spid_public_policies() -> Vec<u8> {
    let policy = |id: &str, notice: &str| {
        let user_notice = tlv(0x30, &tlv(0x0c, notice.as_bytes()));
        let qualifier = tlv(0x30, &[oid("1.3.6.1.5.5.7.2.2"), user_notice].concat());
        tlv(0x30, &[oid(id), tlv(0x30, &qualifier)].concat())
    };
    tlv(
        0x30,
        &[
            policy("1.3.76.16.6", "agIDcert"),
            policy("1.3.76.16.4.2.1", "cert_SP_Pub"),
        ]
        .concat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_encode_as_der() {
        // 1.2.840.113549 is the textbook example.
        assert_eq!(
            oid("1.2.840.113549"),
            [0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
        assert_eq!(tlv(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
    }

    #[test]
    fn a_generated_pair_loads_back_and_signs() {
        let creds = Credentials::generate(
            &CertificateSubject {
                common_name: "Pagamenti online".into(),
                organization: "Comune di Prova".into(),
                ipa_code: "c_x000".into(),
                locality: "Prova".into(),
                entity_id: "https://pagamenti.example.it".into(),
            },
            30,
        )
        .unwrap();
        let cert_pem = creds.certificate().pem().unwrap();
        let loaded = Credentials::from_pem(&creds.key_pem().unwrap(), &cert_pem).unwrap();
        assert_eq!(loaded.certificate(), creds.certificate());
        let subject = creds.certificate().subject();
        assert!(subject.contains("PA:IT-c_x000"), "{subject}");
        assert!(
            subject.contains("https://pagamenti.example.it"),
            "{subject}"
        );
        let sig = creds.sign_sha256(b"dati").unwrap();
        assert!(
            creds
                .certificate()
                .verify(MessageDigest::sha256(), b"dati", &sig)
        );
        assert!(
            !creds
                .certificate()
                .verify(MessageDigest::sha256(), b"altro", &sig)
        );
        assert!(creds.certificate().is_valid_at(OffsetDateTime::now_utc()));
        assert!(
            !creds
                .certificate()
                .is_valid_at(OffsetDateTime::now_utc() + time::Duration::days(31))
        );
        let again = X509Certificate::from_base64(&creds.certificate().base64()).unwrap();
        assert_eq!(&again, creds.certificate());
    }

    #[test]
    fn a_key_and_someone_elses_certificate_are_refused() {
        let subject = CertificateSubject {
            common_name: "a".into(),
            organization: "b".into(),
            ipa_code: "c".into(),
            locality: "d".into(),
            entity_id: "https://e".into(),
        };
        let one = Credentials::generate(&subject, 1).unwrap();
        let two = Credentials::generate(&subject, 1).unwrap();
        let err = Credentials::from_pem(&one.key_pem().unwrap(), &two.certificate().pem().unwrap())
            .unwrap_err();
        assert!(matches!(err, KeyError::Mismatch));
    }
}
