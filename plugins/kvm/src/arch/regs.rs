//! Initial vCPU state for the 64-bit boot protocol: long mode on identity
//! page tables, a flat GDT, the boot MSRs, FPU defaults and the LAPIC's LINTs.

use kvm_bindings::{Msrs, kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress};

use crate::layout;
use crate::memory::GuestMemoryMmap;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum RegsError {
    /// Writing the GDT or page tables into guest memory failed.
    #[error("cannot write boot structures into guest memory")]
    GuestMemory(#[source] vm_memory::GuestMemoryError),
    /// A vCPU ioctl failed.
    #[error("cannot {0}")]
    Vcpu(&'static str, #[source] kvm_ioctls::Error),
    /// KVM took fewer MSRs than given.
    #[error("KVM accepted {0} of {1} boot MSRs")]
    Msrs(usize, usize),
}

const X86_CR0_PE: u64 = 0x1;
const X86_CR0_ET: u64 = 0x10;
const X86_CR0_PG: u64 = 0x8000_0000;
const X86_CR4_PAE: u64 = 0x20;
const EFER_LME: u64 = 0x100;
const EFER_LMA: u64 = 0x400;

/// Flat segments: null, 64-bit code (0x08), data (0x10), TSS (0x18).
const GDT: [u64; 4] = [
    gdt_entry(0, 0, 0),
    gdt_entry(0xa09b, 0, 0xfffff),
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x808b, 0, 0xfffff),
];

const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << (56 - 24))
        | ((flags as u64 & 0x0000_f0ff) << 40)
        | ((limit as u64 & 0x000f_0000) << (48 - 16))
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
}

