//! virtio-blk on a raw file: read, write, flush, get-id.
//!
//! The request path is generic over guest memory so benchmarks can drive it
//! with virtio-queue's mock queues. Malformed chains (no status descriptor,
//! wrong direction, out of range, too long) fail fast with an error status;
//! chain length is bounded by the queue size (virtio-queue's TTL).

use std::fs::File;
use std::os::fd::AsRawFd;

use virtio_queue::desc::split::Descriptor;
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::bitmap::Bitmap;
use vm_memory::{Address, Bytes, GuestAddress, GuestMemory, Permissions};

use super::{F_EVENT_IDX, F_VERSION_1, Processed, VirtioDevice};
use crate::memory::GuestMemoryMmap;

/// virtio device id of a block device.
pub const DEVICE_ID: u32 = 2;
/// Sector size in bytes.
pub const SECTOR: u64 = 512;
/// Length of a device id.
pub const ID_BYTES: usize = 20;
/// Queue size offered.
pub const QUEUE_SIZE: u16 = 256;

const MAX_CHAIN: usize = QUEUE_SIZE as usize;
const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;

/// Why a request failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    /// The backing file failed.
    #[error("disk I/O failed: {0}")]
    Io(std::io::ErrorKind),
}

/// The disk behind a block device.
#[derive(Debug)]
pub struct DiskFile {
    file: File,
    sectors: u64,
    readonly: bool,
    id: [u8; ID_BYTES],
}

impl DiskFile {
    /// A disk on `file`; its size is read once, rounded down to sectors.
    pub fn new(file: File, readonly: bool, id: &str) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        let mut id_bytes = [0u8; ID_BYTES];
        let n = id.len().min(ID_BYTES);
        id_bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        Ok(DiskFile {
            file,
            sectors: len / SECTOR,
            readonly,
            id: id_bytes,
        })
    }

    /// Capacity in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether writes are refused.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    fn io<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        addr: GuestAddress,
        len: usize,
        mut offset: u64,
        write_to_disk: bool,
    ) -> Result<(), RequestError> {
        let access = if write_to_disk {
            Permissions::Read
        } else {
            Permissions::Write
        };
        let slices = mem
            .get_slices(addr, len, access)
            .map_err(|_| RequestError::Memory)?;
        for slice in slices {
            let slice = slice.map_err(|_| RequestError::Memory)?;
            let mut done = 0usize;
            while done < slice.len() {
                let guard = slice.ptr_guard_mut();
                // SAFETY: `guard` points into a live guest memory mapping of
                // `slice.len()` bytes (vm-memory checked the range); the kernel
                // copies to or from it and never keeps the pointer.
                let n = unsafe {
                    let p = guard.as_ptr().add(done) as *mut libc::c_void;
                    let count = slice.len() - done;
                    if write_to_disk {
                        libc::pwrite(self.file.as_raw_fd(), p, count, offset as libc::off_t)
                    } else {
                        libc::pread(self.file.as_raw_fd(), p, count, offset as libc::off_t)
                    }
                };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(RequestError::Io(e.kind()));
                }
                if n == 0 {
                    // The file shrank under us.
                    return Err(RequestError::Io(std::io::ErrorKind::UnexpectedEof));
                }
                if !write_to_disk {
                    // Written behind vm-memory's back: migration must see it.
                    slice.bitmap().mark_dirty(done, n as usize);
                }
                done += n as usize;
                offset += n as u64;
            }
        }
        Ok(())
    }
}

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    kind: u32,
    sector: u64,
    data: Vec<(GuestAddress, u32)>,
    status: GuestAddress,
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

    fn data_len(&self) -> u64 {
        self.data.iter().map(|(_, l)| u64::from(*l)).sum()
    }

    fn check_range(&self, disk: &DiskFile) -> Result<u64, RequestError> {
        let offset = self.sector.checked_mul(SECTOR).ok_or(RequestError::Range)?;
        let end = offset
            .checked_add(self.data_len())
            .ok_or(RequestError::Range)?;
        if end > disk.sectors * SECTOR {
            return Err(RequestError::Range);
        }
        Ok(offset)
    }

    /// Executes the request; returns the status and bytes written to guest memory.
    pub fn execute<M: GuestMemory + ?Sized>(&self, mem: &M, disk: &DiskFile) -> (u8, u32) {
        let result = match self.kind {
            T_IN => self.check_range(disk).and_then(|mut off| {
                for (addr, len) in &self.data {
                    disk.io(mem, *addr, *len as usize, off, false)?;
                    off += u64::from(*len);
                }
                Ok(self.data_len() as u32)
            }),
            T_OUT if disk.readonly => Err(RequestError::ReadOnly),
            T_OUT => self.check_range(disk).and_then(|mut off| {
                for (addr, len) in &self.data {
                    disk.io(mem, *addr, *len as usize, off, true)?;
                    off += u64::from(*len);
                }
                Ok(0)
            }),
            T_FLUSH => disk
                .file
                .sync_data()
                .map(|_| 0)
                .map_err(|e| RequestError::Io(e.kind())),
            T_GET_ID => match self.data.first() {
                Some((addr, len)) => {
                    let n = (*len as usize).min(ID_BYTES);
                    mem.write_slice(&disk.id[..n], *addr)
                        .map(|_| n as u32)
                        .map_err(|_| RequestError::Memory)
                }
                None => Err(RequestError::Direction),
            },
            _ => return (S_UNSUPP, 0),
        };
        match result {
            Ok(n) => (S_OK, n),
            Err(_) => (S_IOERR, 0),
        }
    }
}

