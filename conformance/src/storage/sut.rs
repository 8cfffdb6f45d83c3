//! Drives a connection's storage with the model's operations, observes its
//! pools and volumes, and renders operations as `wirt` commands.

use wirt::connect::volume_flags as flags;
use wirt::{Connect, StoragePool, StorageVol};

use super::{Model, Op, POOLS, Value, list, pattern, pool_name, pool_uuid, vol_name};
use crate::common::{Divergence, Outcome, Script, check_field, check_outcome};
use crate::target::Env;

pub struct StorageSut {
    conn: Connect,
}

fn code(e: &wirt::Error) -> u32 {
    e.code().0
}

fn pool_xml(env: &Env, name: u8, uuid: u8) -> String {
    format!(
        "<pool type='{}'>\n  <name>{}</name>\n  <uuid>{}</uuid>\n  <target>\n    <path>{}</path>\n  </target>\n</pool>\n",
        env.pool_type,
        pool_name(name),
        pool_uuid(uuid),
        env.pool_path(name).display()
    )
}

fn vol_xml(vol: u8, capacity: u64, allocation: u64) -> String {
    format!(
        "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{capacity}</capacity>\n  \
         <allocation unit='bytes'>{allocation}</allocation>\n  <target>\n    <format type='raw'/>\n  </target>\n</volume>\n",
        vol_name(vol)
    )
}

/// Removes the suite's pools and their volumes from a shared host, and
/// their directories.
fn clean(env: &Env, conn: &Connect) {
    for slot in 0..POOLS {
        let pool = conn
            .lookup_pool_by_name(&pool_name(slot))
            .or_else(|_| conn.define_pool_xml(&pool_xml(env, slot, slot)));
        let Ok(pool) = pool else { continue };
        if !pool.is_active().unwrap_or(false) {
            let _ = pool.build(0);
            let _ = pool.create(0);
        }
        if let Ok(vols) = pool.list_all_volumes() {
            for v in vols {
                let _ = v.delete(0);
            }
        }
        let _ = pool.destroy();
        let _ = pool.delete(0);
        let _ = pool.undefine();
    }
}

impl StorageSut {
    pub fn open(env: &Env) -> Result<Self, String> {
        let conn = env.connect().map_err(|e| crate::error::chain(&e))?;
        if env.shared() {
            clean(env, &conn);
        }
        Ok(StorageSut { conn })
    }

    /// Removes the suite's pools and volumes (shared hosts, end of a case).
    pub fn clean(&self, env: &Env) {
        clean(env, &self.conn);
    }

    fn pool(&self, slot: u8) -> Result<StoragePool, u32> {
        self.conn
            .lookup_pool_by_name(&pool_name(slot))
            .map_err(|e| code(&e))
    }

    fn vol(&self, pool: u8, vol: u8) -> Result<StorageVol, u32> {
        self.pool(pool)?
            .lookup_vol_by_name(&vol_name(vol))
            .map_err(|e| code(&e))
    }

