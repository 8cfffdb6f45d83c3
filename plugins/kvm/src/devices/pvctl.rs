//! wirt's power-control port (I/O port 0x500, IRQ 3): the test guest's
//! protocol for cooperative shutdown and reboot. See GUEST.md.
//!
//! - Guest reads the port: takes the pending requests (0 none, 1 power off,
//!   2 reboot, bit 4 rescan the virtio slots: a device was plugged in or
//!   out); the VMM raises IRQ 3 whenever it posts one.
//! - Guest writes the port: 0x01 power off now, 0x02 reset now, 0x04 panic,
//!   0x10 hello (the guest obeys requests; otherwise the VMM falls back to
//!   Ctrl-Alt-Del on the i8042).

use serde::{Deserialize, Serialize};

use super::{IrqLine, VmEvent};

/// No request pending.
pub const REQ_NONE: u8 = 0;
/// Request: power off.
pub const REQ_POWEROFF: u8 = 1;
/// Request: reboot.
pub const REQ_REBOOT: u8 = 2;
/// Request bit: the virtio slots changed (hotplug); kept beside a power
/// request, which replaces only another power request.
pub const REQ_RESCAN: u8 = 4;
/// Guest write: power off now.
pub const GUEST_POWEROFF: u8 = 0x01;
/// Guest write: reset now.
pub const GUEST_RESET: u8 = 0x02;
/// Guest write: the guest panicked.
pub const GUEST_PANIC: u8 = 0x04;
/// Guest write: the guest speaks this protocol.
pub const GUEST_HELLO: u8 = 0x10;

/// The power-control device.
#[derive(Debug)]
pub struct PvCtl {
    state: PvCtlState,
    irq: IrqLine,
}

/// Saved power-control state.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PvCtlState {
    /// Request the guest has not read yet.
    pub pending: u8,
    /// The guest said hello since boot.
    pub hello: bool,
}

impl PvCtl {
    /// A device with `state`, raising `irq` on requests.
    pub fn new(irq: IrqLine, state: PvCtlState) -> Self {
        PvCtl { state, irq }
    }

    /// Saved state.
    pub fn state(&self) -> PvCtlState {
        self.state
    }

    /// Whether the guest announced it obeys requests.
    pub fn guest_obeys(&self) -> bool {
        self.state.hello
    }

    /// Posts a request and interrupts the guest.
    pub fn request(&mut self, req: u8) {
        self.latch(req);
        self.irq.trigger();
    }

    /// Tells a guest that speaks this protocol that virtio devices came or
    /// went. Other guests (Linux has no virtio-mmio hotplug) see them at
    /// their next boot.
    pub fn request_rescan(&mut self) {
        if self.state.hello {
            self.request(REQ_RESCAN);
        }
    }

    /// Keeps a request for a guest that has not said hello yet: it is
    /// delivered when it does. A guest still booting when the user asks for
    /// a shutdown would otherwise never learn of it.
    pub fn latch(&mut self, req: u8) {
        self.state.pending = match req {
            REQ_RESCAN => self.state.pending | REQ_RESCAN,
            power => (self.state.pending & REQ_RESCAN) | power,
        };
    }

    /// Port read: hands over the pending request.
    pub fn read(&mut self) -> u8 {
        std::mem::replace(&mut self.state.pending, REQ_NONE)
    }

    /// Port write from the guest.
    pub fn write(&mut self, value: u8) -> Option<VmEvent> {
        match value {
            GUEST_POWEROFF => Some(VmEvent::PowerOff),
            GUEST_RESET => Some(VmEvent::Reset),
            GUEST_PANIC => Some(VmEvent::Crash("guest reported a panic".into())),
            GUEST_HELLO => {
                self.state.hello = true;
                if self.state.pending != REQ_NONE {
                    self.irq.trigger();
                }
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_irqs(d: &PvCtl) -> u64 {
        d.irq.eventfd().read().unwrap_or(0)
    }

    #[test]
    fn a_request_before_hello_is_delivered_at_hello() {
        let mut d = PvCtl::new(IrqLine::new().unwrap(), PvCtlState::default());
        d.latch(REQ_POWEROFF);
        assert_eq!(pending_irqs(&d), 0, "no interrupt before the guest listens");
        assert_eq!(d.write(GUEST_HELLO), None);
        assert!(d.guest_obeys());
        assert_eq!(pending_irqs(&d), 1, "interrupted at hello");
        assert_eq!(d.read(), REQ_POWEROFF);
        assert_eq!(d.read(), REQ_NONE, "taken once");
    }

    #[test]
    fn a_rescan_and_a_power_request_are_both_delivered() {
        let mut d = PvCtl::new(IrqLine::new().unwrap(), PvCtlState::default());
        d.request_rescan();
        assert_eq!(
            pending_irqs(&d),
            0,
            "a guest that never said hello is not told"
        );
        d.write(GUEST_HELLO);
        d.request_rescan();
        d.request(REQ_REBOOT);
        d.request(REQ_POWEROFF);
        assert_eq!(
            d.read(),
            REQ_RESCAN | REQ_POWEROFF,
            "the later power request wins"
        );
        assert_eq!(d.read(), REQ_NONE);
    }

    #[test]
    fn hello_without_a_request_raises_nothing() {
        let mut d = PvCtl::new(IrqLine::new().unwrap(), PvCtlState::default());
        d.write(GUEST_HELLO);
        assert_eq!(pending_irqs(&d), 0);
        d.request(REQ_REBOOT);
        assert_eq!(pending_irqs(&d), 1);
        assert_eq!(d.read(), REQ_REBOOT);
    }
}
