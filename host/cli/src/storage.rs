//! Storage pool and volume commands.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

use serde_json::json;

use super::parse::{Args, data, data_opt, flag, named};
use super::progress::Progress;
use super::{CmdError, CmdResult, Command, Context, Ctx, Reply};
use wirt::connect::pool_flags as sf;
use wirt::connect::volume_flags as vf;
use wirt::xml::tree::{escape_attr, escape_text};
use wirt::xml::units::{parse_size_arg, pretty_capacity};
use wirt::{StoragePool, StorageVol};

const P: &str = "Storage Pool";
const V: &str = "Storage Volume";

pub static COMMANDS: &[Command] = &[
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

static POOL_AS_OPTS: &[super::parse::Opt] = &[
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

fn lookup_pool(ctx: &mut Ctx, arg: &str) -> Result<StoragePool, CmdError> {
    let conn = ctx.conn()?;
    if let Ok(uuid) = wirt::xml::domain::parse_uuid(arg)
        && let Ok(p) = conn.lookup_pool_by_uuid(&uuid)
    {
        return Ok(p);
    }
    conn.lookup_pool_by_name(arg)
        .ctx(|| format!("failed to get pool '{arg}'"))
}

fn pool(ctx: &mut Ctx, args: &Args) -> Result<StoragePool, CmdError> {
    lookup_pool(ctx, args.req("pool"))
}

/// virsh's volume lookup: by name in `--pool` when given, else by key, else by path.
fn lookup_vol(ctx: &mut Ctx, args: &Args) -> Result<StorageVol, CmdError> {
    let arg = args.req("vol");
    if let Some(p) = args.get("pool") {
        let pool = lookup_pool(ctx, p)?;
        if let Ok(v) = pool.lookup_vol_by_name(arg) {
            return Ok(v);
        }
        if !pool.is_active().unwrap_or(false) {
            let err = pool.lookup_vol_by_name(arg).expect_err("checked above");
            return Err(CmdError::api(format!("failed to get vol '{arg}'"), &err));
        }
    }
    ctx.conn()?
        .lookup_vol_by_path(arg)
        .ctx(|| format!("failed to get vol '{arg}'"))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn read_file(path: &str) -> Result<String, CmdError> {
    std::fs::read_to_string(path).map_err(|e| {
        CmdError::msg(format!(
            "Failed to open file '{path}': {}",
            super::domain::io_reason(&e)
        ))
    })
}

fn pool_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let mut flags = 0;
    for (opt, bit) in [
        ("inactive", sf::LIST_INACTIVE),
        ("persistent", sf::LIST_PERSISTENT),
        ("transient", sf::LIST_TRANSIENT),
        ("autostart", sf::LIST_AUTOSTART),
        ("no-autostart", sf::LIST_NO_AUTOSTART),
    ] {
        if args.has(opt) {
            flags |= bit;
        }
    }
    if args.has("all") {
        flags &= !sf::LIST_INACTIVE;
    } else if flags & sf::LIST_INACTIVE == 0 {
        flags |= sf::LIST_ACTIVE;
    }
    let types: Option<Vec<String>> = args
        .get("type")
        .map(|t| t.split(',').map(String::from).collect());
    let pools = ctx
        .conn()?
        .list_all_pools(flags)
        .ctx(|| "Failed to list pools".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut names = String::new();
    for p in &pools {
        if let Some(types) = &types
            && !types.contains(&p.pool_type().unwrap_or_default())
        {
            continue;
        }
        let (Ok(active), Ok(auto), Ok(persistent), Ok(info)) =
            (p.is_active(), p.autostart(), p.is_persistent(), p.info())
        else {
            continue;
        };
        names.push_str(&if args.has("uuid") {
            p.uuid().to_string()
        } else {
            p.name().to_string()
        });
        names.push('\n');
        let mut row = vec![p.name().to_string()];
        if args.has("details") {
            row.push(if active { "running" } else { "inactive" }.into());
            row.push(yes_no(auto));
            row.push(yes_no(persistent));
            if active {
                row.extend([
                    pretty_capacity(info.capacity),
                    pretty_capacity(info.allocation),
                    pretty_capacity(info.available),
                ]);
            } else {
                row.extend(["-".to_string(), "-".into(), "-".into()]);
            }
        } else {
            row.push(if active { "active" } else { "inactive" }.into());
            row.push(yes_no(auto));
        }
        rows.push(row);
        json_rows.push(json!({
            "name": p.name(), "uuid": p.uuid().to_string(), "active": active, "autostart": auto, "persistent": persistent,
            "capacity": info.capacity, "allocation": info.allocation, "available": info.available,
        }));
    }
    if args.has("name") || args.has("uuid") {
        return Ok(Reply::text(names, json!(json_rows)));
    }
    let headers: &[&str] = if args.has("details") {
        &[
            "Name",
            "State",
            "Autostart",
            "Persistent",
            "Capacity",
            "Allocation",
            "Available",
        ]
    } else {
        &["Name", "State", "Autostart"]
    };
    Ok(Reply::table(headers, &rows, json_rows))
}

fn pool_define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let p = ctx
        .conn()?
        .define_pool_xml(&xml)
        .ctx(|| format!("Failed to define pool from {file}"))?;
    Ok(Reply::message(format!(
        "Pool {} defined from {file}",
        p.name()
    )))
}

fn pool_create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = read_file(file)?;
    let p = ctx
        .conn()?
        .create_pool_xml(&xml)
        .ctx(|| format!("Failed to create pool from {file}"))?;
    Ok(Reply::message(format!(
        "Pool {} created from {file}",
        p.name()
    )))
}

/// The XML `pool-define-as`/`pool-create-as` build from their arguments.
fn pool_as_xml(args: &Args) -> String {
    let mut source = String::new();
    if let Some(h) = args.get("source-host") {
        source.push_str(&format!("    <host name='{}'/>\n", escape_attr(h)));
    }
    if let Some(p) = args.get("source-path") {
        source.push_str(&format!("    <dir path='{}'/>\n", escape_attr(p)));
    }
    if let Some(d) = args.get("source-dev") {
        source.push_str(&format!("    <device path='{}'/>\n", escape_attr(d)));
    }
    if let Some(f) = args.get("source-format") {
        source.push_str(&format!("    <format type='{}'/>\n", escape_attr(f)));
    }
    if let Some(n) = args.get("source-name") {
        source.push_str(&format!("    <name>{}</name>\n", escape_text(n)));
    }
    let mut xml = format!(
        "<pool type='{}'>\n  <name>{}</name>\n",
        escape_attr(args.req("type")),
        escape_text(args.req("name"))
    );
    if !source.is_empty() {
        xml.push_str(&format!("  <source>\n{source}  </source>\n"));
    }
    if let Some(t) = args.get("target") {
        // libvirt stores the target as given; make it absolute as libvirt's
        // storage driver would see it from the daemon's working directory.
        let path = std::path::Path::new(t);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        };
        xml.push_str(&format!(
            "  <target>\n    <path>{}</path>\n  </target>\n",
            escape_text(&abs.to_string_lossy())
        ));
    }
    xml.push_str("</pool>\n");
    xml
}

