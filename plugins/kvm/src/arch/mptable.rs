//! An Intel MultiProcessor table (spec 1.4): CPUs, one ISA bus, the IOAPIC
//! and an identity IRQ map. Without it (or ACPI) Linux stays in "virtual
//! wire" mode and early boot is slower.

use vm_memory::{ByteValued, Bytes, GuestAddress};

use crate::layout;
use crate::memory::GuestMemoryMmap;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MptableError {
    /// More vCPUs than the table area or APIC ids can describe.
    #[error("too many vCPUs for the MP table: {0}")]
    TooManyCpus(u8),
    /// Writing the table into guest memory failed.
    #[error("cannot write the MP table into guest memory")]
    GuestMemory(#[source] vm_memory::GuestMemoryError),
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpfIntel {
    signature: [u8; 4],
    physptr: u32,
    length: u8,
    specification: u8,
    checksum: u8,
    feature: [u8; 5],
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpcTable {
    signature: [u8; 4],
    length: u16,
    spec: u8,
    checksum: u8,
    oem: [u8; 8],
    productid: [u8; 12],
    oemptr: u32,
    oemsize: u16,
    oemcount: u16,
    lapic: u32,
    reserved: u32,
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpcCpu {
    type_: u8,
    apicid: u8,
    apicver: u8,
    cpuflag: u8,
    cpufeature: u32,
    featureflag: u32,
    reserved: [u32; 2],
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpcBus {
    type_: u8,
    busid: u8,
    bustype: [u8; 6],
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpcIoapic {
    type_: u8,
    apicid: u8,
    apicver: u8,
    flags: u8,
    apicaddr: u32,
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpcIntsrc {
    type_: u8,
    irqtype: u8,
    irqflag: u16,
    srcbus: u8,
    srcbusirq: u8,
    dstapic: u8,
    dstirq: u8,
}

// SAFETY: plain-old-data structs of integers and byte arrays with no padding
// (repr(C, packed)); every bit pattern is valid.
unsafe impl ByteValued for MpfIntel {}
// SAFETY: as above.
unsafe impl ByteValued for MpcTable {}
// SAFETY: as above.
unsafe impl ByteValued for MpcCpu {}
// SAFETY: as above.
unsafe impl ByteValued for MpcBus {}
// SAFETY: as above.
unsafe impl ByteValued for MpcIoapic {}
// SAFETY: as above.
unsafe impl ByteValued for MpcIntsrc {}

const MP_PROCESSOR: u8 = 0;
const MP_BUS: u8 = 1;
const MP_IOAPIC: u8 = 2;
const MP_INTSRC: u8 = 3;
const MP_LINTSRC: u8 = 4;
const MP_IRQ_INT: u8 = 0;
const MP_IRQ_NMI: u8 = 1;
const MP_IRQ_EXTINT: u8 = 3;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
const APIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
const IOAPIC_PINS: u8 = 24;
const CPU_STEPPING: u32 = 0x600;
const CPU_FEATURE_FPU_APIC: u32 = (1 << 9) | 1;

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// Builds the MP floating pointer plus configuration table for `cpus` CPUs.
fn build(cpus: u8) -> Result<Vec<u8>, MptableError> {
    // APIC ids 0..cpus, then the IOAPIC; all must fit the 1 KiB area.
    if cpus == 0 || cpus > 32 {
        return Err(MptableError::TooManyCpus(cpus));
    }
    let ioapic_id = cpus + 1;
    let mut entries = Vec::new();
    for id in 0..cpus {
        let cpu = MpcCpu {
            type_: MP_PROCESSOR,
            apicid: id,
            apicver: APIC_VERSION,
            cpuflag: CPU_ENABLED | if id == 0 { CPU_BOOTPROCESSOR } else { 0 },
            cpufeature: CPU_STEPPING,
            featureflag: CPU_FEATURE_FPU_APIC,
            reserved: [0; 2],
        };
        entries.extend_from_slice(cpu.as_slice());
    }
    let bus = MpcBus {
        type_: MP_BUS,
        busid: 0,
        bustype: *b"ISA   ",
    };
    entries.extend_from_slice(bus.as_slice());
    let ioapic = MpcIoapic {
        type_: MP_IOAPIC,
        apicid: ioapic_id,
        apicver: IOAPIC_VERSION,
        flags: 1,
        apicaddr: layout::IOAPIC as u32,
    };
    entries.extend_from_slice(ioapic.as_slice());
    for pin in 0..IOAPIC_PINS {
        let src = MpcIntsrc {
            type_: MP_INTSRC,
            irqtype: MP_IRQ_INT,
            irqflag: 0,
            srcbus: 0,
            srcbusirq: pin,
            dstapic: ioapic_id,
            dstirq: pin,
        };
        entries.extend_from_slice(src.as_slice());
    }
    for (irqtype, lint) in [(MP_IRQ_EXTINT, 0u8), (MP_IRQ_NMI, 1u8)] {
        let src = MpcIntsrc {
            type_: MP_LINTSRC,
            irqtype,
            irqflag: 0,
            srcbus: 0,
            srcbusirq: 0,
            dstapic: 0xff,
            dstirq: lint,
        };
        entries.extend_from_slice(src.as_slice());
    }

    let mpf_len = std::mem::size_of::<MpfIntel>();
    let table_len = std::mem::size_of::<MpcTable>() + entries.len();
    if mpf_len + table_len > 1024 {
        return Err(MptableError::TooManyCpus(cpus));
    }
    let mut table = MpcTable {
        signature: *b"PCMP",
        length: table_len as u16,
        spec: 4,
        checksum: 0,
        oem: *b"WIRT    ",
        productid: *b"WIRT-VMM    ",
        oemptr: 0,
        oemsize: 0,
        oemcount: (cpus as usize + 2 + IOAPIC_PINS as usize + 2) as u16,
        lapic: layout::LAPIC as u32,
        reserved: 0,
    };
    let sum = checksum(table.as_slice()).wrapping_add(checksum(&entries));
    table.checksum = 0u8.wrapping_sub(sum);

    let mut mpf = MpfIntel {
        signature: *b"_MP_",
        physptr: (layout::MPTABLE + mpf_len as u64) as u32,
        length: 1,
        specification: 4,
        checksum: 0,
        feature: [0; 5],
    };
    mpf.checksum = 0u8.wrapping_sub(checksum(mpf.as_slice()));

    let mut out = Vec::with_capacity(mpf_len + table_len);
    out.extend_from_slice(mpf.as_slice());
    out.extend_from_slice(table.as_slice());
    out.extend_from_slice(&entries);
    Ok(out)
}

/// Writes the MP table for `cpus` vCPUs at [`layout::MPTABLE`].
pub fn write(mem: &GuestMemoryMmap, cpus: u8) -> Result<(), MptableError> {
    let bytes = build(cpus)?;
    mem.write_slice(&bytes, GuestAddress(layout::MPTABLE))
        .map_err(MptableError::GuestMemory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_zero() {
        let t = build(2).unwrap();
        assert_eq!(checksum(&t[..16]), 0);
        assert_eq!(&t[16..20], b"PCMP");
        let len = u16::from_le_bytes([t[20], t[21]]) as usize;
        assert_eq!(checksum(&t[16..16 + len]), 0);
        assert!(build(0).is_err());
    }
}
