//! `migrate` and the migration settings, as virsh has them: the client
//! opens the destination itself and drives libvirt's v3 protocol
//! (`Domain::migrate`), or with `--p2p` the source's host does
//! (`Domain::migrate_to_uri`); `--verbose` and `--timeout` watch the job
//! from a second connection.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::dom;
use crate::parse::Args;
use crate::{CmdError, CmdResult, Ctx, Reply};
use wirt::connect::{MigrateParams, StatValue, migrate_flags as mf};

pub(super) fn migrate(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let desturi = args.req("desturi");
    for unsupported in ["direct", "copy-storage-inc"] {
        if args.has(unsupported) {
            return Err(CmdError::msg(format!(
                "unsupported configuration: --{unsupported} is not supported yet"
            )));
        }
    }
    let flags = args.flags(&[
        ("live", mf::LIVE),
        ("offline", mf::OFFLINE),
        ("p2p", mf::PEER2PEER),
        ("tunnelled", mf::TUNNELLED),
        ("persistent", mf::PERSIST_DEST),
        ("undefinesource", mf::UNDEFINE_SOURCE),
        ("suspend", mf::PAUSED),
        ("unsafe", mf::UNSAFE),
        ("abort-on-error", mf::ABORT_ON_ERROR),
        ("copy-storage-all", mf::NON_SHARED_DISK),
    ]);
    if args.has("live") && args.has("offline") {
        return Err(CmdError::msg(
            "Options --live and --offline are mutually exclusive",
        ));
    }
    let bandwidth = args.u64("bandwidth").map_err(CmdError::msg)?;
    let timeout = args.u64("timeout").map_err(CmdError::msg)?;
    if let Some(t) = timeout {
        // virsh's checks and wording.
        if t == 0 {
            return Err(CmdError::msg("migrate: Invalid timeout"));
        }
        if !args.has("live") {
            return Err(CmdError::msg(
                "migrate: Unexpected timeout for offline migration",
            ));
        }
    }
    if args.has("timeout-postcopy") {
        return Err(CmdError::msg(
            "unsupported configuration: --timeout-postcopy: post-copy migration is not supported",
        ));
    }
    let params = MigrateParams {
        uri: args.get("migrateuri").map(str::to_string),
        dest_name: args.get("dname").map(str::to_string),
        listen_address: args.get("listen-address").map(str::to_string),
        bandwidth_mib_s: bandwidth,
        dest_xml: args.get("xml").map(crate::common::read_file).transpose()?,
        ..Default::default()
    };
    let dest = if flags & mf::PEER2PEER != 0 {
        None
    } else {
        Some(
            wirt::Connect::open(desturi)
                .map_err(|e| CmdError::api("failed to connect to the hypervisor", &e))?,
        )
    };
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watcher = (timeout.is_some() || args.has("verbose")).then(|| {
        let source = ctx
            .uri()
            .map_or_else(crate::command::default_uri, str::to_string);
        let watch = Watch {
            source,
            uuid: d.uuid(),
            timeout: timeout.map(Duration::from_secs),
            verbose: args.has("verbose"),
        };
        std::thread::spawn(move || watch.run(&finished))
    });
    let result = match &dest {
        // The source's host opens the destination itself.
        None => d.migrate_to_uri(desturi, &params, flags),
        Some(dest) => d.migrate(dest, &params, flags).map(|_| ()),
    };
    drop(done);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    result.map_err(|e| CmdError::bare(&e))?;
    if args.has("verbose") {
        // virsh draws its progress on stderr.
        eprintln!("\rMigration: [100 %]");
    }
    Ok(Reply::empty())
}

/// What virsh does beside a migration, from a connection of its own to
/// the source (a daemon answers one connection's calls in turn, and the
/// first is busy with the migration): `--verbose` draws the progress of
/// the job, `--timeout` suspends the guest once it has run that long so
/// that the migration converges.
struct Watch {
    source: String,
    uuid: uuid::Uuid,
    timeout: Option<Duration>,
    verbose: bool,
}

/// How often the progress is redrawn (virsh's 500 ms).
const POLL: Duration = Duration::from_millis(500);

impl Watch {
    /// Until `finished` says the migration is over.
    fn run(self, finished: &Receiver<()>) {
        let started = Instant::now();
        // The command's thread holds stderr's lock: a copy of the
        // descriptor writes beside it.
        let mut stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .ok();
        let mut dom = None;
        let mut suspended = false;
        loop {
            let wait = match self.timeout.filter(|_| !suspended) {
                Some(t) => POLL.min(t.saturating_sub(started.elapsed())),
                None => POLL,
            };
            if finished.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            if dom.is_none() {
                dom = wirt::Connect::open(&self.source)
                    .and_then(|c| c.lookup_domain_by_uuid(&self.uuid))
                    .ok();
            }
            let Some(dom) = &dom else { continue };
            if !suspended && self.timeout.is_some_and(|t| started.elapsed() >= t) {
                suspended = true;
                // As virsh: a guest that cannot be suspended migrates on.
                let _ = dom.suspend();
            }
            if self.verbose
                && let Ok(job) = dom.job_stats(0)
            {
                let get = |name: &str| {
                    job.params
                        .iter()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| match v {
                            StatValue::ULLong(n) => Some(*n),
                            _ => None,
                        })
                };
                if let (Some(total), Some(left)) = (get("data_total"), get("data_remaining"))
                    && total > 0
                    && let Some(err) = &mut stderr
                {
                    let _ = write!(err, "\rMigration: [{:>3} %]", progress(left, total));
                }
            }
        }
    }
}

