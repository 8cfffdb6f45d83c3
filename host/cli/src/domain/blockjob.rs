//! Block jobs: `blockcommit`, `blockcopy`, `blockjob`, `blockpull`,
//! `blockresize`, with virsh's messages.

use super::*;
use wirt::connect::{BlockJobInfo, block_flags as bf, block_job_type as bt};
use wirt::xml::tree::escape_attr;

const G: &str = "Domain Management";

pub static COMMANDS: &[Command] = &[
    Command {
        name: "blockcommit",
        group: G,
        help: "Start a block commit operation.",
        run: blockcommit,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "fully-qualified path of disk"),
            named("bandwidth", "bandwidth limit in MiB/s"),
            named(
                "base",
                "path of base file to commit into (default bottom of chain)",
            ),
            flag("shallow", "use backing file of top as base"),
            named(
                "top",
                "path of top file to commit from (default top of chain)",
            ),
            flag("active", "trigger two-stage active commit of top file"),
            flag("delete", "delete files that were successfully committed"),
            flag(
                "wait",
                "wait for job to complete (with --active, wait for job to sync)",
            ),
            flag("verbose", "with --wait, display the progress"),
            named(
                "timeout",
                "implies --wait, abort if copy exceeds timeout (in seconds)",
            ),
            flag(
                "pivot",
                "implies --active --wait, pivot when commit is synced",
            ),
            flag(
                "keep-overlay",
                "implies --active --wait, quit when commit is synced",
            ),
            flag("async", "with --wait, don't wait for cancel to finish"),
            flag(
                "keep-relative",
                "keep the backing chain relatively referenced",
            ),
            flag(
                "bytes",
                "the bandwidth limit is in bytes/s rather than MiB/s",
            ),
        ],
    },
    Command {
        name: "blockcopy",
        group: G,
        help: "Start a block copy operation.",
        run: blockcopy,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "fully-qualified path of source disk"),
            data_opt("dest", "path of the copy to create"),
            named("bandwidth", "bandwidth limit in MiB/s"),
            flag("shallow", "make the copy share a backing chain"),
            flag("reuse-external", "reuse existing destination"),
            flag(
                "blockdev",
                "copy destination is block device instead of regular file",
            ),
            flag("wait", "wait for job to reach mirroring phase"),
            flag("verbose", "with --wait, display the progress"),
            named(
                "timeout",
                "implies --wait, abort if copy exceeds timeout (in seconds)",
            ),
            flag("pivot", "implies --wait, pivot when mirroring starts"),
            flag("finish", "implies --wait, quit when mirroring starts"),
            flag("async", "with --wait, don't wait for cancel to finish"),
            named(
                "xml",
                "filename containing XML description of the copy destination",
            ),
            named("format", "format of the destination file"),
            flag(
                "transient-job",
                "the copy job is not persisted if VM is turned off",
            ),
            flag(
                "print-xml",
                "print the XML used to start the copy job instead of starting the job",
            ),
        ],
    },
    Command {
        name: "blockjob",
        group: G,
        help: "Manage active block operations",
        run: blockjob,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "fully-qualified path of disk"),
            flag("abort", "abort the active job on the specified disk"),
            flag(
                "async",
                "implies --abort; request but don't wait for job end",
            ),
            flag(
                "pivot",
                "implies --abort; conclude and pivot a copy or commit job",
            ),
            flag("info", "get active job information for the specified disk"),
            flag("bytes", "get/set bandwidth in bytes rather than MiB/s"),
            flag(
                "raw",
                "implies --info; output details rather than human summary",
            ),
            named("bandwidth", "set the bandwidth limit in MiB/s"),
        ],
    },
    Command {
        name: "blockpull",
        group: G,
        help: "Populate a disk from its backing image.",
        run: blockpull,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "fully-qualified path of disk"),
            named("bandwidth", "bandwidth limit in MiB/s"),
            named("base", "path of backing file in chain for a partial pull"),
            flag("wait", "wait for job to finish"),
            flag("verbose", "with --wait, display the progress"),
        ],
    },
    Command {
        name: "blockresize",
        group: G,
        help: "Resize block device of domain.",
        run: blockresize,
        opts: &[
            data("domain", "domain name, id or uuid"),
            data("path", "Fully-qualified path of block device"),
            data(
                "size",
                "New size of the block device, as scaled integer (default KiB)",
            ),
        ],
    },
];

