//! The virtio-mmio slots: probing, the devices found, rescans, interrupts.
//!
//! wirt-vmm: 8 windows of 4 KiB from 0xd0000000, slot n on IRQ 5 + n.
//! QEMU microvm (`acpi=off`): 8 windows of 512 bytes from 0xfeb00000,
//! transport n on IRQ 5 + n. Both on the legacy PIC.

use alloc::vec::Vec;
use core::ptr::{NonNull, read_volatile, write_volatile};

use virtio_drivers::transport::mmio::MmioTransport;

use crate::arch;
use crate::blk::Disk;
use crate::console::{dec, line, puts};
use crate::net::Nic;

pub const SLOTS: usize = 8;
const MAGIC: u32 = 0x7472_6976; // "virt"
const DEVICE_NET: u32 = 1;
const DEVICE_BLK: u32 = 2;
const VIRTIO_NET_F_STATUS: u32 = 1 << 16;

#[derive(Clone, Copy, PartialEq)]
enum Attached {
    Empty,
    Disk(usize),
    Net(usize),
    Other,
}

pub struct Devices {
    pvh: bool,
    ids: [u32; SLOTS],
    attached: [Attached; SLOTS],
    pub disks: Vec<Option<Disk>>,
    pub nics: Vec<Option<Nic>>,
}

/// Slot n's window and size.
fn window(pvh: bool, n: usize) -> (u64, usize) {
    if pvh {
        (0xfeb0_0000 + n as u64 * 0x200, 0x200)
    } else {
        (0xd000_0000 + n as u64 * 0x1000, 0x1000)
    }
}

pub fn irq_of(n: usize) -> u32 {
    5 + n as u32
}

fn reg(base: u64, off: u64) -> *mut u32 {
    (base + off) as *mut u32
}

/// The device id in slot `base` (0: nothing there).
fn read_id(base: u64) -> u32 {
    // SAFETY: the window is the platform's virtio-mmio MMIO region, identity
    // mapped; reading magic and device id has no side effects.
    unsafe {
        if read_volatile(reg(base, 0)) != MAGIC {
            return 0;
        }
        read_volatile(reg(base, 8))
    }
}

/// Low device feature word (selector 0), read before the driver starts.
fn features_lo(base: u64) -> u32 {
    // SAFETY: as in read_id; the selector write is part of the protocol and
    // the driver writes it again itself.
    unsafe {
        write_volatile(reg(base, 0x14), 0);
        read_volatile(reg(base, 0x10))
    }
}

fn first_free<T>(v: &mut Vec<Option<T>>) -> usize {
    match v.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            v.push(None);
            v.len() - 1
        }
    }
}

impl Devices {
    pub fn new(pvh: bool) -> Devices {
        Devices {
            pvh,
            ids: [0; SLOTS],
            attached: [Attached::Empty; SLOTS],
            disks: Vec::new(),
            nics: Vec::new(),
        }
    }

    /// Probes every slot; attaches what is new, drops what is gone, prints
    /// one line per change. Returns how many devices are present.
    pub fn scan(&mut self) -> usize {
        for n in 0..SLOTS {
            let (base, size) = window(self.pvh, n);
            let id = read_id(base);
            if id == self.ids[n] {
                continue;
            }
            if self.ids[n] != 0 {
                self.detach(n);
            }
            self.ids[n] = id;
            if id != 0 {
                self.attach(n, base, size, id);
            }
        }
        self.ids.iter().filter(|&&id| id != 0).count()
    }

    fn slot_line(n: usize) {
        puts("virtio: slot ");
        dec(n as u64);
        puts(" ");
    }

    fn attach(&mut self, n: usize, base: u64, size: usize, id: u32) {
        let has_status = id == DEVICE_NET && features_lo(base) & VIRTIO_NET_F_STATUS != 0;
        // SAFETY: the window is this slot's MMIO region, valid for the
        // guest's life, and only the driver created here uses it.
        let transport = unsafe { MmioTransport::new(NonNull::new_unchecked(base as *mut _), size) };
        Self::slot_line(n);
        let Ok(transport) = transport else {
            line("unusable transport");
            self.attached[n] = Attached::Other;
            return;
        };
        self.attached[n] = match id {
            DEVICE_BLK => {
                let i = first_free(&mut self.disks);
                puts("blk");
                dec(i as u64);
                puts("\n");
                self.disks[i] = Disk::new(transport, i);
                if self.disks[i].is_some() {
                    Attached::Disk(i)
                } else {
                    Attached::Other
                }
            }
            DEVICE_NET => {
                let i = first_free(&mut self.nics);
                puts("net");
                dec(i as u64);
                puts("\n");
                self.nics[i] = Nic::new(transport, i, base, has_status);
                if self.nics[i].is_some() {
                    Attached::Net(i)
                } else {
                    Attached::Other
                }
            }
            other => {
                puts("type ");
                dec(u64::from(other));
                puts("\n");
                Attached::Other
            }
        };
        arch::enable_irq(irq_of(n));
    }

    fn detach(&mut self, n: usize) {
        Self::slot_line(n);
        match self.attached[n] {
            Attached::Disk(i) => {
                puts("gone (blk");
                dec(i as u64);
                self.disks[i] = None;
            }
            Attached::Net(i) => {
                puts("gone (net");
                dec(i as u64);
                self.nics[i] = None;
            }
            _ => puts("gone (other"),
        }
        puts(")\n");
        self.attached[n] = Attached::Empty;
    }

    /// Acknowledges the devices on the lines in `pending`; returns the NICs
    /// (bit i = net i) that need servicing.
    pub fn interrupts(&mut self, pending: u32) -> u32 {
        let mut nets = 0;
        for n in 0..SLOTS {
            if pending & (1 << irq_of(n)) == 0 {
                continue;
            }
            match self.attached[n] {
                Attached::Disk(i) => {
                    if let Some(d) = self.disks[i].as_mut() {
                        d.dev.ack_interrupt();
                    }
                }
                Attached::Net(i) => {
                    if let Some(nic) = self.nics[i].as_mut() {
                        nic.interrupt();
                        nets |= 1 << i;
                    }
                }
                _ => {}
            }
        }
        nets
    }

    pub fn disk(&mut self, i: u64) -> Option<&mut Disk> {
        self.disks.get_mut(i as usize)?.as_mut()
    }
}
