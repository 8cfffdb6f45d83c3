//! Host monitoring procedures: node CPU and memory counters, free memory
//! per NUMA cell, the CPU map and the CPU model names, with libvirtd's
//! rules for `nparams` (0 asks how many there are).

use super::handles::domain;
use super::wire::Routed;
use crate::protocol::*;
use wirt::connect::{Connect, CpuMap, Error, NodeStat, Result, StatValue};
use wirt::error::ErrorCode;

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::NodeGetCpuStats(a) => {
            let (params, nparams) = counted(
                conn.node_cpu_stats(a.cpu_num, a.flags),
                a.nparams,
                REMOTE_NODE_CPU_STATS_MAX,
            );
            params.map(|params| {
                Reply::NodeGetCpuStats(NodeGetCpuStatsRet {
                    params: params
                        .into_iter()
                        .map(|(field, value)| NodeGetCpuStats { field, value })
                        .collect(),
                    nparams,
                })
            })
        }
        Call::NodeGetMemoryStats(a) => {
            let (params, nparams) = counted(
                conn.node_memory_stats(a.cell_num, a.flags),
                a.nparams,
                REMOTE_NODE_MEMORY_STATS_MAX,
            );
            params.map(|params| {
                Reply::NodeGetMemoryStats(NodeGetMemoryStatsRet {
                    params: params
                        .into_iter()
                        .map(|(field, value)| NodeGetMemoryStats { field, value })
                        .collect(),
                    nparams,
                })
            })
        }
        Call::NodeGetCellsFreeMemory(a) => {
            if a.maxcells > REMOTE_NODE_MAX_CELLS as i32 {
                Err(Error::api(
                    ErrorCode::RPC,
                    "maxCells > REMOTE_NODE_MAX_CELLS",
                ))
            } else {
                conn.node_cells_free_memory(a.start_cell, a.maxcells)
                    .map(|cells| Reply::NodeGetCellsFreeMemory(NodeGetCellsFreeMemoryRet { cells }))
            }
        }
        Call::NodeGetFreeMemory(()) => conn
            .node_free_memory()
            .map(|free_mem| Reply::NodeGetFreeMemory(NodeGetFreeMemoryRet { free_mem })),
        Call::NodeGetCpuMap(a) => conn.node_cpu_map(a.flags).map(|map: CpuMap| {
            Reply::NodeGetCpuMap(NodeGetCpuMapRet {
                cpumap: if a.need_map != 0 {
                    map.to_bytes()
                } else {
                    Vec::new()
                },
                online: if a.need_online != 0 {
                    map.online_count()
                } else {
                    0
                },
                ret: map.present() as i32,
            })
        }),
        Call::ConnectGetCpuModelNames(a) => {
            conn.cpu_model_names(&a.arch, a.flags).and_then(|models| {
                let ret = models.len() as i32;
                if models.len() > REMOTE_CONNECT_CPU_MODELS_MAX as usize {
                    return Err(Error::api(ErrorCode::INTERNAL_ERROR, "Too many CPU models"));
                }
                Ok(Reply::ConnectGetCpuModelNames(ConnectGetCpuModelNamesRet {
                    models: if a.need_results != 0 {
                        models
                    } else {
                        Vec::new()
                    },
                    ret,
                }))
            })
        }
        Call::DomainMemoryStats(a) => {
            if a.max_stats > REMOTE_DOMAIN_MEMORY_STATS_MAX {
                Err(Error::api(
                    ErrorCode::RPC,
                    "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX",
                ))
            } else {
                domain(conn, a.dom).memory_stats(a.flags).map(|stats| {
                    Reply::DomainMemoryStats(DomainMemoryStatsRet {
                        stats: stats
                            .into_iter()
                            .take(a.max_stats as usize)
                            .map(|(tag, val)| DomainMemoryStat {
                                tag: tag as i32,
                                val,
                            })
                            .collect(),
                    })
                })
            }
        }
        Call::DomainGetBlockInfo(a) => domain(conn, a.dom).block_info(&a.path, a.flags).map(|b| {
            Reply::DomainGetBlockInfo(DomainGetBlockInfoRet {
                allocation: b.allocation,
                capacity: b.capacity,
                physical: b.physical,
            })
        }),
        Call::DomainGetVcpus(a) => get_vcpus(conn, a),
        Call::DomainGetVcpuPinInfo(a) => vcpu_pin_info(conn, a),
        Call::DomainPinVcpu(a) => domain(conn, a.dom)
            .pin_vcpu(a.vcpu, &from_map(&a.cpumap), 0)
            .map(Reply::DomainPinVcpu),
        Call::DomainPinVcpuFlags(a) => domain(conn, a.dom)
            .pin_vcpu(a.vcpu, &from_map(&a.cpumap), a.flags)
            .map(Reply::DomainPinVcpuFlags),
        Call::DomainGetEmulatorPinInfo(a) => {
            check_maps(1, a.maplen, 1, "maplen").and_then(|(_, maplen)| {
                let pins = domain(conn, a.dom).emulator_pin_info(a.flags)?;
                Ok(Reply::DomainGetEmulatorPinInfo(
                    DomainGetEmulatorPinInfoRet {
                        cpumaps: to_map(&pins, maplen),
                        ret: 1,
                    },
                ))
            })
        }
        Call::DomainPinEmulator(a) => domain(conn, a.dom)
            .pin_emulator(&from_map(&a.cpumap), a.flags)
            .map(Reply::DomainPinEmulator),
        Call::DomainGetCpuStats(a) => cpu_stats(conn, a),
        Call::DomainGetSchedulerType(a) => domain(conn, a.dom).scheduler_type().map(|(t, n)| {
            Reply::DomainGetSchedulerType(DomainGetSchedulerTypeRet {
                r#type: t,
                nparams: n,
            })
        }),
        Call::DomainGetSchedulerParameters(a) => scheduler_nparams(a.nparams).and_then(|n| {
            let params = domain(conn, a.dom).scheduler_parameters()?;
            Ok(Reply::DomainGetSchedulerParameters(
                DomainGetSchedulerParametersRet {
                    params: typed(params, n),
                },
            ))
        }),
        Call::DomainGetSchedulerParametersFlags(a) => {
            scheduler_nparams(a.nparams).and_then(|n| {
                // The client's library added VIR_TYPED_PARAM_STRING_OKAY.
                let params =
                    domain(conn, a.dom).scheduler_parameters_flags(a.flags & !STRING_OKAY)?;
                Ok(Reply::DomainGetSchedulerParametersFlags(
                    DomainGetSchedulerParametersFlagsRet {
                        params: typed(params, n),
                    },
                ))
            })
        }
        Call::DomainSetSchedulerParameters(a) => domain(conn, a.dom)
            .set_scheduler_parameters(&values(a.params), None)
            .map(Reply::DomainSetSchedulerParameters),
        Call::DomainSetSchedulerParametersFlags(a) => domain(conn, a.dom)
            .set_scheduler_parameters(&values(a.params), Some(a.flags & !STRING_OKAY))
            .map(Reply::DomainSetSchedulerParametersFlags),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}

