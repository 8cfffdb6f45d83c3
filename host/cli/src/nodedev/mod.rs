//! Node device commands (virsh's "Node Device" group).

mod handlers;

use handlers::*;

use crate::Command;
use crate::parse::{data, flag, named};

const G: &str = "Node Device";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "nodedev-create",
        group: G,
        help: "create a device defined by an XML file on the node",
        run: create,
        opts: &[
            data("file", "file containing an XML description of the device"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "nodedev-destroy",
        group: G,
        help: "destroy (stop) a device on the node",
        run: destroy,
        opts: &[data(
            "device",
            "device name or wwn pair in 'wwnn,wwpn' format",
        )],
    },
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
        name: "nodedev-event",
        group: G,
        help: "Node Device Events",
        run: event,
        opts: &[
            named("device", "filter by node device name"),
            named("event", "which event type to wait for"),
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
