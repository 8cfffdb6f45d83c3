//! Guest monitoring commands: dommemstat, domblkinfo, vcpuinfo and
//! vcpupin, in virsh's layouts (`virsh-domain-monitor.c`, `virsh-domain.c`).

use serde_json::json;

use super::dom;
use crate::parse::Args;
use crate::{CmdError, CmdResult, Context, Ctx, Reply};
use wirt::connect::domain_flags as df;
use wirt::connect::{BlockInfo, StatValue, format_cpu_list, memory_stat, vcpu_state};
use wirt::{Domain, Error};

pub(super) fn dommemstat(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let stats = d.memory_stats(0).ctx(|| {
        format!(
            "Failed to get memory statistics for domain {}",
            args.req("domain")
        )
    })?;
    let mut text = String::new();
    let mut obj = serde_json::Map::new();
    for (tag, value) in stats {
        if let Some(name) = memory_stat::name(tag) {
            text.push_str(&format!("{name} {value}\n"));
            obj.insert(name.into(), json!(value));
        }
    }
    Ok(Reply::text(text, serde_json::Value::Object(obj)))
}

/// virsh's `vshPrettyCapacity` with `%.3lf %s`.
fn pretty(v: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    let mut limit = 1024u128;
    while unit < UNITS.len() - 1 && u128::from(v) >= limit {
        unit += 1;
        limit *= 1024;
    }
    format!("{:.3} {}", v as f64 / (limit / 1024) as f64, UNITS[unit])
}

fn sizes(info: &BlockInfo, human: bool) -> [String; 3] {
    let [c, a, p] = [info.capacity, info.allocation, info.physical];
    if c == 0 && a == 0 && p == 0 {
        return ["-".into(), "-".into(), "-".into()];
    }
    let show = |v: u64| if human { pretty(v) } else { v.to_string() };
    [show(c), show(a), show(p)]
}

pub(super) fn domblkinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let all = args.has("all");
    if all && args.get("device").is_some() {
        return Err(CmdError::msg(
            "Options --all and --device are mutually exclusive",
        ));
    }
    let d = dom(ctx, args)?;
    let human = args.has("human");
    let bare = |e: Error| CmdError::bare(&e);
    if !all {
        let Some(device) = args.get("device").filter(|d| !d.is_empty()) else {
            return Err(CmdError::msg(
                "command 'domblkinfo' requires <device> option",
            ));
        };
        let info = d.block_info(device, 0).map_err(bare)?;
        let [c, a, p] = sizes(&info, human);
        let text = format!(
            "{:<15} {c}\n{:<15} {a}\n{:<15} {p}\n",
            "Capacity:", "Allocation:", "Physical:"
        );
        return Ok(Reply::text(text, json!(info)));
    }
    // As virsh: every <disk> of the live XML, sizes only for those with a source.
    let xml = d.xml_desc(0).map_err(bare)?;
    let root = wirt::xml::Element::parse(&xml, "domain").map_err(|e| CmdError::bare(&e.into()))?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for disk in root
        .child("devices")
        .map(|devs| devs.children_named("disk").collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let target = disk
            .child("target")
            .and_then(|t| t.attr("dev"))
            .unwrap_or_default()
            .to_string();
        let info = if disk.child("source").is_some() {
            d.block_info(&target, 0).map_err(bare)?
        } else {
            BlockInfo::default()
        };
        let [c, a, p] = sizes(&info, human);
        json_rows.push(json!({"target": target, "info": info}));
        rows.push(vec![target, c, a, p]);
    }
    Ok(Reply::table(
        &["Target", "Capacity", "Allocation", "Physical"],
        &rows,
        json_rows,
    ))
}

/// virsh's `virshNodeGetCPUCount`: how many host CPUs a map shows.
fn host_cpu_count(ctx: &mut Ctx) -> Result<usize, CmdError> {
    let conn = ctx.conn()?;
    match conn.node_cpu_map(0) {
        Ok(map) => Ok(map.present() as usize),
        Err(_) => Ok(conn.node_info().cpus as usize),
    }
}

