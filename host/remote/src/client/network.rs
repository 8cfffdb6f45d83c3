//! Virtual networks over the wire.

use uuid::Uuid;

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::{self, wire_network};
use wirt::connect::{Error, NetworkBackend, NetworkRef, Result};
use wirt::error::ErrorCode;

fn handle(n: NonnullNetwork) -> NetworkRef {
    refs::network(n)
}

/// virsh's `net-update` command words as `virNetworkUpdateCommand`.
pub(crate) fn update_command(command: &str) -> Option<u32> {
    Some(match command {
        "add" | "add-last" => network_update::COMMAND_ADD_LAST,
        "add-first" => network_update::COMMAND_ADD_FIRST,
        "delete" => network_update::COMMAND_DELETE,
        "modify" => network_update::COMMAND_MODIFY,
        _ => return None,
    })
}

impl NetworkBackend for RemoteConn {
    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        let args = NetworkLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: NetworkLookupByNameRet = self.call(REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, &args)?;
        Ok(handle(ret.net))
    }

    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        let args = NetworkLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: NetworkLookupByUuidRet = self.call(REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, &args)?;
        Ok(handle(ret.net))
    }

    fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        let args = ConnectListAllNetworksArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllNetworksRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, &args)?;
        Ok(ret.nets.into_iter().map(handle).collect())
    }

    fn define_network_xml(&self, xml: &str) -> Result<NetworkRef> {
        let args = NetworkDefineXmlArgs {
            xml: xml.to_string(),
        };
        let ret: NetworkDefineXmlRet = self.call(REMOTE_PROC_NETWORK_DEFINE_XML, &args)?;
        Ok(handle(ret.net))
    }

    fn create_network_xml(&self, xml: &str) -> Result<NetworkRef> {
        let args = NetworkCreateXmlArgs {
            xml: xml.to_string(),
        };
        let ret: NetworkCreateXmlRet = self.call(REMOTE_PROC_NETWORK_CREATE_XML, &args)?;
        Ok(handle(ret.net))
    }

    fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        let ret: NetworkIsActiveRet = self.call(
            REMOTE_PROC_NETWORK_IS_ACTIVE,
            &NetworkIsActiveArgs {
                net: wire_network(net),
            },
        )?;
        Ok(ret.active != 0)
    }

    fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        let ret: NetworkIsPersistentRet = self.call(
            REMOTE_PROC_NETWORK_IS_PERSISTENT,
            &NetworkIsPersistentArgs {
                net: wire_network(net),
            },
        )?;
        Ok(ret.persistent != 0)
    }

    fn network_autostart(&self, net: &NetworkRef) -> Result<bool> {
        let ret: NetworkGetAutostartRet = self.call(
            REMOTE_PROC_NETWORK_GET_AUTOSTART,
            &NetworkGetAutostartArgs {
                net: wire_network(net),
            },
        )?;
        Ok(ret.autostart != 0)
    }

    fn network_events(&self) -> Result<wirt::events::EventStream<wirt::events::NetworkEvent>> {
        Ok(self.subscribe_networks()?)
    }

    fn network_dhcp_leases(&self, net: &NetworkRef) -> Result<Vec<wirt::connect::DhcpLease>> {
        let ret: NetworkGetDhcpLeasesRet = self.call(
            REMOTE_PROC_NETWORK_GET_DHCP_LEASES,
            &NetworkGetDhcpLeasesArgs {
                net: wire_network(net),
                mac: None,
                need_results: 1,
                flags: 0,
            },
        )?;
        Ok(ret
            .leases
            .into_iter()
            .map(|l| wirt::connect::DhcpLease {
                iface: l.iface,
                expiry_time: l.expirytime,
                addr_type: l.r#type.max(0) as u32,
                mac: l.mac,
                iaid: l.iaid,
                ip: l.ipaddr,
                prefix: l.prefix,
                hostname: l.hostname,
                client_id: l.clientid,
            })
            .collect())
    }

    fn network_bridge_name(&self, net: &NetworkRef) -> Result<Option<String>> {
        match self.call::<_, NetworkGetBridgeNameRet>(
            REMOTE_PROC_NETWORK_GET_BRIDGE_NAME,
            &NetworkGetBridgeNameArgs {
                net: wire_network(net),
            },
        ) {
            Ok(ret) => Ok(Some(ret.name).filter(|n| !n.is_empty())),
            // A network without a bridge: libvirt reports it as an error.
            Err(e) if e.code() == ErrorCode::INTERNAL_ERROR => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn network_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        let args = NetworkGetXmlDescArgs {
            net: wire_network(net),
            flags,
        };
        let ret: NetworkGetXmlDescRet = self.call(REMOTE_PROC_NETWORK_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    fn network_start(&self, net: &NetworkRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_NETWORK_CREATE,
            &NetworkCreateArgs {
                net: wire_network(net),
            },
        )?)
    }

    fn network_destroy(&self, net: &NetworkRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_NETWORK_DESTROY,
            &NetworkDestroyArgs {
                net: wire_network(net),
            },
        )?)
    }

    fn network_undefine(&self, net: &NetworkRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_NETWORK_UNDEFINE,
            &NetworkUndefineArgs {
                net: wire_network(net),
            },
        )?)
    }

    fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        let args = NetworkSetAutostartArgs {
            net: wire_network(net),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_NETWORK_SET_AUTOSTART, &args)?)
    }

    fn network_update(
        &self,
        net: &NetworkRef,
        command: &str,
        section: &str,
        parent_index: Option<usize>,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        let command = update_command(command).ok_or_else(|| {
            Error::api(
                ErrorCode::INVALID_ARG,
                format!("unrecognized command name '{command}'"),
            )
        })?;
        let section = network_update::SECTIONS
            .iter()
            .position(|s| *s == section)
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("unrecognized section name '{section}'"),
                )
            })?;
        let args = NetworkUpdateArgs {
            net: wire_network(net),
            command,
            section: section as u32,
            parent_index: parent_index.map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MAX)),
            xml: xml.to_string(),
            flags,
        };
        Ok(self.call(REMOTE_PROC_NETWORK_UPDATE, &args)?)
    }
}
