//! The migration property: two hosts of the target's driver, a few domain
//! slots on each, and random sequences of define, create, start, suspend,
//! resume, destroy and `migrate` (live or offline, `--persistent`,
//! `--undefinesource`) either way, checked against libvirt's rules
//! (`docs/lifecycle.md`, "Migration"): states and reasons on both hosts
//! (running: migrated at the destination, shut off: migrated at the source,
//! paused: user for a guest that left paused), persistence, errors for
//! illegal states, and the lifecycle events of each host, in order.
//!
//! It needs two hosts of one driver in one process: private test hosts
//! (`test:///PATH.xml`), each a host of its own. Other targets skip it.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use wirt::Connect;
use wirt::connect::{MigrateParams, migrate_flags as mf};
use wirt::events::EventStream;
use wirt::lifecycle::{Event, State, detail, reason};

use crate::common::{Divergence, Outcome, Script, check_field, check_outcome, code};
use crate::domain::{dom_name, dom_uuid, name_slot};
use crate::runner::Property;
use crate::target::{Env, Target};

/// Domain slots (the domain property's names and UUIDs).
pub const SLOTS: u8 = 2;
/// Hosts: 0 is A, 1 is B.
pub const HOSTS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Define {
        host: u8,
        slot: u8,
    },
    Create {
        host: u8,
        slot: u8,
    },
    Start {
        host: u8,
        slot: u8,
    },
    Suspend {
        host: u8,
        slot: u8,
    },
    Resume {
        host: u8,
        slot: u8,
    },
    Destroy {
        host: u8,
        slot: u8,
    },
    /// From `host` to the other one.
    Migrate {
        host: u8,
        slot: u8,
        offline: bool,
        persistent: bool,
        undefine_source: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Dom {
    pub persistent: bool,
    pub state: u32,
    pub reason: u32,
}

impl Dom {
    fn active(&self) -> bool {
        self.state != State::Shutoff as u32
    }
}

/// What a step emits on one host: (slot, event, detail).
pub type Events = Vec<(u8, u32, u32)>;

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub hosts: [[Option<Dom>; SLOTS as usize]; HOSTS],
    pub expect: Outcome<()>,
    pub events: [Events; HOSTS],
}

fn ev(slot: u8, (event, detail): (Event, u32)) -> (u8, u32, u32) {
    (slot, event as u32, detail)
}

impl Model {
    fn dom(&mut self, host: u8, slot: u8) -> Result<&mut Dom, u32> {
        self.hosts[host as usize][slot as usize]
            .as_mut()
            .ok_or(code::NO_DOMAIN)
    }

    fn set(&mut self, host: u8, slot: u8, state: State, reason: u32) -> Result<(), u32> {
        let d = self.dom(host, slot)?;
        d.state = state as u32;
        d.reason = reason;
        Ok(())
    }

    fn run(&mut self, op: &Op) -> Outcome<()> {
        let running = State::Running as u32;
        let paused = State::Paused as u32;
        match *op {
            Op::Define { host, slot } => {
                self.hosts[host as usize][slot as usize] = Some(Dom {
                    persistent: true,
                    state: State::Shutoff as u32,
                    reason: reason::SHUTOFF_UNKNOWN,
                });
                self.events[host as usize].push(ev(slot, (Event::Defined, detail::DEFINED_ADDED)));
            }
            Op::Create { host, slot } => {
                self.hosts[host as usize][slot as usize] = Some(Dom {
                    persistent: false,
                    state: running,
                    reason: reason::RUNNING_BOOTED,
                });
                self.events[host as usize].push(ev(slot, (Event::Started, detail::STARTED_BOOTED)));
            }
            Op::Start { host, slot } => {
                if self.dom(host, slot)?.active() {
                    return Err(code::OPERATION_INVALID);
                }
                self.set(host, slot, State::Running, reason::RUNNING_BOOTED)?;
                self.events[host as usize].push(ev(slot, (Event::Started, detail::STARTED_BOOTED)));
            }
            Op::Suspend { host, slot } => {
                let d = self.dom(host, slot)?;
                if d.state == paused {
                    return Ok(());
                }
                if d.state != running {
                    return Err(code::OPERATION_INVALID);
                }
                self.set(host, slot, State::Paused, reason::PAUSED_USER)?;
                self.events[host as usize]
                    .push(ev(slot, (Event::Suspended, detail::SUSPENDED_PAUSED)));
            }
            Op::Resume { host, slot } => {
                if self.dom(host, slot)?.state != paused {
                    return Err(code::OPERATION_INVALID);
                }
                self.set(host, slot, State::Running, reason::RUNNING_UNPAUSED)?;
                self.events[host as usize]
                    .push(ev(slot, (Event::Resumed, detail::RESUMED_UNPAUSED)));
            }
            Op::Destroy { host, slot } => {
                let d = self.dom(host, slot)?;
                if !d.active() {
                    return Err(code::OPERATION_INVALID);
                }
                let persistent = d.persistent;
                self.set(host, slot, State::Shutoff, reason::SHUTOFF_DESTROYED)?;
                if !persistent {
                    self.hosts[host as usize][slot as usize] = None;
                }
                self.events[host as usize]
                    .push(ev(slot, (Event::Stopped, detail::STOPPED_DESTROYED)));
            }
            Op::Migrate {
                host,
                slot,
                offline,
                persistent,
                undefine_source,
            } => return self.migrate(host, slot, offline, persistent, undefine_source),
        }
        Ok(())
    }

