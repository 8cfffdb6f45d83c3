//! Host monitoring commands: nodecpustats, nodememstats, freecell,
//! nodecpumap and cpu-models, in virsh's layouts (`virsh-host.c`).

use serde_json::json;

use crate::parse::Args;
use crate::{CmdError, CmdResult, Context, Ctx, Reply};
use wirt::connect::{NODE_CPU_STATS_ALL_CPUS, NODE_MEMORY_STATS_ALL_CELLS, format_cpu_list};

/// virsh's `vshCommandOptInt`: an optional `int` option.
fn int_opt(args: &Args, name: &str) -> Result<Option<i32>, CmdError> {
    args.get(name)
        .map(|v| {
            v.parse::<i32>().map_err(|_| {
                CmdError::msg(format!(
                    "Numeric value '{v}' for <{name}> option is malformed or out of range"
                ))
            })
        })
        .transpose()
}

/// virsh's names for the node CPU counters, in the order it prints them.
const CPU_FIELDS: [(&str, &str); 5] = [
    ("user", "user:"),
    ("kernel", "system:"),
    ("idle", "idle:"),
    ("iowait", "iowait:"),
    ("intr", "intr:"),
];

/// C's `%5.1lf` of a share that may be 0/0, which glibc prints `-nan`.
fn percent(v: f64) -> String {
    if v.is_nan() {
        " -nan".to_string()
    } else {
        format!("{v:5.1}")
    }
}

pub(super) fn nodecpustats(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let cpu = int_opt(args, "cpu")?.unwrap_or(NODE_CPU_STATS_ALL_CPUS);
    let conn = ctx.conn()?;
    let first = conn
        .node_cpu_stats(cpu, 0)
        .ctx(|| "Unable to get number of cpu stats".into())?;
    let value = |stats: &[(String, u64)], field: &str| {
        stats.iter().find(|(k, _)| k == field).map(|(_, v)| *v)
    };
    // `utilization` (a driver's own percentage) spares the second sample.
    let utilization = value(&first, "utilization");
    if !args.has("percent") {
        let mut text = String::new();
        let mut obj = serde_json::Map::new();
        for (field, label) in CPU_FIELDS {
            if let Some(v) = value(&first, field) {
                text.push_str(&format!("{label:<15} {v:>20}\n"));
                obj.insert(field.into(), json!(v));
            }
        }
        return Ok(Reply::text(text, serde_json::Value::Object(obj)));
    }
    if let Some(usage) = utilization {
        let text = format!(
            "{:<15} {usage:>5}%\n{:<15} {:>5}%\n",
            "usage:",
            "idle:",
            100u64.saturating_sub(usage)
        );
        return Ok(Reply::text(text, json!({"usage": usage})));
    }
    // As virsh: two samples a second apart, each counter's share of the sum.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let second = conn
        .node_cpu_stats(cpu, 0)
        .ctx(|| "Unable to get node cpu stats".into())?;
    let deltas: Vec<(&str, &str, f64)> = CPU_FIELDS
        .iter()
        .filter_map(|(field, label)| {
            let a = value(&first, field)?;
            let b = value(&second, field).unwrap_or(a);
            Some((*field, *label, b.wrapping_sub(a) as f64))
        })
        .collect();
    let total: f64 = deltas.iter().map(|d| d.2).sum();
    let busy: f64 = deltas
        .iter()
        .filter(|d| d.0 == "user" || d.0 == "kernel")
        .map(|d| d.2)
        .sum();
    let share = |v: f64| v / total * 100.0;
    let mut text = format!("{:<15} {}%\n", "usage:", percent(share(busy)));
    let mut obj = serde_json::Map::new();
    obj.insert("usage".into(), json!(share(busy)));
    for (field, label, v) in &deltas {
        text.push_str(&format!("{label:<15} {}%\n", percent(share(*v))));
        obj.insert(field.to_string(), json!(share(*v)));
    }
    Ok(Reply::text(text, serde_json::Value::Object(obj)))
}

