//! Guest monitoring: libvirt's `virDomainMemoryStats`,
//! `virDomainGetBlockInfo`, `virDomainGetVcpus`, `virDomainGetVcpuPinInfo`
//! and `virDomainPinVcpuFlags`. CPU sets cross as one `bool` per host CPU.

use super::{Domain, Error, Result, StatValue, check_flags};
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

    /// The host CPUs the domain's emulator threads may run on (libvirt's
    /// `virDomainGetEmulatorPinInfo`).
    pub fn emulator_pin_info(&self, flags: u32) -> Result<Vec<bool>> {
        check_flags(flags, AFFECT, "virDomainGetEmulatorPinInfo")?;
        self.connect()
            .backend()
            .domain_emulator_pin_info(self.reference(), flags)
    }

    /// Pins the emulator threads to the host CPUs set in `cpus` (libvirt's
    /// `virDomainPinEmulator`).
    pub fn pin_emulator(&self, cpus: &[bool], flags: u32) -> Result<()> {
        self.connect().check_writable()?;
        check_flags(flags, AFFECT, "virDomainPinEmulator")?;
        if !cpus.iter().any(|&b| b) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "Empty cpu list for pinning",
            ));
        }
        self.connect()
            .backend()
            .domain_pin_emulator(self.reference(), cpus, flags)
    }

    /// How many host CPUs `cpu_stats` reports on (libvirt's
    /// `virDomainGetCPUStats` with no parameters and no CPUs).
    pub fn cpu_stats_count(&self) -> Result<u32> {
        self.connect().backend().domain_cpu_count(self.reference())
    }

    /// CPU time of the running domain: per host CPU from `start_cpu` for
    /// `ncpus` CPUs, or its total for `start_cpu` -1 (libvirt's
    /// `virDomainGetCPUStats`).
    pub fn cpu_stats(
        &self,
        start_cpu: i32,
        ncpus: u32,
        flags: u32,
    ) -> Result<Vec<Vec<(String, StatValue)>>> {
        check_flags(flags, STRING_OKAY, "virDomainGetCPUStats")?;
        if start_cpu < -1 || (start_cpu == -1 && ncpus != 1) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "start_cpu -1 asks for the total, with ncpus 1",
            ));
        }
        self.connect()
            .backend()
            .domain_cpu_stats(self.reference(), start_cpu, ncpus)
    }

    /// The scheduler's name and how many parameters it has (libvirt's
    /// `virDomainGetSchedulerType`).
    pub fn scheduler_type(&self) -> Result<(String, i32)> {
        self.connect()
            .backend()
            .domain_scheduler_type(self.reference())
    }

    /// The scheduler's parameters of the domain as it is now (libvirt's
    /// `virDomainGetSchedulerParameters`).
    pub fn scheduler_parameters(&self) -> Result<Vec<(String, StatValue)>> {
        self.connect()
            .backend()
            .domain_scheduler_parameters(self.reference(), 0)
    }

    /// The scheduler's parameters of the live or next-boot definition
    /// (libvirt's `virDomainGetSchedulerParametersFlags`, which always adds
    /// `VIR_TYPED_PARAM_STRING_OKAY`, as libvirt's library does).
    pub fn scheduler_parameters_flags(&self, flags: u32) -> Result<Vec<(String, StatValue)>> {
        check_flags(flags, AFFECT, "virDomainGetSchedulerParametersFlags")?;
        self.connect()
            .backend()
            .domain_scheduler_parameters(self.reference(), flags | STRING_OKAY)
    }

    /// Sets scheduler parameters; `flags` None is libvirt's
    /// `virDomainSetSchedulerParameters`, Some its `...Flags` variant.
    pub fn set_scheduler_parameters(
        &self,
        params: &[(String, StatValue)],
        flags: Option<u32>,
    ) -> Result<()> {
        self.connect().check_writable()?;
        if let Some(f) = flags {
            check_flags(f, AFFECT, "virDomainSetSchedulerParametersFlags")?;
        }
        self.connect()
            .backend()
            .domain_set_scheduler_parameters(self.reference(), params, flags)
    }
}

/// `VIR_TYPED_PARAM_STRING_OKAY`.
pub const STRING_OKAY: u32 = 4;
