//! Snapshot commands.

mod handlers;

use handlers::*;
use serde_json::json;

use crate::parse::{Args, argv, data, data_opt, flag, named};
use crate::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use crate::{common, lookup};
use wirt::connect::snapshot_flags as sf;
use wirt::xml::tree::{escape_attr, escape_text};
use wirt::{Domain, Snapshot};

const G: &str = "Snapshot";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "snapshot-create",
        group: G,
        help: "Create a snapshot from XML",
        run: create,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("xmlfile", "domain snapshot XML"),
            flag("halt", "halt domain after snapshot is created"),
            flag("disk-only", "capture disk state but not vm state"),
            flag("reuse-external", "reuse any existing external files"),
            flag("atomic", "require atomic operation"),
            flag("live", "take a live snapshot"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "snapshot-create-as",
        group: G,
        help: "Create a snapshot from a set of args",
        run: create_as,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("name", "name of snapshot"),
            data_opt("description", "description of snapshot"),
            flag("print-xml", "print XML document rather than create"),
            flag("no-metadata", "take snapshot but create no metadata"),
            flag("halt", "halt domain after snapshot is created"),
            flag("disk-only", "capture disk state but not vm state"),
            flag("reuse-external", "reuse any existing external files"),
            flag("atomic", "require atomic operation"),
            flag("live", "take a live snapshot"),
            flag("validate", "validate the XML against the schema"),
            named("memspec", "memory attributes: [file=]name[,snapshot=type]"),
            argv(
                "diskspec",
                "disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]",
            ),
        ],
    },
    Command {
        name: "snapshot-list",
        group: G,
        help: "List snapshots for a domain",
        run: list,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("parent", "add a column showing parent snapshot"),
            flag("roots", "list only snapshots without parents"),
            flag("leaves", "list only snapshots without children"),
            flag("tree", "list snapshots in a tree"),
            flag("name", "list snapshot names only"),
            flag("current", "limit list to children of current snapshot"),
            flag("topological", "sort list topologically rather than by name"),
        ],
    },
    Command {
        name: "snapshot-current",
        group: G,
        help: "Get the current snapshot",
        run: current,
        opts: &[
            data("domain", "domain name, id or uuid"),
            flag("name", "list the name, rather than the full xml"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "snapshot-info",
        group: G,
        help: "snapshot information",
        run: info,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "info on current snapshot"),
        ],
    },
    Command {
        name: "snapshot-dumpxml",
        group: G,
        help: "Dump XML for a domain snapshot",
        run: dumpxml,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("snapshotname", "snapshot name"),
            flag(
                "security-info",
                "include security sensitive information in XML dump",
            ),
        ],
    },
    Command {
        name: "snapshot-parent",
        group: G,
        help: "Get the name of the parent of a snapshot",
        run: parent,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "find parent of snapshot name"),
            flag("current", "find parent of current snapshot"),
        ],
    },
    Command {
        name: "snapshot-revert",
        group: G,
        help: "Revert a domain to a snapshot",
        run: revert,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "revert to current snapshot"),
            flag("running", "after reverting, change state to running"),
            flag("paused", "after reverting, change state to paused"),
            flag("force", "try harder on risky reverts"),
            named(
                "reset-nvram",
                "re-initialize NVRAM from its pristine template",
            ),
        ],
    },
    Command {
        name: "snapshot-delete",
        group: G,
        help: "Delete a domain snapshot",
        run: delete,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data_opt("snapshotname", "snapshot name"),
            flag("current", "delete current snapshot"),
            flag("children", "delete snapshot and all children"),
            flag("children-only", "delete children but not snapshot"),
            flag(
                "metadata",
                "delete only libvirt metadata, leaving snapshot contents behind",
            ),
        ],
    },
];

fn pick(ctx: &mut Ctx, args: &Args) -> Result<(Domain, Snapshot), CmdError> {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let snap = match args.get("snapshotname") {
        Some(name) => d
            .snapshot_lookup_by_name(name)
            .ctx(|| format!("failed to get snapshot '{name}'"))?,
        None if args.has("current") || args.get("snapshotname").is_none() => {
            d.snapshot_current()
                .ctx(|| "failed to get current snapshot".into())?
        }
        None => unreachable!("covered above"),
    };
    Ok((d, snap))
}
