//! The XML underneath the SOAP codec: a strict, namespace-aware reader that builds a small
//! element tree, a cursor that enforces an XSD `sequence`, and an escaping writer.
//!
//! The reader refuses anything a SOAP peer has no business sending: a DTD (so no entity can be
//! declared, let alone expanded), undeclared entities, undeclared prefixes, characters outside
//! XML 1.0, more than one root, absurd nesting. Limits are fixed here rather than configured:
//! paForNode messages are a few kilobytes and nine levels deep.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::DecodeError;

/// Deepest nesting accepted (a receipt is nine levels deep inside its envelope).
const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document (a full receipt has about 150).
const MAX_ELEMENTS: usize = 5_000;
/// Most attributes accepted on one element (a SOAP envelope declares a handful of namespaces).
/// Checked while counting, before anything costs more than a pass over them: the XML reader's
/// own duplicate check compares every attribute with every other, and 140 000 attributes in a
/// 1 MB body once held a server thread for two minutes.
pub(crate) const MAX_ATTRIBUTES: usize = 64;

/// An element: its namespace, local name, child elements and concatenated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// The namespace URI, `None` when unqualified.
    pub ns: Option<String>,
    /// The local name.
    pub name: String,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// Character data directly inside this element (entities resolved, CDATA included).
    pub text: String,
}

/// Whether `c` is a `Char` of XML 1.0.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn malformed(what: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed(what.to_string())
}

fn push_text(target: &mut String, text: &str) -> Result<(), DecodeError> {
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(malformed(format!(
            "carattere non ammesso in XML: U+{:04X}",
            u32::from(c)
        )));
    }
    target.push_str(text);
    Ok(())
}

/// Parses a whole document into its root element.
pub(crate) fn parse_document(xml: &str) -> Result<Element, DecodeError> {
    let mut reader = NsReader::from_str(xml);
    {
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_comments = true;
        config.check_end_names = true;
        config.trim_text(false);
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut seen_anything = false;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let ns = match &resolved {
            ResolveResult::Bound(ns) => Some(
                std::str::from_utf8(ns.as_ref())
                    .map_err(malformed)?
                    .to_owned(),
            ),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(malformed(format!(
                    "prefisso non dichiarato: {}",
                    String::from_utf8_lossy(prefix)
                )));
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(malformed("il documento ha più di un elemento radice"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed("annidamento troppo profondo"));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(malformed("troppi elementi"));
                }
                check_attributes(start)?;
                let name = std::str::from_utf8(start.local_name().as_ref())
                    .map_err(malformed)?
                    .to_owned();
                stack.push(Element {
                    ns,
                    name,
                    children: Vec::new(),
                    text: String::new(),
                });
                // `expand_empty_elements` turns `<a/>` into Start + End, so Empty never
                // arrives; were it to, the element simply stays open until its parent closes,
                // which check_end_names would reject — so close it here to be exact.
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root);
                }
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(text) => {
                let text = text.xml10_content().map_err(malformed)?;
                match stack.last_mut() {
                    Some(top) => push_text(&mut top.text, &text)?,
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed("testo fuori dall'elemento radice")),
                }
            }
            Event::CData(data) => {
                let text = data.xml10_content().map_err(malformed)?;
                match stack.last_mut() {
                    Some(top) => push_text(&mut top.text, &text)?,
                    None => return Err(malformed("CDATA fuori dall'elemento radice")),
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(malformed)? {
                    Some(c) => c,
                    None => match reference.decode().map_err(malformed)?.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(DecodeError::Forbidden(format!(
                                "entità non dichiarata: &{other};"
                            )));
                        }
                    },
                };
                match stack.last_mut() {
                    Some(top) => push_text(&mut top.text, resolved.encode_utf8(&mut [0; 4]))?,
                    None => return Err(malformed("riferimento fuori dall'elemento radice")),
                }
            }
            Event::DocType(_) => {
                return Err(DecodeError::Forbidden(
                    "DTD non ammessa (<!DOCTYPE>)".to_owned(),
                ));
            }
            Event::Decl(decl) => {
                if seen_anything {
                    return Err(malformed("dichiarazione XML fuori posto"));
                }
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(malformed)?;
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err(malformed(format!(
                            "codifica non supportata: {}",
                            String::from_utf8_lossy(&encoding)
                        )));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
        seen_anything = true;
    }
    if !stack.is_empty() {
        return Err(malformed("documento troncato: elementi non chiusi"));
    }
    root.ok_or_else(|| malformed("documento vuoto"))
}

