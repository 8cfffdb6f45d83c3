//! Secret commands (virsh's "Secret" group).

mod handlers;

use handlers::*;

use crate::Command;
use crate::parse::{data, flag, named};

const G: &str = "Secret";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "secret-define",
        group: G,
        help: "define or modify a secret from an XML file",
        run: define,
        opts: &[
            data("file", "file containing secret attributes in XML"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "secret-dumpxml",
        group: G,
        help: "secret attributes in XML",
        run: dumpxml,
        opts: &[data("secret", "secret UUID")],
    },
    Command {
        name: "secret-event",
        group: G,
        help: "Secret Events",
        run: event,
        opts: &[
            named("secret", "filter by secret name or uuid"),
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
        name: "secret-get-value",
        group: G,
        help: "Output a secret value",
        run: get_value,
        opts: &[
            data("secret", "secret UUID"),
            flag("plain", "get value without converting to base64"),
        ],
    },
    Command {
        name: "secret-list",
        group: G,
        help: "list secrets",
        run: list,
        opts: &[
            flag("ephemeral", "list ephemeral secrets"),
            flag("no-ephemeral", "list non-ephemeral secrets"),
            flag("private", "list private secrets"),
            flag("no-private", "list non-private secrets"),
        ],
    },
    Command {
        name: "secret-set-value",
        group: G,
        help: "set a secret value",
        run: set_value,
        opts: &[
            data("secret", "secret UUID"),
            named("file", "read secret from file"),
            flag(
                "plain",
                "read the secret from file without converting from base64",
            ),
            flag("interactive", "read the secret from the terminal"),
            named("base64", "base64-encoded secret value"),
        ],
    },
    Command {
        name: "secret-undefine",
        group: G,
        help: "undefine a secret",
        run: undefine,
        opts: &[data("secret", "secret UUID")],
    },
];
