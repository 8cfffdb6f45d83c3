//! Storage pool commands.

mod handlers;

use handlers::*;

use serde_json::json;

use crate::parse::{Args, data, data_opt, flag, named};
use crate::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use crate::{common, lookup};
use wirt::StoragePool;
use wirt::connect::pool_flags as sf;
use wirt::xml::tree::{escape_attr, escape_text};
use wirt::xml::units::pretty_capacity;

const P: &str = "Storage Pool";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "pool-event",
        group: P,
        help: "Storage Pool Events",
        run: pool_event,
        opts: &[
            named("pool", "filter by storage pool name or uuid"),
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
        name: "pool-capabilities",
        group: P,
        help: "storage pool capabilities",
        run: pool_capabilities,
        opts: &[],
    },
    Command {
        name: "pool-list",
        group: P,
        help: "list pools",
        run: pool_list,
        opts: &[
            flag("inactive", "list inactive pools"),
            flag("all", "list inactive & active pools"),
            flag("transient", "list transient pools"),
            flag("persistent", "list persistent pools"),
            flag("autostart", "list pools with autostart enabled"),
            flag("no-autostart", "list pools with autostart disabled"),
            named("type", "only list pool of specified type(s) (if supported)"),
            flag("details", "display extended details for pools"),
            flag("uuid", "list UUID of active pools only"),
            flag("name", "list name of active pools only"),
        ],
    },
    Command {
        name: "pool-define",
        group: P,
        help: "define an inactive persistent storage pool or modify an existing persistent one from an XML file",
        run: pool_define,
        opts: &[
            data("file", "file containing an XML pool description"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "pool-create",
        group: P,
        help: "create a pool from an XML file",
        run: pool_create,
        opts: &[
            data("file", "file containing an XML pool description"),
            flag("build", "build the pool as normal"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "pool-define-as",
        group: P,
        help: "define a pool from a set of args",
        run: pool_define_as,
        opts: POOL_AS_OPTS,
    },
    Command {
        name: "pool-create-as",
        group: P,
        help: "create a pool from a set of args",
        run: pool_create_as,
        opts: POOL_AS_OPTS,
    },
    Command {
        name: "pool-build",
        group: P,
        help: "build a pool",
        run: pool_build,
        opts: &[
            data("pool", "pool name or uuid"),
            flag("no-overwrite", "do not overwrite any existing data"),
            flag("overwrite", "overwrite any existing data"),
        ],
    },
    Command {
        name: "pool-start",
        group: P,
        help: "start a (previously defined) inactive pool",
        run: pool_start,
        opts: &[
            data("pool", "name or uuid of the inactive pool"),
            flag("build", "build the pool as normal"),
        ],
    },
    Command {
        name: "pool-destroy",
        group: P,
        help: "destroy (stop) a pool",
        run: pool_destroy,
        opts: &[data("pool", "pool name or uuid")],
    },
    Command {
        name: "pool-delete",
        group: P,
        help: "delete a pool",
        run: pool_delete,
        opts: &[data("pool", "pool name or uuid")],
    },
    Command {
        name: "pool-undefine",
        group: P,
        help: "undefine an inactive pool",
        run: pool_undefine,
        opts: &[data("pool", "pool name or uuid")],
    },
    Command {
        name: "pool-refresh",
        group: P,
        help: "refresh a pool",
        run: pool_refresh,
        opts: &[data("pool", "pool name or uuid")],
    },
    Command {
        name: "pool-info",
        group: P,
        help: "storage pool information",
        run: pool_info,
        opts: &[
            data("pool", "pool name or uuid"),
            flag("bytes", "Return pool info in bytes"),
        ],
    },
    Command {
        name: "pool-dumpxml",
        group: P,
        help: "pool information in XML",
        run: pool_dumpxml,
        opts: &[
            data("pool", "pool name or uuid"),
            flag("inactive", "show inactive defined XML"),
        ],
    },
    Command {
        name: "pool-autostart",
        group: P,
        help: "autostart a pool",
        run: pool_autostart,
        opts: &[
            data("pool", "pool name or uuid"),
            flag("disable", "disable autostarting"),
        ],
    },
    Command {
        name: "pool-uuid",
        group: P,
        help: "convert a pool name to pool UUID",
        run: pool_uuid,
        opts: &[data("pool", "pool name")],
    },
    Command {
        name: "pool-name",
        group: P,
        help: "convert a pool UUID to pool name",
        run: pool_name,
        opts: &[data("pool", "pool uuid")],
    },
];

static POOL_AS_OPTS: &[crate::parse::Opt] = &[
    data("name", "name of the pool"),
    data("type", "type of the pool"),
    flag("print-xml", "print XML document, but don't define/create"),
    data_opt("source-host", "source-host for underlying storage"),
    data_opt("source-path", "source path for underlying storage"),
    data_opt("source-dev", "source device for underlying storage"),
    data_opt("source-name", "source name for underlying storage"),
    data_opt("target", "target for underlying storage"),
    named("source-format", "format for underlying storage"),
    flag("build", "build the pool as normal"),
];

fn pool(ctx: &mut Ctx, args: &Args) -> Result<StoragePool, CmdError> {
    lookup::pool(ctx, args.req("pool"))
}
