//! virtio-blk: read, write, flush, get-id, discard and write-zeroes, on a
//! raw file or a qcow2 chain ([`disk`]), with the descriptor chain parser
//! and request execution in [`request`].
//!
//! The request path is generic over guest memory so benchmarks can drive it
//! with virtio-queue's mock queues.

pub mod chain;
pub mod disk;
pub mod internal;
pub mod overlay;
pub mod request;
pub mod stats;
pub mod written;

use std::sync::Arc;
use std::time::Instant;

use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestMemory};

pub use self::disk::{Disk, DiskError, ReplaceError, ResizeError};
use self::request::{Request, S_IOERR, S_OK};
use super::{F_EVENT_IDX, F_VERSION_1, Processed, VirtioDevice, more_available};
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
/// Limits offered in configuration space: a discard or write-zeroes request
/// holds the disk while it runs, so one request stays bounded (2 GiB).
const MAX_DISCARD_SECTORS: u32 = 1 << 22;
const MAX_DISCARD_SEGMENTS: u32 = 32;
const MAX_WRITE_ZEROES_SECTORS: u32 = 1 << 22;
const MAX_WRITE_ZEROES_SEGMENTS: u32 = 32;
const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
const F_DISCARD: u64 = 1 << 13;
const F_WRITE_ZEROES: u64 = 1 << 14;
/// Bytes of configuration space up to write_zeroes_may_unmap and padding.
const CONFIG_BYTES: usize = 60;

/// Processes every available request on `queue`. Returns whether the driver
/// should be interrupted (some buffer was used and, with EVENT_IDX, the
/// driver asked to hear about it).
pub fn process_queue<M: GuestMemory>(queue: &mut Queue, mem: &M, disk: &Disk) -> bool {
    let mut used = false;
    loop {
        if queue.event_idx_enabled() && queue.disable_notification(mem).is_err() {
            return false;
        }
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = match Request::parse(chain) {
                Ok(req) => {
                    let start = Instant::now();
                    let (status, written) = req.execute(mem, disk);
                    disk.stats()
                        .record(req.op(), req.data_len(), start.elapsed(), status == S_OK);
                    let _ = mem.write_obj(status, req.status);
                    written + 1
                }
                Err((_, Some(status))) => {
                    disk.stats().record_error();
                    let _ = mem.write_obj(S_IOERR, status);
                    1
                }
                Err((_, None)) => {
                    disk.stats().record_error();
                    0
                }
            };
            if queue.add_used(mem, head, len).is_err() {
                return used;
            }
            used = true;
        }
        // With EVENT_IDX, re-enabling notifications can reveal buffers that
        // arrived meanwhile; go round again rather than miss them.
        if !queue.event_idx_enabled() || !more_available(queue, mem) {
            break;
        }
    }
    used && queue.needs_notification(mem).unwrap_or(true)
}

/// A virtio-blk device.
#[derive(Debug)]
pub struct Block {
    disk: Arc<Disk>,
    queue_sizes: [u16; 1],
}

impl Block {
    /// A device on `disk` (shared with the machines of later reboots).
    pub fn new(disk: Arc<Disk>) -> Self {
        Block {
            disk,
            queue_sizes: [QUEUE_SIZE],
        }
    }

    fn config(&self) -> [u8; CONFIG_BYTES] {
        let mut config = [0u8; CONFIG_BYTES];
        let mut put = |offset: usize, bytes: &[u8]| {
            config[offset..offset + bytes.len()].copy_from_slice(bytes);
        };
        put(0, &self.disk.sectors().to_le_bytes());
        // size_max (8) is not offered; seg_max:
        put(12, &u32::from(QUEUE_SIZE - 2).to_le_bytes());
        if !self.disk.readonly() {
            let alignment = (self.disk.discard_granularity() / SECTOR).max(1);
            put(36, &MAX_DISCARD_SECTORS.to_le_bytes());
            put(40, &MAX_DISCARD_SEGMENTS.to_le_bytes());
            put(
                44,
                &u32::try_from(alignment).unwrap_or(u32::MAX).to_le_bytes(),
            );
            put(48, &MAX_WRITE_ZEROES_SECTORS.to_le_bytes());
            put(52, &MAX_WRITE_ZEROES_SEGMENTS.to_le_bytes());
            // write_zeroes_may_unmap
            put(56, &[1]);
        }
        config
    }
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        let writes = if self.disk.readonly() {
            F_RO
        } else {
            F_DISCARD | F_WRITE_ZEROES
        };
        F_VERSION_1 | F_EVENT_IDX | F_FLUSH | F_SEG_MAX | writes
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let config = self.config();
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
    use virtio_queue::desc::split::Descriptor;
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::GuestAddress;

    use super::request::{S_OK, S_UNSUPP};
    use super::*;

    const NEXT: u16 = 1;
    const WRITE: u16 = 2;

    fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags, next))
    }

    const T_IN: u32 = 0;
    const T_DISCARD: u32 = 11;
    const T_WRITE_ZEROES: u32 = 13;

    fn setup() -> (GuestMemoryMmap, Disk, tempfile::NamedTempFile) {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        let disk = Disk::raw(f.reopen().unwrap(), false, "unit").unwrap();
        mem.write_obj(T_IN, GuestAddress(0x10_0000)).unwrap();
        mem.write_obj(0u64, GuestAddress(0x10_0008)).unwrap();
        (mem, disk, f)
    }

    fn run(mem: &GuestMemoryMmap, disk: &Disk, descs: &[RawDescriptor]) -> (u8, u32) {
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

        let flush = [d(0x10_0000, 16, NEXT, 1), d(0x30_0000, 1, WRITE, 0)];
        mem.write_obj(4u32, GuestAddress(0x10_0000)).unwrap();
        assert_eq!(run(&mem, &disk, &flush), (S_OK, 1));
        let write = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 1536, NEXT, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        mem.write_obj(1u32, GuestAddress(0x10_0000)).unwrap();
        assert_eq!(run(&mem, &disk, &write), (S_OK, 1));
        // One good read, one flush, one write; the three bad chains are errors.
        let s = disk.stats().snapshot();
        assert_eq!((s.rd_req, s.rd_bytes), (1, 1024));
        assert_eq!((s.wr_req, s.wr_bytes), (1, 1536));
        assert_eq!((s.flush_req, s.errors), (1, 3));
        assert!(s.rd_total_ns > 0 && s.wr_total_ns > 0 && s.flush_total_ns > 0);
    }

    /// Header at 0x10_0000, one segment at 0x20_0000, status at 0x30_0000.
    fn segment_request(
        mem: &GuestMemoryMmap,
        disk: &Disk,
        kind: u32,
        sector: u64,
        sectors: u32,
        flags: u32,
    ) -> u8 {
        mem.write_obj(kind, GuestAddress(0x10_0000)).unwrap();
        mem.write_obj(sector, GuestAddress(0x20_0000)).unwrap();
        mem.write_obj(sectors, GuestAddress(0x20_0008)).unwrap();
        mem.write_obj(flags, GuestAddress(0x20_000c)).unwrap();
        let descs = [
            d(0x10_0000, 16, NEXT, 1),
            d(0x20_0000, 16, NEXT, 2),
            d(0x30_0000, 1, WRITE, 0),
        ];
        run(mem, disk, &descs).0
    }

    #[test]
    fn discard_and_write_zeroes() {
        let (mem, disk, f) = setup();
        let content = || std::fs::read(f.path()).unwrap();
        assert_eq!(segment_request(&mem, &disk, T_WRITE_ZEROES, 1, 2, 0), S_OK);
        let bytes = content();
        assert!(bytes[..512].iter().all(|b| *b == 7));
        assert!(bytes[512..1536].iter().all(|b| *b == 0));
        assert!(bytes[1536..].iter().all(|b| *b == 7));
        assert_eq!(segment_request(&mem, &disk, T_WRITE_ZEROES, 4, 4, 1), S_OK);
        assert!(content()[2048..].iter().all(|b| *b == 0));
        // A discard segment with a flag set, and an unknown write-zeroes flag.
        assert_eq!(segment_request(&mem, &disk, T_DISCARD, 0, 1, 1), S_UNSUPP);
        assert_eq!(
            segment_request(&mem, &disk, T_WRITE_ZEROES, 0, 1, 2),
            S_UNSUPP
        );
        // Past the end of the 8-sector disk.
        assert_eq!(segment_request(&mem, &disk, T_DISCARD, 7, 2, 0), S_IOERR);
        assert_eq!(segment_request(&mem, &disk, T_DISCARD, 0, 8, 0), S_OK);
        assert_eq!(content().len(), 4096, "a discard keeps the size");

        let ro = Disk::raw(f.reopen().unwrap(), true, "ro").unwrap();
        assert_eq!(segment_request(&mem, &ro, T_WRITE_ZEROES, 0, 1, 0), S_IOERR);
        let block = Block::new(Arc::new(ro));
        assert_eq!(block.features() & (F_DISCARD | F_WRITE_ZEROES), 0);
        assert_ne!(block.features() & F_RO, 0);
        let block = Block::new(Arc::new(disk));
        let wanted = F_DISCARD | F_WRITE_ZEROES;
        assert_eq!(block.features() & wanted, wanted);
        let mut config = [0u8; 4];
        block.read_config(40, &mut config);
        assert_eq!(u32::from_le_bytes(config), MAX_DISCARD_SEGMENTS);
    }

    #[test]
    fn reads_mark_the_pages_they_fill_for_migration() {
        use vm_memory::GuestMemoryBackend;
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

    #[test]
    fn a_ring_whose_index_runs_ahead_is_left_alone() {
        use crate::bench_support::ring::Ring;
        let (mem, disk, _f) = setup();
        let ring = Ring::new(&mem, 0x38_0000, 16);
        let (_, avail, _) = ring.addresses();
        // 100 chains "available" on a 16-entry ring (found by the fuzz
        // target: a read into the ring wrote this index); with EVENT_IDX
        // this used to spin for ever.
        mem.write_obj(100u16, GuestAddress(avail + 2)).unwrap();
        let mut q = ring.queue(true);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let interrupt = process_queue(&mut q, &mem, &disk);
            tx.send((interrupt, q.next_used())).unwrap();
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("process_queue returns");
        assert_eq!(got, (false, 0), "nothing taken from a broken ring");
    }
}
