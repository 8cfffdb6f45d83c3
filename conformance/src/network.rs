//! The network property: define, create (transient), start, destroy,
//! undefine, autostart and list filters, with libvirt's rules and errors.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use uuid::Uuid;
use wirt::{Connect, Network};

use crate::common::{
    Divergence, Outcome, Script, check_field, check_outcome, code, filter_groups_match,
};
use crate::runner::Property;
use crate::target::Env;

pub const NETS: u8 = 2;

pub fn net_name(slot: u8) -> String {
    format!("wconf-n{slot}")
}

pub fn net_uuid(slot: u8) -> Uuid {
    Uuid::from_u128(0x7ac0_f000_0000_4000_8000_0000_0000_0f00 | u128::from(slot))
}

/// libvirt's `VIR_CONNECT_LIST_NETWORKS_*` bits.
pub mod list {
    pub const INACTIVE: u32 = 1;
    pub const ACTIVE: u32 = 2;
    pub const PERSISTENT: u32 = 4;
    pub const TRANSIENT: u32 = 8;
    pub const AUTOSTART: u32 = 16;
    pub const NO_AUTOSTART: u32 = 32;
    pub const FILTERS: &[u32] = &[
        0,
        INACTIVE,
        ACTIVE,
        PERSISTENT,
        TRANSIENT,
        AUTOSTART,
        NO_AUTOSTART,
        ACTIVE | PERSISTENT,
        ACTIVE | TRANSIENT,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Define {
        net: u8,
    },
    /// `net`'s name with `uuid_of`'s UUID (generated when one exists).
    DefineConflict {
        net: u8,
        uuid_of: u8,
    },
    Create {
        net: u8,
    },
    Start {
        net: u8,
    },
    Destroy {
        net: u8,
    },
    Undefine {
        net: u8,
    },
    Autostart {
        net: u8,
        enable: bool,
    },
    List {
        filter: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Net {
    pub persistent: bool,
    pub active: bool,
    pub autostart: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub nets: Vec<Option<Net>>,
    pub expect: Outcome<Vec<u8>>,
}

impl Model {
    fn net(&mut self, slot: u8) -> Result<&mut Net, u32> {
        self.nets[slot as usize].as_mut().ok_or(code::NO_NETWORK)
    }

    fn run(&mut self, op: &Op) -> Outcome<Vec<u8>> {
        match *op {
            Op::Define { net } => {
                let slot = &mut self.nets[net as usize];
                match slot {
                    // A transient network becomes persistent.
                    Some(n) => n.persistent = true,
                    None => {
                        *slot = Some(Net {
                            persistent: true,
                            active: false,
                            autostart: false,
                        })
                    }
                }
                Ok(Vec::new())
            }
            Op::DefineConflict { .. } => Err(code::OPERATION_FAILED),
            Op::Create { net } => {
                let slot = &mut self.nets[net as usize];
                match slot {
                    Some(n) if n.active => return Err(code::OPERATION_INVALID),
                    Some(n) => n.active = true,
                    None => {
                        *slot = Some(Net {
                            persistent: false,
                            active: true,
                            autostart: false,
                        })
                    }
                }
                Ok(Vec::new())
            }
            Op::Start { net } => {
                let n = self.net(net)?;
                if n.active {
                    return Err(code::OPERATION_INVALID);
                }
                n.active = true;
                Ok(Vec::new())
            }
            Op::Destroy { net } => {
                let n = self.net(net)?;
                if !n.active {
                    return Err(code::OPERATION_INVALID);
                }
                n.active = false;
                if !n.persistent {
                    self.nets[net as usize] = None;
                }
                Ok(Vec::new())
            }
            Op::Undefine { net } => {
                let n = self.net(net)?;
                if !n.persistent {
                    return Err(code::OPERATION_INVALID);
                }
                n.persistent = false;
                n.autostart = false;
                if !n.active {
                    self.nets[net as usize] = None;
                }
                Ok(Vec::new())
            }
            Op::Autostart { net, enable } => {
                let n = self.net(net)?;
                if !n.persistent {
                    return Err(code::OPERATION_INVALID);
                }
                n.autostart = enable;
                Ok(Vec::new())
            }
            Op::List { filter } => Ok((0..NETS)
                .filter(|&s| {
                    self.nets[s as usize].as_ref().is_some_and(|n| {
                        filter_groups_match(
                            filter,
                            &[
                                (
                                    list::ACTIVE | list::INACTIVE,
                                    if n.active {
                                        list::ACTIVE
                                    } else {
                                        list::INACTIVE
                                    },
                                ),
                                (
                                    list::PERSISTENT | list::TRANSIENT,
                                    if n.persistent {
                                        list::PERSISTENT
                                    } else {
                                        list::TRANSIENT
                                    },
                                ),
                                (
                                    list::AUTOSTART | list::NO_AUTOSTART,
                                    if n.autostart {
                                        list::AUTOSTART
                                    } else {
                                        list::NO_AUTOSTART
                                    },
                                ),
                            ],
                        )
                    })
                })
                .collect()),
        }
    }
}

fn op() -> BoxedStrategy<Op> {
    let net = || (0..NETS).boxed();
    prop_oneof![
        3 => net().prop_map(|net| Op::Define { net }),
        1 => (net(), net()).prop_map(|(net, uuid_of)| Op::DefineConflict { net, uuid_of }),
        2 => net().prop_map(|net| Op::Create { net }),
        3 => net().prop_map(|net| Op::Start { net }),
        2 => net().prop_map(|net| Op::Destroy { net }),
        2 => net().prop_map(|net| Op::Undefine { net }),
        1 => (net(), any::<bool>()).prop_map(|(net, enable)| Op::Autostart { net, enable }),
        1 => prop::sample::select(list::FILTERS).prop_map(|filter| Op::List { filter }),
    ]
    .boxed()
}

#[derive(Debug)]
pub struct Networks;

impl ReferenceStateMachine for Networks {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            nets: vec![None; NETS as usize],
            expect: Ok(Vec::new()),
        })
        .boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Op> {
        op()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        match *op {
            Op::DefineConflict { net, uuid_of } => {
                net != uuid_of
                    && (state.nets[net as usize].is_some()
                        || state.nets[uuid_of as usize].is_some())
            }
            _ => true,
        }
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.expect = state.run(op);
        state
    }
}

fn net_xml(name: u8, uuid: u8) -> String {
    format!(
        "<network>\n  <name>{}</name>\n  <uuid>{}</uuid>\n  <bridge name='virbr-wc{name}'/>\n</network>\n",
        net_name(name),
        net_uuid(uuid)
    )
}

/// Removes the suite's networks from a shared host.
fn clean(conn: &Connect) {
    for slot in 0..NETS {
        if let Ok(n) = conn.lookup_network_by_name(&net_name(slot)) {
            let _ = n.destroy();
            let _ = n.undefine();
        }
    }
}

pub struct NetworkSut {
    conn: Connect,
}

fn err(e: &wirt::Error) -> u32 {
    e.code().0
}

impl NetworkSut {
    fn net(&self, slot: u8) -> Result<Network, u32> {
        self.conn
            .lookup_network_by_name(&net_name(slot))
            .map_err(|e| err(&e))
    }