fn api(e: wirt::Error) -> CmdError {
    CmdError::bare(&e)
}

fn bandwidth(args: &Args) -> Result<u64, CmdError> {
    args.u64("bandwidth")
        .map(|b| b.unwrap_or(0))
        .map_err(CmdError::msg)
}

fn job_name(job_type: i32) -> &'static str {
    match job_type {
        bt::PULL => "Block Pull",
        bt::COPY => "Block Copy",
        bt::COMMIT => "Block Commit",
        bt::ACTIVE_COMMIT => "Active Block Commit",
        _ => "Unknown job",
    }
}

/// Waits until the job on `path` is ready (or gone), with virsh's
/// progress line when `verbose`; true when it is ready, false when it
/// ended on its own.
fn wait_ready(
    ctx: &Ctx,
    d: &Domain,
    path: &str,
    label: &str,
    verbose: bool,
) -> Result<bool, CmdError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    loop {
        match d.block_job_info(path, 0).map_err(api)? {
            None => return Ok(false),
            Some(info) if info.cur == info.end => {
                if verbose && !ctx.json {
                    eprint!("\r{label}: [100 %]");
                }
                return Ok(true);
            }
            Some(info) => {
                if verbose && !ctx.json {
                    let pct = (info.cur * 100).checked_div(info.end).unwrap_or(0);
                    eprint!("\r{label}: [{pct:>3} %]");
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(CmdError::msg("timed out waiting for the block job"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn blockcommit(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let path = args.req("path");
    let pivot = args.has("pivot");
    let keep = args.has("keep-overlay");
    if pivot && keep {
        return Err(CmdError::msg(
            "Options --pivot and --keep-overlay are mutually exclusive",
        ));
    }
    let active = args.has("active") || pivot || keep;
    let wait = args.has("wait") || pivot || keep || args.get("timeout").is_some();
    let mut flags = args.flags(&[
        ("shallow", bf::COMMIT_SHALLOW),
        ("delete", bf::COMMIT_DELETE),
        ("keep-relative", bf::COMMIT_RELATIVE),
        ("bytes", bf::COMMIT_BANDWIDTH_BYTES),
    ]);
    if active {
        flags |= bf::COMMIT_ACTIVE;
    }
    d.block_commit(
        path,
        args.get("base"),
        args.get("top"),
        bandwidth(args)?,
        flags,
    )
    .map_err(api)?;
    if !wait {
        return Ok(Reply::message(if active {
            "Active Block Commit started"
        } else {
            "Block Commit started"
        }));
    }
    let ready = wait_ready(ctx, &d, path, "Block commit", args.has("verbose"))?;
    if !active || !ready {
        return Ok(Reply::message("\nCommit complete"));
    }
    if pivot {
        d.block_job_abort(path, bf::ABORT_PIVOT).map_err(api)?;
        Ok(Reply::message("\nSuccessfully pivoted"))
    } else if keep {
        d.block_job_abort(path, 0).map_err(api)?;
        Ok(Reply::message("\nCommit complete, overlay image kept"))
    } else {
        Ok(Reply::message("\nNow in synchronized phase"))
    }
}

fn blockcopy(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let path = args.req("path");
    let pivot = args.has("pivot");
    let finish = args.has("finish");
    if pivot && finish {
        return Err(CmdError::msg(
            "Options --pivot and --finish are mutually exclusive",
        ));
    }
    let xml = match (args.get("dest"), args.get("xml")) {
        (Some(_), Some(_)) => {
            return Err(CmdError::msg(
                "Options --dest and --xml are mutually exclusive",
            ));
        }
        (None, None) => return Err(CmdError::msg("need either --dest or --xml")),
        (None, Some(file)) => common::read_file(file)?,
        (Some(dest), None) => {
            let (kind, attr) = if args.has("blockdev") {
                ("block", "dev")
            } else {
                ("file", "file")
            };
            let driver = args.get("format").map_or(String::new(), |f| {
                format!("  <driver type='{}'/>\n", escape_attr(f))
            });
            format!(
                "<disk type='{kind}'>\n{driver}  <source {attr}='{}'/>\n</disk>\n",
                escape_attr(dest)
            )
        }
    };
    if args.has("print-xml") {
        return Ok(Reply::text(xml.clone(), json!({ "xml": xml })));
    }
    let d = lookup::domain(ctx, args.req("domain"))?;
    let wait = args.has("wait") || pivot || finish || args.get("timeout").is_some();
    let flags = args.flags(&[
        ("shallow", bf::COPY_SHALLOW),
        ("reuse-external", bf::COPY_REUSE_EXT),
        ("transient-job", bf::COPY_TRANSIENT_JOB),
    ]);
    let params: Vec<(String, wirt::connect::StatValue)> = match bandwidth(args)? {
        0 => Vec::new(),
        b => vec![(
            "bandwidth".into(),
            wirt::connect::StatValue::ULLong(b << 20),
        )],
    };
    d.block_copy(path, &xml, &params, flags).map_err(api)?;
    if !wait {
        return Ok(Reply::message("Block Copy started"));
    }
    wait_ready(ctx, &d, path, "Block Copy", args.has("verbose"))?;
    if pivot {
        d.block_job_abort(path, bf::ABORT_PIVOT).map_err(api)?;
        Ok(Reply::message("\nSuccessfully pivoted"))
    } else if finish {
        d.block_job_abort(path, 0).map_err(api)?;
        Ok(Reply::message("\nSuccessfully copied"))
    } else {
        Ok(Reply::message("\nNow in mirroring phase"))
    }
}

fn info_reply(path: &str, info: Option<BlockJobInfo>, raw: bool, bytes: bool) -> Reply {
    let unit = if bytes { "bytes/s" } else { "MiB/s" };
    match (info, raw) {
        (None, true) => Reply::text(String::new(), json!(null)),
        (None, false) => Reply::text(format!("No current block job for {path}\n"), json!(null)),
        (Some(i), true) => Reply::text(
            format!(
                " type={},bandwidth={},cur={},end={}\n",
                i.job_type, i.bandwidth, i.cur, i.end
            ),
            json!(i),
        ),
        (Some(i), false) => {
            let pct = (i.cur * 100).checked_div(i.end).unwrap_or(100);
            let mut text = format!("{}: [{pct:>3} %]", job_name(i.job_type));
            if i.bandwidth != 0 {
                text.push_str(&format!("    Bandwidth limit: {} {unit}", i.bandwidth));
            }
            text.push('\n');
            Reply::text(text, json!(i))
        }
    }
}

fn blockjob(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let path = args.req("path");
    let bytes = args.has("bytes");
    let abort = args.has("abort") || args.has("async") || args.has("pivot");
    if let Some(b) = args.get("bandwidth") {
        let b = b.parse::<u64>().map_err(|_| {
            CmdError::msg(format!(
                "Scaled numeric value '{b}' for <--bandwidth> option is malformed or out of range"
            ))
        })?;
        d.block_job_set_speed(path, b, if bytes { bf::BANDWIDTH_BYTES } else { 0 })
            .map_err(api)?;
        return Ok(Reply::empty());
    }
    if abort {
        let mut flags = 0;
        if args.has("async") {
            flags |= bf::ABORT_ASYNC;
        }
        if args.has("pivot") {
            flags |= bf::ABORT_PIVOT;
        }
        d.block_job_abort(path, flags).map_err(api)?;
        return Ok(Reply::empty());
    }
    let info = d
        .block_job_info(path, if bytes { bf::BANDWIDTH_BYTES } else { 0 })
        .map_err(api)?;
    Ok(info_reply(path, info, args.has("raw"), bytes))
}

fn blockpull(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let path = args.req("path");
    d.block_rebase(path, args.get("base"), bandwidth(args)?, 0)
        .map_err(api)?;
    if !args.has("wait") {
        return Ok(Reply::message("Block Pull started"));
    }
    wait_ready(ctx, &d, path, "Block Pull", args.has("verbose"))?;
    Ok(Reply::message("\nPull complete"))
}

fn blockresize(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = lookup::domain(ctx, args.req("domain"))?;
    let path = args.req("path");
    let bytes = units::parse_size_arg(args.req("size"), "KiB").ok_or_else(|| {
        CmdError::msg(format!(
            "Scaled numeric value '{}' for <--size> option is malformed or out of range",
            args.req("size")
        ))
    })?;
    d.block_resize(path, bytes, bf::RESIZE_BYTES).map_err(api)?;
    Ok(Reply::message(format!("Block device '{path}' is resized")))
}
