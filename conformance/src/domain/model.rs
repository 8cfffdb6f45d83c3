//! The reference model of `docs/lifecycle.md`, written from the
//! spec (and libvirt 9.0's QEMU driver where the spec names it), not from
//! the host's `lifecycle` module.
//!
//! Domains, snapshots and save files are drawn from small pools of slots so
//! that conflicts happen. Ids are abstract tokens: the spec promises a
//! positive id while active, the same id for a reboot, and never a reused
//! one, not particular numbers; the system-under-test side maps tokens to
//! the ids it observes.

use serde::Serialize;

use super::{FILES, Mode, Op};
use crate::common::{Outcome, code};
use crate::target::Support;

pub use super::libvirt::{event, event_name, reason, state, state_name};

/// The parts of a definition the suite changes and checks (KiB, counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Cfg {
    pub max_mem: u64,
    pub cur_mem: u64,
    pub max_vcpus: u32,
    pub cur_vcpus: u32,
}

/// The definitions `define`/`create` use, by variant number.
pub const VARIANTS: [Cfg; 3] = [
    Cfg {
        max_mem: 131_072,
        cur_mem: 131_072,
        max_vcpus: 2,
        cur_vcpus: 2,
    },
    Cfg {
        max_mem: 262_144,
        cur_mem: 262_144,
        max_vcpus: 4,
        cur_vcpus: 4,
    },
    Cfg {
        max_mem: 262_144,
        cur_mem: 196_608,
        max_vcpus: 4,
        cur_vcpus: 2,
    },
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snap {
    pub name: u8,
    /// The domain's name when it was taken.
    pub taken_as: u8,
    pub state: u32,
    /// The definition in effect when it was taken.
    pub cfg: Cfg,
    pub parent: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dom {
    pub name: u8,
    pub uuid: u8,
    /// The persistent (next-boot) definition; None: transient.
    pub config: Option<Cfg>,
    /// The running definition while active.
    pub live: Option<Cfg>,
    pub state: u32,
    pub reason: u32,
    /// Id token while active.
    pub id: Option<u32>,
    pub autostart: bool,
    /// The managed-save image, as the definition it holds.
    pub managed_save: Option<Cfg>,
    pub snapshots: Vec<Snap>,
    pub current: Option<u8>,
}

impl Dom {
    pub fn active(&self) -> bool {
        self.state != state::SHUTOFF
    }

    pub fn persistent(&self) -> bool {
        self.config.is_some()
    }

    /// What `dumpxml --inactive` shows.
    pub fn inactive_cfg(&self) -> Cfg {
        self.config
            .or(self.live)
            .expect("a domain has a definition")
    }

    /// What `dumpxml` shows.
    pub fn current_cfg(&self) -> Cfg {
        self.live
            .or(self.config)
            .expect("a domain has a definition")
    }

    fn snapshot(&self, name: u8) -> Option<&Snap> {
        self.snapshots.iter().find(|s| s.name == name)
    }
}

/// A save file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    pub name: u8,
    pub uuid: u8,
    pub cfg: Cfg,
    pub running: bool,
}

/// An operation's value, in slot terms.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub enum Value {
    None,
    Domain {
        name: u8,
        uuid: u8,
    },
    /// Name slots, sorted.
    Names(Vec<u8>),
    Xml(Cfg),
    /// Something outside the suite's slots (observed side only).
    Other(String),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::{dom_name, dom_uuid};
        match self {
            Value::None => write!(f, "-"),
            Value::Domain { name, uuid } => {
                write!(f, "domain {} {}", dom_name(*name), dom_uuid(*uuid))
            }
            Value::Names(names) => {
                let names: Vec<String> = names.iter().map(|&n| dom_name(n)).collect();
                write!(f, "[{}]", names.join(", "))
            }
            Value::Xml(cfg) => write!(f, "{cfg:?}"),
            Value::Other(s) => write!(f, "{s}"),
        }
    }
}

/// An expected lifecycle event; `id` is a token (None: -1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ev {
    pub name: u8,
    pub uuid: u8,
    pub event: u32,
    pub detail: u32,
    pub id: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub support: Support,
    pub doms: Vec<Dom>,
    pub files: [Option<Image>; FILES],
    /// Id tokens handed out so far (tokens are 1..=tokens).
    pub tokens: u32,
    /// The last operation's expected outcome and events.
    pub expect: Outcome<Value>,
    pub events: Vec<Ev>,
}

