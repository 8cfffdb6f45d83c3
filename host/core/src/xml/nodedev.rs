//! Node device descriptions (`<device>`): the host's hardware as libvirt's
//! node device driver shows it. Read-only: wirt keeps the element as it
//! was given (the test driver's node file) or made (the host's sysfs), and
//! reads from it what listing and filtering need.

use super::Error;
use super::tree::Element;

/// libvirt's `virNodeDevCapType` names; a name's index is its bit in
/// `VIR_CONNECT_LIST_NODE_DEVICES_CAP_*`.
pub const CAP_NAMES: [&str; 22] = [
    "system",
    "pci",
    "usb_device",
    "usb",
    "net",
    "scsi_host",
    "scsi_target",
    "scsi",
    "storage",
    "fc_host",
    "vports",
    "scsi_generic",
    "drm",
    "mdev_types",
    "mdev",
    "ccw",
    "css",
    "vdpa",
    "ap_card",
    "ap_queue",
    "ap_matrix",
    "vpd",
];

/// The `VIR_CONNECT_LIST_NODE_DEVICES_CAP_*` bit of capability `name`.
pub fn cap_bit(name: &str) -> Option<u32> {
    CAP_NAMES.iter().position(|c| *c == name).map(|i| 1u32 << i)
}

/// One node device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDeviceDef {
    /// `<name>` (`computer`, `pci_0000_00_02_0`).
    pub name: String,
    /// The parent device's name; `None` for the root (`computer`).
    pub parent: Option<String>,
    /// The device's capabilities, as `virNodeDeviceListCaps` names them.
    pub caps: Vec<String>,
    /// What a capability filter matches: the capabilities, and those a
    /// SCSI host has inside (`fc_host`, `vports`), as libvirt matches them.
    pub match_caps: Vec<String>,
    /// The whole description.
    pub element: Element,
}

impl NodeDeviceDef {
    /// Reads a `<device>` element.
    pub fn from_element(e: &Element) -> Result<NodeDeviceDef, Error> {
        if e.name != "device" {
            return Err(Error::Invalid(format!(
                "unexpected root element <{}>, expecting <device>",
                e.name
            )));
        }
        let name = e
            .child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName { what: "device" })?;
        let mut caps = Vec::new();
        let mut match_caps = Vec::new();
        for cap in e.children_named("capability") {
            let Some(kind) = cap.attr("type") else {
                return Err(Error::Invalid("missing capability type".into()));
            };
            caps.push(kind.to_string());
            match_caps.push(kind.to_string());
            if kind == "scsi_host" {
                for inner in cap.children_named("capability") {
                    match inner.attr("type") {
                        Some("fc_host") => match_caps.push("fc_host".into()),
                        Some("vport_ops") => match_caps.push("vports".into()),
                        _ => {}
                    }
                }
            }
        }
        Ok(NodeDeviceDef {
            name,
            parent: e.child_text("parent").filter(|p| !p.is_empty()),
            caps,
            match_caps,
            element: e.clone(),
        })
    }

    /// The description in libvirt's layout.
    pub fn to_xml(&self) -> String {
        self.element.to_xml()
    }

    /// Whether the device matches the capability bits of `flags` (no bits:
    /// every device).
    pub fn matches_caps(&self, flags: u32) -> bool {
        let wanted = flags & ((1 << CAP_NAMES.len()) - 1);
        wanted == 0
            || self
                .match_caps
                .iter()
                .filter_map(|c| cap_bit(c))
                .any(|bit| wanted & bit != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scsi_host_matches_its_inner_capabilities() {
        let e = Element::parse(
            "<device><name>scsi_host1</name><parent>computer</parent>\
             <capability type='scsi_host'><host>1</host>\
             <capability type='fc_host'/><capability type='vport_ops'/></capability></device>",
            "device",
        )
        .unwrap();
        let d = NodeDeviceDef::from_element(&e).unwrap();
        assert_eq!(d.caps, ["scsi_host"]);
        assert_eq!(d.parent.as_deref(), Some("computer"));
        assert!(d.matches_caps(cap_bit("vports").unwrap()));
        assert!(d.matches_caps(cap_bit("fc_host").unwrap()));
        assert!(!d.matches_caps(cap_bit("net").unwrap()));
        assert!(d.matches_caps(0));
    }
}
