//! `virDomainInterfaceAddresses` for local hosts: from the DHCP leases of
//! the networks a guest's interfaces are on, or from the host's ARP table.
//! A test host answers libvirt's test driver's made-up addresses.

use std::net::Ipv4Addr;

use super::Local;
use crate::connect::{DomainInterface, DomainRef, Error, IpAddress, Result, ifaddr_source};
use crate::error::ErrorCode;
use crate::xml::devices::Interface;

impl Local {
    pub(super) fn interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
    ) -> Result<Vec<DomainInterface>> {
        let (active, id, ifaces) = self.obj(dom, |o| {
            (o.is_active(), o.id.unwrap_or(0), o.def().interfaces())
        })?;
        if !active {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                "domain is not running",
            ));
        }
        if self.state.info.type_name == "TEST" {
            return Ok(self.test_addresses(id, &ifaces));
        }
        match source {
            ifaddr_source::LEASE => self.lease_addresses(&ifaces),
            ifaddr_source::ARP => Ok(arp_addresses(&ifaces, &read_arp_table())),
            ifaddr_source::AGENT => Err(Error::api(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                "Guest agent is not configured",
            )),
            other => Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("Unknown IP address data source {other}"),
            )),
        }
    }

    /// Each interface on a network, with the addresses its MAC leased there.
    fn lease_addresses(&self, ifaces: &[Interface]) -> Result<Vec<DomainInterface>> {
        let Some(driver) = &self.state.drivers.network else {
            return Ok(Vec::new());
        };
        let driver = driver.get()?;
        let mut out = Vec::new();
        for iface in ifaces.iter().filter(|i| i.kind == "network") {
            let (Some(mac), Some(network)) = (&iface.mac, &iface.source) else {
                continue;
            };
            let uuid = {
                let reg = self.state.lock();
                reg.network_by_name(network)
                    .filter(|n| n.is_active())
                    .map(|n| n.def().uuid)
            };
            let Some(uuid) = uuid else { continue };
            let addrs = driver
                .network_dhcp_leases(&uuid.to_string())?
                .into_iter()
                .filter(|l| {
                    l.mac
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(mac))
                })
                .map(|l| IpAddress {
                    addr_type: l.addr_type,
                    addr: l.ip,
                    prefix: l.prefix,
                })
                .collect();
            out.push(DomainInterface {
                name: iface.target_dev.clone().unwrap_or_else(|| "-".into()),
                hwaddr: Some(mac.clone()),
                addrs,
            });
        }
        Ok(out)
    }

    /// libvirt's test driver (`testDomainInterfaceAddresses`): an interface
    /// on a network gets the address `20 * (id - 1) + index + 1` past the
    /// start of the network's first DHCP range; any other gets
    /// `192.168.0.<index + 1>`; names are the target or `testnet<index>`.
    fn test_addresses(&self, id: u32, ifaces: &[Interface]) -> Vec<DomainInterface> {
        let reg = self.state.lock();
        ifaces
            .iter()
            .enumerate()
            .map(|(i, iface)| {
                let on_network = iface
                    .source
                    .as_deref()
                    .filter(|_| iface.kind == "network")
                    .and_then(|name| reg.network_by_name(name))
                    .and_then(|n| {
                        let ip = n.def().ips().into_iter().find(|ip| ip.family == "ipv4")?;
                        let start = ip
                            .dhcp_ranges
                            .first()
                            .map(|r| r.0.clone())
                            .unwrap_or(ip.address.clone());
                        Some((start.parse::<Ipv4Addr>().ok()?, ip.prefix))
                    });
                let (addr, prefix) = match on_network {
                    Some((start, prefix)) => {
                        let offset = 20 * id.saturating_sub(1) + i as u32 + 1;
                        (
                            Ipv4Addr::from(u32::from(start).wrapping_add(offset)),
                            prefix,
                        )
                    }
                    None => (Ipv4Addr::new(192, 168, 0, (i + 1) as u8), 24),
                };
                DomainInterface {
                    name: iface
                        .target_dev
                        .clone()
                        .unwrap_or_else(|| format!("testnet{i}")),
                    hwaddr: iface.mac.clone(),
                    addrs: vec![IpAddress {
                        addr_type: 0,
                        addr: addr.to_string(),
                        prefix,
                    }],
                }
            })
            .collect()
    }
}

/// `/proc/net/arp` of this process's network namespace, as (ip, mac).
fn read_arp_table() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
    parse_arp(&text)
}

fn parse_arp(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // IP, HW type, flags, HW address, mask, device; flags 0x0 is an
            // incomplete entry.
            let [ip, _, flags, mac, ..] = f[..] else {
                return None;
            };
            (flags != "0x0").then(|| (ip.to_string(), mac.to_string()))
        })
        .collect()
}

/// Each interface whose MAC the ARP table knows, with its addresses
/// (prefix 0: ARP does not say, as libvirt reports it).
fn arp_addresses(ifaces: &[Interface], table: &[(String, String)]) -> Vec<DomainInterface> {
    ifaces
        .iter()
        .filter_map(|iface| {
            let mac = iface.mac.as_ref()?;
            let addrs: Vec<IpAddress> = table
                .iter()
                .filter(|(_, m)| m.eq_ignore_ascii_case(mac))
                .map(|(ip, _)| IpAddress {
                    addr_type: 0,
                    addr: ip.clone(),
                    prefix: 0,
                })
                .collect();
            (!addrs.is_empty()).then(|| DomainInterface {
                name: iface.target_dev.clone().unwrap_or_else(|| "-".into()),
                hwaddr: Some(mac.clone()),
                addrs,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arp_table_gives_complete_entries_by_mac() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.168.150.45   0x1         0x2         52:54:00:aa:bb:cc     *        virbr0\n\
                    192.168.150.46   0x1         0x0         00:00:00:00:00:00     *        virbr0\n";
        let table = parse_arp(text);
        assert_eq!(table.len(), 1);
        let iface = Interface::from_element(
            &crate::xml::Element::parse(
                "<interface type='network'><mac address='52:54:00:AA:BB:CC'/>\
                 <source network='default'/><target dev='vnet0'/></interface>",
                "interface",
            )
            .unwrap(),
        );
        let got = arp_addresses(&[iface], &table);
        assert_eq!(got[0].name, "vnet0");
        assert_eq!(got[0].addrs[0].addr, "192.168.150.45");
    }
}
