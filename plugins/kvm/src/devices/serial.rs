//! COM1: vm-superio's 8250 UART on port 0x3f8, IRQ 4, writing to the console.

use serde::{Deserialize, Serialize};
use vm_superio::Serial;
use vm_superio::serial::{NoEvents, SerialState};

use super::IrqLine;
use super::console::ConsoleWriter;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// A saved state was inconsistent.
    #[error("invalid saved UART state")]
    State,
}

/// The UART plus its wiring.
#[derive(Debug)]
pub struct SerialDevice {
    uart: Serial<IrqLine, NoEvents, ConsoleWriter>,
}

/// Saved UART registers (vm-superio's `SerialState`, serialisable).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SerialSnapshot {
    baud_divisor_low: u8,
    baud_divisor_high: u8,
    interrupt_enable: u8,
    interrupt_identification: u8,
    line_control: u8,
    line_status: u8,
    modem_control: u8,
    modem_status: u8,
    scratch: u8,
    in_buffer: Vec<u8>,
}

impl SerialDevice {
    /// A UART in its reset state.
    pub fn new(irq: IrqLine, out: ConsoleWriter) -> Self {
        SerialDevice {
            uart: Serial::new(irq, out),
        }
    }

    /// A UART with restored registers.
    pub fn restore(
        irq: IrqLine,
        out: ConsoleWriter,
        s: &SerialSnapshot,
    ) -> Result<Self, SerialError> {
        let state = SerialState {
            baud_divisor_low: s.baud_divisor_low,
            baud_divisor_high: s.baud_divisor_high,
            interrupt_enable: s.interrupt_enable,
            interrupt_identification: s.interrupt_identification,
            line_control: s.line_control,
            line_status: s.line_status,
            modem_control: s.modem_control,
            modem_status: s.modem_status,
            scratch: s.scratch,
            in_buffer: s.in_buffer.clone(),
        };
        let uart =
            Serial::from_state(&state, irq, NoEvents, out).map_err(|_| SerialError::State)?;
        Ok(SerialDevice { uart })
    }

    /// Saves the registers.
    pub fn snapshot(&self) -> SerialSnapshot {
        let s = self.uart.state();
        SerialSnapshot {
            baud_divisor_low: s.baud_divisor_low,
            baud_divisor_high: s.baud_divisor_high,
            interrupt_enable: s.interrupt_enable,
            interrupt_identification: s.interrupt_identification,
            line_control: s.line_control,
            line_status: s.line_status,
            modem_control: s.modem_control,
            modem_status: s.modem_status,
            scratch: s.scratch,
            in_buffer: s.in_buffer,
        }
    }

    /// Register read at `offset` from 0x3f8.
    pub fn read(&mut self, offset: u8) -> u8 {
        self.uart.read(offset)
    }

    /// Register write at `offset` from 0x3f8.
    pub fn write(&mut self, offset: u8, value: u8) {
        // Output errors are the console's business (best effort), not the guest's.
        let _ = self.uart.write(offset, value);
    }

    /// Queues console input for the guest; returns how many bytes fit.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let room = self.uart.fifo_capacity().min(bytes.len());
        if room == 0 {
            return 0;
        }
        self.uart.enqueue_raw_bytes(&bytes[..room]).unwrap_or(0)
    }
}
