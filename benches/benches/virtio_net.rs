//! The virtio-net device path without a VM
//! (`wirt_kvm::devices::virtio::net`): transmit (descriptor chain → header
//! check → `writev` → used ring → interrupt decision) and receive (`readv`
//! into held guest buffers → header fix-up → used ring → interrupt
//! decision). A driver refills the rings between timed passes, so the
//! device runs in steady state, with the features a Linux guest negotiates
//! (EVENT_IDX, checksum and TSO offloads, MRG_RXBUF). 64 B and 1500 B
//! frames, 1, 16 or 64 frames per pass; **the time reported is per frame**
//! (each pass's wall time divided by its frames). On a loaded machine wall
//! time runs 2-3x high, so each group also prints the thread CPU time per
//! frame of 200 passes of 64 frames (the CPU clock costs ~0.2 us a read
//! here, too much to put around single-frame passes).
//!
//! Backends:
//! - `canned`: no system calls (`bench_support::CannedBackend`; reads copy a
//!   canned frame as the kernel would): the device's own cost.
//! - `socketpair`: a `SOCK_SEQPACKET` pair, one message per frame: the same
//!   `readv`/`writev` and copy as with a tap, without root or a namespace.
//! - `tap`: a real tap on a bridge in a network namespace made for the
//!   benchmark (root only, skipped otherwise): what the host really pays,
//!   including the kernel's bridging.

use std::fs::File;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use virtio_queue::Queue;
use vm_memory::{Bytes, GuestAddress};
use wirt_kvm::bench_support::ring::{Buf, Ring};
use wirt_kvm::bench_support::{CannedBackend, in_netns, thread_cpu_time};
use wirt_kvm::devices::virtio::net::{
    DatagramBackend, F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_GUEST_TSO6, F_HOST_TSO4, F_HOST_TSO6,
    F_MRG_RXBUF, HDR_LEN, Net, NetBackend, NetConfig, NetShared, NetStats, RX, TX,
};
use wirt_kvm::devices::virtio::{F_EVENT_IDX, F_VERSION_1, VirtioDevice};
use wirt_kvm::tap::{Tap, open_tap};

// The VMM's own memory type: with the dirty bitmap live migration reads.
type Mem = wirt_kvm::memory::GuestMemoryMmap;

const FEATURES: u64 = F_VERSION_1
    | F_EVENT_IDX
    | F_CSUM
    | F_GUEST_CSUM
    | F_HOST_TSO4
    | F_HOST_TSO6
    | F_GUEST_TSO4
    | F_GUEST_TSO6
    | F_MRG_RXBUF;
const QSIZE: u16 = 256;
const RX_RING: u64 = 0x1_0000;
const TX_RING: u64 = 0x2_0000;
const RX_BUFS: u64 = 0x10_0000;
const TX_BUFS: u64 = 0x30_0000;
const SLOT: u64 = 2048;
const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
/// Where transmitted frames go: a MAC the bridge learned on the peer tap.
const PEER_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
const SIZES: [usize; 2] = [64, 1500];
const BATCHES: [usize; 3] = [1, 16, 64];

/// The frame sent or received: Ethernet header, a local-experimental
/// ethertype nobody answers, a payload.
fn frame(size: usize, dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; HDR_LEN];
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(HDR_LEN + size, 0x5a);
    f
}

/// A device and the driver's side of its two rings.
struct Harness<B: NetBackend> {
    net: Net<B>,
    mem: Mem,
    rx: Ring,
    tx: Ring,
    rxq: Queue,
    txq: Queue,
}

impl<B: NetBackend> Harness<B> {
    fn new(backend: B) -> Self {
        let mem = Mem::from_ranges(&[(GuestAddress(0), 8 << 20)]).unwrap();
        let config = NetConfig {
            mac: MAC,
            mtu: None,
        };
        let shared = NetShared::new(true, NetStats::default());
        let mut net = Net::new(backend, mem.clone(), config, shared);
        net.activate(FEATURES).unwrap();
        let mut rx = Ring::new(&mem, RX_RING, QSIZE);
        let tx = Ring::new(&mem, TX_RING, QSIZE);
        let (rxq, txq) = (rx.queue(true), tx.queue(true));
        // Like Linux: the whole receive ring full of buffers.
        for _ in 0..QSIZE {
            let d = u64::from(rx.next_desc());
            let buf = Buf {
                addr: RX_BUFS + d * SLOT,
                len: SLOT as u32,
                write: true,
            };
            rx.add_chain(&mem, &[buf]);
        }
        rx.want_interrupt(&mem);
        Harness {
            net,
            mem,
            rx,
            tx,
            rxq,
            txq,
        }
    }