type Res = Result<Value, u32>;

impl Model {
    pub fn new(support: Support) -> Self {
        Model {
            support,
            doms: Vec::new(),
            files: Default::default(),
            tokens: 0,
            expect: Ok(Value::None),
            events: Vec::new(),
        }
    }

    pub fn by_name(&self, name: u8) -> Option<usize> {
        self.doms.iter().position(|d| d.name == name)
    }

    pub fn by_uuid(&self, uuid: u8) -> Option<usize> {
        self.doms.iter().position(|d| d.uuid == uuid)
    }

    fn named(&self, name: u8) -> Result<usize, u32> {
        self.by_name(name).ok_or(code::NO_DOMAIN)
    }

    fn token(&mut self) -> u32 {
        self.tokens += 1;
        self.tokens
    }

    fn emit(&mut self, i: usize, event: u32, detail: u32) {
        let d = &self.doms[i];
        self.events.push(Ev {
            name: d.name,
            uuid: d.uuid,
            event,
            detail,
            id: d.id,
        });
    }

    /// Define/create uniqueness rules 1 and 2 (lifecycle.md).
    fn unique(&self, name: u8, uuid: u8) -> Result<Option<usize>, u32> {
        if self
            .by_name(name)
            .is_some_and(|i| self.doms[i].uuid != uuid)
        {
            return Err(code::OPERATION_FAILED);
        }
        match self.by_uuid(uuid) {
            Some(i) if self.doms[i].name != name => Err(code::OPERATION_FAILED),
            found => Ok(found),
        }
    }

    /// Whether the spec determines `op`'s outcome here. Sequences through
    /// situations it leaves open are not generated (README: "Not checked").
    pub fn determined(&self, op: &Op) -> bool {
        let has_ms_and = |i: Option<usize>| i.is_some_and(|i| self.doms[i].managed_save.is_some());
        match *op {
            // "create from XML" / "restore" onto a domain with a managed-save
            // image: what happens to the image is not specified.
            Op::Create { name, uuid, .. } => {
                !(self.unique(name, uuid).is_ok() && has_ms_and(self.by_uuid(uuid)))
            }
            Op::Restore { file, .. } => match &self.files[file as usize] {
                Some(img) => !has_ms_and(self.by_uuid(img.uuid)),
                None => true,
            },
            // Which definition a start from a managed-save image runs when
            // the config changed since the save is not specified.
            Op::Start { name, .. } => match self.by_name(name) {
                Some(i) => {
                    let d = &self.doms[i];
                    d.active() || d.managed_save.is_none_or(|ms| Some(ms) == d.config)
                }
                None => true,
            },
            // The error class of a duplicate snapshot name is not specified.
            Op::SnapshotCreate { name, snap } => self.by_name(name).is_none_or(|i| {
                let d = &self.doms[i];
                // A target that keeps no machine state for an inactive
                // domain answers that snapshot with no-support.
                d.snapshot(snap).is_none() && (d.active() || self.support.inactive_snapshots)
            }),
            // A target without balloon or vCPU hot-plug answers a live
            // change with no-support: not generated for it.
            Op::SetMem {
                name, live: true, ..
            }
            | Op::SetVcpus {
                name, live: true, ..
            } => {
                self.support.live_resize
                    || self.by_name(name).is_none_or(|i| !self.doms[i].active())
            }
            // Reverting a domain that has a managed-save image: not specified.
            Op::SnapshotRevert { name, snap } => self.by_name(name).is_none_or(|i| {
                let d = &self.doms[i];
                d.snapshot(snap).is_none() || d.managed_save.is_none()
            }),
            _ => true,
        }
    }

    /// Applies `op`, recording the expected outcome and events.
    pub fn apply(&mut self, op: &Op) {
        self.events.clear();
        self.expect = self.run(op);
        // lifecycle.md does not say which id an event carries; wirt gives
        // every event of one operation the id the domain has after it.
        for i in 0..self.events.len() {
            let uuid = self.events[i].uuid;
            self.events[i].id = self.by_uuid(uuid).and_then(|d| self.doms[d].id);
        }
    }