fn affinity(cpus: &[bool], maxcpu: usize, pretty: bool) -> String {
    let shown: Vec<bool> = (0..maxcpu)
        .map(|c| cpus.get(c).copied().unwrap_or(false))
        .collect();
    if pretty {
        format!("{} (out of {maxcpu})", format_cpu_list(&shown))
    } else {
        shown.iter().map(|&b| if b { 'y' } else { '-' }).collect()
    }
}

pub(super) fn vcpuinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let maxcpu = host_cpu_count(ctx)?;
    let pretty = args.has("pretty");
    let bare = |e: Error| CmdError::bare(&e);
    let mut blocks = Vec::new();
    let mut json_rows = Vec::new();
    match d.vcpu_info() {
        Ok(vcpus) => {
            for v in vcpus {
                let mut b = format!(
                    "{:<15} {}\n{:<15} {}\n{:<15} {}\n",
                    "VCPU:",
                    v.number,
                    "CPU:",
                    v.cpu,
                    "State:",
                    vcpu_state::name(v.state)
                );
                if v.cpu_time_ns != 0 {
                    b.push_str(&format!(
                        "{:<15} {:.1}s\n",
                        "CPU time:",
                        v.cpu_time_ns as f64 / 1e9
                    ));
                }
                b.push_str(&format!(
                    "{:<15} {}\n",
                    "CPU Affinity:",
                    affinity(&v.affinity, maxcpu, pretty)
                ));
                json_rows.push(json!({"vcpu": v.number, "cpu": v.cpu,
                    "state": vcpu_state::name(v.state), "cpu_time_ns": v.cpu_time_ns,
                    "affinity": format_cpu_list(&v.affinity)}));
                blocks.push(b);
            }
        }
        // An inactive domain: its next-boot pinning, the rest unknown.
        Err(e) if e.code() == wirt::ErrorCode::OPERATION_INVALID => {
            for (i, pins) in d
                .vcpu_pin_info(df::AFFECT_CONFIG)
                .map_err(bare)?
                .iter()
                .enumerate()
            {
                blocks.push(format!(
                    "{:<15} {i}\n{:<15} N/A\n{:<15} N/A\n{:<15} N/A\n{:<15} {}\n",
                    "VCPU:",
                    "CPU:",
                    "State:",
                    "CPU time",
                    "CPU Affinity:",
                    affinity(pins, maxcpu, pretty)
                ));
                json_rows.push(json!({"vcpu": i, "affinity": format_cpu_list(pins)}));
            }
        }
        Err(e) => return Err(bare(e)),
    }
    Ok(Reply::text(blocks.join("\n"), json!(json_rows)))
}

/// virsh's `virshParseCPUList`: `r` for all, else a bitmap below `maxcpu`.
fn parse_cpu_list(list: &str, maxcpu: usize) -> Result<Vec<bool>, CmdError> {
    if list.starts_with('r') {
        return Ok(vec![true; maxcpu]);
    }
    let set = wirt::xml::cpuset::CpuSet::parse(list).map_err(|_| CmdError {
        lines: vec![
            format!("Invalid cpulist '{list}'"),
            format!("invalid argument: Failed to parse bitmap '{list}'"),
        ],
        code: Some(wirt::ErrorCode::INVALID_ARG),
    })?;
    let Some(last) = set.last() else {
        return Err(CmdError::msg(format!("Invalid cpulist '{list}'")));
    };
    if last as usize >= maxcpu {
        return Err(CmdError::msg(format!(
            "CPU {last} in cpulist '{list}' exceed the maxcpu {maxcpu}"
        )));
    }
    Ok((0..maxcpu).map(|c| set.contains(c as u32)).collect())
}

fn affect_flags(args: &Args) -> Result<u32, CmdError> {
    let (live, config, current) = (args.has("live"), args.has("config"), args.has("current"));
    if current && live {
        return Err(CmdError::msg(
            "Options --current and --live are mutually exclusive",
        ));
    }
    if current && config {
        return Err(CmdError::msg(
            "Options --current and --config are mutually exclusive",
        ));
    }
    Ok(args.flags(&[("live", df::AFFECT_LIVE), ("config", df::AFFECT_CONFIG)]))
}

