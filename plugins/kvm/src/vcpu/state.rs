//! Saving and restoring a vCPU's architectural state (Firecracker's order).

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, Msrs, kvm_cpuid_entry2, kvm_debugregs, kvm_fpu, kvm_lapic_state,
    kvm_mp_state, kvm_msr_entry, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
};
use kvm_ioctls::VcpuFd;
use serde::{Deserialize, Serialize};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A get or set ioctl failed.
    #[error("cannot {0}")]
    Ioctl(&'static str, #[source] kvm_ioctls::Error),
    /// A saved table does not fit KVM's limits.
    #[error("saved {0} has too many entries")]
    TooMany(&'static str),
    /// The saved FPU state has the wrong size.
    #[error("saved FPU state is malformed")]
    Fpu,
}

/// Everything KVM holds about one vCPU.
#[derive(Serialize, Deserialize)]
pub struct VcpuState {
    /// CPUID as set on the vCPU.
    pub cpuid: Vec<kvm_cpuid_entry2>,
    /// Run state (running, halted, waiting for SIPI).
    pub mp_state: kvm_mp_state,
    /// General registers.
    pub regs: kvm_regs,
    /// Segment and control registers.
    pub sregs: kvm_sregs,
    /// Legacy FPU/SSE state, as raw bytes (kvm_fpu has no serde support).
    pub fpu: Vec<u8>,
    /// XSAVE area, where KVM supports it.
    pub xsave: Option<kvm_xsave>,
    /// Extended control registers, where supported.
    pub xcrs: Option<kvm_xcrs>,
    /// Debug registers.
    pub debugregs: kvm_debugregs,
    /// Local APIC registers.
    pub lapic: kvm_lapic_state,
    /// Model-specific registers that could be read.
    pub msrs: Vec<kvm_msr_entry>,
    /// Pending exceptions, interrupts, NMIs.
    pub events: kvm_vcpu_events,
}

impl std::fmt::Debug for VcpuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuState")
            .field("rip", &self.regs.rip)
            .field("msrs", &self.msrs.len())
            .finish_non_exhaustive()
    }
}

fn fpu_bytes(fpu: &kvm_fpu) -> Vec<u8> {
    let size = std::mem::size_of::<kvm_fpu>();
    let mut out = vec![0u8; size];
    // SAFETY: kvm_fpu is a plain C struct of integers and byte arrays; reading
    // its `size` bytes into a buffer of that size is a byte copy.
    unsafe {
        std::ptr::copy_nonoverlapping(fpu as *const kvm_fpu as *const u8, out.as_mut_ptr(), size)
    };
    out
}

fn fpu_from(bytes: &[u8]) -> Result<kvm_fpu, StateError> {
    let size = std::mem::size_of::<kvm_fpu>();
    if bytes.len() != size {
        return Err(StateError::Fpu);
    }
    let mut fpu = kvm_fpu::default();
    // SAFETY: as above; every bit pattern is a valid kvm_fpu.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), &mut fpu as *mut kvm_fpu as *mut u8, size)
    };
    Ok(fpu)
}

/// Reads the MSRs in `indices` that this vCPU can read, skipping any KVM refuses.
fn read_msrs(vcpu: &VcpuFd, indices: &[u32]) -> Result<Vec<kvm_msr_entry>, StateError> {
    let mut out = Vec::with_capacity(indices.len());
    let mut rest = indices;
    while !rest.is_empty() {
        let chunk: Vec<kvm_msr_entry> = rest
            .iter()
            .take(256)
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let mut msrs = Msrs::from_entries(&chunk).map_err(|_| StateError::TooMany("MSR list"))?;
        let n = vcpu
            .get_msrs(&mut msrs)
            .map_err(|e| StateError::Ioctl("read MSRs", e))?;
        out.extend_from_slice(&msrs.as_slice()[..n]);
        // KVM stops at the first MSR it cannot read: skip that one.
        let skip = if n < chunk.len() { n + 1 } else { n };
        rest = &rest[skip..];
    }
    Ok(out)
}

