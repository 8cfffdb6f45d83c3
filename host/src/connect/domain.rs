//! Domains: lookup, define/create, the lifecycle operations, and the
//! settings that go with them.

use std::io::Cursor;

use serde::Serialize;
use uuid::Uuid;

use super::{ConnState, Connect, Error, Result, convert, list_flags, no_domain};
use crate::driver::{self, Capabilities, DomainStatus, HypervisorDriver};
use crate::error::ErrorCode;
use crate::events::DomainEvent;
use crate::lifecycle::{self, Facts, Op, State, UNCHANGED};
use crate::registry::{DomainObj, Registry, SaveImage};
use crate::xml::{DomainDef, FormatOptions, ParseOptions};

/// libvirt's `virDomainInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainInfo {
    pub state: State,
    pub max_memory_kib: u64,
    pub memory_kib: u64,
    pub vcpus: u32,
    pub cpu_time_ns: u64,
}

/// A handle to a domain, like libvirt's `virDomainPtr`: every call finds the
/// domain again by UUID.
#[derive(Clone, Debug)]
pub struct Domain {
    pub(crate) conn: Connect,
    uuid: Uuid,
    name: String,
}

pub mod flags {
    pub const UNDEFINE_MANAGED_SAVE: u32 = 1;
    pub const UNDEFINE_SNAPSHOTS_METADATA: u32 = 2;
    pub const UNDEFINE_NVRAM: u32 = 4;
    pub const UNDEFINE_KEEP_NVRAM: u32 = 8;
    pub const UNDEFINE_CHECKPOINTS_METADATA: u32 = 16;
    pub const START_PAUSED: u32 = 1;
    pub const START_AUTODESTROY: u32 = 2;
    pub const START_BYPASS_CACHE: u32 = 4;
    pub const START_FORCE_BOOT: u32 = 8;
    pub const START_VALIDATE: u32 = 16;
    pub const CREATE_VALIDATE: u32 = 4;
    pub const DEFINE_VALIDATE: u32 = 1;
    pub const XML_SECURE: u32 = 1;
    pub const XML_INACTIVE: u32 = 2;
    pub const XML_UPDATE_CPU: u32 = 4;
    pub const XML_MIGRATABLE: u32 = 8;
    pub const AFFECT_LIVE: u32 = 1;
    pub const AFFECT_CONFIG: u32 = 2;
    pub const MEM_MAXIMUM: u32 = 4;
    pub const VCPU_MAXIMUM: u32 = 4;
    pub const VCPU_GUEST: u32 = 8;
    pub const SAVE_BYPASS_CACHE: u32 = 1;
    pub const SAVE_RUNNING: u32 = 2;
    pub const SAVE_PAUSED: u32 = 4;
}

pub(crate) fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<()> {
    if flags & !allowed != 0 {
        return Err(Error::api(
            ErrorCode::INVALID_ARG,
            format!(
                "unsupported flags (0x{:x}) in function {function}",
                flags & !allowed
            ),
        ));
    }
    Ok(())
}

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

pub(crate) fn facts(obj: &DomainObj) -> Facts {
    Facts {
        state: obj.state,
        persistent: obj.persistent(),
        managed_save: obj.managed_save.is_some(),
        snapshots: obj.snapshots.len(),
    }
}

fn state_of(status: &DomainStatus) -> (State, u32) {
    (
        State::from_u32(status.state).unwrap_or(State::NoState),
        status.reason,
    )
}

fn event_for(obj: &DomainObj, (event, detail): (lifecycle::Event, u32)) -> DomainEvent {
    DomainEvent {
        name: obj.name().to_string(),
        uuid: obj.uuid(),
        id: obj.id_or_minus_one(),
        event,
        detail,
    }
}