fn pool_define_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let xml = pool_as_xml(args);
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = ctx
        .conn()?
        .define_pool_xml(&xml)
        .ctx(|| format!("Failed to define pool {}", args.req("name")))?;
    Ok(Reply::message(format!("Pool {} defined", p.name())))
}

fn pool_create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let xml = pool_as_xml(args);
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = ctx
        .conn()?
        .create_pool_xml(&xml)
        .ctx(|| format!("Failed to create pool {}", args.req("name")))?;
    Ok(Reply::message(format!("Pool {} created", p.name())))
}

fn pool_build(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let mut flags = 0;
    if args.has("no-overwrite") {
        flags |= sf::BUILD_NO_OVERWRITE;
    }
    if args.has("overwrite") {
        flags |= sf::BUILD_OVERWRITE;
    }
    p.build(flags)
        .ctx(|| format!("Failed to build pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} built", p.name())))
}

fn pool_start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    if args.has("build") {
        p.build(0)
            .ctx(|| format!("Failed to build pool {}", p.name()))?;
    }
    p.create(0)
        .ctx(|| format!("Failed to start pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} started", p.name())))
}

fn pool_destroy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.destroy()
        .ctx(|| format!("Failed to destroy pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} destroyed", p.name())))
}

fn pool_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.delete(0)
        .ctx(|| format!("Failed to delete pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} deleted", p.name())))
}

