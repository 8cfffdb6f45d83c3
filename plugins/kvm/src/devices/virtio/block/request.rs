//! virtio-blk requests: parsing a descriptor chain and carrying it out on a
//! [`Disk`].
//!
//! Malformed chains (no status descriptor, wrong direction, out of range,
//! too long) fail fast with an error status; chain length is bounded by the
//! queue size (virtio-queue's TTL).

use virtio_queue::DescriptorChain;
use virtio_queue::desc::split::Descriptor;
use vm_memory::bitmap::Bitmap;
use vm_memory::{Address, Bytes, GuestAddress, GuestMemory, Permissions};

use super::disk::{Disk, IoError};
use super::stats::Op;
use super::{
    ID_BYTES, MAX_CHAIN, MAX_DISCARD_SECTORS, MAX_DISCARD_SEGMENTS, MAX_WRITE_ZEROES_SECTORS,
    MAX_WRITE_ZEROES_SEGMENTS, SECTOR,
};

const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const T_DISCARD: u32 = 11;
const T_WRITE_ZEROES: u32 = 13;
/// Status: done.
pub const S_OK: u8 = 0;
/// Status: failed.
pub const S_IOERR: u8 = 1;
/// Status: request type or flag not supported.
pub const S_UNSUPP: u8 = 2;
/// Bytes of one discard / write-zeroes segment.
const SEGMENT_BYTES: usize = 16;
/// Write-zeroes segment flag: the range may be deallocated.
const SEGMENT_UNMAP: u32 = 1;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The chain loops or is longer than the queue (it was cut off).
    #[error("descriptor chain is circular or longer than the queue")]
    Chain,
    /// The chain is empty or its header is short or device-writable.
    #[error("invalid request header")]
    Header,
    /// The last descriptor is not a device-writable status byte.
    #[error("missing or read-only status descriptor")]
    Status,
    /// A data buffer has the wrong direction for the request (e.g. a read
    /// into a buffer the driver marked read-only).
    #[error("data descriptor has the wrong direction")]
    Direction,
    /// The request runs past the end of the disk.
    #[error("request beyond the end of the disk")]
    Range,
    /// Writing to a read-only disk.
    #[error("disk is read-only")]
    ReadOnly,
    /// Guest memory could not be accessed.
    #[error("guest memory access failed")]
    Memory,
    /// A discard / write-zeroes segment list that is not whole segments,
    /// has too many, or a segment larger than the device allows.
    #[error("malformed discard or write-zeroes segments")]
    Segments,
    /// A request type or flag the device does not offer.
    #[error("unsupported request type or flag")]
    Unsupported,
    /// The disk failed.
    #[error("disk I/O failed")]
    Io(#[source] IoError),
}

impl RequestError {
    fn status(&self) -> u8 {
        match self {
            RequestError::Unsupported => S_UNSUPP,
            _ => S_IOERR,
        }
    }
}

impl From<IoError> for RequestError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::Memory => RequestError::Memory,
            e => RequestError::Io(e),
        }
    }
}

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    kind: u32,
    sector: u64,
    data: Vec<(GuestAddress, u32)>,
    /// Where the status byte goes.
    pub status: GuestAddress,
}

/// One range of a discard or write-zeroes request.
struct Segment {
    offset: u64,
    len: u64,
    flags: u32,
}

impl Request {
    /// Parses a descriptor chain: header, data buffers, status byte.
    pub fn parse<M>(
        mut chain: DescriptorChain<M>,
    ) -> Result<Request, (RequestError, Option<GuestAddress>)>
    where
        M: std::ops::Deref,
        M::Target: GuestMemory,
    {
        let header = chain.next().ok_or((RequestError::Header, None))?;
        let mem = chain.memory();
        if header.is_write_only() || header.len() < 16 {
            return Err((RequestError::Header, None));
        }
        let kind: u32 = mem
            .read_obj(header.addr())
            .map_err(|_| (RequestError::Memory, None))?;
        let sector: u64 = mem
            .read_obj(header.addr().unchecked_add(8))
            .map_err(|_| (RequestError::Memory, None))?;
        // seg_max (QUEUE_SIZE - 2) data buffers plus header and status: stop
        // walking a longer chain at once, whatever the queue size.
        let mut descs: Vec<Descriptor> = Vec::new();
        for d in chain {
            if descs.len() == MAX_CHAIN {
                return Err((RequestError::Chain, None));
            }
            descs.push(d);
        }
        let status = descs.pop().ok_or((RequestError::Status, None))?;
        // virtio-queue stops a chain after queue-size descriptors; a last one
        // that still points on means a loop or an over-long chain.
        if status.has_next() {
            return Err((RequestError::Chain, None));
        }
        if !status.is_write_only() || status.len() < 1 {
            return Err((RequestError::Status, None));
        }
        let device_writes = matches!(kind, T_IN | T_GET_ID);
        let mut data = Vec::with_capacity(descs.len());
        for d in descs {
            if kind != T_FLUSH && d.is_write_only() != device_writes {
                return Err((RequestError::Direction, Some(status.addr())));
            }
            data.push((d.addr(), d.len()));
        }
        Ok(Request {
            kind,
            sector,
            data,
            status: status.addr(),
        })
    }

