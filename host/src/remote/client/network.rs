//! Virtual networks over the wire.

use uuid::Uuid;

use super::RemoteConn;
use crate::connect::{Connect, Error, Network, Result};
use crate::error::ErrorCode;
use crate::remote::protocol::*;
use crate::remote::refs::{self, wire_network};

fn handle(conn: &Connect, n: NonnullNetwork) -> Network {
    refs::network(conn, n)
}

fn args(net: &Network) -> NetworkArgs {
    NetworkArgs {
        net: wire_network(net),
    }
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

impl RemoteConn {
    pub(crate) fn lookup_network_by_name(&self, conn: &Connect, name: &str) -> Result<Network> {
        let args = NetworkLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: NetworkRet = self.call(REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, &args)?;
        Ok(handle(conn, ret.net))
    }

    pub(crate) fn lookup_network_by_uuid(&self, conn: &Connect, uuid: &Uuid) -> Result<Network> {
        let args = NetworkLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: NetworkRet = self.call(REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, &args)?;
        Ok(handle(conn, ret.net))
    }

    pub(crate) fn list_all_networks(&self, conn: &Connect, flags: u32) -> Result<Vec<Network>> {
        let args = ConnectListAllNetworksArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllNetworksRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, &args)?;
        Ok(ret.nets.into_iter().map(|n| handle(conn, n)).collect())
    }

    pub(crate) fn define_network_xml(&self, conn: &Connect, xml: &str) -> Result<Network> {
        let args = NetworkXmlArgs {
            xml: xml.to_string(),
        };
        let ret: NetworkRet = self.call(REMOTE_PROC_NETWORK_DEFINE_XML, &args)?;
        Ok(handle(conn, ret.net))
    }

    pub(crate) fn create_network_xml(&self, conn: &Connect, xml: &str) -> Result<Network> {
        let args = NetworkXmlArgs {
            xml: xml.to_string(),
        };
        let ret: NetworkRet = self.call(REMOTE_PROC_NETWORK_CREATE_XML, &args)?;
        Ok(handle(conn, ret.net))
    }

    pub(crate) fn network_is_active(&self, net: &Network) -> Result<bool> {
        let ret: IsActiveRet = self.call(REMOTE_PROC_NETWORK_IS_ACTIVE, &args(net))?;
        Ok(ret.active != 0)
    }

    pub(crate) fn network_is_persistent(&self, net: &Network) -> Result<bool> {
        let ret: IsPersistentRet = self.call(REMOTE_PROC_NETWORK_IS_PERSISTENT, &args(net))?;
        Ok(ret.persistent != 0)
    }

    pub(crate) fn network_autostart(&self, net: &Network) -> Result<bool> {
        let ret: AutostartRet = self.call(REMOTE_PROC_NETWORK_GET_AUTOSTART, &args(net))?;
        Ok(ret.autostart != 0)
    }

    pub(crate) fn network_bridge_name(&self, net: &Network) -> Result<Option<String>> {
        match self
            .call::<_, NetworkGetBridgeNameRet>(REMOTE_PROC_NETWORK_GET_BRIDGE_NAME, &args(net))
        {
            Ok(ret) => Ok(Some(ret.name).filter(|n| !n.is_empty())),
            // A network without a bridge: libvirt reports it as an error.
            Err(e) if e.code() == ErrorCode::INTERNAL_ERROR => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn network_xml_desc(&self, net: &Network, flags: u32) -> Result<String> {
        let args = NetworkGetXmlDescArgs {
            net: wire_network(net),
            flags,
        };
        let ret: XmlRet = self.call(REMOTE_PROC_NETWORK_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    pub(crate) fn network_start(&self, net: &Network) -> Result<()> {
        Ok(self.call(REMOTE_PROC_NETWORK_CREATE, &args(net))?)
    }

    pub(crate) fn network_destroy(&self, net: &Network) -> Result<()> {
        Ok(self.call(REMOTE_PROC_NETWORK_DESTROY, &args(net))?)
    }

    pub(crate) fn network_undefine(&self, net: &Network) -> Result<()> {
        Ok(self.call(REMOTE_PROC_NETWORK_UNDEFINE, &args(net))?)
    }

    pub(crate) fn network_set_autostart(&self, net: &Network, autostart: bool) -> Result<()> {
        let args = NetworkSetAutostartArgs {
            net: wire_network(net),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_NETWORK_SET_AUTOSTART, &args)?)
    }

    pub(crate) fn network_update(
        &self,
        net: &Network,
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
