//! The virtual network definition (`<network>`).

use uuid::Uuid;

use super::Error;
use super::domain::{check_object_name, parse_uuid};
use super::tree::{Element, Node};

const ORDER: &[&str] = &[
    "name",
    "uuid",
    "metadata",
    "forward",
    "bridge",
    "mtu",
    "mac",
    "domain",
    "dns",
    "ip",
    "route",
    "portgroup",
    "bandwidth",
    "vlan",
    "port",
    "virtualport",
];

const FORWARD_MODES: &[&str] = &[
    "nat",
    "route",
    "open",
    "bridge",
    "private",
    "vepa",
    "passthrough",
    "hostdev",
];

/// A virtual network definition: libvirt's `<network>`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDef {
    /// `<name>`.
    pub name: String,
    /// `<uuid>`.
    pub uuid: Uuid,
    /// `ipv6='yes'` and other root attributes, verbatim.
    pub root_attrs: Vec<(String, String)>,
    /// Every child but name and uuid, in document order.
    pub children: Vec<Element>,
}

/// One `<ip>` of a network, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpDef {
    /// `<ip address>`.
    pub address: String,
    /// The prefix length: `<ip prefix>`, or from `<ip netmask>`.
    pub prefix: u32,
    /// `<ip family>`: "ipv4" or "ipv6".
    pub family: String,
    /// `<dhcp><range start end>`s.
    pub dhcp_ranges: Vec<(String, String)>,
    /// (mac, name, ip)
    pub dhcp_hosts: Vec<(Option<String>, Option<String>, String)>,
}

fn netmask_prefix(mask: &str) -> Option<u32> {
    let octets: Vec<u8> = mask
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    if octets.len() != 4 {
        return None;
    }
    let bits = u32::from_be_bytes([octets[0], octets[1], octets[2], octets[3]]);
    (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones())
}

