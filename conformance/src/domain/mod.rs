//! The domain lifecycle property: random sequences of libvirt domain
//! operations on a few name/UUID slots, checked step by step against the
//! reference model in [`model`].

pub mod libvirt;
pub mod model;
mod script;
mod sut;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use uuid::Uuid;

use crate::common::{Divergence, Script, code};
use crate::runner::Property;
use crate::target::{Env, settings};
use model::Model;

/// Name and UUID slots, snapshot names, save files.
pub const NAMES: u8 = 3;
pub const SNAPS: u8 = 2;
pub const FILES: usize = 2;

pub fn dom_name(slot: u8) -> String {
    format!("wconf-d{slot}")
}

pub fn dom_uuid(slot: u8) -> Uuid {
    Uuid::from_u128(0x7ac0_f000_0000_4000_8000_0000_0000_0d00 | u128::from(slot))
}

pub fn snap_name(slot: u8) -> String {
    format!("s{slot}")
}

/// The slot of a domain name / UUID the suite uses, if it is one.
pub fn name_slot(name: &str) -> Option<u8> {
    (0..NAMES).find(|&s| dom_name(s) == name)
}

pub fn uuid_slot(uuid: &Uuid) -> Option<u8> {
    (0..NAMES).find(|&s| dom_uuid(s) == *uuid)
}

/// libvirt's `VIR_CONNECT_LIST_DOMAINS_*` bits.
pub mod list {
    pub const ACTIVE: u32 = 1;
    pub const INACTIVE: u32 = 2;
    pub const PERSISTENT: u32 = 4;
    pub const TRANSIENT: u32 = 8;
    pub const RUNNING: u32 = 16;
    pub const PAUSED: u32 = 32;
    pub const SHUTOFF: u32 = 64;
    pub const OTHER: u32 = 128;
    pub const MANAGEDSAVE: u32 = 256;
    pub const NO_MANAGEDSAVE: u32 = 512;
    pub const AUTOSTART: u32 = 1024;
    pub const NO_AUTOSTART: u32 = 2048;
    pub const HAS_SNAPSHOT: u32 = 4096;
    pub const NO_SNAPSHOT: u32 = 8192;
    pub const HAS_CHECKPOINT: u32 = 16384;
    pub const NO_CHECKPOINT: u32 = 32768;

    /// Every single filter, and a few combinations.
    pub const FILTERS: &[u32] = &[
        0,
        ACTIVE,
        INACTIVE,
        PERSISTENT,
        TRANSIENT,
        RUNNING,
        PAUSED,
        SHUTOFF,
        OTHER,
        MANAGEDSAVE,
        NO_MANAGEDSAVE,
        AUTOSTART,
        NO_AUTOSTART,
        HAS_SNAPSHOT,
        NO_SNAPSHOT,
        HAS_CHECKPOINT,
        NO_CHECKPOINT,
        ACTIVE | INACTIVE,
        ACTIVE | PERSISTENT,
        INACTIVE | NO_MANAGEDSAVE,
        RUNNING | PAUSED,
        PERSISTENT | AUTOSTART | SHUTOFF,
        TRANSIENT | PAUSED,
    ];
}

/// Save/restore: as saved, or forced running/paused (`--running`/`--paused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Mode {
    Default,
    Running,
    Paused,
}

/// Malformed definitions and arguments (lifecycle.md, "Bad input").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BadInput {
    NotWellFormed,
    NoName,
    NoMemory,
    SlashInName,
    UnknownElementValidated,
    UnsupportedFlag,
}

impl BadInput {
    pub fn code(self) -> u32 {
        match self {
            BadInput::NotWellFormed => code::XML_DETAIL,
            BadInput::NoName => code::NO_NAME,
            BadInput::NoMemory | BadInput::SlashInName => code::XML_ERROR,
            BadInput::UnknownElementValidated => code::XML_INVALID_SCHEMA,
            BadInput::UnsupportedFlag => code::INVALID_ARG,
        }
    }
}

