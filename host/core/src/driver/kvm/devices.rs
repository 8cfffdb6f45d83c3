//! Which `<devices>` children a wirt-vmm guest can have. What it cannot
//! have is refused at start with libvirt's "unsupported configuration",
//! so a guest never runs without a device its definition asks for (and
//! `domcapabilities` says the same in advance).

use crate::xml::Element;

/// Why wirt-vmm cannot give a guest `device`, if it cannot.
pub(super) fn refuses(device: &Element) -> Option<String> {
    let kind = device.attr("type").or_else(|| device.attr("model"));
    let named = |what: &str| match kind {
        Some(k) => format!("<{what} type='{k}'>"),
        None => format!("<{what}>"),
    };
    let refused = match device.name.as_str() {
        // What wirt-vmm runs, and what libvirt adds to every definition
        // without it meaning a device of its own.
        "disk" | "interface" | "serial" | "console" | "emulator" | "controller" => false,
        // Statistics helpers QEMU's default definitions carry; wirt-vmm
        // reports memory itself and has no balloon.
        "memballoon" => false,
        // PS/2 keyboard and mouse are implicit on x86 (libvirt adds them);
        // anything on another bus is a device the guest would miss.
        "input" => device.attr("bus").is_some_and(|b| b != "ps2"),
        "video" => device
            .child("model")
            .and_then(|m| m.attr("type"))
            .is_some_and(|t| t != "none"),
        "watchdog" | "panic" => false,
        _ => true,
    };
    refused.then(|| {
        format!(
            "wirt-vmm has no {} device (virsh domcapabilities lists what it supports)",
            named(&device.name)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        Element::parse(xml, "device").unwrap()
    }

    #[test]
    fn devices_wirt_vmm_cannot_give_are_named() {
        for (xml, word) in [
            ("<graphics type='vnc'/>", "<graphics type='vnc'>"),
            ("<sound model='ich9'/>", "<sound type='ich9'>"),
            ("<input type='tablet' bus='usb'/>", "<input type='tablet'>"),
            ("<video><model type='qxl'/></video>", "<video>"),
            (
                "<hostdev mode='subsystem' type='pci'/>",
                "<hostdev type='pci'>",
            ),
            ("<rng model='virtio'/>", "<rng type='virtio'>"),
        ] {
            let why = refuses(&el(xml)).unwrap_or_else(|| panic!("{xml} accepted"));
            assert!(why.contains(word), "{why}");
        }
        for xml in [
            "<disk type='file' device='disk'/>",
            "<interface type='network'/>",
            "<serial type='pty'/>",
            "<console type='pty'/>",
            "<controller type='usb' model='none'/>",
            "<memballoon model='virtio'/>",
            "<input type='keyboard' bus='ps2'/>",
            "<video><model type='none'/></video>",
        ] {
            assert_eq!(refuses(&el(xml)), None, "{xml}");
        }
    }
}