    fn migrate(
        &mut self,
        from: u8,
        slot: u8,
        offline: bool,
        persistent: bool,
        undefine_source: bool,
    ) -> Outcome<()> {
        let to = 1 - from;
        let (f, t, s) = (from as usize, to as usize, slot as usize);
        // Begin, at the source (the client looks the domain up first).
        let src = *self.dom(from, slot)?;
        if offline && !persistent {
            return Err(code::OPERATION_INVALID);
        }
        if offline && !src.persistent || !offline && !src.active() {
            return Err(code::OPERATION_INVALID);
        }
        // Prepare, at the destination: not while it runs there.
        let there = self.hosts[t][s];
        if there.is_some_and(|d| d.active()) {
            return Err(code::OPERATION_INVALID);
        }
        let defined = |updated: bool| {
            let detail = if updated {
                detail::DEFINED_UPDATED
            } else {
                detail::DEFINED_ADDED
            };
            ev(slot, (Event::Defined, detail))
        };
        if offline {
            // Only the definition moves.
            self.hosts[t][s] = Some(Dom {
                persistent: true,
                state: State::Shutoff as u32,
                reason: there.map_or(reason::SHUTOFF_UNKNOWN, |d| d.reason),
            });
            self.events[t].push(defined(there.is_some_and(|d| d.persistent)));
            if undefine_source {
                let d = self.hosts[f][s].as_mut().expect("checked");
                d.persistent = false;
                if !d.active() {
                    self.hosts[f][s] = None;
                }
                self.events[f].push(ev(slot, (Event::Undefined, detail::UNDEFINED_REMOVED)));
            }
            return Ok(());
        }
        let was_paused = src.state == State::Paused as u32;
        self.events[t].push(ev(slot, (Event::Started, detail::STARTED_MIGRATED)));
        // Perform: the source waits, paused, for the destination.
        self.events[f].push(ev(slot, (Event::Suspended, detail::SUSPENDED_MIGRATED)));
        // Finish: the domain runs (or stays paused) at the destination.
        if persistent {
            self.events[t].push(defined(there.is_some_and(|d| d.persistent)));
        }
        let (state, why, event) = if was_paused {
            (
                State::Paused,
                reason::PAUSED_USER,
                (Event::Suspended, detail::SUSPENDED_PAUSED),
            )
        } else {
            (
                State::Running,
                reason::RUNNING_MIGRATED,
                (Event::Resumed, detail::RESUMED_MIGRATED),
            )
        };
        self.hosts[t][s] = Some(Dom {
            persistent: persistent || there.is_some_and(|d| d.persistent),
            state: state as u32,
            reason: why,
        });
        self.events[t].push(ev(slot, event));
        // Confirm: gone from the source (shut off: migrated if defined).
        self.events[f].push(ev(slot, (Event::Stopped, detail::STOPPED_MIGRATED)));
        if src.persistent && undefine_source {
            self.events[f].push(ev(slot, (Event::Undefined, detail::UNDEFINED_REMOVED)));
        }
        self.hosts[f][s] = (src.persistent && !undefine_source).then_some(Dom {
            persistent: true,
            state: State::Shutoff as u32,
            reason: reason::SHUTOFF_MIGRATED,
        });
        Ok(())
    }
}

