//! Domain snapshot definitions (`<domainsnapshot>`).

use super::Error;
use super::ParseOptions;
use super::domain::{DomainDef, FormatOptions};
use super::tree::{Element, Node, rank};

/// A domain snapshot definition: libvirt's `<domainsnapshot>`.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotDef {
    /// `<name>`.
    pub name: String,
    /// `<description>`.
    pub description: Option<String>,
    /// The domain state when taken: "running", "paused", "shutoff"...
    pub state: String,
    /// `<creationTime>`: seconds since the epoch.
    pub creation_time: u64,
    /// `<parent><name>`: the snapshot it was taken on top of.
    pub parent: Option<String>,
    /// `<memory snapshot=...>`: "no", "internal", "external".
    pub memory: String,
    /// `<domain>`: the definition the domain had when it was taken.
    pub domain: Option<DomainDef>,
    /// Other children (`<disks>`...), verbatim.
    pub extra: Vec<Element>,
}

impl SnapshotDef {
    /// Parses the XML a user gives `snapshot-create`: name and description
    /// matter, the state and domain are the host's to fill in.
    pub fn parse_request(text: &str) -> Result<Self, Error> {
        let root = Element::parse(text, "domainsnapshot")?;
        Self::from_element(&root, false)
    }

    /// Parses stored snapshot metadata, including its domain.
    pub fn parse_stored(text: &str) -> Result<Self, Error> {
        let root = Element::parse(text, "domainsnapshot")?;
        Self::from_element(&root, true)
    }

    fn from_element(root: &Element, stored: bool) -> Result<Self, Error> {
        if root.name != "domainsnapshot" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <domainsnapshot>",
                root.name
            )));
        }
        let name = root.child_text("name").unwrap_or_default();
        if name.contains('/') {
            return Err(Error::Invalid(format!("invalid snapshot name '{name}'")));
        }
        // Snapshots taken by old libvirt versions record only the domain's
        // UUID (a <domain> with no type): kept verbatim.
        let domain = match root.child("domain") {
            Some(d) if stored && d.attr("type").is_some() => {
                Some(DomainDef::from_element(d, ParseOptions::default())?)
            }
            _ => None,
        };
        let legacy_domain = stored && domain.is_none();
        let memory = root.child("memory");
        // A <memory> with more than its snapshot mode (an external memory
        // file) is kept whole.
        let memory_verbatim = memory.filter(|m| m.attrs.iter().any(|(n, _)| n != "snapshot"));
        Ok(SnapshotDef {
            domain,
            name,
            description: root.child("description").map(|d| d.text()),
            state: root.child_text("state").unwrap_or_else(|| "shutoff".into()),
            creation_time: root
                .child_text("creationTime")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            parent: root.child("parent").and_then(|p| p.child_text("name")),
            memory: memory
                .and_then(|m| m.attr("snapshot"))
                .unwrap_or("no")
                .to_string(),
            extra: root
                .elements()
                .filter(|e| match e.name.as_str() {
                    "name" | "description" | "state" | "creationTime" | "parent" | "active" => {
                        false
                    }
                    // A request's <memory> stays as asked, so whoever plans
                    // the snapshot tells `snapshot='no'` from no element.
                    "memory" => memory_verbatim.is_some() || !stored,
                    "domain" => legacy_domain,
                    _ => true,
                })
                .cloned()
                .collect(),
        })
    }

    /// The whole snapshot, secrets included: what the host stores.
    pub fn to_xml(&self) -> String {
        self.to_element(false).to_xml()
    }

    /// What a client gets: the domain without its secrets, as libvirt
    /// without `VIR_DOMAIN_SNAPSHOT_XML_SECURE`.
    pub fn to_public_xml(&self) -> String {
        self.to_element(true).to_xml()
    }

    fn to_element(&self, public: bool) -> Element {
        let mut root = Element::new("domainsnapshot");
        let mut children = Vec::new();
        if !self.name.is_empty() {
            children.push(Element::new("name").with_text(&self.name));
        }
        if let Some(description) = &self.description {
            children.push(Element::new("description").with_text(description));
        }
        children.push(Element::new("state").with_text(&self.state));
        if let Some(parent) = &self.parent {
            children
                .push(Element::new("parent").with_child(Element::new("name").with_text(parent)));
        }
        children.push(Element::new("creationTime").with_text(self.creation_time.to_string()));
        match self.extra.iter().find(|e| e.name == "memory") {
            Some(memory) => {
                let mut memory = memory.clone();
                memory.set_attr("snapshot", &self.memory);
                children.push(memory);
            }
            None => children.push(Element::new("memory").with_attr("snapshot", &self.memory)),
        }
        children.extend(self.extra.iter().filter(|e| e.name != "memory").cloned());
        if let Some(domain) = &self.domain {
            children.push(if public {
                domain.to_public_element(FormatOptions::default())
            } else {
                domain.to_element(FormatOptions::default())
            });
        }
        children.sort_by_key(|e| rank(ORDER, &e.name));
        root.children = children.into_iter().map(Node::Element).collect();
        root
    }
}

/// `<domainsnapshot>` children in libvirt's output order.
const ORDER: &[&str] = &[
    "name",
    "description",
    "state",
    "parent",
    "creationTime",
    "memory",
    "disks",
    "domain",
    "inactiveDomain",
    "cookie",
];
