//! A small, lossless element tree: what wirt keeps of any XML it does not
//! model, and the common ground its typed models are read from and written to.
//!
//! Parsing is bounded (document size, depth, element count) so a hostile
//! document is refused before it can exhaust memory; errors name the line
//! and column, as libvirt's do. Formatting follows libvirt's layout: two
//! spaces per level, single-quoted attributes, text-only elements on one line.

use std::fmt::Write as _;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::Error;

/// Largest document accepted: libvirt's RPC string limit.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting accepted (libxml2's default limit).
pub const MAX_DEPTH: usize = 256;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 200_000;

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Text, unescaped.
    Text(String),
    /// A comment's text.
    Comment(String),
}

/// An XML element: name, attributes in document order, children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The qualified name as written (`test:runstate` keeps its prefix).
    pub name: String,
    /// The attributes, in document order, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Elements, text and comments, in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// An empty element named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The element with attribute `name` set to `value`.
    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// The element with `text` appended.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// The element with `child` appended.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name`, in place if it exists, else last.
    pub fn set_attr(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_string(), value)),
        }
    }

    /// Removes attribute `name`, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let pos = self.attrs.iter().position(|(n, _)| n == name)?;
        Some(self.attrs.remove(pos).1)
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// The child elements named `name`, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// Concatenated text content of this element (not of its descendants).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    /// The trimmed text of a child element.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text().trim().to_string())
    }

    /// It has a child element.
    pub fn has_element_children(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }

    /// Parses a whole document and returns its root element. `what` names
    /// the document in errors ("domain_definition", as libvirt does).
    pub fn parse(text: &str, what: &str) -> Result<Element, Error> {
        parse_document(text, what)
    }

    /// Formats the element as a document fragment in libvirt's layout, with
    /// a trailing newline.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    /// Appends the element to `out` in libvirt's layout, indented by `indent` spaces.
    pub fn write(&self, out: &mut String, indent: usize) {
        pad(out, indent);
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attrs {
            let _ = write!(out, " {name}='{}'", escape_attr(value));
        }
        let has_elements = self.has_element_children();
        let meaningful = self.children.iter().any(|n| match n {
            Node::Text(t) => !has_elements || !t.trim().is_empty(),
            _ => true,
        });
        if !meaningful {
            out.push_str("/>\n");
            return;
        }
        out.push('>');
        if !has_elements && !self.children.iter().any(|n| matches!(n, Node::Comment(_))) {
            let text = self.text();
            // libvirt writes some empty containers (<devices>, <source>) as an
            // open and a close tag on their own lines; keep that shape.
            if text.trim().is_empty() && text.contains('\n') {
                out.push('\n');
                pad(out, indent);
                let _ = writeln!(out, "</{}>", self.name);
                return;
            }
            out.push_str(&escape_text(&text));
            let _ = writeln!(out, "</{}>", self.name);
            return;
        }
        out.push('\n');
        for node in &self.children {
            match node {
                Node::Element(e) => e.write(out, indent + 2),
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Text(t) => {
                    pad(out, indent + 2);
                    out.push_str(&escape_text(t.trim()));
                    out.push('\n');
                }
                Node::Comment(c) => {
                    pad(out, indent + 2);
                    let _ = writeln!(out, "<!--{c}-->");
                }
            }
        }
        pad(out, indent);
        let _ = writeln!(out, "</{}>", self.name);
    }
}

/// Position of `name` in an output order; names not listed sort last.
pub fn rank(order: &[&str], name: &str) -> usize {
    order.iter().position(|n| *n == name).unwrap_or(order.len())
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `s` escaped for element text.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

/// `s` escaped for a single-quoted attribute value.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            _ => out.push(c),
        }
    }
    out
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

fn resolve_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

fn parse_document(text: &str, what: &str) -> Result<Element, Error> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::TooLarge {
            what: what.to_string(),
            size: text.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.check_comments = true;

    let syntax = |reader: &Reader<&[u8]>, offset: Option<u64>, message: String| {
        let at = offset.unwrap_or_else(|| reader.error_position()) as usize;
        let (line, column) = line_col(text, at);
        Error::Syntax {
            what: what.to_string(),
            line,
            column,
            message,
            snippet: text
                .lines()
                .nth(line - 1)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        }
    };

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| syntax(&reader, None, e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(syntax(
                    &reader,
                    Some(reader.buffer_position()),
                    "Extra content at the end of the document".into(),
                ));
            }
            Event::Start(start) => {
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(Error::TooDeep {
                        what: what.to_string(),
                        depth: MAX_DEPTH,
                        elements: MAX_ELEMENTS,
                    });
                }
                let element = start_element(&start).map_err(|m| syntax(&reader, None, m))?;
                stack.push(element);
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(Error::TooDeep {
                        what: what.to_string(),
                        depth: MAX_DEPTH,
                        elements: MAX_ELEMENTS,
                    });
                }
                let element = start_element(&start).map_err(|m| syntax(&reader, None, m))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let done = stack.pop().expect("quick-xml checks end names");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml_content(XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(parent) => push_text(parent, &content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(syntax(
                            &reader,
                            Some(reader.buffer_position()),
                            if root.is_some() {
                                "Extra content at the end of the document".into()
                            } else {
                                "Start tag expected, '<' not found".into()
                            },
                        ));
                    }
                }
            }
            Event::CData(c) => {
                let content = c.to_string();
                if let Some(parent) = stack.last_mut() {
                    push_text(parent, &content);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => resolve_entity(&r),
                    Err(e) => return Err(syntax(&reader, None, e.to_string())),
                };
                let Some(c) = resolved else {
                    return Err(syntax(
                        &reader,
                        None,
                        format!("Entity '{}' not defined", &*r),
                    ));
                };
                if let Some(parent) = stack.last_mut() {
                    push_text(parent, c.encode_utf8(&mut [0u8; 4]));
                }
            }
            Event::Comment(c) => {
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Comment(c.to_string()));
                }
            }
            Event::DocType(_) => {
                // A DTD could declare entities; libvirt documents never carry one.
                return Err(syntax(
                    &reader,
                    None,
                    "document type declarations are not accepted".into(),
                ));
            }
            Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(syntax(
            &reader,
            Some(text.len() as u64),
            format!("Premature end of data in tag {}", open.name),
        ));
    }
    root.ok_or_else(|| Error::Syntax {
        what: what.to_string(),
        line: 1,
        column: 1,
        message: "Document is empty".into(),
        snippet: String::new(),
    })
}

