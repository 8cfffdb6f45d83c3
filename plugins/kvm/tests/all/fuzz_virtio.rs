//! Fuzz targets: the virtio-blk and virtio-net descriptor chain parsers,
//! driven through the devices' queue processing over a small guest memory
//! with a hole in it. The guest controls every byte of a descriptor table,
//! the available ring and the buffers, so the input is exactly that (see
//! [`Case`]). Properties: no panic; the device writes guest memory only in
//! buffers the guest marked device-writable (and the used ring); every
//! chain taken is given back or counted as an error; afterwards the device
//! still serves a good request. A bounded slice runs here;
//! `scripts/fuzz.sh` runs them for minutes.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};
use wirt_kvm::bench_support::ring::{Buf, NEXT, Ring, WRITE};
use wirt_kvm::control::protocol::DiskFormat;
use wirt_kvm::devices::virtio::block::{self, Disk, overlay};
use wirt_kvm::devices::virtio::net::{
    DatagramBackend, F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_HOST_TSO4, F_MRG_RXBUF, HDR_LEN,
    MAX_GSO_FRAME, Net, NetConfig, NetShared, NetStats, RX, TX,
};
use wirt_kvm::devices::virtio::{F_EVENT_IDX, F_VERSION_1, VirtioDevice};
use wirt_kvm::memory::GuestMemoryMmap;
use wirt_testkit::fuzz;

const QSIZE: u16 = 16;
/// Where a case's bytes go: request headers, segments, frames.
const DATA: u64 = 0x1000;
const MAX_DATA: usize = 0x4000;
const INDIRECT: u16 = 4;
const DISK_BYTES: u64 = 64 << 10;

/// Two regions with a hole between them: buffers may straddle it or lie
/// past the end.
fn memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x8000), (GuestAddress(0x9000), 0x7000)])
        .unwrap()
}

/// One fuzz input, decoded: `mode`, then a count and that many heads to
/// make available, then a count and that many raw 16-byte descriptors
/// (the table, from index 0), then bytes written at [`DATA`].
#[derive(Debug)]
struct Case {
    mode: u8,
    heads: Vec<u16>,
    table: Vec<u8>,
    data: Vec<u8>,
}

impl Case {
    fn decode(input: &[u8]) -> Option<Case> {
        let (&mode, rest) = input.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n % 4) + 1;
        // Some heads past the queue's end: an invalid index from the driver.
        let heads = rest.get(..n)?.iter().map(|&b| u16::from(b % 20)).collect();
        let rest = &rest[n..];
        let (&n, rest) = rest.split_first()?;
        let n = (usize::from(n) % (usize::from(QSIZE) + 1)) * 16;
        let table = rest[..n.min(rest.len())].to_vec();
        let data = rest[n.min(rest.len())..].iter().take(MAX_DATA).copied();
        Some(Case {
            mode,
            heads,
            table,
            data: data.collect(),
        })
    }

    fn encode(mode: u8, heads: &[u16], descs: &[(u64, u32, u16, u16)], data: &[u8]) -> Vec<u8> {
        let mut out = vec![mode, heads.len() as u8 - 1];
        out.extend(heads.iter().map(|&h| h as u8));
        out.push(descs.len() as u8);
        for &(addr, len, flags, next) in descs {
            out.extend(addr.to_le_bytes());
            out.extend(len.to_le_bytes());
            out.extend(flags.to_le_bytes());
            out.extend(next.to_le_bytes());
        }
        out.extend(data);
        out
    }

    /// Lays the case out in `mem` on `ring` and makes its heads available.
    fn publish(&self, mem: &GuestMemoryMmap, ring: &mut Ring) {
        let (desc, _, _) = ring.addresses();
        mem.write_slice(&self.table, GuestAddress(desc)).unwrap();
        mem.write_slice(&self.data, GuestAddress(DATA)).unwrap();
        for &h in &self.heads {
            ring.publish(mem, h);
        }
    }
}

/// Every byte of guest memory, region by region.
fn snapshot(mem: &GuestMemoryMmap) -> Vec<(u64, Vec<u8>)> {
    mem.iter()
        .map(|r| {
            let start = r.start_addr().0;
            let mut bytes = vec![0u8; r.len() as usize];
            mem.read_slice(&mut bytes, GuestAddress(start)).unwrap();
            (start, bytes)
        })
        .collect()
}