fn op() -> BoxedStrategy<Op> {
    let at = || (0..HOSTS as u8, 0..SLOTS);
    prop_oneof![
        2 => at().prop_map(|(host, slot)| Op::Define { host, slot }),
        2 => at().prop_map(|(host, slot)| Op::Create { host, slot }),
        2 => at().prop_map(|(host, slot)| Op::Start { host, slot }),
        1 => at().prop_map(|(host, slot)| Op::Suspend { host, slot }),
        1 => at().prop_map(|(host, slot)| Op::Resume { host, slot }),
        1 => at().prop_map(|(host, slot)| Op::Destroy { host, slot }),
        5 => (at(), prop::bool::weighted(0.2), any::<bool>(), any::<bool>()).prop_map(
            |((host, slot), offline, persistent, undefine_source)| Op::Migrate {
                host,
                slot,
                offline,
                persistent,
                undefine_source,
            }
        ),
    ]
    .boxed()
}

#[derive(Debug)]
pub struct Migration;

impl ReferenceStateMachine for Migration {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            hosts: [[None; SLOTS as usize]; HOSTS],
            expect: Ok(()),
            events: Default::default(),
        })
        .boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Op> {
        op()
    }

    /// Define and create only make new domains here: what they do to an
    /// existing one is the domain property's business.
    fn preconditions(state: &Model, op: &Op) -> bool {
        match *op {
            Op::Define { host, slot } | Op::Create { host, slot } => {
                state.hosts[host as usize][slot as usize].is_none()
            }
            _ => true,
        }
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.events = Default::default();
        state.expect = state.run(op);
        state
    }
}

fn dom_xml(env: &Env, slot: u8) -> String {
    format!(
        "<domain type='{}'><name>{}</name><uuid>{}</uuid><memory unit='MiB'>64</memory>\
         <vcpu>1</vcpu><os><type>{}</type></os></domain>",
        env.domain_type,
        dom_name(slot),
        dom_uuid(slot),
        env.os_type
    )
}

/// Two private hosts and their event streams.
pub struct MigrationSut {
    _dir: tempfile::TempDir,
    conns: [Connect; HOSTS],
    events: [EventStream; HOSTS],
}

fn flags_of(offline: bool, persistent: bool, undefine_source: bool) -> u32 {
    let mut flags = if offline { mf::OFFLINE } else { mf::LIVE };
    if persistent {
        flags |= mf::PERSIST_DEST;
    }
    if undefine_source {
        flags |= mf::UNDEFINE_SOURCE;
    }
    flags
}

impl MigrationSut {
    fn exec(&self, env: &Env, op: &Op) -> Outcome<()> {
        let err = |e: wirt::Error| e.code().0;
        let conn = |host: u8| &self.conns[host as usize];
        let lookup = |host: u8, slot: u8| conn(host).lookup_domain_by_name(&dom_name(slot));
        match *op {
            Op::Define { host, slot } => conn(host)
                .define_domain_xml(&dom_xml(env, slot), 0)
                .map(|_| ()),
            Op::Create { host, slot } => conn(host)
                .create_domain_xml(&dom_xml(env, slot), 0)
                .map(|_| ()),
            Op::Start { host, slot } => lookup(host, slot).and_then(|d| d.start(0)),
            Op::Suspend { host, slot } => lookup(host, slot).and_then(|d| d.suspend()),
            Op::Resume { host, slot } => lookup(host, slot).and_then(|d| d.resume()),
            Op::Destroy { host, slot } => lookup(host, slot).and_then(|d| d.destroy()),
            Op::Migrate {
                host,
                slot,
                offline,
                persistent,
                undefine_source,
            } => lookup(host, slot).and_then(|d| {
                d.migrate(
                    conn(1 - host),
                    &MigrateParams::default(),
                    flags_of(offline, persistent, undefine_source),
                )
                .map(|_| ())
            }),
        }
        .map_err(err)
    }