/// virsh's `virshPrintJobProgress`: 100 only once nothing is left.
fn progress(remaining: u64, total: u64) -> u64 {
    if remaining == 0 {
        return 100;
    }
    let done = (100.0 - remaining as f64 * 100.0 / total as f64) as u64;
    done.min(99)
}

pub(super) fn migrate_setmaxdowntime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let downtime = args
        .u64("downtime")
        .map_err(CmdError::msg)?
        .filter(|&n| n > 0)
        .ok_or_else(|| CmdError::msg("migrate: Invalid downtime"))?;
    d.migrate_set_max_downtime(downtime)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn migrate_getmaxdowntime(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let ms = d.migrate_max_downtime().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::value("downtime_ms", ms))
}

pub(super) fn migrate_setspeed(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let speed = args
        .u64("bandwidth")
        .map_err(CmdError::msg)?
        .ok_or_else(|| CmdError::msg("migrate: Invalid bandwidth"))?;
    d.migrate_set_max_speed(speed)
        .map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}

pub(super) fn migrate_getspeed(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let speed = d.migrate_max_speed().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::value("bandwidth_mib_s", speed))
}

/// virsh's `vshPrettyCapacity`: the value in the largest binary unit
/// that keeps it at 1 or more.
fn pretty(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.3} {}", UNITS[unit])
}

pub(super) fn domjobinfo(ctx: &mut Ctx, args: &Args) -> CmdResult {
    use wirt::connect::{StatValue, job_flags};
    let d = dom(ctx, args)?;
    let flags = args.flags(&[
        ("completed", job_flags::COMPLETED),
        ("keep-completed", job_flags::KEEP_COMPLETED),
    ]);
    let job = d.job_stats(flags).map_err(|e| CmdError::bare(&e))?;
    let get = |name: &str| {
        job.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v {
                StatValue::Int(n) => *n as u64,
                StatValue::UInt(n) => u64::from(*n),
                StatValue::ULLong(n) => *n,
                StatValue::String(_) => 0,
            })
    };
    let kind = [
        "None",
        "Bounded",
        "Unbounded",
        "Completed",
        "Failed",
        "Cancelled",
    ]
    .get(job.job_type as usize)
    .copied()
    .unwrap_or("Unknown");
    // virsh's columns: "%-17s %-12s".
    let mut text = format!("{:<17} {:<12}\n", "Job type:", kind);
    if job.job_type != 0 {
        let operation = [
            "Unknown",
            "Start",
            "Save",
            "Restore",
            "Incoming migration",
            "Outgoing migration",
            "Snapshot",
            "Snapshot revert",
            "Dump",
            "Backup",
        ]
        .get(get("operation").unwrap_or(0) as usize)
        .copied()
        .unwrap_or("Unknown");
        text += &format!("{:<17} {:<12}\n", "Operation:", operation);
        text += &format!(
            "{:<17} {:<12} ms\n",
            "Time elapsed:",
            get("time_elapsed").unwrap_or(0)
        );
        for (prefix, label) in [("data", "Data"), ("memory", "Memory")] {
            let v = |what: &str| get(&format!("{prefix}_{what}")).unwrap_or(0);
            let (done, left, total) = (v("processed"), v("remaining"), v("total"));
            if done != 0 || left != 0 || total != 0 {
                text += &format!("{:<17} {}\n", format!("{label} processed:"), pretty(done));
                text += &format!("{:<17} {}\n", format!("{label} remaining:"), pretty(left));
                text += &format!("{:<17} {}\n", format!("{label} total:"), pretty(total));
            }
        }
        if let Some(n) = get("memory_iteration") {
            text += &format!("{:<17} {:<12}\n", "Iteration:", n);
        }
        if let Some(ms) = get("downtime") {
            let label = if job.job_type == 3 {
                "Total downtime:"
            } else {
                "Expected downtime:"
            };
            text += &format!("{:<17} {:<12} ms\n", label, ms);
        }
    }
    let json = serde_json::json!({
        "type": kind,
        "stats": job
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    Ok(Reply::text(text, json))
}

pub(super) fn domjobabort(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    d.abort_job().map_err(|e| CmdError::bare(&e))?;
    Ok(Reply::empty())
}
