//! Node device procedures (their events are in `events.rs`).

use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::{Connect, Result};

fn names(conn: &Connect, cap: Option<&str>, flags: u32, max: i32) -> Result<Vec<String>> {
    let mut names = conn.list_node_devices(cap, flags)?;
    names.truncate(usize::try_from(max).unwrap_or(0));
    check_list_len(names.len(), REMOTE_NODE_DEVICE_LIST_MAX, "node devices")?;
    Ok(names)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectListAllNodeDevices(a) => {
            conn.list_all_node_devices(a.flags).and_then(|list| {
                check_list_len(list.len(), REMOTE_NODE_DEVICE_LIST_MAX, "node devices")?;
                Ok(Reply::ConnectListAllNodeDevices(
                    ConnectListAllNodeDevicesRet {
                        ret: list.len() as u32,
                        devices: if a.need_results != 0 {
                            list.iter()
                                .map(|d| NonnullNodeDevice {
                                    name: d.name().to_string(),
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                    },
                ))
            })
        }
        Call::NodeNumOfDevices(a) => conn.list_node_devices(a.cap.as_deref(), a.flags).map(|l| {
            Reply::NodeNumOfDevices(NodeNumOfDevicesRet {
                num: l.len() as i32,
            })
        }),
        Call::NodeListDevices(a) => names(conn, a.cap.as_deref(), a.flags, a.maxnames)
            .map(|names| Reply::NodeListDevices(NodeListDevicesRet { names })),
        Call::NodeDeviceLookupByName(a) => conn.lookup_node_device_by_name(&a.name).map(|d| {
            Reply::NodeDeviceLookupByName(NodeDeviceLookupByNameRet {
                dev: NonnullNodeDevice {
                    name: d.name().to_string(),
                },
            })
        }),
        Call::NodeDeviceGetXmlDesc(a) => conn
            .node_device(&a.name)
            .xml_desc(a.flags)
            .map(|xml| Reply::NodeDeviceGetXmlDesc(NodeDeviceGetXmlDescRet { xml })),
        Call::NodeDeviceGetParent(a) => conn
            .node_device(&a.name)
            .parent()
            .map(|parent_name| Reply::NodeDeviceGetParent(NodeDeviceGetParentRet { parent_name })),
        Call::NodeDeviceNumOfCaps(a) => conn.node_device(&a.name).caps().map(|c| {
            Reply::NodeDeviceNumOfCaps(NodeDeviceNumOfCapsRet {
                num: c.len() as i32,
            })
        }),
        Call::NodeDeviceListCaps(a) => conn.node_device(&a.name).caps().map(|mut names| {
            names.truncate(usize::try_from(a.maxnames).unwrap_or(0));
            Reply::NodeDeviceListCaps(NodeDeviceListCapsRet { names })
        }),
        Call::NodeDeviceCreateXml(a) => {
            conn.create_node_device_xml(&a.xml_desc, a.flags).map(|d| {
                Reply::NodeDeviceCreateXml(NodeDeviceCreateXmlRet {
                    dev: NonnullNodeDevice {
                        name: d.name().to_string(),
                    },
                })
            })
        }
        Call::NodeDeviceDestroy(a) => conn
            .node_device(&a.name)
            .destroy()
            .map(Reply::NodeDeviceDestroy),
        Call::NodeDeviceLookupScsiHostByWwn(a) => conn
            .lookup_scsi_host_by_wwn(&a.wwnn, &a.wwpn, a.flags)
            .map(|d| {
                Reply::NodeDeviceLookupScsiHostByWwn(NodeDeviceLookupScsiHostByWwnRet {
                    dev: NonnullNodeDevice {
                        name: d.name().to_string(),
                    },
                })
            }),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
