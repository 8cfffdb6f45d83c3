//! Host commands: version, uri, hostname, nodeinfo, capabilities, help,
//! maxvcpus, and `conformance` (runs the `wirt-conformance` binary installed
//! beside `wirt`).

use std::os::fd::AsFd;

use serde_json::json;

use super::parse::{Args, data_opt, flag, named};
use super::{CmdError, CmdResult, Command, Ctx, Reply, commands};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "help",
        group: "Virsh itself",
        help: "print help",
        opts: &[data_opt("command", "command or group name")],
        run: help,
    },
    Command {
        name: "version",
        group: "Host and Hypervisor",
        help: "show version",
        opts: &[],
        run: version,
    },
    Command {
        name: "uri",
        group: "Host and Hypervisor",
        help: "print the hypervisor canonical URI",
        opts: &[],
        run: uri,
    },
    Command {
        name: "hostname",
        group: "Host and Hypervisor",
        help: "print the hypervisor hostname",
        opts: &[],
        run: hostname,
    },
    Command {
        name: "nodeinfo",
        group: "Host and Hypervisor",
        help: "node information",
        opts: &[],
        run: nodeinfo,
    },
    Command {
        name: "capabilities",
        group: "Host and Hypervisor",
        help: "capabilities",
        opts: &[],
        run: capabilities,
    },
    Command {
        name: "maxvcpus",
        group: "Host and Hypervisor",
        help: "connection vcpu maximum",
        opts: &[],
        run: maxvcpus,
    },
    Command {
        name: "conformance",
        group: "Plugins",
        help: "check a driver against the lifecycle rules (runs wirt-conformance)",
        opts: CONFORMANCE_OPTS,
        run: conformance,
    },
];

/// `wirt-conformance`'s options, passed through as given.
static CONFORMANCE_OPTS: &[super::parse::Opt] = &[
    named(
        "uri",
        "connection URI to check (default: -c, else the default URI)",
    ),
    named("plugin", "driver plugin (.wasm) to check, loaded directly"),
    named("plugin-uri", "URI the plugin's open receives"),
    named("cases", "generated cases per property"),
    named("seed", "seed of the generator"),
    named("json", "also write the report as JSON to this file"),
    named("pool-dir", "directory for the storage property's pools"),
    named("pool-type", "pool type the storage property defines"),
    named("property", "run only these properties (comma-separated)"),
    flag("shared", "run every case on the URI's own host"),
];

/// Runs `wirt-conformance` from the directory of the running `wirt`.
fn conformance(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let exe = std::env::current_exe()
        .map_err(|e| CmdError::msg(format!("cannot locate the wirt executable: {e}")))?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    let tool = dir.join(format!("wirt-conformance{}", std::env::consts::EXE_SUFFIX));
    if !tool.is_file() {
        return Err(CmdError::msg(format!(
            "wirt-conformance is not installed: expected it at {} (build it with \
             `cargo build -p wirt-conformance`, or install it beside wirt)",
            tool.display()
        )));
    }
    let mut argv: Vec<String> = Vec::new();
    let mut pass = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            argv.push(format!("--{name}"));
            argv.push(v.to_string());
        }
    };
    if args.get("plugin").is_none() {
        let uri = args
            .get("uri")
            .map(String::from)
            .or_else(|| ctx.uri.clone())
            .unwrap_or_else(super::default_uri);
        pass("uri", Some(&uri));
    }
    for name in [
        "plugin",
        "plugin-uri",
        "cases",
        "seed",
        "pool-dir",
        "pool-type",
        "property",
    ] {
        pass(name, args.get(name));
    }
    if args.has("shared") {
        argv.push("--shared".into());
    }
    // With --json the report is the command's JSON output, and the human
    // summary goes to stderr so stdout stays one JSON document.
    let report_file = match (args.get("json"), ctx.json) {
        (Some(path), _) => Some(std::path::PathBuf::from(path)),
        (None, true) => {
            Some(std::env::temp_dir().join(format!("wirt-conformance-{}.json", std::process::id())))
        }
        (None, false) => None,
    };
    if let Some(path) = &report_file {
        argv.push("--json".into());
        argv.push(path.display().to_string());
    }
    let mut command = std::process::Command::new(&tool);
    command.args(&argv);
    if ctx.json {
        command.stdout(std::process::Stdio::from(
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| CmdError::msg(format!("cannot redirect output: {e}")))?,
        ));
    }
    let status = command
        .status()
        .map_err(|e| CmdError::msg(format!("cannot run {}: {e}", tool.display())))?;
    let report = report_file.as_ref().and_then(|path| {
        let text = std::fs::read_to_string(path).ok();
        if args.get("json").is_none() {
            let _ = std::fs::remove_file(path);
        }
        text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    });
    match status.code() {
        Some(0) => Ok(Reply::text(
            String::new(),
            report.unwrap_or_else(|| json!({"ok": true})),
        )),
        Some(1) => Err(CmdError::msg("the conformance suite found violations")),
        _ => Err(CmdError::msg(format!(
            "wirt-conformance could not run ({status})"
        ))),
    }
}

