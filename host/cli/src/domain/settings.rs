//! Commands that change a domain's settings, and its console and events.

use super::*;

pub(super) fn autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    let enable = !args.has("disable");
    d.set_autostart(enable).ctx(|| {
        format!(
            "Failed to {}mark domain '{}' as autostarted",
            if enable { "" } else { "un" },
            name
        )
    })?;
    Ok(Reply::message(format!(
        "Domain '{}' {}marked as autostarted",
        name,
        if enable { "" } else { "un" }
    )))
}

pub(super) fn domrename(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    d.rename(args.req("new-name"))
        .ctx(|| "Domain rename failed".into())?;
    Ok(Reply::message("Domain successfully renamed"))
}

pub(super) fn affect_flags(args: &Args) -> Result<u32, CmdError> {
    if args.has("current") && (args.has("live") || args.has("config")) {
        return Err(CmdError::msg(
            "Options --current and --live/--config are mutually exclusive",
        ));
    }
    let mut flags = 0;
    if args.has("live") {
        flags |= df::AFFECT_LIVE;
    }
    if args.has("config") {
        flags |= df::AFFECT_CONFIG;
    }
    Ok(flags)
}

pub(super) fn size_kib(args: &Args) -> Result<u64, CmdError> {
    let raw = args.req("size");
    units::parse_size_arg(raw, "KiB")
        .map(|bytes| bytes.div_ceil(1024))
        .ok_or_else(|| {
            let mut e = CmdError::msg(format!(
                "Scaled numeric value '{raw}' for <size> option is malformed or out of range"
            ));
            // virsh adds the parser's reason when the suffix is what failed.
            let suffix = raw.trim_start_matches(|c: char| c.is_ascii_digit());
            if !suffix.is_empty() && suffix.len() < raw.len() {
                e.lines
                    .push(format!("invalid argument: unknown suffix '{suffix}'"));
            }
            e
        })
}

