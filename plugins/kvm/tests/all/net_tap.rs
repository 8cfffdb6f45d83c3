//! The virtio-net device, its transport and worker (under the network
//! worker's seccomp filter) on a real tap in a namespace of its own, driven
//! the way a guest driver would: ARP, ping and TCP against the namespace's
//! kernel, the offloads the driver negotiated, frames too large for its
//! buffers, and a tap deleted under the card. Needs root, not /dev/kvm.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vm_memory::{Bytes, GuestAddress};
use wirt_kvm::bench_support::ring::{Buf, Ring, init_mmio, notify};
use wirt_kvm::devices::IrqLine;
use wirt_kvm::devices::virtio::mmio::MmioTransport;
use wirt_kvm::devices::virtio::net::{
    F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_GUEST_TSO6, F_HOST_TSO4, F_MRG_RXBUF, HDR_LEN, Net,
    NetConfig, NetShared, NetStats,
};
use wirt_kvm::devices::virtio::worker::Worker;
use wirt_kvm::devices::virtio::{F_EVENT_IDX, F_VERSION_1};
use wirt_kvm::memory::GuestMemoryMmap;
use wirt_kvm::seccomp::{self, Mode, Profile};
use wirt_kvm::tap::Tap;

use crate::frames::{self, ETH_IP, Rx};
use crate::netns::{NetNs, require_net};

pub const MAC: [u8; 6] = [0x52, 0x54, 0, 0xab, 0xcd, 0x01];
pub const GUEST_IP: [u8; 4] = [10, 99, 0, 2];
pub const HOST_IP: [u8; 4] = [10, 99, 0, 1];
const QSIZE: u16 = 256;
const RX_BUFS: u64 = 0x10_0000;
const TX_BUFS: u64 = 0x80_0000;
const TX_SLOT: u64 = 0x1000;
const TIMEOUT: Duration = Duration::from_secs(5);

/// A card as a guest driver sees it.
struct Card {
    t: Arc<Mutex<MmioTransport>>,
    _worker: Worker,
    mem: GuestMemoryMmap,
    rx: Ring,
    tx: Ring,
    shared: Arc<NetShared>,
    rx_size: u64,
    rx_given: u64,
    tx_sent: u64,
    mrg: bool,
}

/// A transport with a card on `tap` over `mem`.
fn transport(tap: OwnedFd, mem: &GuestMemoryMmap, shared: &Arc<NetShared>) -> MmioTransport {
    let config = NetConfig {
        mac: MAC,
        mtu: None,
    };
    let dev = Net::new(Tap::new(tap).unwrap(), mem.clone(), config, shared.clone());
    MmioTransport::new(Box::new(dev), mem.clone(), IrqLine::new().unwrap()).unwrap()
}

/// A worker under the filters wirt-vmm puts on a network worker (process,
/// then net), in trap mode: a call they refuse ends the test binary, naming
/// the call.
fn worker(name: &str, t: &Arc<Mutex<MmioTransport>>) -> Worker {
    seccomp::install_sigsys_reporter().unwrap();
    Worker::spawn(
        name,
        vec![t.clone()],
        Box::new(|| {
            seccomp::apply(Profile::Process, Mode::Trap).unwrap();
            seccomp::apply(Profile::Net, Mode::Trap).unwrap();
        }),
    )
    .unwrap()
}

impl Card {
    fn new(name: &str, tap: OwnedFd, features: u64, rx_size: u64) -> Card {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
        let shared = NetShared::new(true, NetStats::default());
        let mut t = transport(tap, &mem, &shared);
        let rx = Ring::new(&mem, 0x1_0000, QSIZE);
        let tx = Ring::new(&mem, 0x2_0000, QSIZE);
        assert_eq!(init_mmio(&mut t, F_VERSION_1 | features, &[&rx, &tx]), 0xf);
        let t = Arc::new(Mutex::new(t));
        let worker = worker(name, &t);
        let mut card = Card {
            t,
            _worker: worker,
            mem,
            rx,
            tx,
            shared,
            rx_size,
            rx_given: 0,
            tx_sent: 0,
            mrg: features & F_MRG_RXBUF != 0,
        };
        card.give_rx(128);
        card
    }

    /// Adds `n` one-buffer receive chains and kicks. Chain `i` uses
    /// descriptor `i % QSIZE`, so a used id names its buffer.
    fn give_rx(&mut self, n: u64) {
        for _ in 0..n {
            let slot = self.rx_given % u64::from(QSIZE);
            let buf = Buf {
                addr: RX_BUFS + slot * self.rx_size,
                len: self.rx_size as u32,
                write: true,
            };
            self.rx.add_chain(&self.mem, &[buf]);
            self.rx_given += 1;
        }
        notify(&mut self.t.lock().unwrap(), 0);
    }