fn push_text(parent: &mut Element, content: &str) {
    if let Some(Node::Text(last)) = parent.children.last_mut() {
        last.push_str(content);
    } else {
        parent.children.push(Node::Text(content.to_string()));
    }
}

/// Whether `name` is an XML Name (ASCII rules; any non-ASCII character is
/// accepted, as the full rules allow most of them). quick-xml takes `< />`
/// as an element with an empty name, which would then be written out as
/// `</>`: libxml2, and so libvirt, refuse it.
fn is_xml_name(name: &str) -> bool {
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii();
    let mut chars = name.chars();
    chars.next().is_some_and(first_ok)
        && chars.all(|c| first_ok(c) || c.is_ascii_digit() || c == '-' || c == '.')
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.name().as_ref().to_string();
    if !is_xml_name(&name) {
        return Err("StartTag: invalid element name".into());
    }
    let mut element = Element::new(name);
    // quick-xml's own duplicate check compares each attribute with every
    // earlier one: quadratic in a hostile element's attributes. A set is not.
    let mut seen = std::collections::HashSet::new();
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = attr.key.as_ref().to_string();
        if !is_xml_name(&key) {
            return Err("error parsing attribute name".into());
        }
        if !seen.insert(key.clone()) {
            return Err(format!("Attribute {key} redefined"));
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        element.attrs.push((key, value));
    }
    Ok(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_invalid_names_are_refused() {
        // Found by fuzzing: `< />` parsed, and came back out as `</>`.
        for doc in [
            "<a>< /></a>",
            "<a><1b/></a>",
            "<a -x='1'/>",
            "<a><b =\"1\"/></a>",
        ] {
            assert!(Element::parse(doc, "test").is_err(), "{doc}");
        }
        assert!(Element::parse("<a:b x-y.z='1'><_c/><d\u{e9}/></a:b>", "test").is_ok());
    }

    #[test]
    fn round_trips_attributes_text_and_entities() {
        let doc = "<a x=\"1 &amp; 2\"><b>t&lt;x&#65;</b><c/><!-- note --></a>";
        let root = Element::parse(doc, "test").unwrap();
        assert_eq!(root.attr("x"), Some("1 & 2"));
        assert_eq!(root.child_text("b").as_deref(), Some("t<xA"));
        let formatted = root.to_xml();
        assert_eq!(
            formatted,
            "<a x='1 &amp; 2'>\n  <b>t&lt;xA</b>\n  <c/>\n  <!-- note -->\n</a>\n"
        );
        assert_eq!(
            Element::parse(&formatted, "test").unwrap().to_xml(),
            formatted
        );
    }

    #[test]
    fn reports_line_and_column() {
        let err = Element::parse("<domain>\n  <name>x</nam>\n</domain>", "domain_definition")
            .unwrap_err();
        match err {
            Error::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("unexpected {other:?}"),
        }
        let err = Element::parse("<domain>\n<name>", "d").unwrap_err();
        assert!(err.to_string().starts_with("(d):2: "), "{err}");
    }

    #[test]
    fn refuses_deep_and_huge_documents() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            Element::parse(&deep, "d"),
            Err(Error::TooDeep { .. })
        ));
        let huge = format!("<a>{}</a>", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(
            Element::parse(&huge, "d"),
            Err(Error::TooLarge { .. })
        ));
        let bomb = "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
        assert!(Element::parse(bomb, "d").is_err());
    }

    #[test]
    fn refuses_trailing_content_and_empty_documents() {
        assert!(Element::parse("<a/><b/>", "d").is_err());
        assert!(Element::parse("  ", "d").is_err());
        assert!(Element::parse("text", "d").is_err());
        assert!(Element::parse("<a b='1' b='2'/>", "d").is_err());
    }
}
