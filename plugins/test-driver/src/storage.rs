//! Simulated storage: pools with a fixed 100 GiB capacity and volumes whose
//! contents are kept sparsely, in 64 KiB blocks that exist only once written.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::exports::wirt::driver::storage::Guest;
use crate::wirt::driver::types::{Error, PoolConfig, PoolUsage, VolumeConfig, VolumeInfo};
use crate::{TestDriver, code, err};

const POOL_CAPACITY: u64 = 100 * 1024 * 1024 * 1024;
const BLOCK: u64 = 64 * 1024;
/// Largest chunk one read returns, so a call's reply stays bounded.
const MAX_CHUNK: u32 = 4 * 1024 * 1024;

const RESIZE_ALLOCATE: u32 = wirt_vocab::flags::VolResize::ALLOCATE.bits();
const RESIZE_DELTA: u32 = wirt_vocab::flags::VolResize::DELTA.bits();
const RESIZE_SHRINK: u32 = wirt_vocab::flags::VolResize::SHRINK.bits();

struct Volume {
    config: VolumeConfig,
    blocks: BTreeMap<u64, Vec<u8>>,
}

struct Pool {
    config: PoolConfig,
    active: bool,
    volumes: BTreeMap<String, Volume>,
}

impl Pool {
    fn path_of(&self, name: &str) -> String {
        let dir = self.config.target_path.as_deref().unwrap_or("");
        format!("{}/{name}", dir.trim_end_matches('/'))
    }

    fn info(&self, volume: &Volume) -> VolumeInfo {
        let path = self.path_of(&volume.config.name);
        VolumeInfo {
            name: volume.config.name.clone(),
            key: path.clone(),
            path,
            kind: 0,
            capacity: volume.config.capacity,
            allocation: volume.config.allocation,
            format: volume.config.format.clone(),
        }
    }

    fn allocation(&self) -> u64 {
        self.volumes.values().map(|v| v.config.allocation).sum()
    }
}

thread_local! {
    static POOLS: RefCell<HashMap<String, Pool>> = RefCell::new(HashMap::new());
}

fn with_pools<T>(
    f: impl FnOnce(&mut HashMap<String, Pool>) -> Result<T, Error>,
) -> Result<T, Error> {
    POOLS.with(|pools| f(&mut pools.borrow_mut()))
}

fn active_pool<'a>(
    pools: &'a mut HashMap<String, Pool>,
    uuid: &str,
) -> Result<&'a mut Pool, Error> {
    let pool = pools.get_mut(uuid).ok_or_else(|| {
        err(
            code::NO_STORAGE_POOL,
            format!("no storage pool with matching uuid '{uuid}'"),
        )
    })?;
    if !pool.active {
        return Err(err(
            code::OPERATION_INVALID,
            format!("storage pool '{}' is not active", pool.config.name),
        ));
    }
    Ok(pool)
}

fn volume<'a>(pool: &'a mut Pool, name: &str) -> Result<&'a mut Volume, Error> {
    pool.volumes.get_mut(name).ok_or_else(|| {
        err(
            code::NO_STORAGE_VOL,
            format!("no storage vol with matching name '{name}'"),
        )
    })
}

fn read(volume: &Volume, offset: u64, len: u64) -> Vec<u8> {
    let end = offset.saturating_add(len).min(volume.config.capacity);
    let mut out = vec![0u8; end.saturating_sub(offset) as usize];
    let mut pos = offset;
    while pos < end {
        let block = pos / BLOCK;
        let within = pos % BLOCK;
        let take = (BLOCK - within).min(end - pos);
        if let Some(data) = volume.blocks.get(&block) {
            let dst = (pos - offset) as usize;
            out[dst..dst + take as usize]
                .copy_from_slice(&data[within as usize..(within + take) as usize]);
        }
        pos += take;
    }
    out
}

fn write(volume: &mut Volume, offset: u64, data: &[u8]) {
    let mut pos = offset;
    let mut src = data;
    while !src.is_empty() {
        let block = pos / BLOCK;
        let within = (pos % BLOCK) as usize;
        let take = (BLOCK as usize - within).min(src.len());
        let stored = volume
            .blocks
            .entry(block)
            .or_insert_with(|| vec![0u8; BLOCK as usize]);
        stored[within..within + take].copy_from_slice(&src[..take]);
        src = &src[take..];
        pos += take as u64;
    }
}