    fn exec(&self, env: &Env, op: &Op) -> Outcome<Value> {
        let none = |r: wirt::connect::Result<()>| r.map(|()| Value::None).map_err(|e| code(&e));
        match *op {
            Op::PoolDefine { pool } => none(
                self.conn
                    .define_pool_xml(&pool_xml(env, pool, pool))
                    .map(|_| ()),
            ),
            Op::PoolDefineConflict { pool, uuid_of } => none(
                self.conn
                    .define_pool_xml(&pool_xml(env, pool, uuid_of))
                    .map(|_| ()),
            ),
            Op::PoolBuild { pool } => none(self.pool(pool)?.build(0)),
            Op::PoolStart { pool } => none(self.pool(pool)?.create(0)),
            Op::PoolDestroy { pool } => none(self.pool(pool)?.destroy()),
            Op::PoolUndefine { pool } => none(self.pool(pool)?.undefine()),
            Op::PoolRefresh { pool } => none(self.pool(pool)?.refresh()),
            Op::PoolDelete { pool } => none(self.pool(pool)?.delete(0)),
            Op::PoolAutostart { pool, enable } => none(self.pool(pool)?.set_autostart(enable)),
            Op::PoolList { filter } => {
                let pools = self.conn.list_all_pools(filter).map_err(|e| code(&e))?;
                Ok(Value::Names(
                    pools
                        .iter()
                        .filter_map(|p| (0..POOLS).find(|&s| pool_name(s) == p.name()))
                        .collect(),
                ))
            }
            Op::VolCreate {
                pool,
                vol,
                capacity,
                allocation,
            } => none(
                self.pool(pool)?
                    .create_volume_xml(&vol_xml(vol, capacity, allocation), 0)
                    .map(|_| ()),
            ),
            Op::VolDelete { pool, vol } => none(self.vol(pool, vol)?.delete(0)),
            Op::VolResize {
                pool,
                vol,
                capacity,
                shrink,
            } => none(
                self.vol(pool, vol)?
                    .resize(capacity, if shrink { flags::RESIZE_SHRINK } else { 0 }),
            ),
            Op::VolWipe { pool, vol } => none(self.vol(pool, vol)?.wipe(0, 0)),
            Op::VolUpload {
                pool,
                vol,
                offset,
                len,
                seed,
            } => {
                let data = pattern(seed, len);
                self.vol(pool, vol)?
                    .upload(offset, u64::from(len), &mut data.as_slice(), &mut |_, _| {})
                    .map(|_| Value::None)
                    .map_err(|e| code(&e))
            }
            Op::VolDownload {
                pool,
                vol,
                offset,
                len,
            } => {
                let mut out = Vec::new();
                self.vol(pool, vol)?
                    .download(offset, u64::from(len), &mut out, &mut |_, _| {})
                    .map_err(|e| code(&e))?;
                Ok(Value::Bytes(out))
            }
            Op::VolInfo { pool, vol } => {
                let info = self.vol(pool, vol)?.info().map_err(|e| code(&e))?;
                Ok(Value::Info(
                    info.capacity,
                    env.settings.exact_allocation.then_some(info.allocation),
                ))
            }
        }
    }

    /// Compares every pool slot and, for active pools, their volumes.
    fn compare(&self, env: &Env, step: usize, model: &Model) -> Result<(), Divergence> {
        let fail =
            |what: String, e: wirt::Error| Divergence::new(step, what, "an answer", e.to_string());
        for slot in 0..POOLS {
            let name = pool_name(slot);
            let expected = &model.slots[slot as usize];
            let pool = self.conn.lookup_pool_by_name(&name).ok();
            check_field(
                step,
                || format!("pool {name} defined"),
                &expected.pool.is_some(),
                &pool.is_some(),
            )?;
            let (Some(obj), Some(pool)) = (&expected.pool, pool) else {
                continue;
            };
            let active = pool
                .is_active()
                .map_err(|e| fail(format!("state of {name}"), e))?;
            check_field(step, || format!("pool {name} active"), &obj.active, &active)?;
            let persistent = pool
                .is_persistent()
                .map_err(|e| fail(format!("persistence of {name}"), e))?;
            check_field(
                step,
                || format!("pool {name} persistent"),
                &true,
                &persistent,
            )?;
            let autostart = pool
                .autostart()
                .map_err(|e| fail(format!("autostart of {name}"), e))?;
            check_field(
                step,
                || format!("pool {name} autostart"),
                &obj.autostart,
                &autostart,
            )?;
            if !obj.active {
                continue;
            }
            let vols = pool
                .list_all_volumes()
                .map_err(|e| fail(format!("volumes of {name}"), e))?;
            let mut seen: Vec<String> = vols.iter().map(|v| v.name().to_string()).collect();
            seen.sort();
            let wanted: Vec<String> = expected.vols.keys().map(|&v| vol_name(v)).collect();
            check_field(step, || format!("volumes of pool {name}"), &wanted, &seen)?;
            for (&v, vol) in &expected.vols {
                let info = pool
                    .lookup_vol_by_name(&vol_name(v))
                    .and_then(|h| h.info())
                    .map_err(|e| fail(format!("info of {name}/{}", vol_name(v)), e))?;
                check_field(
                    step,
                    || format!("capacity of {name}/{}", vol_name(v)),
                    &vol.capacity,
                    &info.capacity,
                )?;
                if env.settings.exact_allocation {
                    check_field(
                        step,
                        || format!("allocation of {name}/{}", vol_name(v)),
                        &vol.allocation,
                        &info.allocation,
                    )?;
                }
            }
        }
        Ok(())
    }

