//! Node devices, read-only: a test host's from its node file, the local
//! host's from sysfs (`host_devices.rs`).

use std::path::Path;

use super::Local;
use crate::connect::nodedev_flags as flags;
use crate::connect::{Error, NodeDevBackend, Result};
use crate::error::ErrorCode;
use crate::xml::nodedev::NodeDeviceDef;

impl Local {
    fn node_devices(&self) -> Vec<NodeDeviceDef> {
        match &self.state.node_devices {
            Some(devices) => devices.clone(),
            None => super::host_devices::scan(Path::new("/sys")),
        }
    }

    fn node_device_def(&self, name: &str) -> Result<NodeDeviceDef> {
        let found = match &self.state.node_devices {
            Some(devices) => devices.iter().find(|d| d.name == name).cloned(),
            None => super::host_devices::find(Path::new("/sys"), name),
        };
        found.ok_or_else(|| {
            Error::api(
                ErrorCode::NO_NODE_DEVICE,
                format!("no node device with matching name '{name}'"),
            )
        })
    }
}

impl NodeDevBackend for Local {
    fn list_all_node_devices(&self, f: u32) -> Result<Vec<String>> {
        // Every device wirt lists is present (active); none is merely
        // defined (mediated devices are not supported).
        if f & flags::INACTIVE != 0 && f & flags::ACTIVE == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .node_devices()
            .into_iter()
            .filter(|d| d.matches_caps(f))
            .map(|d| d.name)
            .collect())
    }

    fn node_device_lookup(&self, name: &str) -> Result<()> {
        self.node_device_def(name).map(|_| ())
    }

    fn node_device_xml_desc(&self, name: &str, _flags: u32) -> Result<String> {
        Ok(self.node_device_def(name)?.to_xml())
    }

    fn node_device_parent(&self, name: &str) -> Result<Option<String>> {
        Ok(self.node_device_def(name)?.parent)
    }

    fn node_device_caps(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.node_device_def(name)?.caps)
    }
}