/// The ranges the guest let the device write, as the table says before
/// the device runs: device-writable descriptors, also inside indirect
/// tables, and the used ring.
fn writable(before: &[(u64, Vec<u8>)], ring: &Ring) -> Vec<(u64, u64)> {
    let byte_at = |addr: u64| {
        before.iter().find_map(|(start, b)| {
            addr.checked_sub(*start)
                .and_then(|o| b.get(o as usize).copied())
        })
    };
    let desc_at = |addr: u64| -> Option<(u64, u32, u16)> {
        let bytes: Option<Vec<u8>> = (0..16).map(|i| byte_at(addr + i)).collect();
        let b = bytes?;
        Some((
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u32::from_le_bytes(b[8..12].try_into().unwrap()),
            u16::from_le_bytes(b[12..14].try_into().unwrap()),
        ))
    };
    let (desc, _, used) = ring.addresses();
    let mut out = vec![(used, used + 6 + 8 * u64::from(QSIZE))];
    for i in 0..u64::from(QSIZE) {
        let Some((addr, len, flags)) = desc_at(desc + 16 * i) else {
            continue;
        };
        if flags & WRITE != 0 {
            out.push((addr, addr.saturating_add(u64::from(len))));
        }
        if flags & INDIRECT != 0 {
            for j in 0..u64::from(len / 16).min(1024) {
                match desc_at(addr.saturating_add(16 * j)) {
                    Some((a, l, f)) if f & WRITE != 0 => {
                        out.push((a, a.saturating_add(u64::from(l))));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether a buffer the device may write (beyond the used ring itself,
/// `allowed[0]`) covers the used ring: then the guest had the device
/// scribble on it, and what the ring says proves nothing.
fn ring_scribbled(allowed: &[(u64, u64)]) -> bool {
    let (start, end) = allowed[0];
    allowed[1..].iter().any(|&(s, e)| s < end && start < e)
}

/// Asserts that every byte that changed lies in `allowed`.
fn assert_writes_within(mem: &GuestMemoryMmap, before: &[(u64, Vec<u8>)], allowed: &[(u64, u64)]) {
    for ((start, old), (_, new)) in before.iter().zip(snapshot(mem)) {
        for (i, (a, b)) in old.iter().zip(&new).enumerate() {
            let addr = start + i as u64;
            if a != b {
                assert!(
                    allowed.iter().any(|&(s, e)| s <= addr && addr < e),
                    "the device wrote {addr:#x} ({a:#x} -> {b:#x}), outside every writable buffer"
                );
            }
        }
    }
}

const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const T_DISCARD: u32 = 11;
const T_WRITE_ZEROES: u32 = 13;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;

/// A request header, then (at DATA + 16) one discard / write-zeroes segment.
fn blk_data(kind: u32, sector: u64, seg: Option<(u64, u32, u32)>) -> Vec<u8> {
    let mut d = kind.to_le_bytes().to_vec();
    d.extend(0u32.to_le_bytes());
    d.extend(sector.to_le_bytes());
    if let Some((s, n, f)) = seg {
        d.extend(s.to_le_bytes());
        d.extend(n.to_le_bytes());
        d.extend(f.to_le_bytes());
    }
    d
}

/// The corpus: well-formed requests of every type, a few classic
/// malformations, on raw (mode 0) and qcow2 (mode 2) disks.
fn blk_seeds() -> Vec<Vec<u8>> {
    let (h, w, r) = (DATA, WRITE, 0u16);
    let read = [
        (h, 16, NEXT, 1),
        (0x2000, 1024, NEXT | w, 2),
        (0x3000, 1, w, 0),
    ];
    let write = [(h, 16, NEXT, 1), (0x2000, 1536, NEXT, 2), (0x3000, 1, w, 0)];
    let seg = [(h, 16, NEXT, 1), (h + 16, 16, NEXT, 2), (0x3000, 1, w, 0)];
    let flush = [(h, 16, NEXT, 1), (0x3000, 1, w, 0)];
    let straddle = [
        (h, 16, NEXT, 1),
        (0x7e00, 1024, NEXT | w, 2),
        (0x3000, 1, w, 0),
    ];
    let indirect = [(0x4000, 48, INDIRECT, 0)];
    let mut table = Vec::new();
    for (a, l, f, n) in [
        (h, 16u32, NEXT, 1u16),
        (0x2000, 512, NEXT | w, 2),
        (0x3000, 1, w, 0),
    ] {
        table.extend(a.to_le_bytes());
        table.extend(l.to_le_bytes());
        table.extend(f.to_le_bytes());
        table.extend(n.to_le_bytes());
    }
    let mut indirect_data = blk_data(T_IN, 0, None);
    indirect_data.resize(0x3000, 0);
    indirect_data.extend(&table);
    let mut seeds = Vec::new();
    for mode in [0u8, 2] {
        seeds.extend([
            Case::encode(mode, &[0], &read, &blk_data(T_IN, 1, None)),
            Case::encode(mode, &[0], &write, &blk_data(T_OUT, 3, None)),
            Case::encode(mode | 1, &[0], &write, &blk_data(T_OUT, 3, None)),
            Case::encode(mode, &[0], &flush, &blk_data(T_FLUSH, 0, None)),
            Case::encode(mode, &[0], &read, &blk_data(T_GET_ID, 0, None)),
            Case::encode(mode, &[0], &seg, &blk_data(T_DISCARD, 0, Some((2, 8, 0)))),
            Case::encode(
                mode | 4,
                &[0],
                &seg,
                &blk_data(T_WRITE_ZEROES, 0, Some((4, 16, 1))),
            ),
            Case::encode(mode, &[0], &straddle, &blk_data(T_IN, 0, None)),
            Case::encode(mode, &[0, 0, 1], &read, &blk_data(T_IN, 127, None)),
            Case::encode(mode, &[0], &indirect, &indirect_data),
            Case::encode(mode, &[0], &read[..2], &blk_data(77, 0, None)),
            Case::encode(mode, &[0], &[(h, 16, r, 0)], &blk_data(T_IN, 0, None)),
        ]);
    }
    seeds
}

/// One good write and read-back on a fresh ring: the device still serves.
fn blk_still_works(mem: &GuestMemoryMmap, disk: &Disk, salt: u8) {
    let pattern: Vec<u8> = (0..512u32).map(|i| (i as u8) ^ salt).collect();
    let request = |kind: u32, write: bool| {
        let mut ring = Ring::new(mem, 0, QSIZE);
        mem.write_slice(&blk_data(kind, 5, None), GuestAddress(DATA))
            .unwrap();
        mem.write_obj(0xffu8, GuestAddress(0x3000)).unwrap();
        ring.add_chain(
            mem,
            &[
                Buf {
                    addr: DATA,
                    len: 16,
                    write: false,
                },
                Buf {
                    addr: 0x2000,
                    len: 512,
                    write,
                },
                Buf {
                    addr: 0x3000,
                    len: 1,
                    write: true,
                },
            ],
        );
        let mut q = ring.queue(false);
        block::process_queue(&mut q, mem, disk);
        assert_eq!(ring.take_used(mem).len(), 1);
        mem.read_obj::<u8>(GuestAddress(0x3000)).unwrap()
    };
    mem.write_slice(&pattern, GuestAddress(0x2000)).unwrap();
    let wrote = request(T_OUT, false);
    assert_eq!(
        wrote,
        if disk.readonly() { S_IOERR } else { S_OK },
        "a good write after the fuzzed chains"
    );
    if wrote == S_OK {
        mem.write_slice(&[0u8; 512], GuestAddress(0x2000)).unwrap();
    }
    assert_eq!(
        request(T_IN, true),
        S_OK,
        "a good read after the fuzzed chains"
    );
    if wrote == S_OK {
        let mut back = vec![0u8; 512];
        mem.read_slice(&mut back, GuestAddress(0x2000)).unwrap();
        assert_eq!(back, pattern, "what was written reads back");
    }
}

#[test]
fn fuzz_virtio_blk_chains() {
    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("raw.img");
    let raw_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&raw_path)
        .unwrap();
    raw_file
        .write_all_at(&vec![0x5a; DISK_BYTES as usize], 0)
        .unwrap();
    let qcow2_path = dir.path().join("disk.qcow2");
    overlay::create_image(&qcow2_path, DiskFormat::Qcow2, DISK_BYTES).unwrap();
    // Its own image: a read-only qcow2 disk would not see the metadata the
    // writable one changes under it.
    let qcow2_ro_path = dir.path().join("ro.qcow2");
    overlay::create_image(&qcow2_ro_path, DiskFormat::Qcow2, DISK_BYTES).unwrap();
    let open = |path: &std::path::Path, format: DiskFormat, readonly: bool| {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!readonly)
            .open(path)
            .unwrap();
        Disk::open(format, file, Vec::new(), readonly, "fuzz").unwrap()
    };
    // Kept across cases: what one case leaves behind meets the next.
    let disks = [
        open(&raw_path, DiskFormat::Raw, false),
        open(&raw_path, DiskFormat::Raw, true),
        open(&qcow2_path, DiskFormat::Qcow2, false),
        open(&qcow2_ro_path, DiskFormat::Qcow2, true),
    ];
    let mem = memory();
    let salt = std::cell::Cell::new(0u8);
    fuzz::run("virtio-blk", fuzz::inputs(blk_seeds()), |input| {
        let Some(case) = Case::decode(&input) else {
            return;
        };
        let disk = &disks[usize::from(case.mode & 3)];
        mem.write_slice(&vec![0u8; 0x8000], GuestAddress(0))
            .unwrap();
        let mut ring = Ring::new(&mem, 0, QSIZE);
        case.publish(&mem, &mut ring);
        let before = snapshot(&mem);
        let allowed = writable(&before, &ring);
        let stats = disk.stats().snapshot();
        let mut q: Queue = ring.queue(case.mode & 4 != 0);
        block::process_queue(&mut q, &mem, disk);
        assert_writes_within(&mem, &before, &allowed);
        assert!(
            usize::from(q.next_used()) <= case.heads.len(),
            "more used than offered"
        );
        let used = if ring_scribbled(&allowed) {
            Vec::new()
        } else {
            ring.take_used(&mem)
        };
        let after = disk.stats().snapshot();
        let dropped = used.iter().filter(|(_, len)| *len == 0).count() as u64;
        assert!(
            after.errors - stats.errors >= dropped,
            "a dropped chain was not counted: {used:?}"
        );
        assert_eq!(
            std::fs::metadata(&raw_path).unwrap().len(),
            DISK_BYTES,
            "the raw disk changed size"
        );
        salt.set(salt.get().wrapping_add(1));
        blk_still_works(&mem, disk, salt.get());
    });
    drop(disks);
    assert_eq!(
        overlay::virtual_size(&qcow2_path, DiskFormat::Qcow2).unwrap(),
        DISK_BYTES,
        "the qcow2 disk changed size"
    );
}

/// virtio-net corpus: mode bits pick the features (1 CSUM, 2 HOST_TSO4,
/// 4 MRG_RXBUF, 8 EVENT_IDX, 16 GUEST_TSO4, 32 MTU 1280, 64: receive).
fn net_seeds() -> Vec<Vec<u8>> {
    let mut hdr = vec![0u8; HDR_LEN];
    let frame: Vec<u8> = (0..1514u32).map(|i| i as u8).collect();
    let mut tx = hdr.clone();
    tx.extend(&frame);
    let mut tso = hdr.clone();
    tso[0] = 1;
    tso[1] = 1;
    tso.extend(&frame);
    hdr[1] = 4;
    let one = [(DATA, tx.len() as u32, 0, 0)];
    let split = [(DATA, HDR_LEN as u32, NEXT, 1), (DATA + 12, 1514, 0, 0)];
    let short = [(DATA, 8, 0, 0)];
    let w = WRITE;
    let rx_big = [(0x9000, 0x5000, w, 0)];
    let rx_small = [(0x2000, 100, w, 0), (0x3000, 1526, w, 0)];
    let rx_chain = [(0x2000, 12, NEXT | w, 1), (0x9000, 2000, w, 0)];
    let rx_ro = [(0x2000, 0x2000, 0, 0)];
    // Receive cases: DATA holds frame lengths (u16 each) for the peer.
    let lens = |l: &[u16]| l.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>();
    vec![
        Case::encode(0, &[0], &one, &tx),
        Case::encode(1 | 2, &[0], &one, &tso),
        Case::encode(0, &[0, 0], &split, &tx),
        Case::encode(0, &[0], &short, &tx),
        Case::encode(0, &[0], &one, &hdr),
        Case::encode(8, &[0], &[(DATA, 70000, 0, 0)], &tx),
        Case::encode(64, &[0], &rx_big, &lens(&[60, 1514])),
        Case::encode(64 | 4, &[0, 1], &rx_small, &lens(&[1514, 64])),
        Case::encode(64 | 16, &[0], &rx_big, &lens(&[9000])),
        Case::encode(64 | 32, &[0], &rx_chain, &lens(&[1300, 2000])),
        Case::encode(64, &[0], &rx_ro, &lens(&[100])),
    ]
}

fn net_features(mode: u8) -> u64 {
    let pick = [
        (1, F_CSUM | F_GUEST_CSUM),
        (2, F_HOST_TSO4),
        (4, F_MRG_RXBUF),
        (8, F_EVENT_IDX),
        (16, F_GUEST_TSO4 | F_GUEST_CSUM),
    ];
    pick.iter()
        .filter(|(bit, _)| mode & bit != 0)
        .fold(F_VERSION_1, |f, (_, x)| f | x)
}

#[test]
fn fuzz_virtio_net_chains() {
    let mem = memory();
    // Frames that went through, each way: the target must reach the paths
    // that move data, not only the refusals.
    let moved = std::cell::Cell::new((0u64, 0u64));
    fuzz::run("virtio-net", fuzz::inputs(net_seeds()), |input| {
        let Some(case) = Case::decode(&input) else {
            return;
        };
        let receive = case.mode & 64 != 0;
        let mtu = (case.mode & 32 != 0).then_some(1280u16);
        let (backend, mut peer) = DatagramBackend::pair().unwrap();
        let shared = NetShared::new(true, NetStats::default());
        let mut net = Net::new(
            backend,
            mem.clone(),
            NetConfig {
                mac: [0x52, 0x54, 0, 0, 0, 1],
                mtu,
            },
            shared.clone(),
        );
        let features = net_features(case.mode) & net.features();
        net.activate(features).unwrap();
        mem.write_slice(&vec![0u8; 0x8000], GuestAddress(0))
            .unwrap();
        let mut ring = Ring::new(&mem, 0, QSIZE);
        case.publish(&mem, &mut ring);
        // Receive: the peer sends frames of the lengths the case names.
        let mut offered = 0usize;
        if receive {
            for pair in case.data.chunks_exact(2).take(4) {
                let len = usize::from(u16::from_le_bytes([pair[0], pair[1]])).min(70000);
                // As from a tap: a virtio-net header (plain), then the frame.
                let mut frame = vec![0xabu8; len];
                frame[..len.min(HDR_LEN)].fill(0);
                if peer.write(&frame).is_ok() {
                    offered += 1;
                }
            }
        }
        let before = snapshot(&mem);
        let allowed = writable(&before, &ring);
        let mut q: Queue = ring.queue(features & F_EVENT_IDX != 0);
        let index = if receive { RX } else { TX };
        // A bounded number of passes: the device may ask to come back.
        for _ in 0..4 {
            if !net.process_queue(index, &mut q, &mem).more {
                break;
            }
        }
        if receive {
            assert_writes_within(&mem, &before, &allowed);
        } else {
            let (_, _, used) = ring.addresses();
            // Transmit writes nothing but the used ring.
            assert_writes_within(&mem, &before, &[(used, used + 6 + 8 * u64::from(QSIZE))]);
        }
        let taken = usize::from(q.next_used());
        assert!(taken <= case.heads.len(), "more used than offered");
        let used = if ring_scribbled(&allowed) {
            Vec::new()
        } else {
            ring.take_used(&mem)
        };
        let s = shared.stats();
        let (tx, rx) = moved.get();
        moved.set((tx + s.tx_packets, rx + s.rx_packets));
        if receive {
            assert!(s.rx_packets as usize <= offered, "{s:?}");
            let max = (HDR_LEN + MAX_GSO_FRAME) as u32;
            assert!(used.iter().all(|(_, len)| *len <= max), "{used:?}");
        } else {
            let mut frames = 0u64;
            let mut buf = vec![0u8; 2 * MAX_GSO_FRAME];
            while let Ok(n) = peer.read(&mut buf) {
                assert!(n <= HDR_LEN + MAX_GSO_FRAME, "a {n}-byte frame went out");
                assert!(n >= HDR_LEN, "a frame without its header went out");
                frames += 1;
            }
            assert_eq!(s.tx_packets, frames);
            // Every chain taken was sent, dropped or counted as an error
            // (one whose head is past the ring is counted, but cannot be
            // given back).
            let counted = s.tx_packets + s.tx_drops + s.tx_errors;
            assert!(
                taken as u64 <= counted && counted <= case.heads.len() as u64,
                "{s:?} {used:?}"
            );
            assert!(used.iter().all(|(_, len)| *len == 0));
        }
    });
    let (tx, rx) = moved.get();
    assert!(tx > 0 && rx > 0, "{tx} frames sent, {rx} received");
}
