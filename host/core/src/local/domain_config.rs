//! Domain settings: autostart, memory, vCPUs, name, and the console.

use super::Local;
use super::domain::{event_for, facts, persist};
use crate::connect::domain_flags as flags;
use crate::connect::{DomainRef, Error, Result, check_flags};
use crate::driver;
use crate::error::ErrorCode;
use crate::lifecycle::{self, Op};
use crate::registry::DomainObj;
use crate::xml::DomainDef;

/// `def` checked again whole, as a define would check it: what a change to
/// a device, the metadata or an action must pass before it is stored.
pub(super) fn checked(def: &DomainDef) -> Result<DomainDef> {
    let text = def.to_xml(crate::xml::FormatOptions::default());
    Ok(DomainDef::parse(
        &text,
        crate::xml::ParseOptions { validate: true },
    )?)
}

impl Local {
    pub(super) fn set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        let state = &self.state;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            lifecycle::check(obj.name(), &facts(obj), Op::SetAutostart)?;
            obj.autostart = autostart;
            persist(state, reg, uuid)
        })
    }

    /// Sets memory in KiB. flags: 1 live, 2 config, 4 maximum (0: live if active).
    pub(super) fn set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()> {
        let state = &self.state;
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        let hv = state.drivers.hypervisor.clone();
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            let maximum = flags & flags::MEM_MAXIMUM != 0;
            if kib == 0 {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    "memory size must be greater than zero",
                ));
            }
            if live {
                if maximum {
                    return Err(Error::api(
                        ErrorCode::OPERATION_INVALID,
                        "cannot resize the maximum memory on an active domain",
                    ));
                }
                let max = obj.def().memory_kib;
                if kib > max {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("cannot set memory higher than max memory ({kib} > {max} KiB)"),
                    ));
                }
            }
            if config && !maximum {
                let max = obj.inactive_def().memory_kib;
                if kib > max {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("cannot set memory higher than max memory ({kib} > {max} KiB)"),
                    ));
                }
            }
            if live {
                let status = hv.set_memory(&uuid.to_string(), kib)?;
                obj.status = status;
                if let Some(def) = obj.live.as_mut() {
                    def.current_memory_kib = kib;
                }
            }
            if config {
                let def = obj.config.as_mut().expect("affected() checked persistence");
                if maximum {
                    def.memory_kib = kib;
                    def.current_memory_kib = def.current_memory_kib.min(kib);
                } else {
                    def.current_memory_kib = kib;
                }
            }
            persist(state, reg, uuid)
        })
    }

    /// Sets vCPUs. flags: 1 live, 2 config, 4 maximum.
    pub(super) fn set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()> {
        let state = &self.state;
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainSetVcpusFlags",
        )?;
        if flags & flags::VCPU_GUEST != 0 {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainSetVcpusFlags with VIR_DOMAIN_VCPU_GUEST",
            ));
        }
        if count == 0 {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "argument unsupported: vcpus count must be greater than zero",
            ));
        }
        let max_conn = state.info.max_vcpus;
        let hv = state.drivers.hypervisor.clone();
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            let maximum = flags & flags::VCPU_MAXIMUM != 0;
            if maximum && live {
                return Err(Error::api(ErrorCode::INVALID_ARG, "cannot change maximum vcpus on a live domain"));
            }
            if maximum && max_conn > 0 && count > max_conn {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("requested vcpus is greater than max allowable vcpus for the connection: {count} > {max_conn}"),
                ));
            }
            let check_max = |def: &DomainDef| -> Result<()> {
                if !maximum && count > def.vcpus {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("requested vcpus is greater than max allowable vcpus for the domain: {count} > {}", def.vcpus),
                    ));
                }
                Ok(())
            };
            if live {
                check_max(obj.def())?;
            }
            if config {
                check_max(obj.inactive_def())?;
            }
            if live {
                obj.status = hv.set_vcpus(&uuid.to_string(), count)?;
                if let Some(def) = obj.live.as_mut() {
                    def.current_vcpus = (count != def.vcpus).then_some(count);
                }
            }
            if config {
                let def = obj.config.as_mut().expect("affected() checked persistence");
                if maximum {
                    def.vcpus = count;
                    def.current_vcpus = def.current_vcpus.filter(|&c| c < count);
                } else {
                    def.current_vcpus = (count != def.vcpus).then_some(count);
                }
            }
            persist(state, reg, uuid)
        })
    }

    /// vCPU count. flags: 1 live, 2 config, 4 maximum.
    pub(super) fn vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainGetVcpusFlags",
        )?;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let (live, config) = affected(obj, flags & !flags::VCPU_MAXIMUM & !flags::VCPU_GUEST)?;
            if live && config {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    "live and config are mutually exclusive here",
                ));
            }
            let def = if live { obj.def() } else { obj.inactive_def() };
            Ok(if flags & flags::VCPU_MAXIMUM != 0 {
                def.vcpus
            } else if live && obj.status.vcpus > 0 {
                obj.status.vcpus
            } else {
                def.boot_vcpus()
            })
        })
    }

    /// Attaches to the guest's serial console: its output (recent history
    /// first) to read, keyboard input to write.
    pub(super) fn open_console(&self, dom: &DomainRef) -> Result<driver::ConsoleStream> {
        let state = &self.state;
        let hv = state.drivers.hypervisor.clone();
        self.with(dom, |reg, uuid| {
            if !reg.domain(uuid).expect("checked").is_active() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "domain is not running",
                ));
            }
            Ok(hv.open_console(&uuid.to_string())?)
        })
    }

    /// Renames an inactive domain.
    pub(super) fn rename(&self, dom: &DomainRef, new_name: &str) -> Result<()> {
        let state = &self.state;
        crate::xml::domain::check_object_name(new_name)?;
        let events = self.with(dom, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let before = facts(obj);
            lifecycle::check(obj.name(), &before, Op::Rename)?;
            if reg.domain_by_name(new_name).is_some() {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("domain with name '{new_name}' already exists"),
                ));
            }
            let old = obj.name().to_string();
            let old_event = event_for(
                obj,
                (
                    lifecycle::Event::Undefined,
                    lifecycle::detail::UNDEFINED_RENAMED,
                ),
            );
            let obj = reg.domain_mut(uuid).expect("checked");
            if let Some(def) = obj.config.as_mut() {
                def.name = new_name.to_string();
            }
            reg.rename_domain(uuid, &old);
            persist(state, reg, uuid)?;
            let obj = reg.domain(uuid).expect("checked");
            Ok(vec![
                old_event,
                event_for(
                    obj,
                    (
                        lifecycle::Event::Defined,
                        lifecycle::detail::DEFINED_RENAMED,
                    ),
                ),
            ])
        })?;
        state.emit(events);
        Ok(())
    }
}

/// Which configs a `--live`/`--config` style call affects (libvirt's
/// VIR_DOMAIN_AFFECT_CURRENT when neither is given).
pub(super) fn affected(obj: &DomainObj, flags: u32) -> Result<(bool, bool)> {
    let mut live = flags & flags::AFFECT_LIVE != 0;
    let mut config = flags & flags::AFFECT_CONFIG != 0;
    if !live && !config {
        if obj.is_active() {
            live = true;
        } else {
            config = true;
        }
    }
    let f = facts(obj);
    if live {
        lifecycle::check(obj.name(), &f, Op::SetLive)?;
    }
    if config {
        lifecycle::check(obj.name(), &f, Op::SetConfig)?;
    }
    Ok((live, config))
}
