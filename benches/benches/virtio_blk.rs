//! The virtio-blk request path without a VM: descriptor chain parse, read or
//! write on a page-cached raw file, used ring update and the notification
//! decision (`wirt_kvm::devices::virtio::block::process_queue`), with chains
//! built by virtio-queue's mock driver. Batches of 1/16/64/256 requests of
//! 4 KiB and 64 KiB; reported per request. Malformed chains (a descriptor
//! loop, a chain as long as the queue, a read into a read-only buffer) must
//! fail fast.

use std::io::Write;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use wirt_kvm::devices::virtio::block::{Disk, process_queue};

const QUEUE: u16 = 1024;
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const HEADERS: u64 = 0x10_0000;
const STATUS: u64 = 0x20_0000;
const DATA: u64 = 0x100_0000;
const DISK_BYTES: u64 = 64 << 20;

type Mem = GuestMemoryMmap<()>;

fn disk() -> (tempfile::NamedTempFile, Disk) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..(DISK_BYTES >> 20) {
        f.write_all(&chunk).unwrap();
    }
    f.flush().unwrap();
    let d = Disk::raw(f.reopen().unwrap(), false, "bench").unwrap();
    (f, d)
}

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(Descriptor::new(addr, len, flags, next))
}

/// Writes `batch` three-descriptor requests of `size` bytes and makes them available.
fn setup_requests<'a>(mem: &'a Mem, batch: u16, size: u32, read: bool) -> MockSplitQueue<'a, Mem> {
    let vq = MockSplitQueue::create(mem, GuestAddress(0), QUEUE);
    let mut descs = Vec::new();
    for i in 0..batch {
        let base = i * 3;
        let hdr = HEADERS + u64::from(i) * 16;
        let sector = (u64::from(i) * u64::from(size) / 512) % (DISK_BYTES / 512 - 256);
        mem.write_obj(if read { 0u32 } else { 1u32 }, GuestAddress(hdr))
            .unwrap();
        mem.write_obj(sector, GuestAddress(hdr + 8)).unwrap();
        let data = DATA + u64::from(i) * u64::from(size);
        descs.push(desc(hdr, 16, NEXT, base + 1));
        descs.push(desc(
            data,
            size,
            NEXT | if read { WRITE } else { 0 },
            base + 2,
        ));
        descs.push(desc(STATUS + u64::from(i), 1, WRITE, 0));
    }
    vq.add_desc_chains(&descs, 0).unwrap();
    vq
}

/// A fresh device-side view of the same available requests.
fn fresh_queue(vq: &MockSplitQueue<'_, Mem>) -> Queue {
    vq.used().idx().store(0);
    vq.create_queue::<Queue>().unwrap()
}

fn requests(c: &mut Criterion) {
    let (_file, disk) = disk();
    let mem = Mem::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
    for (size, label) in [(4096u32, "4k"), (65536u32, "64k")] {
        for read in [true, false] {
            let mut group = c.benchmark_group(format!(
                "virtio_blk/{}_{label}",
                if read { "read" } else { "write" }
            ));
            for batch in [1u16, 16, 64, 256] {
                let vq = setup_requests(&mem, batch, size, read);
                group.throughput(Throughput::Elements(u64::from(batch)));
                group.bench_function(format!("batch_{batch}"), |b| {
                    b.iter_batched(
                        || fresh_queue(&vq),
                        |mut q| {
                            assert!(process_queue(&mut q, &mem, &disk));
                            assert_eq!(q.next_used(), batch);
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
            group.finish();
        }
    }
}

fn malformed(c: &mut Criterion) {
    let (_file, disk) = disk();
    let mem = Mem::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
    mem.write_obj(0u32, GuestAddress(HEADERS)).unwrap();
    mem.write_obj(0u64, GuestAddress(HEADERS + 8)).unwrap();
    mem.write_obj(0xffu8, GuestAddress(STATUS)).unwrap();
    let cases: Vec<(&str, Vec<RawDescriptor>)> = vec![
        // header -> data -> back to the header, forever: the TTL ends it.
        (
            "loop",
            vec![desc(HEADERS, 16, NEXT, 1), desc(DATA, 512, NEXT | WRITE, 0)],
        ),
        // Longer than the queue: every descriptor chained, the last back to the first.
        ("too_long", {
            (0..QUEUE)
                .map(|i| {
                    let (addr, flags) = if i == 0 {
                        (HEADERS, NEXT)
                    } else {
                        (DATA, NEXT | WRITE)
                    };
                    desc(addr, 512, flags, (i + 1) % QUEUE)
                })
                .collect()
        }),
        // A read whose data buffer the driver marked read-only.
        (
            "read_into_readonly",
            vec![
                desc(HEADERS, 16, NEXT, 1),
                desc(DATA, 4096, NEXT, 2),
                desc(STATUS, 1, WRITE, 0),
            ],
        ),
    ];
    let mut group = c.benchmark_group("virtio_blk/malformed");
    for (name, descs) in cases {
        let vq = MockSplitQueue::create(&mem, GuestAddress(0), QUEUE);
        vq.add_desc_chains(&descs, 0).unwrap();
        group.bench_function(name, |b| {
            b.iter_batched(
                || fresh_queue(&vq),
                |mut q| {
                    process_queue(&mut q, &mem, &disk);
                    // Consumed and returned, never left stuck in the queue.
                    assert_eq!(q.next_used(), 1);
                },
                BatchSize::SmallInput,
            )
        });
        let status: u8 = mem.read_obj(GuestAddress(STATUS)).unwrap();
        // Where the chain has a status byte, it reports an error, never success.
        assert_ne!(status, 0, "{name}");
        mem.write_obj(0xffu8, GuestAddress(STATUS)).unwrap();
    }
    group.finish();
}

criterion_group!(benches, requests, malformed);
criterion_main!(benches);
