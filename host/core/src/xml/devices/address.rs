//! Device `<address>` checks: PCI limits, USB port paths, and the drive
//! addresses of SCSI disks and host devices, which must not collide.

use super::super::Error;
use super::super::tree::Element;

fn parse_hex_or_dec(value: &str) -> Option<u64> {
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// Checks one device `<address>` as libvirt parses it.
pub(super) fn check(address: &Element) -> Result<(), Error> {
    match address.attr("type") {
        Some("pci") => check_pci(address),
        Some("usb") => check_usb_port(address),
        _ => Ok(()),
    }
}

/// libvirt's limits on a PCI address's domain, bus, slot and function.
fn check_pci(address: &Element) -> Result<(), Error> {
    for (attr, max) in [
        ("domain", 0xffff_u64),
        ("bus", 0xff),
        ("slot", 0x1f),
        ("function", 7),
    ] {
        let Some(value) = address.attr(attr) else {
            continue;
        };
        let parsed = parse_hex_or_dec(value)
            .ok_or_else(|| Error::Internal(format!("Cannot parse <address> '{attr}' attribute")))?;
        if parsed > max {
            return Err(Error::Invalid(if attr == "function" {
                format!("Invalid PCI address function=0x{parsed:x}, must be <= {max}")
            } else {
                format!("Invalid PCI address {attr}='0x{parsed:x}', must be <= 0x{max:X}")
            }));
        }
    }
    Ok(())
}

/// A USB port is a path of at most four hub ports: `1`, `1.2`, `1.2.3.4`.
const USB_MAX_PORT_DEPTH: usize = 4;

fn check_usb_port(address: &Element) -> Result<(), Error> {
    let Some(port) = address.attr("port") else {
        return Ok(());
    };
    let parts: Vec<&str> = port.split('.').collect();
    let valid = parts.len() <= USB_MAX_PORT_DEPTH
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 10 && p.parse::<u32>().is_ok());
    if valid {
        Ok(())
    } else {
        Err(Error::Internal(
            "Cannot parse <address> 'port' attribute".into(),
        ))
    }
}

/// A drive address: controller, bus, target, unit.
type Drive = [u32; 4];

fn drive_address(device: &Element) -> Option<Drive> {
    let address = device.child("address")?;
    if address.attr("type") != Some("drive") {
        return None;
    }
    let field = |name: &str| address.attr(name).and_then(|v| v.trim().parse().ok());
    Some([
        field("controller").unwrap_or(0),
        field("bus").unwrap_or(0),
        field("target").unwrap_or(0),
        field("unit").unwrap_or(0),
    ])
}

/// The bus of a disk: its `<target bus>`, or what libvirt infers from the
/// target name.
pub(super) fn disk_bus(disk: &Element) -> Option<String> {
    let target = disk.child("target")?;
    if let Some(bus) = target.attr("bus") {
        return Some(bus.to_string());
    }
    if disk.attr("device") == Some("floppy") {
        return Some("fdc".into());
    }
    let dev = target.attr("dev")?;
    let bus = [
        ("hd", "ide"),
        ("sd", "scsi"),
        ("vd", "virtio"),
        ("xvd", "xen"),
        ("ubd", "uml"),
        ("fd", "fdc"),
    ]
    .iter()
    .find(|(prefix, _)| dev.starts_with(prefix))
    .map(|(_, bus)| bus.to_string())?;
    Some(bus)
}

/// libvirt's `virDiskNameToIndex`: `sda` is 0, `sdz` 25, `sdaa` 26.
fn disk_index(name: &str) -> Option<u32> {
    let letters = ["xvd", "ubd", "hd", "sd", "vd", "fd"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut index: u32 = 0;
    for (i, b) in letters.bytes().enumerate() {
        let digit = u32::from(b - b'a');
        index = if i == 0 {
            digit
        } else {
            index.checked_add(1)?.checked_mul(26)?.checked_add(digit)?
        };
    }
    Some(index)
}

fn is_scsi_hostdev(device: &Element) -> bool {
    device.name == "hostdev"
        && device.attr("mode").unwrap_or("subsystem") == "subsystem"
        && device.attr("type") == Some("scsi")
}

fn describe(drive: &Drive) -> String {
    format!(
        "controller='{}' bus='{}' target='{}' unit='{}'",
        drive[0], drive[1], drive[2], drive[3]
    )
}

/// Drive addresses in use twice: two disks on one bus, two SCSI host
/// devices, or a SCSI host device and a SCSI disk (including the address
/// libvirt assigns a SCSI disk from its target name: 7 units per
/// controller).
pub(super) fn drive_conflicts(devices: &[Element]) -> Result<(), Error> {
    use std::collections::{HashMap, HashSet};
    // Sets and maps: a hostile document has 100k disks (lists were quadratic).
    let mut explicit: HashSet<(String, Drive)> = HashSet::new();
    // SCSI disks' addresses, the first disk at each kept: (target, explicit).
    let mut scsi: HashMap<Drive, (String, bool)> = HashMap::new();
    for disk in devices.iter().filter(|d| d.name == "disk") {
        let Some(bus) = disk_bus(disk) else { continue };
        let dst = disk
            .child("target")
            .and_then(|t| t.attr("dev"))
            .unwrap_or_default()
            .to_string();
        let (drive, is_explicit) = match drive_address(disk) {
            Some(drive) => {
                if !explicit.insert((bus.clone(), drive)) {
                    return Err(Error::Unsupported(format!(
                        "Found duplicate drive address for disk with target name '{dst}' {}",
                        describe(&drive)
                    )));
                }
                (drive, true)
            }
            None if bus == "scsi" && disk.child("address").is_none() => match disk_index(&dst) {
                Some(index) => ([index / 7, 0, 0, index % 7], false),
                None => continue,
            },
            None => continue,
        };
        if bus == "scsi" {
            scsi.entry(drive).or_insert((dst, is_explicit));
        }
    }
    let mut hostdevs: HashSet<Drive> = HashSet::new();
    for hostdev in devices.iter().filter(|d| is_scsi_hostdev(d)) {
        let Some(drive) = drive_address(hostdev) else {
            continue;
        };
        if hostdevs.contains(&drive) {
            return Err(Error::Unsupported(format!(
                "SCSI host address {} in use by another SCSI host device",
                describe(&drive)
            )));
        }
        if let Some((dst, explicit)) = scsi.get(&drive) {
            return Err(Error::Unsupported(if *explicit {
                format!(
                    "SCSI host address {} in use by another SCSI disk",
                    describe(&drive)
                )
            } else {
                format!(
                    "using disk target name '{dst}' conflicts with SCSI host device address {}",
                    describe(&drive)
                )
            }));
        }
        hostdevs.insert(drive);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_names_to_indexes() {
        assert_eq!(disk_index("sda"), Some(0));
        assert_eq!(disk_index("vdz"), Some(25));
        assert_eq!(disk_index("sdaa"), Some(26));
        assert_eq!(disk_index("hd1"), None);
    }

    #[test]
    fn usb_ports() {
        let port = |p: &str| check_usb_port(&Element::new("address").with_attr("port", p));
        assert!(port("1").is_ok());
        assert!(port("1.2.3.4").is_ok());
        assert!(port("1.2.3.4.5").is_err());
        assert!(port("1..2").is_err());
        assert!(port("x").is_err());
    }
}
