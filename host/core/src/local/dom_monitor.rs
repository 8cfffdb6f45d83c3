//! Guest monitoring for the in-process backend: memory figures, disk
//! sizes, vCPUs and their pinning. A `test:` domain answers with libvirt's
//! test driver's figures; a `kvm:` domain is measured from outside its VMM
//! (`/proc/<vmm>`, the disk files), and its vCPU threads are pinned from
//! the host with `sched_setaffinity`, as the VMM's seccomp filter allows it
//! no such call.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use wirt_vocab::monitor::{memory_stat as tag, vcpu_state};

use super::domain::persist;
use super::domain_config::affected;
use super::monitor::Source;
use super::{Local, convert};
use crate::connect::{
    BlockInfo, DomainBackend, DomainRef, Error, Result, StatValue, VcpuInfo, format_cpu_list,
};
use crate::error::ErrorCode;
use crate::xml::cpuset::CpuSet as CpuList;
use crate::xml::domain::DomainDef;
use crate::xml::tree::{Element, Node};

fn not_running() -> Error {
    Error::api(ErrorCode::OPERATION_INVALID, "domain is not running")
}

/// libvirt's test driver reports this fixed `last_update`.
const TEST_LAST_UPDATE: u64 = 627_319_920;

/// A cpuset attribute as one bool per host CPU; None if it does not parse.
/// The definition a pinning query reads: the live one or the next boot's,
/// not both (libvirt's error).
fn queried_def(obj: &crate::registry::DomainObj, flags: u32) -> Result<&DomainDef> {
    let (live, config) = affected(obj, flags)?;
    if live && config {
        return Err(Error::api(
            ErrorCode::INVALID_ARG,
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    Ok(if live { obj.def() } else { obj.inactive_def() })
}

fn cpus_of(text: &str, host_cpus: usize) -> Option<Vec<bool>> {
    let set = CpuList::parse(text).ok()?;
    Some((0..host_cpus).map(|n| set.contains(n as u32)).collect())
}

/// Each vCPU's allowed CPUs by the definition: its `<vcpupin>`, else the
/// `<vcpu cpuset>`, else every host CPU (libvirt's
/// `virDomainDefGetVcpuPinInfoHelper`).
fn pins_of(def: &DomainDef, host_cpus: usize) -> Vec<Vec<bool>> {
    let all = vec![true; host_cpus];
    let default = def
        .vcpu_attrs
        .iter()
        .find(|(k, _)| k == "cpuset")
        .and_then(|(_, v)| cpus_of(v, host_cpus))
        .unwrap_or(all);
    let cputune = def.extra.iter().find(|e| e.name == "cputune");
    (0..def.vcpus)
        .map(|i| {
            cputune
                .and_then(|t| {
                    t.children_named("vcpupin")
                        .find(|p| p.attr("vcpu") == Some(&i.to_string()))
                })
                .and_then(|p| p.attr("cpuset"))
                .and_then(|c| cpus_of(c, host_cpus))
                .unwrap_or_else(|| default.clone())
        })
        .collect()
}

/// Records `<cputune><vcpupin vcpu=N cpuset=.../>`, in vCPU order.
fn set_pin(def: &mut DomainDef, vcpu: u32, cpus: &[bool]) {
    let at = match def.extra.iter().position(|e| e.name == "cputune") {
        Some(at) => at,
        None => {
            def.extra.push(Element::new("cputune"));
            def.extra.len() - 1
        }
    };
    let tune = &mut def.extra[at];
    let is_pin = |n: &Node, v: u32| matches!(n, Node::Element(e) if e.name == "vcpupin" && e.attr("vcpu") == Some(&v.to_string()));
    tune.children.retain(|n| !is_pin(n, vcpu));
    let pin = Element::new("vcpupin")
        .with_attr("vcpu", vcpu.to_string())
        .with_attr("cpuset", format_cpu_list(cpus));
    let before = tune.children.iter().position(|n| {
        matches!(n, Node::Element(e) if e.name != "vcpupin"
            || e.attr("vcpu").and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v > vcpu))
    });
    match before {
        Some(i) => tune.children.insert(i, Node::Element(pin)),
        None => tune.children.push(Node::Element(pin)),
    }
}

/// `/proc/<pid>/status`'s `VmRSS`, KiB.
fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = read(&format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("cannot read {path}"),
        source,
    })
}

