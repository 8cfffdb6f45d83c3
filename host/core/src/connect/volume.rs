//! Storage volume handles.

use std::io::{Read, Write};

use serde::Serialize;

use super::{Connect, Progress, Result, StoragePool, VolRef};
use crate::driver::VolumeInfo;

/// libvirt's flag bits for volume calls.
pub mod volume_flags {
    use wirt_vocab::flags::VolResize;

    /// `VIR_STORAGE_VOL_RESIZE_ALLOCATE`.
    pub const RESIZE_ALLOCATE: u32 = VolResize::ALLOCATE.bits();
    /// `VIR_STORAGE_VOL_RESIZE_DELTA`.
    pub const RESIZE_DELTA: u32 = VolResize::DELTA.bits();
    /// `VIR_STORAGE_VOL_RESIZE_SHRINK`.
    pub const RESIZE_SHRINK: u32 = VolResize::SHRINK.bits();
}

/// libvirt's `virStorageVolInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VolInfo {
    /// libvirt's `virStorageVolType` (0 file, 1 block, ...).
    pub kind: u32,
    /// Bytes the volume can hold.
    pub capacity: u64,
    /// Bytes it uses on the host.
    pub allocation: u64,
}

/// A handle to a storage volume.
#[derive(Clone, Debug)]
pub struct StorageVol {
    pool: StoragePool,
    r: VolRef,
}

impl Connect {
    /// The volume with key or path `path`, in any active pool.
    pub fn lookup_vol_by_path(&self, path: &str) -> Result<StorageVol> {
        let r = self.backend().lookup_vol_by_path(path)?;
        Ok(self.pool(r.pool).volume(r.name))
    }
}

impl StorageVol {
    pub(super) fn new(pool: StoragePool, r: VolRef) -> StorageVol {
        StorageVol { pool, r }
    }

    /// The volume's name.
    pub fn name(&self) -> &str {
        &self.r.name
    }

    /// The pool holding the volume.
    pub fn pool(&self) -> &StoragePool {
        &self.pool
    }

    /// What this handle names.
    pub fn reference(&self) -> &VolRef {
        &self.r
    }

    fn conn(&self) -> &Connect {
        self.pool.connect()
    }

    /// The volume as last scanned.
    pub fn cached_info(&self) -> Result<VolumeInfo> {
        self.conn().backend().vol_cached_info(&self.r)
    }

    /// The volume as the driver reports it now (updates the cache).
    pub fn refreshed_info(&self) -> Result<VolumeInfo> {
        self.conn().backend().vol_refreshed_info(&self.r)
    }

    /// libvirt's `virStorageVolInfo`.
    pub fn info(&self) -> Result<VolInfo> {
        self.conn().backend().vol_info(&self.r)
    }

    /// The volume's path on the host.
    pub fn path(&self) -> Result<String> {
        self.conn().backend().vol_path(&self.r)
    }

    /// The volume's key.
    pub fn key(&self) -> Result<String> {
        self.conn().backend().vol_key(&self.r)
    }

    /// The volume XML.
    pub fn xml_desc(&self, flags: u32) -> Result<String> {
        self.conn().backend().vol_xml_desc(&self.r, flags)
    }

    /// Deletes the volume.
    pub fn delete(&self, flags: u32) -> Result<()> {
        self.conn().check_writable()?;
        self.conn().backend().vol_delete(&self.r, flags)
    }

    /// Overwrites the content. algorithm: libvirt's `VIR_STORAGE_VOL_WIPE_ALG_*` (0 zero).
    pub fn wipe(&self, algorithm: u32, flags: u32) -> Result<()> {
        self.conn().check_writable()?;
        self.conn().backend().vol_wipe(&self.r, algorithm, flags)
    }

    /// Changes the capacity, with libvirt's rules: never below the
    /// allocation, shrinking only with flag 4, never beyond the pool's free
    /// space. flags: 1 allocate, 2 delta, 4 shrink.
    pub fn resize(&self, capacity: u64, flags: u32) -> Result<()> {
        self.conn().check_writable()?;
        self.conn().backend().vol_resize(&self.r, capacity, flags)
    }

    /// Copies `length` bytes (0: to the end) starting at `offset` into `sink`.
    /// Returns the bytes copied.
    pub fn download(
        &self,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<u64> {
        self.conn()
            .backend()
            .vol_download(&self.r, offset, length, sink, progress)
    }

    /// Writes `length` bytes (0: until `source` ends) from `source` at
    /// `offset`. Returns the bytes written.
    pub fn upload(
        &self,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64> {
        self.conn().check_writable()?;
        self.conn()
            .backend()
            .vol_upload(&self.r, offset, length, source, progress)
    }
}

/// Reads until `buf` is full or the source ends.
pub fn read_full(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
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
