//! Host monitoring for the in-process backend. A `test:` host answers with
//! libvirt's test driver's made-up figures, so scripts see what they see
//! with libvirt; a `kvm:` host reads the kernel's (`/proc/stat`,
//! `/proc/meminfo`, `/sys/devices/system/cpu`); other plugin hosts measure
//! nothing and answer "not supported".

use super::Local;
use crate::connect::{
    BlockInfo, CpuMap, DomainRef, Error, MonitorBackend, NodeStat, Result, StatValue, VcpuInfo,
    cpu_models_of,
};
use crate::error::ErrorCode;

/// What a connection's host figures come from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// libvirt's test driver.
    Test,
    /// The kernel of the host wirt runs on.
    Kernel,
    /// A plugin host that reports none.
    None,
}

impl Local {
    pub(super) fn source(&self) -> Source {
        match self.state.info.type_name.as_str() {
            "TEST" => Source::Test,
            "KVM" => Source::Kernel,
            _ => Source::None,
        }
    }

    fn numa_cells(&self) -> usize {
        self.state.node.numa_nodes.max(1) as usize
    }
}

fn unsupported<T>(function: &str) -> Result<T> {
    Err(Error::api(ErrorCode::NO_SUPPORT, function.to_string()))
}

fn range_exceeded() -> Error {
    Error::api(ErrorCode::INVALID_ARG, "Range exceeds available cells")
}

/// libvirt's test driver: CPU counters in ns, the same for every CPU.
const TEST_CPU_STATS: [(&str, u64); 4] = [
    ("user", 9_797_400_000),
    ("kernel", 34_678_723_400_000),
    ("idle", 87_264_900_000),
    ("iowait", 763_600_000),
];

/// libvirt's test driver: cell `n` has `(n + 1)` MiB free, but
/// `virNodeGetCellsFreeMemory` reports its size, `(n + 1) * 2` MiB.
fn test_cell_free(cell: usize) -> u64 {
    (cell as u64 + 1) << 20
}
fn test_cell_size(cell: usize) -> u64 {
    (cell as u64 + 1) << 21
}

impl MonitorBackend for Local {
    fn node_cpu_stats(&self, cpu: i32, _flags: u32) -> Result<Vec<NodeStat>> {
        match self.source() {
            Source::Test => Ok(TEST_CPU_STATS
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect()),
            Source::Kernel => kernel::cpu_stats(&read("/proc/stat")?, cpu),
            Source::None => unsupported("virNodeGetCPUStats"),
        }
    }

    fn node_memory_stats(&self, cell: i32, _flags: u32) -> Result<Vec<NodeStat>> {
        match self.source() {
            Source::Kernel => {
                if cell >= self.numa_cells() as i32 {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!(
                            "cell number {cell} out of range (0-{})",
                            self.numa_cells() - 1
                        ),
                    ));
                }
                kernel::memory_stats(&read("/proc/meminfo")?)
            }
            // libvirt's test driver has no memory statistics.
            Source::Test | Source::None => unsupported("virNodeGetMemoryStats"),
        }
    }

    fn node_cells_free_memory(&self, start: i32, max: i32) -> Result<Vec<u64>> {
        let cells = self.numa_cells();
        let start = start as usize;
        if start >= cells {
            return Err(range_exceeded());
        }
        let end = cells.min(start + max as usize);
        match self.source() {
            Source::Test => Ok((start..end).map(test_cell_size).collect()),
            // The kvm host is one NUMA cell: the whole host.
            Source::Kernel => Ok(vec![self.node_free_memory()?]),
            Source::None => unsupported("virNodeGetCellsFreeMemory"),
        }
    }

    fn node_free_memory(&self) -> Result<u64> {
        match self.source() {
            Source::Test => Ok((0..self.numa_cells()).map(test_cell_free).sum()),
            Source::Kernel => {
                let stats = kernel::memory_stats(&read("/proc/meminfo")?)?;
                let free = stats.iter().find(|(k, _)| k == "free").map_or(0, |s| s.1);
                Ok(free * 1024)
            }
            Source::None => unsupported("virNodeGetFreeMemory"),
        }
    }

    fn node_cpu_map(&self, _flags: u32) -> Result<CpuMap> {
        match self.source() {
            // libvirt's test driver: 8 CPUs, 0, 2 and 4 online.
            Source::Test => Ok(CpuMap {
                online: (0..8).map(|n| n % 2 == 0 && n < 6).collect(),
            }),
            Source::Kernel => {
                let present = kernel::parse_cpu_list(&read("/sys/devices/system/cpu/present")?)?;
                let online = kernel::parse_cpu_list(&read("/sys/devices/system/cpu/online")?)?;
                let count = present.iter().max().map_or(0, |m| m + 1);
                Ok(CpuMap {
                    online: (0..count).map(|n| online.contains(&n)).collect(),
                })
            }
            Source::None => unsupported("virNodeGetCPUMap"),
        }
    }

    fn cpu_model_names(&self, arch: &str, _flags: u32) -> Result<Vec<String>> {
        match self.source() {
            Source::Test | Source::Kernel => cpu_models_of(arch),
            Source::None => unsupported("virConnectGetCPUModelNames"),
        }
    }

    fn domain_memory_stats(&self, dom: &DomainRef, _flags: u32) -> Result<Vec<(u32, u64)>> {
        self.dom_memory_stats(dom)
    }

    fn domain_block_info(&self, dom: &DomainRef, disk: &str, _flags: u32) -> Result<BlockInfo> {
        self.dom_block_info(dom, disk)
    }

    fn domain_vcpu_info(&self, dom: &DomainRef) -> Result<Vec<VcpuInfo>> {
        self.dom_vcpu_info(dom)
    }

    fn domain_vcpu_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<Vec<bool>>> {
        self.dom_vcpu_pin_info(dom, flags)
    }

    fn domain_emulator_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<bool>> {
        self.dom_emulator_pin_info(dom, flags)
    }

    fn domain_pin_emulator(&self, dom: &DomainRef, cpus: &[bool], flags: u32) -> Result<()> {
        self.dom_pin_emulator(dom, cpus, flags)
    }

    fn domain_cpu_count(&self, dom: &DomainRef) -> Result<u32> {
        self.dom_cpu_count(dom)
    }

    fn domain_cpu_stats(
        &self,
        dom: &DomainRef,
        start_cpu: i32,
        ncpus: u32,
    ) -> Result<Vec<Vec<(String, StatValue)>>> {
        self.dom_cpu_stats(dom, start_cpu, ncpus)
    }

    fn domain_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        self.dom_scheduler_type(dom)
    }

    fn domain_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<(String, StatValue)>> {
        self.dom_scheduler_parameters(dom, flags)
    }

    fn domain_set_scheduler_parameters(
        &self,
        dom: &DomainRef,
        params: &[(String, StatValue)],
        flags: Option<u32>,
    ) -> Result<()> {
        self.dom_set_scheduler_parameters(dom, params, flags)
    }

    fn domain_pin_vcpu(&self, dom: &DomainRef, vcpu: u32, cpus: &[bool], flags: u32) -> Result<()> {
        self.dom_pin_vcpu(dom, vcpu, cpus, flags)
    }
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("cannot read {path}"),
        source,
    })
}

