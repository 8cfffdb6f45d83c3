//! Host interfaces. A test host keeps its own in memory, as libvirt's test
//! driver does (defined, started and stopped without touching anything,
//! with `virInterfaceChange*` transactions over the whole set);
//! the local host's are read from sysfs, read-only: wirt does not change
//! the host's own network configuration.

use std::path::Path;
use std::sync::MutexGuard;

use super::Local;
use crate::connect::iface_flags as flags;
use crate::connect::{Error, IfaceBackend, IfaceRef, Result, check_flags};
use crate::error::ErrorCode;
use crate::xml::Element;
use crate::xml::iface::IfaceDef;

/// One interface of a test host.
#[derive(Clone, Debug)]
pub(crate) struct IfaceObj {
    pub def: IfaceDef,
    pub active: bool,
}

fn iface_ref(o: &IfaceObj) -> IfaceRef {
    IfaceRef {
        name: o.def.name.clone(),
        mac: o.def.mac.clone(),
    }
}

fn no_iface(detail: String) -> Error {
    Error::api(ErrorCode::NO_INTERFACE, detail)
}

fn read_only() -> Error {
    Error::api(
        ErrorCode::OPERATION_UNSUPPORTED,
        "the host's interfaces are read-only on this connection",
    )
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The interfaces under `sys/class/net`, as libvirt's udev backend
/// describes them: up when `IFF_UP` is set, bridges with their ports.
pub(crate) fn scan_host(sys: &Path) -> Vec<IfaceObj> {
    let net = sys.join("class/net");
    let mut names: Vec<String> = std::fs::read_dir(&net)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let dir = net.join(&name);
            let flags = read(&dir.join("flags"))
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            let active = flags & 1 != 0;
            let mac = read(&dir.join("address")).unwrap_or_default();
            let bridge = dir.join("bridge").is_dir();
            let mut e = Element::new("interface")
                .with_attr("type", if bridge { "bridge" } else { "ethernet" })
                .with_attr("name", name.clone());
            let mut link = Element::new("link");
            if let Some(speed) = read(&dir.join("speed")).filter(|s| !s.starts_with('-')) {
                link = link.with_attr("speed", speed);
            }
            let state = read(&dir.join("operstate")).unwrap_or_else(|| "unknown".into());
            e = e.with_child(link.with_attr("state", state));
            if !mac.is_empty() {
                e = e.with_child(Element::new("mac").with_attr("address", mac.clone()));
            }
            if bridge {
                let mut ports: Vec<String> = std::fs::read_dir(dir.join("brif"))
                    .map(|d| {
                        d.filter_map(|p| p.ok()?.file_name().into_string().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                ports.sort();
                let mut b = Element::new("bridge");
                for port in ports {
                    b = b.with_child(
                        Element::new("interface")
                            .with_attr("type", "ethernet")
                            .with_attr("name", port),
                    );
                }
                e = e.with_child(b);
            }
            IfaceObj {
                def: IfaceDef {
                    name,
                    mac,
                    element: e,
                },
                active,
            }
        })
        .collect()
}

impl Local {
    /// A test host's interfaces; `None` for the local host's.
    fn test_ifaces(&self) -> Option<MutexGuard<'_, Vec<IfaceObj>>> {
        self.state
            .interfaces
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The snapshot of a running transaction (lock after `test_ifaces`).
    fn iface_backup(&self) -> MutexGuard<'_, Option<Vec<IfaceObj>>> {
        self.state
            .iface_backup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn all_ifaces(&self) -> Vec<IfaceObj> {
        match self.test_ifaces() {
            Some(list) => list.clone(),
            None => scan_host(Path::new("/sys")),
        }
    }

    fn find_iface(&self, r: &IfaceRef) -> Result<IfaceObj> {
        self.all_ifaces()
            .into_iter()
            .find(|o| o.def.name == r.name)
            .ok_or_else(|| no_iface(format!("no interface with matching name '{}'", r.name)))
    }

    /// Sets a test interface's state: libvirt's test driver refuses
    /// starting an active one or stopping an inactive one, without detail.
    fn set_iface_active(&self, r: &IfaceRef, active: bool) -> Result<()> {
        let Some(mut list) = self.test_ifaces() else {
            return Err(read_only());
        };
        let obj = list
            .iter_mut()
            .find(|o| o.def.name == r.name)
            .ok_or_else(|| no_iface(format!("no interface with matching name '{}'", r.name)))?;
        if obj.active == active {
            return Err(Error::api(ErrorCode::OPERATION_INVALID, ""));
        }
        obj.active = active;
        Ok(())
    }
}

impl IfaceBackend for Local {
    fn list_all_interfaces(&self, f: u32) -> Result<Vec<IfaceRef>> {
        let both = flags::LIST_ACTIVE | flags::LIST_INACTIVE;
        Ok(self
            .all_ifaces()
            .iter()
            .filter(|o| {
                f & both == 0
                    || f & if o.active {
                        flags::LIST_ACTIVE
                    } else {
                        flags::LIST_INACTIVE
                    } != 0
            })
            .map(iface_ref)
            .collect())
    }

    fn lookup_interface_by_name(&self, name: &str) -> Result<IfaceRef> {
        self.all_ifaces()
            .iter()
            .find(|o| o.def.name == name)
            .map(iface_ref)
            .ok_or_else(|| no_iface(format!("no interface with matching name '{name}'")))
    }

    fn lookup_interface_by_mac(&self, mac: &str) -> Result<IfaceRef> {
        self.all_ifaces()
            .iter()
            .find(|o| o.def.mac.eq_ignore_ascii_case(mac))
            .map(iface_ref)
            .ok_or_else(|| no_iface(format!("no interface with matching mac '{mac}'")))
    }

    fn interface_xml_desc(&self, r: &IfaceRef, f: u32) -> Result<String> {
        if self.state.interfaces.is_some() {
            // libvirt's test driver takes no flags here.
            if f != 0 {
                return Err(crate::connect::invalid_arg(&format!(
                    "unsupported flags (0x{f:x}) in function testInterfaceGetXMLDesc"
                )));
            }
        } else {
            check_flags(f, flags::XML_INACTIVE, "virInterfaceGetXMLDesc")?;
        }
        Ok(self.find_iface(r)?.def.to_xml())
    }

    fn interface_is_active(&self, r: &IfaceRef) -> Result<bool> {
        Ok(self.find_iface(r)?.active)
    }

    fn define_interface_xml(&self, xml: &str, _flags: u32) -> Result<IfaceRef> {
        let Some(mut list) = self.test_ifaces() else {
            return Err(read_only());
        };
        let def = IfaceDef::parse(xml)?;
        let r = IfaceRef {
            name: def.name.clone(),
            mac: def.mac.clone(),
        };
        match list.iter_mut().find(|o| o.def.name == def.name) {
            Some(o) => o.def = def,
            None => list.push(IfaceObj { def, active: false }),
        }
        Ok(r)
    }

    fn interface_undefine(&self, r: &IfaceRef) -> Result<()> {
        let Some(mut list) = self.test_ifaces() else {
            return Err(read_only());
        };
        let before = list.len();
        list.retain(|o| o.def.name != r.name);
        if list.len() == before {
            return Err(no_iface(format!(
                "no interface with matching name '{}'",
                r.name
            )));
        }
        Ok(())
    }

    fn interface_create(&self, r: &IfaceRef, f: u32) -> Result<()> {
        check_flags(f, 0, "virInterfaceCreate")?;
        self.set_iface_active(r, true)
    }

    fn interface_destroy(&self, r: &IfaceRef, f: u32) -> Result<()> {
        check_flags(f, 0, "virInterfaceDestroy")?;
        self.set_iface_active(r, false)
    }

    // One transaction per host, shared by its connections, as the test
    // driver's; the host's own configuration is never changed.
    fn interface_change_begin(&self, f: u32) -> Result<()> {
        check_flags(f, 0, "virInterfaceChangeBegin")?;
        let Some(list) = self.test_ifaces() else {
            return Err(read_only());
        };
        let mut backup = self.iface_backup();
        if backup.is_some() {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                "there is another transaction running.",
            ));
        }
        *backup = Some(list.clone());
        Ok(())
    }

    fn interface_change_commit(&self, f: u32) -> Result<()> {
        check_flags(f, 0, "virInterfaceChangeCommit")?;
        let Some(_list) = self.test_ifaces() else {
            return Err(read_only());
        };
        self.iface_backup().take().map(|_| ()).ok_or_else(|| {
            Error::api(
                ErrorCode::OPERATION_INVALID,
                "no transaction running, nothing to be committed.",
            )
        })
    }

    fn interface_change_rollback(&self, f: u32) -> Result<()> {
        check_flags(f, 0, "virInterfaceChangeRollback")?;
        let Some(mut list) = self.test_ifaces() else {
            return Err(read_only());
        };
        *list = self.iface_backup().take().ok_or_else(|| {
            Error::api(
                ErrorCode::OPERATION_INVALID,
                "no transaction running, nothing to rollback.",
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_sysfs_gives_ethernet_and_bridge_interfaces() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("class/net");
        for (name, flags, mac) in [
            ("eth0", "0x1003", "52:54:00:aa:bb:cc"),
            ("br0", "0x1002", ""),
        ] {
            std::fs::create_dir_all(net.join(name)).unwrap();
            std::fs::write(net.join(name).join("flags"), format!("{flags}\n")).unwrap();
            std::fs::write(net.join(name).join("address"), format!("{mac}\n")).unwrap();
            std::fs::write(net.join(name).join("operstate"), "up\n").unwrap();
        }
        std::fs::create_dir_all(net.join("br0/bridge")).unwrap();
        std::fs::create_dir_all(net.join("br0/brif/eth0")).unwrap();
        let found = scan_host(dir.path());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].def.name, "br0");
        assert!(!found[0].active && found[1].active);
        assert_eq!(
            found[0].def.to_xml(),
            "<interface type='bridge' name='br0'>\n  <link state='up'/>\n  <bridge>\n    \
             <interface type='ethernet' name='eth0'/>\n  </bridge>\n</interface>\n"
        );
        assert_eq!(found[1].def.mac, "52:54:00:aa:bb:cc");
    }
}
