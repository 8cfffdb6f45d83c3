//! virtio-net on a tap: one receive and one transmit queue, frames moved
//! between guest buffers and the tap with `readv`/`writev` (no copy in the
//! VMM), the virtio-net header passed through to the tap (`IFF_VNET_HDR`).
//!
//! - No control queue: the MAC is in configuration space, the link state
//!   comes from the host (`set-link`), there is one queue pair, and a tap
//!   needs no receive filtering (the bridge decides what reaches it). What a
//!   control queue would add (runtime offload toggling, gratuitous ARP after
//!   a restore, VLAN filtering) is not needed by anything wirt does yet.
//! - Receive stops reading the tap while the guest has no buffers: frames
//!   wait in the kernel's queue, and the next receive-queue kick resumes.
//! - Malformed chains are returned to the driver (used, length 0) and
//!   counted; the frame they carried, if any, is dropped.

mod backend;
mod rx;
#[cfg(test)]
mod tests;
mod tx;

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use virtio_bindings::virtio_net as vn;
use virtio_queue::Queue;
use vm_memory::bitmap::Bitmap;

pub use backend::{DatagramBackend, NetBackend, NicBackend, StreamBackend};

use super::{F_EVENT_IDX, F_VERSION_1, Processed, VirtioDevice};
use crate::memory::GuestMemoryMmap;

/// virtio device id of a network card.
pub const DEVICE_ID: u32 = 1;
/// Size of each queue offered.
pub const QUEUE_SIZE: u16 = 256;
/// Index of the receive queue.
pub const RX: usize = 0;
/// Index of the transmit queue.
pub const TX: usize = 1;
/// Length of the virtio-net header in front of every frame (virtio 1.x,
/// `struct virtio_net_hdr_v1`, whatever MRG_RXBUF says).
pub const HDR_LEN: usize = 12;
/// Largest frame without segmentation offload: Ethernet header, VLAN tag
/// and a 1500-byte payload unless the host set another MTU.
pub const ETH_OVERHEAD: usize = 14 + 4;
/// Largest frame with TSO: a 64 KiB IP packet plus Ethernet and VLAN headers.
pub const MAX_GSO_FRAME: usize = 65535 + ETH_OVERHEAD;

const fn bit(b: u32) -> u64 {
    1 << b
}

/// VIRTIO_NET_F_MAC: the MAC address is in configuration space.
pub const F_MAC: u64 = bit(vn::VIRTIO_NET_F_MAC);
/// VIRTIO_NET_F_STATUS: the link state is in configuration space.
pub const F_STATUS: u64 = bit(vn::VIRTIO_NET_F_STATUS);
/// VIRTIO_NET_F_MTU.
pub const F_MTU: u64 = bit(vn::VIRTIO_NET_F_MTU);
/// VIRTIO_NET_F_CSUM: the guest may send frames with a partial checksum.
pub const F_CSUM: u64 = bit(vn::VIRTIO_NET_F_CSUM);
/// VIRTIO_NET_F_GUEST_CSUM: the guest takes frames with a partial checksum.
pub const F_GUEST_CSUM: u64 = bit(vn::VIRTIO_NET_F_GUEST_CSUM);
/// VIRTIO_NET_F_GUEST_TSO4.
pub const F_GUEST_TSO4: u64 = bit(vn::VIRTIO_NET_F_GUEST_TSO4);
/// VIRTIO_NET_F_GUEST_TSO6.
pub const F_GUEST_TSO6: u64 = bit(vn::VIRTIO_NET_F_GUEST_TSO6);
/// VIRTIO_NET_F_HOST_TSO4.
pub const F_HOST_TSO4: u64 = bit(vn::VIRTIO_NET_F_HOST_TSO4);
/// VIRTIO_NET_F_HOST_TSO6.
pub const F_HOST_TSO6: u64 = bit(vn::VIRTIO_NET_F_HOST_TSO6);
/// VIRTIO_NET_F_HOST_UFO.
pub const F_HOST_UFO: u64 = bit(vn::VIRTIO_NET_F_HOST_UFO);
/// VIRTIO_NET_F_MRG_RXBUF: a received frame may span several buffers.
pub const F_MRG_RXBUF: u64 = bit(vn::VIRTIO_NET_F_MRG_RXBUF);