/// One domain operation; slots index the pools above.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Define {
        name: u8,
        uuid: u8,
        variant: u8,
    },
    Create {
        name: u8,
        uuid: u8,
        variant: u8,
        paused: bool,
    },
    Start {
        name: u8,
        paused: bool,
    },
    Shutdown {
        name: u8,
    },
    Reboot {
        name: u8,
    },
    Reset {
        name: u8,
    },
    Destroy {
        name: u8,
    },
    Suspend {
        name: u8,
    },
    Resume {
        name: u8,
    },
    Undefine {
        name: u8,
        managed_save: bool,
        snapshots_metadata: bool,
    },
    ManagedSave {
        name: u8,
    },
    ManagedSaveRemove {
        name: u8,
    },
    Save {
        name: u8,
        file: u8,
        mode: Mode,
    },
    Restore {
        file: u8,
        mode: Mode,
    },
    Autostart {
        name: u8,
        enable: bool,
    },
    /// `setmem --live` (live) or `--config`.
    SetMem {
        name: u8,
        kib: u64,
        live: bool,
    },
    SetVcpus {
        name: u8,
        count: u32,
        live: bool,
    },
    Rename {
        name: u8,
        to: u8,
    },
    SnapshotCreate {
        name: u8,
        snap: u8,
    },
    SnapshotRevert {
        name: u8,
        snap: u8,
    },
    SnapshotDelete {
        name: u8,
        snap: u8,
    },
    LookupName {
        name: u8,
    },
    LookupUuid {
        uuid: u8,
    },
    /// Look up the id of the `nth` (mod count) id handed out so far.
    LookupId {
        nth: u8,
    },
    List {
        filter: u32,
    },
    DumpXml {
        name: u8,
        inactive: bool,
    },
    BadInput {
        kind: BadInput,
    },
}

/// A name slot, mostly one that is in use: operations on missing domains
/// are checked too, but they are not where the interesting rules are.
fn name(state: &Model) -> BoxedStrategy<u8> {
    let used: Vec<u8> = state.doms.iter().map(|d| d.name).collect();
    if used.is_empty() {
        (0..NAMES).boxed()
    } else {
        prop_oneof![4 => prop::sample::select(used), 1 => 0..NAMES].boxed()
    }
}

/// A name and UUID slot: most often a matching pair, so that
/// define/redefine dominate and conflicts still happen.
fn name_and_uuid() -> BoxedStrategy<(u8, u8)> {
    (0..NAMES, 0..NAMES + 3)
        .prop_map(|(n, u)| (n, if u >= NAMES { n } else { u }))
        .boxed()
}

/// A domain and one of its snapshots, mostly an existing pair.
fn name_and_snap(state: &Model) -> BoxedStrategy<(u8, u8)> {
    let pairs: Vec<(u8, u8)> = state
        .doms
        .iter()
        .flat_map(|d| d.snapshots.iter().map(move |s| (d.name, s.name)))
        .collect();
    let any = (name(state), 0..SNAPS);
    if pairs.is_empty() {
        any.boxed()
    } else {
        prop_oneof![3 => prop::sample::select(pairs), 1 => any].boxed()
    }
}

fn mode() -> BoxedStrategy<Mode> {
    prop_oneof![
        3 => Just(Mode::Default),
        1 => Just(Mode::Running),
        1 => Just(Mode::Paused)
    ]
    .boxed()
}

fn bad_input() -> BoxedStrategy<BadInput> {
    prop_oneof![
        Just(BadInput::NotWellFormed),
        Just(BadInput::NoName),
        Just(BadInput::NoMemory),
        Just(BadInput::SlashInName),
        Just(BadInput::UnknownElementValidated),
        Just(BadInput::UnsupportedFlag),
    ]
    .boxed()
}

/// A save file, mostly one that holds an image.
fn file(state: &Model) -> BoxedStrategy<u8> {
    let saved: Vec<u8> = (0..FILES as u8)
        .filter(|&f| state.files[f as usize].is_some())
        .collect();
    if saved.is_empty() {
        (0..FILES as u8).boxed()
    } else {
        prop_oneof![4 => prop::sample::select(saved), 1 => 0..FILES as u8].boxed()
    }
}

