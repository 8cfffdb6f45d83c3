//! Typed views of `<devices>` children, and the checks libvirt makes on them
//! that wirt makes too. The elements themselves stay the source of truth.

mod address;
mod chardev;
mod checks;

use super::Error;
use super::ParseOptions;
use super::tree::Element;

/// Device element names the domain schema knows.
pub const DEVICE_NAMES: &[&str] = &[
    "emulator",
    "disk",
    "controller",
    "lease",
    "filesystem",
    "interface",
    "input",
    "sound",
    "audio",
    "hostdev",
    "graphics",
    "video",
    "console",
    "serial",
    "parallel",
    "channel",
    "smartcard",
    "hub",
    "redirdev",
    "redirfilter",
    "rng",
    "tpm",
    "shmem",
    "memory",
    "iommu",
    "vsock",
    "crypto",
    "panic",
    "watchdog",
    "memballoon",
    "nvram",
    "pstore",
];

/// A typed view of a `<disk>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// `type`: file, block, dir, network, volume, nvme, vhostuser.
    pub kind: String,
    /// `device`: disk, cdrom, floppy, lun.
    pub device: String,
    /// The source as virsh domblklist prints it (path, pool/volume, protocol name).
    pub source: Option<String>,
    /// For `type='volume'`: (pool, volume).
    pub volume: Option<(String, String)>,
    /// `<target dev>` (`vda`).
    pub target_dev: Option<String>,
    /// `<target bus>` (`virtio`).
    pub target_bus: Option<String>,
    /// `<driver type>`: the image format (`qcow2`).
    pub format: Option<String>,
    /// `<readonly/>`.
    pub read_only: bool,
    /// `<shareable/>`.
    pub shareable: bool,
}

impl Disk {
    /// The view of `<disk>` element `e`, libvirt's defaults filled in.
    pub fn from_element(e: &Element) -> Self {
        let source = e.child("source");
        let volume =
            source.and_then(|s| Some((s.attr("pool")?.to_string(), s.attr("volume")?.to_string())));
        let source_text = source.and_then(|s| {
            s.attr("file")
                .or_else(|| s.attr("dev"))
                .or_else(|| s.attr("dir"))
                .or_else(|| s.attr("name"))
                .map(String::from)
                .or_else(|| volume.as_ref().map(|(p, v)| format!("{p}/{v}")))
        });
        Disk {
            kind: e.attr("type").unwrap_or("file").to_string(),
            device: e.attr("device").unwrap_or("disk").to_string(),
            source: source_text,
            volume,
            target_dev: e
                .child("target")
                .and_then(|t| t.attr("dev"))
                .map(String::from),
            target_bus: e
                .child("target")
                .and_then(|t| t.attr("bus"))
                .map(String::from),
            format: e
                .child("driver")
                .and_then(|d| d.attr("type"))
                .map(String::from),
            read_only: e.child("readonly").is_some(),
            shareable: e.child("shareable").is_some(),
        }
    }
}

/// A typed view of an `<interface>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// `type`: network, bridge, user, ethernet, direct, hostdev, vhostuser...
    pub kind: String,
    /// `<mac address>`.
    pub mac: Option<String>,
    /// The network, bridge or device named by `<source>`.
    pub source: Option<String>,
    /// `<model type>` (`virtio`).
    pub model: Option<String>,
    /// `<target dev>`: the host device (`vnet0`).
    pub target_dev: Option<String>,
    /// `<link state='down'/>`: the cable is unplugged.
    pub link_down: bool,
    /// `<mtu size>`.
    pub mtu: Option<u32>,
    /// `<backend type>` (`passt` for a user interface).
    pub backend: Option<String>,
}

impl Interface {
    /// The view of `<interface>` element `e`.
    pub fn from_element(e: &Element) -> Self {
        let source = e.child("source").and_then(|s| {
            s.attr("network")
                .or_else(|| s.attr("bridge"))
                .or_else(|| s.attr("dev"))
                .or_else(|| s.attr("path"))
                .map(String::from)
        });
        Interface {
            kind: e.attr("type").unwrap_or("user").to_string(),
            mac: e
                .child("mac")
                .and_then(|m| m.attr("address"))
                .map(String::from),
            source,
            model: e
                .child("model")
                .and_then(|m| m.attr("type"))
                .map(String::from),
            target_dev: e
                .child("target")
                .and_then(|t| t.attr("dev"))
                .map(String::from),
            link_down: e
                .child("link")
                .is_some_and(|l| l.attr("state") == Some("down")),
            mtu: e
                .child("mtu")
                .and_then(|m| m.attr("size"))
                .and_then(|s| s.parse().ok()),
            backend: e
                .child("backend")
                .and_then(|b| b.attr("type"))
                .map(String::from),
        }
    }
}

