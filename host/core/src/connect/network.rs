//! Network handles: lookups and definitions on [`Connect`], the rest on
//! [`Network`].

use uuid::Uuid;

use super::{Connect, NetworkRef, Result};

/// One DHCP lease (`virNetworkDHCPLease`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DhcpLease {
    /// The network's interface (its bridge).
    pub iface: String,
    /// When the lease ends, seconds since the epoch (0: never).
    pub expiry_time: i64,
    /// 0 IPv4, 1 IPv6 (`virIPAddrType`).
    pub addr_type: u32,
    /// The client's MAC address (IPv4).
    pub mac: Option<String>,
    /// The client's IAID (IPv6).
    pub iaid: Option<String>,
    /// The address leased.
    pub ip: String,
    /// Its prefix length.
    pub prefix: u32,
    /// The hostname the client gave.
    pub hostname: Option<String>,
    /// The client's DHCP client id (IPv4) or DUID (IPv6).
    pub client_id: Option<String>,
}

/// libvirt's flag bits for network calls.
pub mod network_flags {
    use wirt_vocab::flags::{ListNetworks, NetworkUpdate, NetworkXml};

    /// `VIR_CONNECT_LIST_NETWORKS_INACTIVE`.
    pub const LIST_INACTIVE: u32 = ListNetworks::INACTIVE.bits();
    /// `VIR_CONNECT_LIST_NETWORKS_ACTIVE`.
    pub const LIST_ACTIVE: u32 = ListNetworks::ACTIVE.bits();
    /// `VIR_CONNECT_LIST_NETWORKS_PERSISTENT`.
    pub const LIST_PERSISTENT: u32 = ListNetworks::PERSISTENT.bits();
    /// `VIR_CONNECT_LIST_NETWORKS_TRANSIENT`.
    pub const LIST_TRANSIENT: u32 = ListNetworks::TRANSIENT.bits();
    /// `VIR_CONNECT_LIST_NETWORKS_AUTOSTART`.
    pub const LIST_AUTOSTART: u32 = ListNetworks::AUTOSTART.bits();
    /// `VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART`.
    pub const LIST_NO_AUTOSTART: u32 = ListNetworks::NO_AUTOSTART.bits();
    /// `VIR_NETWORK_XML_INACTIVE`.
    pub const XML_INACTIVE: u32 = NetworkXml::INACTIVE.bits();
    /// `VIR_NETWORK_UPDATE_AFFECT_LIVE`.
    pub const UPDATE_LIVE: u32 = NetworkUpdate::LIVE.bits();
    /// `VIR_NETWORK_UPDATE_AFFECT_CONFIG`.
    pub const UPDATE_CONFIG: u32 = NetworkUpdate::CONFIG.bits();
}

/// A handle to a virtual network.
#[derive(Clone, Debug)]
pub struct Network {
    conn: Connect,
    r: NetworkRef,
}

impl Connect {
    /// A handle to the network `r` names, without a lookup.
    pub fn network(&self, r: NetworkRef) -> Network {
        Network {
            conn: self.clone(),
            r,
        }
    }

    /// The network named `name`.
    pub fn lookup_network_by_name(&self, name: &str) -> Result<Network> {
        Ok(self.network(self.backend().lookup_network_by_name(name)?))
    }

    /// The network with UUID `uuid`.
    pub fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<Network> {
        Ok(self.network(self.backend().lookup_network_by_uuid(uuid)?))
    }

    /// Networks matching libvirt's `VIR_CONNECT_LIST_NETWORKS_*` flags, by name.
    pub fn list_all_networks(&self, flags: u32) -> Result<Vec<Network>> {
        let mut refs = self.backend().list_all_networks(flags)?;
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(refs.into_iter().map(|r| self.network(r)).collect())
    }

    /// Defines (or redefines) a persistent network.
    pub fn define_network_xml(&self, xml: &str) -> Result<Network> {
        self.check_writable()?;
        Ok(self.network(self.backend().define_network_xml(xml)?))
    }

    /// Creates and starts a transient network.
    pub fn create_network_xml(&self, xml: &str) -> Result<Network> {
        self.check_writable()?;
        Ok(self.network(self.backend().create_network_xml(xml)?))
    }
}

impl Network {
    /// The network's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The network's UUID.
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }

    /// What this handle names.
    pub fn reference(&self) -> &NetworkRef {
        &self.r
    }

    /// Whether the network is active.
    pub fn is_active(&self) -> Result<bool> {
        self.conn.backend().network_is_active(&self.r)
    }

    /// Whether the network has a persistent definition.
    pub fn is_persistent(&self) -> Result<bool> {
        self.conn.backend().network_is_persistent(&self.r)
    }

    /// Whether the network starts with its host.
    pub fn autostart(&self) -> Result<bool> {
        self.conn.backend().network_autostart(&self.r)
    }

    /// The network's bridge device, if it has one.
    pub fn bridge_name(&self) -> Result<Option<String>> {
        self.conn.backend().network_bridge_name(&self.r)
    }

    /// The DHCP leases handed out on the active network
    /// (`virNetworkGetDHCPLeases`), only those of `mac` if given.
    pub fn dhcp_leases(&self, mac: Option<&str>, flags: u32) -> Result<Vec<DhcpLease>> {
        super::check_flags(flags, 0, "virNetworkGetDHCPLeases")?;
        let mut leases = self.conn.backend().network_dhcp_leases(&self.r)?;
        if let Some(mac) = mac {
            leases.retain(|l| {
                l.mac
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            });
        }
        Ok(leases)
    }

    /// The network XML. flags: 1 = the persistent (inactive) definition.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        self.conn.backend().network_xml_desc(&self.r, flags)
    }

    /// Starts a defined network.
    pub fn start(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().network_start(&self.r)
    }

    /// Stops an active network.
    pub fn destroy(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().network_destroy(&self.r)
    }

    /// Removes the persistent definition.
    pub fn undefine(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().network_undefine(&self.r)
    }

    /// Sets whether the network starts with its host.
    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        self.conn.check_writable()?;
        self.conn
            .backend()
            .network_set_autostart(&self.r, autostart)
    }

    /// `net-update`: the `ip-dhcp-host` section, with commands add,
    /// add-first, add-last, delete and modify. flags: 1 live, 2 config.
    pub fn update(
        &self,
        command: &str,
        section: &str,
        parent_index: Option<usize>,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        self.conn.check_writable()?;
        self.conn
            .backend()
            .network_update(&self.r, command, section, parent_index, xml, flags)
    }
}
