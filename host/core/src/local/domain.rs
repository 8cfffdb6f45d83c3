//! Domains: lookup, define/create, the lifecycle operations, and the
//! settings that go with them.

use std::io::Cursor;

use uuid::Uuid;

pub(crate) use super::outcome::{apply_driver_status, apply_outcome, event_for, facts, state_of};
use super::{ConnState, Local, convert, no_domain};
use crate::connect::domain_flags as flags;
use crate::connect::{
    Begun, BlockStats, DomainBackend, DomainInfo, DomainRef, DomainStatsOf, Error, JobStats,
    MigrateParams, Prepared, Result, check_flags, list_flags,
};
use crate::driver::{self, Capabilities, ConsoleStream, DomainStatus, HypervisorDriver};
use crate::error::ErrorCode;
use crate::lifecycle::{self, Op, State};
use crate::registry::{DomainObj, DomainSummary, Registry, SaveImage};
use crate::xml::{DomainDef, FormatOptions, ParseOptions};

/// Driver-specific defaults: the architecture the driver offers for the OS type.
pub(crate) fn fill_driver_defaults(def: &mut DomainDef, caps: &Capabilities) {
    if def.os.arch.is_none() {
        let guest = caps
            .guests
            .iter()
            .find(|g| g.os_type == def.os.os_type && g.domain_types.contains(&def.domain_type))
            .or_else(|| caps.guests.iter().find(|g| g.os_type == def.os.os_type));
        if let Some(guest) = guest {
            def.os.arch = Some(guest.arch.clone());
        }
    }
}

/// Writes a domain's persistent config and metadata to the state dir.
pub(crate) fn persist(_state: &ConnState, reg: &Registry, uuid: &Uuid) -> Result<()> {
    store_domain(reg, uuid)
}

/// Writes a persistent domain's config and metadata (its shut-off reason
/// among them) to the registry's state dir, if it has one.
pub(crate) fn store_domain(reg: &Registry, uuid: &Uuid) -> Result<()> {
    let (Some(store), Some(obj)) = (reg.store(), reg.domain(uuid)) else {
        return Ok(());
    };
    if let Some(config) = &obj.config {
        store.write(
            "domains",
            uuid,
            "xml",
            config.to_xml(FormatOptions::default()).as_bytes(),
        )?;
        let meta = serde_json::json!({
            "reason": obj.reason,
            "autostart": obj.autostart,
            "current_snapshot": obj.current_snapshot,
            "overlays": obj.overlays,
            "managed_save": matches!(obj.managed_save, Some(SaveImage::File(_))),
        });
        store.write("domains", uuid, "json", meta.to_string().as_bytes())?;
    }
    Ok(())
}

/// Removes a domain's stored config and metadata.
pub(crate) fn forget(_state: &ConnState, reg: &Registry, uuid: &Uuid) -> Result<()> {
    if let Some(store) = reg.store() {
        store.remove("domains", uuid, "xml")?;
        store.remove("domains", uuid, "json")?;
    }
    Ok(())
}

/// Whether `d` passes libvirt's `VIR_CONNECT_LIST_DOMAINS_*` filter `flags`
/// (0 passes everything; within each group of bits, any set bit may match).
fn listed(flags: u32, d: &DomainSummary) -> bool {
    use list_flags::*;
    let group = |bits: u32, hit: u32| flags & bits == 0 || flags & hit != 0;
    let state_bit = match d.state {
        State::Running => RUNNING,
        State::Paused => PAUSED,
        State::Shutoff => SHUTOFF,
        _ => OTHER,
    };
    let pick = |yes: bool, a: u32, b: u32| if yes { a } else { b };
    group(ACTIVE | INACTIVE, pick(d.is_active(), ACTIVE, INACTIVE))
        && group(
            PERSISTENT | TRANSIENT,
            pick(d.persistent, PERSISTENT, TRANSIENT),
        )
        && group(RUNNING | PAUSED | SHUTOFF | OTHER, state_bit)
        && group(
            MANAGEDSAVE | NO_MANAGEDSAVE,
            pick(d.managed_save, MANAGEDSAVE, NO_MANAGEDSAVE),
        )
        && group(
            AUTOSTART | NO_AUTOSTART,
            pick(d.autostart, AUTOSTART, NO_AUTOSTART),
        )
        && group(
            HAS_SNAPSHOT | NO_SNAPSHOT,
            pick(d.has_snapshots, HAS_SNAPSHOT, NO_SNAPSHOT),
        )
        && group(HAS_CHECKPOINT | NO_CHECKPOINT, NO_CHECKPOINT)
}

