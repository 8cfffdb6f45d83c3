//! virtio over MMIO (virtio 1.x, "modern" register layout only).

pub mod block;
pub mod mmio;
pub mod net;
pub mod worker;

use std::os::fd::RawFd;

use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

use crate::memory::GuestMemoryMmap;

/// VIRTIO_F_VERSION_1.
pub const F_VERSION_1: u64 = 1 << 32;
/// VIRTIO_RING_F_EVENT_IDX.
pub const F_EVENT_IDX: u64 = 1 << 29;

/// Device status bits.
pub mod status {
    /// ACKNOWLEDGE.
    pub const ACKNOWLEDGE: u32 = 1;
    /// DRIVER.
    pub const DRIVER: u32 = 2;
    /// DRIVER_OK.
    pub const DRIVER_OK: u32 = 4;
    /// FEATURES_OK.
    pub const FEATURES_OK: u32 = 8;
    /// DEVICE_NEEDS_RESET.
    pub const NEEDS_RESET: u32 = 0x40;
    /// FAILED.
    pub const FAILED: u32 = 0x80;
}

/// What a pass over a queue (or the backend) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Buffers were used and the driver wants to hear about it.
    pub interrupt: bool,
    /// The pass stopped at its batch limit with work left: run it again
    /// (after whatever else is ready), without waiting for a kick.
    pub more: bool,
}

/// A device behind a virtio-mmio transport.
///
/// Everything but the register callbacks ([`VirtioDevice::read_config`],
/// [`VirtioDevice::validate_features`], [`VirtioDevice::reset`]) runs on the
/// device's worker thread, so only that thread needs the system calls the
/// device's backend uses.
pub trait VirtioDevice: Send + std::fmt::Debug {
    /// virtio device id (1 = network, 2 = block).
    fn device_type(&self) -> u32;
    /// Features offered to the driver.
    fn features(&self) -> u64;
    /// Whether the driver's accepted feature set is consistent (it is
    /// already known to be a subset of [`VirtioDevice::features`]).
    fn validate_features(&self, _features: u64) -> bool {
        true
    }
    /// Largest size of each queue.
    fn queue_max_sizes(&self) -> &[u16];
    /// Reads device configuration space.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// The driver set DRIVER_OK with `features` (or a live device was
    /// restored): configure the backend. Runs on the worker thread before any
    /// queue is processed; an error puts the device in NEEDS_RESET.
    fn activate(&mut self, _features: u64) -> Result<(), String> {
        Ok(())
    }
    /// The driver reset the device (status 0).
    fn reset(&mut self) {}
    /// Processes what the driver made available on queue `index`.
    fn process_queue(
        &mut self,
        index: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> Processed;
    /// A descriptor besides the queue kicks that the worker waits on (a tap).
    fn backend_fd(&self) -> Option<RawFd> {
        None
    }
    /// Whether the worker should wait for the backend to be readable now
    /// (a network device stops reading while the guest has no buffers).
    fn backend_wanted(&self) -> bool {
        false
    }
    /// The backend descriptor is readable, or reported an error (`failed`).
    fn process_backend(
        &mut self,
        _queues: &mut [Queue],
        _mem: &GuestMemoryMmap,
        _failed: bool,
    ) -> Processed {
        Processed::default()
    }
    /// How many chains of queue `index` the device has taken from the
    /// available ring but not yet used (kept for the next frame). A snapshot
    /// hands them back to the driver by moving `next_avail` back.
    fn held_chains(&self, _index: usize) -> u16 {
        0
    }
}

/// VIRTQ_AVAIL_F_NO_INTERRUPT.
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Re-enables the driver's notifications; whether chains the device can
/// take arrived meanwhile. A ring whose available index runs more than a
/// queue's worth ahead of the device is broken: virtio-queue takes no chain
/// from it, and a device that went round again on `enable_notification`'s
/// word alone would spin on it for ever (a guest could pin a host CPU and
/// wedge the worker). The ring stays unserved until the driver resets it.
pub fn more_available<M: GuestMemory>(queue: &mut Queue, mem: &M) -> bool {
    if !queue.enable_notification(mem).unwrap_or(false) {
        return false;
    }
    queue
        .avail_idx(mem, std::sync::atomic::Ordering::Acquire)
        .is_ok_and(|idx| idx.0.wrapping_sub(queue.next_avail()) <= queue.size())
}

/// Whether the driver wants an interrupt for the buffers used since the last
/// call: virtio-queue's EVENT_IDX check, or, without EVENT_IDX, the avail
/// ring's NO_INTERRUPT flag (which virtio-queue does not look at).
pub fn needs_interrupt<M: GuestMemory>(queue: &mut Queue, mem: &M) -> bool {
    if queue.event_idx_enabled() {
        return queue.needs_notification(mem).unwrap_or(true);
    }
    let flags: u16 = mem
        .read_obj(GuestAddress(queue.avail_ring()))
        .map(u16::from_le)
        .unwrap_or(0);
    // A hint only: an unreadable ring gets its interrupt.
    flags & AVAIL_F_NO_INTERRUPT == 0
}
