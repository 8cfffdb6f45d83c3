//! The local host's node devices, read from sysfs each time they are asked
//! for (hardware comes and goes; the scan is cheap): `computer` (DMI),
//! PCI functions (`pci_DDDD_BB_SS_F`) and network interfaces
//! (`net_<ifname>_<mac>`), named and laid out as libvirt's udev backend
//! does. Other device classes (USB, SCSI, storage...) are not listed yet.

use std::path::{Path, PathBuf};

use crate::xml::Element;
use crate::xml::nodedev::NodeDeviceDef;

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn leaf(name: &str, text: String) -> Element {
    Element::new(name).with_text(text)
}

/// `DDDD:BB:SS.F` → (domain, bus, slot, function).
fn pci_address(name: &str) -> Option<(u32, u32, u32, u32)> {
    let (domain, rest) = name.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (slot, function) = rest.split_once('.')?;
    let hex = |s: &str, len: usize| {
        (s.len() == len)
            .then(|| u32::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some((
        hex(domain, 4)?,
        hex(bus, 2)?,
        hex(slot, 2)?,
        u32::from_str_radix(function, 16)
            .ok()
            .filter(|_| function.len() == 1)?,
    ))
}

fn pci_name(address: &str) -> String {
    format!("pci_{}", address.replace([':', '.'], "_"))
}

/// The node device a sysfs path sits under: its nearest PCI ancestor, or
/// the computer.
fn parent_of(path: &Path) -> String {
    path.ancestors()
        .skip(1)
        .filter_map(|p| p.file_name()?.to_str())
        .find(|n| pci_address(n).is_some())
        .map(pci_name)
        .unwrap_or_else(|| "computer".into())
}

fn device(name: &str, path: Option<&Path>, parent: Option<&str>) -> Element {
    let mut e = Element::new("device").with_child(leaf("name", name.into()));
    if let Some(p) = path {
        e = e.with_child(leaf("path", p.display().to_string()));
    }
    if let Some(p) = parent {
        e = e.with_child(leaf("parent", p.into()));
    }
    e
}

fn computer(sys: &Path) -> Element {
    let dmi = sys.join("class/dmi/id");
    let group = |name: &str, fields: &[(&str, &str)]| {
        let mut g = Element::new(name);
        for (element, file) in fields {
            if let Some(v) = read(&dmi.join(file)) {
                g = g.with_child(leaf(element, v));
            }
        }
        g.has_element_children().then_some(g)
    };
    let mut cap = Element::new("capability").with_attr("type", "system");
    if let Some(product) = read(&dmi.join("product_name")) {
        cap = cap.with_child(leaf("product", product));
    }
    let hardware = group(
        "hardware",
        &[
            ("vendor", "sys_vendor"),
            ("version", "product_version"),
            ("serial", "product_serial"),
            ("uuid", "product_uuid"),
        ],
    );
    let firmware = group(
        "firmware",
        &[
            ("vendor", "bios_vendor"),
            ("version", "bios_version"),
            ("release_date", "bios_date"),
        ],
    );
    for g in [hardware, firmware].into_iter().flatten() {
        cap = cap.with_child(g);
    }
    device("computer", None, None).with_child(cap)
}

fn pci(sys: &Path, address: &str) -> Option<Element> {
    let (domain, bus, slot, function) = pci_address(address)?;
    let link = sys.join("bus/pci/devices").join(address);
    if !link.exists() {
        return None;
    }
    let real = std::fs::canonicalize(&link).unwrap_or_else(|_| link.clone());
    let mut e = device(&pci_name(address), Some(&real), Some(&parent_of(&real)));
    if let Some(driver) = std::fs::read_link(link.join("driver"))
        .ok()
        .and_then(|d| d.file_name()?.to_str().map(String::from))
    {
        e = e.with_child(Element::new("driver").with_child(leaf("name", driver)));
    }
    let mut cap = Element::new("capability").with_attr("type", "pci");
    if let Some(class) = read(&link.join("class")) {
        cap = cap.with_child(leaf("class", class));
    }
    for (name, value) in [
        ("domain", domain),
        ("bus", bus),
        ("slot", slot),
        ("function", function),
    ] {
        cap = cap.with_child(leaf(name, value.to_string()));
    }
    for (name, file) in [("product", "device"), ("vendor", "vendor")] {
        if let Some(id) = read(&link.join(file)) {
            cap = cap.with_child(Element::new(name).with_attr("id", id));
        }
    }
    Some(e.with_child(cap))
}

fn net(sys: &Path, ifname: &str) -> Option<Element> {
    let link = sys.join("class/net").join(ifname);
    let mac = read(&link.join("address")).unwrap_or_else(|| "00:00:00:00:00:00".into());
    let real = std::fs::canonicalize(&link).unwrap_or_else(|_| link.clone());
    let name = format!("net_{ifname}_{}", mac.replace(':', "_"));
    let mut cap = Element::new("capability")
        .with_attr("type", "net")
        .with_child(leaf("interface", ifname.into()))
        .with_child(leaf("address", mac));
    let mut state = Element::new("link");
    if let Some(speed) = read(&link.join("speed")).filter(|s| !s.starts_with('-')) {
        state = state.with_attr("speed", speed);
    }
    let operstate = read(&link.join("operstate")).unwrap_or_else(|| "unknown".into());
    cap = cap.with_child(state.with_attr("state", operstate));
    // ARPHRD_ETHER (1) is libvirt's 802.3; a wireless one has a phy80211.
    if link.join("phy80211").exists() {
        cap = cap.with_child(Element::new("capability").with_attr("type", "80211"));
    } else if read(&link.join("type")).as_deref() == Some("1") {
        cap = cap.with_child(Element::new("capability").with_attr("type", "80203"));
    }
    Some(device(&name, Some(&real), Some(&parent_of(&real))).with_child(cap))
}

fn names_in(dir: PathBuf) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The host's devices under the sysfs mounted at `sys`.
pub(crate) fn scan(sys: &Path) -> Vec<NodeDeviceDef> {
    let mut elements = vec![computer(sys)];
    elements.extend(
        names_in(sys.join("bus/pci/devices"))
            .iter()
            .filter_map(|a| pci(sys, a)),
    );
    elements.extend(
        names_in(sys.join("class/net"))
            .iter()
            .filter_map(|i| net(sys, i)),
    );
    elements
        .iter()
        .filter_map(|e| NodeDeviceDef::from_element(e).ok())
        .collect()
}

/// Device `name` alone, reading only what it needs: `--tree` asks every
/// device for its parent, and a host has hundreds of PCI functions.
pub(crate) fn find(sys: &Path, name: &str) -> Option<NodeDeviceDef> {
    let element = if name == "computer" {
        Some(computer(sys))
    } else if let Some(rest) = name.strip_prefix("pci_") {
        // pci_DDDD_BB_SS_F → DDDD:BB:SS.F
        let mut parts = rest.split('_');
        let address = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(b), Some(s), Some(f)) if parts.next().is_none() => {
                format!("{d}:{b}:{s}.{f}")
            }
            _ => return None,
        };
        pci(sys, &address)
    } else if name.starts_with("net_") {
        // An interface's own name may hold underscores: match whole names.
        names_in(sys.join("class/net"))
            .iter()
            .filter_map(|i| net(sys, i))
            .find(|e| e.child_text("name").as_deref() == Some(name))
    } else {
        None
    };
    element
        .and_then(|e| NodeDeviceDef::from_element(&e).ok())
        .filter(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_and_parents_read_like_libvirts_names() {
        assert_eq!(pci_address("0000:00:1f.2"), Some((0, 0, 0x1f, 2)));
        assert_eq!(pci_address("virtio2"), None);
        assert_eq!(pci_name("0000:00:1f.2"), "pci_0000_00_1f_2");
        let path = Path::new("/sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth0");
        assert_eq!(parent_of(path), "pci_0000_00_03_0");
        assert_eq!(
            parent_of(Path::new("/sys/devices/virtual/net/lo")),
            "computer"
        );
    }

    #[test]
    fn a_fake_sysfs_gives_computer_pci_and_net_devices() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        let pci_dir = sys.join("devices/pci0000:00/0000:00:03.0");
        std::fs::create_dir_all(pci_dir.join("virtio2/net/eth0")).unwrap();
        std::fs::write(pci_dir.join("class"), "0x020000\n").unwrap();
        std::fs::write(pci_dir.join("vendor"), "0x1af4\n").unwrap();
        std::fs::write(pci_dir.join("device"), "0x1000\n").unwrap();
        let eth0 = pci_dir.join("virtio2/net/eth0");
        std::fs::write(eth0.join("address"), "52:54:00:12:34:56\n").unwrap();
        std::fs::write(eth0.join("type"), "1\n").unwrap();
        std::fs::write(eth0.join("operstate"), "up\n").unwrap();
        std::fs::create_dir_all(sys.join("bus/pci/devices")).unwrap();
        std::fs::create_dir_all(sys.join("class/net")).unwrap();
        std::os::unix::fs::symlink(&pci_dir, sys.join("bus/pci/devices/0000:00:03.0")).unwrap();
        std::os::unix::fs::symlink(&eth0, sys.join("class/net/eth0")).unwrap();
        let devices = scan(sys);
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["computer", "pci_0000_00_03_0", "net_eth0_52_54_00_12_34_56"]
        );
        assert_eq!(devices[2].parent.as_deref(), Some("pci_0000_00_03_0"));
        assert_eq!(devices[1].caps, ["pci"]);
        let xml = devices[2].to_xml();
        assert!(xml.contains("<interface>eth0</interface>"), "{xml}");
        assert!(xml.contains("<link state='up'/>"), "{xml}");
        assert!(xml.contains("<capability type='80203'/>"), "{xml}");
        assert!(devices[1].to_xml().contains("<slot>3</slot>"));
        for d in &devices {
            assert_eq!(find(sys, &d.name).as_ref(), Some(d));
        }
        assert_eq!(find(sys, "pci_0000_00_09_0"), None);
        assert_eq!(find(sys, "net_eth9_00_00_00_00_00_00"), None);
    }
}