/// Records an outcome in the registry and returns the events to emit.
pub(crate) fn apply_outcome(
    state: &ConnState,
    reg: &mut Registry,
    uuid: &Uuid,
    out: &lifecycle::Outcome,
    status: Option<DomainStatus>,
) -> Result<Vec<DomainEvent>> {
    let new_id = if out.new_id {
        Some(reg.allocate_id())
    } else {
        None
    };
    let obj = reg
        .domain_mut(uuid)
        .expect("caller checked the domain exists");
    // Events name the domain as it is now, with the id it has after the change.
    let name = obj.name().to_string();
    if out.reason != UNCHANGED {
        obj.state = out.state;
        obj.reason = out.reason;
    }
    if let Some(id) = new_id {
        obj.id = Some(id);
    }
    if !obj.state.is_active() {
        obj.id = None;
        obj.live = None;
    } else if obj.live.is_none() {
        obj.live = obj.config.clone();
    }
    if let Some(status) = status {
        obj.status = status;
    }
    if !out.persistent {
        obj.config = None;
    }
    if !out.managed_save
        && let Some(SaveImage::File(path)) = obj.managed_save.take()
    {
        let _ = std::fs::remove_file(path);
    }
    let id = obj.id_or_minus_one();
    let events: Vec<DomainEvent> = out
        .events
        .iter()
        .map(|&(event, detail)| DomainEvent {
            name: name.clone(),
            uuid: *uuid,
            id,
            event,
            detail,
        })
        .collect();
    let persistent = obj.persistent();
    if out.remove {
        reg.remove_domain(uuid);
        forget(state, reg, uuid)?;
    } else if persistent {
        persist(state, reg, uuid)?;
    } else {
        forget(state, reg, uuid)?;
    }
    reg.record_runtime(uuid)?;
    if new_id.is_some() {
        reg.record_next_id()?;
    }
    Ok(events)
}

/// Writes a domain's persistent config and metadata to the state dir.
pub(crate) fn persist(_state: &ConnState, reg: &Registry, uuid: &Uuid) -> Result<()> {
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

/// Applies a status the driver reported on its own (guest powered off,
/// crashed, finished shutting down).
pub(crate) fn apply_driver_status(
    state: &ConnState,
    reg: &mut Registry,
    uuid: &Uuid,
    status: DomainStatus,
) -> Vec<DomainEvent> {
    let Some(obj) = reg.domain(uuid) else {
        return Vec::new();
    };
    let (new_state, reason) = state_of(&status);
    // A late report about a domain the host already stopped changes nothing.
    if (new_state == obj.state && reason == obj.reason) || !obj.is_active() {
        return Vec::new();
    }
    let facts = facts(obj);
    let out = match new_state {
        State::Shutoff => {
            let (event, detail) = match reason {
                lifecycle::reason::SHUTOFF_CRASHED => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_CRASHED,
                ),
                lifecycle::reason::SHUTOFF_DESTROYED => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_DESTROYED,
                ),
                lifecycle::reason::SHUTOFF_FAILED => {
                    (lifecycle::Event::Stopped, lifecycle::detail::STOPPED_FAILED)
                }
                _ => (
                    lifecycle::Event::Stopped,
                    lifecycle::detail::STOPPED_SHUTDOWN,
                ),
            };
            let mut events = Vec::new();
            if reason == lifecycle::reason::SHUTOFF_SHUTDOWN {
                events.push((
                    lifecycle::Event::Shutdown,
                    lifecycle::detail::SHUTDOWN_FINISHED,
                ));
            }
            events.push((event, detail));
            lifecycle::Outcome {
                state: new_state,
                reason,
                events,
                remove: !facts.persistent,
                persistent: facts.persistent,
                managed_save: facts.managed_save,
                new_id: false,
            }
        }
        State::Crashed => lifecycle::Outcome {
            state: new_state,
            reason,
            events: vec![(
                lifecycle::Event::Crashed,
                lifecycle::detail::CRASHED_PANICKED,
            )],
            remove: false,
            persistent: facts.persistent,
            managed_save: facts.managed_save,
            new_id: false,
        },
        _ => lifecycle::Outcome {
            state: new_state,
            reason,
            events: Vec::new(),
            remove: false,
            persistent: facts.persistent,
            managed_save: facts.managed_save,
            new_id: false,
        },
    };
    apply_outcome(state, reg, uuid, &out, Some(status)).unwrap_or_default()
}