/// libvirtd's `virDomainGetCPUStats`: with no parameters asked, a count
/// (CPUs for ncpus 0, else parameters per record); otherwise the records,
/// each `nparams` long, flattened.
fn cpu_stats(conn: &Connect, a: DomainGetCpuStatsArgs) -> Result<Reply> {
    if a.nparams > REMOTE_NODE_CPU_STATS_MAX {
        return Err(Error::api(ErrorCode::RPC, "nparams too large"));
    }
    if a.ncpus > REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX {
        return Err(Error::api(ErrorCode::RPC, "ncpus too large"));
    }
    let d = domain(conn, a.dom);
    let flags = a.flags & STRING_OKAY;
    if a.nparams == 0 {
        let n = if a.start_cpu != -1 && a.ncpus == 0 {
            d.cpu_stats_count()?
        } else {
            let start = if a.start_cpu == -1 { -1 } else { 0 };
            d.cpu_stats(start, 1, flags)?
                .first()
                .map_or(0, |r| r.len() as u32)
        };
        return Ok(Reply::DomainGetCpuStats(DomainGetCpuStatsRet {
            params: Vec::new(),
            nparams: n as i32,
        }));
    }
    let records = d.cpu_stats(a.start_cpu, a.ncpus, flags)?;
    let per = records
        .first()
        .map_or(0, |r| r.len().min(a.nparams as usize));
    let params = records.into_iter().flat_map(|r| typed(r, per)).collect();
    Ok(Reply::DomainGetCpuStats(DomainGetCpuStatsRet {
        params,
        nparams: per as i32,
    }))
}

/// `VIR_TYPED_PARAM_STRING_OKAY`, which libvirt's library adds to flags.
const STRING_OKAY: u32 = 4;

fn scheduler_nparams(n: i32) -> Result<usize> {
    if n < 0 || n as u32 > REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX {
        return Err(Error::api(ErrorCode::RPC, "nparams too large"));
    }
    Ok(n as usize)
}

fn typed(params: Vec<(String, StatValue)>, max: usize) -> Vec<TypedParam> {
    params
        .into_iter()
        .take(max)
        .map(|(field, v)| TypedParam {
            field,
            value: match v {
                StatValue::Int(v) => TypedParamValue::Int(v),
                StatValue::UInt(v) => TypedParamValue::Uint(v),
                StatValue::ULLong(v) => TypedParamValue::Ullong(v),
                StatValue::String(v) => TypedParamValue::String(v),
            },
        })
        .collect()
}

