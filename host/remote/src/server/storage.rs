//! Storage pool and volume procedures; upload and download are in `stream`.

use super::handles::{pool, wire_pool, wire_vol};
use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::pool_flags as flags;
use wirt::connect::{Connect, Result, StorageVol};

/// A volume reference with its key, as lookups return it.
fn keyed_vol(v: &StorageVol) -> Result<NonnullStorageVol> {
    Ok(wire_vol(v, v.key()?))
}

pub(super) fn vol(conn: &Connect, v: NonnullStorageVol) -> Result<StorageVol> {
    conn.lookup_pool_by_name(&v.pool)?
        .lookup_vol_by_name(&v.name)
}

/// A volume's info as `$ret` (`StorageVolGetInfoRet` or its `Flags` twin).
macro_rules! vol_info {
    ($ret:ident, $info:expr) => {{
        let i: wirt::connect::VolInfo = $info;
        $ret {
            r#type: i8::try_from(i.kind).unwrap_or(0),
            capacity: i.capacity,
            allocation: i.allocation,
        }
    }};
}

fn int(b: bool) -> i32 {
    i32::from(b)
}

fn pool_names(conn: &Connect, flags: u32, max: i32) -> Result<Vec<String>> {
    let names: Vec<String> = conn
        .list_all_pools(flags)?
        .iter()
        .map(|p| p.name().to_string())
        .take(usize::try_from(max).unwrap_or(0))
        .collect();
    check_list_len(names.len(), REMOTE_STORAGE_POOL_LIST_MAX, "storage pools")?;
    Ok(names)
}

