//! Emulated devices and the port-I/O / MMIO bus the vCPU threads dispatch to.
//!
//! Only register accesses reach this bus; virtio queue kicks are ioeventfds
//! handled by the [`virtio::worker`] thread and interrupts are irqfds.

pub mod console;
pub mod i8042;
pub mod pvctl;
pub mod serial;
pub mod virtio;

use std::sync::{Arc, Mutex, RwLock};

use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::layout::{self, port};

/// Something that happened inside the VM that the controller must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmEvent {
    /// The guest asked to power off.
    PowerOff,
    /// The guest asked for a reset (i8042, power-control port or triple fault).
    Reset,
    /// The guest reported a panic, or a vCPU hit something fatal.
    Crash(String),
}

/// Queue of [`VmEvent`]s plus an eventfd that wakes the control loop.
#[derive(Debug)]
pub struct EventSink {
    queue: Mutex<Vec<VmEvent>>,
    wake: EventFd,
}

impl EventSink {
    /// A sink whose eventfd the control loop polls.
    pub fn new() -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(EventSink {
            queue: Mutex::new(Vec::new()),
            wake: EventFd::new(EFD_NONBLOCK)?,
        }))
    }

    /// Posts an event and wakes the controller.
    pub fn post(&self, event: VmEvent) {
        self.queue.lock().expect("event queue").push(event);
        // A full counter only means the controller is already due to wake.
        let _ = self.wake.write(1);
    }

    /// Takes all pending events.
    pub fn drain(&self) -> Vec<VmEvent> {
        let _ = self.wake.read();
        std::mem::take(&mut *self.queue.lock().expect("event queue"))
    }

    /// The eventfd to poll for readability.
    pub fn fd(&self) -> &EventFd {
        &self.wake
    }
}

/// An interrupt line: an eventfd registered as a KVM irqfd.
#[derive(Debug)]
pub struct IrqLine(EventFd);

impl IrqLine {
    /// A new, not yet registered line.
    pub fn new() -> std::io::Result<Self> {
        Ok(IrqLine(EventFd::new(EFD_NONBLOCK)?))
    }

    /// Pulses the line (irqfds are edge events for the PIC and IOAPIC).
    pub fn trigger(&self) {
        // EAGAIN means the counter is saturated: an interrupt is pending anyway.
        let _ = self.0.write(1);
    }

    /// The eventfd, for KVM_IRQFD.
    pub fn eventfd(&self) -> &EventFd {
        &self.0
    }
}

impl vm_superio::Trigger for IrqLine {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        IrqLine::trigger(self);
        Ok(())
    }
}

/// The devices vCPU threads reach through I/O exits.
#[derive(Debug)]
pub struct Bus {
    /// COM1.
    pub serial: Mutex<serial::SerialDevice>,
    /// The i8042 controller (reset line, Ctrl-Alt-Del).
    pub i8042: Mutex<i8042::I8042>,
    /// wirt's power-control port.
    pub pvctl: Mutex<pvctl::PvCtl>,
    /// virtio-mmio transports, by slot.
    pub virtio: VirtioSlots,
    /// Where device-raised events go.
    pub events: Arc<EventSink>,
}

impl Bus {
    /// Handles an `in` instruction.
    pub fn pio_read(&self, port: u16, data: &mut [u8]) {
        let value = match port {
            p if (port::COM1..port::COM1 + 8).contains(&p) => Some(
                self.serial
                    .lock()
                    .expect("serial")
                    .read((p - port::COM1) as u8),
            ),
            port::I8042_DATA | port::I8042_CMD => {
                Some(self.i8042.lock().expect("i8042").read(port))
            }
            port::PVCTL => Some(self.pvctl.lock().expect("pvctl").read()),
            _ => None,
        };
        match value {
            Some(v) => {
                data.fill(0);
                if let Some(first) = data.first_mut() {
                    *first = v;
                }
            }
            // Nothing there: a floating ISA bus reads as all ones.
            None => data.fill(0xff),
        }
    }

    /// Handles an `out` instruction; an event means the vCPU must stop.
    pub fn pio_write(&self, port: u16, data: &[u8]) -> Option<VmEvent> {
        let &value = data.first()?;
        match port {
            p if (port::COM1..port::COM1 + 8).contains(&p) => {
                self.serial
                    .lock()
                    .expect("serial")
                    .write((p - port::COM1) as u8, value);
                None
            }
            port::I8042_DATA | port::I8042_CMD => {
                self.i8042.lock().expect("i8042").write(port, value)
            }
            port::PVCTL => self.pvctl.lock().expect("pvctl").write(value),
            _ => None,
        }
    }

    fn virtio_slot(addr: u64) -> Option<(usize, u64)> {
        if addr < layout::VIRTIO_MMIO_BASE {
            return None;
        }
        let off = addr - layout::VIRTIO_MMIO_BASE;
        let slot = (off / layout::VIRTIO_MMIO_SIZE) as usize;
        (slot < layout::VIRTIO_MMIO_SLOTS).then_some((slot, off % layout::VIRTIO_MMIO_SIZE))
    }

    /// Handles an MMIO read; an empty slot reads as zeros (no virtio magic).
    pub fn mmio_read(&self, addr: u64, data: &mut [u8]) {
        let slots = self.virtio.0.read().expect("virtio slots");
        match Self::virtio_slot(addr).and_then(|(s, off)| Some((slots[s].as_ref()?, off))) {
            Some((t, off)) => t.lock().expect("virtio").read(off, data),
            None => data.fill(0),
        }
    }

    /// Handles an MMIO write.
    pub fn mmio_write(&self, addr: u64, data: &[u8]) {
        let slots = self.virtio.0.read().expect("virtio slots");
        if let Some((t, off)) =
            Self::virtio_slot(addr).and_then(|(s, off)| Some((slots[s].as_ref()?, off)))
        {
            t.lock().expect("virtio").write(off, data);
        }
    }
}

/// A virtio transport shared by the bus, the machine and a worker.
pub type SharedTransport = Arc<Mutex<virtio::mmio::MmioTransport>>;

/// The virtio-mmio slots. Devices come and go while the vCPUs run
/// (hotplug), so the bus reads them under a lock the vCPUs share; a plug
/// or unplug takes it for writing only for the swap.
#[derive(Debug)]
pub struct VirtioSlots(RwLock<Vec<Option<SharedTransport>>>);

impl Default for VirtioSlots {
    fn default() -> Self {
        VirtioSlots(RwLock::new(vec![None; layout::VIRTIO_MMIO_SLOTS]))
    }
}

impl VirtioSlots {
    /// Puts `transport` in `slot` (or empties it).
    pub fn set(&self, slot: usize, transport: Option<SharedTransport>) {
        self.0.write().expect("virtio slots")[slot] = transport;
    }

    /// The lowest empty slot.
    pub fn free(&self) -> Option<usize> {
        self.0
            .read()
            .expect("virtio slots")
            .iter()
            .position(Option::is_none)
    }
}