fn version_string(v: u64) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

fn help(_: &mut Ctx, args: &Args) -> CmdResult {
    let all = commands();
    if let Some(name) = args.get("command") {
        let cmd = all.iter().find(|c| c.name == name).ok_or_else(|| {
            CmdError::msg(format!("command or command group '{name}' doesn't exist"))
        })?;
        let mut text = format!(
            "  NAME\n    {} - {}\n\n  SYNOPSIS\n    {}",
            cmd.name, cmd.help, cmd.name
        );
        for o in cmd.opts {
            text.push_str(&match (o.kind, o.required) {
                (super::parse::Kind::Bool, _) => format!(" [--{}]", o.name),
                (super::parse::Kind::Data, true) => format!(" <{}>", o.name),
                (super::parse::Kind::Data, false) => format!(" [<{}>]", o.name),
                (super::parse::Kind::Named, _) => format!(" [--{} <string>]", o.name),
            });
        }
        text.push_str("\n\n  OPTIONS\n");
        for o in cmd.opts {
            text.push_str(&format!("    --{:<18} {}\n", o.name, o.help));
        }
        text.push('\n');
        let opts: Vec<_> = cmd
            .opts
            .iter()
            .map(|o| json!({"name": o.name, "required": o.required, "help": o.help}))
            .collect();
        return Ok(Reply::text(
            text,
            json!({"name": cmd.name, "help": cmd.help, "options": opts}),
        ));
    }
    let mut text = String::new();
    let mut group = "";
    for cmd in &all {
        if cmd.group != group {
            group = cmd.group;
            text.push_str(&format!(
                " {group} (help keyword '{}'):\n",
                group.split_whitespace().next().unwrap_or("").to_lowercase()
            ));
        }
        text.push_str(&format!("    {:<20} {}\n", cmd.name, cmd.help));
    }
    let list: Vec<_> = all
        .iter()
        .map(|c| json!({"name": c.name, "group": c.group, "help": c.help}))
        .collect();
    Ok(Reply::text(text, json!(list)))
}

fn version(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let conn = ctx.conn()?;
    let lib = version_string(conn.lib_version());
    let text = format!(
        "Compiled against library: libvirt {lib}\nUsing library: libvirt {lib}\nUsing API: {ty} {lib}\nRunning hypervisor: {ty} {hv}\n",
        ty = conn.type_name(),
        hv = version_string(conn.version()),
    );
    let json = json!({
        "library": lib,
        "api": conn.type_name(),
        "hypervisor": {"type": conn.type_name(), "version": version_string(conn.version())},
        "wirt": env!("CARGO_PKG_VERSION"),
    });
    Ok(Reply::text(text, json))
}

fn uri(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("uri", ctx.conn()?.uri()))
}

fn hostname(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("hostname", ctx.conn()?.hostname()))
}

fn maxvcpus(ctx: &mut Ctx, _: &Args) -> CmdResult {
    Ok(Reply::value("maxvcpus", ctx.conn()?.max_vcpus()))
}

fn nodeinfo(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let n = ctx.conn()?.node_info();
    let rows = [
        ("CPU model:", n.cpu_model.clone()),
        ("CPU(s):", n.cpus.to_string()),
        ("CPU frequency:", format!("{} MHz", n.mhz)),
        ("CPU socket(s):", n.sockets.to_string()),
        ("Core(s) per socket:", n.cores.to_string()),
        ("Thread(s) per core:", n.threads.to_string()),
        ("NUMA cell(s):", n.numa_nodes.to_string()),
        ("Memory size:", format!("{} KiB", n.memory_kib)),
    ];
    let text: String = rows.iter().map(|(k, v)| format!("{k:<20} {v}\n")).collect();
    let json = json!({
        "cpu_model": n.cpu_model, "cpus": n.cpus, "mhz": n.mhz, "sockets": n.sockets,
        "cores": n.cores, "threads": n.threads, "numa_nodes": n.numa_nodes, "memory_kib": n.memory_kib,
    });
    Ok(Reply::text(text, json))
}

fn capabilities(ctx: &mut Ctx, _: &Args) -> CmdResult {
    let xml = ctx.conn()?.capabilities_xml();
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}
