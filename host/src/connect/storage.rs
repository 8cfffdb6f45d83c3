//! Storage pools and volumes. The host enforces libvirt's generic rules
//! (names, duplicates, active pools, resize limits); the storage driver
//! does the work.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::domain::check_flags;
use super::{ConnState, Connect, Error, Result, convert, local_or};
use crate::driver::{StorageDriver, VolumeConfig, VolumeInfo};
use crate::error::ErrorCode;
use crate::registry::{PoolObj, Registry};
use crate::xml::pool::{PoolSizes, VolumeLive, check_volume_name};
use crate::xml::{PoolDef, VolumeDef};

pub mod flags {
    pub const LIST_INACTIVE: u32 = 1;
    pub const LIST_ACTIVE: u32 = 2;
    pub const LIST_PERSISTENT: u32 = 4;
    pub const LIST_TRANSIENT: u32 = 8;
    pub const LIST_AUTOSTART: u32 = 16;
    pub const LIST_NO_AUTOSTART: u32 = 32;
    pub const RESIZE_ALLOCATE: u32 = 1;
    pub const RESIZE_DELTA: u32 = 2;
    pub const RESIZE_SHRINK: u32 = 4;
    pub const BUILD_NO_OVERWRITE: u32 = 4;
    pub const BUILD_OVERWRITE: u32 = 8;
}

/// Largest chunk moved per driver call during upload/download.
/// 4 MiB: big enough that per-call costs vanish, small enough to bound memory.
const CHUNK: u32 = 4 << 20;

/// libvirt's `virStoragePoolInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PoolInfo {
    /// 0 inactive, 2 running (libvirt's `virStoragePoolState`).
    pub state: u32,
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

/// libvirt's `virStorageVolInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VolInfo {
    pub kind: u32,
    pub capacity: u64,
    pub allocation: u64,
}

#[derive(Clone, Debug)]
pub struct StoragePool {
    conn: Connect,
    uuid: Uuid,
    name: String,
}

#[derive(Clone, Debug)]
pub struct StorageVol {
    pool: StoragePool,
    name: String,
}

fn no_pool(detail: String) -> Error {
    Error::api(ErrorCode::NO_STORAGE_POOL, detail)
}

fn no_vol(detail: String) -> Error {
    Error::api(ErrorCode::NO_STORAGE_VOL, detail)
}

fn not_active(name: &str) -> Error {
    Error::api(
        ErrorCode::OPERATION_INVALID,
        format!("storage pool '{name}' is not active"),
    )
}

impl Connect {
    fn storage_driver(state: &ConnState) -> Result<Arc<dyn StorageDriver>> {
        state
            .drivers
            .storage
            .clone()
            .ok_or_else(|| Error::api(ErrorCode::NO_SUPPORT, "virConnectListAllStoragePools"))
    }

    fn pool_handle(&self, p: &PoolObj) -> StoragePool {
        self.pool_ref(p.def.uuid, p.def.name.clone())
    }

    /// A handle from a reference (as the wire names pools), without a lookup.
    pub(crate) fn pool_ref(&self, uuid: Uuid, name: String) -> StoragePool {
        StoragePool {
            conn: self.clone(),
            uuid,
            name,
        }
    }

    pub fn lookup_pool_by_name(&self, name: &str) -> Result<StoragePool> {
        let state = local_or!(self, r => r.lookup_pool_by_name(self, name));
        Self::storage_driver(state)?;
        let reg = state.lock();
        reg.pool_by_name(name)
            .map(|p| self.pool_handle(p))
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{name}'")))
    }

