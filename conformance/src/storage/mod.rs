//! The storage property: pools (define, build, start, destroy, undefine,
//! refresh, delete, autostart) and their volumes (create, delete, resize,
//! wipe, upload/download round trips) against the URI's storage, with
//! libvirt's rules and error classes.
//!
//! Volume contents are modelled byte for byte; a volume's content outlives
//! its pool's definition, as files outlive a `dir` pool's.

mod sut;

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use uuid::Uuid;

use crate::common::{Divergence, Outcome, Script, code};
use crate::runner::Property;
use crate::target::{Env, settings};

pub const POOLS: u8 = 2;
pub const VOLS: u8 = 3;
/// Allocation granularity assumed for real file systems (generous).
const BLOCK: u64 = 64 * 1024;

pub fn pool_name(slot: u8) -> String {
    format!("wconf-p{slot}")
}

pub fn pool_uuid(slot: u8) -> Uuid {
    Uuid::from_u128(0x7ac0_f000_0000_4000_8000_0000_0000_0e00 | u128::from(slot))
}

pub fn vol_name(slot: u8) -> String {
    format!("v{slot}")
}

/// libvirt's `VIR_CONNECT_LIST_STORAGE_POOLS_*` bits.
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
        ACTIVE | AUTOSTART,
        INACTIVE | NO_AUTOSTART,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    PoolDefine {
        pool: u8,
    },
    /// Define with `pool`'s name and `uuid_of`'s UUID (generated only when
    /// one of them exists, so it must fail).
    PoolDefineConflict {
        pool: u8,
        uuid_of: u8,
    },
    PoolBuild {
        pool: u8,
    },
    PoolStart {
        pool: u8,
    },
    PoolDestroy {
        pool: u8,
    },
    PoolUndefine {
        pool: u8,
    },
    PoolRefresh {
        pool: u8,
    },
    PoolDelete {
        pool: u8,
    },
    PoolAutostart {
        pool: u8,
        enable: bool,
    },
    PoolList {
        filter: u32,
    },
    VolCreate {
        pool: u8,
        vol: u8,
        capacity: u64,
        allocation: u64,
    },
    VolDelete {
        pool: u8,
        vol: u8,
    },
    VolResize {
        pool: u8,
        vol: u8,
        capacity: u64,
        shrink: bool,
    },
    VolWipe {
        pool: u8,
        vol: u8,
    },
    /// Upload `len` bytes of pattern `seed` at `offset`.
    VolUpload {
        pool: u8,
        vol: u8,
        offset: u64,
        len: u32,
        seed: u8,
    },
    VolDownload {
        pool: u8,
        vol: u8,
        offset: u64,
        len: u32,
    },
    VolInfo {
        pool: u8,
        vol: u8,
    },
}