    /// Driver, untimed: `n` frames of `size` in the transmit ring.
    fn queue_tx(&mut self, n: usize, size: usize) {
        self.tx.take_used(&self.mem);
        self.tx.want_interrupt(&self.mem);
        for _ in 0..n {
            let d = u64::from(self.tx.next_desc());
            let f = frame(size, PEER_MAC, MAC);
            self.mem
                .write_slice(&f, GuestAddress(TX_BUFS + d * SLOT))
                .unwrap();
            let buf = Buf {
                addr: TX_BUFS + d * SLOT,
                len: f.len() as u32,
                write: false,
            };
            self.tx.add_chain(&self.mem, &[buf]);
        }
    }

    /// Driver, untimed: takes the frames received, gives the buffers back.
    fn refill_rx(&mut self) -> usize {
        let used = self.rx.take_used(&self.mem);
        for _ in &used {
            let d = u64::from(self.rx.next_desc());
            let buf = Buf {
                addr: RX_BUFS + d * SLOT,
                len: SLOT as u32,
                write: true,
            };
            self.rx.add_chain(&self.mem, &[buf]);
        }
        self.rx.want_interrupt(&self.mem);
        used.len()
    }

    /// One transmit pass of `n` frames, timed by `clock`.
    fn tx_pass(&mut self, n: usize, size: usize, clock: Clock) -> Duration {
        self.queue_tx(n, size);
        let t = clock();
        let p = self.net.process_queue(TX, &mut self.txq, &self.mem);
        let spent = clock() - t;
        assert!(p.interrupt && !p.more);
        spent
    }

    /// One receive pass timed by `clock`; `fill` puts `n` frames in the
    /// backend first.
    fn rx_pass(&mut self, n: usize, clock: Clock, fill: impl FnOnce(&mut Net<B>)) -> Duration {
        fill(&mut self.net);
        let t = clock();
        let p = self.net.process_queue(RX, &mut self.rxq, &self.mem);
        let spent = clock() - t;
        assert!(p.interrupt);
        assert_eq!(self.refill_rx(), n, "frames received in one pass");
        spent
    }
}

type Clock = fn() -> Duration;

fn wall() -> Duration {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}

fn per_frame(total: Duration, frames: usize) -> Duration {
    total / frames as u32
}

/// Thread CPU time per frame over 200 passes of 64 frames.
fn cpu_per_frame(mut pass: impl FnMut() -> Duration) -> f64 {
    let total: Duration = (0..200).map(|_| pass()).sum();
    total.as_nanos() as f64 / (200.0 * 64.0)
}

fn bench_backend<B: NetBackend>(
    c: &mut Criterion,
    name: &str,
    make: impl Fn() -> B,
    mut drain_tx: impl FnMut(&mut B, usize),
    mut fill_rx: impl FnMut(&mut B, usize, &[u8]),
) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("virtio_net/tx_{size}/{name}"));
        let mut h = Harness::new(make());
        for batch in BATCHES {
            group.bench_function(format!("batch_{batch}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += h.tx_pass(batch, size, wall);
                        drain_tx(h.net.backend_mut(), batch);
                    }
                    per_frame(total, batch)
                })
            });
        }
        let cpu = cpu_per_frame(|| {
            let t = h.tx_pass(64, size, thread_cpu_time);
            drain_tx(h.net.backend_mut(), 64);
            t
        });
        eprintln!("virtio_net/tx_{size}/{name}: {cpu:.0} ns/frame of CPU (batches of 64)");
        let s = h.net.shared().stats();
        assert_eq!((s.tx_errors, s.tx_drops), (0, 0), "{name}: {s:?}");
        group.finish();
        // Its tap goes away with it and stops taking flooded frames.
        drop(h);

        let mut group = c.benchmark_group(format!("virtio_net/rx_{size}/{name}"));
        let mut h = Harness::new(make());
        let f = frame(size, MAC, PEER_MAC);
        for batch in BATCHES {
            group.bench_function(format!("batch_{batch}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let fill = |net: &mut Net<B>| fill_rx(net.backend_mut(), batch, &f);
                        total += h.rx_pass(batch, wall, fill);
                    }
                    per_frame(total, batch)
                })
            });
        }
        let cpu = cpu_per_frame(|| {
            h.rx_pass(64, thread_cpu_time, |net| {
                fill_rx(net.backend_mut(), 64, &f)
            })
        });
        eprintln!("virtio_net/rx_{size}/{name}: {cpu:.0} ns/frame of CPU (batches of 64)");
        let s = h.net.shared().stats();
        assert_eq!((s.rx_errors, s.rx_drops), (0, 0), "{name}: {s:?}");
        group.finish();
        drop(h);
    }
}