/// Offloads offered. A tap with a virtio-net header takes any of the guest's
/// (HOST_*) on write and segments or checksums in software where the host
/// cannot, so all of those are offered; the guest's side (GUEST_*) is what
/// the tap is told it may hand us (`TUNSETOFFLOAD`, [`tap_offloads`]).
///
/// Left out:
/// - GUEST_UFO: since Linux 4.14 the tap accepts `TUN_F_UFO` but never
///   produces UFO frames, so it would promise nothing, and a guest that
///   negotiates it without TSO would switch to 64 KiB receive buffers for
///   nothing.
/// - GUEST_ECN / HOST_ECN: TSO with the ECN bit; guests fall back to software
///   segmentation for the rare CWR-flagged burst. Not worth another tested
///   path yet.
/// - GUEST_USO4/6, HOST_USO: `TUNSETOFFLOAD` refuses the USO bits on hosts
///   older than Linux 6.2 (Debian 12 runs 6.1); they need a probe first.
/// - CTRL_VQ and what needs it (CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE, MQ,
///   CTRL_RX/VLAN/MAC_ADDR): see the module documentation.
/// - Ring INDIRECT_DESC: 256 entries hold enough frames; one less chain
///   format to validate.
pub const OFFLOADS: u64 = F_CSUM
    | F_GUEST_CSUM
    | F_HOST_TSO4
    | F_HOST_TSO6
    | F_HOST_UFO
    | F_GUEST_TSO4
    | F_GUEST_TSO6
    | F_MRG_RXBUF;

/// The `TUN_F_*` offloads matching the guest's negotiated features: what
/// the tap may hand us because the guest accepts it.
pub fn tap_offloads(features: u64) -> u32 {
    let mut o = 0;
    // The kernel ignores TSO without checksum offload, as virtio requires.
    if features & F_GUEST_CSUM != 0 {
        o |= libc::TUN_F_CSUM;
        if features & F_GUEST_TSO4 != 0 {
            o |= libc::TUN_F_TSO4;
        }
        if features & F_GUEST_TSO6 != 0 {
            o |= libc::TUN_F_TSO6;
        }
    }
    o
}

/// Longest chain accepted: as long as the queue (virtio-queue cuts loops
/// off there too).
const MAX_CHAIN: usize = QUEUE_SIZE as usize;

/// Why a chain was refused.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// The chain loops, is longer than the queue, or names an unreadable
    /// descriptor (it was cut off).
    #[error("descriptor chain is circular or longer than the queue")]
    Loop,
    /// A buffer the device must write is read-only (receive), or one it
    /// must read is write-only (transmit).
    #[error("a buffer has the wrong direction")]
    Direction,
    /// Shorter than the virtio-net header.
    #[error("chain shorter than the virtio-net header")]
    Short,
    /// Longer than any frame.
    #[error("frame longer than 64 KiB")]
    TooLong,
    /// Outside guest memory.
    #[error("buffer outside guest memory")]
    Memory,
    /// The header asks for an offload that was not negotiated.
    #[error("virtio-net header asks for an offload that was not negotiated")]
    Header,
}

/// Walks `chain`, appending an iovec per buffer to `iovs`: all buffers must
/// be device-writable (`writable`, receive) or all device-readable
/// (transmit). Returns the total length and the number of descriptors.
fn gather<M: vm_memory::GuestMemory>(
    mem: &M,
    chain: impl Iterator<Item = virtio_queue::desc::split::Descriptor>,
    writable: bool,
    iovs: &mut Vec<libc::iovec>,
) -> Result<(u64, usize), ChainError> {
    let access = if writable {
        vm_memory::Permissions::Write
    } else {
        vm_memory::Permissions::Read
    };
    let (mut len, mut descs, mut next) = (0u64, 0usize, false);
    for d in chain {
        descs += 1;
        if descs > MAX_CHAIN {
            return Err(ChainError::Loop);
        }
        if d.is_write_only() != writable {
            return Err(ChainError::Direction);
        }
        let slices = mem
            .get_slices(d.addr(), d.len() as usize, access)
            .map_err(|_| ChainError::Memory)?;
        for slice in slices {
            let slice = slice.map_err(|_| ChainError::Memory)?;
            if writable {
                // The kernel fills it behind vm-memory's back. Marked before
                // the write, but under the transport lock that migration also
                // takes to collect the marks, so no collection falls between.
                slice.bitmap().mark_dirty(0, slice.len());
            }
            iovs.push(libc::iovec {
                iov_base: slice.ptr_guard_mut().as_ptr().cast(),
                iov_len: slice.len(),
            });
        }
        len += u64::from(d.len());
        next = d.has_next();
    }
    // virtio-queue stops a chain after queue-size descriptors or at one it
    // cannot read; a last one that still points on means exactly that.
    if next {
        return Err(ChainError::Loop);
    }
    Ok((len, descs))
}

/// Guest-visible configuration of a network card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    /// MAC address.
    pub mac: [u8; 6],
    /// MTU to offer (VIRTIO_NET_F_MTU); none: the guest assumes 1500.
    pub mtu: Option<u16>,
}