pub(super) fn vcpupin(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = affect_flags(args)?;
    let vcpu = args
        .get("vcpu")
        .map(|v| {
            v.parse::<u32>().map_err(|_| {
                CmdError::msg(format!(
                    "Numeric value '{v}' for <vcpu> option is malformed or out of range"
                ))
            })
        })
        .transpose()?;
    let d = dom(ctx, args)?;
    let maxcpu = host_cpu_count(ctx)?;
    let bare = |e: Error| CmdError::bare(&e);
    if let Some(list) = args.get("cpulist") {
        let Some(vcpu) = vcpu else {
            return Err(CmdError::msg("vcpupin: Missing vCPU number in pin mode."));
        };
        let cpus = parse_cpu_list(list, maxcpu)?;
        d.pin_vcpu(vcpu, &cpus, flags).map_err(bare)?;
        return Ok(Reply::empty());
    }
    query(&d, vcpu, maxcpu, flags)
}

/// virsh's `virshVcpuPinQuery`.
fn query(d: &Domain, vcpu: Option<u32>, maxcpu: usize, flags: u32) -> CmdResult {
    let bare = |e: Error| CmdError::bare(&e);
    let active = d.is_active().map_err(bare)?;
    let live = flags & df::AFFECT_LIVE != 0 || (flags & df::AFFECT_CONFIG == 0 && active);
    let count_flags = df::VCPU_MAXIMUM
        | if live {
            df::AFFECT_LIVE
        } else {
            df::AFFECT_CONFIG
        };
    let ncpus = d.vcpus_flags(count_flags).map_err(bare)?;
    if let Some(v) = vcpu.filter(|&v| v >= ncpus) {
        let which = if live { "live" } else { "persistent" };
        return Err(CmdError::msg(format!(
            "vcpu {v} is out of range of {which} cpu count {ncpus}"
        )));
    }
    let pins = d.vcpu_pin_info(flags).map_err(bare)?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for (i, pin) in pins.iter().enumerate().take(ncpus as usize) {
        if vcpu.is_some_and(|v| v as usize != i) {
            continue;
        }
        // virsh formats the map bytes it asked for: whole bytes of maxcpu.
        let shown: Vec<bool> = (0..maxcpu.div_ceil(8) * 8)
            .map(|c| pin.get(c).copied().unwrap_or(false))
            .collect();
        let list = format_cpu_list(&shown);
        json_rows.push(json!({"vcpu": i, "affinity": list}));
        rows.push(vec![i.to_string(), list]);
    }
    Ok(Reply::table(&["VCPU", "CPU Affinity"], &rows, json_rows))
}

/// virsh's `cmdSchedInfoUpdate`: `--set field=value`, `--weight`, `--cap`,
/// each parsed by the type of the parameter it names.
fn updates(
    args: &Args,
    current: &[(String, StatValue)],
) -> Result<Vec<(String, StatValue)>, CmdError> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    if let Some(set) = args.get("set") {
        let (field, value) = set
            .split_once('=')
            .ok_or_else(|| CmdError::msg("Invalid syntax for --set, expecting name=value"))?;
        wanted.push((field.to_string(), value.to_string()));
    }
    for legacy in ["weight", "cap"] {
        if let Some(v) = args.get(legacy) {
            wanted.push((legacy.to_string(), v.to_string()));
        }
    }
    let mut out = Vec::new();
    for (field, value) in wanted {
        let Some((_, kind)) = current.iter().find(|(f, _)| *f == field) else {
            return Err(CmdError::msg(format!("invalid scheduler option: {field}")));
        };
        let bad = |expected: &str| CmdError {
            lines: vec![format!(
                "invalid argument: Invalid value for field '{field}': expected {expected}"
            )],
            code: Some(wirt::ErrorCode::INVALID_ARG),
        };
        let v = match kind {
            StatValue::Int(_) => StatValue::Int(value.parse().map_err(|_| bad("int"))?),
            StatValue::UInt(_) => StatValue::UInt(value.parse().map_err(|_| bad("unsigned int"))?),
            StatValue::ULLong(_) => {
                StatValue::ULLong(value.parse().map_err(|_| bad("unsigned long long"))?)
            }
            StatValue::String(_) => StatValue::String(value),
        };
        out.push((field, v));
    }
    Ok(out)
}