fn pool_undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.undefine()
        .ctx(|| format!("Failed to undefine pool {}", p.name()))?;
    Ok(Reply::message(format!(
        "Pool {} has been undefined",
        p.name()
    )))
}

fn pool_refresh(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    p.refresh()
        .ctx(|| format!("Failed to refresh pool {}", p.name()))?;
    Ok(Reply::message(format!("Pool {} refreshed", p.name())))
}

fn pool_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let fail = || format!("failed to get pool information for '{}'", p.name());
    let info = p.info().ctx(fail)?;
    let active = info.state != 0;
    let size = |b: u64| {
        if args.has("bytes") {
            format!("{b} bytes")
        } else {
            pretty_capacity(b)
        }
    };
    let mut rows = vec![
        ("Name", p.name().to_string()),
        ("UUID", p.uuid().to_string()),
        ("State", if active { "running" } else { "inactive" }.into()),
        ("Persistent", yes_no(p.is_persistent().ctx(fail)?)),
        ("Autostart", yes_no(p.autostart().ctx(fail)?)),
    ];
    if active {
        rows.push(("Capacity", size(info.capacity)));
        rows.push(("Allocation", size(info.allocation)));
        rows.push(("Available", size(info.available)));
    }
    Ok(Reply::key_values(&rows))
}

fn pool_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let xml = p
        .xml_desc(0)
        .ctx(|| format!("failed to get pool '{}' XML", p.name()))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn pool_autostart(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let enable = !args.has("disable");
    let un = if enable { "" } else { "un" };
    p.set_autostart(enable)
        .ctx(|| format!("failed to {un}mark pool {} as autostarted", p.name()))?;
    Ok(Reply::message(format!(
        "Pool {} {un}marked as autostarted",
        p.name()
    )))
}

fn pool_uuid(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    Ok(Reply::value("uuid", p.uuid()))
}

fn pool_name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    Ok(Reply::value("name", p.name()))
}

fn vol_list(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let vols = p
        .list_all_volumes()
        .ctx(|| "Failed to list volumes".into())?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for v in &vols {
        let Ok(info) = v.cached_info() else {
            continue;
        };
        let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
            .get(info.kind as usize)
            .copied()
            .unwrap_or("unknown");
        let mut row = vec![v.name().to_string(), info.path.clone()];
        if args.has("details") {
            row.extend([
                kind.to_string(),
                pretty_capacity(info.capacity),
                pretty_capacity(info.allocation),
            ]);
        }
        rows.push(row);
        json_rows.push(json!({"name": v.name(), "path": info.path, "type": kind, "capacity": info.capacity, "allocation": info.allocation, "format": info.format}));
    }
    let headers: &[&str] = if args.has("details") {
        &["Name", "Path", "Type", "Capacity", "Allocation"]
    } else {
        &["Name", "Path"]
    };
    Ok(Reply::table(headers, &rows, json_rows))
}

fn vol_create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let file = args.req("file");
    let xml = read_file(file)?;
    let v = p
        .create_volume_xml(&xml, 0)
        .ctx(|| format!("Failed to create vol from {file}"))?;
    Ok(Reply::message(format!(
        "Vol {} created from {file}",
        v.name()
    )))
}

fn size_arg(args: &Args, name: &str) -> Result<Option<u64>, CmdError> {
    args.get(name)
        .map(|raw| {
            parse_size_arg(raw, "B").ok_or_else(|| CmdError::msg(format!("Malformed size {raw}")))
        })
        .transpose()
}