/// Drops every block at or beyond `capacity` and zeroes the tail of the last one,
/// so a shrink followed by a grow reads back zeros.
fn truncate(volume: &mut Volume, capacity: u64) {
    let keep = capacity.div_ceil(BLOCK);
    volume.blocks.retain(|&block, _| block < keep);
    if capacity % BLOCK != 0 {
        if let Some(last) = volume.blocks.get_mut(&(capacity / BLOCK)) {
            last[(capacity % BLOCK) as usize..].fill(0);
        }
    }
}

impl Guest for TestDriver {
    fn pool_types() -> Vec<String> {
        [
            "dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "rbd", "sheepdog",
            "gluster", "zfs", "vstorage",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    }

    fn pool_build(pool: PoolConfig, _flags: u32) -> Result<(), Error> {
        with_pools(|pools| {
            if pools.get(&pool.uuid).is_some_and(|p| p.active) {
                return Err(err(
                    code::OPERATION_INVALID,
                    format!("storage pool '{}' is already active", pool.name),
                ));
            }
            Ok(())
        })
    }

    fn pool_start(config: PoolConfig) -> Result<(), Error> {
        with_pools(|pools| {
            let pool = pools.entry(config.uuid.clone()).or_insert_with(|| Pool {
                config: config.clone(),
                active: false,
                volumes: BTreeMap::new(),
            });
            if pool.active {
                return Err(err(
                    code::OPERATION_INVALID,
                    format!("storage pool '{}' is already active", config.name),
                ));
            }
            pool.config = config;
            pool.active = true;
            Ok(())
        })
    }

    fn pool_stop(uuid: String) -> Result<(), Error> {
        with_pools(|pools| {
            active_pool(pools, &uuid)?.active = false;
            Ok(())
        })
    }

    fn pool_delete(config: PoolConfig, _flags: u32) -> Result<(), Error> {
        with_pools(|pools| {
            if let Some(pool) = pools.get(&config.uuid) {
                if pool.active {
                    return Err(err(
                        code::OPERATION_INVALID,
                        format!("storage pool '{}' is still active", config.name),
                    ));
                }
                if !pool.volumes.is_empty() {
                    return Err(err(
                        code::OPERATION_FAILED,
                        format!(
                            "failed to remove pool '{}': Directory not empty",
                            config.target_path.as_deref().unwrap_or(&config.name)
                        ),
                    ));
                }
            }
            pools.remove(&config.uuid);
            Ok(())
        })
    }

    fn get_pool_usage(uuid: String) -> Result<PoolUsage, Error> {
        with_pools(|pools| {
            let allocation = pools.get(&uuid).map(Pool::allocation).unwrap_or(0);
            Ok(PoolUsage {
                capacity: POOL_CAPACITY,
                allocation,
                available: POOL_CAPACITY.saturating_sub(allocation),
            })
        })
    }

    fn pool_refresh(uuid: String) -> Result<Vec<VolumeInfo>, Error> {
        with_pools(|pools| {
            let pool = active_pool(pools, &uuid)?;
            Ok(pool.volumes.values().map(|v| pool.info(v)).collect())
        })
    }

    fn volume_create(pool: String, config: VolumeConfig, _flags: u32) -> Result<VolumeInfo, Error> {
        with_pools(|pools| {
            let pool = active_pool(pools, &pool)?;
            if pool.volumes.contains_key(&config.name) {
                return Err(err(
                    code::STORAGE_VOL_EXIST,
                    format!("storage vol '{}' already exists", config.name),
                ));
            }
            if config.allocation > POOL_CAPACITY.saturating_sub(pool.allocation()) {
                return Err(err(
                    code::OPERATION_FAILED,
                    "Not enough space left in storage pool",
                ));
            }
            let volume = Volume {
                config: config.clone(),
                blocks: BTreeMap::new(),
            };
            let info = pool.info(&volume);
            pool.volumes.insert(config.name, volume);
            Ok(info)
        })
    }

    fn volume_clone(
        pool: String,
        config: VolumeConfig,
        source_pool: String,
        source: String,
        _flags: u32,
    ) -> Result<VolumeInfo, Error> {
        with_pools(|pools| {
            let blocks = volume(active_pool(pools, &source_pool)?, &source)?
                .blocks
                .clone();
            let pool = active_pool(pools, &pool)?;
            if pool.volumes.contains_key(&config.name) {
                return Err(err(
                    code::STORAGE_VOL_EXIST,
                    format!("storage vol '{}' already exists", config.name),
                ));
            }
            let mut volume = Volume {
                config: config.clone(),
                blocks,
            };
            truncate(&mut volume, config.capacity);
            let info = pool.info(&volume);
            pool.volumes.insert(config.name, volume);
            Ok(info)
        })
    }

    fn volume_delete(pool: String, name: String, _flags: u32) -> Result<(), Error> {
        with_pools(|pools| {
            let pool = active_pool(pools, &pool)?;
            volume(pool, &name)?;
            pool.volumes.remove(&name);
            Ok(())
        })
    }

    fn get_volume_info(pool: String, name: String) -> Result<VolumeInfo, Error> {
        with_pools(|pools| {
            let pool = active_pool(pools, &pool)?;
            let vol = pool.volumes.get(&name).ok_or_else(|| {
                err(
                    code::NO_STORAGE_VOL,
                    format!("no storage vol with matching name '{name}'"),
                )
            })?;
            Ok(pool.info(vol))
        })
    }

    fn volume_resize(
        pool: String,
        name: String,
        capacity: u64,
        flags: u32,
    ) -> Result<VolumeInfo, Error> {
        with_pools(|pools| {
            let pool = active_pool(pools, &pool)?;
            let free = POOL_CAPACITY.saturating_sub(pool.allocation());
            let vol = volume(pool, &name)?;
            let capacity = if flags & RESIZE_DELTA != 0 {
                if flags & RESIZE_SHRINK != 0 {
                    vol.config.capacity.saturating_sub(capacity)
                } else {
                    vol.config.capacity.saturating_add(capacity)
                }
            } else {
                capacity
            };
            if capacity < vol.config.allocation {
                return Err(err(
                    code::INVALID_ARG,
                    "can't shrink capacity below existing allocation",
                ));
            }
            if capacity < vol.config.capacity && flags & RESIZE_SHRINK == 0 {
                return Err(err(
                    code::INVALID_ARG,
                    "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
                ));
            }
            let new_allocation = if flags & RESIZE_ALLOCATE != 0 {
                capacity
            } else {
                vol.config.allocation
            };
            if new_allocation - vol.config.allocation > free {
                return Err(err(
                    code::INVALID_ARG,
                    "Not enough space left in storage pool",
                ));
            }
            truncate(vol, capacity);
            vol.config.capacity = capacity;
            vol.config.allocation = new_allocation;
            let vol = pool.volumes.get(&name).expect("volume checked above");
            Ok(pool.info(vol))
        })
    }

    fn volume_wipe(pool: String, name: String, algorithm: u32, _flags: u32) -> Result<(), Error> {
        if algorithm != 0 {
            return Err(err(
                code::INVALID_ARG,
                format!("unsupported wipe algorithm {algorithm}: the test driver only zeroes"),
            ));
        }
        with_pools(|pools| {
            volume(active_pool(pools, &pool)?, &name)?.blocks.clear();
            Ok(())
        })
    }

    fn volume_read(
        pool: String,
        name: String,
        offset: u64,
        max_len: u32,
    ) -> Result<Vec<u8>, Error> {
        with_pools(|pools| {
            let vol = volume(active_pool(pools, &pool)?, &name)?;
            Ok(read(vol, offset, u64::from(max_len.min(MAX_CHUNK))))
        })
    }

    fn volume_write(pool: String, name: String, offset: u64, data: Vec<u8>) -> Result<(), Error> {
        with_pools(|pools| {
            let vol = volume(active_pool(pools, &pool)?, &name)?;
            let end = offset.checked_add(data.len() as u64);
            if end.is_none_or(|end| end > vol.config.capacity) {
                return Err(err(
                    code::OPERATION_FAILED,
                    format!(
                        "cannot write {} bytes at offset {offset}: volume '{name}' holds {} bytes",
                        data.len(),
                        vol.config.capacity
                    ),
                ));
            }
            write(vol, offset, &data);
            Ok(())
        })
    }
}
