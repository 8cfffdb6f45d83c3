//! Node devices: a test host's from its node file, in memory, where vHBAs
//! can be created and destroyed as in libvirt's test driver; the local
//! host's read-only from sysfs (`host_devices.rs`).

use std::path::Path;
use std::sync::MutexGuard;

use super::Local;
use crate::connect::nodedev_flags as flags;
use crate::connect::{Error, NodeDevBackend, Result};
use crate::error::ErrorCode;
use crate::events::{EventStream, NodeDeviceEvent, NodeDeviceLifecycle};
use crate::xml::Element;
use crate::xml::nodedev::NodeDeviceDef;
use crate::xml::tree::Node;

/// The vHBA libvirt's test driver copies for every device it creates, and
/// the name the copy gets.
const VHBA_TEMPLATE: &str = "scsi_host11";
const VHBA_NAME: &str = "scsi_host12";

fn internal(detail: String) -> Error {
    Error::api(ErrorCode::INTERNAL_ERROR, detail)
}

fn no_device(name: &str) -> Error {
    Error::api(
        ErrorCode::NO_NODE_DEVICE,
        format!("no node device with matching name '{name}'"),
    )
}

fn capability<'a>(e: &'a Element, kind: &str) -> Option<&'a Element> {
    e.children_named("capability")
        .find(|c| c.attr("type") == Some(kind))
}

/// The `fc_host` capability inside a device's `scsi_host` one.
fn fc_host(dev: &Element) -> Option<&Element> {
    capability(capability(dev, "scsi_host")?, "fc_host")
}

/// The device's WWNs, as `virNodeDeviceGetWWNs`: only a fibre channel
/// HBA has them.
fn wwns(dev: &Element) -> Result<(String, String)> {
    let fc = fc_host(dev).ok_or_else(|| internal("Device is not a fibre channel HBA".into()))?;
    let get = |leaf: &str| fc.child_text(leaf).filter(|v| !v.is_empty());
    Ok((
        get("wwnn").unwrap_or_default(),
        get("wwpn").unwrap_or_default(),
    ))
}

fn can_vport(dev: &NodeDeviceDef) -> bool {
    capability(&dev.element, "scsi_host").is_some_and(|c| capability(c, "vport_ops").is_some())
}

/// Sets the text of `e`'s child `name`.
fn set_leaf(e: &mut Element, name: &str, text: &str) {
    for node in &mut e.children {
        if let Node::Element(child) = node
            && child.name == name
        {
            child.children = vec![Node::Text(text.to_string())];
        }
    }
}

/// The children of `e` that are `<capability type=kind>`, mutably.
fn capabilities_mut<'a>(
    e: &'a mut Element,
    kind: &'a str,
) -> impl Iterator<Item = &'a mut Element> {
    e.children.iter_mut().filter_map(move |n| match n {
        Node::Element(c) if c.name == "capability" && c.attr("type") == Some(kind) => Some(c),
        _ => None,
    })
}

/// The device a create call asks for, checked as libvirt's test driver
/// checks it: a fibre channel HBA with both WWNs, under a parent that can
/// make vports (any such device when none is named). Returns the WWNs.
fn check_new_vhba(devices: &[NodeDeviceDef], xml: &str) -> Result<(String, String)> {
    let e = Element::parse(xml, "node_device_definition")?;
    if e.name != "device" {
        return Err(crate::xml::Error::Invalid(format!(
            "unexpected root element <{}>, expecting <device>",
            e.name
        ))
        .into());
    }
    // libvirt names the device of a create call 'new device' until it is made.
    let what = "new device";
    if let Some(fc) = fc_host(&e) {
        for (leaf, label) in [("wwnn", "WWNN"), ("wwpn", "WWPN")] {
            if fc.child_text(leaf).is_none_or(|v| v.is_empty()) {
                return Err(internal(format!(
                    "no {label} supplied for '{what}', and auto-generation failed"
                )));
            }
        }
    }
    let found = wwns(&e)?;
    match e.child_text("parent").filter(|p| !p.is_empty()) {
        Some(parent) => {
            let dev = devices
                .iter()
                .find(|d| d.name == parent)
                .ok_or_else(|| internal(format!("Could not find parent device for '{what}'")))?;
            if !can_vport(dev) {
                return Err(internal(format!(
                    "Parent device {parent} is not capable of vport operations"
                )));
            }
        }
        None => {
            if !devices.iter().any(can_vport) {
                return Err(internal("Could not find any vport capable device".into()));
            }
        }
    }
    Ok(found)
}

/// libvirt's test driver's mock vHBA: a copy of `scsi_host11` named
/// `scsi_host12`, with the WWNs asked for.
fn mock_vhba(devices: &[NodeDeviceDef], wwnn: &str, wwpn: &str) -> Result<NodeDeviceDef> {
    let template = devices
        .iter()
        .find(|d| d.name == VHBA_TEMPLATE)
        .ok_or_else(|| {
            internal(format!(
                "no vHBA '{VHBA_TEMPLATE}' to model the new device on"
            ))
        })?;
    let mut e = template.element.clone();
    set_leaf(&mut e, "name", VHBA_NAME);
    for scsi in capabilities_mut(&mut e, "scsi_host") {
        for fc in capabilities_mut(scsi, "fc_host") {
            set_leaf(fc, "wwnn", wwnn);
            set_leaf(fc, "wwpn", wwpn);
        }
    }
    Ok(NodeDeviceDef::from_element(&e)?)
}

