//! `event`: virsh's domain event types. The ones wirt reports (lifecycle,
//! device added and removed, block jobs, job completed) come from their
//! own streams, merged into one for `--all`; the others are accepted and
//! never fire, as on a libvirt driver that has no such events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use wirt::connect::{Connect, JobCompletedEvent};
use wirt::events::{BlockJobEvent, DeviceEvent, DomainEvent, EventBus, EventStream};

use super::*;

/// virsh 9.0's `event --list`, in `virDomainEventID` order.
const TYPES: &[&str] = &[
    "lifecycle",
    "reboot",
    "rtc-change",
    "watchdog",
    "io-error",
    "graphics",
    "io-error-reason",
    "control-error",
    "block-job",
    "disk-change",
    "tray-change",
    "pm-wakeup",
    "pm-suspend",
    "balloon-change",
    "pm-suspend-disk",
    "device-removed",
    "block-job-2",
    "tunable",
    "agent-lifecycle",
    "device-added",
    "migration-iteration",
    "job-completed",
    "device-removal-failed",
    "metadata-change",
    "block-threshold",
    "memory-failure",
    "memory-device-size-change",
];

/// Types wirt reports, and what `--all` waits for.
const REPORTED: &[&str] = &[
    "lifecycle",
    "device-added",
    "device-removed",
    "block-job",
    "block-job-2",
    "job-completed",
];

/// One event of any kind `event` reports, with the type it was asked as.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum AnyEvent {
    Lifecycle(DomainEvent),
    Device(DeviceEvent),
    BlockJob {
        #[serde(flatten)]
        event: BlockJobEvent,
        #[serde(skip)]
        by_path: bool,
    },
    Job {
        name: String,
        uuid: uuid::Uuid,
        #[serde(skip)]
        lines: String,
    },
}

impl AnyEvent {
    fn uuid(&self) -> uuid::Uuid {
        match self {
            AnyEvent::Lifecycle(e) => e.uuid,
            AnyEvent::Device(e) => e.uuid,
            AnyEvent::BlockJob { event, .. } => event.uuid,
            AnyEvent::Job { uuid, .. } => *uuid,
        }
    }

    fn line(&self) -> String {
        match self {
            AnyEvent::Lifecycle(e) => e.virsh_line(),
            AnyEvent::Device(e) => e.virsh_line(),
            AnyEvent::BlockJob { event, by_path } if *by_path => {
                // BLOCK_JOB names the disk by its image, under its own name.
                let mut by_target = event.clone();
                by_target.target = event.path.clone();
                by_target
                    .virsh_line()
                    .replacen("'block-job-2'", "'block-job'", 1)
            }
            AnyEvent::BlockJob { event, .. } => event.virsh_line(),
            AnyEvent::Job { lines, .. } => lines.trim_end().to_string(),
        }
    }
}

/// Forwards `stream` into `bus` until `stop`, each event as `wrap` makes it
/// (`None`: not wanted).
fn forward<T: Send + 'static>(
    stream: EventStream<T>,
    bus: &Arc<EventBus<AnyEvent>>,
    stop: &Arc<AtomicBool>,
    wrap: impl Fn(T) -> Option<AnyEvent> + Send + 'static,
) {
    let (bus, stop) = (bus.clone(), stop.clone());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(e) = stream
                .next_timeout(Duration::from_millis(100))
                .and_then(&wrap)
            {
                bus.emit(e);
            }
        }
    });
}

/// Subscribes to what `kind` needs; `Ok(false)` if wirt never reports it.
fn subscribe(
    conn: &Connect,
    kind: &str,
    bus: &Arc<EventBus<AnyEvent>>,
    stop: &Arc<AtomicBool>,
) -> Result<bool, wirt::connect::Error> {
    match kind {
        "lifecycle" => forward(conn.events(), bus, stop, |e| Some(AnyEvent::Lifecycle(e))),
        "device-added" | "device-removed" => {
            let added = kind == "device-added";
            forward(conn.device_events()?, bus, stop, move |e: DeviceEvent| {
                (e.added == added).then_some(AnyEvent::Device(e))
            })
        }
        "block-job" | "block-job-2" => {
            let by_path = kind == "block-job";
            forward(conn.block_job_events()?, bus, stop, move |event| {
                Some(AnyEvent::BlockJob { event, by_path })
            })
        }
        "job-completed" => forward(
            conn.job_completed_events()?,
            bus,
            stop,
            |e: JobCompletedEvent| {
                Some(AnyEvent::Job {
                    lines: e.virsh_lines(),
                    name: e.name,
                    uuid: e.uuid,
                })
            },
        ),
        _ => return Ok(false),
    }
    Ok(true)
}

pub(super) fn event(ctx: &mut Ctx, args: &Args) -> CmdResult {
    if args.has("list") {
        let text: String = TYPES.iter().map(|t| format!("{t}\n")).collect();
        return Ok(Reply::text(text, json!(TYPES)));
    }
    let kinds: Vec<&str> = match args.get("event") {
        Some(ev) if TYPES.contains(&ev) => vec![ev],
        Some(ev) => return Err(CmdError::msg(format!("unknown event type {ev}"))),
        // virsh --all registers every type; block-job-2 carries what
        // block-job does.
        None if args.has("all") => REPORTED
            .iter()
            .copied()
            .filter(|k| *k != "block-job")
            .collect(),
        None => {
            return Err(CmdError::msg(
                "one of --list, --all, or --event <type> is required",
            ));
        }
    };
    let filter = match args.get("domain") {
        Some(arg) => Some(lookup::domain(ctx, arg)?.uuid()),
        None => None,
    };
    let bus = Arc::new(EventBus::default());
    let stream = bus.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let conn = ctx.conn()?;
    for kind in &kinds {
        let subscribed = subscribe(conn, kind, &bus, &stop);
        // With --all, a kind the driver lacks is left out; asked for by
        // name, it is an error, as virsh's registration failure is.
        if let Err(e) = subscribed
            && kinds.len() == 1
        {
            return Err(CmdError::api("failed to register event callback", &e));
        }
    }
    let result = crate::event_loop::run(
        args,
        !ctx.json,
        stream,
        |e: &AnyEvent| filter.is_none_or(|u| u == e.uuid()),
        AnyEvent::line,
    );
    stop.store(true, Ordering::Relaxed);
    result
}