    pub fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<StoragePool> {
        let state = local_or!(self, r => r.lookup_pool_by_uuid(self, uuid));
        Self::storage_driver(state)?;
        let reg = state.lock();
        reg.pools
            .get(uuid)
            .map(|p| self.pool_handle(p))
            .ok_or_else(|| no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    /// Pools matching libvirt's `VIR_CONNECT_LIST_STORAGE_POOLS_*` flags, by name.
    pub fn list_all_pools(&self, flags: u32) -> Result<Vec<StoragePool>> {
        let state = local_or!(self, r => r.list_all_pools(self, flags));
        use flags::*;
        check_flags(flags, (1 << 19) - 1, "virConnectListAllStoragePools")?;
        Self::storage_driver(state)?;
        let reg = state.lock();
        let group = |bits: u32, hit: u32| flags & bits == 0 || flags & hit != 0;
        let mut found: Vec<&PoolObj> = reg
            .pools
            .values()
            .filter(|p| {
                group(
                    LIST_ACTIVE | LIST_INACTIVE,
                    if p.active { LIST_ACTIVE } else { LIST_INACTIVE },
                ) && group(
                    LIST_PERSISTENT | LIST_TRANSIENT,
                    if p.persistent {
                        LIST_PERSISTENT
                    } else {
                        LIST_TRANSIENT
                    },
                ) && group(
                    LIST_AUTOSTART | LIST_NO_AUTOSTART,
                    if p.autostart {
                        LIST_AUTOSTART
                    } else {
                        LIST_NO_AUTOSTART
                    },
                )
            })
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found.into_iter().map(|p| self.pool_handle(p)).collect())
    }

    fn check_pool_unique(reg: &Registry, def: &PoolDef) -> Result<()> {
        if let Some(other) = reg.pool_by_name(&def.name)
            && other.def.uuid != def.uuid
        {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!(
                    "pool '{}' already exists with uuid {}",
                    def.name, other.def.uuid
                ),
            ));
        }
        if let Some(other) = reg.pools.get(&def.uuid)
            && other.def.name != def.name
        {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!(
                    "pool '{}' is already defined with uuid {}",
                    other.def.name, def.uuid
                ),
            ));
        }
        if let Some(path) = &def.target_path
            && let Some(other) = reg
                .pools
                .values()
                .find(|p| p.def.uuid != def.uuid && p.def.target_path.as_ref() == Some(path))
        {
            return Err(Error::api(
                ErrorCode::OPERATION_FAILED,
                format!("Storage source conflict with pool: '{}'", other.def.name),
            ));
        }
        Ok(())
    }

    fn check_pool_type(&self, driver: &dyn StorageDriver, def: &PoolDef) -> Result<()> {
        if !driver.pool_types()?.contains(&def.pool_type) {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                format!(
                    "storage pools of type '{}' are not served by this connection",
                    def.pool_type
                ),
            ));
        }
        Ok(())
    }

    pub fn define_pool_xml(&self, xml: &str) -> Result<StoragePool> {
        let state = local_or!(self, r => r.define_pool_xml(self, xml));
        self.check_writable()?;
        let driver = Self::storage_driver(state)?;
        let def = PoolDef::parse(xml)?;
        self.check_pool_type(driver.as_ref(), &def)?;
        let mut reg = state.lock();
        Self::check_pool_unique(&reg, &def)?;
        let uuid = def.uuid;
        match reg.pools.get_mut(&uuid) {
            Some(p) => {
                p.def = def;
                p.persistent = true;
            }
            None => {
                reg.pools.insert(
                    uuid,
                    PoolObj {
                        def,
                        persistent: true,
                        active: false,
                        autostart: false,
                        volumes: BTreeMap::new(),
                    },
                );
            }
        }
        persist_pool(&reg, &uuid)?;
        Ok(self.pool_handle(&reg.pools[&uuid]))
    }

    /// Creates and starts a transient pool.
    pub fn create_pool_xml(&self, xml: &str) -> Result<StoragePool> {
        let state = local_or!(self, r => r.create_pool_xml(self, xml));
        self.check_writable()?;
        let driver = Self::storage_driver(state)?;
        let def = PoolDef::parse(xml)?;
        self.check_pool_type(driver.as_ref(), &def)?;
        let mut reg = state.lock();
        Self::check_pool_unique(&reg, &def)?;
        if reg.pools.contains_key(&def.uuid) {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                format!("storage pool '{}' already exists", def.name),
            ));
        }
        driver.pool_start(&convert::pool_config(&def))?;
        let uuid = def.uuid;
        let volumes = refresh_volumes(driver.as_ref(), &uuid)?;
        reg.pools.insert(
            uuid,
            PoolObj {
                def,
                persistent: false,
                active: true,
                autostart: false,
                volumes,
            },
        );
        Ok(self.pool_handle(&reg.pools[&uuid]))
    }

    /// Finds a volume by its key or path, in any active pool.
    pub fn lookup_vol_by_path(&self, path: &str) -> Result<StorageVol> {
        let state = local_or!(self, r => r.lookup_vol_by_path(self, path));
        Self::storage_driver(state)?;
        let reg = state.lock();
        for p in reg.pools.values().filter(|p| p.active) {
            if let Some(v) = p.volumes.values().find(|v| v.path == path || v.key == path) {
                return Ok(StorageVol {
                    pool: self.pool_handle(p),
                    name: v.name.clone(),
                });
            }
        }
        Err(no_vol(format!(
            "no storage vol with matching path '{path}'"
        )))
    }
}