impl Connect {
    pub(crate) fn domain_handle(&self, obj: &DomainObj) -> Domain {
        Domain {
            conn: self.clone(),
            uuid: obj.uuid(),
            name: obj.name().to_string(),
        }
    }

    pub fn lookup_domain_by_name(&self, name: &str) -> Result<Domain> {
        let reg = self.state.lock();
        reg.domain_by_name(name)
            .map(|obj| self.domain_handle(obj))
            .ok_or_else(|| no_domain(format!("no domain with matching name '{name}'")))
    }

    pub fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<Domain> {
        let reg = self.state.lock();
        reg.domain(uuid)
            .map(|obj| self.domain_handle(obj))
            .ok_or_else(|| no_domain(format!("no domain with matching uuid '{uuid}'")))
    }

    pub fn lookup_domain_by_uuid_string(&self, uuid: &str) -> Result<Domain> {
        let parsed = crate::xml::domain::parse_uuid(uuid)
            .map_err(|_| Error::api(ErrorCode::INVALID_ARG, format!("invalid UUID '{uuid}'")))?;
        self.lookup_domain_by_uuid(&parsed)
    }

    pub fn lookup_domain_by_id(&self, id: u32) -> Result<Domain> {
        let reg = self.state.lock();
        reg.domain_by_id(id)
            .map(|obj| self.domain_handle(obj))
            .ok_or_else(|| no_domain(format!("no domain with matching id {id}")))
    }