fn vol_create_as(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let capacity = size_arg(args, "capacity")?.expect("required");
    let allocation = size_arg(args, "allocation")?;
    let mut xml = format!(
        "<volume>\n  <name>{}</name>\n  <capacity>{capacity}</capacity>\n",
        escape_text(args.req("name"))
    );
    // virsh asks for a fully allocated volume unless told otherwise.
    xml.push_str(&format!(
        "  <allocation>{}</allocation>\n",
        allocation.unwrap_or(capacity)
    ));
    if let Some(format) = args.get("format") {
        xml.push_str(&format!(
            "  <target>\n    <format type='{}'/>\n  </target>\n",
            escape_attr(format)
        ));
    }
    xml.push_str("</volume>\n");
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let p = pool(ctx, args)?;
    let v = p
        .create_volume_xml(&xml, 0)
        .ctx(|| format!("Failed to create vol {}", args.req("name")))?;
    Ok(Reply::message(format!("Vol {} created", v.name())))
}

fn vol_create_from(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let p = pool(ctx, args)?;
    let file = args.req("file");
    let xml = read_file(file)?;
    let input_pool = match args.get("inputpool") {
        Some(ip) => lookup_pool(ctx, ip)?,
        None => p.clone(),
    };
    let vol_arg = args.req("vol");
    let source = input_pool
        .lookup_vol_by_name(vol_arg)
        .or_else(|_| {
            ctx.conn()
                .map_err(|_| unreachable_conn())?
                .lookup_vol_by_path(vol_arg)
        })
        .ctx(|| format!("failed to get vol '{vol_arg}'"))?;
    let mut progress = Progress::new("Cloning", ctx.show_progress());
    progress.update(0, 1);
    let v = p
        .create_volume_xml_from(&xml, &source, 0)
        .ctx(|| format!("Failed to create vol from {file}"))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!(
        "Vol {} created from input vol {}",
        v.name(),
        source.name()
    )))
}

fn unreachable_conn() -> wirt::Error {
    wirt::Error::api(wirt::ErrorCode::INVALID_CONN, "no connection")
}

fn vol_clone(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let source = lookup_vol(ctx, args)?;
    let info = source.refreshed_info().map_err(|e| CmdError::bare(&e))?;
    let new_name = args.req("newname");
    let xml = format!(
        "<volume>\n  <name>{}</name>\n  <capacity>{}</capacity>\n  <allocation>{}</allocation>\n  <target>\n    <format type='{}'/>\n  </target>\n</volume>\n",
        escape_text(new_name),
        info.capacity,
        info.allocation,
        escape_attr(&info.format)
    );
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({"xml": xml})));
    }
    let mut progress = Progress::new("Cloning", ctx.show_progress());
    progress.update(0, 1);
    source
        .pool()
        .create_volume_xml_from(&xml, &source, 0)
        .ctx(|| format!("Failed to clone vol from {}", source.name()))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!(
        "Vol {new_name} cloned from {}",
        source.name()
    )))
}

fn vol_delete(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    v.delete(0)
        .ctx(|| format!("Failed to delete vol {}", v.name()))?;
    Ok(Reply::message(format!("Vol {} deleted", v.name())))
}

const WIPE_ALGORITHMS: &[&str] = &[
    "zero",
    "nnsa",
    "dod",
    "bsi",
    "gutmann",
    "schneier",
    "pfitzner7",
    "pfitzner33",
    "random",
    "trim",
];

fn vol_wipe(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let algorithm = match args.get("algorithm") {
        None => 0,
        Some(a) => WIPE_ALGORITHMS
            .iter()
            .position(|x| *x == a)
            .ok_or_else(|| CmdError::msg(format!("Unsupported algorithm '{a}'")))?
            as u32,
    };
    let mut progress = Progress::new("Wiping", ctx.show_progress());
    progress.update(0, 1);
    v.wipe(algorithm, 0)
        .ctx(|| format!("Failed to wipe vol {}", v.name()))?;
    progress.update(1, 1);
    progress.finish();
    Ok(Reply::message(format!("Vol {} wiped", v.name())))
}

