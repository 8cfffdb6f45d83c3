//! Node devices: the host's hardware (`virNodeDevice*`). Only a test
//! host's vHBAs can be created and destroyed, as in libvirt's test driver.

use super::{Connect, Error, Result};
use crate::error::ErrorCode;
use crate::events::{EventStream, NodeDeviceEvent};

/// libvirt's flag bits for node device listings.
pub mod nodedev_flags {
    /// The capability bits (`VIR_CONNECT_LIST_NODE_DEVICES_CAP_*`): bit i
    /// is `crate::xml::nodedev::CAP_NAMES[i]`.
    pub const CAPS: u32 = (1 << crate::xml::nodedev::CAP_NAMES.len()) - 1;
    /// `VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE`: defined, not present.
    pub const INACTIVE: u32 = 1 << 30;
    /// `VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE`.
    pub const ACTIVE: u32 = 1 << 31;
}

fn unsupported<T>(function: &str) -> Result<T> {
    Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()))
}

/// Node devices. Every call defaults to "not supported".
pub trait NodeDevBackend {
    /// Names of the devices matching `VIR_CONNECT_LIST_NODE_DEVICES_*` flags.
    fn list_all_node_devices(&self, _flags: u32) -> Result<Vec<String>> {
        unsupported("virConnectListAllNodeDevices")
    }
    /// Checks that device `name` exists.
    fn node_device_lookup(&self, _name: &str) -> Result<()> {
        unsupported("virNodeDeviceLookupByName")
    }
    /// The device's XML.
    fn node_device_xml_desc(&self, _name: &str, _flags: u32) -> Result<String> {
        unsupported("virNodeDeviceGetXMLDesc")
    }
    /// The parent device's name, if any.
    fn node_device_parent(&self, _name: &str) -> Result<Option<String>> {
        unsupported("virNodeDeviceGetParent")
    }
    /// The device's capability names.
    fn node_device_caps(&self, _name: &str) -> Result<Vec<String>> {
        unsupported("virNodeDeviceListCaps")
    }
    /// Creates a device (a vHBA) from `xml`; its name.
    fn node_device_create_xml(&self, _xml: &str, _flags: u32) -> Result<String> {
        unsupported("virNodeDeviceCreateXML")
    }
    /// Destroys device `name` (a vHBA).
    fn node_device_destroy(&self, _name: &str) -> Result<()> {
        unsupported("virNodeDeviceDestroy")
    }
    /// The SCSI host whose fibre channel port has these WWNs; its name.
    fn node_device_lookup_scsi_host_by_wwn(
        &self,
        _wwnn: &str,
        _wwpn: &str,
        _flags: u32,
    ) -> Result<String> {
        unsupported("virNodeDeviceLookupSCSIHostByWWN")
    }
    /// Node device lifecycle and update events, from now on.
    fn node_device_events(&self) -> Result<EventStream<NodeDeviceEvent>> {
        unsupported("virConnectNodeDeviceEventRegisterAny")
    }
}

/// A handle to a node device.
#[derive(Clone, Debug)]
pub struct NodeDevice {
    conn: Connect,
    name: String,
}

impl Connect {
    /// A handle to device `name`, without a lookup.
    pub fn node_device(&self, name: &str) -> NodeDevice {
        NodeDevice {
            conn: self.clone(),
            name: name.to_string(),
        }
    }

    /// The device named `name`.
    pub fn lookup_node_device_by_name(&self, name: &str) -> Result<NodeDevice> {
        self.backend().node_device_lookup(name)?;
        Ok(self.node_device(name))
    }

    /// Devices matching `VIR_CONNECT_LIST_NODE_DEVICES_*` flags, by name.
    pub fn list_all_node_devices(&self, flags: u32) -> Result<Vec<NodeDevice>> {
        use nodedev_flags::*;
        super::check_flags(
            flags,
            CAPS | ACTIVE | INACTIVE,
            "virConnectListAllNodeDevices",
        )?;
        let mut names = self.backend().list_all_node_devices(flags)?;
        names.sort();
        Ok(names.iter().map(|n| self.node_device(n)).collect())
    }

    /// Creates a device from `xml` (libvirt creates vHBAs: a `scsi_host`
    /// with an `fc_host` capability, under a vport-capable parent).
    pub fn create_node_device_xml(&self, xml: &str, flags: u32) -> Result<NodeDevice> {
        self.check_writable()?;
        super::check_flags(flags, 0, "virNodeDeviceCreateXML")?;
        let name = self.backend().node_device_create_xml(xml, flags)?;
        Ok(self.node_device(&name))
    }

    /// The SCSI host with fibre channel WWNs `wwnn` and `wwpn`.
    pub fn lookup_scsi_host_by_wwn(
        &self,
        wwnn: &str,
        wwpn: &str,
        flags: u32,
    ) -> Result<NodeDevice> {
        super::check_flags(flags, 0, "virNodeDeviceLookupSCSIHostByWWN")?;
        let name = self
            .backend()
            .node_device_lookup_scsi_host_by_wwn(wwnn, wwpn, flags)?;
        Ok(self.node_device(&name))
    }

    /// Node device events of this connection's host, from now on.
    pub fn node_device_events(&self) -> Result<EventStream<NodeDeviceEvent>> {
        self.backend().node_device_events()
    }

    /// Names of the devices with capability `cap` (all for `None`), as
    /// `virNodeListDevices`: an unknown capability matches nothing.
    pub fn list_node_devices(&self, cap: Option<&str>, flags: u32) -> Result<Vec<String>> {
        super::check_flags(flags, 0, "virNodeListDevices")?;
        let bits = match cap {
            None => 0,
            Some(c) => match crate::xml::nodedev::cap_bit(c) {
                Some(bit) => bit,
                None => return Ok(Vec::new()),
            },
        };
        Ok(self
            .list_all_node_devices(bits)?
            .into_iter()
            .map(|d| d.name)
            .collect())
    }
}

impl NodeDevice {
    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's XML.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        super::check_flags(flags, 0, "virNodeDeviceGetXMLDesc")?;
        self.conn.backend().node_device_xml_desc(&self.name, flags)
    }

    /// The parent device's name; `None` for the root.
    pub fn parent(&self) -> Result<Option<String>> {
        self.conn.backend().node_device_parent(&self.name)
    }

    /// The device's capability names.
    pub fn caps(&self) -> Result<Vec<String>> {
        self.conn.backend().node_device_caps(&self.name)
    }

    /// Removes the device (a vHBA) from the host.
    pub fn destroy(&self) -> Result<()> {
        self.conn.check_writable()?;
        self.conn.backend().node_device_destroy(&self.name)
    }
}
