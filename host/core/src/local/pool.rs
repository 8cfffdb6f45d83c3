//! Storage pools, and making volumes in them. The host enforces libvirt's generic rules
//! (names, duplicates, active pools, resize limits); the storage driver
//! does the work.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::{Local, convert};
use crate::connect::pool_flags as flags;
use crate::connect::{
    Error, PoolBackend, PoolInfo, PoolRef, Result, VolRef, VolumeBackend, check_flags,
};
use crate::driver::{StorageDriver, VolumeConfig, VolumeInfo};
use crate::error::ErrorCode;
use crate::events::{PoolEvent, PoolLifecycle};
use crate::registry::{PoolObj, Registry};
use crate::xml::pool::{PoolSizes, check_volume_name};
use crate::xml::{PoolDef, VolumeDef};

fn no_pool(detail: String) -> Error {
    Error::api(ErrorCode::NO_STORAGE_POOL, detail)
}

pub(super) fn no_vol(detail: String) -> Error {
    Error::api(ErrorCode::NO_STORAGE_VOL, detail)
}

fn not_active(name: &str) -> Error {
    Error::api(
        ErrorCode::OPERATION_INVALID,
        format!("storage pool '{name}' is not active"),
    )
}

impl Local {
    pub(super) fn storage_driver(&self) -> Result<Arc<dyn StorageDriver>> {
        self.state
            .drivers
            .storage
            .as_ref()
            .ok_or_else(|| Error::api(ErrorCode::NO_SUPPORT, "virConnectListAllStoragePools"))?
            .get()
    }

    pub(super) fn with_pool<R>(
        &self,
        pool: &PoolRef,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        let mut reg = self.state.lock();
        if !reg.pools.contains_key(&pool.uuid) {
            return Err(no_pool(format!(
                "no storage pool with matching uuid '{}' ({})",
                pool.uuid, pool.name
            )));
        }
        f(&mut reg, &pool.uuid)
    }

    pub(super) fn with_active_pool<R>(
        &self,
        pool: &PoolRef,
        f: impl FnOnce(&mut Registry, &Uuid) -> Result<R>,
    ) -> Result<R> {
        self.with_pool(pool, |reg, uuid| {
            if !reg.pools[uuid].active {
                return Err(not_active(&reg.pools[uuid].def.name));
            }
            f(reg, uuid)
        })
    }
}

impl Local {
    fn pool_event(&self, pool: &PoolRef, event: PoolLifecycle) {
        self.state.pool_events.emit(PoolEvent {
            name: pool.name.clone(),
            uuid: pool.uuid,
            event,
        });
    }
}

pub(super) fn pool_ref(p: &PoolObj) -> PoolRef {
    PoolRef {
        name: p.def.name.clone(),
        uuid: p.def.uuid,
    }
}

/// libvirt 9.0's pool types, in its order (`virStoragePoolType`).
const POOL_TYPES: &[&str] = &[
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "iscsi-direct",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
];

/// The `<pool>` of a served type: its volumes' formats.
fn served_pool(kind: &str) -> String {
    format!(
        "  <pool type='{kind}' supported='yes'>\n    <volOptions>\n      <defaultFormat type='raw'/>\n      \
         <enum name='targetFormatType'>\n        <value>raw</value>\n        <value>qcow2</value>\n      \
         </enum>\n    </volOptions>\n  </pool>\n"
    )
}