pub(super) fn setmem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect_flags(args)?;
    let kib = size_kib(args)?;
    d.set_memory_flags(kib, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn setmaxmem(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = affect_flags(args)? | df::MEM_MAXIMUM;
    let kib = size_kib(args)?;
    d.set_memory_flags(kib, flags)
        .ctx(|| "Unable to change MaxMemorySize".into())?;
    Ok(Reply::empty())
}

pub(super) fn setvcpus(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let mut flags = affect_flags(args)?;
    if args.has("maximum") {
        flags |= df::VCPU_MAXIMUM;
    }
    if args.has("guest") {
        flags |= df::VCPU_GUEST;
    }
    let count: u32 = args.req("count").parse().map_err(|_| {
        CmdError::msg(format!(
            "Numeric value '{}' for <count> option is malformed or out of range",
            args.req("count")
        ))
    })?;
    d.set_vcpus_flags(count, flags)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn vcpucount(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let active = d.is_active().map_err(|e| CmdError::bare(&e))?;
    let persistent = d.is_persistent().map_err(|e| CmdError::bare(&e))?;
    let mut rows = Vec::new();
    let which: Vec<(&str, u32)> = match (args.has("maximum"), args.has("active")) {
        (true, false) => vec![("maximum", df::VCPU_MAXIMUM)],
        (false, true) => vec![("current", 0)],
        _ => vec![("maximum", df::VCPU_MAXIMUM), ("current", 0)],
    };
    let live_only = args.has("live");
    let config_only = args.has("config");
    let single = which.len() == 1 && (live_only || config_only || args.has("current"));
    for (label, bit) in which {
        for (scope, scope_bit, applies) in [
            ("config", df::AFFECT_CONFIG, persistent),
            ("live", df::AFFECT_LIVE, active),
        ] {
            if !applies || (live_only && scope == "config") || (config_only && scope == "live") {
                continue;
            }
            let n = d
                .vcpus_flags(bit | scope_bit)
                .map_err(|e| CmdError::bare(&e))?;
            rows.push((label, scope, n));
        }
    }
    let text: String = if single {
        rows.iter()
            .map(|(_, _, n)| format!("{n}\n"))
            .collect::<String>()
    } else {
        rows.iter()
            .map(|(l, s, n)| format!("{l:<12} {s:<12} {n:>3}\n"))
            .collect::<String>()
    };
    let json: Vec<_> = rows
        .iter()
        .map(|(l, s, n)| json!({"count": l, "scope": s, "vcpus": n}))
        .collect();
    Ok(Reply::text(text, json!(json)))
}

pub(super) fn console(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let stream = d
        .open_console()
        .ctx(|| format!("Failed to get console for domain '{}'", d.name()))?;
    crate::console::attach(d.name(), stream).map_err(|e| CmdError::msg(format!("console: {e}")))?;
    Ok(Reply::empty())
}

/// virsh's `domhostname`.
pub(super) fn domhostname(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let flags = match args.get("source") {
        None => 0,
        // VIR_DOMAIN_GET_HOSTNAME_LEASE and _AGENT.
        Some("lease") => 1,
        Some("agent") => 2,
        Some(other) => {
            return Err(CmdError::msg(format!("Unknown data source '{other}'")));
        }
    };
    let d = dom(ctx, args)?;
    let name = d.hostname(flags).ctx(|| "failed to get hostname".into())?;
    Ok(Reply::text(format!("{name}\n"), json!({"hostname": name})))
}

/// virsh's `domtime`: shows the guest's clock, or sets it (`--time`, to
/// the host's with `--now`, or `--sync` from the guest's RTC).
pub(super) fn domtime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    for (a, b) in [("time", "now"), ("time", "sync"), ("now", "sync")] {
        if (args.has(a) || args.get(a).is_some()) && (args.has(b) || args.get(b).is_some()) {
            return Err(CmdError::msg(format!(
                "Options --{a} and --{b} are mutually exclusive"
            )));
        }
    }
    let time = args
        .get("time")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                CmdError::msg(format!(
                    "Numeric value '{v}' for <time> option is malformed or out of range"
                ))
            })
        })
        .transpose()?;
    let d = dom(ctx, args)?;
    let (now, sync) = (args.has("now"), args.has("sync"));
    if time.is_some() || now || sync {
        let seconds = match time {
            Some(t) => t,
            None if now => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            None => 0,
        };
        d.set_time(seconds, 0, u32::from(sync))
            .map_err(|e| CmdError::bare(&e))?;
        return Ok(Reply::empty());
    }
    let (seconds, nseconds) = d.get_time(0).map_err(|e| CmdError::bare(&e))?;
    let text = if args.has("pretty") {
        // virsh prints UTC without the zone.
        let full = common::format_time(seconds.max(0) as u64);
        format!("Time: {}\n", &full[..19])
    } else {
        format!("Time: {seconds}\n")
    };
    // virsh prints the time without a newline: one line, not two.
    Ok(Reply {
        bare: true,
        ..Reply::text(text, json!({"seconds": seconds, "nseconds": nseconds}))
    })
}

/// virsh's `domfsfreeze` / `domfsthaw`: every filesystem, or those named.
fn fs_freeze(ctx: &mut Ctx, args: &Args, freeze: bool) -> CmdResult {
    let d = dom(ctx, args)?;
    let points = args.rest();
    let (done, verb, past) = if freeze {
        (d.fs_freeze(points, 0), "freeze", "Froze")
    } else {
        (d.fs_thaw(points, 0), "thaw", "Thawed")
    };
    let n = done.ctx(|| format!("Unable to {verb} filesystems"))?;
    Ok(Reply::message(format!("{past} {n} filesystem(s)")))
}

pub(super) fn domfsfreeze(ctx: &mut Ctx, args: &Args) -> CmdResult {
    fs_freeze(ctx, args, true)
}

pub(super) fn domfsthaw(ctx: &mut Ctx, args: &Args) -> CmdResult {
    fs_freeze(ctx, args, false)
}
