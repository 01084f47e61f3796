//! Metadata: the service provider's (signed, one profile for SPID and one for CIE), an identity
//! provider's (read from the files the federation publishes, and written by the demo IdP), and
//! a service provider's as an identity provider reads it.

use roxmltree::Node;

use crate::keys::{Credentials, X509Certificate};
use crate::sign::{SignError, sign_first_template, template};
use crate::xml::{child, children, esc, is, parse, text};
use crate::{BINDING_POST, BINDING_REDIRECT, Federation, NAMEID_TRANSIENT, NS_DS, NS_MD, NS_SAML};

/// The attributes Sportello asks SPID identity providers for.
pub const SPID_ATTRIBUTES: [&str; 5] =
    ["fiscalNumber", "name", "familyName", "email", "dateOfBirth"];
/// The attributes CIE may be asked for (CIE's profile admits these four only).
pub const CIE_ATTRIBUTES: [&str; 4] = ["fiscalNumber", "name", "familyName", "dateOfBirth"];

/// What a service provider's metadata says about it.
#[derive(Debug, Clone)]
pub struct SpDescription {
    /// The entityID.
    pub entity_id: String,
    /// The assertion consumer service (index 0, HTTP-POST).
    pub acs_url: String,
    /// The single logout service (HTTP-Redirect and HTTP-POST).
    pub slo_url: String,
    /// The administration's name (OrganizationName, in Italian).
    pub organization_name: String,
    /// Its display name.
    pub organization_display_name: String,
    /// Its web site.
    pub organization_url: String,
    /// Its IPA code.
    pub ipa_code: String,
    /// The contact address.
    pub contact_email: String,
    /// The contact telephone number, international form without spaces.
    pub contact_phone: Option<String>,
    /// The ISTAT code of its municipality (CIE's `Municipality`).
    pub municipality: String,
    /// The service name shown by identity providers (AttributeConsumingService).
    pub service_name: String,
}