/// Prefixes of the host device names libvirt generates (`vnet0`...): a
/// name with one of them in a definition is a leftover of an earlier run,
/// dropped at define as libvirt does, and never honoured by the KVM driver.
pub const GENERATED_NET_PREFIXES: &[&str] = &["vnet", "vif", "macvtap", "macvlan"];

/// Whether `name` is of the form libvirt generates for host devices.
pub fn is_generated_ifname(name: &str) -> bool {
    GENERATED_NET_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// libvirt's parse-time interface defaults: a MAC address for each
/// interface without one (`52:54:00` and three bytes from `random`, as
/// libvirt's QEMU and test drivers do, so it is stable once defined), and
/// no generated `<target dev>` name.
pub fn fill_interface_defaults(devices: &mut [Element], mut random: impl FnMut() -> [u8; 3]) {
    for iface in devices.iter_mut().filter(|d| d.name == "interface") {
        if iface.child("mac").is_none() {
            let [a, b, c] = random();
            let mac = format!("52:54:00:{a:02x}:{b:02x}:{c:02x}");
            iface.children.insert(
                0,
                super::tree::Node::Element(Element::new("mac").with_attr("address", mac)),
            );
        }
        set_interface_target(iface, None);
    }
}

/// Sets (or with `None`, removes a generated) `<target dev>` of one
/// `<interface>`: the live definition names the host device the driver made.
pub fn set_interface_target(iface: &mut Element, dev: Option<&str>) {
    use super::tree::Node;
    let pos = iface
        .children
        .iter()
        .position(|n| matches!(n, Node::Element(e) if e.name == "target"));
    match (dev, pos) {
        (Some(dev), Some(i)) => {
            if let Node::Element(t) = &mut iface.children[i] {
                t.set_attr("dev", dev);
            }
        }
        (Some(dev), None) => {
            // After <source> (or <mac>), where libvirt formats it.
            let after = iface
                .children
                .iter()
                .rposition(
                    |n| matches!(n, Node::Element(e) if e.name == "source" || e.name == "mac"),
                )
                .map_or(0, |i| i + 1);
            iface.children.insert(
                after,
                Node::Element(Element::new("target").with_attr("dev", dev)),
            );
        }
        (None, Some(i)) => {
            if let Node::Element(t) = &mut iface.children[i]
                && t.attr("dev").is_some_and(is_generated_ifname)
            {
                t.remove_attr("dev");
                if t.attrs.is_empty() && !t.has_element_children() {
                    iface.children.remove(i);
                }
            }
        }
        (None, None) => {}
    }
}

/// A MAC address in libvirt's accepted form: six hex pairs separated by ':' or '-'.
pub fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// libvirt's `virDomainDefHasUSB`: a USB controller that is not `model='none'`.
fn has_usb(devices: &[Element]) -> bool {
    devices.iter().any(|d| {
        d.name == "controller" && d.attr("type") == Some("usb") && d.attr("model") != Some("none")
    })
}

/// The checks wirt makes on a device list, each rejection with libvirt's
/// error class. [`super::DomainDef::parse`] runs them after the checks
/// outside `<devices>`.
pub fn validate(devices: &[Element], options: ParseOptions) -> Result<(), Error> {
    let usb = has_usb(devices);
    // Parse-time checks, device by device in document order, as libvirt's
    // parser meets them.
    for device in devices {
        if options.validate
            && !device.name.contains(':')
            && !DEVICE_NAMES.contains(&device.name.as_str())
        {
            return Err(Error::Schema(format!(
                "Element devices has extra content: {}",
                device.name
            )));
        }
        if let Some(address) = device.child("address") {
            address::check(address)?;
        }
        if let Some(boot) = device.child("boot") {
            checks::boot(boot)?;
        }
        match device.name.as_str() {
            "interface" => checks::interface(device)?,
            "serial" | "console" | "parallel" | "channel" => chardev::parse(device)?,
            "redirdev" => chardev::parse(device)?,
            "smartcard" if device.attr("mode") == Some("passthrough") => chardev::parse(device)?,
            "rng" => {
                if let Some(backend) = device.child("backend")
                    && backend.attr("model") == Some("egd")
                {
                    chardev::parse(backend)?;
                }
            }
            "disk" => checks::disk_parse(device)?,
            "graphics" => checks::graphics(device)?,
            "tpm" => checks::tpm(device)?,
            "shmem" => checks::shmem(device)?,
            _ => {}
        }
    }
    checks::usb_controllers(devices)?;
    // Post-parse: targets and the drive addresses libvirt assigns from them.
    checks::disk_targets(devices)?;
    address::drive_conflicts(devices)?;
    // Validation of the finished definition.
    for device in devices {
        match device.name.as_str() {
            "disk" => checks::disk_validate(device)?,
            "serial" | "console" | "parallel" | "channel" => chardev::validate(device, device)?,
            "redirdev" => {
                if device.attr("bus").unwrap_or("usb") == "usb" && !usb {
                    return Err(Error::Unsupported(
                        "cannot add redirected USB device: USB is disabled for this domain".into(),
                    ));
                }
                chardev::validate(device, device)?;
            }
            "smartcard" if device.attr("mode") == Some("passthrough") => {
                chardev::validate(device, device)?
            }
            "rng" => {
                if let Some(backend) = device.child("backend")
                    && backend.attr("model") == Some("egd")
                {
                    chardev::validate(backend, device)?;
                }
            }
            "hub" if device.attr("type") == Some("usb") && !usb => {
                return Err(Error::Unsupported(
                    "Can't add USB hub: USB is disabled for this domain".into(),
                ));
            }
            "video" => checks::video(device)?,
            "controller" => checks::controller(device)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert!(valid_mac("aa:bb:cc:dd:ee:ff"));
        assert!(valid_mac("52-54-00-00-00-01"));
        assert!(!valid_mac("aa:bb:cc:dd:ee"));
        assert!(!valid_mac("zz:bb:cc:dd:ee:ff"));
    }

    /// The error class of a domain with these devices, or None if accepted.
    fn class(devices: &str) -> Option<u32> {
        let xml = format!(
            "<domain type='test'><name>t</name><memory>1024</memory>\
             <os><type>hvm</type></os><devices>{devices}</devices></domain>"
        );
        super::super::DomainDef::parse(&xml, ParseOptions::default())
            .err()
            .map(|e| e.code().0)
    }

    #[test]
    fn chardev_sources() {
        assert_eq!(class("<serial type='unix'/>"), Some(1));
        assert_eq!(
            class("<channel type='unix'><target type='virtio'/></channel>"),
            None
        );
        assert_eq!(
            class("<serial type='tcp'><source service='1'/></serial>"),
            Some(1)
        );
        assert_eq!(
            class(
                "<serial type='tcp'><source host='h' service='1'/><source host='h' service='2'/></serial>"
            ),
            Some(27)
        );
        assert_eq!(
            class("<rng model='virtio'><backend model='egd' type='unix'/></rng>"),
            Some(1)
        );
        assert_eq!(
            class("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"),
            None
        );
    }

    #[test]
    fn disks_and_addresses() {
        let disk = |target: &str, address: &str| {
            format!(
                "<disk type='file'><source file='/{target}'/><target dev='{target}'/>{address}</disk>"
            )
        };
        assert_eq!(class(&disk("sda", "")), None);
        assert_eq!(
            class(&format!("{}{}", disk("sda", ""), disk("sda", ""))),
            Some(27)
        );
        assert_eq!(
            class("<disk type='file'><source file='/x'/></disk>"),
            Some(20)
        );
        assert_eq!(
            class(&disk("hda", "<address type='pci' slot='0x3'/>")),
            Some(67)
        );
        assert_eq!(
            class(&disk("vda", "<address type='pci' slot='0x20'/>")),
            Some(27)
        );
        let hostdev = "<hostdev mode='subsystem' type='scsi'><source><adapter name='h'/>\
                       <address bus='0' target='0' unit='1'/></source>\
                       <address type='drive' controller='0' bus='0' target='0' unit='0'/></hostdev>";
        assert_eq!(class(&format!("{}{hostdev}", disk("sda", ""))), Some(67));
        assert_eq!(class(&format!("{}{hostdev}", disk("sdb", ""))), None);
        assert_eq!(class(&format!("{hostdev}{hostdev}")), Some(67));
    }

    #[test]
    fn usb() {
        let none = "<controller type='usb' model='none'/>";
        assert_eq!(class(&format!("{none}<hub type='usb'/>")), Some(67));
        assert_eq!(class(&format!("{none}<controller type='usb'/>")), Some(35));
        assert_eq!(class("<controller type='usb'/><hub type='usb'/>"), None);
        assert_eq!(
            class(
                "<controller type='usb'/><hub type='usb'><address type='usb' bus='0' port='1.2.3.4.5'/></hub>"
            ),
            Some(1)
        );
    }

    #[test]
    fn other_devices() {
        assert_eq!(class("<tpm model='tpm-tis'/>"), Some(27));
        assert_eq!(class("<shmem name='s'><msi/></shmem>"), Some(27));
        assert_eq!(class("<shmem name='s'><server/><msi/></shmem>"), None);
        assert_eq!(
            class("<video><model type='ramfb'/><address type='pci' slot='0x2'/></video>"),
            Some(67)
        );
        assert_eq!(
            class("<interface type='user'><driver queues='-5'/></interface>"),
            Some(27)
        );
        assert_eq!(
            class(
                "<graphics type='vnc' listen='1.1.1.1'><listen type='address' address='2.2.2.2'/></graphics>"
            ),
            Some(67)
        );
        assert_eq!(
            class(
                "<controller type='pci' index='1' model='pci-root'><target index='0'/></controller>"
            ),
            Some(67)
        );
    }
}