pub(super) fn schedinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let (live, config, current) = (args.has("live"), args.has("config"), args.has("current"));
    let flags = affect_flags(args)?;
    let d = dom(ctx, args)?;
    // virsh prints what it has before an error: the scheduler's name first.
    let mut text = String::new();
    let (kind, nparams) = match d.scheduler_type() {
        Ok(t) => t,
        Err(e) => {
            return Err(CmdError {
                lines: std::iter::once(format!("{:<15}: Unknown", "Scheduler"))
                    .chain(CmdError::bare(&e).lines)
                    .collect(),
                code: Some(e.code()),
            });
        }
    };
    text.push_str(&format!("{:<15}: {kind}\n", "Scheduler"));
    let partial = |text: &str, e: Error| {
        // stdout so far, then the error, as virsh does.
        print!("{text}");
        CmdError::bare(&e)
    };
    if nparams == 0 {
        return Ok(Reply::text(text, json!({"scheduler": kind})));
    }
    let with_flags = flags != 0 || current;
    let query_flags = if live && config { 0 } else { flags };
    let get = |d: &Domain| {
        if with_flags {
            d.scheduler_parameters_flags(query_flags)
        } else {
            d.scheduler_parameters()
        }
    };
    let mut params = get(&d).map_err(|e| partial(&text, e))?;
    let set = updates(args, &params).inspect_err(|_| print!("{text}"))?;
    if !set.is_empty() {
        d.set_scheduler_parameters(&set, with_flags.then_some(flags))
            .map_err(|e| partial(&text, e))?;
        params = get(&d).map_err(|e| partial(&text, e))?;
    } else if live && config {
        print!("{text}");
        return Err(CmdError::msg("cannot query both live and config at once"));
    }
    let mut obj = serde_json::Map::new();
    obj.insert("scheduler".into(), json!(kind));
    for (field, v) in &params {
        text.push_str(&format!("{field:<15}: {v}\n"));
        obj.insert(field.clone(), json!(v.to_string()));
    }
    Ok(Reply::text(text, serde_json::Value::Object(obj)))
}

pub(super) fn emulatorpin(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = affect_flags(args)?;
    let none_given = !args.has("live") && !args.has("config") && !args.has("current");
    let d = dom(ctx, args)?;
    let maxcpu = host_cpu_count(ctx)?;
    let bare = |e: Error| CmdError::bare(&e);
    if let Some(list) = args.get("cpulist") {
        let cpus = parse_cpu_list(list, maxcpu)?;
        // As virsh: with no option, pinning is of the running domain.
        let flags = if none_given { df::AFFECT_LIVE } else { flags };
        d.pin_emulator(&cpus, flags).map_err(bare)?;
        return Ok(Reply::empty());
    }
    let pins = d.emulator_pin_info(flags).map_err(bare)?;
    let shown: Vec<bool> = (0..maxcpu.div_ceil(8) * 8)
        .map(|c| pins.get(c).copied().unwrap_or(false))
        .collect();
    let list = format_cpu_list(&shown);
    Ok(Reply::text(
        format!("emulator: CPU Affinity\n----------------------------------\n       *: {list}\n"),
        json!({"affinity": list}),
    ))
}

/// `%9lld.%09lld seconds` of a time in ns, else the value itself.
fn cpu_line(field: &str, v: &StatValue) -> String {
    match v {
        StatValue::ULLong(ns) => format!(
            "\t{field:<12} {:>9}.{:09} seconds\n",
            ns / 1_000_000_000,
            ns % 1_000_000_000
        ),
        other => format!("\t{field:<12} {other}\n"),
    }
}