/// The service provider's metadata for `federation`, signed with `creds`.
///
/// SPID: `ContactPerson` `other` with `spid:IPACode` and `spid:Public` (Avviso 29 v3), the SPID
/// attribute set. CIE: `ContactPerson` `administrative` with `cie:Public`, `cie:IPACode` and
/// `cie:Municipality`, and only the attributes CIE releases.
pub fn sp_metadata(
    sp: &SpDescription,
    federation: Federation,
    creds: &Credentials,
) -> Result<String, SignError> {
    let id = crate::new_id();
    let attributes: &[&str] = match federation {
        Federation::Spid => &SPID_ATTRIBUTES,
        Federation::Cie => &CIE_ATTRIBUTES,
    };
    let requested: String = attributes
        .iter()
        .map(|a| format!("<md:RequestedAttribute Name=\"{a}\"/>"))
        .collect();
    let phone = sp
        .contact_phone
        .as_deref()
        .map(|p| {
            format!(
                "<md:TelephoneNumber>{}</md:TelephoneNumber>",
                esc(&p.replace(' ', ""))
            )
        })
        .unwrap_or_default();
    let contact = match federation {
        Federation::Spid => format!(
            concat!(
                "<md:ContactPerson contactType=\"other\">",
                "<md:Extensions><spid:IPACode>{ipa}</spid:IPACode><spid:Public/></md:Extensions>",
                "<md:EmailAddress>{email}</md:EmailAddress>{phone}",
                "</md:ContactPerson>"
            ),
            ipa = esc(&sp.ipa_code),
            email = esc(&sp.contact_email),
            phone = phone,
        ),
        Federation::Cie => format!(
            concat!(
                "<md:ContactPerson contactType=\"administrative\">",
                "<md:Extensions><cie:Public/><cie:IPACode>{ipa}</cie:IPACode>",
                "<cie:Municipality>{municipality}</cie:Municipality></md:Extensions>",
                "<md:Company>{company}</md:Company>",
                "<md:EmailAddress>{email}</md:EmailAddress>{phone}",
                "</md:ContactPerson>"
            ),
            ipa = esc(&sp.ipa_code),
            municipality = esc(&sp.municipality),
            company = esc(&sp.organization_name),
            email = esc(&sp.contact_email),
            phone = phone,
        ),
    };
    let xml = format!(
        concat!(
            "<md:EntityDescriptor xmlns:md=\"{md}\" xmlns:ds=\"{ds}\" ",
            "xmlns:spid=\"{spid}\" xmlns:cie=\"{cie}\" entityID=\"{entity}\" ID=\"{id}\">",
            "{signature}",
            "<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" ",
            "AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\">",
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}",
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            "<md:SingleLogoutService Binding=\"{redirect}\" Location=\"{slo}\"/>",
            "<md:SingleLogoutService Binding=\"{post}\" Location=\"{slo}\"/>",
            "<md:NameIDFormat>{transient}</md:NameIDFormat>",
            "<md:AssertionConsumerService index=\"0\" isDefault=\"true\" Binding=\"{post}\" Location=\"{acs}\"/>",
            "<md:AttributeConsumingService index=\"0\">",
            "<md:ServiceName xml:lang=\"it\">{service}</md:ServiceName>{requested}",
            "</md:AttributeConsumingService>",
            "</md:SPSSODescriptor>",
            "<md:Organization>",
            "<md:OrganizationName xml:lang=\"it\">{org}</md:OrganizationName>",
            "<md:OrganizationDisplayName xml:lang=\"it\">{display}</md:OrganizationDisplayName>",
            "<md:OrganizationURL xml:lang=\"it\">{url}</md:OrganizationURL>",
            "</md:Organization>",
            "{contact}",
            "</md:EntityDescriptor>"
        ),
        md = NS_MD,
        ds = NS_DS,
        spid = crate::NS_SPID,
        cie = crate::NS_CIE,
        entity = esc(&sp.entity_id),
        id = id,
        signature = template(&id, creds),
        cert = creds.certificate().base64(),
        redirect = BINDING_REDIRECT,
        post = BINDING_POST,
        slo = esc(&sp.slo_url),
        transient = NAMEID_TRANSIENT,
        acs = esc(&sp.acs_url),
        service = esc(&sp.service_name),
        requested = requested,
        org = esc(&sp.organization_name),
        display = esc(&sp.organization_display_name),
        url = esc(&sp.organization_url),
        contact = contact,
    );
    sign_first_template(&xml, creds)
}

/// A metadata problem, in Italian for the operator's log and English-free enough for a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata non validi: {0}")]
pub struct MetadataError(pub String);

fn err(s: impl Into<String>) -> MetadataError {
    MetadataError(s.into())
}

/// An endpoint of a metadata document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its binding.
    pub binding: String,
    /// Where requests go.
    pub location: String,
    /// Where responses go, when different.
    pub response_location: Option<String>,
}

fn endpoints(descriptor: Node<'_, '_>, name: &str) -> Vec<Endpoint> {
    children(descriptor, NS_MD, name)
        .filter_map(|e| {
            Some(Endpoint {
                binding: e.attribute("Binding")?.to_owned(),
                location: e.attribute("Location")?.trim().to_owned(),
                response_location: e.attribute("ResponseLocation").map(|s| s.trim().to_owned()),
            })
        })
        .filter(|e| !e.location.is_empty())
        .collect()
}

fn signing_certs(descriptor: Node<'_, '_>) -> Result<Vec<X509Certificate>, MetadataError> {
    let mut certs = Vec::new();
    for kd in children(descriptor, NS_MD, "KeyDescriptor") {
        if kd.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for c in kd
            .descendants()
            .filter(|n| is(*n, NS_DS, "X509Certificate"))
        {
            certs.push(
                X509Certificate::from_base64(text(c))
                    .map_err(|e| err(format!("certificato illeggibile: {e}")))?,
            );
        }
    }
    Ok(certs)
}

fn display_name(entity: Node<'_, '_>) -> Option<String> {
    let org = child(entity, NS_MD, "Organization")?;
    let pick = |name: &str| {
        let all: Vec<_> = children(org, NS_MD, name).collect();
        all.iter()
            .find(|n| n.attribute(("http://www.w3.org/XML/1998/namespace", "lang")) == Some("it"))
            .or(all.first())
            .map(|n| text(*n).to_owned())
            .filter(|s| !s.is_empty())
    };
    pick("OrganizationDisplayName").or_else(|| pick("OrganizationName"))
}

