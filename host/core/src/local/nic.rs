//! Interfaces on the host's side: what a driver that makes host devices
//! for `<interface>`s needs beyond the contract's record ([`HostNic`]),
//! with `<source network>` resolved through this connection's networks,
//! and the host device names written back into the live definition.

use super::Local;
use super::domain::persist;
use super::domain_config::affected;
use crate::connect::domain_flags as flags;
use crate::connect::{DomainRef, Error, Result, check_flags};
use crate::driver::{self, HostNic};
use crate::error::ErrorCode;
use crate::registry::Registry;
use crate::xml::DomainDef;
use crate::xml::devices::Interface;
use crate::xml::tree::{Element, Node};

/// One [`HostNic`] per `<interface>` of `def`, in order. A `network`
/// interface gets the bridge of its network, which must exist and be
/// active (libvirt's errors otherwise); this is the one place where a
/// network driver's networks meet domains: whatever serves networks on the
/// connection only has to keep them, with their `<bridge name>`, in the
/// registry.
pub(crate) fn host_nics(reg: &Registry, def: &DomainDef) -> Result<Vec<HostNic>> {
    def.interfaces()
        .into_iter()
        .map(|i| {
            let bridge = match i.kind.as_str() {
                "bridge" => i.source.clone(),
                "network" => {
                    let name = i.source.as_deref().unwrap_or_default();
                    Some(network_bridge(reg, name)?)
                }
                _ => None,
            };
            Ok(HostNic {
                bridge,
                link_up: !i.link_down,
                mtu: i.mtu,
                backend: i.backend,
            })
        })
        .collect()
}

/// The bridge of the active network `name`.
fn network_bridge(reg: &Registry, name: &str) -> Result<String> {
    let net = reg.network_by_name(name).ok_or_else(|| {
        Error::api(
            ErrorCode::NO_NETWORK,
            format!("no network with matching name '{name}'"),
        )
    })?;
    let live = net.live.as_ref().ok_or_else(|| {
        Error::api(
            ErrorCode::OPERATION_INVALID,
            format!("network '{name}' is not active"),
        )
    })?;
    live.bridge().ok_or_else(|| {
        Error::api(
            ErrorCode::CONFIG_UNSUPPORTED,
            format!("network '{name}' has no bridge for an interface to join"),
        )
    })
}

/// Writes the host device names a driver made into the live definition's
/// `<target dev>`s (what `domiflist` and `dumpxml` show).
pub(crate) fn record_targets(def: &mut DomainDef, targets: &[String]) {
    let ifaces = def.devices.iter_mut().filter(|d| d.name == "interface");
    for (iface, dev) in ifaces.zip(targets) {
        if !dev.is_empty() {
            crate::xml::devices::set_interface_target(iface, Some(dev));
        }
    }
}

/// Children an update may differ in besides `<link>`: what the host fills
/// in for a run (the device name) or never models.
const UPDATE_IGNORES: &[&str] = &["link", "target", "alias", "address"];

/// An interface element without what [`UPDATE_IGNORES`] lists and without
/// layout whitespace, for comparing what an update changes.
fn comparable(e: &Element) -> Element {
    let mut e = e.clone();
    e.children.retain(|n| match n {
        Node::Element(c) => !UPDATE_IGNORES.contains(&c.name.as_str()),
        Node::Text(t) => !t.trim().is_empty(),
        Node::Comment(_) => false,
    });
    e
}

