//! `attach-device` / `detach-device` (`virDomainAttachDeviceFlags`,
//! `virDomainDetachDeviceFlags`): a device added to or removed from the
//! persistent definition, the running guest, or both. A driver that
//! hotplugs (kvm:) takes disks and interfaces live; anything else live is
//! refused naming the device, with libvirt's OPERATION_UNSUPPORTED.
//! libvirt's test driver has no device changes, and neither has wirt's
//! test: host. A live change emits DEVICE_ADDED / DEVICE_REMOVED.

use super::Local;
use super::domain::persist;
use super::domain_config::affected;
use crate::connect::domain_flags as flags;
use crate::connect::{DomainRef, Error, Result, check_flags};
use crate::error::ErrorCode;
use crate::events::DeviceEvent;
use crate::xml::devices::Interface;
use crate::xml::tree::Element;
use crate::xml::{DomainDef, ParseOptions};

/// What identifies a device among its kind (libvirt's matching rules,
/// simplified): a disk by target, an interface by MAC, anything else by
/// its whole element.
fn same_device(a: &Element, b: &Element) -> bool {
    if a.name != b.name {
        return false;
    }
    let target = |e: &Element| {
        e.child("target")
            .and_then(|t| t.attr("dev"))
            .map(String::from)
    };
    let mac = |e: &Element| {
        e.child("mac")
            .and_then(|m| m.attr("address"))
            .map(str::to_ascii_lowercase)
    };
    match a.name.as_str() {
        "disk" => target(a).is_some() && target(a) == target(b),
        "interface" if mac(b).is_some() => mac(a) == mac(b),
        _ => a == b,
    }
}

fn describe(device: &Element) -> String {
    match device.name.as_str() {
        "disk" => device
            .child("target")
            .and_then(|t| t.attr("dev"))
            .map(|t| format!("disk {t}"))
            .unwrap_or_else(|| "disk".into()),
        "interface" => device
            .child("mac")
            .and_then(|m| m.attr("address"))
            .map(|m| format!("interface {m}"))
            .unwrap_or_else(|| "interface".into()),
        other => other.to_string(),
    }
}

/// `def` with `device` added (`attach`) or its match removed, checked as a
/// define would check it; with the device's position among its kind and
/// the element added or removed.
fn changed(def: &DomainDef, device: &Element, attach: bool) -> Result<(DomainDef, usize, Element)> {
    let mut new = def.clone();
    let existing = new.devices.iter().position(|d| same_device(d, device));
    let (at, element) = match (attach, existing) {
        (true, Some(_)) => {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("{} already exists", describe(device)),
            ));
        }
        (true, None) => {
            new.devices.push(device.clone());
            (new.devices.len() - 1, device.clone())
        }
        (false, Some(i)) => (i, new.devices.remove(i)),
        (false, None) => {
            return Err(Error::api(
                ErrorCode::DEVICE_MISSING,
                format!("no device matching {} was found", describe(device)),
            ));
        }
    };
    let of_kind = def.devices[..at.min(def.devices.len())]
        .iter()
        .filter(|d| d.name == device.name)
        .count();
    Ok((super::domain_config::checked(&new)?, of_kind, element))
}