/// An identity provider as its metadata describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpMetadata {
    /// The entityID.
    pub entity_id: String,
    /// The name to show in the chooser.
    pub name: String,
    /// Certificates its signatures verify with.
    pub signing_certs: Vec<X509Certificate>,
    /// SingleSignOnService endpoints.
    pub sso: Vec<Endpoint>,
    /// SingleLogoutService endpoints.
    pub slo: Vec<Endpoint>,
}

impl IdpMetadata {
    /// The endpoint for `binding` among `list`.
    fn by_binding<'a>(list: &'a [Endpoint], binding: &str) -> Option<&'a Endpoint> {
        list.iter().find(|e| e.binding == binding)
    }

    /// The HTTP-Redirect single sign-on endpoint.
    pub fn sso_redirect(&self) -> Option<&Endpoint> {
        IdpMetadata::by_binding(&self.sso, BINDING_REDIRECT)
    }

    /// The HTTP-Redirect single logout endpoint.
    pub fn slo_redirect(&self) -> Option<&Endpoint> {
        IdpMetadata::by_binding(&self.slo, BINDING_REDIRECT)
    }
}

/// Reads identity providers from a metadata document: one `EntityDescriptor`, or an
/// `EntitiesDescriptor` with many (as the SPID registry publishes them). Entities without an
/// `IDPSSODescriptor` are skipped; an IdP without a signing certificate or a single sign-on
/// endpoint is an error.
pub fn parse_idp_metadata(xml: &str) -> Result<Vec<IdpMetadata>, MetadataError> {
    let doc = parse(xml).map_err(err)?;
    let root = doc.root_element();
    let entities: Vec<Node<'_, '_>> = if is(root, NS_MD, "EntityDescriptor") {
        vec![root]
    } else if is(root, NS_MD, "EntitiesDescriptor") {
        root.descendants()
            .filter(|n| is(*n, NS_MD, "EntityDescriptor"))
            .collect()
    } else {
        return Err(err("né EntityDescriptor né EntitiesDescriptor"));
    };
    let mut idps = Vec::new();
    for entity in entities {
        let Some(descriptor) = child(entity, NS_MD, "IDPSSODescriptor") else {
            continue;
        };
        let entity_id = entity
            .attribute("entityID")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err("entityID mancante"))?
            .to_owned();
        let signing_certs = signing_certs(descriptor)?;
        if signing_certs.is_empty() {
            return Err(err(format!("{entity_id}: nessun certificato di firma")));
        }
        let sso = endpoints(descriptor, "SingleSignOnService");
        if sso.is_empty() {
            return Err(err(format!("{entity_id}: nessun SingleSignOnService")));
        }
        idps.push(IdpMetadata {
            name: display_name(entity).unwrap_or_else(|| entity_id.clone()),
            entity_id,
            signing_certs,
            sso,
            slo: endpoints(descriptor, "SingleLogoutService"),
        });
    }
    Ok(idps)
}

/// What the demo identity provider publishes about itself.
#[derive(Debug, Clone)]
pub struct IdpDescription {
    /// The entityID.
    pub entity_id: String,
    /// The single sign-on endpoint (HTTP-Redirect and HTTP-POST).
    pub sso_url: String,
    /// The single logout endpoint (HTTP-Redirect and HTTP-POST).
    pub slo_url: String,
    /// The name shown in choosers.
    pub name: String,
    /// Its web site.
    pub url: String,
}

