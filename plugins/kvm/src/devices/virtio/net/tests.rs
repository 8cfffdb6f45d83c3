//! Device tests on virtqueues in plain guest memory, with a socket pair
//! standing in for the tap.

use std::fs::File;
use std::io::{Read, Write};

use virtio_queue::Queue;
use virtio_queue::desc::split::Descriptor;
use vm_memory::{Bytes, GuestAddress};

use super::*;
use crate::bench_support::ring::{Buf, NEXT, Ring, WRITE};

const RX_RING: u64 = 0x1000;
const TX_RING: u64 = 0x8000;
const BUFS: u64 = 0x10_0000;
const QSIZE: u16 = 16;

struct T {
    net: Net<DatagramBackend>,
    peer: File,
    mem: GuestMemoryMmap,
    rx: Ring,
    tx: Ring,
    rxq: Queue,
    txq: Queue,
}

fn mac() -> [u8; 6] {
    [0x52, 0x54, 0, 0x12, 0x34, 0x56]
}

fn setup(features: u64, event_idx: bool) -> T {
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
    let (backend, peer) = DatagramBackend::pair().unwrap();
    let config = NetConfig {
        mac: mac(),
        mtu: None,
    };
    let mut net = Net::new(
        backend,
        mem.clone(),
        config,
        NetShared::new(true, NetStats::default()),
    );
    net.activate(F_VERSION_1 | features).unwrap();
    let rx = Ring::new(&mem, RX_RING, QSIZE);
    let tx = Ring::new(&mem, TX_RING, QSIZE);
    let (rxq, txq) = (rx.queue(event_idx), tx.queue(event_idx));
    T {
        net,
        peer,
        mem,
        rx,
        tx,
        rxq,
        txq,
    }
}

impl T {
    fn rx(&mut self) -> Processed {
        self.net.process_queue(RX, &mut self.rxq, &self.mem)
    }

    fn tx(&mut self) -> Processed {
        self.net.process_queue(TX, &mut self.txq, &self.mem)
    }

    fn stats(&self) -> NetStats {
        self.net.shared().stats()
    }