    /// Sends `frame` with a header (flags, gso type) as one chain.
    fn send_with(&mut self, flags: u8, gso: u8, frame: &[u8]) {
        let slot = self.tx_sent % u64::from(QSIZE);
        let at = TX_BUFS + slot * TX_SLOT;
        let mut pkt = vec![0u8; HDR_LEN];
        pkt[0] = flags;
        pkt[1] = gso;
        pkt.extend_from_slice(frame);
        self.mem.write_slice(&pkt, GuestAddress(at)).unwrap();
        let buf = Buf {
            addr: at,
            len: pkt.len() as u32,
            write: false,
        };
        self.tx.add_chain(&self.mem, &[buf]);
        self.tx_sent += 1;
        notify(&mut self.t.lock().unwrap(), 1);
    }

    fn send(&mut self, frame: &[u8]) {
        self.send_with(0, 0, frame);
    }

    fn buffer(&self, id: u32, len: u32) -> Vec<u8> {
        let mut b = vec![0u8; len as usize];
        let at = RX_BUFS + u64::from(id) * self.rx_size;
        self.mem.read_slice(&mut b, GuestAddress(at)).unwrap();
        b
    }

    /// Frames received so far (buffers given back to the ring).
    fn received(&mut self) -> Vec<Rx> {
        let used = self.rx.take_used(&self.mem);
        let mut out = Vec::new();
        let mut it = used.iter();
        while let Some(&(id, len)) = it.next() {
            let mut data = self.buffer(id, len);
            let count = u16::from_le_bytes([data[10], data[11]]);
            assert!(
                self.mrg || count == 1,
                "num_buffers {count} without MRG_RXBUF"
            );
            for _ in 1..count {
                let &(id, len) = it.next().expect("the rest of a merged frame");
                data.extend(self.buffer(id, len));
            }
            if data.len() >= HDR_LEN + 14 {
                out.push(Rx {
                    hdr: data[..HDR_LEN].try_into().unwrap(),
                    frame: data[HDR_LEN..].to_vec(),
                });
            }
        }
        if !used.is_empty() {
            self.give_rx(used.len() as u64);
        }
        out
    }

    /// Waits for a frame that satisfies `want`.
    fn expect(&mut self, what: &str, want: impl Fn(&Rx) -> bool) -> Rx {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(f) = self.received().into_iter().find(|f| want(f)) {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {TIMEOUT:?}; counters {:?}",
                self.shared.stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What a save and a restore into a new process do to the card: its
    /// transport state is saved, the old tap goes away (closed), and a new
    /// card on the tap `make_tap` returns takes over the same guest memory.
    fn restore_onto(self, name: &str, make_tap: impl FnOnce() -> OwnedFd) -> Card {
        let Card {
            t,
            _worker,
            mem,
            rx,
            tx,
            shared,
            rx_size,
            rx_given,
            tx_sent,
            mrg,
        } = self;
        drop(_worker);
        let saved = t.lock().unwrap().snapshot();
        let stats = shared.stats();
        drop(t);
        let shared = NetShared::new(true, stats);
        let mut t = transport(make_tap(), &mem, &shared);
        t.restore(&saved).unwrap();
        let t = Arc::new(Mutex::new(t));
        let worker = worker(name, &t);
        t.lock().unwrap().request_service();
        Card {
            t,
            _worker: worker,
            mem,
            rx,
            tx,
            shared,
            rx_size,
            rx_given,
            tx_sent,
            mrg,
        }
    }

    fn interrupts(&self) -> u64 {
        self.t.lock().unwrap().irq().eventfd().read().unwrap_or(0)
    }
}

/// A namespace with a tap at 10.99.0.1/24 and a TCP listener on port 7777.
fn network() -> (NetNs, OwnedFd, String, TcpListener) {
    let ns = NetNs::new();
    let (fd, name) = ns.tap(true);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &name]);
    let listener = ns.run(|| TcpListener::bind("10.99.0.1:7777").unwrap());
    (ns, fd, name, listener)
}

fn ping(tap_mac: [u8; 6], data_len: usize, seq: u16) -> Vec<u8> {
    let icmp = frames::icmp_echo(0x77, seq, &vec![0x5a; data_len]);
    let ip = frames::ipv4(GUEST_IP, HOST_IP, 1, &icmp);
    frames::eth(tap_mac, MAC, ETH_IP, &ip)
}

fn syn(tap_mac: [u8; 6]) -> Vec<u8> {
    let tcp = frames::tcp_syn(GUEST_IP, HOST_IP, 40000, 7777);
    frames::eth(
        tap_mac,
        MAC,
        ETH_IP,
        &frames::ipv4(GUEST_IP, HOST_IP, 6, &tcp),
    )
}

/// ARP for the namespace's address; returns the tap's MAC.
fn resolve(card: &mut Card) -> [u8; 6] {
    card.send(&frames::arp_request(MAC, GUEST_IP, HOST_IP));
    card.expect("ARP reply", Rx::is_arp_reply).src_mac()
}