/// Parses `52:54:00:12:34:56`; refuses multicast and all-zero addresses.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("invalid MAC address {s:?}"));
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(format!("invalid MAC address {s:?}"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("invalid MAC address {s:?}"))?;
    }
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(format!("MAC address {s} is multicast or zero"));
    }
    Ok(mac)
}

/// `52:54:00:12:34:56`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Per-card counters, from the guest's point of view (rx: to the guest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Frames delivered to the guest.
    pub rx_packets: u64,
    /// Their bytes (Ethernet frame, without the virtio-net header).
    pub rx_bytes: u64,
    /// Malformed receive chains, tap read errors, frames with offloads the
    /// guest did not negotiate.
    pub rx_errors: u64,
    /// Frames read from the tap and discarded: link down, or larger than the
    /// guest's buffers.
    pub rx_drops: u64,
    /// Frames written to the tap.
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Malformed transmit chains or headers, tap write errors.
    pub tx_errors: u64,
    /// Frames discarded: link down, or the tap had no room.
    pub tx_drops: u64,
}

#[derive(Debug, Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    rx_drops: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    tx_drops: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// State a card shares with the controller: link, counters, whether the
/// driver runs. Kept across reboots of the guest (the cable and the tap
/// stay), and saved with the machine.
#[derive(Debug, Default)]
pub struct NetShared {
    link_up: AtomicBool,
    features: AtomicU64,
    backend_failed: AtomicBool,
    c: Counters,
}

impl NetShared {
    /// Fresh state with the link `up` or not and counters `stats`.
    pub fn new(up: bool, stats: NetStats) -> Arc<Self> {
        let s = NetShared::default();
        s.link_up.store(up, Ordering::Relaxed);
        for (c, v) in s.counters().into_iter().zip(stats.fields()) {
            c.store(v, Ordering::Relaxed);
        }
        Arc::new(s)
    }

    fn counters(&self) -> [&AtomicU64; 8] {
        let c = &self.c;
        [
            &c.rx_packets,
            &c.rx_bytes,
            &c.rx_errors,
            &c.rx_drops,
            &c.tx_packets,
            &c.tx_bytes,
            &c.tx_errors,
            &c.tx_drops,
        ]
    }

    /// The counters now.
    pub fn stats(&self) -> NetStats {
        let v = self.counters().map(|c| c.load(Ordering::Relaxed));
        NetStats {
            rx_packets: v[0],
            rx_bytes: v[1],
            rx_errors: v[2],
            rx_drops: v[3],
            tx_packets: v[4],
            tx_bytes: v[5],
            tx_errors: v[6],
            tx_drops: v[7],
        }
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.link_up.load(Ordering::Relaxed)
    }

    /// Sets the link; returns whether it changed.
    pub fn set_link(&self, up: bool) -> bool {
        self.link_up.swap(up, Ordering::Relaxed) != up
    }

    /// Features the running driver negotiated (0 while it is not running).
    pub fn driver_features(&self) -> u64 {
        self.features.load(Ordering::Relaxed)
    }

    /// Whether the tap failed (detached or closed under us).
    pub fn backend_failed(&self) -> bool {
        self.backend_failed.load(Ordering::Relaxed)
    }
}

impl NetStats {
    fn fields(&self) -> [u64; 8] {
        [
            self.rx_packets,
            self.rx_bytes,
            self.rx_errors,
            self.rx_drops,
            self.tx_packets,
            self.tx_bytes,
            self.tx_errors,
            self.tx_drops,
        ]
    }
}

/// A virtio-net device on backend `B` (a [`crate::tap::Tap`] in the VMM).
#[derive(Debug)]
pub struct Net<B: NetBackend> {
    backend: B,
    /// The transport's guest memory: receive buffers kept between calls
    /// point into it, and this clone keeps it mapped.
    mem: GuestMemoryMmap,
    config: NetConfig,
    shared: Arc<NetShared>,
    /// Negotiated features while active.
    features: u64,
    active: bool,
    failed: bool,
    rx: rx::RxBuffers,
    tx: tx::TxScratch,
    queue_sizes: [u16; 2],
}

impl<B: NetBackend> Net<B> {
    /// A card on `backend` in guest memory `mem` (the transport's).
    pub fn new(
        backend: B,
        mem: GuestMemoryMmap,
        config: NetConfig,
        shared: Arc<NetShared>,
    ) -> Self {
        shared.features.store(0, Ordering::Relaxed);
        Net {
            backend,
            mem,
            config,
            shared,
            features: 0,
            active: false,
            failed: false,
            rx: rx::RxBuffers::default(),
            tx: tx::TxScratch::default(),
            queue_sizes: [QUEUE_SIZE; 2],
        }
    }

    /// The shared link and counters.
    pub fn shared(&self) -> &Arc<NetShared> {
        &self.shared
    }

