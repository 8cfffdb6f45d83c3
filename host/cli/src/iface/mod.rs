//! Host interface commands (virsh's "Interface" group).

mod handlers;

use handlers::*;

use crate::Command;
use crate::parse::{data, flag};

const G: &str = "Interface";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "iface-begin",
        group: G,
        help: "create a snapshot of current interfaces settings, which can be later committed (iface-commit) or restored (iface-rollback)",
        run: begin,
        opts: &[],
    },
    Command {
        name: "iface-commit",
        group: G,
        help: "commit changes made since iface-begin and free restore point",
        run: commit,
        opts: &[],
    },
    Command {
        name: "iface-define",
        group: G,
        help: "define an inactive persistent physical host interface or modify an existing persistent one from an XML file",
        run: define,
        opts: &[
            data("file", "file containing an XML interface description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "iface-destroy",
        group: G,
        help: "destroy a physical host interface (disable it / \"if-down\")",
        run: destroy,
        opts: &[data("interface", "interface name or MAC address")],
    },
    Command {
        name: "iface-dumpxml",
        group: G,
        help: "interface information in XML",
        run: dumpxml,
        opts: &[
            data("interface", "interface name or MAC address"),
            flag("inactive", "show inactive defined XML"),
        ],
    },
    Command {
        name: "iface-list",
        group: G,
        help: "list physical host interfaces",
        run: list,
        opts: &[
            flag("inactive", "list inactive interfaces"),
            flag("all", "list inactive & active interfaces"),
        ],
    },
    Command {
        name: "iface-mac",
        group: G,
        help: "convert an interface name to interface MAC address",
        run: mac,
        opts: &[data("interface", "interface name")],
    },
    Command {
        name: "iface-name",
        group: G,
        help: "convert an interface MAC address to interface name",
        run: name,
        opts: &[data("interface", "interface mac")],
    },
    Command {
        name: "iface-rollback",
        group: G,
        help: "rollback to previous saved configuration created via iface-begin",
        run: rollback,
        opts: &[],
    },
    Command {
        name: "iface-start",
        group: G,
        help: "start a physical host interface (enable it / \"if-up\")",
        run: start,
        opts: &[data("interface", "interface name or MAC address")],
    },
    Command {
        name: "iface-undefine",
        group: G,
        help: "undefine a physical host interface (remove it from configuration)",
        run: undefine,
        opts: &[data("interface", "interface name or MAC address")],
    },
];
