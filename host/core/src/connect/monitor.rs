//! Host monitoring: libvirt's `virNodeGetCPUStats`, `virNodeGetMemoryStats`,
//! `virNodeGetCellsFreeMemory`, `virNodeGetFreeMemory`, `virNodeGetCPUMap`
//! and `virConnectGetCPUModelNames`, with libvirt's field names and
//! argument checks.

use super::{Connect, Error, Result, check_flags};
use crate::error::{ErrorCode, ErrorDomain};

/// `VIR_NODE_CPU_STATS_ALL_CPUS`: the sum over every CPU.
pub const NODE_CPU_STATS_ALL_CPUS: i32 = -1;
/// `VIR_NODE_MEMORY_STATS_ALL_CELLS`: the whole host.
pub const NODE_MEMORY_STATS_ALL_CELLS: i32 = -1;

/// One named counter of the node statistics (`user`, `kernel`, `total`...);
/// CPU times in nanoseconds, memory in KiB.
pub type NodeStat = (String, u64);

/// The host's CPUs as `virNodeGetCPUMap` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMap {
    /// Whether each present CPU, by number, is online.
    pub online: Vec<bool>,
}

/// libvirt's `virBitmapFormat`: the set bits as ranges (`0-3,5`).
pub fn format_cpu_list(set: &[bool]) -> String {
    let mut parts = Vec::new();
    let mut n = 0;
    while n < set.len() {
        if !set[n] {
            n += 1;
            continue;
        }
        let start = n;
        while n + 1 < set.len() && set[n + 1] {
            n += 1;
        }
        parts.push(if start == n {
            start.to_string()
        } else {
            format!("{start}-{n}")
        });
        n += 1;
    }
    parts.join(",")
}

impl CpuMap {
    /// How many CPUs are present.
    pub fn present(&self) -> u32 {
        self.online.len() as u32
    }

    /// How many are online.
    pub fn online_count(&self) -> u32 {
        self.online.iter().filter(|&&b| b).count() as u32
    }

    /// The map as libvirt's bytes: bit `n % 8` of byte `n / 8` for CPU `n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; self.online.len().div_ceil(8)];
        for (n, _) in self.online.iter().enumerate().filter(|(_, b)| **b) {
            bytes[n / 8] |= 1 << (n % 8);
        }
        bytes
    }

    /// The map read back from libvirt's bytes for `present` CPUs.
    pub fn from_bytes(bytes: &[u8], present: u32) -> CpuMap {
        let online = (0..present as usize)
            .map(|n| bytes.get(n / 8).is_some_and(|b| b & (1 << (n % 8)) != 0))
            .collect();
        CpuMap { online }
    }
}

/// libvirt's `virReportInvalidArg`: the API's own argument checks, whose
/// message carries no class wording ("invalid argument: "), so it is kept
/// whole as a daemon's would be.
pub(crate) fn invalid_arg(message: &str) -> Error {
    Error::Remote {
        code: ErrorCode::INVALID_ARG,
        domain: ErrorDomain::NONE,
        message: message.to_string(),
        source: None,
    }
}

impl Connect {
    /// CPU time counters of the host, of CPU `cpu` or of all of them
    /// ([`NODE_CPU_STATS_ALL_CPUS`]) (libvirt's `virNodeGetCPUStats`).
    pub fn node_cpu_stats(&self, cpu: i32, flags: u32) -> Result<Vec<NodeStat>> {
        if cpu < NODE_CPU_STATS_ALL_CPUS {
            return Err(invalid_arg(
                "cpuNum in virNodeGetCPUStats only accepts -1 as a negative value",
            ));
        }
        check_flags(flags, 0, "virNodeGetCPUStats")?;
        self.backend().node_cpu_stats(cpu, flags)
    }

    /// Memory counters of the host or of NUMA cell `cell`, in KiB
    /// (libvirt's `virNodeGetMemoryStats`).
    pub fn node_memory_stats(&self, cell: i32, flags: u32) -> Result<Vec<NodeStat>> {
        if cell < NODE_MEMORY_STATS_ALL_CELLS {
            return Err(invalid_arg(
                "cellNum in virNodeGetMemoryStats only accepts -1 as a negative value",
            ));
        }
        check_flags(flags, 0, "virNodeGetMemoryStats")?;
        self.backend().node_memory_stats(cell, flags)
    }

    /// Free memory in bytes of up to `max` NUMA cells from `start` (libvirt's
    /// `virNodeGetCellsFreeMemory`).
    pub fn node_cells_free_memory(&self, start: i32, max: i32) -> Result<Vec<u64>> {
        if start < 0 {
            return Err(invalid_arg(
                "startCell in virNodeGetCellsFreeMemory must be zero or greater",
            ));
        }
        if max <= 0 {
            return Err(invalid_arg(
                "maxCells in virNodeGetCellsFreeMemory must be greater than zero",
            ));
        }
        self.backend().node_cells_free_memory(start, max)
    }

    /// Free memory of the whole host in bytes (libvirt's `virNodeGetFreeMemory`).
    pub fn node_free_memory(&self) -> Result<u64> {
        self.backend().node_free_memory()
    }

    /// The host's present and online CPUs (libvirt's `virNodeGetCPUMap`).
    pub fn node_cpu_map(&self, flags: u32) -> Result<CpuMap> {
        check_flags(flags, 0, "virNodeGetCPUMap")?;
        self.backend().node_cpu_map(flags)
    }