/// The VMM's vCPU threads (named `vcpuN`) by vCPU number.
fn vcpu_threads(pid: u32) -> Result<Vec<(u32, i32)>> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        what: format!("cannot read {dir}"),
        source,
    })?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<i32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if let Some(n) = comm
            .trim()
            .strip_prefix("vcpu")
            .and_then(|n| n.parse().ok())
        {
            out.push((n, tid));
        }
    }
    out.sort();
    Ok(out)
}

/// A thread's CPU time (utime + stime, ns) and last CPU, from its `stat`.
fn thread_stat(pid: u32, tid: i32) -> Result<(u64, i32)> {
    let stat = read(&format!("/proc/{pid}/task/{tid}/stat"))?;
    // Fields after the parenthesised name, which may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3, so field N is f[N - 3].
    let num = |n: usize| {
        f.get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = num(14) + num(15);
    Ok((ticks * 10_000_000, num(39) as i32))
}

impl Local {
    /// How many host CPUs a CPU set covers: libvirt's test driver counts
    /// its node's nodes × sockets × cores × threads; kvm the present CPUs.
    fn host_cpus(&self) -> usize {
        let n = &self.state.node;
        match self.source() {
            Source::Test => (n.numa_nodes * n.sockets * n.cores * n.threads).max(1) as usize,
            _ => std::fs::read_to_string("/sys/devices/system/cpu/present")
                .ok()
                .and_then(|t| super::monitor::kernel::parse_cpu_list(&t).ok())
                .and_then(|l| l.into_iter().max())
                .map_or(n.cpus.max(1) as usize, |m| m + 1),
        }
    }

    fn vmm_pid(&self, dom: &DomainRef) -> Result<u32> {
        Ok(self
            .state
            .drivers
            .hypervisor
            .process_id(&dom.uuid.to_string())?)
    }

    pub(super) fn dom_memory_stats(&self, dom: &DomainRef) -> Result<Vec<(u32, u64)>> {
        if !self.domain_is_active(dom)? {
            return Err(not_running());
        }
        let cur = self.domain_info(dom)?.memory_kib;
        match self.source() {
            Source::Test => {
                // Only a domain with a balloon reports, as libvirt's test driver.
                let balloon = self.with(dom, |reg, uuid| {
                    let def = reg.domain(uuid).expect("checked").def();
                    Ok(def.devices.iter().any(|d| {
                        d.name == "memballoon" && d.attr("model").is_some_and(|m| m != "none")
                    }))
                })?;
                if !balloon {
                    return Ok(Vec::new());
                }
                Ok(vec![
                    (tag::ACTUAL_BALLOON, cur),
                    (tag::SWAP_IN, 0),
                    (tag::SWAP_OUT, 0),
                    (tag::MAJOR_FAULT, 0),
                    (tag::MINOR_FAULT, 0),
                    (tag::UNUSED, cur / 2),
                    (tag::AVAILABLE, cur),
                    (tag::USABLE, cur / 2),
                    (tag::LAST_UPDATE, TEST_LAST_UPDATE),
                    (tag::DISK_CACHES, cur / 8),
                    (tag::HUGETLB_PGALLOC, 0),
                    (tag::HUGETLB_PGFAIL, 0),
                    (tag::RSS, cur / 2),
                ])
            }
            // As libvirt's qemu driver without a balloon: the current size
            // and what the VMM process holds.
            Source::Kernel => Ok(vec![
                (tag::ACTUAL_BALLOON, cur),
                (tag::RSS, vm_rss_kib(self.vmm_pid(dom)?)?),
            ]),
            Source::None => Err(Error::api(ErrorCode::NO_SUPPORT, "virDomainMemoryStats")),
        }
    }

    pub(super) fn dom_block_info(&self, dom: &DomainRef, disk: &str) -> Result<BlockInfo> {
        let source = self.source();
        let disks = self.with(dom, |reg, uuid| {
            let def = reg.domain(uuid).expect("checked").def().clone();
            Ok(self
                .driver_config(reg, &def, None)
                .unwrap_or_else(|_| convert::domain_config(&def, None, &|_, _| None))
                .disks)
        })?;
        let d = disks
            .iter()
            .find(|d| d.target_dev == disk || d.source.as_deref() == Some(disk))
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("invalid path {disk} not assigned to domain"),
                )
            })?;
        match source {
            Source::Test => Ok(BlockInfo {
                capacity: 1_099_506_450_432,
                allocation: 1_099_511_627_776,
                physical: 1_099_511_627_776,
            }),
            Source::Kernel => {
                let path = d.source.clone().ok_or_else(|| {
                    Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("disk '{disk}' does not have a source"),
                    )
                })?;
                file_block_info(&path, d.format.as_deref())
            }
            Source::None => Err(Error::api(ErrorCode::NO_SUPPORT, "virDomainGetBlockInfo")),
        }
    }

    pub(super) fn dom_vcpu_info(&self, dom: &DomainRef) -> Result<Vec<VcpuInfo>> {
        if !self.domain_is_active(dom)? {
            return Err(Error::api(
                ErrorCode::OPERATION_INVALID,
                "cannot list vcpus for an inactive domain",
            ));
        }
        let host = self.host_cpus();
        let (pins, online) = self.with(dom, |reg, uuid| {
            let def = reg.domain(uuid).expect("checked").def();
            Ok((pins_of(def, host), def.current_vcpus.unwrap_or(def.vcpus)))
        })?;
        match self.source() {
            Source::Test => {
                // libvirt's test driver fakes a CPU time that grows: the
                // wall clock in µs, read as ns / 10.
                let now_us = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as u64);
                Ok(pins
                    .into_iter()
                    .take(online as usize)
                    .enumerate()
                    .map(|(i, affinity)| VcpuInfo {
                        number: i as u32,
                        state: vcpu_state::RUNNING,
                        cpu_time_ns: now_us / 10,
                        cpu: affinity.iter().rposition(|&b| b).map_or(-1, |c| c as i32),
                        affinity,
                    })
                    .collect())
            }
            Source::Kernel => {
                let pid = self.vmm_pid(dom)?;
                vcpu_threads(pid)?
                    .into_iter()
                    .map(|(n, tid)| {
                        let (cpu_time_ns, cpu) = thread_stat(pid, tid)?;
                        let set = sched_getaffinity(Pid::from_raw(tid)).map_err(|e| {
                            Error::api(
                                ErrorCode::SYSTEM_ERROR,
                                format!("cannot get CPU affinity of process {tid}: {e}"),
                            )
                        })?;
                        Ok(VcpuInfo {
                            number: n,
                            state: vcpu_state::RUNNING,
                            cpu_time_ns,
                            cpu,
                            affinity: (0..host).map(|c| set.is_set(c).unwrap_or(false)).collect(),
                        })
                    })
                    .collect()
            }
            Source::None => Err(Error::api(ErrorCode::NO_SUPPORT, "virDomainGetVcpus")),
        }
    }

    pub(super) fn dom_vcpu_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<Vec<bool>>> {
        let host = self.host_cpus();
        self.with(dom, |reg, uuid| {
            let def = queried_def(reg.domain(uuid).expect("checked"), flags)?;
            Ok(pins_of(def, host))
        })
    }

    pub(super) fn dom_pin_vcpu(
        &self,
        dom: &DomainRef,
        vcpu: u32,
        cpus: &[bool],
        flags: u32,
    ) -> Result<()> {
        let host = self.host_cpus();
        let mut cpus = cpus.to_vec();
        cpus.resize(host, false);
        if !cpus.iter().any(|&b| b) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "Invalid CPU map: no host CPU of this host is set",
            ));
        }
        let source = self.source();
        // libvirt's test driver pins only a running domain's live vCPUs,
        // and takes no flags.
        if source == Source::Test {
            if flags != 0 {
                return Err(crate::connect::invalid_arg(&format!(
                    "unsupported flags (0x{flags:x}) in function testDomainPinVcpuFlags"
                )));
            }
            if !self.domain_is_active(dom)? {
                return Err(Error::api(
                    ErrorCode::OPERATION_INVALID,
                    "cannot pin vcpus on an inactive domain",
                ));
            }
        }
        let pid = if source == Source::Kernel && self.domain_is_active(dom)? {
            Some(self.vmm_pid(dom)?)
        } else {
            None
        };
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            let absent = || {
                Error::api(
                    ErrorCode::INVALID_ARG,
                    format!("requested vcpu '{vcpu}' is not present in the domain"),
                )
            };
            if live {
                let def = obj.def();
                if vcpu >= def.current_vcpus.unwrap_or(def.vcpus) {
                    return Err(absent());
                }
                if let Some(pid) = pid {
                    pin_thread(pid, vcpu, &cpus)?;
                }
                if let Some(def) = obj.live.as_mut() {
                    set_pin(def, vcpu, &cpus);
                }
            }
            if config {
                let def = obj.config.as_mut().expect("affected() checked persistence");
                if vcpu >= def.vcpus {
                    return Err(absent());
                }
                set_pin(def, vcpu, &cpus);
            }
            persist(&self.state, reg, uuid)?;
            // The live definition of a running domain outlives this process
            // in its runtime record.
            Ok(reg.record_runtime(uuid)?)
        })
    }
}

