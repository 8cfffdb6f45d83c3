//! Storage pool (`<pool>`) and volume (`<volume>`) definitions.

use uuid::Uuid;

use super::Error;
use super::domain::{check_object_name, parse_uuid};
use super::tree::{Element, Node};
pub use super::volume::{VOLUME_FORMATS, VolumeDef, VolumeLive, check_volume_name};

/// The pool types libvirt knows (`<pool type>`).
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

/// A storage pool definition: libvirt's `<pool>`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolDef {
    /// `<pool type>`: one of [`POOL_TYPES`].
    pub pool_type: String,
    /// `<name>`.
    pub name: String,
    /// `<uuid>`.
    pub uuid: Uuid,
    /// `<source>`, verbatim (an empty one when absent, as libvirt writes it).
    pub source: Element,
    /// `<target><path>`.
    pub target_path: Option<String>,
    /// `<target>` children other than `<path>` (permissions...).
    pub target_extra: Vec<Element>,
    /// Other children (`<features>`, namespaced ones), verbatim.
    pub extra: Vec<Element>,
    /// Root attributes other than `type` (namespace declarations), verbatim.
    pub root_attrs: Vec<(String, String)>,
}

/// The live figures `pool-dumpxml` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSizes {
    /// `<capacity>`, bytes.
    pub capacity: u64,
    /// `<allocation>`, bytes.
    pub allocation: u64,
    /// `<available>`, bytes.
    pub available: u64,
}

impl PoolDef {
    /// A `dir` pool named `name` over the directory `target`, with a new UUID.
    pub fn new_dir(name: &str, target: &str) -> Self {
        PoolDef {
            pool_type: "dir".into(),
            name: name.into(),
            uuid: Uuid::new_v4(),
            source: Element::new("source"),
            target_path: Some(target.into()),
            target_extra: Vec::new(),
            extra: Vec::new(),
            root_attrs: Vec::new(),
        }
    }

    /// Parses and checks a `<pool>` document.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let root = Element::parse(text, "pool_definition")?;
        Self::from_element(&root)
    }

    /// Reads and checks a parsed `<pool>` element.
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
        let mut source = root
            .child("source")
            .cloned()
            .unwrap_or_else(|| Element::new("source"));
        let source_name = source.child_text("name").filter(|n| !n.is_empty());
        // Pools named after their source (a volume group, an RBD pool...)
        // may leave out <name>.
        let named_by_source = matches!(
            pool_type.as_str(),
            "logical" | "rbd" | "sheepdog" | "gluster" | "zfs" | "vstorage"
        );
        let name = root
            .child_text("name")
            .filter(|n| !n.is_empty())
            .or_else(|| source_name.clone().filter(|_| named_by_source))
            .ok_or(Error::NoName {
                what: "storage pool",
            })?;
        check_object_name(&name)?;
        let uuid = match root.child_text("uuid") {
            Some(text) => parse_uuid(&text)?,
            None => Uuid::new_v4(),
        };
        // A volume group is named after its pool unless it says otherwise.
        let source_name = match source_name {
            Some(n) => Some(n),
            None if pool_type == "logical" => {
                if source.children.iter().all(|n| matches!(n, Node::Text(_))) {
                    source.children.clear();
                }
                source
                    .children
                    .push(Node::Element(Element::new("name").with_text(&name)));
                Some(name.clone())
            }
            None => None,
        };
        let target = root.child("target");
        // libvirt derives the target of volume-group and ZFS pools from the
        // source; network pools have none.
        let target_path = match (pool_type.as_str(), &source_name) {
            ("logical", Some(vg)) => Some(format!("/dev/{vg}")),
            ("zfs", Some(pool)) => Some(format!("/dev/zvol/{pool}")),
            _ => target
                .and_then(|t| t.child_text("path"))
                .filter(|p| !p.is_empty()),
        };
        let network = matches!(
            pool_type.as_str(),
            "rbd" | "sheepdog" | "gluster" | "iscsi-direct"
        );
        if !network && target_path.is_none() {
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
            source,
            target_path,
            target_extra: target
                .map(|t| t.elements().filter(|e| e.name != "path").cloned().collect())
                .unwrap_or_default(),
            extra: root
                .elements()
                .filter(|e| !MODELLED.contains(&e.name.as_str()))
                .cloned()
                .collect(),
            root_attrs: root
                .attrs
                .iter()
                .filter(|(n, _)| n != "type")
                .cloned()
                .collect(),
        })
    }

    /// The definition as libvirt formats it (`pool-dumpxml`), with `sizes`.
    pub fn to_xml(&self, sizes: PoolSizes) -> String {
        let mut root = Element::new("pool").with_attr("type", &self.pool_type);
        root.attrs.extend(self.root_attrs.iter().cloned());
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
