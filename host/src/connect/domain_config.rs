//! Domain settings: autostart, memory, vCPUs, name, and the console.

use super::domain::check_flags;
use super::domain::{event_for, facts, flags, persist};
use super::{Domain, Error, Result, local_or};
use crate::driver;
use crate::error::ErrorCode;
use crate::lifecycle::{self, Op};
use crate::registry::DomainObj;
use crate::xml::DomainDef;

impl Domain {
    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        let state = local_or!(self.conn, r => r.domain_set_autostart(self, autostart));
        self.conn.check_writable()?;
        self.with(state, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            lifecycle::check(obj.name(), &facts(obj), Op::SetAutostart)?;
            obj.autostart = autostart;
            persist(state, reg, uuid)
        })
    }

    /// Sets memory in KiB. flags: 1 live, 2 config, 4 maximum (0: live if active).
    pub fn set_memory_flags(&self, kib: u64, flags: u32) -> Result<()> {
        let state = local_or!(self.conn, r => r.domain_set_memory(self, kib, flags));
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        self.conn.check_writable()?;
        let hv = state.drivers.hypervisor.clone();
        self.with(state, |reg, uuid| {
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
    pub fn set_vcpus_flags(&self, count: u32, flags: u32) -> Result<()> {
        let state = local_or!(self.conn, r => r.domain_set_vcpus(self, count, flags));
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainSetVcpusFlags",
        )?;
        self.conn.check_writable()?;
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
        self.with(state, |reg, uuid| {
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
    pub fn vcpus_flags(&self, flags: u32) -> Result<u32> {
        let state = local_or!(self.conn, r => r.domain_vcpus(self, flags));
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainGetVcpusFlags",
        )?;
        self.with(state, |reg, uuid| {
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
    pub fn open_console(&self) -> Result<driver::ConsoleStream> {
        let state = local_or!(self.conn, r => r.domain_open_console(self));
        let hv = state.drivers.hypervisor.clone();
        self.with(state, |reg, uuid| {
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
    pub fn rename(&self, new_name: &str) -> Result<()> {
        let state = local_or!(self.conn, r => r.domain_rename(self, new_name));
        self.conn.check_writable()?;
        crate::xml::domain::check_object_name(new_name)?;
        let events = self.with(state, |reg, uuid| {
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
fn affected(obj: &DomainObj, flags: u32) -> Result<(bool, bool)> {
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
