//! Per-device checks libvirt makes on disks, interfaces, graphics, video,
//! TPM, shared memory and controllers, with libvirt's error classes.

use std::collections::HashMap;

use super::super::Error;
use super::super::tree::Element;
use super::Disk;
use super::address::disk_bus;

/// An unsigned attribute libvirt reads with `virXMLPropUInt`.
fn uint_attr(e: &Element, attr: &str) -> Result<(), Error> {
    match e.attr(attr) {
        Some(v) if v.trim().parse::<u32>().is_err() => Err(Error::Invalid(format!(
            "Invalid value for attribute '{attr}' in element '{}': '{v}'. Expected non-negative integer value",
            e.name
        ))),
        _ => Ok(()),
    }
}

/// `<boot order loadparm>` of a bootable device.
pub(super) fn boot(boot: &Element) -> Result<(), Error> {
    let Some(loadparm) = boot.attr("loadparm") else {
        return Ok(());
    };
    let upper = loadparm.to_ascii_uppercase();
    if upper.is_empty() || upper.len() > 8 {
        return Err(Error::Internal(format!(
            "loadparm value '{upper}' must be between 1 and 8 characters"
        )));
    }
    if !upper
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == ' ')
    {
        return Err(Error::Internal(format!(
            "invalid loadparm value '{upper}', expecting chars in set of [A-Z0-9. ]"
        )));
    }
    Ok(())
}

pub(super) fn interface(device: &Element) -> Result<(), Error> {
    if let Some(mac) = device.child("mac").and_then(|m| m.attr("address"))
        && !super::valid_mac(mac)
    {
        return Err(Error::Invalid(format!(
            "unable to parse mac address '{mac}'"
        )));
    }
    if let Some(driver) = device.child("driver") {
        for attr in ["queues", "rx_queue_size", "tx_queue_size"] {
            uint_attr(driver, attr)?;
        }
    }
    Ok(())
}

/// Checks libvirt makes while parsing a `<disk>`.
pub(super) fn disk_parse(device: &Element) -> Result<(), Error> {
    if device.child("encryption").is_some()
        && device
            .child("source")
            .is_some_and(|s| s.child("encryption").is_some())
    {
        return Err(Error::Unsupported(
            "an <encryption> definition already found for disk source".into(),
        ));
    }
    if let Some(driver) = device.child("driver") {
        for attr in ["queues", "queue_size"] {
            uint_attr(driver, attr)?;
        }
    }
    Ok(())
}

