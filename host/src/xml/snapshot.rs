//! Domain snapshot definitions (`<domainsnapshot>`).

use super::Error;
use super::domain::{DomainDef, FormatOptions, ParseOptions};
use super::tree::{Element, Node};

#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotDef {
    pub name: String,
    pub description: Option<String>,
    /// The domain state when taken: "running", "paused", "shutoff"...
    pub state: String,
    pub creation_time: u64,
    pub parent: Option<String>,
    /// `<memory snapshot=...>`: "no", "internal", "external".
    pub memory: String,
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
        let domain = match root.child("domain") {
            Some(d) if stored => Some(DomainDef::from_element(d, ParseOptions::default())?),
            _ => None,
        };
        Ok(SnapshotDef {
            name,
            description: root.child("description").map(|d| d.text()),
            state: root.child_text("state").unwrap_or_else(|| "shutoff".into()),
            creation_time: root
                .child_text("creationTime")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            parent: root.child("parent").and_then(|p| p.child_text("name")),
            memory: root
                .child("memory")
                .and_then(|m| m.attr("snapshot"))
                .unwrap_or("no")
                .to_string(),
            domain,
            extra: root
                .elements()
                .filter(|e| {
                    ![
                        "name",
                        "description",
                        "state",
                        "creationTime",
                        "parent",
                        "memory",
                        "domain",
                        "active",
                    ]
                    .contains(&e.name.as_str())
                })
                .cloned()
                .collect(),
        })
    }

    pub fn to_xml(&self) -> String {
        let mut root = Element::new("domainsnapshot");
        let mut children = vec![Element::new("name").with_text(&self.name)];
        if let Some(description) = &self.description {
            children.push(Element::new("description").with_text(description));
        }
        children.push(Element::new("state").with_text(&self.state));
        if let Some(parent) = &self.parent {
            children
                .push(Element::new("parent").with_child(Element::new("name").with_text(parent)));
        }
        children.push(Element::new("creationTime").with_text(self.creation_time.to_string()));
        children.push(Element::new("memory").with_attr("snapshot", &self.memory));
        children.extend(self.extra.iter().cloned());
        if let Some(domain) = &self.domain {
            children.push(domain.to_element(FormatOptions::default()));
        }
        root.children = children.into_iter().map(Node::Element).collect();
        root.to_xml()
    }
}
