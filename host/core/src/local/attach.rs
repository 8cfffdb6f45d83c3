//! `attach-device` / `detach-device` (`virDomainAttachDeviceFlags`,
//! `virDomainDetachDeviceFlags`): a device added to or removed from the
//! persistent definition. No driver of wirt's can add a device to a running
//! guest yet (wirt-vmm has no hotplug), so `--live` is refused naming the
//! device, with libvirt's OPERATION_UNSUPPORTED; libvirt's test driver has
//! neither, and neither has wirt's test: host.

use super::Local;
use super::domain::persist;
use super::domain_config::affected;
use crate::connect::domain_flags as flags;
use crate::connect::{DomainRef, Error, Result, check_flags};
use crate::error::ErrorCode;
use crate::xml::tree::Element;
use crate::xml::{DomainDef, FormatOptions, ParseOptions};

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
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            if live {
                return Err(Error::api(
                    ErrorCode::OPERATION_UNSUPPORTED,
                    format!(
                        "cannot {} {} on a running guest: this driver has no device hotplug; use --config",
                        if attach { "attach" } else { "detach" },
                        describe(&device)
                    ),
                ));
            }
            if !config {
                return Ok(());
            }
            let def = obj.config.as_ref().ok_or_else(|| {
                Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "cannot change persistent config of a transient domain",
                )
            })?;
            let mut new = def.clone();
            let existing = new.devices.iter().position(|d| same_device(d, &device));
            match (attach, existing) {
                (true, Some(_)) => {
                    return Err(Error::api(
                        ErrorCode::OPERATION_FAILED,
                        format!("{} already exists", describe(&device)),
                    ));
                }
                (true, None) => new.devices.push(device),
                (false, Some(i)) => {
                    new.devices.remove(i);
                }
                (false, None) => {
                    return Err(Error::api(
                        ErrorCode::DEVICE_MISSING,
                        format!("no device matching {} was found", describe(&device)),
                    ));
                }
            }
            // The whole definition checked again, as a define would.
            let text = new.to_xml(FormatOptions::default());
            let checked = DomainDef::parse(&text, ParseOptions { validate: true })?;
            obj.config = Some(checked);
            persist(state, reg, uuid)
        })
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