fn canned(c: &mut Criterion) {
    bench_backend(
        c,
        "canned",
        || CannedBackend {
            frame: Vec::new(),
            frames: 0,
        },
        |_, _| {},
        |b, n, f| {
            b.frame = f.to_vec();
            b.frames = n;
        },
    );
}

fn socketpair(c: &mut Criterion) {
    // The peer of each backend, by the backend's descriptor.
    let peers = std::cell::RefCell::new(std::collections::HashMap::new());
    let mut buf = vec![0u8; 70_000];
    bench_backend(
        c,
        "socketpair",
        || {
            let (b, peer) = DatagramBackend::pair().unwrap();
            peers.borrow_mut().insert(b.fd(), peer);
            b
        },
        |b, n| {
            let mut peers = peers.borrow_mut();
            let peer: &mut File = peers.get_mut(&b.fd()).unwrap();
            for _ in 0..n {
                let got = peer.read(&mut buf).unwrap();
                assert!(got > HDR_LEN, "one frame per message");
            }
        },
        |b, n, f| {
            let mut peers = peers.borrow_mut();
            let peer: &mut File = peers.get_mut(&b.fd()).unwrap();
            for _ in 0..n {
                peer.write_all(f).unwrap();
            }
        },
    );
}

/// A namespace with a bridge, the device's tap and a peer tap on it;
/// deleted on drop.
struct Bridge {
    ns: String,
}

impl Bridge {
    fn ip(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["-n", &self.ns])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A tap in the namespace, on the bridge, up.
    fn tap(&self) -> Tap {
        let (fd, name) = in_netns(&self.ns, || open_tap(Some("wb%d"), true))
            .unwrap()
            .unwrap();
        assert!(self.ip(&["link", "set", &name, "master", "br0", "up"]));
        Tap::new(fd).unwrap()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn bridge() -> Result<Bridge, String> {
    // /dev/net/tun is root's (0600).
    if File::options()
        .read(true)
        .write(true)
        .open(wirt_kvm::tap::TUN_PATH)
        .is_err()
    {
        return Err("cannot open /dev/net/tun (needs root)".into());
    }
    let ns = format!("wirt-bench-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("cannot create a network namespace".into());
    }
    let b = Bridge { ns };
    // No IPv6 chatter (router solicitations, MLD) on the bench's links.
    for key in ["all", "default"] {
        let _ = Command::new("ip")
            .args(["netns", "exec", &b.ns, "sysctl", "-qw"])
            .arg(format!("net.ipv6.conf.{key}.disable_ipv6=1"))
            .status();
    }
    if !b.ip(&["link", "add", "br0", "type", "bridge"]) || !b.ip(&["link", "set", "br0", "up"]) {
        return Err("cannot make a bridge in the namespace".into());
    }
    Ok(b)
}

fn tap(c: &mut Criterion) {
    let bridge = match bridge() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("virtio_net/*/tap skipped: {why}");
            return;
        }
    };
    // The wire: frames written here reach the device's tap through the
    // bridge, and the device's frames come out here.
    let peer = bridge.tap();
    peer.set_vnet_hdr_size(HDR_LEN).unwrap();
    let mut peer = File::from(std::os::fd::OwnedFd::from(peer));
    // Teach the bridge that PEER_MAC is behind the peer tap.
    peer.write_all(&frame(64, [0xff; 6], PEER_MAC)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let mut drain = |peer: &mut File, n: usize| {
        for _ in 0..n {
            // The bridge forwarded the frames during the writev.
            let got = peer.read(&mut buf).expect("frame forwarded to the peer");
            assert!(got > HDR_LEN, "one frame per read");
        }
    };
    let peer = std::cell::RefCell::new(peer);
    let mut fill_buf = Vec::new();
    bench_backend(
        c,
        "tap",
        || bridge.tap(),
        |_, n| drain(&mut peer.borrow_mut(), n),
        |_, n, f| {
            fill_buf.clear();
            fill_buf.extend_from_slice(f);
            // Broadcast: flooded to the device's tap (and dropped by the
            // namespace's stack: unknown ethertype).
            fill_buf[HDR_LEN..HDR_LEN + 6].copy_from_slice(&[0xff; 6]);
            for _ in 0..n {
                peer.borrow_mut().write_all(&fill_buf).unwrap();
            }
        },
    );
}

criterion_group!(benches, canned, socketpair, tap);
criterion_main!(benches);