/// Sets the affinity of the VMM's thread for `vcpu`.
fn pin_thread(pid: u32, vcpu: u32, cpus: &[bool]) -> Result<()> {
    let tid = vcpu_threads(pid)?
        .into_iter()
        .find(|(n, _)| *n == vcpu)
        .map(|(_, tid)| tid)
        .ok_or_else(|| {
            Error::api(
                ErrorCode::INTERNAL_ERROR,
                format!("cannot find the thread of vcpu {vcpu}"),
            )
        })?;
    let mut set = CpuSet::new();
    for (c, _) in cpus.iter().enumerate().filter(|(_, b)| **b) {
        set.set(c).map_err(|e| {
            Error::api(
                ErrorCode::INVALID_ARG,
                format!("CPU {c} is out of range: {e}"),
            )
        })?;
    }
    sched_setaffinity(Pid::from_raw(tid), &set).map_err(|e| {
        Error::api(
            ErrorCode::SYSTEM_ERROR,
            format!("cannot set CPU affinity on process {tid}: {e}"),
        )
    })
}

/// libvirt's sizes of a file-backed disk: capacity as the guest sees it
/// (a qcow2 header's virtual size), the blocks allocated, the file's size.
fn file_block_info(path: &str, format: Option<&str>) -> Result<BlockInfo> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let io = |source| Error::Io {
        what: format!("cannot stat file '{path}'"),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let physical = meta.len();
    let mut capacity = physical;
    if format == Some("qcow2") {
        let mut header = [0u8; 32];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut header))
            .map_err(io)?;
        if &header[..4] == b"QFI\xfb" {
            capacity = u64::from_be_bytes(header[24..32].try_into().expect("8 bytes"));
        }
    }
    Ok(BlockInfo {
        capacity,
        allocation: meta.blocks() * 512,
        physical,
    })
}

