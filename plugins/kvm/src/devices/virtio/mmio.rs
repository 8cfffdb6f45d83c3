//! The virtio-mmio transport: registers on the vCPU's MMIO exits, queue
//! kicks through ioeventfds (see [`super::worker`]), interrupts through an irqfd.
//!
//! Register accesses run on vCPU threads; everything that touches the
//! device's backend runs on its worker thread. Where a register write needs
//! the backend (DRIVER_OK activates the device; a restore or a link change
//! needs a look) the transport signals its *service* eventfd and the worker
//! does the work.

use serde::{Deserialize, Serialize};
use virtio_queue::{Queue, QueueState, QueueT};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::{F_EVENT_IDX, F_VERSION_1, VirtioDevice, status};
use crate::devices::IrqLine;
use crate::memory::GuestMemoryMmap;

/// Offset of the QueueNotify register, where ioeventfds are attached.
pub const QUEUE_NOTIFY: u64 = 0x50;
const MAGIC: u32 = 0x7472_6976;
const VENDOR: u32 = 0x5452_4957; // "WIRT"
const INT_VRING: u32 = 1;
const INT_CONFIG: u32 = 2;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MmioError {
    /// Creating a queue eventfd failed.
    #[error("cannot create a queue eventfd")]
    EventFd(#[source] std::io::Error),
    /// A saved queue was invalid.
    #[error("invalid saved state of queue {0}")]
    Queue(usize, #[source] virtio_queue::Error),
    /// A saved state has the wrong number of queues.
    #[error("saved state has {0} queues, device has {1}")]
    QueueCount(usize, usize),
}

/// One virtio-mmio window and its device.
#[derive(Debug)]
pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    queue_evts: Vec<EventFd>,
    /// Asks the worker to activate the device and look at every queue.
    service_evt: EventFd,
    /// DRIVER_OK was set (or restored) and the device has not been activated.
    pending_activation: bool,
    irq: IrqLine,
    regs: MmioRegs,
}

/// Transport registers (saved with snapshots).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MmioRegs {
    /// Device status.
    pub status: u32,
    /// DeviceFeaturesSel.
    pub features_sel: u32,
    /// DriverFeaturesSel.
    pub driver_features_sel: u32,
    /// Features the driver accepted.
    pub driver_features: u64,
    /// QueueSel.
    pub queue_sel: u32,
    /// InterruptStatus.
    pub interrupt_status: u32,
    /// ConfigGeneration.
    pub config_generation: u32,
}

/// A saved queue (virtio-queue's `QueueState`, serialisable).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueSnapshot {
    max_size: u16,
    next_avail: u16,
    next_used: u16,
    event_idx_enabled: bool,
    size: u16,
    ready: bool,
    desc_table: u64,
    avail_ring: u64,
    used_ring: u64,
}

/// A saved transport.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MmioSnapshot {
    /// Registers.
    pub regs: MmioRegs,
    /// Queues.
    pub queues: Vec<QueueSnapshot>,
}

impl MmioTransport {
    /// A transport for `device` in guest memory `mem`, interrupting on `irq`.
    pub fn new(
        device: Box<dyn VirtioDevice>,
        mem: GuestMemoryMmap,
        irq: IrqLine,
    ) -> Result<Self, MmioError> {
        let mut queues = Vec::new();
        let mut queue_evts = Vec::new();
        for &max in device.queue_max_sizes() {
            queues.push(Queue::new(max).expect("device queue sizes are powers of two"));
            queue_evts.push(EventFd::new(EFD_NONBLOCK).map_err(MmioError::EventFd)?);
        }
        Ok(MmioTransport {
            device,
            mem,
            queues,
            queue_evts,
            service_evt: EventFd::new(EFD_NONBLOCK).map_err(MmioError::EventFd)?,
            pending_activation: false,
            irq,
            regs: MmioRegs::default(),
        })
    }

    /// Restores registers and queues saved by [`MmioTransport::snapshot`].
    pub fn restore(&mut self, s: &MmioSnapshot) -> Result<(), MmioError> {
        if s.queues.len() != self.queues.len() {
            return Err(MmioError::QueueCount(s.queues.len(), self.queues.len()));
        }
        for (i, q) in s.queues.iter().enumerate() {
            let state = QueueState {
                max_size: q.max_size,
                next_avail: q.next_avail,
                next_used: q.next_used,
                event_idx_enabled: q.event_idx_enabled,
                size: q.size,
                ready: q.ready,
                desc_table: q.desc_table,
                avail_ring: q.avail_ring,
                used_ring: q.used_ring,
            };
            self.queues[i] = Queue::try_from(state).map_err(|e| MmioError::Queue(i, e))?;
        }
        self.regs = s.regs.clone();
        // The new backend (a new tap) must be configured before use.
        self.pending_activation = self.active();
        Ok(())
    }