/// The error for a reference whose domain is no longer there.
fn gone(dom: &DomainRef) -> Error {
    no_domain(format!(
        "no domain with matching uuid '{}' ({})",
        dom.uuid, dom.name
    ))
}

/// The reference the API hands out for `obj`.
pub(crate) fn domain_ref(obj: &DomainObj) -> DomainRef {
    DomainRef {
        name: obj.name().to_string(),
        uuid: obj.uuid(),
        id: obj.id_or_minus_one(),
    }
}

/// The reference the API hands out for the domain `d` summarises.
fn summary_ref(d: DomainSummary) -> DomainRef {
    DomainRef {
        id: d.id_or_minus_one(),
        name: d.name,
        uuid: d.uuid,
    }
}

impl Local {
    /// Brings the registry up to date with guests the driver took over
    /// without watching them (all, or the one of `only`): they answer
    /// through the state they publish, as watched ones through events.
    fn refresh_unwatched(&self, only: Option<&Uuid>) {
        let drivers = &self.state.drivers;
        let hv = &drivers.hypervisor;
        if !drivers.lazy_attach || !hv.has_unwatched() {
            return;
        }
        let unwatched = hv.unwatched_states(only.map(Uuid::to_string).as_deref());
        if unwatched.is_empty() {
            return;
        }
        let mut reg = self.state.lock();
        let mut events = Vec::new();
        for (uuid, status) in unwatched {
            let Ok(uuid) = Uuid::parse_str(&uuid) else {
                continue;
            };
            events.extend(apply_driver_status(&self.state, &mut reg, &uuid, status));
        }
        drop(reg);
        self.state.emit(events);
    }

    /// Runs `f` on the domain's registry entry under the connection lock.
    pub(crate) fn with<R>(
        &self,
        dom: &DomainRef,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        // A guest left unwatched may have stopped since: the call sees it
        // stopped, as it would have had its VMM been watched.
        self.refresh_unwatched(Some(&dom.uuid));
        let mut reg = self.state.lock();
        if reg.domain(&dom.uuid).is_none() {
            return Err(gone(dom));
        }
        f(&mut reg, &dom.uuid)
    }

    pub(super) fn obj<R>(&self, dom: &DomainRef, f: impl FnOnce(&DomainObj) -> R) -> Result<R> {
        self.with(dom, |reg, uuid| {
            Ok(f(reg.domain(uuid).expect("checked by with")))
        })
    }

    /// What a listing shows of the domain: answers without reading the
    /// definitions of a domain known only from the index.
    fn summary<R>(&self, dom: &DomainRef, f: impl FnOnce(DomainSummary) -> R) -> Result<R> {
        let summary = self.state.lock().summary(&dom.uuid);
        summary.map(f).ok_or_else(|| gone(dom))
    }

    pub(crate) fn hv(&self) -> std::sync::Arc<dyn HypervisorDriver> {
        self.state.drivers.hypervisor.clone()
    }