/// The kernel's CFS weight for each nice value from -20 to 19
/// (`sched_prio_to_weight`): what a cgroup's `cpu.shares` competes with.
const CFS_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// The CFS weight of a process, from the nice value in its `stat`.
fn cfs_weight(pid: u32) -> Result<u64> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // nice is field 19; field 3 is the first after the name.
    let nice: i64 = rest
        .split_whitespace()
        .nth(19 - 3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(CFS_WEIGHT[(nice.clamp(-20, 19) + 20) as usize])
}

impl Local {
    pub(super) fn dom_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        match self.source() {
            // libvirt's test driver: a "fair" scheduler with a weight.
            Source::Test => {
                self.domain_is_active(dom)?;
                Ok(("fair".into(), 1))
            }
            Source::Kernel => {
                self.domain_is_active(dom)?;
                Ok(("posix".into(), 1))
            }
            Source::None => Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainGetSchedulerType",
            )),
        }
    }

    pub(super) fn dom_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<(String, StatValue)>> {
        match self.source() {
            Source::Test => {
                self.domain_is_active(dom)?;
                if flags != 0 {
                    return Err(crate::connect::invalid_arg(&format!(
                        "unsupported flags (0x{flags:x}) in function \
                         testDomainGetSchedulerParametersFlags"
                    )));
                }
                Ok(vec![("weight".into(), StatValue::UInt(50))])
            }
            // The running VMM's CFS weight, which is what cpu_shares weighs
            // against; there is no cgroup of the guest's own.
            Source::Kernel => {
                if !self.domain_is_active(dom)? {
                    return Err(not_running());
                }
                if flags & 2 != 0 {
                    return Err(Error::api(
                        ErrorCode::OPERATION_UNSUPPORTED,
                        "the kvm driver keeps no scheduler parameters in the definition",
                    ));
                }
                let weight = cfs_weight(self.vmm_pid(dom)?)?;
                Ok(vec![("cpu_shares".into(), StatValue::ULLong(weight))])
            }
            Source::None => Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainGetSchedulerParameters",
            )),
        }
    }

    pub(super) fn dom_set_scheduler_parameters(
        &self,
        dom: &DomainRef,
        params: &[(String, StatValue)],
        flags: Option<u32>,
    ) -> Result<()> {
        match self.source() {
            // libvirt's test driver checks the parameters and keeps nothing.
            Source::Test => {
                self.domain_is_active(dom)?;
                if let Some(f) = flags.filter(|&f| f != 0) {
                    return Err(crate::connect::invalid_arg(&format!(
                        "unsupported flags (0x{f:x}) in function testDomainSetSchedulerParametersFlags"
                    )));
                }
                for (name, value) in params {
                    if name != "weight" {
                        return Err(Error::api(
                            ErrorCode::ARGUMENT_UNSUPPORTED,
                            format!("parameter '{name}' not supported"),
                        ));
                    }
                    if !matches!(value, StatValue::UInt(_)) {
                        return Err(Error::api(
                            ErrorCode::INVALID_ARG,
                            format!("invalid type for parameter '{name}', expected 'uint'"),
                        ));
                    }
                }
                Ok(())
            }
            Source::Kernel => Err(Error::api(
                ErrorCode::OPERATION_UNSUPPORTED,
                "setting scheduler parameters is not supported by the kvm driver",
            )),
            Source::None => Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainSetSchedulerParameters",
            )),
        }
    }
}

