//! Host commands: version, uri, hostname, nodeinfo, capabilities, help,
//! maxvcpus, and the plugin commands.

use serde_json::json;

use super::parse::{Args, data_opt};
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
];

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
