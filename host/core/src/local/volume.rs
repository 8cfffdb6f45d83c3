//! Storage volumes: information, content, and their changes.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use uuid::Uuid;

use super::Local;
use super::pool::{no_vol, pool_ref};
use crate::connect::volume_flags as flags;
use crate::connect::{
    Error, PoolBackend, Progress, Result, VolInfo, VolRef, VolumeBackend, check_flags,
};
use crate::driver::VolumeInfo;
use crate::error::ErrorCode;
use crate::registry::Registry;
use crate::xml::VolumeDef;
use crate::xml::pool::VolumeLive;

/// Largest chunk moved per driver call during upload/download.
/// 4 MiB: big enough that per-call costs vanish, small enough to bound memory.
const CHUNK: u32 = 4 << 20;

/// What the host moves at a time through a raw volume's file: dd's block
/// size in `benches/compare-dd.sh`, a buffer that stays in the CPU's cache
/// between the read and the write.
const FILE_CHUNK: usize = 1 << 20;

impl Local {
    /// Runs `f` on the volume's pool entry and its cached record, under the
    /// connection lock.
    fn with_vol<R>(
        &self,
        vol: &VolRef,
        f: impl FnOnce(&mut Registry, &Uuid, &VolumeInfo) -> Result<R>,
    ) -> Result<R> {
        self.with_active_pool(&vol.pool, |reg, uuid| {
            let info = reg.pools[uuid]
                .volumes
                .get(&vol.name)
                .cloned()
                .ok_or_else(|| {
                    no_vol(format!("no storage vol with matching name '{}'", vol.name))
                })?;
            f(reg, uuid, &info)
        })
    }
}

impl VolumeBackend for Local {
    fn lookup_vol_by_path(&self, path: &str) -> Result<VolRef> {
        self.storage_driver()?;
        let reg = self.state.lock();
        for p in reg.pools.values().filter(|p| p.active) {
            if let Some(v) = p.volumes.values().find(|v| v.path == path || v.key == path) {
                return Ok(VolRef {
                    pool: pool_ref(p),
                    name: v.name.clone(),
                });
            }
        }
        Err(no_vol(format!(
            "no storage vol with matching path '{path}'"
        )))
    }

    fn vol_cached_info(&self, vol: &VolRef) -> Result<VolumeInfo> {
        self.with_vol(vol, |_, _, info| Ok(info.clone()))
    }

    /// The volume as the driver reports it now (updates the cache).
    fn vol_refreshed_info(&self, vol: &VolRef) -> Result<VolumeInfo> {
        let driver = self.storage_driver()?;
        self.with_vol(vol, |reg, uuid, _| {
            let info = driver.volume_info(&uuid.to_string(), &vol.name)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .insert(vol.name.clone(), info.clone());
            Ok(info)
        })
    }

    fn vol_info(&self, vol: &VolRef) -> Result<VolInfo> {
        let info = self.vol_refreshed_info(vol)?;
        Ok(VolInfo {
            kind: info.kind,
            capacity: info.capacity,
            allocation: info.allocation,
        })
    }

    fn vol_path(&self, vol: &VolRef) -> Result<String> {
        Ok(self.vol_cached_info(vol)?.path)
    }

    fn vol_key(&self, vol: &VolRef) -> Result<String> {
        Ok(self.vol_cached_info(vol)?.key)
    }

    fn vol_xml_desc(&self, vol: &VolRef, _flags: u32) -> Result<String> {
        let info = self.vol_refreshed_info(vol)?;
        let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
            .get(info.kind as usize)
            .copied()
            .unwrap_or("file");
        let mut xml = VolumeDef::format_live(
            &info.name,
            &VolumeLive {
                kind: kind.into(),
                key: info.key.clone(),
                path: info.path.clone(),
                capacity: info.capacity,
                allocation: info.allocation,
                format: info.format.clone(),
            },
        );
        // An overlay's chain, from its header (the host reads it; the
        // plugin's record has no place for it in this contract version).
        if info.format == "qcow2"
            && let Some(store) = super::backing::xml(&info.path)
            && let Some(end) = xml.rfind("</volume>")
        {
            xml.insert_str(end, &store);
        }
        Ok(xml)
    }