/// The emulator threads' allowed CPUs by the definition: its
/// `<emulatorpin>`, else the `<vcpu cpuset>`, else every host CPU.
fn emulator_pin_of(def: &DomainDef, host_cpus: usize) -> Vec<bool> {
    def.extra
        .iter()
        .find(|e| e.name == "cputune")
        .and_then(|t| t.child("emulatorpin"))
        .and_then(|p| p.attr("cpuset"))
        .or_else(|| {
            def.vcpu_attrs
                .iter()
                .find(|(k, _)| k == "cpuset")
                .map(|(_, v)| v.as_str())
        })
        .and_then(|c| cpus_of(c, host_cpus))
        .unwrap_or_else(|| vec![true; host_cpus])
}

/// Records `<cputune><emulatorpin cpuset=.../>`.
fn set_emulator_pin(def: &mut DomainDef, cpus: &[bool]) {
    let at = match def.extra.iter().position(|e| e.name == "cputune") {
        Some(at) => at,
        None => {
            def.extra.push(Element::new("cputune"));
            def.extra.len() - 1
        }
    };
    let tune = &mut def.extra[at];
    tune.children
        .retain(|n| !matches!(n, Node::Element(e) if e.name == "emulatorpin"));
    tune.children.push(Node::Element(
        Element::new("emulatorpin").with_attr("cpuset", format_cpu_list(cpus)),
    ));
}