    /// Which I/O counters the request moves: discard and write-zeroes
    /// move none (QEMU counts them apart from writes, libvirt reports
    /// neither).
    pub fn op(&self) -> Op {
        match self.kind {
            T_IN => Op::Read,
            T_OUT => Op::Write,
            T_FLUSH => Op::Flush,
            _ => Op::Other,
        }
    }

    /// Bytes of data the request carries.
    pub fn data_len(&self) -> u64 {
        self.data.iter().map(|(_, l)| u64::from(*l)).sum()
    }

    fn check_range(&self, disk: &Disk) -> Result<u64, RequestError> {
        let offset = self.sector.checked_mul(SECTOR).ok_or(RequestError::Range)?;
        check_end(disk, offset, self.data_len())?;
        Ok(offset)
    }

    /// Reads the segment list of a discard or write-zeroes request, checked
    /// against the device limits and the disk's end.
    fn segments<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        disk: &Disk,
        max_segments: u32,
        max_sectors: u32,
    ) -> Result<Vec<Segment>, RequestError> {
        let len = self.data_len();
        if len == 0
            || !len.is_multiple_of(SEGMENT_BYTES as u64)
            || len / SEGMENT_BYTES as u64 > u64::from(max_segments)
        {
            return Err(RequestError::Segments);
        }
        let mut bytes = Vec::with_capacity(len as usize);
        for (addr, l) in &self.data {
            let start = bytes.len();
            bytes.resize(start + *l as usize, 0);
            mem.read_slice(&mut bytes[start..], *addr)
                .map_err(|_| RequestError::Memory)?;
        }
        bytes
            .chunks_exact(SEGMENT_BYTES)
            .map(|s| {
                let sector = u64::from_le_bytes(s[..8].try_into().expect("8 bytes"));
                let sectors = u32::from_le_bytes(s[8..12].try_into().expect("4 bytes"));
                let flags = u32::from_le_bytes(s[12..16].try_into().expect("4 bytes"));
                if sectors > max_sectors {
                    return Err(RequestError::Segments);
                }
                let offset = sector.checked_mul(SECTOR).ok_or(RequestError::Range)?;
                let len = u64::from(sectors) * SECTOR;
                check_end(disk, offset, len)?;
                Ok(Segment { offset, len, flags })
            })
            .collect()
    }

    /// Executes the request; returns the status and bytes written to guest memory.
    pub fn execute<M: GuestMemory + ?Sized>(&self, mem: &M, disk: &Disk) -> (u8, u32) {
        match self.run(mem, disk) {
            Ok(n) => (S_OK, n),
            Err(e) => (e.status(), 0),
        }
    }

    fn run<M: GuestMemory + ?Sized>(&self, mem: &M, disk: &Disk) -> Result<u32, RequestError> {
        let writes = matches!(self.kind, T_OUT | T_DISCARD | T_WRITE_ZEROES);
        if writes && disk.readonly() {
            return Err(RequestError::ReadOnly);
        }
        match self.kind {
            T_IN => {
                let offset = self.check_range(disk)?;
                disk.read(mem, &self.data, offset)?;
                // Filled behind vm-memory's back (pread, imago): a live
                // migration must see these pages as dirty.
                for (addr, len) in &self.data {
                    let Ok(slices) = mem.get_slices(*addr, *len as usize, Permissions::Write)
                    else {
                        continue;
                    };
                    for slice in slices.flatten() {
                        slice.bitmap().mark_dirty(0, slice.len());
                    }
                }
                Ok(self.data_len() as u32)
            }
            T_OUT => {
                let offset = self.check_range(disk)?;
                disk.write(mem, &self.data, offset)?;
                Ok(0)
            }
            T_FLUSH => {
                disk.flush()?;
                Ok(0)
            }
            T_GET_ID => match self.data.first() {
                Some((addr, len)) => {
                    let n = (*len as usize).min(ID_BYTES);
                    mem.write_slice(&disk.id()[..n], *addr)
                        .map(|_| n as u32)
                        .map_err(|_| RequestError::Memory)
                }
                None => Err(RequestError::Direction),
            },
            T_DISCARD => {
                let segments =
                    self.segments(mem, disk, MAX_DISCARD_SEGMENTS, MAX_DISCARD_SECTORS)?;
                // The spec reserves every flag of a discard segment.
                if segments.iter().any(|s| s.flags != 0) {
                    return Err(RequestError::Unsupported);
                }
                for s in segments {
                    disk.discard(s.offset, s.len)?;
                }
                Ok(0)
            }
            T_WRITE_ZEROES => {
                let segments = self.segments(
                    mem,
                    disk,
                    MAX_WRITE_ZEROES_SEGMENTS,
                    MAX_WRITE_ZEROES_SECTORS,
                )?;
                if segments.iter().any(|s| s.flags & !SEGMENT_UNMAP != 0) {
                    return Err(RequestError::Unsupported);
                }
                for s in segments {
                    disk.write_zeroes(s.offset, s.len, s.flags & SEGMENT_UNMAP != 0)?;
                }
                Ok(0)
            }
            _ => Err(RequestError::Unsupported),
        }
    }
}

fn check_end(disk: &Disk, offset: u64, len: u64) -> Result<(), RequestError> {
    let end = offset.checked_add(len).ok_or(RequestError::Range)?;
    if end > disk.sectors() * SECTOR {
        return Err(RequestError::Range);
    }
    Ok(())
}
