//! Typed views of `<devices>` children, and the checks libvirt makes on them
//! that wirt makes too. The elements themselves stay the source of truth.

use std::collections::HashMap;

use super::Error;
use super::domain::ParseOptions;
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
    pub target_dev: Option<String>,
    pub target_bus: Option<String>,
    pub format: Option<String>,
    pub read_only: bool,
    pub shareable: bool,
}

impl Disk {
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// `type`: network, bridge, user, ethernet, direct, hostdev, vhostuser...
    pub kind: String,
    pub mac: Option<String>,
    /// The network, bridge or device named by `<source>`.
    pub source: Option<String>,
    pub model: Option<String>,
    pub target_dev: Option<String>,
}

impl Interface {
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
        }
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

fn parse_hex_or_dec(value: &str) -> Option<u64> {
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// Checks a PCI `<address>`: libvirt's limits on slot and function.
fn check_pci_address(address: &Element) -> Result<(), Error> {
    if address.attr("type") != Some("pci") {
        return Ok(());
    }
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

/// Character devices (serial, console, parallel, channel) of the socket-ish
/// types need their source attributes.
fn check_chardev(e: &Element) -> Result<(), Error> {
    let kind = e.attr("type").unwrap_or("pty");
    let sources: Vec<&Element> = e.children_named("source").collect();
    let needs_path = matches!(kind, "file" | "pipe" | "dev" | "unix");
    if needs_path {
        // A unix socket in connect/bind mode may also be described by a single
        // source with a path; a missing path is an error either way.
        let has_path = sources.iter().any(|s| s.attr("path").is_some());
        let unix_auto = kind == "unix"
            && sources
                .iter()
                .any(|s| s.attr("mode") == Some("bind") && s.attr("path").is_none());
        let console_dev = kind == "dev" && e.name == "console";
        if !(has_path || unix_auto || console_dev) {
            return Err(Error::Internal(
                "Missing source path attribute for char device".into(),
            ));
        }
    }
    if matches!(kind, "tcp" | "udp") {
        let has_service = sources.iter().any(|s| s.attr("service").is_some());
        if !has_service {
            return Err(Error::Internal(
                "Missing source service attribute for char device".into(),
            ));
        }
    }
    if let Some(reconnect) = sources.iter().find_map(|s| s.child("reconnect")) {
        if reconnect.attr("enabled") == Some("yes") && reconnect.attr("timeout").is_none() {
            return Err(Error::Invalid(
                "Missing required attribute 'timeout' in element 'reconnect'".into(),
            ));
        }
        let mode = sources
            .iter()
            .find_map(|s| s.attr("mode"))
            .unwrap_or("connect");
        if mode != "connect" {
            return Err(Error::Internal(
                "chardev reconnect is possible only for connect mode".into(),
            ));
        }
    }
    Ok(())
}

/// The checks wirt makes on a device list. Each rejection names what was
/// wrong, with libvirt's error class.
pub fn validate(devices: &[Element], options: ParseOptions) -> Result<(), Error> {
    let mut targets: HashMap<String, String> = HashMap::new();
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
            check_pci_address(address)?;
        }
        match device.name.as_str() {
            "disk" => {
                let disk = Disk::from_element(device);
                let Some(target) = disk.target_dev.clone() else {
                    return Err(Error::NoTarget(disk.source.unwrap_or_default()));
                };
                let source = disk.source.clone().unwrap_or_default();
                if let Some(previous) = targets.insert(target.clone(), source.clone()) {
                    return Err(Error::Invalid(format!(
                        "target '{target}' duplicated for disk sources '{previous}' and '{source}'"
                    )));
                }
            }
            "interface" => {
                if let Some(mac) = device.child("mac").and_then(|m| m.attr("address"))
                    && !valid_mac(mac)
                {
                    return Err(Error::Invalid(format!(
                        "unable to parse mac address '{mac}'"
                    )));
                }
            }
            "serial" | "console" | "parallel" | "channel" => check_chardev(device)?,
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
}
