//! Network commands.

use serde_json::json;

use super::parse::{Args, data, flag, named};
use super::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use wirt::Network;
use wirt::connect::network_flags as nf;

const G: &str = "Networking";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "net-list",
        group: G,
        help: "list networks",
        run: list,
        opts: &[
            flag("all", "list inactive & active networks"),
            flag("inactive", "list inactive networks"),
            flag("persistent", "list persistent networks"),
            flag("transient", "list transient networks"),
            flag("autostart", "list networks with autostart enabled"),
            flag("no-autostart", "list networks with autostart disabled"),
            flag("uuid", "list uuid's only"),
            flag("name", "list network names only"),
            flag("table", "list table (default)"),
        ],
    },
    Command {
        name: "net-define",
        group: G,
        help: "define an inactive persistent virtual network or modify an existing persistent one from an XML file",
        run: define,
        opts: &[
            data("file", "file containing an XML network description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "net-create",
        group: G,
        help: "create a network from an XML file",
        run: create,
        opts: &[
            data("file", "file containing an XML network description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "net-start",
        group: G,
        help: "start a (previously defined) inactive network",
        run: start,
        opts: &[data("network", "network name or uuid")],
    },
    Command {
        name: "net-destroy",
        group: G,
        help: "destroy (stop) a network",
        run: destroy,
        opts: &[data("network", "network name or uuid")],
    },
    Command {
        name: "net-undefine",
        group: G,
        help: "undefine a persistent network",
        run: undefine,
        opts: &[data("network", "network name or uuid")],
    },
    Command {
        name: "net-info",
        group: G,
        help: "network information",
        run: info,
        opts: &[data("network", "network name or uuid")],
    },
    Command {
        name: "net-dumpxml",
        group: G,
        help: "network information in XML",
        run: dumpxml,
        opts: &[
            data("network", "network name or uuid"),
            flag("inactive", "show inactive defined XML"),
        ],
    },
    Command {
        name: "net-autostart",
        group: G,
        help: "autostart a network",
        run: autostart,
        opts: &[
            data("network", "network name or uuid"),
            flag("disable", "disable autostarting"),
        ],
    },
    Command {
        name: "net-uuid",
        group: G,
        help: "convert a network name to network UUID",
        run: uuid,
        opts: &[data("network", "network name")],
    },
    Command {
        name: "net-name",
        group: G,
        help: "convert a network UUID to network name",
        run: name,
        opts: &[data("network", "network uuid")],
    },
    Command {
        name: "net-update",
        group: G,
        help: "update parts of an existing network's configuration",
        run: update,
        opts: &[
            data("network", "network name or uuid"),
            data(
                "command",
                "type of update (add-first, add-last (add), delete, or modify)",
            ),
            data(
                "section",
                "which section of network configuration to update",
            ),
            data(
                "xml",
                "name of file containing xml (or, if it starts with '<', the complete text of the xml element) to add/modify, or to be matched for search",
            ),
            named("parent-index", "which parent object to search through"),
            flag("config", "affect next network startup"),
            flag("live", "affect running network"),
            flag("current", "affect current state of network"),
        ],
    },
];

fn lookup(ctx: &mut Ctx, arg: &str) -> Result<Network, CmdError> {
    let conn = ctx.conn()?;
    if let Ok(uuid) = wirt::xml::domain::parse_uuid(arg)
        && let Ok(n) = conn.lookup_network_by_uuid(&uuid)
    {
        return Ok(n);
    }
    conn.lookup_network_by_name(arg)
        .ctx(|| format!("failed to get network '{arg}'"))
}

fn net(ctx: &mut Ctx, args: &Args) -> Result<Network, CmdError> {
    lookup(ctx, args.req("network"))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = 0;
    for (opt, bit) in [
        ("inactive", nf::LIST_INACTIVE),
        ("persistent", nf::LIST_PERSISTENT),
        ("transient", nf::LIST_TRANSIENT),
        ("autostart", nf::LIST_AUTOSTART),
        ("no-autostart", nf::LIST_NO_AUTOSTART),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    if args.has("all") {
        flags &= !nf::LIST_INACTIVE;
    } else if flags & nf::LIST_INACTIVE == 0 {
        flags |= nf::LIST_ACTIVE;
    }
    let nets = ctx
        .conn()?
        .list_all_networks(flags)
        .ctx(|| "Failed to list networks".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for n in &nets {
        let (Ok(active), Ok(auto), Ok(persistent)) =
            (n.is_active(), n.autostart(), n.is_persistent())
        else {
            continue;
        };
        rows.push(vec![
            n.name().to_string(),
            if active { "active" } else { "inactive" }.into(),
            yes_no(auto),
            yes_no(persistent),
        ]);
        json_rows.push(json!({"name": n.name(), "uuid": n.uuid().to_string(), "active": active, "autostart": auto, "persistent": persistent}));
    }
    if !args.has("table") && (args.has("name") || args.has("uuid")) {
        let text: String = nets
            .iter()
            .map(|n| match (args.has("uuid"), args.has("name")) {
                (true, true) => format!("{} {}\n", n.uuid(), n.name()),
                (true, false) => format!("{}\n", n.uuid()),
                _ => format!("{}\n", n.name()),
            })
            .collect::<String>();
        return Ok(Reply::text(text, json!(json_rows)));
    }
    Ok(Reply::table(
        &["Name", "State", "Autostart", "Persistent"],
        &rows,
        json_rows,
    ))
}

fn read_file(path: &str) -> Result<String, CmdError> {
    std::fs::read_to_string(path).map_err(|e| {
        CmdError::msg(format!(
            "Failed to open file '{path}': {}",
            super::domain::io_reason(&e)
        ))
    })
}

fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let n = ctx
        .conn()?
        .define_network_xml(&xml)
        .ctx(|| format!("Failed to define network from {file}"))?;
    Ok(Reply::message(format!(
        "Network {} defined from {file}",
        n.name()
    )))
}

fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let n = ctx
        .conn()?
        .create_network_xml(&xml)
        .ctx(|| format!("Failed to create network from {file}"))?;
    Ok(Reply::message(format!(
        "Network {} created from {file}",
        n.name()
    )))
}

fn start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.start()
        .ctx(|| format!("Failed to start network {}", n.name()))?;
    Ok(Reply::message(format!("Network {} started", n.name())))
}

fn destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.destroy()
        .ctx(|| format!("Failed to destroy network {}", n.name()))?;
    Ok(Reply::message(format!("Network {} destroyed", n.name())))
}

fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    n.undefine()
        .ctx(|| format!("Failed to undefine network {}", n.name()))?;
    Ok(Reply::message(format!(
        "Network {} has been undefined",
        n.name()
    )))
}