impl Local {
    pub(super) fn change_device(
        &self,
        dom: &DomainRef,
        xml: &str,
        flags: u32,
        attach: bool,
    ) -> Result<()> {
        let api = if attach {
            "virDomainAttachDeviceFlags"
        } else {
            "virDomainDetachDeviceFlags"
        };
        check_flags(flags, flags::AFFECT_LIVE | flags::AFFECT_CONFIG, api)?;
        // libvirt's test driver has no device changes at all.
        if self.state.info.type_name == "TEST" {
            return Err(Error::api(ErrorCode::NO_SUPPORT, api));
        }
        let mut device = Element::parse(xml, "device")?;
        if attach {
            let mut one = [device];
            crate::xml::devices::fill_interface_defaults(&mut one, || {
                let b = *uuid::Uuid::new_v4().as_bytes();
                [b[0], b[1], b[2]]
            });
            crate::xml::devices::validate(&one, ParseOptions { validate: true })?;
            let [d] = one;
            device = d;
        }
        let state = &self.state;
        let hv = self.hv();
        let verb = if attach { "attach" } else { "detach" };
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            if live {
                let pluggable = matches!(device.name.as_str(), "disk" | "interface");
                if !hv.hotplugs() || !pluggable {
                    let why = if hv.hotplugs() {
                        "only disks and interfaces can be plugged in or out"
                    } else {
                        "this driver has no device hotplug"
                    };
                    return Err(Error::api(
                        ErrorCode::OPERATION_UNSUPPORTED,
                        format!(
                            "cannot {verb} {} on a running guest: {why}; use --config",
                            describe(&device)
                        ),
                    ));
                }
                if let Some(why) = attach.then(|| hv.refuses_device(&device)).flatten() {
                    return Err(Error::api(ErrorCode::CONFIG_UNSUPPORTED, why));
                }
            }
            // Both sides checked before either changes.
            let new_config = if config {
                let def = obj.config.as_ref().ok_or_else(|| {
                    Error::api(
                        ErrorCode::OPERATION_INVALID,
                        "cannot change persistent config of a transient domain",
                    )
                })?;
                Some(changed(def, &device, attach)?.0)
            } else {
                None
            };
            let new_live = if live {
                Some(changed(obj.def(), &device, attach)?)
            } else {
                None
            };
            if let Some((mut def, index, element)) = new_live {
                let id = obj.id;
                let uuid_text = uuid.to_string();
                match (element.name.as_str(), attach) {
                    ("disk", true) => {
                        let config = self.driver_config(reg, &def, id)?;
                        hv.attach_disk(&config, index)?;
                    }
                    ("disk", false) => hv.detach_disk(&uuid_text, index)?,
                    ("interface", true) => {
                        let config = self.driver_config(reg, &def, id)?;
                        let host = super::nic::host_nics(reg, &def)?;
                        let target = hv.attach_interface(&config, index, &host[index])?;
                        if !target.is_empty() {
                            let iface = def
                                .devices
                                .iter_mut()
                                .filter(|d| d.name == "interface")
                                .nth(index)
                                .expect("just added");
                            crate::xml::devices::set_interface_target(iface, Some(&target));
                        }
                    }
                    _ => {
                        let target = Interface::from_element(&element).target_dev;
                        hv.detach_interface(&uuid_text, index, target.as_deref())?;
                    }
                }
                let obj = reg.domain_mut(uuid).expect("checked");
                obj.live = Some(def);
                reg.record_runtime(uuid)?;
                state.device_events.emit(DeviceEvent {
                    name: obj_name(reg, uuid),
                    uuid: *uuid,
                    id: id.map_or(-1, |i| i as i32),
                    alias: alias(&element, index),
                    added: attach,
                });
            }
            if let Some(def) = new_config {
                reg.domain_mut(uuid).expect("checked").config = Some(def);
                persist(state, reg, uuid)?;
            }
            Ok(())
        })
    }
}

impl Local {
    /// `virDomainDetachDeviceAlias`: the device whose alias is `alias`
    /// (its `<alias name>`, or the one wirt gives: `virtio-disk1`, `net0`)
    /// detached as `detach-device` would.
    pub(super) fn detach_device_alias(
        &self,
        dom: &DomainRef,
        alias_name: &str,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainDetachDeviceAlias",
        )?;
        if self.state.info.type_name == "TEST" {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainDetachDeviceAlias",
            ));
        }
        let xml = self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let (live, _) = affected(obj, flags)?;
            let def = if live { obj.def() } else { obj.inactive_def() };
            let mut seen = std::collections::HashMap::new();
            for d in &def.devices {
                let n = seen.entry(d.name.clone()).or_insert(0usize);
                let index = *n;
                *n += 1;
                if matches!(d.name.as_str(), "disk" | "interface") && alias(d, index) == alias_name
                {
                    return Ok(d.to_xml());
                }
            }
            Err(Error::api(
                ErrorCode::DEVICE_MISSING,
                format!("no device found with alias {alias_name}"),
            ))
        })?;
        self.change_device(dom, &xml, flags, false)
    }
}

fn obj_name(reg: &crate::registry::Registry, uuid: &uuid::Uuid) -> String {
    reg.domain(uuid)
        .map(|o| o.def().name.clone())
        .unwrap_or_default()
}

/// The device's `<alias name>`, or the one libvirt's QEMU driver would give
/// it: `virtio-disk<N>` by target (`vdb` is 1), `net<N>` by position.
pub(super) fn alias(device: &Element, index: usize) -> String {
    if let Some(a) = device.child("alias").and_then(|a| a.attr("name")) {
        return a.to_string();
    }
    match device.name.as_str() {
        "disk" => {
            let target = device
                .child("target")
                .and_then(|t| t.attr("dev"))
                .unwrap_or("");
            let n = target
                .strip_prefix("vd")
                .or_else(|| target.strip_prefix("sd"))
                .map(|s| {
                    s.bytes().fold(0usize, |n, b| {
                        n * 26 + usize::from(b.wrapping_sub(b'a')) + 1
                    })
                })
                .map_or(index, |n| n.saturating_sub(1));
            format!("virtio-disk{n}")
        }
        _ => format!("net{index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_match_by_target_and_mac() {
        let e = |x: &str| Element::parse(x, "d").unwrap();
        let vdb = e("<disk type='file'><source file='/a'/><target dev='vdb'/></disk>");
        assert!(same_device(&vdb, &e("<disk><target dev='vdb'/></disk>")));
        assert!(!same_device(&vdb, &e("<disk><target dev='vdc'/></disk>")));
        let nic = e("<interface type='network'><mac address='52:54:00:AA:00:01'/></interface>");
        assert!(same_device(
            &nic,
            &e("<interface><mac address='52:54:00:aa:00:01'/></interface>")
        ));
        assert_eq!(describe(&vdb), "disk vdb");
    }
}
