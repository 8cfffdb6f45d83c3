//! Node device commands (virsh's "Node Device" group): the read-only ones.

mod handlers;

use handlers::*;

use crate::Command;
use crate::parse::{data, flag, named};

const G: &str = "Node Device";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "nodedev-dumpxml",
        group: G,
        help: "node device details in XML",
        run: dumpxml,
        opts: &[data(
            "device",
            "device name or wwn pair in 'wwnn,wwpn' format",
        )],
    },
    Command {
        name: "nodedev-list",
        group: G,
        help: "enumerate devices on this host",
        run: list,
        opts: &[
            flag("tree", "list devices in a tree"),
            named("cap", "capability names, separated by comma"),
            flag("inactive", "list inactive devices"),
            flag("all", "list inactive & active devices"),
        ],
    },
];