    pub fn step(
        &mut self,
        env: &Env,
        step: usize,
        op: &Op,
        after: &Model,
    ) -> Result<(), Divergence> {
        let observed = self.exec(env, op);
        check_outcome(step, &after.expect, &observed)?;
        self.compare(env, step, after)
    }
}

fn list_command(filter: u32) -> String {
    let mut words = vec!["pool-list".to_string()];
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

/// `op` as a `wirt` command.
pub fn command(env: &Env, op: &Op, script: &mut Script) -> String {
    let p = pool_name;
    let v = vol_name;
    match *op {
        Op::PoolDefine { pool } => {
            let file = script.file(format!("{}.xml", p(pool)), pool_xml(env, pool, pool));
            format!("pool-define {file}")
        }
        Op::PoolDefineConflict { pool, uuid_of } => {
            let file = script.file(
                format!("{}.uuid-of-{}.xml", p(pool), p(uuid_of)),
                pool_xml(env, pool, uuid_of),
            );
            format!("pool-define {file}")
        }
        Op::PoolBuild { pool } => format!("pool-build {}", p(pool)),
        Op::PoolStart { pool } => format!("pool-start {}", p(pool)),
        Op::PoolDestroy { pool } => format!("pool-destroy {}", p(pool)),
        Op::PoolUndefine { pool } => format!("pool-undefine {}", p(pool)),
        Op::PoolRefresh { pool } => format!("pool-refresh {}", p(pool)),
        Op::PoolDelete { pool } => format!("pool-delete {}", p(pool)),
        Op::PoolAutostart { pool, enable } => format!(
            "pool-autostart {}{}",
            p(pool),
            if enable { "" } else { " --disable" }
        ),
        Op::PoolList { filter } => list_command(filter),
        Op::VolCreate {
            pool,
            vol,
            capacity,
            allocation,
        } => {
            let file = script.file(
                format!("{}.c{capacity}.a{allocation}.xml", v(vol)),
                vol_xml(vol, capacity, allocation),
            );
            format!("vol-create {} {file}", p(pool))
        }
        Op::VolDelete { pool, vol } => format!("vol-delete {} --pool {}", v(vol), p(pool)),
        Op::VolResize {
            pool,
            vol,
            capacity,
            shrink,
        } => format!(
            "vol-resize {} {capacity} --pool {}{}",
            v(vol),
            p(pool),
            if shrink { " --shrink" } else { "" }
        ),
        Op::VolWipe { pool, vol } => format!("vol-wipe {} --pool {}", v(vol), p(pool)),
        Op::VolUpload {
            pool,
            vol,
            offset,
            len,
            seed,
        } => {
            let data = String::from_utf8(pattern(seed, len)).expect("the pattern is ASCII");
            let file = script.file(format!("upload-{seed}-{len}.txt"), data);
            format!(
                "vol-upload {} {file} --pool {} --offset {offset} --length {len}",
                v(vol),
                p(pool)
            )
        }
        Op::VolDownload {
            pool,
            vol,
            offset,
            len,
        } => format!(
            "vol-download {} download.bin --pool {} --offset {offset} --length {len}",
            v(vol),
            p(pool)
        ),
        Op::VolInfo { pool, vol } => format!("vol-info {} --pool {}", v(vol), p(pool)),
    }
}