    /// Saves registers and queues. Chains the device took but has not used
    /// yet go back to the driver's side of the ring.
    pub fn snapshot(&self) -> MmioSnapshot {
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let s = q.state();
                QueueSnapshot {
                    max_size: s.max_size,
                    next_avail: s.next_avail.wrapping_sub(self.device.held_chains(i)),
                    next_used: s.next_used,
                    event_idx_enabled: s.event_idx_enabled,
                    size: s.size,
                    ready: s.ready,
                    desc_table: s.desc_table,
                    avail_ring: s.avail_ring,
                    used_ring: s.used_ring,
                }
            })
            .collect();
        MmioSnapshot {
            regs: self.regs.clone(),
            queues,
        }
    }

    /// The queue kick eventfds, in queue order (for KVM_IOEVENTFD).
    pub fn queue_evts(&self) -> &[EventFd] {
        &self.queue_evts
    }

    /// The eventfd that asks the worker for [`MmioTransport::service`].
    pub fn service_evt(&self) -> &EventFd {
        &self.service_evt
    }

    /// The interrupt line (for KVM_IRQFD).
    pub fn irq(&self) -> &IrqLine {
        &self.irq
    }

    /// The device's backend descriptor, for the worker's epoll set.
    pub fn backend_fd(&self) -> Option<std::os::fd::RawFd> {
        self.device.backend_fd()
    }

    /// Whether the worker should wait for the backend now.
    pub fn backend_wanted(&self) -> bool {
        self.active() && !self.pending_activation && self.device.backend_wanted()
    }

    /// virtio device id.
    pub fn device_type(&self) -> u32 {
        self.device.device_type()
    }

    fn active(&self) -> bool {
        self.regs.status & status::DRIVER_OK != 0
            && self.regs.status & (status::FAILED | status::NEEDS_RESET) == 0
    }

    /// Activates the device if DRIVER_OK is new; false if it cannot work.
    fn activated(&mut self) -> bool {
        if !self.active() {
            return false;
        }
        if !self.pending_activation {
            return true;
        }
        self.pending_activation = false;
        match self.device.activate(self.regs.driver_features) {
            Ok(()) => true,
            Err(e) => {
                eprintln!(
                    "wirt-vmm: virtio device type {} cannot start: {e}",
                    self.device.device_type()
                );
                // The spec's way to say "broken, reset me": NEEDS_RESET plus a
                // configuration change notification.
                self.regs.status |= status::NEEDS_RESET;
                self.interrupt(INT_CONFIG);
                false
            }
        }
    }

    fn interrupt(&mut self, cause: u32) {
        self.regs.interrupt_status |= cause;
        self.irq.trigger();
    }

    /// Processes queue `index` if the driver has set the device up, and
    /// interrupts the driver if it wants to hear about used buffers.
    pub fn process_queue(&mut self, index: usize) {
        if index >= self.queues.len() || !self.queues[index].ready() || !self.activated() {
            return;
        }
        let p = self
            .device
            .process_queue(index, &mut self.queues[index], &self.mem);
        if p.interrupt {
            self.interrupt(INT_VRING);
        }
        if p.more {
            // Level-triggered epoll brings the worker back after other work.
            let _ = self.queue_evts[index].write(1);
        }
    }

    /// The backend descriptor is readable (or failed).
    pub fn process_backend(&mut self, failed: bool) {
        // A failure is always taken in, or its level-triggered report would spin.
        if !failed && !self.activated() {
            return;
        }
        let p = self
            .device
            .process_backend(&mut self.queues, &self.mem, failed);
        if p.interrupt {
            self.interrupt(INT_VRING);
        }
    }

    /// Activates the device if needed and processes every queue: after
    /// DRIVER_OK, a restore (kicks made before the save went to the old
    /// process) or a change the device must react to.
    pub fn service(&mut self) {
        for i in 0..self.queues.len() {
            self.process_queue(i);
        }
    }

    /// Asks the worker for [`MmioTransport::service`].
    pub fn request_service(&self) {
        let _ = self.service_evt.write(1);
    }

    /// Device configuration changed (e.g. link state): bump the generation
    /// and, if the driver is running, send a configuration interrupt.
    pub fn config_changed(&mut self) {
        self.regs.config_generation = self.regs.config_generation.wrapping_add(1);
        if self.active() {
            self.interrupt(INT_CONFIG);
        }
    }

    fn reset(&mut self) {
        for q in &mut self.queues {
            q.reset();
        }
        self.device.reset();
        self.pending_activation = false;
        self.regs = MmioRegs {
            config_generation: self.regs.config_generation,
            ..MmioRegs::default()
        };
    }

    /// A register read at `offset` in the window.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= 0x100 {
            self.device.read_config(offset - 0x100, data);
            return;
        }
        if data.len() != 4 {
            data.fill(0);
            return;
        }
        let q = self.queues.get(self.regs.queue_sel as usize);
        let v: u32 = match offset {
            0x00 => MAGIC,
            0x04 => 2,
            0x08 => self.device.device_type(),
            0x0c => VENDOR,
            0x10 => {
                let f = self.device.features();
                match self.regs.features_sel {
                    0 => f as u32,
                    1 => (f >> 32) as u32,
                    _ => 0,
                }
            }
            0x34 => q.map_or(0, |q| u32::from(q.max_size())),
            0x44 => q.map_or(0, |q| u32::from(q.ready())),
            0x60 => self.regs.interrupt_status,
            0x70 => self.regs.status,
            0xfc => self.regs.config_generation,
            _ => 0,
        };
        data.copy_from_slice(&v.to_le_bytes());
    }

    /// A register write at `offset` in the window.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= 0x100 || data.len() != 4 {
            // Device configuration is read-only (block; net offers no
            // writable field); other widths are invalid.
            return;
        }
        let v = u32::from_le_bytes(data.try_into().expect("4 bytes"));
        let sel = self.regs.queue_sel as usize;
        // Queue layout may only change while the queue is not live.
        let configurable = self.regs.status & status::DRIVER_OK == 0
            && self.queues.get(sel).is_some_and(|q| !q.ready());
        match offset {
            0x14 => self.regs.features_sel = v,
            0x20 => {
                let shift = match self.regs.driver_features_sel {
                    0 => 0,
                    1 => 32,
                    _ => return,
                };
                let mask = 0xffff_ffffu64 << shift;
                self.regs.driver_features =
                    (self.regs.driver_features & !mask) | (u64::from(v) << shift);
            }
            0x24 => self.regs.driver_features_sel = v,
            0x30 => self.regs.queue_sel = v,
            0x38 if configurable => self.queues[sel].set_size(v as u16),
            0x44 if self.queues.get(sel).is_some() => self.queues[sel].set_ready(v == 1),
            QUEUE_NOTIFY => {
                // Normally an ioeventfd swallows this; pass it to the worker
                // the same way, so queues are only processed there.
                if let Some(e) = self.queue_evts.get(v as usize) {
                    let _ = e.write(1);
                }
            }
            0x64 => self.regs.interrupt_status &= !v,
            0x70 => self.set_status(v),
            0x80 if configurable => self.queues[sel].set_desc_table_address(Some(v), None),
            0x84 if configurable => self.queues[sel].set_desc_table_address(None, Some(v)),
            0x90 if configurable => self.queues[sel].set_avail_ring_address(Some(v), None),
            0x94 if configurable => self.queues[sel].set_avail_ring_address(None, Some(v)),
            0xa0 if configurable => self.queues[sel].set_used_ring_address(Some(v), None),
            0xa4 if configurable => self.queues[sel].set_used_ring_address(None, Some(v)),
            _ => {}
        }
    }

    fn set_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        let old = self.regs.status;
        let mut new = v;
        if new & status::FEATURES_OK != 0 && old & status::FEATURES_OK == 0 {
            let offered = self.device.features();
            let f = self.regs.driver_features;
            // Refuse feature sets we did not offer, legacy drivers and
            // inconsistent sets.
            if f & !offered != 0 || f & F_VERSION_1 == 0 || !self.device.validate_features(f) {
                new &= !status::FEATURES_OK;
            }
        }
        if new & status::DRIVER_OK != 0 && old & status::DRIVER_OK == 0 {
            let event_idx = self.regs.driver_features & F_EVENT_IDX != 0;
            let mut ok = new & status::FEATURES_OK != 0;
            for q in &mut self.queues {
                q.set_event_idx(event_idx);
                if q.ready() && !q.is_valid(&self.mem) {
                    ok = false;
                }
            }
            if !ok {
                new = (new & !status::DRIVER_OK) | status::NEEDS_RESET;
            } else {
                // Backend configuration belongs on the worker thread.
                self.pending_activation = true;
                self.request_service();
            }
        }
        self.regs.status = new;
    }
}