    fn run(&mut self, op: &Op) -> Res {
        match *op {
            Op::Define {
                name,
                uuid,
                variant,
            } => self.define(name, uuid, VARIANTS[variant as usize]),
            Op::Create {
                name,
                uuid,
                variant,
                paused,
            } => self.create(name, uuid, VARIANTS[variant as usize], paused),
            Op::Start { name, paused } => self.start(name, paused),
            Op::Shutdown { name } => self.stop(name, true),
            Op::Destroy { name } => self.stop(name, false),
            Op::Reboot { name } => {
                let i = self.named(name)?;
                if self.doms[i].state != state::RUNNING {
                    return Err(code::OPERATION_INVALID);
                }
                self.doms[i].reason = reason::RUNNING_BOOTED;
                Ok(Value::None)
            }
            Op::Reset { name } => {
                let i = self.named(name)?;
                if !self.doms[i].active() {
                    return Err(code::OPERATION_INVALID);
                }
                Ok(Value::None)
            }
            Op::Suspend { name } => {
                let i = self.named(name)?;
                match self.doms[i].state {
                    state::RUNNING => {
                        self.set(i, state::PAUSED, reason::PAUSED_USER);
                        self.emit(i, event::SUSPENDED, event::SUSPENDED_PAUSED);
                        Ok(Value::None)
                    }
                    state::PAUSED => Ok(Value::None),
                    _ => Err(code::OPERATION_INVALID),
                }
            }
            Op::Resume { name } => {
                let i = self.named(name)?;
                if self.doms[i].state != state::PAUSED {
                    return Err(code::OPERATION_INVALID);
                }
                self.set(i, state::RUNNING, reason::RUNNING_UNPAUSED);
                self.emit(i, event::RESUMED, event::RESUMED_UNPAUSED);
                Ok(Value::None)
            }
            Op::Undefine {
                name,
                managed_save,
                snapshots_metadata,
            } => self.undefine(name, managed_save, snapshots_metadata),
            Op::ManagedSave { name } => {
                let i = self.named(name)?;
                let d = &self.doms[i];
                if !d.active() || !d.persistent() {
                    return Err(code::OPERATION_INVALID);
                }
                let live = d.live;
                self.doms[i].managed_save = live;
                self.stopped(i, reason::SHUTOFF_SAVED, event::STOPPED_SAVED);
                Ok(Value::None)
            }
            Op::ManagedSaveRemove { name } => {
                // libvirt: success whether or not there is an image; the
                // state and its reason stay as they are.
                let i = self.named(name)?;
                let d = &mut self.doms[i];
                d.managed_save = None;
                Ok(Value::None)
            }
            Op::Save { name, file, mode } => {
                let i = self.named(name)?;
                let d = &self.doms[i];
                if !d.active() {
                    return Err(code::OPERATION_INVALID);
                }
                let running = match mode {
                    Mode::Default => d.state == state::RUNNING,
                    Mode::Running => true,
                    Mode::Paused => false,
                };
                self.files[file as usize] = Some(Image {
                    name: d.name,
                    uuid: d.uuid,
                    cfg: d.live.expect("active"),
                    running,
                });
                self.stopped(i, reason::SHUTOFF_SAVED, event::STOPPED_SAVED);
                Ok(Value::None)
            }
            Op::Restore { file, mode } => self.restore(file, mode),
            Op::Autostart { name, enable } => {
                let i = self.named(name)?;
                if !self.doms[i].persistent() {
                    return Err(code::OPERATION_INVALID);
                }
                self.doms[i].autostart = enable;
                Ok(Value::None)
            }
            Op::SetMem { name, kib, live } => self.set_cfg(name, live, |c| {
                if kib > c.max_mem {
                    return Err(code::INVALID_ARG);
                }
                c.cur_mem = kib;
                Ok(())
            }),
            Op::SetVcpus { name, count, live } => self.set_cfg(name, live, |c| {
                if count > c.max_vcpus {
                    return Err(code::INVALID_ARG);
                }
                c.cur_vcpus = count;
                Ok(())
            }),
            Op::Rename { name, to } => {
                let i = self.named(name)?;
                if self.doms[i].active() || self.by_name(to).is_some() {
                    return Err(code::OPERATION_INVALID);
                }
                self.emit(i, event::UNDEFINED, event::UNDEFINED_RENAMED);
                self.doms[i].name = to;
                self.emit(i, event::DEFINED, event::DEFINED_RENAMED);
                Ok(Value::None)
            }
            Op::SnapshotCreate { name, snap } => {
                let i = self.named(name)?;
                let d = &mut self.doms[i];
                let s = Snap {
                    name: snap,
                    taken_as: d.name,
                    state: d.state,
                    cfg: d.current_cfg(),
                    parent: d.current,
                };
                d.snapshots.push(s);
                d.current = Some(snap);
                Ok(Value::None)
            }
            Op::SnapshotRevert { name, snap } => self.revert(name, snap),
            Op::SnapshotDelete { name, snap } => {
                let i = self.named(name)?;
                let d = &mut self.doms[i];
                let s = d.snapshot(snap).ok_or(code::NO_DOMAIN_SNAPSHOT)?.clone();
                d.snapshots.retain(|x| x.name != snap);
                // Children move up to the deleted snapshot's parent.
                for c in d.snapshots.iter_mut().filter(|c| c.parent == Some(snap)) {
                    c.parent = s.parent;
                }
                if d.current == Some(snap) {
                    d.current = s.parent;
                }
                Ok(Value::None)
            }
            Op::LookupName { name } => {
                let i = self.named(name)?;
                Ok(self.value_of(i))
            }
            Op::LookupUuid { uuid } => {
                let i = self.by_uuid(uuid).ok_or(code::NO_DOMAIN)?;
                Ok(self.value_of(i))
            }
            Op::LookupId { nth } => {
                if self.tokens == 0 {
                    return Ok(Value::None);
                }
                let token = u32::from(nth) % self.tokens + 1;
                let i = self
                    .doms
                    .iter()
                    .position(|d| d.id == Some(token))
                    .ok_or(code::NO_DOMAIN)?;
                Ok(self.value_of(i))
            }
            Op::List { filter } => {
                let mut names: Vec<u8> = self
                    .doms
                    .iter()
                    .filter(|d| list_matches(d, filter))
                    .map(|d| d.name)
                    .collect();
                names.sort_unstable();
                Ok(Value::Names(names))
            }
            Op::DumpXml { name, inactive } => {
                let d = &self.doms[self.named(name)?];
                Ok(Value::Xml(if inactive {
                    d.inactive_cfg()
                } else {
                    d.current_cfg()
                }))
            }
            Op::BadInput { kind } => Err(kind.code()),
        }
    }

