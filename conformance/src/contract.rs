//! The driver-contract layer, for `--plugin`: calls the plugin's
//! `hypervisor` interface directly (no host rules in between) and checks the
//! obligations `wit/hypervisor.wit` puts on a driver. The host masks most
//! driver bugs at the API level by refusing illegal operations itself; here
//! nothing is masked.
//!
//! Obligations checked: operations on an inactive domain fail with
//! operation-invalid (55); start of an active domain fails with 55; resume
//! of a running domain fails with 55; suspend of a paused domain is a
//! successful no-op; destroy leaves the domain shut off (destroyed) and gone
//! from the driver; an unknown UUID's status is shut off; save then restore
//! gives running (restored), or paused (save) with flag 4; snapshot revert
//! gives the snapshot's state with reason from-snapshot; set-memory and
//! set-vcpus are reflected in the status; every reported state and reason is
//! one of libvirt's numbers; the status a call returns is the status the
//! driver reports afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use wirt::driver::wasm::WasmDriver;
use wirt::driver::{DomainConfig, DomainStatus, HypervisorDriver, OsConfig};
use wirt::plugin::{Plugin, PluginHandle};

use crate::common::{Divergence, Outcome, Script, check_outcome, code};
use crate::runner::Property;
use crate::target::{Env, Target};

pub const DOMS: u8 = 2;
pub const SNAPS: u8 = 2;

const RUNNING: u32 = 1;
const PAUSED: u32 = 3;
const SHUTDOWN: u32 = 4;
const SHUTOFF: u32 = 5;

fn uuid(slot: u8) -> String {
    format!("7ac0f000-0000-4000-8000-000000000c0{slot}")
}

/// Highest reason number libvirt defines for each state (index = state).
const MAX_REASON: [u32; 8] = [0, 9, 0, 11, 1, 8, 1, 0];

/// A driver call (or, for save/restore, the whole round trip).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Start {
        dom: u8,
        paused: bool,
    },
    Status {
        dom: u8,
    },
    Shutdown {
        dom: u8,
    },
    Reboot {
        dom: u8,
    },
    Reset {
        dom: u8,
    },
    Destroy {
        dom: u8,
    },
    Suspend {
        dom: u8,
    },
    Resume {
        dom: u8,
    },
    SetMemory {
        dom: u8,
        kib: u64,
    },
    SetVcpus {
        dom: u8,
        vcpus: u32,
    },
    /// save, read every chunk, release, restore (flag 4 when `paused`).
    SaveRestore {
        dom: u8,
        paused: bool,
    },
    SnapshotCreate {
        dom: u8,
        snap: u8,
    },
    SnapshotRevert {
        dom: u8,
        snap: u8,
        state: u32,
    },
    SnapshotDelete {
        dom: u8,
        snap: u8,
    },
}

/// What a call returns: a status (state, and reason unless any will do).
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reported {
    pub state: u32,
    pub reason: Option<u32>,
}

impl std::fmt::Debug for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            Some(r) => write!(f, "{}", crate::domain::model::state_name(self.state, r)),
            None => write!(
                f,
                "{}",
                crate::domain::model::state_name(self.state, 0)
                    .replace("(unknown)", "(any reason)")
            ),
        }
    }
}

/// A call's value: nothing, or a status.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ret {
    Nothing,
    Status(Reported),
}

impl std::fmt::Debug for Ret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ret::Nothing => write!(f, "-"),
            Ret::Status(r) => write!(f, "{r:?}"),
        }
    }
}

