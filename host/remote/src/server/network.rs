//! Virtual network procedures.

use super::handles::{network, wire_network};
use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::network_flags as flags;
use wirt::connect::{Connect, Error, Result};
use wirt::error::ErrorCode;

/// `VIR_NETWORK_DEFINE_VALIDATE` / `VIR_NETWORK_CREATE_VALIDATE`: wirt
/// always validates.
const VALIDATE: u32 = 1;

fn int(b: bool) -> i32 {
    i32::from(b)
}

fn names(conn: &Connect, flags: u32, max: i32) -> Result<Vec<String>> {
    let names: Vec<String> = conn
        .list_all_networks(flags)?
        .iter()
        .map(|n| n.name().to_string())
        .take(usize::try_from(max).unwrap_or(0))
        .collect();
    check_list_len(names.len(), REMOTE_NETWORK_LIST_MAX, "networks")?;
    Ok(names)
}

fn count(conn: &Connect, flags: u32) -> Result<i32> {
    Ok(conn.list_all_networks(flags)?.len() as i32)
}

fn update(conn: &Connect, a: NetworkUpdateArgs) -> Result<()> {
    let command = match a.command {
        network_update::COMMAND_MODIFY => "modify",
        network_update::COMMAND_DELETE => "delete",
        network_update::COMMAND_ADD_LAST => "add-last",
        network_update::COMMAND_ADD_FIRST => "add-first",
        other => {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("unrecognized network update command {other}"),
            ));
        }
    };
    let section = network_update::SECTIONS
        .get(a.section as usize)
        .copied()
        .unwrap_or("none");
    let parent = usize::try_from(a.parent_index).ok();
    network(conn, a.net).update(command, section, parent, &a.xml, a.flags)
}

