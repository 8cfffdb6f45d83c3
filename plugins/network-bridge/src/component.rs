//! The wit-bindgen glue (wasm32 only): the `network` export of world
//! `network-driver`, over the host's `netcap` import.

use crate::{Driver, Error, GUEST_DIR, Netcap, Rule, config};

/// Generated bindings and export glue: the only unsafe code in the crate.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "network-driver",
        path: "../../wit",
    });

    use super::NetworkBridge;
    export!(NetworkBridge with_types_in self);
}

use bindings::exports::wirt::driver::network::Guest;
use bindings::wirt::driver::netcap::{self, FirewallRule};
use bindings::wirt::driver::types::{self, DhcpLease, NetworkConfig};

struct NetworkBridge;

/// `netcap` as the driver's trait.
struct Host;

fn host_err(e: types::Error) -> Error {
    Error::Host {
        code: e.code,
        message: e.message,
    }
}

impl Netcap for Host {
    fn bridge_create(&self, name: &str, mtu: Option<u32>) -> Result<(), Error> {
        netcap::bridge_create(name, mtu).map_err(host_err)
    }
    fn bridge_owned(&self, name: &str) -> bool {
        netcap::bridge_owned(name)
    }
    fn bridge_delete(&self, name: &str) -> Result<(), Error> {
        netcap::bridge_delete(name).map_err(host_err)
    }
    fn address_add(&self, name: &str, address: &str, prefix: u32) -> Result<(), Error> {
        netcap::address_add(name, address, prefix).map_err(host_err)
    }
    fn link_up(&self, name: &str) -> Result<(), Error> {
        netcap::link_up(name).map_err(host_err)
    }
    fn firewall_set(&self, bridge: &str, rules: &[Rule]) -> Result<(), Error> {
        let rules: Vec<FirewallRule> = rules
            .iter()
            .map(|r| {
                let (kind, subnet) = match r {
                    Rule::AllowDhcpDns => ("allow-dhcp-dns", None),
                    Rule::Masquerade(s) => ("masquerade", Some(s.clone())),
                    Rule::ForwardOutbound(s) => ("forward-outbound", Some(s.clone())),
                    Rule::ForwardRouted(s) => ("forward-routed", Some(s.clone())),
                    Rule::ForwardIsolated => ("forward-isolated", None),
                };
                FirewallRule {
                    kind: kind.into(),
                    subnet,
                }
            })
            .collect();
        netcap::firewall_set(bridge, &rules).map_err(host_err)
    }
    fn firewall_clear(&self, bridge: &str) -> Result<(), Error> {
        netcap::firewall_clear(bridge).map_err(host_err)
    }
    fn dnsmasq_start(&self, bridge: &str, config: &str) -> Result<u32, Error> {
        netcap::dnsmasq_start(bridge, config).map_err(host_err)
    }
    fn dnsmasq_reload(&self, bridge: &str) -> Result<(), Error> {
        netcap::dnsmasq_reload(bridge).map_err(host_err)
    }
    fn dnsmasq_stop(&self, bridge: &str) -> Result<(), Error> {
        netcap::dnsmasq_stop(bridge).map_err(host_err)
    }
}

fn driver() -> Driver<Host> {
    Driver::new(Host, GUEST_DIR)
}

fn wit_err(e: Error) -> types::Error {
    types::Error {
        code: e.code(),
        message: e.to_string(),
    }
}

fn network_config(c: NetworkConfig) -> config::NetworkConfig {
    config::NetworkConfig {
        uuid: c.uuid,
        name: c.name,
        forward_mode: c.forward_mode,
        bridge: c.bridge,
        ips: c
            .ips
            .into_iter()
            .map(|ip| config::IpConfig {
                address: ip.address,
                prefix: ip.prefix,
                family: ip.family,
                dhcp_ranges: ip.dhcp_ranges,
                dhcp_hosts: ip
                    .dhcp_hosts
                    .into_iter()
                    .map(|h| config::DhcpHost {
                        mac: h.mac,
                        name: h.name,
                        ip: h.ip,
                    })
                    .collect(),
            })
            .collect(),
        mtu: c.mtu,
        domain: c.domain,
        dns_hosts: c
            .dns_hosts
            .into_iter()
            .map(|h| config::DnsHost {
                ip: h.ip,
                hostnames: h.hostnames,
            })
            .collect(),
    }
}

impl Guest for NetworkBridge {
    fn network_start(config: NetworkConfig, _flags: u32) -> Result<(), types::Error> {
        driver().start(&network_config(config)).map_err(wit_err)
    }

    fn network_stop(uuid: String) -> Result<(), types::Error> {
        driver().stop(&uuid).map_err(wit_err)
    }

    fn network_update(config: NetworkConfig, _flags: u32) -> Result<(), types::Error> {
        driver().update(&network_config(config)).map_err(wit_err)
    }

    fn network_dhcp_leases(uuid: String) -> Result<Vec<DhcpLease>, types::Error> {
        let (bridge, leases) = driver().leases(&uuid).map_err(wit_err)?;
        Ok(leases
            .into_iter()
            .map(|l| DhcpLease {
                iface: bridge.clone(),
                expiry_time: l.expiry_time,
                addr_type: l.addr_type,
                prefix: l.prefix,
                mac: l.mac,
                iaid: l.iaid,
                ip: l.ip,
                hostname: l.hostname,
                client_id: l.client_id,
            })
            .collect())
    }
}