fn refresh_volumes(
    driver: &dyn StorageDriver,
    uuid: &Uuid,
) -> Result<BTreeMap<String, VolumeInfo>> {
    Ok(driver
        .pool_refresh(&uuid.to_string())?
        .into_iter()
        .map(|v| (v.name.clone(), v))
        .collect())
}

fn persist_pool(reg: &Registry, uuid: &Uuid) -> Result<()> {
    let Some(store) = reg.store() else {
        return Ok(());
    };
    match reg.pools.get(uuid).filter(|p| p.persistent) {
        Some(p) => {
            store.write(
                "pools",
                uuid,
                "xml",
                p.def.to_xml(PoolSizes::default()).as_bytes(),
            )?;
            store.write(
                "pools",
                uuid,
                "json",
                serde_json::json!({"autostart": p.autostart})
                    .to_string()
                    .as_bytes(),
            )?;
        }
        None => {
            store.remove("pools", uuid, "xml")?;
            store.remove("pools", uuid, "json")?;
        }
    }
    Ok(())
}

impl StoragePool {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// A handle to volume `name` of this pool, without a lookup.
    pub(crate) fn vol_ref(&self, name: String) -> StorageVol {
        StorageVol {
            pool: self.clone(),
            name,
        }
    }

    fn with<R>(
        &self,
        state: &ConnState,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        let mut reg = state.lock();
        if !reg.pools.contains_key(&self.uuid) {
            return Err(no_pool(format!(
                "no storage pool with matching uuid '{}' ({})",
                self.uuid, self.name
            )));
        }
        f(&mut reg, &self.uuid)
    }

    fn with_active<R>(
        &self,
        state: &ConnState,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        self.with(state, |reg, uuid| {
            if !reg.pools[uuid].active {
                return Err(not_active(&reg.pools[uuid].def.name));
            }
            f(reg, uuid)
        })
    }

