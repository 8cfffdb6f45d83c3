//! Host interfaces over the wire.

use super::RemoteConn;
use crate::protocol::*;
use wirt::connect::{IfaceBackend, IfaceRef, Result};

fn handle(i: NonnullInterface) -> IfaceRef {
    IfaceRef {
        name: i.name,
        mac: i.mac,
    }
}

fn wire(i: &IfaceRef) -> NonnullInterface {
    NonnullInterface {
        name: i.name.clone(),
        mac: i.mac.clone(),
    }
}

impl IfaceBackend for RemoteConn {
    fn list_all_interfaces(&self, flags: u32) -> Result<Vec<IfaceRef>> {
        let args = ConnectListAllInterfacesArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllInterfacesRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_INTERFACES, &args)?;
        Ok(ret.ifaces.into_iter().map(handle).collect())
    }

    fn lookup_interface_by_name(&self, name: &str) -> Result<IfaceRef> {
        let args = InterfaceLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: InterfaceLookupByNameRet =
            self.call(REMOTE_PROC_INTERFACE_LOOKUP_BY_NAME, &args)?;
        Ok(handle(ret.iface))
    }

    fn lookup_interface_by_mac(&self, mac: &str) -> Result<IfaceRef> {
        let args = InterfaceLookupByMacStringArgs {
            mac: mac.to_string(),
        };
        let ret: InterfaceLookupByMacStringRet =
            self.call(REMOTE_PROC_INTERFACE_LOOKUP_BY_MAC_STRING, &args)?;
        Ok(handle(ret.iface))
    }

    fn interface_xml_desc(&self, iface: &IfaceRef, flags: u32) -> Result<String> {
        let args = InterfaceGetXmlDescArgs {
            iface: wire(iface),
            flags,
        };
        let ret: InterfaceGetXmlDescRet = self.call(REMOTE_PROC_INTERFACE_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    fn interface_is_active(&self, iface: &IfaceRef) -> Result<bool> {
        let args = InterfaceIsActiveArgs { iface: wire(iface) };
        let ret: InterfaceIsActiveRet = self.call(REMOTE_PROC_INTERFACE_IS_ACTIVE, &args)?;
        Ok(ret.active != 0)
    }

    fn define_interface_xml(&self, xml: &str, flags: u32) -> Result<IfaceRef> {
        let args = InterfaceDefineXmlArgs {
            xml: xml.to_string(),
            flags,
        };
        let ret: InterfaceDefineXmlRet = self.call(REMOTE_PROC_INTERFACE_DEFINE_XML, &args)?;
        Ok(handle(ret.iface))
    }

    fn interface_undefine(&self, iface: &IfaceRef) -> Result<()> {
        let args = InterfaceUndefineArgs { iface: wire(iface) };
        Ok(self.call(REMOTE_PROC_INTERFACE_UNDEFINE, &args)?)
    }

    fn interface_create(&self, iface: &IfaceRef, flags: u32) -> Result<()> {
        let args = InterfaceCreateArgs {
            iface: wire(iface),
            flags,
        };
        Ok(self.call(REMOTE_PROC_INTERFACE_CREATE, &args)?)
    }

    fn interface_change_begin(&self, flags: u32) -> Result<()> {
        let args = InterfaceChangeBeginArgs { flags };
        Ok(self.call(REMOTE_PROC_INTERFACE_CHANGE_BEGIN, &args)?)
    }

    fn interface_change_commit(&self, flags: u32) -> Result<()> {
        let args = InterfaceChangeCommitArgs { flags };
        Ok(self.call(REMOTE_PROC_INTERFACE_CHANGE_COMMIT, &args)?)
    }

    fn interface_change_rollback(&self, flags: u32) -> Result<()> {
        let args = InterfaceChangeRollbackArgs { flags };
        Ok(self.call(REMOTE_PROC_INTERFACE_CHANGE_ROLLBACK, &args)?)
    }

    fn interface_destroy(&self, iface: &IfaceRef, flags: u32) -> Result<()> {
        let args = InterfaceDestroyArgs {
            iface: wire(iface),
            flags,
        };
        Ok(self.call(REMOTE_PROC_INTERFACE_DESTROY, &args)?)
    }
}
