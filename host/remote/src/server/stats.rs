//! Guest statistics procedures: block and interface counters and
//! `virConnectGetAllDomainStats`, with libvirt's typed-parameter names.

use super::handles::{domain, wire_domain};
use super::wire::{Routed, check_list_len};
use crate::protocol::*;
use wirt::connect::{BlockStats, Connect, Error, Result, StatValue, stats_flags};
use wirt::error::ErrorCode;

/// `virDomainBlockStatsFlags`' parameters, in QEMU's order, as
/// `VIR_TYPED_PARAM_LLONG`s.
fn block_params(s: &BlockStats) -> Vec<TypedParam> {
    let ll = |v: u64| TypedParamValue::Llong(i64::try_from(v).unwrap_or(i64::MAX));
    [
        ("rd_operations", s.rd_req),
        ("rd_bytes", s.rd_bytes),
        ("wr_operations", s.wr_req),
        ("wr_bytes", s.wr_bytes),
        ("flush_operations", s.flush_req),
        ("rd_total_times", s.rd_total_ns),
        ("wr_total_times", s.wr_total_ns),
        ("flush_total_times", s.flush_total_ns),
        ("errs", s.errors),
    ]
    .into_iter()
    .map(|(field, v)| TypedParam {
        field: field.into(),
        value: ll(v),
    })
    .collect()
}

fn llong(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn wire_value(v: StatValue) -> TypedParamValue {
    match v {
        StatValue::Int(v) => TypedParamValue::Int(v),
        StatValue::UInt(v) => TypedParamValue::Uint(v),
        StatValue::ULLong(v) => TypedParamValue::Ullong(v),
        StatValue::String(v) => TypedParamValue::String(v),
    }
}

pub(super) fn dispatch(conn: &Connect, call: Call) -> Routed {
    let result = match call {
        Call::DomainBlockStats(a) => domain(conn, a.dom).block_stats(&a.path).map(|s| {
            Reply::DomainBlockStats(DomainBlockStatsRet {
                rd_req: llong(s.rd_req),
                rd_bytes: llong(s.rd_bytes),
                wr_req: llong(s.wr_req),
                wr_bytes: llong(s.wr_bytes),
                errs: llong(s.errors),
            })
        }),
        Call::DomainBlockStatsFlags(a) => block_stats_flags(conn, a),
        Call::DomainInterfaceStats(a) => domain(conn, a.dom).interface_stats(&a.device).map(|s| {
            Reply::DomainInterfaceStats(DomainInterfaceStatsRet {
                rx_bytes: llong(s.rx_bytes),
                rx_packets: llong(s.rx_packets),
                rx_errs: llong(s.rx_errs),
                rx_drop: llong(s.rx_drop),
                tx_bytes: llong(s.tx_bytes),
                tx_packets: llong(s.tx_packets),
                tx_errs: llong(s.tx_errs),
                tx_drop: llong(s.tx_drop),
            })
        }),
        Call::ConnectGetAllDomainStats(a) => all_domain_stats(conn, a),
        other => return Routed::Pass(other),
    };
    Routed::Done(result)
}

fn block_stats_flags(conn: &Connect, a: DomainBlockStatsFlagsArgs) -> Result<Reply> {
    // VIR_TYPED_PARAM_STRING_OKAY is the only flag a client sends.
    wirt::connect::check_flags(a.flags, 4, "virDomainBlockStatsFlags")?;
    if a.nparams < 0 || a.nparams as u32 > REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX {
        return Err(Error::api(ErrorCode::RPC, "nparams too large"));
    }
    let params = block_params(&domain(conn, a.dom).block_stats(&a.path)?);
    // Asked with nparams 0, a client wants to know how many there are.
    if a.nparams == 0 {
        return Ok(Reply::DomainBlockStatsFlags(DomainBlockStatsFlagsRet {
            params: Vec::new(),
            nparams: params.len() as i32,
        }));
    }
    let params: Vec<TypedParam> = params.into_iter().take(a.nparams as usize).collect();
    Ok(Reply::DomainBlockStatsFlags(DomainBlockStatsFlagsRet {
        nparams: params.len() as i32,
        params,
    }))
}

fn all_domain_stats(conn: &Connect, a: ConnectGetAllDomainStatsArgs) -> Result<Reply> {
    // With domains named (virDomainListGetStats) the flags hold no list
    // filter: every domain is looked at, and those named answer, in order.
    let named: Vec<_> = a.doms.into_iter().map(|d| domain(conn, d)).collect();
    let flags = if named.is_empty() {
        a.flags
    } else {
        a.flags & stats_flags::ENFORCE_STATS
    };
    let mut records = conn.get_all_domain_stats(a.stats, flags)?;
    if !named.is_empty() {
        let mut picked = Vec::with_capacity(named.len());
        for d in &named {
            let at = records
                .iter()
                .position(|r| r.domain.uuid() == d.uuid())
                .ok_or_else(|| {
                    Error::api(
                        ErrorCode::NO_DOMAIN,
                        format!("no domain with matching uuid '{}'", d.uuid()),
                    )
                })?;
            picked.push(records.swap_remove(at));
        }
        records = picked;
    }
    check_list_len(records.len(), REMOTE_DOMAIN_LIST_MAX, "domains")?;
    let ret_stats = records
        .into_iter()
        .map(|r| DomainStatsRecord {
            dom: wire_domain(&r.domain),
            params: r
                .params
                .into_iter()
                .map(|(field, v)| TypedParam {
                    field,
                    value: wire_value(v),
                })
                .collect(),
        })
        .collect();
    Ok(Reply::ConnectGetAllDomainStats(
        ConnectGetAllDomainStatsRet { ret_stats },
    ))
}