fn segment(index: u16, entry: u64) -> kvm_segment {
    kvm_segment {
        base: ((entry >> 16) & 0xff_ffff) | (((entry >> 56) & 0xff) << 24),
        limit: (((entry >> 32) & 0xf_0000) | (entry & 0xffff)) as u32,
        selector: index * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        present: ((entry >> 47) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        db: ((entry >> 54) & 1) as u8,
        s: ((entry >> 44) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        g: ((entry >> 55) & 1) as u8,
        avl: ((entry >> 52) & 1) as u8,
        unusable: if (entry >> 47) & 1 == 0 { 1 } else { 0 },
        padding: 0,
    }
}

/// Writes the boot GDT, IDT and the identity page tables (first 4 GiB in
/// 2 MiB pages, so the MMIO gap is mapped for early device access).
pub fn write_boot_tables(mem: &GuestMemoryMmap) -> Result<(), RegsError> {
    for (i, entry) in GDT.iter().enumerate() {
        mem.write_obj(*entry, GuestAddress(layout::BOOT_GDT + i as u64 * 8))
            .map_err(RegsError::GuestMemory)?;
    }
    mem.write_obj(0u64, GuestAddress(layout::BOOT_IDT))
        .map_err(RegsError::GuestMemory)?;
    mem.write_obj(layout::PDPT | 0x3, GuestAddress(layout::PML4))
        .map_err(RegsError::GuestMemory)?;
    let mut pd = vec![0u8; 4 * 4096];
    for i in 0..4u64 {
        mem.write_obj(
            (layout::PD + i * 4096) | 0x3,
            GuestAddress(layout::PDPT + i * 8),
        )
        .map_err(RegsError::GuestMemory)?;
    }
    for (i, chunk) in pd.chunks_exact_mut(8).enumerate() {
        // present | writable | 2 MiB page
        let entry = ((i as u64) << 21) | 0x83;
        chunk.copy_from_slice(&entry.to_le_bytes());
    }
    mem.write_slice(&pd, GuestAddress(layout::PD))
        .map_err(RegsError::GuestMemory)?;
    Ok(())
}

/// Puts a vCPU in 64-bit mode at `entry` with `rsi` pointing at the zero page.
pub fn setup_boot_cpu(vcpu: &VcpuFd, entry: u64) -> Result<(), RegsError> {
    let mut sregs: kvm_sregs = vcpu
        .get_sregs()
        .map_err(|e| RegsError::Vcpu("read sregs", e))?;
    let code = segment(1, GDT[1]);
    let data = segment(2, GDT[2]);
    let tss = segment(3, GDT[3]);
    sregs.gdt.base = layout::BOOT_GDT;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = layout::BOOT_IDT;
    sregs.idt.limit = 7;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = tss;
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
    sregs.cr3 = layout::PML4;
    sregs.cr4 = X86_CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    vcpu.set_sregs(&sregs)
        .map_err(|e| RegsError::Vcpu("set sregs", e))?;

    let regs = kvm_regs {
        rflags: 0x2,
        rip: entry,
        rsp: layout::BOOT_STACK,
        rbp: layout::BOOT_STACK,
        rsi: layout::ZERO_PAGE,
        ..Default::default()
    };
    vcpu.set_regs(&regs)
        .map_err(|e| RegsError::Vcpu("set regs", e))?;

    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu)
        .map_err(|e| RegsError::Vcpu("set fpu", e))?;
    Ok(())
}

/// The MSRs a freshly booted CPU should have (as Firecracker sets them).
pub fn setup_boot_msrs(vcpu: &VcpuFd) -> Result<(), RegsError> {
    const MSR_IA32_SYSENTER_CS: u32 = 0x174;
    const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
    const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
    const MSR_STAR: u32 = 0xc000_0081;
    const MSR_LSTAR: u32 = 0xc000_0082;
    const MSR_CSTAR: u32 = 0xc000_0083;
    const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
    const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
    const MSR_IA32_TSC: u32 = 0x10;
    const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
    const MISC_ENABLE_FAST_STRING: u64 = 1;
    let entries: Vec<kvm_msr_entry> = [
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect();
    let msrs = Msrs::from_entries(&entries).expect("ten MSRs fit a FAM wrapper");
    let n = vcpu
        .set_msrs(&msrs)
        .map_err(|e| RegsError::Vcpu("set boot MSRs", e))?;
    if n != entries.len() {
        return Err(RegsError::Msrs(n, entries.len()));
    }
    Ok(())
}

/// LINT0 as ExtINT and LINT1 as NMI: "virtual wire" delivery of the PIC,
/// which the test guest uses and Linux expects before it sets up the IOAPIC.
pub fn setup_lint(vcpu: &VcpuFd) -> Result<(), RegsError> {
    const APIC_LVT0: usize = 0x350;
    const APIC_LVT1: usize = 0x360;
    const APIC_MODE_NMI: u32 = 0x4;
    const APIC_MODE_EXTINT: u32 = 0x7;
    let mut lapic = vcpu
        .get_lapic()
        .map_err(|e| RegsError::Vcpu("read LAPIC", e))?;
    let get = |regs: &[std::os::raw::c_char], off: usize| -> u32 {
        let b = [regs[off], regs[off + 1], regs[off + 2], regs[off + 3]];
        u32::from_le_bytes(b.map(|c| c as u8))
    };
    let set = |regs: &mut [std::os::raw::c_char], off: usize, v: u32| {
        for (i, byte) in v.to_le_bytes().iter().enumerate() {
            regs[off + i] = *byte as std::os::raw::c_char;
        }
    };
    let lvt0 = get(&lapic.regs, APIC_LVT0);
    set(
        &mut lapic.regs,
        APIC_LVT0,
        (lvt0 & !0x700 & !0x10000) | (APIC_MODE_EXTINT << 8),
    );
    let lvt1 = get(&lapic.regs, APIC_LVT1);
    set(
        &mut lapic.regs,
        APIC_LVT1,
        (lvt1 & !0x700 & !0x10000) | (APIC_MODE_NMI << 8),
    );
    vcpu.set_lapic(&lapic)
        .map_err(|e| RegsError::Vcpu("set LAPIC", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdt_code_segment_is_64_bit() {
        let cs = segment(1, GDT[1]);
        assert_eq!(cs.l, 1);
        assert_eq!(cs.present, 1);
        assert_eq!(cs.selector, 0x08);
        assert_eq!(cs.type_, 0xb);
        let ds = segment(2, GDT[2]);
        assert_eq!(ds.db, 1);
        assert_eq!(ds.limit, 0xfffff);
    }
}
