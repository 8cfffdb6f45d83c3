//! CPUID for guest vCPUs: what KVM supports, minus what a software KVM
//! (PVM) cannot emulate in guest ring 0, with topology filled in. The result
//! is read back after `KVM_SET_CPUID2`, because PVM turns some bits back on.

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, kvm_cpuid_entry2};
use kvm_ioctls::{Kvm, VcpuFd};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum CpuidError {
    /// KVM_GET_SUPPORTED_CPUID failed.
    #[error("cannot read the CPUID KVM supports")]
    Supported(#[source] kvm_ioctls::Error),
    /// KVM_SET_CPUID2 failed.
    #[error("cannot set vCPU CPUID")]
    Set(#[source] kvm_ioctls::Error),
    /// KVM_GET_CPUID2 failed.
    #[error("cannot read vCPU CPUID back")]
    Get(#[source] kvm_ioctls::Error),
    /// A saved CPUID table does not fit KVM's limits.
    #[error("saved CPUID has too many entries")]
    TooMany,
}

/// A feature bit we hide from the guest.
#[derive(Clone, Copy, Debug)]
pub struct Masked {
    /// Short name, as Linux's `clearcpuid=` spells it.
    pub name: &'static str,
    /// Leaf (EAX input).
    pub leaf: u32,
    /// Sub-leaf (ECX input), for leaves that have them.
    pub index: u32,
    /// 0 = EAX, 1 = EBX, 2 = ECX, 3 = EDX.
    pub reg: u8,
    /// Bit number.
    pub bit: u8,
}

const fn m(name: &'static str, leaf: u32, index: u32, reg: u8, bit: u8) -> Masked {
    Masked {
        name,
        leaf,
        index,
        reg,
        bit,
    }
}

/// Features whose instructions PVM does not emulate in ring 0 (see the
/// notes on this host), and VMX, which a guest must not try to nest.
pub const MASKED: &[Masked] = &[
    m("vmx", 1, 0, 2, 5),
    m("fma", 1, 0, 2, 12),
    m("cx16", 1, 0, 2, 13),
    m("pcid", 1, 0, 2, 17),
    m("xsave", 1, 0, 2, 26),
    m("osxsave", 1, 0, 2, 27),
    m("avx", 1, 0, 2, 28),
    m("f16c", 1, 0, 2, 29),
    m("hle", 7, 0, 1, 4),
    m("avx2", 7, 0, 1, 5),
    m("invpcid", 7, 0, 1, 10),
    m("rtm", 7, 0, 1, 11),
    m("mpx", 7, 0, 1, 14),
    m("avx512f", 7, 0, 1, 16),
    m("avx512dq", 7, 0, 1, 17),
    m("smap", 7, 0, 1, 20),
    m("avx512ifma", 7, 0, 1, 21),
    m("avx512cd", 7, 0, 1, 28),
    m("avx512bw", 7, 0, 1, 30),
    m("avx512vl", 7, 0, 1, 31),
    m("avx512vbmi", 7, 0, 2, 1),
    m("umip", 7, 0, 2, 2),
    m("pku", 7, 0, 2, 3),
    m("waitpkg", 7, 0, 2, 5),
    m("avx512_vbmi2", 7, 0, 2, 6),
    m("vaes", 7, 0, 2, 9),
    m("vpclmulqdq", 7, 0, 2, 10),
    m("avx512_vnni", 7, 0, 2, 11),
    m("rdpid", 7, 0, 2, 22),
    m("amx_bf16", 7, 0, 3, 22),
    m("amx_tile", 7, 0, 3, 24),
    m("amx_int8", 7, 0, 3, 25),
];

fn reg_mut(e: &mut kvm_cpuid_entry2, reg: u8) -> &mut u32 {
    match reg {
        0 => &mut e.eax,
        1 => &mut e.ebx,
        2 => &mut e.ecx,
        _ => &mut e.edx,
    }
}

fn reg(e: &kvm_cpuid_entry2, reg: u8) -> u32 {
    match reg {
        0 => e.eax,
        1 => e.ebx,
        2 => e.ecx,
        _ => e.edx,
    }
}

/// What KVM supports on this host.
pub fn supported(kvm: &Kvm) -> Result<CpuId, CpuidError> {
    kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(CpuidError::Supported)
}

/// The CPUID table for vCPU `id` of `count`, derived from `base`.
pub fn for_vcpu(base: &CpuId, id: u8, count: u8) -> CpuId {
    let mut cpuid = base.clone();
    for e in cpuid.as_mut_slice() {
        for f in MASKED {
            if e.function == f.leaf && e.index == f.index {
                *reg_mut(e, f.reg) &= !(1u32 << f.bit);
            }
        }
        match e.function {
            1 => {
                // Initial APIC id, logical processor count, hypervisor present.
                e.ebx = (e.ebx & 0x0000_ffff) | (u32::from(id) << 24) | (u32::from(count) << 16);
                if count > 1 {
                    e.edx |= 1 << 28;
                }
                e.ecx |= 1 << 31;
            }
            // No XSAVE: its state-component leaf would only mislead.
            0xd => {
                e.eax = 0;
                e.ebx = 0;
                e.ecx = 0;
                e.edx = 0;
            }
            0xb | 0x1f => e.edx = u32::from(id),
            _ => {}
        }
    }
    cpuid
}

/// Sets `cpuid` on `vcpu`, reads it back and returns the names of masked
/// features the host turned back on (PVM does this for a few).
pub fn apply(vcpu: &VcpuFd, cpuid: &CpuId) -> Result<Vec<&'static str>, CpuidError> {
    vcpu.set_cpuid2(cpuid).map_err(CpuidError::Set)?;
    let back = vcpu
        .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
        .map_err(CpuidError::Get)?;
    Ok(forced(&back))
}

/// Masked features still visible in `cpuid`.
pub fn forced(cpuid: &CpuId) -> Vec<&'static str> {
    let mut names = Vec::new();
    for f in MASKED {
        let on = cpuid.as_slice().iter().any(|e| {
            e.function == f.leaf && e.index == f.index && reg(e, f.reg) & (1 << f.bit) != 0
        });
        if on {
            names.push(f.name);
        }
    }
    names
}

/// Rebuilds a KVM CPUID table from saved entries.
pub fn from_entries(entries: &[kvm_cpuid_entry2]) -> Result<CpuId, CpuidError> {
    CpuId::from_entries(entries).map_err(|_| CpuidError::TooMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_sets_topology() {
        let entries = [
            kvm_cpuid_entry2 {
                function: 1,
                ecx: (1 << 26) | (1 << 28) | 1,
                ebx: 0xffff_ffff,
                ..Default::default()
            },
            kvm_cpuid_entry2 {
                function: 7,
                ebx: (1 << 20) | (1 << 5) | 1,
                ..Default::default()
            },
        ];
        let base = CpuId::from_entries(&entries).unwrap();
        let c = for_vcpu(&base, 3, 4);
        let l1 = c.as_slice()[0];
        assert_eq!(l1.ecx & (1 << 26), 0);
        assert_eq!(l1.ecx & 1, 1);
        assert_eq!(l1.ebx >> 24, 3);
        assert_eq!((l1.ebx >> 16) & 0xff, 4);
        assert_eq!(c.as_slice()[1].ebx, 1);
        assert!(forced(&c).is_empty());
        assert_eq!(forced(&base), vec!["xsave", "avx", "avx2", "smap"]);
    }
}