/// Reads an element's attributes: well-formed, at most [`MAX_ATTRIBUTES`], no name twice. The
/// reader's own duplicate check is off (it is quadratic in the count); ours runs on at most
/// [`MAX_ATTRIBUTES`] names.
fn check_attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<(), DecodeError> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(malformed)?;
        if names.len() == MAX_ATTRIBUTES {
            return Err(DecodeError::Forbidden(format!(
                "troppi attributi su un elemento (al massimo {MAX_ATTRIBUTES})"
            )));
        }
        let name = attr.key.as_ref();
        if names.iter().any(|n| n == name) {
            return Err(malformed(format!(
                "attributo ripetuto: {}",
                String::from_utf8_lossy(name)
            )));
        }
        names.push(name.to_vec());
    }
    Ok(())
}

fn close(stack: &mut Vec<Element>, root: &mut Option<Element>) {
    // check_end_names guarantees an End has a matching Start, so the stack is not empty.
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => *root = Some(done),
        }
    }
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: Option<&str>, name: &str) -> bool {
        self.ns.as_deref() == ns && self.name == name
    }

    /// The qualified name for messages: `{ns}name` or `name`.
    pub fn display_name(&self) -> String {
        match &self.ns {
            Some(ns) => format!("{{{ns}}}{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Walks the children of a complex element in the order its XSD `sequence` gives.
///
/// `names` is every child name the type defines: an element outside it is *extra* (not in the
/// schema at all), an element inside it but in the wrong place is a schema violation.
pub(crate) struct Children<'a> {
    path: String,
    items: &'a [Element],
    pos: usize,
    names: &'static [&'static str],
}

impl<'a> Children<'a> {
    /// Starts walking `parent`, whose path in the message is `path`.
    pub fn new(
        parent: &'a Element,
        path: &str,
        names: &'static [&'static str],
    ) -> Result<Children<'a>, DecodeError> {
        if !parent.text.trim().is_empty() {
            return Err(DecodeError::schema(
                path,
                "contiene testo dove sono previsti solo elementi",
            ));
        }
        Ok(Children {
            path: path.to_owned(),
            items: &parent.children,
            pos: 0,
            names,
        })
    }

    /// The path of a child.
    pub fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    fn check_next(&self) -> Result<Option<&'a Element>, DecodeError> {
        let Some(next) = self.items.get(self.pos) else {
            return Ok(None);
        };
        if !self.names.contains(&next.name.as_str()) {
            return Err(DecodeError::Extra {
                path: self.path_of(&next.display_name()),
            });
        }
        if next.ns.is_some() {
            return Err(DecodeError::schema(
                &self.path_of(&next.name),
                "l'elemento deve essere senza namespace (unqualified)",
            ));
        }
        Ok(Some(next))
    }

    /// The next child if it is `name`.
    pub fn optional(&mut self, name: &str) -> Result<Option<&'a Element>, DecodeError> {
        match self.check_next()? {
            Some(next) if next.name == name => {
                self.pos += 1;
                Ok(Some(next))
            }
            _ => Ok(None),
        }
    }

    /// The next child, which must be `name`.
    pub fn required(&mut self, name: &str) -> Result<&'a Element, DecodeError> {
        match self.optional(name)? {
            Some(el) => Ok(el),
            None => Err(match self.items.get(self.pos) {
                Some(other) => DecodeError::schema(
                    &self.path_of(name),
                    format!(
                        "elemento obbligatorio mancante o fuori ordine (trovato {})",
                        other.name
                    ),
                ),
                None => DecodeError::schema(&self.path_of(name), "elemento obbligatorio mancante"),
            }),
        }
    }

    /// Consecutive children named `name`, between `min` and `max` of them.
    pub fn repeated(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Vec<&'a Element>, DecodeError> {
        let mut found = Vec::new();
        while let Some(el) = self.optional(name)? {
            found.push(el);
        }
        if found.len() < min {
            return Err(DecodeError::schema(
                &self.path_of(name),
                format!("ne servono almeno {min}"),
            ));
        }
        if found.len() > max {
            return Err(DecodeError::schema(
                &self.path_of(name),
                format!("ne sono ammessi al massimo {max}"),
            ));
        }
        Ok(found)
    }

    /// Ends the walk: any child left over is out of place or not in the schema.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.check_next()? {
            None => Ok(()),
            Some(next) => Err(DecodeError::schema(
                &self.path_of(&next.name),
                "elemento fuori ordine o ripetuto",
            )),
        }
    }
}