/// An identity provider's metadata, signed.
pub fn idp_metadata(idp: &IdpDescription, creds: &Credentials) -> Result<String, SignError> {
    let id = crate::new_id();
    let attributes: String = SPID_ATTRIBUTES
        .iter()
        .map(|a| {
            format!(
                "<saml:Attribute Name=\"{a}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\"/>"
            )
        })
        .collect();
    let xml = format!(
        concat!(
            "<md:EntityDescriptor xmlns:md=\"{md}\" xmlns:ds=\"{ds}\" xmlns:saml=\"{saml}\" ",
            "entityID=\"{entity}\" ID=\"{id}\">{signature}",
            "<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" ",
            "WantAuthnRequestsSigned=\"true\">",
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}",
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            "<md:SingleLogoutService Binding=\"{redirect}\" Location=\"{slo}\"/>",
            "<md:SingleLogoutService Binding=\"{post}\" Location=\"{slo}\"/>",
            "<md:NameIDFormat>{transient}</md:NameIDFormat>",
            "<md:SingleSignOnService Binding=\"{redirect}\" Location=\"{sso}\"/>",
            "<md:SingleSignOnService Binding=\"{post}\" Location=\"{sso}\"/>",
            "{attributes}",
            "</md:IDPSSODescriptor>",
            "<md:Organization>",
            "<md:OrganizationName xml:lang=\"it\">{name}</md:OrganizationName>",
            "<md:OrganizationDisplayName xml:lang=\"it\">{name}</md:OrganizationDisplayName>",
            "<md:OrganizationURL xml:lang=\"it\">{url}</md:OrganizationURL>",
            "</md:Organization>",
            "</md:EntityDescriptor>"
        ),
        md = NS_MD,
        ds = NS_DS,
        saml = NS_SAML,
        entity = esc(&idp.entity_id),
        id = id,
        signature = template(&id, creds),
        cert = creds.certificate().base64(),
        redirect = BINDING_REDIRECT,
        post = BINDING_POST,
        slo = esc(&idp.slo_url),
        sso = esc(&idp.sso_url),
        transient = NAMEID_TRANSIENT,
        attributes = attributes,
        name = esc(&idp.name),
        url = esc(&idp.url),
    );
    sign_first_template(&xml, creds)
}

/// An assertion consumer service of a service provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionConsumer {
    /// Its index.
    pub index: u16,
    /// Its binding.
    pub binding: String,
    /// Its URL.
    pub location: String,
    /// Whether it is the default one.
    pub is_default: bool,
}

/// A service provider as an identity provider reads its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SpMetadata {
    /// The entityID.
    pub entity_id: String,
    /// Certificates its requests' signatures verify with.
    pub signing_certs: Vec<X509Certificate>,
    /// Its assertion consumer services.
    pub acs: Vec<AssertionConsumer>,
    /// Its attribute consuming services: index and requested attribute names.
    pub attribute_services: Vec<(u16, Vec<String>)>,
    /// Its single logout services.
    pub slo: Vec<Endpoint>,
}