    /// Whatever the device wrote to the "tap".
    fn sent(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70000];
        while let Ok(n) = self.peer.read(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn hdr(flags: u8, gso: u8) -> Vec<u8> {
    let mut h = vec![0u8; HDR_LEN];
    h[0] = flags;
    h[1] = gso;
    h
}

fn ro(addr: u64, len: usize) -> Buf {
    Buf {
        addr,
        len: len as u32,
        write: false,
    }
}

fn wr(addr: u64, len: usize) -> Buf {
    Buf {
        addr,
        len: len as u32,
        write: true,
    }
}

#[test]
fn tx_chains_reach_the_backend_with_their_header() {
    let mut t = setup(F_CSUM | F_HOST_TSO4, false);
    let mut expected = Vec::new();
    for (i, size) in [64usize, 1500].into_iter().enumerate() {
        let mut pkt = hdr(1, 0);
        pkt.extend(frame(size, i as u8));
        let at = BUFS + i as u64 * 0x1_0000;
        t.mem.write_slice(&pkt, GuestAddress(at)).unwrap();
        t.tx.add_chain(&t.mem, &[ro(at, pkt.len())]);
        expected.push(pkt);
    }
    // Header and frame in separate buffers, a TSO frame.
    let mut pkt = hdr(1, vn::VIRTIO_NET_HDR_GSO_TCPV4 as u8);
    let body = frame(3000, 9);
    t.mem
        .write_slice(&pkt, GuestAddress(BUFS + 0x8_0000))
        .unwrap();
    t.mem
        .write_slice(&body, GuestAddress(BUFS + 0x9_0000))
        .unwrap();
    t.tx.add_chain(
        &t.mem,
        &[
            ro(BUFS + 0x8_0000, HDR_LEN),
            ro(BUFS + 0x9_0000, body.len()),
        ],
    );
    pkt.extend(&body);
    expected.push(pkt);

    let p = t.tx();
    assert_eq!(
        p,
        Processed {
            interrupt: true,
            more: false
        }
    );
    assert_eq!(t.sent(), expected);
    let used = t.tx.take_used(&t.mem);
    assert_eq!(used, vec![(0, 0), (1, 0), (2, 0)]);
    let s = t.stats();
    assert_eq!(
        (s.tx_packets, s.tx_bytes, s.tx_errors),
        (3, 64 + 1500 + 3000, 0)
    );
    // The queue is drained with kicks asked for again.
    assert_eq!(t.tx.used_flags(&t.mem), 0);
}

#[test]
fn one_interrupt_per_batch_and_only_when_the_driver_wants_it() {
    // EVENT_IDX: the driver wants to hear once entry 2 is used.
    let mut t = setup(0, true);
    t.tx.set_used_event(&t.mem, 2);
    let pkt = [hdr(0, 0), frame(60, 1)].concat();
    t.mem.write_slice(&pkt, GuestAddress(BUFS)).unwrap();
    t.tx.add_chain(&t.mem, &[ro(BUFS, pkt.len())]);
    assert!(!t.tx().interrupt, "entry 0 used, driver asked for 2");
    for _ in 0..3 {
        t.tx.add_chain(&t.mem, &[ro(BUFS, pkt.len())]);
    }
    assert!(t.tx().interrupt, "entries 1..=3 used, 2 among them");
    assert_eq!(t.sent().len(), 4);
    // With the queue drained, the driver is asked to kick at the next entry.
    assert_eq!(t.tx.avail_event(&t.mem), 4);

    // Without EVENT_IDX the avail ring's NO_INTERRUPT flag is honoured.
    let mut t = setup(0, false);
    t.tx.set_avail_flags(&t.mem, 1);
    t.mem.write_slice(&pkt, GuestAddress(BUFS)).unwrap();
    t.tx.add_chain(&t.mem, &[ro(BUFS, pkt.len())]);
    assert!(!t.tx().interrupt);
    assert_eq!(t.sent().len(), 1);
}

#[test]
fn malformed_tx_chains_are_returned_counted_and_never_sent() {
    let mut t = setup(F_CSUM, false);
    let good = [hdr(0, 0), frame(100, 3)].concat();
    t.mem.write_slice(&good, GuestAddress(BUFS)).unwrap();
    let tso = [hdr(1, vn::VIRTIO_NET_HDR_GSO_TCPV4 as u8), frame(100, 3)].concat();
    t.mem
        .write_slice(&tso, GuestAddress(BUFS + 0x1000))
        .unwrap();
    let cases: Vec<Vec<Buf>> = vec![
        // A buffer the device would have to write.
        vec![ro(BUFS, 12), wr(BUFS + 12, 100)],
        // Shorter than the header.
        vec![ro(BUFS, 8)],
        // Longer than any frame.
        vec![ro(BUFS, 70_000)],
        // Outside guest memory.
        vec![ro(0x4000_0000, 112)],
        // TSO the driver did not negotiate.
        vec![ro(BUFS + 0x1000, tso.len())],
    ];
    for c in &cases {
        t.tx.add_chain(&t.mem, c);
    }
    // A good one last: the device is still fine.
    t.tx.add_chain(&t.mem, &[ro(BUFS, good.len())]);
    t.tx();
    assert_eq!(t.sent(), vec![good]);
    let used = t.tx.take_used(&t.mem);
    assert_eq!(used.len(), cases.len() + 1);
    assert!(used.iter().all(|(_, len)| *len == 0));
    assert_eq!(t.stats().tx_errors, cases.len() as u64);

    // A loop (descriptors 0 -> 1 -> 0), and a chain through the rest of
    // the table whose last descriptor points back: longer than the queue.
    let mut t = setup(F_CSUM, false);
    t.tx.write_desc(&t.mem, 0, Descriptor::new(BUFS, 12, NEXT, 1));
    t.tx.write_desc(&t.mem, 1, Descriptor::new(BUFS, 100, NEXT, 0));
    t.tx.publish(&t.mem, 0);
    for i in 2..QSIZE {
        let next = if i + 1 == QSIZE { 2 } else { i + 1 };
        t.tx.write_desc(&t.mem, i, Descriptor::new(BUFS, 8, NEXT, next));
    }
    t.tx.publish(&t.mem, 2);
    t.tx();
    assert!(t.sent().is_empty());
    assert_eq!(t.tx.take_used(&t.mem), vec![(0, 0), (2, 0)]);
    assert_eq!(t.stats().tx_errors, 2);
}

#[test]
fn link_down_drops_frames_both_ways() {
    let mut t = setup(0, false);
    t.net.shared().set_link(false);
    let pkt = [hdr(0, 0), frame(60, 1)].concat();
    t.mem.write_slice(&pkt, GuestAddress(BUFS)).unwrap();
    t.tx.add_chain(&t.mem, &[ro(BUFS, pkt.len())]);
    t.tx();
    assert!(t.sent().is_empty());
    assert_eq!(t.tx.take_used(&t.mem), vec![(0, 0)]);
    t.peer.write_all(&pkt).unwrap();
    t.rx.add_chain(&t.mem, &[wr(BUFS + 0x1_0000, 2048)]);
    // The tap is drained even though the guest has buffers; they stay its own.
    assert!(t.net.backend_wanted());
    t.rx();
    assert!(t.rx.take_used(&t.mem).is_empty());
    let s = t.stats();
    assert_eq!(
        (s.tx_drops, s.rx_drops, s.tx_packets, s.rx_packets),
        (1, 1, 0, 0)
    );
    let mut c = [0u8; 12];
    t.net.read_config(0, &mut c);
    assert_eq!(&c[..6], &mac());
    assert_eq!(
        u16::from_le_bytes([c[6], c[7]]),
        0,
        "link down in config space"
    );
    t.net.shared().set_link(true);
    t.net.read_config(6, &mut c[..2]);
    assert_eq!(u16::from_le_bytes([c[0], c[1]]), 1, "VIRTIO_NET_S_LINK_UP");
}

#[test]
fn rx_frames_land_in_guest_buffers_with_a_fixed_header() {
    // No GUEST_CSUM: the tap's DATA_VALID flag must not reach the guest.
    let mut t = setup(0, false);
    let pkt = [hdr(vn::VIRTIO_NET_HDR_F_DATA_VALID as u8, 0), frame(64, 5)].concat();
    t.peer.write_all(&pkt).unwrap();
    t.mem.write_slice(&[0xaa; 16], GuestAddress(BUFS)).unwrap();
    t.rx.add_chain(&t.mem, &[wr(BUFS, 1526 + HDR_LEN)]);
    let p = t.rx();
    assert!(p.interrupt);
    assert_eq!(t.rx.take_used(&t.mem), vec![(0, pkt.len() as u32)]);
    let mut got = vec![0u8; pkt.len()];
    t.mem.read_slice(&mut got, GuestAddress(BUFS)).unwrap();
    assert_eq!(got[0], 0, "flags cleared");
    assert_eq!(u16::from_le_bytes([got[10], got[11]]), 1, "num_buffers");
    assert_eq!(&got[HDR_LEN..], &pkt[HDR_LEN..]);
    let s = t.stats();
    assert_eq!((s.rx_packets, s.rx_bytes), (1, 64));

    // With GUEST_CSUM the flags pass; a header split over two buffers works.
    let mut t = setup(F_GUEST_CSUM, false);
    t.peer.write_all(&pkt).unwrap();
    t.rx.add_chain(&t.mem, &[wr(BUFS, 6), wr(BUFS + 0x1000, 2000)]);
    t.rx();
    assert_eq!(t.rx.take_used(&t.mem), vec![(0, pkt.len() as u32)]);
    let mut h = [0u8; 6];
    t.mem.read_slice(&mut h, GuestAddress(BUFS)).unwrap();
    assert_eq!(h[0], vn::VIRTIO_NET_HDR_F_DATA_VALID as u8);
    let mut nb = [0u8; 2];
    t.mem
        .read_slice(&mut nb, GuestAddress(BUFS + 0x1000 + 4))
        .unwrap();
    assert_eq!(u16::from_le_bytes(nb), 1);
}

#[test]
fn mergeable_buffers_take_as_many_chains_as_a_frame_fills() {
    let mut t = setup(F_MRG_RXBUF, true);
    t.rx.set_used_event(&t.mem, 0);
    for i in 0..4 {
        t.rx.add_chain(&t.mem, &[wr(BUFS + i * 0x1000, 1024)]);
    }
    let big = [hdr(0, 0), frame(1500, 1)].concat();
    let small = [hdr(0, 0), frame(64, 2)].concat();
    t.peer.write_all(&big).unwrap();
    t.peer.write_all(&small).unwrap();
    assert!(t.rx().interrupt);
    assert_eq!(
        t.rx.take_used(&t.mem),
        vec![
            (0, 1024),
            (1, big.len() as u32 - 1024),
            (2, small.len() as u32)
        ]
    );
    let mut nb = [0u8; 2];
    t.mem.read_slice(&mut nb, GuestAddress(BUFS + 10)).unwrap();
    assert_eq!(u16::from_le_bytes(nb), 2);
    let mut second = vec![0u8; big.len() - 1024];
    t.mem
        .read_slice(&mut second, GuestAddress(BUFS + 0x1000))
        .unwrap();
    assert_eq!(&second[..], &big[1024..]);
    // One 1024-byte buffer left: less than a full frame needs, so the card
    // waits for more rather than risk cutting a frame short...
    assert_eq!(t.net.held_chains(RX), 1);
    assert!(t.net.rx.stalled() && !t.net.backend_wanted());
    // ...and asked the driver for a kick at the next entry it adds.
    assert_eq!(t.rx.avail_event(&t.mem), 4);
    t.peer.write_all(&small).unwrap();
    assert!(t.rx.take_used(&t.mem).is_empty());
    t.rx.add_chain(&t.mem, &[wr(BUFS + 0x8000, 1024)]);
    t.rx();
    assert_eq!(t.rx.take_used(&t.mem), vec![(3, small.len() as u32)]);
    assert_eq!(t.net.held_chains(RX), 1);
}

#[test]
fn rx_without_buffers_leaves_frames_in_the_tap_until_a_kick() {
    let mut t = setup(0, false);
    let pkt = [hdr(0, 0), frame(200, 4)].concat();
    t.peer.write_all(&pkt).unwrap();
    assert!(t.net.backend_wanted());
    let p = t.rx();
    assert_eq!(p, Processed::default());
    // Stalled: the worker stops polling the tap (no busy loop) and the
    // driver is asked to kick when it adds buffers.
    assert!(t.net.rx.stalled());
    assert!(!t.net.backend_wanted());
    assert_eq!(t.rx.used_flags(&t.mem), 0);
    // Spurious wake-ups change nothing and cost no read.
    for _ in 0..3 {
        assert_eq!(t.rx(), Processed::default());
    }
    assert_eq!(t.stats(), NetStats::default());
    // The kick: the frame was waiting in the tap all along.
    t.rx.add_chain(&t.mem, &[wr(BUFS, 2048)]);
    t.rx.add_chain(&t.mem, &[wr(BUFS + 0x1000, 2048)]);
    assert!(t.rx().interrupt);
    assert_eq!(t.rx.take_used(&t.mem), vec![(0, pkt.len() as u32)]);
    // A buffer remains: the tap is polled again and kicks are not wanted.
    assert!(t.net.backend_wanted());
    assert_eq!(t.rx.used_flags(&t.mem), 1, "VRING_USED_F_NO_NOTIFY");
}

#[test]
fn malformed_rx_chains_are_returned_and_good_ones_still_used() {
    let mut t = setup(0, false);
    // A read-only buffer, a chain shorter than a header, then a loop.
    t.rx.add_chain(&t.mem, &[ro(BUFS, 2048)]);
    t.rx.add_chain(&t.mem, &[wr(BUFS, 8)]);
    t.rx.write_desc(&t.mem, 2, Descriptor::new(BUFS, 2048, NEXT | WRITE, 3));
    t.rx.write_desc(&t.mem, 3, Descriptor::new(BUFS, 2048, NEXT | WRITE, 2));
    t.rx.publish(&t.mem, 2);
    t.rx.write_desc(&t.mem, 4, Descriptor::new(BUFS + 0x1000, 2048, WRITE, 0));
    t.rx.publish(&t.mem, 4);
    let pkt = [hdr(0, 0), frame(300, 6)].concat();
    t.peer.write_all(&pkt).unwrap();
    t.rx();
    assert_eq!(
        t.rx.take_used(&t.mem),
        vec![(0, 0), (1, 0), (2, 0), (4, pkt.len() as u32)]
    );
    let s = t.stats();
    assert_eq!((s.rx_errors, s.rx_packets), (3, 1));
}

#[test]
fn a_malformed_chain_behind_held_ones_waits_its_turn() {
    // Held chains must stay the last ones taken (snapshots give them back).
    let mut t = setup(F_MRG_RXBUF, false);
    t.rx.add_chain(&t.mem, &[wr(BUFS, 1024)]);
    t.rx.add_chain(&t.mem, &[ro(BUFS + 0x1000, 1024)]);
    t.rx.add_chain(&t.mem, &[wr(BUFS + 0x2000, 1024)]);
    let small = [hdr(0, 0), frame(64, 2)].concat();
    t.peer.write_all(&small).unwrap();
    t.peer.write_all(&small).unwrap();
    t.rx();
    // The first frame goes to the held chain ahead of the bad one (the card
    // does not wait for more: the bad chain blocks the ring); then the bad
    // one is returned, and the last buffer alone is too small to read into.
    assert_eq!(
        t.rx.take_used(&t.mem),
        vec![(0, small.len() as u32), (1, 0)]
    );
    assert_eq!(t.stats().rx_errors, 1);
    assert_eq!(t.net.held_chains(RX), 1);
    t.rx.add_chain(&t.mem, &[wr(BUFS + 0x3000, 1024)]);
    t.rx();
    assert_eq!(t.rx.take_used(&t.mem), vec![(2, small.len() as u32)]);
}

#[test]
fn a_frame_larger_than_the_buffer_is_dropped_and_the_buffer_kept() {
    let mut t = setup(0, false);
    t.rx.add_chain(&t.mem, &[wr(BUFS, 100)]);
    t.peer
        .write_all(&[hdr(0, 0), frame(200, 1)].concat())
        .unwrap();
    let small = [hdr(0, 0), frame(50, 2)].concat();
    t.peer.write_all(&small).unwrap();
    t.rx();
    assert_eq!(t.rx.take_used(&t.mem), vec![(0, small.len() as u32)]);
    let s = t.stats();
    assert_eq!((s.rx_drops, s.rx_packets), (1, 1));
}

#[test]
fn features_offloads_and_config_space() {
    let t = setup(0, false);
    let offered = t.net.features();
    for f in [
        F_MAC,
        F_STATUS,
        F_MRG_RXBUF,
        F_CSUM,
        F_GUEST_TSO6,
        F_EVENT_IDX,
    ] {
        assert_ne!(offered & f, 0);
    }
    assert_eq!(offered & F_MTU, 0, "no MTU given");
    assert_eq!(offered & bit(vn::VIRTIO_NET_F_GUEST_UFO), 0);
    assert_eq!(offered & bit(vn::VIRTIO_NET_F_CTRL_VQ), 0);
    assert!(
        t.net
            .validate_features(F_VERSION_1 | F_GUEST_CSUM | F_GUEST_TSO4)
    );
    assert!(!t.net.validate_features(F_VERSION_1 | F_GUEST_TSO4));
    assert!(!t.net.validate_features(F_VERSION_1 | F_HOST_UFO));
    assert_eq!(tap_offloads(F_GUEST_TSO4), 0, "TSO needs checksum offload");
    assert_eq!(
        tap_offloads(F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4),
        libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6
    );
    let mut t = setup(F_GUEST_CSUM | F_GUEST_TSO4, false);
    assert_eq!(
        t.net.backend_mut().configured,
        Some((HDR_LEN, libc::TUN_F_CSUM | libc::TUN_F_TSO4))
    );
    assert_eq!(t.net.rx_need(), (HDR_LEN + MAX_GSO_FRAME) as u64);
    assert_eq!(parse_mac("52:54:00:12:34:56"), Ok(mac()));
    assert!(parse_mac("53:54:00:12:34:56").is_err(), "multicast");
    assert!(parse_mac("52:54:00:12:34").is_err());
    assert_eq!(format_mac(&mac()), "52:54:00:12:34:56");
    let mtu = Net::new(
        DatagramBackend::pair().unwrap().0,
        t.mem.clone(),
        NetConfig {
            mac: mac(),
            mtu: Some(9000),
        },
        NetShared::new(true, NetStats::default()),
    );
    assert_ne!(mtu.features() & F_MTU, 0);
    let mut c = [0u8; 2];
    mtu.read_config(10, &mut c);
    assert_eq!(u16::from_le_bytes(c), 9000);
}

#[test]
fn the_transport_defers_activation_to_the_worker_and_snapshots_return_held_chains() {
    use crate::bench_support::ring::{init_mmio, notify, read_reg};
    use crate::devices::IrqLine;
    use crate::devices::virtio::mmio::MmioTransport;

    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
    let (backend, _peer) = DatagramBackend::pair().unwrap();
    let shared = NetShared::new(true, NetStats::default());
    let config = NetConfig {
        mac: mac(),
        mtu: None,
    };
    let net = Net::new(backend, mem.clone(), config, shared.clone());
    let mut t = MmioTransport::new(Box::new(net), mem.clone(), IrqLine::new().unwrap()).unwrap();
    let mut rx = Ring::new(&mem, RX_RING, QSIZE);
    let tx = Ring::new(&mem, TX_RING, QSIZE);
    let features = F_VERSION_1 | F_MRG_RXBUF;
    assert_eq!(init_mmio(&mut t, features, &[&rx, &tx]), 0xf);
    // DRIVER_OK (on a vCPU) only asked the worker for service.
    assert_eq!(t.service_evt().read().unwrap(), 1);
    assert_eq!(shared.driver_features(), 0, "not activated yet");
    // A QueueNotify that reached userspace goes to the queue's eventfd too.
    notify(&mut t, 1);
    assert_eq!(t.queue_evts()[1].read().unwrap(), 1);
    // The worker's service activates the card, then looks at the queues:
    // four 1024-byte buffers are held, waiting for enough for a full frame.
    for i in 0..4 {
        rx.add_chain(&mem, &[wr(BUFS + i * 0x1000, 1024)]);
    }
    t.service();
    assert_eq!(shared.driver_features(), features);
    let snap = serde_json::to_value(t.snapshot()).unwrap();
    assert_eq!(snap["queues"][0]["next_avail"], 0, "held chains go back");
    // A link change is a configuration interrupt and a new generation.
    shared.set_link(false);
    t.config_changed();
    assert_eq!(read_reg(&mut t, 0x60) & 2, 2);
    assert_eq!(read_reg(&mut t, 0xfc), 1);
    // TSO without checksum offload is refused at FEATURES_OK.
    let status = init_mmio(&mut t, F_VERSION_1 | F_GUEST_TSO4, &[&rx, &tx]);
    assert_eq!(
        status & 0xc,
        0,
        "neither FEATURES_OK nor DRIVER_OK: {status:#x}"
    );
}

/// A passt-style stream: frames cut across reads arrive whole, with an
/// all-zero virtio-net header in front; frames the guest sends leave with
/// their length in front and without the header; a card on it offers no
/// offload; the peer's close stops it.
#[test]
fn a_stream_backend_keeps_qemus_framing() {
    let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut s = StreamBackend::new(ours.into()).unwrap();
    s.configure(HDR_LEN, 0).unwrap();
    let frame: Vec<u8> = (0..100u8).collect();
    let mut buf = vec![0xffu8; 256];
    let iov = [libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    }];
    // Nothing yet, then a frame in two pieces.
    let again = s.read_frame(&iov).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::WouldBlock);
    peer.write_all(&(frame.len() as u32).to_be_bytes()).unwrap();
    peer.write_all(&frame[..30]).unwrap();
    assert_eq!(
        s.read_frame(&iov).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    peer.write_all(&frame[30..]).unwrap();
    assert_eq!(s.read_frame(&iov).unwrap(), HDR_LEN + frame.len());
    assert!(buf[..HDR_LEN].iter().all(|b| *b == 0));
    assert_eq!(&buf[HDR_LEN..HDR_LEN + frame.len()], &frame[..]);

    // Out: header stripped, length in front.
    let mut out = vec![7u8; HDR_LEN];
    out.extend_from_slice(b"hello ethernet");
    let iov = [libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: out.len(),
    }];
    assert_eq!(s.write_frame(&iov).unwrap(), out.len());
    let mut got = [0u8; 4 + 14];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got[..4], &14u32.to_be_bytes());
    assert_eq!(&got[4..], b"hello ethernet");

    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    let card = Net::new(
        NicBackend::Stream(s.clone()),
        mem,
        NetConfig {
            mac: mac(),
            mtu: None,
        },
        NetShared::new(true, NetStats::default()),
    );
    assert_eq!(card.features() & OFFLOADS, 0);

    drop(peer);
    let gone = s.read_frame(&iov).unwrap_err();
    assert_eq!(gone.raw_os_error(), Some(libc::EBADFD));
}

#[test]
fn rings_whose_index_runs_ahead_are_left_alone() {
    // 100 chains "available" on a 16-entry ring: virtio-queue takes none,
    // and asking again whether more arrived used to loop for ever.
    for event_idx in [false, true] {
        let mut t = setup(0, event_idx);
        let (_, rx_avail, _) = t.rx.addresses();
        let (_, tx_avail, _) = t.tx.addresses();
        t.peer
            .write_all(&[hdr(0, 0), frame(64, 1)].concat())
            .unwrap();
        for avail in [rx_avail, tx_avail] {
            t.mem.write_obj(100u16, GuestAddress(avail + 2)).unwrap();
        }
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            t.tx();
            t.rx();
            done.send(t.stats()).unwrap();
        });
        let s = wait
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the device returns");
        assert_eq!((s.tx_packets, s.rx_packets), (0, 0));
    }
}
