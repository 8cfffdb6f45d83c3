//! Host interfaces (`virInterface*`): the host's own network interfaces,
//! as libvirt's interface driver shows them.

use super::{Connect, Error, Result};
use crate::error::ErrorCode;

/// libvirt's flag bits for interface calls.
pub mod iface_flags {
    /// `VIR_CONNECT_LIST_INTERFACES_INACTIVE`.
    pub const LIST_INACTIVE: u32 = 1;
    /// `VIR_CONNECT_LIST_INTERFACES_ACTIVE`.
    pub const LIST_ACTIVE: u32 = 2;
    /// `VIR_INTERFACE_XML_INACTIVE`.
    pub const XML_INACTIVE: u32 = 1;
    /// `VIR_INTERFACE_DEFINE_VALIDATE`: wirt always validates.
    pub const DEFINE_VALIDATE: u32 = 1;
}

/// An interface as the API and the wire name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceRef {
    /// The interface's name, which identifies it.
    pub name: String,
    /// Its MAC address (may be empty).
    pub mac: String,
}

fn unsupported<T>(function: &str) -> Result<T> {
    Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()))
}

/// Host interfaces. Every call defaults to "not supported".
pub trait IfaceBackend {
    /// Interfaces matching `VIR_CONNECT_LIST_INTERFACES_*` flags.
    fn list_all_interfaces(&self, _flags: u32) -> Result<Vec<IfaceRef>> {
        unsupported("virConnectListAllInterfaces")
    }
    /// The interface named `name`.
    fn lookup_interface_by_name(&self, _name: &str) -> Result<IfaceRef> {
        unsupported("virInterfaceLookupByName")
    }
    /// The interface with MAC address `mac`.
    fn lookup_interface_by_mac(&self, _mac: &str) -> Result<IfaceRef> {
        unsupported("virInterfaceLookupByMACString")
    }
    /// The interface's XML.
    fn interface_xml_desc(&self, _iface: &IfaceRef, _flags: u32) -> Result<String> {
        unsupported("virInterfaceGetXMLDesc")
    }
    /// Whether the interface is up.
    fn interface_is_active(&self, _iface: &IfaceRef) -> Result<bool> {
        unsupported("virInterfaceIsActive")
    }
    /// Defines (or redefines) an interface.
    fn define_interface_xml(&self, _xml: &str, _flags: u32) -> Result<IfaceRef> {
        unsupported("virInterfaceDefineXML")
    }
    /// Removes the interface's definition.
    fn interface_undefine(&self, _iface: &IfaceRef) -> Result<()> {
        unsupported("virInterfaceUndefine")
    }
    /// Brings the interface up.
    fn interface_create(&self, _iface: &IfaceRef, _flags: u32) -> Result<()> {
        unsupported("virInterfaceCreate")
    }
    /// Brings the interface down.
    fn interface_destroy(&self, _iface: &IfaceRef, _flags: u32) -> Result<()> {
        unsupported("virInterfaceDestroy")
    }
    /// Snapshots the interface configuration (`virInterfaceChangeBegin`).
    fn interface_change_begin(&self, _flags: u32) -> Result<()> {
        unsupported("virInterfaceChangeBegin")
    }
    /// Keeps the changes made since the snapshot, and drops it.
    fn interface_change_commit(&self, _flags: u32) -> Result<()> {
        unsupported("virInterfaceChangeCommit")
    }
    /// Puts the snapshot's configuration back.
    fn interface_change_rollback(&self, _flags: u32) -> Result<()> {
        unsupported("virInterfaceChangeRollback")
    }
}

/// A handle to a host interface.
#[derive(Clone, Debug)]
pub struct Interface {
    conn: Connect,
    r: IfaceRef,
}

impl Connect {
    /// A handle to the interface `r` names, without a lookup.
    pub fn interface(&self, r: IfaceRef) -> Interface {
        Interface {
            conn: self.clone(),
            r,
        }
    }

    /// Interfaces matching `VIR_CONNECT_LIST_INTERFACES_*` flags, by name.
    pub fn list_all_interfaces(&self, flags: u32) -> Result<Vec<Interface>> {
        use iface_flags::*;
        super::check_flags(
            flags,
            LIST_ACTIVE | LIST_INACTIVE,
            "virConnectListAllInterfaces",
        )?;
        let mut refs = self.backend().list_all_interfaces(flags)?;
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(refs.into_iter().map(|r| self.interface(r)).collect())
    }

    /// The interface named `name`.
    pub fn lookup_interface_by_name(&self, name: &str) -> Result<Interface> {
        Ok(self.interface(self.backend().lookup_interface_by_name(name)?))
    }

    /// The interface with MAC address `mac`.
    pub fn lookup_interface_by_mac(&self, mac: &str) -> Result<Interface> {
        Ok(self.interface(self.backend().lookup_interface_by_mac(mac)?))
    }

    /// Defines (or redefines) a host interface.
    pub fn define_interface_xml(&self, xml: &str, flags: u32) -> Result<Interface> {
        self.check_writable()?;
        super::check_flags(flags, iface_flags::DEFINE_VALIDATE, "virInterfaceDefineXML")?;
        Ok(self.interface(self.backend().define_interface_xml(xml, flags)?))
    }

    /// Starts a transaction on the host's interface configuration: what
    /// changes from now on can be rolled back until it is committed.
    pub fn interface_change_begin(&self, flags: u32) -> Result<()> {
        self.check_writable()?;
        super::check_flags(flags, 0, "virInterfaceChangeBegin")?;
        self.backend().interface_change_begin(flags)
    }

    /// Commits the running transaction.
    pub fn interface_change_commit(&self, flags: u32) -> Result<()> {
        self.check_writable()?;
        super::check_flags(flags, 0, "virInterfaceChangeCommit")?;
        self.backend().interface_change_commit(flags)
    }

    /// Rolls the running transaction back.
    pub fn interface_change_rollback(&self, flags: u32) -> Result<()> {
        self.check_writable()?;
        super::check_flags(flags, 0, "virInterfaceChangeRollback")?;
        self.backend().interface_change_rollback(flags)
    }
}

impl Interface {
    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> &str {
        &self.r.mac
    }

    /// What this handle names.
    pub fn reference(&self) -> &IfaceRef {
        &self.r
    }

    /// The interface's XML.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        self.conn.backend().interface_xml_desc(&self.r, flags)
    }

    /// Whether the interface is up.
    pub fn is_active(&self) -> Result<bool> {
        self.conn.backend().interface_is_active(&self.r)
    }

    /// Removes the definition.
    pub fn undefine(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().interface_undefine(&self.r)
    }

    /// Brings the interface up.
    pub fn create(&self, flags: u32) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().interface_create(&self.r, flags)
    }

    /// Brings the interface down.
    pub fn destroy(&self, flags: u32) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().interface_destroy(&self.r, flags)
    }
}