/// Reads a service provider's metadata.
pub fn parse_sp_metadata(xml: &str) -> Result<SpMetadata, MetadataError> {
    let doc = parse(xml).map_err(err)?;
    let entity = doc.root_element();
    if !is(entity, NS_MD, "EntityDescriptor") {
        return Err(err("manca EntityDescriptor"));
    }
    let descriptor =
        child(entity, NS_MD, "SPSSODescriptor").ok_or_else(|| err("manca SPSSODescriptor"))?;
    let entity_id = entity
        .attribute("entityID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| err("entityID mancante"))?
        .trim()
        .to_owned();
    let acs = children(descriptor, NS_MD, "AssertionConsumerService")
        .filter_map(|n| {
            Some(AssertionConsumer {
                index: n.attribute("index")?.parse().ok()?,
                binding: n.attribute("Binding")?.to_owned(),
                location: n.attribute("Location")?.trim().to_owned(),
                is_default: n.attribute("isDefault") == Some("true"),
            })
        })
        .collect();
    let attribute_services = children(descriptor, NS_MD, "AttributeConsumingService")
        .filter_map(|n| {
            let index = n.attribute("index")?.parse().ok()?;
            let names = children(n, NS_MD, "RequestedAttribute")
                .filter_map(|a| a.attribute("Name").map(str::to_owned))
                .collect();
            Some((index, names))
        })
        .collect();
    Ok(SpMetadata {
        signing_certs: signing_certs(descriptor)?,
        slo: endpoints(descriptor, "SingleLogoutService"),
        entity_id,
        acs,
        attribute_services,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::CertificateSubject;

    /// A fresh pair (RSA key generation is the slow part of these tests: use sparingly).
    pub(crate) fn creds() -> Credentials {
        Credentials::generate(
            &CertificateSubject {
                common_name: "Pagamenti".into(),
                organization: "Comune di Prova".into(),
                ipa_code: "c_x000".into(),
                locality: "Prova".into(),
                entity_id: "https://sp.example.it".into(),
            },
            10,
        )
        .unwrap()
    }

    pub(crate) fn sp() -> SpDescription {
        SpDescription {
            entity_id: "https://sp.example.it".into(),
            acs_url: "https://sp.example.it/spid/acs".into(),
            slo_url: "https://sp.example.it/spid/slo".into(),
            organization_name: "Comune di Prova & C.".into(),
            organization_display_name: "Comune di Prova".into(),
            organization_url: "https://www.comune.prova.it".into(),
            ipa_code: "c_x000".into(),
            contact_email: "info@comune.prova.it".into(),
            contact_phone: Some("+39 0523 000000".into()),
            municipality: "033032".into(),
            service_name: "Pagamenti online".into(),
        }
    }

    #[test]
    fn sp_metadata_is_signed_and_reads_back() {
        let c = creds();
        for federation in [Federation::Spid, Federation::Cie] {
            let xml = sp_metadata(&sp(), federation, &c).unwrap();
            let doc = parse(&xml).unwrap();
            let signed = crate::sign::check_signature_shapes(&doc).unwrap();
            assert_eq!(signed.len(), 1);
            crate::sign::verify_and_reduce(&xml, std::slice::from_ref(c.certificate())).unwrap();
            let md = parse_sp_metadata(&xml).unwrap();
            assert_eq!(md.entity_id, "https://sp.example.it");
            assert_eq!(md.signing_certs, vec![c.certificate().clone()]);
            assert_eq!(md.acs[0].location, "https://sp.example.it/spid/acs");
            assert!(md.acs[0].is_default && md.acs[0].index == 0);
            let attrs = &md.attribute_services[0].1;
            match federation {
                Federation::Spid => assert!(attrs.contains(&"email".to_owned())),
                Federation::Cie => assert_eq!(attrs.len(), 4),
            }
            assert!(xml.contains("+390523000000"), "phone without spaces");
            assert!(xml.contains("Comune di Prova &amp; C."));
        }
    }

    #[test]
    fn a_tampered_metadata_fails_verification() {
        let c = creds();
        let xml = sp_metadata(&sp(), Federation::Spid, &c).unwrap();
        let tampered = xml.replace("/spid/acs", "/evil/acs");
        assert!(
            crate::sign::verify_and_reduce(&tampered, std::slice::from_ref(c.certificate()))
                .is_err()
        );
    }

    #[test]
    fn idp_metadata_round_trips() {
        let c = creds();
        let xml = idp_metadata(
            &IdpDescription {
                entity_id: "http://127.0.0.1:8081/idp".into(),
                sso_url: "http://127.0.0.1:8081/idp/sso".into(),
                slo_url: "http://127.0.0.1:8081/idp/slo".into(),
                name: "SPID di prova".into(),
                url: "http://127.0.0.1:8081/".into(),
            },
            &c,
        )
        .unwrap();
        let idps = parse_idp_metadata(&xml).unwrap();
        assert_eq!(idps.len(), 1);
        let idp = &idps[0];
        assert_eq!(idp.entity_id, "http://127.0.0.1:8081/idp");
        assert_eq!(idp.name, "SPID di prova");
        assert_eq!(
            idp.sso_redirect().unwrap().location,
            "http://127.0.0.1:8081/idp/sso"
        );
        assert!(idp.slo_redirect().is_some());
        let wrapped = format!(
            "<md:EntitiesDescriptor xmlns:md=\"{NS_MD}\">{xml}{xml}</md:EntitiesDescriptor>"
        );
        assert_eq!(parse_idp_metadata(&wrapped).unwrap().len(), 2);
        assert!(parse_idp_metadata("<a/>").is_err());
    }
}