/// Appends XML text with the characters that need it escaped. A carriage return is written as
/// a character reference so that it survives the parser's end-of-line normalisation; characters
/// XML 1.0 cannot carry at all become U+FFFD.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// A writer of unqualified child elements (the root and envelope are written by the caller).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: String,
}

impl Writer {
    /// Starts with the given prologue.
    pub fn with(prologue: &str) -> Writer {
        Writer {
            out: prologue.to_owned(),
        }
    }

    /// Appends raw markup (element names and namespace declarations we write ourselves).
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    /// `<name>`.
    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// A leaf when there is a value.
    pub fn opt_leaf(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_attributes(n: usize) -> String {
        let mut xml = String::from("<r");
        for i in 0..n {
            xml.push_str(&format!(" a{i}=\"\""));
        }
        xml.push_str("/>");
        xml
    }

    #[test]
    fn attributes_are_bounded_and_unique() {
        assert!(parse_document(&with_attributes(MAX_ATTRIBUTES)).is_ok());
        let err = parse_document(&with_attributes(MAX_ATTRIBUTES + 1)).unwrap_err();
        assert!(matches!(err, DecodeError::Forbidden(_)), "{err:?}");
        // The bomb of the security review: ~140 000 attributes in about 1 MB, refused after
        // reading 65 of them (its time is measured in benches/hardening.sh).
        let bomb = with_attributes(140_000);
        assert!(bomb.len() > 1_000_000);
        assert!(matches!(
            parse_document(&bomb).unwrap_err(),
            DecodeError::Forbidden(_)
        ));
        let err = parse_document(r#"<r a="1" b="2" a="3"/>"#).unwrap_err();
        assert!(err.to_string().contains("attributo ripetuto"), "{err}");
        // The same local name under two prefixes is two attributes.
        assert!(parse_document(r#"<r xmlns:p="urn:p" xmlns:q="urn:q" p:a="1" q:a="2"/>"#).is_ok());
    }

    #[test]
    fn builds_a_namespace_aware_tree() {
        let doc = parse_document(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <a:root xmlns:a="urn:a" xmlns="urn:default"><child>x &amp; y &#x41;<![CDATA[<z>]]></child><plain xmlns=""/></a:root>"#,
        )
        .unwrap();
        assert!(doc.is(Some("urn:a"), "root"));
        assert!(doc.children[0].is(Some("urn:default"), "child"));
        assert_eq!(doc.children[0].text, "x & y A<z>");
        assert!(doc.children[1].is(None, "plain"));
    }

    #[test]
    fn refuses_what_a_peer_must_not_send() {
        for (xml, forbidden) in [
            (r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#, true),
            ("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>", true),
            ("<a>&x;</a>", true),
            ("<a><b></a>", false),
            ("<a/><b/>", false),
            ("<p:a/>", false),
            ("<a>&#1;</a>", false),
            ("<a>\u{1}</a>", false),
            ("text<a/>", false),
            ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", false),
            ("", false),
            ("<a>", false),
        ] {
            let err = parse_document(xml).unwrap_err();
            assert_eq!(
                matches!(err, DecodeError::Forbidden(_)),
                forbidden,
                "{xml}: {err:?}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse_document(&deep).is_err());
        let fine = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse_document(&fine).is_ok());
    }

    #[test]
    fn escaping_round_trips_through_the_reader() {
        let text = "a<b>&c\r\nd\"'\u{1}é";
        let mut out = String::from("<a>");
        escape_into(&mut out, text);
        out.push_str("</a>");
        let doc = parse_document(&out).unwrap();
        assert_eq!(doc.text, "a<b>&c\r\nd\"'\u{FFFD}é");
    }
}
