//! Host interface definitions (`<interface type=... name=...>`, libvirt's
//! interface driver, not a domain's `<interface>`). wirt reads the name
//! and MAC address and keeps the rest as given.

use super::Error;
use super::tree::{Element, Node, rank};

/// libvirt's `virInterfaceDefDevFormat` order of an interface's children.
const ORDER: &[&str] = &[
    "start", "mtu", "protocol", "link", "mac", "bridge", "bond", "vlan",
];

/// A host interface's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceDef {
    /// `<interface name>`.
    pub name: String,
    /// The first `<mac address=...>`, empty when there is none.
    pub mac: String,
    /// The whole `<interface>` element, as given.
    pub element: Element,
}

impl IfaceDef {
    /// Parses interface XML, with libvirt's complaints.
    pub fn parse(text: &str) -> Result<IfaceDef, Error> {
        let root = Element::parse(text, "interface_definition")?;
        IfaceDef::from_element(&root)
    }

    /// Reads an `<interface>` element (a node file's).
    pub fn from_element(root: &Element) -> Result<IfaceDef, Error> {
        if root.name != "interface" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <interface>",
                root.name
            )));
        }
        let Some(kind) = root.attr("type") else {
            return Err(Error::Invalid("interface misses the type attribute".into()));
        };
        if !["ethernet", "bridge", "bond", "vlan"].contains(&kind) {
            return Err(Error::Invalid(format!("unknown interface type {kind}")));
        }
        let name = root
            .attr("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::Invalid("interface has no name".into()))?;
        // Kept as given, in libvirt's order (it writes its own layout back).
        let mut element = root.clone();
        element.children.retain(|n| matches!(n, Node::Element(_)));
        element.children.sort_by_key(|n| match n {
            Node::Element(e) => rank(ORDER, &e.name),
            _ => ORDER.len(),
        });
        Ok(IfaceDef {
            name: name.to_string(),
            mac: root
                .child("mac")
                .and_then(|m| m.attr("address"))
                .unwrap_or_default()
                .to_ascii_lowercase(),
            element,
        })
    }

    /// The definition in libvirt's layout.
    pub fn to_xml(&self) -> String {
        self.element.to_xml()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_mac_and_refuses_like_libvirt() {
        let def = IfaceDef::parse(
            "<interface type='ethernet' name='eth2'>\n  <mac address='AA:bb:cc:dd:ee:01'/>\n</interface>\n",
        )
        .unwrap();
        assert_eq!(
            (def.name.as_str(), def.mac.as_str()),
            ("eth2", "aa:bb:cc:dd:ee:01")
        );
        let e = IfaceDef::parse("<interface type='bridge'/>").unwrap_err();
        assert_eq!(e.to_string(), "interface has no name");
        assert!(IfaceDef::parse("<interface name='x'/>").is_err());
    }
}
