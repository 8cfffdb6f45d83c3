//! A running guest's interface addresses (`virDomainInterfaceAddresses`).

use super::{Domain, Result, check_flags};

/// Where addresses come from (`virDomainInterfaceAddressesSource`).
pub mod ifaddr_source {
    /// DHCP leases of the networks the interfaces are on.
    pub const LEASE: u32 = 0;
    /// A guest agent (not offered by wirt's drivers).
    pub const AGENT: u32 = 1;
    /// The host's ARP table.
    pub const ARP: u32 = 2;
}

/// One address of an interface (`virDomainIPAddress`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IpAddress {
    /// 0 IPv4, 1 IPv6 (`virIPAddrType`).
    pub addr_type: u32,
    /// The address.
    pub addr: String,
    /// Its prefix length.
    pub prefix: u32,
}

/// One interface and its addresses (`virDomainInterface`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DomainInterface {
    /// The host-side device (`vnet0`), as libvirt names it.
    pub name: String,
    /// Its MAC address.
    pub hwaddr: Option<String>,
    /// Its addresses.
    pub addrs: Vec<IpAddress>,
}

impl Domain {
    /// The addresses of the running domain's interfaces, from `source`
    /// (an [`ifaddr_source`] value).
    pub fn interface_addresses(&self, source: u32, flags: u32) -> Result<Vec<DomainInterface>> {
        check_flags(flags, 0, "virDomainInterfaceAddresses")?;
        self.connect()
            .backend()
            .domain_interface_addresses(self.reference(), source)
    }
}