fn reported(state: u32, reason: u32) -> Reported {
    Reported {
        state,
        reason: Some(reason),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    /// (state, reason) of each active domain slot.
    pub doms: [Option<(u32, u32)>; DOMS as usize],
    pub snapshots: Vec<(u8, u8)>,
    pub expect: Outcome<Ret>,
}

impl Model {
    fn status(&self, dom: u8) -> Reported {
        match self.doms[dom as usize] {
            Some((s, r)) => reported(s, r),
            None => Reported {
                state: SHUTOFF,
                reason: None,
            },
        }
    }

    fn determined(&self, op: &Op) -> bool {
        let state = |dom: u8| self.doms[dom as usize].map(|d| d.0);
        let known = |dom: u8, snap: u8| self.snapshots.contains(&(dom, snap));
        match *op {
            // The host never asks a paused domain to shut down or reboot;
            // what a driver answers then is its own business.
            Op::Shutdown { dom } | Op::Reboot { dom } => state(dom) != Some(PAUSED),
            Op::SnapshotCreate { dom, snap } => !known(dom, snap),
            Op::SnapshotRevert { dom, snap, .. } | Op::SnapshotDelete { dom, snap } => {
                known(dom, snap)
            }
            _ => true,
        }
    }

    /// Domain `dom` is now active in `(state, reason)`, which the call returns.
    fn set(&mut self, dom: u8, (state, reason): (u32, u32)) -> Outcome<Ret> {
        self.doms[dom as usize] = Some((state, reason));
        Ok(Ret::Status(reported(state, reason)))
    }

    fn run(&mut self, op: &Op) -> Outcome<Ret> {
        let active = |m: &Model, dom: u8| m.doms[dom as usize].ok_or(code::OPERATION_INVALID);
        match *op {
            Op::Start { dom, paused } => {
                if self.doms[dom as usize].is_some() {
                    return Err(code::OPERATION_INVALID);
                }
                self.set(dom, if paused { (PAUSED, 1) } else { (RUNNING, 1) })
            }
            Op::Status { dom } => Ok(Ret::Status(self.status(dom))),
            Op::Shutdown { dom } => {
                active(self, dom)?;
                self.doms[dom as usize] = None;
                Ok(Ret::Status(reported(SHUTOFF, 1)))
            }
            Op::Reboot { dom } => {
                active(self, dom)?;
                self.set(dom, (RUNNING, 1))
            }
            Op::Reset { dom } => {
                let (s, r) = active(self, dom)?;
                Ok(Ret::Status(reported(s, r)))
            }
            Op::Destroy { dom } => {
                active(self, dom)?;
                self.doms[dom as usize] = None;
                Ok(Ret::Status(reported(SHUTOFF, 2)))
            }
            Op::Suspend { dom } => match active(self, dom)? {
                (RUNNING, _) => self.set(dom, (PAUSED, 1)),
                (s, r) => Ok(Ret::Status(reported(s, r))),
            },
            Op::Resume { dom } => match active(self, dom)? {
                (PAUSED, _) => self.set(dom, (RUNNING, 5)),
                _ => Err(code::OPERATION_INVALID),
            },
            Op::SetMemory { dom, .. } | Op::SetVcpus { dom, .. } => {
                let (s, r) = active(self, dom)?;
                Ok(Ret::Status(reported(s, r)))
            }
            Op::SaveRestore { dom, paused } => {
                active(self, dom)?;
                self.set(dom, if paused { (PAUSED, 3) } else { (RUNNING, 3) })
            }
            Op::SnapshotCreate { dom, snap } => {
                self.snapshots.push((dom, snap));
                Ok(Ret::Nothing)
            }
            Op::SnapshotRevert { dom, state, .. } => match state {
                RUNNING => self.set(dom, (RUNNING, 4)),
                PAUSED => self.set(dom, (PAUSED, 7)),
                _ => {
                    self.doms[dom as usize] = None;
                    Ok(Ret::Status(reported(SHUTOFF, 7)))
                }
            },
            Op::SnapshotDelete { dom, snap } => {
                self.snapshots.retain(|&x| x != (dom, snap));
                Ok(Ret::Nothing)
            }
        }
    }
}

fn op() -> BoxedStrategy<Op> {
    let dom = || (0..DOMS).boxed();
    prop_oneof![
        4 => (dom(), prop::bool::weighted(0.3)).prop_map(|(dom, paused)| Op::Start { dom, paused }),
        1 => dom().prop_map(|dom| Op::Status { dom }),
        2 => dom().prop_map(|dom| Op::Shutdown { dom }),
        1 => dom().prop_map(|dom| Op::Reboot { dom }),
        1 => dom().prop_map(|dom| Op::Reset { dom }),
        3 => dom().prop_map(|dom| Op::Destroy { dom }),
        3 => dom().prop_map(|dom| Op::Suspend { dom }),
        3 => dom().prop_map(|dom| Op::Resume { dom }),
        1 => (dom(), prop_oneof![Just(65_536u64), Just(131_072)]).prop_map(|(dom, kib)| Op::SetMemory { dom, kib }),
        1 => (dom(), 1..=2u32).prop_map(|(dom, vcpus)| Op::SetVcpus { dom, vcpus }),
        2 => (dom(), any::<bool>()).prop_map(|(dom, paused)| Op::SaveRestore { dom, paused }),
        1 => (dom(), 0..SNAPS).prop_map(|(dom, snap)| Op::SnapshotCreate { dom, snap }),
        1 => (dom(), 0..SNAPS, prop::sample::select(vec![RUNNING, PAUSED, SHUTOFF]))
            .prop_map(|(dom, snap, state)| Op::SnapshotRevert { dom, snap, state }),
        1 => (dom(), 0..SNAPS).prop_map(|(dom, snap)| Op::SnapshotDelete { dom, snap }),
    ]
    .boxed()
}

#[derive(Debug)]
pub struct DriverContract;

impl ReferenceStateMachine for DriverContract {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            doms: [None; DOMS as usize],
            snapshots: Vec::new(),
            expect: Ok(Ret::Nothing),
        })
        .boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Op> {
        op()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        state.determined(op)
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.expect = state.run(op);
        state
    }
}

