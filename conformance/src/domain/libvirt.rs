//! libvirt's numbers for domain states, reasons and lifecycle events, and
//! virsh's words for them (for reports).

/// libvirt `virDomainState`.
pub mod state {
    pub const RUNNING: u32 = 1;
    pub const PAUSED: u32 = 3;
    pub const SHUTOFF: u32 = 5;
}

/// libvirt reasons, per state.
pub mod reason {
    pub const UNKNOWN: u32 = 0;
    pub const RUNNING_BOOTED: u32 = 1;
    pub const RUNNING_RESTORED: u32 = 3;
    pub const RUNNING_FROM_SNAPSHOT: u32 = 4;
    pub const RUNNING_UNPAUSED: u32 = 5;
    pub const PAUSED_USER: u32 = 1;
    pub const PAUSED_SAVE: u32 = 3;
    pub const PAUSED_FROM_SNAPSHOT: u32 = 7;
    pub const SHUTOFF_SHUTDOWN: u32 = 1;
    pub const SHUTOFF_DESTROYED: u32 = 2;
    pub const SHUTOFF_SAVED: u32 = 5;
    pub const SHUTOFF_FROM_SNAPSHOT: u32 = 7;
}

/// libvirt `virDomainEventType` and the details used here.
pub mod event {
    pub const DEFINED: u32 = 0;
    pub const UNDEFINED: u32 = 1;
    pub const STARTED: u32 = 2;
    pub const SUSPENDED: u32 = 3;
    pub const RESUMED: u32 = 4;
    pub const STOPPED: u32 = 5;
    pub const SHUTDOWN: u32 = 6;

    pub const DEFINED_ADDED: u32 = 0;
    pub const DEFINED_UPDATED: u32 = 1;
    pub const DEFINED_RENAMED: u32 = 2;
    pub const UNDEFINED_REMOVED: u32 = 0;
    pub const UNDEFINED_RENAMED: u32 = 1;
    pub const STARTED_BOOTED: u32 = 0;
    pub const STARTED_RESTORED: u32 = 2;
    pub const STARTED_FROM_SNAPSHOT: u32 = 3;
    pub const SUSPENDED_PAUSED: u32 = 0;
    pub const SUSPENDED_RESTORED: u32 = 4;
    pub const SUSPENDED_FROM_SNAPSHOT: u32 = 5;
    pub const RESUMED_UNPAUSED: u32 = 0;
    pub const STOPPED_SHUTDOWN: u32 = 0;
    pub const STOPPED_DESTROYED: u32 = 1;
    pub const STOPPED_SAVED: u32 = 4;
    pub const STOPPED_FROM_SNAPSHOT: u32 = 6;
    pub const SHUTDOWN_FINISHED: u32 = 0;
}

/// virsh's words for a state and its reason (`domstate --reason`).
pub fn state_name(st: u32, why: u32) -> String {
    let (s, reasons): (&str, &[&str]) = match st {
        state::RUNNING => (
            "running",
            &[
                "unknown",
                "booted",
                "migrated",
                "restored",
                "from snapshot",
                "unpaused",
                "migration canceled",
                "save canceled",
                "event wakeup",
                "crashed",
            ],
        ),
        state::PAUSED => (
            "paused",
            &[
                "unknown",
                "user",
                "migrating",
                "saving",
                "dumping",
                "I/O error",
                "watchdog",
                "from snapshot",
                "shutting down",
                "creating snapshot",
                "crashed",
                "starting up",
            ],
        ),
        state::SHUTOFF => (
            "shut off",
            &[
                "unknown",
                "shutdown",
                "destroyed",
                "crashed",
                "migrated",
                "saved",
                "failed",
                "from snapshot",
                "daemon",
            ],
        ),
        4 => ("in shutdown", &["unknown", "user"]),
        _ => ("state?", &[]),
    };
    match reasons.get(why as usize) {
        Some(r) => format!("{s} ({r})"),
        None => format!("{s} ({why})"),
    }
}

/// libvirt's words for a lifecycle event and its detail (`virsh event`).
pub fn event_name(ev: u32, detail: u32) -> String {
    let (e, details): (&str, &[&str]) = match ev {
        event::DEFINED => ("defined", &["added", "updated", "renamed", "from-snapshot"]),
        event::UNDEFINED => ("undefined", &["removed", "renamed"]),
        event::STARTED => (
            "started",
            &["booted", "migrated", "restored", "from-snapshot", "wakeup"],
        ),
        event::SUSPENDED => (
            "suspended",
            &[
                "paused",
                "migrated",
                "ioerror",
                "watchdog",
                "restored",
                "from-snapshot",
                "api-error",
                "postcopy",
                "postcopy-failed",
            ],
        ),
        event::RESUMED => (
            "resumed",
            &["unpaused", "migrated", "from-snapshot", "postcopy"],
        ),
        event::STOPPED => (
            "stopped",
            &[
                "shutdown",
                "destroyed",
                "crashed",
                "migrated",
                "saved",
                "failed",
                "from-snapshot",
            ],
        ),
        event::SHUTDOWN => ("shutdown", &["finished", "guest", "host"]),
        7 => ("pmsuspended", &["memory", "disk"]),
        8 => ("crashed", &["panicked", "crashloaded"]),
        _ => ("event?", &[]),
    };
    match details.get(detail as usize) {
        Some(d) => format!("{e}/{d}"),
        None => format!("{e}/{detail}"),
    }
}
