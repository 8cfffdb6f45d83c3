//! Host monitoring through a daemon: node CPU and memory counters, free
//! memory per NUMA cell, the CPU map and the CPU model names.

use wirt::connect::{
    BlockInfo, CpuMap, DomainRef, HostBackend, MonitorBackend, NodeStat, Result, StatValue,
    VcpuInfo,
};

use super::RemoteConn;
use crate::protocol::*;
use crate::refs::wire_domain;

/// How many vCPU maps to ask for: more than any domain has.
const MAX_VCPUS: i32 = 4096;

impl RemoteConn {
    /// Bytes per CPU map: enough for every CPU the daemon's host reports.
    fn maplen(&self) -> i32 {
        let n = self.node_info();
        let cpus = n
            .cpus
            .max(n.numa_nodes * n.sockets * n.cores * n.threads)
            .max(1);
        cpus.div_ceil(8) as i32
    }
}

fn from_map(bytes: &[u8]) -> Vec<bool> {
    (0..bytes.len() * 8)
        .map(|n| bytes[n / 8] & (1 << (n % 8)) != 0)
        .collect()
}

fn to_map(cpus: &[bool]) -> Vec<u8> {
    let mut bytes = vec![0u8; cpus.len().div_ceil(8)];
    for (n, _) in cpus.iter().enumerate().filter(|(_, b)| **b) {
        bytes[n / 8] |= 1 << (n % 8);
    }
    bytes
}

impl MonitorBackend for RemoteConn {
    /// One call asking for as many counters as the protocol carries: the
    /// daemon fills what it has, so the count-first round trip libvirt's
    /// client makes is not needed.
    fn node_cpu_stats(&self, cpu: i32, flags: u32) -> Result<Vec<NodeStat>> {
        let args = NodeGetCpuStatsArgs {
            cpu_num: cpu,
            nparams: REMOTE_NODE_CPU_STATS_MAX as i32,
            flags,
        };
        let ret: NodeGetCpuStatsRet = self.call(REMOTE_PROC_NODE_GET_CPU_STATS, &args)?;
        Ok(ret.params.into_iter().map(|p| (p.field, p.value)).collect())
    }

    fn node_memory_stats(&self, cell: i32, flags: u32) -> Result<Vec<NodeStat>> {
        let args = NodeGetMemoryStatsArgs {
            nparams: REMOTE_NODE_MEMORY_STATS_MAX as i32,
            cell_num: cell,
            flags,
        };
        let ret: NodeGetMemoryStatsRet = self.call(REMOTE_PROC_NODE_GET_MEMORY_STATS, &args)?;
        Ok(ret.params.into_iter().map(|p| (p.field, p.value)).collect())
    }

    fn node_cells_free_memory(&self, start: i32, max: i32) -> Result<Vec<u64>> {
        let args = NodeGetCellsFreeMemoryArgs {
            start_cell: start,
            maxcells: max.min(REMOTE_NODE_MAX_CELLS as i32),
        };
        let ret: NodeGetCellsFreeMemoryRet =
            self.call(REMOTE_PROC_NODE_GET_CELLS_FREE_MEMORY, &args)?;
        Ok(ret.cells)
    }

    fn node_free_memory(&self) -> Result<u64> {
        let ret: NodeGetFreeMemoryRet = self.call(REMOTE_PROC_NODE_GET_FREE_MEMORY, &())?;
        Ok(ret.free_mem)
    }

    fn node_cpu_map(&self, flags: u32) -> Result<CpuMap> {
        let args = NodeGetCpuMapArgs {
            need_map: 1,
            need_online: 1,
            flags,
        };
        let ret: NodeGetCpuMapRet = self.call(REMOTE_PROC_NODE_GET_CPU_MAP, &args)?;
        Ok(CpuMap::from_bytes(
            &ret.cpumap,
            u32::try_from(ret.ret).unwrap_or(0),
        ))
    }

