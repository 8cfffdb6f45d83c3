//! Guest monitoring: libvirt's `virDomainMemoryStats`,
//! `virDomainGetBlockInfo`, `virDomainGetVcpus`, `virDomainGetVcpuPinInfo`
//! and `virDomainPinVcpuFlags`. CPU sets cross as one `bool` per host CPU.

use super::{Domain, Error, Result, check_flags};
use crate::error::ErrorCode;

/// A disk's sizes in bytes (libvirt's `virDomainBlockInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockInfo {
    /// What the guest sees.
    pub capacity: u64,
    /// What the host has allocated for it.
    pub allocation: u64,
    /// The size of the file or device holding it.
    pub physical: u64,
}

/// One vCPU as `virDomainGetVcpus` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuInfo {
    /// The vCPU's number.
    pub number: u32,
    /// `VIR_VCPU_*` (see `wirt_vocab::monitor::vcpu_state`).
    pub state: i32,
    /// CPU time used, ns.
    pub cpu_time_ns: u64,
    /// The host CPU it last ran on.
    pub cpu: i32,
    /// The host CPUs it may run on.
    pub affinity: Vec<bool>,
}

/// `VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG`.
const AFFECT: u32 = 3;

impl Domain {
    /// The guest's memory figures as (tag, value) pairs, KiB, in the
    /// driver's order (libvirt's `virDomainMemoryStats`).
    pub fn memory_stats(&self, flags: u32) -> Result<Vec<(u32, u64)>> {
        check_flags(flags, 0, "virDomainMemoryStats")?;
        self.connect()
            .backend()
            .domain_memory_stats(self.reference(), flags)
    }

    /// Sizes of the disk named by target (`vda`) or source path (libvirt's
    /// `virDomainGetBlockInfo`).
    pub fn block_info(&self, disk: &str, flags: u32) -> Result<BlockInfo> {
        check_flags(flags, 0, "virDomainGetBlockInfo")?;
        self.connect()
            .backend()
            .domain_block_info(self.reference(), disk, flags)
    }

    /// Each online vCPU of the running domain (libvirt's `virDomainGetVcpus`).
    pub fn vcpu_info(&self) -> Result<Vec<VcpuInfo>> {
        self.connect().backend().domain_vcpu_info(self.reference())
    }

    /// The host CPUs each vCPU may run on, of the live or next-boot
    /// definition (libvirt's `virDomainGetVcpuPinInfo`).
    pub fn vcpu_pin_info(&self, flags: u32) -> Result<Vec<Vec<bool>>> {
        check_flags(flags, AFFECT, "virDomainGetVcpuPinInfo")?;
        self.connect()
            .backend()
            .domain_vcpu_pin_info(self.reference(), flags)
    }

    /// Pins vCPU `vcpu` to the host CPUs set in `cpus` (libvirt's
    /// `virDomainPinVcpuFlags`).
    pub fn pin_vcpu(&self, vcpu: u32, cpus: &[bool], flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        check_flags(flags, AFFECT, "virDomainPinVcpuFlags")?;
        if !cpus.iter().any(|&b| b) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "Empty cpu list for pinning",
            ));
        }
        self.connect()
            .backend()
            .domain_pin_vcpu(self.reference(), vcpu, cpus, flags)
    }
}