impl Local {
    fn test_devices(&self) -> Option<MutexGuard<'_, Vec<NodeDeviceDef>>> {
        self.state
            .node_devices
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn node_devices(&self) -> Vec<NodeDeviceDef> {
        match self.test_devices() {
            Some(devices) => devices.clone(),
            None => super::host_devices::scan(Path::new("/sys")),
        }
    }

    fn node_device_def(&self, name: &str) -> Result<NodeDeviceDef> {
        let found = match self.test_devices() {
            Some(devices) => devices.iter().find(|d| d.name == name).cloned(),
            None => super::host_devices::find(Path::new("/sys"), name),
        };
        found.ok_or_else(|| no_device(name))
    }

    fn emit_nodedev(&self, name: &str, event: NodeDeviceLifecycle) {
        self.state.node_device_events.emit(NodeDeviceEvent {
            name: name.to_string(),
            event,
        });
    }
}

fn host_read_only() -> Error {
    Error::api(
        ErrorCode::OPERATION_UNSUPPORTED,
        "the host's node devices are read-only on this connection",
    )
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

    fn node_device_create_xml(&self, xml: &str, _flags: u32) -> Result<String> {
        let Some(mut devices) = self.test_devices() else {
            return Err(host_read_only());
        };
        let (wwnn, wwpn) = check_new_vhba(&devices, xml)?;
        let dev = mock_vhba(&devices, &wwnn, &wwpn)?;
        let name = dev.name.clone();
        // As libvirt's device list, a second create replaces the first.
        match devices.iter_mut().find(|d| d.name == name) {
            Some(old) => *old = dev,
            None => devices.push(dev),
        }
        drop(devices);
        self.emit_nodedev(&name, NodeDeviceLifecycle::Created);
        Ok(name)
    }

    fn node_device_destroy(&self, name: &str) -> Result<()> {
        let Some(mut devices) = self.test_devices() else {
            // A name the host does not have is still "not found".
            self.node_device_def(name)?;
            return Err(host_read_only());
        };
        let at = devices
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| no_device(name))?;
        wwns(&devices[at].element)?;
        let parent = devices[at].parent.clone().unwrap_or_default();
        if !devices.iter().any(|d| d.name == parent) {
            return Err(internal(format!(
                "cannot find parent '{parent}' definition"
            )));
        }
        devices.remove(at);
        drop(devices);
        self.emit_nodedev(name, NodeDeviceLifecycle::Deleted);
        Ok(())
    }

    fn node_device_lookup_scsi_host_by_wwn(
        &self,
        wwnn: &str,
        wwpn: &str,
        _flags: u32,
    ) -> Result<String> {
        self.node_devices()
            .into_iter()
            .find(|d| wwns(&d.element).is_ok_and(|(n, p)| n == wwnn && p == wwpn))
            .map(|d| d.name)
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::NO_NODE_DEVICE,
                    format!("no node device with matching wwnn '{wwnn}' and wwpn '{wwpn}'"),
                )
            })
    }

    fn node_device_events(&self) -> Result<EventStream<NodeDeviceEvent>> {
        Ok(self.state.node_device_events.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(xml: &str) -> NodeDeviceDef {
        NodeDeviceDef::from_element(&Element::parse(xml, "device").unwrap()).unwrap()
    }

    #[test]
    fn a_vhba_copies_the_template_with_the_wwns_asked_for() {
        let devices = [
            dev(
                "<device><name>scsi_host1</name><capability type='scsi_host'><host>1</host>\
                 <capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability>\
                 <capability type='vport_ops'/></capability></device>",
            ),
            dev(
                "<device><name>scsi_host11</name><parent>scsi_host1</parent>\
                 <capability type='scsi_host'><host>11</host><capability type='fc_host'>\
                 <wwnn>3</wwnn><wwpn>4</wwpn></capability></capability></device>",
            ),
        ];
        let asked = "<device><capability type='scsi_host'><capability type='fc_host'>\
                     <wwnn>5</wwnn><wwpn>6</wwpn></capability></capability></device>";
        let (n, p) = check_new_vhba(&devices, asked).unwrap();
        let made = mock_vhba(&devices, &n, &p).unwrap();
        assert_eq!(made.name, "scsi_host12");
        assert_eq!(made.parent.as_deref(), Some("scsi_host1"));
        assert_eq!(wwns(&made.element).unwrap(), ("5".into(), "6".into()));
        let no_wwpn = asked.replace("<wwpn>6</wwpn>", "");
        assert!(
            check_new_vhba(&devices, &no_wwpn)
                .unwrap_err()
                .to_string()
                .contains("no WWPN supplied for 'new device'")
        );
        let under_11 = asked.replace("<device>", "<device><parent>scsi_host11</parent>");
        assert!(
            check_new_vhba(&devices, &under_11)
                .unwrap_err()
                .to_string()
                .contains("Parent device scsi_host11 is not capable of vport operations")
        );
    }
}