    fn value_of(&self, i: usize) -> Value {
        Value::Domain {
            name: self.doms[i].name,
            uuid: self.doms[i].uuid,
        }
    }

    fn set(&mut self, i: usize, state: u32, reason: u32) {
        self.doms[i].state = state;
        self.doms[i].reason = reason;
    }

    /// Makes domain `i` active from `cfg` with a new id.
    fn boot(&mut self, i: usize, cfg: Cfg, state: u32, reason: u32) {
        let token = self.token();
        let d = &mut self.doms[i];
        d.live = Some(cfg);
        d.id = Some(token);
        d.state = state;
        d.reason = reason;
    }

    /// Stops domain `i`: a persistent one shuts off, a transient one is gone.
    fn stopped(&mut self, i: usize, why: u32, detail: u32) {
        let d = &mut self.doms[i];
        d.state = state::SHUTOFF;
        d.reason = why;
        d.id = None;
        d.live = None;
        self.emit(i, event::STOPPED, detail);
        if !self.doms[i].persistent() {
            self.doms.remove(i);
        }
    }

    fn define(&mut self, name: u8, uuid: u8, cfg: Cfg) -> Res {
        let i = match self.unique(name, uuid)? {
            Some(i) => {
                // A transient domain becomes persistent: libvirt reports
                // that as "added", a redefinition as "updated".
                let detail = if self.doms[i].persistent() {
                    event::DEFINED_UPDATED
                } else {
                    event::DEFINED_ADDED
                };
                self.doms[i].config = Some(cfg);
                self.emit(i, event::DEFINED, detail);
                i
            }
            None => {
                self.doms.push(Dom {
                    name,
                    uuid,
                    config: Some(cfg),
                    live: None,
                    state: state::SHUTOFF,
                    reason: reason::UNKNOWN,
                    id: None,
                    autostart: false,
                    managed_save: None,
                    snapshots: Vec::new(),
                    current: None,
                });
                let i = self.doms.len() - 1;
                self.emit(i, event::DEFINED, event::DEFINED_ADDED);
                i
            }
        };
        Ok(self.value_of(i))
    }

    fn started(&mut self, i: usize, detail: u32, paused_detail: Option<u32>) {
        self.emit(i, event::STARTED, detail);
        if let Some(d) = paused_detail {
            self.emit(i, event::SUSPENDED, d);
        }
    }

