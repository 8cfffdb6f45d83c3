//! Node devices over the wire.

use super::{RemoteConn, Session};
use crate::protocol::*;
use wirt::connect::{NodeDevBackend, Result};
use wirt::events::{EventStream, NodeDeviceEvent};

/// Registers this session's node device callbacks (lifecycle and
/// update), once.
pub(super) fn register_events(session: &Session) -> std::result::Result<(), super::ClientError> {
    // VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE and _UPDATE.
    super::register_once(&session.nodedev_callbacks, &[0, 1], |event_id| {
        let args = ConnectNodeDeviceEventRegisterAnyArgs {
            event_id,
            dev: None,
        };
        let _: ConnectNodeDeviceEventRegisterAnyRet = session.call(
            REMOTE_PROC_CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY,
            &args,
            None,
        )?;
        Ok(())
    })
}

impl NodeDevBackend for RemoteConn {
    fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        let args = ConnectListAllNodeDevicesArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllNodeDevicesRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_NODE_DEVICES, &args)?;
        Ok(ret.devices.into_iter().map(|d| d.name).collect())
    }

    fn node_device_lookup(&self, name: &str) -> Result<()> {
        let args = NodeDeviceLookupByNameArgs {
            name: name.to_string(),
        };
        let _: NodeDeviceLookupByNameRet =
            self.call(REMOTE_PROC_NODE_DEVICE_LOOKUP_BY_NAME, &args)?;
        Ok(())
    }

    fn node_device_xml_desc(&self, name: &str, flags: u32) -> Result<String> {
        let args = NodeDeviceGetXmlDescArgs {
            name: name.to_string(),
            flags,
        };
        let ret: NodeDeviceGetXmlDescRet =
            self.call(REMOTE_PROC_NODE_DEVICE_GET_XML_DESC, &args)?;
        Ok(ret.xml)
    }

    fn node_device_parent(&self, name: &str) -> Result<Option<String>> {
        let args = NodeDeviceGetParentArgs {
            name: name.to_string(),
        };
        let ret: NodeDeviceGetParentRet = self.call(REMOTE_PROC_NODE_DEVICE_GET_PARENT, &args)?;
        Ok(ret.parent_name)
    }

    fn node_device_caps(&self, name: &str) -> Result<Vec<String>> {
        let args = NodeDeviceListCapsArgs {
            name: name.to_string(),
            maxnames: REMOTE_NODE_DEVICE_CAPS_LIST_MAX as i32,
        };
        let ret: NodeDeviceListCapsRet = self.call(REMOTE_PROC_NODE_DEVICE_LIST_CAPS, &args)?;
        Ok(ret.names)
    }

    fn node_device_create_xml(&self, xml: &str, flags: u32) -> Result<String> {
        let args = NodeDeviceCreateXmlArgs {
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: NodeDeviceCreateXmlRet = self.call(REMOTE_PROC_NODE_DEVICE_CREATE_XML, &args)?;
        Ok(ret.dev.name)
    }

    fn node_device_destroy(&self, name: &str) -> Result<()> {
        let args = NodeDeviceDestroyArgs {
            name: name.to_string(),
        };
        Ok(self.call(REMOTE_PROC_NODE_DEVICE_DESTROY, &args)?)
    }

    fn node_device_lookup_scsi_host_by_wwn(
        &self,
        wwnn: &str,
        wwpn: &str,
        flags: u32,
    ) -> Result<String> {
        let args = NodeDeviceLookupScsiHostByWwnArgs {
            wwnn: wwnn.to_string(),
            wwpn: wwpn.to_string(),
            flags,
        };
        let ret: NodeDeviceLookupScsiHostByWwnRet =
            self.call(REMOTE_PROC_NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN, &args)?;
        Ok(ret.dev.name)
    }

    fn node_device_events(&self) -> Result<EventStream<NodeDeviceEvent>> {
        Ok(self.subscribe_node_devices()?)
    }
}