pub(super) fn cpu_stats(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let int = |name: &str| -> Result<Option<i32>, CmdError> {
        args.get(name)
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    CmdError::msg(format!(
                        "Numeric value '{v}' for <{name}> option is malformed or out of range"
                    ))
                })
            })
            .transpose()
    };
    let start = int("start")?;
    let count = int("count")?;
    let mut cpu = start.unwrap_or(0);
    if cpu < 0 {
        return Err(CmdError::msg("Invalid value for start CPU"));
    }
    if count.is_some_and(|c| c < 0) {
        return Err(CmdError::msg("Invalid value for number of CPUs to show"));
    }
    let mut show_total = args.has("total");
    let mut show_per_cpu = start.is_some() || count.is_some();
    if !show_total && !show_per_cpu {
        show_total = true;
        show_per_cpu = true;
    }
    let d = dom(ctx, args)?;
    let failed = |e: Error| CmdError {
        lines: vec![
            format!(
                "Failed to retrieve CPU statistics for domain '{}'",
                d.name()
            ),
            e.message(),
        ],
        code: Some(e.code()),
    };
    let mut text = String::new();
    let mut rows = Vec::new();
    if show_per_cpu {
        match d.cpu_stats_count() {
            // A host that keeps no per-CPU times: the total only, as virsh.
            Err(e) if e.code() == wirt::ErrorCode::NO_SUPPORT => {}
            Err(e) => return Err(failed(e)),
            Ok(max) => {
                let max = max as i32;
                if cpu >= max {
                    return Err(CmdError::msg(format!(
                        "Start CPU {cpu} is out of range (min: 0, max: {})",
                        max - 1
                    )));
                }
                let mut show = count.unwrap_or(-1);
                if show < 0 || show > max {
                    if show > max {
                        text.push_str(&format!("Only {max} CPUs available to show\n"));
                    }
                    show = max - cpu;
                }
                while show > 0 {
                    let n = show.min(128);
                    let records = d.cpu_stats(cpu, n as u32, 0).map_err(failed)?;
                    for (i, r) in records.iter().enumerate() {
                        text.push_str(&format!("CPU{}:\n", cpu + i as i32));
                        for (field, v) in r {
                            text.push_str(&cpu_line(field, v));
                        }
                        rows.push(json!({"cpu": cpu + i as i32,
                            "stats": r.iter().map(|(f, v)| (f.clone(), json!(v.to_string())))
                                .collect::<serde_json::Map<_, _>>()}));
                    }
                    cpu += n;
                    show -= n;
                }
            }
        }
    }
    let mut total = serde_json::Map::new();
    if show_total {
        let records = d.cpu_stats(-1, 1, 0).map_err(failed)?;
        text.push_str("Total:\n");
        for (field, v) in records.first().map(Vec::as_slice).unwrap_or_default() {
            text.push_str(&cpu_line(field, v));
            total.insert(field.clone(), json!(v.to_string()));
        }
    }
    Ok(Reply::text(text, json!({"cpus": rows, "total": total})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_as_virsh_prints_them() {
        assert_eq!(pretty(1_099_506_450_432), "1023.995 GiB");
        assert_eq!(pretty(1_099_511_627_776), "1.000 TiB");
        assert_eq!(pretty(512), "512.000 B");
    }

    #[test]
    fn cpu_lists_as_virsh_reads_them() {
        assert_eq!(
            parse_cpu_list("1-2", 4).unwrap(),
            [false, true, true, false]
        );
        assert_eq!(parse_cpu_list("r", 2).unwrap(), [true, true]);
        assert_eq!(
            parse_cpu_list("9", 8).unwrap_err().lines,
            ["CPU 9 in cpulist '9' exceed the maxcpu 8"]
        );
        assert_eq!(parse_cpu_list("x", 8).unwrap_err().lines.len(), 2);
    }
}