    fn exec(&self, op: &Op) -> Outcome<Vec<u8>> {
        let none = |r: wirt::connect::Result<()>| r.map(|()| Vec::new()).map_err(|e| err(&e));
        match *op {
            Op::Define { net } => {
                none(self.conn.define_network_xml(&net_xml(net, net)).map(|_| ()))
            }
            Op::DefineConflict { net, uuid_of } => none(
                self.conn
                    .define_network_xml(&net_xml(net, uuid_of))
                    .map(|_| ()),
            ),
            Op::Create { net } => {
                none(self.conn.create_network_xml(&net_xml(net, net)).map(|_| ()))
            }
            Op::Start { net } => none(self.net(net)?.start()),
            Op::Destroy { net } => none(self.net(net)?.destroy()),
            Op::Undefine { net } => none(self.net(net)?.undefine()),
            Op::Autostart { net, enable } => none(self.net(net)?.set_autostart(enable)),
            Op::List { filter } => Ok(self
                .conn
                .list_all_networks(filter)
                .map_err(|e| err(&e))?
                .iter()
                .filter_map(|n| (0..NETS).find(|&s| net_name(s) == n.name()))
                .collect()),
        }
    }

    fn compare(&self, step: usize, model: &Model) -> Result<(), Divergence> {
        for slot in 0..NETS {
            let name = net_name(slot);
            let expected = &model.nets[slot as usize];
            let found = self.conn.lookup_network_by_name(&name).ok();
            check_field(
                step,
                || format!("network {name} exists"),
                &expected.is_some(),
                &found.is_some(),
            )?;
            let (Some(n), Some(found)) = (expected, found) else {
                continue;
            };
            let answer = |what: &str, e: wirt::Error| {
                Divergence::new(
                    step,
                    format!("{what} of {name}"),
                    "an answer",
                    e.to_string(),
                )
            };
            let seen = Net {
                persistent: found
                    .is_persistent()
                    .map_err(|e| answer("persistence", e))?,
                active: found.is_active().map_err(|e| answer("state", e))?,
                autostart: found.autostart().map_err(|e| answer("autostart", e))?,
            };
            check_field(step, || format!("network {name}"), n, &seen)?;
        }
        Ok(())
    }
}

impl Property for Networks {
    type Sut = NetworkSut;
    const NAME: &'static str = "network";
    const ABOUT: &'static str =
        "virtual networks: define/create/start/destroy/undefine, autostart, list filters";