    fn vol_delete(&self, vol: &VolRef, flags: u32) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_vol(vol, |reg, uuid, _| {
            driver.volume_delete(&uuid.to_string(), &vol.name, flags)?;
            reg.pools
                .get_mut(uuid)
                .expect("checked")
                .volumes
                .remove(&vol.name);
            Ok(())
        })
    }

    /// Overwrites the content. algorithm: libvirt's `VIR_STORAGE_VOL_WIPE_ALG_*` (0 zero).
    fn vol_wipe(&self, vol: &VolRef, algorithm: u32, flags: u32) -> Result<()> {
        let driver = self.storage_driver()?;
        self.with_vol(vol, |_, uuid, _| {
            Ok(driver.volume_wipe(&uuid.to_string(), &vol.name, algorithm, flags)?)
        })
    }

    /// Changes the capacity, with libvirt's rules: never below the
    /// allocation, shrinking only with flag 4, never beyond the pool's free
    /// space. flags: 1 allocate, 2 delta, 4 shrink.
    fn vol_resize(&self, vol: &VolRef, capacity: u64, flags: u32) -> Result<()> {
        use flags::*;
        check_flags(
            flags,
            RESIZE_ALLOCATE | RESIZE_DELTA | RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        let driver = self.storage_driver()?;
        let pool_info = self.pool_info(&vol.pool)?;
        self.with_vol(vol, |reg, uuid, info| {
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
            let new = driver.volume_resize(&uuid.to_string(), &vol.name, target, flags & !RESIZE_DELTA)?;
            reg.pools.get_mut(uuid).expect("checked").volumes.insert(vol.name.clone(), new);
            Ok(())
        })
    }

    /// Copies `length` bytes (0: to the end) starting at `offset` into `sink`,
    /// in bounded chunks. Returns the bytes copied.
    fn vol_download(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let driver = self.storage_driver()?;
        let info = self.vol_refreshed_info(vol)?;
        let pool = vol.pool.uuid.to_string();
        if offset > info.capacity {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("offset {offset} is beyond the end of volume '{}'", vol.name),
            ));
        }
        let end = if length == 0 {
            info.capacity
        } else {
            offset.saturating_add(length).min(info.capacity)
        };
        let total = end - offset;
        let mut pos = offset;
        let written = |source| Error::Io {
            what: format!("cannot write data of volume '{}'", vol.name),
            source,
        };
        // A raw volume's file is read here: one copy, as dd makes.
        if let Some(file) = driver.volume_file(&pool, &info, false)? {
            let mut buf = vec![0u8; FILE_CHUNK];
            while pos < end {
                let want = (end - pos).min(FILE_CHUNK as u64) as usize;
                let n = file
                    .read_at(&mut buf[..want], pos)
                    .map_err(|source| Error::Io {
                        what: format!("cannot read volume '{}'", vol.name),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                sink.write_all(&buf[..n]).map_err(written)?;
                pos += n as u64;
                progress(pos - offset, total);
            }
            return Ok(pos - offset);
        }
        while pos < end {
            let want = (end - pos).min(u64::from(CHUNK)) as u32;
            let chunk = driver.volume_read(&pool, &vol.name, pos, want)?;
            if chunk.is_empty() {
                break;
            }
            sink.write_all(&chunk).map_err(written)?;
            pos += chunk.len() as u64;
            progress(pos - offset, total);
        }
        Ok(pos - offset)
    }

    /// Writes `length` bytes (0: until `source` ends) from `source` at
    /// `offset`, in bounded chunks. Returns the bytes written.
    fn vol_upload(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let driver = self.storage_driver()?;
        let info = self.vol_refreshed_info(vol)?;
        let pool = vol.pool.uuid.to_string();
        if offset > info.capacity {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                format!("offset {offset} is beyond the end of volume '{}'", vol.name),
            ));
        }
        let limit = if length == 0 { u64::MAX } else { length };
        let total = if length == 0 {
            info.capacity - offset
        } else {
            length
        };
        let mut written = 0u64;
        // A raw volume's file is written here: one copy, as dd makes.
        let file = driver.volume_file(&pool, &info, true)?;
        let chunk = if file.is_some() {
            FILE_CHUNK
        } else {
            CHUNK as usize
        };
        let mut buf = vec![0u8; chunk];
        while written < limit {
            let want = (limit - written).min(chunk as u64) as usize;
            let n = crate::connect::read_full(source, &mut buf[..want]).map_err(|source| {
                Error::Io {
                    what: format!("cannot read data for volume '{}'", vol.name),
                    source,
                }
            })?;
            if n == 0 {
                break;
            }
            if offset + written + n as u64 > info.capacity {
                return Err(Error::api(
                    ErrorCode::INVALID_ARG,
                    format!(
                        "cannot write past the end of volume '{}' ({} bytes): No space left on device",
                        vol.name, info.capacity
                    ),
                ));
            }
            match &file {
                Some(file) => file
                    .write_all_at(&buf[..n], offset + written)
                    .map_err(|source| Error::Io {
                        what: format!("cannot write volume '{}'", vol.name),
                        source,
                    })?,
                None => driver.volume_write(&pool, &vol.name, offset + written, &buf[..n])?,
            }
            written += n as u64;
            progress(written, total);
        }
        let _ = self.vol_refreshed_info(vol);
        Ok(written)
    }
}