/// Sets the affinity of every VMM thread that is not a vCPU's.
fn pin_emulator_threads(pid: u32, cpus: &[bool]) -> Result<()> {
    let vcpus: Vec<i32> = vcpu_threads(pid)?.into_iter().map(|(_, t)| t).collect();
    let dir = format!("/proc/{pid}/task");
    let tids: Vec<i32> = std::fs::read_dir(&dir)
        .map_err(|source| Error::Io {
            what: format!("cannot read {dir}"),
            source,
        })?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|t| !vcpus.contains(t))
        .collect();
    let mut set = CpuSet::new();
    for (c, _) in cpus.iter().enumerate().filter(|(_, b)| **b) {
        set.set(c).map_err(|e| {
            Error::api(
                ErrorCode::INVALID_ARG,
                format!("CPU {c} is out of range: {e}"),
            )
        })?;
    }
    for tid in tids {
        sched_setaffinity(Pid::from_raw(tid), &set).map_err(|e| {
            Error::api(
                ErrorCode::SYSTEM_ERROR,
                format!("cannot set CPU affinity on process {tid}: {e}"),
            )
        })?;
    }
    Ok(())
}

impl Local {
    pub(super) fn dom_emulator_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<bool>> {
        let host = self.host_cpus();
        self.with(dom, |reg, uuid| {
            let def = queried_def(reg.domain(uuid).expect("checked"), flags)?;
            Ok(emulator_pin_of(def, host))
        })
    }

    pub(super) fn dom_pin_emulator(
        &self,
        dom: &DomainRef,
        cpus: &[bool],
        flags: u32,
    ) -> Result<()> {
        let host = self.host_cpus();
        let mut cpus = cpus.to_vec();
        cpus.resize(host, false);
        if !cpus.iter().any(|&b| b) {
            return Err(Error::api(
                ErrorCode::INVALID_ARG,
                "Invalid CPU map: no host CPU of this host is set",
            ));
        }
        let pid = if self.source() == Source::Kernel && self.domain_is_active(dom)? {
            Some(self.vmm_pid(dom)?)
        } else {
            None
        };
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            if live {
                if let Some(pid) = pid {
                    pin_emulator_threads(pid, &cpus)?;
                }
                if let Some(def) = obj.live.as_mut() {
                    set_emulator_pin(def, &cpus);
                }
            }
            if config {
                let def = obj.config.as_mut().expect("affected() checked persistence");
                set_emulator_pin(def, &cpus);
            }
            persist(&self.state, reg, uuid)?;
            Ok(reg.record_runtime(uuid)?)
        })
    }
}

/// libvirt's test driver: two host CPUs with fixed times (ns).
const TEST_CPUS: u32 = 2;
const TEST_CPU_TIME: u64 = 24_386_308_517;
const TEST_VCPU_TIME: u64 = 23_151_740_627;

