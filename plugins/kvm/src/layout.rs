//! The guest-physical address map of a wirt VM (x86-64).
//!
//! Low memory follows what Linux's 64-bit boot protocol and Firecracker use;
//! devices live in a 768 MiB MMIO gap below 4 GiB.

/// Boot GDT (four 8-byte entries).
pub const BOOT_GDT: u64 = 0x500;
/// An empty boot IDT; the kernel installs its own.
pub const BOOT_IDT: u64 = 0x520;
/// The zero page (`boot_params`) handed to the kernel in `rsi`.
pub const ZERO_PAGE: u64 = 0x7000;
/// Initial stack pointer.
pub const BOOT_STACK: u64 = 0x8ff0;
/// Identity-map page tables: PML4, one PDPT, four page directories.
pub const PML4: u64 = 0x9000;
/// Page-directory-pointer table.
pub const PDPT: u64 = 0xa000;
/// First of the four page directories (2 MiB pages, first 4 GiB).
pub const PD: u64 = 0xb000;
/// Kernel command line.
pub const CMDLINE: u64 = 0x20000;
/// Largest command line accepted, including the NUL.
pub const CMDLINE_MAX: usize = 4096;
/// The MP table, in the last KiB of conventional memory (like an EBDA).
pub const MPTABLE: u64 = 0x9fc00;
/// Where high memory starts and kernels are loaded.
pub const HIMEM: u64 = 0x10_0000;
/// Start of the MMIO gap below 4 GiB.
pub const MMIO_GAP_START: u64 = 0xd000_0000;
/// End of the MMIO gap (4 GiB).
pub const MMIO_GAP_END: u64 = 0x1_0000_0000;
/// The virtio-mmio slots: device `n` sits at `VIRTIO_MMIO_BASE + n * VIRTIO_MMIO_SIZE`.
pub const VIRTIO_MMIO_BASE: u64 = MMIO_GAP_START;
/// Size of one virtio-mmio window.
pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;
/// Most virtio-mmio devices per VM.
pub const VIRTIO_MMIO_SLOTS: usize = 8;
/// IOAPIC registers.
pub const IOAPIC: u64 = 0xfec0_0000;
/// Local APIC registers.
pub const LAPIC: u64 = 0xfee0_0000;
/// KVM's TSS for real-mode emulation on VMX hosts (three pages below the BIOS).
pub const KVM_TSS: u64 = 0xfffb_d000;

/// Legacy interrupt lines (GSIs, routed to both the PIC and the IOAPIC).
pub mod irq {
    /// i8042 keyboard.
    pub const I8042: u32 = 1;
    /// wirt power-control port.
    pub const PVCTL: u32 = 3;
    /// COM1.
    pub const SERIAL: u32 = 4;
    /// virtio-mmio slot `n` uses `VIRTIO_BASE + n`.
    pub const VIRTIO_BASE: u32 = 5;
}

/// Port I/O addresses.
pub mod port {
    /// i8042 data port.
    pub const I8042_DATA: u16 = 0x60;
    /// i8042 status / command port.
    pub const I8042_CMD: u16 = 0x64;
    /// wirt power-control port (see GUEST.md).
    pub const PVCTL: u16 = 0x500;
    /// COM1 base.
    pub const COM1: u16 = 0x3f8;
}

/// Guest-physical address of virtio-mmio slot `n`.
pub fn virtio_mmio_addr(slot: usize) -> u64 {
    VIRTIO_MMIO_BASE + slot as u64 * VIRTIO_MMIO_SIZE
}

/// GSI of virtio-mmio slot `n`.
pub fn virtio_irq(slot: usize) -> u32 {
    irq::VIRTIO_BASE + slot as u32
}

/// The RAM ranges `(start, len)` for `size` bytes of guest memory, split
/// around the MMIO gap.
pub fn ram_ranges(size: u64) -> Vec<(u64, u64)> {
    if size <= MMIO_GAP_START {
        vec![(0, size)]
    } else {
        vec![(0, MMIO_GAP_START), (MMIO_GAP_END, size - MMIO_GAP_START)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_splits_around_the_mmio_gap() {
        assert_eq!(ram_ranges(64 << 20), vec![(0, 64 << 20)]);
        assert_eq!(
            ram_ranges(4 << 30),
            vec![
                (0, MMIO_GAP_START),
                (MMIO_GAP_END, (4 << 30) - MMIO_GAP_START)
            ]
        );
        assert_eq!(virtio_mmio_addr(1), 0xd000_1000);
    }
}