/// Typed parameters as the API's values; types it has no variant for
/// cross as text, which a driver then refuses by type.
fn values(params: Vec<TypedParam>) -> Vec<(String, StatValue)> {
    params
        .into_iter()
        .map(|p| {
            let v = match p.value {
                TypedParamValue::Int(v) => StatValue::Int(v),
                TypedParamValue::Uint(v) => StatValue::UInt(v),
                TypedParamValue::Ullong(v) => StatValue::ULLong(v),
                TypedParamValue::Llong(v) => StatValue::String(v.to_string()),
                TypedParamValue::Double(v) => StatValue::String(v.to_string()),
                TypedParamValue::Boolean(v) => StatValue::String(v.to_string()),
                TypedParamValue::String(v) => StatValue::String(v),
            };
            (p.field, v)
        })
        .collect()
}

/// A CPU map as libvirt's bytes of `maplen`: bit `n % 8` of byte `n / 8`.
fn to_map(cpus: &[bool], maplen: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; maplen];
    for (n, _) in cpus.iter().enumerate().filter(|(_, b)| **b) {
        if let Some(b) = bytes.get_mut(n / 8) {
            *b |= 1 << (n % 8);
        }
    }
    bytes
}

fn from_map(bytes: &[u8]) -> Vec<bool> {
    (0..bytes.len() * 8)
        .map(|n| bytes[n / 8] & (1 << (n % 8)) != 0)
        .collect()
}

/// libvirtd's limits on the maps a client asks for.
fn check_maps(count: i32, maplen: i32, max_count: u32, what: &str) -> Result<(usize, usize)> {
    if count < 0 || count as u32 > max_count {
        return Err(Error::api(
            ErrorCode::RPC,
            format!("{what} > REMOTE_VCPUINFO_MAX"),
        ));
    }
    if maplen <= 0 || (count as i64) * (maplen as i64) > REMOTE_CPUMAPS_MAX as i64 {
        return Err(Error::api(
            ErrorCode::RPC,
            format!("{what} * maplen > REMOTE_CPUMAPS_MAX"),
        ));
    }
    Ok((count as usize, maplen as usize))
}

fn get_vcpus(conn: &Connect, a: DomainGetVcpusArgs) -> Result<Reply> {
    let (max, maplen) = check_maps(a.maxinfo, a.maplen, REMOTE_VCPUINFO_MAX, "maxinfo")?;
    let vcpus = domain(conn, a.dom).vcpu_info()?;
    let vcpus: Vec<_> = vcpus.into_iter().take(max).collect();
    let mut cpumaps = Vec::with_capacity(vcpus.len() * maplen);
    for v in &vcpus {
        cpumaps.extend(to_map(&v.affinity, maplen));
    }
    Ok(Reply::DomainGetVcpus(DomainGetVcpusRet {
        info: vcpus
            .iter()
            .map(|v| VcpuInfo {
                number: v.number,
                state: v.state,
                cpu_time: v.cpu_time_ns,
                cpu: v.cpu,
            })
            .collect(),
        cpumaps,
    }))
}

fn vcpu_pin_info(conn: &Connect, a: DomainGetVcpuPinInfoArgs) -> Result<Reply> {
    let (max, maplen) = check_maps(a.ncpumaps, a.maplen, REMOTE_VCPUINFO_MAX, "ncpumaps")?;
    let pins = domain(conn, a.dom).vcpu_pin_info(a.flags)?;
    let pins: Vec<_> = pins.into_iter().take(max).collect();
    let mut cpumaps = Vec::with_capacity(pins.len() * maplen);
    for p in &pins {
        cpumaps.extend(to_map(p, maplen));
    }
    Ok(Reply::DomainGetVcpuPinInfo(DomainGetVcpuPinInfoRet {
        cpumaps,
        num: pins.len() as i32,
    }))
}

/// libvirtd's `nparams` protocol: 0 asks for the count, otherwise at most
/// `nparams` values, and more than the protocol's limit is refused.
fn counted(stats: Result<Vec<NodeStat>>, nparams: i32, max: u32) -> (Result<Vec<NodeStat>>, i32) {
    if nparams < 0 || nparams as u32 > max {
        return (Err(Error::api(ErrorCode::RPC, "nparams too large")), 0);
    }
    match stats {
        Err(e) => (Err(e), 0),
        Ok(all) if nparams == 0 => {
            let n = all.len() as i32;
            (Ok(Vec::new()), n)
        }
        Ok(mut all) => {
            all.truncate(nparams as usize);
            let n = all.len() as i32;
            (Ok(all), n)
        }
    }
}