    /// Every domain matching `flags` (libvirt's `VIR_CONNECT_LIST_DOMAINS_*`;
    /// 0 lists all), active ones first by id, then inactive ones by name.
    pub fn list_all_domains(&self, flags: u32) -> Result<Vec<Domain>> {
        check_flags(flags, list_flags::ALL, "virConnectListAllDomains")?;
        let reg = self.state.lock();
        let group = |bits: u32, test: &dyn Fn(u32) -> bool| flags & bits == 0 || test(flags & bits);
        let mut found: Vec<&DomainObj> = reg
            .domains()
            .filter(|d| {
                use list_flags::*;
                let active = d.is_active();
                let state_bit = match d.state {
                    State::Running => RUNNING,
                    State::Paused => PAUSED,
                    State::Shutoff => SHUTOFF,
                    _ => OTHER,
                };
                group(ACTIVE | INACTIVE, &|f| {
                    f & if active { ACTIVE } else { INACTIVE } != 0
                }) && group(PERSISTENT | TRANSIENT, &|f| {
                    f & if d.persistent() {
                        PERSISTENT
                    } else {
                        TRANSIENT
                    } != 0
                }) && group(RUNNING | PAUSED | SHUTOFF | OTHER, &|f| f & state_bit != 0)
                    && group(MANAGEDSAVE | NO_MANAGEDSAVE, &|f| {
                        f & if d.managed_save.is_some() {
                            MANAGEDSAVE
                        } else {
                            NO_MANAGEDSAVE
                        } != 0
                    })
                    && group(AUTOSTART | NO_AUTOSTART, &|f| {
                        f & if d.autostart { AUTOSTART } else { NO_AUTOSTART } != 0
                    })
                    && group(HAS_SNAPSHOT | NO_SNAPSHOT, &|f| {
                        f & if d.snapshots.is_empty() {
                            NO_SNAPSHOT
                        } else {
                            HAS_SNAPSHOT
                        } != 0
                    })
                    && group(HAS_CHECKPOINT | NO_CHECKPOINT, &|f| f & NO_CHECKPOINT != 0)
            })
            .collect();
        found.sort_by(|a, b| match (a.id, b.id) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.name().cmp(b.name()),
        });
        Ok(found.into_iter().map(|d| self.domain_handle(d)).collect())
    }

    /// Parses and checks a domain definition as define/create would take it.
    pub(crate) fn parse_domain(&self, xml: &str, validate: bool) -> Result<DomainDef> {
        let mut def = DomainDef::parse(xml, ParseOptions { validate })?;
        def.fill_generic_defaults();
        fill_driver_defaults(&mut def, &self.state.capabilities);
        if def.vcpus > self.state.info.max_vcpus && self.state.info.max_vcpus > 0 {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!(
                    "requested vcpus is greater than max allowable vcpus for the connection: {} > {}",
                    def.vcpus, self.state.info.max_vcpus
                ),
            ));
        }
        Ok(def)
    }

    /// libvirt's uniqueness rules, in its order: same name with another
    /// UUID, then same UUID with another name.
    fn check_unique(reg: &Registry, def: &DomainDef) -> Result<()> {
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

    /// Defines (or redefines) a persistent domain. flags: 1 = validate.
    pub fn define_domain_xml(&self, xml: &str, flags: u32) -> Result<Domain> {
        check_flags(flags, flags::DEFINE_VALIDATE, "virDomainDefineXMLFlags")?;
        self.check_writable()?;
        let def = self.parse_domain(xml, flags & flags::DEFINE_VALIDATE != 0)?;
        let mut reg = self.state.lock();
        Self::check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let event = match reg.domain_mut(&uuid) {
            Some(obj) => {
                lifecycle::check(obj.name(), &facts(obj), Op::Define)?;
                obj.config = Some(def);
                lifecycle::detail::DEFINED_UPDATED
            }
            None => {
                reg.insert_domain(DomainObj::new_inactive(def));
                lifecycle::detail::DEFINED_ADDED
            }
        };
        persist(&self.state, &reg, &uuid)?;
        let obj = reg.domain(&uuid).expect("just stored");
        let handle = self.domain_handle(obj);
        let ev = event_for(obj, (lifecycle::Event::Defined, event));
        drop(reg);
        self.state.emit(vec![ev]);
        Ok(handle)
    }

    /// Creates and starts a domain from XML: transient unless the UUID names
    /// an inactive persistent domain. flags: 1 paused, 4 validate.
    pub fn create_domain_xml(&self, xml: &str, flags: u32) -> Result<Domain> {
        check_flags(
            flags,
            flags::START_PAUSED | flags::START_AUTODESTROY | flags::CREATE_VALIDATE,
            "virDomainCreateXML",
        )?;
        self.check_writable()?;
        let def = self.parse_domain(xml, flags & flags::CREATE_VALIDATE != 0)?;
        let mut reg = self.state.lock();
        self.restore_driver_state(&mut reg)?;
        Self::check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let existed = reg.domain(&uuid).is_some();
        if let Some(obj) = reg.domain(&uuid) {
            lifecycle::check(obj.name(), &facts(obj), Op::Create)?;
        }
        let config = self.driver_config(&reg, &def, None)?;
        let paused = flags & flags::START_PAUSED != 0;
        let status = self
            .state
            .drivers
            .hypervisor
            .start(&config, if paused { driver::START_PAUSED } else { 0 })?;
        if !existed {
            let mut obj = DomainObj::new_inactive(def.clone());
            obj.config = None;
            obj.live = Some(def.clone());
            reg.insert_domain(obj);
        } else if let Some(obj) = reg.domain_mut(&uuid) {
            obj.live = Some(def.clone());
        }
        let obj = reg.domain(&uuid).expect("stored above");
        let mut f = facts(obj);
        f.state = State::Shutoff;
        let out = lifecycle::outcome(&f, Op::Create, Some(state_of(&status)));
        let events = apply_outcome(&self.state, &mut reg, &uuid, &out, Some(status))?;
        let handle = self.domain_handle(reg.domain(&uuid).expect("still there"));
        drop(reg);
        self.state.emit(events);
        Ok(handle)
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
        let Some(handle) = &self.state.lost_handle else {
            return Ok(());
        };
        if !handle.take_lost() {
            return Ok(());
        }
        let hv = self.state.drivers.hypervisor.clone();
        let active: Vec<(DomainDef, Option<u32>, DomainStatus)> = reg
            .domains()
            .filter(|d| d.is_active())
            .map(|d| (d.def().clone(), d.id, d.status))
            .collect();
        for (def, id, status) in active {
            let config = self.driver_config(reg, &def, id)?;
            hv.adopt(&config, &status)?;
        }
        if let Some(net) = &self.state.drivers.network {
            for n in reg.networks.values().filter(|n| n.is_active()) {
                net.network_start(&convert::network_config(n.def()), 0)?;
            }
        }
        if let Some(st) = &self.state.drivers.storage {
            for p in reg.pools.values().filter(|p| p.active) {
                st.pool_start(&convert::pool_config(&p.def))?;
                for v in p.volumes.values() {
                    let config = driver::VolumeConfig {
                        name: v.name.clone(),
                        capacity: v.capacity,
                        allocation: v.allocation,
                        format: v.format.clone(),
                    };
                    st.volume_create(&p.def.uuid.to_string(), &config, 0)?;
                }
            }
        }
        Ok(())
    }
}

