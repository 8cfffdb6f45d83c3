//! Storage pool (`<pool>`) and volume (`<volume>`) definitions.

use uuid::Uuid;

use super::Error;
use super::domain::{check_object_name, parse_uuid};
use super::tree::{Element, Node};
use super::units;

pub const POOL_TYPES: &[&str] = &[
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "iscsi-direct",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
];

#[derive(Clone, Debug, PartialEq)]
pub struct PoolDef {
    pub pool_type: String,
    pub name: String,
    pub uuid: Uuid,
    /// `<source>`, verbatim (an empty one when absent, as libvirt writes it).
    pub source: Element,
    pub target_path: Option<String>,
    /// `<target>` children other than `<path>` (permissions...).
    pub target_extra: Vec<Element>,
    /// Other children (`<features>`, namespaced ones), verbatim.
    pub extra: Vec<Element>,
}

/// The live figures `pool-dumpxml` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSizes {
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

impl PoolDef {
    pub fn new_dir(name: &str, target: &str) -> Self {
        PoolDef {
            pool_type: "dir".into(),
            name: name.into(),
            uuid: Uuid::new_v4(),
            source: Element::new("source"),
            target_path: Some(target.into()),
            target_extra: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let root = Element::parse(text, "pool_definition")?;
        Self::from_element(&root)
    }

    pub fn from_element(root: &Element) -> Result<Self, Error> {
        if root.name != "pool" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <pool>",
                root.name
            )));
        }
        let pool_type = root
            .attr("type")
            .ok_or_else(|| Error::Invalid("storage pool missing type attribute".into()))?
            .to_string();
        if !POOL_TYPES.contains(&pool_type.as_str()) {
            return Err(Error::Invalid(format!(
                "unknown storage pool type {pool_type}"
            )));
        }
        let name = root
            .child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName {
                what: "storage pool",
            })?;
        check_object_name(&name)?;
        let uuid = match root.child_text("uuid") {
            Some(text) => parse_uuid(&text)?,
            None => Uuid::new_v4(),
        };
        let target = root.child("target");
        let target_path = target
            .and_then(|t| t.child_text("path"))
            .filter(|p| !p.is_empty());
        let needs_target = matches!(
            pool_type.as_str(),
            "dir" | "fs" | "netfs" | "logical" | "disk" | "iscsi" | "scsi" | "mpath"
        );
        if needs_target && target_path.is_none() {
            return Err(Error::Invalid("missing storage pool target path".into()));
        }
        const MODELLED: &[&str] = &[
            "name",
            "uuid",
            "source",
            "target",
            "capacity",
            "allocation",
            "available",
        ];
        Ok(PoolDef {
            pool_type,
            name,
            uuid,
            source: root
                .child("source")
                .cloned()
                .unwrap_or_else(|| Element::new("source")),
            target_path,
            target_extra: target
                .map(|t| t.elements().filter(|e| e.name != "path").cloned().collect())
                .unwrap_or_default(),
            extra: root
                .elements()
                .filter(|e| !MODELLED.contains(&e.name.as_str()))
                .cloned()
                .collect(),
        })
    }

    pub fn to_xml(&self, sizes: PoolSizes) -> String {
        let mut root = Element::new("pool").with_attr("type", &self.pool_type);
        let mut children = vec![
            Element::new("name").with_text(&self.name),
            Element::new("uuid").with_text(self.uuid.to_string()),
            Element::new("capacity")
                .with_attr("unit", "bytes")
                .with_text(sizes.capacity.to_string()),
            Element::new("allocation")
                .with_attr("unit", "bytes")
                .with_text(sizes.allocation.to_string()),
            Element::new("available")
                .with_attr("unit", "bytes")
                .with_text(sizes.available.to_string()),
        ];
        let mut source = self.source.clone();
        if source
            .children
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        {
            source.children = vec![Node::Text("\n".into())];
        }
        children.push(source);
        if self.target_path.is_some() || !self.target_extra.is_empty() {
            let mut target = Element::new("target");
            if let Some(path) = &self.target_path {
                target = target.with_child(Element::new("path").with_text(path));
            }
            target
                .children
                .extend(self.target_extra.iter().cloned().map(Node::Element));
            children.push(target);
        }
        children.extend(self.extra.iter().cloned());
        root.children = children.into_iter().map(Node::Element).collect();
        root.to_xml()
    }
}

pub const VOLUME_FORMATS: &[&str] = &[
    "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow",
    "qcow", "qcow2", "qed", "vmdk",
];

#[derive(Clone, Debug, PartialEq)]
pub struct VolumeDef {
    pub name: String,
    /// `type` attribute: file, block, dir, network, netdir, ploop.
    pub kind: Option<String>,
    pub capacity: u64,
    /// None: as allocated as the driver makes it by default.
    pub allocation: Option<u64>,
    pub format: Option<String>,
    /// Other children (`<source>`, `<backingStore>`, `<target>` extras...), verbatim.
    pub extra: Vec<Element>,
}

/// What the driver reports of a volume, for `vol-dumpxml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeLive {
    pub kind: String,
    pub key: String,
    pub path: String,
    pub capacity: u64,
    pub allocation: u64,
    pub format: String,
}

impl VolumeDef {
    pub fn parse(text: &str) -> Result<Self, Error> {
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
        let capacity =
            size("capacity")?.ok_or_else(|| Error::Invalid("missing capacity element".into()))?;
        let allocation = size("allocation")?;
        let format = root
            .child("target")
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
            extra: root
                .elements()
                .filter(|e| {
                    ![
                        "name",
                        "key",
                        "capacity",
                        "allocation",
                        "physical",
                        "target",
                    ]
                    .contains(&e.name.as_str())
                })
                .cloned()
                .collect(),
        })
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