    fn cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        let args = ConnectGetCpuModelNamesArgs {
            arch: arch.to_string(),
            need_results: 1,
            flags,
        };
        let ret: ConnectGetCpuModelNamesRet =
            self.call(REMOTE_PROC_CONNECT_GET_CPU_MODEL_NAMES, &args)?;
        Ok(ret.models)
    }

    fn domain_memory_stats(&self, dom: &DomainRef, flags: u32) -> Result<Vec<(u32, u64)>> {
        let args = DomainMemoryStatsArgs {
            dom: wire_domain(dom),
            max_stats: wirt::connect::memory_stat::NR,
            flags,
        };
        let ret: DomainMemoryStatsRet = self.call(REMOTE_PROC_DOMAIN_MEMORY_STATS, &args)?;
        Ok(ret
            .stats
            .into_iter()
            .map(|s| (s.tag as u32, s.val))
            .collect())
    }

    fn domain_block_info(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<BlockInfo> {
        let args = DomainGetBlockInfoArgs {
            dom: wire_domain(dom),
            path: disk.to_string(),
            flags,
        };
        let r: DomainGetBlockInfoRet = self.call(REMOTE_PROC_DOMAIN_GET_BLOCK_INFO, &args)?;
        Ok(BlockInfo {
            capacity: r.capacity,
            allocation: r.allocation,
            physical: r.physical,
        })
    }

    fn domain_vcpu_info(&self, dom: &DomainRef) -> Result<Vec<VcpuInfo>> {
        let maplen = self.maplen();
        let args = DomainGetVcpusArgs {
            dom: wire_domain(dom),
            maxinfo: MAX_VCPUS,
            maplen,
        };
        let r: DomainGetVcpusRet = self.call(REMOTE_PROC_DOMAIN_GET_VCPUS, &args)?;
        let maps: Vec<&[u8]> = r.cpumaps.chunks(maplen as usize).collect();
        Ok(r.info
            .into_iter()
            .enumerate()
            .map(|(i, v)| VcpuInfo {
                number: v.number,
                state: v.state,
                cpu_time_ns: v.cpu_time,
                cpu: v.cpu,
                affinity: maps.get(i).map(|m| from_map(m)).unwrap_or_default(),
            })
            .collect())
    }

    fn domain_vcpu_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<Vec<bool>>> {
        let maplen = self.maplen();
        let args = DomainGetVcpuPinInfoArgs {
            dom: wire_domain(dom),
            ncpumaps: MAX_VCPUS,
            maplen,
            flags,
        };
        let r: DomainGetVcpuPinInfoRet = self.call(REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, &args)?;
        Ok(r.cpumaps
            .chunks(maplen as usize)
            .take(usize::try_from(r.num).unwrap_or(0))
            .map(from_map)
            .collect())
    }

    fn domain_pin_vcpu(&self, dom: &DomainRef, vcpu: u32, cpus: &[bool], flags: u32) -> Result<()> {
        let args = DomainPinVcpuFlagsArgs {
            dom: wire_domain(dom),
            vcpu,
            cpumap: to_map(cpus),
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS, &args)?;
        Ok(())
    }

    fn domain_emulator_pin_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<bool>> {
        let args = DomainGetEmulatorPinInfoArgs {
            dom: wire_domain(dom),
            maplen: self.maplen(),
            flags,
        };
        let r: DomainGetEmulatorPinInfoRet =
            self.call(REMOTE_PROC_DOMAIN_GET_EMULATOR_PIN_INFO, &args)?;
        Ok(from_map(&r.cpumaps))
    }

    fn domain_pin_emulator(&self, dom: &DomainRef, cpus: &[bool], flags: u32) -> Result<()> {
        let args = DomainPinEmulatorArgs {
            dom: wire_domain(dom),
            cpumap: to_map(cpus),
            flags,
        };
        self.call::<_, ()>(REMOTE_PROC_DOMAIN_PIN_EMULATOR, &args)?;
        Ok(())
    }

    fn domain_cpu_count(&self, dom: &DomainRef) -> Result<u32> {
        let args = DomainGetCpuStatsArgs {
            dom: wire_domain(dom),
            nparams: 0,
            start_cpu: 0,
            ncpus: 0,
            flags: 0,
        };
        let r: DomainGetCpuStatsRet = self.call(REMOTE_PROC_DOMAIN_GET_CPU_STATS, &args)?;
        Ok(u32::try_from(r.nparams).unwrap_or(0))
    }

    /// Asks for the count of parameters per record first, as libvirt's
    /// client does, then the records, split by that stride.
    fn domain_cpu_stats(
        &self,
        dom: &DomainRef,
        start_cpu: i32,
        ncpus: u32,
    ) -> Result<Vec<Vec<(String, StatValue)>>> {
        let ask = |nparams: u32, ncpus: u32| -> Result<DomainGetCpuStatsRet> {
            let args = DomainGetCpuStatsArgs {
                dom: wire_domain(dom),
                nparams,
                start_cpu,
                ncpus,
                flags: 0,
            };
            Ok(self.call(REMOTE_PROC_DOMAIN_GET_CPU_STATS, &args)?)
        };
        let per = ask(0, 1)?.nparams.max(0) as u32;
        if per == 0 {
            return Ok(Vec::new());
        }
        let ncpus = ncpus.min(REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX);
        let r = ask(per.min(REMOTE_NODE_CPU_STATS_MAX), ncpus)?;
        let stride = r.nparams.max(1) as usize;
        Ok(super::stats::values(r.params)
            .chunks(stride)
            .map(|c| c.to_vec())
            .collect())
    }

    fn domain_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        let args = DomainGetSchedulerTypeArgs {
            dom: wire_domain(dom),
        };
        let r: DomainGetSchedulerTypeRet =
            self.call(REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE, &args)?;
        Ok((r.r#type, r.nparams))
    }

    fn domain_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<(String, StatValue)>> {
        let nparams = REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX as i32;
        let params = if flags == 0 {
            let args = DomainGetSchedulerParametersArgs {
                dom: wire_domain(dom),
                nparams,
            };
            let r: DomainGetSchedulerParametersRet =
                self.call(REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS, &args)?;
            r.params
        } else {
            let args = DomainGetSchedulerParametersFlagsArgs {
                dom: wire_domain(dom),
                nparams,
                flags,
            };
            let r: DomainGetSchedulerParametersFlagsRet =
                self.call(REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS, &args)?;
            r.params
        };
        Ok(super::stats::values(params))
    }

    fn domain_set_scheduler_parameters(
        &self,
        dom: &DomainRef,
        params: &[(String, StatValue)],
        flags: Option<u32>,
    ) -> Result<()> {
        let params: Vec<TypedParam> = params
            .iter()
            .map(|(field, v)| TypedParam {
                field: field.clone(),
                value: match v {
                    StatValue::Int(v) => TypedParamValue::Int(*v),
                    StatValue::UInt(v) => TypedParamValue::Uint(*v),
                    StatValue::ULLong(v) => TypedParamValue::Ullong(*v),
                    StatValue::String(v) => TypedParamValue::String(v.clone()),
                },
            })
            .collect();
        match flags {
            None => {
                let args = DomainSetSchedulerParametersArgs {
                    dom: wire_domain(dom),
                    params,
                };
                self.call::<_, ()>(REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS, &args)?;
            }
            Some(flags) => {
                let args = DomainSetSchedulerParametersFlagsArgs {
                    dom: wire_domain(dom),
                    params,
                    flags,
                };
                self.call::<_, ()>(REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS, &args)?;
            }
        }
        Ok(())
    }
}