    /// Parses and checks a domain definition as define/create would take it.
    pub(crate) fn parse_domain(&self, xml: &str, validate: bool) -> Result<DomainDef> {
        let state = &self.state;
        let mut def = DomainDef::parse(xml, ParseOptions { validate })?;
        def.fill_generic_defaults();
        crate::xml::devices::fill_interface_defaults(&mut def.devices, || {
            let r = uuid::Uuid::new_v4();
            let b = r.as_bytes();
            [b[0], b[1], b[2]]
        });
        fill_driver_defaults(&mut def, &state.capabilities);
        if def.vcpus > state.info.max_vcpus && state.info.max_vcpus > 0 {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!(
                    "requested vcpus is greater than max allowable vcpus for the connection: {} > {}",
                    def.vcpus, state.info.max_vcpus
                ),
            ));
        }
        Ok(def)
    }

    /// The driver's view of a definition, with volumes resolved to paths.
    pub(crate) fn driver_config(
        &self,
        reg: &Registry,
        def: &DomainDef,
        id: Option<u32>,
    ) -> Result<driver::DomainConfig> {
        let unresolved = std::cell::RefCell::new(None);
        let config = convert::domain_config(def, id, &|pool, vol| {
            let found = reg
                .pool_by_name(pool)
                .and_then(|p| p.volumes.get(vol))
                .map(|v| v.path.clone());
            if found.is_none() {
                *unresolved.borrow_mut() = Some(format!(
                    "no storage vol with matching name '{vol}' in pool '{pool}'"
                ));
            }
            found
        });
        if let Some(message) = unresolved.into_inner() {
            return Err(Error::api(ErrorCode::NO_STORAGE_VOL, message));
        }
        Ok(config)
    }

    /// After a plugin instance was re-created, tells the fresh one what is
    /// active: domains, networks and pools.
    pub(crate) fn restore_driver_state(&self, reg: &mut Registry) -> Result<()> {
        let state = &self.state;
        let Some(handle) = &state.lost_handle else {
            return Ok(());
        };
        if !handle.take_lost() {
            return Ok(());
        }
        let hv = self.hv();
        let active: Vec<(DomainDef, Option<u32>, DomainStatus)> = reg
            .domains()
            .filter(|d| d.is_active())
            .map(|d| (d.def().clone(), d.id, d.status))
            .collect();
        for (def, id, status) in active {
            let config = self.driver_config(reg, &def, id)?;
            hv.adopt(&config, &status)?;
        }
        if let Some(net) = state.drivers.network.as_ref().and_then(|n| n.if_made()) {
            for n in reg.networks.values().filter(|n| n.is_active()) {
                net.network_start(&convert::network_config(n.def()), 0)?;
            }
        }
        if let Some(st) = state.drivers.storage.as_ref().and_then(|s| s.if_made()) {
            for p in reg.pools.values().filter(|p| p.active) {
                st.pool_start(&convert::pool_config(&p.def))?;
                for v in p.volumes.values() {
                    let config = driver::VolumeConfig {
                        name: v.name.clone(),
                        capacity: v.capacity,
                        allocation: v.allocation,
                        format: v.format.clone(),
                        backing: None,
                    };
                    st.volume_create(&p.def.uuid.to_string(), &config, 0)?;
                }
            }
        }
        Ok(())
    }

    /// The common shape of a lifecycle operation: check the rules, let the
    /// driver act, record the outcome, emit the events.
    fn transition(
        &self,
        dom: &DomainRef,
        op: Op,
        act: impl FnOnce(&mut Registry, &Uuid) -> Result<Option<DomainStatus>>,
    ) -> Result<()> {
        let state = &self.state;
        let events = self.with(dom, |reg, uuid| {
            self.restore_driver_state(reg)?;
            let obj = reg.domain(uuid).expect("checked");
            let before = facts(obj);
            lifecycle::check(obj.name(), &before, op)?;
            let status = act(reg, uuid)?;
            let out = lifecycle::outcome(&before, op, status.as_ref().map(state_of));
            apply_outcome(state, reg, uuid, &out, status)
        })?;
        state.emit(events);
        Ok(())
    }
}

/// libvirt's uniqueness rules, in its order: same name with another
/// UUID, then same UUID with another name.
pub(crate) fn check_unique(reg: &Registry, def: &DomainDef) -> Result<()> {
    if let Some(other) = reg.domain_by_name(&def.name)
        && other.uuid() != def.uuid
    {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!(
                "domain '{}' already exists with uuid {}",
                def.name,
                other.uuid()
            ),
        ));
    }
    if let Some(other) = reg.domain(&def.uuid)
        && other.name() != def.name
    {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!(
                "domain '{}' is already defined with uuid {}",
                other.name(),
                def.uuid
            ),
        ));
    }
    Ok(())
}

