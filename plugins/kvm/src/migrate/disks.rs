//! Storage migration (libvirt's `--copy-storage-all`): the disks' contents
//! go through the migration stream with the RAM. The source sends each
//! disk's chunks that hold data while the guest runs (a fresh destination
//! image reads zeros elsewhere: holes are skipped), then in every pre-copy
//! round the chunks the guest wrote meanwhile, and the last ones with the
//! guest paused. The destination writes them into images of its own.

use std::io::Read;
use std::sync::Arc;

use super::MigrateError;
use super::send::Out;
use super::stream::{MAX_DISKS, Record, TAG_DISK, TAG_DISK_ZERO, TAG_DISKS};
use crate::devices::virtio::block::Disk;
use crate::devices::virtio::block::written::CHUNK;
use crate::snapshot::page_is_zero;

fn io(index: usize) -> impl Fn(crate::devices::virtio::block::disk::IoError) -> MigrateError {
    move |source| MigrateError::Disk { index, source }
}

fn size(d: &Disk) -> u64 {
    d.sectors() * 512
}

/// The length of the chunk at `offset` of a disk of `size` bytes.
fn chunk_len(offset: u64, size: u64) -> usize {
    CHUNK.min(size - offset) as usize
}

/// The source's side: the disks being copied, tracked while it lasts.
pub(super) struct Sender<'a> {
    disks: &'a [Arc<Disk>],
    buf: Vec<u8>,
}

impl<'a> Sender<'a> {
    /// Starts tracking guest writes to `disks`.
    pub(super) fn new(disks: &'a [Arc<Disk>]) -> Sender<'a> {
        for d in disks {
            d.track_writes();
        }
        Sender {
            disks,
            buf: vec![0; CHUNK as usize],
        }
    }

    /// The DISKS record: how many disks, and their sizes.
    pub(super) fn announce(&self, out: &mut Out) -> Result<(), MigrateError> {
        out.record(TAG_DISKS, self.disks.len() as u32, 0)?;
        for d in self.disks {
            out.put(&size(d).to_le_bytes())?;
        }
        Ok(())
    }

    fn send_chunk(
        &mut self,
        out: &mut Out,
        index: usize,
        chunk: u64,
        skip_zero: bool,
    ) -> Result<u64, MigrateError> {
        let d = &self.disks[index];
        let total = size(d);
        let offset = chunk * CHUNK;
        if offset >= total {
            return Ok(0);
        }
        let buf = &mut self.buf[..chunk_len(offset, total)];
        d.read_bytes(buf, offset).map_err(io(index))?;
        if page_is_zero(buf) {
            if !skip_zero {
                out.record(TAG_DISK_ZERO, index as u32, offset)?;
            }
            return Ok(0);
        }
        out.record(TAG_DISK, index as u32, offset)?;
        out.put(buf)?;
        Ok(buf.len() as u64)
    }

    /// Every chunk of every disk that holds data; returns the bytes sent.
    pub(super) fn send_all(&mut self, out: &mut Out) -> Result<u64, MigrateError> {
        let mut sent = 0;
        for index in 0..self.disks.len() {
            // Read-only disks are shared (installation media): not copied.
            if self.disks[index].readonly() {
                continue;
            }
            let chunks = size(&self.disks[index]).div_ceil(CHUNK);
            for chunk in 0..chunks {
                sent += self.send_chunk(out, index, chunk, true)?;
            }
        }
        Ok(sent)
    }

    /// Bytes the guest wrote that are not sent yet.
    pub(super) fn pending_bytes(&self) -> u64 {
        self.disks.iter().map(|d| d.written_pending() * CHUNK).sum()
    }

    /// The chunks written since the last look; returns (bytes, chunks).
    pub(super) fn send_written(&mut self, out: &mut Out) -> Result<(u64, u64), MigrateError> {
        let (mut bytes, mut chunks) = (0, 0);
        for index in 0..self.disks.len() {
            for chunk in self.disks[index].take_written() {
                bytes += self.send_chunk(out, index, chunk, false)?;
                chunks += 1;
            }
        }
        Ok((bytes, chunks))
    }
}

impl Drop for Sender<'_> {
    fn drop(&mut self) {
        for d in self.disks {
            d.stop_tracking_writes();
        }
    }
}

/// The destination's side: checks the DISKS record against its images.
pub(super) fn check_announced(
    input: &mut impl Read,
    count: u32,
    disks: &[Arc<Disk>],
) -> Result<(), MigrateError> {
    if count > MAX_DISKS || count as usize != disks.len() {
        return Err(MigrateError::Format(format!(
            "{count} disks announced, {} here",
            disks.len()
        )));
    }
    for (index, d) in disks.iter().enumerate() {
        let mut b = [0u8; 8];
        input.read_exact(&mut b).map_err(MigrateError::Receive)?;
        let theirs = u64::from_le_bytes(b);
        if theirs != size(d) {
            return Err(MigrateError::Format(format!(
                "disk {index} has {theirs} bytes there, {} here",
                size(d)
            )));
        }
    }
    Ok(())
}

/// Writes one DISK or DISK_ZERO record's chunk; returns the bytes of data.
pub(super) fn receive_chunk(
    input: &mut impl Read,
    r: Record,
    disks: &[Arc<Disk>],
    buf: &mut [u8],
) -> Result<u64, MigrateError> {
    let index = r.count as usize;
    let d = disks.get(index).ok_or_else(|| {
        MigrateError::Format(format!("disk {index} of {} in a record", disks.len()))
    })?;
    let total = size(d);
    if !r.arg.is_multiple_of(CHUNK) || r.arg >= total {
        return Err(MigrateError::Format(format!(
            "disk {index}: a chunk at {} (size {total})",
            r.arg
        )));
    }
    let len = chunk_len(r.arg, total);
    if r.tag == TAG_DISK_ZERO {
        d.write_zeroes(r.arg, len as u64, false)
            .map_err(io(index))?;
        return Ok(0);
    }
    let data = &mut buf[..len];
    input.read_exact(data).map_err(MigrateError::Receive)?;
    d.write_bytes(data, r.arg).map_err(io(index))?;
    Ok(len as u64)
}