/// Captures the vCPU's state; `msr_indices` is KVM's MSR index list.
pub fn save(vcpu: &VcpuFd, msr_indices: &[u32], xsave: bool) -> Result<VcpuState, StateError> {
    let cpuid = vcpu
        .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| StateError::Ioctl("read CPUID", e))?;
    Ok(VcpuState {
        cpuid: cpuid.as_slice().to_vec(),
        mp_state: vcpu
            .get_mp_state()
            .map_err(|e| StateError::Ioctl("read MP state", e))?,
        regs: vcpu
            .get_regs()
            .map_err(|e| StateError::Ioctl("read registers", e))?,
        sregs: vcpu
            .get_sregs()
            .map_err(|e| StateError::Ioctl("read special registers", e))?,
        fpu: fpu_bytes(
            &vcpu
                .get_fpu()
                .map_err(|e| StateError::Ioctl("read FPU", e))?,
        ),
        xsave: if xsave {
            Some(
                vcpu.get_xsave()
                    .map_err(|e| StateError::Ioctl("read XSAVE", e))?,
            )
        } else {
            None
        },
        xcrs: vcpu.get_xcrs().ok(),
        debugregs: vcpu
            .get_debug_regs()
            .map_err(|e| StateError::Ioctl("read debug registers", e))?,
        lapic: vcpu
            .get_lapic()
            .map_err(|e| StateError::Ioctl("read LAPIC", e))?,
        msrs: read_msrs(vcpu, msr_indices)?,
        events: vcpu
            .get_vcpu_events()
            .map_err(|e| StateError::Ioctl("read vCPU events", e))?,
    })
}

/// Loads saved state into a fresh vCPU. Returns how many MSRs KVM refused.
pub fn restore(vcpu: &VcpuFd, s: &VcpuState) -> Result<usize, StateError> {
    let cpuid = CpuId::from_entries(&s.cpuid).map_err(|_| StateError::TooMany("CPUID"))?;
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| StateError::Ioctl("set CPUID", e))?;
    vcpu.set_mp_state(s.mp_state)
        .map_err(|e| StateError::Ioctl("set MP state", e))?;
    vcpu.set_regs(&s.regs)
        .map_err(|e| StateError::Ioctl("set registers", e))?;
    vcpu.set_sregs(&s.sregs)
        .map_err(|e| StateError::Ioctl("set special registers", e))?;
    vcpu.set_fpu(&fpu_from(&s.fpu)?)
        .map_err(|e| StateError::Ioctl("set FPU", e))?;
    if let Some(xsave) = &s.xsave {
        // SAFETY: `xsave` is a full kvm_xsave captured by KVM_GET_XSAVE on a
        // vCPU of the same kind, so KVM reads no more than the struct holds.
        unsafe { vcpu.set_xsave(xsave) }.map_err(|e| StateError::Ioctl("set XSAVE", e))?;
    }
    if let Some(xcrs) = &s.xcrs {
        vcpu.set_xcrs(xcrs)
            .map_err(|e| StateError::Ioctl("set XCRs", e))?;
    }
    vcpu.set_debug_regs(&s.debugregs)
        .map_err(|e| StateError::Ioctl("set debug registers", e))?;
    vcpu.set_lapic(&s.lapic)
        .map_err(|e| StateError::Ioctl("set LAPIC", e))?;
    let mut refused = 0;
    let mut rest = s.msrs.as_slice();
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(256)];
        let msrs = Msrs::from_entries(chunk).map_err(|_| StateError::TooMany("MSR list"))?;
        let n = vcpu
            .set_msrs(&msrs)
            .map_err(|e| StateError::Ioctl("set MSRs", e))?;
        let skip = if n < chunk.len() {
            refused += 1;
            n + 1
        } else {
            n
        };
        rest = &rest[skip..];
    }
    vcpu.set_vcpu_events(&s.events)
        .map_err(|e| StateError::Ioctl("set vCPU events", e))?;
    Ok(refused)
}
