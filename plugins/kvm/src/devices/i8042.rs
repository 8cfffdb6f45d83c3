//! A minimal i8042 keyboard controller: enough for Linux to probe it, the
//! CPU reset command (0xfe on port 0x64), a status port that answers (so a
//! rebooting guest does not poll for seconds), and Ctrl-Alt-Del injection
//! for cooperative shutdown of guests without wirt's power-control port.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{IrqLine, VmEvent};
use crate::layout::port;

const STATUS_OUT_FULL: u8 = 0x01;
const STATUS_SYSTEM: u8 = 0x04;
const STATUS_CMD_DATA: u8 = 0x08;
const CMD_READ_CTR: u8 = 0x20;
const CMD_WRITE_CTR: u8 = 0x60;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_KBD_TEST: u8 = 0xab;
const CMD_AUX_TEST: u8 = 0xa9;
const CMD_WRITE_AUX: u8 = 0xd4;
const CMD_RESET_CPU: u8 = 0xfe;
const CTR_KBD_INT: u8 = 0x01;
const KBD_ACK: u8 = 0xfa;
const BUFFER_MAX: usize = 16;

/// The controller.
#[derive(Debug)]
pub struct I8042 {
    state: I8042State,
    irq: IrqLine,
}

/// Saved controller state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct I8042State {
    /// Bytes waiting in the output buffer.
    pub buffer: VecDeque<u8>,
    /// The controller configuration byte.
    pub ctr: u8,
    /// A command that expects a data byte on port 0x60.
    pub pending_cmd: Option<u8>,
    /// Last command written (status bit 3).
    pub last_was_cmd: bool,
}

impl Default for I8042State {
    fn default() -> Self {
        I8042State {
            buffer: VecDeque::new(),
            ctr: CTR_KBD_INT,
            pending_cmd: None,
            last_was_cmd: false,
        }
    }
}

impl I8042 {
    /// A controller with `state`, raising `irq` (IRQ 1) on keyboard data.
    pub fn new(irq: IrqLine, state: I8042State) -> Self {
        I8042 { state, irq }
    }

    /// Saved state.
    pub fn state(&self) -> I8042State {
        self.state.clone()
    }

    fn push(&mut self, byte: u8) {
        if self.state.buffer.len() < BUFFER_MAX {
            self.state.buffer.push_back(byte);
        }
        if self.state.ctr & CTR_KBD_INT != 0 {
            self.irq.trigger();
        }
    }

    /// Injects Ctrl-Alt-Del as scan code set 2 make codes (as Firecracker does).
    pub fn ctrl_alt_del(&mut self) {
        for b in [0x14, 0x11, 0xe0, 0x71] {
            self.push(b);
        }
    }

    /// Port read.
    pub fn read(&mut self, p: u16) -> u8 {
        if p == port::I8042_CMD {
            let mut s = STATUS_SYSTEM;
            if !self.state.buffer.is_empty() {
                s |= STATUS_OUT_FULL;
            }
            if self.state.last_was_cmd {
                s |= STATUS_CMD_DATA;
            }
            return s;
        }
        let b = self.state.buffer.pop_front().unwrap_or(0);
        if !self.state.buffer.is_empty() && self.state.ctr & CTR_KBD_INT != 0 {
            self.irq.trigger();
        }
        b
    }

    /// Port write; the reset command becomes a [`VmEvent::Reset`].
    pub fn write(&mut self, p: u16, value: u8) -> Option<VmEvent> {
        if p == port::I8042_CMD {
            self.state.last_was_cmd = true;
            match value {
                CMD_RESET_CPU => return Some(VmEvent::Reset),
                CMD_READ_CTR => {
                    let ctr = self.state.ctr;
                    self.push(ctr);
                }
                CMD_WRITE_CTR | CMD_WRITE_AUX => self.state.pending_cmd = Some(value),
                CMD_SELF_TEST => self.push(0x55),
                CMD_KBD_TEST | CMD_AUX_TEST => self.push(0x00),
                _ => {}
            }
            return None;
        }
        self.state.last_was_cmd = false;
        match self.state.pending_cmd.take() {
            Some(CMD_WRITE_CTR) => self.state.ctr = value,
            Some(_) => {}
            // A keyboard command: acknowledge it, and pass the reset self-test.
            None => {
                self.push(KBD_ACK);
                if value == 0xff {
                    self.push(0xaa);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_and_status() {
        let mut k = I8042::new(IrqLine::new().unwrap(), I8042State::default());
        assert_eq!(k.read(port::I8042_CMD) & STATUS_OUT_FULL, 0);
        assert_eq!(k.write(port::I8042_CMD, CMD_SELF_TEST), None);
        assert_eq!(k.read(port::I8042_CMD) & STATUS_OUT_FULL, 1);
        assert_eq!(k.read(port::I8042_DATA), 0x55);
        assert_eq!(k.write(port::I8042_CMD, CMD_WRITE_CTR), None);
        k.write(port::I8042_DATA, 0x45);
        k.write(port::I8042_CMD, CMD_READ_CTR);
        assert_eq!(k.read(port::I8042_DATA), 0x45);
        assert_eq!(k.write(port::I8042_CMD, 0xfe), Some(VmEvent::Reset));
        k.ctrl_alt_del();
        assert_eq!(k.state().buffer.len(), 4);
    }
}
