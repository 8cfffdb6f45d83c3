//! virtio over MMIO (virtio 1.x, "modern" register layout only).

pub mod block;
pub mod mmio;
pub mod worker;

use virtio_queue::Queue;

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

/// A device behind a virtio-mmio transport.
pub trait VirtioDevice: Send + std::fmt::Debug {
    /// virtio device id (2 = block).
    fn device_type(&self) -> u32;
    /// Features offered to the driver.
    fn features(&self) -> u64;
    /// Largest size of each queue.
    fn queue_max_sizes(&self) -> &[u16];
    /// Reads device configuration space.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Processes what the driver made available on queue `index`; returns
    /// whether any buffer was used (the transport then decides to interrupt).
    fn process_queue(&mut self, index: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool;
}