impl Domain {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    pub fn uuid_string(&self) -> String {
        self.uuid.to_string()
    }

    pub fn connect(&self) -> &Connect {
        &self.conn
    }

    /// Runs `f` on the domain's registry entry under the connection lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>) -> Result<R> {
        let mut reg = self.conn.state.lock();
        if reg.domain(&self.uuid).is_none() {
            return Err(no_domain(format!(
                "no domain with matching uuid '{}' ({})",
                self.uuid, self.name
            )));
        }
        f(&mut reg, &self.uuid)
    }

    fn obj<R>(&self, f: impl FnOnce(&DomainObj) -> R) -> Result<R> {
        self.with(|reg, uuid| Ok(f(reg.domain(uuid).expect("checked by with"))))
    }

    /// The id while active, -1 otherwise.
    pub fn id(&self) -> Result<i32> {
        self.obj(|o| o.id_or_minus_one())
    }

    pub fn state(&self) -> Result<(State, u32)> {
        self.obj(|o| (o.state, o.reason))
    }

    pub fn is_active(&self) -> Result<bool> {
        self.obj(|o| o.is_active())
    }

    pub fn is_persistent(&self) -> Result<bool> {
        self.obj(|o| o.persistent())
    }

    pub fn autostart(&self) -> Result<bool> {
        self.obj(|o| o.autostart)
    }

    pub fn has_managed_save_image(&self) -> Result<bool> {
        self.obj(|o| o.managed_save.is_some())
    }

    pub fn info(&self) -> Result<DomainInfo> {
        let hv = self.conn.state.drivers.hypervisor.clone();
        self.with(|reg, uuid| {
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

    /// The domain XML. flags: 2 = the next-boot (inactive) definition.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        check_flags(
            flags,
            flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_UPDATE_CPU | flags::XML_MIGRATABLE,
            "virDomainGetXMLDesc",
        )?;
        self.obj(|o| {
            if flags & (flags::XML_INACTIVE | flags::XML_MIGRATABLE) != 0 {
                o.inactive_def().to_xml(FormatOptions::default())
            } else {
                o.def().to_xml(FormatOptions { id: o.id })
            }
        })
    }

    /// The common shape of a lifecycle operation: check the rules, let the
    /// driver act, record the outcome, emit the events.
    fn transition(
        &self,
        op: Op,
        act: impl FnOnce(&Connect, &mut Registry, &Uuid) -> Result<Option<DomainStatus>>,
    ) -> Result<()> {
        self.conn.check_writable()?;
        let conn = self.conn.clone();
        let events = self.with(|reg, uuid| {
            conn.restore_driver_state(reg)?;
            let obj = reg.domain(uuid).expect("checked");
            let before = facts(obj);
            lifecycle::check(obj.name(), &before, op)?;
            let status = act(&conn, reg, uuid)?;
            let out = lifecycle::outcome(&before, op, status.as_ref().map(state_of));
            apply_outcome(&conn.state, reg, uuid, &out, status)
        })?;
        self.conn.state.emit(events);
        Ok(())
    }

    fn hv(&self) -> std::sync::Arc<dyn HypervisorDriver> {
        self.conn.state.drivers.hypervisor.clone()
    }

    /// Starts a defined domain (libvirt's `virDomainCreateWithFlags`): from
    /// its managed-save image if it has one, else a fresh boot.
    pub fn start(&self, flags: u32) -> Result<()> {
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
            self.managed_save_remove()?;
        }
        self.transition(Op::Start { paused }, |conn, reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj
                .config
                .clone()
                .expect("only persistent domains can be inactive");
            let config = conn.driver_config(reg, &def, None)?;
            let status = match &obj.managed_save {
                Some(image) => {
                    let bytes = read_image(image)?;
                    let payload = crate::connect::save_image::payload(&bytes)?;
                    hv.restore(
                        &config,
                        &mut Cursor::new(payload),
                        payload.len() as u64,
                        if paused { SAVE_PAUSED } else { 0 },
                    )?
                }
                None => hv.start(&config, if paused { driver::START_PAUSED } else { 0 })?,
            };
            Ok(Some(status))
        })
    }

    /// Asks the guest to power off.
    pub fn shutdown(&self) -> Result<()> {
        let hv = self.hv();
        self.transition(Op::Shutdown, |_, _, uuid| {
            Ok(Some(hv.shutdown(&uuid.to_string(), 0)?))
        })
    }

    pub fn reboot(&self, flags: u32) -> Result<()> {
        check_flags(flags, 0x3f, "virDomainReboot")?;
        let hv = self.hv();
        self.transition(Op::Reboot, |_, _, uuid| {
            Ok(Some(hv.reboot(&uuid.to_string(), flags)?))
        })
    }

    pub fn reset(&self) -> Result<()> {
        let hv = self.hv();
        self.transition(Op::Reset, |_, _, uuid| {
            hv.reset(&uuid.to_string(), 0)?;
            Ok(None)
        })
    }

    /// Stops the domain now.
    pub fn destroy(&self) -> Result<()> {
        let hv = self.hv();
        self.transition(Op::Destroy, |_, _, uuid| {
            Ok(Some(hv.destroy(&uuid.to_string(), 0)?))
        })
    }

    pub fn suspend(&self) -> Result<()> {
        let hv = self.hv();
        self.transition(Op::Suspend, |_, reg, uuid| {
            if reg.domain(uuid).expect("checked").state == State::Paused {
                return Ok(None);
            }
            Ok(Some(hv.suspend(&uuid.to_string())?))
        })
    }

    pub fn resume(&self) -> Result<()> {
        let hv = self.hv();
        self.transition(Op::Resume, |_, _, uuid| {
            Ok(Some(hv.resume(&uuid.to_string())?))
        })
    }

    /// Removes the persistent definition. flags: 1 managed save, 2 snapshot metadata.
    pub fn undefine(&self, flags: u32) -> Result<()> {
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
        self.transition(op, |_, reg, uuid| {
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

    /// Saves the domain's state for its next start and stops it.
    pub fn managed_save(&self, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainManagedSave",
        )?;
        let hv = self.hv();
        self.transition(Op::ManagedSave, |_, reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj.def().clone();
            let running = obj.state != State::Paused;
            let mut payload = Vec::new();
            hv.save(&uuid.to_string(), 0, &mut payload)?;
            let image = crate::connect::save_image::encode(&def, running, &payload);
            let stored = match reg.store() {
                Some(store) => {
                    let path = store.object_path("domains", uuid, "save");
                    crate::registry::StateDir::write_file(&path, &image)?;
                    SaveImage::File(path)
                }
                None => SaveImage::Memory(image),
            };
            reg.domain_mut(uuid).expect("checked").managed_save = Some(stored);
            Ok(None)
        })
    }

    /// Drops the managed-save image; the next start boots afresh.
    pub fn managed_save_remove(&self) -> Result<()> {
        self.conn.check_writable()?;
        let conn = self.conn.clone();
        self.with(|reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            if let Some(SaveImage::File(path)) = obj.managed_save.take() {
                let _ = std::fs::remove_file(path);
            }
            if obj.state == State::Shutoff && obj.reason == lifecycle::reason::SHUTOFF_SAVED {
                obj.reason = lifecycle::reason::UNKNOWN;
            }
            persist(&conn.state, reg, uuid)
        })
    }

    /// Saves the domain's state to `path` and stops it.
    pub fn save(&self, path: &std::path::Path, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainSaveFlags",
        )?;
        let hv = self.hv();
        self.transition(Op::Save, |_, reg, uuid| {
            let obj = reg.domain(uuid).expect("checked");
            let def = obj.def().clone();
            let running = match flags & (flags::SAVE_RUNNING | flags::SAVE_PAUSED) {
                flags::SAVE_PAUSED => false,
                flags::SAVE_RUNNING => true,
                _ => obj.state != State::Paused,
            };
            // Refuse an unwritable destination before stopping the guest.
            crate::connect::save_image::check_writable(path)?;
            let mut payload = Vec::new();
            hv.save(&uuid.to_string(), 0, &mut payload)?;
            let image = crate::connect::save_image::encode(&def, running, &payload);
            crate::registry::StateDir::write_file(path, &image)?;
            Ok(None)
        })
    }

    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        self.conn.check_writable()?;
        let conn = self.conn.clone();
        self.with(|reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            lifecycle::check(obj.name(), &facts(obj), Op::SetAutostart)?;
            obj.autostart = autostart;
            persist(&conn.state, reg, uuid)
        })
    }

    /// Sets memory in KiB. flags: 1 live, 2 config, 4 maximum (0: live if active).
    pub fn set_memory_flags(&self, kib: u64, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        self.conn.check_writable()?;
        let hv = self.hv();
        let conn = self.conn.clone();
        self.with(|reg, uuid| {
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
            persist(&conn.state, reg, uuid)
        })
    }

    /// Sets vCPUs. flags: 1 live, 2 config, 4 maximum.
    pub fn set_vcpus_flags(&self, count: u32, flags: u32) -> Result<()> {
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
        let max_conn = self.conn.max_vcpus();
        let hv = self.hv();
        let conn = self.conn.clone();
        self.with(|reg, uuid| {
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
            persist(&conn.state, reg, uuid)
        })
    }

    /// vCPU count. flags: 1 live, 2 config, 4 maximum.
    pub fn vcpus_flags(&self, flags: u32) -> Result<u32> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainGetVcpusFlags",
        )?;
        self.with(|reg, uuid| {
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
        let hv = self.hv();
        self.with(|reg, uuid| {
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
        self.conn.check_writable()?;
        crate::xml::domain::check_object_name(new_name)?;
        let conn = self.conn.clone();
        let events = self.with(|reg, uuid| {
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
            persist(&conn.state, reg, uuid)?;
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
        self.conn.state.emit(events);
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

pub(crate) fn read_image(image: &SaveImage) -> Result<Vec<u8>> {
    match image {
        SaveImage::Memory(bytes) => Ok(bytes.clone()),
        SaveImage::File(path) => std::fs::read(path).map_err(|source| Error::Io {
            what: format!("cannot read managed save image {}", path.display()),
            source,
        }),
    }
}
