//! Storage volume definitions (`<volume>`).
//!
//! Name, capacity, allocation and format are typed; `<target>` and every
//! other child (`<key>`, `<source>`, `<backingStore>`...) stay verbatim.

use super::Error;
use super::tree::{Element, Node, rank};
use super::units;

/// Volume formats libvirt knows: file formats of directory-like pools, then
/// partition types of disk pools.
pub const VOLUME_FORMATS: &[&str] = &[
    "raw",
    "dir",
    "bochs",
    "cloop",
    "dmg",
    "iso",
    "vpc",
    "vdi",
    "fat",
    "vhd",
    "ploop",
    "cow",
    "qcow",
    "qcow2",
    "qed",
    "vmdk",
    "none",
    "linux",
    "fat16",
    "fat32",
    "linux-swap",
    "linux-lvm",
    "linux-raid",
    "extended",
];

/// `<volume>` children in libvirt's output order.
const ORDER: &[&str] = &[
    "name",
    "key",
    "source",
    "capacity",
    "allocation",
    "physical",
    "target",
    "backingStore",
];

/// A storage volume definition: libvirt's `<volume>`.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeDef {
    /// `<name>`.
    pub name: String,
    /// `type` attribute: file, block, dir, network, netdir, ploop.
    pub kind: Option<String>,
    /// Bytes. 0 when a `vol-create-from` definition leaves it to the source.
    pub capacity: u64,
    /// None: as allocated as the driver makes it by default.
    pub allocation: Option<u64>,
    /// `<target><format type=...>`.
    pub format: Option<String>,
    /// `<target>` as written (path, permissions, encryption, features...);
    /// its `<format>` follows [`VolumeDef::format`] when formatted.
    pub target: Option<Element>,
    /// Other children (`<key>`, `<source>`, `<backingStore>`...), verbatim.
    pub extra: Vec<Element>,
}

/// What the driver reports of a volume, for `vol-dumpxml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeLive {
    /// `<volume type>`: file, block, dir...
    pub kind: String,
    /// `<key>`.
    pub key: String,
    /// `<target><path>`.
    pub path: String,
    /// `<capacity>`, bytes.
    pub capacity: u64,
    /// `<allocation>`, bytes.
    pub allocation: u64,
    /// `<target><format type>`.
    pub format: String,
}

