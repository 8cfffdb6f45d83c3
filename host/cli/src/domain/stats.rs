//! Guest statistics: `domblkstat`, `domifstat` and `domstats`, printed as
//! virsh does.

use serde_json::json;

use super::dom;
use crate::parse::Args;
use crate::{CmdResult, Context, Ctx, Reply};
use wirt::connect::list_flags as lf;
use wirt::connect::{StatValue, stats_flags, stats_groups as sg};

pub(super) fn domblkstat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let device = args.get("device").unwrap_or("");
    let s = d
        .block_stats(device)
        .ctx(|| format!("failed to get block stats {} {device}", d.name()))?;
    // virsh's order and names for the typed parameters of
    // virDomainBlockStatsFlags (`--human` spells them out).
    let rows: [(&str, &str, u64); 9] = [
        ("rd_req", "number of read operations:", s.rd_req),
        ("rd_bytes", "number of bytes read:", s.rd_bytes),
        ("wr_req", "number of write operations:", s.wr_req),
        ("wr_bytes", "number of bytes written:", s.wr_bytes),
        (
            "flush_operations",
            "number of flush operations:",
            s.flush_req,
        ),
        (
            "rd_total_times",
            "total duration of reads (ns):",
            s.rd_total_ns,
        ),
        (
            "wr_total_times",
            "total duration of writes (ns):",
            s.wr_total_ns,
        ),
        (
            "flush_total_times",
            "total duration of flushes (ns):",
            s.flush_total_ns,
        ),
        ("errs", "error count:", s.errors),
    ];
    let human = args.has("human");
    let mut text = String::new();
    if human {
        text.push_str(&format!("Device: {device}\n"));
    }
    for (name, label, value) in rows {
        if human {
            text.push_str(&format!(" {label:<31} {value}\n"));
        } else {
            text.push_str(&format!("{device} {name} {value}\n"));
        }
    }
    Ok(Reply::text(text, json!({"device": device, "stats": s})))
}

pub(super) fn domifstat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let device = args.get("interface").unwrap_or("");
    let s = d
        .interface_stats(device)
        .ctx(|| format!("failed to get interface stats {} {device}", d.name()))?;
    let rows = [
        ("rx_bytes", s.rx_bytes),
        ("rx_packets", s.rx_packets),
        ("rx_errs", s.rx_errs),
        ("rx_drop", s.rx_drop),
        ("tx_bytes", s.tx_bytes),
        ("tx_packets", s.tx_packets),
        ("tx_errs", s.tx_errs),
        ("tx_drop", s.tx_drop),
    ];
    let text: String = rows
        .iter()
        .map(|(name, value)| format!("{device} {name} {value}\n"))
        .collect();
    Ok(Reply::text(text, json!({"interface": device, "stats": s})))
}

pub(super) fn domstats(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let groups = args.flags(&[
        ("state", sg::STATE),
        ("cpu-total", sg::CPU_TOTAL),
        ("balloon", sg::BALLOON),
        ("vcpu", sg::VCPU),
        ("interface", sg::INTERFACE),
        ("block", sg::BLOCK),
    ]);
    let flags = args.flags(&[
        ("list-active", lf::ACTIVE),
        ("list-inactive", lf::INACTIVE),
        ("list-persistent", lf::PERSISTENT),
        ("list-transient", lf::TRANSIENT),
        ("list-running", lf::RUNNING),
        ("list-paused", lf::PAUSED),
        ("list-shutoff", lf::SHUTOFF),
        ("list-other", lf::OTHER),
        ("enforce", stats_flags::ENFORCE_STATS),
    ]);
    // virsh asks virDomainListGetStats for named domains; filtering the
    // whole answer gives the same records.
    let only = match args.get("domain") {
        Some(_) => Some(dom(ctx, args)?),
        None => None,
    };
    let records = ctx
        .conn()?
        .get_all_domain_stats(groups, flags)
        .ctx(|| "failed to get domain stats".into())?;
    let mut text = String::new();
    let mut out = Vec::new();
    for r in records {
        if only.as_ref().is_some_and(|d| d.uuid() != r.domain.uuid()) {
            continue;
        }
        text.push_str(&format!("Domain: '{}'\n", r.domain.name()));
        let mut fields = serde_json::Map::new();
        for (name, value) in &r.params {
            text.push_str(&format!("  {name}={value}\n"));
            let v = match value {
                StatValue::Int(v) => json!(v),
                StatValue::UInt(v) => json!(v),
                StatValue::ULLong(v) => json!(v),
                StatValue::String(v) => json!(v),
            };
            fields.insert(name.clone(), v);
        }
        text.push('\n');
        out.push(json!({"domain": r.domain.name(), "stats": fields}));
    }
    Ok(Reply::text(text, json!(out)))
}
