//! The virtio-blk request path without a VM: descriptor chain parse, read or
//! write on a page-cached raw file, used ring update and the notification
//! decision (`wirt_kvm::devices::virtio::block::process_queue`), with chains
//! built by virtio-queue's mock driver. Batches of 1/16/64/256 requests of
//! 4 KiB and 64 KiB; reported per request. Malformed chains (a descriptor
//! loop, a chain as long as the queue, a read into a read-only buffer) must
//! fail fast.
//!
//! `virtio_blk/image_*` puts qcow2 beside raw, batches of 64 requests:
//! allocated clusters, unallocated ones (zeroes), and an overlay whose
//! clusters are all in a raw backing file (reads go through the chain).
//! Writes to the last two allocate on the first pass only, so their
//! figures are those of allocated clusters after a copy-on-write. The
//! goal is qcow2 within 1.3x of raw. qemu-img makes the images (these cases
//! are left out, saying so, without it).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::chain::open_backing_chain;
use wirt_kvm::devices::virtio::block::{Disk, process_queue};

const QUEUE: u16 = 1024;
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const HEADERS: u64 = 0x10_0000;
const STATUS: u64 = 0x20_0000;
const DATA: u64 = 0x100_0000;
const DISK_BYTES: u64 = 64 << 20;
/// Every image is filled in writes of this size: the page cache keeps a
/// write's folio size, and a 4 KiB write into a 1 MiB folio costs ext4 a
/// walk over all its blocks, which would measure the fill, not the format.
const FILL_CHUNK: u64 = 64 << 10;

// The VMM's own memory type: with the dirty bitmap live migration reads.
type Mem = wirt_kvm::memory::GuestMemoryMmap;

fn disk() -> (tempfile::NamedTempFile, Disk) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    // In 64 KiB writes, like every image here (see `FILL_CHUNK`).
    let chunk = vec![0x5au8; FILL_CHUNK as usize];
    for _ in 0..DISK_BYTES / FILL_CHUNK {
        f.write_all(&chunk).unwrap();
    }
    f.flush().unwrap();
    // Written back before measuring, as qemu-io leaves the qcow2 images.
    f.as_file().sync_all().unwrap();
    let d = Disk::raw(f.reopen().unwrap(), false, "bench").unwrap();
    (f, d)
}

fn qemu(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Opens a qcow2 image as the host and the VMM do (the chain by path).
fn open_qcow2(path: &Path) -> Disk {
    let chain = open_backing_chain(
        path,
        DiskFormat::Qcow2,
        &[Path::new(path).parent().unwrap().to_path_buf()],
    )
    .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let backing = chain.into_iter().map(|b| b.file).collect();
    Disk::open(DiskFormat::Qcow2, file, backing, false, "bench").unwrap()
}

/// The qcow2 cases, or None without qemu-img / qemu-io.
fn qcow2_disks(dir: &Path) -> Option<Vec<(&'static str, Disk)>> {
    let size = DISK_BYTES.to_string();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (allocated, unallocated, base, overlay) = (
        path("allocated.qcow2"),
        path("unallocated.qcow2"),
        path("base.raw"),
        path("overlay.qcow2"),
    );
    let fill: Vec<String> = (0..DISK_BYTES / FILL_CHUNK)
        .flat_map(|i| {
            [
                "-c".to_string(),
                format!("write -P 0x5a {} {FILL_CHUNK}", i * FILL_CHUNK),
            ]
        })
        .collect();
    let qemu_io = |format: &str, image: &str| {
        let mut args = vec!["-f", format];
        args.extend(fill.iter().map(String::as_str));
        args.push(image);
        qemu("qemu-io", &args)
    };
    let made = qemu(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", &allocated, &size],
    ) && qemu_io("qcow2", &allocated)
        && qemu(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", &unallocated, &size],
        )
        && qemu("qemu-img", &["create", "-q", "-f", "raw", &base, &size])
        && qemu_io("raw", &base)
        && qemu(
            "qemu-img",
            &[
                "create", "-q", "-f", "qcow2", "-b", &base, "-F", "raw", &overlay, &size,
            ],
        );
    if !made {
        eprintln!("virtio_blk/image_*: qemu-img or qemu-io is missing: qcow2 cases left out");
        return None;
    }
    Some(vec![
        ("qcow2_allocated", open_qcow2(Path::new(&allocated))),
        ("qcow2_unallocated", open_qcow2(Path::new(&unallocated))),
        ("qcow2_backing", open_qcow2(Path::new(&overlay))),
    ])
}

fn images(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (_file, raw) = disk();
    let Some(qcow2) = qcow2_disks(dir.path()) else {
        return;
    };
    let mut disks = vec![("raw", raw)];
    disks.extend(qcow2);
    let mem = Mem::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
    let batch = 64u16;
    for (size, label) in [(4096u32, "4k"), (65536u32, "64k")] {
        for read in [true, false] {
            let mut group = c.benchmark_group(format!(
                "virtio_blk/image_{}_{label}",
                if read { "read" } else { "write" }
            ));
            let vq = setup_requests(&mem, batch, size, read);
            group.throughput(Throughput::Elements(u64::from(batch)));
            for (name, disk) in &disks {
                group.bench_function(*name, |b| {
                    b.iter_batched(
                        || fresh_queue(&vq),
                        |mut q| {
                            assert!(process_queue(&mut q, &mem, disk));
                            assert_eq!(q.next_used(), batch);
                        },
                        BatchSize::SmallInput,
                    )
                });
                // Every request succeeded: a failing backend is not fast.
                for i in 0..u64::from(batch) {
                    let status: u8 = mem.read_obj(GuestAddress(STATUS + i)).unwrap();
                    assert_eq!(status, 0, "{name}: request {i}");
                }
            }
            group.finish();
        }
    }
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

criterion_group!(benches, requests, images, malformed);
criterion_main!(benches);