/// Printable upload data, so a reproduction script can carry it as text.
pub fn pattern(seed: u8, len: u32) -> Vec<u8> {
    (0..len as usize)
        .map(|i| b'a' + ((usize::from(seed) + i * 7) % 26) as u8)
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Vol {
    pub capacity: u64,
    pub allocation: u64,
    /// At most what a real file system can report as allocated (data
    /// written, rounded up to 64 KiB; a wipe writes every byte).
    pub alloc_bound: u64,
    /// Content up to the last byte written; the rest reads as zeros.
    #[serde(skip)]
    pub data: Arc<Vec<u8>>,
}

impl Vol {
    fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        let end = offset.saturating_add(len).min(self.capacity);
        (offset..end)
            .map(|i| self.data.get(i as usize).copied().unwrap_or(0))
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolObj {
    pub active: bool,
    pub autostart: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// The pool's definition, when defined.
    pub pool: Option<PoolObj>,
    /// Its target directory exists.
    pub built: bool,
    pub vols: BTreeMap<u8, Vol>,
}

/// An operation's value.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub enum Value {
    None,
    Names(Vec<u8>),
    Bytes(Vec<u8>),
    /// Capacity, and allocation when the target reports it exactly.
    Info(u64, Option<u64>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::None => write!(f, "-"),
            Value::Names(n) => {
                let n: Vec<String> = n.iter().map(|&p| pool_name(p)).collect();
                write!(f, "[{}]", n.join(", "))
            }
            Value::Bytes(b) => {
                // A digest: the bytes themselves can be megabytes.
                let zeros = b.iter().filter(|&&x| x == 0).count();
                let sum = b
                    .iter()
                    .fold(0u64, |h, &x| h.wrapping_mul(31).wrapping_add(u64::from(x)));
                write!(f, "{} bytes ({} zero, digest {:016x})", b.len(), zeros, sum)
            }
            Value::Info(c, a) => write!(f, "capacity {c}, allocation {a:?}"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub build_required: bool,
    pub exact_allocation: bool,
    pub slots: Vec<Slot>,
    pub expect: Outcome<Value>,
}

impl Model {
    fn new() -> Self {
        let s = settings();
        Model {
            build_required: s.pool_build_required,
            exact_allocation: s.exact_allocation,
            slots: vec![Slot::default(); POOLS as usize],
            expect: Ok(Value::None),
        }
    }

    fn defined(&self, pool: u8) -> Result<&PoolObj, u32> {
        self.slots[pool as usize]
            .pool
            .as_ref()
            .ok_or(code::NO_STORAGE_POOL)
    }

    /// The volumes of an active pool.
    fn active_vols(&mut self, pool: u8) -> Result<&mut BTreeMap<u8, Vol>, u32> {
        if !self.defined(pool)?.active {
            return Err(code::OPERATION_INVALID);
        }
        Ok(&mut self.slots[pool as usize].vols)
    }

    fn vol(&mut self, pool: u8, vol: u8) -> Result<&mut Vol, u32> {
        self.active_vols(pool)?
            .get_mut(&vol)
            .ok_or(code::NO_STORAGE_VOL)
    }

    /// Whether the rules fix the outcome (see README, "Not checked").
    fn determined(&self, op: &Op) -> bool {
        match *op {
            Op::PoolDefineConflict { pool, uuid_of } => {
                pool != uuid_of
                    && (self.slots[pool as usize].pool.is_some()
                        || self.slots[uuid_of as usize].pool.is_some())
            }
            // Where allocation is the file system's, a resize below what it
            // may have allocated fails or not depending on it (unless it
            // fails anyway: a shrink without --shrink).
            Op::VolResize {
                pool,
                vol,
                capacity,
                shrink,
            } if !self.exact_allocation => self.slots[pool as usize]
                .vols
                .get(&vol)
                .is_none_or(|v| capacity >= v.alloc_bound || (capacity < v.capacity && !shrink)),
            // Starting an unbuilt pool fails with a driver-specific error
            // and is not worth a rule of its own.
            Op::PoolStart { pool } => {
                let s = &self.slots[pool as usize];
                !(self.build_required && !s.built && s.pool.as_ref().is_some_and(|p| !p.active))
            }
            _ => true,
        }
    }

    fn run(&mut self, op: &Op) -> Outcome<Value> {
        match *op {
            Op::PoolDefine { pool } => {
                let slot = &mut self.slots[pool as usize];
                if slot.pool.is_none() {
                    slot.pool = Some(PoolObj {
                        active: false,
                        autostart: false,
                    });
                }
                Ok(Value::None)
            }
            Op::PoolDefineConflict { .. } => Err(code::OPERATION_FAILED),
            Op::PoolBuild { pool } => {
                if self.defined(pool)?.active {
                    return Err(code::OPERATION_INVALID);
                }
                self.slots[pool as usize].built = true;
                Ok(Value::None)
            }
            Op::PoolStart { pool } => {
                if self.defined(pool)?.active {
                    return Err(code::OPERATION_INVALID);
                }
                self.slots[pool as usize]
                    .pool
                    .as_mut()
                    .expect("defined")
                    .active = true;
                Ok(Value::None)
            }
            Op::PoolDestroy { pool } => {
                if !self.defined(pool)?.active {
                    return Err(code::OPERATION_INVALID);
                }
                self.slots[pool as usize]
                    .pool
                    .as_mut()
                    .expect("defined")
                    .active = false;
                Ok(Value::None)
            }
            Op::PoolUndefine { pool } => {
                if self.defined(pool)?.active {
                    return Err(code::OPERATION_INVALID);
                }
                self.slots[pool as usize].pool = None;
                Ok(Value::None)
            }
            Op::PoolRefresh { pool } => self.active_vols(pool).map(|_| Value::None),
            Op::PoolDelete { pool } => {
                if self.defined(pool)?.active {
                    return Err(code::OPERATION_INVALID);
                }
                let slot = &mut self.slots[pool as usize];
                if !slot.vols.is_empty() || (self.build_required && !slot.built) {
                    return Err(code::ANY);
                }
                slot.built = false;
                Ok(Value::None)
            }
            Op::PoolAutostart { pool, enable } => {
                self.defined(pool)?;
                self.slots[pool as usize]
                    .pool
                    .as_mut()
                    .expect("defined")
                    .autostart = enable;
                Ok(Value::None)
            }
            Op::PoolList { filter } => {
                use crate::common::filter_groups_match;
                let names = (0..POOLS)
                    .filter(|&p| {
                        self.slots[p as usize].pool.as_ref().is_some_and(|o| {
                            filter_groups_match(
                                filter,
                                &[
                                    (
                                        list::ACTIVE | list::INACTIVE,
                                        if o.active {
                                            list::ACTIVE
                                        } else {
                                            list::INACTIVE
                                        },
                                    ),
                                    (list::PERSISTENT | list::TRANSIENT, list::PERSISTENT),
                                    (
                                        list::AUTOSTART | list::NO_AUTOSTART,
                                        if o.autostart {
                                            list::AUTOSTART
                                        } else {
                                            list::NO_AUTOSTART
                                        },
                                    ),
                                ],
                            )
                        })
                    })
                    .collect();
                Ok(Value::Names(names))
            }
            Op::VolCreate {
                pool,
                vol,
                capacity,
                allocation,
            } => {
                let vols = self.active_vols(pool)?;
                if vols.contains_key(&vol) {
                    return Err(code::STORAGE_VOL_EXIST);
                }
                if allocation > capacity {
                    return Err(code::INVALID_ARG);
                }
                vols.insert(
                    vol,
                    Vol {
                        capacity,
                        allocation,
                        alloc_bound: allocation.next_multiple_of(BLOCK),
                        data: Arc::new(Vec::new()),
                    },
                );
                Ok(Value::None)
            }
            Op::VolDelete { pool, vol } => {
                self.vol(pool, vol)?;
                self.slots[pool as usize].vols.remove(&vol);
                Ok(Value::None)
            }
            Op::VolResize {
                pool,
                vol,
                capacity,
                shrink,
            } => {
                let v = self.vol(pool, vol)?;
                if capacity < v.allocation || (capacity < v.capacity && !shrink) {
                    return Err(code::INVALID_ARG);
                }
                // A shrink drops the tail: growing again reads zeros.
                if (capacity as usize) < v.data.len() {
                    Arc::make_mut(&mut v.data).truncate(capacity as usize);
                }
                v.capacity = capacity;
                v.alloc_bound = v.alloc_bound.min(capacity.next_multiple_of(BLOCK));
                Ok(Value::None)
            }
            Op::VolWipe { pool, vol } => {
                let v = self.vol(pool, vol)?;
                v.data = Arc::new(Vec::new());
                v.alloc_bound = v.alloc_bound.max(v.capacity.next_multiple_of(BLOCK));
                Ok(Value::None)
            }
            Op::VolUpload {
                pool,
                vol,
                offset,
                len,
                seed,
            } => {
                let v = self.vol(pool, vol)?;
                if offset.saturating_add(u64::from(len)) > v.capacity {
                    return Err(code::INVALID_ARG);
                }
                let data = Arc::make_mut(&mut v.data);
                let end = offset as usize + len as usize;
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[offset as usize..end].copy_from_slice(&pattern(seed, len));
                v.alloc_bound = v.alloc_bound.max((end as u64).next_multiple_of(BLOCK));
                Ok(Value::None)
            }
            Op::VolDownload {
                pool,
                vol,
                offset,
                len,
            } => {
                let v = self.vol(pool, vol)?;
                if offset > v.capacity {
                    return Err(code::INVALID_ARG);
                }
                Ok(Value::Bytes(v.read(offset, u64::from(len))))
            }
            Op::VolInfo { pool, vol } => {
                let exact = self.exact_allocation;
                let v = self.vol(pool, vol)?;
                Ok(Value::Info(v.capacity, exact.then_some(v.allocation)))
            }
        }
    }
}

fn pool_slot() -> BoxedStrategy<u8> {
    (0..POOLS).boxed()
}

fn active_pools(state: &Model) -> Vec<u8> {
    (0..POOLS)
        .filter(|&p| {
            state.slots[p as usize]
                .pool
                .as_ref()
                .is_some_and(|o| o.active)
        })
        .collect()
}

/// A pool for a volume operation, mostly an active one.
fn vol_pool(state: &Model) -> BoxedStrategy<u8> {
    let active = active_pools(state);
    if active.is_empty() {
        pool_slot()
    } else {
        prop_oneof![4 => prop::sample::select(active), 1 => pool_slot()].boxed()
    }
}

/// A pool and volume slot, mostly an existing volume of an active pool.
fn pool_and_vol(state: &Model) -> BoxedStrategy<(u8, u8)> {
    let existing: Vec<(u8, u8)> = active_pools(state)
        .into_iter()
        .flat_map(|p| state.slots[p as usize].vols.keys().map(move |&v| (p, v)))
        .collect();
    let any = (vol_pool(state), 0..VOLS);
    if existing.is_empty() {
        any.boxed()
    } else {
        prop_oneof![6 => prop::sample::select(existing), 1 => any].boxed()
    }
}

fn capacity() -> BoxedStrategy<u64> {
    prop_oneof![
        1 => Just(0u64),
        2 => Just(4096),
        3 => Just(65_536),
        2 => Just(100_000),
        2 => Just(1 << 20),
    ]
    .boxed()
}

/// A volume and an offset, mostly within its capacity (as the model knows it).
fn vol_and_offset(state: &Model) -> BoxedStrategy<((u8, u8), u64)> {
    let capacities: BTreeMap<(u8, u8), u64> = (0..POOLS)
        .flat_map(|p| {
            state.slots[p as usize]
                .vols
                .iter()
                .map(move |(&v, vol)| ((p, v), vol.capacity))
        })
        .collect();
    pool_and_vol(state)
        .prop_flat_map(move |pv| {
            let cap = capacities.get(&pv).copied().unwrap_or(65_536);
            (Just(pv), prop_oneof![4 => 0..=cap, 1 => 0..cap + 8192])
        })
        .boxed()
}

fn op(state: &Model) -> BoxedStrategy<Op> {
    let pv = || pool_and_vol(state);
    // Until a pool is active, get one going; then mostly work on volumes.
    let (p, v) = if active_pools(state).is_empty() {
        (3, 1)
    } else {
        (1, 3)
    };
    prop_oneof![
        3 * p => pool_slot().prop_map(|pool| Op::PoolDefine { pool }),
        1 => (pool_slot(), pool_slot()).prop_map(|(pool, uuid_of)| Op::PoolDefineConflict { pool, uuid_of }),
        p => pool_slot().prop_map(|pool| Op::PoolBuild { pool }),
        3 * p => pool_slot().prop_map(|pool| Op::PoolStart { pool }),
        1 => pool_slot().prop_map(|pool| Op::PoolDestroy { pool }),
        1 => pool_slot().prop_map(|pool| Op::PoolUndefine { pool }),
        1 => pool_slot().prop_map(|pool| Op::PoolRefresh { pool }),
        1 => pool_slot().prop_map(|pool| Op::PoolDelete { pool }),
        1 => (pool_slot(), any::<bool>()).prop_map(|(pool, enable)| Op::PoolAutostart { pool, enable }),
        1 => prop::sample::select(list::FILTERS).prop_map(|filter| Op::PoolList { filter }),
        3 * v => (vol_pool(state), 0..VOLS, capacity(), 0..4u8).prop_map(|(pool, vol, capacity, a)| {
            let allocation = match a {
                0 => 0,
                1 => capacity / 2,
                2 => capacity,
                _ => capacity + 4096,
            };
            Op::VolCreate { pool, vol, capacity, allocation }
        }),
        v => pv().prop_map(|(pool, vol)| Op::VolDelete { pool, vol }),
        2 * v => (pv(), capacity(), any::<bool>())
            .prop_map(|((pool, vol), capacity, shrink)| Op::VolResize { pool, vol, capacity, shrink }),
        v => pv().prop_map(|(pool, vol)| Op::VolWipe { pool, vol }),
        3 * v => (vol_and_offset(state), 1..=4096u32, any::<u8>())
            .prop_map(|(((pool, vol), offset), len, seed)| Op::VolUpload { pool, vol, offset, len, seed }),
        3 * v => (vol_and_offset(state), 1..=16_384u32)
            .prop_map(|(((pool, vol), offset), len)| Op::VolDownload { pool, vol, offset, len }),
        v => pv().prop_map(|(pool, vol)| Op::VolInfo { pool, vol }),
    ]
    .boxed()
}

#[derive(Debug)]
pub struct Storage;

impl ReferenceStateMachine for Storage {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        op(state)
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        state.determined(op)
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.expect = state.run(op);
        state
    }
}

impl Property for Storage {
    type Sut = sut::StorageSut;
    const NAME: &'static str = "storage";
    const ABOUT: &'static str =
        "pools and volumes: lifecycle rules, errors, resize, upload/download round trips";

    fn applies(env: &Env) -> Result<(), String> {
        if env.has_storage {
            Ok(())
        } else {
            Err("the target serves no storage pools".into())
        }
    }

    fn setup(env: &Env) -> Result<sut::StorageSut, String> {
        sut::StorageSut::open(env)
    }

    fn teardown(sut: sut::StorageSut, env: &Env) {
        if env.shared() {
            sut.clean(env);
        }
    }

    fn step(
        sut: &mut sut::StorageSut,
        env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        sut.step(env, step, op, after)
    }

    fn command(env: &Env, op: &Op, script: &mut Script) -> String {
        sut::command(env, op, script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_both_succeeds_and_fails() {
        let seen = crate::runner::coverage::<Storage>(300, |s| s.expect.is_ok());
        eprintln!("{seen:?}");
        for (kind, (ok, err)) in &seen {
            assert!(
                *ok > 0 || kind == "PoolDefineConflict",
                "{kind} never succeeds: {seen:?}"
            );
            let always_ok = ["PoolDefine", "PoolList"];
            assert!(
                *err > 0 || always_ok.contains(&kind.as_str()),
                "{kind} never fails: {seen:?}"
            );
        }
        assert_eq!(seen.len(), 17, "every operation is generated: {seen:?}");
    }

    #[test]
    fn a_shrunk_volume_reads_back_zeros_after_growing() {
        let mut m = Model::new();
        for op in [
            Op::PoolDefine { pool: 0 },
            Op::PoolStart { pool: 0 },
            Op::VolCreate {
                pool: 0,
                vol: 0,
                capacity: 100,
                allocation: 0,
            },
            Op::VolUpload {
                pool: 0,
                vol: 0,
                offset: 10,
                len: 20,
                seed: 1,
            },
            Op::VolResize {
                pool: 0,
                vol: 0,
                capacity: 15,
                shrink: true,
            },
            Op::VolResize {
                pool: 0,
                vol: 0,
                capacity: 100,
                shrink: false,
            },
        ] {
            m.expect = m.run(&op);
            assert!(m.expect.is_ok(), "{op:?}: {:?}", m.expect);
        }
        let read = m.run(&Op::VolDownload {
            pool: 0,
            vol: 0,
            offset: 0,
            len: 100,
        });
        let Ok(Value::Bytes(b)) = read else {
            panic!("{read:?}")
        };
        assert_eq!(&b[10..15], &pattern(1, 5)[..]);
        assert!(b[15..].iter().all(|&x| x == 0));
    }
}