/// Parsers of the kernel's files, as libvirt's `virhostcpu.c` and
/// `virhostmem.c` read them.
pub(crate) mod kernel {
    use crate::connect::{Error, NodeStat, Result};
    use crate::error::ErrorCode;

    /// `/proc/stat` counts in USER_HZ, which Linux fixes at 100 for every
    /// interface it exports.
    const NS_PER_TICK: u64 = 10_000_000;

    /// libvirt's `virHostCPUGetStatsLinux`: kernel (system, irq, softirq),
    /// user (user, nice), idle and iowait of the `cpu` line or `cpuN`.
    pub fn cpu_stats(stat: &str, cpu: i32) -> Result<Vec<NodeStat>> {
        let prefix = if cpu < 0 {
            "cpu".to_string()
        } else {
            format!("cpu{cpu}")
        };
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(prefix.as_str()))
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    "Invalid cpuNum in virHostCPUGetStatsLinux",
                )
            })?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        let (user, nice, system, idle, iowait, irq, softirq) =
            (at(0), at(1), at(2), at(3), at(4), at(5), at(6));
        Ok(vec![
            ("kernel".into(), (system + irq + softirq) * NS_PER_TICK),
            ("user".into(), (user + nice) * NS_PER_TICK),
            ("idle".into(), idle * NS_PER_TICK),
            ("iowait".into(), iowait * NS_PER_TICK),
        ])
    }

    /// libvirt's `virHostMemGetStats`: total, free, buffers and cached, in KiB.
    pub fn memory_stats(meminfo: &str) -> Result<Vec<NodeStat>> {
        let field = |name: &str| {
            meminfo.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
        };
        let mut out = Vec::new();
        for (key, name) in [
            ("total", "MemTotal"),
            ("free", "MemFree"),
            ("buffers", "Buffers"),
            ("cached", "Cached"),
        ] {
            let v = field(name).ok_or_else(|| {
                Error::api(
                    ErrorCode::INTERNAL_ERROR,
                    format!("no {name} in /proc/meminfo"),
                )
            })?;
            out.push((key.to_string(), v));
        }
        Ok(out)
    }

    /// A kernel CPU list (`0-3,5`).
    pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
        let bad = || {
            Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!("Failed to parse bitmap '{}'", text.trim()),
            )
        };
        let mut out = Vec::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (usize, usize) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    out.extend(a..=b);
                }
                None => out.push(part.parse().map_err(|_| bad())?),
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn proc_stat_as_libvirt_reads_it() {
            let stat = "cpu  10 1 20 300 4 5 6 0 0 0\ncpu0 5 0 10 150 2 2 3 0 0 0\nintr 1\n";
            let all = cpu_stats(stat, -1).unwrap();
            assert_eq!(all[0], ("kernel".into(), 31 * NS_PER_TICK));
            assert_eq!(all[1], ("user".into(), 11 * NS_PER_TICK));
            assert_eq!(cpu_stats(stat, 0).unwrap()[2].1, 150 * NS_PER_TICK);
            assert_eq!(
                cpu_stats(stat, 1).unwrap_err().code(),
                ErrorCode::INVALID_ARG
            );
        }

        #[test]
        fn meminfo_and_cpu_lists() {
            let m = "MemTotal:  100 kB\nMemFree: 40 kB\nBuffers: 3 kB\nCached: 7 kB\nSwapCached: 1 kB\n";
            let s = memory_stats(m).unwrap();
            assert_eq!(s[1], ("free".into(), 40));
            assert_eq!(s[3], ("cached".into(), 7));
            assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        }
    }
}