    /// The backend.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    fn has(&self, f: u64) -> bool {
        self.features & f != 0
    }

    /// Bytes of buffer a frame may need: the header plus the largest frame
    /// the negotiated offloads allow.
    fn rx_need(&self) -> u64 {
        let frame = if self.has(F_GUEST_TSO4 | F_GUEST_TSO6) {
            MAX_GSO_FRAME
        } else {
            ETH_OVERHEAD + usize::from(self.config.mtu.unwrap_or(1500))
        };
        (HDR_LEN + frame) as u64
    }

    fn fail(&mut self, what: &str, e: &std::io::Error) {
        fail(&mut self.failed, &self.shared, &self.config, what, e);
    }
}

/// The backend is unusable (a tap detached under us): stop using it.
fn fail(failed: &mut bool, shared: &NetShared, config: &NetConfig, what: &str, e: &std::io::Error) {
    if !*failed {
        eprintln!(
            "wirt-vmm: nic {}: tap {what} failed, the card stops: {e}",
            format_mac(&config.mac)
        );
    }
    *failed = true;
    shared.backend_failed.store(true, Ordering::Relaxed);
}

/// Errors after which a tap is gone for good.
fn fatal(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBADFD | libc::EBADF))
}

impl<B: NetBackend> VirtioDevice for Net<B> {
    fn device_type(&self) -> u32 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        let mtu = if self.config.mtu.is_some() { F_MTU } else { 0 };
        let offloads = if self.backend.offloads() { OFFLOADS } else { 0 };
        F_VERSION_1 | F_EVENT_IDX | F_MAC | F_STATUS | mtu | offloads
    }

    fn validate_features(&self, f: u64) -> bool {
        // virtio 1.2, 5.1.3.1: offloads the driver may only take together
        // with checksum offload in the same direction.
        let needs = |set: u64, base: u64| f & set == 0 || f & base != 0;
        needs(F_GUEST_TSO4 | F_GUEST_TSO6, F_GUEST_CSUM)
            && needs(F_HOST_TSO4 | F_HOST_TSO6 | F_HOST_UFO, F_CSUM)
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_net_config: mac, status, max_virtqueue_pairs, mtu.
        let mut c = [0u8; 12];
        c[..6].copy_from_slice(&self.config.mac);
        let status = if self.shared.link_up() {
            vn::VIRTIO_NET_S_LINK_UP as u16
        } else {
            0
        };
        c[6..8].copy_from_slice(&status.to_le_bytes());
        c[8..10].copy_from_slice(&1u16.to_le_bytes());
        c[10..12].copy_from_slice(&self.config.mtu.unwrap_or(0).to_le_bytes());
        data.fill(0);
        let off = offset as usize;
        if off < c.len() {
            let n = data.len().min(c.len() - off);
            data[..n].copy_from_slice(&c[off..off + n]);
        }
    }

    fn activate(&mut self, features: u64) -> Result<(), String> {
        self.rx.clear();
        self.features = features;
        // Header size and offloads follow what this driver negotiated; the
        // tap may still carry the settings of a previous driver or process.
        self.backend
            .configure(HDR_LEN, tap_offloads(features))
            .map_err(|e| format!("cannot configure the tap: {e}"))?;
        self.active = true;
        self.shared.features.store(features, Ordering::Relaxed);
        Ok(())
    }

    fn reset(&mut self) {
        self.rx.clear();
        self.active = false;
        self.features = 0;
        self.shared.features.store(0, Ordering::Relaxed);
    }

    fn process_queue(&mut self, index: usize, queue: &mut Queue, _: &GuestMemoryMmap) -> Processed {
        if !self.active {
            return Processed::default();
        }
        match index {
            RX => self.process_rx(queue),
            TX => self.process_tx(queue),
            _ => Processed::default(),
        }
    }

    fn backend_fd(&self) -> Option<RawFd> {
        (!self.failed).then(|| self.backend.fd())
    }

    fn backend_wanted(&self) -> bool {
        // With the link down the tap is drained (frames to an unplugged card
        // are lost), whether or not the guest has buffers.
        self.active && !self.failed && (!self.rx.stalled() || !self.shared.link_up())
    }

    fn process_backend(
        &mut self,
        queues: &mut [Queue],
        _: &GuestMemoryMmap,
        failed: bool,
    ) -> Processed {
        if failed {
            add(&self.shared.c.rx_errors, 1);
            self.fail("poll", &std::io::Error::other("error or hang-up condition"));
            return Processed::default();
        }
        match queues.get_mut(RX) {
            Some(q) if self.active => self.process_rx(q),
            _ => Processed::default(),
        }
    }

    fn held_chains(&self, index: usize) -> u16 {
        if index == RX { self.rx.held() } else { 0 }
    }
}