/// Processes every available request on `queue`. Returns whether the driver
/// should be interrupted (some buffer was used and, with EVENT_IDX, the
/// driver asked to hear about it).
pub fn process_queue<M: GuestMemory>(queue: &mut Queue, mem: &M, disk: &DiskFile) -> bool {
    let mut used = false;
    loop {
        if queue.event_idx_enabled() && queue.disable_notification(mem).is_err() {
            return false;
        }
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = match Request::parse(chain) {
                Ok(req) => {
                    let (status, written) = req.execute(mem, disk);
                    let _ = mem.write_obj(status, req.status);
                    written + 1
                }
                Err((_, Some(status))) => {
                    let _ = mem.write_obj(S_IOERR, status);
                    1
                }
                Err((_, None)) => 0,
            };
            if queue.add_used(mem, head, len).is_err() {
                return used;
            }
            used = true;
        }
        // With EVENT_IDX, re-enabling notifications can reveal buffers that
        // arrived meanwhile; go round again rather than miss them.
        if !queue.event_idx_enabled() || !queue.enable_notification(mem).unwrap_or(false) {
            break;
        }
    }
    used && queue.needs_notification(mem).unwrap_or(true)
}

/// A virtio-blk device.
#[derive(Debug)]
pub struct Block {
    disk: DiskFile,
    queue_sizes: [u16; 1],
}

impl Block {
    /// A device on `disk`.
    pub fn new(disk: DiskFile) -> Self {
        Block {
            disk,
            queue_sizes: [QUEUE_SIZE],
        }
    }
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        let ro = if self.disk.readonly { F_RO } else { 0 };
        F_VERSION_1 | F_EVENT_IDX | F_FLUSH | F_SEG_MAX | ro
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // capacity (le64), size_max (le32, unused), seg_max (le32)
        let mut config = [0u8; 16];
        config[..8].copy_from_slice(&self.disk.sectors.to_le_bytes());
        config[12..16].copy_from_slice(&u32::from(QUEUE_SIZE - 2).to_le_bytes());
        data.fill(0);
        let off = offset as usize;
        if off < config.len() {
            let n = data.len().min(config.len() - off);
            data[..n].copy_from_slice(&config[off..off + n]);
        }
    }

    fn process_queue(
        &mut self,
        _index: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> Processed {
        Processed {
            interrupt: process_queue(queue, mem, &self.disk),
            more: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use virtio_queue::desc::RawDescriptor;
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::GuestMemoryBackend;

    use super::*;

    const NEXT: u16 = 1;
    const WRITE: u16 = 2;

    fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags, next))
    }

    fn setup() -> (GuestMemoryMmap, DiskFile, tempfile::NamedTempFile) {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        let disk = DiskFile::new(f.reopen().unwrap(), false, "unit").unwrap();
        mem.write_obj(T_IN, GuestAddress(0x10_0000)).unwrap();
        mem.write_obj(0u64, GuestAddress(0x10_0008)).unwrap();
        (mem, disk, f)
    }

    fn run(mem: &GuestMemoryMmap, disk: &DiskFile, descs: &[RawDescriptor]) -> (u8, u32) {
        let vq = MockSplitQueue::new(mem, 16);
        vq.add_desc_chains(descs, 0).unwrap();
        let mut q: Queue = vq.create_queue().unwrap();
        mem.write_obj(0xffu8, GuestAddress(0x30_0000)).unwrap();
        process_queue(&mut q, mem, disk);
        assert_eq!(q.next_used(), 1, "the chain is always returned");
        let used_len = vq.used().ring().ref_at(0).unwrap().load().len();
        (mem.read_obj(GuestAddress(0x30_0000)).unwrap(), used_len)
    }

    #[test]
    fn reads_and_rejects_malformed_chains() {
        let (mem, disk, _f) = setup();
        let ok = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 1024, NEXT | WRITE, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        assert_eq!(run(&mem, &disk, &ok), (S_OK, 1025));
        let mut buf = [0u8; 1024];
        mem.read_slice(&mut buf, GuestAddress(0x20_0000)).unwrap();
        assert!(buf.iter().all(|b| *b == 7));

        let readonly_buffer = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 512, NEXT, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        assert_eq!(run(&mem, &disk, &readonly_buffer), (S_IOERR, 1));

        let past_the_end = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 8192, NEXT | WRITE, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        assert_eq!(run(&mem, &disk, &past_the_end), (S_IOERR, 1));

        let circular = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 512, NEXT | WRITE, 0),
        ];
        assert_eq!(run(&mem, &disk, &circular), (0xff, 0));
    }

    #[test]
    fn reads_mark_the_pages_they_fill_for_migration() {
        let (mem, disk, _f) = setup();
        let region = mem.iter().next().unwrap();
        let bitmap = vm_memory::mmap::MmapRegion::bitmap(region);
        bitmap.get_and_reset();
        // 4 KiB of data across pages 0x201 and 0x202.
        let ok = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_1800, 4096, NEXT | WRITE, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        assert_eq!(run(&mem, &disk, &ok), (S_OK, 4097));
        for (page, dirty) in [(0x200, false), (0x201, true), (0x202, true), (0x203, false)] {
            assert_eq!(bitmap.is_bit_set(page), dirty, "page {page:#x}");
        }
    }
}