impl DomainBackend for Local {
    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        let reg = self.state.lock();
        reg.domain_uuid_by_name(name)
            .and_then(|uuid| reg.summary(&uuid))
            .map(summary_ref)
            .ok_or_else(|| no_domain(format!("no domain with matching name '{name}'")))
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        let reg = self.state.lock();
        reg.summary(uuid)
            .map(summary_ref)
            .ok_or_else(|| no_domain(format!("no domain with matching uuid '{uuid}'")))
    }

    fn lookup_domain_by_id(&self, id: u32) -> Result<DomainRef> {
        let reg = self.state.lock();
        reg.domain_by_id(id)
            .map(domain_ref)
            .ok_or_else(|| no_domain(format!("no domain with matching id {id}")))
    }

    /// In no particular order (libvirtd answers in hash order; the public
    /// API sorts).
    fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        check_flags(flags, list_flags::ALL, "virConnectListAllDomains")?;
        self.refresh_unwatched(None);
        let reg = self.state.lock();
        Ok(reg
            .summaries()
            .filter(|d| listed(flags, d))
            .map(summary_ref)
            .collect())
    }

    fn define_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        check_flags(flags, flags::DEFINE_VALIDATE, "virDomainDefineXMLFlags")?;
        let state = &self.state;
        let def = self.parse_domain(xml, flags & flags::DEFINE_VALIDATE != 0)?;
        let mut reg = state.lock();
        check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let event = match reg.domain_mut(&uuid) {
            Some(obj) => {
                lifecycle::check(obj.name(), &facts(obj), Op::Define)?;
                // A transient domain gaining a persistent definition is
                // "added" in libvirt; a redefinition is "updated".
                let detail = if obj.config.is_some() {
                    lifecycle::detail::DEFINED_UPDATED
                } else {
                    lifecycle::detail::DEFINED_ADDED
                };
                obj.config = Some(def);
                detail
            }
            None => {
                reg.insert_domain(DomainObj::new_inactive(def));
                lifecycle::detail::DEFINED_ADDED
            }
        };
        persist(state, &reg, &uuid)?;
        let obj = reg.domain(&uuid).expect("just stored");
        let handle = domain_ref(obj);
        let ev = event_for(obj, (lifecycle::Event::Defined, event));
        drop(reg);
        state.emit(vec![ev]);
        Ok(handle)
    }

    fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        check_flags(
            flags,
            flags::START_PAUSED | flags::START_AUTODESTROY | flags::CREATE_VALIDATE,
            "virDomainCreateXML",
        )?;
        let state = &self.state;
        let def = self.parse_domain(xml, flags & flags::CREATE_VALIDATE != 0)?;
        let mut reg = state.lock();
        self.restore_driver_state(&mut reg)?;
        check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let existed = reg.domain(&uuid).is_some();
        if let Some(obj) = reg.domain(&uuid) {
            lifecycle::check(obj.name(), &facts(obj), Op::Create)?;
        }
        let config = self.start_config(&reg, &def, None)?;
        let paused = flags & flags::START_PAUSED != 0;
        let status = self
            .hv()
            .start(&config, if paused { driver::START_PAUSED } else { 0 })?;
        if !existed {
            reg.insert_domain(DomainObj::transient(def.clone()));
        } else if let Some(obj) = reg.domain_mut(&uuid) {
            obj.live = Some(def.clone());
        }
        let obj = reg.domain(&uuid).expect("stored above");
        let mut f = facts(obj);
        f.state = State::Shutoff;
        let out = lifecycle::outcome(&f, Op::Create, Some(state_of(&status)));
        let events = apply_outcome(state, &mut reg, &uuid, &out, Some(status))?;
        let handle = domain_ref(reg.domain(&uuid).expect("still there"));
        drop(reg);
        state.emit(events);
        self.apply_pins(&handle);
        Ok(handle)
    }

    fn domain_id(&self, dom: &DomainRef) -> Result<i32> {
        self.obj(dom, |o| o.id_or_minus_one())
    }

    fn domain_state(&self, dom: &DomainRef) -> Result<(State, u32)> {
        self.refresh_unwatched(Some(&dom.uuid));
        let state = self.state.lock().domain_state(&dom.uuid);
        state.ok_or_else(|| gone(dom))
    }

    fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        self.refresh_unwatched(Some(&dom.uuid));
        self.summary(dom, |d| d.is_active())
    }

    fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        self.summary(dom, |d| d.persistent)
    }

    fn domain_autostart(&self, dom: &DomainRef) -> Result<bool> {
        self.summary(dom, |d| d.autostart)
    }

    fn domain_has_managed_save(&self, dom: &DomainRef) -> Result<bool> {
        self.summary(dom, |d| d.managed_save)
    }

    fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let hv = self.hv();
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            if obj.is_active()
                && let Ok(status) = hv.status(&uuid.to_string())
            {
                obj.status = status;
            }
            let def = obj.def();
            let active = obj.is_active();
            Ok(DomainInfo {
                state: obj.state,
                max_memory_kib: def.memory_kib,
                memory_kib: if active && obj.status.memory_kib > 0 {
                    obj.status.memory_kib
                } else {
                    def.current_memory_kib
                },
                vcpus: if active && obj.status.vcpus > 0 {
                    obj.status.vcpus
                } else {
                    def.boot_vcpus()
                },
                cpu_time_ns: if active { obj.status.cpu_time_ns } else { 0 },
            })
        })
    }

    fn domain_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        check_flags(
            flags,
            flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_UPDATE_CPU | flags::XML_MIGRATABLE,
            "virDomainGetXMLDesc",
        )?;
        self.obj(dom, |o| {
            let key = flags & (flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_MIGRATABLE);
            o.xml_cache.get_or(key, || {
                let (def, options) = if flags & (flags::XML_INACTIVE | flags::XML_MIGRATABLE) != 0 {
                    (o.inactive_def(), FormatOptions::default())
                } else {
                    (o.def(), FormatOptions { id: o.id })
                };
                if flags & flags::XML_SECURE != 0 {
                    def.to_xml(options)
                } else {
                    def.to_public_xml(options)
                }
            })
        })
    }

    fn domain_start(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        use flags::*;
        check_flags(
            flags,
            START_PAUSED
                | START_AUTODESTROY
                | START_BYPASS_CACHE
                | START_FORCE_BOOT
                | START_VALIDATE,
            "virDomainCreateWithFlags",
        )?;
        let paused = flags & START_PAUSED != 0;
        let hv = self.hv();
        if flags & START_FORCE_BOOT != 0 {
            self.domain_managed_save_remove(dom)?;
        }
        self.transition(dom, Op::Start { paused }, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj
                .config
                .as_ref()
                .expect("only persistent domains can be inactive");
            let config = self.start_config(reg, def, None)?;
            let restore_flags = if paused { SAVE_PAUSED } else { 0 };
            let status = match &obj.managed_save {
                Some(SaveImage::File(path)) => {
                    let mut image = super::save_image::open(path)?;
                    let len = image.payload_len;
                    hv.restore(&config, &mut image.file, len, restore_flags)?
                }
                Some(SaveImage::Memory(bytes)) => {
                    let payload = super::save_image::payload(bytes)?;
                    hv.restore(
                        &config,
                        &mut Cursor::new(payload),
                        payload.len() as u64,
                        restore_flags,
                    )?
                }
                None => hv.start(&config, if paused { driver::START_PAUSED } else { 0 })?,
            };
            Ok(Some(status))
        })?;
        self.apply_pins(dom);
        Ok(())
    }

    fn domain_shutdown(&self, dom: &DomainRef) -> Result<()> {
        let hv = self.hv();
        self.transition(dom, Op::Shutdown, |_, uuid| {
            Ok(Some(hv.shutdown(&uuid.to_string(), 0)?))
        })
    }

    fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        check_flags(flags, 0x3f, "virDomainReboot")?;
        let hv = self.hv();
        self.transition(dom, Op::Reboot, |_, uuid| {
            Ok(Some(hv.reboot(&uuid.to_string(), flags)?))
        })
    }

    fn domain_reset(&self, dom: &DomainRef) -> Result<()> {
        let hv = self.hv();
        self.transition(dom, Op::Reset, |_, uuid| {
            hv.reset(&uuid.to_string(), 0)?;
            Ok(None)
        })
    }

    fn domain_destroy(&self, dom: &DomainRef) -> Result<()> {
        let hv = self.hv();
        self.transition(dom, Op::Destroy, |_, uuid| {
            Ok(Some(hv.destroy(&uuid.to_string(), 0)?))
        })
    }

    fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        if self.converge_migration(dom) {
            return Ok(());
        }
        let hv = self.hv();
        self.transition(dom, Op::Suspend, |reg, uuid| {
            if reg.domain(uuid).expect("checked").state == State::Paused {
                return Ok(None);
            }
            Ok(Some(hv.suspend(&uuid.to_string())?))
        })
    }

    fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        let hv = self.hv();
        self.transition(dom, Op::Resume, |_, uuid| {
            Ok(Some(hv.resume(&uuid.to_string())?))
        })
    }

    fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        use flags::*;
        check_flags(
            flags,
            UNDEFINE_MANAGED_SAVE
                | UNDEFINE_SNAPSHOTS_METADATA
                | UNDEFINE_NVRAM
                | UNDEFINE_KEEP_NVRAM
                | UNDEFINE_CHECKPOINTS_METADATA,
            "virDomainUndefineFlags",
        )?;
        let op = Op::Undefine {
            managed_save: flags & UNDEFINE_MANAGED_SAVE != 0,
            snapshots_metadata: flags & UNDEFINE_SNAPSHOTS_METADATA != 0,
        };
        self.transition(dom, op, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            obj.snapshots.clear();
            obj.current_snapshot = None;
            obj.autostart = false;
            if let Some(store) = reg.store() {
                let _ = std::fs::remove_dir_all(store.snapshot_dir(uuid));
            }
            Ok(None)
        })
    }

    fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainManagedSave",
        )?;
        let hv = self.hv();
        self.transition(dom, Op::ManagedSave, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj.def().clone();
            let running = obj.state != State::Paused;
            let stored = match reg.store() {
                Some(store) => {
                    let path = store.object_path("domains", uuid, "save");
                    super::save_image::write_file(&path, &def, running, |file| {
                        Ok(hv.save_to_file(&uuid.to_string(), 0, file)?)
                    })?;
                    SaveImage::File(path)
                }
                None => {
                    let mut payload = Vec::new();
                    hv.save(&uuid.to_string(), 0, &mut payload)?;
                    SaveImage::Memory(super::save_image::encode(&def, running, &payload))
                }
            };
            reg.domain_mut(uuid).expect("checked").managed_save = Some(stored);
            Ok(None)
        })
    }

    fn domain_managed_save_remove(&self, dom: &DomainRef) -> Result<()> {
        let state = &self.state;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            // The state and its reason stay as they are, as in libvirt.
            if let Some(SaveImage::File(path)) = obj.managed_save.take() {
                let _ = std::fs::remove_file(path);
            }
            persist(state, reg, uuid)
        })
    }

    fn domain_save(&self, dom: &DomainRef, path: &std::path::Path, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainSaveFlags",
        )?;
        let hv = self.hv();
        self.transition(dom, Op::Save, |reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj.def().clone();
            let running = match flags & (flags::SAVE_RUNNING | flags::SAVE_PAUSED) {
                flags::SAVE_PAUSED => false,
                flags::SAVE_RUNNING => true,
                _ => obj.state != State::Paused,
            };
            // Refuse an unwritable destination before stopping the guest.
            super::save_image::check_writable(path)?;
            super::save_image::write_file(path, &def, running, |file| {
                Ok(hv.save_to_file(&uuid.to_string(), 0, file)?)
            })?;
            Ok(None)
        })
    }

    fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        self.set_autostart(dom, autostart)
    }

    fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()> {
        self.set_memory(dom, kib, flags)
    }

    fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()> {
        self.set_vcpus(dom, count, flags)
    }

    fn domain_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        self.vcpus(dom, flags)
    }

    fn domain_open_console(&self, dom: &DomainRef) -> Result<ConsoleStream> {
        self.open_console(dom)
    }

    fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
    ) -> Result<Vec<crate::connect::DomainInterface>> {
        self.interface_addresses(dom, source)
    }

    fn domain_rename(&self, dom: &DomainRef, new_name: &str) -> Result<()> {
        self.rename(dom, new_name)
    }

    fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        self.block_stats(dom, disk)
    }

    fn domain_attach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        self.change_device(dom, xml, flags, true)
    }

    fn domain_detach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        self.change_device(dom, xml, flags, false)
    }

    fn domain_update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        self.update_device(dom, xml, flags)
    }

    fn domain_get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<String> {
        self.get_metadata(dom, kind, uri, flags)
    }

    fn domain_set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        value: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        self.set_metadata(dom, kind, value, key, uri, flags)
    }

    fn domain_set_lifecycle_action(
        &self,
        dom: &DomainRef,
        kind: u32,
        action: u32,
        flags: u32,
    ) -> Result<()> {
        self.set_lifecycle_action(dom, kind, action, flags)
    }

    fn domain_detach_device_alias(&self, dom: &DomainRef, alias: &str, flags: u32) -> Result<()> {
        self.detach_device_alias(dom, alias, flags)
    }

    fn domain_get_control_info(&self, dom: &DomainRef) -> Result<crate::connect::ControlInfo> {
        self.control_info(dom)
    }

    fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        self.guest_hostname(dom, flags)
    }

    fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        self.guest_time(dom, flags)
    }

    fn domain_fs_freeze(&self, dom: &DomainRef, points: &[String], flags: u32) -> Result<i32> {
        self.guest_freeze(dom, points, flags, true)
    }

    fn domain_fs_thaw(&self, dom: &DomainRef, points: &[String], flags: u32) -> Result<i32> {
        self.guest_freeze(dom, points, flags, false)
    }

    fn domain_set_time(&self, dom: &DomainRef, secs: i64, nsecs: u32, flags: u32) -> Result<()> {
        self.set_guest_time(dom, secs, nsecs, flags)
    }

    fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<crate::connect::InterfaceStats> {
        self.interface_stats(dom, device)
    }

    fn all_domain_stats(&self, groups: u32, flags: u32) -> Result<Vec<DomainStatsOf>> {
        Local::all_domain_stats(self, groups, flags)
    }

    fn domain_migrate_begin(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<Begun> {
        self.migrate_begin(dom, params, flags)
    }

    fn domain_migrate_prepare(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Prepared> {
        self.migrate_prepare(params, cookie, flags, None)
    }

    fn domain_migrate_perform(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.migrate_perform(dom, params, cookie, flags, None)
    }

    fn domain_migrate_finish(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        self.migrate_finish(params, cookie, flags, cancelled)
    }

    fn domain_migrate_confirm(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.migrate_confirm(dom, params, cookie, flags, cancelled)
    }

    fn domain_migrate_prepare_tunnel(
        &self,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        tunnel: std::os::unix::net::UnixStream,
    ) -> Result<Prepared> {
        self.migrate_prepare(params, cookie, flags, Some(tunnel))
    }

    fn domain_migrate_perform_tunnel(
        &self,
        dom: &DomainRef,
        params: &MigrateParams,
        cookie: &[u8],
        flags: u32,
        tunnel: std::os::unix::net::UnixStream,
    ) -> Result<Vec<u8>> {
        self.migrate_perform(dom, params, cookie, flags, Some(tunnel))
    }

    fn domain_migrate_p2p(
        &self,
        dom: &DomainRef,
        dconnuri: &str,
        params: &MigrateParams,
        flags: u32,
    ) -> Result<()> {
        self.migrate_p2p(dom, dconnuri, params, flags)
    }

    fn job_completed_events(
        &self,
    ) -> Result<crate::events::EventStream<crate::connect::JobCompletedEvent>> {
        Ok(Local::job_completed_events(self))
    }

    fn domain_abort_job(&self, dom: &DomainRef) -> Result<()> {
        self.abort_job(dom)
    }

    fn domain_job_stats(&self, dom: &DomainRef, flags: u32) -> Result<JobStats> {
        self.job_stats(dom, flags)
    }

    fn domain_migrate_max_downtime(&self, dom: &DomainRef) -> Result<u64> {
        self.migrate_max_downtime(dom)
    }

    fn domain_migrate_set_max_downtime(&self, dom: &DomainRef, ms: u64) -> Result<()> {
        self.migrate_set_max_downtime(dom, ms)
    }

    fn domain_migrate_max_speed(&self, dom: &DomainRef) -> Result<u64> {
        self.migrate_max_speed(dom)
    }

    fn domain_migrate_set_max_speed(&self, dom: &DomainRef, mib_s: u64) -> Result<()> {
        self.migrate_set_max_speed(dom, mib_s)
    }
}