fn check_validate(flags: u32, function: &str) -> Result<()> {
    wirt::connect::check_flags(flags, VALIDATE, function)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectListAllNetworks(a) => conn.list_all_networks(a.flags).and_then(|nets| {
            check_list_len(nets.len(), REMOTE_NETWORK_LIST_MAX, "networks")?;
            Ok(Reply::ConnectListAllNetworks(ConnectListAllNetworksRet {
                ret: nets.len() as u32,
                nets: if a.need_results != 0 {
                    nets.iter().map(wire_network).collect()
                } else {
                    Vec::new()
                },
            }))
        }),
        Call::ConnectNumOfNetworks(()) => count(conn, flags::LIST_ACTIVE)
            .map(|num| Reply::ConnectNumOfNetworks(ConnectNumOfNetworksRet { num })),
        Call::ConnectListNetworks(a) => names(conn, flags::LIST_ACTIVE, a.maxnames)
            .map(|names| Reply::ConnectListNetworks(ConnectListNetworksRet { names })),
        Call::ConnectNumOfDefinedNetworks(()) => count(conn, flags::LIST_INACTIVE)
            .map(|num| Reply::ConnectNumOfDefinedNetworks(ConnectNumOfDefinedNetworksRet { num })),
        Call::ConnectListDefinedNetworks(a) => {
            names(conn, flags::LIST_INACTIVE, a.maxnames).map(|names| {
                Reply::ConnectListDefinedNetworks(ConnectListDefinedNetworksRet { names })
            })
        }
        Call::NetworkLookupByName(a) => conn.lookup_network_by_name(&a.name).map(|n| {
            Reply::NetworkLookupByName(NetworkLookupByNameRet {
                net: wire_network(&n),
            })
        }),
        Call::NetworkLookupByUuid(a) => conn
            .lookup_network_by_uuid(&uuid::Uuid::from_bytes(a.uuid))
            .map(|n| {
                Reply::NetworkLookupByUuid(NetworkLookupByUuidRet {
                    net: wire_network(&n),
                })
            }),
        Call::NetworkDefineXml(a) => conn.define_network_xml(&a.xml).map(|n| {
            Reply::NetworkDefineXml(NetworkDefineXmlRet {
                net: wire_network(&n),
            })
        }),
        Call::NetworkDefineXmlFlags(a) => check_validate(a.flags, "virNetworkDefineXMLFlags")
            .and_then(|()| conn.define_network_xml(&a.xml))
            .map(|n| {
                Reply::NetworkDefineXmlFlags(NetworkDefineXmlFlagsRet {
                    net: wire_network(&n),
                })
            }),
        Call::NetworkCreateXml(a) => conn.create_network_xml(&a.xml).map(|n| {
            Reply::NetworkCreateXml(NetworkCreateXmlRet {
                net: wire_network(&n),
            })
        }),
        Call::NetworkCreateXmlFlags(a) => check_validate(a.flags, "virNetworkCreateXMLFlags")
            .and_then(|()| conn.create_network_xml(&a.xml))
            .map(|n| {
                Reply::NetworkCreateXmlFlags(NetworkCreateXmlFlagsRet {
                    net: wire_network(&n),
                })
            }),
        Call::NetworkCreate(a) => network(conn, a.net).start().map(Reply::NetworkCreate),
        Call::NetworkDestroy(a) => network(conn, a.net).destroy().map(Reply::NetworkDestroy),
        Call::NetworkUndefine(a) => network(conn, a.net).undefine().map(Reply::NetworkUndefine),
        Call::NetworkGetXmlDesc(a) => network(conn, a.net)
            .xml_desc(a.flags)
            .map(|xml| Reply::NetworkGetXmlDesc(NetworkGetXmlDescRet { xml })),
        Call::NetworkGetAutostart(a) => network(conn, a.net)
            .autostart()
            .map(|b| Reply::NetworkGetAutostart(NetworkGetAutostartRet { autostart: int(b) })),
        Call::NetworkSetAutostart(a) => network(conn, a.net)
            .set_autostart(a.autostart != 0)
            .map(Reply::NetworkSetAutostart),
        Call::NetworkIsActive(a) => network(conn, a.net)
            .is_active()
            .map(|b| Reply::NetworkIsActive(NetworkIsActiveRet { active: int(b) })),
        Call::NetworkIsPersistent(a) => network(conn, a.net)
            .is_persistent()
            .map(|b| Reply::NetworkIsPersistent(NetworkIsPersistentRet { persistent: int(b) })),
        Call::NetworkGetBridgeName(a) => {
            let net = network(conn, a.net);
            net.bridge_name().and_then(|name| match name {
                Some(name) => Ok(Reply::NetworkGetBridgeName(NetworkGetBridgeNameRet {
                    name,
                })),
                None => Err(Error::api(
                    ErrorCode::INTERNAL_ERROR,
                    format!("network '{}' does not have a bridge name.", net.name()),
                )),
            })
        }
        Call::NetworkUpdate(a) => update(conn, a).map(Reply::NetworkUpdate),
        Call::DomainInterfaceAddresses(a) => super::handles::domain(conn, a.dom)
            .interface_addresses(a.source, a.flags)
            .map(|ifaces| {
                Reply::DomainInterfaceAddresses(DomainInterfaceAddressesRet {
                    ifaces: ifaces
                        .into_iter()
                        .map(|i| DomainInterface {
                            name: i.name,
                            hwaddr: i.hwaddr,
                            addrs: i
                                .addrs
                                .into_iter()
                                .map(|a| DomainIpAddr {
                                    r#type: a.addr_type as i32,
                                    addr: a.addr,
                                    prefix: a.prefix,
                                })
                                .collect(),
                        })
                        .collect(),
                })
            }),
        Call::NetworkGetDhcpLeases(a) => {
            let net = network(conn, a.net);
            net.dhcp_leases(a.mac.as_deref(), a.flags).map(|leases| {
                let count = leases.len() as u32;
                let leases = if a.need_results != 0 {
                    leases
                        .into_iter()
                        .map(|l| NetworkDhcpLease {
                            iface: l.iface,
                            expirytime: l.expiry_time,
                            r#type: l.addr_type as i32,
                            mac: l.mac,
                            iaid: l.iaid,
                            ipaddr: l.ip,
                            prefix: l.prefix,
                            hostname: l.hostname,
                            clientid: l.client_id,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Reply::NetworkGetDhcpLeases(NetworkGetDhcpLeasesRet { leases, ret: count })
            })
        }
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
