//! The table of every command, for lookup and for `help`, which lists it.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::json;

use crate::parse::{Args, Kind, data_opt};
use crate::{CmdError, CmdResult, Command, Ctx, Reply};
use crate::{domain, host, iface, network, nodedev, plugins, pool, secret, snapshot, volume};

/// `help`: the table itself, or one command's options.
static HELP: Command = Command {
    name: "help",
    group: "Virsh itself",
    help: "print help",
    opts: &[data_opt("command", "command or group name")],
    run: help,
};

/// Every command, in `help`'s order. Built once: a session of thousands
/// of commands looks each one up.
static ALL: LazyLock<Vec<&'static Command>> = LazyLock::new(|| {
    let mut all: Vec<&'static Command> = vec![&HELP];
    all.extend(host::BUILTINS.iter());
    all.extend(host::COMMANDS.iter());
    all.extend(domain::COMMANDS.iter());
    all.extend(domain::DEVICE_COMMANDS.iter());
    all.extend(domain::MEDIA_COMMANDS.iter());
    all.extend(domain::DESCRIBE_COMMANDS.iter());
    all.extend(domain::BLOCK_JOB_COMMANDS.iter());
    all.extend(snapshot::COMMANDS.iter());
    all.extend(network::COMMANDS.iter());
    all.extend(pool::COMMANDS.iter());
    all.extend(volume::COMMANDS.iter());
    all.extend(secret::COMMANDS.iter());
    all.extend(nodedev::COMMANDS.iter());
    all.extend(iface::COMMANDS.iter());
    all.extend(plugins::COMMANDS.iter());
    all
});

/// The commands by name; the first of a name wins, as in the table.
static BY_NAME: LazyLock<HashMap<&'static str, &'static Command>> = LazyLock::new(|| {
    let mut by_name = HashMap::new();
    for cmd in ALL.iter() {
        by_name.entry(cmd.name).or_insert(*cmd);
    }
    by_name
});

/// Every command, in `help`'s order.
pub fn commands() -> &'static [&'static Command] {
    &ALL
}

pub(crate) fn find(name: &str) -> Option<&'static Command> {
    BY_NAME.get(name).copied()
}

fn help(_: &mut Ctx, args: &Args) -> CmdResult {
    let all = commands();
    if let Some(name) = args.get("command") {
        let cmd = find(name).ok_or_else(|| {
            CmdError::msg(format!("command or command group '{name}' doesn't exist"))
        })?;
        let mut text = format!(
            "  NAME\n    {} - {}\n\n  SYNOPSIS\n    {}",
            cmd.name, cmd.help, cmd.name
        );
        for o in cmd.opts {
            text.push_str(&match (o.kind, o.required) {
                (Kind::Bool, _) => format!(" [--{}]", o.name),
                (Kind::Data, true) => format!(" <{}>", o.name),
                (Kind::Data, false) => format!(" [<{}>]", o.name),
                (Kind::Named, _) => format!(" [--{} <string>]", o.name),
                (Kind::Argv, _) => format!(" [<{}>]...", o.name),
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
    for cmd in all {
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