/// Every disk names a target, and no two disks the same one.
pub(super) fn disk_targets(devices: &[Element]) -> Result<(), Error> {
    let mut targets: HashMap<String, String> = HashMap::new();
    for device in devices.iter().filter(|d| d.name == "disk") {
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
    Ok(())
}

/// Secret usage types libvirt knows.
const SECRET_TYPES: &[&str] = &["none", "volume", "ceph", "iscsi", "tls", "vtpm"];

/// Validation of a finished `<disk>`.
pub(super) fn disk_validate(device: &Element) -> Result<(), Error> {
    let bus = disk_bus(device);
    if let (Some(bus), Some(address)) = (&bus, device.child("address"))
        && matches!(bus.as_str(), "ide" | "fdc" | "scsi" | "sata")
        && let Some(kind) = address.attr("type")
        && kind != "drive"
    {
        let dst = device
            .child("target")
            .and_then(|t| t.attr("dev"))
            .unwrap_or_default();
        return Err(Error::Unsupported(format!(
            "Invalid address type '{kind}' for the disk '{dst}' with the bus type '{bus}'"
        )));
    }
    let source = device.child("source");
    let auth = device
        .child("auth")
        .or_else(|| source.and_then(|s| s.child("auth")));
    if device.attr("type") == Some("network")
        && let Some(secret_type) = auth
            .and_then(|a| a.child("secret"))
            .and_then(|s| s.attr("type"))
    {
        if !SECRET_TYPES.contains(&secret_type) {
            return Err(Error::Unsupported(format!(
                "unknown secret type '{secret_type}'"
            )));
        }
        let wanted = match source.and_then(|s| s.attr("protocol")) {
            Some("iscsi") => Some("iscsi"),
            Some("rbd") => Some("ceph"),
            _ => None,
        };
        if wanted.is_some_and(|w| w != secret_type) {
            return Err(Error::Unsupported(format!(
                "invalid secret type '{secret_type}'"
            )));
        }
    }
    Ok(())
}

/// `<graphics>` listen settings: a `<listen type='network'>` names its
/// network, and the old `listen` / `socket` attributes agree with the first
/// `<listen>` element.
pub(super) fn graphics(device: &Element) -> Result<(), Error> {
    if !matches!(device.attr("type"), Some("vnc" | "spice" | "rdp")) {
        return Ok(());
    }
    let listens: Vec<&Element> = device.children_named("listen").collect();
    for listen in &listens {
        if listen.attr("type") == Some("network") && listen.attr("network").is_none() {
            return Err(Error::Invalid(
                "'network' attribute is required for listen type 'network'".into(),
            ));
        }
    }
    let Some(first) = listens.first() else {
        return Ok(());
    };
    if let Some(listen) = device.attr("listen")
        && first.attr("type") == Some("address")
        && let Some(address) = first.attr("address")
        && address != listen
    {
        return Err(Error::Unsupported(format!(
            "graphics 'listen' attribute '{listen}' must match 'address' attribute of first listen element (found '{address}')"
        )));
    }
    if let Some(socket) = device.attr("socket")
        && device.attr("type") == Some("vnc")
        && first.attr("type") == Some("socket")
        && let Some(found) = first.attr("socket")
        && found != socket
    {
        return Err(Error::Unsupported(format!(
            "graphics 'socket' attribute '{socket}' must match 'socket' attribute of first listen element (found '{found}')"
        )));
    }
    Ok(())
}

pub(super) fn tpm(device: &Element) -> Result<(), Error> {
    if device.child("backend").is_none() {
        return Err(Error::Invalid("missing TPM device backend".into()));
    }
    Ok(())
}

pub(super) fn shmem(device: &Element) -> Result<(), Error> {
    if device.child("msi").is_some() && device.child("server").is_none() {
        return Err(Error::Invalid(
            "msi option is only supported with a server".into(),
        ));
    }
    Ok(())
}

pub(super) fn video(device: &Element) -> Result<(), Error> {
    let model = device.child("model").and_then(|m| m.attr("type"));
    if model == Some("ramfb") && device.child("address").is_some() {
        return Err(Error::Unsupported(
            "address not supported for video type ramfb".into(),
        ));
    }
    Ok(())
}

/// A guest has USB controllers, or one `model='none'` controller that
/// disables USB, never both.
pub(super) fn usb_controllers(devices: &[Element]) -> Result<(), Error> {
    let (mut none, mut other) = (false, false);
    for controller in devices
        .iter()
        .filter(|d| d.name == "controller" && d.attr("type") == Some("usb"))
    {
        let disabling = controller.attr("model") == Some("none");
        if none || (disabling && other) {
            return Err(Error::Detail(
                "Can't add another USB controller: USB is disabled for this domain".into(),
            ));
        }
        none |= disabling;
        other |= !disabling;
    }
    Ok(())
}

/// PCI controllers: index and the PHB target index of pSeries guests.
pub(super) fn controller(device: &Element) -> Result<(), Error> {
    if device.attr("type") != Some("pci") {
        return Ok(());
    }
    let index: i64 = device
        .attr("index")
        .and_then(|i| i.trim().parse().ok())
        .unwrap_or(0);
    if index > 255 {
        return Err(Error::Unsupported(format!(
            "PCI controller index {index} too high, maximum is 255"
        )));
    }
    let Some(target_index) = device
        .child("target")
        .and_then(|t| t.attr("index"))
        .and_then(|i| i.trim().parse::<i64>().ok())
    else {
        return Ok(());
    };
    if !(0..=30).contains(&target_index) {
        return Err(Error::Unsupported(format!(
            "PCI controller target index '{target_index}' out of range - must be 0-30"
        )));
    }
    if (index == 0) != (target_index == 0) {
        return Err(Error::Unsupported(
            "Only the PCI controller with index 0 can have target index 0, and vice versa".into(),
        ));
    }
    Ok(())
}