    pub fn is_active(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.pool_is_active(self));
        self.with(state, |reg, uuid| Ok(reg.pools[uuid].active))
    }

    pub fn is_persistent(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.pool_is_persistent(self));
        self.with(state, |reg, uuid| Ok(reg.pools[uuid].persistent))
    }

    pub fn autostart(&self) -> Result<bool> {
        let state = local_or!(self.conn, r => r.pool_autostart(self));
        self.with(state, |reg, uuid| Ok(reg.pools[uuid].autostart))
    }

    pub fn info(&self) -> Result<PoolInfo> {
        let state = local_or!(self.conn, r => r.pool_info(self));
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid| {
            let p = &reg.pools[uuid];
            if !p.active {
                return Ok(PoolInfo {
                    state: 0,
                    capacity: 0,
                    allocation: 0,
                    available: 0,
                });
            }
            let usage = driver.pool_usage(&uuid.to_string())?;
            Ok(PoolInfo {
                state: 2,
                capacity: usage.capacity,
                allocation: usage.allocation,
                available: usage.available,
            })
        })
    }

    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        let state = local_or!(self.conn, r => r.pool_xml_desc(self, flags));
        let info = self.info()?;
        self.with(state, |reg, uuid| {
            Ok(reg.pools[uuid].def.to_xml(PoolSizes {
                capacity: info.capacity,
                allocation: info.allocation,
                available: info.available,
            }))
        })
    }

    /// Creates the pool's backing (for dir pools, the directory).
    pub fn build(&self, flags: u32) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_build(self, flags));
        check_flags(
            flags,
            flags::BUILD_NO_OVERWRITE | flags::BUILD_OVERWRITE,
            "virStoragePoolBuild",
        )?;
        self.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid| {
            let p = &reg.pools[uuid];
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is already active", p.def.name),
                ));
            }
            driver.pool_build(&convert::pool_config(&p.def), flags)?;
            Ok(())
        })
    }

    /// Starts the pool and scans its volumes.
    pub fn create(&self, flags: u32) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_create(self, flags));
        self.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid| {
            let p = &reg.pools[uuid];
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is already active", p.def.name),
                ));
            }
            driver.pool_start(&convert::pool_config(&p.def))?;
            let volumes = match refresh_volumes(driver.as_ref(), uuid) {
                Ok(v) => v,
                Err(e) => {
                    let _ = driver.pool_stop(&uuid.to_string());
                    return Err(e);
                }
            };
            let p = reg.pools.get_mut(uuid).expect("checked");
            p.active = true;
            p.volumes = volumes;
            Ok(())
        })
    }

    pub fn destroy(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_destroy(self));
        self.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with_active(state, |reg, uuid| {
            driver.pool_stop(&uuid.to_string())?;
            let p = reg.pools.get_mut(uuid).expect("checked");
            p.active = false;
            p.volumes.clear();
            if !p.persistent {
                reg.pools.remove(uuid);
            }
            Ok(())
        })
    }

    /// Removes the pool's backing; the pool must be inactive.
    pub fn delete(&self, flags: u32) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_delete(self, flags));
        self.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid| {
            let p = &reg.pools[uuid];
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is still active", p.def.name),
                ));
            }
            driver.pool_delete(&convert::pool_config(&p.def), flags)?;
            Ok(())
        })
    }

    pub fn undefine(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_undefine(self));
        self.conn.check_writable()?;
        self.with(state, |reg, uuid| {
            let p = reg.pools.get_mut(uuid).expect("checked");
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is still active", p.def.name),
                ));
            }
            reg.pools.remove(uuid);
            persist_pool(reg, uuid)
        })
    }

    /// Rescans the pool: external changes appear only now.
    pub fn refresh(&self) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_refresh(self));
        let driver = Connect::storage_driver(state)?;
        self.with_active(state, |reg, uuid| {
            let volumes = refresh_volumes(driver.as_ref(), uuid)?;
            reg.pools.get_mut(uuid).expect("checked").volumes = volumes;
            Ok(())
        })
    }

    pub fn set_autostart(&self, autostart: bool) -> Result<()> {
        let state = local_or!(self.conn, r => r.pool_set_autostart(self, autostart));
        self.conn.check_writable()?;
        self.with(state, |reg, uuid| {
            let p = reg.pools.get_mut(uuid).expect("checked");
            if !p.persistent {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "cannot set autostart for transient pool",
                ));
            }
            p.autostart = autostart;
            persist_pool(reg, uuid)
        })
    }

    pub fn target_path(&self) -> Result<Option<String>> {
        let state = local_or!(self.conn, r => r.pool_target_path(self));
        self.with(state, |reg, uuid| {
            Ok(reg.pools[uuid].def.target_path.clone())
        })
    }

    pub fn pool_type(&self) -> Result<String> {
        let state = local_or!(self.conn, r => r.pool_type(self));
        self.with(state, |reg, uuid| Ok(reg.pools[uuid].def.pool_type.clone()))
    }

    /// Volumes as of the last refresh, by name.
    pub fn list_all_volumes(&self) -> Result<Vec<StorageVol>> {
        let state = local_or!(self.conn, r => r.list_all_volumes(self));
        self.with_active(state, |reg, uuid| {
            Ok(reg.pools[uuid]
                .volumes
                .keys()
                .map(|name| StorageVol {
                    pool: self.clone(),
                    name: name.clone(),
                })
                .collect())
        })
    }

    pub fn lookup_vol_by_name(&self, name: &str) -> Result<StorageVol> {
        let state = local_or!(self.conn, r => r.lookup_vol_by_name(self, name));
        self.with_active(state, |reg, uuid| {
            if reg.pools[uuid].volumes.contains_key(name) {
                Ok(StorageVol {
                    pool: self.clone(),
                    name: name.to_string(),
                })
            } else {
                Err(no_vol(format!(
                    "no storage vol with matching name '{name}'"
                )))
            }
        })
    }

    fn volume_config(def: &VolumeDef) -> VolumeConfig {
        VolumeConfig {
            name: def.name.clone(),
            capacity: def.capacity,
            allocation: def.allocation.unwrap_or(def.capacity),
            format: def.format.clone().unwrap_or_else(|| "raw".into()),
        }
    }

    fn check_new_volume(reg: &Registry, uuid: &Uuid, def: &VolumeDef) -> Result<()> {
        check_volume_name(&def.name)?;
        if reg.pools[uuid].volumes.contains_key(&def.name) {
            return Err(Error::api(
                ErrorCode::STORAGE_VOL_EXIST,
                format!("'{}'", def.name),
            ));
        }
        if def.allocation.is_some_and(|a| a > def.capacity)
            && def.format.as_deref() != Some("qcow2")
        {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!(
                    "allocation {} is larger than capacity {} for volume '{}'",
                    def.allocation.unwrap_or(0),
                    def.capacity,
                    def.name
                ),
            ));
        }
        Ok(())
    }

    /// Creates a volume from `<volume>` XML.
    pub fn create_volume_xml(&self, xml: &str, flags: u32) -> Result<StorageVol> {
        let state = local_or!(self.conn, r => r.create_volume_xml(self, xml, flags));
        self.conn.check_writable()?;
        let def = VolumeDef::parse(xml)?;
        let driver = Connect::storage_driver(state)?;
        self.with_active(state, |reg, uuid| {
            Self::check_new_volume(reg, uuid, &def)?;
            let info = driver.volume_create(&uuid.to_string(), &Self::volume_config(&def), 0)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(info.name.clone(), info);
            Ok(StorageVol {
                pool: self.clone(),
                name: def.name.clone(),
            })
        })
    }

    /// Creates a volume from `<volume>` XML with the content of `source`.
    pub fn create_volume_xml_from(
        &self,
        xml: &str,
        source: &StorageVol,
        flags: u32,
    ) -> Result<StorageVol> {
        let state = local_or!(self.conn, r => r.create_volume_xml_from(self, xml, source, flags));
        self.conn.check_writable()?;
        let mut def = VolumeDef::parse(xml)?;
        let driver = Connect::storage_driver(state)?;
        let source_info = source.refreshed_info()?;
        self.with_active(state, |reg, uuid| {
            Self::check_new_volume(reg, uuid, &def)?;
            def.capacity = def.capacity.max(source_info.capacity);
            let info = driver.volume_clone(
                &uuid.to_string(),
                &Self::volume_config(&def),
                &source.pool.uuid.to_string(),
                &source.name,
                0,
            )?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(info.name.clone(), info);
            Ok(StorageVol {
                pool: self.clone(),
                name: def.name.clone(),
            })
        })
    }
}

