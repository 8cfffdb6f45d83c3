//! virsh's event commands (`event`, `net-event`): which types exist, the
//! wait (one event, or `--loop` until `--timeout`), the `--timestamp`
//! prefix and the closing lines, for any kind of event.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use wirt::events::EventStream;

use crate::common;
use crate::parse::Args;
use crate::{CmdError, CmdResult, Reply};

/// `--list`, or the check that `--event lifecycle` or `--all` was given:
/// `Some(reply)` when the command is done.
pub fn check_type(args: &Args) -> Result<Option<Reply>, CmdError> {
    if args.has("list") {
        return Ok(Some(Reply::text("lifecycle\n", json!(["lifecycle"]))));
    }
    if let Some(ev) = args.get("event") {
        if ev != "lifecycle" {
            return Err(CmdError::msg(format!("unknown event type {ev}")));
        }
    } else if !args.has("all") {
        return Err(CmdError::msg(
            "one of --list, --all, or --event <type> is required",
        ));
    }
    Ok(None)
}

/// For event commands that watch one type of `types` at a time (virsh
/// 9.0's `secret-event` and `nodedev-event` have no `--all`): the type
/// `--event` names, or `Err` with what the command answers instead (the
/// `--list` reply, or the error).
pub fn one_type(args: &Args, types: &[&'static str]) -> Result<&'static str, CmdResult> {
    if args.has("list") {
        return Err(Ok(Reply::text(types.join("\n"), json!(types))));
    }
    match args.get("event") {
        Some(ev) => types
            .iter()
            .copied()
            .find(|t| *t == ev)
            .ok_or_else(|| Err(CmdError::msg(format!("unknown event type {ev}")))),
        None => Err(Err(CmdError::msg(
            "either --list or --event <type> is required",
        ))),
    }
}

/// Waits for the events `wanted` accepts and prints each as `line` does:
/// at once when `live` (as virsh does, so a watcher sees events while it
/// loops), else all in the reply (`--json`).
pub fn run<T: Serialize>(
    args: &Args,
    live: bool,
    stream: EventStream<T>,
    wanted: impl Fn(&T) -> bool,
    line: impl Fn(&T) -> String,
) -> CmdResult {
    let timeout = args
        .u64("timeout")
        .map_err(CmdError::msg)?
        .map(Duration::from_secs);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut text = String::new();
    let mut received = Vec::new();
    let mut timed_out = false;
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    timed_out = true;
                    break;
                }
            },
            None => Duration::from_secs(3600),
        };
        let Some(e) = stream.next_timeout(wait) else {
            if deadline.is_some() {
                timed_out = true;
                break;
            }
            continue;
        };
        if !wanted(&e) {
            continue;
        }
        if args.has("timestamp") {
            text.push_str(&format!(
                "{}: ",
                common::timestamp(std::time::SystemTime::now())
            ));
        }
        text.push_str(&line(&e));
        text.push('\n');
        if live {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            text.clear();
        }
        received.push(e);
        if !args.has("loop") {
            break;
        }
    }
    if timed_out {
        text.push_str("event loop timed out\n");
    }
    text.push_str(&format!("events received: {}\n", received.len()));
    Ok(Reply::text(
        text,
        json!({"events": received, "timed_out": timed_out}),
    ))
}