    /// The CPU models libvirt knows for `arch`; empty where any model is
    /// accepted (libvirt's `virConnectGetCPUModelNames`).
    pub fn cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        check_flags(flags, 0, "virConnectGetCPUModelNames")?;
        self.backend().cpu_model_names(arch, flags)
    }
}

/// libvirt 9.0's architecture names (`virArch`), but `none`.
const ARCHES: &[&str] = &[
    "alpha",
    "armv6l",
    "armv7l",
    "armv7b",
    "aarch64",
    "cris",
    "i686",
    "ia64",
    "lm32",
    "loongarch64",
    "m68k",
    "microblaze",
    "microblazeel",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "openrisc",
    "parisc",
    "parisc64",
    "ppc",
    "ppcle",
    "ppc64",
    "ppc64le",
    "ppcemb",
    "riscv32",
    "riscv64",
    "s390",
    "s390x",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "unicore32",
    "x86_64",
    "xtensa",
    "xtensaeb",
];

/// libvirt 9.0's x86 CPU map, in its `index.xml` order.
const X86_MODELS: &[&str] = &[
    "486",
    "pentium",
    "pentium2",
    "pentium3",
    "pentiumpro",
    "coreduo",
    "n270",
    "core2duo",
    "qemu32",
    "kvm32",
    "cpu64-rhel5",
    "cpu64-rhel6",
    "qemu64",
    "kvm64",
    "Conroe",
    "Penryn",
    "Nehalem",
    "Nehalem-IBRS",
    "Westmere",
    "Westmere-IBRS",
    "SandyBridge",
    "SandyBridge-IBRS",
    "IvyBridge",
    "IvyBridge-IBRS",
    "Haswell-noTSX",
    "Haswell-noTSX-IBRS",
    "Haswell",
    "Haswell-IBRS",
    "Broadwell-noTSX",
    "Broadwell-noTSX-IBRS",
    "Broadwell",
    "Broadwell-IBRS",
    "Skylake-Client",
    "Skylake-Client-IBRS",
    "Skylake-Client-noTSX-IBRS",
    "Skylake-Server",
    "Skylake-Server-IBRS",
    "Skylake-Server-noTSX-IBRS",
    "Cascadelake-Server",
    "Cascadelake-Server-noTSX",
    "Icelake-Client",
    "Icelake-Client-noTSX",
    "Icelake-Server",
    "Icelake-Server-noTSX",
    "Cooperlake",
    "Snowridge",
    "athlon",
    "phenom",
    "Opteron_G1",
    "Opteron_G2",
    "Opteron_G3",
    "Opteron_G4",
    "Opteron_G5",
    "EPYC",
    "EPYC-IBPB",
    "EPYC-Rome",
    "EPYC-Milan",
    "Dhyana",
];

/// libvirt 9.0's ppc64 CPU map.
const PPC64_MODELS: &[&str] = &[
    "POWER6",
    "POWER7",
    "POWER8",
    "POWER9",
    "POWER10",
    "POWERPC_e5500",
    "POWERPC_e6500",
];

/// What libvirt's CPU drivers answer for `arch`: their model list, none
/// (every model accepted) for the drivers that keep no list, and libvirt's
/// errors for an unknown architecture or one no CPU driver handles. The
/// list is libvirt's CPU map, the same for every hypervisor driver.
pub fn cpu_models_of(arch: &str) -> Result<Vec<String>> {
    if !ARCHES.contains(&arch) {
        return Err(Error::api(
            ErrorCode::INVALID_ARG,
            format!("cannot find architecture {arch}"),
        ));
    }
    let models: &[&str] = match arch {
        "i686" | "x86_64" => X86_MODELS,
        "ppc64" | "ppc64le" => PPC64_MODELS,
        "s390" | "s390x" | "armv6l" | "armv7l" | "armv7b" | "aarch64" => &[],
        _ => {
            return Err(Error::api(
                ErrorCode::NO_SUPPORT,
                format!("'{arch}' architecture is not supported by CPU driver"),
            ));
        }
    };
    Ok(models.iter().map(|m| m.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_map_bytes_round_trip() {
        let map = CpuMap {
            online: vec![true, false, true, false, true, false, false, false, true],
        };
        assert_eq!(map.to_bytes(), vec![0b0001_0101, 1]);
        assert_eq!(CpuMap::from_bytes(&map.to_bytes(), 9), map);
        assert_eq!((map.present(), map.online_count()), (9, 4));
    }

    #[test]
    fn cpu_lists_as_libvirt_formats_them() {
        let set = [true, true, true, false, true, false, true, true];
        assert_eq!(format_cpu_list(&set), "0-2,4,6-7");
        assert_eq!(format_cpu_list(&[false, false]), "");
    }

    #[test]
    fn cpu_models_as_libvirt() {
        assert_eq!(cpu_models_of("x86_64").unwrap().len(), 58);
        assert!(cpu_models_of("aarch64").unwrap().is_empty());
        assert_eq!(
            cpu_models_of("foo").unwrap_err().message(),
            "invalid argument: cannot find architecture foo"
        );
        assert_eq!(
            cpu_models_of("alpha").unwrap_err().code(),
            ErrorCode::NO_SUPPORT
        );
    }
}
