//! Small XML helpers: escaping for the messages we write, a strict reader for the ones we receive,
//! SAML's instants and identifiers.

use roxmltree::{Document, Node, ParsingOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Most nodes accepted in a received message: a SPID response has a few hundred.
const MAX_NODES: u32 = 20_000;

/// Escapes text for an XML attribute or element.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Parses a received document: no DTD (so no entity can be declared or expanded), a bounded
/// number of nodes.
pub(crate) fn parse(xml: &str) -> Result<Document<'_>, String> {
    Document::parse_with_options(
        xml,
        ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
        },
    )
    .map_err(|e| format!("XML non valido: {e}"))
}

/// Whether `node` is the element `ns:name`.
pub(crate) fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// The child elements `ns:name` of `node`.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(*c, ns, name))
}

/// The first child element `ns:name` of `node`.
pub(crate) fn child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> Option<Node<'a, 'i>> {
    children(node, ns, name).next()
}

/// The text of an element, trimmed.
pub(crate) fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default().trim()
}

/// An instant as SAML writes it: UTC with milliseconds, `2024-05-01T10:00:00.123Z`.
pub fn format_instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an `xs:dateTime` in UTC (`…Z`), with or without fractional seconds. Anything else —
/// a date alone, a local time, an offset — is refused: SPID's instants are UTC.
pub fn parse_instant(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if !s.ends_with('Z') || s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A fresh SAML identifier: an underscore (an NCName cannot start with a digit) and 128 random
/// bits in hexadecimal.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut id = String::with_capacity(33);
    id.push('_');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_utc_only() {
        let t = parse_instant("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(format_instant(t), "2024-05-01T10:00:00.000Z");
        assert!(parse_instant("2024-05-01T10:00:00.123456Z").is_some());
        for bad in [
            "2018-09-04",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00+02:00",
            "",
            "xx",
        ] {
            assert!(parse_instant(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_are_ncnames_and_differ() {
        let a = new_id();
        assert!(a.starts_with('_') && a.len() == 33);
        assert_ne!(a, new_id());
    }

    #[test]
    fn dtds_are_refused() {
        assert!(parse("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").is_err());
        assert!(parse("<a/>").is_ok());
        assert_eq!(esc("<a&\"'>"), "&lt;a&amp;&quot;&apos;&gt;");
    }
}