    fn applies(env: &Env) -> Result<(), String> {
        if env.has_network {
            Ok(())
        } else {
            Err("the target serves no networks".into())
        }
    }

    fn setup(env: &Env) -> Result<NetworkSut, String> {
        let conn = env.connect().map_err(|e| crate::error::chain(&e))?;
        if env.shared() {
            clean(&conn);
        }
        Ok(NetworkSut { conn })
    }

    fn teardown(sut: NetworkSut, env: &Env) {
        if env.shared() {
            clean(&sut.conn);
        }
    }

    fn step(
        sut: &mut NetworkSut,
        _env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        let observed = sut.exec(op);
        check_outcome(step, &after.expect, &observed)?;
        sut.compare(step, after)
    }

    fn command(_env: &Env, op: &Op, script: &mut Script) -> String {
        let n = net_name;
        match *op {
            Op::Define { net } => {
                let file = script.file(format!("{}.xml", n(net)), net_xml(net, net));
                format!("net-define {file}")
            }
            Op::DefineConflict { net, uuid_of } => {
                let file = script.file(
                    format!("{}.uuid-of-{}.xml", n(net), n(uuid_of)),
                    net_xml(net, uuid_of),
                );
                format!("net-define {file}")
            }
            Op::Create { net } => {
                let file = script.file(format!("{}.xml", n(net)), net_xml(net, net));
                format!("net-create {file}")
            }
            Op::Start { net } => format!("net-start {}", n(net)),
            Op::Destroy { net } => format!("net-destroy {}", n(net)),
            Op::Undefine { net } => format!("net-undefine {}", n(net)),
            Op::Autostart { net, enable } => format!(
                "net-autostart {}{}",
                n(net),
                if enable { "" } else { " --disable" }
            ),
            Op::List { filter } => {
                let mut words = vec!["net-list".to_string()];
                match filter & (list::ACTIVE | list::INACTIVE) {
                    list::ACTIVE => {}
                    list::INACTIVE => words.push("--inactive".into()),
                    _ => words.push("--all".into()),
                }
                for (bit, flag) in [
                    (list::PERSISTENT, "--persistent"),
                    (list::TRANSIENT, "--transient"),
                    (list::AUTOSTART, "--autostart"),
                    (list::NO_AUTOSTART, "--no-autostart"),
                ] {
                    if filter & bit != 0 {
                        words.push(flag.into());
                    }
                }
                words.join(" ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_both_succeeds_and_fails() {
        let seen = crate::runner::coverage::<Networks>(300, |s| s.expect.is_ok());
        for (kind, (ok, err)) in &seen {
            assert!(
                *ok > 0 || kind == "DefineConflict",
                "{kind} never succeeds: {seen:?}"
            );
            let always_ok = ["Define", "List"];
            assert!(
                *err > 0 || always_ok.contains(&kind.as_str()),
                "{kind} never fails: {seen:?}"
            );
        }
        assert_eq!(seen.len(), 8, "every operation is generated: {seen:?}");
    }
}