impl NetworkDef {
    /// Parses and checks a `<network>` document.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let root = Element::parse(text, "network_definition")?;
        Self::from_element(&root)
    }

    /// Reads and checks a parsed `<network>` element.
    pub fn from_element(root: &Element) -> Result<Self, Error> {
        if root.name != "network" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <network>",
                root.name
            )));
        }
        let name = root
            .child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName { what: "network" })?;
        check_object_name(&name)?;
        let uuid = match root.child_text("uuid") {
            Some(text) => parse_uuid(&text)?,
            None => Uuid::new_v4(),
        };
        let mut children: Vec<Element> = root
            .elements()
            .filter(|e| e.name != "name" && e.name != "uuid")
            .cloned()
            .collect();
        let forward = root.child("forward");
        let mode = forward.map(|f| f.attr("mode").unwrap_or("nat"));
        if let Some(mode) = mode
            && !FORWARD_MODES.contains(&mode)
        {
            return Err(Error::Invalid(format!("unknown forwarding type '{mode}'")));
        }
        if let (Some(forward), Some(mode)) = (forward, mode) {
            if mode == "open" && forward.attr("dev").is_some() {
                return Err(Error::Invalid(format!(
                    "forward dev not allowed for network '{name}' with forward mode='{mode}'"
                )));
            }
            // Sets: a hostile document lists 100k of these.
            let mut seen = std::collections::HashSet::new();
            for iface in forward.children_named("interface") {
                if let Some(dev) = iface.attr("dev")
                    && !seen.insert(dev)
                {
                    return Err(Error::Invalid(format!(
                        "interface '{dev}' can only be listed once in network {name}"
                    )));
                }
            }
            let mut pci = std::collections::HashSet::new();
            for address in forward.children_named("address") {
                let key = ["domain", "bus", "slot", "function"]
                    .map(|a| address.attr(a).unwrap_or("").to_string());
                if pci.contains(&key) {
                    return Err(Error::Invalid(format!(
                        "PCI device '{}:{}:{}.{}' can only be listed once in network {name}",
                        key[0], key[1], key[2], key[3]
                    )));
                }
                pci.insert(key);
            }
        }
        if let Some(dns) = root.child("dns")
            && dns.attr("enable") == Some("no")
            && dns
                .elements()
                .any(|e| matches!(e.name.as_str(), "forwarder" | "host" | "srv" | "txt"))
        {
            return Err(Error::Invalid(format!(
                "Extra data in disabled network '{name}'"
            )));
        }
        for ip in root.children_named("ip") {
            if ip.attr("address").is_none() {
                return Err(Error::Invalid(format!(
                    "Missing required address attribute in network '{name}'"
                )));
            }
        }
        if let Some(mac) = root.child("mac").and_then(|m| m.attr("address"))
            && !super::devices::valid_mac(mac)
        {
            return Err(Error::Invalid(format!(
                "Invalid bridge mac address '{mac}' in network '{name}'"
            )));
        }
        // libvirt fills in the bridge's STP and delay defaults.
        for child in &mut children {
            if child.name == "bridge" && child.attr("name").is_some() {
                if child.attr("stp").is_none() {
                    child.set_attr("stp", "on");
                }
                if child.attr("delay").is_none() {
                    child.set_attr("delay", "0");
                }
            }
        }
        Ok(NetworkDef {
            name,
            uuid,
            root_attrs: root.attrs.clone(),
            children,
        })
    }

    /// The definition as libvirt formats it (`net-dumpxml`).
    pub fn to_xml(&self) -> String {
        self.to_element().to_xml()
    }

    /// The element of [`to_xml`](Self::to_xml).
    pub fn to_element(&self) -> Element {
        let mut root = Element::new("network");
        root.attrs = self.root_attrs.clone();
        let mut children = vec![
            Element::new("name").with_text(&self.name),
            Element::new("uuid").with_text(self.uuid.to_string()),
        ];
        children.extend(self.children.iter().cloned());
        children.sort_by_key(|e| {
            ORDER
                .iter()
                .position(|n| *n == e.name)
                .unwrap_or(ORDER.len())
        });
        root.children = children.into_iter().map(Node::Element).collect();
        root
    }

    /// `<forward mode>` ("nat" when `<forward>` names none); None for an
    /// isolated network.
    pub fn forward_mode(&self) -> Option<String> {
        self.children
            .iter()
            .find(|e| e.name == "forward")
            .map(|f| f.attr("mode").unwrap_or("nat").to_string())
    }

    /// `<bridge name>`.
    pub fn bridge(&self) -> Option<String> {
        self.children
            .iter()
            .find(|e| e.name == "bridge")
            .and_then(|b| b.attr("name"))
            .map(String::from)
    }

    /// `<mtu size>`.
    pub fn mtu(&self) -> Option<u32> {
        self.children
            .iter()
            .find(|e| e.name == "mtu")
            .and_then(|m| m.attr("size"))
            .and_then(|s| s.parse().ok())
    }

    /// `<domain name>`.
    pub fn domain_name(&self) -> Option<String> {
        self.children
            .iter()
            .find(|e| e.name == "domain")
            .and_then(|d| d.attr("name"))
            .map(String::from)
    }

    /// `<dns><host ip><hostname>…` as (ip, hostnames).
    pub fn dns_hosts(&self) -> Vec<(String, Vec<String>)> {
        let Some(dns) = self.children.iter().find(|e| e.name == "dns") else {
            return Vec::new();
        };
        dns.children_named("host")
            .map(|h| {
                (
                    h.attr("ip").unwrap_or_default().to_string(),
                    h.children_named("hostname").map(|n| n.text()).collect(),
                )
            })
            .collect()
    }

    /// Gives the network a bridge name and MAC if it has none, as libvirt's
    /// bridge driver does at define: the first `virbrN` no name in `taken`
    /// uses, and a MAC in QEMU's 52:54:00 range derived from the UUID (so
    /// it is stable). A `bridge`-mode network names its host's bridge
    /// itself, and other forward modes need none.
    pub fn assign_bridge(&mut self, taken: &[String]) {
        let needs = matches!(
            self.forward_mode().as_deref(),
            None | Some("nat") | Some("route") | Some("open")
        );
        if !needs {
            return;
        }
        if self.bridge().is_none() {
            let name = (0..)
                .map(|n| format!("virbr{n}"))
                .find(|n| !taken.contains(n))
                .expect("an unused name exists");
            match self.children.iter_mut().find(|e| e.name == "bridge") {
                Some(b) => b.set_attr("name", &name),
                None => {
                    let mut b = Element::new("bridge");
                    b.set_attr("name", &name);
                    b.set_attr("stp", "on");
                    b.set_attr("delay", "0");
                    self.children.push(b);
                }
            }
        }
        if self.mac().is_none() {
            let u = self.uuid.as_bytes();
            let mut m = Element::new("mac");
            m.set_attr(
                "address",
                format!("52:54:00:{:02x}:{:02x}:{:02x}", u[13], u[14], u[15]),
            );
            self.children.push(m);
        }
    }

    /// `<mac address>`.
    pub fn mac(&self) -> Option<String> {
        self.children
            .iter()
            .find(|e| e.name == "mac")
            .and_then(|m| m.attr("address"))
            .map(String::from)
    }

    /// The `<ip>`s, typed.
    pub fn ips(&self) -> Vec<IpDef> {
        self.children
            .iter()
            .filter(|e| e.name == "ip")
            .map(|ip| {
                let family = ip.attr("family").unwrap_or("ipv4").to_string();
                let prefix = ip
                    .attr("prefix")
                    .and_then(|p| p.parse().ok())
                    .or_else(|| ip.attr("netmask").and_then(netmask_prefix))
                    .unwrap_or(if family == "ipv6" { 64 } else { 24 });
                let dhcp = ip.child("dhcp");
                IpDef {
                    address: ip.attr("address").unwrap_or_default().to_string(),
                    prefix,
                    family,
                    dhcp_ranges: dhcp
                        .map(|d| {
                            d.children_named("range")
                                .map(|r| {
                                    (
                                        r.attr("start").unwrap_or_default().to_string(),
                                        r.attr("end").unwrap_or_default().to_string(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    dhcp_hosts: dhcp
                        .map(|d| {
                            d.children_named("host")
                                .map(|h| {
                                    (
                                        h.attr("mac").map(String::from),
                                        h.attr("name").map(String::from),
                                        h.attr("ip").unwrap_or_default().to_string(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// `net-update add|delete|modify ip-dhcp-host`: edits the `<dhcp>` of the
    /// first IPv4 `<ip>` (or the one at `parent_index`).
    pub fn update_dhcp_host(
        &mut self,
        command: &str,
        host: &Element,
        parent_index: Option<usize>,
    ) -> Result<(), Error> {
        if host.name != "host" {
            return Err(Error::Invalid(format!(
                "unexpected element <{}>, expecting <host>",
                host.name
            )));
        }
        let index = parent_index.unwrap_or(0);
        let ip = self
            .children
            .iter_mut()
            .filter(|e| e.name == "ip" && e.attr("family").unwrap_or("ipv4") == "ipv4")
            .nth(index)
            .ok_or_else(|| {
                Error::Invalid("couldn't locate a matching <ip> element in network".into())
            })?;
        if ip.child("dhcp").is_none() {
            ip.children.push(Node::Element(Element::new("dhcp")));
        }
        let dhcp = ip
            .children
            .iter_mut()
            .find_map(|n| match n {
                Node::Element(e) if e.name == "dhcp" => Some(e),
                _ => None,
            })
            .expect("inserted above");
        let same = |e: &Element| {
            (host.attr("mac").is_some() && e.attr("mac") == host.attr("mac"))
                || (host.attr("name").is_some() && e.attr("name") == host.attr("name"))
        };
        let existing = dhcp
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.name == "host" && same(e)));
        match (command, existing) {
            ("add" | "add-last" | "add-first", Some(_)) => {
                return Err(Error::Invalid(
                    "there is an existing dhcp host entry in network that matches".into(),
                ));
            }
            ("add" | "add-last", None) => dhcp.children.push(Node::Element(host.clone())),
            ("add-first", None) => dhcp.children.insert(0, Node::Element(host.clone())),
            ("delete", Some(i)) => {
                dhcp.children.remove(i);
            }
            ("modify", Some(i)) => dhcp.children[i] = Node::Element(host.clone()),
            ("delete" | "modify", None) => {
                return Err(Error::Invalid(
                    "couldn't locate a matching dhcp host entry in network".into(),
                ));
            }
            (other, _) => return Err(Error::Invalid(format!("unknown update command '{other}'"))),
        }
        Ok(())
    }
}