impl StorageVol {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pool(&self) -> &StoragePool {
        &self.pool
    }

    fn with<R>(
        &self,
        state: &ConnState,
        f: impl FnOnce(&mut Registry, &Uuid, &VolumeInfo) -> Result<R>,
    ) -> Result<R> {
        self.pool.with_active(state, |reg, uuid| {
            let info = reg.pools[uuid]
                .volumes
                .get(&self.name)
                .cloned()
                .ok_or_else(|| {
                    no_vol(format!("no storage vol with matching name '{}'", self.name))
                })?;
            f(reg, uuid, &info)
        })
    }

    /// The volume as last scanned.
    pub fn cached_info(&self) -> Result<VolumeInfo> {
        let state = local_or!(self.pool.conn, r => r.vol_info_full(self));
        self.with(state, |_, _, info| Ok(info.clone()))
    }

    /// The volume as the driver reports it now (updates the cache).
    pub fn refreshed_info(&self) -> Result<VolumeInfo> {
        let state = local_or!(self.pool.conn, r => r.vol_info_full(self));
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid, _| {
            let info = driver.volume_info(&uuid.to_string(), &self.name)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(self.name.clone(), info.clone());
            Ok(info)
        })
    }

    pub fn info(&self) -> Result<VolInfo> {
        let _state = local_or!(self.pool.conn, r => r.vol_info(self));
        let info = self.refreshed_info()?;
        Ok(VolInfo {
            kind: info.kind,
            capacity: info.capacity,
            allocation: info.allocation,
        })
    }

    pub fn path(&self) -> Result<String> {
        let _state = local_or!(self.pool.conn, r => r.vol_path(self));
        Ok(self.cached_info()?.path)
    }

    pub fn key(&self) -> Result<String> {
        let _state = local_or!(self.pool.conn, r => r.vol_key(self));
        Ok(self.cached_info()?.key)
    }

    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        let _state = local_or!(self.pool.conn, r => r.vol_xml_desc(self, flags));
        let info = self.refreshed_info()?;
        let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
            .get(info.kind as usize)
            .copied()
            .unwrap_or("file");
        Ok(VolumeDef::format_live(
            &info.name,
            &VolumeLive {
                kind: kind.into(),
                key: info.key.clone(),
                path: info.path.clone(),
                capacity: info.capacity,
                allocation: info.allocation,
                format: info.format.clone(),
            },
        ))
    }

    pub fn delete(&self, flags: u32) -> Result<()> {
        let state = local_or!(self.pool.conn, r => r.vol_delete(self, flags));
        self.pool.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with(state, |reg, uuid, _| {
            driver.volume_delete(&uuid.to_string(), &self.name, flags)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .remove(&self.name);
            Ok(())
        })
    }

    /// Overwrites the content. algorithm: libvirt's `VIR_STORAGE_VOL_WIPE_ALG_*` (0 zero).
    pub fn wipe(&self, algorithm: u32, flags: u32) -> Result<()> {
        let state = local_or!(self.pool.conn, r => r.vol_wipe(self, algorithm, flags));
        self.pool.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        self.with(state, |_, uuid, _| {
            Ok(driver.volume_wipe(&uuid.to_string(), &self.name, algorithm, flags)?)
        })
    }

    /// Changes the capacity, with libvirt's rules: never below the
    /// allocation, shrinking only with flag 4, never beyond the pool's free
    /// space. flags: 1 allocate, 2 delta, 4 shrink.
    pub fn resize(&self, capacity: u64, flags: u32) -> Result<()> {
        let state = local_or!(self.pool.conn, r => r.vol_resize(self, capacity, flags));
        use flags::*;
        check_flags(
            flags,
            RESIZE_ALLOCATE | RESIZE_DELTA | RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        self.pool.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        let pool_info = self.pool.info()?;
        self.with(state, |reg, uuid, info| {
            let target = if flags & RESIZE_DELTA != 0 {
                if flags & RESIZE_SHRINK != 0 {
                    info.capacity.checked_sub(capacity).ok_or_else(|| {
                        Error::api(ErrorCode::INVALID_ARG, "can't shrink capacity below existing allocation")
                    })?
                } else {
                    info.capacity.checked_add(capacity).ok_or_else(|| Error::api(ErrorCode::INVALID_ARG, "capacity overflows"))?
                }
            } else {
                capacity
            };
            if target < info.allocation {
                return Err(Error::api(ErrorCode::INVALID_ARG, "can't shrink capacity below existing allocation"));
            }
            if target < info.capacity && flags & RESIZE_SHRINK == 0 {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
                ));
            }
            let growth = if flags & RESIZE_ALLOCATE != 0 {
                target.saturating_sub(info.allocation)
            } else {
                0
            };
            if growth > pool_info.available {
                return Err(Error::api(ErrorCode::INVALID_ARG, "Not enough space left in storage pool"));
            }
            // The driver gets the absolute size; the rules are applied here.
            let new = driver.volume_resize(&uuid.to_string(), &self.name, target, flags & !RESIZE_DELTA)?;
            reg.pools.get_mut(uuid).expect("checked").volumes.insert(self.name.clone(), new);
            Ok(())
        })
    }

    /// Copies `length` bytes (0: to the end) starting at `offset` into `sink`,
    /// in bounded chunks. Returns the bytes copied.
    pub fn download(
        &self,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        let state =
            local_or!(self.pool.conn, r => r.vol_download(self, offset, length, sink, progress));
        let driver = Connect::storage_driver(state)?;
        let info = self.refreshed_info()?;
        let pool = self.pool.uuid.to_string();
        if offset > info.capacity {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!(
                    "offset {offset} is beyond the end of volume '{}'",
                    self.name
                ),
            ));
        }
        let end = if length == 0 {
            info.capacity
        } else {
            offset.saturating_add(length).min(info.capacity)
        };
        let total = end - offset;
        let mut pos = offset;
        while pos < end {
            let want = (end - pos).min(u64::from(CHUNK)) as u32;
            let chunk = driver.volume_read(&pool, &self.name, pos, want)?;
            if chunk.is_empty() {
                break;
            }
            sink.write_all(&chunk).map_err(|source| Error::Io {
                what: format!("cannot write data of volume '{}'", self.name),
                source,
            })?;
            pos += chunk.len() as u64;
            progress(pos - offset, total);
        }
        Ok(pos - offset)
    }

    /// Writes `length` bytes (0: until `source` ends) from `source` at
    /// `offset`, in bounded chunks. Returns the bytes written.
    pub fn upload(
        &self,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        let state =
            local_or!(self.pool.conn, r => r.vol_upload(self, offset, length, source, progress));
        self.pool.conn.check_writable()?;
        let driver = Connect::storage_driver(state)?;
        let info = self.refreshed_info()?;
        let pool = self.pool.uuid.to_string();
        if offset > info.capacity {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!(
                    "offset {offset} is beyond the end of volume '{}'",
                    self.name
                ),
            ));
        }
        let limit = if length == 0 { u64::MAX } else { length };
        let total = if length == 0 {
            info.capacity - offset
        } else {
            length
        };
        let mut buf = vec![0u8; CHUNK as usize];
        let mut written = 0u64;
        while written < limit {
            let want = (limit - written).min(u64::from(CHUNK)) as usize;
            let n = read_full(source, &mut buf[..want]).map_err(|source| Error::Io {
                what: format!("cannot read data for volume '{}'", self.name),
                source,
            })?;
            if n == 0 {
                break;
            }
            if offset + written + n as u64 > info.capacity {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "cannot write past the end of volume '{}' ({} bytes): No space left on device",
                        self.name, info.capacity
                    ),
                ));
            }
            driver.volume_write(&pool, &self.name, offset + written, &buf[..n])?;
            written += n as u64;
            progress(written, total);
        }
        let _ = self.refreshed_info();
        Ok(written)
    }
}

/// Reads until `buf` is full or the source ends.
pub(crate) fn read_full(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
