//! libvirt's test-driver node file (`test:///path/node.xml`): a whole
//! simulated host in one `<node>` document, objects inline or in files it
//! names. Reading those files is the caller's job (this module does no I/O).

use super::Error;
use super::ParseOptions;
use super::domain::DomainDef;
use super::iface::IfaceDef;
use super::network::NetworkDef;
use super::nodedev::NodeDeviceDef;
use super::pool::{PoolDef, VolumeDef};
use super::tree::Element;

const TEST_NS: &str = "http://libvirt.org/schemas/domain/test/1.0";

/// The host CPUs of a node file (`<cpu>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeCpu {
    /// `<mhz>`.
    pub mhz: Option<u32>,
    /// `<model>`.
    pub model: Option<String>,
    /// `<nodes>`: NUMA nodes.
    pub nodes: Option<u32>,
    /// `<sockets>` per node.
    pub sockets: Option<u32>,
    /// `<cores>` per socket.
    pub cores: Option<u32>,
    /// `<threads>` per core.
    pub threads: Option<u32>,
    /// `<active>`: CPUs online.
    pub active: Option<u32>,
}

/// A `<domain>` of a node file, with the test driver's extra elements.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeDomain {
    /// The definition.
    pub def: DomainDef,
    /// libvirt `virDomainState` from `<test:runstate>`; running when absent.
    pub runstate: u32,
    /// `<test:transient/>`: no persistent definition.
    pub transient: bool,
    /// `<test:hasmanagedsave/>`: it has a managed save image.
    pub has_managed_save: bool,
}

/// A test-driver node file (`<node>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeDef {
    /// `<cpu>`.
    pub cpu: NodeCpu,
    /// `<memory>`, KiB.
    pub memory_kib: Option<u64>,
    /// The `<domain>`s.
    pub domains: Vec<NodeDomain>,
    /// The `<network>`s.
    pub networks: Vec<NetworkDef>,
    /// The `<pool>`s, each with its `<volume>`s.
    pub pools: Vec<(PoolDef, Vec<VolumeDef>)>,
    /// Node devices (`<device>`), read-only.
    pub devices: Vec<NodeDeviceDef>,
    /// Host interfaces (`<interface>`), active as libvirt's test driver
    /// makes them.
    pub interfaces: Vec<IfaceDef>,
}

impl NodeDef {
    /// Parses a node document; `load` returns the text of a file a
    /// `file='...'` attribute names.
    pub fn parse(text: &str, load: &dyn Fn(&str) -> Result<String, Error>) -> Result<Self, Error> {
        let root = Element::parse(text, "node")?;
        if root.name != "node" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <node>",
                root.name
            )));
        }
        let resolve = |e: &Element, what: &str| -> Result<Element, Error> {
            match e.attr("file") {
                Some(file) => Element::parse(&load(file)?, what),
                None => Ok(e.clone()),
            }
        };
        let mut node = NodeDef::default();
        if let Some(cpu) = root.child("cpu") {
            let num = |n: &str| cpu.child_text(n).and_then(|v| v.parse().ok());
            node.cpu = NodeCpu {
                mhz: num("mhz"),
                model: cpu.child_text("model"),
                nodes: num("nodes"),
                sockets: num("sockets"),
                cores: num("cores"),
                threads: num("threads"),
                active: num("active"),
            };
        }
        node.memory_kib = root.child_text("memory").and_then(|m| m.parse().ok());
        for d in root.children_named("domain") {
            let mut element = resolve(d, "domain_definition")?;
            let prefix = element
                .attrs
                .iter()
                .find(|(n, v)| n.starts_with("xmlns:") && v == TEST_NS)
                .map(|(n, _)| n["xmlns:".len()..].to_string())
                .unwrap_or_else(|| "test".to_string());
            let tag = |local: &str| format!("{prefix}:{local}");
            let runstate = element
                .child_text(&tag("runstate"))
                .map(|s| {
                    s.parse::<u32>()
                        .ok()
                        .filter(|&n| n <= 7)
                        .ok_or_else(|| Error::Invalid(format!("invalid runstate '{s}'")))
                })
                .transpose()?
                .unwrap_or(1);
            let transient = element.child(&tag("transient")).is_some();
            let has_managed_save = element.child(&tag("hasmanagedsave")).is_some();
            let ours = [tag("runstate"), tag("transient"), tag("hasmanagedsave")];
            element.children.retain(|n| match n {
                super::tree::Node::Element(e) => !ours.contains(&e.name),
                _ => true,
            });
            element
                .attrs
                .retain(|(n, v)| !(n.starts_with("xmlns:") && v == TEST_NS));
            let mut def = DomainDef::from_element(&element, ParseOptions::default())?;
            def.fill_generic_defaults();
            node.domains.push(NodeDomain {
                def,
                runstate,
                transient,
                has_managed_save,
            });
        }
        for n in root.children_named("network") {
            node.networks.push(NetworkDef::from_element(&resolve(
                n,
                "network_definition",
            )?)?);
        }
        for p in root.children_named("pool") {
            let element = resolve(p, "pool_definition")?;
            let pool = PoolDef::from_element(&element)?;
            let mut volumes = Vec::new();
            for v in element.children_named("volume").chain(
                p.children_named("volume")
                    .filter(|_| p.attr("file").is_some()),
            ) {
                let v = resolve(v, "volume_definition")?;
                volumes.push(VolumeDef::parse(&v.to_xml())?);
            }
            node.pools.push((pool, volumes));
        }
        for d in root.children_named("device") {
            let element = resolve(d, "device_definition")?;
            node.devices.push(NodeDeviceDef::from_element(&element)?);
        }
        for i in root.children_named("interface") {
            let element = resolve(i, "interface_definition")?;
            node.interfaces.push(IfaceDef::from_element(&element)?);
        }
        Ok(node)
    }
}