fn info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let fail = || format!("failed to get network information for '{}'", n.name());
    let mut rows = vec![
        ("Name", n.name().to_string()),
        ("UUID", n.uuid().to_string()),
        ("Active", yes_no(n.is_active().ctx(fail)?)),
        ("Persistent", yes_no(n.is_persistent().ctx(fail)?)),
        ("Autostart", yes_no(n.autostart().ctx(fail)?)),
    ];
    if let Some(bridge) = n.bridge_name().ctx(fail)? {
        rows.push(("Bridge", bridge));
    }
    Ok(Reply::key_values(&rows))
}

fn dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let flags = if args.has("inactive") {
        nf::XML_INACTIVE
    } else {
        0
    };
    let xml = n
        .xml_desc(flags)
        .ctx(|| format!("failed to get network '{}' XML", n.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let enable = !args.has("disable");
    let un = if enable { "" } else { "un" };
    n.set_autostart(enable)
        .ctx(|| format!("failed to {un}mark network {} as autostarted", n.name()))?;
    Ok(Reply::message(format!(
        "Network {} {un}marked as autostarted",
        n.name()
    )))
}

fn uuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    Ok(Reply::value("uuid", n.uuid()))
}

fn name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let arg = args.req("network");
    let conn = ctx.conn()?;
    let uuid = wirt::xml::domain::parse_uuid(arg)
        .map_err(|_| CmdError::msg(format!("failed to get network '{arg}'")))?;
    let n = conn
        .lookup_network_by_uuid(&uuid)
        .ctx(|| format!("failed to get network '{arg}'"))?;
    Ok(Reply::value("name", n.name()))
}

fn update(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let n = net(ctx, args)?;
    let xml_arg = args.req("xml");
    let xml = if xml_arg.trim_start().starts_with('<') {
        xml_arg.to_string()
    } else {
        read_file(xml_arg)?
    };
    let mut flags = 0;
    if args.has("live") {
        flags |= nf::UPDATE_LIVE;
    }
    if args.has("config") {
        flags |= nf::UPDATE_CONFIG;
    }
    let parent = args
        .u64("parent-index")
        .map_err(CmdError::msg)?
        .map(|v| v as usize);
    let command = match args.req("command") {
        "add" => "add-last",
        other => other,
    };
    let active = n.is_active().map_err(|e| CmdError::bare(&e))?;
    n.update(command, args.req("section"), parent, &xml, flags)
        .ctx(|| "Failed to update network".into())?;
    let (live, config) = match flags {
        0 => (active, !active),
        f => (f & nf::UPDATE_LIVE != 0, f & nf::UPDATE_CONFIG != 0),
    };
    let what = match (live, config) {
        (true, true) => "persistent config and live state",
        (true, false) => "live state",
        _ => "persistent config",
    };
    Ok(Reply::message(format!(
        "Updated network {} {what}",
        n.name()
    )))
}