/// The operation mix: lifecycle operations dominate.
fn op(state: &Model) -> BoxedStrategy<Op> {
    let name = || name(state);
    let mem = prop_oneof![Just(65_536u64), Just(131_072), Just(196_608), Just(393_216)];
    prop_oneof![
        4 => (name_and_uuid(), 0..3u8)
            .prop_map(|((name, uuid), variant)| Op::Define { name, uuid, variant }),
        2 => (name_and_uuid(), 0..3u8, any::<bool>()).prop_map(|((name, uuid), variant, paused)| {
            Op::Create { name, uuid, variant, paused }
        }),
        5 => (name(), prop::bool::weighted(0.25)).prop_map(|(name, paused)| Op::Start { name, paused }),
        2 => name().prop_map(|name| Op::Shutdown { name }),
        1 => name().prop_map(|name| Op::Reboot { name }),
        1 => name().prop_map(|name| Op::Reset { name }),
        3 => name().prop_map(|name| Op::Destroy { name }),
        3 => name().prop_map(|name| Op::Suspend { name }),
        3 => name().prop_map(|name| Op::Resume { name }),
        2 => (name(), any::<bool>(), any::<bool>()).prop_map(|(name, managed_save, snapshots_metadata)| {
            Op::Undefine { name, managed_save, snapshots_metadata }
        }),
        2 => name().prop_map(|name| Op::ManagedSave { name }),
        1 => name().prop_map(|name| Op::ManagedSaveRemove { name }),
        2 => (name(), 0..FILES as u8, mode()).prop_map(|(name, file, mode)| Op::Save { name, file, mode }),
        2 => (file(state), mode()).prop_map(|(file, mode)| Op::Restore { file, mode }),
        1 => (name(), any::<bool>()).prop_map(|(name, enable)| Op::Autostart { name, enable }),
        1 => (name(), mem, any::<bool>()).prop_map(|(name, kib, live)| Op::SetMem { name, kib, live }),
        1 => (name(), 1..=5u32, any::<bool>())
            .prop_map(|(name, count, live)| Op::SetVcpus { name, count, live }),
        1 => (name(), 0..NAMES).prop_map(|(name, to)| Op::Rename { name, to }),
        2 => (name(), 0..SNAPS).prop_map(|(name, snap)| Op::SnapshotCreate { name, snap }),
        2 => name_and_snap(state).prop_map(|(name, snap)| Op::SnapshotRevert { name, snap }),
        1 => name_and_snap(state).prop_map(|(name, snap)| Op::SnapshotDelete { name, snap }),
        1 => name().prop_map(|name| Op::LookupName { name }),
        1 => (0..NAMES).prop_map(|uuid| Op::LookupUuid { uuid }),
        1 => any::<u8>().prop_map(|nth| Op::LookupId { nth }),
        1 => prop::sample::select(list::FILTERS).prop_map(|filter| Op::List { filter }),
        1 => (name(), any::<bool>()).prop_map(|(name, inactive)| Op::DumpXml { name, inactive }),
        1 => bad_input().prop_map(|kind| Op::BadInput { kind }),
    ]
    .boxed()
}

/// The domain lifecycle property.
#[derive(Debug)]
pub struct DomainLifecycle;

impl ReferenceStateMachine for DomainLifecycle {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        let model = Model::new(settings().support);
        Just(model).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        op(state)
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        state.determined(op)
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.apply(op);
        state
    }
}

impl Property for DomainLifecycle {
    type Sut = sut::DomainSut;
    const NAME: &'static str = "domain-lifecycle";
    const ABOUT: &'static str =
        "domain operations vs lifecycle.md: results, states, ids, flags, lists, events";

    fn applies(env: &Env) -> Result<(), String> {
        if env.has_hypervisor {
            Ok(())
        } else {
            Err("the target serves no domains".into())
        }
    }

    fn setup(env: &Env) -> Result<sut::DomainSut, String> {
        sut::DomainSut::open(env)
    }

    fn teardown(sut: sut::DomainSut, env: &Env) {
        if env.shared() {
            sut.clean();
        }
    }

    fn step(
        sut: &mut sut::DomainSut,
        env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        sut.step(env, step, op, after)
    }

    fn command(env: &Env, op: &Op, script: &mut Script) -> String {
        script::command(env, op, script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator must reach both outcomes of (almost) every operation,
    /// or the property proves little.
    #[test]
    fn every_operation_both_succeeds_and_fails() {
        let seen = crate::runner::coverage::<DomainLifecycle>(300, |s| s.expect.is_ok());
        for (kind, (ok, err)) in &seen {
            assert!(
                *ok > 0 || kind == "BadInput",
                "{kind} never succeeds: {seen:?}"
            );
            let always_ok = ["List", "ManagedSaveRemove", "LookupId"];
            assert!(
                *err > 0 || always_ok.contains(&kind.as_str()),
                "{kind} never fails: {seen:?}"
            );
        }
        assert_eq!(seen.len(), 27, "every operation is generated: {seen:?}");
    }
}