fn pool_count(conn: &Connect, flags: u32) -> Result<i32> {
    Ok(conn.list_all_pools(flags)?.len() as i32)
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::ConnectGetStoragePoolCapabilities(a) => {
            conn.storage_pool_capabilities(a.flags).map(|capabilities| {
                Reply::ConnectGetStoragePoolCapabilities(ConnectGetStoragePoolCapabilitiesRet {
                    capabilities,
                })
            })
        }
        Call::ConnectListAllStoragePools(a) => conn.list_all_pools(a.flags).and_then(|pools| {
            check_list_len(pools.len(), REMOTE_STORAGE_POOL_LIST_MAX, "storage pools")?;
            Ok(Reply::ConnectListAllStoragePools(
                ConnectListAllStoragePoolsRet {
                    ret: pools.len() as u32,
                    pools: if a.need_results != 0 {
                        pools.iter().map(wire_pool).collect()
                    } else {
                        Vec::new()
                    },
                },
            ))
        }),
        Call::ConnectNumOfStoragePools(()) => pool_count(conn, flags::LIST_ACTIVE)
            .map(|num| Reply::ConnectNumOfStoragePools(ConnectNumOfStoragePoolsRet { num })),
        Call::ConnectListStoragePools(a) => pool_names(conn, flags::LIST_ACTIVE, a.maxnames)
            .map(|names| Reply::ConnectListStoragePools(ConnectListStoragePoolsRet { names })),
        Call::ConnectNumOfDefinedStoragePools(()) => {
            pool_count(conn, flags::LIST_INACTIVE).map(|num| {
                Reply::ConnectNumOfDefinedStoragePools(ConnectNumOfDefinedStoragePoolsRet { num })
            })
        }
        Call::ConnectListDefinedStoragePools(a) => {
            pool_names(conn, flags::LIST_INACTIVE, a.maxnames).map(|names| {
                Reply::ConnectListDefinedStoragePools(ConnectListDefinedStoragePoolsRet { names })
            })
        }
        Call::StoragePoolLookupByTargetPath(a) => {
            conn.lookup_pool_by_target_path(&a.path).map(|p| {
                Reply::StoragePoolLookupByTargetPath(StoragePoolLookupByTargetPathRet {
                    pool: wire_pool(&p),
                })
            })
        }
        Call::StoragePoolLookupByName(a) => conn.lookup_pool_by_name(&a.name).map(|p| {
            Reply::StoragePoolLookupByName(StoragePoolLookupByNameRet {
                pool: wire_pool(&p),
            })
        }),
        Call::StoragePoolLookupByUuid(a) => conn
            .lookup_pool_by_uuid(&uuid::Uuid::from_bytes(a.uuid))
            .map(|p| {
                Reply::StoragePoolLookupByUuid(StoragePoolLookupByUuidRet {
                    pool: wire_pool(&p),
                })
            }),
        Call::StoragePoolLookupByVolume(a) => conn.lookup_pool_by_name(&a.vol.pool).map(|p| {
            Reply::StoragePoolLookupByVolume(StoragePoolLookupByVolumeRet {
                pool: wire_pool(&p),
            })
        }),
        Call::StoragePoolCreateXml(a) => conn.create_pool_xml(&a.xml).map(|p| {
            Reply::StoragePoolCreateXml(StoragePoolCreateXmlRet {
                pool: wire_pool(&p),
            })
        }),
        Call::StoragePoolDefineXml(a) => conn.define_pool_xml(&a.xml).map(|p| {
            Reply::StoragePoolDefineXml(StoragePoolDefineXmlRet {
                pool: wire_pool(&p),
            })
        }),
        Call::StoragePoolBuild(a) => pool(conn, a.pool)
            .build(a.flags)
            .map(Reply::StoragePoolBuild),
        Call::StoragePoolCreate(a) => pool(conn, a.pool)
            .create(a.flags)
            .map(Reply::StoragePoolCreate),
        Call::StoragePoolDestroy(a) => pool(conn, a.pool).destroy().map(Reply::StoragePoolDestroy),
        Call::StoragePoolDelete(a) => pool(conn, a.pool)
            .delete(a.flags)
            .map(Reply::StoragePoolDelete),
        Call::StoragePoolUndefine(a) => pool(conn, a.pool)
            .undefine()
            .map(Reply::StoragePoolUndefine),
        Call::StoragePoolRefresh(a) => pool(conn, a.pool).refresh().map(Reply::StoragePoolRefresh),
        Call::StoragePoolGetInfo(a) => pool(conn, a.pool).info().map(|i| {
            Reply::StoragePoolGetInfo(StoragePoolGetInfoRet {
                state: u8::try_from(i.state).unwrap_or(0),
                capacity: i.capacity,
                allocation: i.allocation,
                available: i.available,
            })
        }),
        Call::StoragePoolGetXmlDesc(a) => pool(conn, a.pool)
            .xml_desc(a.flags)
            .map(|xml| Reply::StoragePoolGetXmlDesc(StoragePoolGetXmlDescRet { xml })),
        Call::StoragePoolGetAutostart(a) => pool(conn, a.pool).autostart().map(|b| {
            Reply::StoragePoolGetAutostart(StoragePoolGetAutostartRet { autostart: int(b) })
        }),
        Call::StoragePoolSetAutostart(a) => pool(conn, a.pool)
            .set_autostart(a.autostart != 0)
            .map(Reply::StoragePoolSetAutostart),
        Call::StoragePoolIsActive(a) => pool(conn, a.pool)
            .is_active()
            .map(|b| Reply::StoragePoolIsActive(StoragePoolIsActiveRet { active: int(b) })),
        Call::StoragePoolIsPersistent(a) => pool(conn, a.pool).is_persistent().map(|b| {
            Reply::StoragePoolIsPersistent(StoragePoolIsPersistentRet { persistent: int(b) })
        }),
        Call::StoragePoolNumOfVolumes(a) => pool(conn, a.pool).list_all_volumes().map(|v| {
            Reply::StoragePoolNumOfVolumes(StoragePoolNumOfVolumesRet {
                num: v.len() as i32,
            })
        }),
        Call::StoragePoolListVolumes(a) => pool(conn, a.pool).list_all_volumes().and_then(|vols| {
            let names: Vec<String> = vols
                .iter()
                .map(|v| v.name().to_string())
                .take(usize::try_from(a.maxnames).unwrap_or(0))
                .collect();
            check_list_len(names.len(), REMOTE_STORAGE_VOL_LIST_MAX, "storage volumes")?;
            Ok(Reply::StoragePoolListVolumes(StoragePoolListVolumesRet {
                names,
            }))
        }),
        Call::StoragePoolListAllVolumes(a) => {
            pool(conn, a.pool).list_all_volumes().and_then(|vols| {
                check_list_len(vols.len(), REMOTE_STORAGE_VOL_LIST_MAX, "storage volumes")?;
                let wire = if a.need_results != 0 {
                    vols.iter()
                        .map(|v| Ok(wire_vol(v, v.key()?)))
                        .collect::<Result<_>>()?
                } else {
                    Vec::new()
                };
                Ok(Reply::StoragePoolListAllVolumes(
                    StoragePoolListAllVolumesRet {
                        ret: vols.len() as u32,
                        vols: wire,
                    },
                ))
            })
        }
        Call::StorageVolLookupByName(a) => pool(conn, a.pool)
            .lookup_vol_by_name(&a.name)
            .and_then(|v| keyed_vol(&v))
            .map(|vol| Reply::StorageVolLookupByName(StorageVolLookupByNameRet { vol })),
        Call::StorageVolLookupByKey(a) => conn
            .lookup_vol_by_path(&a.key)
            .and_then(|v| keyed_vol(&v))
            .map(|vol| Reply::StorageVolLookupByKey(StorageVolLookupByKeyRet { vol })),
        Call::StorageVolLookupByPath(a) => conn
            .lookup_vol_by_path(&a.path)
            .and_then(|v| keyed_vol(&v))
            .map(|vol| Reply::StorageVolLookupByPath(StorageVolLookupByPathRet { vol })),
        Call::StorageVolCreateXml(a) => pool(conn, a.pool)
            .create_volume_xml(&a.xml, a.flags)
            .and_then(|v| keyed_vol(&v))
            .map(|vol| Reply::StorageVolCreateXml(StorageVolCreateXmlRet { vol })),
        Call::StorageVolCreateXmlFrom(a) => vol(conn, a.clonevol)
            .and_then(|source| pool(conn, a.pool).create_volume_xml_from(&a.xml, &source, a.flags))
            .and_then(|v| keyed_vol(&v))
            .map(|vol| Reply::StorageVolCreateXmlFrom(StorageVolCreateXmlFromRet { vol })),
        Call::StorageVolDelete(a) => vol(conn, a.vol)
            .and_then(|v| v.delete(a.flags))
            .map(Reply::StorageVolDelete),
        Call::StorageVolWipe(a) => vol(conn, a.vol)
            .and_then(|v| v.wipe(0, a.flags))
            .map(Reply::StorageVolWipe),
        Call::StorageVolWipePattern(a) => vol(conn, a.vol)
            .and_then(|v| v.wipe(a.algorithm, a.flags))
            .map(Reply::StorageVolWipePattern),
        Call::StorageVolGetInfo(a) => vol(conn, a.vol)
            .and_then(|v| v.info())
            .map(|i| Reply::StorageVolGetInfo(vol_info!(StorageVolGetInfoRet, i))),
        Call::StorageVolGetInfoFlags(a) => vol(conn, a.vol)
            .and_then(|v| v.info())
            .map(|i| Reply::StorageVolGetInfoFlags(vol_info!(StorageVolGetInfoFlagsRet, i))),
        Call::StorageVolGetXmlDesc(a) => vol(conn, a.vol)
            .and_then(|v| v.xml_desc(a.flags))
            .map(|xml| Reply::StorageVolGetXmlDesc(StorageVolGetXmlDescRet { xml })),
        Call::StorageVolGetPath(a) => vol(conn, a.vol)
            .and_then(|v| v.path())
            .map(|name| Reply::StorageVolGetPath(StorageVolGetPathRet { name })),
        Call::StorageVolResize(a) => vol(conn, a.vol)
            .and_then(|v| v.resize(a.capacity, a.flags))
            .map(Reply::StorageVolResize),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}
