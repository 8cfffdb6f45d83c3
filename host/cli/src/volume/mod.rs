//! Storage volume commands.

mod handlers;

use handlers::*;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

use serde_json::json;

use crate::parse::{Args, data, flag, named};
use crate::progress::Progress;
use crate::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use crate::{common, lookup};
use wirt::StoragePool;
use wirt::connect::volume_flags as vf;
use wirt::xml::tree::{escape_attr, escape_text};
use wirt::xml::units::{parse_size_arg, pretty_capacity};

const V: &str = "Storage Volume";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "vol-list",
        group: V,
        help: "list vols",
        run: vol_list,
        opts: &[
            data("pool", "pool name or uuid"),
            flag("details", "display extended details for volumes"),
        ],
    },
    Command {
        name: "vol-create",
        group: V,
        help: "create a vol from an XML file",
        run: vol_create,
        opts: &[
            data("pool", "pool name"),
            data("file", "file containing an XML vol description"),
            flag(
                "prealloc-metadata",
                "preallocate metadata (for qcow2 instead of full allocation)",
            ),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "vol-create-as",
        group: V,
        help: "create a volume from a set of args",
        run: vol_create_as,
        opts: &[
            data("pool", "pool name"),
            data("name", "name of the volume"),
            data(
                "capacity",
                "size of the vol, as scaled integer (default bytes)",
            ),
            named(
                "allocation",
                "initial allocation size, as scaled integer (default bytes)",
            ),
            named("format", "file format type raw,bochs,qcow,qcow2,qed,vmdk"),
            named("backing-vol", "the backing volume if taking a snapshot"),
            named(
                "backing-vol-format",
                "format of backing volume if taking a snapshot",
            ),
            flag(
                "prealloc-metadata",
                "preallocate metadata (for qcow2 instead of full allocation)",
            ),
            flag("print-xml", "print XML document, but don't define/create"),
        ],
    },
    Command {
        name: "vol-create-from",
        group: V,
        help: "create a vol, using another volume as input",
        run: vol_create_from,
        opts: &[
            data("pool", "pool name"),
            data("file", "file containing an XML vol description"),
            data("vol", "input vol name or key"),
            named("inputpool", "pool name or uuid of the input volume's pool"),
            flag(
                "prealloc-metadata",
                "preallocate metadata (for qcow2 instead of full allocation)",
            ),
            flag("reflink", "use btrfs COW lightweight copy"),
            flag("validate", "validate the XML against the schema"),
        ],
    },
    Command {
        name: "vol-clone",
        group: V,
        help: "clone a volume.",
        run: vol_clone,
        opts: &[
            data("vol", "vol name, key or path"),
            data("newname", "clone name"),
            named("pool", "pool name or uuid"),
            flag(
                "prealloc-metadata",
                "preallocate metadata (for qcow2 instead of full allocation)",
            ),
            flag("reflink", "use btrfs COW lightweight copy"),
            flag(
                "print-xml",
                "print XML document instead of cloning the volume",
            ),
        ],
    },
    Command {
        name: "vol-delete",
        group: V,
        help: "delete a vol",
        run: vol_delete,
        opts: &[
            data("vol", "vol name, key or path"),
            named("pool", "pool name or uuid"),
            flag(
                "delete-snapshots",
                "delete snapshots associated with volume",
            ),
        ],
    },
    Command {
        name: "vol-wipe",
        group: V,
        help: "wipe a vol",
        run: vol_wipe,
        opts: &[
            data("vol", "vol name, key or path"),
            named("pool", "pool name or uuid"),
            named("algorithm", "perform selected wiping algorithm"),
        ],
    },
    Command {
        name: "vol-resize",
        group: V,
        help: "resize a vol",
        run: vol_resize,
        opts: &[
            data("vol", "vol name, key or path"),
            data(
                "capacity",
                "new capacity for the vol, as scaled integer (default bytes)",
            ),
            named("pool", "pool name or uuid"),
            flag(
                "allocate",
                "allocate the new capacity, rather than leaving it sparse",
            ),
            flag(
                "delta",
                "use capacity as a delta to current size, rather than the new size",
            ),
            flag("shrink", "allow the resize to shrink the volume"),
        ],
    },
    Command {
        name: "vol-upload",
        group: V,
        help: "upload file contents to a volume",
        run: vol_upload,
        opts: &[
            data("vol", "vol name, key or path"),
            data("file", "file"),
            named("pool", "pool name or uuid"),
            named("offset", "volume offset to upload to"),
            named("length", "amount of data to upload"),
            flag("sparse", "preserve sparseness of volume"),
        ],
    },
    Command {
        name: "vol-download",
        group: V,
        help: "download volume contents to a file",
        run: vol_download,
        opts: &[
            data("vol", "vol name, key or path"),
            data("file", "file"),
            named("pool", "pool name or uuid"),
            named("offset", "volume offset to download from"),
            named("length", "amount of data to download"),
            flag("sparse", "preserve sparseness of volume"),
        ],
    },
    Command {
        name: "vol-info",
        group: V,
        help: "storage vol information",
        run: vol_info,
        opts: &[
            data("vol", "vol name, key or path"),
            named("pool", "pool name or uuid"),
            flag(
                "bytes",
                "sizes are represented in bytes rather than pretty units",
            ),
            flag(
                "physical",
                "return the physical size of the volume in allocation field",
            ),
        ],
    },
    Command {
        name: "vol-dumpxml",
        group: V,
        help: "vol information in XML",
        run: vol_dumpxml,
        opts: &[
            data("vol", "vol name, key or path"),
            named("pool", "pool name or uuid"),
        ],
    },
    Command {
        name: "vol-path",
        group: V,
        help: "returns the volume path for a given volume name or key",
        run: vol_path,
        opts: &[
            data("vol", "volume name or key"),
            named("pool", "pool name or uuid"),
        ],
    },
    Command {
        name: "vol-key",
        group: V,
        help: "returns the volume key for a given volume name or path",
        run: vol_key,
        opts: &[
            data("vol", "volume name or path"),
            named("pool", "pool name or uuid"),
        ],
    },
    Command {
        name: "vol-name",
        group: V,
        help: "returns the volume name for a given volume key or path",
        run: vol_name,
        opts: &[data("vol", "volume key or path")],
    },
    Command {
        name: "vol-pool",
        group: V,
        help: "returns the storage pool for a given volume key or path",
        run: vol_pool,
        opts: &[
            data("vol", "volume key or path"),
            flag("uuid", "return the pool uuid rather than pool name"),
        ],
    },
];

fn pool(ctx: &mut Ctx, args: &Args) -> Result<StoragePool, CmdError> {
    lookup::pool(ctx, args.req("pool"))
}
