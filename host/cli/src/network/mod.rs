//! Network commands.

mod handlers;

use handlers::*;
use serde_json::json;

use crate::parse::{Args, data, flag, named};
use crate::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use crate::{common, lookup};
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
        name: "net-dhcp-leases",
        group: G,
        help: "print lease info for a given network",
        run: dhcp_leases,
        opts: &[
            data("network", "network name or uuid"),
            named("mac", "MAC address"),
        ],
    },
    Command {
        name: "net-event",
        group: G,
        help: "Network Events",
        run: net_event,
        opts: &[
            named("network", "filter by network name or uuid"),
            named("event", "which event type to wait for"),
            flag("all", "wait for all events instead of just one type"),
            flag(
                "loop",
                "loop until timeout or interrupt, rather than one-shot",
            ),
            named("timeout", "timeout seconds"),
            flag("list", "list valid event types"),
            flag("timestamp", "show timestamp for each printed event"),
        ],
    },
    Command {
        name: "domifaddr",
        group: "Domain Monitoring",
        help: "Get network interfaces' addresses for a running domain",
        run: domifaddr,
        opts: &[
            data("domain", "domain name, id or uuid"),
            named("interface", "network interface name"),
            flag("full", "always display names and MACs of interfaces"),
            named("source", "address source: 'lease', 'agent', or 'arp'"),
        ],
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

fn net(ctx: &mut Ctx, args: &Args) -> Result<Network, CmdError> {
    lookup::network(ctx, args.req("network"))
}