/// A fresh plugin instance, opened.
pub struct ContractSut {
    driver: WasmDriver,
    /// Guest type, OS type and architecture the plugin offers.
    guest: (String, String, String),
    next_id: i32,
}

fn err(e: &wirt::driver::Error) -> u32 {
    e.code().0
}

impl ContractSut {
    fn config(&mut self, dom: u8, id: bool) -> DomainConfig {
        if id {
            self.next_id += 1;
        }
        DomainConfig {
            uuid: uuid(dom),
            name: format!("wconf-c{dom}"),
            id: if id { self.next_id } else { -1 },
            domain_type: self.guest.0.clone(),
            max_memory_kib: 131_072,
            memory_kib: 131_072,
            max_vcpus: 2,
            vcpus: 2,
            os: OsConfig {
                os_type: self.guest.1.clone(),
                arch: self.guest.2.clone(),
                ..OsConfig::default()
            },
            on_poweroff: "destroy".into(),
            on_reboot: "restart".into(),
            on_crash: "destroy".into(),
            ..DomainConfig::default()
        }
    }

    fn status_of(r: wirt::driver::Result<DomainStatus>) -> Outcome<Option<DomainStatus>> {
        r.map(Some).map_err(|e| err(&e))
    }

    /// A graceful shutdown may report "in shutdown" first; wait for it.
    fn settle_shutdown(&self, dom: u8, status: DomainStatus) -> DomainStatus {
        if status.state != SHUTDOWN {
            return status;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = status;
        while Instant::now() < deadline {
            match self.driver.status(&uuid(dom)) {
                Ok(s) if s.state != SHUTDOWN => return s,
                Ok(s) => last = s,
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        last
    }

    fn exec(&mut self, op: &Op) -> Outcome<Option<DomainStatus>> {
        let d = &self.driver;
        match *op {
            Op::Start { dom, paused } => {
                let config = self.config(dom, true);
                Self::status_of(self.driver.start(&config, u32::from(paused)))
            }
            Op::Status { dom } => Self::status_of(d.status(&uuid(dom))),
            Op::Shutdown { dom } => {
                let s = Self::status_of(d.shutdown(&uuid(dom), 0))?;
                Ok(s.map(|s| self.settle_shutdown(dom, s)))
            }
            Op::Reboot { dom } => Self::status_of(d.reboot(&uuid(dom), 0)),
            Op::Reset { dom } => Self::status_of(d.reset(&uuid(dom), 0)),
            Op::Destroy { dom } => Self::status_of(d.destroy(&uuid(dom), 0)),
            Op::Suspend { dom } => Self::status_of(d.suspend(&uuid(dom))),
            Op::Resume { dom } => Self::status_of(d.resume(&uuid(dom))),
            Op::SetMemory { dom, kib } => {
                let s = d.set_memory(&uuid(dom), kib).map_err(|e| err(&e))?;
                if s.memory_kib != kib {
                    return Ok(None);
                }
                Ok(Some(s))
            }
            Op::SetVcpus { dom, vcpus } => {
                let s = d.set_vcpus(&uuid(dom), vcpus).map_err(|e| err(&e))?;
                if s.vcpus != vcpus {
                    return Ok(None);
                }
                Ok(Some(s))
            }
            Op::SaveRestore { dom, paused } => {
                let mut image = Vec::new();
                let size = d.save(&uuid(dom), 0, &mut image).map_err(|e| err(&e))?;
                if size != image.len() as u64 {
                    return Err(code::ANY);
                }
                // Saved means stopped: the driver must not hold it as active.
                let between = d.status(&uuid(dom)).map_err(|e| err(&e))?;
                if between.state != SHUTOFF {
                    return Ok(Some(between));
                }
                let config = self.config(dom, true);
                let flags = if paused { wirt::driver::SAVE_PAUSED } else { 0 };
                Self::status_of(
                    self.driver
                        .restore(&config, &mut image.as_slice(), size, flags),
                )
            }
            Op::SnapshotCreate { dom, snap } => d
                .snapshot_create(&uuid(dom), &format!("s{snap}"), 0)
                .map(|()| None)
                .map_err(|e| err(&e)),
            Op::SnapshotRevert { dom, snap, state } => {
                let config = self.config(dom, state != SHUTOFF);
                Self::status_of(
                    self.driver
                        .snapshot_revert(&config, &format!("s{snap}"), state, 0),
                )
            }
            Op::SnapshotDelete { dom, snap } => d
                .snapshot_delete(&uuid(dom), &format!("s{snap}"), 0)
                .map(|()| None)
                .map_err(|e| err(&e)),
        }
    }

    fn step(&mut self, step: usize, op: &Op, after: &Model) -> Result<(), Divergence> {
        let observed = self.exec(op);
        let as_reported = |o: &Outcome<Option<DomainStatus>>, reason: bool| -> Outcome<Ret> {
            (*o).map(|s| match s {
                None => Ret::Nothing,
                Some(s) => Ret::Status(Reported {
                    state: s.state,
                    reason: reason.then_some(s.reason),
                }),
            })
        };
        // Compare reasons only where the model fixes one.
        let with_reason = !matches!(
            &after.expect,
            Ok(Ret::Status(Reported { reason: None, .. }))
        );
        check_outcome(step, &after.expect, &as_reported(&observed, with_reason))?;
        if let Ok(Some(s)) = &observed {
            check_numbers(step, "the returned status", s)?;
        }
        for dom in 0..DOMS {
            let seen = self.driver.status(&uuid(dom)).map_err(|e| {
                Divergence::new(
                    step,
                    format!("get-domain-status of c{dom}"),
                    "a status",
                    format!("error {}", err(&e)),
                )
            })?;
            check_numbers(step, "get-domain-status", &seen)?;
            let wanted = after.status(dom);
            let got = Reported {
                state: seen.state,
                reason: wanted.reason.map(|_| seen.reason),
            };
            if wanted != got {
                return Err(Divergence::new(
                    step,
                    format!("get-domain-status of c{dom}"),
                    format!("{wanted:?}"),
                    format!("{got:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// A state and reason libvirt defines.
fn check_numbers(step: usize, what: &str, s: &DomainStatus) -> Result<(), Divergence> {
    let valid = MAX_REASON
        .get(s.state as usize)
        .is_some_and(|&max| s.reason <= max);
    if valid {
        Ok(())
    } else {
        Err(Divergence::new(
            step,
            format!("{what}: libvirt numbers"),
            "a virDomainState and one of its reasons",
            format!("state {} reason {}", s.state, s.reason),
        ))
    }
}

/// Loads the plugin once per run.
fn plugin(env: &Env) -> Result<Arc<Plugin>, String> {
    use std::sync::Mutex;
    static CACHE: Mutex<Option<(std::path::PathBuf, Arc<Plugin>)>> = Mutex::new(None);
    let Target::Plugin { path, .. } = &env.target else {
        return Err("not a plugin target".into());
    };
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((p, plugin)) = cache.as_ref()
        && p == path
    {
        return Ok(plugin.clone());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let plugin = Plugin::load(&name, "0.0.0", &bytes, wirt::plugin::Limits::default())
        .map_err(|e| crate::error::chain(&e))?;
    *cache = Some((path.clone(), plugin.clone()));
    Ok(plugin)
}

impl Property for DriverContract {
    type Sut = ContractSut;
    const NAME: &'static str = "driver-contract";
    const ABOUT: &'static str =
        "the plugin's own hypervisor obligations (wit/hypervisor.wit), called directly";

    fn applies(env: &Env) -> Result<(), String> {
        match &env.target {
            Target::Plugin { .. } if env.has_hypervisor => Ok(()),
            Target::Plugin { .. } => Err("the plugin exports no hypervisor interface".into()),
            Target::Uri(_) => {
                Err("only for --plugin (a URI's driver is reached through the host)".into())
            }
        }
    }

    fn setup(env: &Env) -> Result<ContractSut, String> {
        let Target::Plugin { uri, .. } = &env.target else {
            return Err("not a plugin target".into());
        };
        let driver = WasmDriver::new(Arc::new(PluginHandle::new(plugin(env)?, None)));
        driver.open(uri).map_err(|e| crate::error::chain(&e))?;
        let caps = driver.capabilities().map_err(|e| crate::error::chain(&e))?;
        let guest = caps
            .guests
            .first()
            .map(|g| {
                (
                    g.domain_types.first().cloned().unwrap_or_default(),
                    g.os_type.clone(),
                    g.arch.clone(),
                )
            })
            .unwrap_or_default();
        Ok(ContractSut {
            driver,
            guest,
            next_id: 0,
        })
    }

    fn step(
        sut: &mut ContractSut,
        _env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        sut.step(step, op, after)
    }

    fn how(env: &Env) -> String {
        format!(
            "driver calls on a fresh instance of {} after open(): c0, c1 are UUIDs {} and {}",
            env.target.describe(),
            uuid(0),
            uuid(1)
        )
    }

    fn command(_env: &Env, op: &Op, _script: &mut Script) -> String {
        let u = |dom: u8| format!("c{dom}");
        match *op {
            Op::Start { dom, paused } => {
                format!("domain-start {} flags={}", u(dom), u32::from(paused))
            }
            Op::Status { dom } => format!("get-domain-status {}", u(dom)),
            Op::Shutdown { dom } => format!("domain-shutdown {}", u(dom)),
            Op::Reboot { dom } => format!("domain-reboot {}", u(dom)),
            Op::Reset { dom } => format!("domain-reset {}", u(dom)),
            Op::Destroy { dom } => format!("domain-destroy {}", u(dom)),
            Op::Suspend { dom } => format!("domain-suspend {}", u(dom)),
            Op::Resume { dom } => format!("domain-resume {}", u(dom)),
            Op::SetMemory { dom, kib } => format!("domain-set-memory {} {kib}", u(dom)),
            Op::SetVcpus { dom, vcpus } => format!("domain-set-vcpus {} {vcpus}", u(dom)),
            Op::SaveRestore { dom, paused } => format!(
                "domain-save {d}; domain-save-read…; domain-save-release {d}; domain-restore-begin/write…/finish {d} flags={}",
                if paused { 4 } else { 0 },
                d = u(dom)
            ),
            Op::SnapshotCreate { dom, snap } => {
                format!("domain-snapshot-create {} s{snap}", u(dom))
            }
            Op::SnapshotRevert { dom, snap, state } => {
                format!("domain-snapshot-revert {} s{snap} state={state}", u(dom))
            }
            Op::SnapshotDelete { dom, snap } => {
                format!("domain-snapshot-delete {} s{snap}", u(dom))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_both_succeeds_and_fails() {
        let seen = crate::runner::coverage::<DriverContract>(300, |s| s.expect.is_ok());
        for (kind, (ok, _)) in &seen {
            assert!(*ok > 0, "{kind} never succeeds: {seen:?}");
        }
        for kind in ["Start", "Resume", "Destroy", "Suspend", "SaveRestore"] {
            assert!(seen[kind].1 > 0, "{kind} never fails: {seen:?}");
        }
        assert_eq!(seen.len(), 14, "every call is generated: {seen:?}");
    }
}