fn vol_resize(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let raw = args.req("capacity");
    let mut flags = 0;
    if args.has("allocate") {
        flags |= vf::RESIZE_ALLOCATE;
    }
    if args.has("delta") {
        flags |= vf::RESIZE_DELTA;
    }
    if args.has("shrink") {
        flags |= vf::RESIZE_SHRINK;
    }
    // A leading '-' means "shrink by", as in virsh.
    let number = match raw.strip_prefix('-') {
        Some(rest) => {
            flags |= vf::RESIZE_DELTA | vf::RESIZE_SHRINK;
            rest
        }
        None => raw.strip_prefix('+').unwrap_or(raw),
    };
    let capacity = parse_size_arg(number, "B")
        .ok_or_else(|| CmdError::msg(format!("Malformed size {raw}")))?;
    v.resize(capacity, flags)
        .ctx(|| format!("Failed to change size of volume '{}' to {raw}", v.name()))?;
    Ok(Reply::message(format!(
        "Size of volume '{}' successfully changed to {raw}",
        v.name()
    )))
}

fn offsets(args: &Args) -> Result<(u64, u64), CmdError> {
    let parse = |name: &str| -> Result<u64, CmdError> {
        match args.get(name) {
            None => Ok(0),
            Some(raw) => parse_size_arg(raw, "B")
                .ok_or_else(|| CmdError::msg(format!("Unable to parse {name} value"))),
        }
    };
    Ok((parse("offset")?, parse("length")?))
}

fn vol_upload(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let (offset, length) = offsets(args)?;
    let file = args.req("file");
    let mut source = BufReader::new(File::open(file).map_err(|e| {
        CmdError::msg(format!(
            "cannot read {file}: {}",
            super::domain::io_reason(&e)
        ))
    })?);
    let mut progress = Progress::new("Uploading", ctx.show_progress());
    let written = v
        .upload(offset, length, &mut source, &mut |done, total| {
            progress.update(done, total)
        })
        .ctx(|| format!("cannot upload to volume {}", v.name()))?;
    progress.finish();
    Ok(Reply::text(
        String::new(),
        json!({"ok": true, "bytes": written}),
    ))
}

fn vol_download(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let (offset, length) = offsets(args)?;
    let file = args.req("file");
    let out = File::create(file).map_err(|e| {
        CmdError::msg(format!(
            "cannot create {file}: {}",
            super::domain::io_reason(&e)
        ))
    })?;
    let mut sink = BufWriter::new(out);
    let mut progress = Progress::new("Downloading", ctx.show_progress());
    let copied = v
        .download(offset, length, &mut sink, &mut |done, total| {
            progress.update(done, total)
        })
        .ctx(|| format!("cannot download from volume {}", v.name()))?;
    sink.flush().map_err(|e| {
        CmdError::msg(format!(
            "cannot write {file}: {}",
            super::domain::io_reason(&e)
        ))
    })?;
    progress.finish();
    Ok(Reply::text(
        String::new(),
        json!({"ok": true, "bytes": copied}),
    ))
}

fn vol_info(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let info = v.info().map_err(|e| CmdError::bare(&e))?;
    let kind = ["file", "block", "dir", "network", "netdir", "ploop"]
        .get(info.kind as usize)
        .copied()
        .unwrap_or("unknown");
    let size = |b: u64| {
        if args.has("bytes") {
            format!("{b} bytes")
        } else {
            pretty_capacity(b)
        }
    };
    let rows = [
        ("Name", v.name().to_string()),
        ("Type", kind.to_string()),
        ("Capacity", size(info.capacity)),
        (
            if args.has("physical") {
                "Physical"
            } else {
                "Allocation"
            },
            size(info.allocation),
        ),
    ];
    Ok(Reply::key_values(&rows))
}

fn vol_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    let xml = v.xml_desc(0).map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

fn vol_path(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    Ok(Reply::value(
        "path",
        v.path().map_err(|e| CmdError::bare(&e))?,
    ))
}

fn vol_key(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    Ok(Reply::value(
        "key",
        v.key().map_err(|e| CmdError::bare(&e))?,
    ))
}

fn vol_name(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    Ok(Reply::value("name", v.name()))
}

fn vol_pool(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let v = lookup_vol(ctx, args)?;
    if args.has("uuid") {
        Ok(Reply::value("uuid", v.pool().uuid()))
    } else {
        Ok(Reply::value("pool", v.pool().name()))
    }
}