#[test]
fn with_offloads_frames_flow_and_the_kernel_leaves_checksums_to_the_guest() {
    require_net!();
    let (_ns, fd, _name, _listener) = network();
    let features = F_EVENT_IDX
        | F_CSUM
        | F_GUEST_CSUM
        | F_GUEST_TSO4
        | F_GUEST_TSO6
        | F_HOST_TSO4
        | F_MRG_RXBUF;
    let mut card = Card::new("net-offloads", fd, features, 2048);
    let tap_mac = resolve(&mut card);
    card.send(&ping(tap_mac, 56, 1));
    card.expect("echo reply", Rx::is_echo_reply);
    card.send(&syn(tap_mac));
    let synack = card.expect("SYN-ACK", Rx::is_syn_ack);
    // TUNSETOFFLOAD(TUN_F_CSUM) took effect: the kernel handed over a
    // partial checksum for the guest to finish.
    assert_eq!(
        synack.hdr[0] & 1,
        1,
        "VIRTIO_NET_HDR_F_NEEDS_CSUM: {synack:?}"
    );
    let s = card.shared.stats();
    assert_eq!((s.tx_packets, s.tx_errors, s.rx_errors), (3, 0, 0), "{s:?}");
    assert!(s.rx_packets >= 3 && s.rx_bytes > 0, "{s:?}");
    assert!(card.interrupts() > 0);
    assert_eq!(card.shared.driver_features() & F_GUEST_CSUM, F_GUEST_CSUM);
}

#[test]
fn without_offloads_checksums_are_complete_and_oversized_frames_are_dropped() {
    require_net!();
    let (_ns, fd, _name, _listener) = network();
    // 128-byte buffers, no MRG_RXBUF: an ARP or a SYN-ACK fits, a ping
    // reply with 200 bytes of data does not.
    let mut card = Card::new("net-plain", fd, 0, 128);
    let tap_mac = resolve(&mut card);
    card.send(&syn(tap_mac));
    let synack = card.expect("SYN-ACK", Rx::is_syn_ack);
    assert_eq!(
        synack.hdr[0], 0,
        "no checksum offload negotiated: {synack:?}"
    );
    assert!(frames::tcp_checksum_ok(synack.ip().unwrap()));
    let drops = card.shared.stats().rx_drops;
    card.send(&ping(tap_mac, 200, 1));
    let deadline = Instant::now() + TIMEOUT;
    while card.shared.stats().rx_drops == drops {
        assert!(Instant::now() < deadline, "the large reply was not dropped");
        card.received();
        std::thread::sleep(Duration::from_millis(5));
    }
    // The buffers it was read into are used for the next frame.
    card.send(&ping(tap_mac, 20, 2));
    card.expect("small echo reply", Rx::is_echo_reply);
}

#[test]
fn a_restored_card_works_on_a_new_tap() {
    require_net!();
    let (ns, fd, _name, _listener) = network();
    let features = F_EVENT_IDX | F_CSUM | F_GUEST_CSUM | F_MRG_RXBUF;
    let mut card = Card::new("net-saved", fd, features, 2048);
    resolve(&mut card);
    let before = card.shared.stats();
    // The first tap closes with its card, and its interface goes.
    let mut card = card.restore_onto("net-restored", || {
        let (fd, name) = ns.tap(true);
        ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &name]);
        fd
    });
    let tap_mac = resolve(&mut card);
    card.send(&syn(tap_mac));
    let synack = card.expect("SYN-ACK", Rx::is_syn_ack);
    // The new tap got the negotiated offloads before the first frame.
    assert_eq!(synack.hdr[0] & 1, 1, "NEEDS_CSUM: {synack:?}");
    let after = card.shared.stats();
    assert!(after.tx_packets >= before.tx_packets + 2, "{after:?}");
    assert_eq!(after.rx_errors + after.tx_errors, 0, "{after:?}");
}

#[test]
fn a_tap_deleted_under_the_card_stops_it_without_spinning() {
    require_net!();
    let (ns, fd, name, _listener) = network();
    let mut card = Card::new("net-deleted", fd, F_MRG_RXBUF, 2048);
    let tap_mac = resolve(&mut card);
    ns.ip(&["link", "del", &name]);
    let deadline = Instant::now() + TIMEOUT;
    while !card.shared.backend_failed() {
        assert!(Instant::now() < deadline, "the card did not notice");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = thread_cpu_ticks("net-deleted");
    std::thread::sleep(Duration::from_millis(300));
    let spent = thread_cpu_ticks("net-deleted") - before;
    // A spinning worker would take ~30 ticks of 10 ms.
    assert!(spent <= 3, "the worker used {spent} ticks of CPU in 300 ms");
    // Transmit chains still come back, counted as errors.
    let errors = card.shared.stats().tx_errors;
    card.tx.take_used(&card.mem);
    card.send(&ping(tap_mac, 20, 1));
    let deadline = Instant::now() + TIMEOUT;
    while card.tx.take_used(&card.mem).is_empty() {
        assert!(Instant::now() < deadline, "transmit chain not returned");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(card.shared.stats().tx_errors, errors + 1);
}

/// CPU time (user + system, in clock ticks) of this process's thread `name`.
fn thread_cpu_ticks(name: &str) -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        return f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    }
    panic!("no thread {name}");
}