    fn create(&mut self, name: u8, uuid: u8, cfg: Cfg, paused: bool) -> Res {
        let i = match self.unique(name, uuid)? {
            Some(i) if self.doms[i].active() => return Err(code::OPERATION_INVALID),
            // Same UUID as an inactive persistent domain: starts it with
            // this definition; it stays persistent.
            Some(i) => i,
            None => {
                self.doms.push(Dom {
                    name,
                    uuid,
                    config: None,
                    live: Some(cfg),
                    state: state::SHUTOFF,
                    reason: reason::UNKNOWN,
                    id: None,
                    autostart: false,
                    managed_save: None,
                    snapshots: Vec::new(),
                    current: None,
                });
                self.doms.len() - 1
            }
        };
        let (st, why) = if paused {
            (state::PAUSED, reason::PAUSED_USER)
        } else {
            (state::RUNNING, reason::RUNNING_BOOTED)
        };
        self.boot(i, cfg, st, why);
        self.started(
            i,
            event::STARTED_BOOTED,
            paused.then_some(event::SUSPENDED_PAUSED),
        );
        Ok(self.value_of(i))
    }

    fn start(&mut self, name: u8, paused: bool) -> Res {
        let i = self.named(name)?;
        let d = &self.doms[i];
        if d.active() {
            return Err(code::OPERATION_INVALID);
        }
        match d.managed_save {
            Some(image) => {
                let (st, why) = if paused {
                    (state::PAUSED, reason::PAUSED_SAVE)
                } else {
                    (state::RUNNING, reason::RUNNING_RESTORED)
                };
                self.doms[i].managed_save = None;
                self.boot(i, image, st, why);
                self.started(
                    i,
                    event::STARTED_RESTORED,
                    paused.then_some(event::SUSPENDED_PAUSED),
                );
            }
            None => {
                let (st, why) = if paused {
                    (state::PAUSED, reason::PAUSED_USER)
                } else {
                    (state::RUNNING, reason::RUNNING_BOOTED)
                };
                let cfg = d.config.expect("an inactive domain is persistent");
                self.boot(i, cfg, st, why);
                self.started(
                    i,
                    event::STARTED_BOOTED,
                    paused.then_some(event::SUSPENDED_PAUSED),
                );
            }
        }
        Ok(Value::None)
    }

    /// Shutdown (graceful: running only) or destroy (any active state).
    fn stop(&mut self, name: u8, graceful: bool) -> Res {
        let i = self.named(name)?;
        let d = &self.doms[i];
        let allowed = if graceful {
            d.state == state::RUNNING
        } else {
            d.active()
        };
        if !allowed {
            return Err(code::OPERATION_INVALID);
        }
        if graceful {
            // As in libvirt's QEMU driver: the guest finished its shutdown,
            // then the domain stopped.
            self.emit(i, event::SHUTDOWN, event::SHUTDOWN_FINISHED);
            self.stopped(i, reason::SHUTOFF_SHUTDOWN, event::STOPPED_SHUTDOWN);
        } else {
            self.stopped(i, reason::SHUTOFF_DESTROYED, event::STOPPED_DESTROYED);
        }
        Ok(Value::None)
    }

    fn undefine(&mut self, name: u8, managed_save: bool, snapshots_metadata: bool) -> Res {
        let i = self.named(name)?;
        let d = &self.doms[i];
        if !d.persistent()
            || (!d.snapshots.is_empty() && !snapshots_metadata)
            || (d.managed_save.is_some() && !managed_save)
        {
            return Err(code::OPERATION_INVALID);
        }
        self.emit(i, event::UNDEFINED, event::UNDEFINED_REMOVED);
        let d = &mut self.doms[i];
        if d.active() {
            d.config = None;
            d.autostart = false;
            d.snapshots.clear();
            d.current = None;
        } else {
            self.doms.remove(i);
        }
        Ok(Value::None)
    }