impl VolumeDef {
    /// Parses the XML of `vol-create`: a capacity is required unless the
    /// volume has a backing store (libvirt's `VIR_VOL_XML_PARSE_OPT_CAPACITY`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_capacity(text, false)
    }

    /// Parses the XML of `vol-create-from`, where the capacity may be left
    /// out and comes from the source volume (`VIR_VOL_XML_PARSE_NO_CAPACITY`).
    pub fn parse_from(text: &str) -> Result<Self, Error> {
        Self::parse_capacity(text, true)
    }

    fn parse_capacity(text: &str, capacity_optional: bool) -> Result<Self, Error> {
        let root = Element::parse(text, "volume_definition")?;
        if root.name != "volume" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <volume>",
                root.name
            )));
        }
        let name = root
            .child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName {
                what: "storage volume",
            })?;
        check_volume_name(&name)?;
        let size = |tag: &str| -> Result<Option<u64>, Error> {
            root.child(tag)
                .map(|e| units::scaled_bytes(&e.text(), e.attr("unit"), "bytes", tag))
                .transpose()
        };
        let has_backing = root
            .child("backingStore")
            .is_some_and(|b| b.child_text("path").is_some_and(|p| !p.is_empty()));
        let capacity = match size("capacity")? {
            Some(c) => c,
            None if capacity_optional || has_backing => 0,
            None => return Err(Error::Invalid("missing capacity element".into())),
        };
        let allocation = size("allocation")?;
        let target = root.child("target").cloned();
        let format = target
            .as_ref()
            .and_then(|t| t.child("format"))
            .and_then(|f| f.attr("type"))
            .map(String::from);
        if let Some(format) = &format
            && !VOLUME_FORMATS.contains(&format.as_str())
        {
            return Err(Error::Invalid(format!(
                "unknown volume format type {format}"
            )));
        }
        Ok(VolumeDef {
            name,
            kind: root.attr("type").map(String::from),
            capacity,
            allocation,
            format,
            target,
            extra: root
                .elements()
                .filter(|e| {
                    !["name", "capacity", "allocation", "target"].contains(&e.name.as_str())
                })
                .cloned()
                .collect(),
        })
    }

    /// The definition, in libvirt's layout (sizes in bytes).
    pub fn to_xml(&self) -> String {
        let mut root = Element::new("volume");
        if let Some(kind) = &self.kind {
            root.set_attr("type", kind);
        }
        let mut children = vec![
            Element::new("name").with_text(&self.name),
            Element::new("capacity")
                .with_attr("unit", "bytes")
                .with_text(self.capacity.to_string()),
        ];
        if let Some(allocation) = self.allocation {
            children.push(
                Element::new("allocation")
                    .with_attr("unit", "bytes")
                    .with_text(allocation.to_string()),
            );
        }
        let mut target = self.target.clone();
        if let Some(format) = &self.format {
            let t = target.get_or_insert_with(|| Element::new("target"));
            match t.children.iter_mut().find_map(|n| match n {
                Node::Element(e) if e.name == "format" => Some(e),
                _ => None,
            }) {
                Some(f) => f.set_attr("type", format),
                None => t.children.push(Node::Element(
                    Element::new("format").with_attr("type", format),
                )),
            }
        } else if let Some(t) = &mut target {
            t.children
                .retain(|n| !matches!(n, Node::Element(e) if e.name == "format"));
        }
        children.extend(target);
        children.extend(self.extra.iter().cloned());
        children.sort_by_key(|e| rank(ORDER, &e.name));
        root.children = children.into_iter().map(Node::Element).collect();
        root.to_xml()
    }

    /// `vol-dumpxml` of a volume as its driver reports it.
    pub fn format_live(name: &str, live: &VolumeLive) -> String {
        let target = Element::new("target")
            .with_child(Element::new("path").with_text(&live.path))
            .with_child(Element::new("format").with_attr("type", &live.format));
        Element::new("volume")
            .with_attr("type", &live.kind)
            .with_child(Element::new("name").with_text(name))
            .with_child(Element::new("key").with_text(&live.key))
            .with_child(
                Element::new("capacity")
                    .with_attr("unit", "bytes")
                    .with_text(live.capacity.to_string()),
            )
            .with_child(
                Element::new("allocation")
                    .with_attr("unit", "bytes")
                    .with_text(live.allocation.to_string()),
            )
            .with_child(target)
            .to_xml()
    }
}

/// Volume names become file names: libvirt refuses '/', and wirt also refuses
/// `.`/`..`, NUL and control characters.
pub fn check_volume_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Invalid("volume name must not be empty".into()));
    }
    if name.contains('/') {
        return Err(Error::Invalid(format!(
            "volume name '{name}' cannot contain '/'"
        )));
    }
    if name == "." || name == ".." {
        return Err(Error::Invalid(format!(
            "volume name '{name}' is not allowed"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "volume name '{}' cannot contain control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_target_and_normalises_sizes() {
        let xml = "<volume><name>a.img</name><capacity unit='G'>1</capacity>\
                   <target><format type='qcow2'/><nocow/></target></volume>";
        let mut def = VolumeDef::parse(xml).unwrap();
        assert_eq!(def.capacity, 1 << 30);
        def.format = Some("raw".into());
        let out = def.to_xml();
        assert!(out.contains("<format type='raw'/>"), "{out}");
        assert!(out.contains("<nocow/>"), "{out}");
        assert!(out.contains("<capacity unit='bytes'>1073741824</capacity>"));
    }

    #[test]
    fn capacity_is_optional_only_with_a_source() {
        let bare = "<volume><name>a</name></volume>";
        assert!(VolumeDef::parse(bare).is_err());
        assert_eq!(VolumeDef::parse_from(bare).unwrap().capacity, 0);
        let backed = "<volume><name>a</name><backingStore><path>/b</path></backingStore></volume>";
        assert!(VolumeDef::parse(backed).is_ok());
    }
}