/// The index of the interface with `mac` in `def` and its element.
fn find_by_mac<'a>(def: &'a DomainDef, mac: &str) -> Result<(usize, &'a Element)> {
    def.devices
        .iter()
        .filter(|d| d.name == "interface")
        .enumerate()
        .find(|(_, e)| {
            Interface::from_element(e)
                .mac
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
        .ok_or_else(|| {
            Error::api(
                ErrorCode::DEVICE_MISSING,
                format!("no device matching MAC address {mac} found"),
            )
        })
}

/// Sets `<link state>` of the interface number `index` of `def`.
fn set_link(def: &mut DomainDef, index: usize, up: bool) {
    let Some(iface) = def
        .devices
        .iter_mut()
        .filter(|d| d.name == "interface")
        .nth(index)
    else {
        return;
    };
    iface
        .children
        .retain(|n| !matches!(n, Node::Element(c) if c.name == "link"));
    let state = if up { "up" } else { "down" };
    iface.children.push(Node::Element(
        Element::new("link").with_attr("state", state),
    ));
}

impl Local {
    /// `virDomainUpdateDeviceFlags` for what wirt can change in place: an
    /// `<interface>`'s link state (`domif-setlink`), found by its MAC.
    pub(super) fn update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | 4,
            "virDomainUpdateDeviceFlags",
        )?;
        let device = Element::parse(xml, "device")?;
        // libvirt's test driver updates no device.
        if self.state.info.type_name == "TEST" && device.name == "disk" {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainUpdateDeviceFlags",
            ));
        }
        if device.name == "disk" {
            return self.update_media(dom, &device, flags);
        }
        if device.name != "interface" {
            return Err(Error::api(
                ErrorCode::OPERATION_UNSUPPORTED,
                format!("update of device '{}' is not supported", device.name),
            ));
        }
        let new = Interface::from_element(&device);
        let mac = new.mac.clone().ok_or_else(|| {
            Error::api(
                ErrorCode::OPERATION_UNSUPPORTED,
                "an interface to update must name its MAC address",
            )
        })?;
        let up = !new.link_down;
        let state = &self.state;
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            let check = |def: &DomainDef| -> Result<usize> {
                let (index, old) = find_by_mac(def, &mac)?;
                if comparable(old) != comparable(&device) {
                    return Err(Error::api(
                        ErrorCode::OPERATION_UNSUPPORTED,
                        format!(
                            "cannot change interface {mac}: only its link state can be updated"
                        ),
                    ));
                }
                Ok(index)
            };
            // Both checked before either changes.
            let live_index = if live { Some(check(obj.def())?) } else { None };
            let config_index = if config {
                Some(check(obj.inactive_def())?)
            } else {
                None
            };
            if let Some(index) = live_index {
                hv.set_interface_link(&uuid.to_string(), index, up)?;
                if let Some(def) = obj.live.as_mut() {
                    set_link(def, index, up);
                }
            }
            if let (Some(index), Some(def)) = (config_index, obj.config.as_mut()) {
                set_link(def, index, up);
            }
            persist(state, reg, uuid)?;
            // The running domain's live definition is in its runtime record.
            reg.record_runtime(uuid)?;
            Ok(())
        })
    }

    /// The driver's view of a definition about to start: volumes resolved
    /// and, for a driver that makes host devices for interfaces, their
    /// networks resolved and handed to it ([`HostNic`]).
    pub(crate) fn start_config(
        &self,
        reg: &Registry,
        def: &DomainDef,
        id: Option<u32>,
    ) -> Result<driver::DomainConfig> {
        let hv = self.hv();
        if let Some(why) = def.devices.iter().find_map(|d| hv.refuses_device(d)) {
            return Err(Error::api(ErrorCode::CONFIG_UNSUPPORTED, why));
        }
        let config = self.driver_config(reg, def, id)?;
        if hv.host_interfaces() {
            hv.prepare_interfaces(&config.uuid, host_nics(reg, def)?);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NetworkObj;
    use crate::xml::{NetworkDef, ParseOptions};

    fn domain(interfaces: &str) -> DomainDef {
        DomainDef::parse(
            &format!(
                "<domain type='kvm'><name>d</name><memory>1024</memory>\
                 <os><type>hvm</type></os><devices>{interfaces}</devices></domain>"
            ),
            ParseOptions::default(),
        )
        .unwrap()
    }

    fn with_network(reg: &mut Registry, name: &str, bridge: Option<&str>, active: bool) {
        let bridge = bridge.map_or(String::new(), |b| format!("<bridge name='{b}'/>"));
        let def =
            NetworkDef::parse(&format!("<network><name>{name}</name>{bridge}</network>")).unwrap();
        let obj = NetworkObj {
            config: Some(def.clone()),
            live: active.then_some(def),
            autostart: false,
        };
        reg.networks.insert(obj.def().uuid, obj);
    }

    #[test]
    fn bridges_links_and_mtus_are_carried() {
        let reg = Registry::default();
        let def = domain(
            "<interface type='bridge'><source bridge='br7'/><link state='down'/>\
             <mtu size='9000'/></interface><interface type='ethernet'/>\
             <interface type='user'><backend type='passt'/></interface>",
        );
        let nics = host_nics(&reg, &def).unwrap();
        assert_eq!(
            nics,
            vec![
                HostNic {
                    bridge: Some("br7".into()),
                    link_up: false,
                    mtu: Some(9000),
                    backend: None
                },
                HostNic {
                    link_up: true,
                    ..HostNic::default()
                },
                HostNic {
                    link_up: true,
                    backend: Some("passt".into()),
                    ..HostNic::default()
                },
            ]
        );
    }

    #[test]
    fn a_network_interface_joins_its_active_networks_bridge() {
        let mut reg = Registry::default();
        let def = domain("<interface type='network'><source network='lan'/></interface>");
        let e = host_nics(&reg, &def).unwrap_err();
        assert_eq!(e.code(), ErrorCode::NO_NETWORK);
        assert_eq!(e.to_string(), "no network with matching name 'lan'");

        with_network(&mut reg, "lan", Some("virbr3"), false);
        let e = host_nics(&reg, &def).unwrap_err();
        assert_eq!(e.code(), ErrorCode::OPERATION_INVALID);
        assert_eq!(e.to_string(), "network 'lan' is not active");

        let mut reg = Registry::default();
        with_network(&mut reg, "lan", Some("virbr3"), true);
        let nics = host_nics(&reg, &def).unwrap();
        assert_eq!(nics[0].bridge.as_deref(), Some("virbr3"));

        let mut reg = Registry::default();
        with_network(&mut reg, "lan", None, true);
        let e = host_nics(&reg, &def).unwrap_err();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
    }

    #[test]
    fn define_fills_macs_and_drops_generated_names() {
        let mut def = domain(
            "<interface type='ethernet'><target dev='vnet4'/></interface>\
             <interface type='ethernet'><mac address='52:54:00:00:00:09'/>\
             <target dev='mine'/></interface>",
        );
        crate::xml::devices::fill_interface_defaults(&mut def.devices, || [0xab, 0xcd, 0xef]);
        let ifaces = def.interfaces();
        assert_eq!(ifaces[0].mac.as_deref(), Some("52:54:00:ab:cd:ef"));
        assert_eq!(ifaces[0].target_dev, None);
        assert_eq!(ifaces[1].mac.as_deref(), Some("52:54:00:00:00:09"));
        assert_eq!(ifaces[1].target_dev.as_deref(), Some("mine"));
    }

    #[test]
    fn an_update_may_change_the_link_and_nothing_else() {
        let mut def = domain(
            "<interface type='bridge'><mac address='52:54:00:00:00:01'/>\
             <source bridge='br0'/><target dev='vnet0'/></interface>",
        );
        let parse = |xml: &str| Element::parse(xml, "device").unwrap();
        let (index, old) = find_by_mac(&def, "52:54:00:00:00:01").unwrap();
        assert_eq!(index, 0);
        // virsh sends the element back with a <link>, laid out anew.
        let same = parse(
            "<interface type='bridge'>\n  <mac address='52:54:00:00:00:01'/>\n  \
             <source bridge='br0'/>\n  <target dev='vnet0'/>\n  <link state='down'/>\n</interface>",
        );
        assert_eq!(comparable(old), comparable(&same));
        let other = parse(
            "<interface type='bridge'><mac address='52:54:00:00:00:01'/>\
             <source bridge='br1'/><link state='down'/></interface>",
        );
        assert_ne!(comparable(old), comparable(&other));
        let e = find_by_mac(&def, "52:54:00:00:00:02").unwrap_err();
        assert_eq!(e.code(), ErrorCode::DEVICE_MISSING);

        set_link(&mut def, 0, false);
        assert!(def.interfaces()[0].link_down);
        set_link(&mut def, 0, true);
        let iface = &def.devices[0];
        assert_eq!(iface.children_named("link").count(), 1);
        assert_eq!(iface.child("link").unwrap().attr("state"), Some("up"));
    }

    #[test]
    fn targets_go_into_the_live_definition() {
        let mut def = domain(
            "<interface type='ethernet'><mac address='52:54:00:00:00:01'/></interface>\
             <interface type='bridge'><source bridge='br0'/><target dev='mine'/></interface>",
        );
        record_targets(&mut def, &["vnet3".into(), "mine".into()]);
        let targets: Vec<_> = def.interfaces().into_iter().map(|i| i.target_dev).collect();
        assert_eq!(targets, [Some("vnet3".into()), Some("mine".into())]);
    }
}