    fn restore(&mut self, file: u8, mode: Mode) -> Res {
        let img = self.files[file as usize]
            .clone()
            .ok_or(code::SYSTEM_ERROR)?;
        let i = match self.unique(img.name, img.uuid)? {
            Some(i) if self.doms[i].active() => return Err(code::OPERATION_INVALID),
            Some(i) => i,
            None => {
                self.doms.push(Dom {
                    name: img.name,
                    uuid: img.uuid,
                    config: None,
                    live: None,
                    state: state::SHUTOFF,
                    reason: reason::UNKNOWN,
                    id: None,
                    autostart: false,
                    managed_save: None,
                    snapshots: Vec::new(),
                    current: None,
                });
                self.doms.len() - 1
            }
        };
        let paused = match mode {
            Mode::Running => false,
            Mode::Paused => true,
            Mode::Default => !img.running,
        };
        let (st, why) = if paused {
            (state::PAUSED, reason::PAUSED_SAVE)
        } else {
            (state::RUNNING, reason::RUNNING_RESTORED)
        };
        self.boot(i, img.cfg, st, why);
        // libvirt: paused on request is "paused", paused as saved "restored".
        let paused_detail = match (paused, mode) {
            (false, _) => None,
            (true, Mode::Paused) => Some(event::SUSPENDED_PAUSED),
            (true, _) => Some(event::SUSPENDED_RESTORED),
        };
        self.started(i, event::STARTED_RESTORED, paused_detail);
        Ok(self.value_of(i))
    }

    fn set_cfg(
        &mut self,
        name: u8,
        live: bool,
        change: impl FnOnce(&mut Cfg) -> Result<(), u32>,
    ) -> Res {
        let i = self.named(name)?;
        let d = &mut self.doms[i];
        let cfg = if live {
            if !d.active() {
                return Err(code::OPERATION_INVALID);
            }
            d.live.as_mut().expect("active")
        } else {
            d.config.as_mut().ok_or(code::OPERATION_INVALID)?
        };
        change(cfg)?;
        Ok(Value::None)
    }

    fn revert(&mut self, name: u8, snap: u8) -> Res {
        let i = self.named(name)?;
        let s = self.doms[i]
            .snapshot(snap)
            .ok_or(code::NO_DOMAIN_SNAPSHOT)?
            .clone();
        let was_active = self.doms[i].active();
        if self.doms[i].persistent() {
            self.doms[i].config = Some(s.cfg);
        }
        self.doms[i].current = Some(snap);
        if s.state == state::SHUTOFF {
            let d = &mut self.doms[i];
            d.state = state::SHUTOFF;
            d.reason = reason::SHUTOFF_FROM_SNAPSHOT;
            d.id = None;
            d.live = None;
            if was_active {
                self.emit(i, event::STOPPED, event::STOPPED_FROM_SNAPSHOT);
            }
            return Ok(Value::None);
        }
        if was_active {
            // The running instance stops before the snapshot's one starts.
            let d = &mut self.doms[i];
            d.id = None;
            self.emit(i, event::STOPPED, event::STOPPED_FROM_SNAPSHOT);
        }
        let (why, paused_detail) = if s.state == state::PAUSED {
            (
                reason::PAUSED_FROM_SNAPSHOT,
                Some(event::SUSPENDED_FROM_SNAPSHOT),
            )
        } else {
            (reason::RUNNING_FROM_SNAPSHOT, None)
        };
        self.boot(i, s.cfg, s.state, why);
        self.started(i, event::STARTED_FROM_SNAPSHOT, paused_detail);
        Ok(Value::None)
    }
}

/// libvirt's `VIR_CONNECT_LIST_DOMAINS_*` filters for one domain.
pub fn list_matches(d: &Dom, flags: u32) -> bool {
    use super::list::*;
    let active = d.active();
    let state_bit = match d.state {
        state::RUNNING => RUNNING,
        state::PAUSED => PAUSED,
        state::SHUTOFF => SHUTOFF,
        _ => OTHER,
    };
    crate::common::filter_groups_match(
        flags,
        &[
            (ACTIVE | INACTIVE, if active { ACTIVE } else { INACTIVE }),
            (
                PERSISTENT | TRANSIENT,
                if d.persistent() {
                    PERSISTENT
                } else {
                    TRANSIENT
                },
            ),
            (RUNNING | PAUSED | SHUTOFF | OTHER, state_bit),
            (
                MANAGEDSAVE | NO_MANAGEDSAVE,
                if d.managed_save.is_some() {
                    MANAGEDSAVE
                } else {
                    NO_MANAGEDSAVE
                },
            ),
            (
                AUTOSTART | NO_AUTOSTART,
                if d.autostart { AUTOSTART } else { NO_AUTOSTART },
            ),
            (
                HAS_SNAPSHOT | NO_SNAPSHOT,
                if d.snapshots.is_empty() {
                    NO_SNAPSHOT
                } else {
                    HAS_SNAPSHOT
                },
            ),
            // No domain has checkpoints.
            (HAS_CHECKPOINT | NO_CHECKPOINT, NO_CHECKPOINT),
        ],
    )
}