    fn compare(&self, step: usize, model: &Model) -> Result<(), Divergence> {
        for host in 0..HOSTS {
            for slot in 0..SLOTS {
                let name = dom_name(slot);
                let expected = model.hosts[host][slot as usize];
                let found = self.conns[host].lookup_domain_by_name(&name).ok();
                let what = |w: &str| format!("{w} of {name} on host {}", host_name(host));
                check_field(
                    step,
                    || what("existence"),
                    &expected.is_some(),
                    &found.is_some(),
                )?;
                let (Some(d), Some(found)) = (expected, found) else {
                    continue;
                };
                let answer = |w: &str, e: wirt::Error| {
                    Divergence::new(step, what(w), "an answer", format!("error {e}"))
                };
                let (state, why) = found.state().map_err(|e| answer("state", e))?;
                check_field(
                    step,
                    || what("state and reason"),
                    &(d.state, d.reason),
                    &(state as u32, why),
                )?;
                let persistent = found
                    .is_persistent()
                    .map_err(|e| answer("persistence", e))?;
                check_field(step, || what("persistence"), &d.persistent, &persistent)?;
            }
            let seen: Events = self.events[host]
                .drain()
                .into_iter()
                .filter_map(|e| Some((name_slot(&e.name)?, e.event as u32, e.detail)))
                .collect();
            check_field(
                step,
                || format!("events on host {} (slot, event, detail)", host_name(host)),
                &model.events[host],
                &seen,
            )?;
        }
        Ok(())
    }
}

fn host_name(host: usize) -> &'static str {
    ["A", "B"][host]
}

impl Property for Migration {
    type Sut = MigrationSut;
    const NAME: &'static str = "migration";
    const ABOUT: &'static str = "migrations between two hosts of the driver: states, reasons, persistence, errors and events of both";
    const MAX_STEPS: usize = 24;

    fn applies(env: &Env) -> Result<(), String> {
        match &env.target {
            Target::Uri(uri) if uri.starts_with("test:") && !env.shared() => Ok(()),
            _ => Err("needs two private hosts of the driver in one process: test: URIs".into()),
        }
    }

    fn setup(_env: &Env) -> Result<MigrationSut, String> {
        let dir = tempfile::Builder::new()
            .prefix("wirt-conformance-migration-")
            .tempdir()
            .map_err(|e| format!("cannot make the hosts' directory: {e}"))?;
        let uri = |h: &str| -> Result<String, String> {
            let node: PathBuf = dir.path().join(format!("{h}.xml"));
            std::fs::write(&node, "<node/>\n").map_err(|e| format!("cannot write {h}: {e}"))?;
            Ok(format!("test://{}", node.display()))
        };
        let uris = [uri("a")?, uri("b")?];
        let open = |u: &str| Connect::open(u).map_err(|e| format!("cannot open {u}: {e}"));
        let conns = [open(&uris[0])?, open(&uris[1])?];
        let events = [conns[0].events(), conns[1].events()];
        Ok(MigrationSut {
            _dir: dir,
            conns,
            events,
        })
    }

    fn step(
        sut: &mut MigrationSut,
        env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        let observed = sut.exec(env, op);
        check_outcome(step, &after.expect, &observed)?;
        sut.compare(step, after)
    }

    fn command(env: &Env, op: &Op, script: &mut Script) -> String {
        let uri = |host: u8| format!("$HOST_{}", host_name(host as usize));
        let file = |script: &mut Script, slot: u8| {
            script.file(format!("{}.xml", dom_name(slot)), dom_xml(env, slot))
        };
        match *op {
            Op::Define { host, slot } => {
                let f = file(script, slot);
                format!("wirt -c {} define {f}", uri(host))
            }
            Op::Create { host, slot } => {
                let f = file(script, slot);
                format!("wirt -c {} create {f}", uri(host))
            }
            Op::Start { host, slot } => format!("wirt -c {} start {}", uri(host), dom_name(slot)),
            Op::Suspend { host, slot } => {
                format!("wirt -c {} suspend {}", uri(host), dom_name(slot))
            }
            Op::Resume { host, slot } => format!("wirt -c {} resume {}", uri(host), dom_name(slot)),
            Op::Destroy { host, slot } => {
                format!("wirt -c {} destroy {}", uri(host), dom_name(slot))
            }
            Op::Migrate {
                host,
                slot,
                offline,
                persistent,
                undefine_source,
            } => {
                let mut opts = String::from(if offline { "--offline" } else { "--live" });
                if persistent {
                    opts += " --persistent";
                }
                if undefine_source {
                    opts += " --undefinesource";
                }
                format!(
                    "wirt -c {} migrate {opts} {} {}",
                    uri(host),
                    dom_name(slot),
                    uri(1 - host)
                )
            }
        }
    }

    fn how(_env: &Env) -> String {
        "two private test hosts: HOST_A=test:///tmp/a.xml HOST_B=test:///tmp/b.xml (each an empty <node/>), \
         one process (wirt's shell), as the suite runs them"
            .into()
    }
}