/// A VMM's CPU time: ns on CPU over its threads (`schedstat`), and user
/// and system time (`stat`, all threads).
fn process_cpu_times(pid: u32) -> Result<(u64, u64, u64)> {
    let dir = format!("/proc/{pid}/task");
    let mut on_cpu = 0u64;
    for e in std::fs::read_dir(&dir)
        .map_err(|source| Error::Io {
            what: format!("cannot read {dir}"),
            source,
        })?
        .flatten()
    {
        let sched = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
        on_cpu += sched
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    let stat = read(&format!("/proc/{pid}/stat"))?;
    let f: Vec<u64> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = |n: usize| f.get(n - 3).copied().unwrap_or(0) * 10_000_000;
    Ok((on_cpu, ticks(14), ticks(15)))
}

impl Local {
    pub(super) fn dom_cpu_count(&self, dom: &DomainRef) -> Result<u32> {
        if !self.domain_is_active(dom)? {
            return Err(not_running());
        }
        match self.source() {
            Source::Test => Ok(TEST_CPUS),
            // Time per host CPU needs a cgroup's cpuacct: only the total here.
            _ => Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainGetCPUStats: per-CPU times",
            )),
        }
    }

    pub(super) fn dom_cpu_stats(
        &self,
        dom: &DomainRef,
        start_cpu: i32,
        ncpus: u32,
    ) -> Result<Vec<Vec<(String, StatValue)>>> {
        if !self.domain_is_active(dom)? {
            return Err(not_running());
        }
        let ns = StatValue::ULLong;
        match (self.source(), start_cpu) {
            (Source::Test, -1) => Ok(vec![vec![
                ("cpu_time".into(), ns(2 * TEST_CPU_TIME + 1)),
                ("user_time".into(), ns(5_540_000_000)),
                ("system_time".into(), ns(6_460_000_000)),
            ]]),
            (Source::Test, start) => {
                let start = start as u32;
                if start >= TEST_CPUS {
                    return Err(Error::api(
                        ErrorCode::INVALID_ARG,
                        format!("start_cpu {start} larger than maximum of {}", TEST_CPUS - 1),
                    ));
                }
                Ok((start..TEST_CPUS.min(start + ncpus))
                    .map(|c| {
                        vec![
                            ("cpu_time".into(), ns(TEST_CPU_TIME + u64::from(c))),
                            ("vcpu_time".into(), ns(TEST_VCPU_TIME + u64::from(c))),
                        ]
                    })
                    .collect())
            }
            (Source::Kernel, -1) => {
                let (cpu, user, system) = process_cpu_times(self.vmm_pid(dom)?)?;
                Ok(vec![vec![
                    ("cpu_time".into(), ns(cpu)),
                    ("user_time".into(), ns(user)),
                    ("system_time".into(), ns(system)),
                ]])
            }
            _ => Err(Error::api(
                ErrorCode::NO_SUPPORT,
                "virDomainGetCPUStats: per-CPU times",
            )),
        }
    }
}

impl Local {
    /// Applies the definition's `<cputune>` pins and `<vcpu cpuset>` to a
    /// kvm domain's threads once it runs, as libvirt does at start. A pin
    /// that fails leaves the guest running unpinned, with a warning.
    pub(super) fn apply_pins(&self, dom: &DomainRef) {
        if self.source() != Source::Kernel {
            return;
        }
        let host = self.host_cpus();
        let Ok(Some((pins, emulator))) = self.with(dom, |reg, uuid| {
            let def = reg.domain(uuid).expect("checked").def();
            let tune = def.extra.iter().find(|e| e.name == "cputune");
            let explicit = def.vcpu_attrs.iter().any(|(k, _)| k == "cpuset")
                || tune.is_some_and(|t| {
                    t.children_named("vcpupin").next().is_some() || t.child("emulatorpin").is_some()
                });
            Ok(explicit.then(|| (pins_of(def, host), emulator_pin_of(def, host))))
        }) else {
            return;
        };
        let applied = self.vmm_pid(dom).and_then(|pid| {
            for (vcpu, cpus) in pins.iter().enumerate() {
                if vcpu_threads(pid)?.iter().any(|(n, _)| *n == vcpu as u32) {
                    pin_thread(pid, vcpu as u32, cpus)?;
                }
            }
            pin_emulator_threads(pid, &emulator)
        });
        if let Err(e) = applied {
            tracing::warn!(domain = %dom.name, error = %e, "cannot apply the CPU pinning");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_recorded_in_vcpu_order() {
        let mut def = DomainDef::parse(
            "<domain type='test'><name>a</name><memory>1024</memory>\
             <vcpu cpuset='1-2'>3</vcpu><os><type>hvm</type></os></domain>",
            Default::default(),
        )
        .unwrap();
        let pins = pins_of(&def, 4);
        assert_eq!(pins[2], vec![false, true, true, false]);
        set_pin(&mut def, 2, &[true, false, false, true]);
        set_pin(&mut def, 0, &[false, false, false, true]);
        let pins = pins_of(&def, 4);
        assert_eq!(pins[0], vec![false, false, false, true]);
        assert_eq!(pins[1], vec![false, true, true, false]);
        assert_eq!(format_cpu_list(&pins[2]), "0,3");
        let tune = def.extra.iter().find(|e| e.name == "cputune").unwrap();
        let order: Vec<_> = tune
            .children_named("vcpupin")
            .map(|p| p.attr("vcpu").unwrap())
            .collect();
        assert_eq!(order, ["0", "2"]);
    }
}