impl PoolBackend for Local {
    fn storage_pool_capabilities(&self, flags: u32) -> Result<String> {
        check_flags(flags, 0, "virConnectGetStoragePoolCapabilities")?;
        // libvirt's test driver has none.
        if self.state.info.type_name == "TEST" {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virConnectGetStoragePoolCapabilities",
            ));
        }
        let served = self.storage_driver()?.pool_types()?;
        let mut xml = String::from("<storagepoolCapabilities>\n");
        for kind in POOL_TYPES {
            if served.iter().any(|s| s == kind) {
                xml.push_str(&served_pool(kind));
            } else {
                xml.push_str(&format!("  <pool type='{kind}' supported='no'/>\n"));
            }
        }
        xml.push_str("</storagepoolCapabilities>\n");
        Ok(xml)
    }

    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        let state = &self.state;
        self.storage_driver()?;
        let reg = state.lock();
        reg.pool_by_name(name)
            .map(pool_ref)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{name}'")))
    }

    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        let state = &self.state;
        self.storage_driver()?;
        let reg = state.lock();
        reg.pools
            .get(uuid)
            .map(pool_ref)
            .ok_or_else(|| no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    /// Pools matching libvirt's `VIR_CONNECT_LIST_STORAGE_POOLS_*` flags, by name.
    fn list_all_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        let state = &self.state;
        use flags::*;
        check_flags(flags, (1 << 19) - 1, "virConnectListAllStoragePools")?;
        self.storage_driver()?;
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
        Ok(found.into_iter().map(pool_ref).collect())
    }

    fn define_pool_xml(&self, xml: &str) -> Result<PoolRef> {
        let state = &self.state;
        let driver = self.storage_driver()?;
        let def = PoolDef::parse(xml)?;
        check_pool_type(driver.as_ref(), &def)?;
        let mut reg = state.lock();
        check_pool_unique(&reg, &def)?;
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
        let made = pool_ref(&reg.pools[&uuid]);
        self.pool_event(&made, PoolLifecycle::Defined);
        Ok(made)
    }

    /// Creates and starts a transient pool.
    fn create_pool_xml(&self, xml: &str) -> Result<PoolRef> {
        let state = &self.state;
        let driver = self.storage_driver()?;
        let def = PoolDef::parse(xml)?;
        check_pool_type(driver.as_ref(), &def)?;
        let mut reg = state.lock();
        check_pool_unique(&reg, &def)?;
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
        let made = pool_ref(&reg.pools[&uuid]);
        self.pool_event(&made, PoolLifecycle::Started);
        Ok(made)
    }
    fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        self.with_pool(pool, |reg, uuid| Ok(reg.pools[uuid].active))
    }

    fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        self.with_pool(pool, |reg, uuid| Ok(reg.pools[uuid].persistent))
    }

    fn pool_autostart(&self, pool: &PoolRef) -> Result<bool> {
        self.with_pool(pool, |reg, uuid| Ok(reg.pools[uuid].autostart))
    }

    fn pool_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let driver = self.storage_driver()?;
        self.with_pool(pool, |reg, uuid| {
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

    fn pool_xml_desc(&self, pool: &PoolRef, _flags: u32) -> Result<String> {
        let info = self.pool_info(pool)?;
        self.with_pool(pool, |reg, uuid| {
            Ok(reg.pools[uuid].def.to_xml(PoolSizes {
                capacity: info.capacity,
                allocation: info.allocation,
                available: info.available,
            }))
        })
    }

    /// Creates the pool's backing (for dir pools, the directory).
    fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::BUILD_NO_OVERWRITE | flags::BUILD_OVERWRITE,
            "virStoragePoolBuild",
        )?;
        let driver = self.storage_driver()?;
        self.with_pool(pool, |reg, uuid| {
            let p = &reg.pools[uuid];
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is already active", p.def.name),
                ));
            }
            driver.pool_build(&convert::pool_config(&p.def), flags)?;
            Ok(())
        })?;
        self.pool_event(pool, PoolLifecycle::Created);
        Ok(())
    }

    /// Starts the pool and scans its volumes.
    fn pool_create(&self, pool: &PoolRef, _flags: u32) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_pool(pool, |reg, uuid| {
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
        })?;
        self.pool_event(pool, PoolLifecycle::Started);
        Ok(())
    }

    fn pool_destroy(&self, pool: &PoolRef) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_active_pool(pool, |reg, uuid| {
            driver.pool_stop(&uuid.to_string())?;
            let p = reg.pools.get_mut(uuid).expect("checked");
            p.active = false;
            p.volumes.clear();
            if !p.persistent {
                reg.pools.remove(uuid);
            }
            Ok(())
        })?;
        self.pool_event(pool, PoolLifecycle::Stopped);
        Ok(())
    }

    /// Removes the pool's backing; the pool must be inactive.
    fn pool_delete(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_pool(pool, |reg, uuid| {
            let p = &reg.pools[uuid];
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is still active", p.def.name),
                ));
            }
            driver.pool_delete(&convert::pool_config(&p.def), flags)?;
            Ok(())
        })?;
        self.pool_event(pool, PoolLifecycle::Deleted);
        Ok(())
    }

    fn pool_undefine(&self, pool: &PoolRef) -> Result<()> {
        self.with_pool(pool, |reg, uuid| {
            let p = reg.pools.get_mut(uuid).expect("checked");
            if p.active {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    format!("storage pool '{}' is still active", p.def.name),
                ));
            }
            reg.pools.remove(uuid);
            persist_pool(reg, uuid)
        })?;
        self.pool_event(pool, PoolLifecycle::Undefined);
        Ok(())
    }

    /// Rescans the pool: external changes appear only now.
    fn pool_refresh(&self, pool: &PoolRef) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_active_pool(pool, |reg, uuid| {
            let volumes = refresh_volumes(driver.as_ref(), uuid)?;
            reg.pools.get_mut(uuid).expect("checked").volumes = volumes;
            Ok(())
        })?;
        self.pool_event(pool, PoolLifecycle::Refreshed);
        Ok(())
    }

    fn pool_events(&self) -> Result<crate::events::EventStream<PoolEvent>> {
        Ok(self.state.pool_events.subscribe())
    }

    fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()> {
        self.with_pool(pool, |reg, uuid| {
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

    fn pool_target_path(&self, pool: &PoolRef) -> Result<Option<String>> {
        self.with_pool(pool, |reg, uuid| {
            Ok(reg.pools[uuid].def.target_path.clone())
        })
    }

    fn pool_type(&self, pool: &PoolRef) -> Result<String> {
        self.with_pool(pool, |reg, uuid| Ok(reg.pools[uuid].def.pool_type.clone()))
    }

    /// Volumes as of the last refresh, by name.
    fn list_all_volumes(&self, pool: &PoolRef) -> Result<Vec<VolRef>> {
        self.with_active_pool(pool, |reg, uuid| {
            Ok(reg.pools[uuid]
                .volumes
                .keys()
                .map(|name| VolRef {
                    pool: pool.clone(),
                    name: name.clone(),
                })
                .collect())
        })
    }

    fn lookup_vol_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolRef> {
        self.with_active_pool(pool, |reg, uuid| {
            if reg.pools[uuid].volumes.contains_key(name) {
                Ok(VolRef {
                    pool: pool.clone(),
                    name: name.to_string(),
                })
            } else {
                Err(no_vol(format!(
                    "no storage vol with matching name '{name}'"
                )))
            }
        })
    }

    /// Creates a volume from `<volume>` XML.
    fn create_volume_xml(&self, pool: &PoolRef, xml: &str, _flags: u32) -> Result<VolRef> {
        let mut def = VolumeDef::parse(xml)?;
        let driver = self.storage_driver()?;
        self.with_active_pool(pool, |reg, uuid| {
            check_new_volume(reg, uuid, &def)?;
            let backing = super::backing::resolve(reg, &mut def)?;
            let mut config = volume_config(&def);
            config.backing = backing;
            let info = driver.volume_create(&uuid.to_string(), &config, 0)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(info.name.clone(), info);
            Ok(VolRef {
                pool: pool.clone(),
                name: def.name.clone(),
            })
        })
    }

    /// Creates a volume from `<volume>` XML with the content of `source`.
    fn create_volume_xml_from(
        &self,
        pool: &PoolRef,
        xml: &str,
        source: &VolRef,
        _flags: u32,
    ) -> Result<VolRef> {
        let mut def = VolumeDef::parse(xml)?;
        let driver = self.storage_driver()?;
        let source_info = self.vol_refreshed_info(source)?;
        self.with_active_pool(pool, |reg, uuid| {
            check_new_volume(reg, uuid, &def)?;
            def.capacity = def.capacity.max(source_info.capacity);
            let info = driver.volume_clone(
                &uuid.to_string(),
                &volume_config(&def),
                &source.pool.uuid.to_string(),
                &source.name,
                0,
            )?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(info.name.clone(), info);
            Ok(VolRef {
                pool: pool.clone(),
                name: def.name.clone(),
            })
        })
    }
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

fn check_pool_type(driver: &dyn StorageDriver, def: &PoolDef) -> Result<()> {
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

fn volume_config(def: &VolumeDef) -> VolumeConfig {
    VolumeConfig {
        name: def.name.clone(),
        capacity: def.capacity,
        allocation: def.allocation.unwrap_or(def.capacity),
        format: def.format.clone().unwrap_or_else(|| "raw".into()),
        backing: None,
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
    if def.allocation.is_some_and(|a| a > def.capacity) && def.format.as_deref() != Some("qcow2") {
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