pub(super) fn nodememstats(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let cell = int_opt(args, "cell")?.unwrap_or(NODE_MEMORY_STATS_ALL_CELLS);
    let stats = ctx
        .conn()?
        .node_memory_stats(cell, 0)
        .ctx(|| "Unable to get number of memory stats".into())?;
    let text: String = stats
        .iter()
        .map(|(k, v)| format!("{k:<7}: {v:>20} KiB\n"))
        .collect();
    let obj: serde_json::Map<String, serde_json::Value> =
        stats.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Ok(Reply::text(text, serde_json::Value::Object(obj)))
}

pub(super) fn freecell(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let all = args.has("all");
    let cellno = int_opt(args, "cellno")?;
    if all && cellno.is_some() {
        return Err(CmdError::msg(
            "Options --all and --cellno are mutually exclusive",
        ));
    }
    let conn = ctx.conn()?;
    let bare = |e: wirt::Error| CmdError::bare(&e);
    if let Some(cell) = cellno {
        let free = conn.node_cells_free_memory(cell, 1).map_err(bare)?;
        let kib = free.first().copied().unwrap_or(0) / 1024;
        return Ok(Reply::text(
            format!("{cell}: {kib} KiB\n"),
            json!({"cell": cell, "free_kib": kib}),
        ));
    }
    if !all {
        let kib = conn.node_free_memory().map_err(bare)? / 1024;
        return Ok(Reply::text(
            format!("Total: {kib} KiB\n"),
            json!({"total_kib": kib}),
        ));
    }
    // As virsh: the cells the capabilities document lists, one call each.
    let caps = conn.capabilities_xml();
    let root = wirt::xml::Element::parse(&caps, "capabilities")
        .map_err(|_| CmdError::msg("unable to get node capabilities"))?;
    let ids: Vec<u64> = root
        .child("host")
        .and_then(|h| h.child("topology"))
        .and_then(|t| t.child("cells"))
        .map(|c| {
            c.children_named("cell")
                .filter_map(|cell| cell.attr("id").and_then(|id| id.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    let mut text = String::new();
    let mut rows = Vec::new();
    let mut total = 0u64;
    for id in ids {
        let free = conn
            .node_cells_free_memory(id as i32, 1)
            .map_err(|_| {
                CmdError::msg(format!(
                    "failed to get free memory for NUMA node number: {id}"
                ))
            })?
            .first()
            .copied()
            .unwrap_or(0);
        text.push_str(&format!("{id:>5}: {:>10} KiB\n", free / 1024));
        rows.push(json!({"cell": id, "free_kib": free / 1024}));
        total += free;
    }
    text.push_str("--------------------\n");
    text.push_str(&format!("{:>5}: {:>10} KiB\n", "Total", total / 1024));
    Ok(Reply::text(
        text,
        json!({"cells": rows, "total_kib": total / 1024}),
    ))
}

pub(super) fn nodecpumap(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let map = ctx
        .conn()?
        .node_cpu_map(0)
        .ctx(|| "Unable to get cpu map".into())?;
    let shown = if args.has("pretty") {
        format_cpu_list(&map.online)
    } else {
        map.online
            .iter()
            .map(|&on| if on { 'y' } else { '-' })
            .collect()
    };
    let text = format!(
        "{:<15} {}\n{:<15} {}\n{:<15} {shown}\n",
        "CPUs present:",
        map.present(),
        "CPUs online:",
        map.online_count(),
        "CPU map:"
    );
    Ok(Reply::text(
        text,
        json!({"present": map.present(), "online": map.online_count(),
               "online_cpus": format_cpu_list(&map.online)}),
    ))
}

pub(super) fn cpu_models(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let arch = args.req("arch");
    let models = ctx
        .conn()?
        .cpu_model_names(arch, 0)
        .ctx(|| "failed to get CPU model names".into())?;
    let text = if models.is_empty() {
        "all CPU models are accepted\n".to_string()
    } else {
        models.iter().map(|m| format!("{m}\n")).collect()
    };
    Ok(Reply::text(text, json!(models)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_as_glibc_prints_it() {
        assert_eq!(percent(f64::NAN), " -nan");
        assert_eq!(percent(12.345), " 12.3");
    }
}
