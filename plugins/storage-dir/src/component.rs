//! The wit-bindgen glue (wasm32 only): the `storage` export of world
//! `storage-driver`, forwarding to one `Driver` whose pools are mounted under
//! `/pools`.

use std::cell::RefCell;

use crate::driver::{self, Driver};

/// Generated bindings and export glue: the only unsafe code in the crate.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        world: "storage-driver",
        path: "../../wit",
    });

    use super::StorageDir;
    export!(StorageDir with_types_in self);
}

use bindings::exports::wirt::driver::storage::Guest;
use bindings::wirt::driver::host;
use bindings::wirt::driver::types::{Error, PoolConfig, PoolUsage, VolumeConfig, VolumeInfo};

struct StorageDir;

thread_local! {
    static DRIVER: RefCell<Driver> = RefCell::new(Driver::new(crate::GUEST_POOLS_ROOT));
}

fn host_data_ranges(path: &str) -> Option<Vec<(u64, u64)>> {
    host::file_data_ranges(path)
}

/// Log levels of `host.log`.
const LOG_DEBUG: u32 = 4;

fn with<T>(f: impl FnOnce(&mut Driver) -> Result<T, crate::Error>) -> Result<T, Error> {
    crate::extents::set_provider(host_data_ranges);
    DRIVER.with(|d| f(&mut d.borrow_mut())).map_err(|e| Error {
        code: e.code(),
        message: e.to_string(),
    })
}

fn pool_config(c: PoolConfig) -> driver::PoolConfig {
    driver::PoolConfig {
        uuid: c.uuid,
        name: c.name,
        pool_type: c.pool_type,
        target_path: c.target_path,
        source_path: c.source_path,
        mode: c.mode,
    }
}

fn volume_config(c: VolumeConfig) -> driver::VolumeConfig {
    driver::VolumeConfig {
        name: c.name,
        capacity: c.capacity,
        allocation: c.allocation,
        format: c.format,
        backing: c.backing.map(|b| (b.path, b.format)),
    }
}

fn volume_info(v: driver::VolumeInfo) -> VolumeInfo {
    VolumeInfo {
        name: v.name,
        key: v.key,
        path: v.path,
        kind: v.kind,
        capacity: v.capacity,
        allocation: v.allocation,
        format: v.format,
    }
}

impl Guest for StorageDir {
    fn pool_types() -> Vec<String> {
        Driver::pool_types()
    }

    fn pool_build(pool: PoolConfig, flags: u32) -> Result<(), Error> {
        with(|d| d.pool_build(&pool_config(pool), flags))
    }

    fn pool_start(pool: PoolConfig) -> Result<(), Error> {
        with(|d| d.pool_start(&pool_config(pool)))
    }

    fn pool_stop(uuid: String) -> Result<(), Error> {
        with(|d| d.pool_stop(&uuid))
    }

    fn pool_delete(pool: PoolConfig, flags: u32) -> Result<(), Error> {
        with(|d| d.pool_delete(&pool_config(pool), flags))
    }

    fn get_pool_usage(uuid: String) -> Result<PoolUsage, Error> {
        with(|d| d.pool_usage(&uuid)).map(|u| PoolUsage {
            capacity: u.capacity,
            allocation: u.allocation,
            available: u.available,
        })
    }

    fn pool_refresh(uuid: String) -> Result<Vec<VolumeInfo>, Error> {
        let (pool, refresh) =
            with(|d| Ok((d.pool(&uuid)?.name().to_string(), d.pool_refresh(&uuid)?)))?;
        for (name, why) in &refresh.skipped {
            host::log(
                LOG_DEBUG,
                &format!("storage-dir: pool '{pool}': '{name}' is not a volume: {why}"),
            );
        }
        Ok(refresh.volumes.into_iter().map(volume_info).collect())
    }

    fn volume_create(pool: String, config: VolumeConfig, flags: u32) -> Result<VolumeInfo, Error> {
        with(|d| d.pool(&pool)?.create(&volume_config(config), flags)).map(volume_info)
    }

    fn volume_clone(
        pool: String,
        config: VolumeConfig,
        source_pool: String,
        source: String,
        flags: u32,
    ) -> Result<VolumeInfo, Error> {
        with(|d| {
            let from = d.pool(&source_pool)?;
            d.pool(&pool)?
                .clone_from(&volume_config(config), from, &source, flags)
        })
        .map(volume_info)
    }

    fn volume_delete(pool: String, name: String, flags: u32) -> Result<(), Error> {
        with(|d| d.pool(&pool)?.delete(&name, flags))
    }

    fn get_volume_info(pool: String, name: String) -> Result<VolumeInfo, Error> {
        with(|d| d.pool(&pool)?.info(&name)).map(volume_info)
    }

    fn volume_resize(
        pool: String,
        name: String,
        capacity: u64,
        flags: u32,
    ) -> Result<VolumeInfo, Error> {
        with(|d| d.pool(&pool)?.resize(&name, capacity, flags)).map(volume_info)
    }

    fn volume_wipe(pool: String, name: String, algorithm: u32, flags: u32) -> Result<(), Error> {
        with(|d| d.pool(&pool)?.wipe(&name, algorithm, flags))
    }

    fn volume_read(
        pool: String,
        name: String,
        offset: u64,
        max_len: u32,
    ) -> Result<Vec<u8>, Error> {
        with(|d| d.pool(&pool)?.read(&name, offset, max_len))
    }

    fn volume_write(pool: String, name: String, offset: u64, data: Vec<u8>) -> Result<(), Error> {
        with(|d| d.pool(&pool)?.write(&name, offset, &data))
    }
}
